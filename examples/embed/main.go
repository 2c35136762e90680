// Command embed is the smallest complete service with keyturn inside: its
// own token endpoint, key admin API and a handler behind a scope. The
// README shows it whole; a test keeps the two the same.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
)

func main() {
	ctx := context.Background()
	srv, err := keyturn.New(ctx, keyturn.Config{
		Store:          memory.New(), // or sqlstore.New over your *sql.DB
		Issuer:         "http://localhost:8080",
		KeyPrefix:      "ds_live",
		Pepper:         []byte(os.Getenv("KEYTURN_PEPPER")),
		AllowPlainHTTP: true, // development only: serve TLS in production
	})
	if err != nil {
		log.Fatal(err)
	}
	go srv.Run(ctx) // key rotation, revocations from other processes, sweeping

	// A first admin key, shown once; later keys come from the admin API.
	all := scope.MustParse("read:api_keys write:api_keys read:users")
	admin, _, err := srv.Keys().Create(ctx, keys.CreateParams{Name: "admin", Scope: all}, all)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("admin key:", admin.String()) // String reveals the secret; %v would not

	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler()) // token, introspection, revocation, metadata, JWKS
	mux.Handle("/v1/api_keys", srv.Admin())
	mux.Handle("/v1/api_keys/", srv.Admin())
	mux.Handle("GET /v1/staff", srv.Require("read:users")(http.HandlerFunc(staff)))
	log.Fatal(http.ListenAndServe("localhost:8080", mux))
}

func staff(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, `{"staff":[{"id":"s1","name":"Ada Lovelace"}]}`)
}
