package sqlstore_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// TestConcurrentKeyLifecycle runs keyturn's own key lifecycle over the store
// from 8 writers and 8 readers at once, through two *sql.DB handles: writers
// create keys with keys.Manager, check each authenticates, and revoke every
// third; readers keep authenticating the keys published so far. At the end
// every key is listed, every revoked key is refused with ErrRevoked and
// every other one authenticates. A fixed amount of work, no timing.
func TestConcurrentKeyLifecycle(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			s1, _ := d.store(t)
			s2 := newStore(t, d.open(t), d.dialect)
			managers := make([]*keys.Manager, 2)
			for i, s := range []*sqlstore.Store{s1, s2} {
				m, err := keys.NewManager(keys.Config{Store: s, Hasher: keys.NewHasher([]byte("pepper")), Prefix: "ds_live"})
				if err != nil {
					t.Fatal(err)
				}
				managers[i] = m
			}
			ctx := t.Context()
			ceiling := scope.MustParse("read:users write:users")
			sc := scope.MustParse("read:users")
			const perWriter = 15

			var mu sync.Mutex
			var published []keys.Key
			revoked := map[string]bool{}
			var wg sync.WaitGroup
			var writersWG sync.WaitGroup
			stop := make(chan struct{})
			for w := range 8 {
				m := managers[w%2]
				writersWG.Add(1)
				wg.Go(func() {
					defer writersWG.Done()
					for i := range perWriter {
						k, _, err := m.Create(ctx, keys.CreateParams{Name: "c", Scope: sc}, ceiling)
						if err != nil {
							t.Errorf("create: %v", err)
							return
						}
						rec, err := m.Authenticate(ctx, k)
						if err != nil {
							t.Errorf("authenticate a new key: %v", err)
							return
						}
						if rec.ID != k.ID() || !rec.Scope.Equal(sc) {
							t.Errorf("authenticate a new key: record %+v, want id %s and scope %q", rec, k.ID(), sc)
							return
						}
						if i%3 == 0 {
							if err := m.Revoke(ctx, k.ID()); err != nil {
								t.Errorf("revoke: %v", err)
								return
							}
						}
						mu.Lock()
						published = append(published, k)
						revoked[k.ID()] = i%3 == 0
						mu.Unlock()
					}
				})
			}
			for r := range 8 {
				m := managers[r%2]
				wg.Go(func() {
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						mu.Lock()
						if len(published) == 0 {
							mu.Unlock()
							continue
						}
						k := published[(n*7+r)%len(published)]
						isRevoked := revoked[k.ID()]
						mu.Unlock()
						_, err := m.Authenticate(ctx, k)
						if isRevoked && !errors.Is(err, keys.ErrRevoked) || !isRevoked && err != nil {
							t.Errorf("authenticate (revoked %v): %v", isRevoked, err)
							return
						}
					}
				})
			}
			writersWG.Wait()
			close(stop)
			wg.Wait()

			listed, err := managers[1].List(ctx, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(listed) != 8*perWriter || len(published) != 8*perWriter {
				t.Fatalf("listed %d keys, published %d, want %d", len(listed), len(published), 8*perWriter)
			}
			for _, rec := range listed {
				if _, ok := revoked[rec.ID]; !ok || !rec.Scope.Equal(sc) || revoked[rec.ID] == rec.RevokedAt.IsZero() {
					t.Errorf("listed record %+v; want a published key, scope %q, revoked %v", rec, sc, revoked[rec.ID])
				}
			}
			for _, k := range published {
				_, err := managers[0].Authenticate(ctx, k)
				if revoked[k.ID()] != errors.Is(err, keys.ErrRevoked) || !revoked[k.ID()] && err != nil {
					t.Errorf("key revoked=%v: Authenticate = %v", revoked[k.ID()], err)
				}
			}
		})
	}
}
