package keys

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/keyturn/keyturn/storage"
)

// Bounds of [CreateParams.Resources].
const (
	// MaxResources is the most resource indicators a key may be limited to.
	MaxResources = 16
	// MaxResourceLen bounds one resource indicator, in bytes.
	MaxResourceLen = 1024
)

// ErrInvalidResource reports a resource indicator that is not an absolute
// URI without fragment (RFC 8707 §2). Its text does not quote the input.
var ErrInvalidResource = errors.New("keyturn/keys: a resource must be an absolute URI without fragment")

// CheckResource checks that s may be a resource indicator (RFC 8707 §2):
// an absolute URI (a scheme and a host) of at most MaxResourceLen bytes,
// without fragment, user info or whitespace. Every error wraps
// ErrInvalidResource.
func CheckResource(s string) error {
	if s == "" || len(s) > MaxResourceLen || !utf8.ValidString(s) {
		return ErrInvalidResource
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '#' {
			return ErrInvalidResource
		}
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return ErrInvalidResource
	}
	return nil
}

// clientParams checks the JWKS and Resources of p and returns the
// canonical JWK set (nil for a key with a secret) and the resources,
// without repeats.
func clientParams(p CreateParams) ([]byte, []string, error) {
	var jwks []byte
	if p.JWKS != nil {
		_, canon, err := ParseJWKS(p.JWKS)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInvalidParams, err)
		}
		jwks = canon
	}
	if len(p.Resources) > MaxResources {
		return nil, nil, fmt.Errorf("%w: more than %d resources", ErrInvalidParams, MaxResources)
	}
	var resources []string
	for _, r := range p.Resources {
		if err := CheckResource(r); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInvalidParams, err)
		}
		if !slices.Contains(resources, r) {
			resources = append(resources, r)
		}
	}
	return jwks, resources, nil
}

// ReplaceJWKS gives the private_key_jwt client with the given id a new
// public JWK set (checked as [ParseJWKS] checks it) and returns its
// record: assertions signed by the old keys stop authenticating at once.
// Access tokens already issued stay valid.
//
// A revoked client gives [ErrRevoked] and an expired one [ErrExpired]; a
// key with a secret, or an invalid set, [ErrInvalidParams]. A missing key
// is an error wrapping [storage.ErrNotFound]. The replacement is a
// compare-and-swap ([storage.KeyJWKSReplacer]): of two replacements at
// once, one takes effect and the other gives [ErrConflict]. Without a
// replacer (Config.JWKSReplacer, or a Store that implements
// storage.KeyJWKSReplacer) it gives an error wrapping errors.ErrUnsupported.
func (m *Manager) ReplaceJWKS(ctx context.Context, id string, jwks []byte) (Record, error) {
	_, canon, err := ParseJWKS(jwks)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	if len(id) != IDLen || !isBase62(id) {
		return Record{}, fmt.Errorf("keyturn/keys: no such key: %w", storage.ErrNotFound)
	}
	if m.replacer == nil {
		return Record{}, fmt.Errorf("keyturn/keys: the store cannot replace a client's keys: %w", errors.ErrUnsupported)
	}
	rec, err := m.store.Key(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("keyturn/keys: replacing the keys of %s: %w", id, err)
	}
	switch {
	case !rec.RevokedAt.IsZero():
		return Record{}, ErrRevoked
	case !rec.ExpiresAt.IsZero() && !m.now().Before(rec.ExpiresAt):
		return Record{}, ErrExpired
	case rec.AuthMethod != storage.AuthPrivateKeyJWT:
		return Record{}, fmt.Errorf("%w: the key authenticates with a secret; rotate it instead", ErrInvalidParams)
	}
	swapped, err := m.replacer.ReplaceKeyJWKS(ctx, id, rec.JWKS, canon)
	if err != nil {
		return Record{}, fmt.Errorf("keyturn/keys: replacing the keys of %s: %w", id, err)
	}
	if !swapped {
		if cur, err := m.store.Key(ctx, id); err == nil && !cur.RevokedAt.IsZero() {
			return Record{}, ErrRevoked
		}
		return Record{}, ErrConflict
	}
	rec.JWKS = canon
	return recordOf(rec)
}

// AssertionKeys returns the record and public keys of the private_key_jwt
// client with the given id, for checking one of its assertions. An unknown
// id (or one that cannot be a key id) and a key that authenticates with a
// secret give [ErrInvalidKey]; a revoked client [ErrRevoked] and an
// expired one [ErrExpired]. Storage failures are returned wrapped.
func (m *Manager) AssertionKeys(ctx context.Context, id string) (Record, []PublicKey, error) {
	if len(id) != IDLen || !isBase62(id) {
		return Record{}, nil, ErrInvalidKey
	}
	rec, err := m.store.Key(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Record{}, nil, ErrInvalidKey
	case err != nil:
		return Record{}, nil, fmt.Errorf("keyturn/keys: looking up key %s: %w", id, err)
	case rec.AuthMethod != storage.AuthPrivateKeyJWT || rec.ID != id:
		return Record{}, nil, ErrInvalidKey
	case !rec.RevokedAt.IsZero():
		return Record{}, nil, ErrRevoked
	case !rec.ExpiresAt.IsZero() && !m.now().Before(rec.ExpiresAt):
		return Record{}, nil, ErrExpired
	}
	pubs, err := m.jwks.parse(rec.JWKS)
	if err != nil {
		return Record{}, nil, fmt.Errorf("keyturn/keys: the stored keys of %s: %w", id, err)
	}
	out, err := recordOf(rec)
	return out, pubs, err
}

// maxParsedJWKS bounds the key sets a Manager keeps parsed.
const maxParsedJWKS = 1024

// jwksCache keeps the keys of stored JWK sets, parsed, by the set's bytes:
// a set that changes is another entry, so that nothing here goes stale.
// It forgets everything when full. The zero value is ready to use.
type jwksCache struct {
	mu sync.Mutex
	m  map[string][]PublicKey
}

// parse returns the keys of the stored set jwks, parsing it at most once
// while it is remembered. The slice is the caller's; the keys are shared
// and never modified.
func (c *jwksCache) parse(jwks []byte) ([]PublicKey, error) {
	c.mu.Lock()
	pubs, ok := c.m[string(jwks)]
	c.mu.Unlock()
	if ok {
		return slices.Clone(pubs), nil
	}
	pubs, _, err := ParseJWKS(jwks)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxParsedJWKS {
		c.m = make(map[string][]PublicKey)
	}
	c.m[string(jwks)] = pubs
	c.mu.Unlock()
	return slices.Clone(pubs), nil
}
