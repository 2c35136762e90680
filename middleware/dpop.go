package middleware

import (
	"errors"
	"net/http"
	"strings"

	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// DPoP (RFC 9449) at the resource server: see "# DPoP" in the package
// documentation.

// Challenges returns every WWW-Authenticate challenge of the refusal, in
// order: the Bearer one and, when DPoPAlgs is set, the DPoP one. The error
// is in the one [Error.Challenge] returns.
func (e *Error) Challenges(realm string) []string {
	if e.DPoPAlgs == "" && !e.DPoPError {
		return []string{e.challenge("Bearer", realm, true, "")}
	}
	return []string{e.challenge("Bearer", realm, !e.DPoPError, ""), e.challenge("DPoP", realm, e.DPoPError, e.DPoPAlgs)}
}

// RequestURL returns a Config.DPoPURL for a resource served at origin
// (such as "https://api.example.com", as clients address it, whatever
// proxy stands between): origin followed by the path of the request line
// (http.Request.RequestURI, which http.StripPrefix leaves whole, or the
// URL's path for a request made in code). No header of the request is
// read. It panics if origin is not an absolute http or https URL without
// a path, query or fragment.
func RequestURL(origin string) func(*http.Request) string {
	origin = strings.TrimSuffix(origin, "/")
	if n, ok := dpop.NormalizeURL(origin); !ok || !strings.HasSuffix(n, "/") || strings.Count(n, "/") != 3 ||
		strings.ContainsAny(origin, "?#") {
		panic("keyturn/middleware: RequestURL: origin must be an absolute http or https URL without a path")
	}
	return func(r *http.Request) string {
		path := r.RequestURI
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if !strings.HasPrefix(path, "/") {
			path = r.URL.EscapedPath()
		}
		return origin + path
	}
}

var (
	errNoDPoP        = errors.New("keyturn/middleware: a DPoP-bound token, and DPoP is not configured")
	errBoundAsBearer = errors.New("keyturn/middleware: a DPoP-bound token sent as a bearer token")
	errNotBound      = errors.New("keyturn/middleware: a token that is not DPoP-bound sent with the DPoP scheme")
	errWrongKey      = errors.New("keyturn/middleware: the DPoP proof is made with another key than the token's")
)

// checkDPoP checks the sender of a request whose token is bound
// (c.JKT set) or came with the DPoP scheme (isDPoP).
func (m *Middleware) checkDPoP(r *http.Request, tok string, c *token.Claims, isDPoP bool) *Error {
	invalid := func(code, desc string, err error) *Error {
		return &Error{Status: http.StatusUnauthorized, Code: code, Description: desc, DPoPError: m.dpop != nil, Err: err}
	}
	switch {
	case m.dpop == nil:
		return invalid("invalid_token", "the access token is bound to a key this resource cannot check", errNoDPoP)
	case !isDPoP:
		return invalid("invalid_token", "a DPoP-bound access token must come with the DPoP scheme and a proof", errBoundAsBearer)
	case c.JKT == "":
		return invalid("invalid_token", "the access token is not DPoP-bound", errNotBound)
	}
	vs := r.Header["Dpop"]
	if len(vs) != 1 {
		return invalid("invalid_dpop_proof", "exactly one DPoP proof is required", dpop.ErrInvalidProof)
	}
	p, err := m.dpop.Check(vs[0], r.Method, m.dpopURL(r), tok)
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		e := invalid("use_dpop_nonce", "the DPoP proof must carry the server's current nonce", err)
		e.DPoPNonce = m.dpop.Nonce()
		return e
	case err != nil:
		return invalid("invalid_dpop_proof", "the DPoP proof is invalid", err)
	case p.JKT != c.JKT:
		return invalid("invalid_token", "the DPoP proof is not made with the key the access token is bound to", errWrongKey)
	}
	switch err := m.dpop.Use(r.Context(), p); {
	case errors.Is(err, dpop.ErrReplayed):
		return invalid("invalid_dpop_proof", "the DPoP proof was used before", err)
	case err != nil:
		return &Error{Status: http.StatusServiceUnavailable, Description: "the DPoP proof cannot be checked now; retry later", Err: err}
	}
	return nil
}
