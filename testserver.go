package keyturn

import (
	"context"
	"io"
	"log/slog"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// TB is the part of testing.TB that the test helpers use; *testing.T and
// *testing.B satisfy it. (keyturn does not import package testing.)
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// The configuration of a [TestServer].
const (
	TestIssuer    = "https://keyturn.test"
	TestKeyPrefix = "test"
)

// TestServer is a [Server] for a host's own tests, in the spirit of
// net/http/httptest: the real thing over a fresh in-memory store, so that
// handlers behind [Server.Require] can be tested with real tokens:
//
//	ts := keyturn.NewTestServer(t)
//	h := ts.Require("read:users")(myHandler)
//	req.Header.Set("Authorization", "Bearer "+ts.Token(t, "read:users"))
//
// Its issuer is TestIssuer, its key prefix TestKeyPrefix, plain HTTP is
// allowed and nothing is logged. Revoking a key made by [TestServer.Key]
// through [Server.Keys] refuses its tokens, as in production.
type TestServer struct {
	*Server
}

// NewTestServer returns a TestServer; it stops the test on failure.
func NewTestServer(t TB) *TestServer {
	t.Helper()
	srv, err := New(context.Background(), Config{
		Store:          memory.New(),
		Issuer:         TestIssuer,
		KeyPrefix:      TestKeyPrefix,
		AllowPlainHTTP: true,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("keyturn: NewTestServer: %v", err)
	}
	return &TestServer{srv}
}

// Key creates an API key holding scopes (a space-delimited scope string),
// with no creator, and returns it. It stops the test if scopes do not parse
// or the key cannot be made.
func (ts *TestServer) Key(t TB, scopes string) keys.Key {
	t.Helper()
	set, err := scope.Parse(scopes)
	if err != nil {
		t.Fatalf("keyturn: TestServer.Key: %v", err)
	}
	k, _, err := ts.keys.Create(context.Background(), keys.CreateParams{Name: "test", Scope: set}, set)
	if err != nil {
		t.Fatalf("keyturn: TestServer.Key: %v", err)
	}
	return k
}

// Token returns an access token holding scopes (a space-delimited scope
// string), minted for a new key made by [TestServer.Key], as the token
// endpoint would mint it.
func (ts *TestServer) Token(t TB, scopes string) string {
	t.Helper()
	return ts.TokenFor(t, ts.Key(t, scopes), scopes)
}

// TokenFor returns an access token for key k holding scopes, which need not
// be within the key's scope: a test may want a token the endpoint would
// never issue.
func (ts *TestServer) TokenFor(t TB, k keys.Key, scopes string) string {
	t.Helper()
	set, err := scope.Parse(scopes)
	if err != nil {
		t.Fatalf("keyturn: TestServer.TokenFor: %v", err)
	}
	tok, _, err := ts.issuer.Mint(context.Background(), token.Grant{Subject: k.ID(), ClientID: k.ID(), Scope: set})
	if err != nil {
		t.Fatalf("keyturn: TestServer.TokenFor: %v", err)
	}
	return tok
}
