package token

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/storage/memory"
)

// fuzzSeed is the seed of the fixed Ed25519 key that signs the tokens in
// testdata/fuzz/FuzzVerify; the fuzz verifier runs at t0.
var fuzzSeed = []byte("keyturn FuzzVerify fixed key 32b")

var sentinels = []error{ErrMalformed, ErrInvalidSignature, ErrExpired, ErrNotYetValid, ErrRevoked,
	ErrWrongIssuer, ErrWrongAudience, ErrUnknownKey, ErrUnsupportedAlgorithm, ErrWrongType}

// FuzzVerify feeds arbitrary strings to Verify, starting from real tokens
// and mutations of them. Properties: no panic; every error wraps exactly one
// sentinel and does not echo the token; whatever Verify accepts, go-jose
// (the reference) also accepts with the same key, and encoding/json reads
// the same claims from its payload; a second Verify (from the cache) and
// VerifyIgnoringRevocation give the same answer, except that the latter
// accepts a token Verify refuses as revoked.
func FuzzVerify(f *testing.F) {
	ctx := context.Background()
	key := ed25519.NewKeyFromSeed(fuzzSeed)
	clk := newClock()
	ks, err := NewKeySet(ctx, KeySetConfig{Store: memory.New(), Now: clk.Now, Generate: fixedGenerate(f, key)})
	if err != nil {
		f.Fatal(err)
	}
	iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: ks, Now: clk.Now, Rand: &countingReader{}})
	if err != nil {
		f.Fatal(err)
	}
	revs, err := NewRevocations(ctx, RevocationsConfig{Store: memory.New(), Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: ks,
		Algorithms: []Algorithm{EdDSA, ES256, RS256, PS256}, Revocations: revs, Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	tok, c, err := iss.Mint(ctx, testGrant)
	if err != nil {
		f.Fatal(err)
	}
	if err := revs.RevokeToken(ctx, "revoked-jti", c.ExpiresAt); err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	kid, err := thumbprint(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(craft(f, key, jose.EdDSA, map[string]any{"kid": kid, "typ": "at+jwt"}, mustJSON(f, with(validClaims(), "jti", "revoked-jti"))))
	f.Add(tok[:len(tok)-2])
	f.Add(strings.Replace(tok, ".", "..", 1))
	f.Add("")

	f.Fuzz(func(t *testing.T, tok string) {
		claims, err := v.Verify(ctx, tok)
		again, aerr := v.Verify(ctx, tok)
		if !reflect.DeepEqual(again, claims) || fmt.Sprint(aerr) != fmt.Sprint(err) {
			t.Fatalf("second Verify: %v, %v; first: %v, %v", again, aerr, claims, err)
		}
		ign, ierr := v.VerifyIgnoringRevocation(ctx, tok)
		switch {
		case errors.Is(err, ErrRevoked):
			if ierr != nil {
				t.Fatalf("VerifyIgnoringRevocation refused a token revoked and otherwise valid: %v", ierr)
			}
		case !reflect.DeepEqual(ign, claims) || fmt.Sprint(ierr) != fmt.Sprint(err):
			t.Fatalf("VerifyIgnoringRevocation: %v, %v; Verify: %v, %v", ign, ierr, claims, err)
		}
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q wraps %d sentinels", err, n)
			}
			if len(tok) > 50 && strings.Contains(err.Error(), tok) {
				t.Fatal("error contains the token")
			}
			if claims != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatalf("Verify accepted what go-jose cannot parse: %v", err)
		}
		payload, err := jws.Verify(key.Public())
		if err != nil {
			t.Fatalf("Verify accepted what go-jose does not verify: %v", err)
		}
		var std map[string]any
		if err := json.Unmarshal(payload, &std); err != nil {
			t.Fatalf("accepted claims encoding/json cannot read: %v", err)
		}
		if std["sub"] != claims.Subject || std["jti"] != claims.ID || std["client_id"] != claims.ClientID || std["iss"] != claims.Issuer {
			t.Fatalf("claims differ between keyturn and encoding/json: %+v vs %v", claims, std)
		}
		if typ, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			t.Fatalf("accepted typ %q", typ)
		}
		if claims.ID == "revoked-jti" {
			t.Fatal("accepted a revoked jti")
		}
	})
}
