package keys

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrPasswordHash reports a stored password hash that is not a well-formed
// argon2id PHC string within the accepted bounds.
var ErrPasswordHash = errors.New("keyturn/keys: malformed password hash")

// Bounds on passwords and on the parameters a stored hash may ask for. A
// hash outside them is refused before any work, so a tampered or corrupt
// record cannot make one check allocate gigabytes or spin for minutes.
const (
	MaxPasswordLen = 1024 // bytes

	MaxPasswordMemory  = 2 << 20 // KiB (2 GiB, RFC 9106's first recommended option)
	MaxPasswordTime    = 16
	MaxPasswordThreads = 16
	minSaltLen         = 8
	maxSaltLen         = 64
	minTagLen          = 16
	maxTagLen          = 64
	maxEncodedLen      = 256
)

// PasswordParams are argon2id cost parameters. The zero value selects
// [DefaultPasswordParams].
type PasswordParams struct {
	Memory  uint32 // memory in KiB; at least 8 × Threads
	Time    uint32 // number of passes
	Threads uint8  // degree of parallelism
	SaltLen uint32 // bytes of random salt
	KeyLen  uint32 // bytes of tag
}

// DefaultPasswordParams returns the second recommended option of RFC 9106
// §4: argon2id with 64 MiB of memory, 3 passes, 4 lanes, a 16-byte salt and
// a 32-byte tag. One hash costs tens of milliseconds and 64 MiB of memory;
// hosts should limit how many password checks run at once.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 64 << 10, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
}

func (p PasswordParams) orDefault() PasswordParams {
	if p == (PasswordParams{}) {
		return DefaultPasswordParams()
	}
	return p
}

func (p PasswordParams) check() error {
	switch {
	case p.Threads < 1 || p.Threads > MaxPasswordThreads:
		return fmt.Errorf("%w: threads must be 1 to %d", ErrPasswordHash, MaxPasswordThreads)
	case p.Time < 1 || p.Time > MaxPasswordTime:
		return fmt.Errorf("%w: time must be 1 to %d", ErrPasswordHash, MaxPasswordTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxPasswordMemory:
		return fmt.Errorf("%w: memory must be 8×threads to %d KiB", ErrPasswordHash, MaxPasswordMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("%w: salt must be %d to %d bytes", ErrPasswordHash, minSaltLen, maxSaltLen)
	case p.KeyLen < minTagLen || p.KeyLen > maxTagLen:
		return fmt.Errorf("%w: tag must be %d to %d bytes", ErrPasswordHash, minTagLen, maxTagLen)
	}
	return nil
}

// PasswordHasher hashes passwords with argon2id. The zero value uses
// [DefaultPasswordParams] and crypto/rand; tests may set cheaper Params.
type PasswordHasher struct {
	// Params are the cost parameters of new hashes; zero means
	// DefaultPasswordParams. Stored hashes carry their own parameters, so
	// they can change without invalidating existing hashes.
	Params PasswordParams
	// Rand is the source of salts; nil means crypto/rand.
	Rand io.Reader
}

// Hash returns an argon2id hash of password as a PHC string,
// "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>" (unpadded standard base64).
// The password must be 1 to [MaxPasswordLen] bytes.
func (h *PasswordHasher) Hash(password string) (string, error) {
	p := h.Params.orDefault()
	if err := p.check(); err != nil {
		return "", fmt.Errorf("keyturn/keys: invalid password parameters: %w", err)
	}
	if len(password) == 0 || len(password) > MaxPasswordLen {
		return "", fmt.Errorf("keyturn/keys: password must be 1 to %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, p.SaltLen)
	if err := readRand(h.Rand, salt); err != nil {
		return "", fmt.Errorf("keyturn/keys: reading randomness: %w", err)
	}
	tag := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodePHC(p, salt, tag), nil
}

// DummyCheck does the work of checking password against a hash made with
// h's parameters and reports nothing. Call it when the user is unknown, so
// that an unknown user and a wrong password take the same time.
func (h *PasswordHasher) DummyCheck(password string) {
	p := h.Params.orDefault()
	if p.check() != nil {
		return
	}
	CheckPassword(dummyPHC(p), password)
}

// dummyPHC is a well-formed hash with parameters p that no password
// matches in practice: its salt and tag are all zeros.
func dummyPHC(p PasswordParams) string {
	return encodePHC(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen))
}

// HashPassword hashes password with [DefaultPasswordParams]; see
// [PasswordHasher.Hash].
func HashPassword(password string) (string, error) {
	return new(PasswordHasher).Hash(password)
}

// DummyCheckPassword does the work of [CheckPassword] against a hash made
// with [DefaultPasswordParams]; see [PasswordHasher.DummyCheck].
func DummyCheckPassword(password string) {
	new(PasswordHasher).DummyCheck(password)
}

// CheckPassword reports whether password matches encoded, a PHC string from
// [PasswordHasher.Hash]. The parameters come from encoded and must be within
// the package's bounds; anything else is an error wrapping
// [ErrPasswordHash]. An empty or over-long password is reported as not
// matching, without work. The tag comparison takes constant time.
func CheckPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(password) == 0 || len(password) > MaxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var b64 = base64.RawStdEncoding.Strict()

func encodePHC(p PasswordParams, salt, tag []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(tag))
}

// parsePHC parses the exact form encodePHC writes and nothing else: fields in
// that order, decimal numbers without leading zeros, canonical unpadded
// base64. Errors never include the input.
func parsePHC(s string) (p PasswordParams, salt, tag []byte, err error) {
	bad := func(why string) (PasswordParams, []byte, []byte, error) {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: %s", ErrPasswordHash, why)
	}
	if len(s) > maxEncodedLen {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(s, "$argon2id$v=")
	if !ok {
		return bad("not an argon2id hash")
	}
	v, rest, ok := cutNumber(rest, "$m=")
	if !ok || v != argon2.Version {
		return bad("unsupported version")
	}
	m, rest, ok := cutNumber(rest, ",t=")
	if !ok {
		return bad("bad memory parameter")
	}
	t, rest, ok := cutNumber(rest, ",p=")
	if !ok {
		return bad("bad time parameter")
	}
	par, rest, ok := cutNumber(rest, "$")
	if !ok || par > 255 {
		return bad("bad parallelism parameter")
	}
	saltB64, tagB64, ok := strings.Cut(rest, "$")
	if !ok {
		return bad("missing tag")
	}
	// The decoder skips '\r' and '\n'; a canonical hash holds neither.
	if strings.ContainsAny(rest, "\r\n") {
		return bad("unexpected line break")
	}
	if salt, err = b64.DecodeString(saltB64); err != nil {
		return bad("salt is not canonical unpadded base64")
	}
	if tag, err = b64.DecodeString(tagB64); err != nil {
		return bad("tag is not canonical unpadded base64")
	}
	p = PasswordParams{Memory: m, Time: t, Threads: uint8(par), SaltLen: uint32(len(salt)), KeyLen: uint32(len(tag))}
	if err := p.check(); err != nil {
		return PasswordParams{}, nil, nil, err
	}
	return p, salt, tag, nil
}

// cutNumber parses a decimal uint32 without sign or leading zeros at the
// start of s, up to sep, and returns what follows sep.
func cutNumber(s, sep string) (uint32, string, bool) {
	num, rest, ok := strings.Cut(s, sep)
	if !ok || num == "" || len(num) > 10 || (num[0] == '0' && len(num) > 1) {
		return 0, "", false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, "", false
		}
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, "", false
	}
	return uint32(n), rest, true
}

func readRand(r io.Reader, b []byte) error {
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}
