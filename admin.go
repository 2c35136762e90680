package keyturn

import (
	"encoding/json"
	"errors"
	"fmt"
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
	// AdminWriteScope lets a token create, rotate and revoke keys.
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
	now        func() time.Time
	resources  []string // the server's resources, for a key's "resources"
}

// Admin returns the key admin API, protected by this server's tokens. Keys
// are shown as [KeyEntry] values, never with a secret or hash.
//
//   - POST {AdminPath} (scope write:api_keys), a JSON body {"name", "scope",
//     "token_lifetime", "expires_at", "dpop_bound"}: 201 with the new key's entry and,
//     this once, "key", "client_id" and "client_secret". The scope must lie
//     within the caller's token scope (403 insufficient_scope otherwise).
//     expires_at (unix seconds, an integer in the future) makes the key
//     stop working then: from that second on it is refused at the token,
//     introspection and revocation endpoints as a revoked key is (401
//     invalid_client). "dpop_bound": true makes the key DPoP-only (RFC 9449
//     §5.2): the token endpoint refuses it a token without a valid DPoP
//     proof (400 invalid_dpop_proof). The body is read as strictly as the token endpoint
//     reads JSON: one object, no member twice (also when escaped), no other
//     member, nothing after it (400 invalid_request otherwise); null stands
//     for a member left out. A name holding a control character is refused
//     (see keys.CreateParams.Name). "resources": [URI, ...] limits the key
//     to those of the server's resource indicators. With
//     "token_endpoint_auth_method": "private_key_jwt" and "jwks": {"keys":
//     [...]} (public keys, see keys.ParseJWKS) the key is a client without
//     a secret: 201 with its entry and "client_id", no "key" or
//     "client_secret" (400 if the server's store cannot refuse replayed
//     assertions).
//   - GET {AdminPath} (read:api_keys): {"api_keys": [entries]}, every key,
//     revoked ones included.
//   - GET {AdminPath}/{id} (read:api_keys): the key's entry; 404 for an
//     unknown or malformed id.
//   - POST {AdminPath}/{id}/rotate (write:api_keys), a JSON body {"grace":
//     SECONDS} (an integer from 0 to 86400; 0 when left out, null or the
//     body empty), read as strictly as creation's: 200 {"id", "key",
//     "client_id", "client_secret", "grace"} with a new secret, shown this
//     once. The old secret keeps authenticating for grace seconds and no
//     longer (at once for 0); tokens already issued stay valid. Rotating
//     again during a grace period replaces the old secret with the current
//     one, whose grace then starts: a key never has more than two secrets
//     (see keys.Manager.Rotate). Who may rotate a key is who may revoke
//     it (below; 403 insufficient_scope otherwise, the key unchanged). A
//     revoked or expired key cannot be rotated: 409 with error
//     "key_revoked" or "key_expired" (the key exists, so not 404, and
//     rotating cannot bring it back). Of two rotations of one key at once
//     one succeeds and the other gets 409 "conflict" and changes nothing.
//     A private_key_jwt client is rotated with {"jwks": {"keys": [...]}}
//     instead, which replaces its keys: 200 with its entry and
//     "client_id"; 409 as above.
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
// Every key created, rotated or revoked is logged at Info, naming the
// acting client ("by"), never a secret.
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
		mux.Handle("GET "+p+"/{id}", need(AdminReadScope)(http.HandlerFunc(a.get)))
		mux.Handle("POST "+p+"/{id}/rotate", need(AdminWriteScope)(http.HandlerFunc(a.rotate)))
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

// KeyEntry is an API key as the admin API shows it, in its list, alone and
// on creation: never a secret or hash. Times are unix seconds; a time that
// is not set is left out of the JSON. Tools that print keys (the example
// server's command line) use it too, so that they agree with the API.
type KeyEntry struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Scope         string `json:"scope"`
	TokenLifetime int64  `json:"token_lifetime"`
	CreatedAt     int64  `json:"created_at"`
	// Owner is who created the key: the client_id of the key whose token
	// created it, UserOwnerPrefix and the user for a password-grant token,
	// "" for a key with no creator (made in code or on the command line).
	Owner     string `json:"owner"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
	// LastUsedAt is when a token was last issued for the key, to within
	// keys.TouchInterval (a minute); left out when it never was.
	LastUsedAt int64 `json:"last_used_at,omitempty"`
	// AuthMethod is "private_key_jwt" for a client that authenticates
	// with a signed JWT instead of a secret; left out for a key with a
	// secret.
	AuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// Resources are the only resource indicators the key may get tokens
	// for; left out when it may get them for any of the server's.
	Resources []string `json:"resources,omitempty"`
	// DPoPBound says the key gets tokens only with a DPoP proof (RFC
	// 9449); left out when false.
	DPoPBound bool `json:"dpop_bound,omitempty"`
}

// NewKeyEntry returns the entry of rec.
func NewKeyEntry(rec keys.Record) KeyEntry {
	return KeyEntry{
		ID: rec.ID, Name: rec.Name, Scope: rec.Scope.String(),
		TokenLifetime: int64(rec.TokenLifetime / time.Second), CreatedAt: rec.CreatedAt.Unix(),
		Owner: rec.Owner, ExpiresAt: unixOrZero(rec.ExpiresAt), RevokedAt: unixOrZero(rec.RevokedAt),
		LastUsedAt: unixOrZero(rec.LastUsedAt), AuthMethod: rec.AuthMethod, Resources: rec.Resources,
		DPoPBound: rec.DPoPBound,
	}
}

// CreatedKey is what the admin API answers to a key's creation: its entry
// and, this once, the key whole and as a client_id / client_secret pair.
// Printing a CreatedKey with the fmt package or slog shows the entry and
// never the secret; encode it as JSON to hand the secret over.
type CreatedKey struct {
	KeyEntry
	Key          string `json:"key"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// NewCreatedKey returns the creation answer for k and its record rec.
func NewCreatedKey(k keys.Key, rec keys.Record) CreatedKey {
	return CreatedKey{KeyEntry: NewKeyEntry(rec), Key: k.String(), ClientID: k.ID(), ClientSecret: k.ClientSecret()}
}

// Format implements [fmt.Formatter]: the entry, without the secret.
func (c CreatedKey) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), c.KeyEntry)
}

// LogValue implements [slog.LogValuer]: the entry, without the secret.
func (c CreatedKey) LogValue() slog.Value { return slog.AnyValue(c.KeyEntry) }

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// Bounds of the admin API: the request body in bytes, token lifetimes and
// grace periods in seconds (the default lifetime is the Manager's too), and
// the latest expires_at (the last second of year 9999, which every store
// keeps).
const (
	maxAdminBody    = 16 << 10
	minLifetime     = 60
	maxLifetime     = 86400
	defaultLifetime = 900
	maxGrace        = int64(keys.MaxGrace / time.Second)
	maxExpiresAt    = 253402300799
)

// createRequest is the body of POST /v1/api_keys.
type createRequest struct {
	name, scope string
	lifetime    int64
	expiresAt   int64 // 0: never

	dpopBound bool

	clientParams // token_endpoint_auth_method, jwks, resources (admin_clients.go)
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
		case "expires_at":
			if req.expiresAt, err = strconv.ParseInt(v, 10, 64); err != nil || req.expiresAt <= 0 || req.expiresAt > maxExpiresAt {
				return errors.New("expires_at must be a time in the future, in whole unix seconds")
			}
		case "token_endpoint_auth_method", "jwks", "resources":
			return req.clientParams.read(name, v)
		case "dpop_bound": // dpop.go
			if v != "true" && v != "false" {
				return errors.New("dpop_bound must be true or false")
			}
			req.dpopBound = v == "true"
		default:
			return errors.New("the body may hold only name, scope, token_lifetime, expires_at, " +
				"token_endpoint_auth_method, jwks, resources and dpop_bound")
		}
		return nil
	})
	return req, adminBodyError(err)
}

// adminBodyError turns an error of the strict JSON reader into one whose
// text is fit for the client.
func adminBodyError(err error) error {
	var e *oauthreq.Error
	if errors.As(err, &e) {
		return errors.New(e.Description)
	}
	return err
}

// readRotate reads the body of POST /v1/api_keys/{id}/rotate: {"grace":
// SECONDS}, or nothing at all for a grace of 0.
func readRotate(w http.ResponseWriter, r *http.Request) (grace int64, err error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		return 0, errors.New("the body is too large or could not be read")
	}
	if len(body) == 0 {
		return 0, nil
	}
	err = oauthreq.ReadJSONObject(string(body), func(name, v string) error {
		if name != "grace" {
			return errors.New("the body may hold only grace")
		}
		if v == "null" {
			return nil
		}
		var err error
		if grace, err = strconv.ParseInt(v, 10, 64); err != nil || grace < 0 || grace > maxGrace {
			return errors.New("grace must be a whole number of seconds from 0 to 86400")
		}
		return nil
	})
	return grace, adminBodyError(err)
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
	p := keys.CreateParams{
		Name: req.name, Owner: a.owner(claims), Scope: set, TokenLifetime: time.Duration(lifetime) * time.Second,
		DPoPBound: req.dpopBound,
	}
	if req.expiresAt != 0 {
		if p.ExpiresAt = time.Unix(req.expiresAt, 0); !p.ExpiresAt.After(a.now()) {
			badRequest(w, "expires_at must be a time in the future, in whole unix seconds")
			return
		}
	}
	if desc := a.clientParams(&p, req.clientParams); desc != "" {
		badRequest(w, desc)
		return
	}
	key, rec, err := a.keys.Create(r.Context(), p, claims.Scope)
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
		"token_lifetime", lifetime, "expires_at", req.expiresAt)
	if rec.AuthMethod != "" {
		writeAdminJSON(w, http.StatusCreated, createdClient{NewKeyEntry(rec), rec.ID}) // no secret exists
		return
	}
	writeAdminJSON(w, http.StatusCreated, NewCreatedKey(key, rec)) // the secret, this once
}

// list handles GET /v1/api_keys: every key, revoked ones included.
func (a *adminAPI) list(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	out := []KeyEntry{}
	for after := ""; ; {
		page, err := a.keys.List(r.Context(), after, keys.MaxListLimit)
		if err != nil {
			a.log.Error("keyturn: listing api keys", "err", err)
			serverError(w)
			return
		}
		for _, k := range page {
			out = append(out, NewKeyEntry(k))
		}
		if len(page) < keys.MaxListLimit {
			break
		}
		after = page[len(page)-1].ID
	}
	a.log.Info("keyturn: api keys listed", "by", a.owner(claims), "count", len(out))
	writeAdminJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

// get handles GET /v1/api_keys/{id}: the key's entry, 404 if unknown.
func (a *adminAPI) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, ok := a.lookup(w, r, id, "reading an api key")
	if !ok {
		return
	}
	writeAdminJSON(w, http.StatusOK, NewKeyEntry(rec))
}

// lookup returns the record of the key id, or answers 404 or 500 and
// returns false.
func (a *adminAPI) lookup(w http.ResponseWriter, r *http.Request, id, what string) (keys.Record, bool) {
	rec, err := a.keys.Get(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeAdminJSON(w, http.StatusNotFound, errorJSON{Error: "not_found", Description: "no API key has this id"})
		return keys.Record{}, false
	case err != nil:
		a.log.Error("keyturn: "+what, "id", id, "err", err)
		serverError(w)
		return keys.Record{}, false
	}
	return rec, true
}

// errMayNotChange is the cause logged when a revocation or rotation is
// refused.
var errMayNotChange = errors.New("keyturn: the caller neither owns the key nor holds its scope")

// mayChange reports whether the caller, holding the token c, may revoke or
// rotate the key k: it owns k (k was created with a token of the caller's
// key or user), or its token's scope covers k's, so that it could have
// created k.
func (a *adminAPI) mayChange(c *token.Claims, k keys.Record) bool {
	return k.Owner != "" && k.Owner == a.owner(c) || c.Scope.Covers(k.Scope)
}

// refuseChange answers a caller that may not revoke or rotate a key.
func (a *adminAPI) refuseChange(w http.ResponseWriter, r *http.Request, verb string) {
	// As for creation: the caller's token lacks the scope the request
	// needs. The key's scope is not named: the caller may not read it.
	a.refuse(w, r, &middleware.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "only the key's owner or a token whose scope covers the key's scope may " + verb + " it",
		Err:         errMayNotChange})
}

// rotate handles POST /v1/api_keys/{id}/rotate {"grace": SECONDS}: 200 with
// the new secret; 400, 403, 404, or 409 for a revoked or expired key or a
// concurrent rotation.
func (a *adminAPI) rotate(w http.ResponseWriter, r *http.Request) {
	claims, _ := token.FromContext(r.Context())
	id := r.PathValue("id")
	rec, ok := a.lookup(w, r, id, "rotating an api key")
	if !ok {
		return
	}
	by := a.owner(claims)
	if !a.mayChange(claims, rec) {
		a.refuseChange(w, r, "rotate")
		return
	}
	if rec.AuthMethod != "" {
		a.replaceJWKS(w, r, id, by) // {"jwks": …}, admin_clients.go
		return
	}
	grace, err := readRotate(w, r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	key, _, err := a.keys.Rotate(r.Context(), id, time.Duration(grace)*time.Second)
	if err != nil {
		a.rotateFailed(w, err, "key", "id", id, "by", by)
		return
	}
	a.log.Info("keyturn: api key rotated", "id", id, "by", by, "grace", grace)
	writeAdminJSON(w, http.StatusOK, struct {
		ID           string `json:"id"`
		Key          string `json:"key"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Grace        int64  `json:"grace"`
	}{id, key.String(), key.ID(), key.ClientSecret(), grace}) // the secret, this once
}

// rotateFailed answers a rotation of a key (what is "key") or of a
// private_key_jwt client's public keys (what is "client") that failed
// with err: 409 when the key is revoked or expired or a concurrent
// rotation came first, 404 when there is no such key, and otherwise 500,
// logged with the attributes given.
func (a *adminAPI) rotateFailed(w http.ResponseWriter, err error, what string, attrs ...any) {
	switch {
	case errors.Is(err, keys.ErrRevoked):
		writeAdminJSON(w, http.StatusConflict, errorJSON{Error: "key_revoked", Description: "a revoked " + what + " cannot be rotated"})
	case errors.Is(err, keys.ErrExpired):
		writeAdminJSON(w, http.StatusConflict, errorJSON{Error: "key_expired", Description: "an expired " + what + " cannot be rotated"})
	case errors.Is(err, keys.ErrConflict):
		writeAdminJSON(w, http.StatusConflict, errorJSON{Error: "conflict",
			Description: "the " + what + " was rotated by another request at the same time; read it and retry"})
	case errors.Is(err, storage.ErrNotFound):
		writeAdminJSON(w, http.StatusNotFound, errorJSON{Error: "not_found", Description: "no API key has this id"})
	default:
		a.log.Error("keyturn: rotating an api "+what, append(attrs, "err", err)...)
		serverError(w)
	}
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
	rec, ok := a.lookup(w, r, id, "revoking an api key")
	if !ok {
		return
	}
	by := a.owner(claims)
	if !a.mayChange(claims, rec) {
		a.refuseChange(w, r, "revoke")
		return
	}
	var (
		revoked []string
		err     error
	)
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
