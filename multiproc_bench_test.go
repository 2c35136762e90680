package keyturn

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// BenchmarkExchangeStore measures one client-credentials exchange through
// the token handler of a Server assembled by New, on each store, without
// and with the key-record cache (Config.Changes set to a notifier that
// never reports; the cache then serves each record for
// DefaultKeyCacheMaxAge). 1e9 / ns/op is the tokens/s of one goroutine.
// PostgreSQL runs with KEYTURN_TEST_POSTGRES set.
func BenchmarkExchangeStore(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"memory", func(b *testing.B) Store { return memory.New() }},
		{"sqlite", func(b *testing.B) Store {
			return benchSQLStore(b, "sqlite", "file:"+filepath.Join(b.TempDir(), "k.db")+
				"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)", sqlstore.SQLite)
		}},
		{"postgres", func(b *testing.B) Store {
			return benchSQLStore(b, "pgx", pgSchema(b), sqlstore.Postgres)
		}},
	}
	for _, st := range stores {
		for _, cached := range []bool{false, true} {
			name := "store=" + st.name + "/cache=off"
			if cached {
				name = "store=" + st.name + "/cache=on"
			}
			b.Run(name, func(b *testing.B) {
				cfg := Config{
					Store: st.open(b), Issuer: "https://as.test", KeyPrefix: "ds_live",
					Pepper: []byte(benchPepper), Logger: slog.New(slog.DiscardHandler),
				}
				if cached {
					cfg.Changes = silent{}
				}
				srv, err := New(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				set := scope.MustParse("read:users")
				k, _, err := srv.Keys().Create(context.Background(), keys.CreateParams{Name: "bench", Scope: set}, set)
				if err != nil {
					b.Fatal(err)
				}
				h := srv.Handler()
				body := rewindBody{strings.NewReader("grant_type=client_credentials")}
				r := httptest.NewRequest(http.MethodPost, "https://as.test/oauth/token", body)
				r.Header.Set("Content-Type", formType)
				r.Header.Set("Authorization", basicAuth(k.ID(), k.ClientSecret()))
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				start := time.Now()
				for b.Loop() {
					body.Seek(0, 0)
					clear(w.h)
					h.ServeHTTP(w, r)
					if w.status != http.StatusOK {
						b.Fatalf("status %d", w.status)
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
			})
		}
	}
}

func benchSQLStore(b *testing.B, driver, dsn string, d sqlstore.Dialect) Store {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := sqlstore.New(sqlstore.Config{DB: db, Dialect: d})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}
