package keyturn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
)

// Store is everything a [Server] keeps: API keys (and the public keys of
// private_key_jwt clients), signing keys, revocations, opaque tokens, the
// fingerprint of the pepper, the ids of client assertions already used,
// the counts of failed authentications, and the sweeping of expired
// records. storage/memory and storage/sqlstore implement it; a host's own
// store runs storage/storagetest.Run. Nothing a Server protects with it can
// be left out by a store that lacks a part: such a store does not compile
// as a Store.
type Store interface {
	storage.KeyStore
	storage.KeyJWKSReplacer
	storage.SigningKeyStore
	storage.RevocationStore
	storage.OpaqueTokenStore
	storage.SettingStore
	storage.Sweeper
	storage.ReplayStore
	storage.FailureStore
}

// Defaults of [Config].
const (
	// DefaultPasswordClientID is the client_id claim of password-grant
	// tokens when [Config.PasswordClientID] is empty.
	DefaultPasswordClientID = "keyturn"

	// DefaultAdminPath is where [Server.Admin] serves the key admin API
	// when [Config.AdminPath] is empty.
	DefaultAdminPath = "/v1/api_keys"

	// Intervals of [Server.Run] when Config leaves them zero.
	DefaultRevocationRefresh = 10 * time.Second
	DefaultKeyRefresh        = time.Minute
	DefaultSweepInterval     = 10 * time.Minute
)

// MinPepperLen is the shortest [Config.Pepper] New accepts, in bytes.
const MinPepperLen = 16

// ErrPepperMismatch reports that [Config.Pepper] is not the pepper the
// store's API key hashes were made with (or that one of the two has no
// pepper): every key would fail to authenticate. Start with the store's
// pepper.
var ErrPepperMismatch = errors.New("keyturn: the pepper is not the one the store was created with")

// UserOwnerPrefix starts the Owner of a key created through a
// password-grant token: "user:" followed by the user's name. Such a key
// grants at most what [Config.UserScope] says the user may do now.
const UserOwnerPrefix = "user:"

// Config configures a [Server]. Store, Issuer and KeyPrefix are required;
// every other zero value has the documented default. The four common
// styles of token API differ only in Methods, Users, CreatedAt and the
// paths (see the package documentation).
type Config struct {
	// Store keeps everything. Required.
	Store Store

	// Issuer is the authorization server's issuer identifier (RFC 8414),
	// e.g. "https://auth.example.com": the iss of every token and the base
	// of the advertised endpoint URLs. Required; https unless
	// AllowPlainHTTP is set.
	Issuer string

	// Audience is the aud of every token requested without a resource
	// indicator, and what [Server.Require] accepts. Zero means the Issuer.
	Audience string

	// Resources are the other resource indicators (RFC 8707) a token
	// request may name, each an absolute URI without fragment: a token
	// for them has them as its aud instead of Audience, which
	// [Server.Require] then refuses; introspection accepts every one.
	// Audience is always one of the server's resources. Nil means
	// Audience alone. See "Resource indicators" in the package documentation.
	Resources []string

	// ResourceRequired refuses a token request that names no resource
	// (400 invalid_target) instead of issuing it a token for Audience.
	ResourceRequired bool

	// KeyPrefix starts every API key, e.g. "ds_live" (see keys.Generate
	// for what a prefix may hold). Required.
	KeyPrefix string

	// Pepper keys the hashes of API key secrets, so that a copy of the
	// store alone cannot check a guessed secret: at least MinPepperLen
	// random bytes, kept out of the store. It cannot change for the life of
	// the store, since keys hashed under one pepper do not verify under
	// another: the store remembers a fingerprint of the pepper it first saw
	// (an HMAC keyed by the pepper, never the pepper itself), and New
	// refuses another one, or none after one, or one after none, with
	// ErrPepperMismatch. Empty means unkeyed hashes (see keys.Hasher).
	Pepper []byte

	// KEK, when set, is a 32-byte key-encryption key sealing the signing
	// keys in the store (AES-256-GCM); see token.KeySetConfig.KEK. Nil
	// means the private keys are stored as plain PKCS #8.
	KEK []byte

	// Algorithm is the algorithm of newly generated signing keys. Zero
	// means token.DefaultAlgorithm. Tokens signed with any of keyturn's
	// algorithms keep verifying after a change.
	Algorithm token.Algorithm

	// Format is the kind of access token issued: token.JWT (the zero
	// value) or token.Opaque.
	Format token.Format

	// ExtraClaims, when set, adds host claims to every token; see
	// token.IssuerConfig.Extra.
	ExtraClaims func(ctx context.Context, c *token.Claims) (map[string]any, error)

	// Methods are the ways a client may present its credentials at the
	// token endpoint. Zero means StandardAuthMethods.
	Methods AuthMethod

	// Users enables the password grant and checks its
	// credentials. Nil means the password grant is not offered. With
	// Users, UserScope is required.
	Users UserAuthenticator

	// UserScope reports what a user may do now: the ceiling of every key
	// whose owner (transitively) is that user, asked at each exchange, so
	// that a user who lost a permission cannot keep passing it on through
	// keys made earlier. An unknown user has the empty set. Nil means keys
	// owned by users grant nothing.
	UserScope func(ctx context.Context, username string) (scope.Set, error)

	// PasswordClientID is the client_id claim of password-grant tokens.
	// Zero means DefaultPasswordClientID. No key can have this id.
	PasswordClientID string

	// PasswordLifetime is the lifetime of password-grant tokens. Zero means
	// token.DefaultLifetime (900 s).
	PasswordLifetime time.Duration

	// CreatedAt adds created_at (unix seconds) to token responses.
	CreatedAt bool

	// Scopes are the scopes the server knows, advertised in metadata as
	// scopes_supported. The empty set leaves them out.
	Scopes scope.Set

	// IntrospectScope lets a client introspect tokens issued to others.
	// Zero means DefaultIntrospectScope.
	IntrospectScope string

	// TokenPaths are where [Server.Handler] serves the token endpoint; the
	// first is advertised. Zero means {DefaultTokenPath}.
	TokenPaths []string

	// PasswordPath, when set, is where Handler serves the token endpoint
	// for username and password APIs: such a pair needs no grant_type there.
	PasswordPath string

	// IntrospectionPath and RevocationPath are where Handler serves RFC
	// 7662 and RFC 7009. Zero means DefaultIntrospectionPath and
	// DefaultRevocationPath.
	IntrospectionPath, RevocationPath string

	// AdminPath is where [Server.Admin] serves the key admin API. Zero
	// means DefaultAdminPath.
	AdminPath string

	// Realm is the realm of WWW-Authenticate challenges. Zero means
	// DefaultRealm.
	Realm string

	// AllowPlainHTTP lets the server answer requests that did not arrive
	// over TLS, and an http issuer: for development, or behind a
	// TLS-terminating proxy you trust.
	AllowPlainHTTP bool

	// Limiter throttles failed authentications. Nil means a [RateLimiter]
	// with its defaults that also counts failures in Store (unless it is
	// a memory store), so that its limits hold across every process
	// sharing the store (see RateLimiter); there is no way to switch
	// throttling off.
	Limiter Limiter

	// Logger receives the server's log lines: refusals, keys created and
	// revoked, failures of the background work. Nil means slog.Default().
	Logger *slog.Logger

	// Events receives every token issued, failed authentication and token
	// revoked. Nil means [LogEvents] to Logger.
	Events func(ctx context.Context, ev Event)

	// ErrorHandler, when set, writes the refusals of [Server.Require] and
	// of the admin API; see middleware.Config.ErrorHandler. Nil means the
	// refusal is logged at Logger and answered with middleware.WriteError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, e *middleware.Error)

	// CacheSize bounds the verified-token cache; see
	// token.VerifierConfig.CacheSize. Zero means its default.
	CacheSize int

	// RevocationRefresh, KeyRefresh and SweepInterval are how often
	// [Server.Run] reads revocations made by other processes, rotates and
	// reloads signing keys, and deletes expired records. Zero means
	// DefaultRevocationRefresh, DefaultKeyRefresh and DefaultSweepInterval.
	// RevocationRefresh bounds how long a revocation made in another
	// process can go unnoticed here.
	RevocationRefresh, KeyRefresh, SweepInterval time.Duration

	// Changes, when set, tells the server of the changes every process
	// makes to the shared Store as they happen, so that a revocation, a
	// signing-key change or a revoked API key made by another process bites
	// here within milliseconds instead of at the next RevocationRefresh or
	// KeyRefresh, which remain the fallback. [Server.Run] listens through
	// it. With Changes set, API key records are also cached in memory (see
	// KeyCacheMaxAge). For sqlstore on PostgreSQL use
	// storage/sqlstore/pgnotify. Nil means polling only and no key cache.
	Changes storage.Notifier

	// KeyCacheMaxAge is how long, with Changes set, a cached API key
	// record may authenticate clients without a store lookup. A key
	// revoked (or otherwise changed) by this process leaves the cache at
	// once; one changed by another process when its notification arrives,
	// and, while notifications are not arriving (the listening connection
	// is down, or Run is not running), at most KeyCacheMaxAge after the
	// change. Expiry is always checked against the clock. Zero means
	// DefaultKeyCacheMaxAge; a negative value turns the cache off.
	KeyCacheMaxAge time.Duration

	// StoreTimeout bounds each lookup of an API key in the store, so
	// that when the store is unreachable a token request whose key is not
	// cached is answered 503 temporarily_unavailable within StoreTimeout
	// instead of waiting on the network (tokens already issued keep
	// verifying from memory). Zero means DefaultStoreTimeout, one second.
	// The memory store is not bounded: it cannot be unreachable. The bound
	// costs a lookup that misses the key cache (every lookup, without
	// Changes) a context with a deadline: 4 allocations, no time a
	// benchmark can tell beside a token exchange (BENCHMARKS.md).
	StoreTimeout time.Duration

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// Rand is the source of key secrets and token ids. Nil means
	// crypto/rand.
	Rand io.Reader

	// DPoP configures sender-constrained tokens (RFC 9449; see dpop.go).
	// The zero value turns them on with their defaults.
	DPoP DPoPConfig
}

// Server is an assembled authorization server: the API keys, the signing
// keys, the revocations, the token endpoint with its companions, the key
// admin API and the resource-server middleware, wired once by [New] so that
// none of revocation, the scope ceiling or brute-force protection can be
// left out. It is safe for concurrent use.
type Server struct {
	store    Store
	keySet   *token.KeySet
	revs     *token.Revocations
	issuer   *token.Issuer
	verifier *token.Verifier
	keys     *keys.Manager
	endpoint *Endpoint
	mw       *middleware.Middleware
	admin    *adminAPI
	usage    *usage
	log      *slog.Logger
	users    func(context.Context, string) (scope.Set, error)
	now      func() time.Time

	tokenPaths          []string
	passwordPath        string
	introspect, revoke  string
	adminPath           string
	revEvery, keysEvery time.Duration
	sweepEvery          time.Duration

	changes          storage.Notifier
	keyCache         *keyCache     // nil without Changes
	revPoke, keyPoke chan struct{} // a refresh is due now

	handlerOnce sync.Once
	handler     http.Handler
	adminOnce   sync.Once
	adminH      http.Handler
}

// New checks cfg, loads (or, on an empty store, creates) the signing keys
// and the revocations, and returns the Server. It does no background work:
// run [Server.Run] for that.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("keyturn: Config.Store is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("keyturn: Config.Issuer is required")
	}
	if cfg.Users != nil && cfg.UserScope == nil {
		return nil, errors.New("keyturn: Config.UserScope is required with Users (it caps the keys users create)")
	}
	if n := len(cfg.Pepper); n > 0 && n < MinPepperLen {
		return nil, fmt.Errorf("keyturn: Config.Pepper is %d bytes; it must be at least %d (random bytes, or a long random string)", n, MinPepperLen)
	}
	s := &Server{
		store:        cfg.Store,
		log:          cfg.Logger,
		users:        cfg.UserScope,
		now:          cfg.Now,
		tokenPaths:   cfg.TokenPaths,
		passwordPath: cfg.PasswordPath,
		introspect:   orString(cfg.IntrospectionPath, DefaultIntrospectionPath),
		revoke:       orString(cfg.RevocationPath, DefaultRevocationPath),
		adminPath:    orString(cfg.AdminPath, DefaultAdminPath),
		revEvery:     orDuration(cfg.RevocationRefresh, DefaultRevocationRefresh),
		keysEvery:    orDuration(cfg.KeyRefresh, DefaultKeyRefresh),
		sweepEvery:   orDuration(cfg.SweepInterval, DefaultSweepInterval),
		changes:      cfg.Changes,
		revPoke:      make(chan struct{}, 1),
		keyPoke:      make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.tokenPaths) == 0 {
		s.tokenPaths = []string{DefaultTokenPath}
	}
	for _, p := range append([]string{s.passwordPath, s.introspect, s.revoke, s.adminPath}, s.tokenPaths...) {
		if p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}?#")) {
			return nil, fmt.Errorf("keyturn: path %q must start with '/' and hold no space, brace, '?' or '#'", p)
		}
	}
	if s.revEvery < 0 || s.keysEvery < 0 || s.sweepEvery < 0 {
		return nil, errors.New("keyturn: Config intervals must not be negative")
	}
	audience := orString(cfg.Audience, cfg.Issuer)
	passwordID := orString(cfg.PasswordClientID, DefaultPasswordClientID)

	if err := checkPepper(ctx, cfg.Store, cfg.Pepper); err != nil {
		return nil, err
	}
	var err error
	// DPoP (dpop.go): one verifier for the token endpoint and the middleware.
	dc := cfg.DPoP
	if cfg.Changes != nil {
		// Other processes share the store: by default they share the
		// memory of used proofs, and accept each other's nonces.
		if dc.Replay == nil && !dc.ReplayPerProcess {
			dc.Replay = cfg.Store
		}
		if dc.Nonce && dc.NonceSecret == nil {
			dc.NonceSecret = derivedKey(cfg.Pepper, "keyturn dpop nonces")
		}
	}
	dpopV, resourceURL, err := newDPoP(dc, cfg.Issuer, cfg.Now)
	if err != nil {
		return nil, err
	}
	if s.keySet, err = token.NewKeySet(ctx, token.KeySetConfig{
		Store: cfg.Store, Algorithm: cfg.Algorithm, KEK: cfg.KEK, Now: cfg.Now, Rand: cfg.Rand,
	}); err != nil {
		return nil, err
	}
	if s.revs, err = token.NewRevocations(ctx, token.RevocationsConfig{Store: cfg.Store, Now: cfg.Now}); err != nil {
		return nil, err
	}
	var keyStore storage.KeyStore = cfg.Store
	if _, local := cfg.Store.(*memory.Store); !local {
		if keyStore, err = timed(cfg.Store, cfg.StoreTimeout); err != nil {
			return nil, err
		}
	}
	if maxAge := orDuration(cfg.KeyCacheMaxAge, DefaultKeyCacheMaxAge); cfg.Changes != nil && maxAge > 0 {
		s.keyCache = newKeyCache(keyStore, maxAge, keyCacheSize)
		keyStore = s.keyCache
	}
	if s.keys, err = keys.NewManager(keys.Config{
		Store: keyStore, Hasher: keys.NewHasher(cfg.Pepper), Prefix: cfg.KeyPrefix,
		Revoker: s.revs, Now: cfg.Now, Rand: cfg.Rand,
		JWKSReplacer: s.jwksReplacer(cfg.Store), // private_key_jwt, assertion.go
	}); err != nil {
		return nil, err
	}
	if s.issuer, err = token.NewIssuer(token.IssuerConfig{
		Issuer: cfg.Issuer, Audience: []string{audience}, Format: cfg.Format,
		Keys: s.keySet, Opaque: cfg.Store, Extra: cfg.ExtraClaims, Now: cfg.Now, Rand: cfg.Rand,
	}); err != nil {
		return nil, err
	}
	if s.verifier, err = token.NewVerifier(token.VerifierConfig{
		Issuer: cfg.Issuer, Audience: audience, Keys: s.keySet,
		// Every algorithm a stored key may have (each kid is checked
		// against its own key's): a change of Algorithm refuses no token.
		Algorithms:  []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.PS256},
		Opaque:      cfg.Store,
		Revocations: s.revs,
		CacheSize:   cfg.CacheSize,
		Now:         cfg.Now,
	}); err != nil {
		return nil, err
	}
	// Introspection and revocation judge the tokens of every resource.
	endpointVerifier := s.verifier
	if others := slices.DeleteFunc(slices.Clone(cfg.Resources), func(r string) bool { return r == audience }); len(others) > 0 {
		if endpointVerifier, err = token.NewVerifier(token.VerifierConfig{
			Issuer: cfg.Issuer, Audience: audience, OtherAudiences: others, Keys: s.keySet,
			Algorithms: []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.PS256},
			Opaque:     cfg.Store, Revocations: s.revs, CacheSize: cfg.CacheSize, Now: cfg.Now,
		}); err != nil {
			return nil, err
		}
	}
	clients := NewKeyClients(s.keys)
	hostEvents := cfg.Events
	if hostEvents == nil {
		hostEvents = LogEvents(s.log)
	}
	// Every token issued for a key records the key's use, throttled and
	// off the response (see usage).
	s.usage = newUsage(s.keys, s.log, s.now)
	events := func(ctx context.Context, ev Event) {
		if ev.Kind == TokenIssued && ev.ClientID != passwordID {
			s.usage.used(ctx, ev.ClientID)
		}
		hostEvents(ctx, ev)
	}
	limiter := cfg.Limiter
	if limiter == nil {
		// Failures are counted in the store too, so that the limits hold
		// across every process sharing it; the memory store is shared by
		// no other process.
		lc := RateLimiterConfig{Now: cfg.Now}
		if _, local := cfg.Store.(*memory.Store); !local {
			lc.Failures, lc.FailureKey = cfg.Store, failureKey(cfg.Pepper)
		}
		if limiter, err = NewRateLimiter(lc); err != nil {
			return nil, err
		}
	}
	metaToken := cfg.Issuer + s.tokenPaths[0]
	if s.endpoint, err = NewEndpoint(EndpointConfig{
		Issuer:           s.issuer,
		Verifier:         endpointVerifier,
		Clients:          clients,
		Assertions:       clients,
		Replay:           cfg.Store,
		Resources:        cfg.Resources,
		ResourceRequired: cfg.ResourceRequired,
		Methods:          cfg.Methods,
		SplitKey:         clients.SplitKey,
		Users:            cfg.Users,
		PasswordClientID: passwordID,
		PasswordLifetime: cfg.PasswordLifetime,
		Ceiling:          s.ceiling,
		CreatedAt:        cfg.CreatedAt,
		IntrospectScope:  cfg.IntrospectScope,
		ScopesSupported:  cfg.Scopes,
		TokenURL:         metaToken,
		IntrospectionURL: cfg.Issuer + s.introspect,
		RevocationURL:    cfg.Issuer + s.revoke,
		JWKSURL:          cfg.Issuer + token.JWKSPath,
		Realm:            cfg.Realm,
		AllowPlainHTTP:   cfg.AllowPlainHTTP,
		Limiter:          limiter,
		Events:           events,
		Now:              cfg.Now,
		DPoP:             dpopV,
	}); err != nil {
		return nil, err
	}
	onError := cfg.ErrorHandler
	if onError == nil {
		onError = LogRefusals(s.log, orString(cfg.Realm, DefaultRealm))
	}
	if s.mw, err = middleware.New(middleware.Config{Verifier: s.verifier, Realm: cfg.Realm, ErrorHandler: onError,
		DPoP: dpopV, DPoPURL: resourceURL}); err != nil {
		return nil, err
	}
	s.admin = &adminAPI{keys: s.keys, log: s.log, refuse: onError, passwordID: passwordID, now: s.now,
		resources: s.endpoint.resources}
	return s, nil
}

// timed bounds the key lookups of st by timeout (Config.StoreTimeout).
func timed(st storage.KeyStore, timeout time.Duration) (storage.KeyStore, error) {
	switch {
	case timeout == 0:
		timeout = DefaultStoreTimeout
	case timeout < 0:
		return nil, errors.New("keyturn: Config.StoreTimeout must not be negative")
	}
	return timedKeys{KeyStore: st, timeout: timeout}, nil
}

// pepperSetting is the setting that holds the pepper's fingerprint.
const pepperSetting = "keyturn.pepper_fingerprint"

// failureKey is the key that names the failure counts of the default
// limiter in the store: the same in every process with the same pepper,
// and of no use to check a secret.
func failureKey(pepper []byte) []byte { return derivedKey(pepper, "keyturn failure counts") }

// derivedKey is a key for one purpose, named by label, derived from the
// pepper: the same in every process configured alike.
func derivedKey(pepper []byte, label string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// noPepper is the fingerprint of an empty pepper.
const noPepper = "none"

// pepperFingerprint identifies a pepper without revealing it: an HMAC-SHA-256
// keyed by the pepper over a fixed label, or noPepper for none.
func pepperFingerprint(pepper []byte) []byte {
	if len(pepper) == 0 {
		return []byte(noPepper)
	}
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte("keyturn pepper fingerprint v1"))
	return []byte("hmac-sha256:" + hex.EncodeToString(mac.Sum(nil)))
}

// checkPepper records the fingerprint of pepper in st on first use, and
// otherwise checks that it is the one recorded. A store made before
// fingerprints were kept records the pepper of its next start unchecked.
func checkPepper(ctx context.Context, st storage.SettingStore, pepper []byte) error {
	want := pepperFingerprint(pepper)
	got, err := st.InitSetting(ctx, pepperSetting, want)
	if err != nil {
		return fmt.Errorf("keyturn: reading the pepper fingerprint from the store: %w", err)
	}
	switch {
	case hmac.Equal(got, want):
		return nil
	case string(got) == noPepper:
		return fmt.Errorf("%w: its API keys were hashed without a pepper, but a pepper is set; "+
			"start without it, or use a new store and new keys", ErrPepperMismatch)
	case len(pepper) == 0:
		return fmt.Errorf("%w: its API keys were hashed with a pepper, but none is set; start with that pepper", ErrPepperMismatch)
	}
	return fmt.Errorf("%w: its API keys were hashed with another pepper; start with that one", ErrPepperMismatch)
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Handler returns the OAuth endpoints at their configured paths: the token
// endpoint (at every TokenPaths entry and at PasswordPath), introspection,
// revocation, the RFC 8414 metadata and the JWKS. Mount it at the root of
// the host's mux, or route those paths to it.
func (s *Server) Handler() http.Handler {
	s.handlerOnce.Do(func() {
		mux := http.NewServeMux()
		for _, p := range s.tokenPaths {
			mux.Handle(p, s.endpoint.Token())
		}
		if s.passwordPath != "" {
			mux.Handle(s.passwordPath, s.endpoint.PasswordToken())
		}
		mux.Handle(s.introspect, s.endpoint.Introspection())
		mux.Handle(s.revoke, s.endpoint.Revocation())
		mux.Handle(s.endpoint.MetadataPath(), s.endpoint.Metadata())
		mux.Handle(token.JWKSPath, s.keySet.Handler())
		s.handler = mux
	})
	return s.handler
}

// Require returns middleware that lets a request through only with a
// valid access token of this server holding every scope in scopes (a
// space-delimited scope string). It panics on a malformed scope string, as
// middleware.Middleware.Require does. See [Server.Middleware] for the other
// checks.
func (s *Server) Require(scopes string) func(http.Handler) http.Handler {
	return s.mw.Require(scopes)
}

// Middleware returns the resource-server middleware, verifying this
// server's tokens (revocation included) through the token cache.
func (s *Server) Middleware() *middleware.Middleware { return s.mw }

// Verifier returns the token verifier behind the middleware, for hosts that
// check tokens outside HTTP (gRPC interceptors, queue consumers). It caches
// verified tokens and refuses revoked ones. It checks tokens, not senders:
// a DPoP-bound token's claims have JKT set, and such a request must also
// carry a proof made with that key (token/dpop), as [Server.Require]
// demands.
func (s *Server) Verifier() *token.Verifier { return s.verifier }

// Keys returns the API key manager, for hosts that create, list or revoke
// keys from code. Its revocations reach this server's tokens at once.
func (s *Server) Keys() *keys.Manager { return s.keys }

// Run does the background work until ctx ends: it rotates and reloads the
// signing keys, reads revocations made by other processes, and sweeps
// expired records, at the Config's intervals. With Config.Changes it also
// listens for changes, reloading revocations or signing keys and
// forgetting cached key records as soon as it hears of one. Failures are
// logged and retried at the next interval. Run returns once all of that
// work has stopped, and the writes of keys' last use under way (which the
// Server starts itself, with or without Run) have finished or given up,
// with ctx's error.
func (s *Server) Run(ctx context.Context) error {
	logErr := func(what string) func(error) {
		return func(err error) {
			if ctx.Err() == nil {
				s.log.Error(what, "err", err)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		refreshLoop(ctx, s.keysEvery, s.keyPoke, s.keySet.Refresh, logErr("keyturn: refreshing signing keys"))
	})
	wg.Go(func() {
		refreshLoop(ctx, s.revEvery, s.revPoke, s.revs.Refresh, logErr("keyturn: refreshing revocations"))
	})
	if s.changes != nil {
		wg.Go(func() {
			if err := s.changes.Listen(ctx, s.changed); err != nil && ctx.Err() == nil {
				s.log.Error("keyturn: listening for changes stopped; polling only", "err", err)
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(s.sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Sweep(ctx)
			}
		}
	})
	wg.Wait()
	s.usage.wait(context.Background()) // each write gives up after usageWriteTimeout
	return ctx.Err()
}

// changed reacts to a notification from Config.Changes. It only pokes the
// refresh loops, which coalesce a burst of notifications into one reload.
func (s *Server) changed(c storage.Change) {
	switch c.Kind {
	case storage.RevocationAdded:
		poke(s.revPoke)
	case storage.SigningKeysChanged:
		poke(s.keyPoke)
	case storage.KeyChanged:
		if s.keyCache != nil {
			s.keyCache.forget(c.ID)
		}
	default: // Resync, and any kind this version does not know
		if s.keyCache != nil {
			s.keyCache.flush()
		}
		poke(s.revPoke)
		poke(s.keyPoke)
	}
}

// poke asks a refreshLoop for a refresh now; one pending request is enough.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// refreshLoop calls f every interval, and at once when poked, until ctx is
// done, reporting f's failures (not those caused by ctx ending) to onError.
func refreshLoop(ctx context.Context, every time.Duration, poked <-chan struct{}, f func(context.Context) error, onError func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-poked:
		}
		if ctx.Err() != nil {
			return
		}
		if err := f(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}

// Sweep deletes the records that can no longer matter (expired opaque
// tokens, revocations and retired signing keys) and returns how many it
// deleted. Run calls it every SweepInterval.
func (s *Server) Sweep(ctx context.Context) int {
	n, err := s.store.Sweep(ctx, s.now())
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("keyturn: sweeping expired records", "err", err)
	case n > 0:
		s.log.Info("keyturn: swept expired records", "count", n)
	}
	return n
}

// maxOwnerDepth bounds the chain of creators the ceiling follows; a longer
// chain grants nothing.
const maxOwnerDepth = 16

// ceiling is the EndpointConfig.Ceiling New wires: what a client's creators
// may still grant today. It follows the chain of owners: a key created
// through another key's token is bounded by that key's scope and, in turn,
// by that key's creators; a key created through a user's password-grant
// token by the user's current scope (UserScope). The chain ends at a key
// with no owner. An owner that names neither a user nor a key that exists
// grants nothing, and so does a chain longer than maxOwnerDepth.
func (s *Server) ceiling(ctx context.Context, c Client) (scope.Set, error) {
	ceiling := c.Scope
	owner := c.Owner
	for depth := 0; ; depth++ {
		switch {
		case owner == "" || owner == legacyBootstrapOwner:
			return ceiling, nil
		case depth >= maxOwnerDepth:
			return scope.Set{}, nil
		case strings.HasPrefix(owner, UserOwnerPrefix):
			if s.users == nil {
				return scope.Set{}, nil
			}
			us, err := s.users(ctx, strings.TrimPrefix(owner, UserOwnerPrefix))
			if err != nil {
				return scope.Set{}, fmt.Errorf("keyturn: looking up the scope of the user who created key %s: %w", c.ID, err)
			}
			return ceiling.Intersect(us), nil
		}
		rec, err := s.keys.Get(ctx, owner)
		if errors.Is(err, storage.ErrNotFound) {
			return scope.Set{}, nil
		}
		if err != nil {
			return scope.Set{}, err
		}
		ceiling = ceiling.Intersect(rec.Scope)
		owner = rec.Owner
	}
}

// legacyBootstrapOwner is the owner the first example server gave its
// bootstrap key; such a key has no creator.
const legacyBootstrapOwner = "bootstrap"

// LogRefusals returns the default [Config.ErrorHandler]: it logs each
// protected-resource refusal to l with its cause (never the token), at Info
// for a request with no credential at all (often a client's first try) and
// at Warn otherwise, then answers it with middleware.WriteError in realm. A
// host that wants more (a metric, say) wraps it.
func LogRefusals(l *slog.Logger, realm string) func(http.ResponseWriter, *http.Request, *middleware.Error) {
	return func(w http.ResponseWriter, r *http.Request, e *middleware.Error) {
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", e.Status, "remote_addr", r.RemoteAddr}
		if e.Code != "" {
			attrs = append(attrs, "error", e.Code)
		}
		if e.Err != nil {
			attrs = append(attrs, "reason", e.Err.Error())
		}
		level := slog.LevelWarn
		if e.Code == "" {
			level = slog.LevelInfo
		}
		l.Log(r.Context(), level, "request refused", attrs...)
		middleware.WriteError(w, e, realm)
	}
}
