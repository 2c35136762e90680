package keys

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
)

// testKey builds a well-formed key without Generate, for tests that need
// keys Generate would not make.
func testKey(t *testing.T, prefix, id, body string) Key {
	t.Helper()
	var sum [checksumLen]byte
	encodeChecksum(sum[:], checksum(prefix, id, body))
	k, err := FromPair(prefix, id, body+string(sum[:]))
	if err != nil {
		t.Fatalf("testKey: %v", err)
	}
	return k
}

func TestChecksumIsCRC32OfKeyBody(t *testing.T) {
	for _, tc := range []struct{ prefix, id, body string }{
		{"ds_live", "0123456789ABCDEF", strings.Repeat("a", secretBodyLen)},
		{"k", strings.Repeat("z", IDLen), strings.Repeat("0", secretBodyLen)},
		{strings.Repeat("p", MaxPrefixLen), "aaaaaaaaaaaaaaaa", strings.Repeat("Zy", secretBodyLen/2) + "x"},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			want := crc32.ChecksumIEEE([]byte(tc.prefix + "_" + tc.id + "_" + tc.body))
			if got := checksum(tc.prefix, tc.id, tc.body); got != want {
				t.Fatalf("checksum = %08x, want %08x", got, want)
			}
		})
	}
}

func TestEncodeChecksum(t *testing.T) {
	for _, tc := range []struct {
		v    uint32
		want string
	}{
		{0, "000000"},
		{1, "000001"},
		{61, "00000z"},
		{62, "000010"},
		{1<<32 - 1, "4gfFC3"}, // 4294967295 in base62
	} {
		var b [checksumLen]byte
		encodeChecksum(b[:], tc.v)
		if string(b[:]) != tc.want {
			t.Errorf("encodeChecksum(%d) = %s, want %s", tc.v, b[:], tc.want)
		}
	}
}

// TestHashMatchesReference recomputes the stored hash with crypto/hmac and
// crypto/sha256 over the documented message.
func TestHashMatchesReference(t *testing.T) {
	k := testKey(t, "ds_live", "0123456789ABCDEF", strings.Repeat("s", secretBodyLen))
	msg := []byte(hashDomain + k.id + "\x00" + k.secret)
	for _, tc := range []struct {
		name    string
		pepper  []byte
		version byte
	}{
		{"no pepper", nil, hashSHA256},
		{"32-byte pepper", bytes.Repeat([]byte{7}, 32), hashHMACSHA256},
		{"pepper longer than a block", bytes.Repeat([]byte{9}, 100), hashHMACSHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var digest []byte
			if tc.pepper == nil {
				d := sha256.Sum256(msg)
				digest = d[:]
			} else {
				m := hmac.New(sha256.New, tc.pepper)
				m.Write(msg)
				digest = m.Sum(nil)
			}
			want := append([]byte{tc.version}, digest...)
			if got := NewHasher(tc.pepper).Hash(k); !bytes.Equal(got, want) {
				t.Fatalf("Hash = %x, want %x", got, want)
			}
		})
	}
}

// TestHashBindsID moves a secret to another id, which the checksum prevents
// from the outside, to show that the hash alone also refuses it.
func TestHashBindsID(t *testing.T) {
	h := NewHasher([]byte("pepper"))
	a := testKey(t, "ds_live", "AAAAAAAAAAAAAAAA", strings.Repeat("s", secretBodyLen))
	moved := Key{prefix: a.prefix, id: "BBBBBBBBBBBBBBBB", secret: a.secret}
	if h.Verify(moved, h.Hash(a)) {
		t.Fatal("a hash verified the same secret under another id")
	}
	if !h.Verify(a, h.Hash(a)) {
		t.Fatal("a hash did not verify its own key")
	}
}

// TestDummyPHCHasTheHasherParams checks that DummyCheck costs what a real
// check does: its hash parses back to exactly the hasher's parameters.
func TestDummyPHCHasTheHasherParams(t *testing.T) {
	for _, p := range []PasswordParams{
		DefaultPasswordParams(),
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 4096, Time: 7, Threads: 3, SaltLen: 64, KeyLen: 64},
	} {
		got, _, _, err := parsePHC(dummyPHC(p))
		if err != nil || got != p {
			t.Errorf("parsePHC(dummyPHC(%+v)) = %+v, %v", p, got, err)
		}
	}
	if got, want := dummyPHC(PasswordParams{}.orDefault()), dummyPHC(DefaultPasswordParams()); got != want {
		t.Errorf("zero params dummy = %s, want %s", got, want)
	}
}

// FuzzParsePasswordHash checks that the PHC parser never panics, that what
// it accepts is within bounds and re-encodes to the same string, and that
// CheckPassword works on what it accepts (when cheap enough to run).
func FuzzParsePasswordHash(f *testing.F) {
	f.Add(dummyPHC(DefaultPasswordParams()))
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, tag, err := parsePHC(s)
		if err != nil {
			if len(s) >= 16 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes the input: %v", err)
			}
			return
		}
		if err := p.check(); err != nil {
			t.Fatalf("accepted out-of-bounds parameters %+v", p)
		}
		if got := encodePHC(p, salt, tag); got != s {
			t.Fatalf("re-encoded %q as %q", s, got)
		}
		if p.Memory <= 1024 && p.Time <= 2 {
			if _, err := CheckPassword(s, "password"); err != nil {
				t.Fatalf("CheckPassword of an accepted hash: %v", err)
			}
		}
	})
}

// oneKeyStore is a storage.KeyStore holding at most one record.
type oneKeyStore struct{ rec storage.Key }

func (s *oneKeyStore) CreateKey(_ context.Context, k storage.Key) error { s.rec = k; return nil }
func (s *oneKeyStore) Key(_ context.Context, id string) (storage.Key, error) {
	if id != s.rec.ID {
		return storage.Key{}, storage.ErrNotFound
	}
	return s.rec, nil
}
func (s *oneKeyStore) Keys(context.Context, string, int) ([]storage.Key, error) { return nil, nil }
func (s *oneKeyStore) RevokeKey(context.Context, string, time.Time) error       { return nil }
func (s *oneKeyStore) RotateKey(_ context.Context, id string, old, next []byte, until time.Time) (bool, error) {
	if id != s.rec.ID || !bytes.Equal(old, s.rec.SecretHash) {
		return false, nil
	}
	s.rec.SecretHash, s.rec.PreviousSecretHash, s.rec.PreviousExpiresAt = next, old, until
	return true, nil
}
func (s *oneKeyStore) TouchKey(context.Context, string, time.Time, time.Duration) (bool, error) {
	return false, nil
}

// TestAuthenticationCostsTheSame checks, without timing, that every
// authentication hashes the presented key once and compares it with two
// full-length hashes of this Hasher: an unknown id against the dummy twice,
// a key not in a grace period against its hash and the dummy, a key in its
// grace period against its two hashes. So an unknown id costs what a wrong
// secret costs, and the old secret during a grace period what the new one
// costs.
func TestAuthenticationCostsTheSame(t *testing.T) {
	ctx := context.Background()
	h := NewHasher([]byte("pepper"))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &oneKeyStore{}
	m, err := NewManager(Config{Store: st, Hasher: h, Prefix: "ds_live", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := m.Create(ctx, CreateParams{Scope: scope.MustParse("a")}, scope.MustParse("a"))
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		k         Key
		cur, prev []byte
	}
	var calls []call
	m.verify = func(k Key, cur, prev []byte) (int, int) {
		calls = append(calls, call{k, cur, prev})
		return h.verifyPair(k, cur, prev)
	}
	unknown := testKey(t, "ds_live", "ZZZZZZZZZZZZZZZZ", old.secret[:secretBodyLen])
	wrong := testKey(t, "ds_live", old.id, strings.Repeat("w", secretBodyLen))

	check := func(name string, k Key, wantErr error, cur, prev []byte) {
		t.Helper()
		calls = nil
		if _, err := m.Authenticate(ctx, k); !errors.Is(err, wantErr) {
			t.Errorf("%s: err = %v, want %v", name, err, wantErr)
		}
		if len(calls) != 1 || calls[0].k != k || !bytes.Equal(calls[0].cur, cur) || !bytes.Equal(calls[0].prev, prev) {
			t.Errorf("%s: verify calls %d, %+v; want one against %x and %x", name, len(calls), calls, cur, prev)
		}
	}
	oldHash := h.Hash(old)
	check("unknown id", unknown, ErrInvalidKey, m.dummy, m.dummy)
	check("wrong secret", wrong, ErrInvalidKey, oldHash, m.dummy)
	check("right secret", old, nil, oldHash, m.dummy)

	k, _, err := m.Rotate(ctx, old.id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newHash := h.Hash(k)
	check("new secret in the grace period", k, nil, newHash, oldHash)
	check("old secret in the grace period", old, nil, newHash, oldHash)
	check("wrong secret in the grace period", wrong, ErrInvalidKey, newHash, oldHash)
	now = now.Add(time.Hour)
	check("old secret after the grace period", old, ErrInvalidKey, newHash, oldHash)
	check("new secret after the grace period", k, nil, newHash, oldHash)

	// The dummy is a full-length hash of this Hasher's version, so the
	// comparison does the whole computation for it, and it matches no
	// real key.
	if len(m.dummy) != HashLen || m.dummy[0] != h.version() {
		t.Fatalf("dummy = %x", m.dummy)
	}
	for _, k := range []Key{unknown, old, k} {
		if a, b := h.verifyPair(k, m.dummy, m.dummy); a|b != 0 || h.Verify(k, m.dummy) {
			t.Fatal("the dummy hash verified a key")
		}
	}
}

// TestVerifyPair checks verifyPair against Verify for each of its
// arguments: matches, wrong hashes, other lengths and versions.
func TestVerifyPair(t *testing.T) {
	h := NewHasher([]byte("pepper"))
	plain := NewHasher(nil)
	k := testKey(t, "ds_live", "AAAAAAAAAAAAAAAA", strings.Repeat("s", secretBodyLen))
	other := testKey(t, "ds_live", "AAAAAAAAAAAAAAAA", strings.Repeat("t", secretBodyLen))
	good := h.Hash(k)
	hashes := map[string][]byte{
		"good":          good,
		"other key":     h.Hash(other),
		"unpeppered":    plain.Hash(k),
		"short":         good[:HashLen-1],
		"long":          append(slices.Clone(good), 0),
		"other version": append([]byte{9}, good[1:]...),
		"empty":         nil,
	}
	for na, a := range hashes {
		for nb, b := range hashes {
			okA, okB := h.verifyPair(k, a, b)
			if want := h.Verify(k, a); (okA == 1) != want || okA|1 != 1 {
				t.Errorf("verifyPair(%s, %s) first = %d, Verify = %v", na, nb, okA, want)
			}
			if want := h.Verify(k, b); (okB == 1) != want || okB|1 != 1 {
				t.Errorf("verifyPair(%s, %s) second = %d, Verify = %v", na, nb, okB, want)
			}
		}
	}
}
