package keyturn

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore"
	"github.com/keyturn/keyturn/storage/sqlstore/pgnotify"
)

// pgSchema creates an empty schema on the PostgreSQL test server, dropped
// when the test ends, and returns a DSN selecting it; it skips the test
// without KEYTURN_TEST_POSTGRES.
func pgSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv("KEYTURN_TEST_POSTGRES")
	if base == "" {
		t.Skip("set KEYTURN_TEST_POSTGRES (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := "keyturn_test_" + strings.ToLower(rand.Text())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// tap is a storage.Notifier between a real one and the Server: it passes
// changes on (until cut), then reports them to the test.
type tap struct {
	inner storage.Notifier
	cut   atomic.Bool
	mu    sync.Mutex
	seen  []storage.Change
	cond  chan struct{} // closed and replaced at each change
}

func newTap(n storage.Notifier) *tap { return &tap{inner: n, cond: make(chan struct{})} }

func (p *tap) Listen(ctx context.Context, f func(storage.Change)) error {
	return p.inner.Listen(ctx, func(c storage.Change) {
		if p.cut.Load() {
			return
		}
		f(c)
		p.mu.Lock()
		p.seen = append(p.seen, c)
		close(p.cond)
		p.cond = make(chan struct{})
		p.mu.Unlock()
	})
}

// wait waits until f holds for a change seen so far, or fails the test.
func (p *tap) wait(t *testing.T, what string, f func(storage.Change) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		for _, c := range p.seen {
			if f(c) {
				p.mu.Unlock()
				return
			}
		}
		ch := p.cond
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s notification within 5 s", what)
		}
	}
}

// pgProcess is a Server over its own *sql.DB and listener on dsn, as
// another process would have, running until the test ends.
func pgProcess(t *testing.T, dsn string, cacheAge time.Duration, configure ...func(*Config)) (*server, *tap) {
	t.Helper()
	st := sqlDB{"pgx", dsn, sqlstore.Postgres}.store(t)
	l, err := pgnotify.New(pgnotify.Config{ConnString: dsn, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tp := newTap(l)
	s := newServer(t, func(c *Config) {
		c.Store = st
		c.Changes = tp
		c.KeyCacheMaxAge = cacheAge
		// Polling would hide a missing notification.
		c.RevocationRefresh, c.KeyRefresh = time.Hour, time.Hour
		for _, f := range configure {
			f(c)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	tp.wait(t, "first resync", func(c storage.Change) bool { return c.Kind == storage.Resync })
	return s, tp
}

func (s *server) exchangeStatus(t *testing.T, k keys.Key) (int, string) {
	t.Helper()
	status, body := s.exchange(t, k, "")
	tok, _ := body["access_token"].(string)
	return status, tok
}

// within polls ok every millisecond until it holds, and fails the test if
// it does not within limit; it returns how long it took.
func within(t *testing.T, what string, limit time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// Two servers on one PostgreSQL schema, as two processes: a key revoked
// on one no longer authenticates on the other, from its key cache, once
// the notification has arrived, and the tokens of that key, and a token
// revoked through RFC 7009, are refused there within a second, with
// polling switched off.
func TestPostgresChangesReachOtherProcess(t *testing.T) {
	dsn := pgSchema(t)
	a, _ := pgProcess(t, dsn, time.Hour)
	b, tapB := pgProcess(t, dsn, time.Hour) // only notifications can empty b's cache

	k := a.rootKey(t, "read:users")
	status, tokB := b.exchangeStatus(t, k) // fills b's cache
	if status != http.StatusOK {
		t.Fatalf("exchange on b: %d", status)
	}
	if _, err := a.Verifier().Verify(context.Background(), tokB); err != nil {
		t.Fatalf("b's token on a: %v", err)
	}
	if status, _ := b.exchangeStatus(t, k); status != http.StatusOK {
		t.Fatalf("second exchange on b (from the cache): %d", status)
	}

	if err := a.Keys().Revoke(context.Background(), k.ID()); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	tapB.wait(t, "key-changed", func(c storage.Change) bool { return c.Kind == storage.KeyChanged && c.ID == k.ID() })
	t.Logf("key notification reached b after %v", time.Since(revoked))
	if status, _ := b.exchangeStatus(t, k); status != http.StatusUnauthorized {
		t.Fatalf("revoked key on b after its notification: %d, want 401", status)
	}
	d := within(t, "b's token of the revoked key refused on b", time.Second, func() bool {
		_, err := b.Verifier().Verify(context.Background(), tokB)
		return err != nil
	})
	t.Logf("client revocation bit on b after %v", d)

	// RFC 7009 on a, for a token issued by a.
	k2 := a.rootKey(t, "read:users")
	status, tok := a.exchangeStatus(t, k2)
	if status != http.StatusOK {
		t.Fatalf("exchange on a: %d", status)
	}
	if _, err := b.Verifier().Verify(context.Background(), tok); err != nil {
		t.Fatalf("a's token on b: %v", err)
	}
	form := url.Values{"token": {tok}}
	r := httptest.NewRequest("POST", DefaultRevocationPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(k2.ID(), k2.ClientSecret())
	if res := a.do(r); res.StatusCode != http.StatusOK {
		t.Fatalf("RFC 7009 revocation on a: %d", res.StatusCode)
	}
	d = within(t, "token revoked on a refused on b", time.Second, func() bool {
		_, err := b.Verifier().Verify(context.Background(), tok)
		return err != nil
	})
	t.Logf("token revocation bit on b after %v", d)
}

// With its notifications cut, a process stops authenticating a key
// revoked elsewhere at most KeyCacheMaxAge after the revocation.
func TestPostgresKeyCacheBoundWithoutNotifications(t *testing.T) {
	dsn := pgSchema(t)
	const maxAge = 300 * time.Millisecond
	a, _ := pgProcess(t, dsn, maxAge)
	b, tapB := pgProcess(t, dsn, maxAge)

	k := a.rootKey(t, "read:users")
	if status, _ := b.exchangeStatus(t, k); status != http.StatusOK {
		t.Fatalf("exchange on b: %d", status)
	}
	tapB.cut.Store(true)
	if err := a.Keys().Revoke(context.Background(), k.ID()); err != nil {
		t.Fatal(err)
	}
	// Poll until the first refusal (it may come from the cache's expiry
	// before maxAge): failures count against the rate limiter, so stop at
	// the first one rather than hammer on.
	deadline := time.Now().Add(maxAge)
	status := http.StatusOK
	for status == http.StatusOK && time.Now().Before(deadline) {
		status, _ = b.exchangeStatus(t, k) // may still succeed from the cache
		time.Sleep(10 * time.Millisecond)
	}
	if status == http.StatusOK {
		status, _ = b.exchangeStatus(t, k)
	}
	if status != http.StatusUnauthorized {
		t.Fatalf("revoked key on b %v after the revocation, notifications cut: %d, want 401", maxAge, status)
	}
}

// A key revoked in this process stops authenticating here as soon as
// Revoke returns, whatever the cache's age.
func TestKeyCacheLocalRevocation(t *testing.T) {
	s := newServer(t, func(c *Config) {
		c.Changes = silent{}
		c.KeyCacheMaxAge = time.Hour
	})
	k := s.rootKey(t, "read:users")
	for range 2 {
		if status, _ := s.exchangeStatus(t, k); status != http.StatusOK {
			t.Fatalf("exchange: %d", status)
		}
	}
	if s.keyCache == nil || len(s.keyCache.m) != 1 {
		t.Fatal("the key record is not cached")
	}
	if err := s.Keys().Revoke(context.Background(), k.ID()); err != nil {
		t.Fatal(err)
	}
	if status, _ := s.exchangeStatus(t, k); status != http.StatusUnauthorized {
		t.Fatalf("revoked key: %d, want 401", status)
	}
	// A wrong secret for a cached id is still refused.
	k2 := s.rootKey(t, "read:users")
	s.exchangeStatus(t, k2)
	bad, err := keys.FromPair("ds_live", k2.ID(), strings.Repeat("A", len(k2.ClientSecret())))
	if err == nil {
		if status, _ := s.exchangeStatus(t, bad); status != http.StatusUnauthorized {
			t.Fatalf("wrong secret of a cached key: %d, want 401", status)
		}
	}
}

// silent is a Notifier that never reports anything.
type silent struct{}

func (silent) Listen(ctx context.Context, f func(storage.Change)) error {
	<-ctx.Done()
	return ctx.Err()
}

// A read that was under way when its key was forgotten does not put its
// copy back.
func TestKeyCacheForgetDuringRead(t *testing.T) {
	st := &slowKeys{KeyStore: nil, release: make(chan struct{}), started: make(chan struct{})}
	c := newKeyCache(st, time.Hour, 10)
	done := make(chan struct{})
	go func() {
		c.Key(context.Background(), "k")
		close(done)
	}()
	<-st.started
	c.forget("k")
	close(st.release)
	<-done
	if _, ok := c.m["k"]; ok {
		t.Fatal("a read begun before forget was cached")
	}
	c.Key(context.Background(), "k")
	if _, ok := c.m["k"]; !ok {
		t.Fatal("a read after forget was not cached")
	}
	for i := range 20 {
		c.Key(context.Background(), string(rune('a'+i)))
	}
	if len(c.m) > 10 {
		t.Fatalf("cache holds %d records, bound 10", len(c.m))
	}
}

type slowKeys struct {
	storage.KeyStore
	once             sync.Once
	started, release chan struct{}
}

func (s *slowKeys) Key(ctx context.Context, id string) (storage.Key, error) {
	s.once.Do(func() { close(s.started); <-s.release })
	return storage.Key{ID: id, SecretHash: []byte{1}}, nil
}

// A secret rotated out in this process stops authenticating here as soon
// as Rotate returns, whatever the cache's age; the new one works at once.
func TestKeyCacheLocalRotation(t *testing.T) {
	s := newServer(t, func(c *Config) {
		c.Changes = silent{}
		c.KeyCacheMaxAge = time.Hour
	})
	old := s.rootKey(t, "read:users")
	for range 2 {
		if status, _ := s.exchangeStatus(t, old); status != http.StatusOK {
			t.Fatalf("exchange: %d", status)
		}
	}
	next, _, err := s.Keys().Rotate(context.Background(), old.ID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := s.exchangeStatus(t, old); status != http.StatusUnauthorized {
		t.Errorf("the rotated-out secret from the cache: %d, want 401", status)
	}
	if status, _ := s.exchangeStatus(t, next); status != http.StatusOK {
		t.Errorf("the new secret: %d, want 200", status)
	}
}
