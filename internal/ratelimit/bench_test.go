package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkTake measures an attempt on a key: taken and settled as a
// success (the token endpoint's path for every good request), on a key
// that never failed and on one that has, and refused.
func BenchmarkTake(b *testing.B) {
	l := mustNew(b, Config{})
	for i := range 10_000 {
		l.Fail(k("W7p6DXeF6zzy"+strconv.Itoa(i)), t0)
	}
	for _, c := range []struct {
		name string
		key  Key
	}{
		{"success/fresh", k("W7p6DXeF6zzybyBN")}, // the common case: a key that never failed
		{"success/failed before", k("W7p6DXeF6zzy42")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Take(c.key, t0)
				l.Refund(c.key)
			}
		})
	}
	b.Run("refused", func(b *testing.B) {
		key := k("locked")
		for range DefaultBurst {
			l.Take(key, t0)
			l.Fail(key, t0)
		}
		b.ReportAllocs()
		for b.Loop() {
			if st, _, _ := l.Take(key, t0); st != Refused {
				b.Fatal(st)
			}
		}
	})
	b.Run("success/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			key := k("192.0.2.1")
			for pb.Next() {
				if st, _, wake := l.Take(key, t0); st == Taken {
					l.Refund(key)
				} else if st == Busy {
					<-wake
				}
			}
		})
	})
}

func BenchmarkFail(b *testing.B) {
	b.Run("existing", func(b *testing.B) {
		l := mustNew(b, Config{})
		key := k("W7p6DXeF6zzybyBN")
		b.ReportAllocs()
		now := t0
		for b.Loop() {
			now = now.Add(time.Minute)
			l.Take(key, now)
			l.Fail(key, now)
		}
	})
	b.Run("fresh keys, full", func(b *testing.B) {
		// An attacker spraying distinct keys at a full limiter: every
		// failure inserts and evicts.
		l := mustNew(b, Config{MaxEntries: 4096})
		keys := make([]Key, 1<<16)
		for i := range keys {
			keys[i] = k("spray" + strconv.Itoa(i))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			key := keys[i%len(keys)]
			l.Take(key, t0)
			l.Fail(key, t0)
			i++
		}
	})
}
