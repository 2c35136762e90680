package keyturn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/token/dpop"
)

// TestTOK58_SharedReplay: servers sharing a database through
// DPoPConfig.Replay accept a proof once between them; each server's own
// memory (the default) accepts it once at each, as documented.
func TestTOK58_SharedReplay(t *testing.T) {
	for _, b := range sqlDatabases {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			c := newClock()
			open := func(shared bool) *server {
				st := d.store(t)
				return newServer(t, func(cfg *Config) {
					cfg.Store, cfg.Now = st, c.Now
					if shared {
						cfg.DPoP.Replay = st
					}
				})
			}
			a, bb := open(true), open(true)
			k := a.rootKey(t, "read:users")
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			p, _ := dpop.NewProver(key)
			p.Now = c.Now
			exchange := func(s *server, proof string) (int, map[string]any) {
				r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("DPoP", proof)
				r.SetBasicAuth(k.ID(), k.ClientSecret())
				return decode(t, s.do(r))
			}
			proof := mustProof(t, p, "POST", testIssuer+"/oauth/token", "")
			if status, body := exchange(a, proof); status != 200 || body["token_type"] != "DPoP" {
				t.Fatalf("first use: %d %v", status, body)
			}
			if status, body := exchange(bb, proof); status != 400 || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("replayed at another server: %d %v", status, body)
			}
			// Without a shared store, each process remembers its own.
			x, y := open(false), open(false)
			proof = mustProof(t, p, "POST", testIssuer+"/oauth/token", "")
			for i, s := range []*server{x, y} {
				if status, _ := exchange(s, proof); status != 200 {
					t.Fatalf("per-process memory, server %d: %d", i, status)
				}
			}
			if status, _ := exchange(x, proof); status != 400 {
				t.Fatalf("replayed at the same server: %d", status)
			}
		})
	}
}
