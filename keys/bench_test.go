package keys_test

import (
	"context"
	"testing"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
)

// BenchmarkParseVerify is the per-request cost of checking a presented key
// against its stored record: Parse, then Hasher.Verify.
func BenchmarkParseVerify(b *testing.B) {
	h := keys.NewHasher(testPepper)
	k := mustGenerate(b, testPrefix, "bench")
	s := k.String()
	stored := h.Hash(k)
	b.ReportAllocs()
	for b.Loop() {
		p, err := keys.Parse(testPrefix, s)
		if err != nil || !h.Verify(p, stored) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkParseMistyped is the cost of refusing a mistyped key.
func BenchmarkParseMistyped(b *testing.B) {
	s := mustGenerate(b, testPrefix, "bench").String()
	s = s[:20] + string(s[20]^1) + s[21:] // still base62: fails the checksum
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Parse(testPrefix, s); err == nil {
			b.Fatal("parsed")
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Generate(testPrefix, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate is Manager.Authenticate against the hand-written
// fake store (so it includes the store's map lookup and record copy).
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	store := newFakeStore()
	m, err := keys.NewManager(keys.Config{Store: store, Hasher: keys.NewHasher(testPepper), Prefix: testPrefix})
	if err != nil {
		b.Fatal(err)
	}
	k, _, err := m.Create(ctx, keys.CreateParams{Scope: scope.MustParse("read:users")}, admin)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Authenticate(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashPassword runs argon2id at RFC 9106's parameters (64 MiB, 3
// passes, 4 lanes): this is the cost of every password check too.
func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
