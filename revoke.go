package keyturn

import (
	"net/http"

	"github.com/keyturn/keyturn/internal/oauthreq"
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
	client, req, ok := e.tokenRequest(w, r, "revocation")
	if !ok {
		return
	}
	tok, ctx := req.Token, r.Context()
	revs := e.verifier.Revocations()
	if revs == nil {
		e.writeError(w, &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.UnsupportedTokenType,
			Description: "this server cannot revoke access tokens"})
		return
	}
	// The token is judged without regard to revocation, so that a retry
	// after a failed write (503 below) writes again: the earlier attempt
	// already revoked the token in this process.
	c, err := e.verifier.VerifyIgnoringRevocation(ctx, tok)
	if err != nil {
		if isVerifyRefusal(err) {
			writeEmpty(w)
			return
		}
		e.writeError(w, errUnavailable)
		return
	}
	if c.ClientID != client.ID || e.users != nil && c.ClientID == e.passwordID {
		e.writeError(w, &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.UnauthorizedClient,
			Description: "the token was not issued to this client"})
		return
	}
	already := revs.Revoked(c)
	if err := revs.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
		e.writeError(w, errUnavailable)
		return
	}
	if already {
		writeEmpty(w)
		return
	}
	e.emit(ctx, Event{Kind: TokenRevoked, Endpoint: "revocation", Method: methodOf(req), ClientID: c.ClientID,
		Subject: c.Subject, Scope: c.Scope, TokenID: c.ID, ExpiresAt: c.ExpiresAt, RemoteAddr: r.RemoteAddr})
	writeEmpty(w)
}
