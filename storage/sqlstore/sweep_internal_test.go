package sqlstore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keyturn/keyturn/storage"
)

// TestSweepBatches sweeps more expired rows than one batch holds, and checks
// that Sweep loops until every expired row of each table is gone and counts
// them all, leaving the live ones.
func TestSweepBatches(t *testing.T) {
	old := sweepBatch
	sweepBatch = 3
	t.Cleanup(func() { sweepBatch = old })

	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "k.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(Config{DB: db, Dialect: SQLite})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const expired, live = 10, 4 // per table; 10 is not a multiple of the batch
	for i := range expired + live {
		exp := now.Add(-time.Duration(i) * time.Second) // i = 0: exactly now, swept
		if i >= expired {
			exp = now.Add(time.Duration(i) * time.Second)
		}
		if i == expired+live-1 {
			exp = time.Time{} // never expires
		}
		if err := s.AddOpaqueToken(ctx, storage.OpaqueToken{Hash: []byte{byte(i)}, ClientID: "c", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedToken, ID: fmt.Sprint(i), RevokedAt: now.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSigningKey(ctx, storage.SigningKey{ID: fmt.Sprint(i), NotBefore: now, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, storage.Key{ID: "k", CreatedAt: now, ExpiresAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(ctx, now)
	if err != nil || n != 3*expired {
		t.Fatalf("Sweep = %d, %v; want %d", n, err, 3*expired)
	}
	for _, table := range []string{"keyturn_opaque_tokens", "keyturn_revocations", "keyturn_signing_keys"} {
		var left int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != live {
			t.Errorf("%s: %d rows left, want %d", table, left, live)
		}
	}
	if _, err := s.Key(ctx, "k"); err != nil {
		t.Errorf("Sweep removed an expired API key: %v", err)
	}
	if n, err := s.Sweep(ctx, now); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
}
