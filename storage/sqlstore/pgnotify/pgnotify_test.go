package pgnotify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/keyturn/keyturn/storage"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    storage.Change
		ok      bool
	}{
		{"app r", storage.Change{Kind: storage.RevocationAdded}, true},
		{"app s", storage.Change{Kind: storage.SigningKeysChanged}, true},
		{"app k abcdEFGH12345678", storage.Change{Kind: storage.KeyChanged, ID: "abcdEFGH12345678"}, true},
		{"app k", storage.Change{Kind: storage.Resync}, true},
		{"app x", storage.Change{Kind: storage.Resync}, true}, // unknown: reload everything
		{"other r", storage.Change{}, false},
		{"app", storage.Change{}, false},
		{"", storage.Change{}, false},
	} {
		got, ok := parse(tc.payload, "app")
		if got != tc.want || ok != tc.ok {
			t.Errorf("parse(%q) = %v, %v; want %v, %v", tc.payload, got, ok, tc.want, tc.ok)
		}
	}
}

// The listener reports a Resync when it starts, the store's notifications
// of its own schema only, and, after its connection is killed, a Resync
// again once it listens anew.
func TestListenReconnects(t *testing.T) {
	base := os.Getenv("KEYTURN_TEST_POSTGRES")
	if base == "" {
		t.Skip("set KEYTURN_TEST_POSTGRES to run")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := "keyturn_test_" + strings.ToLower(rand.Text())
	app := "pgnotify-test-" + strings.ToLower(rand.Text())[:8]
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	l, err := New(Config{ConnString: u.String(), Schema: schema, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan storage.Change, 16)
	done := make(chan error)
	go func() { done <- l.Listen(ctx, func(c storage.Change) { changes <- c }) }()
	next := func(want storage.Change) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("got %v, want %v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %v within 5 s", want)
		}
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := db.Exec("SELECT pg_notify($1, $2)", "keyturn", payload); err != nil {
			t.Fatal(err)
		}
	}
	next(storage.Change{Kind: storage.Resync})
	notify("someone_else r")
	notify(schema + " k abcdEFGH12345678")
	next(storage.Change{Kind: storage.KeyChanged, ID: "abcdEFGH12345678"})

	if _, err := db.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app); err != nil {
		t.Fatal(err)
	}
	next(storage.Change{Kind: storage.Resync})
	notify(schema + " r")
	next(storage.Change{Kind: storage.RevocationAdded})

	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Listen returned %v, want context.Canceled", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without ConnString succeeded")
	}
	if _, err := New(Config{ConnString: "postgres://u:secretpw@[::1"}); err == nil || strings.Contains(err.Error(), "secretpw") {
		t.Errorf("New with a malformed ConnString: %v", err)
	}
}
