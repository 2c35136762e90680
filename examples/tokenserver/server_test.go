package main

// In-process tests of the wiring: the bootstrap key, the default issuer, the
// log hook, and the admin API's fine print. The end-to-end test drives the
// built binary.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
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
)

var bootstrapLine = regexp.MustCompile(`^bootstrap admin key: (ds_live_[0-9A-Za-z]{16}_[0-9A-Za-z]{49})\n$`)

func testConfig() config {
	c := defaultConfig()
	c.issuer, c.audience = "http://keyturn.test", "http://keyturn.test"
	return c
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// memStore is a memory store as openStore opens it.
func memStore() *openedStore {
	st, err := openStore(context.Background(), "memory")
	if err != nil {
		panic(err)
	}
	return st
}

// start assembles a server over st and bootstraps it, printing to out.
func startServer(ctx context.Context, c config, st *openedStore, log *slog.Logger, out io.Writer) (*server, error) {
	s, err := newServer(ctx, c, st, log, newMetrics())
	if err != nil {
		return nil, err
	}
	return s, s.bootstrap(ctx, out)
}

func TestBootstrapOnce(t *testing.T) {
	ctx := context.Background()
	st := memStore()
	var out bytes.Buffer
	s, err := startServer(ctx, testConfig(), st, discard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	m := bootstrapLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("stdout %q is not one bootstrap line", out.String())
	}
	listed, err := s.Keys().List(ctx, "", 0)
	if err != nil || len(listed) != 1 {
		t.Fatalf("%d keys, %v", len(listed), err)
	}
	if got := listed[0].Scope; !got.Equal(scope.MustParse(builtinScopes)) {
		t.Errorf("bootstrap scope %q, want %q", got, builtinScopes)
	}
	if !strings.HasPrefix(m[1], "ds_live_"+listed[0].ID+"_") {
		t.Error("the printed key is not the stored one")
	}

	t.Run("restart prints nothing", func(t *testing.T) {
		var again bytes.Buffer
		if _, err := startServer(ctx, testConfig(), st, discard(), &again); err != nil {
			t.Fatal(err)
		}
		if again.Len() != 0 {
			t.Errorf("second start printed %q", again.String())
		}
	})
	t.Run("a revoked key still counts", func(t *testing.T) {
		if err := s.Keys().Revoke(ctx, listed[0].ID); err != nil {
			t.Fatal(err)
		}
		var again bytes.Buffer
		if _, err := startServer(ctx, testConfig(), st, discard(), &again); err != nil {
			t.Fatal(err)
		}
		if again.Len() != 0 {
			t.Errorf("start after revocation printed %q", again.String())
		}
	})
}

func TestBackgroundSweeps(t *testing.T) {
	ctx := context.Background()
	st := memStore()
	c := testConfig()
	c.sweepEvery = time.Millisecond
	s, err := startServer(ctx, c, st, discard(), io.Discard)
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
	bg, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { s.Run(bg); close(stopped) }()
	listed := func(id string) bool {
		t.Helper()
		revs, err := st.RevocationsSince(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(revs, func(r storage.Revocation) bool { return r.Kind == storage.RevokedToken && r.ID == id })
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if !listed("expired") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired revocation was never swept")
		}
	}
	stop()
	<-stopped // Run returns once all of its work has stopped
	if !listed("live") {
		t.Error("the sweep took a live revocation")
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
		{"pepper and KEK", map[string]string{"KEYTURN_PEPPER": "a pepper of 16 bytes at least", "KEYTURN_KEK": kek}, 32, true},
		{"pepper too short", map[string]string{"KEYTURN_PEPPER": "fifteen bytes!!"}, 0, false},
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
			if err != nil && tt.env["KEYTURN_PEPPER"] != "" && strings.Contains(err.Error(), tt.env["KEYTURN_PEPPER"]) {
				t.Errorf("the error shows the pepper: %v", err)
			}
			if len(c.kek) != tt.kekLen || err == nil && string(c.pepper) != tt.env["KEYTURN_PEPPER"] {
				t.Errorf("kek %d bytes, pepper %q", len(c.kek), c.pepper)
			}
		})
	}
}

// TestStoreSecrets checks that the KEK seals the signing keys and the
// pepper keys the hashes: a restart with another KEK or pepper, or without
// one, refuses to start (the pepper through the store's fingerprint of it,
// issue 11 finding 7).
func TestStoreSecrets(t *testing.T) {
	ctx := context.Background()
	const pepper1 = "the first pepper, long enough"
	with := func(pepper string, kek byte) config {
		c := testConfig()
		c.pepper = []byte(pepper)
		if kek != 0 {
			c.kek = bytes.Repeat([]byte{kek}, 32)
		}
		return c
	}
	st := memStore()
	var out bytes.Buffer
	if _, err := startServer(ctx, with(pepper1, 1), st, discard(), &out); err != nil {
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
		{"same pepper and KEK", with(pepper1, 1), true, true},
		{"another pepper", with("the second pepper, long enough", 1), false, false},
		{"no pepper", with("", 1), false, false},
		{"another KEK", with(pepper1, 2), false, false},
		{"no KEK", with(pepper1, 0), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := startServer(ctx, tt.c, st, discard(), io.Discard)
			if (err == nil) != tt.starts {
				t.Fatalf("start: %v, want it to start: %v", err, tt.starts)
			}
			if err != nil {
				return
			}
			if _, err := s.Keys().Authenticate(ctx, admin); (err == nil) != tt.ok {
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
	s, err := startServer(context.Background(), testConfig(), memStore(), discard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.routes(true))
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
