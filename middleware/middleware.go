// Package middleware is the resource-server side of keyturn: net/http
// middleware that lets a request through only when it carries a valid bearer
// access token holding the scopes a route needs.
//
// Start with [New], which takes a [Config] holding a [Verifier] (keyturn's
// token verifier, JWT or opaque, or any other), then wrap handlers with
// [Middleware.Require], [Middleware.RequireAny], [Middleware.RequireEntity]
// or plain [Middleware.Authenticate]. Each returns a
// func(http.Handler) http.Handler, so it fits the standard library's ServeMux
// and any router that takes that shape. Handlers read the verified claims
// with [token.FromContext]. A [token.Verifier] caches the JWTs it accepted,
// so that a token presented many times is verified once.
//
// With [Config.DPoP] it also accepts DPoP-bound tokens (RFC 9449) with
// their proofs, and refuses a bound token sent as a bearer token (see
// "DPoP" below).
//
// # Answers (RFC 6750 §3)
//
//   - No credential (no Authorization header, another scheme such as Basic,
//     or a query or form token the configuration does not accept): 401 with
//     a bare challenge, WWW-Authenticate: Bearer realm="…", and no error code.
//   - A malformed request (two Authorization headers, an empty or
//     syntactically invalid bearer token, a token sent by two methods): 400
//     with error="invalid_request".
//   - A token that does not verify (malformed, expired, not yet valid,
//     revoked, badly signed, wrong issuer or audience): 401 with
//     error="invalid_token".
//   - A valid token without the scope the route needs: 403 with
//     error="insufficient_scope" and scope="…" naming what is needed.
//
// Each answer has a JSON body with the same error and error_description as
// the header (the bare 401 has only error_description). A host that wants its
// own body, or to log refusals, sets [Config.ErrorHandler]; [WriteError] is
// the default answer.
//
// # Security
//
// The token is never echoed: not in headers, bodies, errors or logs.
// Tokens in the URI query (RFC 6750 §2.3) are off by default, as RFC 9700
// §4.3.2 advises, and so are form-body tokens (§2.2); with form tokens off the
// middleware never reads the request body. The incoming *http.Request is
// never modified: the claims travel in a shallow copy with a new context, as
// http.StripPrefix does.
//
// A [token.Verifier] checks its token.Revocations on every call, cache hits
// included, so a token whose key or jti was revoked in this process is
// refused on its next use. Other processes see a revocation when their own
// revocation view refreshes (see the token package for that bound).
//
// # DPoP
//
// With [Config.DPoP] the middleware also accepts "Authorization: DPoP
// <token>" with one DPoP header holding a proof, which must be valid for
// the request (method, [Config.DPoPURL], ath of the token; see package
// token/dpop), made with the key the token is bound to (its cnf.jkt) and
// used once. The proof is checked on every request, after the token (which
// a token.Verifier may answer from its cache of verified tokens): no cached
// verification ever admits a bound token without its proof. Refusals:
//
//   - a bound token sent as Bearer (RS-30), or an unbound token sent as
//     DPoP: 401 invalid_token;
//   - no proof, two, or an invalid, stale or replayed one: 401
//     invalid_dpop_proof;
//   - a proof made with another key than the token's: 401 invalid_token;
//   - with server nonces, a proof without the current one: 401
//     use_dpop_nonce with the nonce in the DPoP-Nonce header;
//   - a replay memory full of live proofs: 503.
//
// The error goes in a DPoP challenge carrying algs; every refusal, the bare
// 401 included, also has a Bearer challenge (RFC 9449 §7.2), without the
// error when it is DPoP's ([Error.Challenges]). Without Config.DPoP the
// DPoP scheme is not understood (no credential) and a bound token is
// refused whatever the scheme, so that a resource that cannot check proofs
// never takes a bound token for a bearer one.
package middleware

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// Verifier verifies a bearer token and returns its claims. keyturn's
// [token.Verifier] satisfies it, with its cache of verified tokens. The
// returned claims may be shared with other requests and must not be
// modified.
type Verifier interface {
	Verify(ctx context.Context, token string) (*token.Claims, error)
}

// DefaultMaxTokenLength is the longest token accepted when
// Config.MaxTokenLength is zero.
const DefaultMaxTokenLength = 8 << 10

// maxFormBody bounds a form body read for a form-encoded token.
const maxFormBody = 64 << 10

// Config configures a [Middleware]. Only Verifier is required.
type Config struct {
	// Verifier checks tokens. Required.
	Verifier Verifier

	// Realm, when set, is sent as the realm of every challenge. It must not
	// contain '"' or '\'.
	Realm string

	// AllowQueryToken accepts a token in the access_token query parameter
	// (RFC 6750 §2.3). Off by default: URIs end up in logs and Referer
	// headers. When on, successful responses carry Cache-Control: private.
	AllowQueryToken bool

	// AllowFormToken accepts a token in a form-encoded body (RFC 6750 §2.2)
	// of a request whose method has a body. Off by default; when on, the
	// middleware reads (up to 64 KiB of) such bodies and hands the handler an
	// equivalent body.
	AllowFormToken bool

	// MaxTokenLength bounds the token; a longer one is invalid_token. Zero
	// means DefaultMaxTokenLength.
	MaxTokenLength int

	// DPoP, when set, also accepts DPoP-bound tokens (RFC 9449), sent as
	// "Authorization: DPoP <token>" with a proof checked by this verifier
	// (see dpop.go and package token/dpop). Nil means the DPoP scheme is
	// not understood, and a bound token is refused whatever the scheme.
	DPoP *dpop.Verifier

	// DPoPURL returns the URL a DPoP proof's htu must name for r: the URL
	// as the client addressed it, built from configuration, never from
	// Host or X-Forwarded-* headers the client sets. Required with DPoP;
	// [RequestURL] makes one.
	DPoPURL func(r *http.Request) string

	// ErrorHandler, when set, writes every refusal instead of the default
	// JSON writer. It receives the refusal as an *Error. It should set the
	// status and WWW-Authenticate from it (see [Error.Challenge]), or call
	// [WriteError] to answer as the default does (after logging, say).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err *Error)
}

// Middleware authenticates requests with bearer tokens. Create one with
// [New]; it is safe for concurrent use.
type Middleware struct {
	verifier   Verifier
	realm      string
	allowQuery bool
	allowForm  bool
	maxLen     int
	onError    func(http.ResponseWriter, *http.Request, *Error)

	dpop     *dpop.Verifier // nil: DPoP not accepted
	dpopURL  func(*http.Request) string
	dpopAlgs string // the algs of DPoP challenges
}

// New validates cfg and returns a Middleware.
func New(cfg Config) (*Middleware, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("keyturn/middleware: Config.Verifier is required")
	}
	if strings.ContainsAny(cfg.Realm, "\"\\") || !printable(cfg.Realm) {
		return nil, errors.New("keyturn/middleware: Config.Realm must be printable ASCII without '\"' or '\\'")
	}
	if cfg.MaxTokenLength < 0 {
		return nil, errors.New("keyturn/middleware: Config.MaxTokenLength must not be negative")
	}
	m := &Middleware{
		verifier:   cfg.Verifier,
		realm:      cfg.Realm,
		allowQuery: cfg.AllowQueryToken,
		allowForm:  cfg.AllowFormToken,
		maxLen:     cfg.MaxTokenLength,
		onError:    cfg.ErrorHandler,
	}
	if m.maxLen == 0 {
		m.maxLen = DefaultMaxTokenLength
	}
	if m.dpop = cfg.DPoP; m.dpop != nil {
		if m.dpopURL = cfg.DPoPURL; m.dpopURL == nil {
			return nil, errors.New("keyturn/middleware: Config.DPoPURL is required with DPoP")
		}
		m.dpopAlgs = strings.Join(m.dpop.Algorithms(), " ")
	}
	if m.onError == nil {
		m.onError = m.writeError
	}
	return m, nil
}

// Authenticate lets through requests with a valid token, whatever its scope.
func (m *Middleware) Authenticate(next http.Handler) http.Handler {
	return &guard{m: m, next: next}
}

// Require returns middleware that lets through requests whose token covers
// every scope in scopes, a space-delimited scope string such as
// "read:users" or "target-entity:E1:read,write". It panics if scopes is
// malformed or empty, as regexp.MustCompile does: routes are set up once,
// at start-up.
func (m *Middleware) Require(scopes string) func(http.Handler) http.Handler {
	need := mustScope("Require", scopes)
	needStr := need.String()
	return func(next http.Handler) http.Handler {
		return &guard{m: m, next: next, check: func(c *token.Claims, _ *http.Request) (bool, string) {
			return c.Scope.Covers(need), needStr
		}}
	}
}

// RequireAny returns middleware that lets through requests whose token
// covers at least one scope in scopes. It panics if scopes is malformed or
// empty.
func (m *Middleware) RequireAny(scopes string) func(http.Handler) http.Handler {
	need := mustScope("RequireAny", scopes)
	tokens := need.Tokens()
	needStr := need.String()
	return func(next http.Handler) http.Handler {
		return &guard{m: m, next: next, check: func(c *token.Claims, _ *http.Request) (bool, string) {
			for _, t := range tokens {
				if c.Scope.Contains(t) {
					return true, ""
				}
			}
			return false, needStr
		}}
	}
}

// RequireEntity returns middleware that lets through requests whose token
// holds the compound scope target-entity:<entity>:<perms>, where entity is
// taken from the request by the entity func (for example
// func(r *http.Request) string { return r.PathValue("id") }) and perms is a
// comma-separated permission list such as "employees-read". A request whose
// entity is empty or not a valid entity id is refused as insufficient_scope.
// It panics if perms is malformed or entity is nil.
func (m *Middleware) RequireEntity(perms string, entity func(*http.Request) string) func(http.Handler) http.Handler {
	if entity == nil {
		panic("keyturn/middleware: RequireEntity: nil entity func")
	}
	if _, err := scope.Parse(scope.CompoundPrefix + "e:" + perms); err != nil || perms == "" {
		panic("keyturn/middleware: RequireEntity: malformed permission list")
	}
	return func(next http.Handler) http.Handler {
		return &guard{m: m, next: next, check: func(c *token.Claims, r *http.Request) (bool, string) {
			e := entity(r)
			want := scope.CompoundPrefix + e + ":" + perms
			if e != scope.Wildcard && c.Scope.Contains(want) {
				return true, ""
			}
			if e == "" || e == scope.Wildcard || !oneToken(want) {
				// Never echo a value that is not a well-formed scope token.
				return false, scope.CompoundPrefix + "<entity>:" + perms
			}
			return false, want
		}}
	}
}

// oneToken reports whether s is exactly one well-formed scope token.
func oneToken(s string) bool {
	set, err := scope.Parse(s)
	return err == nil && set.Len() == 1
}

func mustScope(fn, s string) scope.Set {
	set, err := scope.Parse(s)
	if err != nil || set.IsEmpty() {
		panic("keyturn/middleware: " + fn + ": malformed or empty scope")
	}
	return set
}

// guard is the handler every constructor returns: authenticate, then check.
type guard struct {
	m     *Middleware
	next  http.Handler
	check func(*token.Claims, *http.Request) (ok bool, need string)
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := g.m
	claims, fromQuery, r2, rerr := m.authenticate(r)
	if rerr != nil {
		rerr.DPoPAlgs = m.dpopAlgs
		m.onError(w, r, rerr)
		return
	}
	if g.check != nil {
		if ok, need := g.check(claims, r); !ok {
			m.onError(w, r, &Error{Status: http.StatusForbidden, Code: "insufficient_scope",
				Description: "the token lacks the scope this resource needs", Scope: need,
				DPoPAlgs: m.dpopAlgs, DPoPError: claims.JKT != "" && m.dpop != nil})
			return
		}
	}
	if fromQuery {
		w.Header().Set("Cache-Control", "private")
	}
	g.next.ServeHTTP(w, r2)
}

// authenticate finds and verifies the request's token. It returns the request
// to hand on: r itself when claims were already in its context (an outer
// guard verified them), else a shallow copy carrying them.
func (m *Middleware) authenticate(r *http.Request) (*token.Claims, bool, *http.Request, *Error) {
	if c, ok := token.FromContext(r.Context()); ok {
		return c, false, r, nil
	}
	tok, fromQuery, body, isDPoP, rerr := m.extract(r)
	if rerr != nil {
		return nil, false, nil, rerr
	}
	if len(tok) > m.maxLen {
		return nil, false, nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "the access token is too long", Err: errTooLong}
	}
	// keyturn's token.Verifier accepts only b64token strings (base64url
	// segments and dots, or an opaque token's [a-z0-9_] prefix and base62
	// body), so it is asked first and the syntax checked only when it
	// refuses, to tell a malformed request (400) from an invalid token
	// (401): a token it has cached then costs no scan. Any other verifier
	// sees only well-formed tokens.
	_, keyturn := m.verifier.(*token.Verifier)
	if !keyturn && !b64token(tok) {
		return nil, false, nil, malformed("the bearer token is empty or not a valid b64token")
	}
	claims, err := m.verifier.Verify(r.Context(), tok)
	if err != nil {
		if keyturn && !b64token(tok) {
			return nil, false, nil, malformed("the bearer token is empty or not a valid b64token")
		}
		return nil, false, nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: describe(err), Err: err}
	}
	if claims == nil {
		return nil, false, nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "the access token is invalid", Err: errNilClaims}
	}
	if claims.JKT != "" || isDPoP {
		// A sender-constrained token: its proof, on every request (dpop.go).
		if rerr := m.checkDPoP(r, tok, claims, isDPoP); rerr != nil {
			return nil, false, nil, rerr
		}
	}
	r2 := r.WithContext(token.NewContext(r.Context(), claims))
	if body != nil {
		r2.Body = body
	}
	return claims, fromQuery, r2, nil
}

var (
	errTooLong   = errors.New("keyturn/middleware: token too long")
	errNilClaims = errors.New("keyturn/middleware: verifier returned no claims")
)

// describe turns a verification error into a fixed, safe description.
func describe(err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return "the access token expired"
	case errors.Is(err, token.ErrRevoked):
		return "the access token was revoked"
	case errors.Is(err, token.ErrNotYetValid):
		return "the access token is not valid yet"
	}
	return "the access token is invalid"
}
