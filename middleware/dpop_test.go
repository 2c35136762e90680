package middleware_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

const rsOrigin = "https://api.test"

// dpopRS is a resource server whose middleware accepts DPoP, over
// keyturn's real verifier (with its cache of verified tokens).
type dpopRS struct {
	t       *testing.T
	clock   time.Time
	issuer  *token.Issuer
	dv      *dpop.Verifier
	handler http.Handler // GET /r/read needs "read"
	prover  *dpop.Prover
	calls   atomic.Int64 // requests that reached the handler
}

func newDPoPRS(t *testing.T, nonce bool) *dpopRS {
	t.Helper()
	ctx := context.Background()
	r := &dpopRS{t: t, clock: now}
	nowf := func() time.Time { return r.clock }
	store := memory.New()
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	ks, err := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Algorithm: token.EdDSA,
		Generate: func(token.Algorithm) (crypto.Signer, error) { return priv, nil }, Now: nowf})
	if err != nil {
		t.Fatal(err)
	}
	if r.issuer, err = token.NewIssuer(token.IssuerConfig{Issuer: iss, Audience: []string{aud}, Keys: ks, Now: nowf}); err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(token.VerifierConfig{Issuer: iss, Audience: aud, Keys: ks,
		Algorithms: []token.Algorithm{token.EdDSA}, Now: nowf})
	if err != nil {
		t.Fatal(err)
	}
	if r.dv, err = dpop.NewVerifier(dpop.Config{Algorithms: []string{dpop.ES256, dpop.EdDSA}, Nonce: nonce, Now: nowf}); err != nil {
		t.Fatal(err)
	}
	m, err := middleware.New(middleware.Config{Verifier: v, Realm: "api", DPoP: r.dv, DPoPURL: middleware.RequestURL(rsOrigin)})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		w.Write([]byte("ok"))
	})
	mux := http.NewServeMux()
	mux.Handle("GET /r/read", m.Require("read")(ok))
	mux.Handle("GET /r/write", m.Require("write")(ok))
	r.handler = mux
	r.prover = r.newProver()
	return r
}

func (r *dpopRS) newProver() *dpop.Prover {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := dpop.NewProver(k)
	if err != nil {
		r.t.Fatal(err)
	}
	p.Now = func() time.Time { return r.clock }
	return p
}

// mint returns a token holding "read", bound to jkt unless it is empty.
func (r *dpopRS) mint(jkt string) string {
	r.t.Helper()
	tok, _, err := r.issuer.Mint(context.Background(), token.Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse("read"), JKT: jkt})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

func (r *dpopRS) proof(p *dpop.Prover, method, url, tok string) string {
	r.t.Helper()
	s, err := p.Proof(method, url, tok)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// do sends GET path with the Authorization header and the DPoP headers.
func (r *dpopRS) do(path, authorization string, proofs ...string) *http.Response {
	req := httptest.NewRequest(http.MethodGet, "http://internal:8080"+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec.Result()
}

// wantRefusal checks a 401 whose DPoP challenge carries code and algs and
// whose Bearer challenge is bare.
func wantDPoPRefusal(t *testing.T, res *http.Response, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d", res.StatusCode, status)
	}
	chals := res.Header.Values("WWW-Authenticate")
	if len(chals) != 2 || chals[0] != `Bearer realm="api"` || !strings.HasPrefix(chals[1], `DPoP realm="api", error="`+code+`"`) ||
		!strings.HasSuffix(chals[1], `algs="ES256 EdDSA"`) {
		t.Fatalf("challenges %q, want a bare Bearer one and DPoP with error %s and algs", chals, code)
	}
}

const readURL = rsOrigin + "/r/read"

func TestDPoPResourceAccepts(t *testing.T) {
	r := newDPoPRS(t, false)
	tok := r.mint(r.prover.Thumbprint())
	for i := range 3 { // the token from the verifier's cache after the first
		res := r.do("/r/read", "DPoP "+tok, r.proof(r.prover, "GET", readURL, tok))
		if res.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, res.Header.Values("WWW-Authenticate"))
		}
	}
	// A proof for htu with another case, the default port and a query.
	if res := r.do("/r/read?x=1", "DPoP "+tok, r.proof(r.prover, "GET", "https://API.test:443/r/read?x=1", tok)); res.StatusCode != 200 {
		t.Fatalf("normalised htu: %d", res.StatusCode)
	}
	// A scope refusal of a DPoP request is a DPoP challenge too.
	res := r.do("/r/write", "DPoP "+tok, r.proof(r.prover, "GET", rsOrigin+"/r/write", tok))
	wantDPoPRefusal(t, res, http.StatusForbidden, "insufficient_scope")
	// No credential at all: both schemes offered, no error.
	res = r.do("/r/read", "")
	if got := res.Header.Values("WWW-Authenticate"); res.StatusCode != 401 || len(got) != 2 ||
		got[0] != `Bearer realm="api"` || got[1] != `DPoP realm="api", algs="ES256 EdDSA"` {
		t.Fatalf("no credential: %d %q", res.StatusCode, got)
	}
}

// TestRS30_BoundTokenAsBearer: a DPoP-bound token sent as Bearer is
// refused (RFC 9449 §7.2), with or without a proof, although the verifier
// has it cached as valid.
func TestRS30_BoundTokenAsBearer(t *testing.T) {
	r := newDPoPRS(t, false)
	tok := r.mint(r.prover.Thumbprint())
	if res := r.do("/r/read", "DPoP "+tok, r.proof(r.prover, "GET", readURL, tok)); res.StatusCode != 200 {
		t.Fatalf("DPoP: %d", res.StatusCode) // now in the cache
	}
	wantDPoPRefusal(t, r.do("/r/read", "Bearer "+tok), 401, "invalid_token")
	wantDPoPRefusal(t, r.do("/r/read", "Bearer "+tok, r.proof(r.prover, "GET", readURL, tok)), 401, "invalid_token")
	if n := r.calls.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want 1", n)
	}
}

// TestRS30_NoDPoPMiddleware: a middleware without DPoP refuses a bound
// token whatever the scheme, and does not understand the DPoP scheme.
func TestRS30_NoDPoPMiddleware(t *testing.T) {
	r := newDPoPRS(t, false)
	plain := newRS(t)
	btok, _, err := plain.issuer.Mint(context.Background(), token.Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse("read"), JKT: r.prover.Thumbprint()})
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"Bearer " + btok, "DPoP " + btok} {
		req := httptest.NewRequest("GET", "/r/read", nil)
		req.Header.Set("Authorization", auth)
		req.Header.Set("DPoP", r.proof(r.prover, "GET", "https://example.com/r/read", btok))
		rec := httptest.NewRecorder()
		plain.handler.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Errorf("%s...: %d, want 401", auth[:5], rec.Code)
		}
	}
}

// TestDPoPResourceRefuses: every wrong proof is refused, each with its
// error, and the handler never runs.
func TestDPoPResourceRefuses(t *testing.T) {
	r := newDPoPRS(t, false)
	tok := r.mint(r.prover.Thumbprint())
	other := r.newProver()
	unbound := r.mint("")
	stale := r.newProver()
	stale.Now = func() time.Time { return r.clock.Add(-61 * time.Second) }
	future := r.newProver()
	future.Now = func() time.Time { return r.clock.Add(61 * time.Second) }
	replayed := r.proof(r.prover, "GET", readURL, tok)
	if res := r.do("/r/read", "DPoP "+tok, replayed); res.StatusCode != 200 {
		t.Fatalf("first use: %d", res.StatusCode)
	}
	r.calls.Store(0)
	otherTok := r.mint(other.Thumbprint())
	for _, tc := range []struct {
		name   string
		auth   string
		proofs []string
		code   string
	}{
		{"no proof", "DPoP " + tok, nil, "invalid_dpop_proof"},
		{"two DPoP headers", "DPoP " + tok, []string{r.proof(r.prover, "GET", readURL, tok), r.proof(r.prover, "GET", readURL, tok)}, "invalid_dpop_proof"},
		{"not a JWT", "DPoP " + tok, []string{"not-a-proof"}, "invalid_dpop_proof"},
		{"wrong ath", "DPoP " + tok, []string{r.proof(r.prover, "GET", readURL, otherTok)}, "invalid_dpop_proof"},
		{"no ath", "DPoP " + tok, []string{r.proof(r.prover, "GET", readURL, "")}, "invalid_dpop_proof"},
		{"htm mismatch", "DPoP " + tok, []string{r.proof(r.prover, "POST", readURL, tok)}, "invalid_dpop_proof"},
		{"htu mismatch", "DPoP " + tok, []string{r.proof(r.prover, "GET", rsOrigin+"/r/write", tok)}, "invalid_dpop_proof"},
		{"htu from the Host header", "DPoP " + tok, []string{r.proof(r.prover, "GET", "http://internal:8080/r/read", tok)}, "invalid_dpop_proof"},
		{"stale iat", "DPoP " + tok, []string{r.proof(stale, "GET", readURL, tok)}, "invalid_dpop_proof"},
		{"future iat", "DPoP " + tok, []string{r.proof(future, "GET", readURL, tok)}, "invalid_dpop_proof"},
		{"replayed jti", "DPoP " + tok, []string{replayed}, "invalid_dpop_proof"},
		{"proof by another key than cnf.jkt", "DPoP " + tok, []string{r.proof(other, "GET", readURL, tok)}, "invalid_token"},
		{"unbound token as DPoP", "DPoP " + unbound, []string{r.proof(r.prover, "GET", readURL, unbound)}, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantDPoPRefusal(t, r.do("/r/read", tc.auth, tc.proofs...), 401, tc.code)
		})
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("the handler ran %d times", n)
	}
	// An unbound token as Bearer still works.
	if res := r.do("/r/read", "Bearer "+unbound); res.StatusCode != 200 {
		t.Errorf("bearer: %d", res.StatusCode)
	}
}

// TestDPoPResourceReplayParallel: of many requests with one proof at once,
// exactly one reaches the handler.
func TestDPoPResourceReplayParallel(t *testing.T) {
	r := newDPoPRS(t, false)
	tok := r.mint(r.prover.Thumbprint())
	proof := r.proof(r.prover, "GET", readURL, tok)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { r.do("/r/read", "DPoP "+tok, proof) })
	}
	wg.Wait()
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("%d requests admitted, want 1", n)
	}
}

// TestDPoPResourceNonce: with nonces on, a proof without the nonce gets
// 401 use_dpop_nonce and the nonce in DPoP-Nonce; the Prover's transport
// retries with it once.
func TestDPoPResourceNonce(t *testing.T) {
	r := newDPoPRS(t, true)
	tok := r.mint(r.prover.Thumbprint())
	res := r.do("/r/read", "DPoP "+tok, r.proof(r.prover, "GET", readURL, tok))
	wantDPoPRefusal(t, res, 401, "use_dpop_nonce")
	nonce := res.Header.Values("DPoP-Nonce")
	if len(nonce) != 1 || nonce[0] != r.dv.Nonce() {
		t.Fatalf("DPoP-Nonce %q", nonce)
	}
	r.prover.SetNonce(nonce[0])
	if res := r.do("/r/read", "DPoP "+tok, r.proof(r.prover, "GET", readURL, tok)); res.StatusCode != 200 {
		t.Fatalf("with the nonce: %d", res.StatusCode)
	}

	// The transport: no nonce yet, one retry.
	srv := httptest.NewTLSServer(r.handler)
	defer srv.Close()
	p := r.newProver()
	tok = r.mint(p.Thumbprint())
	base := srv.Client().Transport
	var sent atomic.Int64
	client := &http.Client{Transport: p.Transport(roundTripFunc(func(req *http.Request) (*http.Response, error) {
		sent.Add(1)
		// The server is the resource at rsOrigin: address it there.
		req.URL.Host = strings.TrimPrefix(srv.URL, "https://")
		return base.RoundTrip(req)
	}))}
	req, _ := http.NewRequest("GET", readURL, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || sent.Load() != 2 {
		t.Fatalf("transport: %d after %d requests, want 200 after 2", resp.StatusCode, sent.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRequestURL(t *testing.T) {
	u := middleware.RequestURL("https://api.test/")
	req := httptest.NewRequest("GET", "http://evil.test/a/b?q=1", nil)
	req.Header.Set("X-Forwarded-Host", "evil.test")
	if got := u(req); got != "https://api.test/a/b" {
		t.Errorf("RequestURL = %q", got)
	}
	ran := false
	stripped := http.StripPrefix("/a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		if got := u(r); got != "https://api.test/a/b" {
			t.Errorf("under StripPrefix: %q", got)
		}
	}))
	stripped.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a/b?q=1", nil))
	if !ran {
		t.Error("StripPrefix did not call the handler")
	}
	for _, bad := range []string{"api.test", "https://api.test/base", "ftp://api.test", "https://api.test?x"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RequestURL(%q) did not panic", bad)
				}
			}()
			middleware.RequestURL(bad)
		}()
	}
}

func TestNewDPoPNeedsURL(t *testing.T) {
	dv, _ := dpop.NewVerifier(dpop.Config{Algorithms: dpop.DefaultAlgorithms()})
	if _, err := middleware.New(middleware.Config{Verifier: &token.Verifier{}, DPoP: dv}); err == nil {
		t.Error("New accepted DPoP without DPoPURL")
	}
}
