//go:build keyturnendpoint

package token

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ErrRateLimited is the reason of an [AuthFailed] event for an attempt the
// [Limiter] refused before any credential was checked.
var ErrRateLimited = errors.New("keyturn/token: too many failed authentications")

// oauthError is an error response of RFC 6749 §5.2: a status, an error
// code and a fixed description (never input), with the headers some of
// them need.
type oauthError struct {
	status     int
	code       string
	desc       string
	challenge  string        // WWW-Authenticate
	allow      string        // Allow, for 405
	retryAfter time.Duration // Retry-After, for 429 and 503
}

func errInvalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

func errRateLimited(wait time.Duration) *oauthError {
	return &oauthError{status: http.StatusTooManyRequests, code: "slow_down",
		desc: "too many failed authentications; retry later", retryAfter: wait}
}

var (
	errServer = &oauthError{status: http.StatusInternalServerError, code: "server_error",
		desc: "the server failed to handle the request"}
	errUnavailable = &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		desc: "the server cannot handle the request now; retry later", retryAfter: time.Second}
)

// noStore marks a response as not cacheable (RFC 6749 §5.1). Every
// response of the token, introspection and revocation endpoints carries it,
// errors included.
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h["Cache-Control"] = []string{"no-store"}
	h["Pragma"] = []string{"no-cache"}
}

// writeJSON writes body, a JSON document, with the given status.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

// writeError writes oe as an RFC 6749 §5.2 error response.
func (e *Endpoint) writeError(w http.ResponseWriter, oe *oauthError) {
	h := w.Header()
	if oe.challenge != "" {
		h["Www-Authenticate"] = []string{oe.challenge}
	}
	if oe.allow != "" {
		h["Allow"] = []string{oe.allow}
	}
	if oe.retryAfter > 0 {
		secs := int64((oe.retryAfter + time.Second - 1) / time.Second)
		h["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
	}
	buf := make([]byte, 0, 64+len(oe.desc))
	buf = append(buf, `{"error":`...)
	buf = appendJSONString(buf, oe.code)
	buf = append(buf, `,"error_description":`...)
	buf = appendJSONString(buf, oe.desc)
	buf = append(buf, '}')
	writeJSON(w, oe.status, buf)
}
