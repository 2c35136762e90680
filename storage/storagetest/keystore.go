package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// TestKeyStore tests a [storage.KeyStore]; newStore returns a fresh, empty
// store for each subtest.
func TestKeyStore(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testKeyRoundTrip(t, newStore) })
	t.Run("CreateExisting", func(t *testing.T) { testKeyCreateExisting(t, newStore) })
	t.Run("NotFound", func(t *testing.T) { testKeyNotFound(t, newStore) })
	t.Run("UnusualIDs", func(t *testing.T) { testKeyUnusualIDs(t, newStore) })
	t.Run("Keys", func(t *testing.T) { testKeysPages(t, newStore) })
	t.Run("KeysPaging", func(t *testing.T) { testKeysPaging(t, newStore) })
	t.Run("Revoke", func(t *testing.T) { testKeyRevoke(t, newStore) })
	t.Run("NoAliasing", func(t *testing.T) { testKeyNoAliasing(t, newStore) })
	t.Run("Cancelled", func(t *testing.T) { testKeyCancelled(t, newStore) })
	t.Run("Concurrent", func(t *testing.T) { testKeyConcurrent(t, newStore) })
	t.Run("Rotate", func(t *testing.T) { testKeyRotate(t, newStore) })
	t.Run("RotateConcurrent", func(t *testing.T) { testKeyRotateConcurrent(t, newStore) })
	t.Run("Touch", func(t *testing.T) { testKeyTouch(t, newStore) })
	t.Run("TouchConcurrent", func(t *testing.T) { testKeyTouchConcurrent(t, newStore) })
}

// fullKey returns a key with every field set, times in a non-UTC location.
func fullKey(id string) storage.Key {
	return storage.Key{
		ID:            id,
		Name:          "deploy bot — ünïcode",
		Owner:         "user:alice@example.com",
		Scope:         []string{"read:api_keys", "target-entity:E1:read,write", "write:api_keys"},
		SecretHash:    blob(1, 32),
		TokenLifetime: 2*time.Hour + time.Nanosecond,
		CreatedAt:     at(0).In(kolkata),
		ExpiresAt:     at(90 * 24 * time.Hour).In(honolulu),

		PreviousSecretHash: blob(3, 32),
		PreviousExpiresAt:  at(time.Hour).In(kolkata),
		LastUsedAt:         at(30 * time.Minute).In(honolulu),

		AuthMethod: storage.AuthPrivateKeyJWT,
		JWKS:       []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
		Resources:  []string{"https://api.example.com/", "https://other.example.com/v1?x=1"},
		DPoPBound:  true,
	}
}

// keyTimes returns the key's times, for the UTC check.
func keyTimes(k storage.Key) []time.Time {
	return []time.Time{k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.PreviousExpiresAt, k.LastUsedAt}
}

func testKeyRoundTrip(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	revoked := fullKey("revoked")
	revoked.RevokedAt = at(time.Hour).In(honolulu)
	large := fullKey("large")
	large.Name = strings.Repeat("n", 1024)
	large.Owner = strings.Repeat("o", 1024)
	large.Scope = scopes(256)
	large.SecretHash = blob(2, 64)
	large.PreviousSecretHash = blob(4, 64)
	tests := []struct {
		name string
		key  storage.Key
	}{
		{"Full", fullKey("k1")},
		{"OnlyID", storage.Key{ID: "bare"}},
		{"RevokedOnCreation", revoked},
		{"Large", large},
		{"ExtremeTimes", storage.Key{
			ID:        "extreme",
			CreatedAt: time.Date(1969, time.December, 31, 23, 59, 59, 999999000, time.UTC),
			ExpiresAt: time.Date(9999, time.December, 31, 23, 59, 59, 999999000, kolkata),

			PreviousExpiresAt: time.Date(9999, time.December, 31, 23, 59, 59, 999999000, honolulu),
			LastUsedAt:        time.Date(1969, time.December, 31, 23, 59, 59, 999999000, kolkata),
		}},
		{"UTCTimes", storage.Key{ID: "utc", CreatedAt: at(0), ExpiresAt: at(time.Microsecond), RevokedAt: at(2 * time.Microsecond),
			PreviousExpiresAt: at(3 * time.Microsecond), LastUsedAt: at(4 * time.Microsecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), tt.key))
			got, err := s.Key(ctx(t), tt.key.ID)
			wantNoErr(t, "Key", err)
			if d := diff(tt.key, got); d != "" {
				t.Errorf("Key(%q) mismatch (-stored +returned):\n%s", tt.key.ID, d)
			}
			mustUTC(t, "Key", keyTimes(got)...)

			list, err := s.Keys(ctx(t), "", 0)
			wantNoErr(t, "Keys", err)
			if d := diff([]storage.Key{tt.key}, list); d != "" {
				t.Errorf("Keys mismatch (-stored +returned):\n%s", d)
			}
			for _, k := range list {
				mustUTC(t, "Keys", keyTimes(k)...)
			}
		})
	}
}

func testKeyCreateExisting(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	tests := []struct {
		name   string
		revoke bool
	}{
		{"Active", false},
		{"Revoked", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			orig := fullKey("dup")
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), orig))
			if tt.revoke {
				wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), orig.ID, at(time.Minute)))
				orig.RevokedAt = at(time.Minute)
			}
			other := storage.Key{ID: orig.ID, Name: "impostor", SecretHash: blob(9, 32), CreatedAt: at(time.Hour)}
			err := s.CreateKey(ctx(t), other)
			wantErrIs(t, "CreateKey of an existing ID", err, storage.ErrExists)
			if errors.Is(err, storage.ErrNotFound) {
				t.Errorf("CreateKey of an existing ID: error %v also wraps ErrNotFound", err)
			}
			got, err := s.Key(ctx(t), orig.ID)
			wantNoErr(t, "Key", err)
			if d := diff(orig, got); d != "" {
				t.Errorf("failed CreateKey changed the existing key (-want +got):\n%s", d)
			}
			list, err := s.Keys(ctx(t), "", 0)
			wantNoErr(t, "Keys", err)
			if len(list) != 1 {
				t.Errorf("Keys returned %d keys after a duplicate create, want 1", len(list))
			}
		})
	}
}

func testKeyNotFound(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	t.Run("EmptyStore", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Key(ctx(t), "missing")
		wantErrIs(t, "Key on an empty store", err, storage.ErrNotFound)
		wantErrIs(t, "RevokeKey on an empty store", s.RevokeKey(ctx(t), "missing", at(0)), storage.ErrNotFound)
		list, err := s.Keys(ctx(t), "", 0)
		wantNoErr(t, "Keys", err)
		if len(list) != 0 {
			t.Errorf("Keys on an empty store returned %d keys", len(list))
		}
	})
	t.Run("NearMisses", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"abc", "ABD", "abc-"} {
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), storage.Key{ID: id}))
		}
		for _, id := range []string{"ab", "abcd", "ABC", "abd", "abc ", " abc", "abc_", "ab%", "ab_"} {
			_, err := s.Key(ctx(t), id)
			wantErrIs(t, fmt.Sprintf("Key(%q)", id), err, storage.ErrNotFound)
			err = s.RevokeKey(ctx(t), id, at(0))
			wantErrIs(t, fmt.Sprintf("RevokeKey(%q)", id), err, storage.ErrNotFound)
		}
		list, err := s.Keys(ctx(t), "", 0)
		wantNoErr(t, "Keys", err)
		for _, k := range list {
			if !k.RevokedAt.IsZero() {
				t.Errorf("RevokeKey of a near miss revoked key %q", k.ID)
			}
		}
	})
}

func testKeyUnusualIDs(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	s := newStore(t)
	want := make([]storage.Key, len(unusualIDs))
	for i, id := range unusualIDs {
		want[i] = storage.Key{ID: id, Name: "name of " + id, Scope: []string{"s" + fmt.Sprint(i)}, SecretHash: blob(uint64(i), 32)}
	}
	// Create in a scrambled order.
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(want))
	for _, i := range order {
		wantNoErr(t, fmt.Sprintf("CreateKey(%q)", want[i].ID), s.CreateKey(ctx(t), want[i]))
	}
	for _, k := range want {
		got, err := s.Key(ctx(t), k.ID)
		if err != nil {
			t.Errorf("Key(%q): %v", k.ID, err)
			continue
		}
		if d := diff(k, got); d != "" {
			t.Errorf("Key(%q) mismatch (-stored +returned):\n%s", k.ID, d)
		}
	}
	for _, id := range nearMisses {
		if slices.Contains(unusualIDs, id) {
			continue
		}
		got, err := s.Key(ctx(t), id)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Key(%q) = (key %q, %v), want an error wrapping ErrNotFound", id, got.ID, err)
		}
	}
	slices.SortFunc(want, func(a, b storage.Key) int { return strings.Compare(a.ID, b.ID) })
	list, err := s.Keys(ctx(t), "", 0)
	wantNoErr(t, "Keys", err)
	if d := diff(want, list); d != "" {
		t.Errorf("Keys is not every key in byte-wise ascending ID order (-want +got):\n%s", d)
	}
	// Paging from each ID in turn.
	for i, k := range want {
		got, err := s.Keys(ctx(t), k.ID, 3)
		wantNoErr(t, "Keys", err)
		end := min(i+1+3, len(want))
		if d := diff(keyIDs(want[i+1:end]), keyIDs(got)); d != "" {
			t.Errorf("Keys(%q, 3) (-want +got):\n%s", k.ID, d)
		}
	}
}

// keyIDs returns the IDs of keys.
func keyIDs(keys []storage.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func testKeysPages(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	s := newStore(t)
	ids := []string{"k10", "k02", "k07", "k01", "k05", "k03", "k08", "k04", "k09", "k06"}
	for _, id := range ids {
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), storage.Key{ID: id, Name: id}))
	}
	// Revoked keys are listed like any other.
	wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), "k04", at(0)))
	wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), "k10", at(0)))
	sorted := slices.Sorted(slices.Values(ids))
	tests := []struct {
		name  string
		after string
		limit int
		want  []string
	}{
		{"All", "", 0, sorted},
		{"AllNegativeLimit", "", -1, sorted},
		{"AllMinIntLimit", "", -1 << 31, sorted},
		{"FirstOne", "", 1, sorted[:1]},
		{"FirstThree", "", 3, sorted[:3]},
		{"LimitEqualsCount", "", len(ids), sorted},
		{"LimitAboveCount", "", len(ids) + 1, sorted},
		{"AfterExisting", "k03", 0, sorted[3:]},
		{"AfterExistingLimited", "k03", 2, []string{"k04", "k05"}},
		{"AfterRevoked", "k04", 1, []string{"k05"}},
		{"AfterMissingBetween", "k035", 0, sorted[3:]},
		{"AfterMissingBefore", "a", 0, sorted},
		{"AfterPrefix", "k", 2, []string{"k01", "k02"}},
		{"AfterLast", "k10", 0, nil},
		{"AfterAll", "z", 5, nil},
		{"AfterUpperCase", "K99", 0, sorted}, // "K" < "k" byte-wise
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Keys(ctx(t), tt.after, tt.limit)
			wantNoErr(t, "Keys", err)
			if d := diff(tt.want, keyIDs(got)); d != "" {
				t.Errorf("Keys(%q, %d) IDs (-want +got):\n%s", tt.after, tt.limit, d)
			}
			for _, k := range got {
				wantRevoked := k.ID == "k04" || k.ID == "k10"
				if k.RevokedAt.IsZero() == wantRevoked || k.Name != k.ID {
					t.Errorf("Keys(%q, %d) returned key %q with Name %q, RevokedAt %v", tt.after, tt.limit, k.ID, k.Name, k.RevokedAt)
				}
			}
		})
	}
}

func testKeysPaging(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	s := newStore(t)
	const n = 53
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("key-%03d", i)
	}
	for _, i := range rand.New(rand.NewPCG(3, 4)).Perm(n) {
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), storage.Key{ID: want[i]}))
		if i%5 == 0 {
			wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), want[i], at(time.Duration(i)*time.Second)))
		}
	}
	for _, limit := range []int{1, 2, 7, 10, n - 1, n, n + 1} {
		t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
			var seen []string
			after := ""
			for page := 0; ; page++ {
				if page > n+1 {
					t.Fatalf("paging with limit %d did not end after %d pages", limit, page)
				}
				got, err := s.Keys(ctx(t), after, limit)
				wantNoErr(t, "Keys", err)
				if len(got) > limit {
					t.Fatalf("Keys(%q, %d) returned %d keys", after, limit, len(got))
				}
				if len(got) == 0 {
					break
				}
				seen = append(seen, keyIDs(got)...)
				after = got[len(got)-1].ID
			}
			if d := diff(want, seen); d != "" {
				t.Errorf("paging with limit %d did not visit every key once in order (-want +got):\n%s", limit, d)
			}
		})
	}
}

func testKeyRevoke(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	t1 := at(time.Hour)
	tests := []struct {
		name    string
		revokes []time.Time // successive RevokeKey times
		want    time.Time
	}{
		{"Once", []time.Time{t1}, t1},
		{"OnceNonUTC", []time.Time{t1.In(kolkata)}, t1},
		{"AgainLater", []time.Time{t1, t1.Add(time.Hour)}, t1},
		{"AgainEarlier", []time.Time{t1, t1.Add(-time.Hour)}, t1},
		{"AgainSame", []time.Time{t1, t1.In(honolulu)}, t1},
		{"ThreeTimes", []time.Time{t1, t1.Add(-time.Minute), t1.Add(time.Minute)}, t1},
		{"BeforeCreation", []time.Time{at(-time.Hour)}, at(-time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			k := fullKey("rk")
			other := fullKey("other")
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
			wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), other))
			for i, when := range tt.revokes {
				wantNoErr(t, fmt.Sprintf("RevokeKey #%d", i+1), s.RevokeKey(ctx(t), k.ID, when))
			}
			want := k
			want.RevokedAt = tt.want
			got, err := s.Key(ctx(t), k.ID)
			wantNoErr(t, "Key of a revoked key", err)
			if d := diff(want, got); d != "" {
				t.Errorf("revoked key (-want +got):\n%s", d)
			}
			mustUTC(t, "Key", keyTimes(got)...)
			list, err := s.Keys(ctx(t), "", 0)
			wantNoErr(t, "Keys", err)
			if d := diff([]storage.Key{other, want}, list); d != "" {
				t.Errorf("Keys after revocation (-want +got):\n%s", d)
			}
		})
	}
	t.Run("ZeroTime", func(t *testing.T) {
		s := newStore(t)
		k := fullKey("rk")
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
		for _, zero := range []time.Time{{}, time.Time{}.In(kolkata)} {
			if err := s.RevokeKey(ctx(t), k.ID, zero); err == nil {
				t.Errorf("RevokeKey with a zero time succeeded, want an error")
			}
		}
		got, err := s.Key(ctx(t), k.ID)
		wantNoErr(t, "Key", err)
		if d := diff(k, got); d != "" {
			t.Errorf("RevokeKey with a zero time changed the key (-want +got):\n%s", d)
		}
		// A revoked key keeps its time.
		wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), k.ID, at(time.Second)))
		_ = s.RevokeKey(ctx(t), k.ID, time.Time{})
		got, err = s.Key(ctx(t), k.ID)
		wantNoErr(t, "Key", err)
		if !got.RevokedAt.Equal(at(time.Second)) {
			t.Errorf("RevokeKey with a zero time changed RevokedAt to %v, want %v", got.RevokedAt, at(time.Second))
		}
	})
	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), fullKey("present")))
		err := s.RevokeKey(ctx(t), "absent", at(0))
		wantErrIs(t, "RevokeKey of a missing key", err, storage.ErrNotFound)
		_, err = s.Key(ctx(t), "absent")
		wantErrIs(t, "Key after RevokeKey of a missing key", err, storage.ErrNotFound)
	})
}

func testKeyNoAliasing(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	s := newStore(t)
	k := fullKey("alias")
	want := fullKey("alias")
	wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
	// The caller's slices are its own after the call.
	k.Scope[0] = "admin"
	k.SecretHash[0] ^= 0xff
	k.PreviousSecretHash[0] ^= 0xff
	k.Scope = append(k.Scope[:1], "extra")
	check := func(when string) {
		t.Helper()
		got, err := s.Key(ctx(t), want.ID)
		wantNoErr(t, "Key", err)
		if d := diff(want, got); d != "" {
			t.Errorf("stored key changed %s (-want +got):\n%s", when, d)
		}
	}
	check("after the caller modified the created key's slices")

	got, err := s.Key(ctx(t), want.ID)
	wantNoErr(t, "Key", err)
	got.Scope[0] = "admin"
	got.SecretHash[0] ^= 0xff
	got.PreviousSecretHash[0] ^= 0xff
	check("after the caller modified slices returned by Key")

	list, err := s.Keys(ctx(t), "", 0)
	wantNoErr(t, "Keys", err)
	list[0].Scope[1] = "admin"
	list[0].SecretHash[1] ^= 0xff
	list[0].PreviousSecretHash[1] ^= 0xff
	list[0] = storage.Key{ID: "replaced"}
	check("after the caller modified slices returned by Keys")
	again, err := s.Keys(ctx(t), "", 0)
	wantNoErr(t, "Keys", err)
	if d := diff([]storage.Key{want}, again); d != "" {
		t.Errorf("Keys changed after the caller modified a returned list (-want +got):\n%s", d)
	}
}

func testKeyCancelled(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	s := newStore(t)
	k := fullKey("present")
	wantNoErr(t, "CreateKey", s.CreateKey(ctx(t), k))
	c := cancelled()

	err := s.CreateKey(c, fullKey("new"))
	wantErrIs(t, "CreateKey", err, context.Canceled)
	_, err = s.Key(c, k.ID)
	wantErrIs(t, "Key", err, context.Canceled)
	_, err = s.Keys(c, "", 0)
	wantErrIs(t, "Keys", err, context.Canceled)
	err = s.RevokeKey(c, k.ID, at(0))
	wantErrIs(t, "RevokeKey", err, context.Canceled)
	_, err = s.RotateKey(c, k.ID, k.SecretHash, blob(7, 32), at(time.Hour))
	wantErrIs(t, "RotateKey", err, context.Canceled)
	_, err = s.TouchKey(c, k.ID, at(time.Hour), time.Minute)
	wantErrIs(t, "TouchKey", err, context.Canceled)

	// Nothing changed.
	list, err := s.Keys(ctx(t), "", 0)
	wantNoErr(t, "Keys", err)
	if d := diff([]storage.Key{k}, list); d != "" {
		t.Errorf("calls with a cancelled context changed the store (-want +got):\n%s", d)
	}
}

func testKeyConcurrent(t *testing.T, newStore func(t *testing.T) storage.KeyStore) {
	const workers, perWorker = 8, 16
	t.Run("DistinctKeys", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					k := fullKey(fmt.Sprintf("w%d-k%02d", w, i))
					if err := s.CreateKey(ctx(t), k); err != nil {
						t.Errorf("CreateKey(%q): %v", k.ID, err)
						return
					}
					got, err := s.Key(ctx(t), k.ID)
					if err != nil {
						t.Errorf("Key(%q): %v", k.ID, err)
						return
					}
					if d := diff(k, got); d != "" {
						t.Errorf("Key(%q) mismatch (-want +got):\n%s", k.ID, d)
					}
					if i%2 == 1 {
						if err := s.RevokeKey(ctx(t), k.ID, at(time.Duration(w)*time.Second)); err != nil {
							t.Errorf("RevokeKey(%q): %v", k.ID, err)
						}
					}
					if _, err := s.Keys(ctx(t), "", 5); err != nil {
						t.Errorf("Keys: %v", err)
					}
				}
			})
		}
		wg.Wait()
		list, err := s.Keys(ctx(t), "", 0)
		wantNoErr(t, "Keys", err)
		var want []string
		for w := range workers {
			for i := range perWorker {
				want = append(want, fmt.Sprintf("w%d-k%02d", w, i))
			}
		}
		if d := diff(want, keyIDs(list)); d != "" {
			t.Fatalf("Keys after concurrent creation (-want +got):\n%s", d)
		}
		for _, k := range list {
			var w, i int
			if _, err := fmt.Sscanf(k.ID, "w%d-k%d", &w, &i); err != nil {
				t.Fatalf("unexpected key ID %q", k.ID)
			}
			want := fullKey(k.ID)
			if i%2 == 1 {
				want.RevokedAt = at(time.Duration(w) * time.Second)
			}
			if d := diff(want, k); d != "" {
				t.Errorf("key %q after concurrent use (-want +got):\n%s", k.ID, d)
			}
		}
	})
	t.Run("SameID", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				k := storage.Key{ID: "contended", Name: fmt.Sprint(w)}
				errs[w] = s.CreateKey(ctx(t), k)
			})
		}
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("CreateKey of the same ID succeeded in workers %d and %d", winner, w)
			case err == nil:
				winner = w
			case !errors.Is(err, storage.ErrExists):
				t.Errorf("concurrent CreateKey of the same ID: %v, want nil or an error wrapping ErrExists", err)
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent CreateKey of the same ID succeeded")
		}
		got, err := s.Key(ctx(t), "contended")
		wantNoErr(t, "Key", err)
		if got.Name != fmt.Sprint(winner) {
			t.Errorf("stored key has Name %q, want %q from the creator that succeeded", got.Name, fmt.Sprint(winner))
		}

		// Concurrent revocations: exactly one time wins and sticks.
		times := make([]time.Time, workers)
		for w := range workers {
			times[w] = at(time.Duration(w+1) * time.Minute)
		}
		for w := range workers {
			wg.Go(func() {
				if err := s.RevokeKey(ctx(t), "contended", times[w]); err != nil {
					t.Errorf("concurrent RevokeKey: %v", err)
				}
			})
		}
		wg.Wait()
		got, err = s.Key(ctx(t), "contended")
		wantNoErr(t, "Key", err)
		if !slices.ContainsFunc(times, got.RevokedAt.Equal) {
			t.Errorf("RevokedAt after concurrent RevokeKey = %v, want one of the times given", got.RevokedAt)
		}
		first := got.RevokedAt
		wantNoErr(t, "RevokeKey", s.RevokeKey(ctx(t), "contended", at(0)))
		got, err = s.Key(ctx(t), "contended")
		wantNoErr(t, "Key", err)
		if !got.RevokedAt.Equal(first) {
			t.Errorf("RevokedAt changed from %v to %v on a later RevokeKey", first, got.RevokedAt)
		}
	})
}
