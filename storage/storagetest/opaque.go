package storagetest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// TestOpaqueTokenStore tests a [storage.OpaqueTokenStore]; newStore returns
// a fresh, empty store for each subtest.
func TestOpaqueTokenStore(t *testing.T, newStore func(t *testing.T) storage.OpaqueTokenStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testOpaqueRoundTrip(t, newStore) })
	t.Run("AddExisting", func(t *testing.T) { testOpaqueAddExisting(t, newStore) })
	t.Run("NotFound", func(t *testing.T) { testOpaqueNotFound(t, newStore) })
	t.Run("NoAliasing", func(t *testing.T) { testOpaqueNoAliasing(t, newStore) })
	t.Run("Cancelled", func(t *testing.T) { testOpaqueCancelled(t, newStore) })
	t.Run("Concurrent", func(t *testing.T) { testOpaqueConcurrent(t, newStore) })
}

// fullOpaqueToken returns a token with every field set; seed picks its hash.
func fullOpaqueToken(seed uint64) storage.OpaqueToken {
	return storage.OpaqueToken{
		Hash:      blob(seed, 32),
		ClientID:  fmt.Sprintf("client-%d", seed),
		Claims:    []byte(`{"iss":"https://as.example","sub":"client","scope":"read write","exp":1741968566}`),
		ExpiresAt: at(15 * time.Minute).In(kolkata),
	}
}

// opaqueToken returns the stored token, checking its time is in UTC.
func opaqueToken(t *testing.T, s storage.OpaqueTokenStore, hash []byte) storage.OpaqueToken {
	t.Helper()
	tok, err := s.OpaqueToken(ctx(t), hash)
	wantNoErr(t, "OpaqueToken", err)
	mustUTC(t, "OpaqueToken", tok.ExpiresAt)
	return tok
}

// wantHashNotInError reports an error if err's text contains hash in any
// common encoding.
func wantHashNotInError(t *testing.T, what string, err error, hash []byte) {
	t.Helper()
	if err == nil || len(hash) < 8 {
		return
	}
	msg := err.Error()
	for _, enc := range []string{
		string(hash),
		hex.EncodeToString(hash),
		strings.ToUpper(hex.EncodeToString(hash)),
		base64.StdEncoding.EncodeToString(hash),
		base64.RawStdEncoding.EncodeToString(hash),
		base64.URLEncoding.EncodeToString(hash),
		base64.RawURLEncoding.EncodeToString(hash),
		fmt.Sprintf("%q", hash),
		fmt.Sprint(hash),
	} {
		if strings.Contains(msg, enc) {
			t.Errorf("%s: error text contains the token hash: %q", what, msg)
			return
		}
	}
}

func testOpaqueRoundTrip(t *testing.T, newStore func(t *testing.T) storage.OpaqueTokenStore) {
	large := fullOpaqueToken(2)
	large.Claims = blob(3, 64<<10)
	large.Hash = blob(4, 64)
	expired := fullOpaqueToken(5)
	expired.ExpiresAt = time.Date(2000, time.January, 1, 0, 0, 0, 0, honolulu)
	tests := []struct {
		name string
		tok  storage.OpaqueToken
	}{
		{"Full", fullOpaqueToken(1)},
		{"LargeClaims", large},
		{"Expired", expired}, // returned expired or not
		{"NoExpiry", storage.OpaqueToken{Hash: blob(6, 32), ClientID: "c", Claims: []byte("{}")}},
		{"OnlyHash", storage.OpaqueToken{Hash: blob(7, 32)}},
		{"TextHash", storage.OpaqueToken{Hash: []byte("0123456789abcdef0123456789ABCDEF"), ClientID: "o'brien%_ключ", ExpiresAt: at(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			wantNoErr(t, "AddOpaqueToken", s.AddOpaqueToken(ctx(t), tt.tok))
			if d := diff(tt.tok, opaqueToken(t, s, tt.tok.Hash)); d != "" {
				t.Errorf("OpaqueToken mismatch (-stored +returned):\n%s", d)
			}
		})
	}
}

func testOpaqueAddExisting(t *testing.T, newStore func(t *testing.T) storage.OpaqueTokenStore) {
	s := newStore(t)
	orig := fullOpaqueToken(1)
	wantNoErr(t, "AddOpaqueToken", s.AddOpaqueToken(ctx(t), orig))
	other := storage.OpaqueToken{Hash: blob(1, 32), ClientID: "impostor", Claims: []byte(`{"scope":"admin"}`), ExpiresAt: at(time.Hour)}
	err := s.AddOpaqueToken(ctx(t), other)
	wantErrIs(t, "AddOpaqueToken of an existing hash", err, storage.ErrExists)
	if errors.Is(err, storage.ErrNotFound) {
		t.Errorf("AddOpaqueToken of an existing hash: error %v also wraps ErrNotFound", err)
	}
	wantHashNotInError(t, "AddOpaqueToken of an existing hash", err, orig.Hash)
	if d := diff(orig, opaqueToken(t, s, orig.Hash)); d != "" {
		t.Errorf("failed AddOpaqueToken changed the stored token (-want +got):\n%s", d)
	}
}

func testOpaqueNotFound(t *testing.T, newStore func(t *testing.T) storage.OpaqueTokenStore) {
	s := newStore(t)
	tok := fullOpaqueToken(1)
	wantNoErr(t, "AddOpaqueToken", s.AddOpaqueToken(ctx(t), tok))
	flipped := func(i int) []byte {
		h := append([]byte(nil), tok.Hash...)
		h[i] ^= 0x01
		return h
	}
	tests := []struct {
		name string
		hash []byte
	}{
		{"Other", blob(99, 32)},
		{"FirstByteDiffers", flipped(0)},
		{"LastByteDiffers", flipped(31)},
		{"Prefix", tok.Hash[:31]},
		{"Longer", append(append([]byte(nil), tok.Hash...), 0x00)},
		{"Nil", nil},
		{"Empty", []byte{}},
		{"Hex", []byte(hex.EncodeToString(tok.Hash))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.OpaqueToken(ctx(t), tt.hash)
			if err == nil {
				t.Errorf("OpaqueToken returned token for client %q, want an error wrapping ErrNotFound", got.ClientID)
			}
			wantErrIs(t, "OpaqueToken", err, storage.ErrNotFound)
			wantHashNotInError(t, "OpaqueToken", err, tt.hash)
		})
	}
}

func testOpaqueNoAliasing(t *testing.T, newStore func(t *testing.T) storage.OpaqueTokenStore) {
	s := newStore(t)
	tok := fullOpaqueToken(1)
	want := fullOpaqueToken(1)
	wantNoErr(t, "AddOpaqueToken", s.AddOpaqueToken(ctx(t), tok))
	tok.Hash[0] ^= 0xff
	tok.Claims[0] = 'X'
	check := func(when string) {
		t.Helper()
		if d := diff(want, opaqueToken(t, s, want.Hash)); d != "" {
			t.Errorf("stored token changed %s (-want +got):\n%s", when, d)
		}
		if _, err := s.OpaqueToken(ctx(t), tok.Hash); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("token found under the caller's modified hash %s: %v", when, err)
		}
	}
	check("after the caller modified the added token's slices")

	got := opaqueToken(t, s, want.Hash)
	got.Hash[0] ^= 0xff
	got.Claims[0] = 'Y'
	check("after the caller modified slices returned by OpaqueToken")

	// The hash passed to a lookup is not kept either.
	lookup := append([]byte(nil), want.Hash...)
	_ = opaqueToken(t, s, lookup)
	lookup[0] ^= 0xff
	check("after the caller modified a hash it looked up")
}

func testOpaqueCancelled(t *testing.T, newStore func(t *testing.T) storage.OpaqueTokenStore) {
	s := newStore(t)
	tok := fullOpaqueToken(1)
	wantNoErr(t, "AddOpaqueToken", s.AddOpaqueToken(ctx(t), tok))
	c := cancelled()
	wantErrIs(t, "AddOpaqueToken", s.AddOpaqueToken(c, fullOpaqueToken(2)), context.Canceled)
	_, err := s.OpaqueToken(c, tok.Hash)
	wantErrIs(t, "OpaqueToken", err, context.Canceled)
	if d := diff(tok, opaqueToken(t, s, tok.Hash)); d != "" {
		t.Errorf("calls with a cancelled context changed the token (-want +got):\n%s", d)
	}
	_, err = s.OpaqueToken(ctx(t), fullOpaqueToken(2).Hash)
	wantErrIs(t, "OpaqueToken of a token added with a cancelled context", err, storage.ErrNotFound)
}

func testOpaqueConcurrent(t *testing.T, newStore func(t *testing.T) storage.OpaqueTokenStore) {
	const workers, perWorker = 8, 16
	s := newStore(t)
	seed := func(w, i int) uint64 { return uint64(1000 + w*perWorker + i) }
	var wg sync.WaitGroup
	var wins atomic.Int32
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				tok := fullOpaqueToken(seed(w, i))
				if err := s.AddOpaqueToken(ctx(t), tok); err != nil {
					t.Errorf("AddOpaqueToken: %v", err)
					return
				}
				got, err := s.OpaqueToken(ctx(t), tok.Hash)
				if err != nil {
					t.Errorf("OpaqueToken: %v", err)
					return
				}
				if d := diff(tok, got); d != "" {
					t.Errorf("OpaqueToken (-want +got):\n%s", d)
				}
				if i%2 == 0 {
					again := tok
					again.ClientID = "again"
					if err := s.AddOpaqueToken(ctx(t), again); !errors.Is(err, storage.ErrExists) {
						t.Errorf("AddOpaqueToken of an existing hash: %v, want an error wrapping ErrExists", err)
					}
				}
			}
			// Everyone races to add the same hash: exactly one wins.
			err := s.AddOpaqueToken(ctx(t), storage.OpaqueToken{Hash: []byte("contended-hash-0123456789abcdef"), ClientID: fmt.Sprint(w)})
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, storage.ErrExists) {
				t.Errorf("concurrent AddOpaqueToken of one hash: %v, want nil or an error wrapping ErrExists", err)
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for i := range perWorker {
			tok := fullOpaqueToken(seed(w, i))
			got, err := s.OpaqueToken(ctx(t), tok.Hash)
			if err != nil {
				t.Errorf("OpaqueToken of token %d/%d: %v", w, i, err)
				continue
			}
			if d := diff(tok, got); d != "" {
				t.Errorf("token %d/%d after concurrent use (-want +got):\n%s", w, i, d)
			}
		}
	}
	if n := wins.Load(); n != 1 {
		t.Errorf("%d concurrent AddOpaqueToken calls of one hash succeeded, want 1", n)
	}
	got := opaqueToken(t, s, []byte("contended-hash-0123456789abcdef"))
	var w int
	if _, err := fmt.Sscan(got.ClientID, &w); err != nil || w < 0 || w >= workers {
		t.Errorf("contended token has ClientID %q, want one worker's", got.ClientID)
	}
}
