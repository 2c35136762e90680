package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
)

// Format is the kind of access token an [Issuer] mints.
type Format uint8

const (
	// JWT is an RFC 9068 JWT access token signed by a [KeySet]: verified
	// without I/O (revocation aside), readable by any party with the JWKS.
	JWT Format = iota
	// Opaque is a random reference token, stored only as a SHA-256 hash with
	// its claims in a [storage.OpaqueTokenStore] and verified by lookup.
	Opaque
)

func (f Format) String() string {
	switch f {
	case JWT:
		return "jwt"
	case Opaque:
		return "opaque"
	}
	return "unknown"
}

// DefaultLifetime is the token lifetime when neither [IssuerConfig.Lifetime]
// nor [Grant.Lifetime] sets one: 900 s, RFC 6750's "short-lived".
const DefaultLifetime = 15 * time.Minute

// maxClaimLen bounds every string claim keyturn mints.
const maxClaimLen = 1024

// jtiBytes is the number of random bytes in a jti: 128 bits.
const jtiBytes = 16

// IssuerConfig configures an [Issuer]. Issuer and Audience are required;
// so is Keys for the JWT format and Opaque for the Opaque format.
type IssuerConfig struct {
	// Issuer is the iss claim: the authorization server's issuer identifier
	// (RFC 8414), e.g. "https://auth.example.com". Required.
	Issuer string

	// Audience is the aud claim of every token unless [Grant.Audience]
	// overrides it: the identifiers of the resource servers the tokens are
	// for. Required, each value non-empty.
	Audience []string

	// Format is the kind of token minted; the zero value is JWT.
	Format Format

	// Keys signs JWT tokens. Required for the JWT format; it must not be
	// VerifyOnly.
	Keys *KeySet

	// Opaque stores opaque tokens. Required for the Opaque format.
	Opaque storage.OpaqueTokenStore

	// OpaquePrefix starts every opaque token, followed by '_' and 43 base62
	// characters (256 bits). Zero means DefaultOpaquePrefix.
	OpaquePrefix string

	// Lifetime is the lifetime of tokens whose Grant sets none. Zero means
	// DefaultLifetime. It must be whole seconds from 1 s to MaxLifetime.
	Lifetime time.Duration

	// Extra, when set, is called for every token with a copy of its
	// registered claims and returns host claims to add. Values are encoded
	// with encoding/json. A name that is a registered claim (iss, sub, aud,
	// exp, iat, nbf, jti, client_id, scope, cnf) makes Mint fail: host claims can
	// never replace keyturn's. An error from Extra fails Mint.
	Extra func(ctx context.Context, c *Claims) (map[string]any, error)

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// Rand is the source of jti values and opaque tokens. Nil means
	// crypto/rand.
	Rand io.Reader
}

// Grant is what one token is minted for: the authenticated client and the
// scope it was granted.
type Grant struct {
	// Subject is the sub claim (the key id, or the user for the password
	// flow). Required.
	Subject string
	// ClientID is the client_id claim. Required.
	ClientID string
	// Scope is the granted scope; the empty set leaves out the scope claim.
	Scope scope.Set
	// Lifetime overrides the issuer's lifetime for this token, e.g. with the
	// key's own token lifetime (e.g. 900, 7200 or 3599 s). Zero means
	// the issuer's. Whole seconds from 1 s to MaxLifetime.
	Lifetime time.Duration
	// Audience overrides the issuer's audience for this token (RFC 8707
	// resource indicators). Nil means the issuer's.
	Audience []string
	// JKT, when set, binds the token to a DPoP key (RFC 9449): the RFC
	// 7638 SHA-256 thumbprint of the key, base64url, from a checked proof
	// (token/dpop). It becomes the cnf.jkt claim. Empty means a bearer
	// token.
	JKT string
	// IssuedAt, when set, is when the client's credentials were checked;
	// the token's iat (and nbf, and the start of its lifetime) is then this
	// time rather than the time of minting, rounded down to the second.
	// Revocations refuse a revoked client's tokens issued at or before the
	// revocation, so a revocation made after the check covers the token
	// even when minting comes a second or more later. Zero means now. A
	// time after now counts as now; one more than MaxLeeway before now
	// makes Mint fail, as the token would start that stale.
	IssuedAt time.Time
}

// Issuer mints access tokens. It is safe for concurrent use.
type Issuer struct {
	issuer   string
	audience []string
	format   Format
	keys     *KeySet
	opaque   storage.OpaqueTokenStore
	prefix   string
	lifetime time.Duration
	extra    func(context.Context, *Claims) (map[string]any, error)
	now      func() time.Time
	rand     io.Reader
}

// NewIssuer checks cfg and returns an Issuer. It fails on a missing issuer,
// audience, key set or store, or an out-of-range lifetime.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	i := &Issuer{
		issuer:   cfg.Issuer,
		audience: slices.Clone(cfg.Audience),
		format:   cfg.Format,
		keys:     cfg.Keys,
		opaque:   cfg.Opaque,
		prefix:   cfg.OpaquePrefix,
		lifetime: cfg.Lifetime,
		extra:    cfg.Extra,
		now:      cfg.Now,
		rand:     cfg.Rand,
	}
	if err := checkClaimString("IssuerConfig.Issuer", i.issuer); err != nil {
		return nil, err
	}
	if err := checkAudience("IssuerConfig.Audience", i.audience); err != nil {
		return nil, err
	}
	switch i.format {
	case JWT:
		if i.keys == nil {
			return nil, errors.New("keyturn/token: IssuerConfig.Keys is required for JWT tokens")
		}
		if i.keys.verifyOnly {
			return nil, fmt.Errorf("%w: IssuerConfig.Keys is verify-only", ErrNoSigningKey)
		}
	case Opaque:
		if i.opaque == nil {
			return nil, errors.New("keyturn/token: IssuerConfig.Opaque is required for opaque tokens")
		}
		if i.prefix == "" {
			i.prefix = DefaultOpaquePrefix
		}
		if err := checkOpaquePrefix(i.prefix); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("keyturn/token: IssuerConfig.Format is unknown")
	}
	if i.lifetime == 0 {
		i.lifetime = DefaultLifetime
	}
	if err := checkLifetime("IssuerConfig.Lifetime", i.lifetime); err != nil {
		return nil, err
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.rand == nil {
		i.rand = rand.Reader
	}
	return i, nil
}

func checkClaimString(what, s string) error {
	if s == "" {
		return fmt.Errorf("keyturn/token: %s is required", what)
	}
	if len(s) > maxClaimLen || !utf8.ValidString(s) {
		return fmt.Errorf("keyturn/token: %s must be valid UTF-8 of at most %d bytes", what, maxClaimLen)
	}
	return nil
}

func checkAudience(what string, aud []string) error {
	if len(aud) == 0 {
		return fmt.Errorf("keyturn/token: %s is required", what)
	}
	if len(aud) > maxAudiences {
		return fmt.Errorf("keyturn/token: %s has more than %d values", what, maxAudiences)
	}
	for _, a := range aud {
		if err := checkClaimString(what, a); err != nil {
			return err
		}
	}
	return nil
}

func checkLifetime(what string, d time.Duration) error {
	if d < time.Second || d > MaxLifetime || d%time.Second != 0 {
		return fmt.Errorf("keyturn/token: %s must be whole seconds from 1s to %s", what, MaxLifetime)
	}
	return nil
}

// Mint issues a token for g and returns it with its claims. For the JWT
// format it signs with the key set's active key and does no I/O; for the
// Opaque format it stores the token's hash and claims.
//
// The claims are iss, sub, aud, exp, iat, nbf (= iat), jti (128 random
// bits, base64url), client_id, scope (canonical, space-delimited; left out
// when empty), cnf {"jkt"} for a token bound to a DPoP key (Grant.JKT) and
// the host's Extra claims. Times are whole seconds.
func (i *Issuer) Mint(ctx context.Context, g Grant) (string, *Claims, error) {
	if err := checkClaimString("Grant.Subject", g.Subject); err != nil {
		return "", nil, err
	}
	if err := checkClaimString("Grant.ClientID", g.ClientID); err != nil {
		return "", nil, err
	}
	if g.JKT != "" && !validJKT(g.JKT) {
		return "", nil, errors.New("keyturn/token: Grant.JKT is not a base64url SHA-256 thumbprint")
	}
	lifetime := g.Lifetime
	if lifetime == 0 {
		lifetime = i.lifetime
	} else if err := checkLifetime("Grant.Lifetime", lifetime); err != nil {
		return "", nil, err
	}
	aud := i.audience
	if g.Audience != nil {
		if err := checkAudience("Grant.Audience", g.Audience); err != nil {
			return "", nil, err
		}
		aud = slices.Clone(g.Audience)
	}

	now := i.now()
	if !g.IssuedAt.IsZero() && g.IssuedAt.Before(now) {
		if now.Sub(g.IssuedAt) > MaxLeeway {
			return "", nil, errors.New("keyturn/token: Grant.IssuedAt is more than MaxLeeway in the past")
		}
		now = g.IssuedAt
	}
	iat := time.Unix(now.Unix(), 0).UTC()
	var id [jtiBytes]byte
	if _, err := io.ReadFull(i.rand, id[:]); err != nil {
		return "", nil, fmt.Errorf("keyturn/token: reading jti: %w", err)
	}
	c := &Claims{
		Issuer:    i.issuer,
		Subject:   g.Subject,
		Audience:  aud,
		ExpiresAt: iat.Add(lifetime),
		IssuedAt:  iat,
		NotBefore: iat,
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		ClientID:  g.ClientID,
		Scope:     g.Scope,
		JKT:       g.JKT,
	}
	var extra []extraClaim
	if i.extra != nil {
		var err error
		if extra, err = i.extraClaims(ctx, c); err != nil {
			return "", nil, err
		}
	}

	bp := payloadPool.Get().(*[]byte)
	payload := appendClaims((*bp)[:0], c, extra)
	defer func() {
		if cap(payload) <= MaxTokenSize {
			*bp = payload
			payloadPool.Put(bp)
		}
	}()
	if base64.RawURLEncoding.EncodedLen(len(payload)) > MaxTokenSize-256 {
		return "", nil, fmt.Errorf("keyturn/token: claims too large: the token would exceed %d bytes", MaxTokenSize)
	}

	var (
		tok string
		err error
	)
	if i.format == Opaque {
		tok, err = i.mintOpaque(ctx, c, payload)
	} else {
		tok, err = i.mintJWT(now, c, payload)
	}
	if err != nil {
		return "", nil, err
	}
	return tok, c, nil
}

// payloadPool recycles claim-encoding buffers.
var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// extraClaims calls the Extra hook, checks the names it returns and encodes
// the values, in name order so that tokens are deterministic.
func (i *Issuer) extraClaims(ctx context.Context, c *Claims) ([]extraClaim, error) {
	m, err := i.extra(ctx, c.clone())
	if err != nil {
		return nil, fmt.Errorf("keyturn/token: extra claims: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	extra := make([]extraClaim, 0, len(m))
	c.Extra = make(map[string]any, len(m))
	for name, v := range m {
		if isRegistered(name) {
			return nil, fmt.Errorf("keyturn/token: extra claim %s would replace a registered claim", safeName(name))
		}
		if name == "" || len(name) > maxClaimLen || !utf8.ValidString(name) {
			return nil, errors.New("keyturn/token: extra claim names must be valid UTF-8 of 1 to 1024 bytes")
		}
		value, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("keyturn/token: extra claim %s: %w", safeName(name), err)
		}
		extra = append(extra, extraClaim{name: name, value: value})
		c.Extra[name] = v
	}
	slices.SortFunc(extra, func(a, b extraClaim) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return extra, nil
}

// mintJWT signs payload with the active key: the precomputed header
// segment, the payload segment, and the signature over both, in one buffer.
func (i *Issuer) mintJWT(now time.Time, c *Claims, payload []byte) (string, error) {
	key := i.keys.snap.Load().signing(now)
	if key == nil {
		return "", ErrNoSigningKey
	}
	if !key.expiresAt.IsZero() && c.ExpiresAt.Add(MaxLeeway).After(key.expiresAt) {
		// Unreachable while lifetimes stay within MaxLifetime; a token must
		// never outlive the key that verifies it.
		return "", fmt.Errorf("%w: the active key expires before the token", ErrNoSigningKey)
	}
	enc := base64.RawURLEncoding
	size := len(key.header) + enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(key.sigSize)
	if size > MaxTokenSize {
		return "", fmt.Errorf("keyturn/token: claims too large: the token would exceed %d bytes", MaxTokenSize)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, key.header...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := key.signer.sign(buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// mintOpaque draws a random token and stores its hash with the claims.
func (i *Issuer) mintOpaque(ctx context.Context, c *Claims, payload []byte) (string, error) {
	tok, err := newOpaqueToken(i.prefix, i.rand)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(tok))
	rec := storage.OpaqueToken{
		Hash:      h[:],
		ClientID:  c.ClientID,
		Claims:    append([]byte(nil), payload...),
		ExpiresAt: c.ExpiresAt,
	}
	if err := i.opaque.AddOpaqueToken(ctx, rec); err != nil {
		return "", fmt.Errorf("keyturn/token: storing opaque token: %w", err)
	}
	return tok, nil
}
