package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func asn1Sig(r, s []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(r))
		b.AddASN1BigInt(new(big.Int).SetBytes(s))
	})
	return b.BytesOrPanic()
}

func TestECDSARawSignature(t *testing.T) {
	full := bytes.Repeat([]byte{0xff}, 32) // needs a leading 0x00 in ASN.1
	short := append([]byte{0x01}, bytes.Repeat([]byte{0x02}, 20)...)
	want := func(r, s []byte) []byte {
		out := make([]byte, 64)
		copy(out[32-len(r):], r)
		copy(out[64-len(s):], s)
		return out
	}
	ok := []struct {
		name string
		r, s []byte
	}{
		{"full_width", full, full},
		{"short_r", short, full},
		{"short_s", full, short},
		{"one_byte", []byte{1}, []byte{2}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			got, err := ecdsaRawSignature(asn1Sig(c.r, c.s), 32)
			if err != nil || !bytes.Equal(got, want(c.r, c.s)) {
				t.Fatalf("ecdsaRawSignature = %x, %v", got, err)
			}
		})
	}
	good := asn1Sig(full, short)
	bad := []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"trailing_data", append(bytes.Clone(good), 0)},
		{"r_too_long", asn1Sig(append([]byte{1}, full...), short)},
		{"negative", []byte{0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01}},
		{"not_a_sequence", good[2:]},
		{"third_integer", func() []byte {
			var b cryptobyte.Builder
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1Int64(2)
				b.AddASN1Int64(3)
			})
			return b.BytesOrPanic()
		}()},
	}
	for _, c := range bad {
		t.Run("refuses_"+c.name, func(t *testing.T) {
			if got, err := ecdsaRawSignature(c.der, 32); err == nil {
				t.Fatalf("accepted: %x", got)
			}
		})
	}
}

// opaqueSigner hides the concrete key type, as an HSM or KMS signer would,
// so the generic crypto.Signer paths are used.
type opaqueSigner struct{ k crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.k.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, d, opts)
}

// TestSignerOutputVerifies signs with every algorithm, through the concrete
// key and through an opaque crypto.Signer, and checks each signature with
// the standard library's verifier for the JWS form.
func TestSignerOutputVerifies(t *testing.T) {
	input := []byte("eyJhbGciOiJ4In0.eyJzdWIiOiJ4In0")
	for _, alg := range allAlgs {
		key := fixedKey(t, alg, 0)
		for name, k := range map[string]crypto.Signer{"concrete": key, "opaque": opaqueSigner{key}} {
			t.Run(string(alg)+"/"+name, func(t *testing.T) {
				s, err := newSigner(alg, k)
				if err != nil {
					t.Fatal(err)
				}
				// Several signatures, so that ECDSA values with leading
				// zero bytes are likely to be met.
				for range 50 {
					sig, err := s.sign(input)
					if err != nil {
						t.Fatal(err)
					}
					if len(sig) != signatureSize(k.Public()) {
						t.Fatalf("signature is %d bytes", len(sig))
					}
					d := sha256.Sum256(input)
					var ok bool
					switch pub := k.Public().(type) {
					case ed25519.PublicKey:
						ok = ed25519.Verify(pub, input, sig)
					case *ecdsa.PublicKey:
						r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
						ok = ecdsa.VerifyASN1(pub, d[:], asn1Sig(r.Bytes(), s.Bytes()))
					case *rsa.PublicKey:
						if alg == RS256 {
							ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
						} else {
							// PS256 salt is exactly the hash length.
							ok = rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}) == nil
						}
					}
					if !ok {
						t.Fatal("signature does not verify")
					}
					if alg == EdDSA {
						break // deterministic: one is enough
					}
				}
			})
		}
	}
}

func TestCheckPublicKey(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ed := fixedKey(t, EdDSA, 0).Public()
	p256 := fixedKey(t, ES256, 0).Public()
	rsaPub := testRSAKey(t, 0).Public()
	cases := []struct {
		name string
		alg  Algorithm
		pub  crypto.PublicKey
		ok   bool
	}{
		{"EdDSA_ed25519", EdDSA, ed, true},
		{"EdDSA_short", EdDSA, ed25519.PublicKey(make([]byte, 31)), false},
		{"EdDSA_p256", EdDSA, p256, false},
		{"ES256_p256", ES256, p256, true},
		{"ES256_p384", ES256, p384.Public(), false},
		{"ES256_rsa", ES256, rsaPub, false},
		{"RS256_2048", RS256, rsaPub, true},
		{"PS256_2048", PS256, rsaPub, true},
		{"RS256_1024", RS256, &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 1023), E: 65537}, false},
		{"PS256_ed25519", PS256, ed, false},
		{"HS256", "HS256", rsaPub, false},
		{"none", "none", ed, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := checkPublicKey(c.alg, c.pub); (err == nil) != c.ok {
				t.Fatalf("checkPublicKey = %v, want ok=%v", err, c.ok)
			}
		})
	}
}
