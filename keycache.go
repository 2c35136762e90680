package keyturn

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// Defaults of the key-record cache New puts in front of the store when
// [Config.Changes] is set.
const (
	// DefaultKeyCacheMaxAge is how long a cached API key record may be used
	// when Config.KeyCacheMaxAge is zero: the bound on how long a key
	// revoked by another process can keep authenticating here while
	// notifications are not arriving.
	DefaultKeyCacheMaxAge = 5 * time.Second

	// keyCacheSize bounds the number of cached key records.
	keyCacheSize = 10000
)

// keyCache is a storage.KeyStore that remembers the records Key returns,
// for at most maxAge, so that authenticating a client costs no store
// round trip. What it hands out is what the store returned: the secret is
// still checked by keys.Manager, in constant time, against the stored
// hash, and expiry against the clock at each call.
//
// A record leaves the cache when it is older than maxAge, when this
// process revokes the key (at once, through RevokeKey), and when forget or
// flush is called, which Server.Run does on a notification. Every other
// KeyStore method (and any the interface gains) goes straight to the store
// through the embedded interface; a method that changes a record must
// therefore be followed by a notification (as sqlstore's are) or by forget.
//
// A read that was under way when a record was forgotten does not put its
// possibly older copy back: every forget or flush bumps gen, and a read
// stores its result only if gen did not move while it ran.
type keyCache struct {
	storage.KeyStore
	maxAge time.Duration
	size   int

	mu  sync.RWMutex
	gen uint64
	m   map[string]cachedKey
}

type cachedKey struct {
	k  storage.Key
	at time.Time // when the read that fetched k started (monotonic)
}

func newKeyCache(st storage.KeyStore, maxAge time.Duration, size int) *keyCache {
	return &keyCache{KeyStore: st, maxAge: maxAge, size: size, m: make(map[string]cachedKey)}
}

// Key implements storage.KeyStore from the cache when it holds a fresh
// enough copy. Errors, ErrNotFound included, are not cached.
func (c *keyCache) Key(ctx context.Context, id string) (storage.Key, error) {
	c.mu.RLock()
	e, ok := c.m[id]
	gen := c.gen
	c.mu.RUnlock()
	if ok && time.Since(e.at) < c.maxAge {
		return cloneKey(e.k), nil
	}
	start := time.Now()
	k, err := c.KeyStore.Key(ctx, id)
	if err != nil {
		return k, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if _, ok := c.m[id]; !ok && len(c.m) >= c.size {
			for old := range c.m { // an arbitrary victim
				delete(c.m, old)
				break
			}
		}
		c.m[id] = cachedKey{k: cloneKey(k), at: start}
	}
	c.mu.Unlock()
	return k, nil
}

// RevokeKey implements storage.KeyStore and forgets the key, so that it
// stops authenticating in this process as soon as RevokeKey returns.
func (c *keyCache) RevokeKey(ctx context.Context, id string, at time.Time) error {
	err := c.KeyStore.RevokeKey(ctx, id, at)
	c.forget(id) // even on error: the write may have happened
	return err
}

// RotateKey implements storage.KeyStore and forgets the key, so that a
// secret rotated out (or out of its grace) stops authenticating in this
// process as soon as RotateKey returns. TouchKey (the last use) goes to the
// store untouched: a cached record's last use matters to no check.
func (c *keyCache) RotateKey(ctx context.Context, id string, old, next []byte, oldUntil time.Time) (bool, error) {
	ok, err := c.KeyStore.RotateKey(ctx, id, old, next, oldUntil)
	c.forget(id) // even on error: the write may have happened
	return ok, err
}

// forget drops the cached copy of key id.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	c.gen++
	delete(c.m, id)
	c.mu.Unlock()
}

// flush drops every cached record.
func (c *keyCache) flush() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// cloneKey copies k's slices, so that the cache never shares one with a
// caller (the storage contract).
func cloneKey(k storage.Key) storage.Key {
	k.Scope = slices.Clone(k.Scope)
	k.SecretHash = bytes.Clone(k.SecretHash)
	return k
}
