package keyturn

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

func newRateLimiter(t testing.TB, c RateLimiterConfig) *RateLimiter {
	t.Helper()
	if c.Now == nil {
		c.Now = newClock().Now
	}
	l, err := NewRateLimiter(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// failUntilRefused fails key from addr until the limiter refuses it, and
// returns how many failures it took.
func failUntilRefused(t *testing.T, l Limiter, addr string, key LimitKey) int {
	t.Helper()
	r := &http.Request{RemoteAddr: addr}
	for n := 0; n < 10_000; n++ {
		if l.Reserve(r, key) > 0 {
			return n
		}
		l.Settle(r, key, true)
	}
	t.Fatalf("%v from %s never refused", key, addr)
	return 0
}

// allowed reports whether an attempt of key from addr may go ahead,
// settling it as a success.
func allowed(l Limiter, addr string, key LimitKey) bool {
	r := &http.Request{RemoteAddr: addr}
	if l.Reserve(r, key) > 0 {
		return false
	}
	l.Settle(r, key, false)
	return true
}

// Addresses that remoteHost gives the same text share budgets; others do
// not. IPv6 addresses count by /64.
func TestRateLimiterAddresses(t *testing.T) {
	alice := LimitKey{LimitUser, "alice"}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1:1234", "192.0.2.1:80", true},
		{"192.0.2.1:1234", "192.0.2.2:1234", false},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1:1", true},
		{"[2001:db8:1:2:3:4:5:6]:443", "[2001:db8:1:2:ffff::1]:80", true},
		{"[2001:db8:1:2::1]:443", "[2001:db8:1:3::1]:443", false},
		{"[fe80::1%eth0]:80", "[fe80::2%eth1]:80", true},
		{"[::]:80", "0.0.0.0:80", false},
		{"pipe", "pipe", true},
		{"pipe", "192.0.2.1:1", false},
	} {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			l := newRateLimiter(t, RateLimiterConfig{})
			if n := failUntilRefused(t, l, tc.a, alice); n != DefaultClientAddressBurst {
				t.Fatalf("refused after %d failures", n)
			}
			if got := !allowed(l, tc.b, alice); got != tc.same {
				t.Errorf("%s refused: %v, want %v", tc.b, got, tc.same)
			}
			r1, r2 := &http.Request{RemoteAddr: tc.a}, &http.Request{RemoteAddr: tc.b}
			if (remoteHost(r1) == remoteHost(r2)) != tc.same {
				t.Errorf("remoteHost %q and %q disagree", remoteHost(r1), remoteHost(r2))
			}
		})
	}
	t.Run("RemoteAddr", func(t *testing.T) {
		l := newRateLimiter(t, RateLimiterConfig{RemoteAddr: func(r *http.Request) string { return r.Header.Get("X-Client") }})
		at := func(client string) *http.Request { return &http.Request{Header: http.Header{"X-Client": {client}}} }
		for range DefaultClientAddressBurst {
			if l.Reserve(at("a"), alice) > 0 {
				t.Fatal("refused early")
			}
			l.Settle(at("a"), alice, true)
		}
		if l.Reserve(at("a"), alice) == 0 {
			t.Error("not refused at the proxy's address a")
		}
		if l.Reserve(at("b"), alice) > 0 {
			t.Error("refused at the proxy's address b")
		}
	})
}

// Budgets are per kind: a client id and a username of the same text, or
// a client id that looks like a prefixed username, are strangers.
func TestRateLimiterNamespaces(t *testing.T) {
	const addr = "192.0.2.1:1"
	l := newRateLimiter(t, RateLimiterConfig{})
	failUntilRefused(t, l, addr, LimitKey{LimitClient, "user:alice"})
	failUntilRefused(t, l, addr, LimitKey{LimitClient, "bob"})
	for _, k := range []LimitKey{{LimitUser, "alice"}, {LimitUser, "bob"}, {LimitClient, "user:alic"}, {LimitClient, "alice"}} {
		if !allowed(l, addr, k) {
			t.Errorf("%v refused", k)
		}
	}
}

// A client's failures from all addresses together meet a ceiling; one
// address's share of it is small. Issue 11 item 2's other half: guessing
// spread over many addresses is still bounded.
func TestTOK29_ClientCeiling(t *testing.T) {
	e := newEndpointEnv(t)
	wrong := func(addr string) *result {
		return e.do(from(addr, formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "guess"))))
	}
	addrs := DefaultClientBurst / DefaultClientAddressBurst
	for i := range addrs {
		addr := "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ":1"
		for range DefaultClientAddressBurst {
			wantError(t, wrong(addr), http.StatusUnauthorized, "invalid_client")
		}
		wantError(t, wrong(addr), http.StatusTooManyRequests, "slow_down")
	}
	// Now the client is refused from a fresh address too; others are not.
	wantError(t, e.do(from(ownerAddr, formPost("/token", "grant_type=client_credentials", cbAuth...))), http.StatusTooManyRequests, "slow_down")
	wantToken(t, e, e.do(from(ownerAddr, formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("cx", "cx-secret")))))
	e.clock.Add(DefaultClientRefill)
	wantToken(t, e, e.do(from(ownerAddr, formPost("/token", "grant_type=client_credentials", cbAuth...))))
}

// Reserve waits for the attempts under way when its answer depends on
// them, but no longer than MaxWait, nor once the client is gone.
func TestRateLimiterBusyWait(t *testing.T) {
	key := LimitKey{LimitClient, "cb"}
	synctest.Test(t, func(t *testing.T) {
		l := newRateLimiter(t, RateLimiterConfig{ClientAddressBurst: 2, MaxWait: 3 * time.Second})
		r := &http.Request{RemoteAddr: "192.0.2.1:1"}
		r = r.WithContext(context.Background())
		for range 2 {
			if l.Reserve(r, key) > 0 {
				t.Fatal("refused")
			}
		}
		got := make(chan time.Duration, 2)
		go func() { got <- l.Reserve(r, key) }()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { got <- l.Reserve(r.WithContext(ctx), key) }()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("answered while the attempts under way might still fail")
		}
		cancel()
		synctest.Wait()
		if len(got) != 1 || <-got != busyWait {
			t.Fatal("a gone client still waits, or got no Retry-After")
		}
		time.Sleep(3*time.Second - 1)
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("answered before MaxWait")
		}
		time.Sleep(1)
		synctest.Wait()
		if len(got) != 1 || <-got != busyWait {
			t.Fatal("still waiting after MaxWait, or no Retry-After")
		}
		// Once one under way succeeds, the next waiting one goes ahead.
		go func() { got <- l.Reserve(r, key) }()
		synctest.Wait()
		l.Settle(r, key, false)
		synctest.Wait()
		if len(got) != 1 || <-got != 0 {
			t.Fatal("not let through when room was made")
		}
	})
}

// The success path (reserve, then settle as a success) allocates nothing.
func TestRateLimiterSuccessAllocatesNothing(t *testing.T) {
	for name, c := range map[string]RateLimiterConfig{
		"default":    {},
		"RemoteAddr": {RemoteAddr: func(*http.Request) string { return "203.0.113.9" }},
	} {
		l := newRateLimiter(t, c)
		for _, addr := range []string{"192.0.2.1:1234", "[2001:db8::1]:443"} {
			r := &http.Request{RemoteAddr: addr}
			key := LimitKey{LimitClient, "W7p6DXeF6zzybyBN"}
			if n := testing.AllocsPerRun(100, func() {
				if l.Reserve(r, key) == 0 {
					l.Settle(r, key, false)
				}
			}); n != 0 {
				t.Errorf("%s, %s: %v allocations per success", name, addr, n)
			}
		}
	}
}
