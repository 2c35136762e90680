package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite", pure Go

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/storage/sqlstore"
	"github.com/keyturn/keyturn/storage/sqlstore/pgnotify"
)

// store is what the server keeps its state in: everything keyturn.New
// needs, and the rewriting of signing keys that tokenserver seal does.
type store interface {
	keyturn.Store
	storage.SigningKeyUpdater
}

// openedStore is an open store with the means to check and close it.
type openedStore struct {
	store
	// ping reports whether the store answers now; the caller bounds it with
	// its context.
	ping  func(ctx context.Context) error
	close func() error
	// changes hears the changes other servers make to a shared database:
	// LISTEN/NOTIFY on PostgreSQL; nil otherwise.
	changes storage.Notifier
}

// readyTimeout bounds a readiness check.
const readyTimeout = time.Second

// openStore opens what -db names: "memory", a postgres:// URL, or a SQLite
// file. It runs the migrations.
func openStore(ctx context.Context, db string) (*openedStore, error) {
	if db == "memory" {
		return &openedStore{store: memory.New(), ping: func(context.Context) error { return nil }, close: func() error { return nil }}, nil
	}
	driver, dsn, dialect := "sqlite", sqliteDSN(db), sqlstore.SQLite
	if isPostgres(db) {
		driver, dsn, dialect = "pgx", db, sqlstore.Postgres
	}
	sqldb, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	s, err := sqlstore.New(sqlstore.Config{DB: sqldb, Dialect: dialect})
	if err == nil {
		err = s.Migrate(ctx)
	}
	if err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("preparing the database: %w", err)
	}
	o := &openedStore{
		store: s,
		ping:  func(ctx context.Context) error { return pingSQL(ctx, sqldb) },
		close: func() error { s.Close(); return sqldb.Close() },
	}
	if dialect == sqlstore.Postgres {
		l, err := pgnotify.New(pgnotify.Config{ConnString: dsn})
		if err != nil {
			sqldb.Close()
			return nil, err
		}
		o.changes = l
	}
	return o, nil
}

// pingSQL checks that the database answers: a ping, then a trivial query.
func pingSQL(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// sqliteDSN adds the pragmas sqlstore documents to a SQLite file name.
func sqliteDSN(file string) string {
	return "file:" + file + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
}
