package keyturn

// The key lifecycle over SQL stores: a restart during a grace period, and
// last use recorded by two Servers sharing one database.

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// sqlDB is a test database that every open reaches, as another process
// would.
type sqlDB struct {
	driver, dsn string
	dialect     sqlstore.Dialect
}

// sqlDatabases are the databases of these tests: a SQLite file, and a
// fresh schema on the PostgreSQL server named by KEYTURN_TEST_POSTGRES
// (skipped when it is not set).
var sqlDatabases = []struct {
	name  string
	fresh func(t *testing.T) sqlDB
}{
	{"SQLite", func(t *testing.T) sqlDB {
		return sqlDB{"sqlite", "file:" + filepath.Join(t.TempDir(), "keyturn.db") +
			"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)", sqlstore.SQLite}
	}},
	{"Postgres", freshPostgres},
}

func freshPostgres(t *testing.T) sqlDB {
	return sqlDB{"pgx", pgSchema(t), sqlstore.Postgres}
}

// store opens a new handle on d (its own pool, like a new process) and a
// migrated store over it.
func (d sqlDB) store(t *testing.T) *sqlstore.Store {
	t.Helper()
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := sqlstore.New(sqlstore.Config{DB: db, Dialect: d.dialect})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// sqlServer is a Server over st on the clock c, as a host process would
// assemble it.
func sqlServer(t *testing.T, st Store, c *clock) *server {
	t.Helper()
	return newServer(t, func(cfg *Config) {
		cfg.Store = st
		cfg.Now = c.Now
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
}

// TestRotationGraceSurvivesRestart: a Server stops in the middle of a
// grace period and another starts over the same database; both secrets
// keep working until the grace period ends, and then only the new one.
func TestRotationGraceSurvivesRestart(t *testing.T) {
	for _, b := range sqlDatabases {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			c := newClock()
			before := sqlServer(t, d.store(t), c)
			rootTok := before.token(t, before.rootKey(t, serverScopes), "")
			old := before.createKey(t, rootTok, "read:users")
			oldTok := before.token(t, old, "")
			k := before.rotated(t, rootTok, old.ID(), `{"grace":600}`)
			before.settle(t)

			c.Add(5 * time.Minute)
			after := sqlServer(t, d.store(t), c) // the restart
			if !after.valid(t, old) || !after.valid(t, k) {
				t.Fatal("after a restart in the grace period: want both secrets valid")
			}
			if after.staff(oldTok) != http.StatusOK {
				t.Error("a token issued before the rotation was refused after the restart")
			}
			c.Add(5*time.Minute - time.Second)
			if !after.valid(t, old) {
				t.Error("the old secret stopped a second before its grace period ended")
			}
			c.Add(time.Second)
			if after.valid(t, old) || !after.valid(t, k) {
				t.Error("when the grace period ended: want only the new secret")
			}
			after.settle(t)
		})
	}
}

// TestLastUsedAtAcrossServers: two Servers on one database, each with its
// own throttle, write a key's last use about once a minute between them:
// the store's conditional write refuses the second within the minute.
func TestLastUsedAtAcrossServers(t *testing.T) {
	for _, b := range sqlDatabases {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			c := newClock()
			n := &touchCount{}
			a := sqlServer(t, countingStore{Store: d.store(t), n: n}, c)
			bs := sqlServer(t, countingStore{Store: d.store(t), n: n}, c)
			set := scope.MustParse("read:users")
			k, _, err := a.Keys().Create(context.Background(), keys.CreateParams{Scope: set}, set)
			if err != nil {
				t.Fatal(err)
			}
			exchange := func(s *server) {
				t.Helper()
				s.token(t, k, "")
				s.settle(t)
			}
			check := func(what string, wantTouches, wantWrote int, wantUsed time.Duration) {
				t.Helper()
				touches, wrote := n.get()
				rec, err := bs.Keys().Get(context.Background(), k.ID())
				if err != nil {
					t.Fatal(err)
				}
				if touches != wantTouches || wrote != wantWrote || !rec.LastUsedAt.Equal(t0.Add(wantUsed)) {
					t.Errorf("%s: %d touches, %d writes, LastUsedAt %v; want %d, %d, %v",
						what, touches, wrote, rec.LastUsedAt, wantTouches, wantWrote, t0.Add(wantUsed))
				}
			}
			exchange(a)
			check("the first exchange, on A", 1, 1, 0)
			c.Add(10 * time.Second)
			exchange(bs)
			check("B's first exchange, within the minute", 2, 1, 0)
			for range 4 {
				c.Add(10 * time.Second)
				exchange(a)
				exchange(bs)
			}
			check("more exchanges within the minute", 2, 1, 0)
			c.Add(11 * time.Second) // 61 s after A's write
			exchange(bs)
			check("B, 51 s after its own touch", 2, 1, 0)
			exchange(a)
			check("A, 61 s after its write", 3, 2, 61*time.Second)
			c.Add(10 * time.Second)
			exchange(bs)
			check("B, 61 s after its own touch, 10 s after A's write", 4, 2, 61*time.Second)
		})
	}
}
