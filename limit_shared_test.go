package keyturn

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

// recordingFailures is a storage.FailureStore that keeps the names it was
// given, or fails every call.
type recordingFailures struct {
	storage.FailureStore
	mu    sync.Mutex
	names []string
	err   error
}

func (f *recordingFailures) AddFailure(ctx context.Context, key string, window, expiresAt time.Time) (int64, error) {
	f.mu.Lock()
	f.names = append(f.names, key)
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return f.FailureStore.AddFailure(ctx, key, window, expiresAt)
}

var sharedKey = []byte("0123456789abcdef-shared-failures")

// Processes sharing a failure store allow a client at one address about
// one budget between them, not one each: three limiters (three processes)
// taking turns allow at most Burst plus one failure per other process,
// where three independent ones allow three times Burst. The client at
// another address is not held back.
func TestSharedLimitsAcrossProcesses(t *testing.T) {
	key := LimitKey{LimitClient, "ds_live_victim"}
	attack := &http.Request{RemoteAddr: "198.51.100.7:4000"}
	for _, tc := range []struct {
		name   string
		shared bool
		min    int
		max    int
	}{
		{"shared", true, DefaultClientAddressBurst, DefaultClientAddressBurst + 2},
		{"independent", false, 3 * DefaultClientAddressBurst, 3 * DefaultClientAddressBurst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memory.New()
			clock := newClock()
			var procs []*RateLimiter
			for range 3 {
				c := RateLimiterConfig{Now: clock.Now}
				if tc.shared {
					c.Failures, c.FailureKey = st, sharedKey
				}
				procs = append(procs, newRateLimiter(t, c))
			}
			// Round robin, as a load balancer would spread the attempts,
			// until every process refuses.
			failures := 0
			for refused := 0; refused < len(procs); {
				refused = 0
				for _, l := range procs {
					if l.Reserve(attack, key) > 0 {
						refused++
						continue
					}
					l.Settle(attack, key, true)
					failures++
				}
			}
			if failures < tc.min || failures > tc.max {
				t.Errorf("%d failures before every process refused, want %d to %d", failures, tc.min, tc.max)
			}
			for i, l := range procs {
				if !allowed(l, "203.0.113.9:1", key) {
					t.Errorf("process %d refuses the client at another address", i)
				}
			}
			// The window ends: the budget is back, one failure per refill.
			clock.Add(time.Minute + DefaultClientAddressRefill)
			for i, l := range procs {
				if !allowed(l, attack.RemoteAddr, key) {
					t.Errorf("process %d still refuses after the window", i)
				}
			}
		})
	}
}

// Parallel failures across processes are counted atomically in the store:
// from 24 attempts at once over three processes, the store counts 24, and
// afterwards every process refuses.
func TestSharedLimitsParallel(t *testing.T) {
	st := memory.New()
	clock := newClock()
	var procs []*RateLimiter
	for range 3 {
		procs = append(procs, newRateLimiter(t, RateLimiterConfig{Now: clock.Now, Failures: st, FailureKey: sharedKey,
			ClientAddressBurst: 100}))
	}
	key := LimitKey{LimitClient, "k"}
	r := &http.Request{RemoteAddr: "198.51.100.7:4000"}
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			l := procs[i%3]
			if l.Reserve(r, key) == 0 {
				l.Settle(r, key, true)
			}
		})
	}
	wg.Wait()
	name := procs[0].sharedName('p', key, "198.51.100.7")
	w := time.Duration(100) * DefaultClientAddressRefill
	start := clock.Now().Truncate(w)
	n, err := st.AddFailure(t.Context(), name, start, start.Add(w))
	if err != nil || n != 25 {
		t.Fatalf("the store counted %d failures (then this one: %v), want 24 and this one", n-1, err)
	}
}

// The store holds neither client ids, usernames nor addresses: only keyed
// hashes, the same in every process with the same key and different under
// another key. A store that fails leaves the local limits working.
func TestSharedLimitsNames(t *testing.T) {
	rec := &recordingFailures{FailureStore: memory.New()}
	l := newRateLimiter(t, RateLimiterConfig{Failures: rec, FailureKey: sharedKey})
	r := &http.Request{RemoteAddr: "198.51.100.7:4000"}
	for _, key := range []LimitKey{{LimitClient, "ds_live_abc"}, {LimitUser, "alice"}} {
		if l.Reserve(r, key) > 0 {
			t.Fatal("refused")
		}
		l.Settle(r, key, true)
	}
	if len(rec.names) != 6 {
		t.Fatalf("%d counts written for two failures, want 3 each: %q", len(rec.names), rec.names)
	}
	seen := map[string]bool{}
	for _, n := range rec.names {
		if strings.Contains(n, "abc") || strings.Contains(n, "alice") || strings.Contains(n, "198.51") || len(n) != 23 {
			t.Errorf("count name %q shows what it counts, or is not a tag and 22 characters", n)
		}
		seen[n] = true
	}
	if len(seen) != 5 { // the address budget is shared by both failures
		t.Errorf("%d distinct names, want 5: %q", len(seen), rec.names)
	}
	other := newRateLimiter(t, RateLimiterConfig{Failures: rec, FailureKey: sharedKey})
	again := newRateLimiter(t, RateLimiterConfig{Failures: rec, FailureKey: []byte("another key of sixteen bytes+")})
	k := LimitKey{LimitClient, "ds_live_abc"}
	if a, b := l.sharedName('p', k, "x"), other.sharedName('p', k, "x"); a != b {
		t.Errorf("two processes with one key name a count %q and %q", a, b)
	}
	if a, b := l.sharedName('p', k, "x"), again.sharedName('p', k, "x"); a == b {
		t.Error("another key gives the same name")
	}
	if _, err := NewRateLimiter(RateLimiterConfig{Failures: rec, FailureKey: []byte("short")}); err == nil {
		t.Error("a short FailureKey was accepted")
	}
	if _, err := NewRateLimiter(RateLimiterConfig{Failures: rec, FailureKey: sharedKey, FailureTimeout: -time.Second}); err == nil {
		t.Error("a negative FailureTimeout was accepted")
	}

	rec.err = errors.New("store down")
	down := newRateLimiter(t, RateLimiterConfig{Failures: rec, FailureKey: sharedKey})
	if n := failUntilRefused(t, down, "192.0.2.1:1", k); n != DefaultClientAddressBurst {
		t.Errorf("with the store down, refused after %d failures, want %d", n, DefaultClientAddressBurst)
	}
}

// New counts failures in its Store: two Servers on one database, each with
// its own connections (two processes), refuse a client at one address
// after one budget between them, and answer 429; the right secret from
// another address still gets a token from both. On SQLite, and on
// PostgreSQL when KEYTURN_TEST_POSTGRES is set.
func TestNewSharesLimits(t *testing.T) {
	for _, tc := range sqlDatabases {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.fresh(t)
			a, b := db.store(t), db.store(t)
			servers := []*server{
				newServer(t, func(c *Config) { c.Store = a }),
				newServer(t, func(c *Config) { c.Store = b }),
			}
			k := servers[0].rootKey(t, "read:users")
			attempt := func(s *server, addr, secret string) int {
				form := url.Values{"grant_type": {"client_credentials"}}
				r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.RemoteAddr = addr
				r.SetBasicAuth(k.ID(), secret)
				res := s.do(r)
				res.Body.Close()
				return res.StatusCode
			}
			failures := 0
			for i := 0; i < 4*DefaultClientAddressBurst; i++ {
				status := attempt(servers[i%2], "198.51.100.7:4000", "wrong-secret")
				if status == http.StatusTooManyRequests {
					continue
				}
				if status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: status %d", i, status)
				}
				failures++
			}
			if failures > DefaultClientAddressBurst+1 {
				t.Errorf("%d wrong secrets checked across two servers, want at most %d", failures, DefaultClientAddressBurst+1)
			}
			for i, s := range servers {
				if got := attempt(s, "198.51.100.7:4000", k.ClientSecret()); got != http.StatusTooManyRequests {
					t.Errorf("server %d: the attacker's address with the right secret: %d, want 429", i, got)
				}
				if got := attempt(s, "203.0.113.9:1", k.ClientSecret()); got != http.StatusOK {
					t.Errorf("server %d: the right secret from another address: %d, want 200", i, got)
				}
			}
		})
	}
}
