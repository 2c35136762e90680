package sqlstore_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// Sizes of TestConcurrentWritersAndReaders: a fixed amount of work, not a
// duration, so the test checks outcomes, never timing.
const (
	writers      = 8
	readers      = 8
	keysPerWrite = 40 // keys each writer creates
)

// concKey is the key writer w creates in its step i; every field is a
// function of (w, i), so a reader can check what it reads.
func concKey(w, i int) storage.Key {
	id := fmt.Sprintf("w%d-k%03d", w, i)
	h := sha256.Sum256([]byte(id))
	return storage.Key{
		ID: id, Name: "writer " + id[:2], Owner: fmt.Sprintf("owner-%d", w),
		Scope: []string{"read:users", fmt.Sprintf("target-entity:e%d:read", i)}, SecretHash: h[:],
		TokenLifetime: time.Duration(60+i) * time.Second, CreatedAt: t0.Add(time.Duration(i) * time.Second),
	}
}

// concRevoked says whether the writer revokes key i, and when.
func concRevoked(i int) (bool, time.Time) {
	return i%3 == 0, t0.Add(time.Hour + time.Duration(i)*time.Second)
}

// concJTI is the token revocation writer w adds in step i.
func concJTI(w, i int) storage.Revocation {
	return storage.Revocation{
		Kind: storage.RevokedToken, ID: fmt.Sprintf("jti-w%d-%03d", w, i),
		RevokedAt: t0.Add(time.Duration(i) * time.Millisecond), ExpiresAt: t0.Add(time.Hour),
	}
}

// sharedRevocation is the client revocation every writer adds in every step,
// with its own times: the merged record must keep the earliest RevokedAt and
// the latest ExpiresAt.
func sharedRevocation(w, i int) storage.Revocation {
	return storage.Revocation{
		Kind: storage.RevokedClient, ID: "shared",
		RevokedAt: t0.Add(time.Duration(100+w*keysPerWrite+i) * time.Second),
		ExpiresAt: t0.Add(time.Duration(1000+w*keysPerWrite+i) * time.Second),
	}
}

// TestConcurrentWritersAndReaders runs 8 writers and 8 readers, each with a
// fixed amount of work, against one database, and then accounts for every
// record. Writers create keys, revoke every third, add token revocations, and
// all race to create the same shared keys and to merge one shared
// revocation. Readers check that every key a writer reported created is
// found, equal to what was written, revoked exactly when the writer reported
// it revoked, and that listings are ordered and duplicate-free.
func TestConcurrentWritersAndReaders(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			s, _ := d.store(t)
			// A second handle (its own pool), as a second process would be.
			s2 := newStore(t, d.open(t), d.dialect)
			runConcurrent(t, []*sqlstore.Store{s, s2})
		})
	}
}

func runConcurrent(t *testing.T, stores []*sqlstore.Store) {
	ctx := t.Context()
	// done[w] is the number of steps writer w has completed; a reader may
	// rely on every record of those steps.
	var done [writers]atomic.Int64
	var sharedWins atomic.Int64
	var writersDone atomic.Bool

	var wg, writerWG sync.WaitGroup
	for w := range writers {
		s := stores[w%len(stores)]
		writerWG.Add(1)
		wg.Go(func() {
			defer writerWG.Done()
			for i := range keysPerWrite {
				k := concKey(w, i)
				if err := s.CreateKey(ctx, k); err != nil {
					t.Errorf("writer %d: CreateKey(%s): %v", w, k.ID, err)
					return
				}
				if revoke, at := concRevoked(i); revoke {
					if err := s.RevokeKey(ctx, k.ID, at); err != nil {
						t.Errorf("writer %d: RevokeKey(%s): %v", w, k.ID, err)
						return
					}
					// A second, later revocation must not move the time.
					if err := s.RevokeKey(ctx, k.ID, at.Add(time.Hour)); err != nil {
						t.Errorf("writer %d: RevokeKey again: %v", w, err)
						return
					}
					if err := s.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedClient, ID: k.ID, RevokedAt: at}); err != nil {
						t.Errorf("writer %d: AddRevocation(client): %v", w, err)
						return
					}
				}
				if err := s.AddRevocation(ctx, concJTI(w, i)); err != nil {
					t.Errorf("writer %d: AddRevocation(token): %v", w, err)
					return
				}
				if err := s.AddRevocation(ctx, sharedRevocation(w, i)); err != nil {
					t.Errorf("writer %d: AddRevocation(shared): %v", w, err)
					return
				}
				// Every writer tries to create the same key; one wins.
				err := s.CreateKey(ctx, storage.Key{ID: fmt.Sprintf("shared-%03d", i), Owner: fmt.Sprintf("owner-%d", w), CreatedAt: t0})
				switch {
				case err == nil:
					sharedWins.Add(1)
				case !errors.Is(err, storage.ErrExists):
					t.Errorf("writer %d: CreateKey(shared): %v", w, err)
					return
				}
				done[w].Store(int64(i + 1))
			}
		})
	}
	var reads atomic.Int64
	for r := range readers {
		s := stores[r%len(stores)]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 42))
			// Always at least one round, even if the writers are done.
			for round := 0; round == 0 || !writersDone.Load(); round++ {
				if !readRound(t, s, rng, &done, round) {
					return
				}
				reads.Add(1)
			}
		})
	}
	writerWG.Wait()
	writersDone.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d reader rounds", reads.Load())
	verifyFinal(t, stores[0], sharedWins.Load())
}

// readRound makes one round of reads; it reports false after a failure.
func readRound(t *testing.T, s *sqlstore.Store, rng *rand.Rand, done *[writers]atomic.Int64, round int) bool {
	ctx := t.Context()
	w := rng.IntN(writers)
	n := int(done[w].Load())
	if n > 0 {
		i := rng.IntN(n)
		want := concKey(w, i)
		if revoke, at := concRevoked(i); revoke {
			want.RevokedAt = at
		}
		got, err := s.Key(ctx, want.ID)
		if err != nil {
			t.Errorf("reader: Key(%s) of a completed step: %v", want.ID, err)
			return false
		}
		if !keysEqual(want, got) {
			t.Errorf("reader: Key(%s) = %+v, want %+v", want.ID, got, want)
			return false
		}
		// At most one token revocation per writer has the jti's RevokedAt,
		// and every later revocation sorts after them.
		jti := concJTI(w, i)
		revs, err := s.RevocationsSince(ctx, jti.RevokedAt, writers)
		if got, ok := findRevocation(revs, jti.Kind, jti.ID); err != nil || !ok || !got.RevokedAt.Equal(jti.RevokedAt) {
			t.Errorf("reader: token revocation %d/%d = %+v (listed %v), %v", w, i, got, ok, err)
			return false
		}
		if revoke, at := concRevoked(i); revoke {
			revs, err := s.RevocationsSince(ctx, at, writers)
			if _, ok := findRevocation(revs, storage.RevokedClient, want.ID); err != nil || !ok {
				t.Errorf("reader: client revocation of %s listed = %v, %v; want listed", want.ID, ok, err)
				return false
			}
		}
	}
	// A key not created yet, or never, is not found (never an error of
	// another kind).
	if _, err := s.Key(ctx, fmt.Sprintf("w%d-k%03d", w, keysPerWrite+rng.IntN(10))); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("reader: Key(missing) = %v, want ErrNotFound", err)
		return false
	}
	if round%4 == 0 {
		// Page through every key: ascending, no duplicates, and at least
		// every key completed before the listing began.
		var least int
		for w := range writers {
			least += int(done[w].Load())
		}
		var ids []string
		after := ""
		for {
			page, err := s.Keys(ctx, after, 25)
			if err != nil {
				t.Errorf("reader: Keys: %v", err)
				return false
			}
			for _, k := range page {
				ids = append(ids, k.ID)
			}
			if len(page) < 25 {
				break
			}
			after = page[len(page)-1].ID
		}
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("reader: Keys paging not strictly ascending: %v", ids)
			return false
		}
		if got := countPrefix(ids, "w"); got < least {
			t.Errorf("reader: Keys listed %d writer keys, want at least %d", got, least)
			return false
		}
		since, err := s.RevocationsSince(ctx, t0, 50)
		if err != nil {
			t.Errorf("reader: RevocationsSince: %v", err)
			return false
		}
		if !slices.IsSortedFunc(since, compareRevocations) {
			t.Errorf("reader: RevocationsSince out of order")
			return false
		}
	}
	return true
}

func verifyFinal(t *testing.T, s *sqlstore.Store, sharedWins int64) {
	ctx := t.Context()
	all, err := s.Keys(ctx, "", 0)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if got, want := len(all), writers*keysPerWrite+keysPerWrite; got != want {
		t.Errorf("Keys: %d keys, want %d created", got, want)
	}
	if sharedWins != keysPerWrite {
		t.Errorf("%d CreateKey calls for the shared keys succeeded, want exactly %d", sharedWins, keysPerWrite)
	}
	byID := make(map[string]storage.Key, len(all))
	for _, k := range all {
		byID[k.ID] = k
	}
	revoked := 0
	for w := range writers {
		for i := range keysPerWrite {
			want := concKey(w, i)
			if r, at := concRevoked(i); r {
				want.RevokedAt = at
				revoked++
			}
			if got, ok := byID[want.ID]; !ok || !keysEqual(want, got) {
				t.Errorf("key %s = %+v (found %v), want %+v", want.ID, got, ok, want)
			}
		}
	}
	for i := range keysPerWrite {
		if _, ok := byID[fmt.Sprintf("shared-%03d", i)]; !ok {
			t.Errorf("shared key %d missing", i)
		}
	}

	revs, err := s.RevocationsSince(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatalf("RevocationsSince: %v", err)
	}
	var clients, tokens int
	for _, r := range revs {
		switch r.Kind {
		case storage.RevokedClient:
			clients++
		case storage.RevokedToken:
			tokens++
		}
	}
	if want := revoked + 1; clients != want { // +1: the shared one
		t.Errorf("%d client revocations, want %d", clients, want)
	}
	if want := writers * keysPerWrite; tokens != want {
		t.Errorf("%d token revocations, want %d", tokens, want)
	}
	shared, ok := findRevocation(revs, storage.RevokedClient, "shared")
	if !ok {
		t.Fatalf("RevocationsSince does not list the shared revocation")
	}
	first, last := sharedRevocation(0, 0), sharedRevocation(writers-1, keysPerWrite-1)
	if !shared.RevokedAt.Equal(first.RevokedAt) || !shared.ExpiresAt.Equal(last.ExpiresAt) {
		t.Errorf("shared revocation merged to %v…%v, want %v…%v",
			shared.RevokedAt, shared.ExpiresAt, first.RevokedAt, last.ExpiresAt)
	}
}

// findRevocation returns the revocation of the given kind and id in list.
func findRevocation(list []storage.Revocation, kind storage.RevocationKind, id string) (storage.Revocation, bool) {
	i := slices.IndexFunc(list, func(r storage.Revocation) bool { return r.Kind == kind && r.ID == id })
	if i < 0 {
		return storage.Revocation{}, false
	}
	return list[i], true
}

func keysEqual(a, b storage.Key) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Owner == b.Owner && slices.Equal(a.Scope, b.Scope) &&
		string(a.SecretHash) == string(b.SecretHash) && a.TokenLifetime == b.TokenLifetime &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.RevokedAt.Equal(b.RevokedAt)
}

func countPrefix(ids []string, prefix string) int {
	n := 0
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}

func compareRevocations(a, b storage.Revocation) int {
	if c := a.RevokedAt.Compare(b.RevokedAt); c != 0 {
		return c
	}
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	return strings.Compare(a.ID, b.ID)
}
