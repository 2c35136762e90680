package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
)

// server is the token server: keyturn's Server plus the example's own
// parts (its users, its store, its metrics, its log).
type server struct {
	*keyturn.Server
	st      *openedStore
	log     *slog.Logger
	scopes  scope.Set // every scope the server knows
	metrics *metrics  // nil: none collected or served
	now     func() time.Time

	logRefusal func(http.ResponseWriter, *http.Request, *middleware.Error) // keyturn.LogRefusals
}

// newServer wires keyturn over st with keyturn.New, which checks that the
// pepper is the store's. m, when not nil, collects the metrics.
func newServer(ctx context.Context, c config, st *openedStore, log *slog.Logger, m *metrics) (*server, error) {
	u, err := newUsers(c.users, &keys.PasswordHasher{})
	if err != nil {
		return nil, err
	}
	s := &server{st: st, log: log, scopes: c.allScopes(), metrics: m, now: time.Now,
		logRefusal: keyturn.LogRefusals(log, realm)}
	srv, err := keyturn.New(ctx, keyturn.Config{
		Store:            st,
		Issuer:           c.issuer,
		Audience:         c.audience,
		Resources:        c.resources,
		KeyPrefix:        keyPrefix,
		Pepper:           c.pepper, // empty: unkeyed hashes
		KEK:              c.kek,    // nil: signing keys stored unsealed
		Algorithm:        c.alg,
		Format:           c.format,
		Methods:          keyturn.AllAuthMethods, // the four token API styles
		Users:            u,
		UserScope:        u.scope,
		PasswordClientID: passwordClientID,
		CreatedAt:        true,
		Scopes:           s.scopes,
		TokenPaths:       []string{"/oauth/token", "/v1/oauth2/token"},
		PasswordPath:     "/authorization",
		Realm:            realm,
		AllowPlainHTTP:   !c.tls(),
		Logger:           log,
		Events:           s.events(logEvents(log, u)),
		ErrorHandler:     s.refuse,
		SweepInterval:    c.sweepEvery, // zero: the default
		Changes:          st.changes,   // nil but on PostgreSQL
		DPoP:             dpopConfig(c),
	})
	if err != nil {
		return nil, err
	}
	s.Server = srv
	return s, nil
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
			if ev.Subject != "" && !strings.HasPrefix(ev.Subject, "sha256:") && !isKeyID(ev.Subject) && !u.known(ev.Subject) {
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

// Bootstrap claims: processes starting at once on one empty store agree,
// through the store's settings, on which of them makes the bootstrap key.
// Claim n is the setting "tokenserver.bootstrap.<n>", holding the claimant's
// key id and the unix time of the claim; a claimant that could not print its
// key marks the claim abandoned ("tokenserver.bootstrap.<n>.abandoned"), and
// a claim neither fulfilled nor abandoned within claimGrace is given up.
const (
	claimSetting = "tokenserver.bootstrap."
	claimGrace   = 15 * time.Second
	maxClaims    = 20
)

// bootstrap makes the first admin key when the store holds no key at all,
// revoked ones included. The key is printed on out before it is stored, so
// that a key nobody saw is never left usable: if the print fails, nothing
// is stored and the next start tries again. When the store holds keys, it
// logs how to make a new admin key instead.
func (s *server) bootstrap(ctx context.Context, out io.Writer) error {
	if held, err := s.holdsKeys(ctx); err != nil || held {
		return err
	}
	key, rec, commit, err := s.Keys().Prepare(keys.CreateParams{Name: "bootstrap admin", Scope: s.scopes}, s.scopes)
	if err != nil {
		return fmt.Errorf("making the bootstrap key: %w", err)
	}
	claim, ok, err := s.claimBootstrap(ctx, rec.ID)
	if err != nil || !ok {
		return err
	}
	if _, err := fmt.Fprintf(out, "bootstrap admin key: %s\n", key.String()); err != nil {
		if _, aerr := s.st.InitSetting(context.WithoutCancel(ctx), claim+".abandoned", []byte("print failed")); aerr != nil {
			s.log.Warn("could not mark the bootstrap claim abandoned; the next start waits for it", "err", aerr)
		}
		return fmt.Errorf("printing the bootstrap admin key on stdout: %w (the key was not stored; start again with a working stdout)", err)
	}
	if err := commit(ctx); err != nil {
		return fmt.Errorf("storing the bootstrap key: %w", err)
	}
	s.log.Info("keyturn: api key created", "id", rec.ID, "by", "bootstrap", "scope", s.scopes.String(), "name", rec.Name)
	return nil
}

// holdsKeys reports whether the store holds a key, and if it does logs that
// no bootstrap key was printed and how to make a new admin key.
func (s *server) holdsKeys(ctx context.Context) (bool, error) {
	existing, err := s.Keys().List(ctx, "", 1)
	if err != nil {
		return false, err
	}
	if len(existing) > 0 {
		s.log.Info("the store holds API keys already, so no bootstrap admin key was printed; " +
			"to make a new admin key run: tokenserver admin-key (with the same -db and environment)")
	}
	return len(existing) > 0, nil
}

// claimBootstrap claims the making of the bootstrap key for the key id. It
// returns the claim's setting name and true when this process is to make
// it; false when another process made it.
func (s *server) claimBootstrap(ctx context.Context, id string) (string, bool, error) {
	for n := 1; n <= maxClaims; n++ {
		name := claimSetting + strconv.Itoa(n)
		mine := id + " " + strconv.FormatInt(s.now().Unix(), 10)
		cur, err := s.st.InitSetting(ctx, name, []byte(mine))
		if err != nil {
			return "", false, fmt.Errorf("claiming the bootstrap key: %w", err)
		}
		if string(cur) == mine {
			return name, true, nil
		}
		done, err := s.awaitClaim(ctx, name, string(cur))
		if err != nil || done {
			return "", false, err
		}
	}
	return "", false, errors.New("too many abandoned attempts at a bootstrap key; make an admin key with: tokenserver admin-key")
}

// awaitClaim waits for another process's claim: true once its key is
// stored, false once it is abandoned or claimGrace has passed since it was
// made.
func (s *server) awaitClaim(ctx context.Context, name, claim string) (bool, error) {
	otherID, at, _ := strings.Cut(claim, " ")
	unix, _ := strconv.ParseInt(at, 10, 64)
	deadline := time.Unix(unix, 0).Add(claimGrace)
	if limit := s.now().Add(claimGrace); deadline.After(limit) {
		deadline = limit // a claim stamped by a clock far ahead
	}
	for {
		_, err := s.Keys().Get(ctx, otherID)
		if err == nil {
			s.log.Info("another process made the bootstrap admin key, so this one printed none; " +
				"to make a new admin key run: tokenserver admin-key (with the same -db and environment)")
			return true, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return false, err
		}
		if _, err := s.st.Setting(ctx, name+".abandoned"); err == nil {
			return false, nil
		} else if !errors.Is(err, storage.ErrNotFound) {
			return false, err
		}
		if !s.now().Before(deadline) {
			s.log.Warn("another process claimed the bootstrap key but never stored it; claiming it again")
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// refuse is keyturn's Config.ErrorHandler: keyturn's own (log the refusal
// with its cause, never the token, and answer it), marking the request as
// logged for the request log.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, e *middleware.Error) {
	markLogged(r.Context())
	s.logRefusal(w, r, e)
}

// routes mounts every endpoint on a new ServeMux: keyturn's OAuth endpoints,
// key admin API and admin page (/admin), the demo resources behind its
// middleware, the health and readiness checks, and /metrics unless it is
// served elsewhere. Every request goes through the instrumentation (ops.go).
func (s *server) routes(withMetrics bool) http.Handler {
	return s.instrument(s.mux(withMetrics))
}

// mux is routes without the instrumentation.
func (s *server) mux(withMetrics bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", s.Handler())
	mux.Handle("/v1/api_keys", s.Admin())
	mux.Handle("/v1/api_keys/", s.Admin())
	page := s.AdminPage(keyturn.DefaultAdminPagePath) // for people: sign in, then Admin → API Keys
	mux.Handle(keyturn.DefaultAdminPagePath, page)
	mux.Handle(keyturn.DefaultAdminPagePath+"/", page)
	mux.Handle("GET /v1/staff", s.Require("read:users")(http.HandlerFunc(staff)))
	mux.Handle("GET /v1/participants", s.Require("read:participants")(http.HandlerFunc(participants)))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if withMetrics && s.metrics != nil {
		mux.Handle("GET /metrics", s.metricsHandler())
	}
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

// writeJSON writes v and a newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
