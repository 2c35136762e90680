package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyturn/keyturn/scope"
)

// decodeSegment decodes part i (0 header, 1 payload) of a compact JWS into a
// map, keeping numbers exact.
func decodeSegment(t testing.TB, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMintShape(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			tok, claims := e.mint(t, Grant{Subject: "sub-1", ClientID: "client-1",
				Scope: scope.MustParse("write:b read:a target-entity:E1:b,a")})
			wantHeader := map[string]any{"alg": string(alg), "kid": e.kid, "typ": "at+jwt"}
			if diff := cmp.Diff(wantHeader, decodeSegment(t, tok, 0)); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			iat := t0.Unix()
			wantClaims := map[string]any{
				"iss": testIssuer, "sub": "sub-1", "aud": testAudience, "client_id": "client-1",
				"iat": json.Number(itoa(iat)), "nbf": json.Number(itoa(iat)), "exp": json.Number(itoa(iat + 900)),
				"scope": "read:a target-entity:E1:a,b write:b", "jti": claims.ID,
			}
			if diff := cmp.Diff(wantClaims, decodeSegment(t, tok, 1)); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if len(claims.ID) != 22 {
				t.Errorf("jti %q is not 128 bits of base64url", claims.ID)
			}
			got, err := e.verify.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(claims, got, cmp.Comparer(func(a, b scope.Set) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("verified claims differ from minted (-minted +verified):\n%s", diff)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMintLifetimes(t *testing.T) {
	e := newEnv(t, EdDSA)
	ctx := context.Background()
	seeds := []struct {
		name      string
		issuer    time.Duration // IssuerConfig.Lifetime
		grant     time.Duration // Grant.Lifetime
		expiresIn int64
	}{
		{"default_is_900", 0, 0, 900},
		{"seed000_per_issuer_900", 900 * time.Second, 0, 900},
		{"seed002_per_client_7200", 0, 7200 * time.Second, 7200},
		{"seed003_per_client_3599", 900 * time.Second, 3599 * time.Second, 3599},
		{"per_client_overrides_issuer", 7200 * time.Second, 60 * time.Second, 60},
		{"max_lifetime", 0, MaxLifetime, 86400},
	}
	for _, s := range seeds {
		t.Run(s.name, func(t *testing.T) {
			iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys,
				Lifetime: s.issuer, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			g := testGrant
			g.Lifetime = s.grant
			tok, c, err := iss.Mint(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ExpiresAt.Unix() - c.IssuedAt.Unix(); got != s.expiresIn {
				t.Errorf("exp - iat = %d, want %d", got, s.expiresIn)
			}
			v, err := e.verify.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if !v.ExpiresAt.Equal(c.ExpiresAt) {
				t.Errorf("verified exp %v, minted %v", v.ExpiresAt, c.ExpiresAt)
			}
		})
	}
	bad := []struct {
		name string
		d    time.Duration
	}{
		{"sub_second", 1500 * time.Millisecond},
		{"negative", -time.Second},
		{"over_max", MaxLifetime + time.Second},
	}
	for _, b := range bad {
		t.Run("refused_"+b.name, func(t *testing.T) {
			g := testGrant
			g.Lifetime = b.d
			if _, _, err := e.issuer.Mint(ctx, g); err == nil {
				t.Error("Mint accepted the lifetime")
			}
			if _, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys, Lifetime: b.d}); err == nil {
				t.Error("NewIssuer accepted the lifetime")
			}
		})
	}
}

func TestMintExtraClaims(t *testing.T) {
	e := newEnv(t, EdDSA)
	ctx := context.Background()
	newIss := func(hook func(context.Context, *Claims) (map[string]any, error)) *Issuer {
		iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys,
			Now: e.clock.Now, Extra: hook})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	t.Run("added_and_verified", func(t *testing.T) {
		var seen *Claims
		iss := newIss(func(_ context.Context, c *Claims) (map[string]any, error) {
			seen = c
			c.Subject = "tampered" // a copy: must not reach the token
			c.Audience[0] = "tampered"
			return map[string]any{"tenant": "t-1", "roles": []string{"admin"}, "level": 3}, nil
		})
		tok, c, err := iss.Mint(ctx, testGrant)
		if err != nil {
			t.Fatal(err)
		}
		if seen == nil || seen.ClientID != testGrant.ClientID {
			t.Fatalf("hook saw %+v", seen)
		}
		if c.Subject != testGrant.Subject || c.Audience[0] != testAudience {
			t.Errorf("hook changed the registered claims: %+v", c)
		}
		got, err := e.verify.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"tenant": "t-1", "roles": []any{"admin"}, "level": float64(3)}
		if diff := cmp.Diff(want, got.Extra); diff != "" {
			t.Errorf("verified Extra (-want +got):\n%s", diff)
		}
		if got.Subject != testGrant.Subject {
			t.Errorf("sub = %q", got.Subject)
		}
	})
	for _, name := range registered {
		t.Run("refuses_registered_"+name, func(t *testing.T) {
			iss := newIss(func(context.Context, *Claims) (map[string]any, error) {
				return map[string]any{name: "evil"}, nil
			})
			if tok, _, err := iss.Mint(ctx, testGrant); err == nil {
				t.Fatalf("Mint let extra claim %q through: %s", name, tok)
			}
		})
	}
	t.Run("hook_error", func(t *testing.T) {
		boom := errors.New("boom")
		iss := newIss(func(context.Context, *Claims) (map[string]any, error) { return nil, boom })
		if _, _, err := iss.Mint(ctx, testGrant); !errors.Is(err, boom) {
			t.Fatalf("Mint = %v, want %v", err, boom)
		}
	})
	t.Run("unencodable_value", func(t *testing.T) {
		iss := newIss(func(context.Context, *Claims) (map[string]any, error) {
			return map[string]any{"f": func() {}}, nil
		})
		if _, _, err := iss.Mint(ctx, testGrant); err == nil {
			t.Fatal("Mint encoded a func")
		}
	})
	t.Run("too_large", func(t *testing.T) {
		iss := newIss(func(context.Context, *Claims) (map[string]any, error) {
			return map[string]any{"blob": strings.Repeat("x", MaxTokenSize)}, nil
		})
		if _, _, err := iss.Mint(ctx, testGrant); err == nil {
			t.Fatal("Mint made a token over MaxTokenSize")
		}
	})
	t.Run("deterministic_order", func(t *testing.T) {
		hook := func(context.Context, *Claims) (map[string]any, error) {
			return map[string]any{"b": 1, "a": 2, "c": 3, "d": 4, "e": 5}, nil
		}
		mk := func() string {
			iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys,
				Now: e.clock.Now, Extra: hook, Rand: &countingReader{}})
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := iss.Mint(ctx, testGrant)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		first := mk()
		for range 10 {
			if mk() != first {
				t.Fatal("same inputs gave different tokens")
			}
		}
	})
}

func TestMintJTIUnique(t *testing.T) {
	e := newEnv(t, EdDSA)
	iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	jtis := make(map[string]bool)
	toks := make(map[string]bool)
	for range 1000 {
		tok, c, err := iss.Mint(context.Background(), testGrant)
		if err != nil {
			t.Fatal(err)
		}
		if jtis[c.ID] || toks[tok] {
			t.Fatalf("duplicate jti or token after %d mints", len(jtis))
		}
		jtis[c.ID], toks[tok] = true, true
	}
}

func TestMintGrantAndAudience(t *testing.T) {
	e := newEnv(t, EdDSA)
	ctx := context.Background()
	cases := []struct {
		name string
		g    Grant
		ok   bool
	}{
		{"ok", testGrant, true},
		{"no_subject", Grant{ClientID: "c"}, false},
		{"no_client_id", Grant{Subject: "s"}, false},
		{"invalid_utf8_subject", Grant{Subject: "s\xff", ClientID: "c"}, false},
		{"long_subject", Grant{Subject: strings.Repeat("s", maxClaimLen+1), ClientID: "c"}, false},
		{"audience_override", Grant{Subject: "s", ClientID: "c", Audience: []string{"https://x.test/", testAudience}}, true},
		{"audience_override_empty_value", Grant{Subject: "s", ClientID: "c", Audience: []string{""}}, false},
		{"audience_override_empty_list", Grant{Subject: "s", ClientID: "c", Audience: []string{}}, false},
		{"escaped_strings", Grant{Subject: "s\"<>&\u2028\x01é😀", ClientID: "c\\"}, true},
		{"empty_scope", Grant{Subject: "s", ClientID: "c"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, minted, err := e.issuer.Mint(ctx, c.g)
			if !c.ok {
				if err == nil {
					t.Fatal("Mint accepted the grant")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.verify.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != c.g.Subject || got.ClientID != c.g.ClientID || !got.Scope.Equal(c.g.Scope) {
				t.Errorf("verified %+v, minted %+v", got, minted)
			}
			if c.g.Audience != nil && !cmp.Equal(got.Audience, c.g.Audience) {
				t.Errorf("aud = %q, want %q", got.Audience, c.g.Audience)
			}
			if _, has := decodeSegment(t, tok, 1)["scope"]; has == c.g.Scope.IsEmpty() {
				t.Errorf("scope claim present = %v for scope %q", has, c.g.Scope)
			}
		})
	}
}

func TestNewIssuerValidates(t *testing.T) {
	e := newEnv(t, EdDSA)
	ro, err := NewKeySet(context.Background(), KeySetConfig{Store: e.store, VerifyOnly: true, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ok := IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys}
	cases := []struct {
		name string
		mod  func(*IssuerConfig)
		want error
	}{
		{"no_issuer", func(c *IssuerConfig) { c.Issuer = "" }, nil},
		{"no_audience", func(c *IssuerConfig) { c.Audience = nil }, nil},
		{"empty_audience_value", func(c *IssuerConfig) { c.Audience = []string{testAudience, ""} }, nil},
		{"no_keys", func(c *IssuerConfig) { c.Keys = nil }, nil},
		{"verify_only_keys", func(c *IssuerConfig) { c.Keys = ro }, ErrNoSigningKey},
		{"opaque_without_store", func(c *IssuerConfig) { c.Format = Opaque }, nil},
		{"opaque_bad_prefix", func(c *IssuerConfig) { c.Format = Opaque; c.Opaque = e.store; c.OpaquePrefix = "_x" }, nil},
		{"unknown_format", func(c *IssuerConfig) { c.Format = 7 }, nil},
	}
	if _, err := NewIssuer(ok); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.mod(&cfg)
			_, err := NewIssuer(cfg)
			if err == nil {
				t.Fatal("NewIssuer accepted an invalid config")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("NewIssuer = %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "keyturn/token: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestMintRandFailure(t *testing.T) {
	e := newEnv(t, EdDSA)
	iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys,
		Rand: strings.NewReader("short")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := iss.Mint(context.Background(), testGrant); err == nil {
		t.Fatal("Mint succeeded without 16 random bytes")
	}
}

// Grant.IssuedAt backdates iat to when the client was checked, so that a
// client revocation between the check and minting covers the token.
func TestMintIssuedAt(t *testing.T) {
	e := newEnv(t, EdDSA)
	e.clock.Set(t0.Add(1500 * time.Millisecond)) // t0 + 1.5 s
	checked := t0.Add(900 * time.Millisecond)    // the check began 0.6 s earlier, in the second before
	g := testGrant
	g.IssuedAt = checked
	_, c, err := e.issuer.Mint(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IssuedAt.Equal(t0) || !c.NotBefore.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(DefaultLifetime)) {
		t.Errorf("iat %v nbf %v exp %v; want iat = nbf = %v and exp 900 s later", c.IssuedAt, c.NotBefore, c.ExpiresAt, t0)
	}
	if err := e.revs.RevokeClient(context.Background(), g.ClientID, checked.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if !e.revs.Revoked(c) {
		t.Error("a revocation made after the check does not cover the token")
	}

	g.IssuedAt = e.clock.Now().Add(time.Hour) // the future counts as now
	if _, c, err := e.issuer.Mint(context.Background(), g); err != nil {
		t.Errorf("IssuedAt in the future: %v", err)
	} else if !c.IssuedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("IssuedAt in the future: iat %v, want now", c.IssuedAt)
	}
	g.IssuedAt = e.clock.Now().Add(-MaxLeeway - time.Second)
	if _, _, err := e.issuer.Mint(context.Background(), g); err == nil {
		t.Error("Mint accepted an IssuedAt more than MaxLeeway in the past")
	}
}
