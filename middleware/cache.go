package middleware

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/keyturn/keyturn/token"
)

// Revocations tells a [Cache] whether verified claims have since been
// revoked. keyturn's token.Revocations satisfies it; the check runs on every
// cache hit, so it must be cheap and do no I/O.
type Revocations interface {
	Revoked(c *token.Claims) bool
}

// DefaultCacheSize is the number of verified tokens a [Cache] holds when
// CacheConfig.Size is zero.
const DefaultCacheSize = 10000

const cacheShards = 16

// CacheConfig configures a [Cache].
type CacheConfig struct {
	// Size bounds the number of cached tokens. Zero means DefaultCacheSize.
	Size int

	// Revocations is consulted on every hit; a revoked token is dropped and
	// handed to the verifier, which refuses it. Nil means no check on hits:
	// then a revoked token stays accepted until it leaves the cache, at the
	// latest at its exp. Hosts using keyturn's token package should set it.
	Revocations Revocations

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Cache is a [Verifier] that remembers the tokens another verifier accepted,
// so that a token presented many times costs a SHA-256 and a map lookup
// rather than a signature verification.
//
// Entries are keyed by the SHA-256 of the token (the token itself is not
// kept), never served at or after the token's exp, dropped when
// [CacheConfig.Revocations] reports them revoked, and evicted by a CLOCK
// (second-chance) policy when the cache is full. Only successful
// verifications are cached. A Cache is safe for concurrent use and keeps no
// global state; it is sharded so that concurrent hits do not contend on one
// lock.
type Cache struct {
	next   Verifier
	revs   Revocations
	now    func() time.Time
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu   sync.RWMutex
	m    map[[32]byte]*cacheEntry
	ring []*cacheEntry // CLOCK ring; len(ring) == len(m)
	hand int
	max  int
}

type cacheEntry struct {
	key    [32]byte
	claims *token.Claims
	exp    time.Time
	ref    atomic.Bool // referenced since the hand last passed
	slot   int         // index in ring
}

// NewCache returns a Cache in front of v.
func NewCache(v Verifier, cfg CacheConfig) (*Cache, error) {
	if v == nil {
		return nil, errors.New("keyturn/middleware: NewCache: nil verifier")
	}
	if cfg.Size < 0 {
		return nil, errors.New("keyturn/middleware: CacheConfig.Size must not be negative")
	}
	size := cfg.Size
	if size == 0 {
		size = DefaultCacheSize
	}
	c := &Cache{next: v, revs: cfg.Revocations, now: cfg.Now}
	if c.now == nil {
		c.now = time.Now
	}
	per := (size + cacheShards - 1) / cacheShards
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
		c.shards[i].max = per
	}
	// Never hold more than size in all: trim the last shards' share.
	for i, extra := cacheShards-1, per*cacheShards-size; extra > 0; i, extra = i-1, extra-1 {
		c.shards[i].max--
	}
	return c, nil
}

// Verify returns the cached claims for tok when they are still valid, and
// otherwise asks the wrapped verifier, caching what it accepts.
func (c *Cache) Verify(ctx context.Context, tok string) (*token.Claims, error) {
	claims, k := c.lookup(tok)
	if claims != nil {
		return claims, nil
	}
	return c.verify(ctx, tok, k)
}

// key returns the cache key of tok: its SHA-256. The token is only read, so
// hashing it through a byte view avoids a copy.
func key(tok string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}

// lookup returns the cached claims for tok if they are still valid, and nil
// otherwise, dropping an entry that expired or was revoked. It also returns
// tok's key, for verify.
func (c *Cache) lookup(tok string) (*token.Claims, [32]byte) {
	k := key(tok)
	sh := &c.shards[k[0]%cacheShards]
	sh.mu.RLock()
	e := sh.m[k]
	sh.mu.RUnlock()
	if e == nil {
		return nil, k
	}
	if c.now().Before(e.exp) && (c.revs == nil || !c.revs.Revoked(e.claims)) {
		if !e.ref.Load() {
			e.ref.Store(true)
		}
		return e.claims, k
	}
	sh.remove(e)
	return nil, k
}

// verify asks the wrapped verifier and caches what it accepts under k,
// tok's key.
func (c *Cache) verify(ctx context.Context, tok string, k [32]byte) (*token.Claims, error) {
	sh := &c.shards[k[0]%cacheShards]
	now := c.now()
	claims, err := c.next.Verify(ctx, tok)
	if err != nil || claims == nil {
		return claims, err
	}
	if now.Before(claims.ExpiresAt) {
		sh.add(&cacheEntry{key: k, claims: claims, exp: claims.ExpiresAt})
	}
	return claims, nil
}

// Len returns the number of cached tokens.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

func (sh *cacheShard) remove(e *cacheEntry) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[e.key] != e {
		return // already replaced or removed
	}
	delete(sh.m, e.key)
	last := len(sh.ring) - 1
	moved := sh.ring[last]
	sh.ring[e.slot] = moved
	moved.slot = e.slot
	sh.ring[last] = nil
	sh.ring = sh.ring[:last]
	if sh.hand >= len(sh.ring) {
		sh.hand = 0
	}
}

func (sh *cacheShard) add(e *cacheEntry) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[e.key]; ok {
		// Another request verified the same token meanwhile; entries are
		// never modified once published, so keep that one.
		return
	}
	if sh.max <= 0 {
		return
	}
	if len(sh.ring) < sh.max {
		e.slot = len(sh.ring)
		sh.ring = append(sh.ring, e)
		sh.m[e.key] = e
		return
	}
	// CLOCK: give referenced entries a second chance, replace the first
	// unreferenced one. At most one full turn clears every bit.
	for {
		victim := sh.ring[sh.hand]
		if victim.ref.Load() {
			victim.ref.Store(false)
			sh.hand = (sh.hand + 1) % len(sh.ring)
			continue
		}
		delete(sh.m, victim.key)
		e.slot = sh.hand
		sh.ring[sh.hand] = e
		sh.m[e.key] = e
		sh.hand = (sh.hand + 1) % len(sh.ring)
		return
	}
}
