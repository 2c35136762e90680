package middleware

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// BenchmarkMiddlewareDPoP is the middleware's cost per request for a
// DPoP-bound token in the verifier's cache with a fresh ES256 proof (made
// before the timer starts, one per request): BenchmarkMiddlewareCacheHit's
// work, plus the proof's check (parse, the jwk, one ECDSA verification,
// htm, htu, iat, ath) and its record in the replay memory.
func BenchmarkMiddlewareDPoP(b *testing.B) {
	ctx := context.Background()
	store := memory.New()
	ks, err := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Algorithm: token.EdDSA})
	if err != nil {
		b.Fatal(err)
	}
	iss, _ := token.NewIssuer(token.IssuerConfig{Issuer: "https://as.test", Audience: []string{"https://api.test"}, Keys: ks})
	revs, _ := token.NewRevocations(ctx, token.RevocationsConfig{Store: store})
	v, err := token.NewVerifier(token.VerifierConfig{Issuer: "https://as.test", Audience: "https://api.test",
		Keys: ks, Algorithms: []token.Algorithm{token.EdDSA}, Revocations: revs})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := dpop.NewProver(key)
	tok, _, err := iss.Mint(ctx, token.Grant{Subject: "k1", ClientID: "k1",
		Scope: scope.MustParse("read:users read:participants"), Lifetime: 24 * time.Hour, JKT: p.Thumbprint()})
	if err != nil {
		b.Fatal(err)
	}
	dv, _ := dpop.NewVerifier(dpop.Config{Algorithms: dpop.DefaultAlgorithms()})
	m, err := New(Config{Verifier: v, DPoP: dv, DPoPURL: RequestURL("https://api.test")})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Require("read:users")(noop)
	req := httptest.NewRequest("GET", "/v1/staff", nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	proofs := make([][]string, b.N+1)
	for i := range proofs {
		s, err := p.Proof("GET", "https://api.test/v1/staff", tok)
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = []string{s}
	}
	admitted := 0
	counting := m.Require("read:users")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { admitted++ }))
	req.Header["Dpop"] = proofs[b.N]
	counting.ServeHTTP(&nopWriter{h: http.Header{}}, req) // warm the cache
	if admitted != 1 {
		b.Fatal("the DPoP request was refused")
	}
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Header["Dpop"] = proofs[i]
		h.ServeHTTP(w, req)
	}
	b.StopTimer()
	req.Header["Dpop"] = proofs[0]
	if counting.ServeHTTP(&nopWriter{h: http.Header{}}, req); admitted != 1 {
		b.Fatal("a replayed proof was admitted")
	}
}
