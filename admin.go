package keyturn

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

// The scopes the key admin API requires.
const (
	// AdminReadScope lets a token list keys.
	AdminReadScope = "read:api_keys"
	// AdminWriteScope lets a token create and revoke keys.
	AdminWriteScope = "write:api_keys"
)

// adminAPI serves the key admin API: create, list and revoke API keys.
// Every route sits behind the middleware; creation is further bounded by the
// caller's own token scope (a key never holds more than the staff member
// who made it).
type adminAPI struct {
	keys       *keys.Manager
	log        *slog.Logger
	refuse     func(http.ResponseWriter, *http.Request, *middleware.Error)
	passwordID string // client_id of password-grant tokens
}

// Admin returns the key admin API, protected by this server's tokens:
//
//   - POST {AdminPath} (scope write:api_keys), a JSON body {"name", "scope",
//     "token_lifetime"}: 201 with the new key, its secret shown this once.
//     The scope must lie within the caller's token scope (403
//     insufficient_scope otherwise).
//   - GET {AdminPath} (read:api_keys): every key, revoked ones included,
//     never a secret or hash.
//   - DELETE {AdminPath}/{id} (write:api_keys): 204, again 204; 404 for an
//     unknown id. Every token of the key is refused from the next request on.
//
// The handler matches the full request path, so mount it for both the path
// and its subtree: mux.Handle("/v1/api_keys", h) and
// mux.Handle("/v1/api_keys/", h).
func (s *Server) Admin() http.Handler {
	s.adminOnce.Do(func() {
		a, p := s.admin, s.adminPath
		need := s.mw.Require
		mux := http.NewServeMux()
		mux.Handle("POST "+p, need(AdminWriteScope)(http.HandlerFunc(a.create)))
		mux.Handle("GET "+p, need(AdminReadScope)(http.HandlerFunc(a.list)))
		mux.Handle("DELETE "+p+"/{id}", need(AdminWriteScope)(http.HandlerFunc(a.revoke)))
		s.adminH = mux
	})
	return s.adminH
}

// owner is the Owner recorded for a key created with the token c: the
// creating key's id, or UserOwnerPrefix and the user for a password-grant
// token.
func (a *adminAPI) owner(c *token.Claims) string {
	if c.ClientID == a.passwordID && c.Subject != c.ClientID {
		return UserOwnerPrefix + c.Subject
	}
	return c.ClientID
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

func keyView(k keys.Record) keyJSON {
	v := keyJSON{ID: k.ID, Name: k.Name, Scope: k.Scope.String(),
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
func (a *adminAPI) create(w http.ResponseWriter, r *http.Request) {
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
		Name: req.Name, Owner: a.owner(claims), Scope: set, TokenLifetime: time.Duration(lifetime) * time.Second,
	}, claims.Scope)
	switch {
	case errors.Is(err, keys.ErrScopeExceedsCeiling):
		// A protected-resource refusal (RFC 6750 §3.1): the caller's token
		// lacks scope that the request needs.
		a.refuse(w, r, &middleware.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "the requested scope exceeds the scope of your token", Scope: set.String(), Err: err})
		return
	case errors.Is(err, keys.ErrInvalidParams):
		badRequest(w, "name is too long or a parameter is out of range")
		return
	case err != nil:
		a.log.Error("keyturn: creating an api key", "err", err)
		serverError(w)
		return
	}
	a.log.Info("keyturn: api key created", "id", rec.ID, "by", claims.ClientID, "scope", set.String(),
		"token_lifetime", lifetime)
	writeAdminJSON(w, http.StatusCreated, struct {
		keyJSON
		Key          string `json:"key"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{keyView(rec), key.String(), key.ID(), key.ClientSecret()}) // the secret, this once
}

// list handles GET /v1/api_keys: every key, revoked ones included.
func (a *adminAPI) list(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	out := []keyJSON{}
	for after := ""; ; {
		page, err := a.keys.List(r.Context(), after, keys.MaxListLimit)
		if err != nil {
			a.log.Error("keyturn: listing api keys", "err", err)
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
	a.log.Info("keyturn: api keys listed", "by", claims.ClientID, "count", len(out))
	writeAdminJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

// revoke handles DELETE /v1/api_keys/{id}: 204 (again 204), 404 if unknown.
// Every token minted from the key is refused from the next request on.
func (a *adminAPI) revoke(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	id := r.PathValue("id")
	err := a.keys.Revoke(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeAdminJSON(w, http.StatusNotFound, errorJSON{Error: "not_found", Description: "no API key has this id"})
		return
	case err != nil:
		a.log.Error("keyturn: revoking an api key", "err", err)
		serverError(w)
		return
	}
	a.log.Info("keyturn: api key revoked", "id", id, "by", claims.ClientID)
	w.WriteHeader(http.StatusNoContent)
}

type errorJSON struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// writeAdminJSON writes v as the admin API answers: JSON, not cacheable.
func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, desc string) {
	writeAdminJSON(w, http.StatusBadRequest, errorJSON{Error: "invalid_request", Description: desc})
}

func serverError(w http.ResponseWriter) {
	writeAdminJSON(w, http.StatusInternalServerError, errorJSON{Error: "server_error", Description: "the server could not complete the request"})
}
