package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

// Intervals of the background work.
const (
	keysEvery   = time.Minute      // rotate signing keys, see other processes' keys
	revokeEvery = 10 * time.Second // see other processes' revocations
	sweepEvery  = 10 * time.Minute // delete expired records
)

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

	sweepEvery time.Duration // the constant sweepEvery; tests shorten it
}

// newServer wires keyturn over st: signing keys, revocations, the key
// manager, the token endpoint and the middleware. On an empty store it
// creates the bootstrap admin key and prints it to out.
func newServer(ctx context.Context, c config, st store, log *slog.Logger, out io.Writer) (*server, error) {
	s := &server{store: st, log: log, sweepEvery: sweepEvery}
	var err error
	if s.keySet, err = token.NewKeySet(ctx, token.KeySetConfig{Store: st, KEK: c.kek}); err != nil {
		return nil, err
	}
	if s.revs, err = token.NewRevocations(ctx, token.RevocationsConfig{Store: st}); err != nil {
		return nil, err
	}
	// The Revoker makes a key's revocation refuse its tokens at once; an
	// empty pepper means unkeyed hashes.
	if s.keys, err = keys.NewManager(keys.Config{Store: st, Hasher: keys.NewHasher(c.pepper), Prefix: keyPrefix,
		Revoker: s.revs}); err != nil {
		return nil, err
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Issuer: c.issuer, Audience: []string{c.audience}, Keys: s.keySet})
	if err != nil {
		return nil, err
	}
	verifier, err := token.NewVerifier(token.VerifierConfig{
		Issuer: c.issuer, Audience: c.audience, Keys: s.keySet,
		// Every algorithm a stored key may have (each kid is checked against
		// its own key's): a change of KeySetConfig.Algorithm refuses no token.
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
		Methods:          token.AllAuthMethods, // the four seed styles
		SplitKey:         clients.SplitKey,
		Users:            u,
		PasswordClientID: passwordClientID,
		CreatedAt:        true,
		ScopesSupported:  scope.MustParse(allScopes),
		Realm:            realm,
		AllowPlainHTTP:   !c.tls(),
		Events:           logEvents(log, u),
	})
	if err != nil {
		return nil, err
	}
	s.mw, err = middleware.New(middleware.Config{Verifier: verifier, Realm: realm,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *middleware.Error) { refuse(log, w, r, e) }})
	if err != nil {
		return nil, err
	}
	s.admin = &admin{keys: s.keys, log: log}
	return s, s.bootstrap(ctx, out)
}

// logEvents logs what the token endpoint reports, as token.LogEvents does,
// but hides the identifier of a failed attempt unless it is a key id or a
// demo user's name: a whole API key pasted as client_id, or a password typed
// as the username, must not reach the log.
func logEvents(log *slog.Logger, u *users) func(context.Context, token.Event) {
	next := token.LogEvents(log)
	return func(ctx context.Context, ev token.Event) {
		if ev.Kind == token.AuthFailed {
			if ev.ClientID != "" && ev.ClientID != passwordClientID && !isKeyID(ev.ClientID) {
				ev.ClientID = "(not a key id)"
			}
			if ev.Subject != "" && !isKeyID(ev.Subject) && !u.known(ev.Subject) {
				ev.Subject = "(not a user)"
			}
		}
		next(ctx, ev)
	}
}

// isKeyID reports whether s has the shape of an API key id.
func isKeyID(s string) bool {
	if len(s) != keys.IDLen {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// bootstrap creates the first admin key when the store holds no key at all,
// revoked ones included, and prints it once.
func (s *server) bootstrap(ctx context.Context, out io.Writer) error {
	existing, err := s.keys.List(ctx, "", 1)
	if err != nil || len(existing) > 0 {
		return err
	}
	all := scope.MustParse(allScopes)
	key, rec, err := s.keys.Create(ctx, keys.CreateParams{Name: "bootstrap admin", Owner: "bootstrap", Scope: all}, all)
	if err != nil {
		return fmt.Errorf("creating the bootstrap key: %w", err)
	}
	s.log.Info("bootstrap admin key created", "id", rec.ID, "scope", all.String())
	_, err = fmt.Fprintf(out, "bootstrap admin key: %s\n", key.String())
	return err
}

// routes mounts every endpoint of the contract on a new ServeMux. The token
// endpoints answer 405 to anything but POST themselves.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/oauth/token", s.endpoint.Token())
	mux.Handle("/v1/oauth2/token", s.endpoint.Token())
	mux.Handle("/authorization", s.endpoint.PasswordToken())
	mux.Handle("/oauth/introspect", s.endpoint.Introspection())
	mux.Handle("/oauth/revoke", s.endpoint.Revocation())
	mux.Handle(s.endpoint.MetadataPath(), s.endpoint.Metadata())
	mux.Handle(token.JWKSPath, s.keySet.Handler())

	need := s.mw.Require
	mux.Handle("POST /v1/api_keys", need("write:api_keys")(http.HandlerFunc(s.admin.create)))
	mux.Handle("GET /v1/api_keys", need("read:api_keys")(http.HandlerFunc(s.admin.list)))
	mux.Handle("DELETE /v1/api_keys/{id}", need("write:api_keys")(http.HandlerFunc(s.admin.revoke)))
	mux.Handle("GET /v1/staff", need("read:users")(http.HandlerFunc(staff)))
	mux.Handle("GET /v1/participants", need("read:participants")(http.HandlerFunc(participants)))
	return mux
}

// background rotates signing keys, picks up revocations made by other
// processes and sweeps expired records until ctx ends, and returns once all
// of that work has stopped.
func (s *server) background(ctx context.Context) {
	logErr := func(what string) func(error) {
		return func(err error) { s.log.Error(what, "err", err) }
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.keySet.Run(ctx, keysEvery, logErr("refreshing signing keys")) })
	wg.Go(func() { s.revs.Run(ctx, revokeEvery, logErr("refreshing revocations")) })
	wg.Go(func() {
		t := time.NewTicker(s.sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.sweep(ctx, now)
			}
		}
	})
	wg.Wait()
}

func (s *server) sweep(ctx context.Context, now time.Time) {
	n, err := s.store.Sweep(ctx, now)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("sweeping expired records", "err", err)
	case n > 0:
		s.log.Info("swept expired records", "count", n)
	}
}

// Demo resources, behind read:users and read:participants.

func staff(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"staff": []map[string]string{
		{"id": "s1", "name": "Ada Lovelace", "role": "coordinator"},
		{"id": "s2", "name": "Alan Turing", "role": "analyst"},
	}})
}

func participants(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"participants": []map[string]string{
		{"id": "p1", "name": "Grace Hopper"},
		{"id": "p2", "name": "Edsger Dijkstra"},
	}})
}
