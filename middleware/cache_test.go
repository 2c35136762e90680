package middleware

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/token"
)

type fakeClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *fakeClock { c := &fakeClock{}; c.ns.Store(t.UnixNano()); return c }
func (c *fakeClock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Add(d time.Duration) {
	c.ns.Add(int64(d))
}

// revSet is a hand-written Revocations: revoked jtis and clients.
type revSet struct {
	mu      sync.Mutex
	jtis    map[string]bool
	clients map[string]bool
}

func (r *revSet) Revoked(c *token.Claims) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jtis[c.ID] || r.clients[c.ClientID]
}

// revokingVerifier refuses what revSet revokes, as token.Verifier does.
type revokingVerifier struct {
	*fakeVerifier
	revs *revSet
}

func (v revokingVerifier) Verify(ctx context.Context, tok string) (*token.Claims, error) {
	c, err := v.fakeVerifier.Verify(ctx, tok)
	if err == nil && v.revs.Revoked(c) {
		return nil, token.ErrRevoked
	}
	return c, err
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestCacheHitsSkipVerification(t *testing.T) {
	f := newFake()
	f.add("a", "read", t0.Add(time.Hour))
	clk := newClock(t0)
	c, err := NewCache(f, CacheConfig{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.Verify(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("verifier called %d times for 5 presentations, want 1", n)
	}
	// Failures are not cached.
	for i := 0; i < 3; i++ {
		if _, err := c.Verify(context.Background(), "bad"); !errors.Is(err, token.ErrInvalidSignature) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := f.calls.Load(); n != 4 {
		t.Errorf("verifier called %d times, want 4 (failures re-verified)", n)
	}
}

func TestCacheNeverServesExpired(t *testing.T) {
	f := newFake()
	exp := t0.Add(10 * time.Minute)
	f.add("a", "read", exp)
	clk := newClock(t0)
	c, _ := NewCache(f, CacheConfig{Now: clk.Now})
	c.Verify(context.Background(), "a")
	// The wrapped verifier now refuses it (as a real one would once expired).
	f.errs["a"] = token.ErrExpired
	clk.Add(10*time.Minute - time.Nanosecond)
	if _, err := c.Verify(context.Background(), "a"); err != nil {
		t.Fatalf("just before exp: %v", err)
	}
	clk.Add(time.Nanosecond) // now == exp
	if _, err := c.Verify(context.Background(), "a"); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("at exp: err = %v, want ErrExpired from the verifier", err)
	}
	if c.Len() != 0 {
		t.Errorf("expired entry still cached")
	}
	// A token already expired when verified (accepted within leeway) is not cached.
	f.add("late", "read", t0.Add(time.Minute))
	f.calls.Store(0)
	c.Verify(context.Background(), "late")
	c.Verify(context.Background(), "late")
	if f.calls.Load() != 2 {
		t.Errorf("a token past exp was served from the cache")
	}
}

func TestCacheDropsRevoked(t *testing.T) {
	f := newFake()
	f.add("a", "read", t0.Add(time.Hour))
	f.add("b", "read", t0.Add(time.Hour))
	f.tokens["b"].ClientID = "k2"
	revs := &revSet{jtis: map[string]bool{}, clients: map[string]bool{}}
	c, _ := NewCache(revokingVerifier{f, revs}, CacheConfig{Now: newClock(t0).Now, Revocations: revs})
	ctx := context.Background()
	for _, tok := range []string{"a", "b"} {
		if _, err := c.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	revs.mu.Lock()
	revs.jtis["jti-a"] = true
	revs.clients["k2"] = true
	revs.mu.Unlock()
	for _, tok := range []string{"a", "b"} {
		if _, err := c.Verify(ctx, tok); !errors.Is(err, token.ErrRevoked) {
			t.Errorf("%s after revocation: err = %v, want ErrRevoked", tok, err)
		}
	}
	if c.Len() != 0 {
		t.Errorf("revoked entries still cached: %d", c.Len())
	}
}

func TestCacheBound(t *testing.T) {
	f := newFake()
	const size = 1000
	c, _ := NewCache(f, CacheConfig{Size: size, Now: newClock(t0).Now})
	ctx := context.Background()
	for i := 0; i < 100_000; i++ {
		tok := "t" + strconv.Itoa(i)
		f.add(tok, "read", t0.Add(time.Hour))
		if _, err := c.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 && c.Len() > size {
			t.Fatalf("after %d tokens the cache holds %d > %d", i+1, c.Len(), size)
		}
	}
	if n := c.Len(); n > size || n < size*9/10 {
		t.Errorf("cache holds %d entries, want at most %d and close to it", n, size)
	}
	for i := range c.shards {
		sh := &c.shards[i]
		if len(sh.ring) != len(sh.m) {
			t.Fatalf("shard %d: ring %d, map %d", i, len(sh.ring), len(sh.m))
		}
		for j, e := range sh.ring {
			if e.slot != j || sh.m[e.key] != e {
				t.Fatalf("shard %d: ring and map disagree at %d", i, j)
			}
		}
	}
}

func TestCacheKeepsReferencedEntries(t *testing.T) {
	f := newFake()
	c, _ := NewCache(f, CacheConfig{Size: cacheShards * 4, Now: newClock(t0).Now})
	ctx := context.Background()
	f.add("hot", "read", t0.Add(time.Hour))
	c.Verify(ctx, "hot")
	for i := 0; i < 2000; i++ {
		tok := "cold" + strconv.Itoa(i)
		f.add(tok, "read", t0.Add(time.Hour))
		c.Verify(ctx, tok)
		c.Verify(ctx, "hot") // keeps its reference bit set
	}
	before := f.calls.Load()
	c.Verify(ctx, "hot")
	if f.calls.Load() != before {
		t.Error("a token used between every insertion was evicted")
	}
}

func TestCacheConcurrent(t *testing.T) {
	f := newFake()
	for i := 0; i < 200; i++ {
		f.add("t"+strconv.Itoa(i), "read", t0.Add(time.Hour))
	}
	c, _ := NewCache(f, CacheConfig{Size: 64, Now: newClock(t0).Now})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				tok := "t" + strconv.Itoa((i*7+g)%200)
				if cl, err := c.Verify(context.Background(), tok); err != nil || cl.ID != "jti-"+tok {
					t.Errorf("Verify(%s) = %v, %v", tok, cl, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Errorf("cache holds %d > 64", c.Len())
	}
}

func TestNewCacheValidates(t *testing.T) {
	if _, err := NewCache(nil, CacheConfig{}); err == nil {
		t.Error("nil verifier accepted")
	}
	if _, err := NewCache(newFake(), CacheConfig{Size: -1}); err == nil {
		t.Error("negative size accepted")
	}
}

// TestMiddlewareFillsItsCache checks the middleware's own path through a
// Cache: the first request verifies and caches, the next ones hit.
func TestMiddlewareFillsItsCache(t *testing.T) {
	f := newFake()
	f.add("tok", "read", t0.Add(time.Hour))
	c, _ := NewCache(f, CacheConfig{Now: newClock(t0).Now})
	m, _ := New(Config{Verifier: c})
	h := m.Require("read")(okHandler)
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer tok")
		if rec := do(h, req); rec.Code != 200 {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
	}
	if n := f.calls.Load(); n != 1 || c.Len() != 1 {
		t.Errorf("verifier called %d times, cache holds %d; want 1 and 1", n, c.Len())
	}
}
