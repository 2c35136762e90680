package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"log/slog"
	"sync"
)

// Versions of the stored hash, its first byte.
const (
	hashSHA256     byte = 1 // SHA-256, no pepper
	hashHMACSHA256 byte = 2 // HMAC-SHA-256 keyed with the pepper
)

// HashLen is the length of what [Hasher.Hash] returns: a version byte and a
// SHA-256 sized digest.
const HashLen = 1 + sha256.Size

// hashDomain separates key hashes from any other use of the pepper.
const hashDomain = "keyturn/keys secret hash v1\x00"

// maxHashInput is the longest message a key hash covers.
const maxHashInput = len(hashDomain) + IDLen + 1 + SecretLen

// Hasher hashes and verifies key secrets for storage. Secrets are 256-bit
// random strings, so a fast hash is as good as a slow one against guessing,
// and a slow one would cost every token request.
//
// The hash covers the key id as well as the secret, so a stored hash cannot
// be moved to another record. With a pepper it is HMAC-SHA-256 keyed with the
// pepper; without one, plain SHA-256.
//
// # Security
//
// A pepper is recommended: 32 random bytes kept outside the database (in the
// host's secret manager or configuration). With a pepper, a copy of the key
// table alone does not even let an attacker check a guessed or leaked key
// against it. Changing the pepper invalidates every stored hash.
//
// The zero Hasher is usable and uses no pepper. A Hasher is safe for
// concurrent use.
type Hasher struct {
	pepper []byte
	pool   sync.Pool // *hashState
}

// hashState is the per-call scratch space, pooled so that Verify does not
// allocate.
type hashState struct {
	h   hash.Hash
	in  [maxHashInput]byte
	out [sha256.Size]byte
}

// NewHasher returns a Hasher keyed with pepper (copied). A nil or empty
// pepper selects unkeyed SHA-256; see the Security section of [Hasher].
func NewHasher(pepper []byte) *Hasher {
	return &Hasher{pepper: append([]byte(nil), pepper...)}
}

func (h *Hasher) version() byte {
	if len(h.pepper) == 0 {
		return hashSHA256
	}
	return hashHMACSHA256
}

// sum computes the digest of k into a pooled state, which the caller must
// put back.
func (h *Hasher) sum(k Key) *hashState {
	st, _ := h.pool.Get().(*hashState)
	if st == nil {
		st = new(hashState)
		if len(h.pepper) == 0 {
			st.h = sha256.New()
		} else {
			st.h = hmac.New(sha256.New, h.pepper)
		}
	}
	// The lengths are fixed for every valid Key; truncating anything longer
	// is only reachable with a Key that did not come from this package.
	n := copy(st.in[:], hashDomain)
	n += copy(st.in[n:], k.id)
	if n < len(st.in) {
		st.in[n] = 0
		n++
	}
	n += copy(st.in[n:], k.secret)
	st.h.Reset()
	st.h.Write(st.in[:n])
	clear(st.in[:n])
	st.h.Sum(st.out[:0])
	return st
}

func (h *Hasher) put(st *hashState) {
	st.h.Reset()
	clear(st.out[:])
	h.pool.Put(st)
}

// Hash returns the value to store for k: a version byte followed by the
// digest of the key id and secret. It is [HashLen] bytes long.
func (h *Hasher) Hash(k Key) []byte {
	st := h.sum(k)
	out := make([]byte, 0, HashLen)
	out = append(out, h.version())
	out = append(out, st.out[:]...)
	h.put(st)
	return out
}

// Verify reports whether stored is the hash of k made by this Hasher (same
// pepper). The digest comparison takes constant time.
func (h *Hasher) Verify(k Key, stored []byte) bool {
	st := h.sum(k)
	ok := subtle.ConstantTimeCompare(st.out[:], stored[min(1, len(stored)):])
	h.put(st)
	// Length and version are not secret; they are checked after the work so
	// that a malformed record costs the same as a wrong secret.
	return ok == 1 && len(stored) == HashLen && stored[0] == h.version()
}

// verifyPair reports, as 1 or 0, whether a and whether b is the hash of k
// made by this Hasher: the digest of k is computed once and compared with
// both in constant time, so the work is the same whichever matches, or
// neither. It is how a key with two live secrets (during the grace period
// of a rotation) is checked.
func (h *Hasher) verifyPair(k Key, a, b []byte) (okA, okB int) {
	st := h.sum(k)
	okA = subtle.ConstantTimeCompare(st.out[:], a[min(1, len(a)):])
	okB = subtle.ConstantTimeCompare(st.out[:], b[min(1, len(b)):])
	h.put(st)
	v := h.version()
	return okA & wellFormed(a, v), okB & wellFormed(b, v)
}

// wellFormed is 1 if stored has the length and version of v's hashes. Both
// are public: they are checked after the work, without hiding the result.
func wellFormed(stored []byte, v byte) int {
	if len(stored) == HashLen && stored[0] == v {
		return 1
	}
	return 0
}

// Format implements [fmt.Formatter] so that printing a Hasher never shows
// its pepper.
func (h *Hasher) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), h.describe())
}

// LogValue implements [slog.LogValuer] without the pepper.
func (h *Hasher) LogValue() slog.Value { return slog.StringValue(h.describe()) }

func (h *Hasher) describe() string {
	if h == nil || len(h.pepper) == 0 {
		return "keys.Hasher{SHA-256}"
	}
	return "keys.Hasher{HMAC-SHA-256, pepper:[REDACTED]}"
}
