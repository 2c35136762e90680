package keyturn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// The whole authorization server in a host: New, the endpoints, the admin
// API, a protected handler and the background work. Then a key, made from
// code here (the admin API makes them over HTTP), is exchanged for a token
// that the protected handler accepts.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	srv, err := keyturn.New(ctx, keyturn.Config{Store: memory.New(), Issuer: "https://auth.example.com",
		KeyPrefix: "ds_live", Pepper: []byte("from a secret store, never the code"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle("/v1/api_keys", srv.Admin())
	mux.Handle("/v1/api_keys/", srv.Admin())
	mux.Handle("GET /v1/staff", srv.Require("read:users")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := token.FromContext(r.Context())
		fmt.Fprintf(w, "staff for %s", claims.Scope)
	})))
	go srv.Run(ctx)

	granted := scope.MustParse("read:users")
	key, _, err := srv.Keys().Create(ctx, keys.CreateParams{Name: "reporting job", Scope: granted}, granted)
	if err != nil {
		log.Fatal(err)
	}
	req := httptest.NewRequest("POST", "https://auth.example.com/oauth/token",
		strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(key.ID(), key.ClientSecret())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(rec.Body).Decode(&tok)
	fmt.Println("token:", rec.Code, tok.Scope, tok.ExpiresIn)

	req = httptest.NewRequest("GET", "https://api.example.com/v1/staff", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println("staff:", rec.Code, rec.Body.String())

	srv.Keys().Revoke(ctx, key.ID())
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println("after revoking the key:", rec.Code)
	// Output:
	// token: 200 read:users 900
	// staff: 200 staff for read:users
	// after revoking the key: 401
}

// A host tests its own handler behind Require with real tokens.
func ExampleNewTestServer() {
	t := &exampleT{} // in a test: the *testing.T

	ts := keyturn.NewTestServer(t)
	staff := ts.Require("read:users")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the staff list")
	}))

	for _, scopes := range []string{"read:users", "read:participants"} {
		req := httptest.NewRequest("GET", "/v1/staff", nil)
		req.Header.Set("Authorization", "Bearer "+ts.Token(t, scopes))
		rec := httptest.NewRecorder()
		staff.ServeHTTP(rec, req)
		fmt.Println(scopes, "→", rec.Code)
	}
	// Output:
	// read:users → 200
	// read:participants → 403
}

// exampleT stands in for *testing.T in ExampleNewTestServer.
type exampleT struct{}

func (*exampleT) Helper()                           {}
func (*exampleT) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }

// The admin page for people, mounted beside the admin API it drives.
func ExampleServer_AdminPage() {
	ts := keyturn.NewTestServer(&exampleT{})
	mux := http.NewServeMux()
	mux.Handle("/", ts.Handler())
	mux.Handle("/v1/api_keys", ts.Admin())
	mux.Handle("/v1/api_keys/", ts.Admin())
	mux.Handle("/admin", ts.AdminPage("/admin"))
	mux.Handle("/admin/", ts.AdminPage("/admin"))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Header().Get("Content-Security-Policy"))
	// Output:
	// 200 text/html; charset=utf-8
	// default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'
}
