package keyturn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// BenchmarkExchangePrivateKeyJWT measures one whole client-credentials
// exchange (EdDSA access tokens, memory store) authenticated by a secret
// (HTTP Basic) and by a private_key_jwt assertion signed with EdDSA and
// with ES256: parse the form, parse the assertion and its claims, look up
// the client and parse its JWK set, verify the signature, record the jti
// (memory ReplayStore), mint and sign the token. Each assertion is used
// once; they are signed ahead, off the clock. Beside them, the bare check of
// an assertion's signature with the standard library (impl=crypto), the
// floor of what the assertion adds.
func BenchmarkExchangePrivateKeyJWT(b *testing.B) {
	// Each sub-benchmark has a server of its own, so that the assertion ids
	// one remembers do not weigh on the next.
	setup := func(b *testing.B) (keys.Key, string, func(*testing.B, string, ...string)) {
		srv, err := New(context.Background(), Config{
			Store: memory.New(), Issuer: testIssuer, KeyPrefix: "ds_live", Pepper: []byte(benchPepper),
			Algorithm: token.EdDSA, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			b.Fatal(err)
		}
		set := scope.MustParse("read:users read:participants")
		secretKey, _, err := srv.Keys().Create(context.Background(), keys.CreateParams{Name: "s", Scope: set}, set)
		if err != nil {
			b.Fatal(err)
		}
		_, rec, err := srv.Keys().Create(context.Background(), keys.CreateParams{Name: "pk", Scope: set, JWKS: clientJWKS()}, set)
		if err != nil {
			b.Fatal(err)
		}
		id := rec.ID
		h := srv.Handler()
		w := &discardWriter{h: http.Header{}}
		serve := func(b *testing.B, body string, hdr ...string) {
			r := httptest.NewRequest(http.MethodPost, "https://as.test/oauth/token", strings.NewReader(body))
			r.Header.Set("Content-Type", formType)
			for i := 0; i < len(hdr); i += 2 {
				r.Header.Set(hdr[i], hdr[i+1])
			}
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
		return secretKey, id, serve
	}
	b.Run("method=client_secret_basic", func(b *testing.B) {
		secretKey, _, serve := setup(b)
		b.ReportAllocs()
		auth := basicAuth(secretKey.ID(), secretKey.ClientSecret())
		for b.Loop() {
			serve(b, "grant_type=client_credentials", "Authorization", auth)
		}
	})
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key any
		kid string
	}{
		{jose.EdDSA, kjEd, "ed"},
		{jose.ES256, kjEC, "ec"},
	} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: tc.key}, (&jose.SignerOptions{}).WithHeader("kid", tc.kid))
		if err != nil {
			b.Fatal(err)
		}
		b.Run("method=private_key_jwt/alg="+string(tc.alg), func(b *testing.B) {
			_, id, serve := setup(b)
			var pool []string
			n := 0
			next := func(b *testing.B) string {
				if len(pool) == 0 {
					b.StopTimer()
					exp := time.Now().Add(2 * time.Minute).Unix()
					for range 2000 {
						n++
						claims, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": testIssuer, "exp": exp, "jti": "bench-" + string(tc.alg) + "-" + strconv.Itoa(n)})
						jws, err := signer.Sign(claims)
						if err != nil {
							b.Fatal(err)
						}
						s, _ := jws.CompactSerialize()
						pool = append(pool, url.Values{"grant_type": {"client_credentials"},
							"client_assertion_type": {ClientAssertionType}, "client_assertion": {s}}.Encode())
					}
					b.StartTimer()
				}
				body := pool[len(pool)-1]
				pool = pool[:len(pool)-1]
				return body
			}
			b.ReportAllocs()
			for b.Loop() {
				serve(b, next(b))
			}
		})
		// The floor: the bare signature check of one assertion.
		jws, err := signer.Sign([]byte(`{"iss":"W7p6DXeF6zzybyBN","sub":"W7p6DXeF6zzybyBN","aud":"https://as.test","exp":1,"jti":"x"}`))
		if err != nil {
			b.Fatal(err)
		}
		compact, _ := jws.CompactSerialize()
		dot := strings.LastIndexByte(compact, '.')
		input := []byte(compact[:dot])
		sig, _ := base64.RawURLEncoding.DecodeString(compact[dot+1:])
		b.Run("verify/alg="+string(tc.alg)+"/impl=crypto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ok := false
				switch k := tc.key.(type) {
				case ed25519.PrivateKey:
					ok = ed25519.Verify(k.Public().(ed25519.PublicKey), input, sig)
				case *ecdsa.PrivateKey:
					d := sha256.Sum256(input)
					ok = ecdsa.Verify(&k.PublicKey, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
				}
				if !ok {
					b.Fatal("the signature does not verify")
				}
			}
		})
	}
}
