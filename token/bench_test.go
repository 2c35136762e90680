package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/scope"
)

// benchEnv mints one token per algorithm and prepares the reference
// implementations over the same bytes: go-jose signing the same claims and
// verifying the same token, and the bare signature primitive over the same
// signing input.
type benchEnv struct {
	*env
	tok     string
	input   []byte // signing input: header.payload
	payload []byte // claims JSON
	sig     []byte // JWS signature
	asn1Sig []byte // the same ECDSA signature in ASN.1, for crypto/ecdsa
	jose    jose.Signer
}

func newBenchEnv(b *testing.B, alg Algorithm) *benchEnv {
	e := &benchEnv{env: newEnv(b, alg)}
	e.tok, _ = e.mint(b, testGrant)
	i := strings.LastIndexByte(e.tok, '.')
	e.input = []byte(e.tok[:i])
	var err error
	if e.sig, err = base64.RawURLEncoding.DecodeString(e.tok[i+1:]); err != nil {
		b.Fatal(err)
	}
	if e.payload, err = base64.RawURLEncoding.DecodeString(strings.Split(e.tok, ".")[1]); err != nil {
		b.Fatal(err)
	}
	if alg == ES256 {
		d := sha256.Sum256(e.input)
		if e.asn1Sig, err = ecdsa.SignASN1(rand.Reader, e.key.(*ecdsa.PrivateKey), d[:]); err != nil {
			b.Fatal(err)
		}
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", e.kid)
	if e.jose, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: e.key}, opts); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkSign compares, per algorithm, keyturn's Mint (the whole token:
// claims, jti, encoding, signature), go-jose signing the same claims bytes
// with the same header, and the bare signature over the same signing input.
func BenchmarkSign(b *testing.B) {
	ctx := context.Background()
	for _, alg := range allAlgs {
		e := newBenchEnv(b, alg)
		b.Run("alg="+string(alg)+"/impl=keyturn", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := e.issuer.Mint(ctx, testGrant); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+string(alg)+"/impl=gojose", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				jws, err := e.jose.Sign(e.payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.CompactSerialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+string(alg)+"/impl=crypto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bareSign(alg, e.key, e.input); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func bareSign(alg Algorithm, key crypto.Signer, input []byte) error {
	switch alg {
	case EdDSA:
		ed25519.Sign(key.(ed25519.PrivateKey), input)
		return nil
	case ES256:
		d := sha256.Sum256(input)
		_, err := ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
		return err
	case RS256:
		d := sha256.Sum256(input)
		_, err := rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), crypto.SHA256, d[:])
		return err
	default:
		d := sha256.Sum256(input)
		_, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:], pssOptions)
		return err
	}
}

// BenchmarkVerify compares, per algorithm, keyturn's Verify (every check,
// revocation included; the cache is off, so every call verifies),
// go-jose's ParseSignedCompact + Verify of the same token, and the bare
// signature check over the same signing input.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, alg := range allAlgs {
		e := newBenchEnv(b, alg)
		v := e.uncached(b)
		algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
		b.Run("alg="+string(alg)+"/impl=keyturn", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, e.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+string(alg)+"/impl=gojose", func(b *testing.B) {
			b.ReportAllocs()
			pub := e.key.Public()
			for b.Loop() {
				jws, err := jose.ParseSignedCompact(e.tok, algs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.Verify(pub); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+string(alg)+"/impl=crypto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bareVerify(alg, e.key.Public(), e.input, e.sig, e.asn1Sig) {
					b.Fatal("signature does not verify")
				}
			}
		})
	}
}

func bareVerify(alg Algorithm, pub crypto.PublicKey, input, sig, asn1Sig []byte) bool {
	switch alg {
	case EdDSA:
		return ed25519.Verify(pub.(ed25519.PublicKey), input, sig)
	case ES256:
		d := sha256.Sum256(input)
		return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], asn1Sig)
	case RS256:
		d := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig) == nil
	default:
		d := sha256.Sum256(input)
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig, nil) == nil
	}
}

// BenchmarkVerifyCacheHit is Verify of a token in the verifier's cache:
// length check, SHA-256, shard lookup, exp and revocation check. It is
// what every use of a token after the first costs, with or without HTTP.
func BenchmarkVerifyCacheHit(b *testing.B)         { benchVerifyHit(b, false) }
func BenchmarkVerifyCacheHitParallel(b *testing.B) { benchVerifyHit(b, true) }

func benchVerifyHit(b *testing.B, parallel bool) {
	ctx := context.Background()
	e := newEnv(b, EdDSA)
	// The real clock, as in production: the test clock takes a lock.
	iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys})
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys,
		Algorithms: []Algorithm{EdDSA}, Revocations: e.revs})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := iss.Mint(ctx, Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse("read:users read:participants")})
	if err != nil {
		b.Fatal(err)
	}
	first, err := v.Verify(ctx, tok)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if again, _ := v.Verify(ctx, tok); again != first {
		b.Fatal("not served from the cache")
	}
}
