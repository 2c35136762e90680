package token

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

type opaqueEnv struct {
	*env
	store  *faultyStore
	oiss   *Issuer
	ov     *Verifier // opaque only
	either *Verifier // JWT and opaque
}

func newOpaqueEnv(t *testing.T) *opaqueEnv {
	t.Helper()
	e := newEnv(t, EdDSA)
	o := &opaqueEnv{env: e, store: newFaultyStore()}
	var err error
	o.oiss, err = NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Format: Opaque,
		Opaque: o.store, Now: e.clock.Now, Rand: &countingReader{}})
	if err != nil {
		t.Fatal(err)
	}
	o.ov, err = NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Opaque: o.store,
		Revocations: e.revs, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	o.either, err = NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Opaque: o.store,
		Keys: e.keys, Algorithms: []Algorithm{EdDSA}, Revocations: e.revs, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *opaqueEnv) mintOpaque(t *testing.T, g Grant) (string, *Claims) {
	t.Helper()
	tok, c, err := o.oiss.Mint(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	return tok, c
}

func TestOpaqueMintVerify(t *testing.T) {
	ctx := context.Background()
	o := newOpaqueEnv(t)
	g := Grant{Subject: "key1", ClientID: "key1", Scope: scope.MustParse("read:users"), Lifetime: 7200 * time.Second}
	tok, minted := o.mintOpaque(t, g)
	if !isOpaqueShape(DefaultOpaquePrefix, tok) {
		t.Fatalf("token %q does not have the opaque shape", tok)
	}
	// The store holds the SHA-256 of the token, never the token.
	sum := sha256.Sum256([]byte(tok))
	rec, err := o.store.OpaqueToken(ctx, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	body := tok[len(DefaultOpaquePrefix)+1:]
	if bytes.Contains(rec.Claims, []byte(body)) || bytes.Contains(rec.Hash, []byte(body)) || rec.ClientID != "key1" ||
		!rec.ExpiresAt.Equal(minted.ExpiresAt) {
		t.Fatalf("stored record %+v", rec)
	}
	for name, v := range map[string]*Verifier{"opaque": o.ov, "either": o.either} {
		got, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s verifier: %v", name, err)
		}
		if got.ID != minted.ID || got.ClientID != "key1" || !got.Scope.Equal(g.Scope) ||
			got.ExpiresAt.Sub(got.IssuedAt) != 7200*time.Second {
			t.Errorf("%s verifier returned %+v", name, got)
		}
	}
}

func TestOpaqueRefusals(t *testing.T) {
	ctx := context.Background()
	o := newOpaqueEnv(t)
	tok, c := o.mintOpaque(t, testGrant)
	revokedJTI, rc := o.mintOpaque(t, testGrant)
	if err := o.revs.RevokeToken(ctx, rc.ID, rc.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	revokedClient, _ := o.mintOpaque(t, Grant{Subject: "k3", ClientID: "k3"})
	if err := o.revs.RevokeClient(ctx, "k3", o.clock.Now()); err != nil {
		t.Fatal(err)
	}
	otherIss, _ := NewIssuer(IssuerConfig{Issuer: "https://other.test", Audience: []string{testAudience}, Format: Opaque, Opaque: o.store, Now: o.clock.Now})
	wrongIss, _, _ := otherIss.Mint(ctx, testGrant)
	otherAud, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{"https://other-api.test/"}, Format: Opaque, Opaque: o.store, Now: o.clock.Now})
	wrongAud, _, _ := otherAud.Mint(ctx, testGrant)
	// A record whose client_id column disagrees with its claims: minted
	// into a scratch store, altered, then copied into the real one.
	scratch := memory.New()
	scratchIss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Format: Opaque, Opaque: scratch, Now: o.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tampered, _, err := scratchIss.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(tampered))
	rec, err := scratch.OpaqueToken(ctx, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	rec.ClientID = "someone-else"
	if err := o.store.AddOpaqueToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	unknown := tok[:len(tok)-1] + string("0123456789"[(strings.IndexByte(base62, tok[len(tok)-1])+1)%10])
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"unknown", unknown, ErrInvalidSignature},
		{"other_prefix", "kt_xx" + tok[len(DefaultOpaquePrefix):], ErrMalformed},
		{"short", tok[:len(tok)-1], ErrMalformed},
		{"bad_char", tok[:len(tok)-1] + "-", ErrMalformed},
		{"revoked_jti", revokedJTI, ErrRevoked},
		{"revoked_client", revokedClient, ErrRevoked},
		{"wrong_issuer", wrongIss, ErrWrongIssuer},
		{"wrong_audience", wrongAud, ErrWrongAudience},
		{"tampered_record", tampered, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := o.ov.Verify(ctx, tc.tok); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			} else {
				assertNoTokenInError(t, err, tc.tok)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		o.clock.Set(c.ExpiresAt.Add(DefaultLeeway))
		defer o.clock.Set(t0)
		if _, err := o.ov.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("Verify = %v, want ErrExpired", err)
		}
	})
	t.Run("store_failure", func(t *testing.T) {
		o.store.set("OpaqueToken", true)
		defer o.store.set("OpaqueToken", false)
		_, err := o.ov.Verify(ctx, tok)
		if !errors.Is(err, errInjected) || errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("Verify = %v, want the storage error", err)
		}
	})
	t.Run("mint_store_failure", func(t *testing.T) {
		o.store.set("AddOpaqueToken", true)
		defer o.store.set("AddOpaqueToken", false)
		if _, _, err := o.oiss.Mint(ctx, testGrant); !errors.Is(err, errInjected) {
			t.Fatalf("Mint = %v, want the storage error", err)
		}
	})
	t.Run("jwt_to_opaque_only_verifier", func(t *testing.T) {
		jwt, _ := o.mint(t, testGrant)
		if _, err := o.ov.Verify(ctx, jwt); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Verify = %v, want ErrMalformed", err)
		}
	})
	t.Run("opaque_to_jwt_only_verifier", func(t *testing.T) {
		if _, err := o.verify.Verify(ctx, tok); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Verify = %v, want ErrMalformed", err)
		}
	})
}

// TestCombinedVerifier: one Verifier, both formats, routed by shape, so
// callers do not care which format they got.
func TestCombinedVerifier(t *testing.T) {
	ctx := context.Background()
	o := newOpaqueEnv(t)
	jwt, jc := o.mint(t, testGrant)
	opq, oc := o.mintOpaque(t, testGrant)
	for name, tc := range map[string]struct {
		tok string
		c   *Claims
	}{"jwt": {jwt, jc}, "opaque": {opq, oc}} {
		got, err := o.either.Verify(ctx, tc.tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.ID != tc.c.ID {
			t.Errorf("%s: jti %q, want %q", name, got.ID, tc.c.ID)
		}
	}
	if _, err := o.either.Verify(ctx, "garbage"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestOpaqueTokensDistinct(t *testing.T) {
	o := newOpaqueEnv(t)
	seen := map[string]bool{}
	for range 1000 {
		tok, _ := o.mintOpaque(t, testGrant)
		if seen[tok] {
			t.Fatal("duplicate opaque token")
		}
		seen[tok] = true
	}
	// The body is unbiased base62: rejection sampling keeps bytes < 248,
	// so a reader of all-0xff bytes must never terminate with output...
	if _, err := newOpaqueToken("p", strings.NewReader(strings.Repeat("\xff", 640))); err == nil {
		t.Fatal("newOpaqueToken produced a token from rejected bytes only")
	}
	// ...and 43 bytes below 248 map one to one.
	tok, err := newOpaqueToken("p", strings.NewReader(strings.Repeat("\x3d", 64)))
	if err != nil || tok != "p_"+strings.Repeat("z", opaqueBodyLen) {
		t.Fatalf("newOpaqueToken = %q, %v", tok, err)
	}
}

func TestOpaquePrefix(t *testing.T) {
	cases := []struct {
		prefix string
		ok     bool
	}{
		{"kt_at", true}, {"a", true}, {"ds_live2", true},
		{"", false}, {"_a", false}, {"a_", false}, {"A", false}, {"a-b", false}, {"1a", false},
		{strings.Repeat("a", maxOpaquePrefixLen+1), false},
	}
	for _, c := range cases {
		if err := checkOpaquePrefix(c.prefix); (err == nil) != c.ok {
			t.Errorf("checkOpaquePrefix(%q) = %v", c.prefix, err)
		}
	}
}

var _ storage.OpaqueTokenStore = (*faultyStore)(nil)
