package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// TestSigningKeyStore tests a [storage.SigningKeyStore]; newStore returns a
// fresh, empty store for each subtest.
func TestSigningKeyStore(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testSigningRoundTrip(t, newStore) })
	t.Run("AddExisting", func(t *testing.T) { testSigningAddExisting(t, newStore) })
	t.Run("Order", func(t *testing.T) { testSigningOrder(t, newStore) })
	t.Run("Retire", func(t *testing.T) { testSigningRetire(t, newStore) })
	t.Run("Delete", func(t *testing.T) { testSigningDelete(t, newStore) })
	t.Run("NoAliasing", func(t *testing.T) { testSigningNoAliasing(t, newStore) })
	t.Run("Cancelled", func(t *testing.T) { testSigningCancelled(t, newStore) })
	t.Run("Concurrent", func(t *testing.T) { testSigningConcurrent(t, newStore) })
}

// fullSigningKey returns a signing key with every field set, times in a
// non-UTC location, NotBefore at t0+nb.
func fullSigningKey(id string, nb time.Duration) storage.SigningKey {
	return storage.SigningKey{
		ID:        id,
		Algorithm: "EdDSA",
		Private:   blob(10, 48),
		Public:    blob(11, 44),
		CreatedAt: at(nb - time.Hour).In(kolkata),
		NotBefore: at(nb).In(honolulu),
		NotAfter:  at(nb + 24*time.Hour).In(kolkata),
		ExpiresAt: at(nb + 48*time.Hour),
	}
}

func signingTimes(k storage.SigningKey) []time.Time {
	return []time.Time{k.CreatedAt, k.NotBefore, k.NotAfter, k.ExpiresAt}
}

// signingKeys returns the store's signing keys, checking their times are
// in UTC.
func signingKeys(t *testing.T, s storage.SigningKeyStore) []storage.SigningKey {
	t.Helper()
	list, err := s.SigningKeys(ctx(t))
	wantNoErr(t, "SigningKeys", err)
	for _, k := range list {
		mustUTC(t, "SigningKeys", signingTimes(k)...)
	}
	return list
}

func testSigningRoundTrip(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	large := fullSigningKey("large", 0)
	large.Algorithm = "RS256"
	large.Private = blob(12, 16<<10)
	large.Public = blob(13, 4<<10)
	tests := []struct {
		name string
		key  storage.SigningKey
	}{
		{"Full", fullSigningKey("kid-1", 0)},
		{"OnlyID", storage.SigningKey{ID: "bare"}},
		{"Unscheduled", storage.SigningKey{ID: "new", Algorithm: "ES256", Private: blob(14, 138), Public: blob(15, 91), CreatedAt: at(0), NotBefore: at(time.Minute)}},
		{"Large", large},
		{"UnusualID", fullSigningKey("kid/with'odd\"chars%_ключ", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), tt.key))
			got := signingKeys(t, s)
			if d := diff([]storage.SigningKey{tt.key}, got); d != "" {
				t.Errorf("SigningKeys mismatch (-stored +returned):\n%s", d)
			}
		})
	}
}

func testSigningAddExisting(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	s := newStore(t)
	orig := fullSigningKey("kid", 0)
	wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), orig))
	err := s.AddSigningKey(ctx(t), storage.SigningKey{ID: "kid", Algorithm: "none", Private: blob(16, 8), NotBefore: at(-time.Hour)})
	wantErrIs(t, "AddSigningKey of an existing ID", err, storage.ErrExists)
	if errors.Is(err, storage.ErrNotFound) {
		t.Errorf("AddSigningKey of an existing ID: error %v also wraps ErrNotFound", err)
	}
	// A retired key is still there.
	wantNoErr(t, "RetireSigningKey", s.RetireSigningKey(ctx(t), "kid", at(time.Hour), at(2*time.Hour)))
	orig.NotAfter, orig.ExpiresAt = at(time.Hour), at(2*time.Hour)
	err = s.AddSigningKey(ctx(t), storage.SigningKey{ID: "kid"})
	wantErrIs(t, "AddSigningKey of an existing retired ID", err, storage.ErrExists)
	if d := diff([]storage.SigningKey{orig}, signingKeys(t, s)); d != "" {
		t.Errorf("failed AddSigningKey changed the store (-want +got):\n%s", d)
	}
	// IDs are case-sensitive.
	wantNoErr(t, "AddSigningKey of an ID differing in case", s.AddSigningKey(ctx(t), storage.SigningKey{ID: "KID"}))
}

func testSigningOrder(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	t.Run("Empty", func(t *testing.T) {
		s := newStore(t)
		if got := signingKeys(t, s); len(got) != 0 {
			t.Errorf("SigningKeys of an empty store returned %d keys", len(got))
		}
	})
	t.Run("ByNotBeforeThenID", func(t *testing.T) {
		s := newStore(t)
		want := []storage.SigningKey{
			{ID: "z-unset", Algorithm: "EdDSA"}, // zero NotBefore sorts first
			fullSigningKey("m", -48*time.Hour),
			fullSigningKey("B", -time.Hour),
			fullSigningKey("a", -time.Hour),
			fullSigningKey("b", -time.Hour),
			fullSigningKey("a", -time.Hour+time.Microsecond),
			fullSigningKey("0", 0),
			fullSigningKey("c", time.Hour),
			fullSigningKey("a", 30*24*time.Hour),
		}
		// Distinct IDs: the repeated letters above get a suffix.
		want[5].ID = "a2"
		want[8].ID = "a3"
		// Same instant, different locations: NotBefore is compared as an
		// instant, so the tie is broken by ID.
		want[3].NotBefore = want[3].NotBefore.In(kolkata)
		for _, i := range rand.New(rand.NewPCG(5, 6)).Perm(len(want)) {
			wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), want[i]))
		}
		if d := diff(want, signingKeys(t, s)); d != "" {
			t.Errorf("SigningKeys not ordered by NotBefore then ID (-want +got):\n%s", d)
		}
	})
}

func testSigningRetire(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	var zero time.Time
	h := func(n int) time.Time { return at(time.Duration(n) * time.Hour) }
	type pair struct{ notAfter, expiresAt time.Time }
	tests := []struct {
		name    string
		initial pair   // as added
		retires []pair // successive RetireSigningKey arguments
		want    pair
	}{
		{"Unscheduled", pair{}, []pair{{h(1), h(2)}}, pair{h(1), h(2)}},
		{"UnscheduledNonUTC", pair{}, []pair{{h(1).In(kolkata), h(2).In(honolulu)}}, pair{h(1), h(2)}},
		{"Earlier", pair{h(10), h(20)}, []pair{{h(1), h(2)}}, pair{h(1), h(2)}},
		{"LaterIgnored", pair{h(1), h(2)}, []pair{{h(10), h(20)}}, pair{h(1), h(2)}},
		{"EqualKept", pair{h(1), h(2)}, []pair{{h(1).In(kolkata), h(2)}}, pair{h(1), h(2)}},
		{"EachTimeOnItsOwn", pair{h(5), h(6)}, []pair{{h(1), h(20)}}, pair{h(1), h(6)}},
		{"EachTimeOnItsOwnOtherWay", pair{h(5), h(6)}, []pair{{h(20), h(2)}}, pair{h(5), h(2)}},
		{"OneByAmicrosecond", pair{h(5), h(6)}, []pair{{h(5).Add(-time.Microsecond), h(6).Add(time.Microsecond)}}, pair{h(5).Add(-time.Microsecond), h(6)}},
		{"TwiceKeepsEarlier", pair{}, []pair{{h(3), h(4)}, {h(5), h(6)}}, pair{h(3), h(4)}},
		{"TwiceSecondEarlier", pair{}, []pair{{h(5), h(6)}, {h(3), h(4)}}, pair{h(3), h(4)}},
		{"ZeroIgnored", pair{h(5), h(6)}, []pair{{zero, zero}}, pair{h(5), h(6)}},
		{"ZeroNonUTCIgnored", pair{h(5), h(6)}, []pair{{zero.In(kolkata), zero.In(honolulu)}}, pair{h(5), h(6)}},
		{"ZeroNotAfterOnly", pair{}, []pair{{zero, h(6)}}, pair{zero, h(6)}},
		{"ZeroExpiresAtOnly", pair{}, []pair{{h(5), zero}}, pair{h(5), zero}},
		{"ZeroThenSet", pair{}, []pair{{zero, zero}, {h(5), h(6)}}, pair{h(5), h(6)}},
		{"PartialInitial", pair{h(5), zero}, []pair{{h(7), h(8)}}, pair{h(5), h(8)}},
		{"InThePast", pair{}, []pair{{h(-100), h(-50)}}, pair{h(-100), h(-50)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			k := fullSigningKey("kid", 0)
			k.NotAfter, k.ExpiresAt = tt.initial.notAfter, tt.initial.expiresAt
			other := fullSigningKey("other", time.Hour)
			wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
			wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), other))
			for i, r := range tt.retires {
				wantNoErr(t, fmt.Sprintf("RetireSigningKey #%d", i+1), s.RetireSigningKey(ctx(t), k.ID, r.notAfter, r.expiresAt))
			}
			want := k
			want.NotAfter, want.ExpiresAt = tt.want.notAfter, tt.want.expiresAt
			if d := diff([]storage.SigningKey{want, other}, signingKeys(t, s)); d != "" {
				t.Errorf("after RetireSigningKey (-want +got):\n%s", d)
			}
		})
	}
	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		k := fullSigningKey("kid", 0)
		wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
		for _, id := range []string{"absent", "KID", "ki", "kid "} {
			err := s.RetireSigningKey(ctx(t), id, h(1), h(2))
			wantErrIs(t, fmt.Sprintf("RetireSigningKey(%q)", id), err, storage.ErrNotFound)
		}
		if d := diff([]storage.SigningKey{k}, signingKeys(t, s)); d != "" {
			t.Errorf("RetireSigningKey of a missing key changed the store (-want +got):\n%s", d)
		}
	})
}

func testSigningDelete(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	s := newStore(t)
	a, b, c := fullSigningKey("a", 0), fullSigningKey("b", time.Hour), fullSigningKey("c", 2*time.Hour)
	for _, k := range []storage.SigningKey{a, b, c} {
		wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
	}
	wantNoErr(t, "DeleteSigningKey", s.DeleteSigningKey(ctx(t), "b"))
	if d := diff([]storage.SigningKey{a, c}, signingKeys(t, s)); d != "" {
		t.Errorf("after DeleteSigningKey (-want +got):\n%s", d)
	}
	for _, id := range []string{"b", "missing", "A", ""} {
		wantNoErr(t, fmt.Sprintf("DeleteSigningKey(%q) of a missing key", id), s.DeleteSigningKey(ctx(t), id))
	}
	if d := diff([]storage.SigningKey{a, c}, signingKeys(t, s)); d != "" {
		t.Errorf("after deleting missing keys (-want +got):\n%s", d)
	}
	err := s.RetireSigningKey(ctx(t), "b", at(0), at(0))
	wantErrIs(t, "RetireSigningKey of a deleted key", err, storage.ErrNotFound)
	// The ID of a deleted key is free again.
	b2 := fullSigningKey("b", 3*time.Hour)
	b2.Algorithm = "ES256"
	wantNoErr(t, "AddSigningKey after delete", s.AddSigningKey(ctx(t), b2))
	if d := diff([]storage.SigningKey{a, c, b2}, signingKeys(t, s)); d != "" {
		t.Errorf("after re-adding a deleted ID (-want +got):\n%s", d)
	}
	for _, id := range []string{"a", "b", "c"} {
		wantNoErr(t, "DeleteSigningKey", s.DeleteSigningKey(ctx(t), id))
	}
	if got := signingKeys(t, s); len(got) != 0 {
		t.Errorf("SigningKeys after deleting every key returned %d keys", len(got))
	}
}

func testSigningNoAliasing(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	s := newStore(t)
	k := fullSigningKey("kid", 0)
	want := fullSigningKey("kid", 0)
	wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
	k.Private[0] ^= 0xff
	k.Public[0] ^= 0xff
	check := func(when string) {
		t.Helper()
		if d := diff([]storage.SigningKey{want}, signingKeys(t, s)); d != "" {
			t.Errorf("stored signing key changed %s (-want +got):\n%s", when, d)
		}
	}
	check("after the caller modified the added key's slices")
	list := signingKeys(t, s)
	list[0].Private[1] ^= 0xff
	list[0].Public[1] ^= 0xff
	list[0].ID = "changed"
	check("after the caller modified slices returned by SigningKeys")
}

func testSigningCancelled(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	s := newStore(t)
	k := fullSigningKey("kid", 0)
	wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
	c := cancelled()
	wantErrIs(t, "AddSigningKey", s.AddSigningKey(c, fullSigningKey("new", 0)), context.Canceled)
	_, err := s.SigningKeys(c)
	wantErrIs(t, "SigningKeys", err, context.Canceled)
	wantErrIs(t, "RetireSigningKey", s.RetireSigningKey(c, k.ID, at(-time.Hour), at(-time.Hour)), context.Canceled)
	wantErrIs(t, "DeleteSigningKey", s.DeleteSigningKey(c, k.ID), context.Canceled)
	if d := diff([]storage.SigningKey{k}, signingKeys(t, s)); d != "" {
		t.Errorf("calls with a cancelled context changed the store (-want +got):\n%s", d)
	}
}

func testSigningConcurrent(t *testing.T, newStore func(t *testing.T) storage.SigningKeyStore) {
	const workers, perWorker = 8, 8
	s := newStore(t)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("w%d-k%d", w, i)
				k := fullSigningKey(id, time.Duration(w*perWorker+i)*time.Minute)
				if err := s.AddSigningKey(ctx(t), k); err != nil {
					t.Errorf("AddSigningKey(%q): %v", id, err)
					return
				}
				switch i % 3 {
				case 1:
					if err := s.RetireSigningKey(ctx(t), id, at(-time.Hour), at(-time.Minute)); err != nil {
						t.Errorf("RetireSigningKey(%q): %v", id, err)
					}
				case 2:
					if err := s.DeleteSigningKey(ctx(t), id); err != nil {
						t.Errorf("DeleteSigningKey(%q): %v", id, err)
					}
				}
				if _, err := s.SigningKeys(ctx(t)); err != nil {
					t.Errorf("SigningKeys: %v", err)
				}
			}
		})
	}
	wg.Wait()
	var want []storage.SigningKey
	for w := range workers {
		for i := range perWorker {
			k := fullSigningKey(fmt.Sprintf("w%d-k%d", w, i), time.Duration(w*perWorker+i)*time.Minute)
			switch i % 3 {
			case 1:
				k.NotAfter, k.ExpiresAt = at(-time.Hour), at(-time.Minute)
			case 2:
				continue
			}
			want = append(want, k)
		}
	}
	got := signingKeys(t, s)
	if d := diff(want, got); d != "" {
		t.Errorf("signing keys after concurrent use (-want +got):\n%s", d)
	}
}
