package keys

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash/crc32"
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

// TestUnknownIDCostsAHash checks, without timing, that an unknown key id is
// hashed against a dummy of the same form as a real record, so that it costs
// what a wrong secret costs.
func TestUnknownIDCostsAHash(t *testing.T) {
	ctx := context.Background()
	h := NewHasher([]byte("pepper"))
	m, err := NewManager(Config{Store: &oneKeyStore{}, Hasher: h, Prefix: "ds_live"})
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := m.Create(ctx, CreateParams{Scope: scope.MustParse("a")}, scope.MustParse("a"))
	if err != nil {
		t.Fatal(err)
	}
	var calls []Key
	var against [][]byte
	m.verify = func(k Key, stored []byte) bool {
		calls = append(calls, k)
		against = append(against, stored)
		return h.Verify(k, stored)
	}
	unknown := testKey(t, "ds_live", "ZZZZZZZZZZZZZZZZ", k.secret[:secretBodyLen])
	wrong := testKey(t, "ds_live", k.id, strings.Repeat("w", secretBodyLen))

	for _, tc := range []struct {
		name string
		k    Key
		want []byte
	}{
		{"unknown id", unknown, m.dummy},
		{"wrong secret", wrong, h.Hash(k)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, against = nil, nil
			if _, err := m.Authenticate(ctx, tc.k); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
			if len(calls) != 1 || calls[0] != tc.k || !bytes.Equal(against[0], tc.want) {
				t.Fatalf("verify calls = %d, against %x; want one against %x", len(calls), against, tc.want)
			}
		})
	}
	// The dummy is a full-length hash of this Hasher's version, so Verify
	// does the whole computation for it, and it matches no real key.
	if len(m.dummy) != HashLen || m.dummy[0] != h.version() {
		t.Fatalf("dummy = %x", m.dummy)
	}
	if h.Verify(unknown, m.dummy) || h.Verify(k, m.dummy) {
		t.Fatal("the dummy hash verified a key")
	}
}
