// Command tokenserver is a complete OAuth 2.0 token server for machine
// clients built on keyturn, and the reference for how a host wires it: API
// keys (prefix ds_live) exchanged for RFC 9068 access tokens in each of the
// four styles of token API it was designed for (a Bearer or JSON API key,
// username and password, client credentials in JSON, form or Basic), introspection, revocation, metadata, JWKS, an admin
// API for keys, and two demo resources behind the middleware.
//
//	go run ./examples/tokenserver                 # SQLite file keyturn.db
//	go run ./examples/tokenserver -db memory
//	go run ./examples/tokenserver -db postgres://user@host/db
//	go run ./examples/tokenserver -user 'ada:secret:read:users read:participants'
//
// On first start with an empty store it prints one bootstrap admin key on
// stdout, as "bootstrap admin key: <key>"; logs go to stderr.
//
// Two environment variables hold the server's own secrets, and each must
// stay the same for the life of the store:
//
//   - KEYTURN_PEPPER, a long random string, keys the hashes of API key
//     secrets (keys hashed under one pepper do not verify under another);
//   - KEYTURN_KEK, 32 random bytes in standard base64 (openssl rand -base64
//     32), seals the token-signing private keys in the store with AES-256-GCM
//     (a store made without it, or under another, will not start with it).
//
// Plain HTTP is for development: in production give -tls-cert and -tls-key,
// or put the server behind a TLS-terminating proxy and an https -issuer.
//
// To see how a host wires keyturn, read newServer in server.go first; then
// admin.go (the admin API over keys.Manager), users.go (the host's own user
// table behind keyturn.UserAuthenticator) and store.go (opening the database).
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	pepper, kek                []byte        // from the environment
	sweepEvery                 time.Duration // zero: keyturn's default; tests shorten it
}

func (c config) tls() bool { return c.tlsCert != "" }

// secretsFromEnv reads KEYTURN_PEPPER and KEYTURN_KEK; errors never hold
// their values.
func (c *config) secretsFromEnv(getenv func(string) string) error {
	c.pepper = []byte(getenv("KEYTURN_PEPPER"))
	if v := getenv("KEYTURN_KEK"); v != "" {
		kek, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(kek) != token.KEKSize {
			return errors.New("KEYTURN_KEK must be 32 bytes in standard base64")
		}
		c.kek = kek
	}
	return nil
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&c.db, "db", "keyturn.db", `SQLite file, "memory", or a postgres:// URL`)
	flag.StringVar(&c.issuer, "issuer", "", "issuer identifier (default http://<addr>, https:// with TLS)")
	flag.StringVar(&c.audience, "audience", "", "audience of the tokens (default: the issuer)")
	flag.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (with -tls-key)")
	flag.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (with -tls-cert)")
	flag.Var(&c.users, "user", "demo user 'NAME:PASSWORD:SCOPE SCOPE...' for the password flow (repeatable)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	if err := c.secretsFromEnv(os.Getenv); err != nil {
		log.Error("tokenserver cannot start", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	if err := run(ctx, c, log); err != nil {
		log.Error("tokenserver stopped", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// run serves until ctx ends, then lets in-flight requests finish, stops the
// background work and closes the database, in that order.
func run(ctx context.Context, c config, log *slog.Logger) error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if c.issuer == "" {
		c.issuer = defaultIssuer(c.addr, ln.Addr(), c.tls())
	}
	if c.audience == "" {
		c.audience = c.issuer
	}

	st, closeStore, err := openStore(ctx, c.db)
	if err != nil {
		return err
	}
	defer closeStore()
	srv, err := newServer(ctx, c, st, log, os.Stdout)
	if err != nil {
		return err
	}
	bg, stopBackground := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { srv.Run(bg); close(stopped) }()
	defer func() { stopBackground(); <-stopped }()

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
		if c.tls() {
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
	return hs.Shutdown(shutCtx)
}

// defaultIssuer is http://<addr> (https:// with TLS), with the port the
// listener got when -addr asked for any, and localhost when it names no
// host or every interface.
func defaultIssuer(addr string, bound net.Addr, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	if _, p, err := net.SplitHostPort(bound.String()); err == nil && (port == "" || port == "0") {
		port = p
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
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
