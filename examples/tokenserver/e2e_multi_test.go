package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// propagationRounds is how many key revocations and token revocations
// TestEndToEndManyProcesses times (each is seen by two servers).
const propagationRounds = 25

// TestEndToEndManyProcesses runs three servers on one fresh PostgreSQL
// schema, started at the same moment: one bootstrap key between them; a
// token from any verifies on every one; a key revoked (DELETE) on one is
// refused by the other two, and a token revoked through RFC 7009 on one is
// refused by the other two, each within 1 s, timed from the revoking
// request's answer to the first refusal (polled every 2 ms).
func TestEndToEndManyProcesses(t *testing.T) {
	base := os.Getenv("KEYTURN_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL end-to-end test skipped: set KEYTURN_TEST_POSTGRES to run it")
	}
	db := freshSchema(t, base)
	const n = 3
	procs := make([]*proc, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { procs[i] = start(t, secrets, db, "-issuer", "http://keyturn.test") })
	}
	wg.Wait()
	var boot []string
	for _, p := range procs {
		p.mu.Lock()
		for _, l := range p.stdout {
			if k, ok := strings.CutPrefix(l, "bootstrap admin key: "); ok {
				boot = append(boot, k)
			}
		}
		p.mu.Unlock()
	}
	if len(boot) != 1 {
		t.Fatalf("%d bootstrap keys printed by %d servers, want 1", len(boot), n)
	}
	admin := boot[0]

	// Cross-instance verification: 9 of 9.
	for i, issuer := range procs {
		tok := issuer.tokenFor(admin)
		for j, p := range procs {
			p.want(p.do("GET", "/v1/staff", bearer(tok), ""), 200, fmt.Sprintf("token of server %d on server %d", i, j))
		}
	}

	// refusedWithin polls each of the other servers until check says it
	// refuses, and returns how long each took.
	refusedWithin := func(what string, others []*proc, check func(p *proc) bool) []time.Duration {
		t.Helper()
		start := time.Now()
		var out []time.Duration
		for _, p := range others {
			for !check(p) {
				if time.Since(start) > 5*time.Second {
					t.Fatalf("%s: still accepted after 5 s", what)
				}
				time.Sleep(2 * time.Millisecond)
			}
			out = append(out, time.Since(start))
		}
		return out
	}

	adminTok := procs[0].tokenFor(admin)
	var keyTimes, tokenTimes []time.Duration
	for round := range propagationRounds {
		on := procs[round%n]
		others := []*proc{procs[(round+1)%n], procs[(round+2)%n]}

		// A key revoked on one server.
		r := on.want(on.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + adminTok, "Content-Type": js},
			`{"name":"propagation","scope":"read:users"}`), 201, "create key")
		key := r.body["key"].(string)
		id := r.body["id"].(string)
		for _, p := range others {
			p.tokenFor(key) // the key is now in every cache
		}
		on.want(on.do("DELETE", "/v1/api_keys/"+id, bearer(adminTok), ""), 204, "revoke key")
		keyTimes = append(keyTimes, refusedWithin("revoked key", others, func(p *proc) bool {
			return p.do("POST", "/oauth/token", bearer(key), "").status != 200
		})...)

		// A token revoked through RFC 7009 on one server.
		tok := on.tokenFor(admin)
		for _, p := range others {
			p.want(p.do("GET", "/v1/staff", bearer(tok), ""), 200, "token before revocation")
		}
		on.want(on.do("POST", "/oauth/revoke", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": form}, "token="+tok),
			200, "RFC 7009 revocation")
		tokenTimes = append(tokenTimes, refusedWithin("revoked token", others, func(p *proc) bool {
			return p.do("GET", "/v1/staff", bearer(tok), "").status == 401
		})...)
	}
	for what, ds := range map[string][]time.Duration{"key revocation": keyTimes, "token revocation": tokenTimes} {
		slices.Sort(ds)
		median, worst := ds[len(ds)/2], ds[len(ds)-1]
		t.Logf("%s propagation over %d observations: median %v, worst %v", what, len(ds), median, worst)
		if worst > time.Second {
			t.Errorf("%s took %v to reach another server, want at most 1 s", what, worst)
		}
	}

	// SIGKILL one server in the middle of a key-creation load: every key
	// it acknowledged is in the database and works on the survivors, which
	// keep serving.
	victim, survivors := procs[0], procs[1:]
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		load  sync.WaitGroup
	)
	for range 4 {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", victim.base+"/v1/api_keys",
					strings.NewReader(`{"name":"under load","scope":"read:users"}`))
				req.Header.Set("Authorization", "Bearer "+adminTok)
				req.Header.Set("Content-Type", js)
				res, err := victim.client.Do(req)
				if err != nil {
					return // the server is gone
				}
				var body struct{ Key string }
				if res.StatusCode == 201 && json.NewDecoder(res.Body).Decode(&body) == nil {
					mu.Lock()
					acked = append(acked, body.Key)
					mu.Unlock()
				}
				res.Body.Close()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	close(stop)
	load.Wait()
	if len(acked) == 0 {
		t.Fatal("no key was acknowledged before the kill")
	}
	for i, k := range acked {
		survivors[i%2].tokenFor(k)
	}
	t.Logf("%d keys acknowledged before SIGKILL, every one works on the survivors", len(acked))
	for _, p := range survivors {
		tok := p.tokenFor(admin)
		p.want(p.do("GET", "/v1/staff", bearer(tok), ""), 200, "a survivor serving")
		p.stop()
	}
}
