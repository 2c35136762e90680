package token_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// Fixed inputs, so that the examples' output is deterministic: an Ed25519
// key from a fixed seed (Ed25519 signatures are deterministic), a fixed
// clock and a fixed source for jti values.
var (
	exampleKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	exampleNow = func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }
)

func fixedKey(token.Algorithm) (crypto.Signer, error) { return exampleKey, nil }

// Mint a token for an authenticated client and verify it, as a resource
// server would.
func Example() {
	ctx := context.Background()
	store := memory.New()

	keys, err := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Now: exampleNow, Generate: fixedKey})
	if err != nil {
		log.Fatal(err)
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{
		Issuer:   "https://auth.example.com",
		Audience: []string{"https://api.example.com"},
		Keys:     keys,
		Now:      exampleNow,
		Rand:     bytes.NewReader(make([]byte, 16)), // fixed jti, for the example only
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, _, err := issuer.Mint(ctx, token.Grant{
		Subject:  "2f1ac3d0b1e4a7c9",
		ClientID: "2f1ac3d0b1e4a7c9",
		Scope:    scope.MustParse("read:users read:participants"),
		Lifetime: 900 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}

	verifier, err := token.NewVerifier(token.VerifierConfig{
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		Keys:       keys,
		Algorithms: []token.Algorithm{token.EdDSA},
		Now:        exampleNow,
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := verifier.Verify(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok)
	fmt.Println("sub:", c.Subject)
	fmt.Println("scope:", c.Scope)
	fmt.Println("expires in:", c.ExpiresAt.Sub(exampleNow()))
	// Output:
	// eyJhbGciOiJFZERTQSIsImtpZCI6Ii0tNklNNWwwT29zTGo5eVdza0lTWWhVQTNuXzNDVVJRa21yWU1TaGFfY2siLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiIyZjFhYzNkMGIxZTRhN2M5IiwiYXVkIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZS5jb20iLCJleHAiOjE3NzI2MDE2NjcsImlhdCI6MTc3MjYwMDc2NywibmJmIjoxNzcyNjAwNzY3LCJqdGkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwiY2xpZW50X2lkIjoiMmYxYWMzZDBiMWU0YTdjOSIsInNjb3BlIjoicmVhZDpwYXJ0aWNpcGFudHMgcmVhZDp1c2VycyJ9.ogd65CHUFFm-v-Lf5_9b1NxNhGmaqxP_Ai6zyDl38z8Pnb4kF6MXV2-yKvDoskRwyv3fg31WUggJdozOfFqhAQ
	// sub: 2f1ac3d0b1e4a7c9
	// scope: read:participants read:users
	// expires in: 15m0s
}

// The JWK Set a relying party fetches from /.well-known/jwks.json.
func ExampleKeySet_JWKS() {
	ctx := context.Background()
	keys, err := token.NewKeySet(ctx, token.KeySetConfig{Store: memory.New(), Now: exampleNow, Generate: fixedKey})
	if err != nil {
		log.Fatal(err)
	}
	// Serve it with: mux.Handle(token.JWKSPath, keys.Handler())
	fmt.Printf("%s\n", keys.JWKS())
	// Output:
	// {"keys":[{"use":"sig","kty":"OKP","kid":"--6IM5l0OosLj9yWskISYhUA3n_3CURQkmrYMSha_ck","crv":"Ed25519","alg":"EdDSA","x":"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"}]}
}

// Revoking a client refuses, at once, every token issued to it before.
func ExampleRevocations() {
	ctx := context.Background()
	store := memory.New()
	keys, _ := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Now: exampleNow, Generate: fixedKey})
	revocations, err := token.NewRevocations(ctx, token.RevocationsConfig{Store: store, Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	issuer, _ := token.NewIssuer(token.IssuerConfig{Issuer: "https://auth.example.com",
		Audience: []string{"https://api.example.com"}, Keys: keys, Now: exampleNow})
	verifier, _ := token.NewVerifier(token.VerifierConfig{Issuer: "https://auth.example.com",
		Audience: "https://api.example.com", Keys: keys, Algorithms: []token.Algorithm{token.EdDSA},
		Revocations: revocations, Now: exampleNow})

	tok, _, _ := issuer.Mint(ctx, token.Grant{Subject: "k1", ClientID: "k1"})
	if err := revocations.RevokeClient(ctx, "k1", exampleNow()); err != nil {
		log.Fatal(err)
	}
	_, err = verifier.Verify(ctx, tok)
	fmt.Println(errors.Is(err, token.ErrRevoked), err)
	// Output:
	// true keyturn/token: token revoked: jti or client revoked
}

// An opaque token: random, stored only as a hash, verified by lookup through
// the same Verify call.
func ExampleIssuer_opaque() {
	ctx := context.Background()
	store := memory.New()
	issuer, err := token.NewIssuer(token.IssuerConfig{
		Issuer: "https://auth.example.com", Audience: []string{"https://api.example.com"},
		Format: token.Opaque, Opaque: store, Now: exampleNow,
		Rand: bytes.NewReader(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 16)),
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, _, err := issuer.Mint(ctx, token.Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse("read:users")})
	if err != nil {
		log.Fatal(err)
	}
	verifier, _ := token.NewVerifier(token.VerifierConfig{Issuer: "https://auth.example.com",
		Audience: "https://api.example.com", Opaque: store, Now: exampleNow})
	c, err := verifier.Verify(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok)
	fmt.Println(c.ClientID, c.Scope, c.ExpiresAt.Format(time.RFC3339))
	// Output:
	// kt_at_1234567812345678123456781234567812345678123
	// k1 read:users 2026-03-04T05:21:07Z
}
