package keyturn

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/storage"
)

// TOK-68 across processes: two servers on one PostgreSQL schema accept an
// assertion once between them, one after the other and at once; the
// other refuses it. KEYTURN_TEST_POSTGRES selects the server.
func TestTOK68_AssertionReplayAcrossProcesses(t *testing.T) {
	dsn := pgSchema(t)
	one, _ := pgProcess(t, dsn, time.Second)
	two, _ := pgProcess(t, dsn, time.Second)
	id := one.pkClient(t, clientJWKS())

	a := edAssertion(t, claimsFor(id))
	if status, body, _ := one.postForm(t, "/oauth/token", assertionForm(a).Encode()); status != http.StatusOK {
		t.Fatalf("first use: %d %v", status, body)
	}
	status, body, hdr := two.postForm(t, "/oauth/token", assertionForm(a).Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")

	// Sent to both at once, 5 times over: exactly one token each time. (Few
	// enough refusals that the brute-force limit is not reached.)
	for range 5 {
		a := edAssertion(t, claimsFor(id))
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			s := one
			if i%2 == 1 {
				s = two
			}
			wg.Go(func() { codes[i], _, _ = s.postForm(t, "/oauth/token", assertionForm(a).Encode()) })
		}
		wg.Wait()
		ok := 0
		for _, c := range codes {
			if c == http.StatusOK {
				ok++
			} else if c != http.StatusUnauthorized {
				t.Fatalf("codes %v", codes)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of 2 concurrent uses got a token (codes %v)", ok, codes)
		}
	}
}

// A client's keys replaced on one process stop authenticating on another
// as soon as its notification arrives (well within the key cache's age).
func TestPostgresJWKSReplacementReachesOtherProcess(t *testing.T) {
	dsn := pgSchema(t)
	one, _ := pgProcess(t, dsn, time.Minute)
	two, tp := pgProcess(t, dsn, time.Minute)
	id := one.pkClient(t, clientJWKS())
	// two caches the record.
	if status, body, _ := two.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode()); status != http.StatusOK {
		t.Fatalf("before: %d %v", status, body)
	}
	newSet := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"new","x":"` + b64u(kAtk.Public().(ed25519.PublicKey)) + `"}]}`)
	if _, err := one.Keys().ReplaceJWKS(context.Background(), id, newSet); err != nil {
		t.Fatal(err)
	}
	tp.wait(t, "key changed", func(c storage.Change) bool { return c.Kind == storage.KeyChanged && c.ID == id })
	status, body, hdr := two.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode())
	wantRefused(t, status, body, hdr, http.StatusUnauthorized, "invalid_client")
	a := sign(t, jose.EdDSA, kAtk, map[jose.HeaderKey]any{"kid": "new"}, claimsFor(id))
	if status, body, _ := two.postForm(t, "/oauth/token", assertionForm(a).Encode()); status != http.StatusOK {
		t.Fatalf("the new key: %d %v", status, body)
	}
}
