package token

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

// blockingStore's RevocationsSince waits, once armed, until its context
// ends, as a store read does when the process shuts down mid-query.
type blockingStore struct {
	*memory.Store
	armed   chan struct{} // closed: block
	blocked chan struct{} // receives when a read is blocked
}

func (s *blockingStore) RevocationsSince(ctx context.Context, since time.Time, limit int) ([]storage.Revocation, error) {
	select {
	case <-s.armed:
		select {
		case s.blocked <- struct{}{}:
		case <-ctx.Done():
		}
		<-ctx.Done()
		return nil, fmt.Errorf("reading revocations: %w", ctx.Err())
	default:
		return s.Store.RevocationsSince(ctx, since, limit)
	}
}

// Finding 9 of the hardening review: a refresh that was in flight when Run's
// context ended handed its "context canceled" to onError, so a clean
// shutdown logged an error (and TestRevocationsConfigAndRun was flaky).
func TestFinding9_RunDoesNotReportACancelledRefresh(t *testing.T) {
	ctx := context.Background()
	store := &blockingStore{Store: memory.New(), armed: make(chan struct{}), blocked: make(chan struct{})}
	r, err := NewRevocations(ctx, RevocationsConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	close(store.armed)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	var reported []error
	go func() { done <- r.Run(rctx, time.Millisecond, func(err error) { reported = append(reported, err) }) }()
	<-store.blocked // a refresh is in flight
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if len(reported) > 0 {
		t.Errorf("onError heard of the cancelled refresh: %v", reported)
	}
}

// runEvery still reports the failures of runs whose context is live.
func TestRunEveryReportsFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	injected := errors.New("injected")
	stopped := make(chan struct{})
	go func() {
		runEvery(ctx, time.Millisecond, func(context.Context) error { return injected }, func(err error) {
			select {
			case errs <- err:
			default:
			}
		})
		close(stopped)
	}()
	if err := <-errs; err != injected {
		t.Errorf("onError got %v", err)
	}
	cancel()
	<-stopped
}
