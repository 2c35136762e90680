package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
)

// fakeStore is a hand-written storage.KeyStore that counts calls, keeps a
// copy of every record it was given, and can be made to fail.
type fakeStore struct {
	mu      sync.Mutex
	recs    map[string]storage.Key
	calls   map[string]int
	created []storage.Key // every CreateKey argument, as received
	revokes []time.Time   // every RevokeKey time, as received
	limits  []int         // every Keys limit, as received
	afters  []string      // every Keys cursor, as received
	err     error         // returned by every method when set
	// revokeErr, when it holds an id, is what RevokeKey of that id returns.
	revokeErr map[string]error
	// onKeys, when set, runs at the start of every Keys call, with the
	// lock held.
	onKeys func(*fakeStore)
	// onRotate, when set, runs at the start of every RotateKey call, with
	// the lock held: what another process did meanwhile.
	onRotate func(*fakeStore)
	touches  []time.Time // every TouchKey time, as received
}

var _ storage.KeyStore = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{recs: map[string]storage.Key{}, calls: map[string]int{}}
}

func cloneRec(k storage.Key) storage.Key {
	k.Scope = slices.Clone(k.Scope)
	k.SecretHash = bytes.Clone(k.SecretHash)
	k.PreviousSecretHash = bytes.Clone(k.PreviousSecretHash)
	return k
}

func (s *fakeStore) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *fakeStore) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

func (s *fakeStore) CreateKey(ctx context.Context, k storage.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["CreateKey"]++
	s.created = append(s.created, cloneRec(k))
	if s.err != nil {
		return s.err
	}
	if _, ok := s.recs[k.ID]; ok {
		return fmt.Errorf("fake: %w", storage.ErrExists)
	}
	s.recs[k.ID] = cloneRec(k)
	return nil
}

func (s *fakeStore) Key(ctx context.Context, id string) (storage.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["Key"]++
	if s.err != nil {
		return storage.Key{}, s.err
	}
	k, ok := s.recs[id]
	if !ok {
		return storage.Key{}, fmt.Errorf("fake: %w", storage.ErrNotFound)
	}
	return cloneRec(k), nil
}

func (s *fakeStore) Keys(ctx context.Context, after string, limit int) ([]storage.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["Keys"]++
	s.limits = append(s.limits, limit)
	s.afters = append(s.afters, after)
	if s.onKeys != nil {
		s.onKeys(s)
	}
	if s.err != nil {
		return nil, s.err
	}
	var ids []string
	for id := range s.recs {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]storage.Key, len(ids))
	for i, id := range ids {
		out[i] = cloneRec(s.recs[id])
	}
	return out, nil
}

func (s *fakeStore) RevokeKey(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["RevokeKey"]++
	s.revokes = append(s.revokes, at)
	if s.err != nil {
		return s.err
	}
	if err := s.revokeErr[id]; err != nil {
		return err
	}
	k, ok := s.recs[id]
	if !ok {
		return fmt.Errorf("fake: %w", storage.ErrNotFound)
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
		s.recs[id] = k
	}
	return nil
}

func (s *fakeStore) RotateKey(ctx context.Context, id string, old, next []byte, oldUntil time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["RotateKey"]++
	if s.onRotate != nil {
		s.onRotate(s)
	}
	if s.err != nil {
		return false, s.err
	}
	k, ok := s.recs[id]
	if !ok {
		return false, fmt.Errorf("fake: %w", storage.ErrNotFound)
	}
	if !k.RevokedAt.IsZero() || !bytes.Equal(k.SecretHash, old) {
		return false, nil
	}
	k.SecretHash = bytes.Clone(next)
	k.PreviousSecretHash, k.PreviousExpiresAt = nil, time.Time{}
	if !oldUntil.IsZero() {
		k.PreviousSecretHash, k.PreviousExpiresAt = bytes.Clone(old), oldUntil
	}
	s.recs[id] = k
	return true, nil
}

func (s *fakeStore) TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["TouchKey"]++
	s.touches = append(s.touches, at)
	if s.err != nil {
		return false, s.err
	}
	k, ok := s.recs[id]
	if !ok || !k.LastUsedAt.IsZero() && !k.LastUsedAt.Before(at.Add(-every)) {
		return false, nil
	}
	k.LastUsedAt = at
	s.recs[id] = k
	return true, nil
}

// fakeRevoker records RevokeClient calls.
type fakeRevoker struct {
	mu    sync.Mutex
	ids   []string
	times []time.Time
	err   error
}

func (r *fakeRevoker) RevokeClient(ctx context.Context, clientID string, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, clientID)
	r.times = append(r.times, at)
	return r.err
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))

type fixture struct {
	m       *keys.Manager
	store   *fakeStore
	revoker *fakeRevoker
	clock   *clock
	hasher  *keys.Hasher
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newFakeStore(), revoker: &fakeRevoker{}, clock: &clock{t: t0}, hasher: keys.NewHasher(testPepper)}
	m, err := keys.NewManager(keys.Config{
		Store:   f.store,
		Hasher:  f.hasher,
		Prefix:  testPrefix,
		Revoker: f.revoker,
		Now:     f.clock.Now,
		Rand:    newStream(t.Name()),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	return f
}

var admin = scope.MustParse("read:api_keys write:api_keys read:users read:participants introspect target-entity:*:*")

func (f *fixture) create(t *testing.T, sc string) (keys.Key, keys.Record) {
	t.Helper()
	k, rec, err := f.m.Create(context.Background(), keys.CreateParams{Name: "n", Owner: "o", Scope: scope.MustParse(sc)}, admin)
	if err != nil {
		t.Fatalf("Create(%q): %v", sc, err)
	}
	return k, rec
}

// forge builds a key with a valid checksum from its parts, following the
// documented format: the checksum is the CRC-32 (IEEE) of
// "<prefix>_<id>_<body>" as 6 base62 digits.
func forge(t *testing.T, prefix, id, body string) keys.Key {
	t.Helper()
	v := crc32.ChecksumIEEE([]byte(prefix + "_" + id + "_" + body))
	var sum [6]byte
	for i := 5; i >= 0; i-- {
		sum[i] = base62[v%62]
		v /= 62
	}
	k, err := keys.Parse(prefix, prefix+"_"+id+"_"+body+string(sum[:]))
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return k
}

func TestNewManagerValidates(t *testing.T) {
	store := newFakeStore()
	for _, tc := range []struct {
		name string
		c    keys.Config
	}{
		{"no store", keys.Config{Prefix: "ds_live"}},
		{"no prefix", keys.Config{Store: store}},
		{"bad prefix", keys.Config{Store: store, Prefix: "ds-live"}},
		{"min above max", keys.Config{Store: store, Prefix: "p", MinLifetime: time.Hour, MaxLifetime: time.Minute, DefaultLifetime: time.Hour}},
		{"default above max", keys.Config{Store: store, Prefix: "p", MaxLifetime: 600 * time.Second}},
		{"default below min", keys.Config{Store: store, Prefix: "p", MinLifetime: 1000 * time.Second}},
		{"negative", keys.Config{Store: store, Prefix: "p", DefaultLifetime: -time.Second}},
		{"fractional", keys.Config{Store: store, Prefix: "p", DefaultLifetime: 900*time.Second + time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := keys.NewManager(tc.c)
			if err == nil || m != nil {
				t.Fatalf("NewManager = %v, %v; want an error", m, err)
			}
			if !strings.HasPrefix(err.Error(), "keyturn/keys: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	if store.total() != 0 {
		t.Error("NewManager touched the store")
	}
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	exp := t0.Add(30 * 24 * time.Hour)
	k, rec, err := f.m.Create(context.Background(), keys.CreateParams{
		Name:      "reporting",
		Owner:     "alice",
		Scope:     scope.MustParse("read:users target-entity:E1:b,a"),
		ExpiresAt: exp,
	}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if k.Prefix() != testPrefix || rec.ID != k.ID() {
		t.Fatalf("key %v and record id %q disagree", k, rec.ID)
	}
	want := keys.Record{
		ID:            k.ID(),
		Name:          "reporting",
		Owner:         "alice",
		Scope:         scope.MustParse("read:users target-entity:E1:a,b"),
		TokenLifetime: 900 * time.Second,
		CreatedAt:     t0.UTC().Truncate(time.Microsecond),
		ExpiresAt:     exp.UTC().Truncate(time.Microsecond),
	}
	if d := diffRecords(want, rec); d != "" {
		t.Errorf("returned record (-want +got):\n%s", d)
	}
	if rec.CreatedAt.Location() != time.UTC || rec.ExpiresAt.Location() != time.UTC {
		t.Error("CreatedAt or ExpiresAt is not UTC")
	}
	if len(f.store.created) != 1 {
		t.Fatalf("CreateKey called %d times", len(f.store.created))
	}
	stored := f.store.created[0]
	if !f.hasher.Verify(k, stored.SecretHash) {
		t.Error("stored hash does not verify the key")
	}
	stored.SecretHash = nil
	wantStored := storage.Key{
		ID:            want.ID,
		Name:          want.Name,
		Owner:         want.Owner,
		Scope:         []string{"read:users", "target-entity:E1:a,b"}, // canonical
		TokenLifetime: want.TokenLifetime,
		CreatedAt:     want.CreatedAt,
		ExpiresAt:     want.ExpiresAt,
	}
	if !reflect.DeepEqual(stored, wantStored) {
		t.Errorf("stored record = %+v\nwant %+v", stored, wantStored)
	}
	got, err := f.m.Authenticate(context.Background(), k)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if d := diffRecords(want, got); d != "" {
		t.Errorf("Authenticate record (-want +got):\n%s", d)
	}
}

// diffRecords compares Records: scopes with scope.Set.Equal, times with
// time.Time.Equal.
func diffRecords(want, got any) string { return cmp.Diff(want, got) }

// TestRecordHasNoHash checks that a Record cannot carry a secret hash: it has
// no byte-slice field and no field named like one. Resources, the one list
// of strings, holds the URIs the creator gave.
func TestRecordHasNoHash(t *testing.T) {
	rt := reflect.TypeFor[keys.Record]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.Name == "Resources" && f.Type == reflect.TypeFor[[]string]() {
			continue
		}
		if f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Array ||
			strings.Contains(strings.ToLower(f.Name), "hash") || strings.Contains(strings.ToLower(f.Name), "secret") {
			t.Errorf("keys.Record has field %s %v, which could carry a hash", f.Name, f.Type)
		}
	}
}

func TestCreateLifetimes(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   time.Duration
		want time.Duration
		ok   bool
	}{
		{"default", 0, 900 * time.Second, true},
		{"minimum", 60 * time.Second, 60 * time.Second, true},
		{"seed 003", 3599 * time.Second, 3599 * time.Second, true},
		{"seed 002", 7200 * time.Second, 7200 * time.Second, true},
		{"maximum", 86400 * time.Second, 86400 * time.Second, true},
		{"below minimum", 59 * time.Second, 0, false},
		{"above maximum", 86401 * time.Second, 0, false},
		{"fractional", 900*time.Second + time.Nanosecond, 0, false},
		{"negative", -900 * time.Second, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			_, rec, err := f.m.Create(context.Background(), keys.CreateParams{Scope: scope.MustParse("read:users"), TokenLifetime: tc.in}, admin)
			if !tc.ok {
				if !errors.Is(err, keys.ErrInvalidParams) {
					t.Fatalf("err = %v, want ErrInvalidParams", err)
				}
				if f.store.total() != 0 {
					t.Error("a refused Create reached the store")
				}
				return
			}
			if err != nil || rec.TokenLifetime != tc.want {
				t.Fatalf("Create = %v, %v; want lifetime %v", rec.TokenLifetime, err, tc.want)
			}
		})
	}
}

func TestCreateConfiguredLifetimes(t *testing.T) {
	m, err := keys.NewManager(keys.Config{
		Store: newFakeStore(), Prefix: "p",
		DefaultLifetime: 3599 * time.Second, MinLifetime: 10 * time.Second, MaxLifetime: 7200 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := scope.MustParse("a")
	for _, tc := range []struct {
		in, want time.Duration
		ok       bool
	}{
		{0, 3599 * time.Second, true},
		{10 * time.Second, 10 * time.Second, true},
		{7200 * time.Second, 7200 * time.Second, true},
		{9 * time.Second, 0, false},
		{7201 * time.Second, 0, false},
	} {
		_, rec, err := m.Create(context.Background(), keys.CreateParams{Scope: sc, TokenLifetime: tc.in}, sc)
		if tc.ok != (err == nil) || rec.TokenLifetime != tc.want {
			t.Errorf("Create(lifetime %v) = %v, %v", tc.in, rec.TokenLifetime, err)
		}
	}
}

func TestCreateInvalidParams(t *testing.T) {
	sc := scope.MustParse("read:users")
	for _, tc := range []struct {
		name string
		p    keys.CreateParams
	}{
		{"empty scope", keys.CreateParams{Name: "n"}},
		{"expired already", keys.CreateParams{Scope: sc, ExpiresAt: t0.Add(-time.Second)}},
		{"expires now", keys.CreateParams{Scope: sc, ExpiresAt: t0}},
		{"long name", keys.CreateParams{Scope: sc, Name: strings.Repeat("n", keys.MaxNameLen+1)}},
		{"name not UTF-8", keys.CreateParams{Scope: sc, Name: "\xff"}},
		{"long owner", keys.CreateParams{Scope: sc, Owner: strings.Repeat("o", keys.MaxOwnerLen+1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			k, rec, err := f.m.Create(context.Background(), tc.p, admin)
			if !errors.Is(err, keys.ErrInvalidParams) {
				t.Fatalf("err = %v, want ErrInvalidParams", err)
			}
			if k != (keys.Key{}) || rec.ID != "" || f.store.total() != 0 {
				t.Error("a refused Create returned a key or reached the store")
			}
		})
	}
}

// Issue 11, finding 8: names with NUL and ANSI escape characters were
// stored and shown. A name may not hold a control character (C0, DEL, C1),
// a line or paragraph separator, or a bidi embedding, override or isolate
// control; everything else that is UTF-8 is kept as given.
func TestCreateRefusesControlCharactersInName(t *testing.T) {
	var refused []rune
	for r := rune(0); r < 0x20; r++ {
		refused = append(refused, r)
	}
	for r := rune(0x7f); r <= 0x9f; r++ {
		refused = append(refused, r)
	}
	refused = append(refused, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069)
	sc := scope.MustParse("read:users")
	f := newFixture(t)
	for _, r := range refused {
		for _, name := range []string{string(r), "a" + string(r) + "b", "key " + string(r)} {
			if _, _, err := f.m.Create(context.Background(), keys.CreateParams{Name: name, Scope: sc}, admin); !errors.Is(err, keys.ErrInvalidParams) {
				t.Errorf("name %+q: err = %v, want ErrInvalidParams", name, err)
			}
		}
	}
	// Not UTF-8: a surrogate, an over-long NUL, a lone C1 byte.
	for _, name := range []string{"\xed\xa0\x80", "a\xc0\x80", "\x9b[0m"} {
		if _, _, err := f.m.Create(context.Background(), keys.CreateParams{Name: name, Scope: sc}, admin); !errors.Is(err, keys.ErrInvalidParams) {
			t.Errorf("name %+q: err = %v, want ErrInvalidParams", name, err)
		}
	}
	if n := f.store.count("CreateKey"); n != 0 {
		t.Errorf("%d refused names reached the store", n)
	}
	for _, name := range []string{"", "billing \u2014 prod", "Zo\u00eb", "\u65e5\u672c", "\u05e9\u05dc\u05d5\u05dd\u200f",
		"\U0001F469\u200d\U0001F4BB", "\u00a0nbsp", "\u200e\u061c marks", "\ufeffbom", "\u00ff\u0100"} {
		_, rec, err := f.m.Create(context.Background(), keys.CreateParams{Name: name, Scope: sc}, admin)
		if err != nil || rec.Name != name {
			t.Errorf("name %+q: %q, %v", name, rec.Name, err)
		}
	}
}

func TestCreateScopeCeiling(t *testing.T) {
	for _, tc := range []struct {
		name, ceiling, req string
		ok                 bool
	}{
		{"equal", "read:users write:users", "read:users write:users", true},
		{"subset", "read:users write:users", "read:users", true},
		{"one beyond", "read:users", "read:users write:users", false},
		{"disjoint", "read:users", "read:participants", false},
		{"empty ceiling", "", "read:users", false},
		{"prefix is not cover", "read", "read:users", false},
		{"compound, same perms", "target-entity:E1:a,b", "target-entity:E1:a,b", true},
		{"compound, fewer perms", "target-entity:E1:a,b", "target-entity:E1:b", true},
		{"compound, extra perm", "target-entity:E1:a", "target-entity:E1:a,b", false},
		{"compound, other entity", "target-entity:E1:a", "target-entity:E2:a", false},
		{"compound, held perms combine", "target-entity:E1:a target-entity:E1:b", "target-entity:E1:a,b", true},
		{"compound, wildcard entity held", "target-entity:*:read", "target-entity:E9:read", true},
		{"compound, wildcard perm held", "target-entity:E1:*", "target-entity:E1:read,write", true},
		{"compound, wildcard requested, not held", "target-entity:E1:*", "target-entity:*:read", false},
		{"compound, wildcard perm requested, not held", "target-entity:E1:a,b", "target-entity:E1:*", false},
		{"compound, everything held", "target-entity:*:*", "target-entity:*:*", true},
		{"compound, wildcard entity wrong perm", "target-entity:*:read", "target-entity:E1:write", false},
		{"mixed, one part beyond", "read:users target-entity:E1:a", "read:users target-entity:E1:a,b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			k, rec, err := f.m.Create(context.Background(), keys.CreateParams{Scope: scope.MustParse(tc.req)}, scope.MustParse(tc.ceiling))
			if tc.ok {
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				if !rec.Scope.Equal(scope.MustParse(tc.req)) {
					t.Errorf("record scope %q, want %q", rec.Scope, tc.req)
				}
				if stored := f.store.created[0].Scope; !slices.Equal(stored, scope.MustParse(tc.req).Tokens()) {
					t.Errorf("stored scope %q, want the canonical tokens of %q", stored, tc.req)
				}
				return
			}
			if !errors.Is(err, keys.ErrScopeExceedsCeiling) {
				t.Fatalf("err = %v, want ErrScopeExceedsCeiling", err)
			}
			if k != (keys.Key{}) || f.store.total() != 0 {
				t.Error("a refused Create returned a key or reached the store")
			}
		})
	}
}

func TestCreateStorageError(t *testing.T) {
	f := newFixture(t)
	f.store.err = fmt.Errorf("fake: %w", storage.ErrExists)
	k, _, err := f.m.Create(context.Background(), keys.CreateParams{Scope: scope.MustParse("read:users")}, admin)
	if !errors.Is(err, storage.ErrExists) || !strings.HasPrefix(err.Error(), "keyturn/keys: ") {
		t.Fatalf("err = %v, want a wrapped storage.ErrExists", err)
	}
	if k != (keys.Key{}) {
		t.Error("a failed Create returned its key")
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, _ := f.create(t, "read:users")
	other := mustGenerate(t, testPrefix, "not stored")
	sameID := forge(t, testPrefix, k.ID(), strings.Repeat("x", keys.SecretLen-6))
	otherPrefix := forge(t, "ds_test", k.ID(), k.ClientSecret()[:keys.SecretLen-6])

	revoked, _ := f.create(t, "read:users")
	if err := f.m.Revoke(ctx, revoked.ID()); err != nil {
		t.Fatal(err)
	}
	revokedWrong := forge(t, testPrefix, revoked.ID(), strings.Repeat("y", keys.SecretLen-6))

	expiring, _, err := f.m.Create(ctx, keys.CreateParams{Scope: scope.MustParse("read:users"), ExpiresAt: t0.Add(time.Hour)}, admin)
	if err != nil {
		t.Fatal(err)
	}
	expiringWrong := forge(t, testPrefix, expiring.ID(), strings.Repeat("z", keys.SecretLen-6))

	for _, tc := range []struct {
		name    string
		k       keys.Key
		advance time.Duration
		want    error
		lookups int
	}{
		{"right key", k, 0, nil, 1},
		{"wrong secret", sameID, 0, keys.ErrInvalidKey, 1},
		{"unknown id", other, 0, keys.ErrInvalidKey, 1},
		{"other prefix", otherPrefix, 0, keys.ErrInvalidKey, 0},
		{"zero key", keys.Key{}, 0, keys.ErrInvalidKey, 0},
		{"revoked", revoked, 0, keys.ErrRevoked, 1},
		{"revoked, wrong secret", revokedWrong, 0, keys.ErrInvalidKey, 1},
		// Expiry is kept to the microsecond (as stores keep it), rounded down.
		{"before expiry", expiring, time.Hour - time.Millisecond, nil, 1},
		{"at expiry", expiring, time.Hour, keys.ErrExpired, 1},
		{"after expiry", expiring, 2 * time.Hour, keys.ErrExpired, 1},
		{"expired, wrong secret", expiringWrong, 2 * time.Hour, keys.ErrInvalidKey, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.t = t0.Add(tc.advance)
			before := f.store.count("Key")
			rec, err := f.m.Authenticate(ctx, tc.k)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := f.store.count("Key") - before; got != tc.lookups {
				t.Errorf("%d storage lookups, want %d", got, tc.lookups)
			}
			if err != nil {
				if rec.ID != "" {
					t.Error("a refused key returned its record")
				}
				if secretLeaks(err.Error(), tc.k.ClientSecret()) {
					t.Errorf("error contains the secret: %v", err)
				}
				return
			}
			if rec.ID != tc.k.ID() || !rec.Scope.Equal(scope.MustParse("read:users")) {
				t.Errorf("record = %+v", rec)
			}
		})
	}
	// Wrong secret and unknown id are the same error value.
	_, e1 := f.m.Authenticate(ctx, sameID)
	_, e2 := f.m.Authenticate(ctx, other)
	if e1 != e2 {
		t.Errorf("wrong secret (%v) and unknown id (%v) differ", e1, e2)
	}
}

func TestAuthenticateStorageError(t *testing.T) {
	f := newFixture(t)
	k, _ := f.create(t, "read:users")
	boom := errors.New("database on fire")
	f.store.err = boom
	_, err := f.m.Authenticate(context.Background(), k)
	if !errors.Is(err, boom) || errors.Is(err, keys.ErrInvalidKey) {
		t.Fatalf("err = %v, want the storage error wrapped and not ErrInvalidKey", err)
	}
	if secretLeaks(err.Error(), k.ClientSecret()) {
		t.Errorf("error contains the secret: %v", err)
	}
}

// TestMistypedKeyNeverReachesStorage presents every single-character change,
// neighbour swap, deletion and doubling of a stored key through Parse, then
// Authenticate, as a token endpoint would: none reaches the store.
func TestMistypedKeyNeverReachesStorage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, _ := f.create(t, "read:users")
	s := k.String()
	callsAfterCreate := f.store.total()

	present := func(in string) error {
		p, err := keys.Parse(f.m.Prefix(), in)
		if err != nil {
			return err
		}
		_, err = f.m.Authenticate(ctx, p)
		return err
	}
	variants := 0
	for i := 0; i < len(s); i++ {
		for _, c := range substitutions {
			if m := s[:i] + string(c) + s[i+1:]; m != s {
				variants++
				if present(m) == nil {
					t.Fatalf("substitution at %d authenticated", i)
				}
			}
		}
		if i+1 < len(s) && s[i] != s[i+1] {
			variants++
			if present(s[:i]+s[i+1:i+2]+s[i:i+1]+s[i+2:]) == nil {
				t.Fatalf("swap at %d authenticated", i)
			}
		}
		variants += 2
		if present(s[:i]+s[i+1:]) == nil || present(s[:i]+s[i:i+1]+s[i:]) == nil {
			t.Fatalf("deletion or doubling at %d authenticated", i)
		}
	}
	if got := f.store.total() - callsAfterCreate; got != 0 {
		t.Fatalf("%d of %d mistyped keys reached the store", got, variants)
	}
	// The same path with the right key does reach it, so the count is live.
	if err := present(s); err != nil {
		t.Fatal(err)
	}
	if got := f.store.total() - callsAfterCreate; got != 1 {
		t.Fatalf("the right key made %d store calls, want 1", got)
	}
}

// TestSecretNeverStored creates, authenticates, lists and revokes keys and
// then inspects every field of every record the store received, and every
// record the Manager returned, for the secret in raw, hex and base64 form.
func TestSecretNeverStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var secrets []string
	var returned []keys.Record
	for i := range 3 {
		k, rec := f.create(t, fmt.Sprintf("read:users target-entity:E%d:a", i))
		secrets = append(secrets, k.ClientSecret(), k.ClientSecret()[:keys.SecretLen-6])
		returned = append(returned, rec)
		got, err := f.m.Authenticate(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		returned = append(returned, got)
		got, err = f.m.Get(ctx, k.ID())
		if err != nil {
			t.Fatal(err)
		}
		returned = append(returned, got)
	}
	list, err := f.m.List(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	returned = append(returned, list...)
	if err := f.m.Revoke(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}

	f.store.mu.Lock()
	received := slices.Clone(f.store.created)
	for _, r := range f.store.recs {
		received = append(received, r)
	}
	f.store.mu.Unlock()
	if len(received) != 6 {
		t.Fatalf("store received %d records, want 6", len(received))
	}
	check := func(where, id string, rec any) {
		for _, field := range fieldTexts(rec) {
			for _, s := range secrets {
				if secretLeaks(field, s) {
					t.Errorf("%s record %s holds the secret: %q", where, id, field)
				}
			}
		}
	}
	for _, rec := range received {
		check("stored", rec.ID, rec)
	}
	for _, rec := range returned {
		check("returned", rec.ID, rec)
	}
}

// fieldTexts renders every field of a record (a storage.Key or a
// keys.Record) as text, byte slices also as hex and base64, so that a new
// field is inspected without changing the test.
func fieldTexts(rec any) []string {
	var out []string
	v := reflect.ValueOf(rec)
	for i := range v.NumField() {
		switch fv := v.Field(i).Interface().(type) {
		case string:
			out = append(out, fv)
		case []string:
			out = append(out, fv...)
		case []byte:
			out = append(out, string(fv), hex.EncodeToString(fv), base64.StdEncoding.EncodeToString(fv), base64.RawURLEncoding.EncodeToString(fv))
		default:
			out = append(out, fmt.Sprint(fv))
		}
	}
	return out
}

func TestGet(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, created := f.create(t, "read:users")
	got, err := f.m.Get(ctx, k.ID())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d := diffRecords(created, got); d != "" {
		t.Fatalf("Get (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		name, id string
		lookups  int
	}{
		{"unknown", mustGenerate(t, testPrefix, "unknown").ID(), 1},
		{"empty", "", 0},
		{"whole key", k.String(), 0},
		{"bad characters", "abc/def_ghi-jklm", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.store.count("Key")
			_, err := f.m.Get(ctx, tc.id)
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("err = %v, want storage.ErrNotFound", err)
			}
			if got := f.store.count("Key") - before; got != tc.lookups {
				t.Errorf("%d lookups, want %d", got, tc.lookups)
			}
			if len(tc.id) > 20 && strings.Contains(err.Error(), tc.id) {
				t.Errorf("error echoes a key: %v", err)
			}
		})
	}
}

// TestStoredScopeMalformed plants scopes that do not parse in a stored
// record: Authenticate, Get and List report an error wrapping
// scope.ErrMalformed rather than a record with a smaller scope.
func TestStoredScopeMalformed(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		scope []string
	}{
		{"space in token", []string{"read:users write:users"}},
		{"empty token", []string{"read:users", ""}},
		{"bad compound", []string{"target-entity::read"}},
		{"bad character", []string{"read\"users"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			good, _ := f.create(t, "read:users")
			k, _ := f.create(t, "read:users")
			f.store.mu.Lock()
			rec := f.store.recs[k.ID()]
			rec.Scope = tc.scope
			f.store.recs[k.ID()] = rec
			f.store.mu.Unlock()

			check := func(what string, rec keys.Record, err error) {
				t.Helper()
				if !errors.Is(err, scope.ErrMalformed) || errors.Is(err, keys.ErrInvalidKey) {
					t.Errorf("%s: err = %v, want one wrapping scope.ErrMalformed", what, err)
				}
				if err != nil && !strings.Contains(err.Error(), k.ID()) {
					t.Errorf("%s: error %q does not name the key", what, err)
				}
				if rec.ID != "" {
					t.Errorf("%s returned a record with the malformed scope: %+v", what, rec)
				}
			}
			rec2, err := f.m.Authenticate(ctx, k)
			check("Authenticate", rec2, err)
			if err != nil && secretLeaks(err.Error(), k.ClientSecret()) {
				t.Errorf("Authenticate error contains the secret: %v", err)
			}
			rec2, err = f.m.Get(ctx, k.ID())
			check("Get", rec2, err)
			list, err := f.m.List(ctx, "", 0)
			if len(list) != 0 {
				t.Errorf("List returned %d records despite a malformed one", len(list))
			}
			check("List", keys.Record{}, err)

			// The other key is unaffected.
			if _, err := f.m.Authenticate(ctx, good); err != nil {
				t.Errorf("Authenticate of a well-formed key: %v", err)
			}
		})
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var ids, created []string // created: in creation order, E0 first
	for i := range 5 {
		k, _ := f.create(t, fmt.Sprintf("target-entity:E%d:read", i))
		ids = append(ids, k.ID())
	}
	created = slices.Clone(ids)
	slices.Sort(ids)
	if err := f.m.Revoke(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}

	var seen []string
	after := ""
	for page := 0; ; page++ {
		recs, err := f.m.List(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		if len(recs) > 2 || page > 3 {
			t.Fatalf("page %d has %d records", page, len(recs))
		}
		for _, r := range recs {
			if want := scope.MustParse(fmt.Sprintf("target-entity:E%d:read", slices.Index(created, r.ID))); !r.Scope.Equal(want) {
				t.Errorf("record %s scope %q, want %q", r.ID, r.Scope, want)
			}
			if (r.ID == ids[2]) == r.RevokedAt.IsZero() {
				t.Errorf("record %s RevokedAt = %v", r.ID, r.RevokedAt)
			}
			seen = append(seen, r.ID)
		}
		after = recs[len(recs)-1].ID
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("paged ids = %v, want %v", seen, ids)
	}

	for _, tc := range []struct{ in, want int }{{0, keys.DefaultListLimit}, {-1, keys.DefaultListLimit}, {7, 7}, {keys.MaxListLimit, keys.MaxListLimit}, {1 << 30, keys.MaxListLimit}} {
		if _, err := f.m.List(ctx, "", tc.in); err != nil {
			t.Fatal(err)
		}
		if got := f.store.limits[len(f.store.limits)-1]; got != tc.want {
			t.Errorf("List(limit %d) asked the store for %d, want %d", tc.in, got, tc.want)
		}
	}
	if _, err := f.m.List(ctx, strings.Repeat("a", 10000), 1); !errors.Is(err, keys.ErrInvalidParams) {
		t.Errorf("over-long cursor: err = %v", err)
	}
	boom := errors.New("boom")
	f.store.err = boom
	if _, err := f.m.List(ctx, "", 1); !errors.Is(err, boom) {
		t.Errorf("storage error: err = %v", err)
	}
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, _ := f.create(t, "read:users")
	keep, _ := f.create(t, "read:users")

	if err := f.m.Revoke(ctx, k.ID()); err != nil {
		t.Fatal(err)
	}
	first := t0.UTC().Truncate(time.Microsecond)
	if _, err := f.m.Authenticate(ctx, k); !errors.Is(err, keys.ErrRevoked) {
		t.Fatalf("after Revoke: err = %v, want ErrRevoked", err)
	}
	if _, err := f.m.Authenticate(ctx, keep); err != nil {
		t.Fatalf("another key stopped working: %v", err)
	}

	f.clock.Advance(time.Minute)
	if err := f.m.Revoke(ctx, k.ID()); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	rec, err := f.m.Get(ctx, k.ID())
	if err != nil || !rec.RevokedAt.Equal(first) {
		t.Fatalf("RevokedAt after a second Revoke = %v, %v; want %v", rec.RevokedAt, err, first)
	}
	wantIDs := []string{k.ID(), k.ID()}
	wantTimes := []time.Time{first, first.Add(time.Minute)}
	if !slices.Equal(f.revoker.ids, wantIDs) || !slices.EqualFunc(f.revoker.times, wantTimes, time.Time.Equal) {
		t.Errorf("Revoker got %v at %v; want %v at %v", f.revoker.ids, f.revoker.times, wantIDs, wantTimes)
	}

	for _, tc := range []struct {
		name, id   string
		storeCalls int
	}{
		{"unknown", mustGenerate(t, testPrefix, "revoke unknown").ID(), 1},
		{"malformed", "../../etc/passwd", 0},
		{"whole key", k.String(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, revokes := f.store.count("RevokeKey"), len(f.revoker.ids)
			err := f.m.Revoke(ctx, tc.id)
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("err = %v, want storage.ErrNotFound", err)
			}
			if got := f.store.count("RevokeKey") - before; got != tc.storeCalls {
				t.Errorf("%d store calls, want %d", got, tc.storeCalls)
			}
			if len(f.revoker.ids) != revokes {
				t.Error("the Revoker was told about a key that was not revoked")
			}
		})
	}
}

func TestRevokeRevokerError(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, _ := f.create(t, "read:users")
	boom := errors.New("revocation store down")
	f.revoker.err = boom
	if err := f.m.Revoke(ctx, k.ID()); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the Revoker's error", err)
	}
	if _, err := f.m.Authenticate(ctx, k); !errors.Is(err, keys.ErrRevoked) {
		t.Fatalf("key not revoked after a Revoker failure: %v", err)
	}
	f.revoker.err = nil
	if err := f.m.Revoke(ctx, k.ID()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(f.revoker.ids) != 2 {
		t.Fatalf("Revoker called %d times, want 2 (the retry tells it again)", len(f.revoker.ids))
	}
}

func TestRevokeWithoutRevoker(t *testing.T) {
	store := newFakeStore()
	m, err := keys.NewManager(keys.Config{Store: store, Prefix: "p", Rand: newStream("no revoker")})
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := m.Create(context.Background(), keys.CreateParams{Scope: scope.MustParse("a")}, scope.MustParse("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(context.Background(), k.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(context.Background(), k); !errors.Is(err, keys.ErrRevoked) {
		t.Fatalf("err = %v, want ErrRevoked", err)
	}
}

func TestManagerConcurrent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var ks []keys.Key
	for range 4 {
		k, _ := f.create(t, "read:users")
		ks = append(ks, k)
	}
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				k := ks[(g+i)%len(ks)]
				if _, err := f.m.Authenticate(ctx, k); err != nil {
					errs <- err
				}
				if _, err := f.m.List(ctx, "", 0); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestPrepare makes a key without storing it: it does not authenticate
// until commit, which stores exactly what Prepare returned; a second commit
// fails; invalid parameters fail in Prepare, before any storage.
func TestPrepare(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, rec, commit, err := f.m.Prepare(keys.CreateParams{Name: "first admin", Scope: admin}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if f.store.total() != 0 {
		t.Fatal("Prepare touched the store")
	}
	if _, err := f.m.Authenticate(ctx, k); !errors.Is(err, keys.ErrInvalidKey) {
		t.Fatalf("an uncommitted key authenticates: %v", err)
	}
	f.clock.Advance(time.Minute)
	if err := commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := f.m.Authenticate(ctx, k)
	if err != nil {
		t.Fatalf("the committed key: %v", err)
	}
	if !got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || !rec.CreatedAt.Equal(got.CreatedAt) || got.ID != rec.ID || got.ID != k.ID() || !got.Scope.Equal(admin) || got.Name != "first admin" {
		t.Errorf("stored %+v, Prepare returned %+v", got, rec)
	}
	if err := commit(ctx); !errors.Is(err, storage.ErrExists) {
		t.Errorf("second commit: %v, want ErrExists", err)
	}
	if n := f.store.count("CreateKey"); n != 2 {
		t.Errorf("CreateKey called %d times, want 2", n)
	}

	for _, tc := range []struct {
		name    string
		p       keys.CreateParams
		ceiling scope.Set
		want    error
	}{
		{"empty scope", keys.CreateParams{}, admin, keys.ErrInvalidParams},
		{"beyond the ceiling", keys.CreateParams{Scope: admin}, scope.MustParse("read:users"), keys.ErrScopeExceedsCeiling},
		{"expired", keys.CreateParams{Scope: admin, ExpiresAt: t0.Add(-time.Second)}, admin, keys.ErrInvalidParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.store.total()
			_, _, commit, err := f.m.Prepare(tc.p, tc.ceiling)
			if !errors.Is(err, tc.want) || commit != nil {
				t.Errorf("Prepare: %v (commit %v), want %v", err, commit != nil, tc.want)
			}
			if f.store.total() != before {
				t.Error("a refused Prepare touched the store")
			}
		})
	}
}
