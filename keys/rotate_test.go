package keys_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/storage"
)

// authenticates reports whether k authenticates now.
func (f *fixture) authenticates(t *testing.T, k keys.Key) bool {
	t.Helper()
	_, err := f.m.Authenticate(context.Background(), k)
	if err != nil && !errors.Is(err, keys.ErrInvalidKey) {
		t.Fatalf("Authenticate: %v", err)
	}
	return err == nil
}

// TestRotate rotates with several grace periods and checks, on the
// injected clock, that the new secret works at once, the old one until the
// grace period has passed and not after, and that nothing else of the key
// changed.
func TestRotate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{
		{"no grace", 0},
		{"one second", time.Second},
		{"ten minutes", 10 * time.Minute},
		{"the most", keys.MaxGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			old, rec := f.create(t, "read:users")
			f.clock.Advance(time.Hour)
			k, got, err := f.m.Rotate(ctx, old.ID(), tc.grace)
			if err != nil {
				t.Fatal(err)
			}
			if k.ID() != old.ID() || k.Prefix() != old.Prefix() || k.ClientSecret() == old.ClientSecret() {
				t.Fatalf("rotated key %s: want the same id and prefix and another secret", k)
			}
			if _, err := keys.Parse(testPrefix, k.String()); err != nil {
				t.Fatalf("the rotated key does not parse: %v", err)
			}
			if d := diffRecords(rec, got); d != "" {
				t.Errorf("Rotate changed the record (-before +after):\n%s", d)
			}
			stored := f.store.recs[old.ID()]
			if !f.hasher.Verify(k, stored.SecretHash) {
				t.Error("the stored hash is not the new secret's")
			}
			if tc.grace == 0 {
				if stored.PreviousSecretHash != nil || !stored.PreviousExpiresAt.IsZero() {
					t.Errorf("no grace, yet the old hash is kept: %x until %v", stored.PreviousSecretHash, stored.PreviousExpiresAt)
				}
			} else if until := t0.Add(time.Hour + tc.grace).Truncate(time.Microsecond); !f.hasher.Verify(old, stored.PreviousSecretHash) ||
				!stored.PreviousExpiresAt.Equal(until) {
				t.Errorf("the old hash is kept as %x until %v, want the old secret's until %v",
					stored.PreviousSecretHash, stored.PreviousExpiresAt, until)
			}
			if !f.authenticates(t, k) {
				t.Error("the new secret does not authenticate at once")
			}
			if tc.grace > time.Second {
				f.clock.Advance(tc.grace - time.Second)
				if !f.authenticates(t, old) {
					t.Error("the old secret stopped one second before its grace period ended")
				}
				f.clock.Advance(time.Second)
			} else {
				f.clock.Advance(tc.grace)
			}
			if f.authenticates(t, old) {
				t.Error("the old secret authenticates when its grace period has passed")
			}
			f.clock.Advance(time.Second)
			if f.authenticates(t, old) {
				t.Error("the old secret authenticates one second after its grace period")
			}
			if !f.authenticates(t, k) {
				t.Error("the new secret stopped")
			}
			if n := len(f.revoker.ids); n != 0 {
				t.Errorf("rotation told the Revoker %d times: tokens already issued must stay valid", n)
			}
		})
	}
}

// TestRotateAgainDuringGrace: a key has at most two secrets; rotating in a
// grace period replaces the old secret with the current one.
func TestRotateAgainDuringGrace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k0, _ := f.create(t, "read:users")
	k1, _, err := f.m.Rotate(ctx, k0.ID(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Minute)
	k2, _, err := f.m.Rotate(ctx, k0.ID(), 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if f.authenticates(t, k0) {
		t.Error("the first secret still authenticates after a second rotation")
	}
	if !f.authenticates(t, k1) || !f.authenticates(t, k2) {
		t.Error("want the second secret in its grace period and the third")
	}
	f.clock.Advance(30*time.Minute - time.Second)
	if !f.authenticates(t, k1) {
		t.Error("the second secret stopped before its grace period ended")
	}
	f.clock.Advance(2 * time.Second)
	if f.authenticates(t, k1) || !f.authenticates(t, k2) {
		t.Error("after the second grace period: want only the third secret")
	}

	// Rotating with no grace during a grace period drops both old secrets.
	k3, _, err := f.m.Rotate(ctx, k0.ID(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	k4, _, err := f.m.Rotate(ctx, k0.ID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []keys.Key{k0, k1, k2, k3} {
		if f.authenticates(t, k) {
			t.Errorf("secret %d authenticates after a rotation without grace", i)
		}
	}
	if !f.authenticates(t, k4) {
		t.Error("the last secret does not authenticate")
	}
}

func TestRotateRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("grace out of range", func(t *testing.T) {
		f := newFixture(t)
		k, _ := f.create(t, "read:users")
		before := f.store.total()
		for _, g := range []time.Duration{-time.Nanosecond, -time.Second, keys.MaxGrace + time.Nanosecond, keys.MaxGrace + time.Second} {
			if _, _, err := f.m.Rotate(ctx, k.ID(), g); !errors.Is(err, keys.ErrInvalidParams) {
				t.Errorf("grace %v: %v, want ErrInvalidParams", g, err)
			}
		}
		if f.store.total() != before {
			t.Error("a refused grace reached the store")
		}
		if !f.authenticates(t, k) {
			t.Error("the key changed")
		}
	})
	t.Run("no such key", func(t *testing.T) {
		f := newFixture(t)
		for _, id := range []string{"AAAAAAAAAAAAAAAA", "", "short", "not-an-id-16char", strings.Repeat("A", 2000)} {
			if _, _, err := f.m.Rotate(ctx, id, 0); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Rotate(%.20q): %v, want ErrNotFound", id, err)
			}
		}
		if n := f.store.count("RotateKey"); n != 0 {
			t.Errorf("RotateKey called %d times", n)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		f := newFixture(t)
		k, _ := f.create(t, "read:users")
		if err := f.m.Revoke(ctx, k.ID()); err != nil {
			t.Fatal(err)
		}
		before := f.store.recs[k.ID()]
		if _, _, err := f.m.Rotate(ctx, k.ID(), time.Hour); !errors.Is(err, keys.ErrRevoked) {
			t.Fatalf("Rotate of a revoked key: %v, want ErrRevoked", err)
		}
		if d := diffRecords(before, f.store.recs[k.ID()]); d != "" {
			t.Errorf("the revoked key changed:\n%s", d)
		}
	})
	t.Run("expired", func(t *testing.T) {
		f := newFixture(t)
		k, _, err := f.m.Create(ctx, keys.CreateParams{Scope: admin, ExpiresAt: t0.Add(time.Hour)}, admin)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
		if _, _, err := f.m.Rotate(ctx, k.ID(), time.Hour); !errors.Is(err, keys.ErrExpired) {
			t.Fatalf("Rotate of an expired key: %v, want ErrExpired", err)
		}
		if n := f.store.count("RotateKey"); n != 0 {
			t.Errorf("RotateKey called %d times", n)
		}
	})
	t.Run("storage error", func(t *testing.T) {
		f := newFixture(t)
		k, _ := f.create(t, "read:users")
		boom := errors.New("disk on fire")
		f.store.onRotate = func(s *fakeStore) { s.err = boom }
		_, _, err := f.m.Rotate(ctx, k.ID(), 0)
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "keyturn/keys: ") {
			t.Fatalf("Rotate with a failing store: %v", err)
		}
		if strings.Contains(err.Error(), k.ClientSecret()) {
			t.Error("the error holds the old secret")
		}
	})
}

// TestRotateRaces: what another process does between Rotate's read of the
// key and its compare-and-swap.
func TestRotateRaces(t *testing.T) {
	ctx := context.Background()
	t.Run("another rotation", func(t *testing.T) {
		f := newFixture(t)
		k, _ := f.create(t, "read:users")
		winner := []byte("the hash of the other rotation's secret..")
		f.store.onRotate = func(s *fakeStore) {
			r := s.recs[k.ID()]
			r.PreviousSecretHash, r.SecretHash = r.SecretHash, winner
			s.recs[k.ID()] = r
			s.onRotate = nil
		}
		lost, _, err := f.m.Rotate(ctx, k.ID(), time.Hour)
		if !errors.Is(err, keys.ErrConflict) {
			t.Fatalf("a rotation that lost the race: %v, want ErrConflict", err)
		}
		if lost != (keys.Key{}) {
			t.Error("a rotation that lost the race returned a key")
		}
		if r := f.store.recs[k.ID()]; !bytes.Equal(r.SecretHash, winner) {
			t.Error("the rotation that lost the race replaced the winner's hash")
		}
	})
	t.Run("a revocation", func(t *testing.T) {
		f := newFixture(t)
		k, _ := f.create(t, "read:users")
		f.store.onRotate = func(s *fakeStore) {
			r := s.recs[k.ID()]
			r.RevokedAt = t0
			s.recs[k.ID()] = r
		}
		if _, _, err := f.m.Rotate(ctx, k.ID(), time.Hour); !errors.Is(err, keys.ErrRevoked) {
			t.Fatalf("a rotation during a revocation: %v, want ErrRevoked", err)
		}
		r := f.store.recs[k.ID()]
		if !r.RevokedAt.Equal(t0) || !f.hasher.Verify(k, r.SecretHash) {
			t.Error("want the key revoked, its hash unchanged")
		}
	})
}

func TestTouch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k, _ := f.create(t, "read:users")
	rec, err := f.m.Get(ctx, k.ID())
	if err != nil || !rec.LastUsedAt.IsZero() {
		t.Fatalf("a new key: LastUsedAt %v, %v; want never", rec.LastUsedAt, err)
	}
	steps := []struct {
		advance time.Duration
		wrote   bool
		want    time.Duration // LastUsedAt after the step, from t0
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{keys.TouchInterval - time.Second, false, 0},
		{time.Microsecond, true, keys.TouchInterval + time.Microsecond},
		{30 * time.Second, false, keys.TouchInterval + time.Microsecond},
		{time.Hour, true, time.Hour + keys.TouchInterval + 30*time.Second + time.Microsecond},
	}
	base := t0.Truncate(time.Microsecond) // as stored
	var elapsed time.Duration
	for i, s := range steps {
		f.clock.Advance(s.advance)
		elapsed += s.advance
		wrote, err := f.m.Touch(ctx, k.ID())
		if err != nil || wrote != s.wrote {
			t.Fatalf("step %d (+%v): Touch = %v, %v; want %v", i, elapsed, wrote, err, s.wrote)
		}
		rec, err := f.m.Get(ctx, k.ID())
		if err != nil || !rec.LastUsedAt.Equal(base.Add(s.want)) || rec.LastUsedAt.Location() != time.UTC {
			t.Fatalf("step %d: LastUsedAt %v, %v; want %v in UTC", i, rec.LastUsedAt, err, base.Add(s.want))
		}
	}

	n := f.store.count("TouchKey")
	for _, id := range []string{"", "short", "not-an-id-16char", strings.Repeat("A", 2000)} {
		if wrote, err := f.m.Touch(ctx, id); wrote || err != nil {
			t.Errorf("Touch(%.20q) = %v, %v; want false, nil", id, wrote, err)
		}
	}
	if wrote, err := f.m.Touch(ctx, "AAAAAAAAAAAAAAAA"); wrote || err != nil {
		t.Errorf("Touch of a missing key = %v, %v; want false, nil", wrote, err)
	}
	if got := f.store.count("TouchKey") - n; got != 1 {
		t.Errorf("%d store calls for ids that cannot be keys and one missing key; want 1", got)
	}

	boom := errors.New("disk on fire")
	f.store.err = boom
	if _, err := f.m.Touch(ctx, k.ID()); !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "keyturn/keys: ") {
		t.Errorf("Touch with a failing store: %v", err)
	}
}
