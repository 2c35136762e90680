package keyturn

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/keyturn/keyturn/internal/oauthreq"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/storage"
)

// clientParams are the members of an admin create request for the kinds
// of clients beyond a key with a secret: "token_endpoint_auth_method"
// ("private_key_jwt" with "jwks", a public JWK set, for a client without a
// secret; "client_secret_basic" or "client_secret_post", or nothing, for
// a key with a secret) and "resources", the resource indicators the key
// may get tokens for (each one of the server's).
type clientParams struct {
	method    string
	jwks      []byte // the JSON text as sent; nil when absent
	resources []string
}

// read takes one of the members, as oauthreq.ReadJSONObject passes it.
func (c *clientParams) read(name, v string) error {
	switch name {
	case "token_endpoint_auth_method":
		var ok bool
		if c.method, ok = oauthreq.UnquoteJSON(v); !ok {
			return errors.New("token_endpoint_auth_method must be a string")
		}
	case "jwks":
		if len(v) == 0 || v[0] != '{' {
			return errors.New("jwks must be a JWK set object")
		}
		c.jwks = []byte(v)
	case "resources":
		if json.Unmarshal([]byte(v), &c.resources) != nil {
			return errors.New("resources must be an array of strings")
		}
	}
	return nil
}

// badJWKS is the 400 description of a JWK set keys.ParseJWKS refuses.
const badJWKS = "jwks must be a JWK set of 1 to 10 public EC P-256, Ed25519 or RSA (2048 bits or more) signing keys, each with a unique kid"

// clientParams checks c and puts it into p; it returns the description of
// a 400, or "".
func (a *adminAPI) clientParams(p *keys.CreateParams, c clientParams) string {
	switch c.method {
	case storage.AuthPrivateKeyJWT:
		if c.jwks == nil {
			return "a private_key_jwt client needs jwks, its public keys"
		}
		if _, _, err := keys.ParseJWKS(c.jwks); err != nil {
			return badJWKS
		}
		p.JWKS = c.jwks
	case "", "client_secret_basic", "client_secret_post":
		if c.jwks != nil {
			return `jwks needs "token_endpoint_auth_method": "private_key_jwt"`
		}
	default:
		return "token_endpoint_auth_method must be client_secret_basic, client_secret_post or private_key_jwt"
	}
	if len(c.resources) > keys.MaxResources {
		return "resources may hold at most 16 URIs"
	}
	for _, r := range c.resources {
		if keys.CheckResource(r) != nil {
			return "each resource must be an absolute URI without fragment"
		}
		if !slices.Contains(a.resources, r) {
			return "each resource must be one this server issues tokens for"
		}
	}
	p.Resources = c.resources
	return ""
}

// createdClient is the admin API's answer to the creation of a
// private_key_jwt client: its entry and its client_id, and no secret, for
// it has none.
type createdClient struct {
	KeyEntry
	ClientID string `json:"client_id"`
}

// replaceJWKS handles POST {AdminPath}/{id}/rotate {"jwks": {...}} for a
// private_key_jwt client, whose rotation replaces its public keys: 200
// with the entry; 400, 404, or 409 for a revoked or expired client or a
// concurrent replacement.
func (a *adminAPI) replaceJWKS(w http.ResponseWriter, r *http.Request, id, by string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		badRequest(w, "the body is too large or could not be read")
		return
	}
	var jwks []byte
	err = oauthreq.ReadJSONObject(string(body), func(name, v string) error {
		if name != "jwks" || len(v) == 0 || v[0] != '{' {
			return errors.New(`the body must be {"jwks": {"keys": [...]}}`)
		}
		jwks = []byte(v)
		return nil
	})
	if err == nil && jwks == nil {
		err = errors.New(`the body must be {"jwks": {"keys": [...]}}`)
	}
	if err != nil {
		badRequest(w, adminBodyError(err).Error())
		return
	}
	rec, err := a.keys.ReplaceJWKS(r.Context(), id, jwks)
	switch {
	case errors.Is(err, keys.ErrInvalidParams):
		badRequest(w, badJWKS)
		return
	case err != nil:
		a.rotateFailed(w, err, "client", "id", id, "by", by)
		return
	}
	a.log.Info("keyturn: client keys replaced", "id", id, "by", by)
	writeAdminJSON(w, http.StatusOK, createdClient{NewKeyEntry(rec), rec.ID})
}
