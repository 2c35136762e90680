package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	_ "modernc.org/sqlite"             // registers driver "sqlite"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// An embedded SQLite database: open the file with the recommended pragmas,
// migrate, then use the store.
func Example() {
	dir, err := os.MkdirTemp("", "keyturn-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	dsn := "file:" + filepath.Join(dir, "keyturn.db") +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	store, err := sqlstore.New(sqlstore.Config{DB: db, Dialect: sqlstore.SQLite})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	created := time.Date(2025, time.March, 14, 15, 9, 26, 0, time.UTC)
	err = store.CreateKey(ctx, storage.Key{
		ID:            "7Kq2mZ",
		Name:          "billing export",
		Scope:         []string{"read:participants", "read:users"},
		SecretHash:    []byte("keyed hash of the secret, from keys.Hasher"),
		TokenLifetime: 15 * time.Minute,
		CreatedAt:     created,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.RevokeKey(ctx, "7Kq2mZ", created.Add(time.Hour)); err != nil {
		log.Fatal(err)
	}

	k, err := store.Key(ctx, "7Kq2mZ")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Name, k.Scope, k.TokenLifetime)
	fmt.Println("created", k.CreatedAt)
	fmt.Println("revoked", k.RevokedAt)
	// Output:
	// billing export [read:participants read:users] 15m0s
	// created 2025-03-14 15:09:26 +0000 UTC
	// revoked 2025-03-14 16:09:26 +0000 UTC
}

// PostgreSQL: the same, with the pgx driver. Naming a schema in search_path
// keeps keyturn's tables apart from the host's (the schema must exist).
// This example is compiled, not run: it needs a server.
func Example_postgres() {
	db, err := sql.Open("pgx", "postgres://keyturn@db.internal:5432/app?sslmode=verify-full&search_path=keyturn")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := sqlstore.New(sqlstore.Config{DB: db, Dialect: sqlstore.Postgres})
	if err != nil {
		log.Fatal(err)
	}
	// Every replica may migrate at start-up: an advisory lock makes them
	// take turns.
	if err := store.Migrate(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// Sweep on a timer removes expired opaque tokens, revocations and signing
// keys; here it is called once with a fixed clock.
func ExampleStore_Sweep() {
	dir, err := os.MkdirTemp("", "keyturn-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "keyturn.db")+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := sqlstore.New(sqlstore.Config{DB: db, Dialect: sqlstore.SQLite})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	now := time.Date(2025, time.March, 14, 12, 0, 0, 0, time.UTC)
	for _, r := range []storage.Revocation{
		{Kind: storage.RevokedToken, ID: "jti-expired", RevokedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		{Kind: storage.RevokedToken, ID: "jti-live", RevokedAt: now.Add(-time.Minute), ExpiresAt: now.Add(14 * time.Minute)},
		{Kind: storage.RevokedClient, ID: "client-forever", RevokedAt: now.Add(-time.Hour)},
	} {
		if err := store.AddRevocation(ctx, r); err != nil {
			log.Fatal(err)
		}
	}
	n, err := store.Sweep(ctx, now)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("swept", n)
	left, err := store.RevocationsSince(ctx, time.Time{}, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range left {
		fmt.Println(r.Kind, r.ID)
	}
	// Output:
	// swept 1
	// client client-forever
	// token jti-live
}
