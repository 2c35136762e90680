package keyturn_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// Fixed inputs, so that the examples' output is deterministic: an Ed25519
// key from a fixed seed (Ed25519 signatures are deterministic) and a fixed
// clock.
var (
	exampleKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	exampleNow = func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }
)

func fixedKey(token.Algorithm) (crypto.Signer, error) { return exampleKey, nil }

// seqReader is a deterministic byte source, for the example only: never
// draw keys from anything but crypto/rand (the default when Rand is nil).
type seqReader struct{ n byte }

func (r *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		r.n = r.n*31 + 7
		p[i] = r.n
	}
	return len(p), nil
}

// A token endpoint for seed 000's API: a key created through keys.Manager
// is exchanged, as "Authorization: Bearer <key>" with no body, for an access
// token carrying the key's scope.
func ExampleEndpoint() {
	ctx := context.Background()
	store := memory.New()
	signing, err := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Now: exampleNow, Generate: fixedKey})
	if err != nil {
		log.Fatal(err)
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Issuer: "https://auth.example.com",
		Audience: []string{"https://api.example.com"}, Keys: signing, Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	revocations, err := token.NewRevocations(ctx, token.RevocationsConfig{Store: store, Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := token.NewVerifier(token.VerifierConfig{Issuer: "https://auth.example.com",
		Audience: "https://api.example.com", Keys: signing, Algorithms: []token.Algorithm{token.EdDSA},
		Revocations: revocations, Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	manager, err := keys.NewManager(keys.Config{Store: store, Prefix: "ds_live", Revoker: revocations,
		Now: exampleNow, Rand: &seqReader{}})
	if err != nil {
		log.Fatal(err)
	}
	clients := keyturn.NewKeyClients(manager)
	endpoint, err := keyturn.NewEndpoint(keyturn.EndpointConfig{
		Issuer:   issuer,
		Verifier: verifier,
		Clients:  clients,
		SplitKey: clients.SplitKey,
		Methods:  keyturn.StandardAuthMethods | keyturn.BearerKey | keyturn.JSONKey,
		Events: func(_ context.Context, ev keyturn.Event) {
			fmt.Println("event:", ev.Kind, ev.ClientID, ev.Scope)
		},
		Now: exampleNow,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /oauth/token", endpoint.Token())

	staff := scope.MustParse("read:users read:participants write:api_keys")
	key, _, err := manager.Create(ctx, keys.CreateParams{Name: "sync job", Scope: scope.MustParse("read:users read:participants")}, staff)
	if err != nil {
		log.Fatal(err)
	}

	r := httptest.NewRequest(http.MethodPost, "https://auth.example.com/oauth/token", nil)
	r.Header.Set("Authorization", "Bearer "+key.String())
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)

	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Code, w.Header().Get("Cache-Control"), resp.TokenType, resp.ExpiresIn, resp.Scope)
	c, err := verifier.Verify(ctx, resp.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client_id is the key id:", c.ClientID == key.ID())
	// Output:
	// event: token issued 7cd69af4BYh2DWj0 read:participants read:users
	// 200 no-store Bearer 900 read:participants read:users
	// client_id is the key id: true
}

// The RFC 8414 metadata document, mounted at the path MetadataPath gives.
func ExampleEndpoint_Metadata() {
	ctx := context.Background()
	store := memory.New()
	signing, _ := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Now: exampleNow, Generate: fixedKey})
	issuer, _ := token.NewIssuer(token.IssuerConfig{Issuer: "https://auth.example.com",
		Audience: []string{"https://api.example.com"}, Keys: signing})
	revocations, _ := token.NewRevocations(ctx, token.RevocationsConfig{Store: store})
	verifier, _ := token.NewVerifier(token.VerifierConfig{Issuer: "https://auth.example.com",
		Audience: "https://api.example.com", Keys: signing, Algorithms: []token.Algorithm{token.EdDSA},
		Revocations: revocations})
	manager, _ := keys.NewManager(keys.Config{Store: store, Prefix: "ds_live"})
	endpoint, err := keyturn.NewEndpoint(keyturn.EndpointConfig{
		Issuer:          issuer,
		Verifier:        verifier,
		Clients:         keyturn.NewKeyClients(manager),
		ScopesSupported: scope.MustParse("read:users read:participants"),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+endpoint.MetadataPath(), endpoint.Metadata())

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://auth.example.com"+endpoint.MetadataPath(), nil))
	var doc map[string]any
	json.Unmarshal(w.Body.Bytes(), &doc)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
	fmt.Println(strings.TrimSpace(endpoint.MetadataPath()))
	// Output:
	// {
	//   "grant_types_supported": [
	//     "client_credentials"
	//   ],
	//   "introspection_endpoint": "https://auth.example.com/oauth/introspect",
	//   "introspection_endpoint_auth_methods_supported": [
	//     "client_secret_basic",
	//     "client_secret_post"
	//   ],
	//   "issuer": "https://auth.example.com",
	//   "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
	//   "revocation_endpoint": "https://auth.example.com/oauth/revoke",
	//   "revocation_endpoint_auth_methods_supported": [
	//     "client_secret_basic",
	//     "client_secret_post"
	//   ],
	//   "scopes_supported": [
	//     "read:participants",
	//     "read:users"
	//   ],
	//   "token_endpoint": "https://auth.example.com/oauth/token",
	//   "token_endpoint_auth_methods_supported": [
	//     "client_secret_basic",
	//     "client_secret_post"
	//   ]
	// }
	// /.well-known/oauth-authorization-server
}
