package keyturn

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyturn/keyturn/internal/oauthreq"
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
//     insufficient_scope otherwise). The body is read as strictly as the
//     token endpoint reads JSON: one object, no member twice (also when
//     escaped), no other member, nothing after it (400 invalid_request
//     otherwise); null stands for a member left out. A name holding a
//     control character is refused (see keys.CreateParams.Name).
//   - GET {AdminPath} (read:api_keys): every key, revoked ones included,
//     never a secret or hash.
//   - DELETE {AdminPath}/{id} (write:api_keys): 204, again 204; 404 for an
//     unknown id. Every token of the key is refused from the next request on.
//     Only the key's owner (the key or user whose token created it) or a
//     caller whose token scope covers the key's scope (who could have
//     created it) may revoke it; anyone else gets 403 insufficient_scope
//     and the key stays valid. With ?cascade=true every key the key
//     created is revoked too, transitively (keys.Manager.RevokeCascade);
//     ?cascade=false or no cascade revokes only the key, any other value
//     is 400 invalid_request.
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

// createRequest is the body of POST /v1/api_keys.
type createRequest struct {
	name, scope string
	lifetime    int64
}

// readCreate reads the body of POST /v1/api_keys with oauthreq's strict
// JSON reader. Its errors are fixed descriptions, fit for the client.
func readCreate(w http.ResponseWriter, r *http.Request) (createRequest, error) {
	req := createRequest{lifetime: defaultLifetime}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		return req, errors.New("the body is too large or could not be read")
	}
	err = oauthreq.ReadJSONObject(string(body), func(name, v string) error {
		if v == "null" {
			return nil // as if left out
		}
		var ok bool
		switch name {
		case "name":
			if req.name, ok = oauthreq.UnquoteJSON(v); !ok {
				return errors.New("name must be a string")
			}
		case "scope":
			if req.scope, ok = oauthreq.UnquoteJSON(v); !ok {
				return errors.New("scope must be a string")
			}
		case "token_lifetime":
			if req.lifetime, err = strconv.ParseInt(v, 10, 64); err != nil {
				return errors.New("token_lifetime must be a whole number of seconds")
			}
		default:
			return errors.New("the body may hold only name, scope and token_lifetime")
		}
		return nil
	})
	var e *oauthreq.Error
	if errors.As(err, &e) {
		return req, errors.New(e.Description)
	}
	return req, err
}

// create handles POST /v1/api_keys: {"name", "scope", "token_lifetime"}.
func (a *adminAPI) create(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	req, err := readCreate(w, r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	if req.scope == "" {
		badRequest(w, "scope is required")
		return
	}
	set, err := scope.Parse(req.scope)
	if err != nil {
		badRequest(w, "scope is malformed")
		return
	}
	lifetime := req.lifetime
	if lifetime < minLifetime || lifetime > maxLifetime {
		badRequest(w, "token_lifetime must be from 60 to 86400 seconds")
		return
	}
	key, rec, err := a.keys.Create(r.Context(), keys.CreateParams{
		Name: req.name, Owner: a.owner(claims), Scope: set, TokenLifetime: time.Duration(lifetime) * time.Second,
	}, claims.Scope)
	switch {
	case errors.Is(err, keys.ErrScopeExceedsCeiling):
		// A protected-resource refusal (RFC 6750 §3.1): the caller's token
		// lacks scope that the request needs.
		a.refuse(w, r, &middleware.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "the requested scope exceeds the scope of your token", Scope: set.String(), Err: err})
		return
	case errors.Is(err, keys.ErrInvalidParams):
		badRequest(w, "name is too long or holds a control character, or a parameter is out of range")
		return
	case err != nil:
		a.log.Error("keyturn: creating an api key", "err", err)
		serverError(w)
		return
	}
	a.log.Info("keyturn: api key created", "id", rec.ID, "by", a.owner(claims), "scope", set.String(),
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
	a.log.Info("keyturn: api keys listed", "by", a.owner(claims), "count", len(out))
	writeAdminJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

// errMayNotRevoke is the cause logged when a revocation is refused.
var errMayNotRevoke = errors.New("keyturn: the caller neither owns the key nor holds its scope")

// mayRevoke reports whether the caller, holding the token c, may revoke
// the key k: it owns k (k was created with a token of the caller's key or
// user), or its token's scope covers k's, so that it could have created k.
func (a *adminAPI) mayRevoke(c *token.Claims, k keys.Record) bool {
	return k.Owner != "" && k.Owner == a.owner(c) || c.Scope.Covers(k.Scope)
}

// cascadeParam reads the cascade query parameter: absent or "false" is
// false, "true" is true; anything else (another value, the parameter
// twice, a malformed query) is not ok.
func cascadeParam(rawQuery string) (cascade, ok bool) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return false, false
	}
	switch v := q["cascade"]; {
	case len(v) == 0:
		return false, true
	case len(v) > 1:
		return false, false
	case v[0] == "true":
		return true, true
	case v[0] == "false":
		return false, true
	}
	return false, false
}

// revoke handles DELETE /v1/api_keys/{id}[?cascade=true]: 204 (again 204),
// 404 if unknown, 403 if the caller may not revoke the key. Every token
// minted from a revoked key is refused from the next request on.
func (a *adminAPI) revoke(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	cascade, ok := cascadeParam(r.URL.RawQuery)
	if !ok {
		badRequest(w, "cascade must be true or false")
		return
	}
	id := r.PathValue("id")
	rec, err := a.keys.Get(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeAdminJSON(w, http.StatusNotFound, errorJSON{Error: "not_found", Description: "no API key has this id"})
		return
	case err != nil:
		a.log.Error("keyturn: revoking an api key", "id", id, "err", err)
		serverError(w)
		return
	}
	by := a.owner(claims)
	if !a.mayRevoke(claims, rec) {
		// As for creation: the caller's token lacks the scope the request
		// needs. The key's scope is not named: the caller may not read it.
		a.refuse(w, r, &middleware.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "only the key's owner or a token whose scope covers the key's scope may revoke it",
			Err:         errMayNotRevoke})
		return
	}
	var revoked []string
	if cascade {
		revoked, err = a.keys.RevokeCascade(r.Context(), id)
	} else if err = a.keys.Revoke(r.Context(), id); err == nil {
		revoked = []string{id}
	}
	for _, k := range revoked {
		if k == id {
			a.log.Info("keyturn: api key revoked", "id", k, "by", by, "cascade", cascade)
		} else {
			a.log.Info("keyturn: api key revoked", "id", k, "by", by, "cascade_from", id)
		}
	}
	if err != nil {
		a.log.Error("keyturn: revoking an api key", "id", id, "by", by, "cascade", cascade,
			"revoked", len(revoked), "err", err)
		serverError(w)
		return
	}
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
