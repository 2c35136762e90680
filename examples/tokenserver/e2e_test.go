package main

// The end-to-end test builds the real binary, starts it on a free loopback
// port, and drives the contract of DESIGN.md over HTTP.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyturn/keyturn/storage/sqlstore"
)

var (
	buildOnce  sync.Once
	buildFlags []string // -race under the race detector (race_test.go)
	binary     string
	buildErr   error
)

// build compiles the server once per test binary.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokenserver-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "tokenserver")
		args := append(append([]string{"build"}, buildFlags...), "-o", binary, ".")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// proc is a running server.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	issuer string // the -issuer given, or base
	quiet  bool   // logs no INFO lines
	client *http.Client
	mu     sync.Mutex
	stdout []string
	stderr []string
	done   chan struct{} // closed when stdout is drained
	edone  chan struct{} // closed when stderr is drained
}

// listening finds the address in the line the server logs once it listens,
// in text or JSON.
var listening = regexp.MustCompile(`msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"`)

// demoUser is the -user flag of the servers that contract drives.
var demoUser = []string{"-user", "ada:correct horse:read:users read:participants"}

// start starts the server on a free loopback port, with env added to the
// environment, and waits until it listens.
func start(t *testing.T, env []string, db string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0", "-db", db}, extra...)
	cmd := exec.Command(build(t), args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, client: client, done: make(chan struct{}), edone: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout = append(p.stdout, sc.Text())
			p.mu.Unlock()
		}
	}()
	addr := make(chan string, 1)
	go func() {
		defer close(p.edone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr = append(p.stderr, line)
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				addr <- m[1] + m[2]
			}
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
				t.Logf("server: %s", line)
			}
		}
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
		if slices.Contains(extra, "-tls-cert") {
			p.base = "https://" + a
		}
		p.issuer = p.base
		if i := slices.Index(extra, "-issuer"); i >= 0 {
			p.issuer = extra[i+1]
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the server did not start listening")
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

// bootstrapKey waits for the bootstrap line the server prints before it
// listens.
func (p *proc) bootstrapKey() string {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		lines := slices.Clone(p.stdout)
		p.mu.Unlock()
		for _, l := range lines {
			if k, ok := strings.CutPrefix(l, "bootstrap admin key: "); ok {
				return k
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatal("no bootstrap admin key on stdout")
	return ""
}

// stop sends SIGTERM and checks a clean exit; it returns all of stdout.
func (p *proc) stop() []string {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait()
	return p.stdout
}

// wait reads stdout and stderr to their end, then checks that the server
// exited cleanly, having logged that it stopped. (Wait closes the pipes, so
// it comes last.)
func (p *proc) wait() {
	p.t.Helper()
	<-p.done
	<-p.edone
	if err := p.cmd.Wait(); err != nil {
		p.t.Errorf("server exit: %v; its log ends:\n%s", err, strings.Join(p.stderr[max(0, len(p.stderr)-40):], "\n"))
	}
	if !p.quiet && !slices.ContainsFunc(p.stderr, func(l string) bool {
		return strings.Contains(l, "msg=stopped") || strings.Contains(l, `"msg":"stopped"`)
	}) {
		p.t.Error("the server did not log that it stopped")
	}
}

// logsHoldNoSecret fails if what the server logged (call it after stop)
// holds any part of a secret, password or token that contract used, even
// one cut short: the first 12 characters of each secret and of each token's
// signature are looked for.
func (p *proc) logsHoldNoSecret(adminKey string, st state) {
	p.t.Helper()
	all := strings.Join(p.stderr, "\n")
	for _, want := range []string{"api key created", "api key revoked", "request refused", "token issued", "authentication failed"} {
		if !strings.Contains(all, want) {
			p.t.Errorf("the log lacks %q", want)
		}
	}
	_, adminSecret := split(adminKey)
	parts := []string{adminSecret, st.k2Secret, "correct horse", "correct+horse"}
	for _, kv := range secrets {
		parts = append(parts, kv[strings.IndexByte(kv, '=')+1:])
	}
	for _, tok := range []string{st.adminToken, st.k3Token, st.revokedToken, st.participantsTokens, st.userToken} {
		parts = append(parts, tok[strings.LastIndexByte(tok, '.')+1:])
	}
	for _, s := range parts {
		if strings.Contains(all, s[:min(12, len(s))]) {
			p.t.Errorf("the server's log holds a secret or token")
		}
	}
}

// waitLog waits until the server logs a line containing s.
func (p *proc) waitLog(s string) {
	p.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		found := slices.ContainsFunc(p.stderr, func(l string) bool { return strings.Contains(l, s) })
		p.mu.Unlock()
		if found {
			return
		}
	}
	p.t.Fatalf("the server never logged %q", s)
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

var client = &http.Client{Timeout: 30 * time.Second}

func (p *proc) do(method, path string, header map[string]string, body string) resp {
	p.t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(b)}
	json.Unmarshal(b, &r.body)
	return r
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

const (
	form = "application/x-www-form-urlencoded"
	js   = "application/json"
)

func (p *proc) want(r resp, status int, what string) resp {
	p.t.Helper()
	if r.status != status {
		p.t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
	}
	return r
}

// tokenFor exchanges a whole API key (seed 000) and returns the access token.
func (p *proc) tokenFor(key string) string {
	p.t.Helper()
	r := p.want(p.do("POST", "/oauth/token", bearer(key), ""), 200, "exchange")
	return r.body["access_token"].(string)
}

func split(key string) (id, secret string) {
	rest := strings.TrimPrefix(key, "ds_live_")
	id, secret, _ = strings.Cut(rest, "_")
	return id, secret
}

// secrets are the server's own secrets for the runs that restart: the
// signing keys are sealed and the key hashes peppered across the restart.
var secrets = []string{"KEYTURN_PEPPER=e2e-pepper-0123456789abcdef", "KEYTURN_KEK=" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}

func TestEndToEndSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyturn.db")
	// A fixed issuer: the port changes across the restart, and tokens are
	// bound to the issuer.
	p := start(t, secrets, db, append(demoUser, "-issuer", "http://keyturn.test")...)
	admin := p.bootstrapKey()
	st := contract(t, p, admin)
	load(t, p, st.k2ID, st.k2Secret)
	out := p.stop()
	p.logsHoldNoSecret(admin, st)
	// A clean close checkpoints SQLite's write-ahead log and removes it.
	if _, err := os.Stat(db + "-wal"); !os.IsNotExist(err) {
		t.Errorf("the database was not closed cleanly: %v", err)
	}
	sealedInStore(t, "sqlite", db)

	// Restart on the same file: no new bootstrap key, everything kept.
	p2 := start(t, secrets, db, append(demoUser, "-issuer", "http://keyturn.test")...)
	restarted(t, p2, admin, st)
	out = append(out, p2.stop()...)
	n := 0
	for _, l := range out {
		if strings.HasPrefix(l, "bootstrap admin key: ") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d bootstrap key lines over two starts, want 1", n)
	}
}

func TestEndToEndMemory(t *testing.T) {
	p := start(t, nil, "memory", demoUser...)
	admin := p.bootstrapKey()
	st := contract(t, p, admin)
	load(t, p, st.k2ID, st.k2Secret)
	p.stop()
	p.logsHoldNoSecret(admin, st)
	// Without the secrets: one WARN line for each, naming it.
	for _, v := range []string{"KEYTURN_PEPPER", "KEYTURN_KEK"} {
		n := 0
		for _, l := range p.stderr {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, v+" is not set") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d WARN lines about %s, want 1", n, v)
		}
	}
}

// TestEndToEndTLS serves over TLS with a certificate made for the test: the
// issuer becomes https, and plain HTTP to the port gets no token.
func TestEndToEndTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	p := start(t, nil, "memory", "-tls-cert", certFile, "-tls-key", keyFile)
	p.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	key := p.bootstrapKey()
	r := p.want(p.do("POST", "/oauth/token", bearer(key), ""), 200, "exchange over TLS")
	if c := claims(t, r.body["access_token"].(string)); c["iss"] != p.base || !strings.HasPrefix(p.base, "https://") {
		t.Errorf("iss %v, base %s", c["iss"], p.base)
	}
	r = p.want(p.do("GET", "/.well-known/oauth-authorization-server", nil, ""), 200, "metadata over TLS")
	if r.body["token_endpoint"] != p.base+"/oauth/token" {
		t.Errorf("metadata %s", r.raw)
	}
	plain, err := client.Post("http://"+strings.TrimPrefix(p.base, "https://")+"/oauth/token", "", nil)
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode == 200 || strings.Contains(string(b), "access_token") {
			t.Errorf("plain HTTP to the TLS port: %d %s", plain.StatusCode, b)
		}
	}
	p.stop()
}

// TestEndToEndGracefulShutdown signals the server while a token request is
// in its handler (the handler has asked for the body: 100 Continue), and only
// then sends the body: the request is answered in full, and the server exits
// cleanly after it.
func TestEndToEndGracefulShutdown(t *testing.T) {
	p := start(t, nil, "memory")
	key := p.bootstrapKey()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const body = "scope=read:users"
	fmt.Fprintf(conn, "POST /oauth/token HTTP/1.1\r\nHost: keyturn.test\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", key, form, len(body))
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, nil)
	if err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("no 100 Continue: %v %v", res, err)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(`msg="shutting down"`)
	io.WriteString(conn, body)
	res, err = http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"scope":"read:users"`) {
		t.Errorf("in-flight request: %d %s", res.StatusCode, b)
	}
	p.wait()
}

func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	pk, _ := x509.MarshalPKCS8PrivateKey(priv)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
	return certFile, keyFile, pool
}

func TestEndToEndPostgres(t *testing.T) {
	base := os.Getenv("KEYTURN_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL end-to-end test skipped: set KEYTURN_TEST_POSTGRES to a URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it")
	}
	schemaURL := freshSchema(t, base)
	p := start(t, secrets, schemaURL, append(demoUser, "-issuer", "http://keyturn.test")...)
	admin := p.bootstrapKey()
	st := contract(t, p, admin)
	load(t, p, st.k2ID, st.k2Secret)
	p.stop()
	p.logsHoldNoSecret(admin, st)
	sealedInStore(t, "pgx", schemaURL)
	p2 := start(t, secrets, schemaURL, append(demoUser, "-issuer", "http://keyturn.test")...)
	restarted(t, p2, admin, st)
	for _, l := range p2.stop() {
		if strings.HasPrefix(l, "bootstrap admin key: ") {
			t.Error("a restart on PostgreSQL printed a new bootstrap key")
		}
	}
}

// sealedInStore checks that every signing key in the database is sealed
// under KEYTURN_KEK: its private half starts with the sealed format's tag.
func sealedInStore(t *testing.T, driver, dsn string) {
	t.Helper()
	sqldb, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	dialect := sqlstore.SQLite
	if driver == "pgx" {
		dialect = sqlstore.Postgres
	}
	s, err := sqlstore.New(sqlstore.Config{DB: sqldb, Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sk, err := s.SigningKeys(context.Background())
	if err != nil || len(sk) == 0 {
		t.Fatalf("%d signing keys, %v", len(sk), err)
	}
	for _, k := range sk {
		if !strings.HasPrefix(string(k.Private), "kts1") {
			t.Errorf("signing key %s is stored unsealed", k.ID)
		}
	}
}

// freshSchema creates a schema of its own for this run and returns the URL
// that selects it.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "keyturn_e2e_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec("DROP SCHEMA " + name + " CASCADE")
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// state is what contract leaves for the restart checks.
type state struct {
	adminToken         string // issued before the restart, still valid
	k2ID, k2Secret     string
	revokedToken       string // revoked through /oauth/revoke
	k3Key, k3Token     string // k3 was deleted
	participantsTokens string
	userToken          string // password flow
	k5Old, k5New       string // k5 before and after a rotation with an hour's grace
	keys               string // GET /v1/api_keys at the end
	jwks               string // GET /.well-known/jwks.json at the end
}

// contract drives every endpoint of the DESIGN.md contract.
func contract(t *testing.T, p *proc, adminKey string) state {
	var st state
	adminID, adminSecret := split(adminKey)
	if !regexp.MustCompile(`^ds_live_[0-9A-Za-z]+_[0-9A-Za-z]+$`).MatchString(adminKey) {
		t.Fatalf("bootstrap key has an unexpected shape")
	}

	// Seed 000: the key as a Bearer credential, then as a JSON body.
	r := p.want(p.do("POST", "/oauth/token", bearer(adminKey), ""), 200, "seed 000 bearer")
	wantTokenResponse(t, r, 900, "introspect read:api_keys read:participants read:users target-entity:*:* write:api_keys")
	st.adminToken = r.body["access_token"].(string)
	r = p.want(p.do("POST", "/oauth/token", map[string]string{"Content-Type": js}, `{"key":"`+adminKey+`","scope":"read:users"}`), 200, "seed 000 json")
	wantTokenResponse(t, r, 900, "read:users")
	r = p.want(p.do("POST", "/oauth/token", map[string]string{"Content-Type": js},
		`{"key":"`+adminKey+`","grant_type":"client_credentials","scope":"read:participants"}`), 200, "seed 000 json with grant_type")
	wantTokenResponse(t, r, 900, "read:participants")
	r = p.want(p.do("POST", "/oauth/token", map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": form},
		"scope=introspect"), 200, "seed 000 bearer with a form scope")
	wantTokenResponse(t, r, 900, "introspect")

	// The token endpoint's fine print.
	for _, c := range []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		error, challenge   string
	}{
		{"GET", "GET", "/oauth/token", bearer(adminKey), "", 405, "", ""},
		{"OPTIONS at /authorization", "OPTIONS", "/authorization", nil, "", 405, "", ""},
		{"PUT at /v1/oauth2/token", "PUT", "/v1/oauth2/token", nil, "", 405, "", ""},
		{"no credentials", "POST", "/oauth/token", map[string]string{"Content-Type": form}, "grant_type=client_credentials", 401, "invalid_client", "Basic"},
		{"a bad Bearer key", "POST", "/oauth/token", bearer("ds_live_x_y"), "", 401, "invalid_client", "Bearer"},
		{"a wrong secret in the body", "POST", "/v1/oauth2/token", map[string]string{"Content-Type": form},
			"grant_type=client_credentials&client_id=" + adminID + "&client_secret=wrong", 401, "invalid_client", "Basic"},
		{"an unknown grant_type", "POST", "/oauth/token", map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": form},
			"grant_type=urn:example:nope", 400, "unsupported_grant_type", ""},
		{"password beside an API key", "POST", "/oauth/token", map[string]string{"Content-Type": js},
			`{"key":"` + adminKey + `","grant_type":"password"}`, 400, "invalid_request", ""},
		{"form client credentials without grant_type", "POST", "/v1/oauth2/token", map[string]string{"Content-Type": form},
			"client_id=" + adminID + "&client_secret=" + adminSecret, 400, "invalid_request", ""},
		{"a scope beyond the key", "POST", "/oauth/token", map[string]string{"Content-Type": js},
			`{"key":"` + adminKey + `","scope":"delete:everything"}`, 400, "invalid_scope", ""},
		// Secrets in the wrong place: refused, and kept out of the log.
		{"a whole key as client_id", "POST", "/v1/oauth2/token", map[string]string{"Content-Type": form},
			"grant_type=client_credentials&client_id=" + adminKey + "&client_secret=x", 401, "invalid_client", "Basic"},
		{"a password as username", "POST", "/authorization", map[string]string{"Content-Type": form},
			"username=" + url.QueryEscape("correct horse") + "&password=ada", 400, "invalid_grant", ""},
	} {
		r := p.do(c.method, c.path, c.header, c.body)
		if r.status != c.status || c.error != "" && r.body["error"] != c.error {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.raw, c.status, c.error)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: headers %v", c.name, r.header)
		}
		if c.status == 405 && r.header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", c.name, r.header.Get("Allow"))
		}
		if ch := r.header.Get("WWW-Authenticate"); c.challenge != "" && !strings.HasPrefix(ch, c.challenge+" ") {
			t.Errorf("%s: WWW-Authenticate %q, want %s", c.name, ch, c.challenge)
		}
	}

	// Demo resources.
	r = p.want(p.do("GET", "/v1/staff", bearer(st.adminToken), ""), 200, "staff")
	if _, ok := r.body["staff"].([]any); !ok {
		t.Errorf("staff body %s", r.raw)
	}
	r = p.want(p.do("GET", "/v1/participants", bearer(st.adminToken), ""), 200, "participants")
	if _, ok := r.body["participants"].([]any); !ok {
		t.Errorf("participants body %s", r.raw)
	}
	if r := p.do("GET", "/v1/staff", nil, ""); r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("staff without a token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}

	// Admin API.
	create := func(tok, body string) resp {
		return p.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": js}, body)
	}
	r = p.want(create(st.adminToken, `{"name":"seed 003","scope":"read:users target-entity:E1:perf-read,employees-read","token_lifetime":3599}`), 201, "create k2")
	for _, f := range []string{"id", "name", "scope", "token_lifetime", "created_at", "key", "client_id", "client_secret"} {
		if _, ok := r.body[f]; !ok {
			t.Errorf("created key lacks %q", f)
		}
	}
	if r.body["id"] != r.body["client_id"] || r.body["scope"] != "read:users target-entity:E1:employees-read,perf-read" {
		t.Errorf("created key: %s", r.raw)
	}
	k2 := r.body["key"].(string)
	st.k2ID, st.k2Secret = r.body["client_id"].(string), r.body["client_secret"].(string)
	if id, secret := split(k2); id != st.k2ID || secret != st.k2Secret {
		t.Error("key and client_id/client_secret disagree")
	}
	p.want(create(st.adminToken, `{"name":"x"}`), 400, "missing scope")
	p.want(create(st.adminToken, `{"scope":"a\"b"}`), 400, "malformed scope")
	p.want(create(st.adminToken, `{"scope":"read:users","token_lifetime":59}`), 400, "lifetime 59")
	p.want(create(st.adminToken, `{"scope":"read:users","token_lifetime":86401}`), 400, "lifetime 86401")

	// Seed 003: form body, then Basic, with a compound scope.
	r = p.want(p.do("POST", "/v1/oauth2/token", map[string]string{"Content-Type": form},
		"grant_type=client_credentials&scope="+url.QueryEscape("target-entity:E1:employees-read")+
			"&client_id="+st.k2ID+"&client_secret="+st.k2Secret), 200, "seed 003 form")
	wantTokenResponse(t, r, 3599, "target-entity:E1:employees-read")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(st.k2ID+":"+st.k2Secret))
	r = p.want(p.do("POST", "/v1/oauth2/token", map[string]string{"Content-Type": form, "Authorization": basic},
		"grant_type=client_credentials"), 200, "seed 003 basic")
	wantTokenResponse(t, r, 3599, "read:users target-entity:E1:employees-read,perf-read")
	k2Token := r.body["access_token"].(string)
	r = p.want(p.do("POST", "/v1/oauth2/token", map[string]string{"Content-Type": form, "Authorization": basic},
		"grant_type=client_credentials&scope=read:participants"), 400, "scope beyond the key")
	if r.body["error"] != "invalid_scope" {
		t.Errorf("scope beyond the key: %s", r.raw)
	}
	r = p.want(p.do("POST", "/v1/oauth2/token", map[string]string{"Content-Type": form,
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(st.k2ID+":wrong"))}, "grant_type=client_credentials"), 401, "bad secret")
	if r.body["error"] != "invalid_client" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("bad secret: %s %q", r.raw, r.header.Get("WWW-Authenticate"))
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("error response headers: %v", r.header)
	}

	// Seed 002: JSON body with response_type, created_at, a 7200 s key.
	r = p.want(create(st.adminToken, `{"name":"seed 002","scope":"read:participants","token_lifetime":7200}`), 201, "create k4")
	k4ID, k4Secret := r.body["client_id"].(string), r.body["client_secret"].(string)
	r = p.want(p.do("POST", "/oauth/token", map[string]string{"Content-Type": js, "Accept": js},
		`{"client_id":"`+k4ID+`","client_secret":"`+k4Secret+`","response_type":"client_credentials","scope":"read:participants"}`), 200, "seed 002")
	wantTokenResponse(t, r, 7200, "read:participants")
	st.participantsTokens = r.body["access_token"].(string)
	p.want(p.do("GET", "/v1/participants", bearer(st.participantsTokens), ""), 200, "participants with k4")
	r = p.want(p.do("GET", "/v1/staff", bearer(st.participantsTokens), ""), 403, "staff with k4")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("403 challenge %q", r.header.Get("WWW-Authenticate"))
	}

	// Seed 001: username and password.
	r = p.want(p.do("POST", "/authorization", map[string]string{"Content-Type": form}, "username=ada&password="+url.QueryEscape("correct horse")), 200, "seed 001")
	wantTokenResponse(t, r, 900, "read:participants read:users")
	userToken := r.body["access_token"].(string)
	st.userToken = userToken
	if c := claims(t, userToken); c["sub"] != "ada" || c["client_id"] != "tokenserver" {
		t.Errorf("password token claims: %v", c)
	}
	r = p.want(p.do("POST", "/authorization", map[string]string{"Content-Type": form}, "username=ada&password=nope"), 400, "wrong password")
	if r.body["error"] != "invalid_grant" {
		t.Errorf("wrong password: %s", r.raw)
	}
	r = p.want(p.do("POST", "/authorization", map[string]string{"Content-Type": form}, "username=nobody&password=nope"), 400, "unknown user")
	if r.body["error"] != "invalid_grant" {
		t.Errorf("unknown user: %s", r.raw)
	}
	r = p.want(p.do("POST", "/authorization", map[string]string{"Content-Type": form},
		"username=ada&password="+url.QueryEscape("correct horse")+"&scope=write:api_keys"), 400, "beyond the user's scope")
	if r.body["error"] != "invalid_scope" {
		t.Errorf("beyond the user's scope: %s", r.raw)
	}
	r = p.want(p.do("POST", "/oauth/token", map[string]string{"Content-Type": form},
		"grant_type=password&username=ada&password="+url.QueryEscape("correct horse")+"&scope=read:users"), 200, "grant_type=password")
	wantTokenResponse(t, r, 900, "read:users")

	// Held compound scopes combine per (entity, permission); a requested
	// wildcard needs a held one.
	r = p.want(create(st.adminToken, `{"name":"k5","scope":"target-entity:E1:b target-entity:E1:a"}`), 201, "create k5")
	if r.body["scope"] != "target-entity:E1:a,b" {
		t.Errorf("k5 scope %v", r.body["scope"])
	}
	k5 := r.body["key"].(string)
	for _, c := range []struct{ key, scope, granted string }{
		{k5, "target-entity:E1:b,a", "target-entity:E1:a,b"},
		{k5, "target-entity:E1:a", "target-entity:E1:a"},
		{k5, "target-entity:*:a", ""},
		{k5, "target-entity:E2:a", ""},
		{k5, "target-entity:E1:c", ""},
		{adminKey, "target-entity:E9:y,x", "target-entity:E9:x,y"},
		{adminKey, "target-entity:*:x", "target-entity:*:x"},
	} {
		body, _ := json.Marshal(map[string]string{"key": c.key, "scope": c.scope})
		r := p.do("POST", "/oauth/token", map[string]string{"Content-Type": js}, string(body))
		if c.granted == "" && (r.status != 400 || r.body["error"] != "invalid_scope") ||
			c.granted != "" && (r.status != 200 || r.body["scope"] != c.granted) {
			t.Errorf("request for %q: %d %s, want %q", c.scope, r.status, r.raw, c.granted)
		}
	}

	// Ceiling: a key holding write:api_keys cannot create beyond its token.
	r = p.want(create(st.adminToken, `{"name":"k3","scope":"write:api_keys read:users"}`), 201, "create k3")
	st.k3Key = r.body["key"].(string)
	st.k3Token = p.tokenFor(st.k3Key)
	r = p.want(create(st.k3Token, `{"scope":"read:participants"}`), 403, "ceiling")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) || r.body["error"] != "insufficient_scope" {
		t.Errorf("ceiling refusal: %q %s", r.header.Get("WWW-Authenticate"), r.raw)
	}
	p.want(create(st.k3Token, `{"scope":"read:users"}`), 201, "within the ceiling")
	p.want(create(k2Token, `{"scope":"read:users"}`), 403, "no write:api_keys")

	// Listing: no secrets.
	r = p.want(p.do("GET", "/v1/api_keys", bearer(st.adminToken), ""), 200, "list")
	if strings.Contains(r.raw, st.k2Secret) || strings.Contains(r.raw, "secret") || strings.Contains(r.raw, "hash") {
		t.Errorf("the list shows a secret: %s", r.raw)
	}
	if n := len(r.body["api_keys"].([]any)); n != 6 {
		t.Errorf("%d keys listed, want 6", n)
	}
	for _, k := range r.body["api_keys"].([]any) {
		k := k.(map[string]any)
		for _, f := range []string{"id", "name", "scope", "token_lifetime", "created_at"} {
			if _, ok := k[f]; !ok {
				t.Errorf("listed key lacks %q: %v", f, k)
			}
		}
	}

	// Introspection: the admin key holds "introspect"; k2 sees only its own.
	intro := func(key, tok string) resp {
		return p.do("POST", "/oauth/introspect", map[string]string{"Authorization": "Bearer " + key, "Content-Type": form}, "token="+tok)
	}
	r = p.want(intro(adminKey, k2Token), 200, "introspect")
	for _, f := range []string{"active", "scope", "client_id", "sub", "exp", "iat", "nbf", "iss", "aud", "jti", "token_type"} {
		if _, ok := r.body[f]; !ok {
			t.Errorf("introspection lacks %q: %s", f, r.raw)
		}
	}
	if r.body["active"] != true || r.body["client_id"] != st.k2ID {
		t.Errorf("introspection: %s", r.raw)
	}
	if r := p.want(intro(k2, st.adminToken), 200, "introspect another's"); r.raw != "{\"active\":false}\n" {
		t.Errorf("k2 introspected the admin token: %s", r.raw)
	}
	if r := p.want(intro(adminKey, "not-a-token"), 200, "introspect garbage"); r.raw != "{\"active\":false}\n" {
		t.Errorf("garbage introspects as %s", r.raw)
	}
	k2Basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(st.k2ID+":"+st.k2Secret))
	r = p.want(p.do("POST", "/oauth/introspect", map[string]string{"Authorization": k2Basic, "Content-Type": form}, "token="+k2Token), 200, "introspect own, Basic")
	if r.body["active"] != true || r.body["scope"] != "read:users target-entity:E1:employees-read,perf-read" || r.body["token_type"] != "Bearer" {
		t.Errorf("own introspection (Basic): %s", r.raw)
	}
	r = p.want(p.do("POST", "/oauth/introspect", map[string]string{"Content-Type": form},
		"client_id="+st.k2ID+"&client_secret="+st.k2Secret+"&token="+k2Token), 200, "introspect own, form")
	if r.body["active"] != true {
		t.Errorf("own introspection (form): %s", r.raw)
	}
	r = p.want(p.do("POST", "/oauth/introspect", map[string]string{"Content-Type": form}, "token="+k2Token), 401, "introspect without credentials")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("introspection without credentials: %q", r.header.Get("WWW-Authenticate"))
	}

	// Revocation: k2 revokes its own token; not another's.
	rev := func(key, tok string) resp {
		return p.do("POST", "/oauth/revoke", map[string]string{"Authorization": "Bearer " + key, "Content-Type": form}, "token="+tok)
	}
	r = p.want(rev(k2, st.adminToken), 400, "revoke another's")
	if r.body["error"] != "unauthorized_client" {
		t.Errorf("revoke another's: %s", r.raw)
	}
	p.want(p.do("GET", "/v1/staff", bearer(st.adminToken), ""), 200, "admin token after a refused revocation")
	for _, key := range []string{k2, adminKey} { // a password-flow token belongs to no client
		if r := rev(key, userToken); r.status != 400 || r.body["error"] != "unauthorized_client" {
			t.Errorf("revoking a password-flow token: %d %s", r.status, r.raw)
		}
	}
	p.want(p.do("GET", "/v1/staff", bearer(userToken), ""), 200, "password-flow token after refused revocations")
	p.want(rev(k2, k2Token), 200, "revoke own")
	p.want(rev(k2, k2Token), 200, "revoke again")
	p.want(rev(k2, "not-a-token"), 200, "revoke unknown")
	p.want(p.do("GET", "/v1/staff", bearer(k2Token), ""), 401, "revoked token")
	if r := intro(adminKey, k2Token); r.body["active"] != false {
		t.Errorf("revoked token introspects %s", r.raw)
	}
	st.revokedToken = k2Token

	// Metadata and JWKS.
	r = p.want(p.do("GET", "/.well-known/oauth-authorization-server", nil, ""), 200, "metadata")
	for _, f := range []string{"issuer", "token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint",
		"grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported"} {
		if _, ok := r.body[f]; !ok {
			t.Errorf("metadata lacks %q", f)
		}
	}
	if r.body["issuer"] != p.issuer || r.body["token_endpoint"] != p.issuer+"/oauth/token" ||
		r.body["jwks_uri"] != p.issuer+"/.well-known/jwks.json" || r.body["introspection_endpoint"] != p.issuer+"/oauth/introspect" ||
		r.body["revocation_endpoint"] != p.issuer+"/oauth/revoke" {
		t.Errorf("metadata: %s", r.raw)
	}
	for f, v := range r.body {
		if a, ok := v.([]any); ok && len(a) == 0 {
			t.Errorf("metadata has an empty %q", f)
		}
	}
	if g, _ := r.body["grant_types_supported"].([]any); !slices.Contains(g, any("client_credentials")) || !slices.Contains(g, any("password")) {
		t.Errorf("grant_types_supported %v", g)
	}
	if s, _ := r.body["scopes_supported"].([]any); len(s) != 6 {
		t.Errorf("scopes_supported %v", s)
	}
	r = p.want(p.do("GET", "/.well-known/jwks.json", nil, ""), 200, "jwks")
	kid := header(t, st.adminToken)["kid"]
	found := false
	for _, k := range r.body["keys"].([]any) {
		k := k.(map[string]any)
		if k["kid"] == nil || k["alg"] == nil || k["use"] != "sig" || k["d"] != nil {
			t.Errorf("JWKS key %v", k)
		}
		found = found || k["kid"] == kid
	}
	if !found {
		t.Error("the token's kid is not in the JWKS")
	}
	if c := claims(t, st.adminToken); c["iss"] != p.issuer || c["aud"] != p.issuer || c["client_id"] == nil || c["jti"] == nil {
		t.Errorf("token claims %v", c)
	}

	// golang.org/x/oauth2/clientcredentials, in both auth styles.
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		cc := clientcredentials.Config{ClientID: k4ID, ClientSecret: k4Secret, TokenURL: p.base + "/oauth/token", AuthStyle: style}
		ts := cc.TokenSource(context.Background())
		tok, err := ts.Token()
		if err != nil {
			t.Fatalf("clientcredentials (style %d): %v", style, err)
		}
		if tok.AccessToken == "" || tok.Expiry.IsZero() || tok.Extra("scope") != "read:participants" {
			t.Errorf("clientcredentials token: %+v", tok)
		}
		res, err := cc.Client(context.Background()).Get(p.base + "/v1/participants")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("clientcredentials client: status %d", res.StatusCode)
		}
	}

	// One key by id, with its owner and expiry; a rotation with an hour's
	// grace: both secrets work (and keep working after a restart).
	expires := time.Now().Add(24 * time.Hour).Unix()
	r = p.want(create(st.adminToken, `{"name":"k5","scope":"read:users","expires_at":`+strconv.FormatInt(expires, 10)+`}`), 201, "create k5")
	st.k5Old = r.body["key"].(string)
	k5ID, _ := split(st.k5Old)
	r = p.want(p.do("GET", "/v1/api_keys/"+k5ID, bearer(st.adminToken), ""), 200, "get k5")
	if _, used := r.body["last_used_at"]; r.body["owner"] != adminID || r.body["expires_at"] != float64(expires) || used || r.body["name"] != "k5" {
		t.Errorf("GET k5: %s", r.raw)
	}
	p.want(p.do("GET", "/v1/api_keys/"+k5ID, bearer(k2Token), ""), 401, "get k5 with a revoked token")
	p.want(p.do("GET", "/v1/api_keys/AAAAAAAAAAAAAAAA", bearer(st.adminToken), ""), 404, "get an unknown key")
	r = p.want(p.do("POST", "/v1/api_keys/"+k5ID+"/rotate", map[string]string{"Authorization": "Bearer " + st.adminToken, "Content-Type": js},
		`{"grace":3600}`), 200, "rotate k5")
	st.k5New = r.body["key"].(string)
	if r.body["id"] != k5ID || r.body["client_id"] != k5ID || r.body["grace"] != 3600.0 || st.k5New == st.k5Old {
		t.Errorf("rotate k5: %s", r.raw)
	}
	p.want(p.do("POST", "/oauth/token", bearer(st.k5Old), ""), 200, "k5's old secret in its grace period")
	p.want(p.do("POST", "/oauth/token", bearer(st.k5New), ""), 200, "k5's new secret")
	p.want(p.do("POST", "/v1/api_keys/"+k5ID+"/rotate", map[string]string{"Authorization": "Bearer " + st.adminToken, "Content-Type": js},
		`{"grace":-1}`), 400, "rotate with a negative grace")

	// Deleting a key: 204, 204, 404; its tokens and the key itself stop.
	k3ID, _ := split(st.k3Key)
	p.want(p.do("DELETE", "/v1/api_keys/"+k3ID, bearer(st.adminToken), ""), 204, "delete")
	p.want(p.do("DELETE", "/v1/api_keys/"+k3ID, bearer(st.adminToken), ""), 204, "delete again")
	p.want(p.do("DELETE", "/v1/api_keys/nosuchkey", bearer(st.adminToken), ""), 404, "delete unknown")
	p.want(p.do("GET", "/v1/api_keys", bearer(st.k3Token), ""), 401, "token of a deleted key")
	r = p.want(p.do("POST", "/oauth/token", bearer(st.k3Key), ""), 401, "exchange a deleted key")
	if r.body["error"] != "invalid_client" {
		t.Errorf("deleted key: %s", r.raw)
	}
	r = p.want(p.do("GET", "/v1/api_keys", bearer(st.adminToken), ""), 200, "list after delete")
	revoked := 0
	for _, k := range r.body["api_keys"].([]any) {
		if _, ok := k.(map[string]any)["revoked_at"]; ok {
			revoked++
		}
	}
	if revoked != 1 {
		t.Errorf("%d keys show revoked_at, want 1", revoked)
	}
	st.keys = r.raw
	st.jwks = p.want(p.do("GET", "/.well-known/jwks.json", nil, ""), 200, "jwks at the end").raw
	return st
}

// restarted checks a server restarted on the store contract left behind.
func restarted(t *testing.T, p *proc, adminKey string, st state) {
	p.want(p.do("GET", "/v1/staff", bearer(st.adminToken), ""), 200, "token from before the restart")
	p.want(p.do("GET", "/v1/participants", bearer(st.participantsTokens), ""), 200, "k4 token from before the restart")
	p.want(p.do("GET", "/v1/staff", bearer(st.revokedToken), ""), 401, "revoked token after the restart")
	p.want(p.do("GET", "/v1/api_keys", bearer(st.k3Token), ""), 401, "deleted key's token after the restart")
	p.want(p.do("POST", "/oauth/token", bearer(st.k3Key), ""), 401, "deleted key after the restart")
	p.want(p.do("GET", "/v1/staff", bearer(st.userToken), ""), 200, "password-flow token from before the restart")
	intro := func(tok string) resp {
		return p.do("POST", "/oauth/introspect", map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": form}, "token="+tok)
	}
	if r := intro(st.adminToken); r.body["active"] != true {
		t.Errorf("token from before the restart introspects as %s", r.raw)
	}
	for _, tok := range []string{st.revokedToken, st.k3Token} {
		if r := intro(tok); r.raw != "{\"active\":false}\n" {
			t.Errorf("revoked token introspects as %s after the restart", r.raw)
		}
	}
	adminToken := p.tokenFor(adminKey)
	r := p.want(p.do("GET", "/v1/api_keys", bearer(adminToken), ""), 200, "list after the restart")
	if after, before := keysWithoutUse(t, r.raw), keysWithoutUse(t, st.keys); !reflect.DeepEqual(after, before) {
		t.Errorf("keys after the restart:\n%s\nbefore:\n%s", r.raw, st.keys)
	}
	for _, k := range []string{st.k5Old, st.k5New} {
		p.want(p.do("POST", "/oauth/token", bearer(k), ""), 200, "k5's secrets after a restart in the grace period")
	}
	if r := p.want(p.do("GET", "/.well-known/jwks.json", nil, ""), 200, "jwks after the restart"); r.raw != st.jwks {
		t.Errorf("signing keys after the restart:\n%s\nbefore:\n%s", r.raw, st.jwks)
	}
	if header(t, adminToken)["kid"] != header(t, st.adminToken)["kid"] {
		t.Error("a restart changed the signing key")
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(st.k2ID+":"+st.k2Secret))
	p.want(p.do("POST", "/v1/oauth2/token", map[string]string{"Content-Type": form, "Authorization": basic}, "grant_type=client_credentials"), 200, "k2 after the restart")
}

// keysWithoutUse parses a GET /v1/api_keys body and drops last_used_at,
// which exchanges during and after the restart may move (forward only).
func keysWithoutUse(t *testing.T, raw string) []map[string]any {
	t.Helper()
	var body struct {
		Keys []map[string]any `json:"api_keys"`
	}
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		t.Fatalf("key list %q: %v", raw, err)
	}
	for _, k := range body.Keys {
		delete(k, "last_used_at")
	}
	return body.Keys
}

// load makes 2,000 exchanges from 16 concurrent clients over keep-alive
// connections: no errors, every token distinct. The rate is logged, not
// asserted.
func load(t *testing.T, p *proc, id, secret string) {
	const total, workers = 2000, 16
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	tokens := make(chan string, total)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	begin := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < total; i += workers {
				req, _ := http.NewRequest("POST", p.base+"/v1/oauth2/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", form)
				req.Header.Set("Authorization", basic)
				res, err := c.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				var body struct {
					AccessToken string `json:"access_token"`
				}
				err = json.NewDecoder(res.Body).Decode(&body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					errs <- fmt.Errorf("status %d, %v", res.StatusCode, err)
					continue
				}
				tokens <- body.AccessToken
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(begin)
	close(tokens)
	close(errs)
	for err := range errs {
		t.Errorf("load: %v", err)
	}
	seen := make(map[string]bool, total)
	for tok := range tokens {
		if seen[tok] {
			t.Error("load: a token was issued twice")
		}
		seen[tok] = true
	}
	if len(seen) != total {
		t.Errorf("load: %d distinct tokens, want %d", len(seen), total)
	}
	t.Logf("load: %d token exchanges from %d clients in %v: %.0f tokens/s", total, workers, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
}

func wantTokenResponse(t *testing.T, r resp, lifetime float64, scope string) {
	t.Helper()
	b := r.body
	if tok, _ := b["access_token"].(string); tok == "" || b["token_type"] != "Bearer" || b["expires_in"] != lifetime || b["scope"] != scope {
		t.Errorf("token response %s, want expires_in %v and scope %q", r.raw, lifetime, scope)
		return
	}
	if _, ok := b["refresh_token"]; ok {
		t.Error("a refresh token was issued")
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("token response headers: %v", r.header)
	}
	c := claims(t, b["access_token"].(string))
	if b["created_at"] != c["iat"] || c["exp"].(float64)-c["iat"].(float64) != lifetime {
		t.Errorf("created_at %v, iat %v, exp %v", b["created_at"], c["iat"], c["exp"])
	}
	if h := header(t, b["access_token"].(string)); h["typ"] != "at+jwt" || h["kid"] == nil {
		t.Errorf("token header %v", h)
	}
}

func segment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func claims(t *testing.T, tok string) map[string]any { return segment(t, tok, 1) }
func header(t *testing.T, tok string) map[string]any { return segment(t, tok, 0) }
