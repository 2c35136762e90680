package keyturn

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/keyturn/keyturn/internal/jsonenc"
	"github.com/keyturn/keyturn/token"
)

// Introspection returns the RFC 7662 token introspection endpoint, to mount
// at e.g. POST /oauth/introspect.
//
// The caller authenticates as a client, with the methods of the token
// endpoint except the JSON ones (the request is a form, RFC 7662 §2.1). A
// caller may introspect the tokens issued to it, and a caller holding
// [EndpointConfig.IntrospectScope] any token. The answer is
// {"active":false}, and nothing else, for a token that is malformed,
// unknown, badly signed, expired, not yet valid, revoked, for another
// audience, or issued to another client when the caller may not see it; for
// the rest it is {"active":true} with scope, client_id, sub, exp, iat, nbf,
// iss, aud, jti and token_type "Bearer", or, for a token bound to a DPoP
// key, cnf {"jkt"} and token_type "DPoP". token_type_hint is ignored: there
// is one kind of token.
func (e *Endpoint) Introspection() http.Handler {
	return introspectionHandler{e}
}

type introspectionHandler struct{ e *Endpoint }

// inactive is the whole answer for a token that is not active (RFC 7662
// §2.2): it says nothing about why.
var inactive = []byte(`{"active":false}`)

func (h introspectionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	client, req, ok := e.tokenRequest(w, r, "introspection")
	if !ok {
		return
	}
	tok, ctx := req.Token, r.Context()
	c, err := e.verifier.Verify(ctx, tok)
	if err != nil {
		if isVerifyRefusal(err) {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		e.writeError(w, errUnavailable)
		return
	}
	if c.ClientID != client.ID {
		held, err := e.allowedScope(ctx, client)
		if err != nil {
			e.writeError(w, errServer)
			return
		}
		if !held.Covers(e.introspect) {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
	}
	writeJSON(w, http.StatusOK, appendIntrospection(make([]byte, 0, 512), c))
}

// appendIntrospection appends the active introspection response for c
// (RFC 7662 §2.2): times as integers, scope as one string, aud as a string
// when it holds one value.
func appendIntrospection(b []byte, c *token.Claims) []byte {
	b = append(b, `{"active":true`...)
	if !c.Scope.IsEmpty() {
		b = append(b, `,"scope":`...)
		b = jsonenc.AppendString(b, c.Scope.String())
	}
	b = append(b, `,"client_id":`...)
	b = jsonenc.AppendString(b, c.ClientID)
	b = append(b, `,"sub":`...)
	b = jsonenc.AppendString(b, c.Subject)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.ExpiresAt.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt.Unix(), 10)
	if !c.NotBefore.IsZero() {
		b = append(b, `,"nbf":`...)
		b = strconv.AppendInt(b, c.NotBefore.Unix(), 10)
	}
	b = append(b, `,"iss":`...)
	b = jsonenc.AppendString(b, c.Issuer)
	b = append(b, `,"aud":`...)
	b = jsonenc.AppendStringOrArray(b, c.Audience)
	b = append(b, `,"jti":`...)
	b = jsonenc.AppendString(b, c.ID)
	if c.JKT != "" { // RFC 9449 §6.2 (dpop.go)
		b = append(b, `,"cnf":{"jkt":`...)
		b = jsonenc.AppendString(b, c.JKT)
		b = append(b, '}')
	}
	b = append(b, `,"token_type":`...)
	b = append(b, tokenType(c.JKT)...)
	b = append(b, '}')
	return b
}

// verifyRefusals are the errors with which [Verifier.Verify] refuses a
// token; any other error is a failure to decide (storage down).
var verifyRefusals = [...]error{token.ErrMalformed, token.ErrInvalidSignature, token.ErrExpired, token.ErrNotYetValid, token.ErrRevoked,
	token.ErrWrongIssuer, token.ErrWrongAudience, token.ErrUnknownKey, token.ErrUnsupportedAlgorithm, token.ErrWrongType}

// isVerifyRefusal reports whether err says the token is not valid, as
// opposed to the verifier failing to find out.
func isVerifyRefusal(err error) bool {
	for _, s := range verifyRefusals {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
