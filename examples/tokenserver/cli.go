package main

// The subcommands: key administration and sealing without HTTP, on the
// store the server uses, with the same -db and environment. Whoever can run
// them can read and write the database, so they are bounded by no scope
// ceiling: a key made here is a root key, with no creator.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/token"
)

// byCLI is the acting client named in the audit lines of the subcommands.
const byCLI = "command line"

// subcommand runs tokenserver <name> args.
func (cl cli) subcommand(name string, args []string) error {
	switch name {
	case "admin-key":
		return cl.adminKey(args)
	case "keys":
		if len(args) == 0 {
			return usageErrorf("keys: want list, create or revoke")
		}
		switch args[0] {
		case "list":
			return cl.keysList(args[1:])
		case "create":
			return cl.keysCreate(args[1:])
		case "revoke":
			return cl.keysRevoke(args[1:])
		}
		return usageErrorf("keys: unknown command %q; want list, create or revoke", args[0])
	case "seal":
		return cl.seal(args)
	case "version":
		if len(args) > 0 {
			return usageErrorf("version takes no arguments")
		}
		fmt.Fprintln(cl.stdout, version())
		return nil
	}
	return usageErrorf("unknown command %q", name)
}

// command is a subcommand's configuration: the server's, from the
// environment, and its own flags, which include -db, -log-format and
// -log-level.
type command struct {
	cl   cli
	name string
	c    config
	fs   *flag.FlagSet
	log  *slog.Logger
}

// newCommand reads the environment into the server's configuration and
// defines the flags every subcommand takes.
func (cl cli) newCommand(name string) (*command, error) {
	c := defaultConfig()
	if err := applyEnv(c.serverFlags(), cl.getenv); err != nil {
		return nil, err
	}
	if err := c.secretsFromEnv(cl.getenv); err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.db, "db", c.db, `SQLite file, "memory", or a postgres:// URL`)
	cmd := &command{cl: cl, name: name, c: c, fs: fs}
	cmd.c.logFlags(fs)
	return cmd, nil
}

// parse parses the subcommand's arguments; want is the number of
// positional arguments it takes, synopsis its usage line.
func (cmd *command) parse(args []string, want int, synopsis string) error {
	err := cmd.cl.parse(cmd.fs, args, func(w io.Writer) {
		fmt.Fprintf(w, "Usage: tokenserver %s\n\n", synopsis)
		cmd.fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(w, "  -%-12s %s\n", f.Name, f.Usage)
		})
		fmt.Fprintln(w, "\nThe environment is the server's: see tokenserver -h.")
	})
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return usageErrorf("%s: %v", cmd.name, err)
		}
		return err
	}
	if cmd.fs.NArg() != want {
		return usageErrorf("usage: tokenserver %s", synopsis)
	}
	cmd.log = newLogger(cmd.cl.stderr, cmd.c.logFormat, cmd.c.logLevel)
	return nil
}

// server opens the store and assembles the server over it, which checks
// the pepper against the store's. Subcommands never issue tokens, so the
// issuer only has to be valid, and they serve no users.
func (cmd *command) server(ctx context.Context) (*server, func(), error) {
	st, err := openStore(ctx, cmd.c.db)
	if err != nil {
		return nil, nil, err
	}
	c := cmd.c
	if c.issuer == "" {
		c.issuer = "http://localhost"
	}
	c.users = nil
	s, err := newServer(ctx, c, st, cmd.log, nil)
	if err != nil {
		st.close()
		return nil, nil, err
	}
	return s, func() { st.close() }, nil
}

// adminKey makes a new key holding every scope the server knows, prints
// it, and stores it only once it was printed.
func (cl cli) adminKey(args []string) error {
	cmd, err := cl.newCommand("admin-key")
	if err != nil {
		return err
	}
	cmd.fs.Var(scopeFlag{&cmd.c.scopes}, "scope", "scopes the server knows beyond the built-in ones, 'S S...'")
	if err := cmd.parse(args, 0, "admin-key [-db DB] [-scope 'S...']"); err != nil {
		return err
	}
	ctx := context.Background()
	s, done, err := cmd.server(ctx)
	if err != nil {
		return err
	}
	defer done()
	key, rec, commit, err := s.Keys().Prepare(keys.CreateParams{Name: "admin", Scope: s.scopes}, s.scopes)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(cl.stdout, "admin key: %s\n", key.String()); err != nil {
		return fmt.Errorf("printing the admin key: %w (the key was not stored)", err)
	}
	if err := commit(ctx); err != nil {
		return err
	}
	cmd.log.Info("keyturn: api key created", "id", rec.ID, "by", byCLI, "scope", rec.Scope.String(), "name", rec.Name)
	return nil
}

// allKeys lists every key, page by page.
func allKeys(ctx context.Context, m *keys.Manager) ([]keys.Record, error) {
	var out []keys.Record
	for after := ""; ; {
		page, err := m.List(ctx, after, keys.MaxListLimit)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < keys.MaxListLimit {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// keysList prints every key, revoked ones included, one JSON object per
// line: the admin API's entries (keyturn.KeyEntry).
func (cl cli) keysList(args []string) error {
	cmd, err := cl.newCommand("keys list")
	if err != nil {
		return err
	}
	if err := cmd.parse(args, 0, "keys list [-db DB]"); err != nil {
		return err
	}
	ctx := context.Background()
	s, done, err := cmd.server(ctx)
	if err != nil {
		return err
	}
	defer done()
	all, err := allKeys(ctx, s.Keys())
	if err != nil {
		return err
	}
	enc := json.NewEncoder(cl.stdout)
	for _, k := range all {
		if err := enc.Encode(keyturn.NewKeyEntry(k)); err != nil {
			return err
		}
	}
	return nil
}

// keysCreate makes a key and prints the admin API's 201 body
// (keyturn.CreatedKey), the secret shown this once.
func (cl cli) keysCreate(args []string) error {
	cmd, err := cl.newCommand("keys create")
	if err != nil {
		return err
	}
	var (
		name, scopes string
		lifetime     int64
		expiresAt    int64
		dpopBound    bool
	)
	cmd.fs.StringVar(&name, "name", "", "a name for people")
	cmd.fs.StringVar(&scopes, "scope", "", "the key's scope, 'S S...' (required)")
	cmd.fs.Int64Var(&lifetime, "lifetime", 900, "lifetime of the key's tokens in seconds, 60 to 86400")
	cmd.fs.Int64Var(&expiresAt, "expires-at", 0, "unix time at which the key stops working (default never)")
	cmd.fs.BoolVar(&dpopBound, "dpop-bound", false, "the key gets tokens only with a DPoP proof (RFC 9449)")
	const synopsis = "keys create -name N -scope 'S...' [-lifetime SECONDS] [-expires-at UNIX] [-dpop-bound]"
	if err := cmd.parse(args, 0, synopsis); err != nil {
		return err
	}
	set, err := scope.Parse(scopes)
	switch {
	case scopes == "":
		return usageErrorf("keys create: -scope is required")
	case err != nil:
		return usageErrorf("keys create: -scope is malformed")
	case lifetime < 60 || lifetime > 86400:
		return usageErrorf("keys create: -lifetime must be from 60 to 86400 seconds")
	case expiresAt < 0 || expiresAt > 0 && !time.Unix(expiresAt, 0).After(time.Now()):
		return usageErrorf("keys create: -expires-at must be in the future")
	}
	p := keys.CreateParams{Name: name, Scope: set, TokenLifetime: time.Duration(lifetime) * time.Second, DPoPBound: dpopBound}
	if expiresAt > 0 {
		p.ExpiresAt = time.Unix(expiresAt, 0)
	}
	ctx := context.Background()
	s, done, err := cmd.server(ctx)
	if err != nil {
		return err
	}
	defer done()
	key, rec, err := s.Keys().Create(ctx, p, set)
	if errors.Is(err, keys.ErrInvalidParams) {
		return usageErrorf("keys create: %v", err)
	}
	if err != nil {
		return err
	}
	cmd.log.Info("keyturn: api key created", "id", rec.ID, "by", byCLI, "scope", rec.Scope.String(),
		"token_lifetime", lifetime, "expires_at", expiresAt)
	return json.NewEncoder(cl.stdout).Encode(keyturn.NewCreatedKey(key, rec))
}

// keysRevoke revokes a key and, with -cascade, every key it created,
// transitively; it prints "revoked <id>" for each.
func (cl cli) keysRevoke(args []string) error {
	cmd, err := cl.newCommand("keys revoke")
	if err != nil {
		return err
	}
	var cascade bool
	cmd.fs.BoolVar(&cascade, "cascade", false, "also revoke every key the key created, transitively")
	if err := cmd.parse(args, 1, "keys revoke [-db DB] [-cascade] ID"); err != nil {
		return err
	}
	id := cmd.fs.Arg(0)
	ctx := context.Background()
	s, done, err := cmd.server(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := s.Keys().Get(ctx, id); errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no API key has the id %q", clip(id, 32))
	} else if err != nil {
		return err
	}
	targets := []string{id}
	if cascade {
		all, err := allKeys(ctx, s.Keys())
		if err != nil {
			return err
		}
		targets = descendants(id, all)
	}
	for _, t := range targets {
		if err := s.Keys().Revoke(ctx, t); err != nil {
			return err
		}
		cmd.log.Info("keyturn: api key revoked", "id", t, "by", byCLI, "cascade_from", cascadeFrom(t, id))
		fmt.Fprintf(cl.stdout, "revoked %s\n", t)
	}
	return nil
}

// descendants returns root and every key created through it, transitively,
// each once, root first and parents before children.
func descendants(root string, all []keys.Record) []string {
	children := map[string][]string{}
	for _, k := range all {
		children[k.Owner] = append(children[k.Owner], k.ID)
	}
	out := []string{root}
	seen := map[string]bool{root: true}
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i]] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func cascadeFrom(id, root string) string {
	if id == root {
		return ""
	}
	return root
}

// seal seals every stored signing key under KEYTURN_KEK, moving keys sealed
// under KEYTURN_OLD_KEK when that is set. A second run seals nothing.
func (cl cli) seal(args []string) error {
	cmd, err := cl.newCommand("seal")
	if err != nil {
		return err
	}
	if err := cmd.parse(args, 0, "seal [-db DB]"); err != nil {
		return err
	}
	if cmd.c.kek == nil {
		return usageErrorf("seal: KEYTURN_KEK is not set; make one with: openssl rand -base64 32")
	}
	old, err := parseKEK("KEYTURN_OLD_KEK", cl.getenv("KEYTURN_OLD_KEK"))
	if err != nil {
		return err
	}
	var previous [][]byte
	if old != nil {
		previous = append(previous, old)
	}
	ctx := context.Background()
	st, err := openStore(ctx, cmd.c.db)
	if err != nil {
		return err
	}
	defer st.close()
	n, err := token.SealKeys(ctx, st, cmd.c.kek, previous...)
	if err != nil {
		return err
	}
	cmd.log.Info("signing keys sealed under KEYTURN_KEK", "count", n, "by", byCLI)
	fmt.Fprintf(cl.stdout, "sealed %d signing %s under KEYTURN_KEK\n", n, plural(n, "key", "keys"))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// version is the program's version: its module version, the Go version
// and, when built from a repository, the revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "tokenserver (unknown version)"
	}
	parts := []string{"tokenserver", bi.Main.Version, bi.GoVersion}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			parts = append(parts, "revision "+s.Value)
		case s.Key == "vcs.modified" && s.Value == "true":
			parts = append(parts, "(modified)")
		}
	}
	return strings.Join(parts, " ")
}
