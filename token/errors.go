package token

import "errors"

// Sentinel errors. Every error returned by [Verifier.Verify] wraps exactly one
// of the first ten, so that callers can branch with errors.Is; the wrapping
// adds context (which claim, which kid) but never the token itself.
var (
	// ErrMalformed reports a token that is not a well-formed access token:
	// too long, not three base64url segments, bad JSON, a header parameter
	// that is refused (jku, x5u, jwk, x5c, x5t, crit...), or a required claim
	// missing or of the wrong type.
	ErrMalformed = errors.New("keyturn/token: malformed token")

	// ErrInvalidSignature reports a signature that does not verify with the
	// key named by the token's kid. For an opaque token it means the token is
	// not one the store knows.
	ErrInvalidSignature = errors.New("keyturn/token: invalid signature")

	// ErrExpired reports a token whose exp has passed (beyond the leeway).
	ErrExpired = errors.New("keyturn/token: token expired")

	// ErrNotYetValid reports a token whose nbf or iat lies in the future
	// (beyond the leeway).
	ErrNotYetValid = errors.New("keyturn/token: token not yet valid")

	// ErrRevoked reports a token whose jti was revoked, or whose client was
	// revoked at or after the token was issued.
	ErrRevoked = errors.New("keyturn/token: token revoked")

	// ErrWrongIssuer reports an iss claim that is missing or differs from the
	// configured issuer.
	ErrWrongIssuer = errors.New("keyturn/token: wrong issuer")

	// ErrWrongAudience reports an aud claim that is missing or does not name
	// the configured audience.
	ErrWrongAudience = errors.New("keyturn/token: wrong audience")

	// ErrUnknownKey reports a token without a kid, or whose kid is not in the
	// key set.
	ErrUnknownKey = errors.New("keyturn/token: unknown signing key")

	// ErrUnsupportedAlgorithm reports an alg outside the verifier's allow-list
	// ("none", HS256...) or different from the algorithm of the kid's key.
	ErrUnsupportedAlgorithm = errors.New("keyturn/token: unsupported algorithm")

	// ErrWrongType reports a typ header that is missing or is not at+jwt
	// (RFC 9068 §4).
	ErrWrongType = errors.New("keyturn/token: wrong token type")

	// ErrNoSigningKey reports that the key set has no key able to sign now:
	// it is verify-only, or every key is retired and none was generated.
	ErrNoSigningKey = errors.New("keyturn/token: no active signing key")

	// ErrUnseal reports a stored private key that cannot be opened: the
	// key-encryption key is wrong or missing, the record was altered, or a
	// key-encryption key is configured but the record is not sealed.
	ErrUnseal = errors.New("keyturn/token: cannot unseal signing key")
)
