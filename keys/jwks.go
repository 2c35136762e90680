package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"
)

// Bounds of a client's JSON Web Key Set (see [ParseJWKS]).
const (
	// MaxJWKSSize is the largest JWK set accepted, in bytes.
	MaxJWKSSize = 16 << 10
	// MaxJWKSKeys is the most keys a client's JWK set may hold.
	MaxJWKSKeys = 10
	// MaxKIDLen bounds a key's kid, in bytes.
	MaxKIDLen = 128
	// MinRSABits and MaxRSABits bound the modulus of an RSA key.
	MinRSABits = 2048
	MaxRSABits = 8192
)

// ErrInvalidJWKS reports a JWK set [ParseJWKS] refuses. Its text says what
// is wrong without quoting the input.
var ErrInvalidJWKS = errors.New("keyturn/keys: invalid JWK set")

// PublicKey is one public key of a client that authenticates with
// private_key_jwt (RFC 7523), as [ParseJWKS] returns it.
type PublicKey struct {
	// ID is the key's kid.
	ID string
	// Key is an *ecdsa.PublicKey on P-256, an ed25519.PublicKey or an
	// *rsa.PublicKey of MinRSABits to MaxRSABits bits.
	Key crypto.PublicKey
	// Algorithms are the JWS algorithms the key may sign with: ES256 for
	// P-256, EdDSA for Ed25519, RS256 and PS256 for RSA, or only the key's
	// "alg" when it has one.
	Algorithms []string
}

// ParseJWKS parses a client's public JSON Web Key Set (RFC 7517 §5):
// strict JSON of at most MaxJWKSSize bytes (no member twice in the set or
// a key, at most 32 members in either, nesting at most 16 deep) with a
// "keys" array of 1 to MaxJWKSKeys keys, each an EC P-256, OKP
// Ed25519 or RSA key of at least MinRSABits bits with a kid unique in the
// set. A key may not hold private or symmetric material (d, p, q, dp, dq,
// qi, oth, k; kty "oct"), "use" other than "sig", key_ops, certificates or
// an "alg" that does not fit it. It returns the keys and the set in a
// canonical form holding only kty, kid, use, alg and the public
// parameters, which is what a store keeps. Every error wraps
// ErrInvalidJWKS.
func ParseJWKS(data []byte) ([]PublicKey, []byte, error) {
	if len(data) > MaxJWKSSize {
		return nil, nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidJWKS, MaxJWKSSize)
	}
	if tooDeep(data) {
		return nil, nil, fmt.Errorf("%w: nested more than %d levels", ErrInvalidJWKS, maxJWKSDepth)
	}
	if !utf8.Valid(data) || !json.Valid(data) {
		return nil, nil, fmt.Errorf("%w: not JSON", ErrInvalidJWKS)
	}
	if err := uniqueMembers(data); err != nil {
		return nil, nil, err
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil || set.Keys == nil {
		return nil, nil, fmt.Errorf("%w: want an object with a \"keys\" array of objects", ErrInvalidJWKS)
	}
	if len(set.Keys) == 0 || len(set.Keys) > MaxJWKSKeys {
		return nil, nil, fmt.Errorf("%w: want 1 to %d keys", ErrInvalidJWKS, MaxJWKSKeys)
	}
	keys := make([]PublicKey, 0, len(set.Keys))
	out := make([]map[string]string, 0, len(set.Keys))
	for i, m := range set.Keys {
		pk, canon, err := parseJWK(m)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: key %d: %s", ErrInvalidJWKS, i, err)
		}
		for _, prev := range keys {
			if prev.ID == pk.ID {
				return nil, nil, fmt.Errorf("%w: key %d: kid repeated", ErrInvalidJWKS, i)
			}
		}
		keys = append(keys, pk)
		out = append(out, canon)
	}
	canonical, err := json.Marshal(struct {
		Keys []map[string]string `json:"keys"`
	}{out})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidJWKS, err)
	}
	return keys, canonical, nil
}

// refused are the members that hold private or symmetric key material,
// or certificates (which keyturn does not check), or key_ops (use "use").
var refused = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "x5c", "x5u", "x5t", "x5t#S256", "key_ops"}

// parseJWK parses one JWK of a client's set.
func parseJWK(m map[string]json.RawMessage) (PublicKey, map[string]string, error) {
	str := func(name string) (string, bool, error) {
		raw, ok := m[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true, fmt.Errorf("%s is not a string", name)
		}
		return s, true, nil
	}
	for _, name := range refused {
		if _, ok := m[name]; ok {
			return PublicKey{}, nil, fmt.Errorf("%s is not allowed (public signing keys only)", name)
		}
	}
	vals := map[string]string{}
	for _, name := range []string{"kty", "kid", "use", "alg", "crv", "x", "y", "n", "e"} {
		s, ok, err := str(name)
		if err != nil {
			return PublicKey{}, nil, err
		}
		if ok {
			vals[name] = s
		}
	}
	kid := vals["kid"]
	if kid == "" || len(kid) > MaxKIDLen {
		return PublicKey{}, nil, fmt.Errorf("kid is required, at most %d bytes", MaxKIDLen)
	}
	if use, ok := vals["use"]; ok && use != "sig" {
		return PublicKey{}, nil, errors.New(`use must be "sig"`)
	}
	pk := PublicKey{ID: kid}
	canon := map[string]string{"kty": vals["kty"], "kid": kid}
	var params []string
	switch vals["kty"] {
	case "EC":
		if vals["crv"] != "P-256" {
			return PublicKey{}, nil, errors.New("an EC key must be on P-256")
		}
		x, errX := fixedB64(vals["x"], 32)
		y, errY := fixedB64(vals["y"], 32)
		if errX != nil || errY != nil {
			return PublicKey{}, nil, errors.New("an EC key needs x and y of 32 bytes, base64url")
		}
		point := append(append([]byte{4}, x...), y...)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return PublicKey{}, nil, errors.New("the EC point is not on P-256")
		}
		pk.Key, pk.Algorithms, params = k, []string{"ES256"}, []string{"crv", "x", "y"}
	case "OKP":
		if vals["crv"] != "Ed25519" {
			return PublicKey{}, nil, errors.New("an OKP key must be Ed25519")
		}
		x, err := fixedB64(vals["x"], ed25519.PublicKeySize)
		if err != nil {
			return PublicKey{}, nil, errors.New("an Ed25519 key needs x of 32 bytes, base64url")
		}
		pk.Key, pk.Algorithms, params = ed25519.PublicKey(x), []string{"EdDSA"}, []string{"crv", "x"}
	case "RSA":
		n, errN := b64url(vals["n"])
		e, errE := b64url(vals["e"])
		if errN != nil || errE != nil || len(n) == 0 || n[0] == 0 || len(e) == 0 || len(e) > 4 || e[0] == 0 {
			return PublicKey{}, nil, errors.New("an RSA key needs n and e, base64url without leading zeros")
		}
		bits := len(n)*8 - leadingZeros(n[0])
		if bits < MinRSABits || bits > MaxRSABits {
			return PublicKey{}, nil, fmt.Errorf("an RSA modulus must have %d to %d bits", MinRSABits, MaxRSABits)
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
			return PublicKey{}, nil, errors.New("the RSA exponent must be odd and at least 3")
		}
		pk.Key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
		pk.Algorithms, params = []string{"RS256", "PS256"}, []string{"n", "e"}
	default:
		return PublicKey{}, nil, errors.New(`kty must be "EC", "OKP" or "RSA"`)
	}
	for _, p := range params {
		canon[p] = vals[p]
	}
	if alg, ok := vals["alg"]; ok {
		fits := false
		for _, a := range pk.Algorithms {
			fits = fits || a == alg
		}
		if !fits {
			return PublicKey{}, nil, errors.New("alg does not fit the key")
		}
		pk.Algorithms, canon["alg"] = []string{alg}, alg
	}
	if _, ok := vals["use"]; ok {
		canon["use"] = "sig"
	}
	return pk, canon, nil
}

func leadingZeros(b byte) int {
	n := 0
	for mask := byte(0x80); mask != 0 && b&mask == 0; mask >>= 1 {
		n++
	}
	return n
}

// b64url decodes unpadded base64url (RFC 7515 §2), refusing non-canonical
// trailing bits.
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

func fixedB64(s string, n int) ([]byte, error) {
	b, err := b64url(s)
	if err != nil || len(b) != n {
		return nil, errors.New("wrong length")
	}
	return b, nil
}

// maxJWKSDepth bounds how deeply a JWK set may nest arrays and objects (a
// set needs 3 levels), so that parsing one costs memory linear in its size
// with a small constant.
const maxJWKSDepth = 16

// maxJWKMembers bounds the members of the set's object and of each key
// (a key needs at most 8).
const maxJWKMembers = 32

// tooDeep reports whether data nests arrays and objects more than
// maxJWKSDepth deep, counting brackets outside strings; it does not
// otherwise check that data is JSON.
func tooDeep(data []byte) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > maxJWKSDepth {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

// uniqueMembers refuses a set in which an object that matters holds a
// member twice (RFC 7517 §4, JW-09): two readers of such a document may see
// different keys. It reads the top-level object and the objects of its
// "keys" array, at most MaxJWKSKeys of them with at most maxJWKMembers
// members each, member names only; every other
// value is skipped whole, so that its cost does not grow with the tokens
// it holds. data is valid JSON; a document of another shape is left to the
// caller to refuse.
func uniqueMembers(data []byte) error {
	errRepeated := fmt.Errorf("%w: a member is repeated", ErrInvalidJWKS)
	errTooMany := fmt.Errorf("%w: want 1 to %d keys", ErrInvalidJWKS, MaxJWKSKeys)
	errShape := errors.New("not the shape of a JWK set") // the caller refuses it
	errMembers := fmt.Errorf("%w: an object has more than %d members", ErrInvalidJWKS, maxJWKMembers)
	dec := json.NewDecoder(bytes.NewReader(data))
	var skip json.RawMessage
	skipValue := func(string) error { return dec.Decode(&skip) }
	// members reads the members of an object whose '{' was read, calling
	// value for each after its name.
	members := func(value func(name string) error) error {
		seen := map[string]bool{}
		for dec.More() {
			if len(seen) == maxJWKMembers {
				return errMembers
			}
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			if seen[name] {
				return errRepeated
			}
			seen[name] = true
			if err := value(name); err != nil {
				return err
			}
		}
		_, err := dec.Token() // '}'
		return err
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	err := members(func(name string) error {
		if name != "keys" {
			return skipValue(name)
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return errShape
		}
		for n := 1; dec.More(); n++ {
			if n > MaxJWKSKeys {
				return errTooMany
			}
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				return errShape
			}
			if err := members(skipValue); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	})
	if errors.Is(err, ErrInvalidJWKS) {
		return err
	}
	return nil
}
