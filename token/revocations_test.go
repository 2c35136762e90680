package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

var _ keys.Revoker = (*Revocations)(nil)

func TestRevokeTokenBites(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	tok, c := e.mint(t, testGrant)
	other, _ := e.mint(t, testGrant)
	gen := e.revs.Generation()
	if err := e.revs.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked token: %v, want ErrRevoked", err)
	}
	if _, err := e.verify.Verify(ctx, other); err != nil {
		t.Fatalf("another token of the same client: %v", err)
	}
	if e.revs.Generation() == gen {
		t.Error("Generation did not move")
	}
	if !e.revs.Revoked(c) {
		t.Error("Revoked(claims) = false")
	}
	// Revoking again succeeds and changes nothing a cache would see.
	gen = e.revs.Generation()
	if err := e.revs.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if e.revs.Generation() != gen {
		t.Error("a repeated revocation moved the generation")
	}
	recs, err := e.store.RevocationsSince(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Kind != storage.RevokedToken || recs[0].ID != c.ID {
		t.Fatalf("stored revocations %+v, want one of token %q", recs, c.ID)
	}
	if rec := recs[0]; !rec.ExpiresAt.Equal(c.ExpiresAt.Add(MaxLeeway)) {
		t.Errorf("stored ExpiresAt %v, want exp + MaxLeeway", rec.ExpiresAt)
	}
}

// TestRevokeClientBites: every token issued to the client at or before the
// revocation time is refused; later tokens and other clients are not.
func TestRevokeClientBites(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	early, _ := e.mint(t, testGrant)
	otherClient, _ := e.mint(t, Grant{Subject: "key2", ClientID: "key2", Scope: scope.MustParse("read:users")})
	e.clock.Add(1500 * time.Millisecond)
	sameSecond, _ := e.mint(t, testGrant) // iat is truncated to the revocation's second
	if err := e.revs.RevokeClient(ctx, testGrant.ClientID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	later, _ := e.mint(t, testGrant)
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"issued_before", early, ErrRevoked},
		{"issued_in_the_revocation_second", sameSecond, ErrRevoked},
		{"issued_after", later, nil},
		{"other_client", otherClient, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.verify.Verify(ctx, c.tok); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
	// Revoking again later keeps the earlier time, as the store does.
	if err := e.revs.RevokeClient(ctx, testGrant.ClientID, e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify.Verify(ctx, later); err != nil {
		t.Fatalf("re-revocation moved the time forward: %v", err)
	}
	if err := e.revs.RevokeClient(ctx, "", e.clock.Now()); err == nil {
		t.Error("RevokeClient accepted an empty client id")
	}
	if err := e.revs.RevokeClient(ctx, "c", time.Time{}); err == nil {
		t.Error("RevokeClient accepted a zero time")
	}
}

// TestKeysManagerRevokeBites wires a keys.Manager to Revocations, as the
// token server does: deleting a key refuses its tokens from the next
// verification on.
func TestKeysManagerRevokeBites(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	m, err := keys.NewManager(keys.Config{Store: e.store, Prefix: "ds_live", Revoker: e.revs, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	all := scope.MustParse("read:users")
	k, rec, err := m.Create(ctx, keys.CreateParams{Name: "ci", Scope: all}, all)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := e.mint(t, Grant{Subject: k.ID(), ClientID: rec.ID, Scope: all})
	if _, err := e.verify.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Fatalf("token of a revoked key: %v, want ErrRevoked", err)
	}
}

// TestRevocationWriteFailureStillBites: when the store write fails the
// error is returned, and the revocation holds in this process anyway.
func TestRevocationWriteFailureStillBites(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	store := newFaultyStore()
	revs, err := NewRevocations(ctx, RevocationsConfig{Store: store, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys, Algorithms: []Algorithm{EdDSA}, Revocations: revs, Now: e.clock.Now})
	tok, c := e.mint(t, testGrant)
	store.set("AddRevocation", true)
	if err := revs.RevokeToken(ctx, c.ID, c.ExpiresAt); !errors.Is(err, errInjected) {
		t.Fatalf("RevokeToken = %v, want the store error", err)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Verify = %v, want ErrRevoked", err)
	}
	if err := revs.RevokeClient(ctx, "key9", e.clock.Now()); !errors.Is(err, errInjected) {
		t.Fatalf("RevokeClient = %v, want the store error", err)
	}
}

// TestRevocationsAcrossProcesses: a revocation made in one process bites in
// another after that one's next Refresh, and in a restarted one at once.
func TestRevocationsAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	b, err := NewRevocations(ctx, RevocationsConfig{Store: e.store, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys, Algorithms: []Algorithm{EdDSA}, Revocations: b, Now: e.clock.Now})
	tok1, c1 := e.mint(t, testGrant)
	tok2, _ := e.mint(t, Grant{Subject: "key2", ClientID: "key2"})
	e.clock.Add(time.Second)
	if err := e.revs.RevokeToken(ctx, c1.ID, c1.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if err := e.revs.RevokeClient(ctx, "key2", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// Before B refreshes, B still accepts: this is the documented bound.
	if _, err := vb.Verify(ctx, tok1); err != nil {
		t.Fatalf("process B before refresh: %v", err)
	}
	gen := b.Generation()
	e.clock.Add(5 * time.Second)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Generation() == gen {
		t.Error("Refresh that found revocations did not move the generation")
	}
	for name, tok := range map[string]string{"jti": tok1, "client": tok2} {
		if _, err := vb.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s revocation after B's refresh: %v, want ErrRevoked", name, err)
		}
	}
	restarted, err := NewRevocations(ctx, RevocationsConfig{Store: e.store, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if !restarted.Revoked(c1) {
		t.Error("a restarted process forgot a revocation")
	}
}

// TestRevocationsRefreshOverlap: a revocation stamped before the previous
// refresh (a slow write, or a clock behind) is still found.
func TestRevocationsRefreshOverlap(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := memory.New()
	r, err := NewRevocations(ctx, RevocationsConfig{Store: store, Now: clk.Now, RefreshOverlap: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	late := func(id string, stamped time.Duration) {
		err := store.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedToken, ID: id,
			RevokedAt: clk.Now().Add(-stamped), ExpiresAt: clk.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	late("inside-overlap", 50*time.Second)
	late("outside-overlap", 2*time.Minute)
	clk.Add(time.Second)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.Revoked(&Claims{ID: "inside-overlap"}) {
		t.Error("revocation stamped inside the overlap was missed")
	}
	// Beyond the overlap an incremental refresh misses it...
	if r.Revoked(&Claims{ID: "outside-overlap"}) {
		t.Error("Refresh looked further back than its overlap")
	}
	// ...until the next full reload, FullReload after the last one (the
	// first Refresh, an hour in, was one).
	clk.Add(DefaultFullReload - 2*time.Second)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Revoked(&Claims{ID: "outside-overlap"}) {
		t.Error("a full reload came before FullReload had passed")
	}
	clk.Add(time.Second)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.Revoked(&Claims{ID: "outside-overlap"}) {
		t.Error("the full reload missed a revocation stamped before the overlap")
	}
}

// TestRevocationsPrune: entries are forgotten once every token they cover
// has expired, without moving the generation.
func TestRevocationsPrune(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	r, err := NewRevocations(ctx, RevocationsConfig{Store: memory.New(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	exp := clk.Now().Add(time.Hour)
	if err := r.RevokeToken(ctx, "j1", exp); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeToken(ctx, "j-unknown-exp", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeClient(ctx, "c1", clk.Now()); err != nil {
		t.Fatal(err)
	}
	iat := clk.Now()
	gen := r.Generation()
	clk.Set(exp.Add(MaxLeeway))
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Revoked(&Claims{ID: "j1"}) {
		t.Error("expired token revocation kept")
	}
	if !r.Revoked(&Claims{ID: "j-unknown-exp"}) || !r.Revoked(&Claims{ClientID: "c1", IssuedAt: iat}) {
		t.Error("revocations pruned before their tokens expired")
	}
	clk.Set(iat.Add(MaxLifetime + MaxLeeway))
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Revoked(&Claims{ID: "j-unknown-exp"}) || r.Revoked(&Claims{ClientID: "c1", IssuedAt: iat}) {
		t.Error("revocations kept after MaxLifetime")
	}
	if r.Generation() != gen {
		t.Error("pruning moved the generation")
	}
}

func TestRevocationsConfigAndRun(t *testing.T) {
	ctx := context.Background()
	if _, err := NewRevocations(ctx, RevocationsConfig{}); err == nil {
		t.Error("NewRevocations accepted no store")
	}
	if _, err := NewRevocations(ctx, RevocationsConfig{Store: memory.New(), RefreshOverlap: -time.Second}); err == nil {
		t.Error("NewRevocations accepted a negative overlap")
	}
	if _, err := NewRevocations(ctx, RevocationsConfig{Store: memory.New(), FullReload: -time.Second}); err == nil {
		t.Error("NewRevocations accepted a negative full-reload interval")
	}
	store := newFaultyStore()
	store.set("RevocationsSince", true)
	if _, err := NewRevocations(ctx, RevocationsConfig{Store: store}); !errors.Is(err, errInjected) {
		t.Errorf("NewRevocations with a failing store: %v", err)
	}
	store.set("RevocationsSince", false)
	r, err := NewRevocations(ctx, RevocationsConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	// Run picks up another process's revocation.
	if err := store.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedToken, ID: "j", RevokedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	store.calls = make(chan struct{})
	go func() { done <- r.Run(rctx, time.Millisecond, func(err error) { t.Error(err) }) }()
	// Two store reads by Run: the first Refresh has finished merging.
	<-store.calls
	<-store.calls
	if !r.Revoked(&Claims{ID: "j"}) {
		t.Error("Run did not pick up the revocation")
	}
	cancel()
	go func() {
		for range store.calls {
		}
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	close(store.calls)
	if err := r.RevokeToken(ctx, "", time.Time{}); err == nil {
		t.Error("RevokeToken accepted an empty jti")
	}
}
