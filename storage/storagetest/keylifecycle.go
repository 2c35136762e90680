package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// rotated returns k as RotateKey(k.ID, k.SecretHash, next, until) leaves it.
func rotated(k storage.Key, next []byte, until time.Time) storage.Key {
	old := k.SecretHash
	k.SecretHash = next
	k.PreviousSecretHash, k.PreviousExpiresAt = nil, time.Time{}
	if !until.IsZero() {
		k.PreviousSecretHash, k.PreviousExpiresAt = old, until
	}
	return k
}

// wantKey reports a difference between the stored key id and want.
func wantKey(t *testing.T, s storage.KeyStore, what string, want storage.Key) {
	t.Helper()
	got, err := s.Key(ctx(t), want.ID)
	wantNoErr(t, "Key", err)
	if d := diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
	mustUTC(t, "Key", keyTimes(got)...)
}

func testKeyRotate(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	h1, h2, h3 := blob(11, 33), blob(12, 33), blob(13, 33)
	base := fullKey("rot")
	base.SecretHash = h1
	noPrev := base
	noPrev.PreviousSecretHash, noPrev.PreviousExpiresAt = nil, time.Time{}

	type rotation struct {
		old, next []byte
		until     time.Time
		want      bool // reported
	}
	tests := []struct {
		name      string
		start     storage.Key
		revoke    bool
		rotations []rotation
		want      func(k storage.Key) storage.Key
	}{
		{"Swap", noPrev, false, []rotation{{h1, h2, at(2 * time.Hour), true}},
			func(k storage.Key) storage.Key { return rotated(k, h2, at(2*time.Hour)) }},
		{"SwapNonUTC", noPrev, false, []rotation{{h1, h2, at(2 * time.Hour).In(kolkata), true}},
			func(k storage.Key) storage.Key { return rotated(k, h2, at(2*time.Hour)) }},
		{"ReplacesAnEarlierPrevious", base, false, []rotation{{h1, h2, at(2 * time.Hour), true}},
			func(k storage.Key) storage.Key { return rotated(k, h2, at(2*time.Hour)) }},
		{"ZeroUntilDropsTheOldHash", base, false, []rotation{{h1, h2, time.Time{}, true}},
			func(k storage.Key) storage.Key { return rotated(k, h2, time.Time{}) }},
		{"ZeroUntilNonUTCDropsTheOldHash", base, false, []rotation{{h1, h2, time.Time{}.In(kolkata), true}},
			func(k storage.Key) storage.Key { return rotated(k, h2, time.Time{}) }},
		{"AgainKeepsOnlyTheLastTwo", noPrev, false, []rotation{
			{h1, h2, at(2 * time.Hour), true},
			{h2, h3, at(3 * time.Hour), true},
		}, func(k storage.Key) storage.Key { return rotated(rotated(k, h2, at(2*time.Hour)), h3, at(3*time.Hour)) }},
		{"AgainWithZeroUntil", noPrev, false, []rotation{
			{h1, h2, at(2 * time.Hour), true},
			{h2, h3, time.Time{}, true},
		}, func(k storage.Key) storage.Key { return rotated(k, h3, time.Time{}) }},
		{"StaleOld", noPrev, false, []rotation{
			{h1, h2, at(2 * time.Hour), true},
			{h1, h3, at(3 * time.Hour), false},
		}, func(k storage.Key) storage.Key { return rotated(k, h2, at(2*time.Hour)) }},
		{"OldIsThePreviousHash", base, false, []rotation{{base.PreviousSecretHash, h2, at(2 * time.Hour), false}},
			func(k storage.Key) storage.Key { return k }},
		{"OldIsAPrefix", noPrev, false, []rotation{{h1[:32], h2, at(2 * time.Hour), false}},
			func(k storage.Key) storage.Key { return k }},
		{"OldIsNil", noPrev, false, []rotation{{nil, h2, at(2 * time.Hour), false}},
			func(k storage.Key) storage.Key { return k }},
		{"NilAndEmptyAreTheSame", storage.Key{ID: "rot", SecretHash: nil, CreatedAt: at(0)}, false,
			[]rotation{{[]byte{}, h2, at(2 * time.Hour), true}},
			func(k storage.Key) storage.Key {
				return storage.Key{ID: "rot", SecretHash: h2, CreatedAt: at(0), PreviousExpiresAt: at(2 * time.Hour)}
			}},
		{"Revoked", noPrev, true, []rotation{{h1, h2, at(2 * time.Hour), false}},
			func(k storage.Key) storage.Key { return k }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			other := fullKey("other")
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), tt.start))
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), other))
			start := tt.start
			if tt.revoke {
				wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), start.ID, at(time.Minute)))
				start.RevokedAt = at(time.Minute)
			}
			for i, r := range tt.rotations {
				ok, err := s.RotateKey(ctx(t), start.ID, r.old, r.next, r.until)
				wantNoErr(t, fmt.Sprintf("RotateKey #%d", i+1), err)
				if ok != r.want {
					t.Errorf("RotateKey #%d reported %v, want %v", i+1, ok, r.want)
				}
			}
			want := tt.want(start)
			wantKey(t, s, "key after RotateKey", want)
			wantKey(t, s, "another key after RotateKey", other)
		})
	}
	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		k := fullKey("present")
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
		ok, err := s.RotateKey(ctx(t), "absent", k.SecretHash, h2, at(time.Hour))
		wantErrIs(t, "RotateKey of a missing key", err, storage.ErrNotFound)
		if ok {
			t.Error("RotateKey of a missing key reported true")
		}
		_, err = s.Key(ctx(t), "absent")
		wantErrIs(t, "Key after RotateKey of a missing key", err, storage.ErrNotFound)
		for _, id := range nearMisses {
			if _, err := s.RotateKey(ctx(t), id, k.SecretHash, h2, at(time.Hour)); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("RotateKey(%q): error %v, want one wrapping ErrNotFound", id, err)
			}
		}
		wantKey(t, s, "key after rotations of other ids", k)
	})
	t.Run("RevokeAfterRotate", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), noPrev))
		ok, err := s.RotateKey(ctx(t), noPrev.ID, h1, h2, at(time.Hour))
		wantNoErr(t, "RotateKey", err)
		if !ok {
			t.Fatal("RotateKey reported false")
		}
		wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), noPrev.ID, at(time.Minute)))
		want := rotated(noPrev, h2, at(time.Hour))
		want.RevokedAt = at(time.Minute)
		wantKey(t, s, "rotated, then revoked", want)
		if ok, err := s.RotateKey(ctx(t), noPrev.ID, h2, h3, at(2*time.Hour)); ok || err != nil {
			t.Errorf("RotateKey of a revoked key = %v, %v; want false, nil", ok, err)
		}
		wantKey(t, s, "a revoked key after RotateKey", want)
	})
	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), noPrev))
		old, next := bytes.Clone(h1), bytes.Clone(h2)
		ok, err := s.RotateKey(ctx(t), noPrev.ID, old, next, at(time.Hour))
		wantNoErr(t, "RotateKey", err)
		if !ok {
			t.Fatal("RotateKey reported false")
		}
		old[0] ^= 0xff
		next[0] ^= 0xff
		wantKey(t, s, "after the caller modified the slices it rotated with", rotated(noPrev, h2, at(time.Hour)))
	})
}

func testKeyRotateConcurrent(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	const workers = 8
	h0 := blob(20, 33)
	next := func(w, i int) []byte { return blob(uint64(1000+100*w+i), 33) }

	// Rotations from one hash: exactly one takes effect.
	t.Run("FromOneHash", func(t *testing.T) {
		s := newStore(t)
		k := storage.Key{ID: "contended", Scope: []string{"a"}, SecretHash: h0, CreatedAt: at(0)}
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
		won := make([]bool, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				ok, err := s.RotateKey(ctx(t), k.ID, h0, next(w, 0), at(time.Hour))
				if err != nil {
					t.Errorf("concurrent RotateKey: %v", err)
				}
				won[w] = ok
			})
		}
		wg.Wait()
		winner := -1
		for w, ok := range won {
			switch {
			case ok && winner >= 0:
				t.Errorf("RotateKey from the same hash took effect in workers %d and %d", winner, w)
			case ok:
				winner = w
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent RotateKey took effect")
		}
		wantKey(t, s, "key after concurrent rotations", rotated(k, next(winner, 0), at(time.Hour)))
	})

	// Every worker rotates again and again from the hash it reads; no
	// rotation is lost: those that took effect form one chain from the
	// first hash to the stored one, each kept as the previous of the next.
	t.Run("Chain", func(t *testing.T) {
		s := newStore(t)
		k := storage.Key{ID: "chain", Scope: []string{"a"}, SecretHash: h0, CreatedAt: at(0)}
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
		const perWorker = 6
		var (
			mu    sync.Mutex
			edges = map[string]string{} // old hash → next hash, for each rotation that took effect
		)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					cur, err := s.Key(ctx(t), k.ID)
					if err != nil {
						t.Errorf("Key: %v", err)
						return
					}
					n := next(w, i)
					ok, err := s.RotateKey(ctx(t), k.ID, cur.SecretHash, n, at(time.Duration(i+1)*time.Hour))
					if err != nil {
						t.Errorf("RotateKey: %v", err)
						return
					}
					if ok {
						mu.Lock()
						if prev, dup := edges[string(cur.SecretHash)]; dup {
							t.Errorf("two rotations took effect from one hash: to %x and %x", prev, n)
						}
						edges[string(cur.SecretHash)] = string(n)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		got, err := s.Key(ctx(t), k.ID)
		wantNoErr(t, "Key", err)
		h, steps, prev := string(h0), 0, ""
		for steps <= len(edges) {
			n, ok := edges[h]
			if !ok {
				break
			}
			prev, h = h, n
			steps++
		}
		if steps != len(edges) || steps == 0 {
			t.Fatalf("%d rotations took effect, but only %d chain from the first hash", len(edges), steps)
		}
		if !bytes.Equal(got.SecretHash, []byte(h)) || !bytes.Equal(got.PreviousSecretHash, []byte(prev)) {
			t.Errorf("stored hashes %x (previous %x), want the end of the chain %x (previous %x)",
				got.SecretHash, got.PreviousSecretHash, h, prev)
		}
	})

	// A revocation racing rotations: the key ends revoked, at the
	// revocation's time, whichever came first, and rotates no more.
	t.Run("RevokeRacesRotate", func(t *testing.T) {
		for round := range 4 {
			s := newStore(t)
			k := fullKey("raced")
			k.SecretHash = h0
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
			var start, wg sync.WaitGroup
			start.Add(1)
			for w := range workers {
				wg.Go(func() {
					start.Wait()
					if w == round%workers {
						if err := s.RevokeKey(ctx(t), k.ID, at(time.Minute)); err != nil {
							t.Errorf("RevokeKey: %v", err)
						}
						return
					}
					for i := range 4 {
						cur, err := s.Key(ctx(t), k.ID)
						if err != nil {
							t.Errorf("Key: %v", err)
							return
						}
						if _, err := s.RotateKey(ctx(t), k.ID, cur.SecretHash, next(w, i), at(time.Hour)); err != nil {
							t.Errorf("RotateKey: %v", err)
							return
						}
					}
				})
			}
			start.Done()
			wg.Wait()
			got, err := s.Key(ctx(t), k.ID)
			wantNoErr(t, "Key", err)
			if !got.RevokedAt.Equal(at(time.Minute)) {
				t.Fatalf("round %d: RevokedAt = %v after a revocation raced rotations, want %v", round, got.RevokedAt, at(time.Minute))
			}
			if ok, err := s.RotateKey(ctx(t), k.ID, got.SecretHash, blob(99, 33), at(time.Hour)); ok || err != nil {
				t.Errorf("round %d: RotateKey of the revoked key = %v, %v; want false, nil", round, ok, err)
			}
			wantKey(t, s, "the revoked key after a refused rotation", got)
		}
	})
}

func testKeyTouch(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	type touch struct {
		at    time.Time
		every time.Duration
		want  bool
	}
	never := fullKey("tk")
	never.LastUsedAt = time.Time{}
	tests := []struct {
		name    string
		start   storage.Key
		touches []touch
		want    time.Time
	}{
		{"First", never, []touch{{at(0), time.Minute, true}}, at(0)},
		{"FirstNonUTC", never, []touch{{at(0).In(kolkata), time.Minute, true}}, at(0)},
		{"WithinTheInterval", never, []touch{
			{at(0), time.Minute, true},
			{at(time.Second), time.Minute, false},
			{at(59 * time.Second), time.Minute, false},
		}, at(0)},
		{"ExactlyTheInterval", never, []touch{
			{at(0), time.Minute, true},
			{at(time.Minute), time.Minute, false},
		}, at(0)},
		{"JustAfterTheInterval", never, []touch{
			{at(0), time.Minute, true},
			{at(time.Minute + time.Microsecond), time.Minute, true},
		}, at(time.Minute + time.Microsecond)},
		{"ManyIntervals", never, []touch{
			{at(0), time.Minute, true},
			{at(30 * time.Second), time.Minute, false},
			{at(61 * time.Second), time.Minute, true},
			{at(90 * time.Second), time.Minute, false},
			{at(122 * time.Second), time.Minute, true},
		}, at(122 * time.Second)},
		{"NeverBack", never, []touch{
			{at(time.Hour), time.Minute, true},
			{at(0), time.Minute, false},
		}, at(time.Hour)},
		{"ZeroInterval", never, []touch{
			{at(0), 0, true},
			{at(0), 0, false},
			{at(time.Microsecond), 0, true},
		}, at(time.Microsecond)},
		{"StoredLastUsed", fullKey("tk"), []touch{ // LastUsedAt at(30m)
			{at(30*time.Minute + 59*time.Second), time.Minute, false},
			{at(31*time.Minute + time.Second), time.Minute, true},
		}, at(31*time.Minute + time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			other := fullKey("other")
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), tt.start))
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), other))
			for i, tc := range tt.touches {
				ok, err := s.TouchKey(ctx(t), tt.start.ID, tc.at, tc.every)
				wantNoErr(t, fmt.Sprintf("TouchKey #%d", i+1), err)
				if ok != tc.want {
					t.Errorf("TouchKey #%d (%v, every %v) reported %v, want %v", i+1, tc.at, tc.every, ok, tc.want)
				}
			}
			want := tt.start
			want.LastUsedAt = tt.want
			wantKey(t, s, "key after TouchKey", want)
			wantKey(t, s, "another key after TouchKey", other)
		})
	}
	t.Run("Revoked", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), never))
		wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), never.ID, at(time.Minute)))
		if _, err := s.TouchKey(ctx(t), never.ID, at(time.Hour), time.Minute); err != nil {
			t.Errorf("TouchKey of a revoked key: %v", err)
		}
		got, err := s.Key(ctx(t), never.ID)
		wantNoErr(t, "Key", err)
		if !got.RevokedAt.Equal(at(time.Minute)) {
			t.Errorf("TouchKey changed RevokedAt to %v", got.RevokedAt)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), never))
		for _, id := range append([]string{"absent"}, nearMisses...) {
			if ok, err := s.TouchKey(ctx(t), id, at(time.Hour), time.Minute); ok || err != nil {
				t.Errorf("TouchKey(%q) of a missing key = %v, %v; want false, nil", id, ok, err)
			}
		}
		wantKey(t, s, "key after touches of other ids", never)
		if _, err := s.Key(ctx(t), "absent"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("TouchKey created a key: %v", err)
		}
	})
}

func testKeyTouchConcurrent(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	// Processes touching one key within the interval: exactly one writes.
	const workers = 8
	s := newStore(t)
	k := storage.Key{ID: "touched", Scope: []string{"a"}, CreatedAt: at(0)}
	wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
	wrote := make([]bool, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ok, err := s.TouchKey(ctx(t), k.ID, at(time.Duration(w)*time.Second), time.Minute)
			if err != nil {
				t.Errorf("concurrent TouchKey: %v", err)
			}
			wrote[w] = ok
		})
	}
	wg.Wait()
	n := 0
	for _, ok := range wrote {
		if ok {
			n++
		}
	}
	// The workers' times are within seconds of each other: once one wrote,
	// every other finds LastUsedAt within the interval of its own time.
	if n != 1 {
		t.Errorf("%d concurrent TouchKey calls within one interval wrote, want exactly 1", n)
	}
	got, err := s.Key(ctx(t), k.ID)
	wantNoErr(t, "Key", err)
	if got.LastUsedAt.IsZero() || got.LastUsedAt.Before(at(0)) || got.LastUsedAt.After(at(workers*time.Second)) {
		t.Errorf("LastUsedAt = %v after concurrent touches", got.LastUsedAt)
	}
}
