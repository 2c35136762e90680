package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// t0 is the fake clock's start; tests add to it.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustNew(t testing.TB, c Config) *Limiter {
	t.Helper()
	l, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// failN records n failures of key at now, each after an allowed Allow.
func failN(t *testing.T, l *Limiter, key string, now time.Time, n int) {
	t.Helper()
	for i := range n {
		if ok, ra := l.Allow(key, now); !ok {
			t.Fatalf("attempt %d of %q refused (retry after %v)", i+1, key, ra)
		}
		l.Fail(key, now)
	}
}

func expect(t *testing.T, l *Limiter, key string, now time.Time, wantOK bool, wantRetry time.Duration) {
	t.Helper()
	ok, ra := l.Allow(key, now)
	if ok != wantOK || ra != wantRetry {
		t.Errorf("Allow(%q, t0+%v) = %v, %v; want %v, %v", key, now.Sub(t0), ok, ra, wantOK, wantRetry)
	}
}

func TestBurstThenRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		cfg    Config
		burst  int
		refill time.Duration
	}{
		{"defaults", Config{}, DefaultBurst, DefaultRefill},
		{"burst 1", Config{Burst: 1, Refill: time.Second}, 1, time.Second},
		{"burst 3, 250ms", Config{Burst: 3, Refill: 250 * time.Millisecond}, 3, 250 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := mustNew(t, c.cfg)
			failN(t, l, "k", t0, c.burst)
			expect(t, l, "k", t0, false, c.refill)
			expect(t, l, "k", t0.Add(c.refill/2), false, c.refill-c.refill/2)
			expect(t, l, "k", t0.Add(c.refill-1), false, 1)
			expect(t, l, "k", t0.Add(c.refill), true, 0)
			// One more failure and the key waits a whole Refill again.
			l.Fail("k", t0.Add(c.refill))
			expect(t, l, "k", t0.Add(c.refill), false, c.refill)
		})
	}
}

func TestFailuresSpreadOverTime(t *testing.T) {
	// Failures older than Refill are forgiven one by one: failing every
	// Refill never runs out.
	l := mustNew(t, Config{Burst: 2, Refill: time.Second})
	for i := range 100 {
		failN(t, l, "k", t0.Add(time.Duration(i)*time.Second), 1)
	}
	// Twice as fast runs out after the burst.
	l = mustNew(t, Config{Burst: 2, Refill: time.Second})
	allowed := 0
	for i := range 10 {
		now := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		if ok, _ := l.Allow("k", now); ok {
			allowed++
			l.Fail("k", now)
		}
	}
	// t=0, 0 (burst 2)... at 0.5 s debt is 1.5 s: refused until 1 s; then
	// one failure per second: t=1, 2, 3, 4 → 2 + 4.
	if allowed != 6 {
		t.Errorf("%d of 10 attempts at 2/s allowed, want 6", allowed)
	}
}

func TestTOK29_FiftyWrongInTenSeconds(t *testing.T) {
	l := mustNew(t, Config{}) // 10 failures, then one per 6 s
	allowed, refused := 0, 0
	var last time.Duration
	for i := range 50 {
		now := t0.Add(time.Duration(i) * 200 * time.Millisecond)
		ok, ra := l.Allow("cb", now)
		if !ok {
			refused++
			if ra <= 0 || ra > DefaultRefill {
				t.Errorf("attempt %d: Retry-After %v out of (0, Refill]", i, ra)
			}
			last = ra
			continue
		}
		allowed++
		l.Fail("cb", now) // every attempt has a wrong secret
	}
	// Ten at once, then one more at 6 s.
	if allowed != 11 || refused != 39 {
		t.Errorf("allowed %d, refused %d; want 11, 39", allowed, refused)
	}
	// After the announced wait the correct credentials get through.
	end := t0.Add(49*200*time.Millisecond + last)
	expect(t, l, "cb", end.Add(-time.Nanosecond), false, time.Nanosecond)
	expect(t, l, "cb", end, true, 0)
	// Other clients were never affected.
	expect(t, l, "cx", t0.Add(5*time.Second), true, 0)
	expect(t, l, "192.0.2.1", t0.Add(5*time.Second), true, 0)
}

func TestCooldownRestoresFullBurst(t *testing.T) {
	l := mustNew(t, Config{Burst: 5, Refill: 2 * time.Second})
	failN(t, l, "k", t0, 5)
	expect(t, l, "k", t0, false, 2*time.Second)
	// After Burst×Refill, all five are available again.
	failN(t, l, "k", t0.Add(10*time.Second), 5)
	expect(t, l, "k", t0.Add(10*time.Second), false, 2*time.Second)
	// ...and the key is droppable: its bucket is full.
	if n := l.Prune(t0.Add(20 * time.Second)); n != 1 || l.Len() != 0 {
		t.Errorf("Prune dropped %d, Len %d; want 1, 0", n, l.Len())
	}
}

func TestSuccessConsumesNothing(t *testing.T) {
	l := mustNew(t, Config{Burst: 1})
	for i := range 1000 {
		expect(t, l, "k", t0.Add(time.Duration(i)), true, 0)
	}
	if l.Len() != 0 {
		t.Errorf("Allow stored %d keys", l.Len())
	}
}

func TestOtherKeysUnaffected(t *testing.T) {
	l := mustNew(t, Config{Burst: 3, Refill: time.Minute})
	failN(t, l, "key:abc", t0, 3)
	failN(t, l, "addr:192.0.2.1", t0, 3)
	expect(t, l, "key:abc", t0, false, time.Minute)
	expect(t, l, "addr:192.0.2.1", t0, false, time.Minute)
	for _, k := range []string{"key:abd", "key:ab", "Key:abc", "addr:192.0.2.2", ""} {
		expect(t, l, k, t0, true, 0)
	}
}

func TestFloodCostsOneRefill(t *testing.T) {
	// Concurrent requests can all pass Allow and then fail; the debt is
	// capped so the key waits one Refill, not one per failure.
	l := mustNew(t, Config{Burst: 10, Refill: 6 * time.Second})
	for range 1000 {
		l.Fail("k", t0)
	}
	expect(t, l, "k", t0, false, 6*time.Second)
	expect(t, l, "k", t0.Add(6*time.Second), true, 0)
}

func TestClockGoingBack(t *testing.T) {
	l := mustNew(t, Config{Burst: 2, Refill: time.Second})
	failN(t, l, "k", t0, 2)
	// A clock that jumps back an hour does not lock the key for an hour.
	expect(t, l, "k", t0.Add(-time.Hour), false, time.Second)
	l.Fail("k", t0.Add(-time.Hour))
	expect(t, l, "k", t0.Add(-time.Hour), false, time.Second)
	expect(t, l, "k", t0.Add(-time.Hour+time.Second), true, 0)
}

func TestMemoryBound(t *testing.T) {
	for _, c := range []struct {
		name string
		max  int
		step time.Duration // clock advance per key
	}{
		{"burst of fresh keys", 1024, 0},
		{"keys over time", 1024, time.Millisecond},
		{"tiny", 5, time.Microsecond},
		{"default", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := mustNew(t, Config{MaxEntries: c.max})
			limit := c.max
			if limit == 0 {
				limit = DefaultMaxEntries
			}
			now := t0
			for i := range 100_000 {
				l.Fail("k"+strconv.Itoa(i), now)
				now = now.Add(c.step)
				if i%997 == 0 && l.Len() > limit {
					t.Fatalf("after %d keys Len() = %d > %d", i+1, l.Len(), limit)
				}
			}
			if n := l.Len(); n > limit || n < limit/2 {
				t.Errorf("Len() = %d, want at most %d and not far below", n, limit)
			}
		})
	}
}

func TestFullShardDropsRefilledFirst(t *testing.T) {
	l := newLimiter(Config{Burst: 10, Refill: 6 * time.Second, MaxEntries: 8}, 1)
	failN(t, l, "attacked", t0, 10)
	for i := range 7 {
		failN(t, l, "once"+strconv.Itoa(i), t0, 1)
	}
	// At 7 s the seven single failures are forgiven; the attacked key
	// still owes 53 s. A new key makes the shard drop the forgiven ones.
	l.Fail("new", t0.Add(7*time.Second))
	if got := keys(l); fmt.Sprint(got) != "[attacked new]" {
		t.Errorf("keys after pruning: %v, want [attacked new]", got)
	}
}

func TestFullShardEvictsLeastIndebted(t *testing.T) {
	l := newLimiter(Config{Burst: 10, Refill: 6 * time.Second, MaxEntries: sample}, 1)
	failN(t, l, "attacked", t0, 10)
	for i := range sample - 1 {
		failN(t, l, "k"+strconv.Itoa(i), t0, 2+i%5)
	}
	// Nothing is forgiven yet, so one entry must go: never the attacked
	// key, which owes the most.
	for i := range 100 {
		l.Fail("spray"+strconv.Itoa(i), t0.Add(time.Second))
		if !contains(keys(l), "attacked") {
			t.Fatalf("the attacked key was evicted by spray key %d", i)
		}
		if l.Len() > sample {
			t.Fatalf("Len() = %d > %d", l.Len(), sample)
		}
	}
	expect(t, l, "attacked", t0.Add(time.Second), false, 5*time.Second)
}

func keys(l *Limiter) []string {
	var ks []string
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k := range s.paid {
			ks = append(ks, k)
		}
		s.mu.Unlock()
	}
	// Sort for stable comparison.
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func contains(ks []string, k string) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func TestLongKeys(t *testing.T) {
	l := mustNew(t, Config{Burst: 2, Refill: time.Second})
	a := strings.Repeat("a", 10_000)
	b := strings.Repeat("a", 9_999) + "b"
	failN(t, l, a, t0, 2)
	expect(t, l, a, t0, false, time.Second)
	expect(t, l, b, t0, true, 0)
	// The digest form of a long key is itself long, so no short key can
	// stand for it.
	forged := storedKey(a)
	if len(forged) <= maxKey {
		t.Fatalf("digest form has %d bytes", len(forged))
	}
	expect(t, l, forged, t0, true, 0)
	for _, k := range keys(l) {
		if len(k) > maxKey+1 {
			t.Errorf("a stored key has %d bytes", len(k))
		}
	}
	// At the boundary a key is stored as is.
	edge := strings.Repeat("e", maxKey)
	l.Fail(edge, t0)
	if !contains(keys(l), edge) {
		t.Error("a 64-byte key was not stored as is")
	}
}

func TestKeysAreCopied(t *testing.T) {
	l := mustNew(t, Config{Burst: 3, Refill: time.Second})
	buf := strings.Repeat("x", 1<<16) + "client-id"
	key := buf[len(buf)-9:] // a substring of a large request buffer
	l.Fail(key, t0)
	for _, k := range keys(l) {
		if unsafe.StringData(k) == unsafe.StringData(key) {
			t.Error("the limiter keeps the caller's string, pinning its buffer")
		}
	}
	// The copy is found by value.
	l.Fail(strings.Clone(key), t0)
	l.Fail("client-id", t0)
	expect(t, l, "client-id", t0, false, time.Second)
	if l.Len() != 1 {
		t.Errorf("Len() = %d, want 1", l.Len())
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{
		{Burst: -1},
		{Burst: MaxBurst + 1},
		{Refill: -time.Second},
		{Refill: MaxRefill + 1},
		{MaxEntries: -1},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			l, err := New(c)
			if err == nil || l != nil {
				t.Fatalf("New(%+v) = %v, %v; want an error", c, l, err)
			}
			if !strings.HasPrefix(err.Error(), "keyturn/ratelimit: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	for _, c := range []Config{{}, {Burst: MaxBurst, Refill: MaxRefill}, {MaxEntries: 1}, {MaxEntries: 15}} {
		t.Run(fmt.Sprintf("ok %+v", c), func(t *testing.T) {
			l := mustNew(t, c)
			failN(t, l, "k", t0, 1)
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	l := mustNew(t, Config{Burst: 10, Refill: time.Minute, MaxEntries: 256})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				if ok, _ := l.Allow("shared", now); ok {
					l.Fail("shared", now)
				}
				k := "g" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				if ok, _ := l.Allow(k, now); !ok {
					t.Errorf("fresh key %s refused", k)
					return
				}
				l.Fail(k, now)
				if i%100 == 0 {
					l.Prune(now)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 256 {
		t.Errorf("Len() = %d > 256", n)
	}
	if ok, _ := l.Allow("shared", t0.Add(2*time.Second)); ok {
		// 16000 attempts in 2 s at most 10 + a few forgiven.
		t.Error("the shared key is still allowed after thousands of failures")
	}
}
