package keys_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/keys"
)

var testPepper = []byte("0123456789abcdef0123456789abcdef")

func TestHasherVerify(t *testing.T) {
	k := mustGenerate(t, testPrefix, "hash")
	other := mustGenerate(t, testPrefix, "hash other")
	peppered := keys.NewHasher(testPepper)
	plain := keys.NewHasher(nil)
	var zero keys.Hasher

	stored := peppered.Hash(k)
	if len(stored) != keys.HashLen {
		t.Fatalf("len(Hash) = %d, want %d", len(stored), keys.HashLen)
	}
	if bytes.Equal(stored, peppered.Hash(other)) {
		t.Fatal("two keys hash alike")
	}
	if !bytes.Equal(stored, peppered.Hash(k)) {
		t.Fatal("Hash is not deterministic")
	}
	if !bytes.Equal(plain.Hash(k), zero.Hash(k)) {
		t.Error("the zero Hasher differs from NewHasher(nil)")
	}
	if bytes.Equal(plain.Hash(k), stored) {
		t.Error("pepper does not change the hash")
	}
	if bytes.Contains(stored, []byte(k.ClientSecret())) || bytes.Contains(stored, []byte(k.ClientSecret()[:12])) {
		t.Error("hash contains the secret")
	}

	tampered := func(f func(b []byte) []byte) []byte {
		b := bytes.Clone(stored)
		return f(b)
	}
	for _, tc := range []struct {
		name   string
		h      *keys.Hasher
		k      keys.Key
		stored []byte
		want   bool
	}{
		{"right key", peppered, k, stored, true},
		{"unpeppered right key", plain, k, plain.Hash(k), true},
		{"zero hasher right key", &zero, k, plain.Hash(k), true},
		{"wrong key", peppered, other, stored, false},
		{"zero key", peppered, keys.Key{}, stored, false},
		{"other pepper", keys.NewHasher([]byte("another pepper, also 32 bytes...")), k, stored, false},
		{"no pepper against peppered hash", plain, k, stored, false},
		{"pepper against unpeppered hash", peppered, k, plain.Hash(k), false},
		{"nil stored", peppered, k, nil, false},
		{"empty stored", peppered, k, []byte{}, false},
		{"digest only, no version", peppered, k, stored[1:], false},
		{"truncated", peppered, k, stored[:len(stored)-1], false},
		{"extended", peppered, k, append(bytes.Clone(stored), 0), false},
		{"version changed", peppered, k, tampered(func(b []byte) []byte { b[0] = 1; return b }), false},
		{"unknown version", peppered, k, tampered(func(b []byte) []byte { b[0] = 9; return b }), false},
		{"last bit flipped", peppered, k, tampered(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), false},
		{"first digest bit flipped", peppered, k, tampered(func(b []byte) []byte { b[1] ^= 0x80; return b }), false},
		{"the secret itself", peppered, k, append([]byte{2}, k.ClientSecret()[:32]...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.Verify(tc.k, tc.stored); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHasherPepperCopied(t *testing.T) {
	k := mustGenerate(t, testPrefix, "copy")
	pepper := bytes.Clone(testPepper)
	h := keys.NewHasher(pepper)
	before := h.Hash(k)
	pepper[0] ^= 0xff
	if !h.Verify(k, before) {
		t.Fatal("changing the caller's pepper slice changed the Hasher")
	}
}

func TestHasherConcurrent(t *testing.T) {
	h := keys.NewHasher(testPepper)
	ks := make([]keys.Key, 8)
	hs := make([][]byte, len(ks))
	for i := range ks {
		ks[i] = mustGenerate(t, testPrefix, fmt.Sprint("conc ", i))
		hs[i] = h.Hash(ks[i])
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for n := range 200 {
				i := (g + n) % len(ks)
				if !h.Verify(ks[i], hs[i]) {
					errs <- "right key refused"
				}
				if h.Verify(ks[i], hs[(i+1)%len(ks)]) {
					errs <- "wrong key accepted"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestHasherVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	h := keys.NewHasher(testPepper)
	k := mustGenerate(t, testPrefix, "allocs")
	s := k.String()
	stored := h.Hash(k)
	allocs := testing.AllocsPerRun(1000, func() {
		p, err := keys.Parse(testPrefix, s)
		if err != nil || !h.Verify(p, stored) {
			panic("verify failed")
		}
	})
	if allocs != 0 {
		t.Errorf("Parse+Verify allocates %v times per run, want 0", allocs)
	}
}

func TestHasherNeverPrintsPepper(t *testing.T) {
	pepper := []byte("PEPPER-PEPPER-PEPPER-PEPPER-1234")
	h := keys.NewHasher(pepper)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "hasher", h)
	outs := []string{buf.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, h))
	}
	for _, out := range outs {
		if bytes.Contains([]byte(out), pepper[:8]) || bytes.Contains([]byte(out), []byte(fmt.Sprintf("%x", pepper[:8]))) ||
			bytes.Contains([]byte(out), []byte(fmt.Sprint(pepper[:4])[1:8])) {
			t.Errorf("output shows the pepper: %s", out)
		}
	}
	if got := fmt.Sprint(h); got != "keys.Hasher{HMAC-SHA-256, pepper:[REDACTED]}" {
		t.Errorf("Sprint = %q", got)
	}
}
