package token

import (
	"errors"
	"fmt"
	"io"
)

// DefaultOpaquePrefix starts opaque tokens when no prefix is configured.
const DefaultOpaquePrefix = "kt_at"

// Opaque token shape: <prefix>_<opaqueBodyLen base62 characters>.
const (
	opaqueBodyLen      = 43 // 43 × log2(62) ≈ 256.03 bits
	maxOpaquePrefixLen = 32
	base62             = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// checkOpaquePrefix accepts 1 to 32 characters of [a-z0-9_] that start with
// a letter and do not end with '_'.
func checkOpaquePrefix(p string) error {
	bad := p == "" || len(p) > maxOpaquePrefixLen || p[0] < 'a' || p[0] > 'z' || p[len(p)-1] == '_'
	for i := 0; i < len(p) && !bad; i++ {
		c := p[i]
		bad = !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_')
	}
	if bad {
		return errors.New("keyturn/token: opaque token prefix must be 1 to 32 characters of [a-z0-9_], start with a letter and not end with '_'")
	}
	return nil
}

// newOpaqueToken returns prefix + "_" + 43 base62 characters drawn from rand
// without bias (bytes of 248 and above are rejected).
func newOpaqueToken(prefix string, rand io.Reader) (string, error) {
	out := make([]byte, 0, len(prefix)+1+opaqueBodyLen)
	out = append(out, prefix...)
	out = append(out, '_')
	var buf [64]byte
	for len(out) < cap(out) {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return "", fmt.Errorf("keyturn/token: reading opaque token: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < cap(out) {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

// isOpaqueShape reports whether tok has the shape of an opaque token with
// the given prefix, so that garbage is refused before any storage lookup.
func isOpaqueShape(prefix, tok string) bool {
	if len(tok) != len(prefix)+1+opaqueBodyLen || tok[:len(prefix)] != prefix || tok[len(prefix)] != '_' {
		return false
	}
	for i := len(prefix) + 1; i < len(tok); i++ {
		c := tok[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
