package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/keyturn/keyturn/storage/sqlstore"
)

// postgresEnv names the variable that holds the PostgreSQL test server's URL.
const postgresEnv = "KEYTURN_TEST_POSTGRES"

// sqlitePragmas are the DSN parameters the package doc recommends, with a
// longer busy timeout because -race and a shared machine slow writers down,
// and synchronous(NORMAL), which spares the tests an fsync per commit (it
// changes durability on power loss, not what concurrent callers observe).
const sqlitePragmas = "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)"

// testDB describes one test database: every open of it reaches the same
// data, as another process would.
type testDB struct {
	dialect sqlstore.Dialect
	driver  string
	dsn     string
}

// open opens a new *sql.DB handle (its own connection pool) on d, closed when
// the test ends.
func (d testDB) open(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", d.dialect, err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		tb.Fatalf("ping %s: %v", d.dialect, err)
	}
	return db
}

// store returns a migrated store over a new handle on d.
func (d testDB) store(tb testing.TB) (*sqlstore.Store, *sql.DB) {
	tb.Helper()
	db := d.open(tb)
	s := newStore(tb, db, d.dialect)
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s, db
}

func newStore(tb testing.TB, db *sql.DB, d sqlstore.Dialect) *sqlstore.Store {
	tb.Helper()
	s, err := sqlstore.New(sqlstore.Config{DB: db, Dialect: d})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

// backend is a database the tests run against.
type backend struct {
	name string
	// fresh returns a new, empty database; it skips the test when the
	// database is not configured.
	fresh func(tb testing.TB) testDB
}

var backends = []backend{
	{"SQLite", freshSQLite},
	{"Postgres", freshPostgres},
}

// freshSQLite returns an empty SQLite database file in a temporary directory.
func freshSQLite(tb testing.TB) testDB {
	path := filepath.Join(tb.TempDir(), "keyturn.db")
	return testDB{dialect: sqlstore.SQLite, driver: "sqlite", dsn: "file:" + path + sqlitePragmas}
}

// postgresURL returns the PostgreSQL test server's URL, or skips.
func postgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(postgresEnv)
	if u == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s to a server URL to run them, e.g. "+
			"%s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./storage/sqlstore/ "+
			"(each run creates and drops its own schema)", postgresEnv, postgresEnv)
	}
	return u
}

// freshPostgres creates an empty schema with a random name on the PostgreSQL
// test server, dropped when the test ends, and returns a DSN whose
// search_path selects it, so concurrent test runs never meet.
func freshPostgres(tb testing.TB) testDB {
	tb.Helper()
	base := postgresURL(tb)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open PostgreSQL: %v", err)
	}
	tb.Cleanup(func() { admin.Close() })
	schema := "keyturn_test_" + strings.ToLower(rand.Text())
	// The name is generated here from [a-z2-7]: safe to splice into DDL,
	// which cannot take it as a parameter.
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	// Cleanups run last-registered first: every handle opened on the DSN
	// below is closed before the schema is dropped.
	tb.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return testDB{dialect: sqlstore.Postgres, driver: "pgx", dsn: withSearchPath(tb, base, schema)}
}

// withSearchPath adds a search_path run-time parameter to a PostgreSQL URL or
// keyword/value connection string.
func withSearchPath(tb testing.TB, dsn, schema string) string {
	tb.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s is not a URL: %v", postgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
