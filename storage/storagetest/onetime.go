package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// testKeyReplaceJWKS checks ReplaceKeyJWKS as a compare-and-swap that keeps
// every other field.
func testKeyReplaceJWKS(t *testing.T, newStore func(t *testing.T) KeyJWKSReplacerStore) {
	set1 := []byte(`{"keys":[{"kid":"1"}]}`)
	set2 := []byte(`{"keys":[{"kid":"2"}]}`)
	tests := []struct {
		name    string
		key     storage.Key
		old     []byte
		swapped bool
		want    []byte
	}{
		{"FromCurrent", storage.Key{ID: "c", JWKS: set1, CreatedAt: at(0)}, set1, true, set2},
		{"FromStale", storage.Key{ID: "c", JWKS: set1, CreatedAt: at(0)}, set2, false, set1},
		{"NilAndEmptyAreTheSame", storage.Key{ID: "c", CreatedAt: at(0)}, []byte{}, true, set2},
		{"Revoked", storage.Key{ID: "c", JWKS: set1, CreatedAt: at(0), RevokedAt: at(time.Second)}, set1, false, set1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), fullKeyWith(tt.key)))
			ok, err := s.ReplaceKeyJWKS(ctx(t), tt.key.ID, tt.old, set2)
			wantNoErr(t, "ReplaceKeyJWKS", err)
			if ok != tt.swapped {
				t.Errorf("ReplaceKeyJWKS = %v, want %v", ok, tt.swapped)
			}
			want := fullKeyWith(tt.key)
			want.JWKS = tt.want
			wantKey(t, s, "after ReplaceKeyJWKS", want)
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.ReplaceKeyJWKS(ctx(t), "missing", nil, set1)
		wantErrIs(t, "ReplaceKeyJWKS of a missing key", err, storage.ErrNotFound)
	})
	t.Run("Cancelled", func(t *testing.T) {
		s := newStore(t)
		k := storage.Key{ID: "c", JWKS: set1, CreatedAt: at(0)}
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
		_, err := s.ReplaceKeyJWKS(cancelled(), "c", set1, set2)
		wantErrIs(t, "ReplaceKeyJWKS", err, context.Canceled)
		wantKey(t, s, "after a cancelled ReplaceKeyJWKS", k)
	})
	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), storage.Key{ID: "c", JWKS: set1, CreatedAt: at(0)}))
		next := slices.Clone(set2)
		_, err := s.ReplaceKeyJWKS(ctx(t), "c", set1, next)
		wantNoErr(t, "ReplaceKeyJWKS", err)
		next[0] = 'X'
		k, err := s.Key(ctx(t), "c")
		wantNoErr(t, "Key", err)
		if !bytes.Equal(k.JWKS, set2) {
			t.Errorf("JWKS changed with the caller's slice: %q", k.JWKS)
		}
	})
}

// fullKeyWith is k with the fields of fullKey it leaves unset filled in,
// so that a swap is seen to keep them.
func fullKeyWith(k storage.Key) storage.Key {
	f := fullKey(k.ID)
	f.JWKS, f.CreatedAt, f.RevokedAt = k.JWKS, k.CreatedAt, k.RevokedAt
	return f
}

// testKeyReplaceJWKSConcurrent checks that of concurrent replacements of
// one set exactly one takes effect.
func testKeyReplaceJWKSConcurrent(t *testing.T, newStore func(t *testing.T) KeyJWKSReplacerStore) {
	s := newStore(t)
	set0 := []byte(`{"keys":[]}`)
	wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), storage.Key{ID: "c", JWKS: set0, CreatedAt: at(0)}))
	const n = 16
	var wg sync.WaitGroup
	won := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			ok, err := s.ReplaceKeyJWKS(ctx(t), "c", set0, fmt.Appendf(nil, `{"keys":[{"kid":"%d"}]}`, i))
			if err != nil {
				t.Errorf("ReplaceKeyJWKS %d: %v", i, err)
			}
			won[i] = ok
		})
	}
	wg.Wait()
	winner := -1
	for i, ok := range won {
		if ok {
			if winner >= 0 {
				t.Fatalf("replacements %d and %d both took effect", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no replacement took effect")
	}
	k, err := s.Key(ctx(t), "c")
	wantNoErr(t, "Key", err)
	if want := fmt.Sprintf(`{"keys":[{"kid":"%d"}]}`, winner); string(k.JWKS) != want {
		t.Errorf("JWKS = %s, want the winner's %s", k.JWKS, want)
	}
}

// TestReplayStore tests a [storage.ReplayStore]; newStore returns a fresh,
// empty store for each subtest.
func TestReplayStore(t *testing.T, newStore func(t *testing.T) storage.ReplayStore) {
	t.Helper()
	long := strings.Repeat("j", storage.MaxReplayID)
	t.Run("Sequence", func(t *testing.T) {
		s := newStore(t)
		steps := []struct {
			kind, id string
			now, exp time.Time
			want     bool
		}{
			{"dpop", "j1", at(0), at(time.Minute), true},
			{"dpop", "j1", at(time.Second), at(2 * time.Minute), false},                    // live: a replay
			{"dpop", "J1", at(time.Second), at(time.Minute), true},                         // case matters
			{"assertion", "j1", at(time.Second), at(time.Minute), true},                    // kinds are separate
			{"dpop", "j1", at(time.Minute - time.Microsecond), at(2 * time.Minute), false}, // still live
			{"dpop", "j1", at(time.Minute), at(3 * time.Minute), true},                     // expired: taken over
			{"dpop", "j1", at(2 * time.Minute), at(4 * time.Minute), false},                // the new expiry holds
			{"dpop", long, at(0), at(time.Minute), true},
			{"dpop", "x'; DROP TABLE keyturn_used; --", at(0), at(time.Minute), true},
			{"dpop", "ünïcode", at(0).In(kolkata), at(time.Minute).In(honolulu), true},
			{"dpop", "ünïcode", at(time.Second), at(time.Minute), false},
		}
		for i, st := range steps {
			got, err := s.UseOnce(ctx(t), st.kind, st.id, st.now, st.exp)
			wantNoErr(t, fmt.Sprintf("step %d: UseOnce", i), err)
			if got != st.want {
				t.Errorf("step %d: UseOnce(%q, %q) = %v, want %v", i, st.kind, st.id, got, st.want)
			}
		}
	})
	t.Run("Bounds", func(t *testing.T) {
		s := newStore(t)
		for _, tt := range []struct{ kind, id string }{
			{"", "j"}, {"dpop", ""}, {"dpop", long + "j"}, {long + "k", "j"},
		} {
			if _, err := s.UseOnce(ctx(t), tt.kind, tt.id, at(0), at(time.Minute)); err == nil {
				t.Errorf("UseOnce(kind %d bytes, id %d bytes) succeeded, want an error", len(tt.kind), len(tt.id))
			}
		}
		// Nothing was recorded: the bounded forms are still fresh.
		ok, err := s.UseOnce(ctx(t), "dpop", long, at(0), at(time.Minute))
		wantNoErr(t, "UseOnce", err)
		if !ok {
			t.Error("a refused call recorded something")
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		s := newStore(t)
		_, err := s.UseOnce(cancelled(), "dpop", "j", at(0), at(time.Minute))
		wantErrIs(t, "UseOnce", err, context.Canceled)
		ok, err := s.UseOnce(ctx(t), "dpop", "j", at(0), at(time.Minute))
		wantNoErr(t, "UseOnce", err)
		if !ok {
			t.Error("a cancelled UseOnce recorded the value")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const n = 24
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := map[string]int{}
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprintf("j%d", i%3)
				ok, err := s.UseOnce(ctx(t), "dpop", id, at(0), at(time.Minute))
				if err != nil {
					t.Errorf("UseOnce: %v", err)
				}
				if ok {
					mu.Lock()
					firsts[id]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if want := map[string]int{"j0": 1, "j1": 1, "j2": 1}; !mapsEqual(firsts, want) {
			t.Errorf("first uses per id = %v, want exactly one each: %v", firsts, want)
		}
	})
}

// TestFailureStore tests a [storage.FailureStore]; newStore returns a
// fresh, empty store for each subtest.
func TestFailureStore(t *testing.T, newStore func(t *testing.T) storage.FailureStore) {
	t.Helper()
	t.Run("Counts", func(t *testing.T) {
		s := newStore(t)
		w1, w2 := at(0), at(10*time.Second).In(kolkata)
		steps := []struct {
			key    string
			window time.Time
			want   int64
		}{
			{"c:k1", w1, 1}, {"c:k1", w1, 2}, {"c:K1", w1, 1}, {"c:k1", w2, 1},
			{"c:k1", w1.In(honolulu), 3}, {"a:10.0.0.1", w1, 1}, {"c:k1", w2, 2},
		}
		for i, st := range steps {
			got, err := s.AddFailure(ctx(t), st.key, st.window, st.window.Add(time.Minute))
			wantNoErr(t, fmt.Sprintf("step %d: AddFailure", i), err)
			if got != st.want {
				t.Errorf("step %d: AddFailure(%q, %v) = %d, want %d", i, st.key, st.window, got, st.want)
			}
		}
	})
	t.Run("Bounds", func(t *testing.T) {
		s := newStore(t)
		for _, key := range []string{"", strings.Repeat("k", storage.MaxReplayID+1)} {
			if _, err := s.AddFailure(ctx(t), key, at(0), at(time.Minute)); err == nil {
				t.Errorf("AddFailure(key of %d bytes) succeeded, want an error", len(key))
			}
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		s := newStore(t)
		_, err := s.AddFailure(cancelled(), "k", at(0), at(time.Minute))
		wantErrIs(t, "AddFailure", err, context.Canceled)
		n, err := s.AddFailure(ctx(t), "k", at(0), at(time.Minute))
		wantNoErr(t, "AddFailure", err)
		if n != 1 {
			t.Errorf("count after a cancelled call = %d, want 1", n)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const n = 24
		var wg sync.WaitGroup
		got := make([]int64, n)
		for i := range n {
			wg.Go(func() {
				c, err := s.AddFailure(ctx(t), "contended", at(0), at(time.Minute))
				if err != nil {
					t.Errorf("AddFailure: %v", err)
				}
				got[i] = c
			})
		}
		wg.Wait()
		slices.Sort(got)
		for i, c := range got {
			if c != int64(i+1) {
				t.Fatalf("concurrent counts = %v, want 1…%d each once", got, n)
			}
		}
	})
}

// testSweepOneTime checks that Sweep removes one-time values and failure
// counts whose expiry is not after now, and keeps the rest.
func testSweepOneTime(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	for i, exp := range []time.Duration{time.Minute, 2 * time.Minute} {
		ok, err := s.UseOnce(ctx(t), "dpop", fmt.Sprintf("j%d", i), at(0), at(exp))
		wantNoErr(t, "UseOnce", err)
		if !ok {
			t.Fatalf("UseOnce j%d was not fresh", i)
		}
		_, err = s.AddFailure(ctx(t), fmt.Sprintf("k%d", i), at(0), at(exp))
		wantNoErr(t, "AddFailure", err)
	}
	n, err := s.Sweep(ctx(t), at(time.Minute))
	wantNoErr(t, "Sweep", err)
	if n != 2 {
		t.Errorf("Sweep deleted %d records, want 2 (one value, one count)", n)
	}
	// The swept count starts again; the kept one goes on.
	if c, _ := s.AddFailure(ctx(t), "k0", at(0), at(time.Minute)); c != 1 {
		t.Errorf("swept failure count went on at %d, want 1", c)
	}
	if c, _ := s.AddFailure(ctx(t), "k1", at(0), at(2*time.Minute)); c != 2 {
		t.Errorf("kept failure count = %d, want 2", c)
	}
	// Sweeping keeps a live value live (it is still a replay before its
	// expiry) even when now is later than the caller's own clock.
	if ok, _ := s.UseOnce(ctx(t), "dpop", "j1", at(time.Minute), at(3*time.Minute)); ok {
		t.Error("a live one-time value was swept")
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
