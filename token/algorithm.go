package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Algorithm is a JWS signature algorithm (RFC 7518 §3, RFC 8037) that
// keyturn signs and verifies with.
type Algorithm string

// The supported algorithms. Each key has exactly one of them.
const (
	// EdDSA is Ed25519 (RFC 8037). It is [DefaultAlgorithm].
	EdDSA Algorithm = "EdDSA"
	// ES256 is ECDSA on P-256 with SHA-256.
	ES256 Algorithm = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256; keys have at least 2048 bits.
	RS256 Algorithm = "RS256"
	// PS256 is RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt;
	// keys have at least 2048 bits.
	PS256 Algorithm = "PS256"
)

// DefaultAlgorithm is the algorithm a [KeySet] generates keys for when its
// configuration names none. See the package documentation for why.
const DefaultAlgorithm = EdDSA

// minRSABits is the smallest RSA modulus keyturn signs or verifies with
// (RFC 7518 §3.3).
const minRSABits = 2048

// generatedRSABits is the modulus size of the RSA keys [GenerateKey] makes.
const generatedRSABits = 2048

func (a Algorithm) valid() bool {
	switch a {
	case EdDSA, ES256, RS256, PS256:
		return true
	}
	return false
}

// GenerateKey generates a new private key for alg: an Ed25519 key for
// [EdDSA], a P-256 key for [ES256], a 2048-bit RSA key for [RS256] and
// [PS256]. Ed25519 keys are derived from 32 bytes of rand (crypto/rand when
// nil); since Go 1.26 ECDSA and RSA key generation always use the system's
// secure source and ignore rand (see testing/cryptotest.SetGlobalRandom for
// deterministic tests).
func GenerateKey(alg Algorithm, rand io.Reader) (crypto.Signer, error) {
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("keyturn/token: generating Ed25519 key: %w", err)
		}
		return priv, nil
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("keyturn/token: generating P-256 key: %w", err)
		}
		return priv, nil
	case RS256, PS256:
		priv, err := rsa.GenerateKey(rand, generatedRSABits)
		if err != nil {
			return nil, fmt.Errorf("keyturn/token: generating RSA key: %w", err)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedAlgorithm, safeName(string(alg)))
}

// checkPublicKey reports whether pub is a key of the type and strength alg
// requires.
func checkPublicKey(alg Algorithm, pub crypto.PublicKey) error {
	switch alg {
	case EdDSA:
		if k, ok := pub.(ed25519.PublicKey); ok && len(k) == ed25519.PublicKeySize {
			return nil
		}
		return errors.New("keyturn/token: EdDSA needs an Ed25519 key")
	case ES256:
		if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P256() {
			return nil
		}
		return errors.New("keyturn/token: ES256 needs a P-256 ECDSA key")
	case RS256, PS256:
		if k, ok := pub.(*rsa.PublicKey); ok && k.N.BitLen() >= minRSABits {
			return nil
		}
		return fmt.Errorf("keyturn/token: %s needs an RSA key of at least %d bits", alg, minRSABits)
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedAlgorithm, safeName(string(alg)))
}

// signatureSize returns the length in bytes of a JWS signature by the
// private half of pub.
func signatureSize(pub crypto.PublicKey) int {
	if k, ok := pub.(*rsa.PublicKey); ok {
		return k.Size()
	}
	return 64 // Ed25519, and P-256 R||S
}

// thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of
// pub, which keyturn uses as the kid.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	t, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keyturn/token: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}

// signer makes JWS signatures with one key, handing the signing input to the
// crypto.Signer directly rather than through go-jose.
type signer struct {
	alg Algorithm
	key crypto.Signer
	ed  ed25519.PrivateKey // set when key is an ed25519.PrivateKey: no interface call
}

func newSigner(alg Algorithm, key crypto.Signer) (*signer, error) {
	if err := checkPublicKey(alg, key.Public()); err != nil {
		return nil, err
	}
	s := &signer{alg: alg, key: key}
	if ed, ok := key.(ed25519.PrivateKey); ok {
		s.ed = ed
	}
	return s, nil
}

// pssOptions are the PS256 parameters: SHA-256 and a salt as long as the hash
// (RFC 7518 §3.5).
var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}

// sign returns the JWS signature of input (RFC 7515 §5.1, RFC 7518 §3):
// Ed25519 over the input itself; the others over its SHA-256, ECDSA as the
// fixed-size 64-byte R||S rather than ASN.1.
func (s *signer) sign(input []byte) ([]byte, error) {
	if s.ed != nil {
		return ed25519.Sign(s.ed, input), nil
	}
	var (
		sig []byte
		err error
	)
	switch s.alg {
	case EdDSA:
		sig, err = s.key.Sign(rand.Reader, input, crypto.Hash(0))
	case ES256:
		d := sha256.Sum256(input)
		if sig, err = s.key.Sign(rand.Reader, d[:], crypto.SHA256); err == nil {
			sig, err = ecdsaRawSignature(sig, 32)
		}
	case RS256:
		d := sha256.Sum256(input)
		sig, err = s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	case PS256:
		d := sha256.Sum256(input)
		sig, err = s.key.Sign(rand.Reader, d[:], pssOptions)
	default:
		err = ErrUnsupportedAlgorithm
	}
	if err != nil {
		return nil, fmt.Errorf("keyturn/token: signing with %s: %w", s.alg, err)
	}
	return sig, nil
}

// ecdsaRawSignature converts an ASN.1 ECDSA signature, SEQUENCE { r INTEGER,
// s INTEGER }, to the JWS form: r and s as big-endian integers of size bytes
// each (RFC 7518 §3.4).
func ecdsaRawSignature(der []byte, size int) ([]byte, error) {
	var (
		inner cryptobyte.String
		r, s  []byte
	)
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&s) || !inner.Empty() ||
		len(r) > size || len(s) > size {
		return nil, errors.New("keyturn/token: malformed ECDSA signature from signer")
	}
	out := make([]byte, 2*size)
	copy(out[size-len(r):size], r)
	copy(out[2*size-len(s):], s)
	return out, nil
}
