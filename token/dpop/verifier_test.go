package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	testURL = "https://as.test/oauth/token"
	testTok = "eyJhbGciOiJFZERTQSJ9.e30.c2ln"
)

var t0 = time.Unix(1_800_000_000, 0)

// Fixed test keys.
var (
	ecKey  = mustEC()
	edKey  = ed25519.NewKeyFromSeed([]byte("keyturn dpop test key, 32 bytes!"))
	rsaKey = mustRSA()
)

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// publicJWK is the public JWK of key as go-jose writes it.
func publicJWK(t testing.TB, key crypto.Signer) map[string]any {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// rawProof signs header and claims, as given, with key under alg: ES256,
// EdDSA, RS256, PS256, HS256 (key is then a []byte) or none.
func rawProof(t testing.TB, header, claims map[string]any, alg string, key any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	var sig []byte
	h := sha256.Sum256([]byte(input))
	var err error
	switch alg {
	case "ES256":
		var r, s []byte
		rr, ss, e := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), h[:])
		err = e
		r, s = make([]byte, 32), make([]byte, 32)
		if e == nil {
			rr.FillBytes(r)
			ss.FillBytes(s)
		}
		sig = append(r, s...)
	case "EdDSA", "Ed25519":
		sig = ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:], nil)
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "none":
		return input + "."
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

var jtiN atomic.Int64

// good returns the header and claims of a valid ES256 proof for a POST to
// testURL at t0, to be changed by a test case.
func good(t testing.TB, key crypto.Signer) (map[string]any, map[string]any) {
	return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWK(t, key)},
		map[string]any{"jti": fmt.Sprintf("jti-%d", jtiN.Add(1)),
			"htm": "POST", "htu": testURL, "iat": t0.Unix()}
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	if cfg.Algorithms == nil {
		cfg.Algorithms = DefaultAlgorithms()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAccepts(t *testing.T) {
	v := newVerifier(t, Config{})
	for _, tc := range []struct {
		alg string
		key crypto.Signer
	}{{"ES256", ecKey}, {"EdDSA", edKey}, {"Ed25519", edKey}, {"RS256", rsaKey}, {"PS256", rsaKey}} {
		t.Run(tc.alg, func(t *testing.T) {
			h, c := good(t, tc.key)
			h["alg"] = tc.alg
			p, err := v.Verify(context.Background(), rawProof(t, h, c, tc.alg, tc.key), "POST", testURL, "")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := (&jose.JSONWebKey{Key: tc.key.Public()}).Thumbprint(crypto.SHA256)
			if p.JKT != base64.RawURLEncoding.EncodeToString(want) {
				t.Errorf("JKT = %s, want go-jose's thumbprint", p.JKT)
			}
		})
	}
}

// TestVerifyRefuses is the refusal checklist of RFC 9449 §4.3 at the
// package level (TOK-55, TOK-62 and the resource's ath check); the token
// endpoint and middleware tests repeat the items over HTTP.
func TestVerifyRefuses(t *testing.T) {
	v := newVerifier(t, Config{Algorithms: []string{ES256, EdDSA}})
	pubJWK := publicJWK(t, ecKey)
	privJWK := func() map[string]any {
		b, _ := json.Marshal(jose.JSONWebKey{Key: ecKey})
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}()
	for _, tc := range []struct {
		name  string
		edit  func(h, c map[string]any) (alg string, key any)
		token string // the access token going with the request
		want  error
	}{
		{name: "typ missing", edit: func(h, c map[string]any) (string, any) { delete(h, "typ"); return "ES256", ecKey }},
		{name: "typ JWT", edit: func(h, c map[string]any) (string, any) { h["typ"] = "JWT"; return "ES256", ecKey }},
		{name: "alg none", edit: func(h, c map[string]any) (string, any) { h["alg"] = "none"; return "none", nil }},
		{name: "alg HS256", edit: func(h, c map[string]any) (string, any) {
			h["alg"] = "HS256"
			return "HS256", []byte("a shared secret of 32 bytes long")
		}},
		{name: "alg RS256 not allowed (TOK-62)", edit: func(h, c map[string]any) (string, any) {
			h["alg"], h["jwk"] = "RS256", publicJWK(t, rsaKey)
			return "RS256", rsaKey
		}},
		{name: "alg does not fit key", edit: func(h, c map[string]any) (string, any) { h["alg"] = "EdDSA"; return "EdDSA", edKey }},
		{name: "jwk with d", edit: func(h, c map[string]any) (string, any) { h["jwk"] = privJWK; return "ES256", ecKey }},
		{name: "jwk oct", edit: func(h, c map[string]any) (string, any) {
			h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"}
			return "ES256", ecKey
		}},
		{name: "jwk missing", edit: func(h, c map[string]any) (string, any) { delete(h, "jwk"); return "ES256", ecKey }},
		{name: "jwk a string", edit: func(h, c map[string]any) (string, any) { h["jwk"] = "x"; return "ES256", ecKey }},
		{name: "crit", edit: func(h, c map[string]any) (string, any) { h["crit"] = []string{"x"}; return "ES256", ecKey }},
		{name: "signed by another key", edit: func(h, c map[string]any) (string, any) { return "ES256", mustEC() }},
		{name: "htm GET", edit: func(h, c map[string]any) (string, any) { c["htm"] = "GET"; return "ES256", ecKey }},
		{name: "htm post", edit: func(h, c map[string]any) (string, any) { c["htm"] = "post"; return "ES256", ecKey }},
		{name: "htu other", edit: func(h, c map[string]any) (string, any) {
			c["htu"] = "https://as.test/other"
			return "ES256", ecKey
		}},
		{name: "htu other host", edit: func(h, c map[string]any) (string, any) {
			c["htu"] = "https://evil.test/oauth/token"
			return "ES256", ecKey
		}},
		{name: "htu http", edit: func(h, c map[string]any) (string, any) {
			c["htu"] = "http://as.test/oauth/token"
			return "ES256", ecKey
		}},
		{name: "iat 10 min old", edit: func(h, c map[string]any) (string, any) {
			c["iat"] = t0.Add(-10 * time.Minute).Unix()
			return "ES256", ecKey
		}},
		{name: "iat 61 s old", edit: func(h, c map[string]any) (string, any) { c["iat"] = t0.Unix() - 61; return "ES256", ecKey }},
		{name: "iat 10 min ahead", edit: func(h, c map[string]any) (string, any) {
			c["iat"] = t0.Add(10 * time.Minute).Unix()
			return "ES256", ecKey
		}},
		{name: "iat a string", edit: func(h, c map[string]any) (string, any) { c["iat"] = "1800000000"; return "ES256", ecKey }},
		{name: "jti missing", edit: func(h, c map[string]any) (string, any) { delete(c, "jti"); return "ES256", ecKey }},
		{name: "jti too long", edit: func(h, c map[string]any) (string, any) {
			c["jti"] = strings.Repeat("j", MaxJTILen+1)
			return "ES256", ecKey
		}},
		{name: "htm missing", edit: func(h, c map[string]any) (string, any) { delete(c, "htm"); return "ES256", ecKey }},
		{name: "htu missing", edit: func(h, c map[string]any) (string, any) { delete(c, "htu"); return "ES256", ecKey }},
		{name: "iat missing", edit: func(h, c map[string]any) (string, any) { delete(c, "iat"); return "ES256", ecKey }},
		{name: "ath missing", token: testTok, edit: func(h, c map[string]any) (string, any) { return "ES256", ecKey }},
		{name: "ath wrong", token: testTok, edit: func(h, c map[string]any) (string, any) {
			sum := sha256.Sum256([]byte(testTok + "x"))
			c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
			return "ES256", ecKey
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, c := good(t, ecKey)
			h["jwk"] = pubJWK
			alg, key := tc.edit(h, c)
			proof := rawProof(t, h, c, alg, key)
			_, err := v.Verify(context.Background(), proof, "POST", testURL, tc.token)
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Verify = %v, want ErrInvalidProof", err)
			}
			if jti, _ := c["jti"].(string); strings.Contains(err.Error(), proof) || jti != "" && strings.Contains(err.Error(), jti) {
				t.Error("the error holds the proof or its jti")
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := newVerifier(t, Config{})
	h, c := good(t, ecKey)
	valid := rawProof(t, h, c, "ES256", ecKey)
	parts := strings.Split(valid, ".")
	enc := base64.RawURLEncoding.EncodeToString
	for name, proof := range map[string]string{
		"empty":              "",
		"not a JWT":          "not a jwt",
		"two parts":          parts[0] + "." + parts[1],
		"four parts":         valid + ".x",
		"too long":           valid + strings.Repeat("A", MaxProofSize),
		"padded":             parts[0] + "=." + parts[1] + "." + parts[2],
		"header array":       enc([]byte(`[1]`)) + "." + parts[1] + "." + parts[2],
		"duplicate alg":      enc([]byte(`{"typ":"dpop+jwt","alg":"ES256","alg":"none"}`)) + "." + parts[1] + "." + parts[2],
		"trailing data":      enc([]byte(`{"typ":"dpop+jwt"} {}`)) + "." + parts[1] + "." + parts[2],
		"escaped duplicate":  enc([]byte(`{"typ":"dpop+jwt","alg":"ES256","a\u006cg":"none"}`)) + "." + parts[1] + "." + parts[2],
		"33 members":         enc([]byte(`{"a0":0,"a1":0,"a2":0,"a3":0,"a4":0,"a5":0,"a6":0,"a7":0,"a8":0,"a9":0,"b0":0,"b1":0,"b2":0,"b3":0,"b4":0,"b5":0,"b6":0,"b7":0,"b8":0,"b9":0,"c0":0,"c1":0,"c2":0,"c3":0,"c4":0,"c5":0,"c6":0,"c7":0,"c8":0,"c9":0,"d0":0,"d1":0,"d2":0}`)) + "." + parts[1] + "." + parts[2],
		"bad utf8":           enc([]byte("{\"typ\":\"\xff\"}")) + "." + parts[1] + "." + parts[2],
		"JSON serialization": `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Check(proof, "POST", testURL, ""); !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Check = %v, want ErrInvalidProof", err)
			}
		})
	}
	// A duplicate claim, with the signature over it.
	hb, _ := json.Marshal(h)
	input := enc(hb) + "." + enc([]byte(`{"jti":"a","htm":"POST","htu":"`+testURL+`","iat":1800000000,"htm":"GET"}`))
	hs := sha256.Sum256([]byte(input))
	r, s, _ := ecdsa.Sign(rand.Reader, ecKey, hs[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	if _, err := v.Check(input+"."+enc(sig), "POST", testURL, ""); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("duplicate claim: Check = %v, want ErrInvalidProof", err)
	}
}

// TestHTUNormalised: htu and the request URL are compared after RFC 3986
// normalisation, query and fragment ignored (TOK-57's first half).
func TestHTUNormalised(t *testing.T) {
	v := newVerifier(t, Config{})
	for _, htu := range []string{
		"https://AS.test:443/oauth/token",
		"HTTPS://as.TEST/oauth/token",
		"https://as.test/oauth/token?x=1",
		"https://as.test/oauth/token#f",
	} {
		h, c := good(t, ecKey)
		c["htu"] = htu
		if _, err := v.Verify(context.Background(), rawProof(t, h, c, "ES256", ecKey), "POST", testURL, ""); err != nil {
			t.Errorf("htu %s: %v", htu, err)
		}
	}
	for in, want := range map[string]string{
		"http://a.test":           "http://a.test/",
		"http://a.test:80/x":      "http://a.test/x",
		"https://a.test:8443/x":   "https://a.test:8443/x",
		"https://[::1]:443/a%2fb": "https://[::1]/a%2Fb",
		"https://u:p@a.test/":     "",
		"ftp://a.test/":           "",
		"/relative":               "",
		"https://:443/":           "",
		"https://a.test/" + strings.Repeat("x", maxURLLen): "",
	} {
		got, ok := NormalizeURL(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestReplay: a proof is accepted once (TOK-58); the same jti from another
// key is another proof.
func TestReplay(t *testing.T) {
	v := newVerifier(t, Config{})
	h, c := good(t, ecKey)
	proof := rawProof(t, h, c, "ES256", ecKey)
	ctx := context.Background()
	if _, err := v.Verify(ctx, proof, "POST", testURL, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, proof, "POST", testURL, ""); !errors.Is(err, ErrReplayed) || !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("replay: %v, want ErrReplayed", err)
	}
	h2, _ := good(t, edKey)
	h2["alg"] = "EdDSA"
	if _, err := v.Verify(ctx, rawProof(t, h2, c, "EdDSA", edKey), "POST", testURL, ""); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
}

// TestReplayParallel: of many requests carrying one proof at once, exactly
// one is accepted.
func TestReplayParallel(t *testing.T) {
	for _, store := range []ReplayStore{nil, newMemReplay()} {
		v := newVerifier(t, Config{Replay: store})
		h, c := good(t, ecKey)
		proof := rawProof(t, h, c, "ES256", ecKey)
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), proof, "POST", testURL, ""); err == nil {
					ok.Add(1)
				} else if !errors.Is(err, ErrReplayed) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Errorf("store %T: %d accepted, want 1", store, ok.Load())
		}
	}
}

// memReplay is a ReplayStore as storage's contract describes it.
type memReplay struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func newMemReplay() *memReplay { return &memReplay{m: map[string]time.Time{}} }

func (s *memReplay) UseOnce(_ context.Context, kind, id string, now, exp time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[kind+"\x00"+id]; ok && t.After(now) {
		return false, nil
	}
	s.m[kind+"\x00"+id] = exp
	return true, nil
}

// TestReplayCacheBounded: the memory holds at most its size of live
// proofs, refuses more (fails closed) rather than forget one, and frees
// the stale ones.
func TestReplayCacheBounded(t *testing.T) {
	now := t0
	c := newReplayCache(replayShards) // one entry per shard
	var ids []string
	busy := 0
	for i := 0; i < 10*replayShards; i++ {
		id := strings.Repeat("i", i+1)
		switch err := c.use(id, now, now.Add(time.Minute)); {
		case err == nil:
			ids = append(ids, id)
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Fatal(err)
		}
	}
	if len(ids) > replayShards || busy == 0 {
		t.Fatalf("%d recorded, %d refused busy; want at most %d recorded", len(ids), busy, replayShards)
	}
	for _, id := range ids {
		if err := c.use(id, now.Add(59*time.Second), now.Add(2*time.Minute)); !errors.Is(err, ErrReplayed) {
			t.Fatalf("live entry forgotten: %v", err)
		}
	}
	later := now.Add(time.Minute)
	for i := 0; i < 10*replayShards; i++ {
		c.use(strings.Repeat("j", i+1), later, later.Add(time.Minute))
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > replayShards {
		t.Errorf("%d entries kept, want at most %d", n, replayShards)
	}
}

// TestNonce: with nonces on, a proof needs the current nonce (TOK-59).
func TestNonce(t *testing.T) {
	now := t0
	v := newVerifier(t, Config{Nonce: true, Now: func() time.Time { return now }})
	ctx := context.Background()
	h, c := good(t, ecKey)
	if _, err := v.Verify(ctx, rawProof(t, h, c, "ES256", ecKey), "POST", testURL, ""); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("no nonce: %v, want ErrUseNonce", err)
	}
	n := v.Nonce()
	if n == "" {
		t.Fatal("no nonce given")
	}
	c["nonce"] = n
	if _, err := v.Verify(ctx, rawProof(t, h, c, "ES256", ecKey), "POST", testURL, ""); err != nil {
		t.Fatalf("with the nonce: %v", err)
	}
	h, c = good(t, ecKey)
	c["nonce"] = strings.Repeat("A", 22)
	if _, err := v.Verify(ctx, rawProof(t, h, c, "ES256", ecKey), "POST", testURL, ""); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("wrong nonce: %v, want ErrUseNonce", err)
	}
	// The nonce lasts its slot and the next, then is stale.
	now = now.Add(2*NonceInterval + time.Second)
	h, c = good(t, ecKey)
	c["nonce"], c["iat"] = n, now.Unix()
	if _, err := v.Verify(ctx, rawProof(t, h, c, "ES256", ecKey), "POST", testURL, ""); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("stale nonce: %v, want ErrUseNonce", err)
	}
	// Another secret, another nonce.
	other := newVerifier(t, Config{Nonce: true, Now: func() time.Time { return now }})
	if other.Nonce() == v.Nonce() {
		t.Error("two random secrets gave one nonce")
	}
	shared := []byte("a nonce secret shared by servers")
	a := newVerifier(t, Config{Nonce: true, NonceSecret: shared})
	b := newVerifier(t, Config{Nonce: true, NonceSecret: shared})
	if a.Nonce() != b.Nonce() {
		t.Error("one secret gave two nonces")
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no algorithms":  {},
		"HS256":          {Algorithms: []string{"HS256"}},
		"none":           {Algorithms: []string{"none"}},
		"twice":          {Algorithms: []string{ES256, ES256}},
		"window":         {Algorithms: DefaultAlgorithms(), Window: time.Hour},
		"short secret":   {Algorithms: DefaultAlgorithms(), Nonce: true, NonceSecret: []byte("short")},
		"secret, no use": {Algorithms: DefaultAlgorithms(), NonceSecret: make([]byte, 32)},
		"negative cache": {Algorithms: DefaultAlgorithms(), ReplayCacheSize: -1},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted it", name)
		}
	}
}

// TestProverInterop: the Prover's proofs verify here and with go-jose
// (an independent implementation), and its thumbprint is go-jose's.
func TestProverInterop(t *testing.T) {
	v := newVerifier(t, Config{Nonce: true, NonceSecret: make([]byte, 32)})
	for _, key := range []crypto.Signer{ecKey, edKey, rsaKey} {
		p, err := NewProver(key)
		if err != nil {
			t.Fatal(err)
		}
		p.Now = func() time.Time { return t0 }
		p.SetNonce(v.Nonce())
		proof, err := p.Proof("GET", "https://rs.test/v1/staff?x=1", testTok)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(context.Background(), proof, "GET", "https://rs.test/v1/staff", testTok)
		if err != nil {
			t.Fatalf("%s: %v", p.Algorithm(), err)
		}
		want, _ := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
		if got.JKT != base64.RawURLEncoding.EncodeToString(want) || p.Thumbprint() != got.JKT {
			t.Errorf("%s: thumbprints differ", p.Algorithm())
		}
		jws, err := jose.ParseSignedCompact(proof, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256})
		if err != nil {
			t.Fatal(err)
		}
		sig := jws.Signatures[0].Protected
		if sig.JSONWebKey == nil || sig.ExtraHeaders["typ"] != "dpop+jwt" {
			t.Fatalf("%s: go-jose reads no jwk or typ", p.Algorithm())
		}
		if _, err := jws.Verify(sig.JSONWebKey); err != nil {
			t.Errorf("%s: go-jose: %v", p.Algorithm(), err)
		}
	}
}

// TestGoJoseProof: a proof made by go-jose (embedded jwk) verifies.
func TestGoJoseProof(t *testing.T) {
	v := newVerifier(t, Config{})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ecKey},
		&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{"typ": "dpop+jwt"}})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte(`{"jti":"gojose-1","htm":"POST","htu":"` + testURL + `","iat":1800000000}`))
	if err != nil {
		t.Fatal(err)
	}
	proof, _ := obj.CompactSerialize()
	if _, err := v.Verify(context.Background(), proof, "POST", testURL, ""); err != nil {
		t.Fatal(err)
	}
}

func TestNewProverRefuses(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small := fakeSigner{&rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 1023), big.NewInt(1)), E: 65537}}
	for name, key := range map[string]crypto.Signer{"nil": nil, "P-384": p384, "RSA-1024": small} {
		if _, err := NewProver(key); err == nil {
			t.Errorf("%s: NewProver accepted it", name)
		}
	}
}

// fakeSigner has a public key and cannot sign.
type fakeSigner struct{ pub crypto.PublicKey }

func (f fakeSigner) Public() crypto.PublicKey { return f.pub }
func (f fakeSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("fake")
}
