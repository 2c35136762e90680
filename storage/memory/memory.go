// Package memory is an in-memory keyturn store, for tests and for a single
// process that can afford to forget.
//
// Start with [New]: the [*Store] it returns implements every role interface of
// [github.com/keyturn/keyturn/storage] — [storage.KeyStore],
// [storage.SigningKeyStore], [storage.SigningKeyUpdater],
// [storage.RevocationStore], [storage.OpaqueTokenStore],
// [storage.SettingStore], [storage.KeyJWKSReplacer], [storage.ReplayStore],
// [storage.FailureStore]
// and [storage.Sweeper] — and is safe for
// concurrent use by multiple goroutines.
//
// Nothing persists: every key, signing key, revocation and opaque token is
// lost when the process exits, and two processes never see each other's
// records. Nothing is removed on its own either: call [Store.Sweep]
// periodically, or memory grows with every opaque token and revocation. Use [github.com/keyturn/keyturn/storage/sqlstore] when state must
// survive a restart or be shared.
//
// # Contract
//
// The store follows the contract in [github.com/keyturn/keyturn/storage] and
// passes [github.com/keyturn/keyturn/storage/storagetest.Run]. Records are
// copied in and out, so neither the caller's slices nor the returned ones are
// shared with the store. Times are kept at full (nanosecond) precision and
// returned in UTC. Every method first checks its context and returns an error
// wrapping the context's error if it is done, without touching the store.
// Revoking a key or adding a revocation with a zero time is an error, because
// the zero time means "not revoked".
//
// # Security
//
// The store holds only what it is given, which under the storage contract is
// never a secret in the clear, and it never logs. Errors name a key by at most
// a short excerpt of its public ID and never include a token hash.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keyturn/keyturn/storage"
)

var (
	_ storage.KeyStore          = (*Store)(nil)
	_ storage.SigningKeyStore   = (*Store)(nil)
	_ storage.RevocationStore   = (*Store)(nil)
	_ storage.OpaqueTokenStore  = (*Store)(nil)
	_ storage.Sweeper           = (*Store)(nil)
	_ storage.SettingStore      = (*Store)(nil)
	_ storage.SigningKeyUpdater = (*Store)(nil)
)

var (
	errZeroTime      = errors.New("keyturn/memory: revocation time is zero")
	errTokenNotFound = fmt.Errorf("keyturn/memory: opaque token: %w", storage.ErrNotFound)
	errTokenExists   = fmt.Errorf("keyturn/memory: opaque token: %w", storage.ErrExists)
)

// Store is an in-memory store. The zero value is not usable; call [New].
type Store struct {
	mu sync.RWMutex

	keys   map[string]storage.Key // by ID
	keyIDs []string               // every key ID, sorted ascending

	signing map[string]storage.SigningKey // by ID

	revocations map[revocationID]storage.Revocation

	opaque map[string]storage.OpaqueToken // by string(Hash)

	settings map[string][]byte

	used     map[usedID]time.Time    // expiresAt of each one-time value
	failures map[failureID]failCount // failure counts per key and window
}

type usedID struct{ kind, id string }

type failureID struct {
	key    string
	window int64 // Unix nanoseconds of the window's start
}

type failCount struct {
	n         int64
	expiresAt time.Time
}

type revocationID struct {
	kind storage.RevocationKind
	id   string
}

// New returns an empty store.
func New() *Store {
	return &Store{
		keys:        make(map[string]storage.Key),
		signing:     make(map[string]storage.SigningKey),
		revocations: make(map[revocationID]storage.Revocation),
		opaque:      make(map[string]storage.OpaqueToken),
		settings:    make(map[string][]byte),
		used:        make(map[usedID]time.Time),
		failures:    make(map[failureID]failCount),
	}
}

// CreateKey implements [storage.KeyStore].
func (s *Store) CreateKey(ctx context.Context, k storage.Key) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	k = normalizeKey(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("keyturn/memory: key %s: %w", excerpt(k.ID), storage.ErrExists)
	}
	s.keys[k.ID] = k
	i, _ := slices.BinarySearch(s.keyIDs, k.ID)
	s.keyIDs = slices.Insert(s.keyIDs, i, k.ID)
	return nil
}

// Key implements [storage.KeyStore].
func (s *Store) Key(ctx context.Context, id string) (storage.Key, error) {
	if err := ctx.Err(); err != nil {
		return storage.Key{}, ctxError(err)
	}
	s.mu.RLock()
	k, ok := s.keys[id]
	s.mu.RUnlock()
	if !ok {
		return storage.Key{}, fmt.Errorf("keyturn/memory: key %s: %w", excerpt(id), storage.ErrNotFound)
	}
	return cloneKey(k), nil
}

// Keys implements [storage.KeyStore].
func (s *Store) Keys(ctx context.Context, after string, limit int) ([]storage.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := 0
	if after != "" {
		// First ID strictly greater than after.
		i, found := slices.BinarySearch(s.keyIDs, after)
		if found {
			i++
		}
		start = i
	}
	ids := s.keyIDs[start:]
	if limit > 0 && limit < len(ids) {
		ids = ids[:limit]
	}
	out := make([]storage.Key, len(ids))
	for i, id := range ids {
		out[i] = cloneKey(s.keys[id])
	}
	return out, nil
}

// RevokeKey implements [storage.KeyStore]. A zero at is an error.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	if at.IsZero() {
		return errZeroTime
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("keyturn/memory: key %s: %w", excerpt(id), storage.ErrNotFound)
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at.UTC()
		s.keys[id] = k
	}
	return nil
}

// RotateKey implements [storage.KeyStore].
func (s *Store) RotateKey(ctx context.Context, id string, old, next []byte, oldUntil time.Time) (bool, error) {
	return s.swapKey(ctx, id, func(k *storage.Key) bool {
		if !bytes.Equal(k.SecretHash, old) {
			return false
		}
		k.SecretHash = slices.Clone(next)
		k.PreviousSecretHash, k.PreviousExpiresAt = nil, time.Time{}
		if !oldUntil.IsZero() {
			k.PreviousSecretHash, k.PreviousExpiresAt = slices.Clone(old), oldUntil.UTC()
		}
		return true
	})
}

// swapKey is a compare-and-swap on the key id, not revoked, under the
// lock: swap reports whether the key holds what the caller expects, and
// changes it if so. A missing key is ErrNotFound.
func (s *Store) swapKey(ctx context.Context, id string, swap func(k *storage.Key) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, ctxError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return false, fmt.Errorf("keyturn/memory: key %s: %w", excerpt(id), storage.ErrNotFound)
	}
	if !k.RevokedAt.IsZero() || !swap(&k) {
		return false, nil
	}
	s.keys[id] = k
	return true, nil
}

// TouchKey implements [storage.KeyStore].
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, ctxError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok || !k.LastUsedAt.IsZero() && !k.LastUsedAt.Before(at.Add(-every)) {
		return false, nil
	}
	k.LastUsedAt = at.UTC()
	s.keys[id] = k
	return true, nil
}

// ReplaceKeyJWKS implements [storage.KeyJWKSReplacer].
func (s *Store) ReplaceKeyJWKS(ctx context.Context, id string, old, next []byte) (bool, error) {
	return s.swapKey(ctx, id, func(k *storage.Key) bool {
		if !bytes.Equal(k.JWKS, old) {
			return false
		}
		k.JWKS = slices.Clone(next)
		return true
	})
}

// UseOnce implements [storage.ReplayStore].
func (s *Store) UseOnce(ctx context.Context, kind, id string, now, expiresAt time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, ctxError(err)
	}
	if err := checkReplayID("one-time value kind", kind); err != nil {
		return false, err
	}
	if err := checkReplayID("one-time value id", id); err != nil {
		return false, err
	}
	u := usedID{kind, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.used[u]; ok && exp.After(now) {
		return false, nil
	}
	s.used[u] = expiresAt.UTC()
	return true, nil
}

// AddFailure implements [storage.FailureStore].
func (s *Store) AddFailure(ctx context.Context, key string, window, expiresAt time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, ctxError(err)
	}
	if err := checkReplayID("failure key", key); err != nil {
		return 0, err
	}
	f := failureID{key, window.UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.failures[f]
	c.n++
	if expiresAt.After(c.expiresAt) {
		c.expiresAt = expiresAt.UTC()
	}
	s.failures[f] = c
	return c.n, nil
}

func checkReplayID(what, v string) error {
	if len(v) == 0 || len(v) > storage.MaxReplayID {
		return fmt.Errorf("keyturn/memory: %s is %d bytes, want 1 to %d", what, len(v), storage.MaxReplayID)
	}
	return nil
}

// AddSigningKey implements [storage.SigningKeyStore].
func (s *Store) AddSigningKey(ctx context.Context, k storage.SigningKey) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	k = normalizeSigningKey(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.signing[k.ID]; ok {
		return fmt.Errorf("keyturn/memory: signing key %s: %w", excerpt(k.ID), storage.ErrExists)
	}
	s.signing[k.ID] = k
	return nil
}

// SigningKeys implements [storage.SigningKeyStore].
func (s *Store) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	s.mu.RLock()
	out := make([]storage.SigningKey, 0, len(s.signing))
	for _, k := range s.signing {
		out = append(out, cloneSigningKey(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b storage.SigningKey) int {
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RetireSigningKey implements [storage.SigningKeyStore]. A zero notAfter or
// expiresAt leaves that time as it is.
func (s *Store) RetireSigningKey(ctx context.Context, id string, notAfter, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.signing[id]
	if !ok {
		return fmt.Errorf("keyturn/memory: signing key %s: %w", excerpt(id), storage.ErrNotFound)
	}
	k.NotAfter = earlier(k.NotAfter, notAfter)
	k.ExpiresAt = earlier(k.ExpiresAt, expiresAt)
	s.signing[id] = k
	return nil
}

// DeleteSigningKey implements [storage.SigningKeyStore].
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	s.mu.Lock()
	delete(s.signing, id)
	s.mu.Unlock()
	return nil
}

// ReplaceSigningKeyPrivate implements [storage.SigningKeyUpdater].
func (s *Store) ReplaceSigningKeyPrivate(ctx context.Context, id string, old, next []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, ctxError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.signing[id]
	if !ok {
		return false, fmt.Errorf("keyturn/memory: signing key %s: %w", excerpt(id), storage.ErrNotFound)
	}
	if !bytes.Equal(k.Private, old) {
		return false, nil
	}
	k.Private = slices.Clone(next)
	s.signing[id] = k
	return true, nil
}

// InitSetting implements [storage.SettingStore].
func (s *Store) InitSetting(ctx context.Context, name string, value []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	if name == "" || len(name) > storage.MaxSettingName || len(value) > storage.MaxSettingValue {
		return nil, fmt.Errorf("keyturn/memory: setting %s: name or value out of bounds", excerpt(name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.settings[name]
	if !ok {
		cur = bytes.Clone(value)
		if cur == nil {
			cur = []byte{}
		}
		s.settings[name] = cur
	}
	return bytes.Clone(cur), nil
}

// Setting implements [storage.SettingStore].
func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	s.mu.RLock()
	cur, ok := s.settings[name]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("keyturn/memory: setting %s: %w", excerpt(name), storage.ErrNotFound)
	}
	return bytes.Clone(cur), nil
}

// AddRevocation implements [storage.RevocationStore]. A zero RevokedAt is an
// error.
func (s *Store) AddRevocation(ctx context.Context, r storage.Revocation) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	if r.RevokedAt.IsZero() {
		return errZeroTime
	}
	r.RevokedAt = utc(r.RevokedAt)
	r.ExpiresAt = utc(r.ExpiresAt)
	rid := revocationID{r.Kind, r.ID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.revocations[rid]; ok {
		if old.RevokedAt.Before(r.RevokedAt) {
			r.RevokedAt = old.RevokedAt
		}
		if old.ExpiresAt.IsZero() || (!r.ExpiresAt.IsZero() && old.ExpiresAt.After(r.ExpiresAt)) {
			r.ExpiresAt = old.ExpiresAt
		}
	}
	s.revocations[rid] = r
	return nil
}

// RevocationsSince implements [storage.RevocationStore].
func (s *Store) RevocationsSince(ctx context.Context, since time.Time, limit int) ([]storage.Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	s.mu.RLock()
	var out []storage.Revocation
	for _, r := range s.revocations {
		if !r.RevokedAt.Before(since) {
			out = append(out, r)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b storage.Revocation) int {
		if c := a.RevokedAt.Compare(b.RevokedAt); c != 0 {
			return c
		}
		if a.Kind != b.Kind {
			if a.Kind < b.Kind {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && limit < len(out) {
		out = out[:limit:limit]
	}
	return out, nil
}

// AddOpaqueToken implements [storage.OpaqueTokenStore].
func (s *Store) AddOpaqueToken(ctx context.Context, t storage.OpaqueToken) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	t = normalizeOpaqueToken(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.opaque[string(t.Hash)]; ok {
		return errTokenExists
	}
	s.opaque[string(t.Hash)] = t
	return nil
}

// OpaqueToken implements [storage.OpaqueTokenStore].
func (s *Store) OpaqueToken(ctx context.Context, hash []byte) (storage.OpaqueToken, error) {
	if err := ctx.Err(); err != nil {
		return storage.OpaqueToken{}, ctxError(err)
	}
	s.mu.RLock()
	t, ok := s.opaque[string(hash)]
	s.mu.RUnlock()
	if !ok {
		return storage.OpaqueToken{}, errTokenNotFound
	}
	return cloneOpaqueToken(t), nil
}

// Sweep implements [storage.Sweeper]. It deletes opaque tokens, revocations
// and signing keys whose ExpiresAt is set and not after now, and one-time
// values and failure counts whose expiry is not after now; API key records
// are never swept.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, ctxError(err)
	}
	expired := func(t time.Time) bool { return !t.IsZero() && !t.After(now) }
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, t := range s.opaque {
		if expired(t.ExpiresAt) {
			delete(s.opaque, h)
			n++
		}
	}
	for id, r := range s.revocations {
		if expired(r.ExpiresAt) {
			delete(s.revocations, id)
			n++
		}
	}
	for id, k := range s.signing {
		if expired(k.ExpiresAt) {
			delete(s.signing, id)
			n++
		}
	}
	for u, exp := range s.used {
		if !exp.After(now) {
			delete(s.used, u)
			n++
		}
	}
	for f, c := range s.failures {
		if !c.expiresAt.After(now) {
			delete(s.failures, f)
			n++
		}
	}
	return n, nil
}

// ctxError wraps a context's error so that errors.Is finds it.
func ctxError(err error) error {
	return fmt.Errorf("keyturn/memory: %w", err)
}

// utc returns t in UTC without a monotonic reading; the zero time, in any
// location, becomes the zero time.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// earlier returns the earlier of a and b, where a zero time counts as later
// than any other.
func earlier(a, b time.Time) time.Time {
	b = utc(b)
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// normalizeKey returns a copy of k, sharing no memory with it, with its
// times in UTC. The normalize functions prepare a record for storing; the
// clone functions copy a stored record out.
func normalizeKey(k storage.Key) storage.Key {
	k = cloneKey(k)
	k.CreatedAt = utc(k.CreatedAt)
	k.ExpiresAt = utc(k.ExpiresAt)
	k.RevokedAt = utc(k.RevokedAt)
	k.PreviousExpiresAt = utc(k.PreviousExpiresAt)
	k.LastUsedAt = utc(k.LastUsedAt)
	return k
}

func cloneKey(k storage.Key) storage.Key {
	k.Scope = slices.Clone(k.Scope)
	k.SecretHash = slices.Clone(k.SecretHash)
	k.PreviousSecretHash = slices.Clone(k.PreviousSecretHash)
	k.JWKS = slices.Clone(k.JWKS)
	k.Resources = slices.Clone(k.Resources)
	return k
}

func normalizeSigningKey(k storage.SigningKey) storage.SigningKey {
	k = cloneSigningKey(k)
	k.CreatedAt = utc(k.CreatedAt)
	k.NotBefore = utc(k.NotBefore)
	k.NotAfter = utc(k.NotAfter)
	k.ExpiresAt = utc(k.ExpiresAt)
	return k
}

func cloneSigningKey(k storage.SigningKey) storage.SigningKey {
	k.Private = slices.Clone(k.Private)
	k.Public = slices.Clone(k.Public)
	return k
}

func normalizeOpaqueToken(t storage.OpaqueToken) storage.OpaqueToken {
	t = cloneOpaqueToken(t)
	t.ExpiresAt = utc(t.ExpiresAt)
	return t
}

func cloneOpaqueToken(t storage.OpaqueToken) storage.OpaqueToken {
	t.Hash = slices.Clone(t.Hash)
	t.Claims = slices.Clone(t.Claims)
	return t
}

// excerpt returns a short, quoted, printable excerpt of a public identifier
// for error text.
func excerpt(id string) string {
	const max = 32
	if len(id) > max {
		// Cut on a rune boundary.
		cut := max
		for cut > 0 && !utf8.RuneStart(id[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", id[:cut])
	}
	return fmt.Sprintf("%q", id)
}
