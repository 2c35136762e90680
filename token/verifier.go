package token

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/storage"
)

// MaxTokenSize is the longest token, in bytes, that [Verifier.Verify]
// looks at and that [Issuer.Mint] produces.
const MaxTokenSize = 8 << 10

// DefaultLeeway is the clock-skew allowance when [VerifierConfig.Leeway] is
// zero.
const DefaultLeeway = 30 * time.Second

// VerifierConfig configures a [Verifier]. Issuer and Audience are required,
// and at least one of Keys (with Algorithms) and Opaque. There is no "empty
// means skip": every check is always made.
type VerifierConfig struct {
	// Issuer is the exact iss a token must carry. Required.
	Issuer string

	// Audience is this resource server's identifier; a token's aud must
	// contain it. Required.
	Audience string

	// OtherAudiences are further identifiers a token's aud may contain
	// instead of Audience, for an authorization server that judges the
	// tokens of all its resources (RFC 8707) at introspection. Nil means
	// Audience alone.
	OtherAudiences []string

	// Keys holds the keys JWTs are verified with. Nil means JWTs are refused.
	Keys *KeySet

	// Algorithms is the allow-list of JWS algorithms. Required with Keys.
	// A token's alg must be in it and equal to its key's algorithm.
	Algorithms []Algorithm

	// Opaque is where opaque tokens are looked up. Nil means opaque tokens
	// are refused.
	Opaque storage.OpaqueTokenStore

	// OpaquePrefix is the prefix of opaque tokens. Zero means
	// DefaultOpaquePrefix.
	OpaquePrefix string

	// Revocations, when set, is consulted on every Verify, cache hits
	// included (no I/O). Nil means revocation is not checked: tokens stay
	// valid until exp.
	Revocations *Revocations

	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means
	// DefaultLeeway, a negative value none; at most MaxLeeway.
	Leeway time.Duration

	// CacheSize bounds the number of verified tokens the Verifier
	// remembers, so that a token presented again is not verified again
	// (see "Cache of verified tokens" in the package documentation). Zero
	// means DefaultCacheSize; a negative value disables the cache.
	CacheSize int

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Verifier verifies access tokens, JWT or opaque, and returns their claims.
// It caches the JWTs it accepted (see [VerifierConfig.CacheSize]). It is safe
// for concurrent use.
type Verifier struct {
	issuer      string
	audience    string
	others      []string // VerifierConfig.OtherAudiences
	keys        *KeySet
	algs        []Algorithm
	opaque      storage.OpaqueTokenStore
	prefix      string
	revocations *Revocations
	leeway      time.Duration
	now         func() time.Time
	cache       *verifiedCache // nil when disabled
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
		others:      slices.Clone(cfg.OtherAudiences),
		keys:        cfg.Keys,
		algs:        slices.Clone(cfg.Algorithms),
		opaque:      cfg.Opaque,
		prefix:      cfg.OpaquePrefix,
		revocations: cfg.Revocations,
		leeway:      cfg.Leeway,
		now:         cfg.Now,
	}
	if err := checkClaimString("VerifierConfig.Issuer", v.issuer); err != nil {
		return nil, err
	}
	if err := checkClaimString("VerifierConfig.Audience", v.audience); err != nil {
		return nil, err
	}
	for _, a := range v.others {
		if err := checkClaimString("VerifierConfig.OtherAudiences", a); err != nil {
			return nil, err
		}
	}
	if v.keys == nil && v.opaque == nil {
		return nil, errors.New("keyturn/token: VerifierConfig needs Keys, Opaque or both")
	}
	if v.keys != nil {
		if len(v.algs) == 0 {
			return nil, errors.New("keyturn/token: VerifierConfig.Algorithms is required with Keys")
		}
		for _, a := range v.algs {
			if !a.valid() {
				return nil, fmt.Errorf("keyturn/token: VerifierConfig.Algorithms: %w: %s", ErrUnsupportedAlgorithm, safeName(string(a)))
			}
		}
	} else if len(v.algs) != 0 {
		return nil, errors.New("keyturn/token: VerifierConfig.Algorithms without Keys")
	}
	if v.opaque != nil {
		if v.prefix == "" {
			v.prefix = DefaultOpaquePrefix
		}
		if err := checkOpaquePrefix(v.prefix); err != nil {
			return nil, err
		}
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	case v.leeway > MaxLeeway:
		return nil, fmt.Errorf("keyturn/token: VerifierConfig.Leeway must be at most %s", MaxLeeway)
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case cfg.CacheSize == 0:
		v.cache = newVerifiedCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		v.cache = newVerifiedCache(cfg.CacheSize)
	}
	return v, nil
}

// Verify checks tok and returns its claims. A JWT must be a compact JWS of at
// most MaxTokenSize bytes, with typ at+jwt (or application/at+jwt, any case),
// an alg from the allow-list equal to its key's, the kid of a published key,
// no jku, x5u, jwk, x5c, x5t or crit header, and a valid signature; its
// claims must name the configured issuer and audience, hold exp, iat, jti,
// sub and client_id, and be within exp, nbf and iat (leeway allowed). An
// opaque token must be in the store with such claims. Neither may be
// revoked.
//
// Every error wraps one of ErrMalformed, ErrInvalidSignature, ErrExpired,
// ErrNotYetValid, ErrRevoked, ErrWrongIssuer, ErrWrongAudience,
// ErrUnknownKey, ErrUnsupportedAlgorithm or ErrWrongType, except storage
// failures while looking up an opaque token or reloading keys for an unknown
// kid; no error contains the token.
//
// Verify does no I/O for a JWT with a known kid; ctx serves the opaque
// lookup and the rate-limited key reload for an unknown kid.
//
// Unless [VerifierConfig.CacheSize] is negative, the claims of an accepted
// JWT are remembered and returned again, without verifying again, while the
// token is before its exp and not revoked (both checked on every call).
// Opaque tokens are looked up in the store on every call. The returned
// claims may be shared between calls and goroutines, and must not be
// modified.
func (v *Verifier) Verify(ctx context.Context, tok string) (*Claims, error) {
	if err := checkTokenSize(tok); err != nil {
		return nil, err
	}
	if v.cache == nil || v.opaque != nil && isOpaqueShape(v.prefix, tok) {
		// Opaque tokens are never cached: their record in the store is
		// the authority, and deleting it must bite at once.
		return v.verify(ctx, tok, v.revocations)
	}
	k := cacheKey(tok)
	now := v.now()
	if c := v.cache.lookup(&k, now, v.revocations); c != nil {
		return c, nil
	}
	c, err := v.verify(ctx, tok, v.revocations)
	if err != nil {
		return nil, err
	}
	// A token accepted within the leeway after its exp is not cached.
	if now.Before(c.ExpiresAt) {
		v.cache.add(&k, c)
	}
	return c, nil
}

// VerifyIgnoringRevocation verifies tok as [Verifier.Verify] does, every
// check included, except that it does not consult [VerifierConfig.Revocations]:
// a revoked token that is otherwise valid is accepted. It neither reads nor
// fills the cache, and its claims are the caller's own. It is meant for
// deciding who owns a token that may already be revoked, as RFC 7009
// revocation does; never use it to admit a request.
func (v *Verifier) VerifyIgnoringRevocation(ctx context.Context, tok string) (*Claims, error) {
	if err := checkTokenSize(tok); err != nil {
		return nil, err
	}
	return v.verify(ctx, tok, nil)
}

// checkTokenSize refuses an empty token or one longer than MaxTokenSize,
// before it is hashed or parsed.
func checkTokenSize(tok string) error {
	if tok == "" {
		return fmt.Errorf("%w: empty token", ErrMalformed)
	}
	if len(tok) > MaxTokenSize {
		return fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	return nil
}

// verify verifies tok without the cache, checking revocation against revs
// unless it is nil.
func (v *Verifier) verify(ctx context.Context, tok string, revs *Revocations) (*Claims, error) {
	if v.opaque != nil && isOpaqueShape(v.prefix, tok) {
		return v.verifyOpaque(ctx, tok, revs)
	}
	if v.keys == nil {
		return nil, fmt.Errorf("%w: not an opaque token", ErrMalformed)
	}
	return v.verifyJWT(ctx, tok, revs)
}

// header is what Verify reads from a JWS protected header.
type header struct {
	alg, kid, typ string
	hasAlg        bool
}

// refusedHeaders are header parameters that would let a token choose its
// own key (jku, jwk, x5u, x5c, x5t), change how it is processed (crit, b64,
// zip) or make it a JWE (enc). Their presence alone refuses the token.
var refusedHeaders = [...]string{"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64", "zip", "enc"}

func parseHeader(b []byte) (header, error) {
	var h header
	var seen [3]bool
	err := forEachMember(b, "header", func(name string, raw []byte) error {
		var dst *string
		var k int
		switch name {
		case "alg":
			dst, k = &h.alg, 0
		case "kid":
			dst, k = &h.kid, 1
		case "typ":
			dst, k = &h.typ, 2
		default:
			for _, r := range refusedHeaders {
				if name == r {
					return fmt.Errorf("%w: header parameter %q is not accepted", ErrMalformed, name)
				}
			}
			return nil // other parameters are ignored (RFC 7515 §4)
		}
		if seen[k] {
			return fmt.Errorf("%w: header parameter %q appears twice", ErrMalformed, name)
		}
		seen[k] = true
		if raw[0] != '"' {
			return fmt.Errorf("%w: header parameter %q is not a string", ErrMalformed, name)
		}
		s, err := jsonString(raw)
		*dst = s
		return err
	})
	h.hasAlg = seen[0]
	return h, err
}

func (v *Verifier) verifyJWT(ctx context.Context, tok string, revs *Revocations) (*Claims, error) {
	if strings.Count(tok, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS (three dot-separated parts)", ErrMalformed)
	}
	h64, rest, _ := strings.Cut(tok, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	if !canonicalBase64URL(h64) {
		return nil, fmt.Errorf("%w: header is empty or not canonical base64url", ErrMalformed)
	}
	hb, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	if !h.hasAlg {
		return nil, fmt.Errorf("%w: no alg header", ErrMalformed)
	}
	alg := Algorithm(h.alg)
	if !slices.Contains(v.algs, alg) {
		return nil, fmt.Errorf("%w: alg %s is not allowed", ErrUnsupportedAlgorithm, safeName(h.alg))
	}
	if !strings.EqualFold(h.typ, "at+jwt") && !strings.EqualFold(h.typ, "application/at+jwt") {
		return nil, fmt.Errorf("%w: typ is not at+jwt", ErrWrongType)
	}
	if h.kid == "" {
		return nil, fmt.Errorf("%w: no kid header", ErrUnknownKey)
	}
	key, err := v.keys.verificationKey(ctx, h.kid)
	if err != nil {
		return nil, err
	}
	if key.alg != alg {
		return nil, fmt.Errorf("%w: alg %s does not match key %s (%s)", ErrUnsupportedAlgorithm, safeName(h.alg), safeName(key.id), key.alg)
	}
	if !canonicalBase64URL(p64) || !canonicalBase64URL(s64) {
		return nil, fmt.Errorf("%w: payload or signature is empty or not canonical base64url", ErrMalformed)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid JWS", ErrMalformed)
	}
	payload, err := jws.Verify(key.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: kid %s", ErrInvalidSignature, safeName(key.id))
	}
	c, seen, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(c, seen, revs); err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Verifier) verifyOpaque(ctx context.Context, tok string, revs *Revocations) (*Claims, error) {
	sum := sha256.Sum256([]byte(tok))
	rec, err := v.opaque.OpaqueToken(ctx, sum[:])
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown opaque token", ErrInvalidSignature)
	}
	if err != nil {
		return nil, fmt.Errorf("keyturn/token: looking up opaque token: %w", err)
	}
	c, seen, err := decodeClaims(rec.Claims)
	if err != nil {
		return nil, err
	}
	if c.ClientID != rec.ClientID {
		return nil, fmt.Errorf("%w: stored client_id does not match the claims", ErrMalformed)
	}
	if err := v.checkClaims(c, seen, revs); err != nil {
		return nil, err
	}
	return c, nil
}

// checkClaims validates decoded claims at the verifier's now, and checks
// them against revs unless it is nil.
func (v *Verifier) checkClaims(c *Claims, seen uint16, revs *Revocations) error {
	if seen&hasIss == 0 || c.Issuer != v.issuer {
		return fmt.Errorf("%w: iss %s", ErrWrongIssuer, safeName(c.Issuer))
	}
	if !slices.Contains(c.Audience, v.audience) && !slices.ContainsFunc(v.others, func(a string) bool { return slices.Contains(c.Audience, a) }) {
		return fmt.Errorf("%w: aud does not name this audience", ErrWrongAudience)
	}
	const required = hasExp | hasIat | hasJti | hasSub | hasClientID
	if seen&required != required {
		for k, name := range registered {
			if bit := uint16(1) << k; required&bit != 0 && seen&bit == 0 {
				return fmt.Errorf("%w: claim %q is missing", ErrMalformed, name)
			}
		}
	}
	if c.Subject == "" || c.ID == "" || c.ClientID == "" {
		return fmt.Errorf("%w: sub, jti and client_id must not be empty", ErrMalformed)
	}
	now := v.now()
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt.Format(time.RFC3339))
	}
	if seen&hasNbf != 0 && now.Add(v.leeway).Before(c.NotBefore) {
		return fmt.Errorf("%w before %s (nbf)", ErrNotYetValid, c.NotBefore.Format(time.RFC3339))
	}
	if now.Add(v.leeway).Before(c.IssuedAt) {
		return fmt.Errorf("%w: iat %s is in the future", ErrNotYetValid, c.IssuedAt.Format(time.RFC3339))
	}
	if revs != nil && revs.Revoked(c) {
		return fmt.Errorf("%w: jti or client revoked", ErrRevoked)
	}
	return nil
}

// canonicalBase64URL reports whether s is non-empty, unpadded base64url
// whose unused trailing bits are zero, so that exactly one string encodes
// each byte sequence and no character of a token can change without
// changing what it decodes to.
func canonicalBase64URL(s string) bool {
	if len(s) == 0 || len(s)%4 == 1 {
		return false
	}
	var last byte
	for i := 0; i < len(s); i++ {
		v := b64urlValue[s[i]]
		if v == 0xff {
			return false
		}
		last = v
	}
	switch len(s) % 4 {
	case 2:
		return last&0x0f == 0
	case 3:
		return last&0x03 == 0
	}
	return true
}

var b64urlValue = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()
