package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// nopWriter is a ResponseWriter that keeps nothing, so that benchmarks
// measure the middleware rather than a recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

var noop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// A realistic JWT length: the cache hashes the whole token.
const benchToken = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0." +
	"eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJzdWIiOiJrMSIsImF1ZCI6Imh0dHA6Ly8xMjcuMC4wLjE6ODA4MCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwLCJuYmYiOjE3MDAwMDAwMDAsImp0aSI6IlpxMXNkZmtqaHNka2ZqaHNka2YiLCJjbGllbnRfaWQiOiJrMSIsInNjb3BlIjoicmVhZDp1c2VycyByZWFkOnBhcnRpY2lwYW50cyJ9." +
	"c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"

func benchHit(b *testing.B, parallel bool) {
	f := newFake()
	f.add(benchToken, "read:users read:participants", time.Now().Add(24*time.Hour))
	c, err := NewCache(f, CacheConfig{Revocations: &revSet{}})
	if err != nil {
		b.Fatal(err)
	}
	m, _ := New(Config{Verifier: c})
	h := m.Require("read:users")(noop)
	req := httptest.NewRequest("GET", "/v1/staff", nil)
	req.Header.Set("Authorization", "Bearer "+benchToken)
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // warm the cache
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
	if f.calls.Load() != 1 {
		b.Fatalf("verifier called %d times: not a cache hit", f.calls.Load())
	}
}

// BenchmarkMiddlewareCacheHit is the middleware's cost per request when the
// token is cached: extraction, SHA-256, lookup, revocation check, scope
// check, context.
func BenchmarkMiddlewareCacheHit(b *testing.B)         { benchHit(b, false) }
func BenchmarkMiddlewareCacheHitParallel(b *testing.B) { benchHit(b, true) }
