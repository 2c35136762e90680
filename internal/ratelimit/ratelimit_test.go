package ratelimit

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the fake clock's start; tests add to it.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var testSeed = maphash.MakeSeed()

// k is the key of a name, as a caller would derive it.
func k(name string) Key { return Key(maphash.String(testSeed, name)) }

func mustNew(t testing.TB, c Config) *Limiter {
	t.Helper()
	l, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// failN makes n attempts of name at now, each taken and settled as failed.
func failN(t *testing.T, l *Limiter, name string, now time.Time, n int) {
	t.Helper()
	for i := range n {
		if st, ra, _ := l.Take(k(name), now); st != Taken {
			t.Fatalf("attempt %d of %q: status %d (retry after %v)", i+1, name, st, ra)
		}
		l.Fail(k(name), now)
	}
}

// expect makes an attempt of name at now, settled as a success if taken,
// and checks whether it was taken and the wait announced if not.
func expect(t *testing.T, l *Limiter, name string, now time.Time, wantOK bool, wantRetry time.Duration) {
	t.Helper()
	st, ra, _ := l.Take(k(name), now)
	if st == Taken {
		l.Refund(k(name))
	}
	if st == Busy || (st == Taken) != wantOK || ra != wantRetry {
		t.Errorf("Take(%q, t0+%v) = %d, %v; want taken %v, %v", name, now.Sub(t0), st, ra, wantOK, wantRetry)
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
		{"largest", Config{Burst: MaxBurst, Refill: MaxRefill}, MaxBurst, MaxRefill},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := mustNew(t, c.cfg)
			failN(t, l, "k", t0, c.burst)
			expect(t, l, "k", t0, false, c.refill)
			expect(t, l, "k", t0.Add(c.refill/2), false, c.refill-c.refill/2)
			expect(t, l, "k", t0.Add(c.refill-1), false, 1)
			expect(t, l, "k", t0.Add(c.refill), true, 0)
			// One more failure and the key waits a whole Refill again.
			failN(t, l, "k", t0.Add(c.refill), 1)
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
		if st, _, _ := l.Take(k("k"), now); st == Taken {
			allowed++
			l.Fail(k("k"), now)
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
		st, ra, _ := l.Take(k("cb"), now)
		if st != Taken {
			refused++
			if st != Refused || ra <= 0 || ra > DefaultRefill {
				t.Errorf("attempt %d: status %d, Retry-After %v out of (0, Refill]", i, st, ra)
			}
			last = ra
			continue
		}
		allowed++
		l.Fail(k("cb"), now) // every attempt has a wrong secret
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

// TOK-29, issue 11 item 3: attempts taken at once count at once. Of 20
// parallel attempts only Burst are taken; the others are told to wait,
// and are refused once the taken ones failed, or taken once they
// succeeded, just as if all had come one after the other.
func TestTOK29_ParallelAttemptsCountAsSequential(t *testing.T) {
	for _, failed := range []bool{true, false} {
		t.Run(fmt.Sprint("failed=", failed), func(t *testing.T) {
			l := mustNew(t, Config{Burst: 10, Refill: time.Second})
			var wakes []<-chan struct{}
			taken := 0
			for range 20 {
				switch st, _, wake := l.Take(k("k"), t0); st {
				case Taken:
					taken++
				case Busy:
					wakes = append(wakes, wake)
				default:
					t.Fatalf("status %d before any attempt settled", st)
				}
			}
			if taken != 10 || len(wakes) != 10 {
				t.Fatalf("%d taken, %d told to wait; want 10, 10", taken, len(wakes))
			}
			for _, w := range wakes {
				select {
				case <-w:
					t.Fatal("woken before any attempt settled")
				default:
				}
			}
			settle := func() {
				if failed {
					l.Fail(k("k"), t0)
				} else {
					l.Refund(k("k"))
				}
			}
			settle()
			for _, w := range wakes {
				select {
				case <-w:
				default:
					t.Fatal("not woken when an attempt settled")
				}
			}
			for range 9 {
				settle()
			}
			if failed {
				expect(t, l, "k", t0, false, time.Second)
			} else {
				failN(t, l, "k", t0, 10)
				expect(t, l, "k", t0, false, time.Second)
			}
		})
	}
}

// Pending attempts make room only for as many more as the failures
// recorded leave.
func TestPendingBesideFailures(t *testing.T) {
	l := mustNew(t, Config{Burst: 5, Refill: time.Second})
	failN(t, l, "k", t0, 3)
	for i := range 2 {
		if st, _, _ := l.Take(k("k"), t0); st != Taken {
			t.Fatalf("attempt %d of the 2 that fit: status %d", i, st)
		}
	}
	if st, _, _ := l.Take(k("k"), t0); st != Busy {
		t.Fatalf("a 6th attempt with 2 pending: status %d, want Busy", st)
	}
	// Once a second has passed one failure is forgiven: room for one more.
	if st, _, _ := l.Take(k("k"), t0.Add(time.Second)); st != Taken {
		t.Fatalf("after a refill: status %d, want Taken", st)
	}
	if st, _, _ := l.Take(k("k"), t0.Add(time.Second)); st != Busy {
		t.Fatalf("status %d, want Busy", st)
	}
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
		t.Errorf("successes left %d keys", l.Len())
	}
	// A success beside recorded failures leaves them as they were.
	l = mustNew(t, Config{Burst: 3, Refill: time.Second})
	failN(t, l, "k", t0, 2)
	expect(t, l, "k", t0, true, 0)
	failN(t, l, "k", t0, 1)
	expect(t, l, "k", t0, false, time.Second)
}

// The success path allocates nothing once the map has grown.
func TestSuccessAllocatesNothing(t *testing.T) {
	l := mustNew(t, Config{})
	now := t0
	key := k("W7p6DXeF6zzybyBN")
	if n := testing.AllocsPerRun(1000, func() {
		l.Take(key, now)
		l.Refund(key)
	}); n != 0 {
		t.Errorf("%v allocations per success", n)
	}
}

func TestOtherKeysUnaffected(t *testing.T) {
	l := mustNew(t, Config{Burst: 3, Refill: time.Minute})
	failN(t, l, "key:abc", t0, 3)
	failN(t, l, "addr:192.0.2.1", t0, 3)
	expect(t, l, "key:abc", t0, false, time.Minute)
	expect(t, l, "addr:192.0.2.1", t0, false, time.Minute)
	for _, name := range []string{"key:abd", "key:ab", "Key:abc", "addr:192.0.2.2", ""} {
		expect(t, l, name, t0, true, 0)
	}
}

func TestDebtCapped(t *testing.T) {
	// More failures than were taken (a key evicted and failed afresh, many
	// times) cost the key one Refill, not one per failure.
	l := mustNew(t, Config{Burst: 10, Refill: 6 * time.Second})
	for range 1000 {
		l.Fail(k("k"), t0)
	}
	expect(t, l, "k", t0, false, 6*time.Second)
	expect(t, l, "k", t0.Add(6*time.Second), true, 0)
}

func TestClockGoingBack(t *testing.T) {
	l := mustNew(t, Config{Burst: 2, Refill: time.Second})
	failN(t, l, "k", t0, 2)
	// A clock that jumps back an hour does not lock the key for an hour.
	expect(t, l, "k", t0.Add(-time.Hour), false, time.Second)
	l.Fail(k("k"), t0.Add(-time.Hour))
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
				key := k("k" + strconv.Itoa(i))
				l.Take(key, now)
				l.Fail(key, now)
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
	for i := range 6 {
		failN(t, l, "once"+strconv.Itoa(i), t0, 1)
	}
	// One attempt is under way: its key stays though it owes nothing yet.
	if st, _, _ := l.Take(k("pending"), t0); st != Taken {
		t.Fatal("not taken")
	}
	// At 7 s the six single failures are forgiven; the attacked key
	// still owes 53 s. A new key makes the shard drop the forgiven ones.
	failN(t, l, "new", t0.Add(7*time.Second), 1)
	all := append([]string{"attacked", "new", "pending"}, names("once", 6)...)
	if got := present(l, all...); fmt.Sprint(got) != "[attacked new pending]" {
		t.Errorf("keys after pruning: %v, want [attacked new pending]", got)
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
		l.Fail(k("spray"+strconv.Itoa(i)), t0.Add(time.Second))
		if len(present(l, "attacked")) == 0 {
			t.Fatalf("the attacked key was evicted by spray key %d", i)
		}
		if l.Len() > sample {
			t.Fatalf("Len() = %d > %d", l.Len(), sample)
		}
	}
	expect(t, l, "attacked", t0.Add(time.Second), false, 5*time.Second)
}

// names returns prefix0, prefix1...
func names(prefix string, n int) []string {
	var ns []string
	for i := range n {
		ns = append(ns, prefix+strconv.Itoa(i))
	}
	return ns
}

// present returns which of the names l holds a key for, sorted.
func present(l *Limiter, names ...string) []string {
	var got []string
	for _, name := range names {
		s := l.shard(k(name))
		s.mu.Lock()
		if _, ok := s.m[k(name)]; ok {
			got = append(got, name)
		}
		s.mu.Unlock()
	}
	slices.Sort(got)
	return got
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

// Concurrent attempts on one key, waiting when told to, are taken exactly
// Burst times when all fail; fresh keys are never refused.
func TestConcurrentUse(t *testing.T) {
	l := mustNew(t, Config{Burst: 10, Refill: time.Minute, MaxEntries: 256})
	var taken atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				now := t0.Add(time.Duration(i) * time.Microsecond)
			shared:
				for {
					switch st, _, wake := l.Take(k("shared"), now); st {
					case Taken:
						taken.Add(1)
						l.Fail(k("shared"), now)
						break shared
					case Busy:
						<-wake
					default:
						break shared
					}
				}
				key := k("g" + strconv.Itoa(g) + "-" + strconv.Itoa(i))
				if st, _, _ := l.Take(key, now); st != Taken {
					t.Errorf("fresh key refused: status %d", st)
					return
				}
				if i%2 == 0 {
					l.Fail(key, now)
				} else {
					l.Refund(key)
				}
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
	if n := taken.Load(); n != 10 {
		t.Errorf("the shared key was taken %d times in 0.5 ms, want 10", n)
	}
}

// Block refuses the key until the given time, and then lets the bucket
// refill one failure per Refill; a shorter block leaves a longer one in
// place, and other keys are not touched.
func TestBlock(t *testing.T) {
	l := mustNew(t, Config{Burst: 10, Refill: 6 * time.Second})
	until := t0.Add(45 * time.Second)
	l.Block(k("a"), t0, until)
	l.Block(k("a"), t0, t0.Add(time.Second)) // shorter: ignored
	for _, at := range []time.Duration{0, 44 * time.Second, 45*time.Second - time.Nanosecond} {
		if st, _, _ := l.Take(k("a"), t0.Add(at)); st != Refused {
			t.Errorf("Take at +%v during the block: status %d, want Refused", at, st)
		}
	}
	if st, _, _ := l.Take(k("b"), t0); st != Taken {
		t.Errorf("another key: status %d, want Taken", st)
	}
	l.Refund(k("b"))
	// At the end of the block one failure fits, then one per Refill.
	failN(t, l, "a", until, 1)
	if st, _, _ := l.Take(k("a"), until); st != Refused {
		t.Errorf("second attempt at the end of the block: status %d, want Refused", st)
	}
	failN(t, l, "a", until.Add(6*time.Second), 1)
}
