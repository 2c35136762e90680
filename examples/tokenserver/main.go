// Command tokenserver is a complete OAuth 2.0 token server for machine
// clients built on keyturn, and the reference for how a host wires it: API
// keys (prefix ds_live) exchanged for RFC 9068 access tokens in each of the
// four styles of token API it was designed for (a Bearer or JSON API key,
// username and password, client credentials in JSON, form or Basic),
// introspection, revocation, metadata, JWKS, an admin API for keys and the
// admin page for people over it (http://127.0.0.1:8080/admin), two demo
// resources behind the middleware, health and readiness checks and
// Prometheus metrics.
//
//	go run ./examples/tokenserver                 # SQLite file keyturn.db
//	go run ./examples/tokenserver -db memory
//	go run ./examples/tokenserver -db postgres://user@host/db
//	go run ./examples/tokenserver -user 'ada:secret:read:users read:participants'
//	go run ./examples/tokenserver -h              # every flag and variable
//
// Every flag can also be set in the environment as KEYTURN_<FLAG> (upper
// case, '-' as '_': KEYTURN_ADDR, KEYTURN_DB, ...); a flag on the command line
// wins.
//
// On first start with an empty store it prints one bootstrap admin key on
// stdout, as "bootstrap admin key: <key>", before it stores the key; logs go
// to stderr. Later, "tokenserver admin-key" makes a new admin key.
//
// Two environment variables hold the server's own secrets:
//
//   - KEYTURN_PEPPER, at least 16 random bytes (a long random string), keys
//     the hashes of API key secrets. The store remembers a fingerprint of it
//     and the server refuses to start with another;
//   - KEYTURN_KEK, 32 random bytes in standard base64 (openssl rand -base64
//     32), seals the token-signing private keys in the store with AES-256-GCM
//     ("tokenserver seal" seals a store made without it).
//
// Plain HTTP is for development: in production give -tls-cert and -tls-key,
// or put the server behind a TLS-terminating proxy and an https -issuer.
//
// To see how a host wires keyturn, read newServer in server.go first; then
// users.go (the host's own user table behind keyturn.UserAuthenticator),
// store.go (opening the database), ops.go (health, metrics and logs) and
// cli.go (the subcommands).
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

const (
	keyPrefix = "ds_live"
	realm     = "tokenserver"
	// passwordClientID is the client_id of password-flow tokens.
	passwordClientID = "tokenserver"
	// builtinScopes are the scopes the server knows without -scope; the
	// bootstrap key holds them and those of -scope.
	builtinScopes = "read:api_keys write:api_keys read:users read:participants introspect target-entity:*:*"
	// envPrefix starts the environment variable of every flag.
	envPrefix = "KEYTURN_"
)

type config struct {
	addr, db, issuer, audience string
	tlsCert, tlsKey            string
	users                      userFlag
	resources                  resourceFlag // -resource: beyond the audience
	alg                        token.Algorithm
	format                     token.Format
	scopes                     scope.Set // -scope: beyond the built-in ones
	logFormat, logLevel        string
	metricsAddr                string
	dpopNonce                  bool          // -dpop-nonce (dpop.go)
	pepper, kek                []byte        // from the environment
	sweepEvery                 time.Duration // zero: keyturn's default; tests shorten it
}

func (c config) tls() bool { return c.tlsCert != "" }

// allScopes is every scope the server knows: the built-in ones and -scope.
func (c config) allScopes() scope.Set {
	if c.scopes.IsEmpty() {
		return scope.MustParse(builtinScopes)
	}
	return scope.MustParse(builtinScopes + " " + c.scopes.String())
}

// defaultConfig is the configuration before flags and environment.
func defaultConfig() config {
	return config{addr: "127.0.0.1:8080", db: "keyturn.db", alg: token.DefaultAlgorithm, format: token.JWT,
		logFormat: "text", logLevel: "info"}
}

// serverFlags defines every flag of the server on a new FlagSet, bound to c.
func (c *config) serverFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("tokenserver", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", c.addr, "address to listen on")
	fs.StringVar(&c.db, "db", c.db, `SQLite file, "memory", or a postgres:// URL`)
	fs.StringVar(&c.issuer, "issuer", c.issuer, "issuer identifier (default http://<addr>, https:// with TLS)")
	fs.StringVar(&c.audience, "audience", c.audience, "audience of the tokens (default: the issuer)")
	fs.Var(&c.resources, "resource", "resource indicator (RFC 8707) a token may be requested for, besides the\n"+
		"audience: an absolute URI (repeatable; several comma-separated)")
	fs.StringVar(&c.tlsCert, "tls-cert", c.tlsCert, "TLS certificate file (with -tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", c.tlsKey, "TLS private key file (with -tls-cert)")
	fs.Var(&c.users, "user", "demo user 'NAME:PASSWORD:SCOPE SCOPE...' for the password flow (repeatable;\n"+
		"several in the variable, one per line)")
	fs.Var(algFlag{&c.alg}, "alg", "algorithm of new signing keys: EdDSA, ES256, RS256 or PS256")
	fs.Var(formatFlag{&c.format}, "token-format", "access tokens: jwt or opaque")
	fs.Var(scopeFlag{&c.scopes}, "scope", "scopes the server knows beyond the built-in ones, 'S S...'")
	fs.StringVar(&c.metricsAddr, "metrics-addr", c.metricsAddr, "serve /metrics on this address instead of the main listener")
	fs.BoolVar(&c.dpopNonce, "dpop-nonce", c.dpopNonce, "require a server nonce in DPoP proofs (RFC 9449 §8)")
	c.logFlags(fs)
	return fs
}

// logFlags defines -log-format and -log-level, which every command takes.
func (c *config) logFlags(fs *flag.FlagSet) {
	fs.Var(choiceFlag{&c.logFormat, []string{"text", "json"}}, "log-format", "log lines: text or json")
	fs.Var(choiceFlag{&c.logLevel, []string{"debug", "info", "warn", "error"}}, "log-level", "least level logged: debug, info, warn or error")
}

// envName is the environment variable of a flag: KEYTURN_ and the name in
// upper case with '-' as '_'.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag of fs not given on the command line from its
// environment variable, when that is set and not empty. A repeatable flag
// takes one value per line. Errors name the variable, never its value.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if err != nil || given[f.Name] || v == "" {
			return
		}
		values := []string{v}
		if _, repeatable := f.Value.(*userFlag); repeatable {
			values = strings.Split(strings.TrimRight(v, "\n"), "\n")
		}
		for _, v := range values {
			if e := f.Value.Set(v); e != nil {
				err = usageErrorf("%s: %v", envName(f.Name), e)
				return
			}
		}
	})
	return err
}

// secretsFromEnv reads KEYTURN_PEPPER and KEYTURN_KEK; errors never hold
// their values.
func (c *config) secretsFromEnv(getenv func(string) string) error {
	c.pepper = []byte(getenv("KEYTURN_PEPPER"))
	if n := len(c.pepper); n > 0 && n < keyturn.MinPepperLen {
		return usageErrorf("KEYTURN_PEPPER must be at least %d bytes (a long random string); it is %d", keyturn.MinPepperLen, n)
	}
	kek, err := parseKEK("KEYTURN_KEK", getenv("KEYTURN_KEK"))
	c.kek = kek
	return err
}

// parseKEK decodes a key-encryption key from a variable; "" is none.
func parseKEK(name, v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	kek, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(kek) != token.KEKSize {
		return nil, usageErrorf("%s must be 32 bytes in standard base64 (openssl rand -base64 32)", name)
	}
	return kek, nil
}

// algFlag, formatFlag, scopeFlag and choiceFlag check their values as they
// are set, from the command line or the environment.
type algFlag struct{ p *token.Algorithm }

func (f algFlag) String() string {
	if f.p == nil {
		return ""
	}
	return string(*f.p)
}

func (f algFlag) Set(v string) error {
	for _, a := range []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.PS256} {
		if v == string(a) {
			*f.p = a
			return nil
		}
	}
	return errors.New("want EdDSA, ES256, RS256 or PS256")
}

type formatFlag struct{ p *token.Format }

func (f formatFlag) String() string {
	if f.p != nil && *f.p == token.Opaque {
		return "opaque"
	}
	return "jwt"
}

func (f formatFlag) Set(v string) error {
	switch v {
	case "jwt":
		*f.p = token.JWT
	case "opaque":
		*f.p = token.Opaque
	default:
		return errors.New("want jwt or opaque")
	}
	return nil
}

type scopeFlag struct{ p *scope.Set }

func (f scopeFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f scopeFlag) Set(v string) error {
	s, err := scope.Parse(v)
	if err != nil {
		return errors.New("want space-delimited scope tokens")
	}
	*f.p = s
	return nil
}

type choiceFlag struct {
	p      *string
	values []string
}

func (f choiceFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f choiceFlag) Set(v string) error {
	if !slices.Contains(f.values, v) {
		return fmt.Errorf("want %s", strings.Join(f.values, " or "))
	}
	*f.p = v
	return nil
}

// usageError is bad usage: a wrong flag, argument or variable. It exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// loggedError is an error the logger has reported already.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// newLogger returns the logger the flags ask for, writing to w.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level)) // checked by its flag
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func main() {
	// Writes to a closed stdout then fail with EPIPE instead of killing the
	// process, so that the bootstrap key is known to be unseen and is not
	// stored.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	os.Exit(cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}.run(os.Args[1:]))
}

// cli runs a command line: the server, or one of the subcommands.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// run runs the command line args and returns the exit status: 0 on
// success, 2 on bad usage, 1 otherwise, with one line on stderr saying why.
func (cl cli) run(args []string) int {
	var err error
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		err = cl.subcommand(args[0], args[1:])
	} else {
		err = cl.serve(args)
	}
	var ue *usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &loggedError{}):
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(cl.stderr, "tokenserver: %v (see tokenserver -h)\n", err)
		return 2
	}
	fmt.Fprintf(cl.stderr, "tokenserver: %v\n", err)
	return 1
}

// parse parses args into fs, which prints nothing itself: -h prints the
// usage on stdout and returns flag.ErrHelp, anything else wrong is a
// usageError.
func (cl cli) parse(fs *flag.FlagSet, args []string, usage func(io.Writer)) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(cl.stdout)
		return err
	}
	if err != nil {
		return &usageError{err.Error()}
	}
	return nil
}

// serve runs the server until SIGINT or SIGTERM.
func (cl cli) serve(args []string) error {
	c := defaultConfig()
	fs := c.serverFlags()
	if err := cl.parse(fs, args, func(w io.Writer) { usage(w, fs) }); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, cl.getenv); err != nil {
		return err
	}
	if err := c.secretsFromEnv(cl.getenv); err != nil {
		return err
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return usageErrorf("-tls-cert and -tls-key go together")
	}
	log := newLogger(cl.stderr, c.logFormat, c.logLevel)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	if err := run(ctx, c, log, cl.stdout); err != nil {
		log.Error("tokenserver stopped", "err", err)
		return loggedError{err}
	}
	log.Info("stopped")
	return nil
}

// usage writes the server's help: the commands, every flag with its
// variable, and the secrets.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  tokenserver [flags]          serve the token server
  tokenserver admin-key        make a new admin key and print it
  tokenserver keys list        list the API keys, one JSON object per line
  tokenserver keys create -name N -scope 'S...' [-lifetime SECONDS] [-expires-at UNIX]
  tokenserver keys revoke [-cascade] ID
  tokenserver seal             seal the stored signing keys under KEYTURN_KEK
  tokenserver version

Flags. Each can also be set in the environment variable beside it; a flag
on the command line wins. The subcommands take -db, -log-format, -log-level
and the same environment (admin-key also -scope).

`)
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "0 users" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  -%-14s %s\n      %s%s\n", f.Name, envName(f.Name), strings.ReplaceAll(f.Usage, "\n", "\n      "), def)
	})
	fmt.Fprint(w, `
Secrets, from the environment only:

  KEYTURN_PEPPER
      at least 16 random bytes (a long random string) keying the hashes of
      API key secrets. It cannot change for the life of the store: the store
      remembers its fingerprint and the server refuses another.
  KEYTURN_KEK
      32 random bytes in standard base64 (openssl rand -base64 32) sealing the
      token-signing private keys in the store; "tokenserver seal" seals a
      store made without it.
  KEYTURN_OLD_KEK
      for "tokenserver seal" only: the KEK the keys are sealed under now, when
      moving them to a new KEYTURN_KEK.
`)
}

// run serves until ctx ends, then lets in-flight requests finish, stops the
// background work and closes the database, in that order.
func run(ctx context.Context, c config, log *slog.Logger, stdout io.Writer) error {
	if len(c.pepper) == 0 {
		log.Warn("KEYTURN_PEPPER is not set: API key hashes are unkeyed, so anyone with a copy of the database can check a guessed key; set it before the first start (it cannot be added later)")
	}
	if len(c.kek) == 0 {
		log.Warn("KEYTURN_KEK is not set: the token-signing private keys are stored unsealed, so anyone who reads the database can mint tokens; set it and run tokenserver seal")
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var metricsLn net.Listener
	if c.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", c.metricsAddr); err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		defer metricsLn.Close()
	}
	if c.issuer == "" {
		c.issuer = defaultIssuer(c.addr, ln.Addr(), c.tls())
	}
	if c.audience == "" {
		c.audience = c.issuer
	}

	st, err := openStore(ctx, c.db)
	if err != nil {
		return err
	}
	defer st.close()
	srv, err := newServer(ctx, c, st, log, newMetrics())
	if err != nil {
		return err
	}
	if err := srv.bootstrap(ctx, stdout); err != nil {
		return err
	}
	bg, stopBackground := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { srv.Run(bg); close(stopped) }()
	defer func() { stopBackground(); <-stopped }()

	servers := []*http.Server{newHTTPServer(srv.routes(metricsLn == nil), log)}
	listeners := []net.Listener{ln}
	if metricsLn != nil {
		servers = append(servers, newHTTPServer(srv.metricsHandler(), log))
		listeners = append(listeners, metricsLn)
	}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			if i == 0 && c.tls() {
				errc <- hs.ServeTLS(listeners[i], c.tlsCert, c.tlsKey)
			} else {
				errc <- hs.Serve(listeners[i])
			}
		}()
	}
	log.Info("listening", "addr", ln.Addr().String(), "issuer", c.issuer, "db", dbKind(c.db),
		"alg", string(c.alg), "token_format", formatFlag{&c.format}.String())
	if metricsLn != nil {
		log.Info("serving metrics", "addr", metricsLn.Addr().String())
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, hs := range servers {
		errs = append(errs, hs.Shutdown(shutCtx))
	}
	return errors.Join(errs...)
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
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
	case isPostgres(db):
		return "postgres" // never log the URL: it may hold a password
	}
	return "sqlite:" + db
}
