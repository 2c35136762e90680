package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite", pure Go

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// openStore opens what -db names: "memory", a postgres:// URL, or a SQLite
// file. It runs the migrations and returns a func that closes the database.
func openStore(ctx context.Context, db string) (keyturn.Store, func() error, error) {
	if db == "memory" {
		return memory.New(), func() error { return nil }, nil
	}
	driver, dsn, dialect := "sqlite", sqliteDSN(db), sqlstore.SQLite
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		driver, dsn, dialect = "pgx", db, sqlstore.Postgres
	}
	sqldb, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the database: %w", err)
	}
	s, err := sqlstore.New(sqlstore.Config{DB: sqldb, Dialect: dialect})
	if err == nil {
		err = s.Migrate(ctx)
	}
	if err != nil {
		sqldb.Close()
		return nil, nil, fmt.Errorf("preparing the database: %w", err)
	}
	return s, func() error { s.Close(); return sqldb.Close() }, nil
}

// sqliteDSN adds the pragmas sqlstore documents to a SQLite file name.
func sqliteDSN(file string) string {
	return "file:" + file + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
}
