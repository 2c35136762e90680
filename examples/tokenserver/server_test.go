package main

// In-process tests of the wiring: the bootstrap key, the default issuer, the
// log hook, and the admin API's fine print. The end-to-end test drives the
// built binary.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

var bootstrapLine = regexp.MustCompile(`^bootstrap admin key: (ds_live_[0-9A-Za-z]{16}_[0-9A-Za-z]{49})\n$`)

func testConfig() config {
	return config{issuer: "http://keyturn.test", audience: "http://keyturn.test"}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestBootstrapOnce(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	var out bytes.Buffer
	s, err := newServer(ctx, testConfig(), st, discard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	m := bootstrapLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("stdout %q is not one bootstrap line", out.String())
	}
	listed, err := s.keys.List(ctx, "", 0)
	if err != nil || len(listed) != 1 {
		t.Fatalf("%d keys, %v", len(listed), err)
	}
	if got, _ := scope.New(listed[0].Scope...); !got.Equal(scope.MustParse(allScopes)) {
		t.Errorf("bootstrap scope %q, want %q", got, allScopes)
	}
	if !strings.HasPrefix(m[1], "ds_live_"+listed[0].ID+"_") {
		t.Error("the printed key is not the stored one")
	}

	t.Run("restart prints nothing", func(t *testing.T) {
		var again bytes.Buffer
		if _, err := newServer(ctx, testConfig(), st, discard(), &again); err != nil {
			t.Fatal(err)
		}
		if again.Len() != 0 {
			t.Errorf("second start printed %q", again.String())
		}
	})
	t.Run("a revoked key still counts", func(t *testing.T) {
		if err := s.keys.Revoke(ctx, listed[0].ID); err != nil {
			t.Fatal(err)
		}
		var again bytes.Buffer
		if _, err := newServer(ctx, testConfig(), st, discard(), &again); err != nil {
			t.Fatal(err)
		}
		if again.Len() != 0 {
			t.Errorf("start after revocation printed %q", again.String())
		}
	})
}

func TestBackgroundSweeps(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	s, err := newServer(ctx, testConfig(), st, discard(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	expired := storage.Revocation{Kind: storage.RevokedToken, ID: "expired", RevokedAt: past, ExpiresAt: past}
	live := storage.Revocation{Kind: storage.RevokedToken, ID: "live", RevokedAt: past, ExpiresAt: time.Now().Add(time.Hour)}
	for _, r := range []storage.Revocation{expired, live} {
		if err := st.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s.sweepEvery = time.Millisecond
	bg, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { s.background(bg); close(stopped) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := st.Revocation(ctx, storage.RevokedToken, "expired"); errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired revocation was never swept")
		}
	}
	stop()
	<-stopped // background returns once all of its work has stopped
	if _, err := st.Revocation(ctx, storage.RevokedToken, "live"); err != nil {
		t.Errorf("the sweep took a live revocation: %v", err)
	}
}

func TestSecretsFromEnv(t *testing.T) {
	kek := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name   string
		env    map[string]string
		kekLen int
		ok     bool
	}{
		{"none", nil, 0, true},
		{"pepper and KEK", map[string]string{"KEYTURN_PEPPER": "pepper", "KEYTURN_KEK": kek}, 32, true},
		{"KEK too short", map[string]string{"KEYTURN_KEK": base64.StdEncoding.EncodeToString(make([]byte, 16))}, 0, false},
		{"KEK not base64", map[string]string{"KEYTURN_KEK": "not base64 at all!"}, 0, false},
		{"KEK in URL base64", map[string]string{"KEYTURN_KEK": strings.Repeat("_-", 22)}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c config
			err := c.secretsFromEnv(func(k string) string { return tt.env[k] })
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok %v", err, tt.ok)
			}
			if err != nil && tt.env["KEYTURN_KEK"] != "" && strings.Contains(err.Error(), tt.env["KEYTURN_KEK"]) {
				t.Errorf("the error shows the KEK: %v", err)
			}
			if len(c.kek) != tt.kekLen || string(c.pepper) != tt.env["KEYTURN_PEPPER"] {
				t.Errorf("kek %d bytes, pepper %q", len(c.kek), c.pepper)
			}
		})
	}
}

// TestStoreSecrets checks that the KEK seals the signing keys and the
// pepper keys the hashes: a restart with other values refuses to start or
// to accept the keys made before.
func TestStoreSecrets(t *testing.T) {
	ctx := context.Background()
	with := func(pepper string, kek byte) config {
		c := testConfig()
		c.pepper = []byte(pepper)
		if kek != 0 {
			c.kek = bytes.Repeat([]byte{kek}, 32)
		}
		return c
	}
	st := memory.New()
	var out bytes.Buffer
	if _, err := newServer(ctx, with("p1", 1), st, discard(), &out); err != nil {
		t.Fatal(err)
	}
	admin, err := keys.Parse(keyPrefix, bootstrapLine.FindStringSubmatch(out.String())[1])
	if err != nil {
		t.Fatal(err)
	}
	sk, err := st.SigningKeys(ctx)
	if err != nil || len(sk) == 0 || !bytes.HasPrefix(sk[0].Private, []byte("kts1")) {
		t.Fatalf("the signing key is not sealed: %d keys, %v", len(sk), err)
	}

	for _, tt := range []struct {
		name       string
		c          config
		starts, ok bool // starts, and authenticates the bootstrap key
	}{
		{"same pepper and KEK", with("p1", 1), true, true},
		{"another pepper", with("p2", 1), true, false},
		{"no pepper", with("", 1), true, false},
		{"another KEK", with("p1", 2), false, false},
		{"no KEK", with("p1", 0), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newServer(ctx, tt.c, st, discard(), io.Discard)
			if (err == nil) != tt.starts {
				t.Fatalf("start: %v, want it to start: %v", err, tt.starts)
			}
			if err != nil {
				return
			}
			if _, err := s.keys.Authenticate(ctx, admin); (err == nil) != tt.ok {
				t.Errorf("authenticating the bootstrap key: %v", err)
			}
		})
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func TestDefaultIssuer(t *testing.T) {
	tests := []struct {
		name, addr, bound string
		tls               bool
		want              string
	}{
		{"the default", "127.0.0.1:8080", "127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"a host name is kept", "localhost:8080", "127.0.0.1:8080", false, "http://localhost:8080"},
		{"any port", "127.0.0.1:0", "127.0.0.1:41234", false, "http://127.0.0.1:41234"},
		{"no host", ":8080", "[::]:8080", false, "http://localhost:8080"},
		{"every IPv4 interface", "0.0.0.0:9000", "0.0.0.0:9000", false, "http://localhost:9000"},
		{"IPv6 loopback", "[::1]:0", "[::1]:5555", false, "http://[::1]:5555"},
		{"TLS", "127.0.0.1:8443", "127.0.0.1:8443", true, "https://127.0.0.1:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultIssuer(tt.addr, fakeAddr(tt.bound), tt.tls); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLogEventsHidesMisplacedSecrets(t *testing.T) {
	const (
		key    = "ds_live_VZ0TyHAXKFJv3vmU_MhtkBwkvUyX9xe1ZxjHfp7k8UvpvKaY6yUrdMOlmfuE0KUvMq"
		id     = "VZ0TyHAXKFJv3vmU"
		secret = "MhtkBwkvUyX9xe1ZxjHfp7k8UvpvKaY6yUrdMOlmfuE0KUvMq"
	)
	u, err := newUsers([]string{"ada:pw:read:users"}, cheap)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ev       keyturn.Event
		want     string // in the log line
		wantNone string // not in it
	}{
		{"a key id is logged", keyturn.Event{Kind: keyturn.AuthFailed, ClientID: id}, "client_id=" + id, ""},
		{"a whole key as client_id is not", keyturn.Event{Kind: keyturn.AuthFailed, ClientID: key[:64]}, "client_id=\"(not a key id)\"", secret[:20]},
		{"a secret as client_id is not", keyturn.Event{Kind: keyturn.AuthFailed, ClientID: secret}, "client_id=\"(not a key id)\"", secret[:20]},
		{"a known user is logged", keyturn.Event{Kind: keyturn.AuthFailed, Subject: "ada"}, "sub=ada", ""},
		{"a password as username is not", keyturn.Event{Kind: keyturn.AuthFailed, Subject: "correct horse"}, "sub=\"(not a user)\"", "horse"},
		{"a password-flow client id is logged", keyturn.Event{Kind: keyturn.AuthFailed, ClientID: passwordClientID}, "client_id=" + passwordClientID, ""},
		{"issued tokens are logged as they are", keyturn.Event{Kind: keyturn.TokenIssued, ClientID: id, Subject: id, TokenID: "j1"}, "jti=j1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logEvents(slog.New(slog.NewTextHandler(&buf, nil)), u)(context.Background(), tt.ev)
			if !strings.Contains(buf.String(), tt.want) {
				t.Errorf("log %q lacks %q", buf.String(), tt.want)
			}
			if tt.wantNone != "" && strings.Contains(buf.String(), tt.wantNone) {
				t.Errorf("log %q holds a secret", buf.String())
			}
		})
	}
}

// testServer serves the routes of a server over a memory store through
// httptest, and returns its URL and the bootstrap key.
func testServer(t *testing.T) (*server, string, string) {
	t.Helper()
	var out bytes.Buffer
	s, err := newServer(context.Background(), testConfig(), memory.New(), discard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.routes())
	t.Cleanup(hs.Close)
	return s, hs.URL, bootstrapLine.FindStringSubmatch(out.String())[1]
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t *testing.T, method, url, bearerToken, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header, raw: string(b)}
	json.Unmarshal(b, &r.body)
	return r
}

// exchange trades a whole key for a token with the given scope ("" for all).
func exchange(t *testing.T, base, key, scope string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"key": key, "scope": scope})
	r := call(t, "POST", base+"/oauth/token", "", string(body))
	if r.status != 200 {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string)
}

func TestAdminCreate(t *testing.T) {
	_, base, admin := testServer(t)
	all := exchange(t, base, admin, "")
	narrow := exchange(t, base, admin, "write:api_keys read:users target-entity:E1:a")
	readOnly := exchange(t, base, admin, "read:api_keys")

	tests := []struct {
		name     string
		token    string
		body     string
		status   int
		error    string // error code, for refusals
		scope    string // echoed scope, for 201
		lifetime float64
	}{
		{"all fields", all, `{"name":"n","scope":"read:users","token_lifetime":3599}`, 201, "", "read:users", 3599},
		{"default lifetime", all, `{"name":"n","scope":"read:users"}`, 201, "", "read:users", 900},
		{"null lifetime is the default", all, `{"scope":"read:users","token_lifetime":null}`, 201, "", "read:users", 900},
		{"lifetime 60", all, `{"scope":"read:users","token_lifetime":60}`, 201, "", "read:users", 60},
		{"lifetime 86400", all, `{"scope":"read:users","token_lifetime":86400}`, 201, "", "read:users", 86400},
		{"no name", all, `{"scope":"read:users"}`, 201, "", "read:users", 900},
		{"canonical echo", all, `{"scope":"target-entity:E2:b target-entity:E2:a read:users"}`, 201, "", "read:users target-entity:E2:a,b", 900},
		{"within a narrow token", narrow, `{"scope":"target-entity:E1:a"}`, 201, "", "target-entity:E1:a", 900},

		{"scope missing", all, `{"name":"n"}`, 400, "invalid_request", "", 0},
		{"scope empty", all, `{"scope":""}`, 400, "invalid_request", "", 0},
		{"scope malformed", all, `{"scope":"read:users  read:participants"}`, 400, "invalid_request", "", 0},
		{"scope not a string", all, `{"scope":["read:users"]}`, 400, "invalid_request", "", 0},
		{"lifetime 59", all, `{"scope":"read:users","token_lifetime":59}`, 400, "invalid_request", "", 0},
		{"lifetime 86401", all, `{"scope":"read:users","token_lifetime":86401}`, 400, "invalid_request", "", 0},
		{"lifetime 0", all, `{"scope":"read:users","token_lifetime":0}`, 400, "invalid_request", "", 0},
		{"lifetime negative", all, `{"scope":"read:users","token_lifetime":-900}`, 400, "invalid_request", "", 0},
		{"lifetime fractional", all, `{"scope":"read:users","token_lifetime":900.5}`, 400, "invalid_request", "", 0},
		{"lifetime a string", all, `{"scope":"read:users","token_lifetime":"900"}`, 400, "invalid_request", "", 0},
		{"name too long", all, `{"name":"` + strings.Repeat("n", 201) + `","scope":"read:users"}`, 400, "invalid_request", "", 0},
		{"unknown field", all, `{"scope":"read:users","expires_at":1}`, 400, "invalid_request", "", 0},
		{"two objects", all, `{"scope":"read:users"}{}`, 400, "invalid_request", "", 0},
		{"not JSON", all, `scope=read:users`, 400, "invalid_request", "", 0},

		{"beyond the caller's scope", narrow, `{"scope":"read:participants"}`, 403, "insufficient_scope", "", 0},
		{"another entity than the caller's", narrow, `{"scope":"target-entity:E2:a"}`, 403, "insufficient_scope", "", 0},
		{"a wildcard the caller lacks", narrow, `{"scope":"target-entity:*:a"}`, 403, "insufficient_scope", "", 0},
		{"no write:api_keys", readOnly, `{"scope":"read:api_keys"}`, 403, "insufficient_scope", "", 0},
		{"no token", "", `{"scope":"read:users"}`, 401, "", "", 0},
		{"a key instead of a token", admin, `{"scope":"read:users"}`, 401, "invalid_token", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			begin := time.Now().Unix()
			r := call(t, "POST", base+"/v1/api_keys", tt.token, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if r.status != 201 {
				if tt.error != "" && r.body["error"] != tt.error {
					t.Errorf("error %v, want %s", r.body["error"], tt.error)
				}
				if r.status == 401 || r.status == 403 {
					ch := r.header.Get("WWW-Authenticate")
					if !strings.HasPrefix(ch, "Bearer ") || tt.error != "" && !strings.Contains(ch, `error="`+tt.error+`"`) {
						t.Errorf("WWW-Authenticate %q", ch)
					}
				}
				return
			}
			b := r.body
			id, _ := b["id"].(string)
			secret, _ := b["client_secret"].(string)
			if id == "" || b["client_id"] != id || b["key"] != "ds_live_"+id+"_"+secret {
				t.Errorf("id, client_id, client_secret and key disagree: %s", r.raw)
			}
			if b["scope"] != tt.scope || b["token_lifetime"] != tt.lifetime {
				t.Errorf("scope %v, lifetime %v; want %q, %v", b["scope"], b["token_lifetime"], tt.scope, tt.lifetime)
			}
			if c, _ := b["created_at"].(float64); int64(c) < begin || int64(c) > time.Now().Unix() {
				t.Errorf("created_at %v is not now in unix seconds", b["created_at"])
			}
			if _, ok := b["revoked_at"]; ok {
				t.Error("a new key shows revoked_at")
			}
			if got := exchange(t, base, b["key"].(string), ""); got == "" {
				t.Error("the new key mints nothing")
			}
		})
	}
}

func TestAdminListAndRevoke(t *testing.T) {
	_, base, admin := testServer(t)
	all := exchange(t, base, admin, "")
	created := call(t, "POST", base+"/v1/api_keys", all, `{"name":"k","scope":"read:users"}`)
	if created.status != 201 {
		t.Fatal(created.raw)
	}
	id, key := created.body["id"].(string), created.body["key"].(string)
	secret := created.body["client_secret"].(string)
	keyToken := exchange(t, base, key, "")

	list := func() map[string]map[string]any {
		t.Helper()
		r := call(t, "GET", base+"/v1/api_keys", all, "")
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		if strings.Contains(r.raw, secret) {
			t.Error("the list shows a secret")
		}
		byID := map[string]map[string]any{}
		for _, k := range r.body["api_keys"].([]any) {
			k := k.(map[string]any)
			for f := range k {
				if !slices.Contains([]string{"id", "name", "scope", "token_lifetime", "created_at", "revoked_at"}, f) {
					t.Errorf("listed key has field %q", f)
				}
			}
			byID[k["id"].(string)] = k
		}
		return byID
	}
	if got := list(); len(got) != 2 || got[id]["scope"] != "read:users" || got[id]["name"] != "k" {
		t.Fatalf("list before revocation: %v", got)
	}
	if r := call(t, "GET", base+"/v1/api_keys", keyToken, ""); r.status != 403 {
		t.Errorf("list without read:api_keys: %d", r.status)
	}

	for _, step := range []struct {
		name   string
		id     string
		status int
	}{
		{"revoke", id, 204},
		{"revoke again", id, 204},
		{"unknown id", "AAAAAAAAAAAAAAAA", 404},
		{"malformed id", "not-an-id", 404},
		{"over-long id", strings.Repeat("a", 2000), 404},
	} {
		t.Run(step.name, func(t *testing.T) {
			if r := call(t, "DELETE", base+"/v1/api_keys/"+step.id, all, ""); r.status != step.status {
				t.Errorf("status %d, want %d: %s", r.status, step.status, r.raw)
			}
		})
	}
	got := list()
	if rev, ok := got[id]["revoked_at"].(float64); !ok || rev < got[id]["created_at"].(float64) {
		t.Errorf("revoked key listed as %v", got[id])
	}
	if _, ok := got[strings.Split(admin, "_")[2]]["revoked_at"]; ok {
		t.Error("the admin key shows revoked_at")
	}
	// Revocation is immediate: the key's token and the key itself stop.
	if r := call(t, "GET", base+"/v1/staff", keyToken, ""); r.status != 401 {
		t.Errorf("token of a revoked key: %d", r.status)
	}
	if r := call(t, "POST", base+"/oauth/token", key, ""); r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("revoked key exchanged: %d %s", r.status, r.raw)
	}
	if r := call(t, "DELETE", base+"/v1/api_keys/"+id, keyToken, ""); r.status != 401 {
		t.Errorf("delete with a revoked token: %d", r.status)
	}
}

func TestDemoResources(t *testing.T) {
	_, base, admin := testServer(t)
	tests := []struct {
		path, scope string
		status      int
		member      string
	}{
		{"/v1/staff", "read:users", 200, "staff"},
		{"/v1/participants", "read:participants", 200, "participants"},
		{"/v1/staff", "read:participants", 403, ""},
		{"/v1/participants", "read:users", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" with "+tt.scope, func(t *testing.T) {
			r := call(t, "GET", base+tt.path, exchange(t, base, admin, tt.scope), "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if list, ok := r.body[tt.member].([]any); tt.member != "" && (!ok || len(list) == 0) {
				t.Errorf("body %s lacks a %q list", r.raw, tt.member)
			}
		})
	}
}

var _ net.Addr = fakeAddr("")
