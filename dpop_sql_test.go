package keyturn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token/dpop"
)

// TestTOK58_SharedReplay: servers sharing a database accept a proof once
// between them when they share the memory of used proofs: through
// DPoPConfig.Replay, or by default once Config.Changes says other
// processes share the store. Each server's own memory (without Changes,
// or with ReplayPerProcess) accepts it once at each, as documented.
func TestTOK58_SharedReplay(t *testing.T) {
	for _, b := range sqlDatabases {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			c := newClock()
			k := newServer(t, func(cfg *Config) { cfg.Store, cfg.Now = d.store(t), c.Now }).rootKey(t, "read:users")
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			p, _ := dpop.NewProver(key)
			p.Now = c.Now
			for _, tc := range []struct {
				name      string
				configure func(cfg *Config)
				shared    bool
			}{
				{"Replay", func(cfg *Config) { cfg.DPoP.Replay = cfg.Store }, true},
				{"Changes", func(cfg *Config) { cfg.Changes = silent{} }, true},
				{"ReplayPerProcess", func(cfg *Config) { cfg.Changes, cfg.DPoP.ReplayPerProcess = silent{}, true }, false},
				{"default", func(cfg *Config) {}, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					open := func() *server {
						return newServer(t, func(cfg *Config) {
							cfg.Store, cfg.Now = d.store(t), c.Now
							tc.configure(cfg)
						})
					}
					a, bb := open(), open()
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
					status, body := exchange(bb, proof)
					switch {
					case tc.shared && (status != 400 || body["error"] != "invalid_dpop_proof"):
						t.Fatalf("replayed at another server: %d %v, want 400 invalid_dpop_proof", status, body)
					case !tc.shared && status != 200:
						t.Fatalf("per-process memory, at another server: %d %v, want 200", status, body)
					}
					if status, _ := exchange(a, proof); status != 400 {
						t.Fatalf("replayed at the same server: %d", status)
					}
				})
			}
		})
	}
}

// With Config.Changes set (processes share the store) and nonces on, a
// nonce one server hands out is accepted by another: the nonce secret is
// derived from the pepper they share. Without Changes each process draws
// its own, as DPoPConfig.NonceSecret says, and refuses the other's.
func TestTOK59_NonceAcrossProcesses(t *testing.T) {
	st := memory.New()
	open := func(changes bool) *server {
		return newServer(t, func(cfg *Config) {
			cfg.Store, cfg.DPoP.Nonce = st, true
			if changes {
				cfg.Changes = silent{}
			}
		})
	}
	a, b := open(true), open(true)
	k := a.rootKey(t, "read:users")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := dpop.NewProver(key)
	exchange := func(s *server) (int, map[string]any, string) {
		r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("DPoP", mustProof(t, p, "POST", testIssuer+"/oauth/token", ""))
		r.SetBasicAuth(k.ID(), k.ClientSecret())
		res := s.do(r)
		status, body := decode(t, res)
		return status, body, res.Header.Get("DPoP-Nonce")
	}
	status, body, nonce := exchange(a)
	if status != 400 || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %v %q, want 400 use_dpop_nonce with a nonce", status, body, nonce)
	}
	p.SetNonce(nonce)
	if status, body, _ := exchange(b); status != 200 {
		t.Fatalf("a's nonce at b: %d %v", status, body)
	}
	if status, body, _ := exchange(open(false)); status != 400 || body["error"] != "use_dpop_nonce" {
		t.Fatalf("a's nonce at a server without Changes: %d %v, want 400 use_dpop_nonce", status, body)
	}
}
