package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/token"
)

// TestEndToEndSigningKeyRotation runs a signing-key rotation across three
// real server processes on one fresh PostgreSQL schema and checks that no
// process ever refuses a token of another while it runs. A rotation takes
// weeks of wall-clock time (a key signs for token.DefaultRotationPeriod,
// and its successor is published token.DefaultPublishAhead before it
// signs), so the test moves the processes through it by ageing the stored
// signing keys instead of the clock: it shifts every stored time back,
// as the passing of that time would, and announces the change on the
// store's notification channel, as a process writing keys does. Each
// process then reloads, rotates when its schedule says so (all three at
// once: a race the key set must survive), and later switches to the new
// key. Throughout, a loop mints tokens at every process and verifies each
// at every process (at least five rounds while the next key is published
// and five after the switch); after the switch, all three sign with one new key,
// and tokens of the old key still verify; after the old key is deleted,
// tokens still verify everywhere.
func TestEndToEndSigningKeyRotation(t *testing.T) {
	base := os.Getenv("KEYTURN_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL end-to-end test skipped: set KEYTURN_TEST_POSTGRES to run it")
	}
	dsn := freshSchema(t, base)
	first := start(t, secrets, dsn, "-issuer", "http://keyturn.test")
	admin := first.bootstrapKey()
	procs := []*proc{first}
	for range 2 {
		procs = append(procs, start(t, secrets, dsn, "-issuer", "http://keyturn.test"))
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// age moves every stored signing-key time back by d (the zero time,
	// stored as its own value, stays) and tells every process.
	age := func(d time.Duration) {
		t.Helper()
		const zero = -62135596800000000
		us := d.Microseconds()
		if _, err := db.Exec(`UPDATE keyturn_signing_keys SET
			created_at = CASE WHEN created_at = $2 THEN created_at ELSE created_at - $1 END,
			not_before = CASE WHEN not_before = $2 THEN not_before ELSE not_before - $1 END,
			not_after = not_after - $1, expires_at = expires_at - $1`, us, zero); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`SELECT pg_notify('keyturn', coalesce(current_schema(), '') || ' s')`); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() int {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM keyturn_signing_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// eventually polls ok for up to 5 s.
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
		}
	}
	// crossCheck mints a token at every process and verifies each at every
	// process; it returns the refusals and the kid each process signed with.
	crossCheck := func() (refusals []string, kids []string) {
		for i, p := range procs {
			tok := p.tokenFor(admin)
			kids = append(kids, kidOf(t, tok))
			for j, q := range procs {
				if r := q.do("GET", "/v1/staff", bearer(tok), ""); r.status != 200 {
					refusals = append(refusals, fmt.Sprintf("token of %d (kid %s) refused by %d: %d %s",
						i, kidOf(t, tok), j, r.status, r.header.Get("WWW-Authenticate")))
				}
			}
		}
		return refusals, kids
	}
	refusals, kids := crossCheck()
	if len(refusals) > 0 || stored() != 1 {
		t.Fatalf("before the rotation: %d keys stored, refusals %q", stored(), refusals)
	}
	oldKid := kids[0]
	oldTok := procs[1].tokenFor(admin)

	// A loop cross-checking all the while.
	var (
		mu       sync.Mutex
		refused  []string
		rounds   atomic.Int64
		stop     = make(chan struct{})
		stopOnce sync.Once
		done     = make(chan struct{})
	)
	// The loop ends before the servers stop, even when the test fails.
	t.Cleanup(func() { stopOnce.Do(func() { close(stop) }); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, _ := crossCheck()
			rounds.Add(1)
			mu.Lock()
			refused = append(refused, r...)
			mu.Unlock()
		}
	}()
	stopLoop := func() {
		stopOnce.Do(func() { close(stop) })
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(refused) > 0 {
			t.Fatalf("%d refusals during the rotation (%d rounds), first: %s", len(refused), rounds.Load(), refused[0])
		}
		t.Logf("%d rounds of 3 tokens verified at 3 processes, none refused", rounds.Load())
	}

	// The rotation falls due: every process reloads at once and publishes
	// a next key (perhaps each its own), which every process must know
	// before it signs.
	age(token.DefaultRotationPeriod - token.DefaultPublishAhead + time.Minute)
	eventually("a next key published", func() bool { return stored() >= 2 })
	eventually("every process publishing every stored key", func() bool {
		n := stored()
		for _, p := range procs {
			if len(jwksKids(t, p)) != n {
				return false
			}
		}
		return true
	})
	t.Logf("%d signing keys stored after the rotation fell due", stored())
	// a few more rounds of the loop at each stage
	moreRounds := func(what string) {
		t.Helper()
		n := rounds.Load()
		eventually(what, func() bool { return rounds.Load() >= n+5 })
	}
	moreRounds("rounds while the next key is published")

	// The next key starts signing: every process switches to one new key.
	age(token.DefaultPublishAhead + time.Minute)
	eventually("every process signing with one new key", func() bool {
		_, kids := crossCheck()
		return kids[0] != oldKid && kids[0] == kids[1] && kids[1] == kids[2]
	})
	moreRounds("rounds after the switch")
	stopLoop()
	for j, p := range procs {
		p.want(p.do("GET", "/v1/staff", bearer(oldTok), ""), 200, fmt.Sprintf("a token of the old key at %d after the switch", j))
	}

	// Every token of the old key has expired (in the keys' time): the old
	// key is deleted, and every process still accepts every other's tokens.
	age(token.MaxLifetime + token.MaxLeeway + 2*time.Hour)
	eventually("the old key deleted", func() bool {
		for _, kid := range jwksKids(t, procs[0]) {
			if kid == oldKid {
				return false
			}
		}
		return true
	})
	if refusals, _ := crossCheck(); len(refusals) > 0 {
		t.Fatalf("after the old key was deleted: %q", refusals)
	}
}

// kidOf returns the kid of a JWT's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	kid, _ := header(t, tok)["kid"].(string)
	if kid == "" {
		t.Fatalf("no kid in the token's header")
	}
	return kid
}

// jwksKids returns the kids p publishes.
func jwksKids(t *testing.T, p *proc) []string {
	t.Helper()
	r := p.want(p.do("GET", token.JWKSPath, nil, ""), 200, "JWKS")
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
