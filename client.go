package keyturn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
)

// Errors an authenticator returns to the [Endpoint].
var (
	// ErrInvalidClient reports client credentials that do not authenticate:
	// an unknown client id, a wrong secret, a revoked or expired client. A
	// [ClientAuthenticator] wraps it for all of these alike; the endpoint
	// answers 401 invalid_client without saying which it was.
	ErrInvalidClient = errors.New("keyturn: invalid client credentials")

	// ErrInvalidGrant reports a username and password that do not
	// authenticate: an unknown user or a wrong password. A
	// [UserAuthenticator] wraps it for both alike; the endpoint answers 400
	// invalid_grant.
	ErrInvalidGrant = errors.New("keyturn: invalid user credentials")
)

// Client is a client that authenticated: what the [Endpoint] needs to know
// to issue it a token.
type Client struct {
	// ID is the client_id, and the sub of the client's tokens. Required.
	ID string
	// Scope is the most the client may be granted; a request without scope
	// is granted all of it.
	Scope scope.Set
	// TokenLifetime is the lifetime of the client's tokens. Zero means the
	// Issuer's.
	TokenLifetime time.Duration
	// Owner identifies who created the client, for
	// [EndpointConfig.Ceiling]. It may be empty.
	Owner string
	// Resources, when set, are the only resource indicators (RFC 8707)
	// the client may get tokens for; empty means any of the Endpoint's.
	Resources []string
	// DPoPBound makes the client DPoP-only: it gets a token only with a
	// valid DPoP proof (RFC 9449 §5.2; see dpop.go).
	DPoPBound bool
}

// ClientAuthenticator checks a client_id / client_secret pair. It is how
// the [Endpoint] learns about clients; [KeyClients] implements it over a
// [keys.Manager].
type ClientAuthenticator interface {
	// AuthenticateClient returns the client whose id and secret these are.
	// Credentials that do not authenticate (unknown id, wrong secret,
	// revoked or expired client) give an error wrapping ErrInvalidClient,
	// after the same work whether or not the id exists; any other error is
	// a failure of the authenticator itself (storage down...), which the
	// endpoint answers with a 5xx. Secrets must be compared in constant
	// time, and errors must not contain the secret.
	AuthenticateClient(ctx context.Context, clientID, clientSecret string) (Client, error)
}

// User is a user who authenticated with a username and password.
type User struct {
	// Subject is the sub of the user's tokens, e.g. the user name. Required.
	Subject string
	// Scope is what the user may do today; a request without scope is
	// granted all of it.
	Scope scope.Set
}

// UserAuthenticator checks a username and password for the password grant
// The host supplies it: keyturn keeps no users.
type UserAuthenticator interface {
	// AuthenticateUser returns the user these credentials belong to. An
	// unknown user and a wrong password must give the same error, wrapping
	// ErrInvalidGrant, after the same work: check an unknown user's
	// password against a dummy hash ([keys.DummyCheckPassword]). Any other
	// error is a failure of the authenticator itself.
	AuthenticateUser(ctx context.Context, username, password string) (User, error)
}

// KeyClients authenticates clients with the API keys of a [keys.Manager]:
// a key presented as a client_id / client_secret pair, or whole (through
// [KeyClients.SplitKey], for [EndpointConfig.SplitKey]). It is safe for
// concurrent use if the Manager is.
type KeyClients struct {
	m *keys.Manager
}

// NewKeyClients returns a [ClientAuthenticator] over m.
func NewKeyClients(m *keys.Manager) *KeyClients {
	if m == nil {
		panic("keyturn: NewKeyClients with a nil Manager")
	}
	return &KeyClients{m: m}
}

var _ ClientAuthenticator = (*KeyClients)(nil)

// AuthenticateClient checks the pair with [keys.FromPair] (no I/O for a
// malformed pair) and [keys.Manager.Authenticate]. An invalid, revoked or
// expired key gives an error wrapping ErrInvalidClient (and the keys error,
// which says which, for logs).
func (c *KeyClients) AuthenticateClient(ctx context.Context, clientID, clientSecret string) (Client, error) {
	k, err := keys.FromPair(c.m.Prefix(), clientID, clientSecret)
	if err != nil {
		return Client{}, fmt.Errorf("%w: %w", ErrInvalidClient, err)
	}
	rec, err := c.m.Authenticate(ctx, k)
	switch {
	case errors.Is(err, keys.ErrInvalidKey), errors.Is(err, keys.ErrRevoked), errors.Is(err, keys.ErrExpired):
		return Client{}, fmt.Errorf("%w: %w", ErrInvalidClient, err)
	case err != nil:
		return Client{}, err
	}
	return Client{ID: rec.ID, Scope: rec.Scope, TokenLifetime: rec.TokenLifetime, Owner: rec.Owner,
		Resources: rec.Resources, DPoPBound: rec.DPoPBound}, nil
}

// SplitKey splits a whole API key into its client_id / client_secret pair
// with [keys.Parse]. A key that is malformed, has another prefix or a wrong
// checksum gives an error wrapping ErrInvalidClient.
func (c *KeyClients) SplitKey(key string) (clientID, clientSecret string, err error) {
	k, err := keys.Parse(c.m.Prefix(), key)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidClient, err)
	}
	return k.ID(), k.ClientSecret(), nil
}
