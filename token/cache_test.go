package token

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/scope"
)

// forgetKeys empties e's key set in memory and stops it reloading, so that
// any verification that reaches the key set fails with ErrUnknownKey: a
// token still accepted was served from the cache.
func (e *env) forgetKeys() {
	e.keys.snap.Store(&keySnapshot{byID: map[string]*keyEntry{}})
	e.keys.nextReload.Store(math.MaxInt64)
}

// uncached returns a verifier like e's with the cache off.
func (e *env) uncached(t testing.TB) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys,
		Algorithms: []Algorithm{e.alg}, Revocations: e.revs, Now: e.clock.Now, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (s *cacheShard) checkInvariants(t *testing.T, i int) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.ring) != len(s.m) || len(s.ring) > s.max {
		t.Fatalf("shard %d: ring %d, map %d, max %d", i, len(s.ring), len(s.m), s.max)
	}
	for j, e := range s.ring {
		if e.slot != j || s.m[e.key] != e {
			t.Fatalf("shard %d: ring and map disagree at %d", i, j)
		}
	}
}

// TestVerifierCacheOnByDefault: a second Verify of a token is served from
// the cache, without reaching the key set, and hands out the same claims.
func TestVerifierCacheOnByDefault(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	if e.verify.cache == nil {
		t.Fatal("a zero VerifierConfig.CacheSize left the cache off")
	}
	capacity := 0
	for i := range e.verify.cache.shards {
		capacity += e.verify.cache.shards[i].max
	}
	if capacity != DefaultCacheSize {
		t.Errorf("capacity %d, want DefaultCacheSize", capacity)
	}
	tok, _ := e.mint(t, testGrant)
	first, err := e.verify.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.verify.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens after one verification, want 1", n)
	}
	e.forgetKeys()
	again, err := e.verify.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("second Verify reached the key set: %v", err)
	}
	if again != first {
		t.Error("second Verify returned other claims than the cached ones")
	}
	// The same token through a verifier without a cache does reach it.
	if _, err := e.uncached(t).Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("uncached verifier with no keys: err = %v, want ErrUnknownKey", err)
	}
}

// TestVerifierCacheNegativeDisables: CacheSize < 0 verifies every time.
func TestVerifierCacheNegativeDisables(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	v := e.uncached(t)
	if v.cache != nil {
		t.Fatal("negative CacheSize built a cache")
	}
	tok, _ := e.mint(t, testGrant)
	a, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two verifications without a cache shared their claims")
	}
	e.forgetKeys()
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("err = %v, want ErrUnknownKey: the token was not verified again", err)
	}
}

// TestVerifierCacheRevocationGatesHits: a token revoked after it was
// cached, by jti or by client, here or in another process after a refresh,
// is refused on its next use with ErrRevoked and leaves the cache.
func TestVerifierCacheRevocationGatesHits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	byJTI, cj := e.mint(t, Grant{Subject: "s", ClientID: "c1"})
	byClient, _ := e.mint(t, Grant{Subject: "s", ClientID: "c2"})
	elsewhere, ce := e.mint(t, Grant{Subject: "s", ClientID: "c3"})
	kept, _ := e.mint(t, Grant{Subject: "s", ClientID: "c4"})
	for _, tok := range []string{byJTI, byClient, elsewhere, kept} {
		if _, err := e.verify.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.verify.cache.len(); n != 4 {
		t.Fatalf("cache holds %d, want 4", n)
	}
	if err := e.revs.RevokeToken(ctx, cj.ID, cj.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if err := e.revs.RevokeClient(ctx, "c2", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// Another process revokes c3's token; this one learns at its refresh.
	other, err := NewRevocations(ctx, RevocationsConfig{Store: e.store, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RevokeToken(ctx, ce.ID, ce.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify.Verify(ctx, elsewhere); err != nil {
		t.Fatalf("revoked elsewhere, before the refresh: %v", err)
	}
	e.clock.Add(time.Second)
	if err := e.revs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"jti": byJTI, "client": byClient, "elsewhere": elsewhere} {
		if c, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrRevoked) || c != nil {
			t.Errorf("revoked by %s after caching: %v, %v; want ErrRevoked", name, c, err)
		}
		// Still refused: the re-verification cached nothing.
		if _, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("revoked by %s, second use: %v", name, err)
		}
	}
	if n := e.verify.cache.len(); n != 1 {
		t.Errorf("cache holds %d after three revocations, want 1", n)
	}
	if _, err := e.verify.Verify(ctx, kept); err != nil {
		t.Errorf("unrevoked token: %v", err)
	}
}

// TestVerifierCacheNeverServesExpired: a cached token is served up to just
// before its exp and never at or after it (then it is verified again, which
// still accepts it within the leeway, without caching it).
func TestVerifierCacheNeverServesExpired(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	tok, minted := e.mint(t, Grant{Subject: "s", ClientID: "c", Lifetime: 10 * time.Minute})
	first, err := e.verify.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(minted.ExpiresAt.Add(-time.Microsecond))
	if c, err := e.verify.Verify(ctx, tok); err != nil || c != first {
		t.Fatalf("just before exp: %v, %v; want the cached claims", c, err)
	}
	e.clock.Set(minted.ExpiresAt)
	c, err := e.verify.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("at exp, within the leeway: %v", err)
	}
	if c == first {
		t.Error("served from the cache at exp")
	}
	if n := e.verify.cache.len(); n != 0 {
		t.Errorf("cache holds %d at exp, want 0 (not served, not re-added)", n)
	}
	e.clock.Set(minted.ExpiresAt.Add(DefaultLeeway))
	if _, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Errorf("past exp and leeway: %v, want ErrExpired", err)
	}

	// A token first verified within the leeway after its exp is not cached.
	e.clock.Set(t0)
	late, lc := e.mint(t, Grant{Subject: "s", ClientID: "c", Lifetime: time.Minute})
	e.clock.Set(lc.ExpiresAt.Add(time.Second))
	a, err := e.verify.Verify(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := e.verify.Verify(ctx, late); b == a || e.verify.cache.len() != 0 {
		t.Error("a token past its exp was cached")
	}
}

// TestVerifierCacheOnlySuccesses: refusals are never cached.
func TestVerifierCacheOnlySuccesses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	bad := e.craftRaw(t, `{"alg":"EdDSA","kid":"`+e.kid+`","typ":"at+jwt"}`,
		string(mustJSON(t, with(validClaims(), "aud", "https://other.test"))))
	for range 3 {
		if _, err := e.verify.Verify(ctx, bad); !errors.Is(err, ErrWrongAudience) {
			t.Fatalf("err = %v, want ErrWrongAudience", err)
		}
	}
	for _, tok := range []string{"", "x", strings.Repeat("a", MaxTokenSize+1)} {
		if _, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want ErrMalformed", err)
		}
	}
	if n := e.verify.cache.len(); n != 0 {
		t.Errorf("cache holds %d refusals", n)
	}
}

// TestVerifierCacheClaimsEqualUncached: the cached claims are shared by
// every hit and equal to what a verification without the cache returns.
func TestVerifierCacheClaimsEqualUncached(t *testing.T) {
	ctx := context.Background()
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			tok, minted := e.mint(t, Grant{Subject: "s", ClientID: "c", Scope: scope.MustParse("read:users target-entity:E1:read,write")})
			cached, err := e.verify.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			hit, err := e.verify.Verify(ctx, tok)
			if err != nil || hit != cached {
				t.Fatalf("hit: %v, %v", hit, err)
			}
			fresh, err := e.uncached(t).Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			ignoring, err := e.verify.VerifyIgnoringRevocation(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range map[string]*Claims{"uncached": fresh, "ignoring revocation": ignoring} {
				if c == cached || !reflect.DeepEqual(c, cached) {
					t.Errorf("%s claims %+v, cached %+v", name, c, cached)
				}
			}
			if cached.ID != minted.ID || !cached.ExpiresAt.Equal(minted.ExpiresAt) {
				t.Errorf("cached claims %+v, minted %+v", cached, minted)
			}
		})
	}
}

// TestVerifierCacheBound: the cache never holds more than CacheSize tokens
// and keeps its ring and map consistent while evicting.
func TestVerifierCacheBound(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	const size = 40
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys,
		Algorithms: []Algorithm{EdDSA}, Revocations: e.revs, Now: e.clock.Now, CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		tok, _ := e.mint(t, Grant{Subject: "s", ClientID: "c" + strconv.Itoa(i)})
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.len(); n > size {
			t.Fatalf("after %d tokens the cache holds %d > %d", i+1, n, size)
		}
	}
	if n := v.cache.len(); n < size*3/4 {
		t.Errorf("cache holds %d, want close to %d", n, size)
	}
	for i := range v.cache.shards {
		v.cache.shards[i].checkInvariants(t, i)
	}
}

// TestVerifiedCacheEviction drives the cache itself through many more keys
// than it holds: the size is never exceeded, shards stay consistent, an
// entry used between insertions survives (CLOCK), and sizes below the
// shard count are honoured.
func TestVerifiedCacheEviction(t *testing.T) {
	claims := func(i int) (*[32]byte, *Claims) {
		k := cacheKey("tok" + strconv.Itoa(i))
		return &k, &Claims{ID: "jti" + strconv.Itoa(i), ClientID: "c", ExpiresAt: t0.Add(time.Hour)}
	}
	for _, size := range []int{1, 5, cacheShards, 1000, 1001} {
		c := newVerifiedCache(size)
		capacity := 0
		for i := range c.shards {
			capacity += c.shards[i].max
		}
		if capacity != size {
			t.Fatalf("size %d: capacity %d", size, capacity)
		}
		for i := range 20 * size {
			c.add(claims(i))
			if i%97 == 0 && c.len() > size {
				t.Fatalf("size %d: holds %d after %d adds", size, c.len(), i+1)
			}
		}
		if n := c.len(); n > size || size >= cacheShards && n < size*9/10 {
			t.Errorf("size %d: holds %d", size, n)
		}
		for i := range c.shards {
			c.shards[i].checkInvariants(t, i)
		}
	}

	c := newVerifiedCache(cacheShards * 4)
	hk, hc := claims(-1)
	c.add(hk, hc)
	for i := range 2000 {
		c.add(claims(i))
		if c.lookup(hk, t0, nil) != hc {
			t.Fatalf("a token used between every insertion was evicted after %d", i)
		}
	}
	// An entry added twice keeps the first claims.
	k, first := claims(5000)
	c.add(k, first)
	c.add(k, &Claims{ID: "other", ExpiresAt: t0.Add(time.Hour)})
	if c.lookup(k, t0, nil) != first {
		t.Error("a second add replaced the published entry")
	}
}

// TestVerifierCacheConcurrent verifies, revokes and evicts from several
// goroutines on a small cache, for the race detector; a token is accepted
// with its own claims or refused as revoked, and once its revocation
// returned it is never accepted again.
func TestVerifierCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys,
		Algorithms: []Algorithm{EdDSA}, Revocations: e.revs, Now: e.clock.Now, CacheSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	toks := make([]string, n)
	ids := make([]string, n)
	exps := make([]time.Time, n)
	for i := range toks {
		var c *Claims
		toks[i], c = e.mint(t, Grant{Subject: "s", ClientID: fmt.Sprint("c", i)})
		ids[i], exps[i] = c.ID, c.ExpiresAt
	}
	var revoked [n]bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 600 {
				j := (i*7 + g) % n
				mu.Lock()
				was := revoked[j]
				mu.Unlock()
				c, err := v.Verify(ctx, toks[j])
				switch {
				case err == nil && was:
					t.Errorf("token %d accepted after its revocation", j)
					return
				case err == nil && c.ID != ids[j]:
					t.Errorf("token %d: claims of %s", j, c.ID)
					return
				case err != nil && !errors.Is(err, ErrRevoked):
					t.Errorf("token %d: %v", j, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for j := 0; j < n; j += 5 {
			if err := e.revs.RevokeToken(ctx, ids[j], exps[j]); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			revoked[j] = true
			mu.Unlock()
		}
	})
	wg.Wait()
	if got := v.cache.len(); got > 24 {
		t.Errorf("cache holds %d > 24", got)
	}
	for i := range v.cache.shards {
		v.cache.shards[i].checkInvariants(t, i)
	}
}

// TestVerifierOpaqueNotCached: opaque tokens are looked up in the store on
// every Verify, so a deleted record, a failing store and a revocation all
// bite on the next use.
func TestVerifierOpaqueNotCached(t *testing.T) {
	ctx := context.Background()
	o := newOpaqueEnv(t)
	for name, v := range map[string]*Verifier{"opaque": o.ov, "either": o.either} {
		t.Run(name, func(t *testing.T) {
			tok, minted := o.mintOpaque(t, Grant{Subject: "s", ClientID: "c-" + name})
			a, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			b, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if a == b || v.cache.len() != 0 {
				t.Fatal("an opaque token was cached")
			}
			o.store.set("OpaqueToken", true)
			_, err = v.Verify(ctx, tok)
			o.store.set("OpaqueToken", false)
			if !errors.Is(err, errInjected) {
				t.Errorf("store down: err = %v, want the store's error", err)
			}
			if err := o.revs.RevokeToken(ctx, minted.ID, minted.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
				t.Errorf("revoked: err = %v, want ErrRevoked", err)
			}
			if _, err := v.VerifyIgnoringRevocation(ctx, tok); err != nil {
				t.Errorf("VerifyIgnoringRevocation of a revoked opaque token: %v", err)
			}
		})
	}
}

// TestVerifyIgnoringRevocation: it accepts a revoked token that is
// otherwise valid, refuses everything else Verify refuses, and neither
// reads nor fills the cache.
func TestVerifyIgnoringRevocation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	byJTI, cj := e.mint(t, Grant{Subject: "s", ClientID: "c1"})
	byClient, _ := e.mint(t, Grant{Subject: "s", ClientID: "c2"})
	if err := e.revs.RevokeToken(ctx, cj.ID, cj.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if err := e.revs.RevokeClient(ctx, "c2", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{byJTI, byClient} {
		if _, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
			t.Fatalf("Verify: %v, want ErrRevoked", err)
		}
		c, err := e.verify.VerifyIgnoringRevocation(ctx, tok)
		if err != nil {
			t.Fatalf("VerifyIgnoringRevocation of a revoked token: %v", err)
		}
		if c.ClientID != "c1" && c.ClientID != "c2" {
			t.Errorf("claims %+v", c)
		}
	}
	if n := e.verify.cache.len(); n != 0 {
		t.Errorf("VerifyIgnoringRevocation filled the cache: %d", n)
	}

	// Every other check still applies.
	refused := map[string]struct {
		tok  string
		want error
	}{
		"empty":     {"", ErrMalformed},
		"too long":  {strings.Repeat("a", MaxTokenSize+1), ErrMalformed},
		"audience":  {e.craftRaw(t, `{"alg":"EdDSA","kid":"`+e.kid+`","typ":"at+jwt"}`, string(mustJSON(t, with(validClaims(), "aud", "https://other.test")))), ErrWrongAudience},
		"issuer":    {e.craftRaw(t, `{"alg":"EdDSA","kid":"`+e.kid+`","typ":"at+jwt"}`, string(mustJSON(t, with(validClaims(), "iss", "https://other.test")))), ErrWrongIssuer},
		"typ":       {e.craftRaw(t, `{"alg":"EdDSA","kid":"`+e.kid+`","typ":"JWT"}`, string(mustJSON(t, validClaims()))), ErrWrongType},
		"signature": {byJTI[:len(byJTI)-4] + "AAAA", ErrInvalidSignature},
	}
	for name, c := range refused {
		if _, err := e.verify.VerifyIgnoringRevocation(ctx, c.tok); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	e.clock.Add(time.Hour)
	if _, err := e.verify.VerifyIgnoringRevocation(ctx, byJTI); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: err = %v, want ErrExpired", err)
	}

	// It does not read the cache either: a cached token whose key is gone
	// is still accepted by Verify, and refused by VerifyIgnoringRevocation.
	e.clock.Set(t0)
	tok, _ := e.mint(t, testGrant)
	if _, err := e.verify.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	e.forgetKeys()
	if _, err := e.verify.Verify(ctx, tok); err != nil {
		t.Fatalf("cached Verify: %v", err)
	}
	if _, err := e.verify.VerifyIgnoringRevocation(ctx, tok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("VerifyIgnoringRevocation: err = %v, want ErrUnknownKey (it must not read the cache)", err)
	}
}

// TestVerifierCopySharesCache: a Verifier copied by value (as a host may
// do to change a field) shares the cache, and each copy gates hits on its
// own revocations.
func TestVerifierCopySharesCache(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	tok, c := e.mint(t, testGrant)
	if _, err := e.verify.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	cp := *e.verify
	cp.revocations = nil
	if err := e.revs.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Verify(ctx, tok); err != nil {
		t.Errorf("copy without revocations: %v", err)
	}
	if _, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("original after the copy's hit: %v, want ErrRevoked", err)
	}
}
