package keyturn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/token"
)

// A signing-key rotation on three processes over one PostgreSQL schema,
// on one controlled clock, never makes a process refuse a token of
// another: before it, while the next key is published and not yet
// signing (all three processes rotating at the same moment, as their
// refresh loops would), across the switch (tokens of the old key and of
// the new one, from every process, at every process), and after the old
// key is deleted. Only notifications tell a process of the others' keys
// (polling is off). The test runs the processes as three Servers with
// their own connection pools and listeners, on a clock the test moves;
// examples/tokenserver's TestEndToEndSigningKeyRotation does it with real
// processes, by ageing the stored keys instead.
func TestPostgresSigningKeyRotationAcrossProcesses(t *testing.T) {
	dsn := pgSchema(t)
	clock := newClock()
	var procs []*server
	for range 3 {
		p, _ := pgProcess(t, dsn, time.Hour, func(c *Config) { c.Now = clock.Now })
		procs = append(procs, p)
	}
	k := procs[0].rootKey(t, "read:users")

	everyoneAcceptsEveryone := func(stage string) {
		t.Helper()
		var toks []string
		for _, p := range procs {
			toks = append(toks, p.token(t, k, ""))
		}
		accepted(t, stage, procs, toks)
	}
	everyoneAcceptsEveryone("before the rotation")

	// The rotation is due: every process rotates at once.
	clock.Add(token.DefaultRotationPeriod - token.DefaultPublishAhead + time.Minute)
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() {
			if err := p.keySet.Refresh(context.Background()); err != nil {
				t.Errorf("process %d: refresh: %v", i, err)
			}
		})
	}
	wg.Wait()
	// Within the publish-ahead time (a day by default) every process
	// knows every stored key; notifications do it in milliseconds.
	stored, err := procs[0].store.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) < 2 {
		t.Fatalf("%d signing keys stored after the rotation, want the old and a next one", len(stored))
	}
	d := within(t, "every process publishes every stored key", time.Second, func() bool {
		for _, p := range procs {
			if len(jwksKids(t, p)) != len(stored) {
				return false
			}
		}
		return true
	})
	t.Logf("%d keys stored; every process published them %v after the rotation", len(stored), d)
	everyoneAcceptsEveryone("while the next key is published")

	// Just before and just after the switch.
	clock.Add(token.DefaultPublishAhead - 2*time.Minute)
	var before []string
	for _, p := range procs {
		before = append(before, p.token(t, k, ""))
	}
	clock.Add(2 * time.Minute)
	accepted(t, "tokens of the old key after the switch", procs, before)
	everyoneAcceptsEveryone("after the switch")
	// Every process signs with the same key, and not the old one.
	kids := map[string]bool{}
	for _, p := range procs {
		kids[kidOf(t, p.token(t, k, ""))] = true
	}
	if len(kids) != 1 || kids[kidOf(t, before[0])] {
		t.Errorf("after the switch the processes sign with %v; the old key was %s", kids, kidOf(t, before[0]))
	}

	// The old key's tokens have all expired: it is deleted.
	clock.Add(token.MaxLifetime + token.MaxLeeway + time.Minute)
	for _, p := range procs {
		if err := p.keySet.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	everyoneAcceptsEveryone("after the old key is deleted")
}

// accepted checks that every process's resource accepts every token.
func accepted(t *testing.T, stage string, procs []*server, toks []string) {
	t.Helper()
	for i, tok := range toks {
		for j, p := range procs {
			r := httptest.NewRequest("GET", "/v1/staff", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			if res := p.do(r); res.StatusCode != http.StatusOK {
				t.Errorf("%s: process %d's token refused by process %d: %d %s", stage, i, j, res.StatusCode, res.Header.Get("WWW-Authenticate"))
			}
		}
	}
}

// kidOf returns the kid of a JWT's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	hdr, _ := jwtParts(t, tok)
	kid, _ := hdr["kid"].(string)
	if kid == "" {
		t.Fatalf("no kid in the token's header %v", hdr)
	}
	return kid
}

// jwksKids returns the kids of p's JWKS document.
func jwksKids(t *testing.T, p *server) []string {
	t.Helper()
	res := p.do(httptest.NewRequest("GET", token.JWKSPath, nil))
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(fmt.Errorf("JWKS: %w", err))
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
