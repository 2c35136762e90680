package keyturn

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/keyturn/keyturn/keys"
)

// Bounds of the recording of keys' last use.
const (
	// maxUsageEntries bounds how many keys the throttle remembers.
	maxUsageEntries = 10_000
	// maxUsageWrites bounds the writes under way at once.
	maxUsageWrites = 4
	// usageWriteTimeout bounds one write.
	usageWriteTimeout = 5 * time.Second
)

// usage records when keys were last used (keys.Record.LastUsedAt) without
// putting a store write on every token request. A token issued for a key
// costs a map lookup under a lock; at most once per keys.TouchInterval per
// key does it start a write, and that write runs off the request, in a
// goroutine of its own, after the response has been written: at most
// maxUsageWrites at once, each bounded by usageWriteTimeout. A use that
// finds no room, or whose write fails, is forgotten, so that the next one
// of that key tries again. The store's conditional write
// (storage.KeyStore.TouchKey) keeps several processes sharing a store to
// about one write per key per interval too.
//
// The throttle remembers at most maxUsageEntries keys: when it is full it
// forgets the keys not used for an interval and, if that is not enough,
// every key, which then costs one more conditional write each.
type usage struct {
	keys *keys.Manager
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex
	last  map[string]time.Time // key id → when a write of its use last started
	slots chan struct{}        // one value per write under way
}

func newUsage(m *keys.Manager, log *slog.Logger, now func() time.Time) *usage {
	return &usage{keys: m, log: log, now: now, last: map[string]time.Time{}, slots: make(chan struct{}, maxUsageWrites)}
}

// used records that a token was just issued for the key id.
func (u *usage) used(ctx context.Context, id string) {
	now := u.now()
	u.mu.Lock()
	if t, ok := u.last[id]; ok && now.Sub(t) < keys.TouchInterval {
		u.mu.Unlock()
		return
	}
	if len(u.last) >= maxUsageEntries {
		u.prune(now)
	}
	u.last[id] = now
	u.mu.Unlock()

	select {
	case u.slots <- struct{}{}:
	default:
		u.forget(id, now)
		return
	}
	go func() {
		defer func() { <-u.slots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), usageWriteTimeout)
		defer cancel()
		if _, err := u.keys.Touch(ctx, id); err != nil {
			u.forget(id, now)
			u.log.Warn("keyturn: recording when an api key was last used", "id", id, "err", err)
		}
	}()
}

// forget drops the throttle's entry for id if it is still the one made at
// t.
func (u *usage) forget(id string, t time.Time) {
	u.mu.Lock()
	if last, ok := u.last[id]; ok && last.Equal(t) {
		delete(u.last, id)
	}
	u.mu.Unlock()
}

// prune makes room in the throttle; u.mu is held.
func (u *usage) prune(now time.Time) {
	for id, t := range u.last {
		if now.Sub(t) >= keys.TouchInterval {
			delete(u.last, id)
		}
	}
	if len(u.last) >= maxUsageEntries {
		clear(u.last)
	}
}

// wait returns once every write started before it was called has
// finished, or ctx has ended. Uses recorded while it waits may find no room
// and be forgotten.
func (u *usage) wait(ctx context.Context) {
	n := 0
	defer func() {
		for range n {
			<-u.slots
		}
	}()
	for range cap(u.slots) {
		select {
		case u.slots <- struct{}{}:
			n++
		case <-ctx.Done():
			return
		}
	}
}
