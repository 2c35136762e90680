package main

// DPoP (RFC 9449) end to end: the real binary, driven by keyturn's own DPoP
// client (token/dpop's Prover and its RoundTripper) and by oauth4webapi, an
// independent implementation, when Node.js is at hand.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/token/dpop"
)

// introspect introspects tok with the admin key, which holds introspect.
func (p *proc) introspect(admin, tok string) resp {
	p.t.Helper()
	return p.want(p.do("POST", "/oauth/introspect", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": form},
		"token="+url.QueryEscape(tok)), 200, "introspection")
}

// createKey creates a key through the admin API with body and returns its
// client_id and client_secret.
func (p *proc) createKey(adminTok, body string) (id, secret string) {
	p.t.Helper()
	r := p.want(p.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + adminTok, "Content-Type": js}, body),
		201, "creating a key")
	return r.body["client_id"].(string), r.body["client_secret"].(string)
}

// TestEndToEndDPoP: a DPoP-only key gets no token without a proof, and a
// bound one with; the demo resources take it with proofs and refuse it as
// Bearer; introspection shows the binding; with -dpop-nonce the client's
// transport answers the nonce challenge. JWT and opaque tokens alike.
func TestEndToEndDPoP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"jwt", nil},
		{"opaque with nonces", []string{"-token-format", "opaque", "-dpop-nonce"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, nil, "memory", tc.extra...)
			admin := p.bootstrapKey()
			adminTok := p.tokenFor(admin)
			md := p.want(p.do("GET", "/.well-known/oauth-authorization-server", nil, ""), 200, "metadata")
			if algs, _ := md.body["dpop_signing_alg_values_supported"].([]any); len(algs) != 5 {
				t.Errorf("dpop_signing_alg_values_supported = %v", md.body["dpop_signing_alg_values_supported"])
			}
			id, secret := p.createKey(adminTok, `{"name":"dpop","scope":"read:users read:participants","dpop_bound":true}`)
			entry := p.want(p.do("GET", "/v1/api_keys/"+id, bearer(adminTok), ""), 200, "the key's entry")
			if entry.body["dpop_bound"] != true {
				t.Errorf("entry %s", entry.raw)
			}

			basic := map[string]string{"Content-Type": form, "Authorization": "Basic " + basicCreds(id, secret)}
			r := p.want(p.do("POST", "/oauth/token", basic, "grant_type=client_credentials"), 400, "a DPoP-only key without a proof")
			if r.body["error"] != "invalid_dpop_proof" {
				t.Errorf("error %v", r.body["error"])
			}

			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			prover, err := dpop.NewProver(key)
			if err != nil {
				t.Fatal(err)
			}
			dc := &http.Client{Transport: prover.Transport(nil)}
			send := func(method, path string, hdr map[string]string, body string) resp {
				req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				res, err := dc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var out resp
				out.status, out.header = res.StatusCode, res.Header
				json.NewDecoder(res.Body).Decode(&out.body)
				return out
			}
			r = send("POST", "/oauth/token", basic, "grant_type=client_credentials")
			if r.status != 200 || r.body["token_type"] != "DPoP" {
				t.Fatalf("exchange with a proof: %d %v", r.status, r.body)
			}
			tok := r.body["access_token"].(string)
			for _, path := range []string{"/v1/staff", "/v1/participants", "/v1/staff"} {
				if r := send("GET", path, map[string]string{"Authorization": "DPoP " + tok}, ""); r.status != 200 {
					t.Fatalf("GET %s with DPoP: %d %q", path, r.status, r.header.Values("WWW-Authenticate"))
				}
			}
			r = p.do("GET", "/v1/staff", bearer(tok), "")
			if ch := strings.Join(r.header.Values("WWW-Authenticate"), ", "); r.status != 401 || !strings.Contains(ch, `DPoP realm="`) ||
				!strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, "algs=") {
				t.Errorf("the bound token as Bearer: %d %q", r.status, ch)
			}
			// No proof, with the DPoP scheme: refused.
			if r := p.do("GET", "/v1/staff", map[string]string{"Authorization": "DPoP " + tok}, ""); r.status != 401 {
				t.Errorf("DPoP without a proof: %d", r.status)
			}
			in := p.introspect(admin, tok)
			if cnf, _ := in.body["cnf"].(map[string]any); cnf["jkt"] != prover.Thumbprint() || in.body["token_type"] != "DPoP" {
				t.Errorf("introspection %s", in.raw)
			}
		})
	}
}

// basicCreds is the base64 of id:secret (neither needs form-encoding).
func basicCreds(id, secret string) string {
	r, _ := http.NewRequest("GET", "http://x", nil)
	r.SetBasicAuth(id, secret)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// interopDir holds the Node.js side of TestEndToEndDPoPInterop:
// package.json and package-lock.json pin oauth4webapi, and .ci/run
// installs it with npm ci; node_modules is not committed.
var interopDir = filepath.Join("testdata", "interop")

// TestEndToEndDPoPInterop drives the example server with oauth4webapi
// (npm), an independent OAuth 2.0 client that speaks DPoP: discovery,
// a client-credentials grant with a DPoP proof (answering the nonce
// challenge under -dpop-nonce), two resource requests with proofs, and the
// bound token refused as a bearer token. Its key thumbprint must be the
// token's cnf.jkt as introspection shows it. The test needs node and the
// package installed (`npm ci` in testdata/interop, which .ci/run does when
// npm is present); without node it is skipped, and so it is without the
// package, except under CI (CI set), where a missing install fails.
func TestEndToEndDPoPInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the oauth4webapi interop test needs Node.js")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "oauth4webapi", "package.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("oauth4webapi is not installed in %s: run npm ci there (.ci/run does)", interopDir)
		}
		t.Skipf("oauth4webapi is not installed: run `npm ci` in %s", interopDir)
	}
	for _, tc := range []struct {
		name, alg string
		extra     []string
	}{
		{"ES256", "ES256", nil},
		{"EdDSA with nonces", "EdDSA", []string{"-dpop-nonce"}},
		{"PS256 opaque", "PS256", []string{"-token-format", "opaque"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, nil, "memory", tc.extra...)
			admin := p.bootstrapKey()
			id, secret := p.createKey(p.tokenFor(admin), `{"name":"interop","scope":"read:users"}`)
			cmd := exec.Command(node, "interop.mjs")
			cmd.Dir = interopDir
			cmd.Env = append(os.Environ(), "KEYTURN_ISSUER="+p.issuer, "KEYTURN_CLIENT_ID="+id,
				"KEYTURN_CLIENT_SECRET="+secret, "KEYTURN_DPOP_ALG="+tc.alg)
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("node interop.mjs: %v\n%s%s", err, out, stderr)
			}
			var res struct {
				Algs            []string       `json:"dpop_signing_alg_values_supported"`
				JKT             string         `json:"jkt"`
				TokenType       string         `json:"token_type"`
				AccessToken     string         `json:"access_token"`
				TokenRetries    int            `json:"token_nonce_retries"`
				Staff0          int            `json:"staff_status_0"`
				Staff1          int            `json:"staff_status_1"`
				Staff           map[string]any `json:"staff_1"`
				BearerStatus    int            `json:"bearer_status"`
				BearerChallenge string         `json:"bearer_challenge"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("node printed %q: %v", out, err)
			}
			if !strings.EqualFold(res.TokenType, "DPoP") || res.Staff0 != 200 || res.Staff1 != 200 || res.Staff["staff"] == nil {
				t.Errorf("oauth4webapi: %s", out)
			}
			if res.BearerStatus != 401 || !strings.Contains(res.BearerChallenge, "DPoP") || !strings.Contains(res.BearerChallenge, "invalid_token") {
				t.Errorf("the bound token as Bearer: %d %q", res.BearerStatus, res.BearerChallenge)
			}
			wantRetries := 0
			if len(tc.extra) > 0 && tc.extra[0] == "-dpop-nonce" {
				wantRetries = 1
			}
			if res.TokenRetries != wantRetries {
				t.Errorf("%d nonce retries at the token endpoint, want %d", res.TokenRetries, wantRetries)
			}
			in := p.introspect(admin, res.AccessToken)
			if cnf, _ := in.body["cnf"].(map[string]any); res.JKT == "" || cnf["jkt"] != res.JKT {
				t.Errorf("introspection %s; oauth4webapi's thumbprint %q", in.raw, res.JKT)
			}
		})
	}
}

// TestKeysCreateDPoPBound: tokenserver keys create -dpop-bound makes a
// DPoP-only key, as the admin API's "dpop_bound": true does.
func TestKeysCreateDPoPBound(t *testing.T) {
	env := map[string]string{"KEYTURN_DB": t.TempDir() + "/k.db"}
	for _, bound := range []bool{true, false} {
		args := []string{"keys", "create", "-name", "d", "-scope", "read:users", "-log-level", "error"}
		if bound {
			args = append(args, "-dpop-bound")
		}
		var out, errs strings.Builder
		code := cli{stdout: &out, stderr: &errs, getenv: func(k string) string { return env[k] }}.run(args)
		var created map[string]any
		if code != 0 || json.Unmarshal([]byte(out.String()), &created) != nil {
			t.Fatalf("keys create: %d %q %q", code, out.String(), errs.String())
		}
		if got, _ := created["dpop_bound"].(bool); got != bound {
			t.Errorf("-dpop-bound %v: %s", bound, out.String())
		}
	}
}

// TestEndToEndDPoPManyProcesses: two servers on one PostgreSQL database,
// with -dpop-nonce, share the memory of used proofs and their nonces: a
// nonce from one is good at the other, and a proof accepted by one is
// refused by the other, at the token endpoint and at the resources.
func TestEndToEndDPoPManyProcesses(t *testing.T) {
	base := os.Getenv("KEYTURN_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL end-to-end test skipped: set KEYTURN_TEST_POSTGRES to run it")
	}
	db := freshSchema(t, base)
	const issuer = "http://keyturn.test" // what proofs name, whichever server gets them
	a := start(t, secrets, db, "-issuer", issuer, "-dpop-nonce")
	admin := a.bootstrapKey()
	b := start(t, secrets, db, "-issuer", issuer, "-dpop-nonce")
	id, secret := a.createKey(a.tokenFor(admin), `{"name":"dpop","scope":"read:users"}`)
	basic := "Basic " + basicCreds(id, secret)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	prover, _ := dpop.NewProver(key)
	proof := func(method, path, tok string) string {
		s, err := prover.Proof(method, issuer+path, tok)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exchange := func(p *proc, proof string) resp {
		return p.do("POST", "/oauth/token", map[string]string{"Content-Type": form, "Authorization": basic, "DPoP": proof},
			"grant_type=client_credentials")
	}
	r := exchange(a, proof("POST", "/oauth/token", ""))
	nonce := r.header.Get("DPoP-Nonce")
	if r.status != 400 || r.body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("no nonce: %d %s", r.status, r.raw)
	}
	prover.SetNonce(nonce)
	p1 := proof("POST", "/oauth/token", "")
	r = b.want(exchange(b, p1), 200, "the other server's nonce")
	if r.body["token_type"] != "DPoP" {
		t.Fatalf("token_type %v", r.body["token_type"])
	}
	tok := r.body["access_token"].(string)
	if r := exchange(a, p1); r.status != 400 || r.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("a proof used at one server, replayed at the other: %d %s", r.status, r.raw)
	}
	rp := proof("GET", "/v1/staff", tok)
	hdr := map[string]string{"Authorization": "DPoP " + tok, "DPoP": rp}
	a.want(a.do("GET", "/v1/staff", hdr, ""), 200, "a resource with a proof")
	if r := b.do("GET", "/v1/staff", hdr, ""); r.status != 401 || !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), " "), "invalid_dpop_proof") {
		t.Fatalf("a resource proof replayed at the other server: %d %q", r.status, r.header.Values("WWW-Authenticate"))
	}
}
