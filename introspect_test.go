package keyturn

// Tests of the introspection endpoint, one per item of CONFORMANCE.md §3
// (IN-01 … IN-23), named by the item's ID.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

var rscAuth = []string{"Authorization", basicAuth("rsc", "rsc-secret")}

// introspect asks the endpoint about tok as rsc.
func (e *endpointEnv) introspect(tok string, hdr ...string) *result {
	if hdr == nil {
		hdr = rscAuth
	}
	return e.do(formPost("/introspect", "token="+url.QueryEscape(tok), hdr...))
}

// wantInactive checks the one inactive answer: 200 and exactly
// {"active":false}.
func wantInactive(t testing.TB, res *result) {
	t.Helper()
	if res.Code != http.StatusOK || string(res.Body) != "{\"active\":false}\n" {
		t.Fatalf("status %d body %s, want 200 {\"active\":false}", res.Code, res.Body)
	}
	wantNoStore(t, res)
}

// wantActive checks an active answer and returns it.
func wantActive(t testing.TB, res *result) map[string]any {
	t.Helper()
	if res.Code != http.StatusOK {
		t.Fatalf("status %d body %s", res.Code, res.Body)
	}
	wantNoStore(t, res)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	m := decodeObject(t, res.Body)
	if m["active"] != true {
		t.Fatalf("not active: %s", res.Body)
	}
	return m
}

// IN-01: an active token, with every member keyturn reports.
func TestIN01_ActiveToken(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "read")
	m := wantActive(t, e.introspect(tok))
	want := map[string]any{
		"active": true, "scope": "read", "client_id": cbID, "sub": cbID, "iss": testIssuer,
		"aud": testAudience, "token_type": "Bearer",
		"exp": json.Number(strconv.FormatInt(t0.Unix()+900, 10)),
		"iat": json.Number(strconv.FormatInt(t0.Unix(), 10)), "nbf": json.Number(strconv.FormatInt(t0.Unix(), 10)),
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if jti, _ := m["jti"].(string); jti == "" {
		t.Errorf("jti = %v", m["jti"])
	}
	if len(m) != len(want)+1 {
		t.Errorf("members: %v", m)
	}
}

// IN-02: the caller must authenticate: 401 with a challenge, never
// {"active":false}.
func TestIN02_CallerMustAuthenticate(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	res := e.do(formPost("/introspect", "token="+tok))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")
	if strings.Contains(string(res.Body), "active") {
		t.Errorf("body %s", res.Body)
	}
}

// IN-03: bad caller credentials.
func TestIN03_BadCallerCredentials(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	res := e.introspect(tok, "Authorization", basicAuth("rsc", "wrong"))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")
}

// IN-04: a caller presenting a Bearer credential that is not valid gets 401
// with a Bearer challenge carrying invalid_token. In keyturn the Bearer
// credential at introspection is an API key (seed 000's style), not an
// access token. A valid key without the introspect scope is not refused: it
// learns about its own tokens only (IN-05).
func TestIN04_InvalidBearerCaller(t *testing.T) {
	k := newKeysEnv(t)
	key := k.create(t, "read:users", 0)
	tok := k.ccToken(t, key.ID(), key.ClientSecret(), "")
	for name, auth := range map[string]string{
		"wrong secret":               "Bearer " + key.String()[:len(key.String())-1] + "x",
		"an access token, not a key": "Bearer " + tok,
		"malformed":                  "Bearer a b",
	} {
		t.Run(name, func(t *testing.T) {
			res := k.do(formPost("/oauth/introspect", "token="+tok, "Authorization", auth))
			wantError(t, res, http.StatusUnauthorized, "invalid_token")
			if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") || !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
	t.Run("valid key", func(t *testing.T) {
		res := k.do(formPost("/oauth/introspect", "token="+tok, "Authorization", "Bearer "+key.String()))
		if m := wantActive(t, res); m["client_id"] != key.ID() {
			t.Errorf("client_id %v", m["client_id"])
		}
	})
}

// ccToken for a keysEnv, at /oauth/token.
func (k *keysEnv) ccToken(t testing.TB, id, secret, sc string) string {
	t.Helper()
	body := "grant_type=client_credentials"
	if sc != "" {
		body += "&scope=" + url.QueryEscape(sc)
	}
	return wantToken(t, k.endpointEnv, k.do(formPost("/oauth/token", body, "Authorization", basicAuth(id, secret)))).token
}

// IN-05: only callers allowed to introspect learn about others' tokens.
// Choice (DESIGN.md): a client may introspect its own tokens; a client
// holding the introspect scope (EndpointConfig.IntrospectScope) any token.
// Another client's token is answered {"active":false}, exactly as an
// unknown token, so no token data and no existence oracle leak; keyturn
// does not answer 401/403 here because the caller did authenticate.
func TestIN05_OnlyAllowedCallers(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	cx := []string{"Authorization", basicAuth("cx", "cx-secret")}
	wantInactive(t, e.introspect(tok, cx...))
	wantActive(t, e.introspect(tok, cbAuth...))
	wantActive(t, e.introspect(tok))

	t.Run("ceiling withdraws the privilege", func(t *testing.T) {
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Ceiling = func(context.Context, Client) (scope.Set, error) { return scope.MustParse("read"), nil }
		})
		tok := e.ccToken(t, cbID, cbSecret, "read")
		wantInactive(t, e.introspect(tok))
	})
}

// IN-06: an unknown token is exactly {"active":false}.
func TestIN06_UnknownToken(t *testing.T) {
	e := newEndpointEnv(t)
	for _, tok := range []string{"garbage", "a.b.c", strings.Repeat("x", token.MaxTokenSize+1), "kt_at_" + strings.Repeat("A", 43)} {
		wantInactive(t, e.introspect(tok))
	}
}

// IN-07: an expired token is inactive.
func TestIN07_ExpiredToken(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	e.clock.Add(token.DefaultLifetime + token.DefaultLeeway)
	wantInactive(t, e.introspect(tok))
}

// IN-08: a revoked token is inactive.
func TestIN08_RevokedToken(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	res := e.do(formPost("/revoke", "token="+tok, cbAuth...))
	if res.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Code, res.Body)
	}
	wantInactive(t, e.introspect(tok))
}

// IN-09: the signature is checked: a tampered token, one signed by another
// key, and an alg "none" token are inactive.
func TestIN09_SignatureChecked(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	parts := strings.Split(tok, ".")
	claims := validClaims()
	claims["client_id"], claims["sub"] = cbID, cbID
	payload := mustJSON(t, claims)
	attacker := fixedKey(t, token.EdDSA, 1)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+e.kid+`"}`)) +
		"." + base64.RawURLEncoding.EncodeToString(payload) + "."
	for name, bad := range map[string]string{
		"payload swapped": parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2],
		"attacker key":    craft(t, attacker, jose.EdDSA, e.stdHeader(), payload),
		"alg none":        none,
		"no signature":    parts[0] + "." + parts[1] + ".",
	} {
		t.Run(name, func(t *testing.T) { wantInactive(t, e.introspect(bad)) })
	}
}

// IN-10: a token not yet valid is inactive.
func TestIN10_NotYetValid(t *testing.T) {
	e := newEndpointEnv(t)
	claims := validClaims()
	claims["nbf"] = t0.Add(600 * time.Second).Unix()
	tok := craft(t, e.key, jose.EdDSA, e.stdHeader(), mustJSON(t, claims))
	wantInactive(t, e.introspect(tok))
	claims["nbf"] = t0.Unix()
	wantActive(t, e.introspect(craft(t, e.key, jose.EdDSA, e.stdHeader(), mustJSON(t, claims))))
}

// IN-11: a token for another audience is inactive. Choice: introspection
// judges tokens as the configured Verifier does, for its audience.
func TestIN11_OtherAudience(t *testing.T) {
	e := newEndpointEnv(t)
	tok, _ := e.mint(t, token.Grant{Subject: cbID, ClientID: cbID, Audience: []string{"https://other-api.test/"}})
	wantInactive(t, e.introspect(tok))
}

// IN-12: a token of a disabled client is inactive: revoking a key revokes
// the tokens issued to it (keys.Manager tells the Revocations).
func TestIN12_DisabledClient(t *testing.T) {
	k := newKeysEnv(t)
	key := k.create(t, "read:users", 0)
	admin := k.create(t, "introspect", 0)
	tok := k.ccToken(t, key.ID(), key.ClientSecret(), "")
	auth := []string{"Authorization", "Bearer " + admin.String()}
	wantActive(t, k.do(formPost("/oauth/introspect", "token="+tok, auth...)))
	if err := k.mgr.Revoke(context.Background(), key.ID()); err != nil {
		t.Fatal(err)
	}
	wantInactive(t, k.do(formPost("/oauth/introspect", "token="+tok, auth...)))
}

// IN-13: every inactive answer is the same bytes (wantInactive compares
// them exactly); here all the kinds side by side.
func TestIN13_InactiveRevealsNothing(t *testing.T) {
	e := newEndpointEnv(t)
	live := e.ccToken(t, cbID, cbSecret, "")
	revoked := e.ccToken(t, cbID, cbSecret, "")
	e.do(formPost("/revoke", "token="+revoked, cbAuth...))
	other, _ := e.mint(t, token.Grant{Subject: "x", ClientID: "x", Audience: []string{"https://other.test/"}})
	claims := validClaims()
	claims["nbf"] = t0.Add(time.Hour).Unix()
	future := craft(t, e.key, jose.EdDSA, e.stdHeader(), mustJSON(t, claims))
	answers := map[string][]byte{}
	for name, tok := range map[string]string{
		"garbage": "garbage", "revoked": revoked, "other audience": other, "not yet valid": future,
		"other client's, asked by cx": live,
	} {
		hdr := rscAuth
		if strings.HasSuffix(name, "by cx") {
			hdr = []string{"Authorization", basicAuth("cx", "cx-secret")}
		}
		answers[name] = e.introspect(tok, hdr...).Body
	}
	e.clock.Add(time.Hour)
	answers["expired"] = e.introspect(live).Body
	for name, b := range answers {
		if !bytes.Equal(b, []byte("{\"active\":false}\n")) {
			t.Errorf("%s: %s", name, b)
		}
	}
}

// IN-14: type hints never stop a lookup: a wrong hint and an unknown hint
// are ignored (keyturn has one kind of token).
func TestIN14_TypeHints(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	for _, hint := range []string{"refresh_token", "foo", "access_token"} {
		wantActive(t, e.do(formPost("/introspect", "token="+tok+"&token_type_hint="+hint, rscAuth...)))
	}
}

// IN-15: a missing token is invalid_request.
func TestIN15_MissingToken(t *testing.T) {
	e := newEndpointEnv(t)
	wantError(t, e.do(formPost("/introspect", "", rscAuth...)), http.StatusBadRequest, "invalid_request")
	wantError(t, e.do(formPost("/introspect", "token=", rscAuth...)), http.StatusBadRequest, "invalid_request")
}

// IN-16: a repeated token is invalid_request.
func TestIN16_RepeatedToken(t *testing.T) {
	e := newEndpointEnv(t)
	wantError(t, e.do(formPost("/introspect", "token=a&token=b", rscAuth...)), http.StatusBadRequest, "invalid_request")
}

// IN-17: POST only. Choice: 405 with Allow: POST.
func TestIN17_PostOnly(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	r := httptest.NewRequest(http.MethodGet, "https://as.test/introspect?token="+tok, nil)
	r.Header.Set("Authorization", basicAuth("rsc", "rsc-secret"))
	res := e.do(r)
	wantError(t, res, http.StatusMethodNotAllowed, "invalid_request")
	if res.Header.Get("Allow") != "POST" || strings.Contains(string(res.Body), "active") {
		t.Errorf("Allow %q body %s", res.Header.Get("Allow"), res.Body)
	}
}

// IN-18: the request is a form; JSON is invalid_request even where the
// token endpoint takes JSON (choice: 400, never 415).
func TestIN18_FormEncoding(t *testing.T) {
	e := newEndpointEnv(t, func(c *EndpointConfig) {
		c.Methods = AllAuthMethods
		c.SplitKey = refuseKeys
	})
	tok := e.ccToken(t, cbID, cbSecret, "")
	res := e.do(post("/introspect", "application/json", `{"token":"`+tok+`"}`, rscAuth...))
	wantError(t, res, http.StatusBadRequest, "invalid_request")
}

// IN-19: introspection responses are not cacheable (wantActive and
// wantInactive check the headers).
func TestIN19_NoStore(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	wantActive(t, e.introspect(tok))
	wantInactive(t, e.introspect("garbage"))
}

// IN-20 does not apply: keyturn does not issue DPoP-bound tokens (the DPoP
// capability comes later), so no active answer has cnf and token_type is
// always Bearer (IN-01).

// IN-21: member types: times are integers, scope one string, aud a string
// for one audience and an array for several, values equal to the JWT's.
func TestIN21_MemberTypes(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "read write")
	res := e.introspect(tok)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &raw); err != nil {
		t.Fatal(err)
	}
	_, claims := jwtParts(t, tok)
	for _, k := range []string{"exp", "iat", "nbf"} {
		if string(raw[k]) != claims[k].(json.Number).String() {
			t.Errorf("%s = %s, JWT has %v", k, raw[k], claims[k])
		}
	}
	for _, k := range []string{"scope", "client_id", "sub", "iss", "aud", "jti"} {
		var s string
		if err := json.Unmarshal(raw[k], &s); err != nil || s != claims[k] {
			t.Errorf("%s = %s, JWT has %v", k, raw[k], claims[k])
		}
	}

	t.Run("several audiences", func(t *testing.T) {
		tok, _ := e.mint(t, token.Grant{Subject: cbID, ClientID: cbID, Audience: []string{"https://other.test/", testAudience}})
		m := wantActive(t, e.introspect(tok))
		aud, ok := m["aud"].([]any)
		if !ok || len(aud) != 2 || aud[1] != testAudience {
			t.Errorf("aud = %v", m["aud"])
		}
	})
}

// IN-22: token scanning never finds an active token. Choice: no throttle
// beyond the authentication limiter: tokens carry 128-bit jti values and
// signatures (or 256-bit opaque values), so scanning is hopeless, and a
// resource server introspecting many expired tokens must not be locked out.
func TestIN22_ScanningFindsNothing(t *testing.T) {
	e := newEndpointEnv(t)
	e.ccToken(t, cbID, cbSecret, "")
	r := &countingReader{}
	for i := range 1000 {
		b := make([]byte, 24)
		r.Read(b)
		tok := base64.RawURLEncoding.EncodeToString(b)
		if i%2 == 1 {
			tok = "kt_at_" + strings.Repeat(tok[:1], 43)
		}
		res := e.introspect(tok)
		if res.Code != http.StatusOK || bytes.Contains(res.Body, []byte("true")) {
			t.Fatalf("scan %d: %d %s", i, res.Code, res.Body)
		}
	}
}

// IN-23: TLS only, as the token endpoint (TOK-01).
func TestIN23_TLSOnly(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	r := httptest.NewRequest(http.MethodPost, "http://as.test/introspect", strings.NewReader("token="+tok))
	r.Header.Set("Content-Type", formType)
	r.Header.Set("Authorization", basicAuth("rsc", "rsc-secret"))
	res := e.do(r)
	wantError(t, res, http.StatusBadRequest, "invalid_request")
	if strings.Contains(string(res.Body), "active") {
		t.Errorf("body %s", res.Body)
	}
}

// A verifier that cannot decide (its opaque-token store is down) makes
// introspection answer 503, never a false inactive or active.
func TestIntrospectionStoreFailure(t *testing.T) {
	e := newOpaqueEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	wantActive(t, e.introspect(tok))
	e.faulty.set("OpaqueToken", true)
	res := e.introspect(tok)
	wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// opaqueEndpointEnv is an endpoint issuing opaque tokens into a store whose
// methods can be made to fail.
type opaqueEndpointEnv struct {
	*endpointEnv
	faulty *faultyStore
}

func newOpaqueEndpointEnv(t testing.TB) *opaqueEndpointEnv {
	t.Helper()
	f := newFaultyStore()
	var oe opaqueEndpointEnv
	oe.faulty = f
	oe.endpointEnv = newEndpointEnv(t, func(c *EndpointConfig) {
		revs, err := token.NewRevocations(context.Background(), token.RevocationsConfig{Store: f, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Issuer, err = token.NewIssuer(token.IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Format: token.Opaque,
			Opaque: f, Now: c.Now, Rand: &countingReader{}})
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier, err = token.NewVerifier(token.VerifierConfig{Issuer: testIssuer, Audience: testAudience, Opaque: f,
			Revocations: revs, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
	})
	// The env's verifier is the JWT one; wantToken must use the opaque one.
	oe.verify = oe.ep.verifier
	return &oe
}
