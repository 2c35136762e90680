package token

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// DefaultCacheSize is the number of verified tokens a [Verifier] remembers
// when [VerifierConfig.CacheSize] is zero.
const DefaultCacheSize = 10000

const cacheShards = 16

// verifiedCache remembers the claims of tokens a Verifier accepted, so that
// a token presented many times costs a SHA-256 and a map lookup rather than
// a signature check or a storage lookup.
//
// Entries are keyed by the SHA-256 of the token (the token itself is not
// kept) and evicted by a CLOCK (second-chance) policy when full. The cache
// knows nothing of validity: [Verifier.Verify] gates every hit on exp and
// on its Revocations. It is sharded so that concurrent hits do not contend
// on one lock, and it is always used through a pointer.
type verifiedCache struct {
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu   sync.RWMutex
	m    map[[32]byte]*cacheEntry
	ring []*cacheEntry // CLOCK ring; len(ring) == len(m)
	hand int
	max  int
}

// cacheEntry is immutable once published, except for ref.
type cacheEntry struct {
	key    [32]byte
	claims *Claims
	exp    time.Time   // claims.ExpiresAt, copied so a caller cannot move it
	ref    atomic.Bool // referenced since the hand last passed
	slot   int         // index in ring, guarded by the shard's mu
}

// newVerifiedCache returns a cache of at most size entries; size > 0.
func newVerifiedCache(size int) *verifiedCache {
	c := &verifiedCache{}
	per := (size + cacheShards - 1) / cacheShards
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
		c.shards[i].max = per
	}
	// Never hold more than size in all: trim the last shards' share.
	for i, extra := cacheShards-1, per*cacheShards-size; extra > 0; i, extra = i-1, extra-1 {
		c.shards[i].max--
	}
	return c
}

// cacheKey returns the cache key of tok: its SHA-256. The token is only
// read, so hashing it through a byte view avoids a copy.
func cacheKey(tok string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}

func (c *verifiedCache) shard(k *[32]byte) *cacheShard {
	return &c.shards[k[0]%cacheShards]
}

// lookup returns the cached claims under k if they are still valid at now:
// before exp and, when revs is not nil, not revoked. It drops an entry that
// is no longer valid and then returns nil.
func (c *verifiedCache) lookup(k *[32]byte, now time.Time, revs *Revocations) *Claims {
	sh := c.shard(k)
	sh.mu.RLock()
	e := sh.m[*k]
	sh.mu.RUnlock()
	if e == nil {
		return nil
	}
	if now.Before(e.exp) && (revs == nil || !revs.Revoked(e.claims)) {
		if !e.ref.Load() {
			e.ref.Store(true)
		}
		return e.claims
	}
	sh.remove(e)
	return nil
}

// add caches claims under k, unless an entry for k is already there.
func (c *verifiedCache) add(k *[32]byte, claims *Claims) {
	c.shard(k).add(&cacheEntry{key: *k, claims: claims, exp: claims.ExpiresAt})
}

// len returns the number of cached tokens.
func (c *verifiedCache) len() int {
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
		// Another call verified the same token meanwhile; entries are
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
