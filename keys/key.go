package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
)

// Lengths of the parts of a key. They are fixed: [Parse] and [FromPair]
// accept nothing else.
const (
	// IDLen is the length of a key id: 16 base62 characters, about 95 bits
	// drawn at random, enough that ids never collide in practice and cannot
	// be enumerated. The id is public; it is not what makes a key secret.
	IDLen = 16

	// SecretLen is the length of a key's secret half: 43 base62 characters
	// (256.03 bits of randomness) followed by a 6-character checksum.
	SecretLen = secretBodyLen + checksumLen

	// MaxPrefixLen bounds the length of a key prefix.
	MaxPrefixLen = 32

	secretBodyLen = 43
	checksumLen   = 6
)

// alphabet is base62 in ASCII order. Neither it nor a prefix holds a
// character that a URL, a form body or an HTTP Basic header would encode, so
// a key and its pair form travel unchanged everywhere.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed reports that a string does not have the shape of a key with
// the expected prefix.
var ErrMalformed = errors.New("keyturn/keys: malformed key")

// ErrChecksum reports that a string has the shape of a key but its checksum
// does not match: it was mistyped, truncated, or made up.
var ErrChecksum = errors.New("keyturn/keys: key checksum mismatch")

// ErrInvalidPrefix reports a prefix that is empty, too long, or holds a
// character outside [a-z0-9_]. It is a configuration error, not bad input.
var ErrInvalidPrefix = errors.New("keyturn/keys: invalid key prefix")

// Key is an API key: a prefix, a public key id and a secret. The same key is
// a client_id / client_secret pair: [Key.ID] is the client_id and
// [Key.ClientSecret] the client_secret.
//
// The zero Key is not a valid key. Obtain keys from [Generate], [Parse] or
// [FromPair].
//
// # Printing
//
// [Key.String] and [Key.ClientSecret] are the only ways to see the secret.
// Every fmt verb (%v, %+v, %#v, %s, %q, %x, ...), slog and encoding/json and
// encoding/xml (through MarshalText) print a redacted form,
// <prefix>_<id>_[REDACTED], because Key implements [fmt.Formatter],
// [slog.LogValuer] and [encoding.TextMarshaler]. Reflection-based dumpers
// that read unexported fields are not covered.
type Key struct {
	prefix string
	id     string
	secret string // secretBodyLen random characters, then the checksum
}

// Generate returns a new key with the given prefix, drawing its id and
// secret from rand (crypto/rand when nil). The prefix must be 1 to
// [MaxPrefixLen] characters of [a-z0-9_], start with a letter and not end
// with '_'.
func Generate(prefix string, rand io.Reader) (Key, error) {
	if err := checkPrefix(prefix); err != nil {
		return Key{}, err
	}
	var b [IDLen + secretBodyLen + checksumLen]byte
	if err := randBase62(rand, b[:IDLen+secretBodyLen]); err != nil {
		return Key{}, fmt.Errorf("keyturn/keys: reading randomness: %w", err)
	}
	id, body := b[:IDLen], b[IDLen:IDLen+secretBodyLen]
	sum := checksum(prefix, string(id), string(body))
	encodeChecksum(b[IDLen+secretBodyLen:], sum)
	return Key{prefix: prefix, id: string(id), secret: string(b[IDLen:])}, nil
}

// generateSecret returns a key with the given prefix and id (both valid)
// and a new secret drawn from rand (crypto/rand when nil), as
// [Manager.Rotate] gives a key.
func generateSecret(prefix, id string, rand io.Reader) (Key, error) {
	var b [secretBodyLen + checksumLen]byte
	if err := randBase62(rand, b[:secretBodyLen]); err != nil {
		return Key{}, fmt.Errorf("keyturn/keys: reading randomness: %w", err)
	}
	encodeChecksum(b[secretBodyLen:], checksum(prefix, id, string(b[:secretBodyLen])))
	return Key{prefix: prefix, id: id, secret: string(b[:])}, nil
}

// Parse parses s as a key with the given prefix: "<prefix>_<id>_<secret>".
// It checks the length, the alphabet and the checksum, and does no I/O, so a
// mistyped or made-up key is refused before any storage lookup. Errors wrap
// [ErrMalformed] or [ErrChecksum] (or [ErrInvalidPrefix] for a bad prefix)
// and never contain s.
func Parse(prefix, s string) (Key, error) {
	if err := checkPrefix(prefix); err != nil {
		return Key{}, err
	}
	if len(s) != len(prefix)+1+IDLen+1+SecretLen {
		return Key{}, fmt.Errorf("%w: wrong length", ErrMalformed)
	}
	if s[:len(prefix)] != prefix || s[len(prefix)] != '_' {
		return Key{}, fmt.Errorf("%w: want prefix %q", ErrMalformed, prefix+"_")
	}
	rest := s[len(prefix)+1:]
	if rest[IDLen] != '_' {
		return Key{}, fmt.Errorf("%w: missing separator after the key id", ErrMalformed)
	}
	return fromParts(prefix, rest[:IDLen], rest[IDLen+1:])
}

// FromPair returns the key presented as a client_id / client_secret pair,
// with the same checks as [Parse]. Errors never contain either argument.
func FromPair(prefix, clientID, clientSecret string) (Key, error) {
	if err := checkPrefix(prefix); err != nil {
		return Key{}, err
	}
	if len(clientID) != IDLen || len(clientSecret) != SecretLen {
		return Key{}, fmt.Errorf("%w: wrong length", ErrMalformed)
	}
	return fromParts(prefix, clientID, clientSecret)
}

// fromParts checks an id and a secret of the right lengths.
func fromParts(prefix, id, secret string) (Key, error) {
	if !isBase62(id) || !isBase62(secret) {
		return Key{}, fmt.Errorf("%w: character outside [0-9A-Za-z]", ErrMalformed)
	}
	var want [checksumLen]byte
	encodeChecksum(want[:], checksum(prefix, id, secret[:secretBodyLen]))
	if string(want[:]) != secret[secretBodyLen:] {
		return Key{}, ErrChecksum
	}
	return Key{prefix: prefix, id: id, secret: secret}, nil
}

// ID returns the public key id, which is also the client_id. It is safe to
// log and show.
func (k Key) ID() string { return k.id }

// Prefix returns the key's prefix.
func (k Key) Prefix() string { return k.prefix }

// String returns the full key, "<prefix>_<id>_<secret>", secret included.
// It is for showing the key to its owner once and for sending it; fmt, slog
// and encoders do not call it (see the Printing section of [Key]).
func (k Key) String() string {
	if k.id == "" {
		return ""
	}
	return k.prefix + "_" + k.id + "_" + k.secret
}

// ClientSecret returns the secret half of the key, the client_secret of the
// pair form.
func (k Key) ClientSecret() string { return k.secret }

// redacted is what every printing path shows.
func (k Key) redacted() string {
	if k.id == "" {
		return ""
	}
	return k.prefix + "_" + k.id + "_[REDACTED]"
}

// Format implements [fmt.Formatter] so that no fmt verb prints the secret.
// %#v prints a Go-syntax-like form; every other verb formats the redacted
// string <prefix>_<id>_[REDACTED] as that verb would format a string.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "keys.Key{Prefix:%q, ID:%q, Secret:\"[REDACTED]\"}", k.prefix, k.id)
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), k.redacted())
}

// LogValue implements [slog.LogValuer]: the redacted form.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.redacted()) }

// MarshalText implements [encoding.TextMarshaler] with the redacted form, so
// that a Key that ends up in JSON, XML or a log record does not leak. To
// send a key, send [Key.String] explicitly.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.redacted()), nil }

// checkPrefix validates a key prefix.
func checkPrefix(p string) error {
	if len(p) == 0 || len(p) > MaxPrefixLen {
		return fmt.Errorf("%w: length must be 1 to %d", ErrInvalidPrefix, MaxPrefixLen)
	}
	if p[0] < 'a' || p[0] > 'z' || p[len(p)-1] == '_' {
		return fmt.Errorf("%w: must start with a-z and not end with '_'", ErrInvalidPrefix)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("%w: only a-z, 0-9 and '_' are allowed", ErrInvalidPrefix)
		}
	}
	return nil
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// randBase62 fills dst with uniformly random base62 characters from r
// (crypto/rand when nil), by rejection sampling: bytes of 248 and above are
// dropped so that b%62 is uniform.
func randBase62(r io.Reader, dst []byte) error {
	if r == nil {
		r = rand.Reader
	}
	var buf [64]byte
	n := 0
	for n < len(dst) {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return err
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			dst[n] = alphabet[b%62]
			n++
			if n == len(dst) {
				break
			}
		}
	}
	clear(buf[:])
	return nil
}

// checksum is the CRC-32 (IEEE) of "<prefix>_<id>_<body>". It covers the
// prefix so that a key cannot be moved to another prefix. It detects every
// single-character change and every transposition of neighbours (both are
// bursts shorter than 32 bits).
func checksum(prefix, id, body string) uint32 {
	c := ^uint32(0)
	c = crcUpdate(c, prefix)
	c = crcUpdate(c, "_")
	c = crcUpdate(c, id)
	c = crcUpdate(c, "_")
	c = crcUpdate(c, body)
	return ^c
}

// crcUpdate is the bytewise CRC-32 over a string, which avoids converting
// the (secret) input to a []byte that would escape to the heap.
func crcUpdate(c uint32, s string) uint32 {
	tab := crc32.IEEETable
	for i := 0; i < len(s); i++ {
		c = tab[byte(c)^s[i]] ^ (c >> 8)
	}
	return c
}

// encodeChecksum writes v as checksumLen base62 digits, most significant
// first. 62^6 > 2^32, so every value fits.
func encodeChecksum(dst []byte, v uint32) {
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[v%62]
		v /= 62
	}
}
