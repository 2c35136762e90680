package token

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keyturn/keyturn/storage/sqlstore"
)

// TestRestartOverSQLite runs two processes, one after the other, over one
// SQLite file: keys sealed under a KEK, JWT and opaque tokens and a
// revocation made by the first are all honoured by the second, through a
// store that keeps times at microsecond precision.
func TestRestartOverSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyturn.db")
	kek := bytes.Repeat([]byte{0x5a}, KEKSize)
	clk := newClock()
	clk.Add(123456789 * time.Nanosecond) // a time with sub-second digits

	open := func() (*sql.DB, *sqlstore.Store) {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		st, err := sqlstore.New(sqlstore.Config{DB: db, Dialect: sqlstore.SQLite})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db, st
	}
	type process struct {
		keys    *KeySet
		revs    *Revocations
		jwt     *Issuer
		opaque  *Issuer
		verify  *Verifier
		cleanup func()
	}
	start := func() *process {
		db, st := open()
		p := &process{cleanup: func() { st.Close(); db.Close() }}
		var err error
		if p.keys, err = NewKeySet(ctx, KeySetConfig{Store: st, KEK: kek, Algorithm: ES256, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		if p.revs, err = NewRevocations(ctx, RevocationsConfig{Store: st, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		if p.jwt, err = NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: p.keys, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		if p.opaque, err = NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Format: Opaque, Opaque: st, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		if p.verify, err = NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: p.keys,
			Algorithms: []Algorithm{ES256}, Opaque: st, Revocations: p.revs, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		return p
	}

	first := start()
	kept, _, err := first.jwt.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	revoked, rc, err := first.jwt.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	opq, _, err := first.opaque.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.revs.RevokeToken(ctx, rc.ID, rc.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	kid := kidOf(t, kept)
	jwks := first.keys.JWKS()
	first.cleanup()

	clk.Add(time.Minute)
	second := start()
	defer second.cleanup()
	for name, tok := range map[string]string{"jwt": kept, "opaque": opq} {
		if _, err := second.verify.Verify(ctx, tok); err != nil {
			t.Errorf("%s token refused after restart: %v", name, err)
		}
	}
	if _, err := second.verify.Verify(ctx, revoked); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked token after restart: %v, want ErrRevoked", err)
	}
	tok, _, err := second.jwt.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, tok) != kid || !bytes.Equal(second.keys.JWKS(), jwks) {
		t.Error("the restarted process uses another key set")
	}
}
