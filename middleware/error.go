package middleware

import (
	"net/http"
	"strconv"
	"strings"
)

// Error is a refusal: what the middleware answers instead of calling the
// wrapped handler. An [Config.ErrorHandler] receives it.
type Error struct {
	// Status is 400, 401, 403 or 413.
	Status int
	// Code is the RFC 6750 §3.1 error code: "invalid_request",
	// "invalid_token" or "insufficient_scope"; empty when the request
	// carried no credential at all.
	Code string
	// Description is a fixed, human-readable explanation. It never contains
	// the token or other request data.
	Description string
	// Scope names the scope the resource needs (insufficient_scope only).
	Scope string
	// Err is the underlying cause, such as a token verification error
	// (errors.Is(err, token.ErrExpired)...). It is for logs and is never
	// sent to the client.
	Err error

	// DPoP challenges (RFC 9449 §7.1), set by a Middleware that accepts
	// DPoP (see Config.DPoP); see dpop.go.

	// DPoPAlgs, when not empty, lists (space-separated) the DPoP proof
	// algorithms the resource accepts: the answer then carries a DPoP
	// challenge with algs beside the Bearer one.
	DPoPAlgs string
	// DPoPError says the refusal concerns the DPoP scheme (a DPoP request,
	// or a DPoP-bound token sent as Bearer): its error goes in the DPoP
	// challenge, and the Bearer challenge is bare.
	DPoPError bool
	// DPoPNonce, when not empty, is sent as the DPoP-Nonce header (with
	// Code "use_dpop_nonce", RFC 9449 §9).
	DPoPNonce string
}

// Error returns "keyturn/middleware: " followed by the code and description.
func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = "unauthorized"
	}
	return "keyturn/middleware: " + code + ": " + e.Description
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Challenge returns the WWW-Authenticate value for the refusal (RFC 6750
// §3), with the given realm when it is not empty: the challenge that
// carries the error, which is the DPoP one when DPoPError is set (see
// [Error.Challenges] for every challenge of the answer).
func (e *Error) Challenge(realm string) string {
	if e.DPoPError {
		return e.challenge("DPoP", realm, true, e.DPoPAlgs)
	}
	return e.challenge("Bearer", realm, true, "")
}

// challenge is the challenge of scheme, with the error when withError and
// with algs when not empty.
func (e *Error) challenge(scheme, realm string, withError bool, algs string) string {
	var b strings.Builder
	b.WriteString(scheme)
	sep := " "
	attr := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(value)
		b.WriteByte('"')
		sep = ", "
	}
	if realm != "" {
		attr("realm", realm)
	}
	if withError && e.Code != "" {
		attr("error", e.Code)
		if e.Description != "" {
			attr("error_description", e.Description)
		}
		if e.Scope != "" {
			attr("scope", e.Scope)
		}
	}
	if algs != "" {
		attr("algs", algs)
	}
	return b.String()
}

// writeError is the default ErrorHandler.
func (m *Middleware) writeError(w http.ResponseWriter, _ *http.Request, e *Error) {
	WriteError(w, e, m.realm)
}

// WriteError writes the refusal e as the middleware does when no
// [Config.ErrorHandler] is set: status e.Status, the RFC 6750 challenge with
// the given realm, and a JSON body with the same error, in the manner of
// http.Error. An ErrorHandler that only wants to log or count refusals calls
// it to answer.
func WriteError(w http.ResponseWriter, e *Error, realm string) {
	h := w.Header()
	h["Www-Authenticate"] = e.Challenges(realm) // the canonical key
	if e.DPoPNonce != "" && printable(e.DPoPNonce) {
		h.Set("DPoP-Nonce", e.DPoPNonce)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	// Codes, descriptions and scopes hold only printable ASCII without '"'
	// or '\' (they are fixed strings and validated scope tokens), so they
	// need no escaping; strconv.Quote is still used as a safety net.
	body := make([]byte, 0, 128)
	body = append(body, '{')
	if e.Code != "" {
		body = append(body, `"error":`...)
		body = strconv.AppendQuote(body, e.Code)
		body = append(body, ',')
	}
	body = append(body, `"error_description":`...)
	body = strconv.AppendQuote(body, e.Description)
	if e.Scope != "" {
		body = append(body, `,"scope":`...)
		body = strconv.AppendQuote(body, e.Scope)
	}
	body = append(body, "}\n"...)
	w.Write(body)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
