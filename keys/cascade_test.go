package keys_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
)

// child creates a key owned by the key with the given id.
func (f *fixture) child(t *testing.T, owner string) keys.Key {
	t.Helper()
	k, _, err := f.m.Create(context.Background(), keys.CreateParams{Owner: owner, Scope: scope.MustParse("read:users")}, admin)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// revoked reports whether the key with the given id is revoked.
func (f *fixture) revoked(t *testing.T, id string) bool {
	t.Helper()
	rec, err := f.m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return !rec.RevokedAt.IsZero()
}

// put stores a record directly, as another process (or a damaged store)
// could have: owner cycles, many keys.
func (f *fixture) put(id, owner string) {
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	f.store.recs[id] = storage.Key{ID: id, Owner: owner, Scope: []string{"read:users"}, CreatedAt: t0}
}

// Issue 11, finding 4: RevokeCascade revokes a key and every key it
// created, transitively, parents before children, and nothing else.
func TestRevokeCascade(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, _ := f.create(t, "read:users")
	b := f.child(t, a.ID())
	c := f.child(t, b.ID())
	d := f.child(t, c.ID())
	b2 := f.child(t, a.ID())
	sibling := f.child(t, "o")            // a's creator made it, not a
	userKey := f.child(t, "user:"+a.ID()) // another namespace
	nephew := f.child(t, sibling.ID())

	got, err := f.m.RevokeCascade(ctx, a.ID())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a.ID(), b.ID(), c.ID(), d.ID(), b2.ID()}
	if !sameSet(got, want) || got[0] != a.ID() {
		t.Fatalf("revoked %v, want %v with %s first", got, want, a.ID())
	}
	for _, pair := range [][2]string{{b.ID(), c.ID()}, {c.ID(), d.ID()}} {
		if slices.Index(got, pair[0]) > slices.Index(got, pair[1]) {
			t.Errorf("a child revoked before its parent: %v", got)
		}
	}
	for _, id := range want {
		if !f.revoked(t, id) {
			t.Errorf("%s not revoked", id)
		}
	}
	for _, k := range []keys.Key{sibling, userKey, nephew} {
		if _, err := f.m.Authenticate(ctx, k); err != nil {
			t.Errorf("a key outside the tree: %v", err)
		}
	}
	if !sameSet(f.revoker.ids, want) {
		t.Errorf("Revoker told %v, want %v", f.revoker.ids, want)
	}

	// Again: everything is revoked (and the Revoker told) once more.
	again, err := f.m.RevokeCascade(ctx, a.ID())
	if err != nil || !sameSet(again, want) {
		t.Errorf("again: %v, %v", again, err)
	}

	for _, id := range []string{mustGenerate(t, testPrefix, "cascade unknown").ID(), "../x", ""} {
		if got, err := f.m.RevokeCascade(ctx, id); !errors.Is(err, storage.ErrNotFound) || len(got) != 0 {
			t.Errorf("RevokeCascade(%q) = %v, %v; want ErrNotFound", id, got, err)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Descendants spread over many List pages are all found.
func TestRevokeCascadePages(t *testing.T) {
	f := newFixture(t)
	a, _ := f.create(t, "read:users")
	want := []string{a.ID()}
	for i := range 2*keys.MaxListLimit + 7 {
		id := fmt.Sprintf("%016d", i)
		owner := a.ID()
		if i%3 == 2 {
			owner = fmt.Sprintf("%016d", i-1) // a grandchild
		}
		if i%5 == 4 {
			owner = "o" // not in the tree
		} else {
			want = append(want, id)
		}
		f.put(id, owner)
	}
	// Keys whose creator is outside the tree, even if created by a key
	// that is: i%5 == 4 keys cut their subtree off.
	want = slices.DeleteFunc(want, func(id string) bool {
		var i int
		fmt.Sscanf(id, "%d", &i)
		return id != a.ID() && i%3 == 2 && (i-1)%5 == 4
	})
	got, err := f.m.RevokeCascade(context.Background(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !sameSet(got, want) {
		t.Errorf("revoked %d keys, want %d", len(got), len(want))
	}
}

// A cycle of owners, which Create cannot make but a store can hold, ends.
func TestRevokeCascadeCycle(t *testing.T) {
	f := newFixture(t)
	x, y, z := strings.Repeat("x", 16), strings.Repeat("y", 16), strings.Repeat("z", 16)
	f.put(x, y)
	f.put(y, x)
	f.put(z, z)
	got, err := f.m.RevokeCascade(context.Background(), x)
	if err != nil || !sameSet(got, []string{x, y}) {
		t.Errorf("cycle: %v, %v", got, err)
	}
	got, err = f.m.RevokeCascade(context.Background(), z)
	if err != nil || !slices.Equal(got, []string{z}) {
		t.Errorf("own owner: %v, %v", got, err)
	}
}

// A cascade that fails half-way reports the failure, never success, and
// running it again finishes the job.
func TestRevokeCascadeResumes(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("store down")
	for _, tc := range []struct {
		name   string
		break_ func(f *fixture, failing string)
		mend   func(f *fixture)
	}{
		{"a descendant's revocation", func(f *fixture, id string) { f.store.revokeErr = map[string]error{id: boom} },
			func(f *fixture) { f.store.revokeErr = nil }},
		{"the Revoker", func(f *fixture, _ string) { f.revoker.err = boom },
			func(f *fixture) { f.revoker.err = nil }},
		{"listing", func(f *fixture, _ string) {
			f.store.onKeys = func(s *fakeStore) { s.err = boom }
		}, func(f *fixture) { f.store.onKeys = nil; f.store.err = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			a, _ := f.create(t, "read:users")
			b := f.child(t, a.ID())
			c := f.child(t, b.ID())
			d := f.child(t, c.ID())
			tc.break_(f, c.ID())
			got, err := f.m.RevokeCascade(ctx, a.ID())
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want the failure", err)
			}
			if slices.Contains(got, c.ID()) && tc.name == "a descendant's revocation" {
				t.Errorf("reported %v revoked, the failed one included", got)
			}
			tc.mend(f)
			f.revoker.ids = nil
			got, err = f.m.RevokeCascade(ctx, a.ID())
			want := []string{a.ID(), b.ID(), c.ID(), d.ID()}
			if err != nil || !sameSet(got, want) {
				t.Fatalf("resumed: %v, %v", got, err)
			}
			for _, id := range want {
				if !f.revoked(t, id) {
					t.Errorf("%s not revoked", id)
				}
			}
			if !sameSet(f.revoker.ids, want) {
				t.Errorf("Revoker told %v, want every key again", f.revoker.ids)
			}
		})
	}
}

// A key created by a descendant while the cascade runs is found by the
// next pass.
func TestRevokeCascadeLateChild(t *testing.T) {
	f := newFixture(t)
	a, _ := f.create(t, "read:users")
	b := f.child(t, a.ID())
	late := strings.Repeat("L", 16)
	calls := 0
	f.store.onKeys = func(s *fakeStore) {
		if calls++; calls == 2 { // after the first pass listed every key
			s.recs[late] = storage.Key{ID: late, Owner: b.ID(), Scope: []string{"read:users"}, CreatedAt: t0}
		}
	}
	got, err := f.m.RevokeCascade(context.Background(), a.ID())
	if err != nil || !sameSet(got, []string{a.ID(), b.ID(), late}) {
		t.Errorf("revoked %v, %v; want the late child too", got, err)
	}
}
