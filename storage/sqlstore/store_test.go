package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// TestTimeOutOfRange checks that a time that does not fit in int64 Unix
// microseconds is refused, not wrapped around, and that nothing is stored.
func TestTimeOutOfRange(t *testing.T) {
	far := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	ops := []struct {
		name string
		call func(ctx context.Context, s *sqlstore.Store) error
	}{
		{"CreateKey CreatedAt", func(ctx context.Context, s *sqlstore.Store) error {
			return s.CreateKey(ctx, storage.Key{ID: "k", CreatedAt: far})
		}},
		{"CreateKey ExpiresAt", func(ctx context.Context, s *sqlstore.Store) error {
			return s.CreateKey(ctx, storage.Key{ID: "k", CreatedAt: t0, ExpiresAt: far})
		}},
		{"RevokeKey", func(ctx context.Context, s *sqlstore.Store) error { return s.RevokeKey(ctx, "base", far) }},
		{"AddSigningKey NotBefore", func(ctx context.Context, s *sqlstore.Store) error {
			return s.AddSigningKey(ctx, storage.SigningKey{ID: "s", NotBefore: far})
		}},
		{"RetireSigningKey", func(ctx context.Context, s *sqlstore.Store) error {
			return s.RetireSigningKey(ctx, "base", t0, far)
		}},
		{"AddRevocation", func(ctx context.Context, s *sqlstore.Store) error {
			return s.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedToken, ID: "j", RevokedAt: t0, ExpiresAt: far})
		}},
		{"RevocationsSince", func(ctx context.Context, s *sqlstore.Store) error {
			_, err := s.RevocationsSince(ctx, far, 0)
			return err
		}},
		{"AddOpaqueToken", func(ctx context.Context, s *sqlstore.Store) error {
			return s.AddOpaqueToken(ctx, storage.OpaqueToken{Hash: []byte{1}, ExpiresAt: far})
		}},
		{"Sweep", func(ctx context.Context, s *sqlstore.Store) error { _, err := s.Sweep(ctx, far); return err }},
	}
	s, _ := freshSQLite(t).store(t)
	ctx := t.Context()
	if err := s.CreateKey(ctx, storage.Key{ID: "base", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSigningKey(ctx, storage.SigningKey{ID: "base", NotBefore: t0}); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			err := op.call(ctx, s)
			if err == nil || !strings.HasPrefix(err.Error(), "keyturn/sqlstore: ") || !strings.Contains(err.Error(), "time out of range") {
				t.Errorf("%s = %v, want a keyturn/sqlstore error saying the time is out of range", op.name, err)
			}
		})
	}
	// Nothing changed.
	if k, err := s.Key(ctx, "base"); err != nil || !k.RevokedAt.IsZero() {
		t.Errorf("base key = %+v, %v; want unrevoked", k, err)
	}
	if sk, err := s.SigningKeys(ctx); err != nil || len(sk) != 1 || !sk[0].NotAfter.IsZero() {
		t.Errorf("signing keys = %+v, %v; want base, not retired", sk, err)
	}
	for _, id := range []string{"k"} {
		if _, err := s.Key(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Key(%s) = %v, want ErrNotFound", id, err)
		}
	}
	if revs, err := s.RevocationsSince(ctx, time.Time{}, 0); err != nil || len(revs) != 0 {
		t.Errorf("RevocationsSince = %+v, %v; want none", revs, err)
	}
	if _, err := s.OpaqueToken(ctx, []byte{1}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("OpaqueToken = %v, want ErrNotFound", err)
	}
}

// TestClose checks that Close releases the prepared statements, may be
// called twice, leaves the *sql.DB open, and that the store still answers.
func TestClose(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, db := b.fresh(t).store(t)
			ctx := t.Context()
			k := storage.Key{ID: "k", Scope: []string{"a"}, CreatedAt: t0}
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Key(ctx, "k"); err != nil { // prepares the hot statements
				t.Fatal(err)
			}
			for i := range 2 {
				if err := s.Close(); err != nil {
					t.Fatalf("Close %d: %v", i+1, err)
				}
			}
			if err := db.PingContext(ctx); err != nil {
				t.Errorf("Close closed the *sql.DB: %v", err)
			}
			got, err := s.Key(ctx, "k")
			if err != nil {
				t.Fatalf("Key after Close: %v", err)
			}
			assertEqual(t, "Key after Close", k, got)
			if _, err := s.OpaqueToken(ctx, []byte("x")); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("OpaqueToken after Close = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestEmptyAndNilBytes checks that the store keeps a nil slice apart from an
// empty one, beyond what the storage contract asks, so that nothing is
// silently turned into NULL or back.
func TestEmptyAndNilBytes(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.fresh(t).store(t)
			ctx := t.Context()
			for _, tc := range []struct {
				id   string
				hash []byte
			}{{"nil", nil}, {"empty", []byte{}}, {"zero byte", []byte{0}}} {
				if err := s.CreateKey(ctx, storage.Key{ID: tc.id, SecretHash: tc.hash, CreatedAt: t0}); err != nil {
					t.Fatal(err)
				}
				k, err := s.Key(ctx, tc.id)
				if err != nil {
					t.Fatal(err)
				}
				if (k.SecretHash == nil) != (tc.hash == nil) || string(k.SecretHash) != string(tc.hash) {
					t.Errorf("%s: SecretHash = %#v, want %#v", tc.id, k.SecretHash, tc.hash)
				}
			}
			// An empty opaque token hash is a key like any other.
			if err := s.AddOpaqueToken(ctx, storage.OpaqueToken{Hash: nil, ClientID: "c", ExpiresAt: t0}); err != nil {
				t.Fatal(err)
			}
			if got, err := s.OpaqueToken(ctx, []byte{}); err != nil || got.ClientID != "c" {
				t.Errorf("OpaqueToken(empty) = %+v, %v", got, err)
			}
		})
	}
}
