// Package costtest measures the heap allocation of an operation, for tests
// and fuzz targets whose oracle is cost: what a request may make the server
// allocate, as a fixed allowance plus a constant per input byte.
//
// Two measures are offered. [Allocated] is precise: it reads
// runtime.MemStats, which flushes every P's cache, around each run and
// keeps the least of several runs, so that what other goroutines allocate
// meanwhile (they can only add) is unlikely to count. Reading MemStats
// stops the world for some 20 µs, too slow to do for every input a fuzzer
// tries. [Bound.Check] therefore first measures one run with
// runtime/metrics, which is cheap (under 1 µs) but lags by up to a
// partly used span per size class, and confirms with [Allocated] only a
// run that looks too costly: a verdict of failure is always a precise one.
//
// Only allocation by the process that runs the operation counts; the
// fuzzer's workers are separate processes, so they do not disturb it.
package costtest

import (
	"fmt"
	"runtime"
	"runtime/metrics"
)

// Bound is an allowance of heap allocation: Fixed bytes and Fixed allocs,
// plus PerByte bytes for each byte of input.
type Bound struct {
	PerByte uint64 // bytes per input byte
	Fixed   uint64 // bytes whatever the input
	// Allocs, if not zero, caps the number of allocations.
	Allocs uint64
}

// Bytes is the allowance in bytes for an input of n bytes.
func (b Bound) Bytes(n int) uint64 { return b.Fixed + b.PerByte*uint64(n) }

// Cost is what one run allocated.
type Cost struct {
	Bytes, Allocs uint64
}

func (c Cost) String() string {
	return fmt.Sprintf("%d B in %d allocs", c.Bytes, c.Allocs)
}

// Allocated runs prepare and then the operation it returns, runs times,
// and returns the least allocation of one operation (each figure, bytes
// and count, a minimum of its own), measured with runtime.ReadMemStats.
// What prepare allocates is not counted.
func Allocated(runs int, prepare func() func()) Cost {
	var before, after runtime.MemStats
	least := Cost{Bytes: ^uint64(0), Allocs: ^uint64(0)}
	for range max(runs, 1) {
		op := prepare()
		runtime.ReadMemStats(&before)
		op()
		runtime.ReadMemStats(&after)
		least.Bytes = min(least.Bytes, after.TotalAlloc-before.TotalAlloc)
		least.Allocs = min(least.Allocs, after.Mallocs-before.Mallocs)
	}
	return least
}

// confirmRuns is how many precise runs confirm a failure.
const confirmRuns = 3

// Check runs the operation that prepare returns once, measured cheaply,
// and reports whether it allocated within b for an input of n bytes. If
// it seems not to have, the operation is run again confirmRuns times
// (prepare must make each run alike) and measured precisely: the returned
// Cost is then that precise figure, and ok the precise verdict. The
// operation's effects are those of its last run.
func (b Bound) Check(n int, prepare func() func()) (c Cost, ok bool) {
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	op := prepare()
	metrics.Read(samples)
	b0, a0 := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	op()
	metrics.Read(samples)
	c = Cost{Bytes: samples[0].Value.Uint64() - b0, Allocs: samples[1].Value.Uint64() - a0}
	if b.within(n, c) {
		return c, true
	}
	c = Allocated(confirmRuns, prepare)
	return c, b.within(n, c)
}

func (b Bound) within(n int, c Cost) bool {
	return c.Bytes <= b.Bytes(n) && (b.Allocs == 0 || c.Allocs <= b.Allocs)
}
