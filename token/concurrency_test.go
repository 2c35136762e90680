package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentUse mints and verifies from several goroutines while
// another refreshes and rotates the key set and revokes tokens, so that the
// race detector sees every shared path: snapshots, the parsed-key cache,
// the revocation maps and the unknown-kid reload.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, EdDSA)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				grant := Grant{Subject: fmt.Sprint("s", g), ClientID: fmt.Sprint("c", g, "-", i%3)}
				tok, c, err := e.issuer.Mint(ctx, grant)
				if err != nil {
					errs <- err
					return
				}
				if _, err := e.verify.Verify(ctx, tok); err != nil && !errors.Is(err, ErrRevoked) {
					errs <- err
					return
				}
				if i%10 == 0 {
					if err := e.revs.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
						errs <- err
						return
					}
					if !e.revs.Revoked(c) {
						errs <- errors.New("revocation did not bite at once")
						return
					}
				}
				_ = e.revs.Generation()
				_, _ = e.verify.Verify(ctx, "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA")
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := e.keys.Refresh(ctx); err != nil {
				errs <- err
				return
			}
			if err := e.revs.Refresh(ctx); err != nil {
				errs <- err
				return
			}
			if _, err := e.keys.Rotate(ctx); err != nil {
				errs <- err
				return
			}
			_ = e.keys.JWKS()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
