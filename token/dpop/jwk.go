package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/keyturn/keyturn/internal/jsonscan"
)

// The algorithms a proof may use: a Verifier allows a subset of them.
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256
	EdDSA = "EdDSA" // Ed25519 (RFC 8037)
	// Ed25519 is the fully-specified name of EdDSA with Ed25519 (RFC
	// 9864), which some clients (oauth4webapi) send instead of EdDSA.
	Ed25519 = "Ed25519"
	PS256   = "PS256" // RSASSA-PSS with SHA-256
	RS256   = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
)

// DefaultAlgorithms returns keyturn's choice of proof algorithms, in the
// order advertised: every algorithm this package knows.
func DefaultAlgorithms() []string { return []string{ES256, EdDSA, Ed25519, PS256, RS256} }

func knownAlg(a string) bool {
	return a == ES256 || a == EdDSA || a == Ed25519 || a == PS256 || a == RS256
}

// Bounds on RSA keys in proofs, in bits. The upper bound is for the
// server's sake: a proof is checked before its client authenticates, and
// verifying costs the square of the modulus size (some 40 µs at 2048
// bits, 150 µs at 4096, 600 µs at 8192).
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// privateMembers are JWK members that hold private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof's jwk
// holding any of them is refused.
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicKey is a proof's jwk, parsed: the key, the algorithms it fits and
// its RFC 7638 thumbprint.
type publicKey struct {
	key crypto.PublicKey
	kty string
	jkt string
}

var b64 = base64.RawURLEncoding.Strict()

// parseJWK reads the jwk header parameter: a JSON object holding a public
// EC P-256, Ed25519 or RSA key. The thumbprint is taken over the members
// as received, which are checked to be the key's one canonical encoding
// (fixed-length coordinates; RSA integers without leading zeros), so that
// one key has one thumbprint.
func parseJWK(raw []byte) (*publicKey, error) {
	m := map[string]string{}
	err := members(raw, "jwk", func(name string, v []byte) error {
		for _, p := range privateMembers {
			if name == p {
				return fmt.Errorf("%w: jwk holds private key material", ErrInvalidProof)
			}
		}
		switch name {
		case "kty", "crv", "x", "y", "n", "e":
			s, ok := jsonscan.String(v)
			if !ok {
				return fmt.Errorf("%w: jwk member %q is not a string", ErrInvalidProof, name)
			}
			m[name] = s
		}
		return nil // kid, use, alg, key_ops...: not part of the key
	})
	if err != nil {
		return nil, err
	}
	switch m["kty"] {
	case "EC":
		if m["crv"] != "P-256" {
			return nil, fmt.Errorf("%w: jwk curve is not P-256", ErrInvalidProof)
		}
		x, err1 := b64.DecodeString(m["x"])
		y, err2 := b64.DecodeString(m["y"])
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("%w: jwk coordinates are malformed", ErrInvalidProof)
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: jwk is not a point on P-256", ErrInvalidProof)
		}
		return &publicKey{key: k, kty: "EC",
			jkt: thumbprint(`{"crv":"P-256","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`)}, nil
	case "OKP":
		if m["crv"] != "Ed25519" {
			return nil, fmt.Errorf("%w: jwk curve is not Ed25519", ErrInvalidProof)
		}
		x, err := b64.DecodeString(m["x"])
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: jwk key is malformed", ErrInvalidProof)
		}
		return &publicKey{key: ed25519.PublicKey(x), kty: "OKP",
			jkt: thumbprint(`{"crv":"Ed25519","kty":"OKP","x":"` + m["x"] + `"}`)}, nil
	case "RSA":
		n, err1 := b64.DecodeString(m["n"])
		e, err2 := b64.DecodeString(m["e"])
		if err1 != nil || err2 != nil || len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 || len(e) > 4 {
			return nil, fmt.Errorf("%w: jwk modulus or exponent is malformed", ErrInvalidProof)
		}
		if bits := new(big.Int).SetBytes(n).BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("%w: jwk RSA modulus must have %d to %d bits", ErrInvalidProof, minRSABits, maxRSABits)
		}
		exp := 0
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		if exp < 3 || exp&1 == 0 {
			return nil, fmt.Errorf("%w: jwk RSA exponent is malformed", ErrInvalidProof)
		}
		return &publicKey{key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, kty: "RSA",
			jkt: thumbprint(`{"e":"` + m["e"] + `","kty":"RSA","n":"` + m["n"] + `"}`)}, nil
	}
	return nil, fmt.Errorf("%w: jwk is not an EC, OKP or RSA public key", ErrInvalidProof)
}

// thumbprint is the base64url SHA-256 of an RFC 7638 canonical JWK.
func thumbprint(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// fits reports whether the key can make signatures of alg.
func (k *publicKey) fits(alg string) bool {
	switch alg {
	case ES256:
		return k.kty == "EC"
	case EdDSA, Ed25519:
		return k.kty == "OKP"
	case PS256, RS256:
		return k.kty == "RSA"
	}
	return false
}

// verify checks the JWS signature sig over input with the key, for alg.
func (k *publicKey) verify(alg string, input, sig []byte) bool {
	switch alg {
	case EdDSA, Ed25519:
		return ed25519.Verify(k.key.(ed25519.PublicKey), input, sig)
	}
	h := sha256.Sum256(input)
	switch alg {
	case ES256:
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.key.(*ecdsa.PublicKey), h[:], r, s)
	case RS256:
		return rsa.VerifyPKCS1v15(k.key.(*rsa.PublicKey), crypto.SHA256, h[:], sig) == nil
	case PS256:
		return rsa.VerifyPSS(k.key.(*rsa.PublicKey), crypto.SHA256, h[:], sig,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}) == nil
	}
	return false
}
