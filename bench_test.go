package keyturn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// benchKeys holds a key store with n API keys, built once per n for the
// whole benchmark binary (100 000 keys take a while), and the last key
// created, which the benchmark presents.
type benchKeys struct {
	store *memory.Store
	key   keys.Key
}

var (
	benchKeysMu    sync.Mutex
	benchKeysCache = map[int]*benchKeys{}
)

const benchPepper = "a pepper for benchmarks"

func keysForBench(b *testing.B, n int) *benchKeys {
	benchKeysMu.Lock()
	defer benchKeysMu.Unlock()
	if bk := benchKeysCache[n]; bk != nil {
		return bk
	}
	st := memory.New()
	mgr, err := keys.NewManager(keys.Config{Store: st, Prefix: "ds_live", Hasher: keys.NewHasher([]byte(benchPepper))})
	if err != nil {
		b.Fatal(err)
	}
	sc := scope.MustParse("read:users read:participants")
	bk := &benchKeys{store: st}
	for i := range n {
		k, _, err := mgr.Create(context.Background(), keys.CreateParams{Name: "k" + strconv.Itoa(i), Scope: sc}, sc)
		if err != nil {
			b.Fatal(err)
		}
		bk.key = k
	}
	benchKeysCache[n] = bk
	return bk
}

// benchStore keeps the API keys in a shared store of many keys and
// everything else (signing keys above all) in a store of its own, so that
// each algorithm's Server signs with a key of that algorithm.
type benchStore struct {
	*memory.Store
	keys storage.KeyStore
}

func (s benchStore) CreateKey(ctx context.Context, k storage.Key) error {
	return s.keys.CreateKey(ctx, k)
}
func (s benchStore) Key(ctx context.Context, id string) (storage.Key, error) {
	return s.keys.Key(ctx, id)
}
func (s benchStore) Keys(ctx context.Context, after string, limit int) ([]storage.Key, error) {
	return s.keys.Keys(ctx, after, limit)
}
func (s benchStore) RevokeKey(ctx context.Context, id string, at time.Time) error {
	return s.keys.RevokeKey(ctx, id, at)
}
func (s benchStore) RotateKey(ctx context.Context, id string, old, next []byte, until time.Time) (bool, error) {
	return s.keys.RotateKey(ctx, id, old, next, until)
}
func (s benchStore) TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	return s.keys.TouchKey(ctx, id, at, every)
}

// discardWriter is a ResponseWriter that keeps the status and nothing
// else, so that the benchmark measures the handler, not a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// rewindBody is a request body that can be read again.
type rewindBody struct{ *strings.Reader }

func (rewindBody) Close() error { return nil }

// BenchmarkExchange measures one whole client-credentials exchange through
// the token handler of a Server assembled by New (parse the form and HTTP
// Basic, split and check the API key against its stored hash, the scope
// ceiling, grant the scope, mint and sign the JWT, encode the response) per
// algorithm, with 10 and with 100 000 keys in the store, beside the bare
// signature over a token's signing input in the same run (impl=crypto). The
// Server runs with its default rate limiter and its event hook logging to a
// disabled slog handler.
func BenchmarkExchange(b *testing.B) {
	for _, alg := range allAlgs {
		for _, n := range []int{10, 100_000} {
			bk := keysForBench(b, n)
			srv, err := New(context.Background(), Config{
				Store: benchStore{Store: memory.New(), keys: bk.store}, Issuer: "https://as.test",
				KeyPrefix: "ds_live", Pepper: []byte(benchPepper), Algorithm: alg,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			const form = "grant_type=client_credentials"
			body := rewindBody{strings.NewReader(form)}
			r := httptest.NewRequest(http.MethodPost, "https://as.test/oauth/token", body)
			r.Header.Set("Content-Type", formType)
			r.Header.Set("Authorization", basicAuth(bk.key.ID(), bk.key.ClientSecret()))
			w := &discardWriter{h: http.Header{}}
			b.Run("alg="+string(alg)+"/keys="+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					body.Seek(0, 0)
					clear(w.h)
					h.ServeHTTP(w, r)
					if w.status != http.StatusOK {
						b.Fatalf("status %d", w.status)
					}
				}
			})
		}
		e := newEnv(b, alg)
		tok, _ := e.mint(b, token.Grant{Subject: "W7p6DXeF6zzybyBN", ClientID: "W7p6DXeF6zzybyBN", Scope: scope.MustParse("read:users read:participants")})
		input := []byte(tok[:strings.LastIndexByte(tok, '.')])
		b.Run("alg="+string(alg)+"/impl=crypto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bareSign(alg, e.key, input); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bareSign signs input with key as alg does, with nothing around it: the
// floor an exchange is measured against.
func bareSign(alg token.Algorithm, key crypto.Signer, input []byte) error {
	d := sha256.Sum256(input)
	switch alg {
	case token.EdDSA:
		ed25519.Sign(key.(ed25519.PrivateKey), input)
		return nil
	case token.ES256:
		_, err := ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
		return err
	case token.RS256:
		_, err := rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), crypto.SHA256, d[:])
		return err
	default:
		_, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
		return err
	}
}

// BenchmarkRateLimiter measures what the default Limiter adds to every
// authentication: reserve the attempt in its three budgets and give the
// reservation back on success (the token exchange's path), and a refusal.
func BenchmarkRateLimiter(b *testing.B) {
	key := LimitKey{LimitClient, "W7p6DXeF6zzybyBN"}
	for _, c := range []struct {
		name string
		addr string
		cfg  RateLimiterConfig
	}{
		{"success/ipv4", "192.0.2.1:1234", RateLimiterConfig{}},
		{"success/ipv6", "[2001:db8:1:2::1]:443", RateLimiterConfig{}},
		{"success/RemoteAddr", "", RateLimiterConfig{RemoteAddr: func(*http.Request) string { return "203.0.113.9" }}},
	} {
		l, err := NewRateLimiter(c.cfg)
		if err != nil {
			b.Fatal(err)
		}
		r := &http.Request{RemoteAddr: c.addr}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if l.Reserve(r, key) != 0 {
					b.Fatal("refused")
				}
				l.Settle(r, key, false)
			}
		})
	}
	b.Run("refused", func(b *testing.B) {
		l, err := NewRateLimiter(RateLimiterConfig{})
		if err != nil {
			b.Fatal(err)
		}
		r := &http.Request{RemoteAddr: "192.0.2.1:1234"}
		for l.Reserve(r, key) == 0 {
			l.Settle(r, key, true)
		}
		b.ReportAllocs()
		for b.Loop() {
			if l.Reserve(r, key) == 0 {
				b.Fatal("allowed")
			}
		}
	})
}
