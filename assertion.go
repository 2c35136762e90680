package keyturn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/internal/oauthreq"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/storage"
)

// Client assertions (RFC 7523 §2.2, private_key_jwt).
const (
	// ClientAssertionType is the one client_assertion_type accepted: a JWT
	// bearer assertion (RFC 7523 §2.2).
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	// MaxAssertionLen bounds a client_assertion, in bytes; a longer one is
	// refused before it is parsed.
	MaxAssertionLen = 8 << 10

	// MaxAssertionLifetime is the longest an assertion may be valid: its
	// exp at most this far after now, and after its iat if it has one.
	MaxAssertionLifetime = 300 * time.Second

	// assertionLeeway is the clock skew allowed on an assertion's iat and
	// nbf (never on exp).
	assertionLeeway = 30 * time.Second

	// replayKind is the ReplayStore kind of assertion jti values.
	replayKind = "client_assertion"

	// maxJTILen bounds an assertion's jti, in bytes.
	maxJTILen = 1024
)

// AssertionAlgorithms are the JWS algorithms a client assertion may be
// signed with, each only by a key of its type: EdDSA by Ed25519, ES256 by
// P-256, RS256 and PS256 by RSA. Metadata advertises them as
// token_endpoint_auth_signing_alg_values_supported.
var AssertionAlgorithms = []string{"EdDSA", "ES256", "RS256", "PS256"}

var assertionAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256, jose.PS256}

// AssertionClients finds the clients that authenticate with private_key_jwt
// (RFC 7523), and their public keys. [KeyClients] implements it.
type AssertionClients interface {
	// AssertionClient returns the client with this id and its public keys.
	// An unknown client, one that authenticates with a secret, and a
	// revoked or expired one give an error wrapping ErrInvalidClient; any
	// other error is a failure of the lookup itself.
	AssertionClient(ctx context.Context, clientID string) (Client, []keys.PublicKey, error)
}

var _ AssertionClients = (*KeyClients)(nil)

// AssertionClient implements [AssertionClients] over the keys of the
// Manager whose records have the private_key_jwt method.
func (c *KeyClients) AssertionClient(ctx context.Context, clientID string) (Client, []keys.PublicKey, error) {
	rec, pubs, err := c.m.AssertionKeys(ctx, clientID)
	switch {
	case errors.Is(err, keys.ErrInvalidKey), errors.Is(err, keys.ErrRevoked), errors.Is(err, keys.ErrExpired):
		return Client{}, nil, fmt.Errorf("%w: %w", ErrInvalidClient, err)
	case err != nil:
		return Client{}, nil, err
	}
	return Client{ID: rec.ID, Scope: rec.Scope, TokenLifetime: rec.TokenLifetime, Owner: rec.Owner,
		Resources: rec.Resources}, pubs, nil
}

// errAssertion is the reason of an AuthFailed event for an assertion that
// does not authenticate; the detail says which check it failed, for logs.
func errAssertion(what string) error {
	return fmt.Errorf("%w: client assertion: %s", ErrInvalidClient, what)
}

// authenticateAssertion authenticates the client of req, which carries a
// client assertion, through the limiter (keyed by the assertion's sub). It
// reports failures as events and returns the error to answer: 400
// invalid_request for a request that breaks the rules of its form, 401
// invalid_client (the same whichever check failed) for an assertion that
// does not authenticate. The checks are listed in the package
// documentation, "Clients without secrets".
func (e *Endpoint) authenticateAssertion(ctx context.Context, r *http.Request, req *oauthreq.Request, endpoint string) (Client, *oauthreq.Error) {
	fail := func(id string, err error) (Client, *oauthreq.Error) {
		e.emit(ctx, Event{Kind: AuthFailed, Endpoint: endpoint, Method: PrivateKeyJWT, ClientID: eventID(id),
			RemoteAddr: r.RemoteAddr, Err: err})
		return Client{}, e.invalidClient(req, endpoint)
	}
	anonymous := func(what string) (Client, *oauthreq.Error) {
		e.failAnonymous(r)
		return fail("", errAssertion(what))
	}
	if req.JSON {
		return Client{}, errInvalidRequest("a client assertion must come in a form body")
	}
	if req.ClientAssertionType != ClientAssertionType {
		return anonymous("unsupported client_assertion_type")
	}
	if len(req.ClientAssertion) > MaxAssertionLen {
		return anonymous("too long")
	}
	jws, err := jose.ParseSignedCompact(req.ClientAssertion, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return anonymous("not one compact JWS with an allowed algorithm")
	}
	h := jws.Signatures[0].Protected
	if h.JSONWebKey != nil {
		return anonymous("the header carries a key")
	}
	if typ, ok := h.ExtraHeaders[jose.HeaderType]; ok && !assertionType(typ) {
		// An access token (at+jwt), a DPoP proof (dpop+jwt) or any other
		// typed JWT is not an assertion, whoever signed it (TOK-73).
		return anonymous("the typ is not an assertion's")
	}
	claims, err := parseAssertionClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil || claims.sub == "" {
		return anonymous("the claims are malformed or have no sub")
	}
	id := claims.sub
	if req.ClientID != "" && req.ClientID != id {
		return Client{}, errInvalidRequest("client_id does not match the client assertion") // TOK-71
	}

	key := LimitKey{Kind: LimitClient, ID: id}
	if wait := e.limiter.Reserve(r, key); wait > 0 {
		if ctx.Err() != nil {
			return Client{}, errUnavailable
		}
		e.emit(ctx, Event{Kind: AuthFailed, Endpoint: endpoint, Method: PrivateKeyJWT, ClientID: eventID(id),
			RemoteAddr: r.RemoteAddr, Err: ErrRateLimited})
		return Client{}, errRateLimited(wait)
	}
	failed := true // until the assertion proves right; a panic included
	defer func() { e.limiter.Settle(r, key, failed) }()

	client, pubs, err := e.assertions.AssertionClient(ctx, id)
	switch {
	case errors.Is(err, ErrInvalidClient):
		return fail(id, err)
	case err != nil:
		// The client could not be looked up now (the store is
		// unreachable, say): 503, as for a secret (see authenticate).
		failed = ctx.Err() != nil
		return Client{}, errUnavailable
	case client.ID != id:
		failed = ctx.Err() != nil
		return Client{}, errServer
	}
	if !verifyAssertion(jws, h, pubs) {
		return fail(id, errAssertion("no key of the client verifies the signature"))
	}
	now := e.now()
	if why := e.checkAssertionClaims(&claims, id, now); why != "" {
		return fail(id, errAssertion(why))
	}
	first, err := e.replay.UseOnce(ctx, replayKind, replayID(id, claims.jti), now, claims.exp)
	switch {
	case err != nil:
		failed = ctx.Err() != nil
		return Client{}, errUnavailable
	case !first:
		return fail(id, errAssertion("its jti was used before"))
	}
	failed = false
	return client, nil
}

// assertionType reports whether typ, an assertion's typ header, may stand
// on a client assertion: JWT, or the explicit client-authentication+jwt of
// draft-ietf-oauth-rfc7523bis (with or without "application/", any case).
func assertionType(typ any) bool {
	s, ok := typ.(string)
	if !ok {
		return false
	}
	s = strings.ToLower(strings.TrimPrefix(strings.ToLower(s), "application/"))
	return s == "jwt" || s == "client-authentication+jwt"
}

// verifyAssertion checks the signature of jws with the client's key named
// by the header's kid or, without a kid, with each key whose type fits the
// algorithm (a set holds at most keys.MaxJWKSKeys). The algorithm must be
// one the key may sign with.
func verifyAssertion(jws *jose.JSONWebSignature, h jose.Header, pubs []keys.PublicKey) bool {
	for _, k := range pubs {
		if h.KeyID != "" && k.ID != h.KeyID || !slices.Contains(k.Algorithms, h.Algorithm) {
			continue
		}
		if _, err := jws.Verify(k.Key); err == nil {
			return true
		}
	}
	return false
}

// replayID is the ReplayStore id of an assertion: base64url(SHA-256(client
// id, NUL, jti)), fixed-length whatever the jti.
func replayID(clientID, jti string) string {
	h := sha256.New()
	h.Write([]byte(clientID))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// assertionClaims are the claims of a client assertion that keyturn reads.
type assertionClaims struct {
	iss, sub, jti string
	aud           []string
	hasAud        bool
	exp, nbf, iat time.Time // zero when absent
}

// parseAssertionClaims reads the payload of an assertion: one JSON object
// read strictly (no member twice), with iss, sub and jti strings, aud a
// string or an array of strings, and exp, nbf and iat numbers. Other
// members are ignored.
func parseAssertionClaims(payload []byte) (assertionClaims, error) {
	var c assertionClaims
	errBad := errors.New("malformed claims")
	err := oauthreq.ReadJSONObject(string(payload), func(name, v string) error {
		var ok bool
		switch name {
		case "iss":
			c.iss, ok = oauthreq.UnquoteJSON(v)
		case "sub":
			c.sub, ok = oauthreq.UnquoteJSON(v)
		case "jti":
			c.jti, ok = oauthreq.UnquoteJSON(v)
		case "aud":
			c.hasAud = true
			var s string
			if s, ok = oauthreq.UnquoteJSON(v); ok {
				c.aud = []string{s}
			} else {
				ok = json.Unmarshal([]byte(v), &c.aud) == nil
			}
		case "exp":
			c.exp, ok = numericDate(v)
		case "nbf":
			c.nbf, ok = numericDate(v)
		case "iat":
			c.iat, ok = numericDate(v)
		default:
			return nil
		}
		if !ok {
			return errBad
		}
		return nil
	})
	return c, err
}

// numericDate reads a NumericDate (RFC 7519 §2): seconds since the epoch,
// perhaps with a fraction, within a sane range.
func numericDate(v string) (time.Time, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// checkAssertionClaims checks the claims of an assertion whose signature
// is the client id's, at now, and returns what is wrong, or "".
func (e *Endpoint) checkAssertionClaims(c *assertionClaims, id string, now time.Time) string {
	switch {
	case c.iss != id || c.sub != id:
		return "iss and sub must both be the client_id"
	case !c.hasAud || len(c.aud) == 0:
		return "aud is missing"
	case c.jti == "" || len(c.jti) > maxJTILen:
		return "jti is missing or too long"
	case c.exp.IsZero():
		return "exp is missing"
	case !now.Before(c.exp):
		return "expired"
	case c.exp.Sub(now) > MaxAssertionLifetime:
		return "exp is too far ahead"
	case !c.iat.IsZero() && c.iat.After(now.Add(assertionLeeway)):
		return "iat is in the future"
	case !c.iat.IsZero() && c.exp.Sub(c.iat) > MaxAssertionLifetime:
		return "exp is too long after iat"
	case !c.nbf.IsZero() && c.nbf.After(now.Add(assertionLeeway)):
		return "not valid yet (nbf)"
	}
	// Every aud must be this server: its issuer or its token endpoint URL
	// (TOK-65; see "Clients without secrets" in the package documentation).
	for _, a := range c.aud {
		if !slices.Contains(e.assertionAudiences, a) {
			return "aud names another server"
		}
	}
	return ""
}

// configureClients takes the private_key_jwt and resource-indicator parts
// of cfg: the assertion clients and their replay store, the audiences an
// assertion may name (the issuer and the token endpoint URL), and the
// resources tokens may be issued for (the Issuer's audience and
// cfg.Resources).
func (e *Endpoint) configureClients(cfg EndpointConfig) error {
	e.assertions, e.replay = cfg.Assertions, cfg.Replay
	e.resourceRequired = cfg.ResourceRequired
	if e.assertions != nil && e.replay == nil {
		return errors.New("keyturn: EndpointConfig.Replay is required with Assertions: no assertion is accepted without replay protection")
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = strings.TrimSuffix(e.issuer.Identifier(), "/") + DefaultTokenPath
	}
	e.assertionAudiences = []string{e.issuer.Identifier()}
	if tokenURL != e.issuer.Identifier() {
		e.assertionAudiences = append(e.assertionAudiences, tokenURL)
	}
	e.resources = slices.Clone(e.issuer.Audience())
	for _, r := range cfg.Resources {
		if err := keys.CheckResource(r); err != nil {
			return errors.New("keyturn: EndpointConfig.Resources must be absolute URIs without fragment")
		}
		if !slices.Contains(e.resources, r) {
			e.resources = append(e.resources, r)
		}
	}
	return nil
}

// cachedJWKSReplacer replaces a private_key_jwt client's keys through the
// store's replacer and then forgets (keycache.go) the client's cached record, so that
// replaced keys stop authenticating in this process as soon as it returns.
type cachedJWKSReplacer struct {
	r     storage.KeyJWKSReplacer
	cache *keyCache
}

// ReplaceKeyJWKS implements storage.KeyJWKSReplacer.
func (c cachedJWKSReplacer) ReplaceKeyJWKS(ctx context.Context, id string, old, next []byte) (bool, error) {
	swapped, err := c.r.ReplaceKeyJWKS(ctx, id, old, next)
	c.cache.forget(id) // even on error: the write may have happened
	return swapped, err
}

// jwksReplacer is how New's keys.Manager replaces the keys of
// private_key_jwt clients: through st, and then forgetting the client's
// cached record when there is a key cache.
func (s *Server) jwksReplacer(st Store) storage.KeyJWKSReplacer {
	if s.keyCache != nil {
		return cachedJWKSReplacer{st, s.keyCache}
	}
	return st
}
