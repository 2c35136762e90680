// Package ratelimit limits failed client authentications at the token,
// introspection and revocation endpoints (RFC 6749 §2.3.1, §10.10;
// checklist item TOK-29), one budget per key: a client id at a remote
// address, a client id everywhere, a remote address.
//
// Start with [New] and a [Config]. For each key of an attempt, call
// [Limiter.Take] before checking the credentials, and once the check is
// done [Limiter.Fail] if they were wrong or [Limiter.Refund] if they were
// right: the attempt is settled. Take reserves the attempt as a failure
// atomically, so N attempts made at once count as N: parallel attempts are
// limited exactly as if they had been made one after the other. A success
// is refunded and costs no failure at all, so a client that authenticates
// correctly is never slowed by its own traffic.
//
// Each key holds a token bucket of Burst failures that refills one failure
// per Refill: with the defaults (10 and 6 s) a key may fail ten times at
// once, then once every six seconds; after Burst×Refill (one minute)
// without failures it is as if it never failed. The bucket is stored as
// one time per key (the generic cell rate algorithm), the moment the key's
// debt is paid off, beside the number of attempts taken and not yet
// settled.
//
// Take answers one of three ways. [Taken]: the attempt fits beside the
// failures recorded and the attempts pending, and is pending until it is
// settled. [Refused]: the failures recorded alone leave no room; the
// caller should retry after the returned wait. [Busy]: only the pending
// attempts leave no room, so whether this one may go ahead depends on how
// they end (made one at a time, it would have waited for their outcome
// too); the caller waits on the returned channel, which is closed when an
// attempt of a key in the same shard is settled, and takes again.
//
// # Keys
//
// A [Key] is a 64-bit name, which callers derive by hashing what the
// budget is about under a secret seed (hash/maphash), so that keys have one
// small size whatever was hashed, keep no request's memory alive, and
// cannot be chosen to collide: two names of the same key share a budget,
// and finding two such names takes about 2^64 guesses to someone who does
// not know the seed.
//
// # Security
//
// Memory is bounded: at most [Config.MaxEntries] keys are held, in shards
// with their own locks. A shard that is full first drops every key whose
// bucket has refilled and that has no attempt pending (at most once per
// Refill, so its cost is spread), then evicts the key closest to refilled
// among a few it samples, so that an attacker spraying fresh keys cannot
// cheaply push out a key that is under attack.
//
// The limiter reads no clock: callers pass the time, which keeps tests
// exact. It starts no goroutine and has no global state.
package ratelimit

import (
	"errors"
	"sync"
	"time"
)

// Defaults of [Config].
const (
	DefaultBurst      = 10
	DefaultRefill     = 6 * time.Second
	DefaultMaxEntries = 1 << 16
)

// Bounds of [Config], so that a time of this century plus twice
// Burst×Refill (debt and pending attempts) cannot overflow.
const (
	MaxBurst  = 1 << 16
	MaxRefill = time.Hour
)

// sample is how many keys a full shard looks at to choose one to evict.
const sample = 8

// shards is the number of independently locked maps (fewer when
// MaxEntries is smaller).
const shards = 16

// Key names a budget: a hash, under a seed the caller keeps secret, of
// what the budget is about.
type Key uint64

// Status is [Limiter.Take]'s answer.
type Status uint8

const (
	// Taken: the attempt may go ahead; it is pending until settled.
	Taken Status = iota
	// Refused: the failures recorded leave no room; retry later.
	Refused
	// Busy: the attempts pending leave no room; wait for one to settle.
	Busy
)

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
	shards   []shard
}

type shard struct {
	mu        sync.Mutex
	m         map[Key]entry
	wake      chan struct{} // closed when an attempt is settled, if anyone waits
	lastPrune int64
	_         [32]byte // keeps neighbouring shards' locks off one cache line
}

type entry struct {
	paid    int64 // unix ns at which the recorded failures are forgiven
	pending int64 // attempts taken and not yet settled
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
		shards:   make([]shard, n),
	}
	for i := range l.shards {
		l.shards[i].m = make(map[Key]entry)
	}
	return l
}

// Take reserves an attempt of key at now, counting it as a failure until
// it is settled. It returns Taken if the attempt may go ahead, and then
// the caller must call Fail or Refund exactly once; Refused and how long
// until one more failure fits; or Busy and a channel that is closed when
// an attempt is settled, after which the caller may Take again.
func (l *Limiter) Take(key Key, now time.Time) (st Status, retryAfter time.Duration, wake <-chan struct{}) {
	t := now.UnixNano()
	s := l.shard(key)
	s.mu.Lock()
	e, found := s.m[key]
	// Debt never exceeds the window, even if the caller's clock went
	// back.
	debt := min(max(e.paid-t, 0), l.window)
	// How many more failures fit: room×Refill + debt ≤ window.
	room := (l.window - debt) / l.refill
	switch {
	case room < 1:
		s.mu.Unlock()
		return Refused, time.Duration(debt + l.refill - l.window), nil
	case e.pending >= room:
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		w := s.wake
		s.mu.Unlock()
		return Busy, 0, w
	}
	if !found && len(s.m) >= l.perShard {
		l.makeRoom(s, t)
	}
	e.pending++
	s.m[key] = e
	s.mu.Unlock()
	return Taken, 0, nil
}

// Refund ends an attempt that Take let go ahead and that succeeded: it
// records nothing, and wakes the callers that Take told to wait.
func (l *Limiter) Refund(key Key) {
	s := l.shard(key)
	s.mu.Lock()
	if e, found := s.m[key]; found && e.pending > 0 {
		e.pending--
		if e.pending == 0 && e.paid == 0 {
			// A key that never failed is remembered no longer than its
			// attempts last; one that did is pruned once refilled.
			delete(s.m, key)
		} else {
			s.m[key] = e
		}
	}
	s.wakeAll()
	s.mu.Unlock()
}

// Fail ends an attempt that Take let go ahead and that failed: it records
// a failure of key at now, and wakes the callers that Take told to wait.
// For a key with no attempt pending (evicted meanwhile) it records the
// failure all the same.
func (l *Limiter) Fail(key Key, now time.Time) {
	t := now.UnixNano()
	s := l.shard(key)
	s.mu.Lock()
	e, found := s.m[key]
	if e.pending > 0 {
		e.pending--
	}
	if !found && len(s.m) >= l.perShard {
		l.makeRoom(s, t)
	}
	// The bucket holds no more than Burst failures: debt is capped at the
	// window.
	e.paid = min(max(e.paid, t)+l.refill, t+l.window)
	s.m[key] = e
	s.wakeAll()
	s.mu.Unlock()
}

// Block spends key's budget until until, as failures counted elsewhere
// (by other processes sharing a store) show it to be: Take refuses key
// before until, and the bucket refills from then on as if its last
// failure had been recorded then. A block that ends earlier than one
// already in place changes nothing.
func (l *Limiter) Block(key Key, now, until time.Time) {
	t := now.UnixNano()
	paid := until.UnixNano() + l.window - l.refill
	s := l.shard(key)
	s.mu.Lock()
	e, found := s.m[key]
	if !found && len(s.m) >= l.perShard {
		l.makeRoom(s, t)
	}
	if paid > e.paid {
		e.paid = paid
	}
	s.m[key] = e
	s.mu.Unlock()
}

// wakeAll wakes every caller told to wait; s's lock is held.
func (s *shard) wakeAll() {
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
}

// Len returns how many keys the limiter remembers, refilled ones not yet
// dropped included.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Prune drops every key whose bucket has refilled by now and that has no
// attempt pending, and returns how many it dropped. Full shards prune
// themselves; a host may call Prune periodically to return memory sooner.
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
	// The victim is the sampled key that would be refilled first if its
	// pending attempts all failed.
	var victim Key
	least, seen := int64(0), 0
	for k, e := range s.m {
		if owed := e.paid + e.pending*l.refill; seen == 0 || owed < least {
			victim, least = k, owed
		}
		if seen++; seen == sample {
			break
		}
	}
	delete(s.m, victim)
}

func prune(s *shard, t int64) int {
	n := 0
	for k, e := range s.m {
		if e.pending == 0 && e.paid <= t {
			delete(s.m, k)
			n++
		}
	}
	return n
}

func (l *Limiter) shard(k Key) *shard {
	return &l.shards[uint64(k)%uint64(len(l.shards))]
}
