package keyturn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

// unreachable is a store whose key lookups wait, while down is set, until
// their context ends, as lookups do on a database that stopped answering.
type unreachable struct {
	*memory.Store
	down atomic.Bool
}

func (u *unreachable) Key(ctx context.Context, id string) (storage.Key, error) {
	if u.down.Load() {
		<-ctx.Done()
		return storage.Key{}, ctx.Err()
	}
	return u.Store.Key(ctx, id)
}

// With the store unreachable, the exchange of a key gives up after
// StoreTimeout and answers 503 temporarily_unavailable with Retry-After,
// never a 401 that would count against the client; a token issued before
// keeps working at a resource; once the store answers again, so does the
// exchange. Without StoreTimeout the request would wait for as long as its
// own context, which here never ends.
func TestStoreUnreachable(t *testing.T) {
	st := &unreachable{Store: memory.New()}
	s := newServer(t, func(c *Config) { c.Store = st; c.StoreTimeout = 50 * time.Millisecond })
	k := s.rootKey(t, "read:users")
	tok := s.token(t, k, "")
	st.down.Store(true)
	for range DefaultClientAddressBurst + 1 { // and never throttled for it
		status, body := s.exchange(t, k, "")
		if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
			t.Fatalf("exchange with the store down: %d %v, want 503 temporarily_unavailable", status, body)
		}
	}
	r := httptest.NewRequest("GET", "/v1/staff", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if res := s.do(r); res.StatusCode != http.StatusOK {
		t.Errorf("a token issued before, with the store down: %d", res.StatusCode)
	}
	st.down.Store(false)
	if status, body := s.exchange(t, k, ""); status != http.StatusOK {
		t.Errorf("exchange with the store back: %d %v", status, body)
	}
	if _, err := New(t.Context(), Config{Store: st, Issuer: testIssuer, StoreTimeout: -1}); err == nil {
		t.Error("a negative StoreTimeout was accepted")
	}
}

// replayDown is a store whose one-time values cannot be recorded now.
type replayDown struct{ *memory.Store }

func (replayDown) UseOnce(context.Context, string, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("store down")
}

// A client assertion whose jti cannot be recorded, because the store is
// unreachable, is answered 503 with Retry-After: never a token (the
// replay check could not be made), and never a 401 that would count
// against the client.
func TestAssertionStoreUnreachable(t *testing.T) {
	s := newServer(t, func(c *Config) { c.Store = replayDown{memory.New()} })
	id := s.pkClient(t, clientJWKS())
	for range DefaultClientAddressBurst + 1 {
		status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(edAssertion(t, claimsFor(id))).Encode())
		if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
			t.Fatalf("assertion with the store down: %d %v %v, want 503 temporarily_unavailable with Retry-After", status, body, hdr)
		}
	}
}
