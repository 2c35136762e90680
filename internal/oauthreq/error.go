package oauthreq

import (
	"net/http"
	"strconv"
	"time"
)

// Error codes of RFC 6749 §5.2 (and RFC 7009 §2.2.1, RFC 8707 §2).
const (
	InvalidRequest       = "invalid_request"
	InvalidClient        = "invalid_client"
	InvalidGrant         = "invalid_grant"
	UnauthorizedClient   = "unauthorized_client"
	UnsupportedGrantType = "unsupported_grant_type"
	InvalidScope         = "invalid_scope"
	InvalidTarget        = "invalid_target"
	UnsupportedTokenType = "unsupported_token_type"
	ServerError          = "server_error"

	// InvalidToken is RFC 6750's (§3.1): a bearer credential that does not
	// authenticate, where the request was authorized by a bearer token
	// (introspection and revocation, RFC 7662 §2.3).
	InvalidToken = "invalid_token"
)

// Error is an OAuth error response (RFC 6749 §5.2): what [Parse] returns
// for a request it refuses, and what an endpoint builds for its own
// refusals, to write with [WriteError].
type Error struct {
	// Status is the HTTP status: 400, or 401 for invalid_client after a
	// credential was presented, 405, 413, 431 from Parse; 429, 5xx from
	// callers. Zero means 400.
	Status int
	// Code is the error code, e.g. InvalidRequest.
	Code string
	// Description is a fixed, human-readable explanation. It never holds
	// request data.
	Description string
	// Challenge is the authentication scheme of the WWW-Authenticate
	// header of a 401: "Basic" or "Bearer"; empty means Basic.
	Challenge string
	// RetryAfter, when positive, is sent as Retry-After in whole seconds,
	// rounded up (for a 429 or 503).
	RetryAfter time.Duration
}

// Error returns "keyturn/oauthreq: " followed by the code and description.
func (e *Error) Error() string {
	if e.Description == "" {
		return "keyturn/oauthreq: " + e.Code
	}
	return "keyturn/oauthreq: " + e.Code + ": " + e.Description
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &Error{Code: InvalidClient}) matches any invalid_client.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func badRequest(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: InvalidRequest, Description: desc}
}

func unauthorized(challenge, desc string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: InvalidClient, Description: desc, Challenge: challenge}
}

// DefaultRealm is the realm WriteError uses when given none.
const DefaultRealm = "keyturn"

// WriteError writes e as the JSON error response of RFC 6749 §5.2:
// {"error", "error_description"} with Content-Type: application/json,
// Cache-Control: no-store and Pragma: no-cache; for a 401 a
// WWW-Authenticate challenge in e.Challenge's scheme with the given realm
// (empty means DefaultRealm); for a 405 Allow: POST; Retry-After when
// e.RetryAfter is positive. A character of Code, Description or realm
// outside %x20-21 / %x23-5B / %x5D-7E is written as '?', so the response
// stays well-formed whatever e holds. A nil e is a 500 server_error.
func WriteError(w http.ResponseWriter, e *Error, realm string) {
	status, code, desc := http.StatusInternalServerError, ServerError, ""
	if e != nil {
		status, code, desc = e.Status, e.Code, e.Description
		if status == 0 {
			status = http.StatusBadRequest
		}
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		if code == "" {
			code = InvalidRequest
			if status >= 500 {
				code = ServerError
			}
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	switch status {
	case http.StatusUnauthorized:
		if realm == "" {
			realm = DefaultRealm
		}
		h.Set("WWW-Authenticate", challenge(e.Challenge, realm, code))
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodPost)
	}
	if e != nil && e.RetryAfter > 0 {
		secs := (e.RetryAfter + time.Second - 1) / time.Second
		h.Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	w.WriteHeader(status)
	b := make([]byte, 0, 32+len(code)+len(desc))
	b = append(b, `{"error":"`...)
	b = appendSafe(b, code)
	b = append(b, '"')
	if desc != "" {
		b = append(b, `,"error_description":"`...)
		b = appendSafe(b, desc)
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	w.Write(b)
}

// challenge is the WWW-Authenticate value: Basic with its charset
// parameter (RFC 7617 §2.1), or Bearer with the body's error code, so that
// the challenge and the body never disagree (invalid_client for a key
// refused at the token endpoint, invalid_token where the request was
// authorized by a bearer credential).
func challenge(scheme, realm, code string) string {
	r := string(appendSafe(nil, realm))
	if scheme == "Bearer" {
		return `Bearer realm="` + r + `", error="` + string(appendSafe(nil, code)) + `"`
	}
	return `Basic realm="` + r + `", charset="UTF-8"`
}

// textChar reports whether c may appear in error and error_description
// (RFC 6749 §5.2) and, equally, inside a quoted-string without escaping.
func textChar(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// validText reports whether s is made only of RFC 6749 §5.2 characters.
func validText(s string) bool {
	for i := 0; i < len(s); i++ {
		if !textChar(s[i]) {
			return false
		}
	}
	return true
}

// appendSafe appends s with every byte outside the §5.2 set replaced by
// '?'. The result needs no JSON escaping.
func appendSafe(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !textChar(c) {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}
