package dpop

import (
	"hash/maphash"
	"sync"
	"time"
)

const replayShards = 16

// replayCache remembers the proofs a Verifier accepted until they are
// stale, at most size of them: a bounded, time-limited set with an atomic
// check-and-insert. Entries leave in the order they came; one that is not
// stale yet holds back those behind it for at most twice the window (the
// spread of iat), which only delays their memory being freed. When a shard
// is full of live entries, use refuses with ErrBusy: forgetting a live
// entry would let its proof be replayed.
type replayCache struct {
	seed   maphash.Seed
	shards [replayShards]replayShard
}

type replayShard struct {
	mu    sync.Mutex
	m     map[string]time.Time // replay id → when its proof is stale
	queue []replayEntry        // insertion order, a ring of cap max
	head  int
	max   int
}

type replayEntry struct {
	id    string
	until time.Time
}

func newReplayCache(size int) *replayCache {
	c := &replayCache{seed: maphash.MakeSeed()}
	per := max((size+replayShards-1)/replayShards, 1)
	for i := range c.shards {
		c.shards[i].m = make(map[string]time.Time)
		c.shards[i].max = per
	}
	return c
}

// use records id until the time given, unless it is recorded and not
// stale: then it returns ErrReplayed.
func (c *replayCache) use(id string, now, until time.Time) error {
	s := &c.shards[maphash.String(c.seed, id)%replayShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[id]; ok && now.Before(t) {
		return ErrReplayed
	}
	// Forget what is stale, oldest first.
	for len(s.queue) > 0 {
		e := s.queue[s.head]
		if now.Before(e.until) {
			break
		}
		if t, ok := s.m[e.id]; ok && !now.Before(t) {
			delete(s.m, e.id)
		}
		s.queue[s.head] = replayEntry{}
		s.head++
		if s.head == len(s.queue) {
			s.queue, s.head = s.queue[:0], 0
		}
	}
	if len(s.queue)-s.head >= s.max {
		return ErrBusy
	}
	if s.head > 0 && len(s.queue) == cap(s.queue) {
		// Move the live entries to the front rather than grow.
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	s.queue = append(s.queue, replayEntry{id: id, until: until})
	s.m[id] = until
	return nil
}
