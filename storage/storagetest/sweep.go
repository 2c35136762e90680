package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// sweepFixture is a store's content before a sweep, each record tagged with
// the instant from which a sweep deletes it (zero: never).
type sweepFixture struct {
	opaque      []storage.OpaqueToken
	revocations []storage.Revocation // in RevocationsSince order
	signing     []storage.SigningKey // in SigningKeys order
	keys        []storage.Key        // in Keys order; never swept
}

// newSweepFixture returns records that expire around now.
func newSweepFixture(now time.Time) sweepFixture {
	var f sweepFixture
	for i, exp := range []time.Time{
		now.Add(-time.Hour),
		now.Add(-time.Hour).In(kolkata),
		now,
		now.Add(time.Microsecond),
		now.Add(time.Hour),
		{},
	} {
		tok := fullOpaqueToken(uint64(100 + i))
		tok.ExpiresAt = exp
		f.opaque = append(f.opaque, tok)

		f.revocations = append(f.revocations,
			storage.Revocation{Kind: storage.RevokedToken, ID: fmt.Sprintf("jti-%d", i), RevokedAt: now.Add(time.Duration(i-10) * time.Hour), ExpiresAt: exp},
			storage.Revocation{Kind: storage.RevokedClient, ID: fmt.Sprintf("client-%d", i), RevokedAt: now.Add(time.Duration(i-10)*time.Hour + time.Minute), ExpiresAt: exp})

		sk := fullSigningKey(fmt.Sprintf("kid-%d", i), time.Duration(i)*time.Hour)
		sk.NotAfter = now.Add(-2 * time.Hour) // retired: not signing, no matter
		sk.ExpiresAt = exp
		f.signing = append(f.signing, sk)

		k := fullKey(fmt.Sprintf("key-%d", i))
		k.ExpiresAt = exp
		if i%2 == 0 {
			k.RevokedAt = now.Add(-24 * time.Hour)
		}
		f.keys = append(f.keys, k)
	}
	return f
}

func (f sweepFixture) load(t *testing.T, s Store) {
	t.Helper()
	for _, tok := range f.opaque {
		wantNoErr(t, "AddOpaqueToken", s.AddOpaqueToken(ctx(t), tok))
	}
	for _, r := range f.revocations {
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), r))
	}
	for _, k := range f.signing {
		wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
	}
	for _, k := range f.keys {
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
	}
}

// after returns what is left of f once a sweep at now has run, and how many
// records that sweep deletes.
func (f sweepFixture) after(now time.Time) (sweepFixture, int) {
	expired := func(exp time.Time) bool { return !exp.IsZero() && !exp.After(now) }
	var left sweepFixture
	n := 0
	for _, tok := range f.opaque {
		if expired(tok.ExpiresAt) {
			n++
		} else {
			left.opaque = append(left.opaque, tok)
		}
	}
	for _, r := range f.revocations {
		if expired(r.ExpiresAt) {
			n++
		} else {
			left.revocations = append(left.revocations, r)
		}
	}
	for _, k := range f.signing {
		if expired(k.ExpiresAt) {
			n++
		} else {
			left.signing = append(left.signing, k)
		}
	}
	left.keys = f.keys
	return left, n
}

// check compares the store's content with f; gone lists opaque tokens that
// must no longer be found.
func (f sweepFixture) check(t *testing.T, s Store, gone []storage.OpaqueToken) {
	t.Helper()
	for _, tok := range f.opaque {
		got, err := s.OpaqueToken(ctx(t), tok.Hash)
		if err != nil {
			t.Errorf("opaque token of client %q (expires %v): %v", tok.ClientID, tok.ExpiresAt, err)
			continue
		}
		if d := diff(tok, got); d != "" {
			t.Errorf("opaque token of client %q (-want +got):\n%s", tok.ClientID, d)
		}
	}
	for _, tok := range gone {
		_, err := s.OpaqueToken(ctx(t), tok.Hash)
		wantErrIs(t, fmt.Sprintf("swept opaque token of client %q (expires %v)", tok.ClientID, tok.ExpiresAt), err, storage.ErrNotFound)
	}
	revs, err := s.RevocationsSince(ctx(t), time.Time{}, 0)
	wantNoErr(t, "RevocationsSince", err)
	if d := diff(f.revocations, revs); d != "" {
		t.Errorf("revocations (-want +got):\n%s", d)
	}
	sks, err := s.SigningKeys(ctx(t))
	wantNoErr(t, "SigningKeys", err)
	if d := diff(f.signing, sks); d != "" {
		t.Errorf("signing keys (-want +got):\n%s", d)
	}
	keys, err := s.Keys(ctx(t), "", 0)
	wantNoErr(t, "Keys", err)
	if d := diff(f.keys, keys); d != "" {
		t.Errorf("API keys, which are never swept (-want +got):\n%s", d)
	}
}

func minus(all, left []storage.OpaqueToken) []storage.OpaqueToken {
	var gone []storage.OpaqueToken
	for _, tok := range all {
		if !slices.ContainsFunc(left, func(l storage.OpaqueToken) bool { return string(l.Hash) == string(tok.Hash) }) {
			gone = append(gone, tok)
		}
	}
	return gone
}

// testSweeper tests the [storage.Sweeper] of a store that implements every
// role interface.
func testSweeper(t *testing.T, newStore func(t *testing.T) Store) {
	now := at(0)
	fixture := newSweepFixture(now)
	tests := []struct {
		name string
		now  time.Time
	}{
		{"Now", now},
		{"NowNonUTC", now.In(honolulu)},
		{"JustBefore", now.Add(-time.Microsecond)},
		{"JustAfter", now.Add(time.Microsecond)},
		{"LongBefore", now.Add(-24 * time.Hour)},
		{"LongAfter", now.Add(24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			fixture.load(t, s)
			left, want := fixture.after(tt.now)
			n, err := s.Sweep(ctx(t), tt.now)
			wantNoErr(t, "Sweep", err)
			if n != want {
				t.Errorf("Sweep(%v) = %d, want %d", tt.now, n, want)
			}
			gone := minus(fixture.opaque, left.opaque)
			left.check(t, s, gone)

			// Sweeping again at the same time deletes nothing.
			n, err = s.Sweep(ctx(t), tt.now)
			wantNoErr(t, "second Sweep", err)
			if n != 0 {
				t.Errorf("second Sweep(%v) = %d, want 0", tt.now, n)
			}
			left.check(t, s, gone)

			// A later sweep deletes what has expired since.
			later := tt.now.Add(2 * time.Hour)
			left2, want2 := left.after(later)
			n, err = s.Sweep(ctx(t), later)
			wantNoErr(t, "later Sweep", err)
			if n != want2 {
				t.Errorf("later Sweep(%v) = %d, want %d", later, n, want2)
			}
			left2.check(t, s, minus(fixture.opaque, left2.opaque))
		})
	}
	t.Run("Concurrent", func(t *testing.T) { testSweepConcurrent(t, newStore) })
	t.Run("Empty", func(t *testing.T) {
		s := newStore(t)
		for i := range 2 {
			n, err := s.Sweep(ctx(t), now)
			wantNoErr(t, "Sweep", err)
			if n != 0 {
				t.Errorf("Sweep #%d of an empty store = %d, want 0", i+1, n)
			}
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		s := newStore(t)
		fixture.load(t, s)
		n, err := s.Sweep(cancelled(), now.Add(24*time.Hour))
		wantErrIs(t, "Sweep", err, context.Canceled)
		if n != 0 {
			t.Errorf("Sweep with a cancelled context = %d, want 0", n)
		}
		fixture.check(t, s, nil)
	})
	t.Run("Recreate", func(t *testing.T) {
		// A swept record's identifier is free again.
		s := newStore(t)
		fixture.load(t, s)
		if _, err := s.Sweep(ctx(t), now); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		tok := fixture.opaque[0]
		err := s.AddOpaqueToken(ctx(t), tok)
		wantNoErr(t, "AddOpaqueToken of a swept hash", err)
		sk := fixture.signing[0]
		wantNoErr(t, "AddSigningKey of a swept ID", s.AddSigningKey(ctx(t), sk))
		r := fixture.revocations[0]
		r.ExpiresAt = time.Time{}
		wantNoErr(t, "AddRevocation of a swept ID", s.AddRevocation(ctx(t), r))
		if d := diff(r, revocation(t, s, r.Kind, r.ID)); d != "" {
			t.Errorf("a swept revocation merged into its replacement (-want +got):\n%s", d)
		}
		err = s.CreateKey(ctx(t), fixture.keys[0])
		if !errors.Is(err, storage.ErrExists) {
			t.Errorf("CreateKey of an expired, unswept key: %v, want an error wrapping ErrExists", err)
		}
	})
}

// testSweepConcurrent sweeps while records are added: every expired record
// is counted by exactly one sweep, and no live record is swept.
func testSweepConcurrent(t *testing.T, newStore func(t *testing.T) Store) {
	const writers, sweepers, perWriter = 4, 4, 16
	s := newStore(t)
	now := at(0)
	var (
		writing sync.WaitGroup
		swept   atomic.Int64
		done    = make(chan struct{})
	)
	for w := range writers {
		writing.Go(func() {
			for i := range perWriter {
				exp := now.Add(-time.Minute) // expired: swept
				if i%4 == 3 {
					exp = now.Add(time.Minute) // live: kept
				}
				tok := fullOpaqueToken(uint64(10_000 + w*perWriter + i))
				tok.ExpiresAt = exp
				if err := s.AddOpaqueToken(ctx(t), tok); err != nil {
					t.Errorf("AddOpaqueToken: %v", err)
				}
				r := storage.Revocation{Kind: storage.RevokedToken, ID: fmt.Sprintf("w%d-%02d", w, i), RevokedAt: now.Add(-time.Hour), ExpiresAt: exp}
				if err := s.AddRevocation(ctx(t), r); err != nil {
					t.Errorf("AddRevocation: %v", err)
				}
				sk := storage.SigningKey{ID: r.ID, Algorithm: "EdDSA", NotBefore: now, ExpiresAt: exp}
				if err := s.AddSigningKey(ctx(t), sk); err != nil {
					t.Errorf("AddSigningKey: %v", err)
				}
			}
		})
	}
	var sweeping sync.WaitGroup
	for range sweepers {
		sweeping.Go(func() {
			for {
				n, err := s.Sweep(ctx(t), now)
				if err != nil {
					t.Errorf("Sweep: %v", err)
					return
				}
				swept.Add(int64(n))
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	writing.Wait()
	close(done)
	sweeping.Wait()
	n, err := s.Sweep(ctx(t), now)
	wantNoErr(t, "final Sweep", err)
	swept.Add(int64(n))

	const live = writers * perWriter / 4
	if got, want := swept.Load(), int64(3*(writers*perWriter-live)); got != want {
		t.Errorf("concurrent sweeps deleted %d records in all, want %d", got, want)
	}
	revs, err := s.RevocationsSince(ctx(t), time.Time{}, 0)
	wantNoErr(t, "RevocationsSince", err)
	sks, err := s.SigningKeys(ctx(t))
	wantNoErr(t, "SigningKeys", err)
	if len(revs) != live || len(sks) != live {
		t.Errorf("after concurrent sweeps: %d revocations and %d signing keys left, want %d of each", len(revs), len(sks), live)
	}
	for w := range writers {
		for i := range perWriter {
			_, err := s.OpaqueToken(ctx(t), fullOpaqueToken(uint64(10_000+w*perWriter+i)).Hash)
			if i%4 == 3 {
				if err != nil {
					t.Errorf("live opaque token %d/%d: %v", w, i, err)
				}
			} else {
				wantErrIs(t, fmt.Sprintf("expired opaque token %d/%d", w, i), err, storage.ErrNotFound)
			}
		}
	}
}
