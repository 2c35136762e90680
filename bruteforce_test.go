package keyturn

// Regression tests of TOK-29 (brute force) for issue 11: item 2 (anyone
// who knows a key id could lock its owner out; client ids and usernames
// shared one namespace) and item 3 (parallel attempts bypassed the
// throttle; password checks starved and held connections; work went on for
// clients that were gone).

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// Two remote addresses: the attacker's and the legitimate owner's.
const (
	attackerAddr = "192.0.2.66:4444"
	ownerAddr    = "198.51.100.7:5555"
)

// wantStatus checks a response's status and error code, for concurrent
// requests, whose results cannot say which of them issued a token.
func wantStatus(t *testing.T, res *result, status int, code string) {
	t.Helper()
	if res.Code != status {
		t.Errorf("status %d, want %d; body %s", res.Code, status, res.Body)
		return
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil || body.Error != code {
		t.Errorf("body %s, want error %q", res.Body, code)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra <= 0 {
			t.Errorf("Retry-After %q, want a positive number of seconds", res.Header.Get("Retry-After"))
		}
	}
}

// Issue 11 item 2: wrong secrets from one address throttle that address,
// never the owner at another address, whose right secret still gets a
// token.
func TestTOK29_KeyIDLockout(t *testing.T) {
	e := newEndpointEnv(t)
	wrong := func() *result {
		return e.do(from(attackerAddr, formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "guess"))))
	}
	limited := false
	for range 50 {
		if wrong().Code == http.StatusTooManyRequests {
			limited = true
		}
		e.clock.Add(100 * time.Millisecond)
	}
	if !limited {
		t.Fatal("50 wrong secrets in 5 s from one address were never limited")
	}
	// The attacker's address stays throttled for this client, right
	// secret or not...
	wantError(t, e.do(from(attackerAddr, formPost("/token", "grant_type=client_credentials", cbAuth...))), http.StatusTooManyRequests, "slow_down")
	// ...while the owner, elsewhere, gets a token.
	checks := e.clients.count()
	wantToken(t, e, e.do(from(ownerAddr, formPost("/token", "grant_type=client_credentials", cbAuth...))))
	if e.clients.count() != checks+1 {
		t.Errorf("the owner's secret was checked %d times, want once", e.clients.count()-checks)
	}
	// The same holds for a username.
	e = newEndpointEnv(t, withUsers(t))
	for range 20 {
		e.do(from(attackerAddr, formPost("/token", "grant_type=password&username=bob&password=guess")))
	}
	wantError(t, e.do(from(attackerAddr, formPost("/token", "grant_type=password&username=bob&password=bob-pw"))), http.StatusTooManyRequests, "slow_down")
	wantToken(t, e, e.do(from(ownerAddr, formPost("/token", "grant_type=password&username=bob&password=bob-pw"))))
}

// Issue 11 item 2: client ids and usernames are separate namespaces: the
// client id "user:alice" is not the user alice, whatever it fails.
func TestTOK29_SharedNamespace(t *testing.T) {
	e := newEndpointEnv(t, withUsers(t))
	for range 20 {
		e.do(formPost("/token", "grant_type=client_credentials&client_id="+url.QueryEscape("user:alice")+"&client_secret=guess"))
	}
	wantToken(t, e, e.do(formPost("/token", "grant_type=password&username=alice&password=alice-pw")))

	// And the other way round: usernames that fail do not throttle the
	// client of the same name.
	e = newEndpointEnv(t, withUsers(t))
	for range 20 {
		e.do(formPost("/token", "grant_type=password&username="+url.QueryEscape(cbID)+"&password=guess"))
	}
	wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
}

// Issue 11 item 3: parallel wrong attempts are throttled as if they were
// sequential: of 20 at once for one client or user from one address, only
// as many are checked as the limit allows, and the others are refused with
// 429 as soon as those have failed.
func TestTOK29_ParallelBypass(t *testing.T) {
	const n, limit = 20, 10 // limit: the default budget of a client at one address
	t.Run("client", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			clients := newGatedClients(t)
			e := newEndpointEnv(t, func(c *EndpointConfig) { c.Clients = clients })
			var results []<-chan *result
			for range n {
				results = append(results, e.goDo(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "guess"))))
			}
			synctest.Wait()
			if got := clients.reached(); got != limit {
				t.Fatalf("%d of %d parallel wrong secrets are being checked, want %d", got, n, limit)
			}
			for range limit {
				clients.gate <- struct{}{}
			}
			synctest.Wait()
			got, waiting := ready(results)
			if waiting != 0 {
				t.Fatalf("%d requests still waiting once the checked ones failed", waiting)
			}
			counts := map[int]int{}
			for _, res := range got {
				counts[res.Code]++
				if res.Code == http.StatusTooManyRequests {
					wantStatus(t, res, http.StatusTooManyRequests, "slow_down")
				}
			}
			if counts[http.StatusUnauthorized] != limit || counts[http.StatusTooManyRequests] != n-limit {
				t.Errorf("statuses %v, want %d × 401 and %d × 429", counts, limit, n-limit)
			}
			if got := clients.reached(); got != limit {
				t.Errorf("%d secrets checked, want %d", got, limit)
			}
		})
	})
	t.Run("password", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			users := newGatedUsers(t)
			e := newEndpointEnv(t, func(c *EndpointConfig) {
				c.Users, c.PasswordClientID, c.MaxPasswordChecks = users, "tokenserver", n
			})
			var results []<-chan *result
			for range n {
				results = append(results, e.goDo(formPost("/token", "grant_type=password&username=alice&password=guess")))
			}
			synctest.Wait()
			if got := users.count(); got != limit {
				t.Fatalf("%d of %d parallel wrong passwords are being checked, want %d", got, n, limit)
			}
			for range limit {
				users.verdict <- ErrInvalidGrant
			}
			synctest.Wait()
			got, waiting := ready(results)
			if waiting != 0 {
				t.Fatalf("%d requests still waiting once the checked ones failed", waiting)
			}
			counts := map[int]int{}
			for _, res := range got {
				counts[res.Code]++
			}
			if counts[http.StatusBadRequest] != limit || counts[http.StatusTooManyRequests] != n-limit {
				t.Errorf("statuses %v, want %d × 400 and %d × 429", counts, limit, n-limit)
			}
		})
	})
}

// Parallel right secrets are not throttled: the attempts beyond the limit
// wait for the earlier ones to succeed, then go ahead.
func TestTOK29_ParallelSuccesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 25
		clients := newGatedClients(t)
		e := newEndpointEnv(t, func(c *EndpointConfig) { c.Clients = clients })
		var results []<-chan *result
		for range n {
			results = append(results, e.goDo(formPost("/token", "grant_type=client_credentials", cbAuth...)))
		}
		for range n {
			clients.gate <- struct{}{}
		}
		for _, ch := range results {
			if res := <-ch; res.Code != http.StatusOK {
				t.Errorf("status %d: %s", res.Code, res.Body)
			}
		}
		if got := e.events.count(TokenIssued); got != n {
			t.Errorf("%d tokens issued, want %d", got, n)
		}
	})
}

// Issue 11 item 3: password checks queue with a bound and a short wait.
// Beyond the bound a login is answered 503 with Retry-After at once; in
// the queue it waits a short while at most; it is never held until the
// server gives up on its connection.
func TestTOK29_PasswordChecksStarve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := newGatedUsers(t)
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.MaxPasswordChecks = users, "tokenserver", 1
		})
		// 40 wrong logins from one address, for 40 users: under the
		// address's budget, and each user's.
		var flood []<-chan *result
		for i := range 40 {
			flood = append(flood, e.goDo(from(attackerAddr, formPost("/token", "grant_type=password&username=u"+strconv.Itoa(i)+"&password=guess"))))
		}
		synctest.Wait()
		if got := users.count(); got != 1 {
			t.Fatalf("%d checks running, want 1", got)
		}
		// A legitimate login is answered at once.
		legit := e.goDo(from(ownerAddr, formPost("/token", "grant_type=password&username=alice&password=alice-pw")))
		synctest.Wait()
		got, _ := ready([]<-chan *result{legit})
		if len(got) == 0 {
			t.Fatal("a login waits for the flood's password checks")
		}
		wantStatus(t, got[0], http.StatusServiceUnavailable, "temporarily_unavailable")

		// The flood's requests in the queue wait a short while at most.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		answered, waiting := ready(flood)
		if waiting != 1 {
			t.Errorf("%d of the flood's requests still wait after 2 s, want 1 (the one being checked)", waiting)
		}
		for _, res := range answered {
			wantStatus(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
		}
		users.verdict <- ErrInvalidGrant
		synctest.Wait()
		if users.count() != 1 {
			t.Errorf("%d passwords checked, want 1", users.count())
		}
	})
}

// Issue 11 item 3: work stops for a request whose client is gone: a login
// waiting for a turn is never checked, and one whose client left during
// the check gets no token minted (nor logged).
func TestTOK29_GoneClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := newGatedUsers(t)
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.MaxPasswordChecks = users, "tokenserver", 1
		})
		ctx1, cancel1 := context.WithCancel(context.Background())
		first := e.goDo(formPost("/token", "grant_type=password&username=alice&password=alice-pw").WithContext(ctx1))
		synctest.Wait()
		ctx2, cancel2 := context.WithCancel(context.Background())
		second := e.goDo(formPost("/token", "grant_type=password&username=bob&password=bob-pw").WithContext(ctx2))
		synctest.Wait()

		cancel2() // gone while waiting for a turn
		synctest.Wait()
		if res, _ := ready([]<-chan *result{second}); len(res) != 1 {
			t.Fatal("a request whose client is gone still waits")
		}
		cancel1() // gone during its check, which cannot be interrupted
		users.verdict <- nil
		<-first
		if n := users.count(); n != 1 {
			t.Errorf("%d passwords checked, want 1", n)
		}
		if n := e.events.count(TokenIssued); n != 0 {
			t.Errorf("%d tokens minted for clients that were gone", n)
		}
	})
}
