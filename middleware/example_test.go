package middleware_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// exampleStack builds what a host has: a key set, an issuer and a verifier
// over one store, with a fixed key and clock so the output is stable.
func exampleStack() (*token.Issuer, middleware.Verifier) {
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	store := memory.New()
	ks, err := token.NewKeySet(ctx, token.KeySetConfig{
		Store:    store,
		Generate: func(token.Algorithm) (crypto.Signer, error) { return ed25519.NewKeyFromSeed(make([]byte, 32)), nil },
		Now:      clock,
	})
	if err != nil {
		panic(err)
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Issuer: "https://auth.example", Audience: []string{"https://api.example"}, Keys: ks, Now: clock})
	if err != nil {
		panic(err)
	}
	revs, err := token.NewRevocations(ctx, token.RevocationsConfig{Store: store, Now: clock})
	if err != nil {
		panic(err)
	}
	// The verifier caches the tokens it accepts (VerifierConfig.CacheSize),
	// checking revocation and exp on every hit.
	v, err := token.NewVerifier(token.VerifierConfig{
		Issuer: "https://auth.example", Audience: "https://api.example",
		Keys: ks, Algorithms: []token.Algorithm{token.EdDSA}, Revocations: revs, Now: clock,
	})
	if err != nil {
		panic(err)
	}
	return issuer, v
}

// Protect a ServeMux route with one scope.
func ExampleMiddleware_Require() {
	issuer, verifier := exampleStack()
	m, err := middleware.New(middleware.Config{Verifier: verifier, Realm: "example"})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/staff", m.Require("read:users")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"staff":[]}`)
	})))

	call := func(scopes string) {
		req := httptest.NewRequest("GET", "/v1/staff", nil)
		if scopes != "" {
			tok, _, err := issuer.Mint(context.Background(), token.Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse(scopes)})
			if err != nil {
				panic(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	call("")
	call("read:participants")
	call("read:users read:participants")
	// Output:
	// 401 Bearer realm="example"
	// 403 Bearer realm="example", error="insufficient_scope", error_description="the token lacks the scope this resource needs", scope="read:users"
	// 200
}

// Read the verified claims in a handler.
func Example_claims() {
	issuer, verifier := exampleStack()
	m, err := middleware.New(middleware.Config{Verifier: verifier})
	if err != nil {
		panic(err)
	}
	h := m.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := token.FromContext(r.Context())
		fmt.Fprintf(w, "client %s, scope %q, expires %s", c.ClientID, c.Scope, c.ExpiresAt.Format(time.RFC3339))
	}))

	tok, _, err := issuer.Mint(context.Background(), token.Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse("read:users")})
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Body.String())
	// Output:
	// client k1, scope "read:users", expires 2026-11-23T12:15:00Z
}
