package keyturn

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzClientAssertion sends arbitrary client assertions to the token
// endpoint of a server with one private_key_jwt client: raw, which must
// be refused (400 or 401, never a 5xx, never a token: nobody but the
// client can sign), within the endpoint's allocation bound; and arbitrary
// claims signed by the client's key, which may get a token only if they
// are what an assertion must be: iss and sub the client, a jti, every aud
// this server, exp at most MaxAssertionLifetime ahead.
func FuzzClientAssertion(f *testing.F) {
	s := newServer(f, func(c *Config) { c.Limiter = allowAll{} })
	id := s.pkClient(f, clientJWKS())
	now := time.Now().Unix()
	valid, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": testIssuer, "exp": now + 60, "jti": "j"})
	f.Add("", valid)
	f.Add("eyJhbGciOiJub25lIn0.e30.", []byte(`{"iss":"`+id+`","sub":"`+id+`","aud":["`+testIssuer+`","x"],"exp":1e10,"jti":"k"}`))
	f.Add("a.b.c", []byte(`{"iss":1}`))
	f.Add(strings.Repeat("e", 100)+"..", []byte(`{"sub":"`+id+`","sub":"x"}`))
	f.Fuzz(func(t *testing.T, raw string, payload []byte) {
		send := func(a string) (int, map[string]any) {
			r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(assertionForm(a).Encode()))
			r.Header.Set("Content-Type", formType)
			res := s.do(r)
			defer res.Body.Close()
			var m map[string]any
			json.NewDecoder(res.Body).Decode(&m)
			return res.StatusCode, m
		}
		if raw != "" {
			var status int
			n := len(raw)
			if cost, ok := endpointCost.Check(n, func() func() { return func() { status, _ = send(raw) } }); !ok {
				t.Fatalf("a %d-byte assertion allocated %s, want at most %d B", n, cost, endpointCost.Bytes(n))
			}
			if status != http.StatusBadRequest && status != http.StatusUnauthorized {
				t.Fatalf("raw assertion: status %d", status)
			}
		}
		status, body := send(craft(t, kjEd, jose.EdDSA, map[string]any{"kid": "ed"}, payload))
		if status >= 500 {
			t.Fatalf("status %d %v", status, body)
		}
		if status != http.StatusOK {
			return
		}
		var c struct {
			Iss, Sub, Jti string
			Aud           any
			Exp           float64
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("a token for claims encoding/json cannot read: %q", payload)
		}
		auds := []string{testIssuer, testIssuer + DefaultTokenPath}
		audOK := false
		switch a := c.Aud.(type) {
		case string:
			audOK = slices.Contains(auds, a)
		case []any:
			audOK = len(a) > 0
			for _, v := range a {
				s, _ := v.(string)
				audOK = audOK && slices.Contains(auds, s)
			}
		}
		exp := time.Unix(int64(c.Exp), 0)
		if c.Iss != id || c.Sub != id || c.Jti == "" || !audOK || time.Until(exp) > MaxAssertionLifetime+time.Second || time.Until(exp) < -time.Second {
			t.Fatalf("a token for claims %s", payload)
		}
	})
}
