//go:build keyturnendpoint

package token

import (
	"net/http"
)

// Revocation returns the RFC 7009 token revocation endpoint, to mount at
// e.g. POST /oauth/revoke.
//
// The caller authenticates as a client, with the methods of the token
// endpoint except the JSON ones (the request is a form, RFC 7009 §2.1), and
// may revoke only the tokens issued to it. Revoking one of its valid tokens
// records the token's jti in the Verifier's [Revocations] and answers 200
// with an empty body: from then on the Verifier refuses the token and
// introspection reports it inactive. A token that is unknown, malformed,
// expired or already revoked is answered 200 too, doing nothing (§2.2).
// A valid token issued to another client, or a password-grant token (which
// no client owns), is refused with 400 unauthorized_client and stays valid:
// RFC 7009 §2.1 says to refuse and inform, and the refusal tells the caller
// nothing it could not learn by introspecting the token. token_type_hint is
// ignored: there is one kind of token.
//
// Without Revocations on the Verifier, every request that authenticates is
// answered 400 unsupported_token_type (§2.2.1), never a false success. When
// the revocation cannot be stored the answer is 503 with Retry-After; the
// token is then refused in this process already, but other processes may
// not learn of it, so the client should retry.
func (e *Endpoint) Revocation() http.Handler {
	return revocationHandler{e}
}

type revocationHandler struct{ e *Endpoint }

func (h revocationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	noStore(w)
	req, oerr := e.parse(r, e.methods&^(ClientSecretJSON|JSONKey))
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	tok, ok := req.param("token")
	if !ok {
		e.writeError(w, errInvalidRequest("token is missing"))
		return
	}
	ctx := r.Context()
	client, oerr := e.authenticate(ctx, r, req, "revocation")
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	revs := e.verifier.revocations
	if revs == nil {
		e.writeError(w, &oauthError{status: http.StatusBadRequest, code: "unsupported_token_type",
			desc: "this server cannot revoke access tokens"})
		return
	}
	c, err := e.verifier.Verify(ctx, tok)
	if err != nil {
		if isVerifyRefusal(err) {
			writeEmpty(w)
			return
		}
		e.writeError(w, errUnavailable)
		return
	}
	if c.ClientID != client.ID || e.users != nil && c.ClientID == e.passwordID {
		e.writeError(w, &oauthError{status: http.StatusBadRequest, code: "unauthorized_client",
			desc: "the token was not issued to this client"})
		return
	}
	if err := revs.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
		e.writeError(w, errUnavailable)
		return
	}
	e.emit(ctx, Event{Kind: TokenRevoked, Endpoint: "revocation", Method: req.cred.method, ClientID: c.ClientID,
		Subject: c.Subject, Scope: c.Scope, TokenID: c.ID, ExpiresAt: c.ExpiresAt, RemoteAddr: r.RemoteAddr})
	writeEmpty(w)
}

// writeEmpty answers 200 with an empty body, which RFC 7009 §2.2 clients
// ignore.
func writeEmpty(w http.ResponseWriter) {
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusOK)
}
