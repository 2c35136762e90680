package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn"
)

// The example server with -resource: the admin API creates a
// private_key_jwt client, which gets a token with a signed assertion; a
// token for another resource is refused by the demo resources, which
// accept the default audience.
func TestPrivateKeyJWTAndResources(t *testing.T) {
	const api = "https://billing.keyturn.test"
	c := testConfig()
	if err := c.resources.Set(api); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s, err := startServer(context.Background(), c, memStore(), discard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.routes(true))
	t.Cleanup(hs.Close)
	base, admin := hs.URL, bootstrapLine.FindStringSubmatch(out.String())[1]

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwks := `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}]}`
	r := call(t, "POST", base+"/v1/api_keys", exchange(t, base, admin, "write:api_keys read:users"),
		`{"name":"billing","scope":"read:users","token_endpoint_auth_method":"private_key_jwt","jwks":`+jwks+`}`)
	if r.status != http.StatusCreated || r.body["key"] != nil || r.body["client_secret"] != nil {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["client_id"].(string)

	token := func(resource string) reply {
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		now := time.Now().Unix()
		claims, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": c.issuer, "exp": now + 60, "jti": rand.Text()})
		jws, _ := signer.Sign(claims)
		a, _ := jws.CompactSerialize()
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {keyturn.ClientAssertionType}, "client_assertion": {a}}
		if resource != "" {
			form.Set("resource", resource)
		}
		req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var rep reply
		rep.status = res.StatusCode
		json.NewDecoder(res.Body).Decode(&rep.body)
		return rep
	}
	plain := token("")
	if plain.status != http.StatusOK {
		t.Fatalf("token: %d %v", plain.status, plain.body)
	}
	if got := call(t, "GET", base+"/v1/staff", plain.body["access_token"].(string), ""); got.status != http.StatusOK {
		t.Fatalf("staff with the default audience: %d", got.status)
	}
	forAPI := token(api)
	if forAPI.status != http.StatusOK {
		t.Fatalf("token for %s: %d %v", api, forAPI.status, forAPI.body)
	}
	if got := call(t, "GET", base+"/v1/staff", forAPI.body["access_token"].(string), ""); got.status != http.StatusUnauthorized {
		t.Fatalf("staff with a token for %s: %d", api, got.status)
	}
	if got := token("https://evil.test"); got.status != http.StatusBadRequest || got.body["error"] != "invalid_target" {
		t.Fatalf("unknown resource: %d %v", got.status, got.body)
	}
	md := call(t, "GET", base+"/.well-known/oauth-authorization-server", "", "")
	if methods, _ := md.body["token_endpoint_auth_methods_supported"].([]any); !slices.Contains(methods, any("private_key_jwt")) {
		t.Errorf("metadata: %s", md.raw)
	}
}

// -resource repeats, and each value (KEYTURN_RESOURCE too) may hold
// several URIs separated by commas.
func TestResourceFlag(t *testing.T) {
	c := defaultConfig()
	fs := c.serverFlags()
	if err := fs.Parse([]string{"-resource", "https://a.test", "-resource", "https://b.test,https://c.test"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.resources, " "); got != "https://a.test https://b.test https://c.test" {
		t.Errorf("resources %q", got)
	}
	c = defaultConfig()
	fs = c.serverFlags()
	fs.Parse(nil)
	env := map[string]string{"KEYTURN_RESOURCE": "https://a.test, https://b.test"}
	if err := applyEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.resources, " "); got != "https://a.test https://b.test" {
		t.Errorf("resources from the environment %q", got)
	}
	if err := c.resources.Set("https://a.test,,"); err == nil {
		t.Error("an empty resource was accepted")
	}
}
