package keyturn

// Issue 14, the key lifecycle through the admin API and the library: one
// key read by id, its owner, expiry and last use; rotation with a grace
// period; who may rotate. Every clock is the injected one.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

// countingStore counts the TouchKey calls that reach a store and those
// that wrote; several Servers may share one count.
type countingStore struct {
	Store
	n *touchCount
}

type touchCount struct {
	mu             sync.Mutex
	touches, wrote int
}

func (c *touchCount) get() (touches, wrote int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.touches, c.wrote
}

func (s countingStore) TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	ok, err := s.Store.TouchKey(ctx, id, at, every)
	s.n.mu.Lock()
	s.n.touches++
	if ok {
		s.n.wrote++
	}
	s.n.mu.Unlock()
	return ok, err
}

// lifecycleServer is newServer on the injected clock c, over a store that
// counts its touches.
func lifecycleServer(t *testing.T, configure ...func(*Config)) (*server, *clock, *touchCount) {
	t.Helper()
	c, n := newClock(), &touchCount{}
	return newServer(t, append([]func(*Config){func(cfg *Config) {
		cfg.Now = c.Now
		cfg.Store = countingStore{Store: memory.New(), n: n}
	}}, configure...)...), c, n
}

// settle waits until the writes of last use the server started are done.
func (s *server) settle(t *testing.T) {
	t.Helper()
	s.usage.wait(t.Context())
}

// getKey sends GET /v1/api_keys/{id} with tok.
func (s *server) getKey(tok, id string) *http.Response {
	r := httptest.NewRequest("GET", "/v1/api_keys/"+id, nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return s.do(r)
}

// listKeys returns the admin API's list, by id.
func (s *server) listKeys(t *testing.T, tok string) map[string]map[string]any {
	t.Helper()
	r := httptest.NewRequest("GET", "/v1/api_keys", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	status, body := decode(t, s.do(r))
	if status != 200 {
		t.Fatalf("list: %d %v", status, body)
	}
	out := map[string]map[string]any{}
	for _, e := range body["api_keys"].([]any) {
		e := e.(map[string]any)
		out[e["id"].(string)] = e
	}
	return out
}

// entry returns the key's entry through GET /v1/api_keys/{id}.
func (s *server) entry(t *testing.T, tok, id string) map[string]any {
	t.Helper()
	status, body := decode(t, s.getKey(tok, id))
	if status != 200 {
		t.Fatalf("GET key %s: %d %v", id, status, body)
	}
	return body
}

// rotateKey sends POST /v1/api_keys/{id}/rotate with tok and body.
func (s *server) rotateKey(tok, id, body string) *http.Response {
	r := httptest.NewRequest("POST", "/v1/api_keys/"+id+"/rotate", strings.NewReader(body))
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return s.do(r)
}

// rotated rotates id with tok and body and returns the new key.
func (s *server) rotated(t *testing.T, tok, id, body string) keys.Key {
	t.Helper()
	status, reply := decode(t, s.rotateKey(tok, id, body))
	if status != 200 {
		t.Fatalf("rotate %s %s: %d %v", id, body, status, reply)
	}
	k, err := keys.Parse("ds_live", reply["key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// formCall posts a form to path with k's credentials as HTTP Basic.
func (s *server) formCall(t *testing.T, path string, k keys.Key, form url.Values) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", formType)
	r.SetBasicAuth(k.ID(), k.ClientSecret())
	return decode(t, s.do(r))
}

// unix is t0 moved by d, in unix seconds.
func unix(d time.Duration) float64 { return float64(t0.Add(d).Unix()) }

func TestAdminGetKey(t *testing.T) {
	s, _, _ := lifecycleServer(t)
	s.users.set("alice", "write:api_keys read:api_keys read:users")
	root := s.rootKey(t, serverScopes)
	rootTok := s.token(t, root, "")
	child := s.createKey(t, rootTok, "read:users")
	byAlice := s.createKey(t, s.userToken(t, "alice", ""), "read:users")
	status, created := decode(t, s.postKey(rootTok, `{"name":"expiring","scope":"read:users","expires_at":`+
		strconv.FormatInt(t0.Unix()+3600, 10)+`}`))
	if status != 201 {
		t.Fatalf("create: %d %v", status, created)
	}
	expiring := created["id"].(string)
	if created["expires_at"] != unix(time.Hour) || created["owner"] != root.ID() {
		t.Errorf("created: %v", created)
	}
	s.settle(t)
	readOnly := s.token(t, root, "read:api_keys")
	list := s.listKeys(t, readOnly)

	for _, tt := range []struct {
		name, id, owner string
		expires         any
		used            any
	}{
		{"no creator", root.ID(), "", nil, unix(0)},
		{"made by a key", child.ID(), root.ID(), nil, nil},
		{"made by a user", byAlice.ID(), "user:alice", nil, nil},
		{"expiring", expiring, root.ID(), unix(time.Hour), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := s.entry(t, readOnly, tt.id)
			if !maps.Equal(got, list[tt.id]) {
				t.Errorf("GET %v, the list %v; want the same entry", got, list[tt.id])
			}
			if got["owner"] != tt.owner || got["expires_at"] != tt.expires || got["last_used_at"] != tt.used {
				t.Errorf("owner %v, expires_at %v, last_used_at %v; want %q, %v, %v",
					got["owner"], got["expires_at"], got["last_used_at"], tt.owner, tt.expires, tt.used)
			}
			for _, f := range []string{"key", "client_secret", "secret_hash"} {
				if _, ok := got[f]; ok {
					t.Errorf("the entry has %q", f)
				}
			}
		})
	}

	for _, tt := range []struct {
		name, tok, id string
		status        int
		error         string
	}{
		{"unknown id", readOnly, "AAAAAAAAAAAAAAAA", 404, "not_found"},
		{"malformed id", readOnly, "not-an-id", 404, "not_found"},
		{"over-long id", readOnly, strings.Repeat("a", 2000), 404, "not_found"},
		{"no read:api_keys", s.token(t, root, "write:api_keys"), root.ID(), 403, "insufficient_scope"},
		{"no token", "", root.ID(), 401, ""},
		{"a key instead of a token", root.String(), root.ID(), 401, "invalid_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := decode(t, s.getKey(tt.tok, tt.id))
			if status != tt.status || tt.error != "" && body["error"] != tt.error {
				t.Errorf("%d %v, want %d %s", status, body, tt.status, tt.error)
			}
		})
	}
}

// TestAdminCreateExpiresAt: expires_at must be whole unix seconds in the
// future; an expired key is refused like a revoked one at the token,
// introspection and revocation endpoints (401 invalid_client), from its
// expiry on and not a second before.
func TestAdminCreateExpiresAt(t *testing.T) {
	s, clk, _ := lifecycleServer(t)
	rootTok := s.token(t, s.rootKey(t, serverScopes), "")
	now := t0.Unix()
	for _, tt := range []struct {
		name    string
		value   string
		status  int
		expires any
	}{
		{"an hour ahead", strconv.FormatInt(now+3600, 10), 201, unix(time.Hour)},
		{"one second ahead", strconv.FormatInt(now+1, 10), 201, unix(time.Second)},
		{"the last second of 9999", "253402300799", 201, float64(253402300799)},
		{"null", "null", 201, nil},
		{"now", strconv.FormatInt(now, 10), 400, nil},
		{"one second ago", strconv.FormatInt(now-1, 10), 400, nil},
		{"zero", "0", 400, nil},
		{"negative", "-1", 400, nil},
		{"fractional", strconv.FormatInt(now+3600, 10) + ".5", 400, nil},
		{"a string", `"` + strconv.FormatInt(now+3600, 10) + `"`, 400, nil},
		{"an exponent", "1e10", 400, nil},
		{"a boolean", "true", 400, nil},
		{"after 9999", "253402300800", 400, nil},
		{"beyond int64", "99999999999999999999", 400, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := decode(t, s.postKey(rootTok, `{"scope":"read:users","expires_at":`+tt.value+`}`))
			if status != tt.status {
				t.Fatalf("%d %v, want %d", status, body, tt.status)
			}
			if status == 400 && body["error"] != "invalid_request" {
				t.Errorf("error %v", body["error"])
			}
			if status == 201 && body["expires_at"] != tt.expires {
				t.Errorf("expires_at echoed as %v, want %v", body["expires_at"], tt.expires)
			}
		})
	}
	if _, _, err := s.Keys().Create(context.Background(), keys.CreateParams{Scope: serverSet, ExpiresAt: t0}, serverSet); !errors.Is(err, keys.ErrInvalidParams) {
		t.Errorf("the library took an expiry of now: %v", err)
	}

	// A key expiring in ten seconds, and a token it got before.
	status, body := decode(t, s.postKey(rootTok, `{"scope":"read:users introspect","expires_at":`+strconv.FormatInt(now+10, 10)+`}`))
	if status != 201 {
		t.Fatal(status, body)
	}
	k, err := keys.Parse("ds_live", body["key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.token(t, k, "")
	endpoints := func() (tokenStatus, introspectStatus, revokeStatus int, errs []any) {
		st, b1 := s.exchange(t, k, "")
		si, b2 := s.formCall(t, "/oauth/introspect", k, url.Values{"token": {tok}})
		sr, b3 := s.formCall(t, "/oauth/revoke", k, url.Values{"token": {"not.a.token"}})
		return st, si, sr, []any{b1["error"], b2["error"], b3["error"]}
	}
	clk.Add(9 * time.Second)
	if st, si, sr, _ := endpoints(); st != 200 || si != 200 || sr != 200 {
		t.Fatalf("one second before its expiry: token %d, introspection %d, revocation %d; want 200", st, si, sr)
	}
	clk.Add(time.Second)
	for i, d := range []time.Duration{0, time.Second, time.Hour} {
		clk.Add(d)
		st, si, sr, errs := endpoints()
		if st != 401 || si != 401 || sr != 401 || errs[0] != "invalid_client" || errs[1] != "invalid_client" || errs[2] != "invalid_client" {
			t.Errorf("step %d after its expiry: token %d, introspection %d, revocation %d (%v); want 401 invalid_client",
				i, st, si, sr, errs)
		}
	}
	if _, err := s.Keys().Authenticate(context.Background(), k); !errors.Is(err, keys.ErrExpired) {
		t.Errorf("Authenticate of the expired key: %v, want ErrExpired", err)
	}
	// The bearer-key and JSON styles too.
	for _, r := range []*http.Request{
		func() *http.Request {
			r := httptest.NewRequest("POST", "/oauth/token", nil)
			r.Header.Set("Authorization", "Bearer "+k.String())
			return r
		}(),
		func() *http.Request {
			r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(`{"key":"`+k.String()+`"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}(),
	} {
		if status, body := decode(t, s.do(r)); status != 401 || body["error"] != "invalid_client" {
			t.Errorf("expired key presented whole: %d %v", status, body)
		}
	}
}

// TestAdminRotate: the new secret works at once, the old one until its
// grace period has passed (valid one second before, refused at its end and
// one second after), tokens already issued stay valid, and the audit log
// names the acting client.
func TestAdminRotate(t *testing.T) {
	var logs bytes.Buffer
	s, clk, _ := lifecycleServer(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	root := s.rootKey(t, serverScopes)
	for _, tt := range []struct {
		name  string
		body  string
		grace time.Duration
	}{
		{"no body", "", 0},
		{"empty object", "{}", 0},
		{"null", `{"grace":null}`, 0},
		{"zero", `{"grace":0}`, 0},
		{"one second", `{"grace":1}`, time.Second},
		{"ten minutes", `{"grace":600}`, 10 * time.Minute},
		{"the most", `{"grace":86400}`, 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rootTok := s.token(t, root, "")
			old := s.createKey(t, rootTok, "read:users")
			oldTok := s.token(t, old, "")
			status, reply := decode(t, s.rotateKey(rootTok, old.ID(), tt.body))
			if status != 200 {
				t.Fatalf("rotate: %d %v", status, reply)
			}
			secret, _ := reply["client_secret"].(string)
			want := map[string]any{"id": old.ID(), "client_id": old.ID(), "client_secret": secret,
				"key": "ds_live_" + old.ID() + "_" + secret, "grace": float64(tt.grace / time.Second)}
			if !maps.Equal(reply, want) || secret == old.ClientSecret() {
				t.Fatalf("rotate answered %v", reply)
			}
			k, err := keys.Parse("ds_live", reply["key"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if !s.valid(t, k) {
				t.Error("the new secret does not work at once")
			}
			if s.staff(oldTok) != 200 {
				t.Error("a token issued before the rotation was refused")
			}
			if tt.grace > time.Second {
				clk.Add(tt.grace - time.Second)
				if !s.valid(t, old) {
					t.Error("the old secret was refused one second before its grace period ended")
				}
				clk.Add(time.Second)
			} else {
				clk.Add(tt.grace)
			}
			if status, body := s.exchange(t, old, ""); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("the old secret when its grace period ended: %d %v", status, body)
			}
			clk.Add(time.Second)
			if s.valid(t, old) {
				t.Error("the old secret works one second after its grace period")
			}
			if !s.valid(t, k) {
				t.Error("the new secret stopped working")
			}
			if !regexp.MustCompile(`api key rotated.* id=` + old.ID() + ` by=` + root.ID() + ` grace=` +
				strconv.Itoa(int(tt.grace/time.Second))).MatchString(logs.String()) {
				t.Errorf("no audit line naming the acting client in\n%s", logs.String())
			}
			if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), old.ClientSecret()) {
				t.Fatal("a secret in the logs")
			}
		})
	}

	// Rotating again during a grace period: the first secret stops at once,
	// the second keeps its own grace period.
	rootTok := s.token(t, root, "")
	k0 := s.createKey(t, rootTok, "read:users")
	k1 := s.rotated(t, rootTok, k0.ID(), `{"grace":3600}`)
	clk.Add(time.Minute)
	k2 := s.rotated(t, rootTok, k0.ID(), `{"grace":60}`)
	if s.valid(t, k0) || !s.valid(t, k1) || !s.valid(t, k2) {
		t.Error("after a second rotation: want the first secret refused, the second and third valid")
	}
	clk.Add(time.Minute)
	if s.valid(t, k1) || !s.valid(t, k2) {
		t.Error("after the second grace period: want only the third secret")
	}
}

// TestAdminRotateRefusals: a grace out of range or of another type, a
// malformed body, an unknown key, a caller who may not rotate the key, a
// revoked or expired key: each refused, the key unchanged.
func TestAdminRotateRefusals(t *testing.T) {
	s, clk, _ := lifecycleServer(t)
	s.users.set("alice", "write:api_keys read:users")
	s.users.set("bob", "write:api_keys read:participants")
	root := s.rootKey(t, serverScopes)
	rootTok := s.token(t, root, "")
	writer := s.createKey(t, rootTok, "write:api_keys read:users")
	writerTok := s.token(t, writer, "")
	aliceTok := s.userToken(t, "alice", "")

	// unchanged checks that k still has exactly its secret, none other.
	unchanged := func(t *testing.T, k keys.Key, hash []byte) {
		t.Helper()
		rec, err := s.store.Key(context.Background(), k.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec.SecretHash, hash) || rec.PreviousSecretHash != nil || !rec.RevokedAt.IsZero() {
			t.Errorf("the key changed: %+v", rec)
		}
		if !s.valid(t, k) {
			t.Error("the key no longer exchanges")
		}
	}
	hashOf := func(k keys.Key) []byte {
		rec, err := s.store.Key(context.Background(), k.ID())
		if err != nil {
			t.Fatal(err)
		}
		return rec.SecretHash
	}

	target := s.createKey(t, rootTok, "read:users")
	targetHash := hashOf(target)
	for _, body := range []string{
		`{"grace":-1}`, `{"grace":86401}`, `{"grace":1.5}`, `{"grace":"10"}`, `{"grace":1e1}`,
		`{"grace":10.0}`, `{"grace":true}`, `{"grace":[10]}`, `{"grace":99999999999999999999}`,
		`{"grace":1,"grace":2}`, `{"grace":1,"gr\u0061ce":2}`, `{"grace":1,"name":"x"}`, `{"Grace":1}`,
		`{"grace":1}{}`, `{"grace":1} x`, `{"grace":1`, `[1]`, `1`, `null`, `"grace"`, " ",
	} {
		status, reply := decode(t, s.rotateKey(rootTok, target.ID(), body))
		if status != 400 || reply["error"] != "invalid_request" {
			t.Errorf("%s: %d %v, want 400 invalid_request", body, status, reply)
		}
	}
	unchanged(t, target, targetHash)

	for _, tt := range []struct {
		name   string
		target keys.Key
		caller string
		status int
	}{
		{"someone else's wider key", s.createKey(t, rootTok, "read:participants"), writerTok, 403},
		{"partly wider", s.createKey(t, rootTok, "read:users read:participants"), writerTok, 403},
		{"the caller's own creator", root, writerTok, 403},
		{"another user's key", s.createKey(t, aliceTok, "read:users"), s.userToken(t, "bob", ""), 403},
		{"no write:api_keys", s.createKey(t, rootTok, "read:users"), s.token(t, root, "read:api_keys read:users"), 403},
		{"no token", s.createKey(t, rootTok, "read:users"), "", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hash := hashOf(tt.target)
			res := s.rotateKey(tt.caller, tt.target.ID(), `{"grace":60}`)
			ch := res.Header.Get("WWW-Authenticate")
			status, body := decode(t, res)
			if status != tt.status {
				t.Fatalf("%d %v, want %d", status, body, tt.status)
			}
			if status == 403 && (body["error"] != "insufficient_scope" || !strings.Contains(ch, `error="insufficient_scope"`)) {
				t.Errorf("refusal: %v, WWW-Authenticate %q", body, ch)
			}
			unchanged(t, tt.target, hash)
		})
	}

	// Who may: the owner with a narrower token, a covering scope, the key
	// itself.
	for _, tt := range []struct {
		name   string
		target keys.Key
		caller string
	}{
		{"the owner, narrowed", s.createKey(t, writerTok, "read:users"), s.token(t, writer, "write:api_keys")},
		{"a covering scope", s.createKey(t, rootTok, "read:users"), writerTok},
		{"a user owner, narrowed", s.createKey(t, aliceTok, "read:users"), s.userToken(t, "alice", "write:api_keys")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := decode(t, s.rotateKey(tt.caller, tt.target.ID(), "")); status != 200 {
				t.Errorf("%d %v, want 200", status, body)
			}
			if s.valid(t, tt.target) {
				t.Error("the old secret works after a rotation without grace")
			}
		})
	}

	for _, id := range []string{"AAAAAAAAAAAAAAAA", "not-an-id", strings.Repeat("a", 2000)} {
		if status, body := decode(t, s.rotateKey(rootTok, id, "")); status != 404 || body["error"] != "not_found" {
			t.Errorf("rotate %.20s: %d %v, want 404", id, status, body)
		}
	}

	revoked := s.createKey(t, rootTok, "read:users")
	if res := s.revokeKey(rootTok, revoked.ID(), ""); res.StatusCode != 204 {
		t.Fatal(res.StatusCode)
	}
	revokedHash := hashOf(revoked)
	if status, body := decode(t, s.rotateKey(rootTok, revoked.ID(), `{"grace":60}`)); status != 409 || body["error"] != "key_revoked" {
		t.Errorf("rotate a revoked key: %d %v, want 409 key_revoked", status, body)
	}
	if rec, _ := s.store.Key(context.Background(), revoked.ID()); !bytes.Equal(rec.SecretHash, revokedHash) || rec.RevokedAt.IsZero() {
		t.Errorf("a refused rotation changed the revoked key: %+v", rec)
	}

	status, body := decode(t, s.postKey(rootTok, `{"scope":"read:users","expires_at":`+strconv.FormatInt(clk.Now().Unix()+5, 10)+`}`))
	if status != 201 {
		t.Fatal(status, body)
	}
	clk.Add(5 * time.Second)
	if status, body := decode(t, s.rotateKey(rootTok, body["id"].(string), "")); status != 409 || body["error"] != "key_expired" {
		t.Errorf("rotate an expired key: %d %v, want 409 key_expired", status, body)
	}
}

// TestAdminRotateRace: two rotations of one key at once through the admin
// API: one is answered 200, the other 409 conflict, and the secret handed
// out works. The store holds the second rotation until the first is done.
func TestAdminRotateRace(t *testing.T) {
	gate := &gatedStore{Store: memory.New(), entered: make(chan struct{}), release: make(chan struct{})}
	s, _, _ := lifecycleServer(t, func(c *Config) { c.Store = gate })
	rootTok := s.token(t, s.rootKey(t, serverScopes), "")
	k := s.createKey(t, rootTok, "read:users")
	gate.hold(k.ID())

	first := make(chan *http.Response)
	go func() { first <- s.rotateKey(rootTok, k.ID(), "") }()
	<-gate.entered // the first rotation read the key and waits to swap
	status, reply := decode(t, s.rotateKey(rootTok, k.ID(), ""))
	close(gate.release)
	status1, reply1 := decode(t, <-first)
	if status != 200 || status1 != 409 || reply1["error"] != "conflict" {
		t.Fatalf("rotations at once: %d %v and %d %v; want 200 and 409 conflict", status, reply, status1, reply1)
	}
	nk, err := keys.Parse("ds_live", reply["key"].(string))
	if err != nil || !s.valid(t, nk) || s.valid(t, k) {
		t.Error("want the winner's secret valid and the old one refused")
	}
}

// gatedStore makes the first RotateKey of one key wait for release.
type gatedStore struct {
	Store
	mu      sync.Mutex
	id      string
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) hold(id string) { g.mu.Lock(); g.id = id; g.mu.Unlock() }

func (g *gatedStore) RotateKey(ctx context.Context, id string, old, next []byte, until time.Time) (bool, error) {
	g.mu.Lock()
	held := g.id == id
	g.id = ""
	g.mu.Unlock()
	if held {
		close(g.entered)
		<-g.release
	}
	return g.Store.RotateKey(ctx, id, old, next, until)
}

// TestLastUsedAt: a key's last_used_at is set by an exchange, and written
// to the store at most once a minute however many exchanges there are;
// failed exchanges, introspection, revocation and password-grant tokens
// leave it alone.
func TestLastUsedAt(t *testing.T) {
	s, clk, n := lifecycleServer(t)
	s.users.set("alice", "read:users")
	set := scope.MustParse(serverScopes)
	root, _, err := s.Keys().Create(context.Background(), keys.CreateParams{Scope: set, TokenLifetime: 24 * time.Hour}, set)
	if err != nil {
		t.Fatal(err)
	}
	readTok := s.token(t, root, "read:api_keys")
	writeTok := s.token(t, root, "write:api_keys")
	k := s.createKey(t, s.token(t, root, ""), "read:users introspect")
	s.settle(t)
	touches0, wrote0 := n.get() // the root key's
	if e := s.entry(t, readTok, k.ID()); e["last_used_at"] != nil {
		t.Fatalf("a key never used shows last_used_at %v", e["last_used_at"])
	}
	step := func(name string, wantTouches, wantWrote int, wantUsed time.Duration) {
		t.Helper()
		s.settle(t)
		touches, wrote := n.get()
		if touches-touches0 != wantTouches || wrote-wrote0 != wantWrote {
			t.Errorf("%s: %d store touches, %d writes; want %d, %d", name, touches-touches0, wrote-wrote0, wantTouches, wantWrote)
		}
		if got := s.entry(t, readTok, k.ID())["last_used_at"]; got != unix(wantUsed) {
			t.Errorf("%s: last_used_at %v, want %v", name, got, unix(wantUsed))
		}
	}

	tok := s.token(t, k, "")
	step("first exchange", 1, 1, 0)
	for range 5 {
		clk.Add(10 * time.Second)
		s.token(t, k, "")
	}
	s.introspect(t, k, tok)
	s.formCall(t, "/oauth/revoke", k, url.Values{"token": {tok}})
	s.userToken(t, "alice", "")
	step("five exchanges within the minute", 1, 1, 0)

	clk.Add(10*time.Second + time.Second) // 61 s after the first
	if status, _ := s.exchange(t, k, "write:api_keys"); status != 400 {
		t.Fatalf("an exchange beyond the key's scope: %d", status)
	}
	step("a failed exchange", 1, 1, 0)
	s.token(t, k, "read:users")
	step("an exchange after the minute", 2, 2, 61*time.Second)

	// Rotation keeps it, and the rotated key's exchanges record it.
	nk := s.rotated(t, writeTok, k.ID(), "")
	step("rotation", 2, 2, 61*time.Second)
	clk.Add(time.Hour)
	s.token(t, nk, "")
	step("an exchange with the new secret", 3, 3, time.Hour+61*time.Second)
}

// TestUsageThrottleIsBounded: the throttle forgets keys not used for a
// minute when it is full, and everything if that is not enough.
func TestUsageThrottleIsBounded(t *testing.T) {
	s, clk, _ := lifecycleServer(t)
	u := s.usage
	fill := func(at time.Time) {
		u.mu.Lock()
		clear(u.last)
		for i := range maxUsageEntries {
			u.last["k"+strconv.Itoa(i)] = at
		}
		u.mu.Unlock()
	}
	size := func() int {
		u.mu.Lock()
		defer u.mu.Unlock()
		return len(u.last)
	}
	fill(clk.Now().Add(-time.Minute))
	u.used(context.Background(), "fresh")
	if got := size(); got != 1 {
		t.Errorf("full of stale entries: %d entries after a use, want 1", got)
	}
	fill(clk.Now().Add(-time.Second))
	u.used(context.Background(), "fresh2")
	if got := size(); got != 1 {
		t.Errorf("full of recent entries: %d entries after a use, want 1", got)
	}
	u.wait(t.Context())
}

// serverSet is serverScopes as a set.
var serverSet = scope.MustParse(serverScopes)

// TestLastUsedAtOffTheResponse: a store that takes its time to record a
// use does not hold up the token response.
func TestLastUsedAtOffTheResponse(t *testing.T) {
	slow := &slowTouchStore{Store: memory.New(), release: make(chan struct{})}
	s, _, _ := lifecycleServer(t, func(c *Config) { c.Store = slow })
	k := s.rootKey(t, serverScopes)
	if status, body := s.exchange(t, k, ""); status != 200 {
		t.Fatalf("exchange while the store's write waits: %d %v", status, body)
	}
	close(slow.release)
	s.settle(t)
	if rec, err := s.Keys().Get(context.Background(), k.ID()); err != nil || !rec.LastUsedAt.Equal(t0) {
		t.Errorf("LastUsedAt %v, %v; want %v", rec.LastUsedAt, err, t0)
	}
}

// slowTouchStore holds every TouchKey until release is closed.
type slowTouchStore struct {
	Store
	release chan struct{}
}

func (s *slowTouchStore) TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	<-s.release
	return s.Store.TouchKey(ctx, id, at, every)
}

var _ storage.KeyStore = countingStore{}
