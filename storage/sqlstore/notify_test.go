package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore/pgnotify"
)

// On PostgreSQL every write another process must not miss is announced,
// and a listener hears it, in its schema only.
func TestPostgresNotifies(t *testing.T) {
	d := freshPostgres(t)
	s, _ := d.store(t)
	l, err := pgnotify.New(pgnotify.Config{ConnString: d.dsn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan storage.Change, 32)
	go l.Listen(ctx, func(c storage.Change) { changes <- c })
	next := func(what string, want storage.Change) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("%s: heard %v, want %v", what, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing heard within 5 s", what)
		}
	}
	next("start", storage.Change{Kind: storage.Resync})

	now := time.Now().UTC().Truncate(time.Microsecond)
	const id = "abcdEFGH12345678"
	if err := s.CreateKey(ctx, storage.Key{ID: id, Scope: []string{"a"}, SecretHash: []byte{1}, TokenLifetime: time.Minute, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, id, now); err != nil {
		t.Fatal(err)
	}
	next("RevokeKey", storage.Change{Kind: storage.KeyChanged, ID: id}) // CreateKey said nothing
	if err := s.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedToken, ID: "jti", RevokedAt: now}); err != nil {
		t.Fatal(err)
	}
	next("AddRevocation", storage.Change{Kind: storage.RevocationAdded})
	sk := storage.SigningKey{ID: "kid", Algorithm: "EdDSA", Private: []byte{1}, Public: []byte{2}, CreatedAt: now, NotBefore: now}
	if err := s.AddSigningKey(ctx, sk); err != nil {
		t.Fatal(err)
	}
	next("AddSigningKey", storage.Change{Kind: storage.SigningKeysChanged})
	if err := s.RetireSigningKey(ctx, "kid", now.Add(time.Hour), now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	next("RetireSigningKey", storage.Change{Kind: storage.SigningKeysChanged})
	if ok, err := s.ReplaceSigningKeyPrivate(ctx, "kid", []byte{1}, []byte{3}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	next("ReplaceSigningKeyPrivate", storage.Change{Kind: storage.SigningKeysChanged})
	if err := s.DeleteSigningKey(ctx, "kid"); err != nil {
		t.Fatal(err)
	}
	next("DeleteSigningKey", storage.Change{Kind: storage.SigningKeysChanged})
	select {
	case c := <-changes:
		t.Fatalf("heard %v more", c)
	case <-time.After(50 * time.Millisecond):
	}
}
