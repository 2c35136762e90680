package keyturn

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keyturn/keyturn/internal/oauthreq"
)

// ErrRateLimited is the reason of an [AuthFailed] event for an attempt the
// [Limiter] refused before any credential was checked.
var ErrRateLimited = errors.New("keyturn: too many failed authentications")

// ErrBusy is the reason of an [AuthFailed] event for a password-grant
// attempt answered 503 because every turn to check a password was taken
// and too many requests waited already, or none came in time
// ([EndpointConfig.MaxPasswordWaiting], [EndpointConfig.PasswordWait]).
// The password was not checked.
var ErrBusy = errors.New("keyturn: too many password checks under way")

// parse reads an endpoint request with [oauthreq.Parse], after refusing a
// request that did not come over TLS (unless plain HTTP is allowed) before
// anything of it is read. A 401 from the parser is a failed authentication
// and counts against the remote address.
func (e *Endpoint) parse(w http.ResponseWriter, r *http.Request, o *oauthreq.Options) (*oauthreq.Request, *oauthreq.Error) {
	if r.TLS == nil && !e.plainHTTP {
		return nil, errInvalidRequest("the request must be made over TLS")
	}
	req, err := oauthreq.Parse(w, r, *o)
	if err != nil {
		oerr, ok := errors.AsType[*oauthreq.Error](err)
		if !ok {
			return nil, errServer
		}
		if oerr.Status == http.StatusUnauthorized {
			e.failAnonymous(r)
		}
		return nil, oerr
	}
	return req, nil
}

func errInvalidRequest(desc string) *oauthreq.Error {
	return &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.InvalidRequest, Description: desc}
}

// errRateLimited is the 429 of an attempt the Limiter refused. Its code is
// RFC 8628's slow_down, registered for token endpoint responses.
func errRateLimited(wait time.Duration) *oauthreq.Error {
	return &oauthreq.Error{Status: http.StatusTooManyRequests, Code: "slow_down",
		Description: "too many failed authentications, retry later", RetryAfter: wait}
}

var (
	errServer = &oauthreq.Error{Status: http.StatusInternalServerError, Code: oauthreq.ServerError,
		Description: "the server failed to handle the request"}
	errUnavailable = &oauthreq.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Description: "the server cannot handle the request now, retry later", RetryAfter: time.Second}
)

// writeError writes oe as an RFC 6749 §5.2 error response, with
// Cache-Control: no-store and Pragma: no-cache.
func (e *Endpoint) writeError(w http.ResponseWriter, oe *oauthreq.Error) {
	oauthreq.WriteError(w, oe, e.realm)
}

// writeJSON writes body, a JSON document, and a newline with the given
// status, as not cacheable (RFC 6749 §5.1): every response of the token,
// introspection and revocation endpoints carries Cache-Control: no-store and
// Pragma: no-cache.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"no-store"}
	h["Pragma"] = []string{"no-cache"}
	h["Content-Length"] = []string{strconv.Itoa(len(body) + 1)}
	w.WriteHeader(status)
	w.Write(body)
	w.Write(newline)
}

// newline ends every JSON body, so that a shell prompt does not land on it.
var newline = []byte{'\n'}

// writeEmpty answers 200 with an empty body, not cacheable.
func writeEmpty(w http.ResponseWriter) {
	h := w.Header()
	h["Cache-Control"] = []string{"no-store"}
	h["Pragma"] = []string{"no-cache"}
	h["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusOK)
}

// tokenRequest reads an introspection or revocation request (RFC 7662 §2.1,
// RFC 7009 §2.1): the form, its required token parameter and the client's
// authentication. On failure it has written the error and returns ok false.
func (e *Endpoint) tokenRequest(w http.ResponseWriter, r *http.Request, endpoint string) (Client, *oauthreq.Request, bool) {
	req, oerr := e.parse(w, r, &e.formOpts)
	if oerr != nil {
		if oerr.Status == http.StatusUnauthorized && oerr.Challenge == "Bearer" {
			// A malformed bearer credential, where the request is
			// authorized by one (see invalidClient).
			oerr.Code = oauthreq.InvalidToken
		}
		e.writeError(w, oerr)
		return Client{}, nil, false
	}
	if req.Token == "" {
		e.writeError(w, errInvalidRequest("token is missing"))
		return Client{}, nil, false
	}
	client, oerr := e.authenticate(r.Context(), r, req, endpoint)
	if oerr != nil {
		e.writeError(w, oerr)
		return Client{}, nil, false
	}
	return client, req, true
}
