package keyturn

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/internal/costtest"
	"github.com/keyturn/keyturn/scope"
)

// allowAll is a Limiter that never refuses, so that fuzzing is not
// throttled into 429s.
type allowAll struct{}

func (allowAll) Reserve(*http.Request, LimitKey) time.Duration { return 0 }
func (allowAll) Settle(*http.Request, LimitKey, bool)          {}

// endpointCost bounds what serving one request may allocate: 16 bytes per
// byte of Content-Type, Authorization and body, about three times the
// most a hostile request was measured to cost (a 60 KiB form of escaped
// UTF-8, 5 per byte), and 128 KiB whatever the request, about twice the
// costliest small one (a password grant: the test users' argon2id takes
// 64 KiB; issuing a token takes some 4 KiB).
var endpointCost = costtest.Bound{PerByte: 16, Fixed: 128 << 10}

// fuzzPaths are the handlers FuzzEndpoint sends to, chosen by its first
// argument.
var fuzzPaths = [...]string{"/token", "/authorization", "/introspect", "/revoke"}

// FuzzEndpoint sends arbitrary requests through the handlers: a
// Content-Type, an Authorization header and a body (form, JSON, Basic,
// Bearer key, password, introspection and revocation requests are all in
// the seed corpus). Whatever comes in, the answer is never a 5xx, always
// carries Cache-Control: no-store and Pragma: no-cache, is one JSON object
// (or, for revocation, empty), has a well-formed error for every status
// but 200, a challenge on every 401, and never repeats a fixture secret.
// A token that is issued verifies, belongs to a fixture client or user,
// carries no more than that client may hold, and its response states
// exactly the token's scope and lifetime. Serving the request allocates
// within endpointCost: measured cheaply, and confirmed precisely only when
// it seems exceeded (see costtest.Bound.Check).
func FuzzEndpoint(f *testing.F) {
	f.Add(uint8(0), formType, basicAuth(cbID, cbSecret), "grant_type=client_credentials&scope=read")
	f.Add(uint8(0), formType, "", "grant_type=client_credentials&client_id=cp&client_secret=cp-secret")
	f.Add(uint8(0), "application/json", "", `{"client_id":"cp","client_secret":"cp-secret","response_type":"client_credentials"}`)
	f.Add(uint8(0), "application/json", "", `{"key":"cp~cp-secret","scope":"write"}`)
	f.Add(uint8(0), "", "Bearer cp~cp-secret", "")
	f.Add(uint8(1), formType, "", "username=alice&password=alice-pw&scope=read")
	f.Add(uint8(2), formType, basicAuth("rsc", "rsc-secret"), "token=garbage&token_type_hint=access_token")
	f.Add(uint8(3), formType, basicAuth(cbID, cbSecret), "token=garbage")
	fuzzEnv := newEndpointEnv(f, withUsers(f), func(c *EndpointConfig) {
		c.Methods = AllAuthMethods
		c.SplitKey = func(key string) (string, string, error) {
			id, secret, ok := strings.Cut(key, "~")
			if !ok {
				return "", "", ErrInvalidClient
			}
			return id, secret, nil
		}
		c.Limiter = allowAll{}
		c.CreatedAt = true
	})
	secrets := []string{cbSecret, "cp-secret", "cl-secret", "cx-secret", "rsc-secret", "alice-pw", "bob-pw", "c003-secret"}

	f.Fuzz(func(t *testing.T, path uint8, contentType, authorization, body string) {
		e := fuzzEnv
		e.events.reset()
		var r *http.Request
		var res *result
		n := len(contentType) + len(authorization) + len(body)
		if cost, ok := endpointCost.Check(n, func() func() {
			r = httptest.NewRequest(http.MethodPost, "https://as.test"+fuzzPaths[int(path)%len(fuzzPaths)], strings.NewReader(body))
			if contentType != "" {
				r.Header.Set("Content-Type", contentType)
			}
			if authorization != "" {
				r.Header.Set("Authorization", authorization)
			}
			return func() { res = e.do(r) }
		}); !ok {
			t.Fatalf("serving %d request bytes allocated %s, want at most %d B", n, cost, endpointCost.Bytes(n))
		}
		if res.Code >= 500 {
			t.Fatalf("status %d: %s", res.Code, res.Body)
		}
		wantNoStore(t, res)
		for _, s := range secrets {
			if strings.Contains(string(res.Body), s) || strings.Contains(headerDump(res.Header), s) {
				t.Fatalf("response repeats a secret: %s", res.Body)
			}
		}
		if res.Code == http.StatusOK && len(res.Body) == 0 && r.URL.Path == "/revoke" {
			return
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(res.Body)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("body %q is not a JSON object", res.Body)
		}
		if res.Code != http.StatusOK {
			code, _ := m["error"].(string)
			if code == "" || !headerSafe(code) || m["access_token"] != nil || res.issued != 0 {
				t.Fatalf("bad error response %d: %s", res.Code, res.Body)
			}
			if res.Code == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			return
		}
		tok, _ := m["access_token"].(string)
		if tok == "" {
			return // an introspection answer
		}
		c, err := e.verify.Verify(r.Context(), tok)
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		var held scope.Set
		if c.ClientID == "tokenserver" {
			held = scope.MustParse("read write")
		} else {
			fc, ok := e.clients.m[c.ClientID]
			if !ok || c.Subject != c.ClientID {
				t.Fatalf("token for unknown client %q (sub %q)", c.ClientID, c.Subject)
			}
			held = scope.MustParse(fc.scope)
		}
		if !held.Covers(c.Scope) || c.Scope.IsEmpty() {
			t.Fatalf("granted %q to a holder of %q", c.Scope, held)
		}
		if m["scope"] != c.Scope.String() {
			t.Fatalf("response scope %v, token scope %q", m["scope"], c.Scope)
		}
		if n, _ := m["expires_in"].(json.Number).Int64(); n != int64(c.ExpiresAt.Sub(c.IssuedAt)/time.Second) {
			t.Fatalf("expires_in %d, token lifetime %s", n, c.ExpiresAt.Sub(c.IssuedAt))
		}
		if ca, _ := m["created_at"].(json.Number).Int64(); ca != c.IssuedAt.Unix() {
			t.Fatalf("created_at %d, iat %d", ca, c.IssuedAt.Unix())
		}
	})
}
