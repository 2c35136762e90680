package main

// End-to-end tests of the operations side, against the built binary:
// configuration from the environment, health, readiness and metrics, JSON
// logs, the signing algorithm and opaque tokens, the subcommands and their
// exit statuses, and the bootstrap rules.

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keyturn/keyturn/keys"
)

// runTool runs the binary to completion with env added to the environment
// and returns its exit status, stdout and stderr.
func runTool(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(build(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errs.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errs.String()
	}
	t.Fatalf("running %v: %v", args, err)
	return 0, "", ""
}

// wantExit checks a command's exit status and, for a failure, that stderr
// is one line saying why.
func wantExit(t *testing.T, what string, code, want int, stderr string) {
	t.Helper()
	if code != want {
		t.Errorf("%s: exit %d, want %d; stderr %q", what, code, want, stderr)
		return
	}
	if want != 0 && (strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "tokenserver: ")) {
		t.Errorf("%s: stderr %q, want one line", what, stderr)
	}
}

// metricFamilies scrapes url and parses it with the Prometheus text parser.
func metricFamilies(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("the metrics do not parse: %v", err)
	}
	return fams
}

// sample returns the value of the counter, or the count of the histogram,
// with exactly the given labels (0 when there is none).
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// TestEndToEndOperations configures the server from the environment alone
// (JSON logs, extra scopes, a metrics listener, a user), drives /healthz,
// /readyz and /metrics, checks that the counters move by exactly the tokens
// issued and the failures caused, and that every log line is one JSON object
// holding no secret.
func TestEndToEndOperations(t *testing.T) {
	env := append([]string{
		"KEYTURN_LOG_FORMAT=json", "KEYTURN_SCOPE=users:read users:write", "KEYTURN_METRICS_ADDR=127.0.0.1:0",
		"KEYTURN_USER=ada:correct horse:read:users users:read",
		"KEYTURN_DB=" + filepath.Join(t.TempDir(), "no-such-dir", "never.db"), // the -db flag wins
	}, secrets...)
	p := start(t, env, "memory")
	admin := p.bootstrapKey()
	p.waitLog(`"msg":"serving metrics"`)
	metricsURL := ""
	for _, l := range p.stderr {
		var line struct{ Msg, Addr string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "serving metrics" {
			metricsURL = "http://" + line.Addr + "/metrics"
		}
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		if r := p.want(p.do("GET", path, nil, ""), 200, path); r.raw != "{\"status\":\"ok\"}\n" {
			t.Errorf("%s: %q", path, r.raw)
		}
	}
	p.want(p.do("GET", "/metrics", nil, ""), 404, "/metrics on the main listener with -metrics-addr")
	r := p.want(p.do("GET", "/.well-known/oauth-authorization-server", nil, ""), 200, "metadata")
	if s, _ := r.body["scopes_supported"].([]any); !slices.Contains(s, any("users:read")) || !slices.Contains(s, any("users:write")) || len(s) != 8 {
		t.Errorf("scopes_supported %v, want the built-in ones and KEYTURN_SCOPE's", s)
	}

	before := metricFamilies(t, metricsURL)
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "keyturn_auth_failures_total", "keyturn_revocations_total"} {
		if before[name] == nil {
			t.Errorf("the metrics lack %s", name)
		}
	}

	// Three tokens, in three ways; the bootstrap key holds KEYTURN_SCOPE.
	r = p.want(p.do("POST", "/oauth/token", bearer(admin), ""), 200, "bearer key")
	if !strings.Contains(r.body["scope"].(string), "users:write") {
		t.Errorf("the bootstrap key's token lacks KEYTURN_SCOPE: %s", r.raw)
	}
	adminToken := r.body["access_token"].(string)
	id, secret := split(admin)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	p.want(p.do("POST", "/v1/oauth2/token", map[string]string{"Authorization": basic, "Content-Type": form}, "grant_type=client_credentials&scope=read:users"), 200, "basic")
	r = p.want(p.do("POST", "/authorization", map[string]string{"Content-Type": form}, "username=ada&password="+url.QueryEscape("correct horse")), 200, "password")
	userToken := r.body["access_token"].(string)
	// Four failures: a malformed key, a wrong secret, no credentials, a
	// wrong password; and a refusal that is no authentication failure.
	p.want(p.do("POST", "/oauth/token", bearer("ds_live_x_y"), ""), 401, "malformed key")
	unknown, err := keys.Generate(keyPrefix, nil) // well formed, never stored
	if err != nil {
		t.Fatal(err)
	}
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte(unknown.ID()+":"+unknown.ClientSecret()))
	p.want(p.do("POST", "/oauth/token", map[string]string{"Authorization": wrong, "Content-Type": form}, "grant_type=client_credentials"), 401, "unknown key")
	p.want(p.do("POST", "/oauth/token", map[string]string{"Content-Type": form}, "grant_type=client_credentials"), 401, "no credentials")
	p.want(p.do("POST", "/authorization", map[string]string{"Content-Type": form}, "username=ada&password=nope"), 400, "wrong password")
	p.want(p.do("POST", "/oauth/token", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": form}, "scope=nothing:here"), 400, "invalid_scope")
	// One token revoked, one key revoked.
	p.want(p.do("POST", "/oauth/revoke", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": form}, "token="+adminToken), 200, "revoke")
	r = p.want(p.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + p.tokenFor(admin), "Content-Type": js},
		`{"name":"short-lived","scope":"users:read"}`), 201, "create")
	p.want(p.do("DELETE", "/v1/api_keys/"+r.body["id"].(string), bearer(p.tokenFor(admin)), ""), 204, "delete")
	// tokenFor issued two more tokens by Bearer key.

	after := metricFamilies(t, metricsURL)
	for _, c := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"keyturn_tokens_issued_total", []string{"grant", "client_credentials", "auth_method", "bearer_key"}, 3},
		{"keyturn_tokens_issued_total", []string{"grant", "client_credentials", "auth_method", "client_secret_basic"}, 1},
		{"keyturn_tokens_issued_total", []string{"grant", "password", "auth_method", "none"}, 1},
		{"keyturn_auth_failures_total", []string{"reason", "malformed"}, 1},
		{"keyturn_auth_failures_total", []string{"reason", "invalid_credentials"}, 1},
		{"keyturn_auth_failures_total", []string{"reason", "no_credentials"}, 1},
		{"keyturn_auth_failures_total", []string{"reason", "invalid_grant"}, 1},
		{"keyturn_auth_failures_total", []string{"reason", "revoked"}, 0},
		{"keyturn_token_requests_total", []string{"endpoint", "/oauth/token", "code", "200"}, 3},
		{"keyturn_token_requests_total", []string{"endpoint", "/oauth/token", "code", "401"}, 3},
		{"keyturn_token_requests_total", []string{"endpoint", "/oauth/token", "code", "400"}, 1},
		{"keyturn_token_requests_total", []string{"endpoint", "/v1/oauth2/token", "code", "200"}, 1},
		{"keyturn_token_requests_total", []string{"endpoint", "/authorization", "code", "200"}, 1},
		{"keyturn_token_requests_total", []string{"endpoint", "/authorization", "code", "400"}, 1},
		{"keyturn_token_requests_total", []string{"endpoint", "/oauth/revoke", "code", "200"}, 1},
		{"keyturn_token_request_duration_seconds", []string{"endpoint", "/oauth/token"}, 7},
		{"keyturn_revocations_total", []string{"kind", "token"}, 1},
		{"keyturn_revocations_total", []string{"kind", "key"}, 1},
	} {
		if d := sample(after, c.name, c.labels...) - sample(before, c.name, c.labels...); d != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.delta)
		}
	}
	for name, f := range after {
		if !strings.HasPrefix(name, "keyturn_") {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if v := l.GetValue(); strings.Contains(v, id) || strings.Contains(v, "ada") || len(v) > 40 {
					t.Errorf("%s has a label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}

	p.stop()
	if len(p.stdout) != 1 {
		t.Errorf("stdout %q, want the bootstrap line only", p.stdout)
	}
	all := strings.Join(p.stderr, "\n")
	for i, l := range p.stderr {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil || obj["level"] == nil || obj["msg"] == nil || obj["time"] == nil {
			t.Errorf("log line %d is not one JSON object with time, level and msg: %q", i+1, l)
		}
	}
	for _, want := range []string{`"msg":"keyturn: token issued"`, `"msg":"keyturn: authentication failed"`, `"msg":"request failed"`,
		`"msg":"keyturn: api key created"`, `"msg":"keyturn: api key revoked"`, `"error":"invalid_scope"`} {
		if !strings.Contains(all, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if strings.Contains(all, "KEYTURN_PEPPER is not set") || strings.Contains(all, "KEYTURN_KEK is not set") {
		t.Error("a WARN about a secret that is set")
	}
	for _, s := range []string{secret, secret[:12], "correct horse", "correct+horse", adminToken[strings.LastIndexByte(adminToken, '.')+1:][:12],
		userToken[strings.LastIndexByte(userToken, '.')+1:][:12], "e2e-pepper"} {
		if strings.Contains(all, s) {
			t.Errorf("the log holds a secret or token (%.4s…)", s)
		}
	}
}

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startQuiet starts a server that logs too little to announce its address
// (-log-level warn) on a free port and waits until /healthz answers.
func startQuiet(t *testing.T, env []string, db string, extra ...string) *proc {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(build(t), append([]string{"-addr", addr, "-db", db}, extra...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, client: client, base: "http://" + addr, quiet: true, done: make(chan struct{}), edone: make(chan struct{})}
	p.issuer = p.base
	for rd, dst := range map[io.Reader]*[]string{stdout: &p.stdout, stderr: &p.stderr} {
		done := p.done
		if dst == &p.stderr {
			done = p.edone
		}
		go func() {
			defer close(done)
			sc := bufio.NewScanner(rd)
			for sc.Scan() {
				p.mu.Lock()
				*dst = append(*dst, sc.Text())
				p.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := client.Get(p.base + "/healthz"); err == nil {
			res.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never answered /healthz")
		}
	}
}

// TestEndToEndRS256 issues RS256 tokens (-alg) and verifies one with an
// independent JWT library against the JWKS; -log-level warn keeps the INFO
// lines out of the log.
func TestEndToEndRS256(t *testing.T) {
	p := startQuiet(t, secrets, "memory", "-alg", "RS256", "-log-level", "warn")
	admin := p.bootstrapKey()
	tok := p.tokenFor(admin)
	jwks := p.want(p.do("GET", "/.well-known/jwks.json", nil, ""), 200, "jwks")
	if !strings.HasSuffix(jwks.raw, "}\n") {
		t.Errorf("the JWKS does not end in a newline: %q", jwks.raw[max(0, len(jwks.raw)-10):])
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range jwks.body["keys"].([]any) {
		k := k.(map[string]any)
		if k["kty"] != "RSA" || k["alg"] != "RS256" {
			t.Errorf("JWKS key %v, want RSA for RS256", k)
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
		e, _ := base64.RawURLEncoding.DecodeString(k["e"].(string))
		keys[k["kid"].(string)] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		if tk.Header["typ"] != "at+jwt" {
			return nil, fmt.Errorf("typ %v", tk.Header["typ"])
		}
		k, ok := keys[fmt.Sprint(tk.Header["kid"])]
		if !ok {
			return nil, errors.New("kid not in the JWKS")
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(p.issuer), jwt.WithAudience(p.issuer), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt refuses the RS256 token: %v", err)
	}
	p.want(p.do("GET", "/v1/staff", bearer(tok), ""), 200, "RS256 token at a resource")
	p.stop()
	for _, l := range p.stderr {
		if strings.Contains(l, "level=INFO") {
			t.Errorf("an INFO line at -log-level warn: %s", l)
		}
	}
}

// TestEndToEndOpaque issues opaque tokens (KEYTURN_TOKEN_FORMAT) and uses
// them at the demo resources, introspection and revocation.
func TestEndToEndOpaque(t *testing.T) {
	p := start(t, append([]string{"KEYTURN_TOKEN_FORMAT=opaque"}, secrets...), "memory", demoUser...)
	admin := p.bootstrapKey()
	tok := p.tokenFor(admin)
	if strings.Count(tok, ".") == 2 {
		t.Fatalf("token %q looks like a JWT", tok[:20])
	}
	r := p.want(p.do("POST", "/authorization", map[string]string{"Content-Type": form}, "username=ada&password="+url.QueryEscape("correct horse")), 200, "password")
	userToken := r.body["access_token"].(string)
	for _, tk := range []string{tok, userToken} {
		p.want(p.do("GET", "/v1/staff", bearer(tk), ""), 200, "opaque token at /v1/staff")
		p.want(p.do("GET", "/v1/participants", bearer(tk), ""), 200, "opaque token at /v1/participants")
	}
	p.want(p.do("GET", "/v1/staff", bearer(tok+"x"), ""), 401, "a made-up opaque token")
	intro := func(tk string) resp {
		return p.do("POST", "/oauth/introspect", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": form}, "token="+url.QueryEscape(tk))
	}
	id, _ := split(admin)
	if r := p.want(intro(tok), 200, "introspect"); r.body["active"] != true || r.body["client_id"] != id || r.body["token_type"] != "Bearer" {
		t.Errorf("introspection of an opaque token: %s", r.raw)
	}
	if r := p.want(intro(userToken), 200, "introspect"); r.body["active"] != true || r.body["sub"] != "ada" {
		t.Errorf("introspection of a password-flow opaque token: %s", r.raw)
	}
	p.want(p.do("POST", "/oauth/revoke", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": form}, "token="+url.QueryEscape(tok)), 200, "revoke")
	p.want(p.do("GET", "/v1/staff", bearer(tok), ""), 401, "a revoked opaque token")
	if r := intro(tok); r.raw != "{\"active\":false}\n" {
		t.Errorf("a revoked opaque token introspects as %s", r.raw)
	}
	p.stop()
}

// TestEndToEndSubcommands drives every subcommand against a SQLite file the
// server also uses: success exits 0, bad usage 2, failure 1, each failure
// with one line on stderr.
func TestEndToEndSubcommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyturn.db")
	const pepper = "KEYTURN_PEPPER=subcommand-pepper-0123456789"
	env := []string{"KEYTURN_DB=" + db, pepper}

	code, out, stderr := runTool(t, nil, "version")
	wantExit(t, "version", code, 0, stderr)
	if !strings.HasPrefix(out, "tokenserver ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %q", out)
	}
	// An admin key on an empty store: printed, then usable.
	code, out, stderr = runTool(t, env, "admin-key", "-scope", "users:read")
	wantExit(t, "admin-key", code, 0, stderr)
	admin, ok := strings.CutPrefix(strings.TrimSpace(out), "admin key: ds_live_")
	if !ok || strings.Count(out, "\n") != 1 || !strings.Contains(stderr, "api key created") || !strings.Contains(stderr, "by=\"command line\"") {
		t.Fatalf("admin-key: stdout %q, stderr %q", out, stderr)
	}
	admin = "ds_live_" + admin
	future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	code, out, stderr = runTool(t, env, "keys", "create", "-name", "ci", "-scope", "read:users", "-lifetime", "120", "-expires-at", future)
	wantExit(t, "keys create", code, 0, stderr)
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil || created["key"] == nil || created["client_secret"] == nil ||
		created["token_lifetime"] != 120.0 || created["scope"] != "read:users" || created["expires_at"] != mustFloat(future) {
		t.Fatalf("keys create: %q %v", out, err)
	}
	if strings.Contains(stderr, created["client_secret"].(string)[:12]) {
		t.Error("keys create logged the secret")
	}

	// The server, on the same file, with -db from the environment: the
	// keys made on the command line work, and keys made through it have
	// owners, for the cascade.
	p := start(t, env, db, "-issuer", "http://keyturn.test")
	for _, l := range p.stdout {
		t.Errorf("the server printed %q on a store that holds keys", l)
	}
	p.waitLog("tokenserver admin-key")
	r := p.want(p.do("POST", "/oauth/token", bearer(created["key"].(string)), ""), 200, "a key from keys create")
	if r.body["expires_in"] != 120.0 {
		t.Errorf("token of a 120 s key: %s", r.raw)
	}
	create := func(tok, body string) string {
		r := p.want(p.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": js}, body), 201, "create")
		return r.body["key"].(string)
	}
	k1 := create(p.tokenFor(admin), `{"name":"k1","scope":"write:api_keys read:users"}`)
	k2 := create(p.tokenFor(k1), `{"name":"k2","scope":"read:users"}`)
	k3 := create(p.tokenFor(admin), `{"name":"k3","scope":"read:users"}`)
	k1ID, _ := split(k1)
	k2ID, _ := split(k2)
	code, out, stderr = runTool(t, env, "keys", "revoke", "-cascade", k1ID)
	wantExit(t, "keys revoke -cascade", code, 0, stderr)
	if out != "revoked "+k1ID+"\nrevoked "+k2ID+"\n" {
		t.Errorf("keys revoke -cascade printed %q", out)
	}
	if strings.Count(stderr, "api key revoked") != 2 {
		t.Errorf("keys revoke -cascade logged %q", stderr)
	}
	for _, k := range []string{k1, k2} {
		p.want(p.do("POST", "/oauth/token", bearer(k), ""), 401, "a key revoked by cascade")
	}
	p.want(p.do("POST", "/oauth/token", bearer(k3), ""), 200, "a sibling outside the cascade")
	k3ID, _ := split(k3)
	code, out, stderr = runTool(t, env, "keys", "revoke", k3ID)
	wantExit(t, "keys revoke", code, 0, stderr)
	p.want(p.do("POST", "/oauth/token", bearer(k3), ""), 401, "a key revoked on the command line")
	keepToken := p.tokenFor(admin)
	p.stop()

	code, out, stderr = runTool(t, env, "keys", "list")
	wantExit(t, "keys list", code, 0, stderr)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	revoked := 0
	for _, l := range lines {
		var k map[string]any
		if err := json.Unmarshal([]byte(l), &k); err != nil || k["id"] == nil || k["scope"] == nil {
			t.Errorf("keys list line %q: %v", l, err)
		}
		if k["revoked_at"] != nil {
			revoked++
		}
		if k["id"] == k2ID && k["owner"] != k1ID {
			t.Errorf("k2's owner %v, want k1", k["owner"])
		}
		// The library's entries: the key made here has no owner, its
		// expiry, and the server recorded its exchange (written before
		// the server exited); k2 was never exchanged.
		if k["id"] == created["id"] {
			used, _ := k["last_used_at"].(float64)
			if k["owner"] != "" || k["expires_at"] != mustFloat(future) || used < k["created_at"].(float64) || used > float64(time.Now().Unix()) {
				t.Errorf("the key from keys create listed as %v", k)
			}
		}
		if _, ok := k["last_used_at"]; k["id"] == k2ID && ok {
			t.Errorf("k2, never exchanged, listed as %v", k)
		}
	}
	if len(lines) != 5 || revoked != 3 || strings.Contains(out, "secret") || strings.Contains(out, "hash") {
		t.Errorf("keys list: %d lines, %d revoked: %s", len(lines), revoked, out)
	}

	// Sealing: needs KEYTURN_KEK; seals once; a second run changes nothing;
	// the server then needs the KEK, and the tokens from before still work.
	code, _, stderr = runTool(t, env, "seal")
	wantExit(t, "seal without KEYTURN_KEK", code, 2, stderr)
	kek := "KEYTURN_KEK=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	code, out, stderr = runTool(t, append(env, kek), "seal")
	wantExit(t, "seal", code, 0, stderr)
	if out != "sealed 1 signing key under KEYTURN_KEK\n" {
		t.Errorf("seal: %q", out)
	}
	code, out, stderr = runTool(t, append(env, kek), "seal")
	wantExit(t, "seal again", code, 0, stderr)
	if out != "sealed 0 signing keys under KEYTURN_KEK\n" {
		t.Errorf("seal again: %q", out)
	}
	sealedInStore(t, "sqlite", db)
	code, _, stderr = runTool(t, env, "keys", "list")
	wantExit(t, "keys list without the KEK after sealing", code, 1, stderr)
	p = start(t, append(env, kek), db, "-issuer", "http://keyturn.test")
	p.want(p.do("GET", "/v1/staff", bearer(keepToken), ""), 200, "a token from before sealing")
	p.stop()

	// Another pepper: refused at once, by the subcommands and the server.
	other := []string{"KEYTURN_DB=" + db, "KEYTURN_PEPPER=another-pepper-0123456789", kek}
	code, _, stderr = runTool(t, other, "keys", "list")
	wantExit(t, "keys list with another pepper", code, 1, stderr)
	if !strings.Contains(stderr, "pepper") || strings.Contains(stderr, "another-pepper") {
		t.Errorf("another pepper: %q", stderr)
	}
	code, _, stderr = runTool(t, other, "-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "pepper") {
		t.Errorf("the server with another pepper: exit %d, %q", code, stderr)
	}
	code, _, stderr = runTool(t, []string{"KEYTURN_DB=" + db, "KEYTURN_PEPPER=short"}, "keys", "list")
	wantExit(t, "a short pepper", code, 2, stderr)

	for _, args := range [][]string{
		{"bogus"}, {"keys"}, {"keys", "frob"}, {"keys", "create"}, {"keys", "create", "-scope", "read:users", "-lifetime", "30"},
		{"keys", "create", "-scope", "read:users", "-expires-at", "1"}, {"keys", "revoke"}, {"keys", "list", "extra"},
		{"admin-key", "-nosuchflag"}, {"seal", "extra"}, {"version", "extra"}, {"-nosuchflag"}, {"-alg", "HS256"},
	} {
		code, _, stderr := runTool(t, append(env, kek), args...)
		wantExit(t, strings.Join(args, " "), code, 2, stderr)
	}
	code, _, stderr = runTool(t, append(env, kek), "keys", "revoke", "NoSuchKey0000000")
	wantExit(t, "revoking an unknown key", code, 1, stderr)
	code, out, _ = runTool(t, nil, "keys", "create", "-h")
	if code != 0 || !strings.Contains(out, "-expires-at") {
		t.Errorf("keys create -h: %d %q", code, out)
	}
}

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// TestEndToEndFinding6ClosedStdout starts the server with a stdout nobody
// reads (a pipe whose reading end is closed, as after "tokenserver | true"):
// it exits 1 without storing the key (issue 11, finding 6), and the next
// start prints one at once.
func TestEndToEndFinding6ClosedStdout(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyturn.db")
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rd.Close()
	cmd := exec.Command(build(t), "-addr", "127.0.0.1:0", "-db", db)
	cmd.Env = append(os.Environ(), secrets...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = wr, &stderr
	err = cmd.Run()
	wr.Close()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "was not stored") {
		t.Fatalf("with a closed stdout: %v; stderr %s", err, stderr.String())
	}
	code, out, errs := runTool(t, append([]string{"KEYTURN_DB=" + db}, secrets...), "keys", "list")
	if code != 0 || out != "" {
		t.Fatalf("keys after the failed start: %d %q %q", code, out, errs)
	}
	begin := time.Now()
	p := start(t, secrets, db)
	admin := p.bootstrapKey()
	if time.Since(begin) > claimGrace/2 {
		t.Errorf("the next start took %v", time.Since(begin))
	}
	p.tokenFor(admin)
	p.stop()
}

// TestEndToEndBootstrapRace starts three servers at once on one empty
// database: exactly one prints a bootstrap key, and every one serves it.
// SQLite always; PostgreSQL too when KEYTURN_TEST_POSTGRES is set.
func TestEndToEndBootstrapRace(t *testing.T) {
	dbs := []string{filepath.Join(t.TempDir(), "keyturn.db")}
	if base := os.Getenv("KEYTURN_TEST_POSTGRES"); base != "" {
		dbs = append(dbs, freshSchema(t, base))
	}
	for _, db := range dbs {
		const n = 3
		procs := make([]*proc, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { procs[i] = start(t, secrets, db, "-issuer", "http://keyturn.test") })
		}
		wg.Wait()
		var keys []string
		for _, p := range procs {
			p.waitLog("listening")
			p.mu.Lock()
			for _, l := range p.stdout {
				if k, ok := strings.CutPrefix(l, "bootstrap admin key: "); ok {
					keys = append(keys, k)
				}
			}
			p.mu.Unlock()
		}
		if len(keys) != 1 {
			t.Fatalf("%s: %d bootstrap keys printed by %d servers, want 1", dbKind(db), len(keys), n)
		}
		for _, p := range procs {
			p.tokenFor(keys[0])
			p.stop()
		}
	}
}

// tcpProxy forwards connections to a database until it is blocked: then it
// closes every connection it forwards and holds new ones open without an
// answer, as an unreachable host behind a firewall does.
type tcpProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); px.block() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go px.handle(c)
		}
	}()
	return px
}

func (px *tcpProxy) track(c net.Conn) bool {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.conns[c] = true
	return px.blocked
}

func (px *tcpProxy) handle(c net.Conn) {
	if px.track(c) {
		return // held: never answered, closed by the next block or by the client
	}
	up, err := net.Dial("tcp", px.target)
	if err != nil {
		c.Close()
		return
	}
	px.track(up)
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// block closes every connection and holds the new ones; unblock lets new
// connections through again.
func (px *tcpProxy) block() {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.blocked = true
	for c := range px.conns {
		c.Close()
		delete(px.conns, c)
	}
}

func (px *tcpProxy) unblock() {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.blocked = false
	for c := range px.conns {
		c.Close() // the held ones
		delete(px.conns, c)
	}
}

// TestEndToEndReadiness reaches PostgreSQL through a TCP proxy the test
// controls, so that the database becomes unreachable and reachable again
// deterministically, whatever else runs on the server: /readyz answers 503
// within its 1 s bound while the proxy holds the connections, and 200 again
// once it forwards them; /healthz stays 200 throughout. Meanwhile a token
// issued before keeps working at a resource (verified from memory), and
// the exchange of a key the server has not cached fails fast with 503 and
// Retry-After (keyturn.Config.StoreTimeout, 1 s) instead of hanging; it works again
// once the database is back.
func TestEndToEndReadiness(t *testing.T) {
	base := os.Getenv("KEYTURN_TEST_POSTGRES")
	if base == "" {
		t.Skip("readiness test skipped: set KEYTURN_TEST_POSTGRES to a PostgreSQL URL to run it")
	}
	u, err := url.Parse(freshSchema(t, base))
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	px := newTCPProxy(t, host)
	u.Host = px.ln.Addr().String()
	p := start(t, secrets, u.String())
	admin := p.bootstrapKey()
	adminTok := p.tokenFor(admin)
	r := p.want(p.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + adminTok, "Content-Type": js},
		`{"name":"uncached","scope":"read:users"}`), 201, "create key")
	uncached := r.body["key"].(string)
	userTok := p.tokenFor(admin)

	ready := func(want int) time.Duration {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			begin := time.Now()
			r := p.do("GET", "/readyz", nil, "")
			took := time.Since(begin)
			if r.status == want {
				wantBody := map[int]string{200: "{\"status\":\"ok\"}\n", 503: "{\"status\":\"unavailable\"}\n"}[want]
				if r.raw != wantBody {
					t.Errorf("/readyz %d: %q", want, r.raw)
				}
				return took
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz never answered %d (last %d %s)", want, r.status, r.raw)
			}
		}
	}
	ready(200)
	px.block()
	// The first check finds its pooled connection closed; the second waits
	// on a connection the proxy never answers, until the 1 s bound.
	for range 2 {
		if took := ready(503); took > 3*time.Second {
			t.Errorf("/readyz took %v to answer 503; the bound is 1 s", took)
		}
	}
	p.want(p.do("GET", "/healthz", nil, ""), 200, "healthz while the database is unreachable")
	p.want(p.do("GET", "/v1/staff", bearer(userTok), ""), 200, "a token issued before, while the database is unreachable")
	begin := time.Now()
	r = p.want(p.do("POST", "/oauth/token", bearer(uncached), ""), 503, "exchange of an uncached key while the database is unreachable")
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("the exchange took %v to answer 503; the bound is 1 s", took)
	}
	if r.header.Get("Retry-After") == "" || r.body["error"] != "temporarily_unavailable" {
		t.Errorf("503 without Retry-After or temporarily_unavailable: %v %s", r.header, r.raw)
	}
	px.unblock()
	ready(200)
	p.tokenFor(uncached)
	p.stop()
	if !slices.ContainsFunc(p.stderr, func(l string) bool { return strings.Contains(l, "not ready") && strings.Contains(l, "level=WARN") }) {
		t.Error("the server did not log why it was not ready")
	}
}
