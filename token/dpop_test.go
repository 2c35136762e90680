package token

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// testJKT is a well-formed SHA-256 JWK thumbprint.
const testJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

// TestMintBound: a Grant with JKT gives a token with cnf.jkt (RFC 9449
// §6.1), JWT or opaque, and Verify returns it, from the cache too; a grant
// without gives no cnf.
func TestMintBound(t *testing.T) {
	ctx := context.Background()
	o := newOpaqueEnv(t)
	g := testGrant
	g.JKT = testJKT
	tok, minted := o.mint(t, g)
	if minted.JKT != testJKT {
		t.Fatalf("minted claims JKT = %q", minted.JKT)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Cnf map[string]string `json:"cnf"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil || claims.Cnf["jkt"] != testJKT || len(claims.Cnf) != 1 {
		t.Fatalf("payload cnf = %v, %v", claims.Cnf, err)
	}
	for i := range 2 { // the second from the cache
		c, err := o.verify.Verify(ctx, tok)
		if err != nil || c.JKT != testJKT {
			t.Fatalf("Verify %d: JKT %q, %v", i, c.JKT, err)
		}
	}
	otok, _ := o.mintOpaque(t, g)
	if c, err := o.either.Verify(ctx, otok); err != nil || c.JKT != testJKT {
		t.Fatalf("opaque: %v", err)
	}
	btok, _ := o.mint(t, testGrant)
	if c, err := o.verify.Verify(ctx, btok); err != nil || c.JKT != "" {
		t.Fatalf("bearer token: JKT %q, %v", c.JKT, err)
	}
	jws, _ = jose.ParseSignedCompact(btok, []jose.SignatureAlgorithm{jose.EdDSA})
	if strings.Contains(string(jws.UnsafePayloadWithoutVerification()), "cnf") {
		t.Error("a bearer token carries cnf")
	}
}

func TestMintBadJKT(t *testing.T) {
	e := newEnv(t, EdDSA)
	for _, jkt := range []string{"short", testJKT + "A", strings.Repeat("=", 43), testJKT[:42] + "!"} {
		g := testGrant
		g.JKT = jkt
		if _, _, err := e.issuer.Mint(context.Background(), g); err == nil {
			t.Errorf("Mint accepted JKT %q", jkt)
		}
	}
	// A host claim cannot make or replace a binding.
	iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: e.keys, Now: e.clock.Now,
		Extra: func(context.Context, *Claims) (map[string]any, error) {
			return map[string]any{"cnf": map[string]string{"jkt": testJKT}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := iss.Mint(context.Background(), testGrant); err == nil {
		t.Error("Extra set cnf")
	}
}

// TestCnfMalformed: a cnf keyturn cannot check refuses the token, so that
// a bound token never passes for a bearer one.
func TestCnfMalformed(t *testing.T) {
	e := newEnv(t, EdDSA)
	for name, cnf := range map[string]any{
		"string":       testJKT,
		"empty":        map[string]any{},
		"x5t only":     map[string]any{"x5t#S256": testJKT},
		"jkt and x5t":  map[string]any{"jkt": testJKT, "x5t#S256": testJKT},
		"jkt short":    map[string]any{"jkt": "abc"},
		"jkt a number": map[string]any{"jkt": 1},
		"jkt non-b64":  map[string]any{"jkt": strings.Repeat("+", 43)},
		"null":         nil,
		"array":        []string{testJKT},
	} {
		t.Run(name, func(t *testing.T) {
			c := validClaims()
			c["cnf"] = cnf
			tok := craft(t, e.key, jose.EdDSA, e.stdHeader(), mustJSON(t, c))
			if _, err := e.verify.Verify(context.Background(), tok); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, want ErrMalformed", err)
			}
		})
	}
	c := validClaims()
	c["cnf"] = map[string]any{"jkt": testJKT}
	tok := craft(t, e.key, jose.EdDSA, e.stdHeader(), mustJSON(t, c))
	if got, err := e.verify.Verify(context.Background(), tok); err != nil || got.JKT != testJKT {
		t.Fatalf("well-formed cnf: %v", err)
	}
}
