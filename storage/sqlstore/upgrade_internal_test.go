package sqlstore

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keyturn/keyturn/storage"
)

// TestUpgradeFromVersion1 builds a database as the first release left it
// (migration 1 only, with a key in it), then migrates it: the key is kept,
// the settings of version 2 work, and so do the rotation and last use of
// version 3 on the old key; version 4 gives the old key a secret client's
// defaults (no auth method, JWKS or resources, not DPoP-bound) and adds
// one-time values and failure counts.
func TestUpgradeFromVersion1(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "k.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	s, err := New(Config{DB: db, Dialect: SQLite})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, s.q.createVersionTable); err != nil {
		t.Fatal(err)
	}
	for _, st := range migrations[SQLite][0].statements {
		if _, err := db.ExecContext(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, s.q.recordMigration, 1, 0); err != nil {
		t.Fatal(err)
	}
	key := storage.Key{ID: "k1", Name: "kept", Scope: []string{"read:users"}, SecretHash: []byte{1, 2},
		TokenLifetime: 900 * time.Second, CreatedAt: time.Unix(1700000000, 0).UTC()}
	const v1KeyCols = `id, name, owner, scope, secret_hash, token_lifetime, created_at, expires_at, revoked_at`
	if _, err := db.ExecContext(ctx, `INSERT INTO keyturn_keys (`+v1KeyCols+`) VALUES (?, ?, '', '["read:users"]', ?, ?, ?, NULL, NULL)`,
		key.ID, key.Name, key.SecretHash, int64(key.TokenLifetime), key.CreatedAt.UnixMicro()); err != nil {
		t.Fatal(err)
	}

	if _, err := s.InitSetting(ctx, "n", []byte("v")); err == nil {
		t.Error("InitSetting on a version 1 schema succeeded; want a schema version error")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version 1: %v", err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestVersion(SQLite) {
		t.Fatalf("SchemaVersion after Migrate = %d, %v", v, err)
	}
	got, err := s.Key(ctx, "k1")
	if err != nil || got.Name != "kept" || got.PreviousSecretHash != nil || !got.PreviousExpiresAt.IsZero() || !got.LastUsedAt.IsZero() ||
		got.AuthMethod != "" || got.JWKS != nil || got.Resources != nil || got.DPoPBound {
		t.Errorf("the key after the upgrade: %+v, %v", got, err)
	}
	until, used := time.Unix(1800000000, 0).UTC(), time.Unix(1750000000, 0).UTC()
	if ok, err := s.RotateKey(ctx, "k1", []byte{1, 2}, []byte{3, 4}, until); !ok || err != nil {
		t.Errorf("RotateKey after the upgrade: %v, %v", ok, err)
	}
	if ok, err := s.TouchKey(ctx, "k1", used, time.Minute); !ok || err != nil {
		t.Errorf("TouchKey after the upgrade: %v, %v", ok, err)
	}
	got, err = s.Key(ctx, "k1")
	if err != nil || string(got.SecretHash) != "\x03\x04" || string(got.PreviousSecretHash) != "\x01\x02" ||
		!got.PreviousExpiresAt.Equal(until) || !got.LastUsedAt.Equal(used) {
		t.Errorf("the key rotated and touched after the upgrade: %+v, %v", got, err)
	}
	if v, err := s.InitSetting(ctx, "n", []byte("v")); err != nil || string(v) != "v" {
		t.Errorf("InitSetting after the upgrade: %q, %v", v, err)
	}
	if ok, err := s.UseOnce(ctx, "dpop", "j", used, until); !ok || err != nil {
		t.Errorf("UseOnce after the upgrade: %v, %v", ok, err)
	}
	if n, err := s.AddFailure(ctx, "c:k1", used, until); n != 1 || err != nil {
		t.Errorf("AddFailure after the upgrade: %d, %v", n, err)
	}
}
