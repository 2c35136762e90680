package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func BenchmarkAllow(b *testing.B) {
	l := mustNew(b, Config{})
	for i := range 10_000 {
		l.Fail("W7p6DXeF6zzy"+strconv.Itoa(i), t0)
	}
	for _, c := range []struct{ name, key string }{
		{"miss", "W7p6DXeF6zzybyBN"}, // the common case: a key that never failed
		{"hit", "W7p6DXeF6zzy42"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Allow(c.key, t0)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow("192.0.2.1:1234", t0)
			}
		})
	})
}

func BenchmarkFail(b *testing.B) {
	b.Run("existing", func(b *testing.B) {
		l := mustNew(b, Config{})
		l.Fail("W7p6DXeF6zzybyBN", t0)
		b.ReportAllocs()
		now := t0
		for b.Loop() {
			now = now.Add(time.Second)
			l.Fail("W7p6DXeF6zzybyBN", now)
		}
	})
	b.Run("fresh keys, full", func(b *testing.B) {
		// An attacker spraying distinct keys at a full limiter: every Fail
		// inserts and evicts.
		l := mustNew(b, Config{MaxEntries: 4096})
		keys := make([]string, 1<<16)
		for i := range keys {
			keys[i] = "spray" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Fail(keys[i%len(keys)], t0)
			i++
		}
	})
}
