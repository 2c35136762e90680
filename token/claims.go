package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/keyturn/keyturn/internal/jsonenc"
	"github.com/keyturn/keyturn/internal/jsonscan"
	"github.com/keyturn/keyturn/scope"
)

// Claims is the claim set of an access token (RFC 9068 §2.2): what
// [Issuer.Mint] put in and what [Verifier.Verify] returns. Times are whole
// seconds, in UTC, as the token carries them.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub
	Audience  []string  // aud
	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	ID        string    // jti
	ClientID  string    // client_id
	Scope     scope.Set // scope, canonical; the empty set when absent

	// JKT is the cnf.jkt claim (RFC 9449 §6.1): the RFC 7638 thumbprint of
	// the DPoP key the token is bound to, base64url. Empty for a bearer
	// token. A bound token must be admitted only with a DPoP proof made
	// with that key (see package token/dpop; keyturn's middleware does
	// this), never as a bearer token.
	JKT string

	// Extra holds the host's own claims, as added by [IssuerConfig.Extra].
	// After verification the values are what encoding/json decodes into an
	// any (float64 for numbers, map[string]any for objects...). Extra never
	// holds a registered claim: the names above are refused when minting and
	// decoded into their fields when verifying.
	Extra map[string]any
}

// registered lists the claim names keyturn sets itself; [IssuerConfig.Extra]
// cannot use them.
var registered = [...]string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "cnf"}

func isRegistered(name string) bool {
	for _, r := range registered {
		if name == r {
			return true
		}
	}
	return false
}

// clone returns a copy of c that shares nothing mutable with it, except the
// values inside Extra.
func (c *Claims) clone() *Claims {
	d := *c
	d.Audience = append([]string(nil), c.Audience...)
	if c.Extra != nil {
		d.Extra = make(map[string]any, len(c.Extra))
		for k, v := range c.Extra {
			d.Extra[k] = v
		}
	}
	return &d
}

type contextKey struct{}

// NewContext returns a copy of ctx that carries c. Middleware uses it to hand
// verified claims to the handlers it wraps.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, contextKey{}, c)
}

// FromContext returns the claims stored in ctx by [NewContext], if any.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(contextKey{}).(*Claims)
	return c, ok && c != nil
}

// extraClaim is a host claim ready to encode: its name and its value already
// encoded as JSON by encoding/json.
type extraClaim struct {
	name  string
	value []byte
}

// appendClaims appends the JSON object for c, registered claims first in a
// fixed order, then extra in the order given. It uses no reflection: string
// claims go through appendJSONString, times through strconv.
func appendClaims(dst []byte, c *Claims, extra []extraClaim) []byte {
	dst = append(dst, `{"iss":`...)
	dst = jsonenc.AppendString(dst, c.Issuer)
	dst = append(dst, `,"sub":`...)
	dst = jsonenc.AppendString(dst, c.Subject)
	dst = append(dst, `,"aud":`...)
	dst = jsonenc.AppendStringOrArray(dst, c.Audience)
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, c.ExpiresAt.Unix(), 10)
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, c.IssuedAt.Unix(), 10)
	dst = append(dst, `,"nbf":`...)
	dst = strconv.AppendInt(dst, c.NotBefore.Unix(), 10)
	dst = append(dst, `,"jti":`...)
	dst = jsonenc.AppendString(dst, c.ID)
	dst = append(dst, `,"client_id":`...)
	dst = jsonenc.AppendString(dst, c.ClientID)
	if !c.Scope.IsEmpty() {
		dst = append(dst, `,"scope":`...)
		dst = jsonenc.AppendString(dst, c.Scope.String())
	}
	if c.JKT != "" {
		dst = append(dst, `,"cnf":{"jkt":`...)
		dst = jsonenc.AppendString(dst, c.JKT)
		dst = append(dst, '}')
	}
	for _, e := range extra {
		dst = append(dst, ',')
		dst = jsonenc.AppendString(dst, e.name)
		dst = append(dst, ':')
		dst = append(dst, e.value...)
	}
	return append(dst, '}')
}

// Bounds on decoded claims, on top of the bound on the whole token.
const (
	maxAudiences = 64
	// maxNumericDate is 9999-12-31T23:59:59Z.
	maxNumericDate = 253402300799
)

// Presence bits for the registered claims, in the order of registered.
const (
	hasIss uint16 = 1 << iota
	hasSub
	hasAud
	hasExp
	hasIat
	hasNbf
	hasJti
	hasClientID
	hasScope
	hasCnf
)

// decodeClaims decodes a JWT claim set strictly: the payload must be one JSON
// object of valid UTF-8; member names are compared exactly (after
// unescaping), and a name that appears twice is refused, so no two JSON
// parsers can read different claims from the same bytes; registered claims
// must have their RFC 7519 / RFC 9068 types. It returns which registered
// claims were present. Errors wrap ErrMalformed and name at most the claim.
func decodeClaims(b []byte) (*Claims, uint16, error) {
	c := new(Claims)
	var seen uint16
	err := forEachMember(b, "claim set", func(name string, raw []byte) error {
		return c.setClaim(name, raw, &seen)
	})
	if err != nil {
		return nil, 0, err
	}
	return c, seen, nil
}

// forEachMember calls f with the name (unescaped) and raw value of every
// member of the JSON object b, in order. b must be one JSON object of valid
// UTF-8; what names the errors.
func forEachMember(b []byte, what string, f func(name string, raw []byte) error) error {
	err := jsonscan.Members(b, f)
	switch {
	case errors.Is(err, jsonscan.ErrInvalid):
		return fmt.Errorf("%w: %s is not valid JSON", ErrMalformed, what)
	case errors.Is(err, jsonscan.ErrNotObject):
		return fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, what)
	}
	return err
}

// setClaim decodes one member of the claim set into c.
func (c *Claims) setClaim(name string, raw []byte, seen *uint16) error {
	bit := uint16(0)
	for k, r := range registered {
		if name == r {
			bit = 1 << k
			break
		}
	}
	if bit == 0 {
		if _, dup := c.Extra[name]; dup {
			return fmt.Errorf("%w: claim %s appears twice", ErrMalformed, safeName(name))
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%w: claim %s", ErrMalformed, safeName(name))
		}
		if c.Extra == nil {
			c.Extra = make(map[string]any)
		}
		c.Extra[name] = v
		return nil
	}
	if *seen&bit != 0 {
		return fmt.Errorf("%w: claim %q appears twice", ErrMalformed, name)
	}
	*seen |= bit
	var err error
	switch bit {
	case hasIss:
		c.Issuer, err = claimString(name, raw)
	case hasSub:
		c.Subject, err = claimString(name, raw)
	case hasJti:
		c.ID, err = claimString(name, raw)
	case hasClientID:
		c.ClientID, err = claimString(name, raw)
	case hasAud:
		c.Audience, err = claimAudience(raw)
	case hasExp:
		c.ExpiresAt, err = numericDate(name, raw)
	case hasIat:
		c.IssuedAt, err = numericDate(name, raw)
	case hasNbf:
		c.NotBefore, err = numericDate(name, raw)
	case hasScope:
		var s string
		if s, err = claimString(name, raw); err == nil {
			if c.Scope, err = scope.Parse(s); err != nil {
				err = fmt.Errorf("%w: claim \"scope\": %w", ErrMalformed, err)
			}
		}
	case hasCnf:
		c.JKT, err = claimCnf(raw)
	}
	return err
}

// claimCnf decodes cnf (RFC 7800): an object holding exactly one member,
// jkt (RFC 9449 §6.1), a base64url SHA-256 thumbprint. A confirmation
// method keyturn cannot check (x5t#S256...) makes the token malformed,
// so that a bound token is never taken for a bearer one.
func claimCnf(raw []byte) (string, error) {
	if raw[0] != '{' {
		return "", fmt.Errorf("%w: claim \"cnf\" is not an object", ErrMalformed)
	}
	var jkt string
	seen := false
	err := forEachMember(raw, "claim \"cnf\"", func(name string, v []byte) error {
		if name != "jkt" || seen {
			return fmt.Errorf("%w: claim \"cnf\" holds another member than jkt", ErrMalformed)
		}
		seen = true
		s, err := claimString("cnf.jkt", v)
		jkt = s
		return err
	})
	if err != nil {
		return "", err
	}
	if !validJKT(jkt) {
		return "", fmt.Errorf("%w: claim \"cnf\" has no well-formed jkt", ErrMalformed)
	}
	return jkt, nil
}

// validJKT reports whether s has the shape of a SHA-256 JWK thumbprint:
// 43 characters of canonical base64url.
func validJKT(s string) bool { return len(s) == 43 && canonicalBase64URL(s) }

// claimString decodes a registered string claim.
func claimString(name string, raw []byte) (string, error) {
	if raw[0] != '"' {
		return "", fmt.Errorf("%w: claim %q is not a string", ErrMalformed, name)
	}
	return jsonString(raw)
}

// claimAudience decodes aud: one string or an array of strings (RFC 7519
// §4.1.3), at most maxAudiences of them.
func claimAudience(raw []byte) ([]string, error) {
	switch raw[0] {
	case '"':
		s, err := jsonString(raw)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	case '[':
		var aud []string
		i := jsonscan.SkipSpace(raw, 1)
		if raw[i] == ']' {
			return nil, nil
		}
		for {
			if raw[i] != '"' {
				return nil, fmt.Errorf("%w: claim \"aud\" holds a non-string", ErrMalformed)
			}
			if len(aud) == maxAudiences {
				return nil, fmt.Errorf("%w: claim \"aud\" has more than %d values", ErrMalformed, maxAudiences)
			}
			end := jsonscan.SkipString(raw, i)
			s, err := jsonString(raw[i:end])
			if err != nil {
				return nil, err
			}
			aud = append(aud, s)
			i = jsonscan.SkipSpace(raw, end)
			if raw[i] == ']' {
				return aud, nil
			}
			i = jsonscan.SkipSpace(raw, i+1)
		}
	}
	return nil, fmt.Errorf("%w: claim \"aud\" is neither a string nor an array", ErrMalformed)
}

// numericDate decodes a NumericDate (RFC 7519 §2): a JSON number of seconds
// since the epoch, possibly fractional, between 0 and the end of year 9999.
func numericDate(name string, raw []byte) (time.Time, error) {
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, fmt.Errorf("%w: claim %q is not a number", ErrMalformed, name)
	}
	integral := true
	for _, ch := range raw {
		if ch == '.' || ch == 'e' || ch == 'E' {
			integral = false
			break
		}
	}
	if integral {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 0 || n > maxNumericDate {
			return time.Time{}, fmt.Errorf("%w: claim %q is out of range", ErrMalformed, name)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%w: claim %q is out of range", ErrMalformed, name)
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC(), nil
}

// jsonString decodes the JSON string literal raw (quotes included), which
// must come from valid JSON.
func jsonString(raw []byte) (string, error) {
	s, ok := jsonscan.String(raw)
	if !ok {
		return "", fmt.Errorf("%w: bad JSON string", ErrMalformed)
	}
	return s, nil
}

// safeName quotes a claim or header name for an error message, cut to a
// short excerpt: names are not secret, but they are attacker-chosen.
func safeName(name string) string {
	const max = 32
	if len(name) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		return strconv.Quote(name[:cut]) + "..."
	}
	return strconv.Quote(name)
}
