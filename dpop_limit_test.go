package keyturn

import (
	"testing"

	"github.com/keyturn/keyturn/token/dpop"
)

// Bad DPoP proofs cost a signature check each before any credential is
// looked at, so they count against the remote address: after the
// address's budget of failures the next request is 429 and checks
// nothing, while the same client from another address gets its token; a
// good proof costs the address nothing.
func TestDPoPBadProofsThrottled(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	p := e.prover(t)
	for range 2 * DefaultAddressBurst { // good proofs: never throttled
		wantDPoPToken(t, e, e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""))), p.Thumbprint())
	}
	bad := mustProof(t, p, "GET", tokenURL, "") // htm mismatch
	for i := range DefaultAddressBurst {
		if res := e.do(ccDPoP(bad)); res.Code != 400 {
			t.Fatalf("bad proof %d: %d %s, want 400", i, res.Code, res.Body)
		}
	}
	res := e.do(ccDPoP(bad))
	wantError(t, res, 429, "slow_down")
	if res.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	r := ccDPoP(mustProof(t, p, "POST", tokenURL, ""))
	r.RemoteAddr = "203.0.113.9:1234"
	wantDPoPToken(t, e, e.do(r), p.Thumbprint())
}
