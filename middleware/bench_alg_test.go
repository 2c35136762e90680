package middleware_test

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

type discard struct{ h http.Header }

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) Write(b []byte) (int, error) { return len(b), nil }
func (w *discard) WriteHeader(int)             {}

// BenchmarkMiddlewareMiss measures a request through the middleware whose
// token is not cached (the verifier's cache is off: every request
// verifies), per algorithm, beside bare go-jose parse+verify of the same
// token.
func BenchmarkMiddlewareMiss(b *testing.B) {
	for _, alg := range []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.PS256} {
		ctx := context.Background()
		store := memory.New()
		var signer crypto.Signer
		ks, err := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Algorithm: alg,
			Generate: func(a token.Algorithm) (crypto.Signer, error) {
				s, err := token.GenerateKey(a, nil)
				signer = s
				return s, err
			}})
		if err != nil {
			b.Fatal(err)
		}
		issuer, _ := token.NewIssuer(token.IssuerConfig{Issuer: "https://as.test", Audience: []string{"https://api.test"}, Keys: ks})
		revs, _ := token.NewRevocations(ctx, token.RevocationsConfig{Store: store})
		v, err := token.NewVerifier(token.VerifierConfig{Issuer: "https://as.test", Audience: "https://api.test",
			Keys: ks, Algorithms: []token.Algorithm{alg}, Revocations: revs, CacheSize: -1})
		if err != nil {
			b.Fatal(err)
		}
		tok, _, err := issuer.Mint(ctx, token.Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse("read:users read:participants"), Lifetime: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		m, _ := middleware.New(middleware.Config{Verifier: v})
		h := m.Require("read:users")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest("GET", "/v1/staff", nil)
		req.Header.Set("Authorization", "Bearer "+tok)

		b.Run(string(alg)+"/middleware", func(b *testing.B) {
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
		b.Run(string(alg)+"/go-jose", func(b *testing.B) {
			pub := signer.Public()
			b.ReportAllocs()
			for b.Loop() {
				jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.Verify(pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
