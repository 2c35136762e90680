package main

// In-process tests of the operations: the bootstrap key and its claims, the
// configuration from flags and environment, the command line's exit
// statuses, the metrics' labels and the log lines.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/token"
)

// failingWriter is a stdout that cannot be written: closed, or a pipe whose
// reader is gone.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestFinding6BootstrapKeyNeverStoredUnseen: when the bootstrap key cannot
// be printed, it is not stored (issue 11, finding 6: it used to be stored
// first, leaving an admin key nobody saw), and the next start prints and
// stores one at once.
func TestFinding6BootstrapKeyNeverStoredUnseen(t *testing.T) {
	ctx := context.Background()
	st := memStore()
	_, err := startServer(ctx, testConfig(), st, discard(), failingWriter{})
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("start with a closed stdout: %v, want EPIPE", err)
	}
	if held, err := st.Keys(ctx, "", 0); err != nil || len(held) != 0 {
		t.Fatalf("after a failed print the store holds %d keys (%v); want none", len(held), err)
	}

	begin := time.Now()
	var out bytes.Buffer
	s, err := startServer(ctx, testConfig(), st, discard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(begin) > claimGrace/2 {
		t.Errorf("the next start waited %v for the abandoned claim", time.Since(begin))
	}
	m := bootstrapLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the next start printed %q, want a bootstrap key", out.String())
	}
	k, err := keys.Parse(keyPrefix, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys().Authenticate(ctx, k); err != nil {
		t.Errorf("the printed key: %v", err)
	}
}

// TestBootstrapRace starts servers at once on one empty store: exactly one
// prints a bootstrap key, and the store holds exactly that key.
func TestBootstrapRace(t *testing.T) {
	ctx := context.Background()
	st := memStore()
	const n = 8
	outs := make([]bytes.Buffer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := startServer(ctx, testConfig(), st, discard(), &outs[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	printed := 0
	for i := range outs {
		if bootstrapLine.MatchString(outs[i].String()) {
			printed++
		} else if outs[i].Len() > 0 {
			t.Errorf("stdout %q", outs[i].String())
		}
	}
	held, _ := st.Keys(ctx, "", 0)
	if printed != 1 || len(held) != 1 {
		t.Errorf("%d bootstrap keys printed, %d stored; want 1 and 1", printed, len(held))
	}
}

// TestBootstrapStaleClaim: a claim by a process that died between claiming
// and storing is given up once claimGrace has passed since it was made.
func TestBootstrapStaleClaim(t *testing.T) {
	ctx := context.Background()
	st := memStore()
	old := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	if _, err := st.InitSetting(ctx, claimSetting+"1", []byte("AAAAAAAAAAAAAAAA "+old)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := startServer(ctx, testConfig(), st, discard(), &out); err != nil {
		t.Fatal(err)
	}
	if !bootstrapLine.MatchString(out.String()) {
		t.Errorf("stdout %q, want a bootstrap key", out.String())
	}
}

// TestStartLogsWhenNoBootstrapKey: a start on a store that holds keys says
// that it printed no key and names the command that makes one.
func TestStartLogsWhenNoBootstrapKey(t *testing.T) {
	ctx := context.Background()
	st := memStore()
	if _, err := startServer(ctx, testConfig(), st, discard(), io.Discard); err != nil {
		t.Fatal(err)
	}
	var log, out bytes.Buffer
	if _, err := startServer(ctx, testConfig(), st, slog.New(slog.NewTextHandler(&log, nil)), &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(log.String(), "level=INFO") ||
		!strings.Contains(log.String(), "no bootstrap admin key was printed") || !strings.Contains(log.String(), "tokenserver admin-key") {
		t.Errorf("stdout %q, log %q", out.String(), log.String())
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr string // in the usage error
	}{
		{"defaults", nil, nil, func(c config) bool {
			return c.addr == "127.0.0.1:8080" && c.db == "keyturn.db" && c.alg == token.EdDSA && c.format == token.JWT &&
				c.logFormat == "text" && c.logLevel == "info" && c.scopes.IsEmpty() && c.metricsAddr == ""
		}, ""},
		{"from the environment", nil, map[string]string{
			"KEYTURN_ADDR": "127.0.0.1:9", "KEYTURN_DB": "memory", "KEYTURN_ALG": "RS256", "KEYTURN_TOKEN_FORMAT": "opaque",
			"KEYTURN_SCOPE": "users:read users:write", "KEYTURN_LOG_FORMAT": "json", "KEYTURN_LOG_LEVEL": "debug",
			"KEYTURN_METRICS_ADDR": "127.0.0.1:0", "KEYTURN_ISSUER": "https://as.test", "KEYTURN_AUDIENCE": "https://api.test",
			"KEYTURN_USER": "ada:pw:read:users\nbob:pw:read:participants\n",
		}, func(c config) bool {
			return c.addr == "127.0.0.1:9" && c.db == "memory" && c.alg == token.RS256 && c.format == token.Opaque &&
				c.scopes.String() == "users:read users:write" && c.logFormat == "json" && c.logLevel == "debug" &&
				c.metricsAddr == "127.0.0.1:0" && c.issuer == "https://as.test" && c.audience == "https://api.test" && len(c.users) == 2
		}, ""},
		{"the command line wins", []string{"-db", "other.db", "-alg", "ES256"}, map[string]string{"KEYTURN_DB": "memory", "KEYTURN_ALG": "RS256"},
			func(c config) bool { return c.db == "other.db" && c.alg == token.ES256 }, ""},
		{"an empty variable is unset", nil, map[string]string{"KEYTURN_DB": ""}, func(c config) bool { return c.db == "keyturn.db" }, ""},
		{"a bad variable", nil, map[string]string{"KEYTURN_ALG": "HS256-secret"}, nil, "KEYTURN_ALG: want EdDSA"},
		{"a bad log level", nil, map[string]string{"KEYTURN_LOG_LEVEL": "loud"}, nil, "KEYTURN_LOG_LEVEL"},
		{"a bad scope", nil, map[string]string{"KEYTURN_SCOPE": `a"b`}, nil, "KEYTURN_SCOPE"},
		{"a bad flag", []string{"-token-format", "paseto"}, nil, nil, "want jwt or opaque"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			fs := c.serverFlags()
			fs.SetOutput(io.Discard)
			err := fs.Parse(tt.args)
			if err == nil {
				err = applyEnv(fs, func(k string) string { return tt.env[k] })
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				for _, v := range tt.env {
					if strings.Contains(err.Error(), v) {
						t.Errorf("the error shows the value: %v", err)
					}
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Errorf("config %+v, %v", c, err)
			}
		})
	}
}

// TestUsage: -h lists every flag with its variable, and the secrets.
func TestUsage(t *testing.T) {
	var out, errs bytes.Buffer
	if code := (cli{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}).run([]string{"-h"}); code != 0 {
		t.Fatalf("-h exits %d", code)
	}
	c := defaultConfig()
	n := 0
	for name := range strings.FieldsSeq("addr db issuer audience resource tls-cert tls-key user alg token-format scope log-format log-level metrics-addr dpop-nonce") {
		n++
		if !strings.Contains(out.String(), "-"+name+" ") || !strings.Contains(out.String(), envName(name)) {
			t.Errorf("-h lacks -%s or %s", name, envName(name))
		}
	}
	c.serverFlags().VisitAll(func(*flag.Flag) { n-- })
	if n != 0 {
		t.Errorf("the server has flags this test does not know")
	}
	for _, v := range []string{"KEYTURN_PEPPER", "KEYTURN_KEK", "KEYTURN_OLD_KEK", "admin-key", "keys create", "seal", "version"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("-h lacks %s", v)
		}
	}
	if errs.Len() != 0 {
		t.Errorf("-h wrote to stderr: %q", errs.String())
	}
}

// TestCommandLine runs the subcommands in-process on a SQLite file: each
// success exits 0, each misuse 2 with one line on stderr, each failure 1.
func TestCommandLine(t *testing.T) {
	db := t.TempDir() + "/k.db"
	env := map[string]string{"KEYTURN_DB": db, "KEYTURN_PEPPER": "a pepper for the command line"}
	run := func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := cli{stdout: &out, stderr: &errs, getenv: func(k string) string { return env[k] }}.run(args)
		return code, out.String(), errs.String()
	}
	oneLine := func(t *testing.T, stderr string) {
		t.Helper()
		if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "tokenserver: ") {
			t.Errorf("stderr %q, want one line", stderr)
		}
	}
	code, out, _ := run("admin-key", "-log-level", "error")
	if code != 0 || !strings.HasPrefix(out, "admin key: ds_live_") {
		t.Fatalf("admin-key: %d %q", code, out)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"nonsense"}, 2},
		{[]string{"keys"}, 2},
		{[]string{"keys", "frob"}, 2},
		{[]string{"keys", "list", "extra"}, 2},
		{[]string{"keys", "list", "-bogus"}, 2},
		{[]string{"keys", "create"}, 2},
		{[]string{"keys", "create", "-scope", `a"b`}, 2},
		{[]string{"keys", "create", "-scope", "read:users", "-lifetime", "59"}, 2},
		{[]string{"keys", "create", "-scope", "read:users", "-expires-at", "1000"}, 2},
		{[]string{"keys", "revoke"}, 2},
		{[]string{"keys", "revoke", "a", "b"}, 2},
		{[]string{"keys", "revoke", "NoSuchKey0000000"}, 1},
		{[]string{"seal"}, 2}, // no KEYTURN_KEK
		{[]string{"version", "x"}, 2},
		{[]string{"-addr"}, 2},
		{[]string{"-alg", "none"}, 2},
		{[]string{"stray"}, 2},
	} {
		code, _, stderr := run(tt.args...)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d (%s)", tt.args, code, tt.code, stderr)
		}
		oneLine(t, stderr)
	}

	code, out, _ = run("keys", "create", "-name", "ci", "-scope", "read:users", "-lifetime", "120", "-log-level", "error")
	if code != 0 || !strings.Contains(out, `"client_secret"`) || !strings.Contains(out, `"token_lifetime":120`) {
		t.Fatalf("keys create: %d %q", code, out)
	}
	code, out, _ = run("keys", "list", "-log-level", "error")
	if code != 0 || strings.Count(out, "\n") != 2 || strings.Contains(out, "secret") {
		t.Fatalf("keys list: %d %q", code, out)
	}

	env["KEYTURN_PEPPER"] = "another pepper, long enough"
	code, _, stderr := run("keys", "list")
	if code != 1 || !strings.Contains(stderr, "pepper") {
		t.Errorf("keys list with another pepper: %d %q", code, stderr)
	}
	oneLine(t, stderr)
}

func TestFailureReasons(t *testing.T) {
	wrap := func(errs ...error) error { return fmt.Errorf("%w: %w", errs[0], errs[1]) }
	for _, tt := range []struct {
		ev   keyturn.Event
		want string
	}{
		{keyturn.Event{Err: fmt.Errorf("%w: no client credentials", keyturn.ErrInvalidClient)}, "no_credentials"},
		{keyturn.Event{Method: keyturn.BearerKey, Err: wrap(keyturn.ErrInvalidClient, keys.ErrMalformed)}, "malformed"},
		{keyturn.Event{Method: keyturn.BearerKey, Err: wrap(keyturn.ErrInvalidClient, keys.ErrChecksum)}, "malformed"},
		{keyturn.Event{Method: keyturn.ClientSecretBasic, Err: wrap(keyturn.ErrInvalidClient, keys.ErrInvalidKey)}, "invalid_credentials"},
		{keyturn.Event{Method: keyturn.ClientSecretBasic, Err: wrap(keyturn.ErrInvalidClient, keys.ErrRevoked)}, "revoked"},
		{keyturn.Event{Method: keyturn.ClientSecretBasic, Err: wrap(keyturn.ErrInvalidClient, keys.ErrExpired)}, "expired"},
		{keyturn.Event{Method: keyturn.ClientSecretBasic, Err: keyturn.ErrInvalidClient}, "invalid_client"},
		{keyturn.Event{Err: keyturn.ErrInvalidGrant}, "invalid_grant"},
		{keyturn.Event{Err: keyturn.ErrRateLimited}, "rate_limited"},
		{keyturn.Event{Err: errors.New("something new")}, "other"},
	} {
		if got := failureReason(tt.ev); got != tt.want {
			t.Errorf("failureReason(%v) = %q, want %q", tt.ev.Err, got, tt.want)
		}
	}
}

// TestOneLinePerFailedRequest: every refused or failed request logs exactly
// one line, whichever part of the server refused it, and a success at the
// token endpoint logs its token.
func TestOneLinePerFailedRequest(t *testing.T) {
	var log bytes.Buffer
	var out bytes.Buffer
	s, err := startServer(context.Background(), testConfig(), memStore(), slog.New(slog.NewJSONHandler(&log, nil)), &out)
	if err != nil {
		t.Fatal(err)
	}
	admin := bootstrapLine.FindStringSubmatch(out.String())[1]
	h := s.routes(true)
	do := func(method, path, auth, ctype, body string) int {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	const form = "application/x-www-form-urlencoded"
	for _, tt := range []struct {
		name                         string
		method, path, auth, ct, body string
		status                       int
		lines                        int
	}{
		{"token issued", "POST", "/oauth/token", "Bearer " + admin, "", "", 200, 1},
		{"bad key (an event)", "POST", "/oauth/token", "Bearer ds_live_x_y", "", "", 401, 1},
		{"no credentials (an event)", "POST", "/oauth/token", "", form, "grant_type=client_credentials", 401, 1},
		{"invalid_scope (the instrumentation)", "POST", "/oauth/token", "Bearer " + admin, form, "scope=nope", 400, 1},
		{"no token at a resource (the middleware)", "GET", "/v1/staff", "", "", "", 401, 1},
		{"a bad token at a resource", "GET", "/v1/staff", "Bearer nope", "", "", 401, 1},
		{"an unknown path", "GET", "/nope", "", "", "", 404, 1},
		{"healthz", "GET", "/healthz", "", "", "", 200, 0},
		{"readyz", "GET", "/readyz", "", "", "", 200, 0},
	} {
		log.Reset()
		if got := do(tt.method, tt.path, tt.auth, tt.ct, tt.body); got != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.status)
		}
		if n := strings.Count(log.String(), "\n"); n != tt.lines {
			t.Errorf("%s: %d log lines, want %d:\n%s", tt.name, n, tt.lines, log.String())
		}
		if strings.Contains(log.String(), admin[20:]) {
			t.Errorf("%s: the log holds the key's secret", tt.name)
		}
	}
}

// TestReadyz: 503 while the store does not answer, 200 again once it does.
func TestReadyz(t *testing.T) {
	st := memStore()
	var down error
	var mu sync.Mutex
	st.ping = func(context.Context) error { mu.Lock(); defer mu.Unlock(); return down }
	s, err := startServer(context.Background(), testConfig(), st, discard(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	h := s.routes(true)
	get := func() (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := get(); code != 200 || body != "{\"status\":\"ok\"}\n" {
		t.Errorf("ready: %d %q", code, body)
	}
	mu.Lock()
	down = errors.New("connection refused")
	mu.Unlock()
	if code, body := get(); code != http.StatusServiceUnavailable || body != "{\"status\":\"unavailable\"}\n" {
		t.Errorf("store down: %d %q", code, body)
	}
	mu.Lock()
	down = nil
	mu.Unlock()
	if code, _ := get(); code != 200 {
		t.Errorf("store back: %d", code)
	}
}
