package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// nopWriter is a ResponseWriter that keeps nothing, so that benchmarks
// measure the middleware rather than a recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

var noop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// keyturnVerifier returns keyturn's verifier, with its default cache and a
// revocation view, and a real EdDSA token it accepts.
func keyturnVerifier(b testing.TB) (*token.Verifier, string) {
	ctx := context.Background()
	store := memory.New()
	ks, err := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Algorithm: token.EdDSA})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := token.NewIssuer(token.IssuerConfig{Issuer: "https://as.test", Audience: []string{"https://api.test"}, Keys: ks})
	if err != nil {
		b.Fatal(err)
	}
	revs, err := token.NewRevocations(ctx, token.RevocationsConfig{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	v, err := token.NewVerifier(token.VerifierConfig{Issuer: "https://as.test", Audience: "https://api.test",
		Keys: ks, Algorithms: []token.Algorithm{token.EdDSA}, Revocations: revs})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := iss.Mint(ctx, token.Grant{Subject: "k1", ClientID: "k1",
		Scope: scope.MustParse("read:users read:participants"), Lifetime: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return v, tok
}

func benchHit(b *testing.B, parallel bool) {
	v, tok := keyturnVerifier(b)
	m, _ := New(Config{Verifier: v})
	h := m.Require("read:users")(noop)
	req := httptest.NewRequest("GET", "/v1/staff", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // warm the cache
	first, err := v.Verify(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			w := &nopWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, req)
			}
		})
	} else {
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	}
	b.StopTimer()
	// A verification makes new claims; the cache hands out the same ones.
	if again, err := v.Verify(context.Background(), tok); err != nil || again != first {
		b.Fatal("the token was not served from the verifier's cache")
	}
}

// BenchmarkMiddlewareCacheHit is the middleware's cost per request when the
// token is in the token.Verifier's cache: extraction, SHA-256, lookup,
// revocation check, scope check, context.
func BenchmarkMiddlewareCacheHit(b *testing.B)         { benchHit(b, false) }
func BenchmarkMiddlewareCacheHitParallel(b *testing.B) { benchHit(b, true) }
