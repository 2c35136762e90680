package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/token"
)

// admin serves the admin API: create, list and revoke API keys. Every route
// sits behind the middleware; creation is further bounded by the caller's
// own token scope (a key never holds more than the staff member who made it).
type admin struct {
	keys *keys.Manager
	log  *slog.Logger
}

// keyJSON is an API key as the admin API shows it: never a secret or hash.
type keyJSON struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Scope         string `json:"scope"`
	TokenLifetime int64  `json:"token_lifetime"`
	CreatedAt     int64  `json:"created_at"`
	RevokedAt     int64  `json:"revoked_at,omitempty"`
}

func keyView(k storage.Key) keyJSON {
	s, _ := scope.New(k.Scope...) // stored scopes were canonical when created
	v := keyJSON{ID: k.ID, Name: k.Name, Scope: s.String(),
		TokenLifetime: int64(k.TokenLifetime / time.Second), CreatedAt: k.CreatedAt.Unix()}
	if !k.RevokedAt.IsZero() {
		v.RevokedAt = k.RevokedAt.Unix()
	}
	return v
}

const maxAdminBody = 16 << 10

// create handles POST /v1/api_keys.
func (a *admin) create(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	var req struct {
		Name          string  `json:"name"`
		Scope         *string `json:"scope"`
		TokenLifetime *int64  `json:"token_lifetime"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badRequest(w, "the body must be a JSON object with name, scope and token_lifetime")
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		badRequest(w, "the body must hold one JSON object")
		return
	}
	if req.Scope == nil || *req.Scope == "" {
		badRequest(w, "scope is required")
		return
	}
	set, err := scope.Parse(*req.Scope)
	if err != nil {
		badRequest(w, "scope is malformed")
		return
	}
	lifetime := 900 * time.Second
	if req.TokenLifetime != nil {
		if *req.TokenLifetime < 60 || *req.TokenLifetime > 86400 {
			badRequest(w, "token_lifetime must be from 60 to 86400 seconds")
			return
		}
		lifetime = time.Duration(*req.TokenLifetime) * time.Second
	}
	key, rec, err := a.keys.Create(r.Context(), keys.CreateParams{
		Name: req.Name, Owner: claims.Subject, Scope: set, TokenLifetime: lifetime,
	}, claims.Scope)
	switch {
	case errors.Is(err, keys.ErrScopeExceedsCeiling):
		a.log.Warn("api key refused: scope beyond the creator's", "by", claims.Subject)
		insufficientScope(w, set.String())
		return
	case errors.Is(err, keys.ErrInvalidParams):
		badRequest(w, "name is too long or a parameter is out of range")
		return
	case err != nil:
		a.log.Error("creating an api key", "err", err)
		serverError(w)
		return
	}
	a.log.Info("api key created", "id", rec.ID, "by", claims.Subject, "scope", set.String())
	v := keyView(rec)
	writeJSON(w, http.StatusCreated, struct {
		keyJSON
		Key          string `json:"key"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{v, key.String(), key.ID(), key.ClientSecret()})
}

// list handles GET /v1/api_keys: every key, revoked ones included.
func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	out := []keyJSON{}
	after := ""
	for {
		page, err := a.keys.List(r.Context(), after, 1000)
		if err != nil {
			a.log.Error("listing api keys", "err", err)
			serverError(w)
			return
		}
		for _, k := range page {
			out = append(out, keyView(k))
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

// revoke handles DELETE /v1/api_keys/{id}: 204 (again 204), 404 if unknown.
// Every token minted from the key is refused from the next request on.
func (a *admin) revoke(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	id := r.PathValue("id")
	err := a.keys.Revoke(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorJSON{"not_found", "no API key has this id"})
		return
	case err != nil:
		a.log.Error("revoking an api key", "err", err)
		serverError(w)
		return
	}
	a.log.Info("api key revoked", "id", id, "by", claims.Subject)
	w.WriteHeader(http.StatusNoContent)
}

type errorJSON struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, desc string) {
	writeJSON(w, http.StatusBadRequest, errorJSON{"invalid_request", desc})
}

func serverError(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, errorJSON{"server_error", "the server could not complete the request"})
}

// insufficientScope is the refusal of a key whose scope exceeds the caller's
// own: a protected-resource refusal, as the middleware writes it.
func insufficientScope(w http.ResponseWriter, need string) {
	e := &middleware.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "the requested scope exceeds the scope of your token", Scope: need}
	w.Header().Set("WWW-Authenticate", e.Challenge(realm))
	writeJSON(w, http.StatusForbidden, struct {
		errorJSON
		Scope string `json:"scope"`
	}{errorJSON{e.Code, e.Description}, need})
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
