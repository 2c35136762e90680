package keyturn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
)

// Client keys of the private_key_jwt tests: KJ in its three types, and
// K_ATK, an attacker's key of the same type as KJ's Ed25519 key.
var (
	kjEd  = ed25519.NewKeyFromSeed(sha256Sum("kj"))
	kjEC  = mustECKey()
	kjRSA = mustRSAKey()
	kAtk  = ed25519.NewKeyFromSeed(sha256Sum("attacker"))
)

func sha256Sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func mustECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

var kjRSAOnce = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func mustRSAKey() *rsa.PrivateKey { return kjRSAOnce() }

var b64u = base64.RawURLEncoding.EncodeToString

// clientJWKS is KJ's public JWK set: kids "ed", "ec" and "rsa".
func clientJWKS() []byte {
	ec, _ := kjEC.PublicKey.Bytes()
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64u(kjEd.Public().(ed25519.PublicKey))},
		{"kty": "EC", "crv": "P-256", "kid": "ec", "x": b64u(ec[1:33]), "y": b64u(ec[33:])},
		{"kty": "RSA", "kid": "rsa", "n": b64u(kjRSA.N.Bytes()), "e": b64u(big.NewInt(int64(kjRSA.E)).Bytes())},
	}})
	return b
}

// pkClient creates a private_key_jwt client with KJ's keys and returns its
// client_id.
func (s *server) pkClient(t testing.TB, jwks []byte, resources ...string) string {
	t.Helper()
	set := scope.MustParse("read:users introspect")
	_, rec, err := s.Keys().Create(context.Background(), keys.CreateParams{Name: "svc", Scope: set, JWKS: jwks, Resources: resources}, set)
	if err != nil {
		t.Fatal(err)
	}
	return rec.ID
}

// claimsFor are valid assertion claims for id at now.
func claimsFor(id string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": id, "sub": id, "aud": testIssuer, "iat": now, "exp": now + 60, "jti": rand.Text()}
}

// sign makes a compact JWS of claims with go-jose (craft).
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, hdr map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	h := make(map[string]any, len(hdr))
	for k, v := range hdr {
		h[string(k)] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return craft(t, key, alg, h, payload)
}

func edAssertion(t testing.TB, claims map[string]any) string {
	return sign(t, jose.EdDSA, kjEd, map[jose.HeaderKey]any{"kid": "ed"}, claims)
}

// assertionForm is a client_credentials request authenticated by a.
func assertionForm(a string, extra ...string) url.Values {
	f := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {a}}
	for i := 0; i < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	return f
}

func (s *server) postForm(t testing.TB, path, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	res := s.do(r)
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, res.Header
}

// wantRefused checks a refusal with the given status and error code and
// no token.
func wantRefused(t testing.TB, status int, body map[string]any, hdr http.Header, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus || body["error"] != code || body["access_token"] != nil {
		t.Fatalf("got %d %v, want %d %s", status, body, wantStatus, code)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("WWW-Authenticate = %q", hdr.Get("WWW-Authenticate"))
	}
}

// TOK-63: a valid assertion signed by any of the client's keys (EdDSA,
// ES256, RS256, PS256) authenticates it at the token endpoint; the token
// is the client's.
func TestTOK63_AssertionAuthenticates(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
		kid  string
	}{
		{"EdDSA", jose.EdDSA, kjEd, "ed"},
		{"ES256", jose.ES256, kjEC, "ec"},
		{"RS256", jose.RS256, kjRSA, "rsa"},
		{"PS256", jose.PS256, kjRSA, "rsa"},
		{"EdDSA without kid", jose.EdDSA, kjEd, ""},
		{"ES256 without kid", jose.ES256, kjEC, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[jose.HeaderKey]any{"typ": "JWT"}
			if tc.kid != "" {
				hdr["kid"] = tc.kid
			}
			a := sign(t, tc.alg, tc.key, hdr, claimsFor(id))
			status, body, _ := s.postForm(t, "/oauth/token", assertionForm(a, "scope", "read:users").Encode())
			if status != http.StatusOK {
				t.Fatalf("%d %v", status, body)
			}
			c, err := s.Verifier().Verify(context.Background(), body["access_token"].(string))
			if err != nil || c.Subject != id || c.ClientID != id || c.Scope.String() != "read:users" {
				t.Fatalf("token %+v, %v", c, err)
			}
		})
	}
}

// Introspection and revocation accept the same client authentication.
func TestTOK63_AssertionAtIntrospectionAndRevocation(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode())
	if status != http.StatusOK {
		t.Fatalf("%d %v", status, body)
	}
	tok := body["access_token"].(string)
	form := url.Values{"token": {tok}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {edAssertion(t, claimsFor(id))}}
	status, body, _ = s.postForm(t, "/oauth/introspect", form.Encode())
	if status != http.StatusOK || body["active"] != true || body["client_id"] != id {
		t.Fatalf("introspection: %d %v", status, body)
	}
	form.Set("client_assertion", edAssertion(t, claimsFor(id)))
	if status, body, _ = s.postForm(t, "/oauth/revoke", form.Encode()); status != http.StatusOK {
		t.Fatalf("revocation: %d %v", status, body)
	}
	if _, err := s.Verifier().Verify(context.Background(), tok); err == nil {
		t.Fatal("the revoked token still verifies")
	}
	// A bad assertion at introspection is 401 invalid_client.
	form.Set("client_assertion", sign(t, jose.EdDSA, kAtk, map[jose.HeaderKey]any{"kid": "ed"}, claimsFor(id)))
	status, body, hdr := s.postForm(t, "/oauth/introspect", form.Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
}

// TOK-64: the assertion type must be the JWT-bearer URN: missing is
// invalid_request, another or a misspelt one invalid_client.
func TestTOK64_AssertionType(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	for _, tc := range []struct {
		name, typ string
		status    int
		code      string
	}{
		{"missing", "", http.StatusBadRequest, "invalid_request"},
		{"saml2", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", http.StatusUnauthorized, "invalid_client"},
		{"misspelt", "urn:ietf:params:oauth:client-assertion-type:jwt_bearer", http.StatusUnauthorized, "invalid_client"},
		{"case", strings.ToUpper(ClientAssertionType), http.StatusUnauthorized, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := assertionForm(edAssertion(t, claimsFor(id)))
			f.Set("client_assertion_type", tc.typ)
			status, body, hdr := s.postForm(t, "/oauth/token", f.Encode())
			wantRefused(t, status, body, hdr, tc.status, tc.code)
		})
	}
}

// refusalCase is an assertion that must be refused with 401
// invalid_client.
type refusalCase struct {
	name   string
	mutate func(c map[string]any)
}

func runRefusals(t *testing.T, s *server, id string, cases []refusalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := claimsFor(id)
			tc.mutate(c)
			status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, c)).Encode())
			wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
		})
	}
}

// TOK-65: aud must name this server: its issuer or its token endpoint URL
// (a string, or an array of those only). Another server's, a missing aud
// and an array that also names another server are refused.
func TestTOK65_AssertionAudience(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	runRefusals(t, s, id, []refusalCase{
		{"another server", func(c map[string]any) { c["aud"] = "https://other.test" }},
		{"missing", func(c map[string]any) { delete(c, "aud") }},
		{"empty array", func(c map[string]any) { c["aud"] = []string{} }},
		{"array with another server", func(c map[string]any) { c["aud"] = []string{testIssuer, "https://other.test"} }},
		{"the introspection endpoint", func(c map[string]any) { c["aud"] = testIssuer + DefaultIntrospectionPath }},
		{"issuer with a trailing slash", func(c map[string]any) { c["aud"] = testIssuer + "/" }},
	})
	for _, aud := range []any{testIssuer, testIssuer + DefaultTokenPath, []string{testIssuer}, []string{testIssuer, testIssuer + DefaultTokenPath}} {
		c := claimsFor(id)
		c["aud"] = aud
		if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, c)).Encode()); status != http.StatusOK {
			t.Errorf("aud %v: %d %v", aud, status, body)
		}
	}
}

// TOK-66: exp is required and must be in the future; nbf is respected.
func TestTOK66_AssertionTimes(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	now := time.Now().Unix()
	runRefusals(t, s, id, []refusalCase{
		{"exp missing", func(c map[string]any) { delete(c, "exp") }},
		{"expired", func(c map[string]any) { c["iat"], c["exp"] = now-660, now-600 }},
		{"exp a string", func(c map[string]any) { c["exp"] = "soon" }},
		{"nbf ahead", func(c map[string]any) { c["nbf"] = now + 600 }},
		{"iat ahead", func(c map[string]any) { c["iat"] = now + 600; c["exp"] = now + 660 }},
	})
}

// TOK-67: an assertion may live at most MaxAssertionLifetime (300 s), from
// now and from its iat.
func TestTOK67_AssertionLifetime(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	now := time.Now().Unix()
	runRefusals(t, s, id, []refusalCase{
		{"a year", func(c map[string]any) { c["exp"] = now + 365*86400 }},
		{"301 s", func(c map[string]any) { delete(c, "iat"); c["exp"] = now + 302 }},
		{"iat a day ago", func(c map[string]any) { c["iat"] = now - 86400 }},
	})
	c := claimsFor(id)
	c["exp"] = now + 290
	if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, c)).Encode()); status != http.StatusOK {
		t.Errorf("290 s: %d %v", status, body)
	}
}

// TOK-68: a jti is required and accepted once while the assertion lives.
func TestTOK68_AssertionReplay(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	a := edAssertion(t, claimsFor(id))
	if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(a).Encode()); status != http.StatusOK {
		t.Fatalf("first use: %d %v", status, body)
	}
	status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(a).Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	// Not at another endpoint either.
	f := url.Values{"token": {"x"}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {a}}
	status, body, hdr = s.postForm(t, "/oauth/introspect", f.Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	runRefusals(t, s, id, []refusalCase{
		{"jti missing", func(c map[string]any) { delete(c, "jti") }},
		{"jti empty", func(c map[string]any) { c["jti"] = "" }},
		{"jti not a string", func(c map[string]any) { c["jti"] = 7 }},
	})
}

// TOK-69: iss and sub must both be the client_id.
func TestTOK69_AssertionSubject(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	other := s.pkClient(t, clientJWKS())
	runRefusals(t, s, id, []refusalCase{
		{"sub another client", func(c map[string]any) { c["sub"] = other }},
		{"iss another client", func(c map[string]any) { c["iss"] = other }},
		{"sub missing", func(c map[string]any) { delete(c, "sub") }},
		{"iss missing", func(c map[string]any) { delete(c, "iss") }},
		{"sub unknown", func(c map[string]any) { c["sub"], c["iss"] = "0000000000000000", "0000000000000000" }},
	})
}

// TOK-70: only an allow-listed asymmetric algorithm that fits the key, and
// a signature by the client's own key over the payload as sent.
func TestTOK70_AssertionSignature(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	// Another client with its own (attacker's) key.
	atkSet, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64u(kAtk.Public().(ed25519.PublicKey))}}})
	s.pkClient(t, atkSet)

	payload, _ := json.Marshal(claimsFor(id))
	none := b64u([]byte(`{"alg":"none","kid":"ed"}`)) + "." + b64u(payload) + "."
	// HS256 keyed with the bytes of KJ's public key (the key confusion
	// attack).
	hsInput := b64u([]byte(`{"alg":"HS256","kid":"ed"}`)) + "." + b64u(payload)
	mac := hmac.New(sha256.New, kjEd.Public().(ed25519.PublicKey))
	mac.Write([]byte(hsInput))
	hs := hsInput + "." + b64u(mac.Sum(nil))
	// Modified after signing.
	good := edAssertion(t, claimsFor(id))
	parts := strings.Split(good, ".")
	changed := claimsFor(id)
	changed["jti"] = "other"
	cb, _ := json.Marshal(changed)
	modified := parts[0] + "." + b64u(cb) + "." + parts[2]
	// ES512 is not on the allow-list; ES256 with the Ed25519 key's kid
	// does not fit the key.
	es512Key, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	for name, a := range map[string]string{
		"alg none":                  none,
		"HS256 with the public key": hs,
		"signed by another key":     sign(t, jose.EdDSA, kAtk, map[jose.HeaderKey]any{"kid": "ed"}, claimsFor(id)),
		"another key without kid":   sign(t, jose.EdDSA, kAtk, nil, claimsFor(id)),
		"payload modified":          modified,
		"ES512":                     sign(t, jose.ES512, es512Key, map[jose.HeaderKey]any{"kid": "ec"}, claimsFor(id)),
		"alg not the key's":         sign(t, jose.ES256, kjEC, map[jose.HeaderKey]any{"kid": "ed"}, claimsFor(id)),
		"RS256 by the EC kid":       sign(t, jose.RS256, kjRSA, map[jose.HeaderKey]any{"kid": "ec"}, claimsFor(id)),
		"unknown kid":               sign(t, jose.EdDSA, kjEd, map[jose.HeaderKey]any{"kid": "nope"}, claimsFor(id)),
		"embedded jwk":              sign(t, jose.EdDSA, kAtk, map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: kAtk.Public()}}, claimsFor(id)),
	} {
		t.Run(name, func(t *testing.T) {
			status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(a).Encode())
			wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
		})
	}
}

// TOK-71: a client_id beside the assertion must name the same client.
func TestTOK71_AssertionClientID(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	other := s.pkClient(t, clientJWKS())
	status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id)), "client_id", other).Encode())
	if status != http.StatusBadRequest || body["error"] != "invalid_request" || body["access_token"] != nil {
		t.Fatalf("client_id of another client: %d %v", status, body)
	}
	if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id)), "client_id", id).Encode()); status != http.StatusOK {
		t.Fatalf("the same client_id: %d %v", status, body)
	}
}

// TOK-72: exactly one JWT in one client_assertion, by one method, in a
// form body.
func TestTOK72_OneAssertion(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	a, b := edAssertion(t, claimsFor(id)), edAssertion(t, claimsFor(id))
	for name, v := range map[string]string{
		"joined by a space":  a + " " + b,
		"joined by a comma":  a + "," + b,
		"garbage":            "not-a-jwt",
		"JWE":                "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d",
		"JSON serialization": `{"payload":"e30","signatures":[]}`,
		"too long":           a + strings.Repeat("A", MaxAssertionLen),
	} {
		t.Run(name, func(t *testing.T) {
			status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(v).Encode())
			wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
		})
	}
	for name, req := range map[string]struct {
		body string
		hdr  []string
	}{
		"two client_assertion":  {assertionForm(a).Encode() + "&client_assertion=" + url.QueryEscape(b), nil},
		"Basic as well":         {assertionForm(a).Encode(), []string{"Authorization", basicAuth(id, "x")}},
		"client_secret as well": {assertionForm(a, "client_id", id, "client_secret", "x").Encode(), nil},
	} {
		t.Run(name, func(t *testing.T) {
			status, body, _ := s.postForm(t, "/oauth/token", req.body, req.hdr...)
			if status != http.StatusBadRequest || body["error"] != "invalid_request" {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
	// Not in a JSON body.
	r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(`{"grant_type":"client_credentials","client_assertion_type":"`+ClientAssertionType+`","client_assertion":"`+a+`"}`))
	r.Header.Set("Content-Type", "application/json")
	if status, body := decode(t, s.do(r)); status != http.StatusBadRequest || body["access_token"] != nil {
		t.Fatalf("JSON body: %d %v", status, body)
	}
}

// TOK-73: other JWTs signed by a client key are not assertions: a typed
// JWT (a DPoP proof, an access token) is refused; so is an access token
// of this server presented as an assertion.
func TestTOK73_OtherJWTsAreNotAssertions(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	for _, typ := range []string{"dpop+jwt", "at+jwt", "application/at+jwt", "JOSE", "secevent+jwt"} {
		t.Run(typ, func(t *testing.T) {
			c := claimsFor(id)
			c["htm"], c["htu"] = "POST", testIssuer+DefaultTokenPath
			a := sign(t, jose.EdDSA, kjEd, map[jose.HeaderKey]any{"kid": "ed", "typ": typ}, c)
			status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(a).Encode())
			wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
		})
	}
	// An access token of this server, issued to the client, replayed as
	// its assertion.
	status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode())
	if status != http.StatusOK {
		t.Fatal(status, body)
	}
	status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(body["access_token"].(string)).Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	// The explicit type of draft-ietf-oauth-rfc7523bis is accepted.
	a := sign(t, jose.EdDSA, kjEd, map[jose.HeaderKey]any{"kid": "ed", "typ": "client-authentication+jwt"}, claimsFor(id))
	if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(a).Encode()); status != http.StatusOK {
		t.Fatalf("client-authentication+jwt: %d %v", status, body)
	}
}

// TOK-27: a client only authenticates with its registered method: a
// private_key_jwt client has no secret (Basic with anything is 401 with a
// Basic challenge), and a key with a secret cannot use an assertion.
func TestTOK27_RegisteredMethodOnly(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	for _, secret := range []string{"anything", strings.Repeat("0", keys.SecretLen)} {
		status, body, hdr := s.postForm(t, "/oauth/token", "grant_type=client_credentials", "Authorization", basicAuth(id, secret))
		wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	}
	status, body, hdr := s.postForm(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {"x"}}.Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")

	// A key with a secret, whose id an assertion names, signed by a key
	// the attacker holds: refused, whatever it is signed with.
	k := s.rootKey(t, "read:users")
	for _, key := range []ed25519.PrivateKey{kjEd, kAtk} {
		a := sign(t, jose.EdDSA, key, map[jose.HeaderKey]any{"kid": "ed"}, claimsFor(k.ID()))
		status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(a).Encode())
		wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	}
	// The key's secret still works.
	if status, body := s.exchange(t, k, ""); status != http.StatusOK {
		t.Fatalf("secret: %d %v", status, body)
	}
}

// A failed assertion counts against the client at the address, like a
// wrong secret: after the burst, attempts are refused (429) before any
// check, the right assertion included.
func TestAssertionFailuresAreThrottled(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	for range DefaultClientAddressBurst {
		a := sign(t, jose.EdDSA, kAtk, map[jose.HeaderKey]any{"kid": "ed"}, claimsFor(id))
		status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(a).Encode())
		wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	}
	status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode())
	if status != http.StatusTooManyRequests {
		t.Fatalf("after the burst: %d %v", status, body)
	}
}

// An assertion's failure says nothing more than invalid_client, and the
// event's reason (for logs) never holds the assertion.
func TestAssertionRefusalLeaksNothing(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	s := newServer(t, func(c *Config) {
		c.Events = func(_ context.Context, ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }
	})
	id := s.pkClient(t, clientJWKS())
	bodies := map[string]bool{}
	var sent []string
	for _, mutate := range []func(map[string]any){
		func(c map[string]any) { c["aud"] = "https://other.test" },
		func(c map[string]any) { delete(c, "exp") },
		func(c map[string]any) { delete(c, "jti") },
	} {
		c := claimsFor(id)
		mutate(c)
		a := edAssertion(t, c)
		sent = append(sent, a)
		_, body, _ := s.postForm(t, "/oauth/token", assertionForm(a).Encode())
		b, _ := json.Marshal(body)
		bodies[string(b)] = true
	}
	if len(bodies) != 1 {
		t.Errorf("the refusals differ: %v", bodies)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range events {
		for _, a := range sent {
			sig := a[strings.LastIndexByte(a, '.')+1:]
			if ev.Err != nil && strings.Contains(ev.Err.Error(), sig) {
				t.Errorf("event reason holds the assertion: %v", ev.Err)
			}
		}
		if ev.Kind == AuthFailed && ev.Method != PrivateKeyJWT {
			t.Errorf("event method %v", ev.Method)
		}
	}
}

func asJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// adminToken is a token of a root key with the admin scopes.
func (s *server) adminToken(t testing.TB) string {
	t.Helper()
	set := scope.MustParse("read:api_keys write:api_keys read:users introspect")
	k, _, err := s.Keys().Create(context.Background(), keys.CreateParams{Name: "admin", Scope: set}, set)
	if err != nil {
		t.Fatal(err)
	}
	status, body := s.exchange(t.(*testing.T), k, "")
	if status != http.StatusOK {
		t.Fatal(status, body)
	}
	return body["access_token"].(string)
}

func (s *server) adminPost(t *testing.T, path, tok, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	return decode(t, s.do(r))
}

// The admin API creates a private_key_jwt client (201 with client_id and
// no secret) and rotates it by replacing its keys: the old key's
// assertions stop authenticating at once, the new key's work.
func TestAdminPrivateKeyJWTClient(t *testing.T) {
	s := newServer(t, func(c *Config) { c.Resources = []string{"https://api.a.test"} })
	tok := s.adminToken(t)
	status, body := s.adminPost(t, "/v1/api_keys", tok, `{"name":"svc","scope":"read:users","token_endpoint_auth_method":"private_key_jwt","jwks":`+string(clientJWKS())+`,"resources":["https://api.a.test"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	for _, k := range []string{"key", "client_secret"} {
		if _, ok := body[k]; ok {
			t.Errorf("the answer has %s: %v", k, body)
		}
	}
	id, _ := body["client_id"].(string)
	if id == "" || body["id"] != id || body["token_endpoint_auth_method"] != "private_key_jwt" || asJSON(body["resources"]) != `["https://api.a.test"]` {
		t.Fatalf("create answer %v", body)
	}
	if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode()); status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	// Refused creations.
	for name, req := range map[string]string{
		"no jwks":             `{"name":"x","scope":"read:users","token_endpoint_auth_method":"private_key_jwt"}`,
		"jwks without method": `{"name":"x","scope":"read:users","jwks":` + string(clientJWKS()) + `}`,
		"private key":         `{"name":"x","scope":"read:users","token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + b64u(kjEd.Public().(ed25519.PublicKey)) + `","d":"` + b64u(kjEd.Seed()) + `"}]}}`,
		"unknown method":      `{"name":"x","scope":"read:users","token_endpoint_auth_method":"tls_client_auth"}`,
		"unknown resource":    `{"name":"x","scope":"read:users","resources":["https://evil.test"]}`,
		"relative resource":   `{"name":"x","scope":"read:users","resources":["/api"]}`,
	} {
		status, body := s.adminPost(t, "/v1/api_keys", tok, req)
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d %v", name, status, body)
		}
		if strings.Contains(asJSON(body), b64u(kjEd.Seed())) {
			t.Errorf("%s: the answer quotes the private key", name)
		}
	}
	// Rotation replaces the keys.
	newSet, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519", "kid": "new", "x": b64u(kAtk.Public().(ed25519.PublicKey))}}})
	status, body = s.adminPost(t, "/v1/api_keys/"+id+"/rotate", tok, `{"jwks":`+string(newSet)+`}`)
	if status != http.StatusOK || body["client_id"] != id || body["client_secret"] != nil {
		t.Fatalf("rotate: %d %v", status, body)
	}
	status, body2, hdr := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode())
	wantRefused(t, status, body2, hdr, http.StatusUnauthorized, "invalid_client")
	a := sign(t, jose.EdDSA, kAtk, map[jose.HeaderKey]any{"kid": "new"}, claimsFor(id))
	if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(a).Encode()); status != http.StatusOK {
		t.Fatalf("the new key: %d %v", status, body)
	}
	// A grace body is not a JWK set; a secret key takes no jwks.
	if status, _ := s.adminPost(t, "/v1/api_keys/"+id+"/rotate", tok, `{"grace":60}`); status != http.StatusBadRequest {
		t.Errorf("rotate with grace: %d", status)
	}
	k := s.rootKey(t, "read:users")
	if status, _ := s.adminPost(t, "/v1/api_keys/"+k.ID()+"/rotate", tok, `{"jwks":`+string(newSet)+`}`); status != http.StatusBadRequest {
		t.Errorf("rotate a secret key with jwks: %d", status)
	}
}

// MD-07, MD-08: a Server's metadata lists private_key_jwt (which works:
// TOK-63) with the allow-listed algorithms, never none or an HMAC.
func TestMD08_PrivateKeyJWTAlgorithms(t *testing.T) {
	s := newServer(t)
	_, md := decode(t, s.do(httptest.NewRequest("GET", "/.well-known/oauth-authorization-server", nil)))
	for _, ep := range []string{"token_endpoint", "introspection_endpoint", "revocation_endpoint"} {
		if !strings.Contains(asJSON(md[ep+"_auth_methods_supported"]), `"private_key_jwt"`) {
			t.Errorf("%s_auth_methods_supported = %v", ep, md[ep+"_auth_methods_supported"])
		}
		got := asJSON(md[ep+"_auth_signing_alg_values_supported"])
		if got != `["EdDSA","ES256","RS256","PS256"]` || strings.Contains(got, "none") || strings.Contains(got, `"HS`) {
			t.Errorf("%s_auth_signing_alg_values_supported = %s", ep, got)
		}
	}
}

// A private_key_jwt client's keys replaced in this process stop
// authenticating here as soon as ReplaceJWKS returns, whatever the key
// cache's age; the new ones work at once.
func TestKeyCacheLocalJWKSReplacement(t *testing.T) {
	s := newServer(t, func(c *Config) {
		c.Changes = silent{}
		c.KeyCacheMaxAge = time.Hour
	})
	id := s.pkClient(t, clientJWKS())
	for range 2 {
		if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode()); status != http.StatusOK {
			t.Fatalf("exchange: %d %v", status, body)
		}
	}
	if s.keyCache == nil || len(s.keyCache.m) != 1 {
		t.Fatal("the client's record is not cached")
	}
	newSet, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64u(kAtk.Public().(ed25519.PublicKey))}}})
	if _, err := s.Keys().ReplaceJWKS(context.Background(), id, newSet); err != nil {
		t.Fatal(err)
	}
	status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	a := sign(t, jose.EdDSA, kAtk, map[jose.HeaderKey]any{"kid": "ed"}, claimsFor(id))
	if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(a).Encode()); status != http.StatusOK {
		t.Fatalf("the new key: %d %v", status, body)
	}
}
