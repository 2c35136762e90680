package keys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
)

// A fixed seed makes the examples' keys the same on every run; real code
// leaves the reader nil, which means crypto/rand.
var exampleSeed = [32]byte{'k', 'e', 'y', 't', 'u', 'r', 'n'}

func ExampleGenerate() {
	k, err := keys.Generate("ds_live", rand.NewChaCha8(exampleSeed))
	if err != nil {
		panic(err)
	}
	fmt.Println(k.ID())
	fmt.Println(len(k.String()))
	// Printing a key never shows the secret; k.String() does.
	fmt.Println(k)
	fmt.Printf("%#v\n", k)
	// Output:
	// W7p6DXeF6zzybyBN
	// 74
	// ds_live_W7p6DXeF6zzybyBN_[REDACTED]
	// keys.Key{Prefix:"ds_live", ID:"W7p6DXeF6zzybyBN", Secret:"[REDACTED]"}
}

func ExampleParse() {
	const presented = "ds_live_W7p6DXeF6zzybyBN_QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ"
	k, err := keys.Parse("ds_live", presented)
	fmt.Println(k.ID(), err)

	// One mistyped character fails the checksum: no storage lookup needed.
	_, err = keys.Parse("ds_live", presented[:30]+"x"+presented[31:])
	fmt.Println(err, errors.Is(err, keys.ErrChecksum))

	// The same key as a client_id / client_secret pair.
	p, err := keys.FromPair("ds_live", "W7p6DXeF6zzybyBN", "QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ")
	fmt.Println(p == k, err)
	// Output:
	// W7p6DXeF6zzybyBN <nil>
	// keyturn/keys: key checksum mismatch true
	// true <nil>
}

func ExampleHasher() {
	h := keys.NewHasher([]byte("a 32-byte pepper from the vault!"))
	k, _ := keys.Generate("ds_live", rand.NewChaCha8(exampleSeed))
	stored := h.Hash(k) // what storage keeps
	other, _ := keys.Generate("ds_live", nil)
	fmt.Println(len(stored), h.Verify(k, stored), h.Verify(other, stored))
	// Output:
	// 33 true false
}

func ExampleManager() {
	ctx := context.Background()
	m, err := keys.NewManager(keys.Config{
		Store:  newMapStore(),
		Hasher: keys.NewHasher([]byte("a 32-byte pepper from the vault!")),
		Prefix: "ds_live",
		Now:    func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		Rand:   rand.NewChaCha8(exampleSeed),
	})
	if err != nil {
		panic(err)
	}

	// The creator holds these scopes (e.g. from the token that called the
	// admin API); the key may have no more.
	ceiling := scope.MustParse("read:users write:api_keys target-entity:E1:read,write")

	k, rec, err := m.Create(ctx, keys.CreateParams{
		Name:  "reporting",
		Scope: scope.MustParse("read:users target-entity:E1:read"),
	}, ceiling)
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.ID, rec.Scope, rec.TokenLifetime, rec.CreatedAt)
	shown := k.String() // show this to the owner once; storage has only a hash

	_, _, err = m.Create(ctx, keys.CreateParams{Scope: scope.MustParse("target-entity:E1:delete")}, ceiling)
	fmt.Println(err)

	// Later, a client presents the key.
	presented, err := keys.Parse(m.Prefix(), shown)
	if err != nil {
		panic(err)
	}
	got, err := m.Authenticate(ctx, presented)
	fmt.Println(got.Name, err)

	if err := m.Revoke(ctx, rec.ID); err != nil {
		panic(err)
	}
	_, err = m.Authenticate(ctx, presented)
	fmt.Println(err)

	// Records carry no hash, so they are safe to show or log whole.
	list, err := m.List(ctx, "", 0)
	if err != nil {
		panic(err)
	}
	for _, r := range list {
		fmt.Printf("%s %q scope=%q revoked=%t\n", r.ID, r.Name, r.Scope, !r.RevokedAt.IsZero())
	}
	// Output:
	// W7p6DXeF6zzybyBN read:users target-entity:E1:read 15m0s 2026-01-02 03:04:05 +0000 UTC
	// keyturn/keys: scope exceeds the creator's
	// reporting <nil>
	// keyturn/keys: key revoked
	// W7p6DXeF6zzybyBN "reporting" scope="read:users target-entity:E1:read" revoked=true
}

func ExampleManager_Rotate() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := keys.NewManager(keys.Config{
		Store:  newMapStore(),
		Prefix: "ds_live",
		Now:    func() time.Time { return now },
		Rand:   rand.NewChaCha8(exampleSeed),
	})
	if err != nil {
		panic(err)
	}
	sc := scope.MustParse("read:users")
	old, _, err := m.Create(ctx, keys.CreateParams{Name: "deploy", Scope: sc}, sc)
	if err != nil {
		panic(err)
	}

	// A new secret; the old one keeps working for an hour, while the
	// deployments that hold it are given the new one.
	k, _, err := m.Rotate(ctx, old.ID(), time.Hour)
	if err != nil {
		panic(err)
	}
	fmt.Println(k.ID() == old.ID(), k.ClientSecret() == old.ClientSecret())
	_, errOld := m.Authenticate(ctx, old)
	_, errNew := m.Authenticate(ctx, k)
	fmt.Println(errOld, errNew)

	now = now.Add(time.Hour)
	_, errOld = m.Authenticate(ctx, old)
	_, errNew = m.Authenticate(ctx, k)
	fmt.Println(errOld, errNew)
	// Output:
	// true false
	// <nil> <nil>
	// keyturn/keys: invalid key <nil>
}

func ExamplePasswordHasher() {
	// Tests may use cheap parameters; the zero PasswordHasher (and
	// HashPassword) uses RFC 9106's 64 MiB, 3 passes, 4 lanes.
	h := &keys.PasswordHasher{
		Params: keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Rand:   rand.NewChaCha8(exampleSeed),
	}
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Println(enc)
	fmt.Println(keys.CheckPassword(enc, "correct horse battery staple"))
	fmt.Println(keys.CheckPassword(enc, "Tr0ub4dor&3"))

	// For an unknown user, do the same work and answer as for a wrong password.
	h.DummyCheck("whatever was sent")
	// Output:
	// $argon2id$v=19$m=64,t=1,p=1$XoMz+YINIaSLgnv3PKE8Cw$Dmy/87WZsx3qkWIbMyS0Oqxe243qAUdKvGr1PqfKrmk
	// true <nil>
	// false <nil>
}

// mapStore is a minimal in-memory storage.KeyStore for the examples; real
// code uses storage/memory or storage/sqlstore.
type mapStore struct {
	mu   sync.Mutex
	recs map[string]storage.Key
}

func newMapStore() *mapStore { return &mapStore{recs: map[string]storage.Key{}} }

func (s *mapStore) CreateKey(_ context.Context, k storage.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recs[k.ID]; ok {
		return storage.ErrExists
	}
	s.recs[k.ID] = k
	return nil
}

func (s *mapStore) Key(_ context.Context, id string) (storage.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.recs[id]
	if !ok {
		return storage.Key{}, storage.ErrNotFound
	}
	return k, nil
}

func (s *mapStore) Keys(_ context.Context, after string, limit int) ([]storage.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Key
	for _, k := range s.recs {
		if k.ID > after {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b storage.Key) int { return cmpString(a.ID, b.ID) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *mapStore) RevokeKey(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.recs[id]
	if !ok {
		return storage.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
		s.recs[id] = k
	}
	return nil
}

func (s *mapStore) RotateKey(_ context.Context, id string, old, next []byte, oldUntil time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.recs[id]
	if !ok {
		return false, storage.ErrNotFound
	}
	if !k.RevokedAt.IsZero() || !bytes.Equal(k.SecretHash, old) {
		return false, nil
	}
	k.SecretHash, k.PreviousSecretHash, k.PreviousExpiresAt = next, nil, time.Time{}
	if !oldUntil.IsZero() {
		k.PreviousSecretHash, k.PreviousExpiresAt = old, oldUntil
	}
	s.recs[id] = k
	return true, nil
}

func (s *mapStore) TouchKey(_ context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.recs[id]
	if !ok || !k.LastUsedAt.IsZero() && !k.LastUsedAt.Before(at.Add(-every)) {
		return false, nil
	}
	k.LastUsedAt = at
	s.recs[id] = k
	return true, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
