package storagetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// TestRevocationStore tests a [storage.RevocationStore]; newStore returns a
// fresh, empty store for each subtest.
func TestRevocationStore(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testRevocationRoundTrip(t, newStore) })
	t.Run("Empty", func(t *testing.T) { testRevocationEmpty(t, newStore) })
	t.Run("DistinctIDs", func(t *testing.T) { testRevocationDistinctIDs(t, newStore) })
	t.Run("Merge", func(t *testing.T) { testRevocationMerge(t, newStore) })
	t.Run("ZeroRevokedAt", func(t *testing.T) { testRevocationZeroRevokedAt(t, newStore) })
	t.Run("Since", func(t *testing.T) { testRevocationsSince(t, newStore) })
	t.Run("NoAliasing", func(t *testing.T) { testRevocationNoAliasing(t, newStore) })
	t.Run("Cancelled", func(t *testing.T) { testRevocationCancelled(t, newStore) })
	t.Run("Concurrent", func(t *testing.T) { testRevocationConcurrent(t, newStore) })
}

// revocation returns the one stored revocation of the given kind and id, as
// RevocationsSince lists it, checking its times are in UTC.
func revocation(t *testing.T, s storage.RevocationStore, kind storage.RevocationKind, id string) storage.Revocation {
	t.Helper()
	var (
		found storage.Revocation
		n     int
	)
	for _, r := range revocationsSince(t, s, time.Time{}, 0) {
		if r.Kind == kind && r.ID == id {
			found = r
			n++
		}
	}
	if n != 1 {
		t.Fatalf("RevocationsSince lists %d revocations of kind %v and ID %q, want 1", n, kind, id)
	}
	return found
}

// revocationsSince returns RevocationsSince(since, limit), checking times
// are in UTC.
func revocationsSince(t *testing.T, s storage.RevocationStore, since time.Time, limit int) []storage.Revocation {
	t.Helper()
	list, err := s.RevocationsSince(ctx(t), since, limit)
	wantNoErr(t, "RevocationsSince", err)
	for _, r := range list {
		mustUTC(t, "RevocationsSince", r.RevokedAt, r.ExpiresAt)
	}
	return list
}

func testRevocationRoundTrip(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	tests := []struct {
		name string
		r    storage.Revocation
	}{
		{"Token", storage.Revocation{Kind: storage.RevokedToken, ID: "jti-1", RevokedAt: at(0), ExpiresAt: at(time.Hour)}},
		{"Client", storage.Revocation{Kind: storage.RevokedClient, ID: "client-1", RevokedAt: at(0), ExpiresAt: at(24 * time.Hour)}},
		{"KeepForever", storage.Revocation{Kind: storage.RevokedClient, ID: "client-2", RevokedAt: at(0)}},
		{"NonUTC", storage.Revocation{Kind: storage.RevokedToken, ID: "jti-2", RevokedAt: at(time.Microsecond).In(kolkata), ExpiresAt: at(time.Hour).In(honolulu)}},
		{"UnusualID", storage.Revocation{Kind: storage.RevokedToken, ID: "o'brien%_\"ключ\"", RevokedAt: at(0)}},
		{"LongID", storage.Revocation{Kind: storage.RevokedToken, ID: unusualIDs[len(unusualIDs)-1], RevokedAt: at(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), tt.r))
			if d := diff([]storage.Revocation{tt.r}, revocationsSince(t, s, time.Time{}, 0)); d != "" {
				t.Errorf("RevocationsSince mismatch (-stored +returned):\n%s", d)
			}
		})
	}
	t.Run("SameIDBothKinds", func(t *testing.T) {
		s := newStore(t)
		tok := storage.Revocation{Kind: storage.RevokedToken, ID: "same", RevokedAt: at(time.Minute), ExpiresAt: at(time.Hour)}
		cli := storage.Revocation{Kind: storage.RevokedClient, ID: "same", RevokedAt: at(time.Second), ExpiresAt: at(48 * time.Hour)}
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), tok))
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), cli))
		if d := diff(tok, revocation(t, s, storage.RevokedToken, "same")); d != "" {
			t.Errorf("token revocation (-want +got):\n%s", d)
		}
		if d := diff(cli, revocation(t, s, storage.RevokedClient, "same")); d != "" {
			t.Errorf("client revocation (-want +got):\n%s", d)
		}
	})
}

func testRevocationEmpty(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	s := newStore(t)
	for _, tt := range []struct {
		since time.Time
		limit int
	}{{time.Time{}, 0}, {time.Time{}, 1}, {at(0), 0}, {at(-time.Hour), -1}} {
		if got := revocationsSince(t, s, tt.since, tt.limit); len(got) != 0 {
			t.Errorf("RevocationsSince(%v, %d) on an empty store returned %d revocations", tt.since, tt.limit, len(got))
		}
	}
}

// testRevocationDistinctIDs adds revocations whose IDs differ only in case,
// length or SQL metacharacters: none merges into another.
func testRevocationDistinctIDs(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	s := newStore(t)
	ids := slices.Concat(unusualIDs, nearMisses, []string{"jti", "JTI", "jt", "jti2", "j%"})
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var want []storage.Revocation
	for _, kind := range []storage.RevocationKind{storage.RevokedToken, storage.RevokedClient} {
		for _, id := range ids {
			want = append(want, storage.Revocation{Kind: kind, ID: id, RevokedAt: at(0), ExpiresAt: at(time.Hour)})
		}
	}
	for _, i := range rand.New(rand.NewPCG(3, 4)).Perm(len(want)) {
		wantNoErr(t, fmt.Sprintf("AddRevocation(%v, %q)", want[i].Kind, want[i].ID), s.AddRevocation(ctx(t), want[i]))
	}
	if d := diff(want, revocationsSince(t, s, time.Time{}, 0)); d != "" {
		t.Errorf("RevocationsSince: want every ID once, ordered byte-wise (-want +got):\n%s", d)
	}
}

func testRevocationMerge(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	var zero time.Time
	h := func(n int) time.Time { return at(time.Duration(n) * time.Hour) }
	type times struct{ revokedAt, expiresAt time.Time }
	tests := []struct {
		name string
		adds []times
		want times
	}{
		{"SameTwice", []times{{h(1), h(2)}, {h(1), h(2)}}, times{h(1), h(2)}},
		{"EarlierRevokedAtWins", []times{{h(2), h(9)}, {h(1), h(9)}}, times{h(1), h(9)}},
		{"LaterRevokedAtIgnored", []times{{h(1), h(9)}, {h(2), h(9)}}, times{h(1), h(9)}},
		{"LaterExpiresAtWins", []times{{h(1), h(5)}, {h(1), h(9)}}, times{h(1), h(9)}},
		{"EarlierExpiresAtIgnored", []times{{h(1), h(9)}, {h(1), h(5)}}, times{h(1), h(9)}},
		{"BothMoveOutward", []times{{h(2), h(5)}, {h(1), h(9)}}, times{h(1), h(9)}},
		{"BothIgnored", []times{{h(1), h(9)}, {h(2), h(5)}}, times{h(1), h(9)}},
		{"Mixed", []times{{h(2), h(9)}, {h(1), h(5)}}, times{h(1), h(9)}},
		{"MixedOtherWay", []times{{h(1), h(5)}, {h(2), h(9)}}, times{h(1), h(9)}},
		{"ZeroExpiresAtAdded", []times{{h(1), h(9)}, {h(2), zero}}, times{h(1), zero}},
		{"ZeroExpiresAtKept", []times{{h(1), zero}, {h(0), h(9)}}, times{h(0), zero}},
		{"ZeroExpiresAtNonUTC", []times{{h(1), h(9)}, {h(2), zero.In(kolkata)}}, times{h(1), zero}},
		{"ByAMicrosecond", []times{{h(1), h(9)}, {h(1).Add(-time.Microsecond), h(9).Add(time.Microsecond)}}, times{h(1).Add(-time.Microsecond), h(9).Add(time.Microsecond)}},
		{"NonUTCSameInstant", []times{{h(1), h(9)}, {h(1).In(honolulu), h(9).In(kolkata)}}, times{h(1), h(9)}},
		{"NonUTCEarlier", []times{{h(1), h(9)}, {h(-1).In(honolulu), h(10).In(kolkata)}}, times{h(-1), h(10)}},
		{"ThreeAdds", []times{{h(3), h(5)}, {h(1), h(4)}, {h(2), h(8)}}, times{h(1), h(8)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			for _, kind := range []storage.RevocationKind{storage.RevokedToken, storage.RevokedClient} {
				for i, a := range tt.adds {
					r := storage.Revocation{Kind: kind, ID: "id", RevokedAt: a.revokedAt, ExpiresAt: a.expiresAt}
					wantNoErr(t, fmt.Sprintf("AddRevocation #%d", i+1), s.AddRevocation(ctx(t), r))
				}
			}
			// An unrelated record with the same ID but the other kind is
			// not merged: checked by both kinds giving the same result.
			want := func(kind storage.RevocationKind) storage.Revocation {
				return storage.Revocation{Kind: kind, ID: "id", RevokedAt: tt.want.revokedAt, ExpiresAt: tt.want.expiresAt}
			}
			for _, kind := range []storage.RevocationKind{storage.RevokedToken, storage.RevokedClient} {
				if d := diff(want(kind), revocation(t, s, kind, "id")); d != "" {
					t.Errorf("%v revocation after merging (-want +got):\n%s", kind, d)
				}
			}
			all := []storage.Revocation{want(storage.RevokedToken), want(storage.RevokedClient)}
			if d := diff(all, revocationsSince(t, s, time.Time{}, 0)); d != "" {
				t.Errorf("RevocationsSince after merging: want each record once (-want +got):\n%s", d)
			}
		})
	}
	t.Run("KindsIndependent", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), storage.Revocation{Kind: storage.RevokedToken, ID: "id", RevokedAt: h(5), ExpiresAt: h(6)}))
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), storage.Revocation{Kind: storage.RevokedClient, ID: "id", RevokedAt: h(1), ExpiresAt: zero}))
		want := storage.Revocation{Kind: storage.RevokedToken, ID: "id", RevokedAt: h(5), ExpiresAt: h(6)}
		if d := diff(want, revocation(t, s, storage.RevokedToken, "id")); d != "" {
			t.Errorf("a client revocation changed the token revocation with the same ID (-want +got):\n%s", d)
		}
	})
}

func testRevocationZeroRevokedAt(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	s := newStore(t)
	existing := storage.Revocation{Kind: storage.RevokedClient, ID: "existing", RevokedAt: at(time.Hour), ExpiresAt: at(2 * time.Hour)}
	wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), existing))
	tests := []struct {
		name string
		r    storage.Revocation
	}{
		{"New", storage.Revocation{Kind: storage.RevokedToken, ID: "new", ExpiresAt: at(time.Hour)}},
		{"NewNonUTC", storage.Revocation{Kind: storage.RevokedToken, ID: "new", RevokedAt: time.Time{}.In(kolkata)}},
		{"Existing", storage.Revocation{Kind: storage.RevokedClient, ID: "existing", ExpiresAt: at(3 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.AddRevocation(ctx(t), tt.r); err == nil {
				t.Errorf("AddRevocation with a zero RevokedAt succeeded, want an error")
			}
			if d := diff([]storage.Revocation{existing}, revocationsSince(t, s, time.Time{}, 0)); d != "" {
				t.Errorf("AddRevocation with a zero RevokedAt changed the store (-want +got):\n%s", d)
			}
		})
	}
}

func testRevocationsSince(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	s := newStore(t)
	m := func(n int) time.Time { return at(time.Duration(n) * time.Minute) }
	tok, cli := storage.RevokedToken, storage.RevokedClient
	// In the order RevocationsSince must return them: by RevokedAt, then
	// Kind (token before client), then ID byte-wise.
	ordered := []storage.Revocation{
		{Kind: cli, ID: "c-early", RevokedAt: m(-60), ExpiresAt: m(60)},
		{Kind: tok, ID: "B", RevokedAt: m(0)},
		{Kind: tok, ID: "a", RevokedAt: m(0), ExpiresAt: m(10)},
		{Kind: tok, ID: "b", RevokedAt: m(0)},
		{Kind: cli, ID: "A", RevokedAt: m(0), ExpiresAt: m(100)},
		{Kind: cli, ID: "a", RevokedAt: m(0)},
		{Kind: tok, ID: "a", RevokedAt: m(0).Add(time.Microsecond)},
		{Kind: cli, ID: "mid", RevokedAt: m(5)},
		{Kind: tok, ID: "late", RevokedAt: m(10), ExpiresAt: m(20)},
		{Kind: tok, ID: "later", RevokedAt: m(11)},
	}
	// The same instant added in other locations.
	ordered[4].RevokedAt = ordered[4].RevokedAt.In(kolkata)
	ordered[5].RevokedAt = ordered[5].RevokedAt.In(honolulu)
	ordered[6].ID = "a2"
	for _, i := range rand.New(rand.NewPCG(7, 8)).Perm(len(ordered)) {
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), ordered[i]))
	}
	tests := []struct {
		name  string
		since time.Time
		limit int
		want  []storage.Revocation
	}{
		{"ZeroSince", time.Time{}, 0, ordered},
		{"LongAgo", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 0, ordered},
		{"NegativeLimit", time.Time{}, -1, ordered},
		{"LimitOne", time.Time{}, 1, ordered[:1]},
		{"LimitFour", time.Time{}, 4, ordered[:4]},
		{"LimitEqualsCount", time.Time{}, len(ordered), ordered},
		{"LimitAboveCount", time.Time{}, len(ordered) + 5, ordered},
		{"InclusiveBound", m(0), 0, ordered[1:]},
		{"InclusiveBoundNonUTC", m(0).In(kolkata), 0, ordered[1:]},
		{"InclusiveBoundLimited", m(0), 3, ordered[1:4]},
		{"JustAfterTie", m(0).Add(time.Microsecond), 0, ordered[6:]},
		{"JustBefore", m(5).Add(-time.Microsecond), 0, ordered[7:]},
		{"Exact", m(5).In(honolulu), 2, ordered[7:9]},
		{"Last", m(11), 0, ordered[9:]},
		{"AfterAll", m(11).Add(time.Microsecond), 0, nil},
		{"FarFuture", m(1_000_000), 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := revocationsSince(t, s, tt.since, tt.limit)
			if d := diff(tt.want, got); d != "" {
				t.Errorf("RevocationsSince(%v, %d) (-want +got):\n%s", tt.since, tt.limit, d)
			}
		})
	}
	t.Run("AfterMerge", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), storage.Revocation{Kind: tok, ID: "x", RevokedAt: m(10)}))
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), storage.Revocation{Kind: tok, ID: "y", RevokedAt: m(5)}))
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), storage.Revocation{Kind: tok, ID: "x", RevokedAt: m(1)}))
		want := []storage.Revocation{{Kind: tok, ID: "x", RevokedAt: m(1)}, {Kind: tok, ID: "y", RevokedAt: m(5)}}
		if d := diff(want, revocationsSince(t, s, time.Time{}, 0)); d != "" {
			t.Errorf("RevocationsSince after an earlier re-add (-want +got):\n%s", d)
		}
		if got := revocationsSince(t, s, m(6), 0); len(got) != 0 {
			t.Errorf("RevocationsSince(after the merged time) = %v, want none", got)
		}
	})
}

func testRevocationNoAliasing(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	s := newStore(t)
	want := []storage.Revocation{
		{Kind: storage.RevokedToken, ID: "a", RevokedAt: at(0)},
		{Kind: storage.RevokedToken, ID: "b", RevokedAt: at(time.Second)},
	}
	for _, r := range want {
		wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), r))
	}
	got := revocationsSince(t, s, time.Time{}, 0)
	got[0].ID = "changed"
	got[1].RevokedAt = at(time.Hour)
	got = revocationsSince(t, s, time.Time{}, 1)
	if len(got) == 1 {
		_ = append(got, storage.Revocation{Kind: storage.RevokedClient, ID: "appended", RevokedAt: at(0)})
	}
	if d := diff(want, revocationsSince(t, s, time.Time{}, 0)); d != "" {
		t.Errorf("store changed after the caller modified a returned list (-want +got):\n%s", d)
	}
}

func testRevocationCancelled(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	s := newStore(t)
	r := storage.Revocation{Kind: storage.RevokedToken, ID: "jti", RevokedAt: at(time.Hour), ExpiresAt: at(2 * time.Hour)}
	wantNoErr(t, "AddRevocation", s.AddRevocation(ctx(t), r))
	c := cancelled()
	wantErrIs(t, "AddRevocation of a new record", s.AddRevocation(c, storage.Revocation{Kind: storage.RevokedClient, ID: "new", RevokedAt: at(0)}), context.Canceled)
	wantErrIs(t, "AddRevocation merging", s.AddRevocation(c, storage.Revocation{Kind: r.Kind, ID: r.ID, RevokedAt: at(0)}), context.Canceled)
	_, err := s.RevocationsSince(c, time.Time{}, 0)
	wantErrIs(t, "RevocationsSince", err, context.Canceled)
	if d := diff([]storage.Revocation{r}, revocationsSince(t, s, time.Time{}, 0)); d != "" {
		t.Errorf("calls with a cancelled context changed the store (-want +got):\n%s", d)
	}
}

func testRevocationConcurrent(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	const workers, perWorker = 8, 16
	s := newStore(t)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				// Every worker merges into the same record...
				shared := storage.Revocation{
					Kind:      storage.RevokedClient,
					ID:        "shared",
					RevokedAt: at(time.Duration(w*perWorker+i+1) * time.Second),
					ExpiresAt: at(time.Duration(w*perWorker+i+1) * time.Hour),
				}
				if err := s.AddRevocation(ctx(t), shared); err != nil {
					t.Errorf("AddRevocation(shared): %v", err)
					return
				}
				// ...and adds its own.
				own := storage.Revocation{Kind: storage.RevokedToken, ID: fmt.Sprintf("w%d-%02d", w, i), RevokedAt: at(time.Duration(i) * time.Minute)}
				if err := s.AddRevocation(ctx(t), own); err != nil {
					t.Errorf("AddRevocation(%q): %v", own.ID, err)
					return
				}
				list, err := s.RevocationsSince(ctx(t), own.RevokedAt, 0)
				if err != nil {
					t.Errorf("RevocationsSince: %v", err)
				} else if !slices.ContainsFunc(list, func(r storage.Revocation) bool { return r.Kind == own.Kind && r.ID == own.ID }) {
					t.Errorf("RevocationsSince(%v) does not list %q, just added", own.RevokedAt, own.ID)
				}
			}
		})
	}
	wg.Wait()
	want := storage.Revocation{Kind: storage.RevokedClient, ID: "shared", RevokedAt: at(time.Second), ExpiresAt: at(workers * perWorker * time.Hour)}
	if d := diff(want, revocation(t, s, storage.RevokedClient, "shared")); d != "" {
		t.Errorf("concurrently merged revocation: want the earliest RevokedAt and latest ExpiresAt (-want +got):\n%s", d)
	}
	all := revocationsSince(t, s, time.Time{}, 0)
	if len(all) != workers*perWorker+1 {
		t.Errorf("RevocationsSince after concurrent adds returned %d records, want %d", len(all), workers*perWorker+1)
	}
	byID := make(map[string]storage.Revocation, len(all))
	for _, r := range all {
		if r.Kind == storage.RevokedToken {
			byID[r.ID] = r
		}
	}
	for w := range workers {
		for i := range perWorker {
			id := fmt.Sprintf("w%d-%02d", w, i)
			want := storage.Revocation{Kind: storage.RevokedToken, ID: id, RevokedAt: at(time.Duration(i) * time.Minute)}
			got, ok := byID[id]
			if !ok {
				t.Errorf("revocation %q missing after concurrent adds", id)
				continue
			}
			if d := diff(want, got); d != "" {
				t.Errorf("revocation %q after concurrent adds (-want +got):\n%s", id, d)
			}
		}
	}
}
