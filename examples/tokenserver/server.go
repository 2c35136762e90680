package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
)

// server is the token server: keyturn's Server plus the example's own
// parts (its users, its demo resources, its log).
type server struct {
	*keyturn.Server
	log *slog.Logger
}

// newServer wires keyturn over st with keyturn.New. On an empty store it
// creates the bootstrap admin key and prints it to out.
func newServer(ctx context.Context, c config, st keyturn.Store, log *slog.Logger, out io.Writer) (*server, error) {
	u, err := newUsers(c.users, &keys.PasswordHasher{})
	if err != nil {
		return nil, err
	}
	srv, err := keyturn.New(ctx, keyturn.Config{
		Store:            st,
		Issuer:           c.issuer,
		Audience:         c.audience,
		KeyPrefix:        keyPrefix,
		Pepper:           c.pepper,               // nil: unkeyed hashes
		KEK:              c.kek,                  // nil: signing keys stored unsealed
		Methods:          keyturn.AllAuthMethods, // the four token API styles
		Users:            u,
		UserScope:        u.scope,
		PasswordClientID: passwordClientID,
		CreatedAt:        true,
		Scopes:           scope.MustParse(allScopes),
		TokenPaths:       []string{"/oauth/token", "/v1/oauth2/token"},
		PasswordPath:     "/authorization",
		Realm:            realm,
		AllowPlainHTTP:   !c.tls(),
		Logger:           log,
		Events:           logEvents(log, u),
		SweepInterval:    c.sweepEvery, // zero: the default
	})
	if err != nil {
		return nil, err
	}
	s := &server{Server: srv, log: log}
	return s, s.bootstrap(ctx, out)
}

// logEvents logs what the token endpoint reports, as keyturn.LogEvents does,
// but hides the identifier of a failed attempt unless it is a key id or a
// demo user's name: a whole API key pasted as client_id, or a password typed
// as the username, must not reach the log.
func logEvents(log *slog.Logger, u *users) func(context.Context, keyturn.Event) {
	next := keyturn.LogEvents(log)
	return func(ctx context.Context, ev keyturn.Event) {
		if ev.Kind == keyturn.AuthFailed {
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
	existing, err := s.Keys().List(ctx, "", 1)
	if err != nil || len(existing) > 0 {
		return err
	}
	all := scope.MustParse(allScopes)
	key, rec, err := s.Keys().Create(ctx, keys.CreateParams{Name: "bootstrap admin", Scope: all}, all)
	if err != nil {
		return fmt.Errorf("creating the bootstrap key: %w", err)
	}
	s.log.Info("bootstrap admin key created", "id", rec.ID, "scope", all.String())
	_, err = fmt.Fprintf(out, "bootstrap admin key: %s\n", key.String())
	return err
}

// routes mounts every endpoint of the contract on a new ServeMux: keyturn's
// OAuth endpoints and key admin API, and the demo resources behind its
// middleware.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.Handler())
	mux.Handle("/v1/api_keys", s.Admin())
	mux.Handle("/v1/api_keys/", s.Admin())
	mux.Handle("GET /v1/staff", s.Require("read:users")(http.HandlerFunc(staff)))
	mux.Handle("GET /v1/participants", s.Require("read:participants")(http.HandlerFunc(participants)))
	return mux
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
