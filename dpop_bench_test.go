package keyturn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// BenchmarkExchangeDPoP measures one whole client-credentials exchange
// with a DPoP proof, as BenchmarkExchange does without (EdDSA tokens, 10
// keys; proof=none is that exchange again, in the same run): the proof's
// check, its record in the replay memory, and cnf in the token. Proofs are
// made before the timer starts, one per request (each is accepted once).
// impl=crypto is the bare verification of a proof's signature: the floor
// of what the proof adds.
func BenchmarkExchangeDPoP(b *testing.B) {
	bk := keysForBench(b, 10)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ed := ed25519.NewKeyFromSeed(make([]byte, 32))
	for _, tc := range []struct {
		name string
		key  crypto.Signer // nil: no proof
	}{{"none", nil}, {"ES256", ec}, {"EdDSA", ed}} {
		b.Run("proof="+tc.name, func(b *testing.B) {
			srv, err := New(context.Background(), Config{
				Store: benchStore{Store: memory.New(), keys: bk.store}, Issuer: "https://as.test",
				KeyPrefix: "ds_live", Pepper: []byte(benchPepper), Algorithm: token.EdDSA,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			body := rewindBody{strings.NewReader("grant_type=client_credentials")}
			r := httptest.NewRequest(http.MethodPost, "https://as.test/oauth/token", body)
			r.Header.Set("Content-Type", formType)
			r.Header.Set("Authorization", basicAuth(bk.key.ID(), bk.key.ClientSecret()))
			proofs := make([][]string, b.N)
			if tc.key != nil {
				p, err := dpop.NewProver(tc.key)
				if err != nil {
					b.Fatal(err)
				}
				for i := range proofs {
					proofs[i] = []string{mustProof(b, p, "POST", "https://as.test/oauth/token", "")}
				}
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				body.Seek(0, 0)
				clear(w.h)
				if tc.key != nil {
					r.Header["Dpop"] = proofs[i]
				}
				h.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", ec}, {"EdDSA", ed}} {
		p, _ := dpop.NewProver(tc.key)
		proof := mustProof(b, p, "POST", "https://as.test/oauth/token", "")
		b.Run("proof="+tc.name+"/impl=crypto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bareVerify(tc.key.Public(), proof) {
					b.Fatal("the proof does not verify")
				}
			}
		})
	}
}

// bareVerify verifies a compact JWS's signature with pub and nothing
// else: base64 decoding, the hash, the check.
func bareVerify(pub crypto.PublicKey, jws string) bool {
	i := strings.LastIndexByte(jws, '.')
	sig, err := base64.RawURLEncoding.DecodeString(jws[i+1:])
	if err != nil {
		return false
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, []byte(jws[:i]), sig)
	case *ecdsa.PublicKey:
		h := sha256.Sum256([]byte(jws[:i]))
		return ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	}
	return false
}
