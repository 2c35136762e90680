package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFiles embed.FS

// migration is one embedded schema version.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrations holds each dialect's migrations, versions 1, 2, … in order.
var migrations = map[Dialect][]migration{
	SQLite:   mustLoadMigrations("migrations/sqlite"),
	Postgres: mustLoadMigrations("migrations/postgres"),
}

// mustLoadMigrations reads NNN_name.sql files, which must be numbered 1, 2, …
// without gaps. It panics on a malformed embedded file, which is a bug caught
// by any test.
func mustLoadMigrations(dir string) []migration {
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		panic("keyturn/sqlstore: " + err.Error())
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") || v != len(out)+1 {
			panic("keyturn/sqlstore: misnamed or misnumbered migration " + dir + "/" + name)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, name))
		if err != nil {
			panic("keyturn/sqlstore: " + err.Error())
		}
		out = append(out, migration{version: v, name: name, statements: splitStatements(string(b))})
	}
	return out
}

// splitStatements splits a migration file at semicolons that end a line,
// dropping whole-line "--" comments and empty statements.
func splitStatements(src string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(src) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			if st := strings.TrimSpace(cur.String()); st != ";" {
				out = append(out, strings.TrimSuffix(st, ";"))
			}
			cur.Reset()
		}
	}
	if st := strings.TrimSpace(cur.String()); st != "" {
		out = append(out, st)
	}
	return out
}

// LatestVersion returns the newest schema version this code knows for d, the
// version [Store.Migrate] brings a database to.
func LatestVersion(d Dialect) int { return len(migrations[d]) }

// checkVersion returns nil if v is the latest version for d, and otherwise an
// error wrapping ErrSchemaVersion that says what to do.
func checkVersion(v int, d Dialect) error {
	latest := LatestVersion(d)
	switch {
	case v == 0:
		return fmt.Errorf("%w: no keyturn schema in the database; call Migrate", ErrSchemaVersion)
	case v < latest:
		return fmt.Errorf("%w: database schema is version %d, this code needs %d; call Migrate", ErrSchemaVersion, v, latest)
	case v > latest:
		return fmt.Errorf("%w: database schema is version %d, newer than this code knows (%d); upgrade keyturn", ErrSchemaVersion, v, latest)
	}
	return nil
}

// querier is what migrations run through: a *sql.DB, *sql.Tx or *sql.Conn.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion returns the recorded schema version, 0 if there is none.
func (s *Store) schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRowContext(ctx, s.q.versionTableExists).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, s.q.schemaVersion).Scan(&v); err != nil {
		return 0, err
	}
	return v, nil
}

// SchemaVersion returns the database's schema version: 0 before the first
// [Store.Migrate], [LatestVersion] after it.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := s.schemaVersion(ctx, s.db)
	if err != nil {
		return 0, s.fail(ctx, "schema version", err)
	}
	return v, nil
}

// advisoryLockID is the PostgreSQL advisory lock Migrate holds for the length
// of its transaction: the bytes "keyturn!" as a big-endian int64. It is one
// lock per database, so migrations of keyturn schemas in different
// PostgreSQL schemas of one database also wait for each other.
const advisoryLockID int64 = 0x6b65797475726e21

// Migrate brings the database schema to [LatestVersion], applying the
// embedded migrations it lacks in one transaction, and records each in
// keyturn_schema_version. A current schema is left as it is, so calling
// Migrate again, or from several processes at once, is safe: on PostgreSQL
// the transaction first takes an advisory lock, on SQLite it begins with
// BEGIN IMMEDIATE, so one migration runs at a time and the others then find
// nothing to do. Migrate returns an error wrapping [ErrSchemaVersion], and
// changes nothing, if the database's schema is newer than this code knows.
func (s *Store) Migrate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, "migrate", err)
	}
	var err error
	switch s.d {
	case Postgres:
		err = s.migratePostgres(ctx)
	default:
		err = s.migrateSQLite(ctx)
	}
	if err != nil {
		return err
	}
	s.current.Store(true)
	return nil
}

func (s *Store) migratePostgres(ctx context.Context) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "migrate", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLockID); err != nil {
		return s.fail(ctx, "migrate: lock", err)
	}
	if err := s.applyMigrations(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "migrate: commit", err)
	}
	return nil
}

func (s *Store) migrateSQLite(ctx context.Context) (err error) {
	// database/sql's transactions begin DEFERRED, and a deferred transaction
	// that reads and then writes fails with SQLITE_BUSY, without waiting, if
	// another connection wrote in between. So take one connection and the
	// write lock up front (busy_timeout makes BEGIN IMMEDIATE wait for it).
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return s.fail(ctx, "migrate", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return s.fail(ctx, "migrate: begin", err)
	}
	defer func() {
		if err == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, rerr := conn.ExecContext(rctx, "ROLLBACK"); rerr != nil {
			// The connection may still be inside the transaction: keep it
			// out of the pool rather than hand it to another caller.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := s.applyMigrations(ctx, conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return s.fail(ctx, "migrate: commit", err)
	}
	return nil
}

// applyMigrations runs, inside the caller's locked transaction, every
// migration newer than the database's version.
func (s *Store) applyMigrations(ctx context.Context, q querier) error {
	if _, err := q.ExecContext(ctx, s.q.createVersionTable); err != nil {
		return s.fail(ctx, "migrate: version table", err)
	}
	v, err := s.schemaVersion(ctx, q)
	if err != nil {
		return s.fail(ctx, "migrate: version", err)
	}
	all := migrations[s.d]
	if v > len(all) {
		return checkVersion(v, s.d)
	}
	for _, m := range all[v:] {
		for i, st := range m.statements {
			if _, err := q.ExecContext(ctx, st); err != nil {
				return s.fail(ctx, fmt.Sprintf("migrate: %s statement %d", m.name, i+1), err)
			}
		}
		if _, err := q.ExecContext(ctx, s.q.recordMigration, m.version, s.now().UTC().UnixMicro()); err != nil {
			return s.fail(ctx, "migrate: record "+m.name, err)
		}
	}
	return nil
}
