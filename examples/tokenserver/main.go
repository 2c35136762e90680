// Command tokenserver is a complete OAuth 2.0 token server for machine
// clients built on keyturn, and the reference for how a host wires it: API
// keys (prefix ds_live) exchanged for RFC 9068 access tokens in each of the
// four seed API styles, introspection, revocation, metadata, JWKS, an admin
// API for keys, and two demo resources behind the middleware.
//
//	go run ./examples/tokenserver                 # SQLite file keyturn.db
//	go run ./examples/tokenserver -db memory
//	go run ./examples/tokenserver -db postgres://user@host/db
//	go run ./examples/tokenserver -user 'ada:secret:read:users read:participants'
//
// On first start with an empty store it prints one bootstrap admin key on
// stdout, as "bootstrap admin key: <key>"; logs go to stderr. Set
// KEYTURN_PEPPER to a long random string to key the hashes of API key
// secrets (keep it stable: keys hashed under one pepper do not verify
// under another).
//
// Plain HTTP is for development: in production give -tls-cert and -tls-key,
// or put the server behind a TLS-terminating proxy and an https -issuer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

const (
	keyPrefix = "ds_live"
	realm     = "tokenserver"
	// passwordClientID is the client_id of password-flow tokens.
	passwordClientID = "tokenserver"
	// allScopes is every scope the server knows; the bootstrap key holds them.
	allScopes = "read:api_keys write:api_keys read:users read:participants introspect target-entity:*:*"
)

type config struct {
	addr, db, issuer, audience string
	tlsCert, tlsKey            string
	users                      userFlag
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&c.db, "db", "keyturn.db", `SQLite file, "memory", or a postgres:// URL`)
	flag.StringVar(&c.issuer, "issuer", "", "issuer identifier (default http://<addr>, https:// with TLS)")
	flag.StringVar(&c.audience, "audience", "", "audience of the tokens (default: the issuer)")
	flag.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (with -tls-key)")
	flag.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (with -tls-cert)")
	flag.Var(&c.users, "user", "demo user NAME:PASSWORD:SCOPE SCOPE... for the password flow (repeatable)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, log); err != nil {
		log.Error("tokenserver stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	tls := c.tlsCert != ""
	if c.issuer == "" {
		c.issuer = "http://" + ln.Addr().String()
		if tls {
			c.issuer = "https://" + ln.Addr().String()
		}
	}
	if c.audience == "" {
		c.audience = c.issuer
	}

	st, closeStore, err := openStore(ctx, c.db)
	if err != nil {
		return err
	}
	defer closeStore()

	srv, err := newServer(ctx, c, st, log, !tls)
	if err != nil {
		return err
	}
	go srv.background(ctx)

	hs := &http.Server{
		Handler:           srv.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if tls {
			errc <- hs.ServeTLS(ln, c.tlsCert, c.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	log.Info("listening", "addr", ln.Addr().String(), "issuer", c.issuer, "db", dbKind(c.db))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(shutCtx) // in-flight requests finish; then the store closes
}

func dbKind(db string) string {
	switch {
	case db == "memory":
		return "memory"
	case strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://"):
		return "postgres" // never log the URL: it may hold a password
	}
	return "sqlite:" + db
}

// server holds the wired keyturn parts.
type server struct {
	store    store
	keySet   *token.KeySet
	revs     *token.Revocations
	keys     *keys.Manager
	endpoint *token.Endpoint
	mw       *middleware.Middleware
	admin    *admin
	log      *slog.Logger
}

func newServer(ctx context.Context, c config, st store, log *slog.Logger, plainHTTP bool) (*server, error) {
	s := &server{store: st, log: log}
	var err error
	if s.keySet, err = token.NewKeySet(ctx, token.KeySetConfig{Store: st}); err != nil {
		return nil, err
	}
	if s.revs, err = token.NewRevocations(ctx, token.RevocationsConfig{Store: st}); err != nil {
		return nil, err
	}
	var hasher *keys.Hasher
	if p := os.Getenv("KEYTURN_PEPPER"); p != "" {
		hasher = keys.NewHasher([]byte(p))
	}
	if s.keys, err = keys.NewManager(keys.Config{Store: st, Hasher: hasher, Prefix: keyPrefix, Revoker: s.revs}); err != nil {
		return nil, err
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Issuer: c.issuer, Audience: []string{c.audience}, Keys: s.keySet})
	if err != nil {
		return nil, err
	}
	verifier, err := token.NewVerifier(token.VerifierConfig{
		Issuer: c.issuer, Audience: c.audience, Keys: s.keySet,
		Algorithms:  []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.PS256},
		Revocations: s.revs,
	})
	if err != nil {
		return nil, err
	}
	u, err := newUsers(c.users, &keys.PasswordHasher{})
	if err != nil {
		return nil, err
	}
	clients := token.NewKeyClients(s.keys)
	s.endpoint, err = token.NewEndpoint(token.EndpointConfig{
		Issuer:           issuer,
		Verifier:         verifier,
		Clients:          clients,
		Methods:          token.AllAuthMethods,
		SplitKey:         clients.SplitKey,
		Users:            u,
		PasswordClientID: passwordClientID,
		CreatedAt:        true,
		ScopesSupported:  scope.MustParse(allScopes),
		Realm:            realm,
		AllowPlainHTTP:   plainHTTP,
		Events:           token.LogEvents(log),
	})
	if err != nil {
		return nil, err
	}
	cache, err := middleware.NewCache(verifier, middleware.CacheConfig{Revocations: s.revs})
	if err != nil {
		return nil, err
	}
	if s.mw, err = middleware.New(middleware.Config{Verifier: cache, Realm: realm}); err != nil {
		return nil, err
	}
	s.admin = &admin{keys: s.keys, log: log}
	return s, s.bootstrap(ctx)
}

// bootstrap creates the first admin key when the store holds no key at all,
// and prints it once on stdout.
func (s *server) bootstrap(ctx context.Context) error {
	existing, err := s.keys.List(ctx, "", 1)
	if err != nil || len(existing) > 0 {
		return err
	}
	all := scope.MustParse(allScopes)
	key, rec, err := s.keys.Create(ctx, keys.CreateParams{Name: "bootstrap admin", Owner: "bootstrap", Scope: all}, all)
	if err != nil {
		return fmt.Errorf("creating the bootstrap key: %w", err)
	}
	s.log.Info("bootstrap admin key created", "id", rec.ID)
	_, err = fmt.Fprintf(os.Stdout, "bootstrap admin key: %s\n", key.String())
	return err
}

// routes mounts every endpoint of the contract on a new ServeMux.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/oauth/token", s.endpoint.Token())
	mux.Handle("/v1/oauth2/token", s.endpoint.Token())
	mux.Handle("/authorization", s.endpoint.PasswordToken())
	mux.Handle("/oauth/introspect", s.endpoint.Introspection())
	mux.Handle("/oauth/revoke", s.endpoint.Revocation())
	mux.Handle(s.endpoint.MetadataPath(), s.endpoint.Metadata())
	mux.Handle(token.JWKSPath, s.keySet.Handler())

	mw := s.mw
	mux.Handle("POST /v1/api_keys", mw.Require("write:api_keys")(http.HandlerFunc(s.admin.create)))
	mux.Handle("GET /v1/api_keys", mw.Require("read:api_keys")(http.HandlerFunc(s.admin.list)))
	mux.Handle("DELETE /v1/api_keys/{id}", mw.Require("write:api_keys")(http.HandlerFunc(s.admin.revoke)))
	mux.Handle("GET /v1/staff", mw.Require("read:users")(http.HandlerFunc(staff)))
	mux.Handle("GET /v1/participants", mw.Require("read:participants")(http.HandlerFunc(participants)))
	return mux
}

// background rotates signing keys, picks up revocations made by other
// processes and sweeps expired records until ctx ends.
func (s *server) background(ctx context.Context) {
	logErr := func(what string) func(error) {
		return func(err error) { s.log.Error(what, "err", err) }
	}
	go s.keySet.Run(ctx, time.Minute, logErr("refreshing signing keys"))
	go s.revs.Run(ctx, 10*time.Second, logErr("refreshing revocations"))
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := s.store.Sweep(ctx, now); err != nil {
				s.log.Error("sweeping expired records", "err", err)
			} else if n > 0 {
				s.log.Info("swept expired records", "count", n)
			}
		}
	}
}
