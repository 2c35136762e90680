package keyturn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// The token environment the endpoint tests run on: the token package's
// parts over a memory store, with a settable clock and fixed keys.

const (
	testIssuer   = "https://as.test"
	testAudience = "https://api.test/"
)

// t0 is the fixed start of every test clock.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// clock is a settable clock shared by the objects under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingReader is a deterministic, non-repeating Rand: byte i of the
// stream is a function of a counter, so every jti differs.
type countingReader struct {
	mu sync.Mutex
	n  uint64
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		r.n++
		x := r.n * 0x9e3779b97f4a7c15
		p[i] = byte(x>>56) ^ byte(x>>24)
	}
	return len(p), nil
}

// rsaKeys caches RSA keys per test binary: generating them is slow.
var (
	rsaOnce sync.Once
	rsaKey  [2]*rsa.PrivateKey
)

// fixedKey returns a fixed key for alg: the i-th of two, so tests can have
// two distinct keys of one algorithm.
func fixedKey(t testing.TB, alg token.Algorithm, i int) crypto.Signer {
	t.Helper()
	switch alg {
	case token.EdDSA:
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(i + 1)
		return ed25519.NewKeyFromSeed(seed)
	case token.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case token.RS256, token.PS256:
		rsaOnce.Do(func() {
			for j := range rsaKey {
				k, err := rsa.GenerateKey(nil, 2048)
				if err != nil {
					panic(err)
				}
				rsaKey[j] = k
			}
		})
		return rsaKey[i]
	}
	t.Fatalf("no key for %s", alg)
	return nil
}

// fixedGenerate returns a Generate hook that hands out the given keys in
// order, so a KeySet's keys are known to the test.
func fixedGenerate(t testing.TB, keys ...crypto.Signer) func(token.Algorithm) (crypto.Signer, error) {
	var mu sync.Mutex
	return func(token.Algorithm) (crypto.Signer, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(keys) == 0 {
			t.Error("fixedGenerate: out of keys")
			return nil, errors.New("out of keys")
		}
		k := keys[0]
		keys = keys[1:]
		return k, nil
	}
}

// env is a working issuer + verifier pair over one store.
type env struct {
	clock  *clock
	store  *memory.Store
	keys   *token.KeySet
	key    crypto.Signer // the active key
	kid    string
	alg    token.Algorithm
	issuer *token.Issuer
	verify *token.Verifier
	revs   *token.Revocations
}

func newEnv(t testing.TB, alg token.Algorithm) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{clock: newClock(), store: memory.New(), alg: alg}
	e.key = fixedKey(t, alg, 0)
	var err error
	e.keys, err = token.NewKeySet(ctx, token.KeySetConfig{
		Store: e.store, Algorithm: alg, Now: e.clock.Now,
		Generate: fixedGenerate(t, e.key, fixedKey(t, alg, 1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: e.key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	e.kid = base64.RawURLEncoding.EncodeToString(tp)
	e.revs, err = token.NewRevocations(ctx, token.RevocationsConfig{Store: e.store, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.issuer, err = token.NewIssuer(token.IssuerConfig{
		Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys,
		Now: e.clock.Now, Rand: &countingReader{},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.verify, err = token.NewVerifier(token.VerifierConfig{
		Issuer: testIssuer, Audience: testAudience, Keys: e.keys, Algorithms: []token.Algorithm{alg},
		Revocations: e.revs, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	keySetOf.Store(e.issuer, e.keys)
	return e
}

// keySetOf maps each env's Issuer to its KeySet, for tests that build a
// second Verifier over the key set of an EndpointConfig's Issuer.
var keySetOf sync.Map

func issuerKeys(i *token.Issuer) *token.KeySet {
	ks, _ := keySetOf.Load(i)
	return ks.(*token.KeySet)
}

var testGrant = token.Grant{Subject: "key1", ClientID: "key1", Scope: scope.MustParse("read:users write:users")}

func (e *env) mint(t testing.TB, g token.Grant) (string, *token.Claims) {
	t.Helper()
	tok, c, err := e.issuer.Mint(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	return tok, c
}

// validClaims returns a claim set that the env's verifier accepts at t0.
func validClaims() map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "key1",
		"aud":       testAudience,
		"exp":       t0.Add(15 * time.Minute).Unix(),
		"iat":       t0.Unix(),
		"nbf":       t0.Unix(),
		"jti":       "jti-1",
		"client_id": "key1",
		"scope":     "read:users",
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// craft signs payload with go-jose, with alg and the given protected
// header parameters (besides alg, which go-jose sets).
func craft(t testing.TB, key any, alg jose.SignatureAlgorithm, hdr map[string]any, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range hdr {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stdHeader is the header keyturn writes, minus alg.
func (e *env) stdHeader() map[string]any {
	return map[string]any{"kid": e.kid, "typ": "at+jwt"}
}

// allAlgs lists every supported algorithm.
var allAlgs = []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.PS256}

// faultyStore wraps a memory store and fails the methods named in fail.
type faultyStore struct {
	*memory.Store
	mu   sync.Mutex
	fail map[string]bool
}

var errInjected = errors.New("injected storage failure")

func newFaultyStore() *faultyStore {
	return &faultyStore{Store: memory.New(), fail: map[string]bool{}}
}

func (f *faultyStore) set(method string, fail bool) {
	f.mu.Lock()
	f.fail[method] = fail
	f.mu.Unlock()
}

func (f *faultyStore) failing(method string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[method]
}

func (f *faultyStore) AddRevocation(ctx context.Context, r storage.Revocation) error {
	if f.failing("AddRevocation") {
		return errInjected
	}
	return f.Store.AddRevocation(ctx, r)
}

func (f *faultyStore) OpaqueToken(ctx context.Context, hash []byte) (storage.OpaqueToken, error) {
	if f.failing("OpaqueToken") {
		return storage.OpaqueToken{}, errInjected
	}
	return f.Store.OpaqueToken(ctx, hash)
}

func (f *faultyStore) AddOpaqueToken(ctx context.Context, tok storage.OpaqueToken) error {
	if f.failing("AddOpaqueToken") {
		return errInjected
	}
	return f.Store.AddOpaqueToken(ctx, tok)
}
