package keyturn

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

// The clients of CONFORMANCE.md §0.2. cb's id and secret need
// form-encoding in HTTP Basic.
const (
	cbID     = "c:b/1"
	cbSecret = "p@ss w+rd%/=:é"
)

type fakeClient struct {
	secret   string
	scope    string
	lifetime time.Duration
	owner    string
	disabled bool
}

// fakeClients is a ClientAuthenticator over a fixed table. An unknown id
// is compared against a dummy secret, as a real authenticator must.
type fakeClients struct {
	mu     sync.Mutex
	m      map[string]fakeClient
	checks int   // secret comparisons made, unknown ids included
	err    error // when set, every call fails with it (a storage failure)
}

func newFakeClients() *fakeClients {
	return &fakeClients{m: map[string]fakeClient{
		cbID:   {secret: cbSecret, scope: "read write", owner: "alice"},
		"cp":   {secret: "cp-secret", scope: "read write"},
		"cl":   {secret: "cl-secret", scope: "read"},
		"cx":   {secret: "cx-secret", scope: "read write"},
		"cdis": {secret: "cdis-secret", scope: "read"},
		"rsc":  {secret: "rsc-secret", scope: "introspect"},
		"c003": {secret: "c003-secret", scope: "target-entity:E1:a target-entity:E1:b target-entity:*:read", lifetime: 3599 * time.Second},
	}}
}

func (f *fakeClients) AuthenticateClient(_ context.Context, id, secret string) (Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Client{}, f.err
	}
	f.checks++
	c, ok := f.m[id]
	want := c.secret
	if !ok {
		want = "a dummy secret that nobody holds"
	}
	match := subtle.ConstantTimeCompare([]byte(secret), []byte(want)) == 1
	if !ok || !match || c.disabled {
		return Client{}, ErrInvalidClient
	}
	sc, err := scope.Parse(c.scope)
	if err != nil {
		return Client{}, err
	}
	return Client{ID: id, Scope: sc, TokenLifetime: c.lifetime, Owner: c.owner}, nil
}

func (f *fakeClients) set(id string, c fakeClient) {
	f.mu.Lock()
	f.m[id] = c
	f.mu.Unlock()
}

func (f *fakeClients) disable(id string) {
	f.mu.Lock()
	c := f.m[id]
	c.disabled = true
	f.m[id] = c
	f.mu.Unlock()
}

func (f *fakeClients) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeClients) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks
}

// cheapPasswords are argon2id parameters fast enough for tests.
var cheapPasswords = keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// fakeUsers is a UserAuthenticator over a fixed table of argon2id hashes,
// doing the same work for an unknown user as for a known one.
type fakeUsers struct {
	hasher keys.PasswordHasher
	mu     sync.Mutex
	m      map[string]fakeUser
	checks int // password hashes computed, dummy ones included
}

type fakeUser struct {
	hash  string
	scope scope.Set
}

func newFakeUsers(t testing.TB, users ...string) *fakeUsers {
	t.Helper()
	u := &fakeUsers{hasher: keys.PasswordHasher{Params: cheapPasswords, Rand: &countingReader{}}, m: map[string]fakeUser{}}
	for _, spec := range users {
		name, rest, _ := strings.Cut(spec, ":")
		pw, sc, _ := strings.Cut(rest, ":")
		h, err := u.hasher.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		u.m[name] = fakeUser{hash: h, scope: scope.MustParse(sc)}
	}
	return u
}

func (u *fakeUsers) AuthenticateUser(_ context.Context, username, password string) (User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.checks++
	rec, ok := u.m[username]
	if !ok {
		u.hasher.DummyCheck(password)
		return User{}, ErrInvalidGrant
	}
	match, err := keys.CheckPassword(rec.hash, password)
	if err != nil {
		return User{}, err
	}
	if !match {
		return User{}, ErrInvalidGrant
	}
	return User{Subject: username, Scope: rec.scope}, nil
}

func (u *fakeUsers) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.checks
}

// eventLog records the endpoint's events.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) record(_ context.Context, ev Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

func (l *eventLog) count(kind EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

func (l *eventLog) reset() {
	l.mu.Lock()
	l.evs = nil
	l.mu.Unlock()
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

// endpointEnv is an Endpoint over an env, with every handler on a mux at
// the paths of CONFORMANCE.md §0.2 (plus seed 001's /authorization).
type endpointEnv struct {
	*env
	clients *fakeClients
	events  *eventLog
	ep      *Endpoint
	mux     *http.ServeMux
}

// newEndpointEnv returns an EdDSA endpoint over the fake clients, with the
// standard methods, adjusted by configure.
func newEndpointEnv(t testing.TB, configure ...func(*EndpointConfig)) *endpointEnv {
	t.Helper()
	return newEndpointEnvAlg(t, token.EdDSA, configure...)
}

func newEndpointEnvAlg(t testing.TB, alg token.Algorithm, configure ...func(*EndpointConfig)) *endpointEnv {
	t.Helper()
	e := &endpointEnv{env: newEnv(t, alg), clients: newFakeClients(), events: &eventLog{}}
	cfg := EndpointConfig{
		Issuer:          e.issuer,
		Verifier:        e.verify,
		Clients:         e.clients,
		ScopesSupported: scope.MustParse("read write introspect"),
		Events:          e.events.record,
		Now:             e.clock.Now,
	}
	for _, f := range configure {
		f(&cfg)
	}
	var err error
	if e.ep, err = NewEndpoint(cfg); err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	e.mux.Handle("/token", e.ep.Token())
	e.mux.Handle("/authorization", e.ep.PasswordToken())
	e.mux.Handle("/introspect", e.ep.Introspection())
	e.mux.Handle("/revoke", e.ep.Revocation())
	e.mux.Handle("/jwks.json", e.keys.Handler())
	e.mux.Handle(e.ep.MetadataPath(), e.ep.Metadata())
	return e
}

// withUsers enables the password grant for alice (read write) and bob
// (read).
func withUsers(t testing.TB) func(*EndpointConfig) {
	users := newFakeUsers(t, "alice:alice-pw:read write", "bob:bob-pw:read")
	return func(c *EndpointConfig) {
		c.Users = users
		c.PasswordClientID = "tokenserver"
	}
}

// result is a recorded response, with the number of tokens the endpoint
// issued while serving it.
type result struct {
	Code   int
	Header http.Header
	Body   []byte
	issued int
}

func (e *endpointEnv) do(r *http.Request) *result {
	before := e.events.count(TokenIssued)
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return &result{Code: w.Code, Header: w.Header(), Body: w.Body.Bytes(), issued: e.events.count(TokenIssued) - before}
}

// post builds a request to https://as.test + path with the given
// Content-Type (none if empty), body and header name/value pairs.
func post(path, contentType, body string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://as.test"+path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

const formType = "application/x-www-form-urlencoded"

// formPost is post with a form body.
func formPost(path, body string, hdr ...string) *http.Request {
	return post(path, formType, body, hdr...)
}

// basicAuth is B(id, secret) of CONFORMANCE.md: id and secret
// form-encoded (RFC 6749 Appendix B), then base64.
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// cbAuth is B(cb) as an Authorization header name/value pair.
var cbAuth = []string{"Authorization", basicAuth(cbID, cbSecret)}

// ccToken obtains a token for the client with Basic credentials.
func (e *endpointEnv) ccToken(t testing.TB, id, secret, scopeParam string) string {
	t.Helper()
	body := "grant_type=client_credentials"
	if scopeParam != "" {
		body += "&scope=" + url.QueryEscape(scopeParam)
	}
	res := e.do(formPost("/token", body, "Authorization", basicAuth(id, secret)))
	return wantToken(t, e, res).token
}

// decodeObject decodes a JSON object, numbers as json.Number so that
// their written form can be checked.
func decodeObject(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("body %q has data after the JSON object", b)
	}
	return m
}

// wantNoStore checks the caching headers every token, introspection and
// revocation response carries (RFC 6749 §5.1).
func wantNoStore(t testing.TB, res *result) {
	t.Helper()
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := res.Header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
}

// issuedToken is a successful token response, verified.
type issuedToken struct {
	token  string
	body   map[string]any
	claims *token.Claims
}

// wantToken checks a successful token response (RFC 6749 §5.1,
// CONFORMANCE TOK-30..32) and verifies the token.
func wantToken(t testing.TB, e *endpointEnv, res *result) issuedToken {
	t.Helper()
	if res.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", res.Code, res.Body)
	}
	wantNoStore(t, res)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if res.issued != 1 {
		t.Errorf("%d TokenIssued events, want 1", res.issued)
	}
	m := decodeObject(t, res.Body)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("access_token missing or not a string: %s", res.Body)
	}
	if m["token_type"] != "Bearer" {
		t.Errorf("token_type = %v", m["token_type"])
	}
	n, ok := m["expires_in"].(json.Number)
	if !ok || strings.ContainsAny(n.String(), ".eE-") || n.String() == "0" {
		t.Errorf("expires_in = %v, want a positive JSON integer", m["expires_in"])
	}
	if _, ok := m["scope"].(string); !ok {
		t.Errorf("scope = %v, want a string", m["scope"])
	}
	if _, ok := m["refresh_token"]; ok {
		t.Errorf("refresh_token present")
	}
	c, err := e.verify.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	return issuedToken{token: tok, body: m, claims: c}
}

// wantError checks an RFC 6749 §5.2 error response (CONFORMANCE TOK-41):
// the status, JSON with the error code, a description in the allowed
// character set, the caching headers, a challenge on a 401, and no token
// issued. It returns the challenge.
func wantError(t testing.TB, res *result, status int, code string) string {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status %d, want %d; body %s", res.Code, status, res.Body)
	}
	wantNoStore(t, res)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if res.issued != 0 {
		t.Errorf("%d tokens issued on an error", res.issued)
	}
	m := decodeObject(t, res.Body)
	if m["error"] != code {
		t.Errorf("error = %v, want %s", m["error"], code)
	}
	if _, ok := m["access_token"]; ok {
		t.Errorf("error response carries access_token")
	}
	for _, k := range []string{"error", "error_description"} {
		s, ok := m[k].(string)
		if k == "error_description" && m[k] == nil {
			continue
		}
		if !ok || !headerSafe(s) {
			t.Errorf("%s = %q, not in %%x20-21 / %%x23-5B / %%x5D-7E", k, m[k])
		}
	}
	chal := res.Header.Get("WWW-Authenticate")
	if status == http.StatusUnauthorized && chal == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
	return chal
}

// wantChallenge checks that a 401 challenges with the scheme.
func wantChallenge(t testing.TB, res *result, scheme string) {
	t.Helper()
	chal := res.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(chal, scheme+" ") || !strings.Contains(chal, `realm="`) {
		t.Errorf("WWW-Authenticate = %q, want the %s scheme with a realm", chal, scheme)
	}
}

// keysEnv is an endpoint over real API keys: a keys.Manager (prefix
// ds_live) on the env's store, telling the env's Revocations of revoked
// keys, with every credential method on.
type keysEnv struct {
	*endpointEnv
	mgr *keys.Manager
}

func newKeysEnv(t testing.TB, configure ...func(*EndpointConfig)) *keysEnv {
	t.Helper()
	var ke keysEnv
	base := newEnv(t, token.EdDSA)
	mgr, err := keys.NewManager(keys.Config{
		Store: base.store, Prefix: "ds_live", Hasher: keys.NewHasher([]byte("pepper")),
		Revoker: base.revs, Now: base.clock.Now, Rand: &countingReader{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ke.mgr = mgr
	kc := NewKeyClients(mgr)
	e := &endpointEnv{env: base, clients: newFakeClients(), events: &eventLog{}}
	cfg := EndpointConfig{
		Issuer: base.issuer, Verifier: base.verify, Clients: kc, SplitKey: kc.SplitKey,
		Methods: AllAuthMethods, Events: e.events.record, Now: base.clock.Now,
	}
	for _, f := range configure {
		f(&cfg)
	}
	if e.ep, err = NewEndpoint(cfg); err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	e.mux.Handle("/oauth/token", e.ep.Token())
	e.mux.Handle("/authorization", e.ep.PasswordToken())
	e.mux.Handle("/oauth/introspect", e.ep.Introspection())
	e.mux.Handle("/oauth/revoke", e.ep.Revocation())
	ke.endpointEnv = e
	return &ke
}

// create makes a key with the given scope and token lifetime.
func (k *keysEnv) create(t testing.TB, sc string, lifetime time.Duration) keys.Key {
	t.Helper()
	key, _, err := k.mgr.Create(context.Background(), keys.CreateParams{
		Name: "test", Owner: "alice", Scope: scope.MustParse(sc), TokenLifetime: lifetime,
	}, scope.MustParse("read:users read:participants write:users introspect users:read users:write subscriptions:read target-entity:*:*"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

var errStoreDown = errors.New("store down")

// refuseKeys is a SplitKey that splits no key.
func refuseKeys(string) (string, string, error) { return "", "", ErrInvalidClient }

// gatedClients is fakeClients whose every check first waits at the gate:
// each value sent on gate lets one check go ahead. It counts the checks
// that reached the gate.
type gatedClients struct {
	*fakeClients
	gate    chan struct{}
	mu      sync.Mutex
	arrived int
}

// newGatedClients returns gated clients whose gate opens for good when
// the test ends, so that no request is left blocked.
func newGatedClients(t testing.TB) *gatedClients {
	g := &gatedClients{fakeClients: newFakeClients(), gate: make(chan struct{})}
	t.Cleanup(func() { close(g.gate) })
	return g
}

func (g *gatedClients) AuthenticateClient(ctx context.Context, id, secret string) (Client, error) {
	g.mu.Lock()
	g.arrived++
	g.mu.Unlock()
	<-g.gate
	return g.fakeClients.AuthenticateClient(ctx, id, secret)
}

func (g *gatedClients) reached() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.arrived
}

// gatedUsers is a UserAuthenticator whose every check waits for a verdict
// from the test: nil accepts the user with scope read, an error is
// returned as is. It ignores its context, like a hash computation that
// cannot be interrupted, and counts the checks begun.
type gatedUsers struct {
	verdict chan error
	mu      sync.Mutex
	begun   int
}

// newGatedUsers returns gated users who are all accepted once the test
// ends, so that no request is left blocked.
func newGatedUsers(t testing.TB) *gatedUsers {
	u := &gatedUsers{verdict: make(chan error)}
	t.Cleanup(func() { close(u.verdict) })
	return u
}

func (u *gatedUsers) AuthenticateUser(_ context.Context, username, _ string) (User, error) {
	u.mu.Lock()
	u.begun++
	u.mu.Unlock()
	if err := <-u.verdict; err != nil {
		return User{}, err
	}
	return User{Subject: username, Scope: scope.MustParse("read")}, nil
}

func (u *gatedUsers) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.begun
}

// from sets r's remote address.
func from(addr string, r *http.Request) *http.Request {
	r.RemoteAddr = addr
	return r
}

// goDo serves r in a goroutine and returns where its result will arrive.
func (e *endpointEnv) goDo(r *http.Request) <-chan *result {
	ch := make(chan *result, 1)
	go func() { ch <- e.do(r) }()
	return ch
}

// ready returns the results that have arrived on chs, in order, and how
// many have not.
func ready(chs []<-chan *result) (got []*result, waiting int) {
	for _, ch := range chs {
		select {
		case res := <-ch:
			got = append(got, res)
		default:
			waiting++
		}
	}
	return got, waiting
}
