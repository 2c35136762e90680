package keyturn

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// directory is a host's user table: what each user may do now, which a
// test changes while keys made by the user exist. Passwords are the user
// names reversed; they are compared in the clear because this is a test.
type directory struct {
	mu    sync.Mutex
	scope map[string]string
}

func (d *directory) set(user, scopes string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if scopes == "" {
		delete(d.scope, user)
		return
	}
	d.scope[user] = scopes
}

func (d *directory) AuthenticateUser(_ context.Context, name, password string) (User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.scope[name]
	if !ok || password != reverse(name) {
		return User{}, ErrInvalidGrant
	}
	return User{Subject: name, Scope: scope.MustParse(s)}, nil
}

func (d *directory) UserScope(_ context.Context, name string) (scope.Set, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return scope.Parse(d.scope[name])
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// server is a Server assembled by New over a memory store, as a host
// would, with the HTTP surface a host mounts.
type server struct {
	*Server
	users *directory
	mux   *http.ServeMux
}

const serverScopes = "read:users read:participants write:api_keys read:api_keys introspect"

func newServer(t testing.TB, configure ...func(*Config)) *server {
	t.Helper()
	d := &directory{scope: map[string]string{}}
	cfg := Config{
		Store: memory.New(), Issuer: testIssuer, KeyPrefix: "ds_live", Pepper: []byte("a pepper of some length"),
		Methods: AllAuthMethods, Users: d, UserScope: d.UserScope, PasswordPath: "/authorization",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: srv, users: d, mux: http.NewServeMux()}
	s.mux.Handle("/", srv.Handler())
	s.mux.Handle("/v1/api_keys", srv.Admin())
	s.mux.Handle("/v1/api_keys/", srv.Admin())
	s.mux.Handle("GET /v1/staff", srv.Require("read:users")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"staff":[]}`)
	})))
	return s
}

// do serves r as if it came over TLS and returns the response.
func (s *server) do(r *http.Request) *http.Response {
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	s.mux.ServeHTTP(w, r)
	return w.Result()
}

// rootKey creates a key with no creator holding scopes.
func (s *server) rootKey(t *testing.T, scopes string) keys.Key {
	t.Helper()
	set := scope.MustParse(scopes)
	k, _, err := s.Keys().Create(context.Background(), keys.CreateParams{Name: "root", Scope: set}, set)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// exchange trades an API key for a token with the given scope request
// ("" for none) and returns the status and decoded body.
func (s *server) exchange(t *testing.T, k keys.Key, scopeParam string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scopeParam != "" {
		form.Set("scope", scopeParam)
	}
	r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(k.ID(), k.ClientSecret())
	return decode(t, s.do(r))
}

// password trades a user's name and password for a token.
func (s *server) password(t *testing.T, user string) string {
	t.Helper()
	form := url.Values{"username": {user}, "password": {reverse(user)}}
	r := httptest.NewRequest("POST", "/authorization", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body := decode(t, s.do(r))
	if status != http.StatusOK {
		t.Fatalf("password grant for %s: %d %v", user, status, body)
	}
	return body["access_token"].(string)
}

// createKey makes a key through the admin API with the caller's token.
func (s *server) createKey(t *testing.T, tok, scopes string) keys.Key {
	t.Helper()
	r := httptest.NewRequest("POST", "/v1/api_keys", strings.NewReader(`{"name":"k","scope":"`+scopes+`"}`))
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	status, body := decode(t, s.do(r))
	if status != http.StatusCreated {
		t.Fatalf("creating a key: %d %v", status, body)
	}
	k, err := keys.Parse("ds_live", body["key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (s *server) staff(tok string) int {
	r := httptest.NewRequest("GET", "/v1/staff", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return s.do(r).StatusCode
}

func (s *server) introspect(t *testing.T, caller keys.Key, tok string) map[string]any {
	t.Helper()
	r := httptest.NewRequest("POST", "/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(caller.ID(), caller.ClientSecret())
	status, body := decode(t, s.do(r))
	if status != http.StatusOK {
		t.Fatalf("introspection: %d %v", status, body)
	}
	return body
}

func decode(t *testing.T, res *http.Response) (int, map[string]any) {
	t.Helper()
	defer res.Body.Close()
	var body map[string]any
	if b, _ := io.ReadAll(res.Body); len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("status %d, body %q: %v", res.StatusCode, b, err)
		}
	}
	return res.StatusCode, body
}

func TestNewChecksConfig(t *testing.T) {
	d := &directory{}
	ok := Config{Store: memory.New(), Issuer: testIssuer, KeyPrefix: "ds_live"}
	cases := map[string]func(*Config){
		"no store":             func(c *Config) { c.Store = nil },
		"no issuer":            func(c *Config) { c.Issuer = "" },
		"no key prefix":        func(c *Config) { c.KeyPrefix = "" },
		"http issuer":          func(c *Config) { c.Issuer = "http://as.test" },
		"users without scope":  func(c *Config) { c.Users = d },
		"relative token path":  func(c *Config) { c.TokenPaths = []string{"oauth/token"} },
		"pattern in a path":    func(c *Config) { c.AdminPath = "/keys/{id}" },
		"negative interval":    func(c *Config) { c.SweepInterval = -1 },
		"unknown method":       func(c *Config) { c.Methods = 1 << 7 },
		"short KEK":            func(c *Config) { c.KEK = make([]byte, 16) },
		"bad introspect scope": func(c *Config) { c.IntrospectScope = "a b" },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			c := ok
			breakIt(&c)
			if _, err := New(context.Background(), c); err == nil {
				t.Fatal("New accepted the configuration")
			}
		})
	}
	if _, err := New(context.Background(), ok); err != nil {
		t.Fatalf("the minimal configuration: %v", err)
	}
}

// A key revoked through the library refuses its tokens everywhere New
// wired: the middleware (after the token was cached by earlier requests)
// and introspection. The key itself mints no more.
func TestNewWiresRevocation(t *testing.T) {
	s := newServer(t)
	admin := s.rootKey(t, serverScopes)
	k := s.rootKey(t, "read:users")
	status, body := s.exchange(t, k, "")
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	tok := body["access_token"].(string)
	for range 2 { // the second request is served from the verified-token cache
		if got := s.staff(tok); got != http.StatusOK {
			t.Fatalf("before revocation: %d", got)
		}
	}
	if got := s.introspect(t, admin, tok)["active"]; got != true {
		t.Fatalf("before revocation: active = %v", got)
	}

	if err := s.Keys().Revoke(context.Background(), k.ID()); err != nil {
		t.Fatal(err)
	}
	if got := s.staff(tok); got != http.StatusUnauthorized {
		t.Errorf("middleware after revocation: %d, want 401", got)
	}
	if got, _ := s.Verifier().Verify(context.Background(), tok); got != nil {
		t.Error("Verifier after revocation: claims returned")
	}
	if got := s.introspect(t, admin, tok)["active"]; got != false {
		t.Errorf("introspection after revocation: active = %v", got)
	}
	if status, _ := s.exchange(t, k, ""); status != http.StatusUnauthorized {
		t.Errorf("exchange after revocation: %d, want 401", status)
	}
}

// A key revoked through the admin API likewise, with the token cached.
func TestNewWiresRevocationThroughAdmin(t *testing.T) {
	s := newServer(t)
	admin := s.rootKey(t, serverScopes)
	_, body := s.exchange(t, admin, "")
	adminTok := body["access_token"].(string)
	k := s.createKey(t, adminTok, "read:users")
	_, body = s.exchange(t, k, "")
	tok := body["access_token"].(string)
	if got := s.staff(tok); got != http.StatusOK {
		t.Fatalf("before revocation: %d", got)
	}
	r := httptest.NewRequest("DELETE", "/v1/api_keys/"+k.ID(), nil)
	r.Header.Set("Authorization", "Bearer "+adminTok)
	if res := s.do(r); res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	if got := s.staff(tok); got != http.StatusUnauthorized {
		t.Errorf("middleware after revocation: %d, want 401", got)
	}
}

// A token revoked through RFC 7009 is refused by the middleware even after
// it was cached.
func TestNewWiresTokenRevocation(t *testing.T) {
	s := newServer(t)
	k := s.rootKey(t, "read:users")
	_, body := s.exchange(t, k, "")
	tok := body["access_token"].(string)
	if got := s.staff(tok); got != http.StatusOK {
		t.Fatalf("before revocation: %d", got)
	}
	r := httptest.NewRequest("POST", "/oauth/revoke", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(k.ID(), k.ClientSecret())
	if res := s.do(r); res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if got := s.staff(tok); got != http.StatusUnauthorized {
		t.Errorf("middleware after RFC 7009 revocation: %d, want 401", got)
	}
}

// A key created by a user through a password-grant token grants, at each
// exchange, at most what the user may do now; so does a key that key
// created in turn.
func TestNewWiresUserCeiling(t *testing.T) {
	s := newServer(t)
	s.users.set("alice", "read:users read:participants write:api_keys")
	aliceKey := s.createKey(t, s.password(t, "alice"), "read:users read:participants write:api_keys")
	_, body := s.exchange(t, aliceKey, "")
	grandchild := s.createKey(t, body["access_token"].(string), "read:users read:participants")

	for _, k := range []keys.Key{aliceKey, grandchild} {
		if _, body := s.exchange(t, k, "read:participants"); body["scope"] != "read:participants" {
			t.Fatalf("before the change: %v", body)
		}
	}

	s.users.set("alice", "read:users write:api_keys") // alice loses read:participants
	for name, k := range map[string]keys.Key{"alice's key": aliceKey, "its child": grandchild} {
		status, body := s.exchange(t, k, "")
		if status != http.StatusOK || body["scope"] == nil || strings.Contains(body["scope"].(string), "read:participants") {
			t.Errorf("%s, no scope asked: %d %v, want read:participants left out", name, status, body)
		}
		if status, body := s.exchange(t, k, "read:participants"); status != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Errorf("%s, read:participants asked: %d %v, want 400 invalid_scope", name, status, body)
		}
	}

	s.users.set("alice", "") // alice is gone
	for name, k := range map[string]keys.Key{"alice's key": aliceKey, "its child": grandchild} {
		if status, body := s.exchange(t, k, ""); status != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Errorf("%s after alice left: %d %v, want 400 invalid_scope", name, status, body)
		}
	}
}

// Keys whose owner New cannot trace grant nothing: an owner naming a user
// when no UserScope is configured, an unknown key, or an unknown kind.
func TestCeilingFailsClosed(t *testing.T) {
	s := newServer(t, func(c *Config) { c.Users, c.UserScope = nil, nil })
	ctx := context.Background()
	all := scope.MustParse("read:users")
	for _, owner := range []string{"user:alice", "0000000000000000", "someone"} {
		c := Client{ID: "k", Scope: all, Owner: owner}
		got, err := s.ceiling(ctx, c)
		if err != nil || !got.IsEmpty() {
			t.Errorf("owner %q: ceiling %v, %v; want empty", owner, got, err)
		}
	}
	if got, _ := s.ceiling(ctx, Client{ID: "k", Scope: all}); !got.Equal(all) {
		t.Errorf("no owner: ceiling %v, want the key's own scope", got)
	}
}

// Failed authentications are throttled without any configuration.
func TestNewWiresBruteForceProtection(t *testing.T) {
	s := newServer(t)
	k := s.rootKey(t, "read:users")
	wrong, err := keys.Generate("ds_live", nil)
	if err != nil {
		t.Fatal(err)
	}
	var last int
	for range DefaultClientAddressBurst + 2 {
		form := url.Values{"grant_type": {"client_credentials"}}
		r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(k.ID(), wrong.ClientSecret())
		last = s.do(r).StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after %d wrong secrets: %d, want 429", DefaultClientAddressBurst+2, last)
	}
}

// Handler serves every endpoint at the configured paths, and metadata
// advertises those.
func TestHandlerPaths(t *testing.T) {
	s := newServer(t, func(c *Config) {
		c.TokenPaths = []string{"/v1/oauth2/token", "/oauth/token"}
		c.IntrospectionPath = "/i"
		c.RevocationPath = "/r"
	})
	r := httptest.NewRequest("GET", MetadataWellKnown, nil)
	_, meta := decode(t, s.do(r))
	for field, want := range map[string]string{
		"token_endpoint":         testIssuer + "/v1/oauth2/token",
		"introspection_endpoint": testIssuer + "/i",
		"revocation_endpoint":    testIssuer + "/r",
		"jwks_uri":               testIssuer + token.JWKSPath,
	} {
		if meta[field] != want {
			t.Errorf("%s = %v, want %s", field, meta[field], want)
		}
	}
	k := s.rootKey(t, "read:users")
	for _, p := range []string{"/v1/oauth2/token", "/oauth/token"} {
		r := httptest.NewRequest("POST", p, strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(k.ID(), k.ClientSecret())
		if res := s.do(r); res.StatusCode != http.StatusOK {
			t.Errorf("POST %s: %d", p, res.StatusCode)
		}
	}
	for _, p := range []string{"/i", "/r"} {
		r := httptest.NewRequest("POST", p, strings.NewReader("token=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(k.ID(), k.ClientSecret())
		if res := s.do(r); res.StatusCode != http.StatusOK {
			t.Errorf("POST %s: %d", p, res.StatusCode)
		}
	}
	if res := s.do(httptest.NewRequest("GET", token.JWKSPath, nil)); res.StatusCode != http.StatusOK {
		t.Errorf("JWKS: %d", res.StatusCode)
	}
}

// Run does the background work until its context ends, then returns.
func TestRunStopsWithItsContext(t *testing.T) {
	s := newServer(t, func(c *Config) { c.SweepInterval = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}
