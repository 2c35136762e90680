package token

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

// TestSealKeys seals a store made without a KEK: every key gets sealed, the
// set then loads under the KEK and verifies tokens signed before, a second
// run changes nothing, and a move to another KEK works with the old one
// given as previous.
func TestSealKeys(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := memory.New()
	ks, err := NewKeySet(ctx, KeySetConfig{Store: store, Algorithm: ES256, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Add(ctx, fixedKey(t, EdDSA, 1), EdDSA); err != nil { // a second key, of another algorithm
		t.Fatal(err)
	}
	iss, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: ks, Now: clk.Now})
	tok, _, err := iss.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	before := privates(t, store)
	if len(before) != 2 {
		t.Fatalf("%d signing keys, want 2", len(before))
	}

	kek := bytes.Repeat([]byte{0x42}, KEKSize)
	n, err := SealKeys(ctx, store, kek)
	if err != nil || n != 2 {
		t.Fatalf("SealKeys = %d, %v; want 2, nil", n, err)
	}
	sealed := privates(t, store)
	for id, p := range sealed {
		if !isSealed(p) || bytes.Contains(p, before[id]) {
			t.Errorf("key %s is not sealed after SealKeys", id)
		}
	}
	verifyUnder(t, store, kek, clk, tok)
	if _, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: clk.Now}); !errors.Is(err, ErrUnseal) {
		t.Errorf("a set without the KEK after sealing: %v, want ErrUnseal", err)
	}

	t.Run("twice changes nothing", func(t *testing.T) {
		n, err := SealKeys(ctx, store, kek)
		if err != nil || n != 0 {
			t.Fatalf("second SealKeys = %d, %v; want 0, nil", n, err)
		}
		for id, p := range privates(t, store) {
			if !bytes.Equal(p, sealed[id]) {
				t.Errorf("second SealKeys rewrote key %s", id)
			}
		}
	})

	t.Run("another KEK without the old one", func(t *testing.T) {
		other := bytes.Repeat([]byte{0x43}, KEKSize)
		n, err := SealKeys(ctx, store, other)
		if !errors.Is(err, ErrUnseal) || n != 0 {
			t.Fatalf("SealKeys under another KEK = %d, %v; want 0 and ErrUnseal", n, err)
		}
		for id, p := range privates(t, store) {
			if !bytes.Equal(p, sealed[id]) {
				t.Errorf("a refused SealKeys changed key %s", id)
			}
		}
	})

	t.Run("move to another KEK", func(t *testing.T) {
		next := bytes.Repeat([]byte{0x44}, KEKSize)
		unrelated := bytes.Repeat([]byte{0x45}, KEKSize)
		n, err := SealKeys(ctx, store, next, unrelated, kek)
		if err != nil || n != 2 {
			t.Fatalf("SealKeys to a new KEK = %d, %v; want 2, nil", n, err)
		}
		verifyUnder(t, store, next, clk, tok)
		if n, err := SealKeys(ctx, store, next, kek); err != nil || n != 0 {
			t.Errorf("SealKeys again = %d, %v; want 0, nil", n, err)
		}
	})
}

func TestSealKeysRefuses(t *testing.T) {
	ctx := context.Background()
	kek := bytes.Repeat([]byte{0x42}, KEKSize)
	if _, err := SealKeys(ctx, memory.New(), kek[:16]); err == nil {
		t.Error("SealKeys with a 16-byte KEK succeeded")
	}
	if _, err := SealKeys(ctx, memory.New(), kek, kek[:31]); err == nil {
		t.Error("SealKeys with a 31-byte previous KEK succeeded")
	}

	// A record that is not PKCS #8 is refused, and nothing is written, not
	// even the good key beside it.
	store := memory.New()
	if _, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: newClock().Now}); err != nil {
		t.Fatal(err)
	}
	if err := store.AddSigningKey(ctx, storage.SigningKey{ID: "zz-bad", Algorithm: "EdDSA", Private: []byte("not pkcs8")}); err != nil {
		t.Fatal(err)
	}
	before := privates(t, store)
	_, err := SealKeys(ctx, store, kek)
	if err == nil || !strings.Contains(err.Error(), "bad private key") || strings.Contains(err.Error(), "not pkcs8") {
		t.Fatalf("SealKeys over a bad record: %v", err)
	}
	for id, p := range privates(t, store) {
		if !bytes.Equal(p, before[id]) {
			t.Errorf("a refused SealKeys changed key %s", id)
		}
	}
}

// TestSealKeysRace has the record change between the check and the write:
// the write is refused, and a second run finishes.
func TestSealKeysRace(t *testing.T) {
	ctx := context.Background()
	store := &changingStore{Store: memory.New()}
	if _, err := NewKeySet(ctx, KeySetConfig{Store: store.Store, Now: newClock().Now}); err != nil {
		t.Fatal(err)
	}
	kek := bytes.Repeat([]byte{0x42}, KEKSize)
	store.before = func() { // another sealing run gets there first
		store.before = nil
		if _, err := SealKeys(ctx, store.Store, kek); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := SealKeys(ctx, store, kek); err == nil || !strings.Contains(err.Error(), "run SealKeys again") {
		t.Fatalf("SealKeys over a changing record: %v", err)
	}
	if n, err := SealKeys(ctx, store, kek); err != nil || n != 0 {
		t.Fatalf("SealKeys after the race = %d, %v; want 0, nil", n, err)
	}
}

type changingStore struct {
	*memory.Store
	before func()
}

func (s *changingStore) ReplaceSigningKeyPrivate(ctx context.Context, id string, old, next []byte) (bool, error) {
	if s.before != nil {
		s.before()
	}
	return s.Store.ReplaceSigningKeyPrivate(ctx, id, old, next)
}

func privates(t *testing.T, s storage.SigningKeyStore) map[string][]byte {
	t.Helper()
	recs, err := s.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	for _, r := range recs {
		out[r.ID] = r.Private
	}
	return out
}

// verifyUnder loads the store under kek and checks that it signs and that tok
// still verifies.
func verifyUnder(t *testing.T, store storage.SigningKeyStore, kek []byte, clk *clock, tok string) {
	t.Helper()
	ctx := context.Background()
	ks, err := NewKeySet(ctx, KeySetConfig{Store: store, KEK: kek, Now: clk.Now})
	if err != nil {
		t.Fatalf("loading the sealed keys: %v", err)
	}
	v, _ := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: ks, Algorithms: allAlgs, Now: clk.Now})
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("a token signed before sealing: %v", err)
	}
	iss, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: ks, Now: clk.Now})
	fresh, _, err := iss.Mint(ctx, testGrant)
	if err != nil {
		t.Fatalf("minting under the sealed keys: %v", err)
	}
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Errorf("a token signed after sealing: %v", err)
	}
}
