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

// Bounds of the admin API: the request body in bytes, token lifetimes in
// seconds (the default is the Manager's too).
const (
	maxAdminBody    = 16 << 10
	minLifetime     = 60
	maxLifetime     = 86400
	defaultLifetime = 900
)

// create handles POST /v1/api_keys: {"name", "scope", "token_lifetime"}.
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
	lifetime := int64(defaultLifetime)
	if req.TokenLifetime != nil {
		lifetime = *req.TokenLifetime
	}
	if lifetime < minLifetime || lifetime > maxLifetime {
		badRequest(w, "token_lifetime must be from 60 to 86400 seconds")
		return
	}
	key, rec, err := a.keys.Create(r.Context(), keys.CreateParams{
		Name: req.Name, Owner: claims.Subject, Scope: set, TokenLifetime: time.Duration(lifetime) * time.Second,
	}, claims.Scope)
	switch {
	case errors.Is(err, keys.ErrScopeExceedsCeiling):
		// A protected-resource refusal (RFC 6750 §3.1): the caller's token
		// lacks scope that the request needs.
		refuse(a.log, w, r, &middleware.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "the requested scope exceeds the scope of your token", Scope: set.String(), Err: err})
		return
	case errors.Is(err, keys.ErrInvalidParams):
		badRequest(w, "name is too long or a parameter is out of range")
		return
	case err != nil:
		a.log.Error("creating an api key", "err", err)
		serverError(w)
		return
	}
	a.log.Info("api key created", "id", rec.ID, "by", claims.Subject, "scope", set.String(),
		"token_lifetime", lifetime)
	writeJSON(w, http.StatusCreated, struct {
		keyJSON
		Key          string `json:"key"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{keyView(rec), key.String(), key.ID(), key.ClientSecret()}) // the secret, this once
}

// list handles GET /v1/api_keys: every key, revoked ones included.
func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	out := []keyJSON{}
	for after := ""; ; {
		page, err := a.keys.List(r.Context(), after, keys.MaxListLimit)
		if err != nil {
			a.log.Error("listing api keys", "err", err)
			serverError(w)
			return
		}
		for _, k := range page {
			out = append(out, keyView(k))
		}
		if len(page) < keys.MaxListLimit {
			break
		}
		after = page[len(page)-1].ID
	}
	a.log.Info("api keys listed", "by", claims.Subject, "count", len(out))
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
		writeJSON(w, http.StatusNotFound, errorJSON{Error: "not_found", Description: "no API key has this id"})
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
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, desc string) {
	writeJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: desc})
}

func serverError(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, errorJSON{Error: "server_error", Description: "the server could not complete the request"})
}

// refuse answers a protected-resource refusal (RFC 6750 §3): the status,
// the WWW-Authenticate challenge and the same error in a JSON body. It logs
// the refusal first, with its cause (never the token). The middleware's
// refusals come here through middleware.Config.ErrorHandler, and so does the
// admin API's own insufficient_scope.
func refuse(log *slog.Logger, w http.ResponseWriter, r *http.Request, e *middleware.Error) {
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", e.Status, "remote_addr", r.RemoteAddr}
	if e.Code != "" {
		attrs = append(attrs, "error", e.Code)
	}
	if e.Err != nil {
		attrs = append(attrs, "reason", e.Err.Error())
	}
	level := slog.LevelWarn
	if e.Code == "" {
		level = slog.LevelInfo // no credential at all: often a client's first try
	}
	log.Log(r.Context(), level, "request refused", attrs...)
	middleware.WriteError(w, e, realm)
}
