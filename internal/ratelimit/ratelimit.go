// Package ratelimit limits failed client authentications at the token,
// introspection and revocation endpoints (RFC 6749 §2.3.1, §10.10;
// checklist item TOK-29), one budget per key: a key id, a remote address,
// a user name.
//
// Start with [New] and a [Config], then, for each key of a request, ask
// [Limiter.Allow] before checking credentials and call [Limiter.Fail]
// after a failed check. A success consumes nothing, so a client that
// authenticates correctly is never slowed by its own traffic.
//
// Each key holds a token bucket of Burst failures that refills one failure
// per Refill: with the defaults (10 and 6 s) a key may fail ten times at
// once, then once every six seconds; after Burst×Refill (one minute)
// without failures it is as if it never failed. The bucket is stored as
// one time per key (the generic cell rate algorithm): the moment the key's
// debt is paid off.
//
// # Security
//
// Memory is bounded: at most [Config.MaxEntries] keys are held, in shards
// with their own locks. A shard that is full first drops every key whose
// bucket has refilled (at most once per Refill, so its cost is spread),
// then evicts the key closest to refilled among a few it samples, so that
// an attacker spraying fresh keys cannot cheaply push out a key that is
// under attack. Keys longer than 64 bytes are stored as their SHA-256, so
// a key's size cannot inflate memory, and every key is copied, so that
// the limiter never pins a request's buffers.
//
// Allow and Fail are separate calls, so concurrent requests may all pass
// Allow before any of them fails: a burst of N parallel attempts can
// exceed Burst by up to N-1. The limit on the rate over time holds.
//
// The limiter reads no clock: callers pass the time, which keeps tests
// exact. It starts no goroutine and has no global state.
package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// Defaults of [Config].
const (
	DefaultBurst      = 10
	DefaultRefill     = 6 * time.Second
	DefaultMaxEntries = 1 << 16
)

// Bounds of [Config], so that Burst×Refill cannot overflow.
const (
	MaxBurst  = 1 << 20
	MaxRefill = 24 * time.Hour
)

// maxKey is the longest key stored as is; longer ones are hashed.
const maxKey = 64

// sample is how many keys a full shard looks at to choose one to evict.
const sample = 8

// shards is the number of independently locked maps (fewer when
// MaxEntries is smaller).
const shards = 16

// Config configures a [Limiter]. The zero value means the defaults.
type Config struct {
	// Burst is how many failures a key may have before it is refused.
	// Zero means DefaultBurst; at most MaxBurst.
	Burst int
	// Refill is how long it takes for one failure to be forgiven. Zero
	// means DefaultRefill; at most MaxRefill.
	Refill time.Duration
	// MaxEntries bounds how many keys are remembered. Zero means
	// DefaultMaxEntries.
	MaxEntries int
}

// Limiter counts failures per key. It is safe for concurrent use.
type Limiter struct {
	refill   int64 // ns
	window   int64 // Burst × Refill, ns: the most debt a key can hold
	perShard int
	seed     maphash.Seed
	shards   []shard
}

type shard struct {
	mu        sync.Mutex
	paid      map[string]int64 // key → unix ns at which its debt is paid off
	lastPrune int64
	_         [40]byte // keeps neighbouring shards' locks off one cache line
}

// New returns a Limiter for c, or an error if c is out of range.
func New(c Config) (*Limiter, error) {
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.Refill == 0 {
		c.Refill = DefaultRefill
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	switch {
	case c.Burst < 0 || c.Burst > MaxBurst:
		return nil, errors.New("keyturn/ratelimit: Burst must be between 1 and MaxBurst")
	case c.Refill < 0 || c.Refill > MaxRefill:
		return nil, errors.New("keyturn/ratelimit: Refill must be positive and at most MaxRefill")
	case c.MaxEntries < 0:
		return nil, errors.New("keyturn/ratelimit: MaxEntries must be positive")
	}
	return newLimiter(c, min(shards, c.MaxEntries)), nil
}

// newLimiter makes a limiter of n shards for a validated c.
func newLimiter(c Config, n int) *Limiter {
	l := &Limiter{
		refill:   int64(c.Refill),
		window:   int64(c.Burst) * int64(c.Refill),
		perShard: c.MaxEntries / n,
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
	}
	for i := range l.shards {
		l.shards[i].paid = make(map[string]int64)
	}
	return l
}

// Allow reports whether key may attempt to authenticate at now, and if
// not, how long until it may. It records nothing.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	k := storedKey(key)
	s := l.shard(k)
	s.mu.Lock()
	paid, found := s.paid[k]
	s.mu.Unlock()
	if !found {
		return true, 0
	}
	// One more failure must fit: debt + refill ≤ window. Debt never
	// exceeds the window, even if the caller's clock went back.
	debt := min(paid-now.UnixNano(), l.window)
	over := debt + l.refill - l.window
	if over <= 0 {
		return true, 0
	}
	return false, time.Duration(over)
}

// Fail records a failed authentication of key at now.
func (l *Limiter) Fail(key string, now time.Time) {
	k := storedKey(key)
	t := now.UnixNano()
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	paid, found := s.paid[k]
	// The bucket holds no more than Burst failures: debt is capped at the
	// window, so a flood of failures costs the key Refill, not more.
	paid = min(max(paid, t)+l.refill, t+l.window)
	if !found {
		if len(s.paid) >= l.perShard {
			l.makeRoom(s, t)
		}
		if len(key) <= maxKey {
			k = strings.Clone(key)
		}
	}
	s.paid[k] = paid
}

// Len returns how many keys the limiter remembers, refilled ones not yet
// dropped included.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.paid)
		s.mu.Unlock()
	}
	return n
}

// Prune drops every key whose bucket has refilled by now, and returns how
// many it dropped. Full shards prune themselves; a host may call Prune
// periodically to return memory sooner.
func (l *Limiter) Prune(now time.Time) int {
	t := now.UnixNano()
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += prune(s, t)
		s.mu.Unlock()
	}
	return n
}

// makeRoom frees one entry of a full shard s, whose lock is held.
func (l *Limiter) makeRoom(s *shard, t int64) {
	if t-s.lastPrune >= l.refill || t < s.lastPrune {
		s.lastPrune = t
		if prune(s, t) > 0 {
			return
		}
	}
	victim, least, seen := "", int64(0), 0
	for k, paid := range s.paid {
		if seen == 0 || paid < least {
			victim, least = k, paid
		}
		if seen++; seen == sample {
			break
		}
	}
	delete(s.paid, victim)
}

func prune(s *shard, t int64) int {
	n := 0
	for k, paid := range s.paid {
		if paid <= t {
			delete(s.paid, k)
			n++
		}
	}
	return n
}

func (l *Limiter) shard(k string) *shard {
	return &l.shards[maphash.String(l.seed, k)%uint64(len(l.shards))]
}

// storedKey returns the map key for key: key itself, or for a long key a
// 65-byte digest form that no short key can equal.
func storedKey(key string) string {
	if len(key) <= maxKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "#" + hex.EncodeToString(sum[:])
}
