package keyturn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// The DPoP items of CONFORMANCE.md (TOK-54…62, IN-20, MD-12; RS-30 is in
// middleware/dpop_test.go and, through a Server, here), over HTTP.

const tokenURL = testIssuer + "/token"

// dpopClients marks clients of fakeClients as DPoP-only.
type dpopClients struct {
	*fakeClients
	bound map[string]bool
}

func (d dpopClients) AuthenticateClient(ctx context.Context, id, secret string) (Client, error) {
	c, err := d.fakeClients.AuthenticateClient(ctx, id, secret)
	c.DPoPBound = d.bound[id]
	return c, err
}

// withDPoP turns DPoP on with cfg (its clock is the env's) and adds the
// DPoP-only client cd (secret cd-secret, scope read).
func withDPoP(t testing.TB, cfg dpop.Config) func(*EndpointConfig) {
	return func(c *EndpointConfig) {
		if cfg.Algorithms == nil {
			cfg.Algorithms = dpop.DefaultAlgorithms()
		}
		cfg.Now = c.Now
		v, err := dpop.NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.DPoP = v
		fc := c.Clients.(*fakeClients)
		fc.set("cd", fakeClient{secret: "cd-secret", scope: "read"})
		c.Clients = dpopClients{fakeClients: fc, bound: map[string]bool{"cd": true}}
	}
}

// prover returns a Prover of a new P-256 key on the env's clock.
func (e *endpointEnv) prover(t testing.TB) *dpop.Prover {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dpop.NewProver(k)
	if err != nil {
		t.Fatal(err)
	}
	p.Now = e.clock.Now
	return p
}

func mustProof(t testing.TB, p *dpop.Prover, method, u, tok string) string {
	t.Helper()
	s, err := p.Proof(method, u, tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ccDPoP is a client-credentials request of cb with the given DPoP headers.
func ccDPoP(proofs ...string) *http.Request {
	r := formPost("/token", "grant_type=client_credentials", cbAuth...)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

// wantDPoPToken checks a successful DPoP token response (TOK-54, TOK-61)
// and returns the verified claims.
func wantDPoPToken(t testing.TB, e *endpointEnv, res *result, jkt string) (string, *token.Claims) {
	t.Helper()
	if res.Code != 200 {
		t.Fatalf("status %d; body %s", res.Code, res.Body)
	}
	wantNoStore(t, res)
	m := decodeObject(t, res.Body)
	if m["token_type"] != "DPoP" {
		t.Errorf("token_type = %v, want DPoP", m["token_type"])
	}
	tok, _ := m["access_token"].(string)
	c, err := e.verify.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.JKT != jkt {
		t.Errorf("cnf.jkt = %q, want the proof key's thumbprint %q", c.JKT, jkt)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Cnf struct{ JKT string } `json:"cnf"`
	}
	json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
	if claims.Cnf.JKT != jkt {
		t.Errorf("the JWT's cnf.jkt = %q", claims.Cnf.JKT)
	}
	return tok, c
}

// TestTOK54_DPoPBoundToken: one valid proof gets a token bound to its key.
func TestTOK54_DPoPBoundToken(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	p := e.prover(t)
	wantDPoPToken(t, e, e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""))), p.Thumbprint())
	// Ed25519 and RSA proofs too; and the password grant.
	ed, _ := dpop.NewProver(ed25519.NewKeyFromSeed(make([]byte, 32)))
	ed.Now = e.clock.Now
	wantDPoPToken(t, e, e.do(ccDPoP(mustProof(t, ed, "POST", tokenURL, ""))), ed.Thumbprint())
	u := newEndpointEnv(t, withUsers(t), withDPoP(t, dpop.Config{}))
	p = u.prover(t)
	r := formPost("/authorization", "username=alice&password=alice-pw", "DPoP", mustProof(t, p, "POST", testIssuer+"/authorization", ""))
	wantDPoPToken(t, u, u.do(r), p.Thumbprint())
}

// rawDPoP signs header and claims as given: alg ES256 (key
// *ecdsa.PrivateKey), HS256 (key []byte) or none.
func rawDPoP(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return input + "." + enc.EncodeToString(sig)
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		return input + "." + enc.EncodeToString(m.Sum(nil))
	}
	return input + "."
}

func jwkOf(t testing.TB, key crypto.PublicKey) map[string]any {
	b, err := json.Marshal(jose.JSONWebKey{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// TestTOK55_InvalidProofs: every defective proof is 400
// invalid_dpop_proof and no token; htu differing only in query or
// fragment is fine.
func TestTOK55_InvalidProofs(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := e.clock.Now()
	n := 0
	base := func() (map[string]any, map[string]any) {
		n++
		return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwkOf(t, &key.PublicKey)},
			map[string]any{"jti": "tok55-" + string(rune('a'+n)), "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		edit func(h, c map[string]any) any // returns the signing key
	}{
		{"typ missing", func(h, c map[string]any) any { delete(h, "typ"); return key }},
		{"typ JWT", func(h, c map[string]any) any { h["typ"] = "JWT"; return key }},
		{"alg none", func(h, c map[string]any) any { h["alg"] = "none"; return nil }},
		{"alg HS256", func(h, c map[string]any) any { h["alg"] = "HS256"; return []byte("0123456789abcdef0123456789abcdef") }},
		{"jwk with d", func(h, c map[string]any) any { h["jwk"] = jwkOf(t, key); return key }},
		{"signed by another key", func(h, c map[string]any) any { return other }},
		{"htm GET", func(h, c map[string]any) any { c["htm"] = "GET"; return key }},
		{"htu of another URL", func(h, c map[string]any) any { c["htu"] = testIssuer + "/introspect"; return key }},
		{"iat 10 min old", func(h, c map[string]any) any { c["iat"] = now.Add(-10 * time.Minute).Unix(); return key }},
		{"iat 10 min ahead", func(h, c map[string]any) any { c["iat"] = now.Add(10 * time.Minute).Unix(); return key }},
		{"jti missing", func(h, c map[string]any) any { delete(c, "jti"); return key }},
		{"htm missing", func(h, c map[string]any) any { delete(c, "htm"); return key }},
		{"htu missing", func(h, c map[string]any) any { delete(c, "htu"); return key }},
		{"iat missing", func(h, c map[string]any) any { delete(c, "iat"); return key }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, c := base()
			k := tc.edit(h, c)
			wantError(t, e.do(ccDPoP(rawDPoP(t, h, c, k))), 400, "invalid_dpop_proof")
		})
	}
	t.Run("not a JWT", func(t *testing.T) {
		wantError(t, e.do(ccDPoP("not-a-jwt")), 400, "invalid_dpop_proof")
	})
	t.Run("empty", func(t *testing.T) {
		wantError(t, e.do(ccDPoP("")), 400, "invalid_dpop_proof")
	})
	for _, htu := range []string{tokenURL + "?a=b", tokenURL + "#frag"} {
		h, c := base()
		c["htu"] = htu
		_, got := wantDPoPToken(t, e, e.do(ccDPoP(rawDPoP(t, h, c, key))), dpopThumbprint(t, &key.PublicKey))
		_ = got
	}
}

func dpopThumbprint(t testing.TB, pub crypto.PublicKey) string {
	b, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestTOK55_ProofBeforeCredentials: the proof is judged before the
// client authenticates, so a bad proof is 400 whatever the credentials;
// a good proof with bad credentials is 401 and is not spent.
func TestTOK55_ProofBeforeCredentials(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	p := e.prover(t)
	bad := formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "wrong"), "DPoP", "garbage")
	wantError(t, e.do(bad), 400, "invalid_dpop_proof")
	if e.clients.count() != 0 {
		t.Error("the client was authenticated before the proof was checked")
	}
	proof := mustProof(t, p, "POST", tokenURL, "")
	wrong := formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "wrong"), "DPoP", proof)
	wantError(t, e.do(wrong), 401, "invalid_client")
	wantDPoPToken(t, e, e.do(ccDPoP(proof)), p.Thumbprint())
}

// TestTOK56_TwoDPoPHeaders: two DPoP header fields, both valid, are
// refused.
func TestTOK56_TwoDPoPHeaders(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	p := e.prover(t)
	res := e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""), mustProof(t, p, "POST", tokenURL, "")))
	wantError(t, res, 400, "invalid_dpop_proof")
}

// TestTOK57_HTU: htu is compared after normalisation, against the
// configured URL: never one a forwarding header names.
func TestTOK57_HTU(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	p := e.prover(t)
	wantDPoPToken(t, e, e.do(ccDPoP(mustProof(t, p, "POST", "https://AS.test:443/token", ""))), p.Thumbprint())
	for _, spoof := range []string{"X-Forwarded-Host", "Host", "Forwarded"} {
		r := ccDPoP(mustProof(t, p, "POST", "https://evil.test/token", ""))
		switch spoof {
		case "Host":
			r.Host = "evil.test"
		case "Forwarded":
			r.Header.Set("Forwarded", "host=evil.test;proto=https")
		default:
			r.Header.Set(spoof, "evil.test")
		}
		wantError(t, e.do(r), 400, "invalid_dpop_proof")
	}
}

// TestTOK58_Replay: a proof is accepted once, also when sent many times
// at once; a stale one is refused.
func TestTOK58_Replay(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}), func(c *EndpointConfig) { c.Limiter = allowAll{} })
	p := e.prover(t)
	proof := mustProof(t, p, "POST", tokenURL, "")
	wantDPoPToken(t, e, e.do(ccDPoP(proof)), p.Thumbprint())
	wantError(t, e.do(ccDPoP(proof)), 400, "invalid_dpop_proof")

	old := e.prover(t)
	old.Now = func() time.Time { return e.clock.Now().Add(-dpop.DefaultWindow - time.Second) }
	wantError(t, e.do(ccDPoP(mustProof(t, old, "POST", tokenURL, ""))), 400, "invalid_dpop_proof")

	proof = mustProof(t, p, "POST", tokenURL, "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 12 {
		wg.Go(func() {
			res := e.do(ccDPoP(proof))
			mu.Lock()
			codes[res.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 1 || codes[400] != 11 {
		t.Errorf("answers %v, want one 200 and eleven 400", codes)
	}
}

// TestTOK59_Nonce: with server nonces, a proof without one is 400
// use_dpop_nonce with exactly one DPoP-Nonce header; the retry with it
// gets a token; a wrong nonce is refused again.
func TestTOK59_Nonce(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{Nonce: true}))
	p := e.prover(t)
	res := e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, "")))
	wantError(t, res, 400, "use_dpop_nonce")
	nonces := res.Header.Values("DPoP-Nonce")
	if len(nonces) != 1 || nonces[0] == "" {
		t.Fatalf("DPoP-Nonce headers %q, want one", nonces)
	}
	p.SetNonce(nonces[0])
	wantDPoPToken(t, e, e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""))), p.Thumbprint())
	p.SetNonce("AAAAAAAAAAAAAAAAAAAAAA")
	wantError(t, e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""))), 400, "use_dpop_nonce")
	// A nonce goes stale.
	p.SetNonce(nonces[0])
	e.clock.Add(2*dpop.NonceInterval + time.Second)
	wantError(t, e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""))), 400, "use_dpop_nonce")
}

// TestTOK60_DPoPOnlyClient: a DPoP-only client gets no token without a
// proof, and a bound one with.
func TestTOK60_DPoPOnlyClient(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	cd := []string{"Authorization", basicAuth("cd", "cd-secret")}
	wantError(t, e.do(formPost("/token", "grant_type=client_credentials", cd...)), 400, "invalid_dpop_proof")
	p := e.prover(t)
	r := formPost("/token", "grant_type=client_credentials", append(cd, "DPoP", mustProof(t, p, "POST", tokenURL, ""))...)
	wantDPoPToken(t, e, e.do(r), p.Thumbprint())
	// With DPoP off, a DPoP-only client gets nothing.
	off := newEndpointEnv(t, withDPoP(t, dpop.Config{}), func(c *EndpointConfig) { c.DPoP = nil })
	r = formPost("/token", "grant_type=client_credentials", append(cd, "DPoP", mustProof(t, p, "POST", tokenURL, ""))...)
	wantError(t, off.do(r), 400, "invalid_dpop_proof")
}

// TestTOK61_TokenTypeTruth: token_type is DPoP exactly when the token is
// bound, in the token response and in introspection.
func TestTOK61_TokenTypeTruth(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	bearer := wantToken(t, e, e.do(ccDPoP()))
	if bearer.claims.JKT != "" {
		t.Error("a token without a proof is bound")
	}
	if in := e.introspectAs(t, "rsc", bearer.token); in["token_type"] != "Bearer" || in["cnf"] != nil {
		t.Errorf("bearer introspection %v", in)
	}
	p := e.prover(t)
	tok, _ := wantDPoPToken(t, e, e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""))), p.Thumbprint())
	if in := e.introspectAs(t, "rsc", tok); in["token_type"] != "DPoP" || in["cnf"] == nil {
		t.Errorf("DPoP introspection %v", in)
	}
	// DPoP off: a proof is ignored and the token is a bearer token.
	off := newEndpointEnv(t)
	if got := wantToken(t, off, off.do(ccDPoP(mustProof(t, p, "POST", tokenURL, "")))); got.claims.JKT != "" {
		t.Error("DPoP off, yet the token is bound")
	}
}

// introspectAs introspects tok with the fake client id (secret id-secret).
func (e *endpointEnv) introspectAs(t testing.TB, id, tok string) map[string]any {
	t.Helper()
	res := e.do(formPost("/introspect", "token="+url.QueryEscape(tok), "Authorization", basicAuth(id, id+"-secret")))
	if res.Code != 200 {
		t.Fatalf("introspection: %d %s", res.Code, res.Body)
	}
	return decodeObject(t, res.Body)
}

// TestTOK62_UnadvertisedAlgorithm: a proof with an asymmetric algorithm
// outside the advertised list is refused; metadata lists exactly the
// allowed ones (MD-12).
func TestTOK62_UnadvertisedAlgorithm(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{Algorithms: []string{dpop.ES256}}))
	ed, _ := dpop.NewProver(ed25519.NewKeyFromSeed(make([]byte, 32)))
	ed.Now = e.clock.Now
	wantError(t, e.do(ccDPoP(mustProof(t, ed, "POST", tokenURL, ""))), 400, "invalid_dpop_proof")
	if got := stringList(t, e.metadata(t)["dpop_signing_alg_values_supported"]); len(got) != 1 || got[0] != "ES256" {
		t.Errorf("dpop_signing_alg_values_supported = %v", got)
	}
}

// TestMD12_DPoPAlgorithms: with DPoP on, metadata lists its algorithms,
// asymmetric ones only.
func TestMD12_DPoPAlgorithms(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	got := stringList(t, e.metadata(t)["dpop_signing_alg_values_supported"])
	if strings.Join(got, " ") != "ES256 EdDSA Ed25519 PS256 RS256" {
		t.Errorf("dpop_signing_alg_values_supported = %v", got)
	}
}

// TestIN20_Cnf: introspection of a bound token shows cnf.jkt at the top
// level and token_type DPoP.
func TestIN20_Cnf(t *testing.T) {
	e := newEndpointEnv(t, withDPoP(t, dpop.Config{}))
	p := e.prover(t)
	tok, _ := wantDPoPToken(t, e, e.do(ccDPoP(mustProof(t, p, "POST", tokenURL, ""))), p.Thumbprint())
	for _, caller := range []string{"rsc"} {
		in := e.introspectAs(t, caller, tok)
		cnf, _ := in["cnf"].(map[string]any)
		if in["active"] != true || len(cnf) != 1 || cnf["jkt"] != p.Thumbprint() || in["token_type"] != "DPoP" {
			t.Errorf("introspection %v", in)
		}
	}
}

// TestServerDPoP: through a Server as a host assembles it, JWT and opaque:
// a key created with dpop_bound shows it and needs a proof; its token
// serves the demo resource with proofs and is refused as Bearer (RS-30);
// introspection shows the binding.
func TestServerDPoP(t *testing.T) {
	for _, format := range []token.Format{token.JWT, token.Opaque} {
		t.Run(format.String(), func(t *testing.T) {
			s := newServer(t, func(c *Config) { c.Format = format })
			admin := s.rootKey(t, serverScopes)
			_, body := s.exchange(t, admin, "")
			adminTok := body["access_token"].(string)
			r := httptest.NewRequest("POST", "/v1/api_keys", strings.NewReader(`{"name":"d","scope":"read:users","dpop_bound":true}`))
			r.Header.Set("Authorization", "Bearer "+adminTok)
			status, created := decode(t, s.do(r))
			if status != 201 || created["dpop_bound"] != true {
				t.Fatalf("create: %d %v", status, created)
			}
			id := created["id"].(string)
			r = httptest.NewRequest("GET", "/v1/api_keys/"+id, nil)
			r.Header.Set("Authorization", "Bearer "+adminTok)
			if _, entry := decode(t, s.do(r)); entry["dpop_bound"] != true {
				t.Errorf("entry %v", entry)
			}

			exchange := func(proof string) (int, map[string]any) {
				r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth(id, created["client_secret"].(string))
				if proof != "" {
					r.Header.Set("DPoP", proof)
				}
				return decode(t, s.do(r))
			}
			if status, body := exchange(""); status != 400 || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("without a proof: %d %v", status, body)
			}
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			p, _ := dpop.NewProver(key)
			status, body = exchange(mustProof(t, p, "POST", testIssuer+"/oauth/token", ""))
			if status != 200 || body["token_type"] != "DPoP" {
				t.Fatalf("with a proof: %d %v", status, body)
			}
			tok := body["access_token"].(string)

			staff := func(scheme string, proofs ...string) *http.Response {
				r := httptest.NewRequest("GET", "/v1/staff", nil)
				r.Header.Set("Authorization", scheme+" "+tok)
				for _, p := range proofs {
					r.Header.Add("DPoP", p)
				}
				return s.do(r)
			}
			if res := staff("DPoP", mustProof(t, p, "GET", testIssuer+"/v1/staff", tok)); res.StatusCode != 200 {
				t.Fatalf("DPoP request: %d %q", res.StatusCode, res.Header.Values("WWW-Authenticate"))
			}
			res := staff("Bearer")
			chals := strings.Join(res.Header.Values("WWW-Authenticate"), "; ")
			if res.StatusCode != 401 || !strings.Contains(chals, `DPoP realm="keyturn", error="invalid_token"`) || !strings.Contains(chals, "algs=") {
				t.Fatalf("RS-30 through a Server: %d %q", res.StatusCode, chals)
			}
			if res := staff("DPoP"); res.StatusCode != 401 {
				t.Fatalf("no proof: %d", res.StatusCode)
			}
			in := s.introspect(t, admin, tok)
			if cnf, _ := in["cnf"].(map[string]any); cnf["jkt"] != p.Thumbprint() || in["token_type"] != "DPoP" {
				t.Errorf("introspection %v", in)
			}
			md := s.do(httptest.NewRequest("GET", MetadataWellKnown, nil))
			_, meta := decode(t, md)
			if meta["dpop_signing_alg_values_supported"] == nil {
				t.Error("metadata lists no DPoP algorithms")
			}
		})
	}
}

// TestServerDPoPDisabled: a Server with DPoP off issues no bound token,
// advertises no DPoP, and its middleware does not take the DPoP scheme.
func TestServerDPoPDisabled(t *testing.T) {
	s := newServer(t, func(c *Config) { c.DPoP.Disabled = true })
	admin := s.rootKey(t, serverScopes)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := dpop.NewProver(key)
	r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("DPoP", mustProof(t, p, "POST", testIssuer+"/oauth/token", ""))
	r.SetBasicAuth(admin.ID(), admin.ClientSecret())
	if status, body := decode(t, s.do(r)); status != 200 || body["token_type"] != "Bearer" {
		t.Fatalf("%d %v", status, body)
	}
	_, meta := decode(t, s.do(httptest.NewRequest("GET", MetadataWellKnown, nil)))
	if _, ok := meta["dpop_signing_alg_values_supported"]; ok {
		t.Error("metadata lists DPoP algorithms with DPoP off")
	}
}

// TestTestServerDPoPToken: a host's test gets a DPoP-bound token for its
// handler, which takes it with a proof and refuses it as Bearer.
func TestTestServerDPoPToken(t *testing.T) {
	ts := NewTestServer(t)
	h := ts.Require("read:users")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := dpop.NewProver(key)
	tok := ts.DPoPToken(t, "read:users", p)
	r := httptest.NewRequest("GET", "/v1/staff", nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set("DPoP", mustProof(t, p, "GET", TestIssuer+"/v1/staff", tok))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("DPoP: %d %q", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	r = httptest.NewRequest("GET", "/v1/staff", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("Bearer: %d", w.Code)
	}
}
