package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

func TestNewRejectsBadConfig(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name string
		cfg  sqlstore.Config
		want string
	}{
		{"nil DB", sqlstore.Config{Dialect: sqlstore.SQLite}, "Config.DB is nil"},
		{"zero dialect", sqlstore.Config{DB: db}, "unknown Config.Dialect 0"},
		{"unknown dialect", sqlstore.Config{DB: db, Dialect: 7}, "unknown Config.Dialect 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlstore.New(tt.cfg)
			if err == nil || s != nil {
				t.Fatalf("New = %v, %v; want nil and an error", s, err)
			}
			if !strings.HasPrefix(err.Error(), "keyturn/sqlstore: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix keyturn/sqlstore: and %q", err, tt.want)
			}
		})
	}
}

func TestDialectString(t *testing.T) {
	for d, want := range map[sqlstore.Dialect]string{
		sqlstore.SQLite: "sqlite", sqlstore.Postgres: "postgres", 0: "Dialect(0)", 9: "Dialect(9)",
	} {
		if got := d.String(); got != want {
			t.Errorf("Dialect(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}

// countVersions returns the number of rows in keyturn_schema_version.
func countVersions(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM keyturn_schema_version").Scan(&n); err != nil {
		t.Fatalf("count versions: %v", err)
	}
	return n
}

// TestMigrateIdempotent migrates twice, with data in between, through the
// same Store and through a second one.
func TestMigrateIdempotent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			db := d.open(t)
			s := newStore(t, db, d.dialect)
			ctx := t.Context()
			if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
				t.Fatalf("SchemaVersion before Migrate = %d, %v; want 0, nil", v, err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("first Migrate: %v", err)
			}
			k := storage.Key{ID: "k", Scope: []string{"a"}, SecretHash: []byte{1}, CreatedAt: t0}
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if err := newStore(t, db, d.dialect).Migrate(ctx); err != nil {
				t.Fatalf("Migrate from a second Store: %v", err)
			}
			latest := sqlstore.LatestVersion(d.dialect)
			if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
				t.Errorf("SchemaVersion = %d, %v; want %d, nil", v, err, latest)
			}
			if n := countVersions(t, db); n != latest {
				t.Errorf("keyturn_schema_version has %d rows, want %d", n, latest)
			}
			got, err := s.Key(ctx, "k")
			if err != nil {
				t.Fatalf("Key after re-Migrate: %v", err)
			}
			assertEqual(t, "Key", k, got)
		})
	}
}

// TestMigrateConcurrent migrates one empty database from several handles at
// once, as several processes starting together would.
func TestMigrateConcurrent(t *testing.T) {
	const n = 6
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			stores := make([]*sqlstore.Store, n)
			for i := range stores {
				stores[i] = newStore(t, d.open(t), d.dialect)
			}
			errs := make([]error, n)
			var start, wg sync.WaitGroup
			start.Add(1)
			for i, s := range stores {
				wg.Go(func() {
					start.Wait()
					errs[i] = s.Migrate(t.Context())
				})
			}
			start.Done()
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Migrate %d: %v", i, err)
				}
			}
			db := d.open(t)
			if got, want := countVersions(t, db), sqlstore.LatestVersion(d.dialect); got != want {
				t.Errorf("keyturn_schema_version has %d rows, want %d", got, want)
			}
			// Every store works, and sees the others' writes.
			for i, s := range stores {
				if err := s.AddRevocation(t.Context(), storage.Revocation{
					Kind: storage.RevokedToken, ID: string(rune('a' + i)), RevokedAt: t0,
				}); err != nil {
					t.Fatalf("store %d: AddRevocation: %v", i, err)
				}
			}
			all, err := stores[0].RevocationsSince(t.Context(), time.Time{}, 0)
			if err != nil || len(all) != n {
				t.Errorf("RevocationsSince = %d records, %v; want %d", len(all), err, n)
			}
		})
	}
}

// TestSchemaTooNew records a schema version newer than the code knows, as a
// newer keyturn would, and checks that Migrate and the other methods refuse
// to run.
func TestSchemaTooNew(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			_, db := d.store(t)
			ctx := t.Context()
			latest := sqlstore.LatestVersion(d.dialect)
			insert := "INSERT INTO keyturn_schema_version (version, applied_at) VALUES (?, 0)"
			if d.dialect == sqlstore.Postgres {
				insert = strings.Replace(insert, "?", "$1", 1)
			}
			if _, err := db.ExecContext(ctx, insert, latest+1); err != nil {
				t.Fatalf("record version %d: %v", latest+1, err)
			}

			s := newStore(t, d.open(t), d.dialect)
			err := s.Migrate(ctx)
			if !errors.Is(err, sqlstore.ErrSchemaVersion) || !strings.Contains(err.Error(), "newer") {
				t.Errorf("Migrate = %v, want ErrSchemaVersion saying the schema is newer", err)
			}
			if n := countVersions(t, db); n != latest+1 {
				t.Errorf("Migrate changed keyturn_schema_version: %d rows, want %d", n, latest+1)
			}
			if _, err := s.Key(ctx, "k"); !errors.Is(err, sqlstore.ErrSchemaVersion) {
				t.Errorf("Key = %v, want ErrSchemaVersion", err)
			}
			if v, err := s.SchemaVersion(ctx); err != nil || v != latest+1 {
				t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latest+1)
			}
		})
	}
}

// TestNotMigrated checks that every method but Migrate refuses to run against
// a database without the schema, with an error saying to call Migrate, and
// that the same Store works once Migrate has run.
func TestNotMigrated(t *testing.T) {
	ops := []struct {
		name string
		call func(ctx context.Context, s *sqlstore.Store) error
	}{
		{"CreateKey", func(ctx context.Context, s *sqlstore.Store) error {
			return s.CreateKey(ctx, storage.Key{ID: "k", CreatedAt: t0})
		}},
		{"Key", func(ctx context.Context, s *sqlstore.Store) error { _, err := s.Key(ctx, "k"); return err }},
		{"Keys", func(ctx context.Context, s *sqlstore.Store) error { _, err := s.Keys(ctx, "", 0); return err }},
		{"RevokeKey", func(ctx context.Context, s *sqlstore.Store) error { return s.RevokeKey(ctx, "k", t0) }},
		{"AddSigningKey", func(ctx context.Context, s *sqlstore.Store) error {
			return s.AddSigningKey(ctx, storage.SigningKey{ID: "s"})
		}},
		{"SigningKeys", func(ctx context.Context, s *sqlstore.Store) error { _, err := s.SigningKeys(ctx); return err }},
		{"RetireSigningKey", func(ctx context.Context, s *sqlstore.Store) error {
			return s.RetireSigningKey(ctx, "s", t0, t0)
		}},
		{"DeleteSigningKey", func(ctx context.Context, s *sqlstore.Store) error { return s.DeleteSigningKey(ctx, "s") }},
		{"AddRevocation", func(ctx context.Context, s *sqlstore.Store) error {
			return s.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedToken, ID: "j", RevokedAt: t0})
		}},
		{"RevocationsSince", func(ctx context.Context, s *sqlstore.Store) error {
			_, err := s.RevocationsSince(ctx, t0, 0)
			return err
		}},
		{"AddOpaqueToken", func(ctx context.Context, s *sqlstore.Store) error {
			return s.AddOpaqueToken(ctx, storage.OpaqueToken{Hash: []byte{1}})
		}},
		{"OpaqueToken", func(ctx context.Context, s *sqlstore.Store) error {
			_, err := s.OpaqueToken(ctx, []byte{1})
			return err
		}},
		{"Sweep", func(ctx context.Context, s *sqlstore.Store) error { _, err := s.Sweep(ctx, t0); return err }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			s := newStore(t, d.open(t), d.dialect)
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					err := op.call(t.Context(), s)
					if !errors.Is(err, sqlstore.ErrSchemaVersion) || !strings.Contains(err.Error(), "call Migrate") {
						t.Errorf("%s on an empty database = %v, want ErrSchemaVersion saying to call Migrate", op.name, err)
					}
				})
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if _, err := s.Keys(t.Context(), "", 0); err != nil {
				t.Errorf("Keys after Migrate: %v", err)
			}
		})
	}
}

// TestMigrateCancelled checks that Migrate honours a cancelled context and
// creates nothing.
func TestMigrateCancelled(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			s := newStore(t, d.open(t), d.dialect)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := s.Migrate(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("Migrate(cancelled) = %v, want context.Canceled", err)
			}
			if v, err := s.SchemaVersion(t.Context()); err != nil || v != 0 {
				t.Errorf("SchemaVersion after cancelled Migrate = %d, %v; want 0", v, err)
			}
		})
	}
}

// TestMigrateWaitsForLock holds the migration lock from another session,
// checks that Migrate waits for it, and that cancelling the wait stops
// Migrate with context.Canceled and leaves the database and the connection
// pool usable. PostgreSQL only: SQLite's busy handler sleeps through an
// interrupt until busy_timeout ends.
func TestMigrateWaitsForLock(t *testing.T) {
	const lockID = 0x6b65797475726e21 // sqlstore's advisory lock: "keyturn!"
	d := freshPostgres(t)
	admin := d.open(t)
	holder, err := admin.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(t.Context(), "SELECT pg_advisory_lock($1)", int64(lockID)); err != nil {
		t.Fatalf("take lock: %v", err)
	}
	db := d.open(t)
	db.SetMaxOpenConns(1) // a connection left inside the transaction would block the pool
	s := newStore(t, db, d.dialect)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Migrate(ctx) }()
	// Wait until Migrate is queued behind the lock (pg_locks shows it).
	for {
		var waiting int
		err := admin.QueryRowContext(t.Context(),
			"SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"+
				" AND classid::bigint = $1 AND objid::bigint = $2",
			int64(lockID>>32), int64(lockID&0xffffffff)).Scan(&waiting)
		if err != nil {
			t.Fatalf("pg_locks: %v", err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Migrate returned %v while the lock was held", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Migrate cancelled while waiting = %v, want context.Canceled", err)
	}
	if _, err := holder.ExecContext(t.Context(), "SELECT pg_advisory_unlock($1)", int64(lockID)); err != nil {
		t.Fatalf("release lock: %v", err)
	}
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != 0 {
		t.Errorf("SchemaVersion after cancelled Migrate = %d, %v; want 0", v, err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Errorf("Migrate after the lock was released: %v", err)
	}
}
