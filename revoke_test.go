package keyturn

// Tests of the revocation endpoint, one per item of CONFORMANCE.md §4
// (RV-01 … RV-18), named by the item's ID.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/token"
)

// revoke asks the endpoint to revoke tok with the given credentials.
func (e *endpointEnv) revoke(tok string, hdr ...string) *result {
	return e.do(formPost("/revoke", "token="+tok, hdr...))
}

// wantRevoked checks a 200 answer (RFC 7009 §2.2): empty body, not
// cacheable.
func wantRevokeOK(t testing.TB, res *result) {
	t.Helper()
	if res.Code != http.StatusOK || len(res.Body) != 0 {
		t.Fatalf("status %d body %q, want 200 and no body", res.Code, res.Body)
	}
	wantNoStore(t, res)
}

// stillValid checks that tok verifies and introspects active.
func (e *endpointEnv) stillValid(t testing.TB, tok string) {
	t.Helper()
	if _, err := e.verify.Verify(context.Background(), tok); err != nil {
		t.Errorf("token no longer verifies: %v", err)
	}
	wantActive(t, e.introspect(tok))
}

// isRevoked checks that tok is refused as revoked and introspects inactive.
func (e *endpointEnv) isRevoked(t testing.TB, tok string) {
	t.Helper()
	if _, err := e.verify.Verify(context.Background(), tok); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("Verify = %v, want ErrRevoked", err)
	}
	wantInactive(t, e.introspect(tok))
}

// RV-01: revoking one's own token takes effect at once.
func TestRV01_RevokeOwnToken(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	other := e.ccToken(t, cbID, cbSecret, "")
	wantRevokeOK(t, e.do(formPost("/revoke", "token="+tok+"&token_type_hint=access_token", cbAuth...)))
	e.isRevoked(t, tok)
	e.stillValid(t, other)
	if n := e.events.count(TokenRevoked); n != 1 {
		t.Errorf("%d TokenRevoked events", n)
	}
}

// RV-02: an unknown or garbage token is answered 200.
func TestRV02_UnknownToken(t *testing.T) {
	e := newEndpointEnv(t)
	for _, tok := range []string{"garbage", "a.b.c", strings.Repeat("x", token.MaxTokenSize+1)} {
		wantRevokeOK(t, e.revoke(tok, cbAuth...))
	}
	if n := e.events.count(TokenRevoked); n != 0 {
		t.Errorf("%d TokenRevoked events", n)
	}
}

// RV-03: revoking twice is fine.
func TestRV03_AlreadyRevoked(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	wantRevokeOK(t, e.revoke(tok, cbAuth...))
	wantRevokeOK(t, e.revoke(tok, cbAuth...))
	e.isRevoked(t, tok)
}

// RV-04: an expired token is answered 200.
func TestRV04_ExpiredToken(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	e.clock.Add(time.Hour)
	wantRevokeOK(t, e.revoke(tok, cbAuth...))
}

// RV-05: hints never prevent revocation.
func TestRV05_HintsIgnored(t *testing.T) {
	e := newEndpointEnv(t)
	for _, hint := range []string{"refresh_token", "foo"} {
		t.Run(hint, func(t *testing.T) {
			tok := e.ccToken(t, cbID, cbSecret, "")
			wantRevokeOK(t, e.do(formPost("/revoke", "token="+tok+"&token_type_hint="+hint, cbAuth...)))
			e.isRevoked(t, tok)
		})
	}
}

// RV-06: without a revocation store on the Verifier, tokens cannot be
// revoked: 400 unsupported_token_type, never a false 200, and the token
// stays valid. Metadata then advertises no revocation endpoint.
func TestRV06_UnsupportedTokenType(t *testing.T) {
	e := newEndpointEnv(t, func(c *EndpointConfig) {
		v, err := token.NewVerifier(token.VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: issuerKeys(c.Issuer),
			Algorithms: []token.Algorithm{token.EdDSA}, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
	})
	e.verify = e.ep.verifier
	tok := e.ccToken(t, cbID, cbSecret, "")
	wantError(t, e.revoke(tok, cbAuth...), http.StatusBadRequest, "unsupported_token_type")
	e.stillValid(t, tok)
	md := decodeObject(t, e.do(httptest.NewRequest(http.MethodGet, "https://as.test"+e.ep.MetadataPath(), nil)).Body)
	if _, ok := md["revocation_endpoint"]; ok {
		t.Error("metadata advertises revocation")
	}
}

// RV-07: client authentication is required.
func TestRV07_AuthenticationRequired(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	res := e.revoke(tok)
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")
	e.stillValid(t, tok)
}

// RV-08: bad Basic credentials.
func TestRV08_BadCredentials(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	res := e.revoke(tok, "Authorization", basicAuth(cbID, "wrong"))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")
	e.stillValid(t, tok)
}

// RV-09: a client may not revoke another client's token. Choice (RFC 7009
// §2.1, DESIGN.md): refuse and inform with 400 unauthorized_client; the
// token stays valid. Password-grant tokens belong to no client and are
// refused for everyone.
func TestRV09_OtherClientsToken(t *testing.T) {
	e := newEndpointEnv(t, withUsers(t))
	tok := e.ccToken(t, "cx", "cx-secret", "")
	wantError(t, e.revoke(tok, cbAuth...), http.StatusBadRequest, "unauthorized_client")
	e.stillValid(t, tok)

	pw := wantToken(t, e, e.do(formPost("/token", "grant_type=password&username=alice&password=alice-pw"))).token
	e.clients.set("tokenserver", fakeClient{secret: "s", scope: "read"})
	for _, auth := range []string{basicAuth(cbID, cbSecret), basicAuth("tokenserver", "s")} {
		wantError(t, e.revoke(pw, "Authorization", auth), http.StatusBadRequest, "unauthorized_client")
	}
	e.stillValid(t, pw)
}

// RV-10: token is required.
func TestRV10_TokenRequired(t *testing.T) {
	e := newEndpointEnv(t)
	wantError(t, e.do(formPost("/revoke", "", cbAuth...)), http.StatusBadRequest, "invalid_request")
}

// RV-11: GET does not revoke. Choice: 405 with Allow: POST.
func TestRV11_GetDoesNotRevoke(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	r := httptest.NewRequest(http.MethodGet, "https://as.test/revoke?token="+tok, nil)
	r.Header.Set("Authorization", basicAuth(cbID, cbSecret))
	res := e.do(r)
	wantError(t, res, http.StatusMethodNotAllowed, "invalid_request")
	if res.Header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", res.Header.Get("Allow"))
	}
	e.stillValid(t, tok)
}

// RV-12: the request is a form; JSON is invalid_request (choice: 400).
func TestRV12_FormEncoding(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	wantError(t, e.do(post("/revoke", "application/json", `{"token":"`+tok+`"}`, cbAuth...)), http.StatusBadRequest, "invalid_request")
	e.stillValid(t, tok)
}

// RV-13: a repeated token is invalid_request and revokes neither.
func TestRV13_RepeatedToken(t *testing.T) {
	e := newEndpointEnv(t)
	a := e.ccToken(t, cbID, cbSecret, "")
	b := e.ccToken(t, cbID, cbSecret, "")
	wantError(t, e.do(formPost("/revoke", "token="+a+"&token="+b, cbAuth...)), http.StatusBadRequest, "invalid_request")
	e.stillValid(t, a)
	e.stillValid(t, b)
}

// RV-14: a revocation that cannot be stored is 503 with Retry-After, never
// 200. The token is refused in this process already (Revocations records it
// in memory first); other processes would miss it, hence the 503 asking the
// client to retry. A retry after the store recovers succeeds.
func TestRV14_TemporaryFailure(t *testing.T) {
	f := newFaultyStore()
	e := newEndpointEnv(t, func(c *EndpointConfig) {
		revs, err := token.NewRevocations(context.Background(), token.RevocationsConfig{Store: f, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		v, err := token.NewVerifier(token.VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: issuerKeys(c.Issuer),
			Algorithms: []token.Algorithm{token.EdDSA}, Revocations: revs, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
	})
	e.verify = e.ep.verifier
	tok := e.ccToken(t, cbID, cbSecret, "")
	f.set("AddRevocation", true)
	res := e.revoke(tok, cbAuth...)
	wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	f.set("AddRevocation", false)
	wantRevokeOK(t, e.revoke(tok, cbAuth...))
	if _, err := f.Store.RevocationsSince(context.Background(), time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	recs, _ := f.Store.RevocationsSince(context.Background(), time.Time{}, 0)
	if len(recs) != 1 {
		t.Errorf("%d revocations stored after the retry, want 1", len(recs))
	}
}

// RV-15: revoking a client (an API key) revokes its standing: it gets no
// more tokens and its tokens introspect inactive.
func TestRV15_RevokedClient(t *testing.T) {
	k := newKeysEnv(t)
	key := k.create(t, "read:users", 0)
	tok := k.ccToken(t, key.ID(), key.ClientSecret(), "")
	if err := k.mgr.Revoke(context.Background(), key.ID()); err != nil {
		t.Fatal(err)
	}
	res := k.do(formPost("/oauth/token", "grant_type=client_credentials", "Authorization", basicAuth(key.ID(), key.ClientSecret())))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	if _, err := k.verify.Verify(context.Background(), tok); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("Verify = %v, want ErrRevoked", err)
	}
	// The revoked key cannot even authenticate to introspect its token.
	res = k.do(formPost("/oauth/introspect", "token="+tok, "Authorization", "Bearer "+key.String()))
	wantError(t, res, http.StatusUnauthorized, "invalid_token")
}

// RV-16: error bodies have the RFC 6749 §5.2 shape; wantError checks it in
// every test above. Here each revocation error side by side.
func TestRV16_ErrorFormat(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, "cx", "cx-secret", "")
	for _, tc := range []struct {
		name   string
		res    *result
		status int
		code   string
	}{
		{"no token", e.do(formPost("/revoke", "", cbAuth...)), 400, "invalid_request"},
		{"no credentials", e.revoke(tok), 401, "invalid_client"},
		{"other client's token", e.revoke(tok, cbAuth...), 400, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.res, tc.status, tc.code) })
	}
}

// RV-17: HTTPS only: plain HTTP is refused (as TOK-01) and metadata
// advertises an https revocation_endpoint.
func TestRV17_HTTPSOnly(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	r := httptest.NewRequest(http.MethodPost, "http://as.test/revoke", strings.NewReader("token="+tok))
	r.Header.Set("Content-Type", formType)
	r.Header.Set("Authorization", basicAuth(cbID, cbSecret))
	wantError(t, e.do(r), http.StatusBadRequest, "invalid_request")
	e.stillValid(t, tok)
	md := decodeObject(t, e.do(httptest.NewRequest(http.MethodGet, "https://as.test"+e.ep.MetadataPath(), nil)).Body)
	if u, _ := md["revocation_endpoint"].(string); !strings.HasPrefix(u, "https://") {
		t.Errorf("revocation_endpoint = %v", md["revocation_endpoint"])
	}
}

// RV-18: revocation answers are not cacheable and have an empty body
// (wantRevokeOK checks both).
func TestRV18_NoStore(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	wantRevokeOK(t, e.revoke(tok, cbAuth...))
	wantRevokeOK(t, e.revoke("garbage", cbAuth...))
}
