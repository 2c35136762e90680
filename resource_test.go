package keyturn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

const (
	resourceA = "https://a.api.test"
	resourceB = "https://b.api.test/v1"
)

// newResourceServer is a server with the resources A and B besides its
// default audience (the issuer).
func newResourceServer(t *testing.T) *server {
	return newServer(t, func(c *Config) { c.Resources = []string{resourceA, resourceB} })
}

// resourceExchange trades k for a token with the given resource
// parameters.
func (s *server) resourceExchange(t *testing.T, k keys.Key, resources ...string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": resources}
	status, body, _ := s.postForm(t, "/oauth/token", form.Encode(), "Authorization", basicAuth(k.ID(), k.ClientSecret()))
	return status, body
}

// The granted aud: the requested resources, in order, without repeats;
// the default audience without resource.
func TestResourceDecidesAudience(t *testing.T) {
	s := newResourceServer(t)
	k := s.rootKey(t, "read:users")
	for _, tc := range []struct {
		resources []string
		aud       string
	}{
		{nil, testIssuer},
		{[]string{resourceA}, resourceA},
		{[]string{resourceB, resourceA}, resourceB + " " + resourceA},
		{[]string{resourceA, resourceA}, resourceA},
		{[]string{testIssuer}, testIssuer},
	} {
		status, body := s.resourceExchange(t, k, tc.resources...)
		if status != http.StatusOK {
			t.Fatalf("%v: %d %v", tc.resources, status, body)
		}
		_, claims := jwtParts(t, body["access_token"].(string))
		var aud []string
		switch a := claims["aud"].(type) {
		case string:
			aud = []string{a}
		case []any:
			for _, v := range a {
				aud = append(aud, v.(string))
			}
		}
		if got := strings.Join(aud, " "); got != tc.aud {
			t.Errorf("%v: aud %q, want %q", tc.resources, got, tc.aud)
		}
	}
}

// TOK-50: a resource must be an absolute URI without fragment.
func TestTOK50_ResourceForm(t *testing.T) {
	s := newResourceServer(t)
	k := s.rootKey(t, "read:users")
	for _, r := range []string{"/api", "https://a.api.test#frag", resourceA + "#", "not a uri", "a.api.test", "https://user@a.api.test"} {
		status, body := s.resourceExchange(t, k, r)
		if status != http.StatusBadRequest || body["error"] != "invalid_target" || body["access_token"] != nil {
			t.Errorf("resource %q: %d %v", r, status, body)
		}
	}
}

// TOK-51: a resource the server does not issue tokens for, or one outside
// the key's own list, is invalid_target.
func TestTOK51_UnknownOrDisallowedResource(t *testing.T) {
	s := newResourceServer(t)
	k := s.rootKey(t, "read:users")
	for _, rs := range [][]string{{"https://evil.test/"}, {resourceA, "https://evil.test/"}, {resourceA + "/"}, {"https://A.api.test"}} {
		status, body := s.resourceExchange(t, k, rs...)
		if status != http.StatusBadRequest || body["error"] != "invalid_target" || body["access_token"] != nil {
			t.Errorf("resources %v: %d %v", rs, status, body)
		}
	}
	// A key limited to A.
	set := scope.MustParse("read:users")
	limited, _, err := s.Keys().Create(context.Background(), keys.CreateParams{Name: "a-only", Scope: set, Resources: []string{resourceA}}, set)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := s.resourceExchange(t, limited, resourceA); status != http.StatusOK {
		t.Fatalf("A: %d %v", status, body)
	}
	for _, rs := range [][]string{{resourceB}, {resourceA, resourceB}, {testIssuer}} {
		status, body := s.resourceExchange(t, limited, rs...)
		if status != http.StatusBadRequest || body["error"] != "invalid_target" || body["access_token"] != nil {
			t.Errorf("limited key, resources %v: %d %v", rs, status, body)
		}
	}
	// A private_key_jwt client limited to B, through the same check.
	id := s.pkClient(t, clientJWKS(), resourceB)
	f := assertionForm(edAssertion(t, claimsFor(id)), "resource", resourceA)
	if status, body, _ := s.postForm(t, "/oauth/token", f.Encode()); status != http.StatusBadRequest || body["error"] != "invalid_target" {
		t.Errorf("pk client, A: %d %v", status, body)
	}
	f = assertionForm(edAssertion(t, claimsFor(id)), "resource", resourceB)
	if status, body, _ := s.postForm(t, "/oauth/token", f.Encode()); status != http.StatusOK {
		t.Errorf("pk client, B: %d %v", status, body)
	}
}

// A token for resource A is refused by a resource server configured for
// B, and by the server's own middleware (the default audience); it is
// accepted by one configured for A, and active at introspection.
func TestResourceTokenRefusedElsewhere(t *testing.T) {
	s := newResourceServer(t)
	k := s.rootKey(t, "read:users introspect")
	status, body := s.resourceExchange(t, k, resourceA)
	if status != http.StatusOK {
		t.Fatal(status, body)
	}
	tokA := body["access_token"].(string)
	verifier := func(aud string) *token.Verifier {
		v, err := token.NewVerifier(token.VerifierConfig{Issuer: testIssuer, Audience: aud, Keys: s.keySet,
			Algorithms: []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.PS256}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := verifier(resourceB).Verify(context.Background(), tokA); !errors.Is(err, token.ErrWrongAudience) {
		t.Errorf("verifier for B: %v", err)
	}
	if _, err := verifier(resourceA).Verify(context.Background(), tokA); err != nil {
		t.Errorf("verifier for A: %v", err)
	}
	for aud, want := range map[string]int{resourceB: http.StatusUnauthorized, resourceA: http.StatusOK} {
		mw, err := middleware.New(middleware.Config{Verifier: verifier(aud)})
		if err != nil {
			t.Fatal(err)
		}
		h := mw.Require("read:users")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Authorization", "Bearer "+tokA)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("middleware for %s: %d, want %d", aud, w.Code, want)
		}
	}
	if got := s.staff(tokA); got != http.StatusUnauthorized {
		t.Errorf("the server's own middleware (default audience): %d", got)
	}
	if got := s.introspect(t, k, tokA); got["active"] != true || asJSON(got["aud"]) != `"`+resourceA+`"` && asJSON(got["aud"]) != `["`+resourceA+`"]` {
		t.Errorf("introspection: %v", got)
	}
	if _, err := s.Verifier().Verify(context.Background(), tokA); !errors.Is(err, token.ErrWrongAudience) {
		t.Errorf("Server.Verifier: %v", err)
	}
}

// New refuses a resource that is not an absolute URI without fragment.
func TestNewChecksResources(t *testing.T) {
	for _, r := range []string{"/api", "https://a.test/#f", ""} {
		cfg := Config{Store: newServer(t).store, Issuer: testIssuer, KeyPrefix: "ds_live", Resources: []string{r}}
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("New accepted resource %q", r)
		}
	}
}

// TOK-53: with ResourceRequired, a request that names no resource gets no
// token (400 invalid_target); one that names a resource does.
func TestTOK53_ResourceRequired(t *testing.T) {
	s := newServer(t, func(c *Config) { c.Resources = []string{resourceA}; c.ResourceRequired = true })
	k := s.rootKey(t, "read:users")
	if status, body := s.resourceExchange(t, k); status != http.StatusBadRequest || body["error"] != "invalid_target" || body["access_token"] != nil {
		t.Fatalf("no resource: %d %v", status, body)
	}
	for _, r := range []string{resourceA, testIssuer} {
		if status, body := s.resourceExchange(t, k, r); status != http.StatusOK {
			t.Fatalf("resource %s: %d %v", r, status, body)
		}
	}
	// Off by default.
	s = newServer(t)
	if status, body := s.resourceExchange(t, s.rootKey(t, "read:users")); status != http.StatusOK {
		t.Fatalf("default: %d %v", status, body)
	}
}
