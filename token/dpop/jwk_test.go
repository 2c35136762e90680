package dpop

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// TestParseJWKRefuses: only canonical public keys of the known types and
// sizes become proof keys.
func TestParseJWKRefuses(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	modulus := func(bits int) string { // an odd number of that many bits
		b := make([]byte, bits/8)
		rand.Read(b)
		b[0] |= 0x80
		b[len(b)-1] |= 1
		return enc(b)
	}
	x := enc(make([]byte, 32))
	for name, tc := range map[string]struct{ jwk, why string }{
		"RSA 4104 bits":       {`{"kty":"RSA","n":"` + modulus(4104) + `","e":"AQAB"}`, "modulus"},
		"RSA 1024 bits":       {`{"kty":"RSA","n":"` + modulus(1024) + `","e":"AQAB"}`, "modulus"},
		"RSA leading zero":    {`{"kty":"RSA","n":"AA` + modulus(2048) + `","e":"AQAB"}`, "malformed"},
		"RSA e of 40 bits":    {`{"kty":"RSA","n":"` + modulus(2048) + `","e":"` + enc(big.NewInt(1<<40+1).Bytes()) + `"}`, "malformed"},
		"RSA even e":          {`{"kty":"RSA","n":"` + modulus(2048) + `","e":"AQAA"}`, "exponent"},
		"EC P-384":            {`{"kty":"EC","crv":"P-384","x":"` + x + `","y":"` + x + `"}`, "P-256"},
		"EC off the curve":    {`{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + enc([]byte{1: 1, 31: 0}) + `"}`, "point"},
		"EC short coordinate": {`{"kty":"EC","crv":"P-256","x":"` + enc(make([]byte, 31)) + `","y":"` + x + `"}`, "coordinates"},
		"OKP Ed448":           {`{"kty":"OKP","crv":"Ed448","x":"` + x + `"}`, "Ed25519"},
		"OKP padded":          {`{"kty":"OKP","crv":"Ed25519","x":"` + x + `="}`, "malformed"},
		"oct":                 {`{"kty":"oct","k":"c2VjcmV0"}`, "private"},
		"private d":           {`{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + x + `"}`, "private"},
		"no kty":              {`{"crv":"Ed25519","x":"` + x + `"}`, "not an EC"},
		"kty a number":        {`{"kty":1}`, "string"},
	} {
		_, err := parseJWK([]byte(tc.jwk))
		if !errors.Is(err, ErrInvalidProof) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: %v, want ErrInvalidProof about %q", name, err, tc.why)
		}
	}
}
