// Package storage is the contract between keyturn and the place it keeps its
// state: API key records, signing keys, revocations and opaque tokens.
//
// Start with the role interfaces — [KeyStore], [SigningKeyStore],
// [RevocationStore], [OpaqueTokenStore] and [SettingStore] — and the record
// types they carry.
// Consumers accept the narrowest interface they need; no store is required to
// implement all of them, although the stores shipped with keyturn
// ([github.com/keyturn/keyturn/storage/memory] and
// [github.com/keyturn/keyturn/storage/sqlstore]) do. A host that keeps keyturn's
// state in its own database implements the interfaces it needs and runs
// [github.com/keyturn/keyturn/storage/storagetest.Run] from its tests.
//
// # Contract
//
// Every method takes a context first and honours its cancellation: a call
// with a done context returns an error wrapping ctx.Err() and has no effect.
// Identifiers are compared byte-wise (case-sensitive); a nil and an empty
// slice are the same value. A missing
// record is reported with an error for which errors.Is(err, [ErrNotFound])
// holds; a duplicate identifier on creation with [ErrExists]. Records are
// passed and returned by value: a store never keeps a reference to a slice the
// caller passed, nor hands out one it keeps, so callers may modify what they
// receive. Times are stored with at least microsecond precision and returned
// in UTC; the zero time means "not set".
//
// # Security
//
// Stores hold no secrets in the clear: a key record carries only a keyed hash
// of its secret, an opaque token only a hash of itself, and signing keys arrive
// already sealed when the host configured a key-encryption key. Stores never
// log record contents.
package storage

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound reports that a record does not exist.
var ErrNotFound = errors.New("keyturn/storage: not found")

// ErrExists reports that a record with the same identifier already exists.
var ErrExists = errors.New("keyturn/storage: already exists")

// Key is the stored form of an API key, which is also a client_id /
// client_secret pair: ID is the client_id.
type Key struct {
	// ID is the public key id, used for lookup. It is the client_id.
	ID string
	// Name is a human label chosen by the creator.
	Name string
	// Owner identifies who created the key (for example the subject of the
	// token used to create it). It is opaque to storage.
	Owner string
	// Scope is the key's allowed scope, as canonical scope tokens.
	Scope []string
	// SecretHash is a keyed hash of the key's secret; never the secret.
	SecretHash []byte
	// TokenLifetime is the lifetime of the access tokens minted from the key.
	TokenLifetime time.Duration
	// CreatedAt is when the key was created.
	CreatedAt time.Time
	// ExpiresAt is when the key stops authenticating; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked; zero means it is not revoked.
	RevokedAt time.Time
	// PreviousSecretHash is the keyed hash of the secret the key had before
	// its last rotation, which still authenticates until PreviousExpiresAt;
	// nil when there is none. Never a secret.
	PreviousSecretHash []byte
	// PreviousExpiresAt is when the previous secret stops authenticating;
	// zero when there is no previous secret.
	PreviousExpiresAt time.Time
	// LastUsedAt is when a token was last issued for the key, as recorded
	// by TouchKey, which may lag by the interval it is given; zero means
	// never.
	LastUsedAt time.Time
	// AuthMethod is how the client authenticates: "" (the default) with
	// its secret, or AuthPrivateKeyJWT with a JWT signed by one of the keys
	// in JWKS (RFC 7523). Opaque to storage.
	AuthMethod string
	// JWKS is the client's public JSON Web Key Set, as JSON, when it
	// authenticates with private_key_jwt; nil otherwise. Public keys only.
	JWKS []byte
	// Resources are the resource indicators (RFC 8707) the key may request
	// tokens for; empty means any of the server's.
	Resources []string
	// DPoPBound says the key must present a DPoP proof (RFC 9449) at the
	// token endpoint, so that every token it gets is sender-constrained.
	DPoPBound bool
}

// AuthPrivateKeyJWT is the Key.AuthMethod of a client that authenticates
// with a signed JWT (RFC 7523) instead of a secret.
const AuthPrivateKeyJWT = "private_key_jwt"

// KeyStore keeps API key records.
type KeyStore interface {
	// CreateKey stores a new key. It returns an error wrapping ErrExists if a
	// key with the same ID exists, revoked or not.
	CreateKey(ctx context.Context, k Key) error

	// Key returns the key with the given id, revoked or not, or an error
	// wrapping ErrNotFound.
	Key(ctx context.Context, id string) (Key, error)

	// Keys returns up to limit keys whose ID sorts after the given one (all
	// keys when after is empty), in ascending ID order, revoked keys
	// included. A limit of zero or less means no limit. Paging with the last
	// ID of each page as the next after visits every key exactly once.
	Keys(ctx context.Context, after string, limit int) ([]Key, error)

	// RevokeKey marks the key revoked at the given time, which must not be
	// zero. Revoking a revoked key succeeds and keeps the time of the first
	// call, even if a later call passes an earlier time. It returns an error
	// wrapping ErrNotFound if there is no such key.
	RevokeKey(ctx context.Context, id string, at time.Time) error

	// RotateKey replaces the key's secret hash, atomically and only if it is
	// still old. If the key is not revoked and its SecretHash is old
	// (compared byte-wise; nil and empty are the same), RotateKey sets
	// SecretHash to next, PreviousSecretHash to old and PreviousExpiresAt to
	// oldUntil, and reports true; a zero oldUntil drops the old hash instead
	// (PreviousSecretHash nil, PreviousExpiresAt zero). A previous hash kept
	// from an earlier rotation is replaced either way: a key has at most two
	// hashes. If the key holds another hash (a concurrent rotation came
	// first) or is revoked, RotateKey changes nothing and reports false and
	// no error, so that of two concurrent rotations from one hash exactly one
	// takes effect, and a key revoked while it was being rotated stays
	// revoked. Every other field is kept. It returns an error wrapping
	// ErrNotFound if there is no such key.
	RotateKey(ctx context.Context, id string, old, next []byte, oldUntil time.Time) (bool, error)

	// TouchKey records that the key was used at the given time: it sets
	// LastUsedAt to at if LastUsedAt is zero or earlier than at minus every,
	// and reports whether it did. Because the condition is checked and the
	// time written atomically, processes sharing a store write a key's
	// LastUsedAt about once per every however often they touch it, and it
	// never moves back. A missing key is left alone: false, and no error.
	TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error)
}

// KeyJWKSReplacer replaces the public keys of a private_key_jwt client, as
// rotating such a client does. A store without it cannot rotate those keys.
type KeyJWKSReplacer interface {
	// ReplaceKeyJWKS replaces the key's JWKS, atomically and only if it is
	// still old: if the key is not revoked and its JWKS is old (compared
	// byte-wise; nil and empty are the same), it sets JWKS to next and
	// reports true; otherwise it changes nothing and reports false and no
	// error, so that of two concurrent replacements of one set exactly one
	// takes effect. Every other field is kept. It returns an error wrapping
	// ErrNotFound if there is no such key.
	ReplaceKeyJWKS(ctx context.Context, id string, old, next []byte) (bool, error)
}

// SigningKey is a stored token-signing key pair. Its lifecycle is decided by
// the token package; storage keeps the times it is given.
type SigningKey struct {
	// ID is the key's kid.
	ID string
	// Algorithm is the JWS algorithm the key signs with, e.g. "EdDSA".
	Algorithm string
	// Private is the private key as the token package encodes it (PKCS #8,
	// possibly sealed with a host-supplied key-encryption key).
	Private []byte
	// Public is the public key in PKIX form.
	Public []byte
	// CreatedAt is when the key was generated and published.
	CreatedAt time.Time
	// NotBefore is when the key may start signing.
	NotBefore time.Time
	// NotAfter is when the key stops signing; zero means not scheduled.
	NotAfter time.Time
	// ExpiresAt is when the key is no longer needed to verify tokens and may
	// be deleted; zero means not scheduled.
	ExpiresAt time.Time
}

// SigningKeyStore keeps token-signing keys.
type SigningKeyStore interface {
	// AddSigningKey stores a new signing key. It returns an error wrapping
	// ErrExists if a key with the same ID exists.
	AddSigningKey(ctx context.Context, k SigningKey) error

	// SigningKeys returns every stored signing key, ordered by NotBefore
	// (a zero NotBefore first) and then ID.
	SigningKeys(ctx context.Context) ([]SigningKey, error)

	// RetireSigningKey sets the key's NotAfter and ExpiresAt. A time only
	// moves earlier: a value later than one already set is ignored, so
	// retiring twice keeps the earlier schedule, and a zero argument leaves
	// that time unchanged. It returns an error wrapping
	// ErrNotFound if there is no such key.
	RetireSigningKey(ctx context.Context, id string, notAfter, expiresAt time.Time) error

	// DeleteSigningKey removes the key. Deleting a missing key succeeds.
	DeleteSigningKey(ctx context.Context, id string) error
}

// RevocationKind says what a revocation refers to.
type RevocationKind uint8

const (
	// RevokedToken revokes one access token, identified by its jti.
	RevokedToken RevocationKind = 1
	// RevokedClient revokes every access token issued to a client (key) id
	// before the revocation time.
	RevokedClient RevocationKind = 2
)

// String returns "token" or "client".
func (k RevocationKind) String() string {
	switch k {
	case RevokedToken:
		return "token"
	case RevokedClient:
		return "client"
	}
	return "unknown"
}

// Revocation records that a token or every token of a client was revoked.
type Revocation struct {
	Kind RevocationKind
	// ID is the token's jti or the client id.
	ID string
	// RevokedAt is when the revocation took effect.
	RevokedAt time.Time
	// ExpiresAt is when no token covered by the revocation can still be
	// valid, after which the record may be swept; zero means keep forever.
	ExpiresAt time.Time
}

// RevocationStore keeps revocations.
type RevocationStore interface {
	// AddRevocation records a revocation; RevokedAt must not be zero. Adding
	// one that exists (same Kind and ID) succeeds, keeps the earlier
	// RevokedAt and the later ExpiresAt (zero counting as latest).
	AddRevocation(ctx context.Context, r Revocation) error

	// RevocationsSince returns up to limit revocations with RevokedAt at or
	// after since, ordered by RevokedAt, then Kind, then ID. A limit of zero
	// or less means no limit. It lets a process catch up with revocations
	// made by other processes.
	RevocationsSince(ctx context.Context, since time.Time, limit int) ([]Revocation, error)
}

// OpaqueToken is the stored form of an opaque (reference) access token.
type OpaqueToken struct {
	// Hash is a hash of the token string; never the token itself.
	Hash []byte
	// ClientID is the client the token was issued to.
	ClientID string
	// Claims is the token's claim set, encoded by the token package.
	Claims []byte
	// ExpiresAt is the token's expiry, after which it may be swept.
	ExpiresAt time.Time
}

// OpaqueTokenStore keeps opaque access tokens.
type OpaqueTokenStore interface {
	// AddOpaqueToken stores a token. It returns an error wrapping ErrExists
	// if a token with the same hash exists.
	AddOpaqueToken(ctx context.Context, t OpaqueToken) error

	// OpaqueToken returns the token with the given hash, expired or not, or
	// an error wrapping ErrNotFound.
	OpaqueToken(ctx context.Context, hash []byte) (OpaqueToken, error)
}

// ReplayStore remembers one-time values, such as the jti of a client
// assertion or of a DPoP proof, for as long as they could be replayed, so
// that each is accepted once across every process sharing the store.
type ReplayStore interface {
	// UseOnce records that the value id of the given kind is used until
	// expiresAt, and reports whether this is its first use: true if no
	// record of kind and id exists whose expiresAt is after now (an
	// expired record is replaced), false if one does, in which case
	// nothing changes. It is atomic: of concurrent calls for one kind and
	// id exactly one reports true. kind and id are 1 to MaxReplayID bytes
	// of UTF-8 without NUL; anything else is an error and records nothing.
	// Callers hash values that could be longer.
	UseOnce(ctx context.Context, kind, id string, now, expiresAt time.Time) (bool, error)
}

// MaxReplayID bounds the kind and id of a [ReplayStore] record, in bytes.
const MaxReplayID = 255

// FailureStore counts failed authentications per limit key, so that
// brute-force limits hold across processes sharing the store. Only failures
// are written; a successful authentication never touches it.
type FailureStore interface {
	// AddFailure adds one failure to the count kept for key in the window
	// that starts at window, and returns the count after adding. The count
	// may be swept after expiresAt. It is atomic: n concurrent calls for one
	// key and window return 1…n (in some order) from an empty count. key is
	// 1 to MaxReplayID bytes of UTF-8 without NUL; anything else is an error
	// and counts nothing.
	AddFailure(ctx context.Context, key string, window, expiresAt time.Time) (int64, error)
}

// Sweeper removes records that can no longer matter.
type Sweeper interface {
	// Sweep deletes opaque tokens and revocations whose ExpiresAt is set and
	// not after now, signing keys whose ExpiresAt is set and not after now,
	// and the ReplayStore and FailureStore records of a store that keeps
	// them whose expiresAt is not after now. API key records are never
	// swept. It returns how many records it
	// deleted. Sweeping twice is harmless.
	Sweep(ctx context.Context, now time.Time) (int, error)
}

// SettingStore keeps small named values that are fixed once for the life of
// a store, such as the fingerprint of the pepper its key hashes were made
// with, so that a process can check at start-up that it was configured as the
// processes before it were. Settings are never changed or deleted.
type SettingStore interface {
	// InitSetting stores value under name if nothing is stored there yet, and
	// returns what is stored under name after the call: value when the name
	// was free, and otherwise the earlier value, unchanged. It is atomic:
	// of concurrent calls for a free name exactly one stores its value, and
	// every call returns that value. A nil and an empty value are the same.
	// name is 1 to MaxSettingName bytes and value at most MaxSettingValue
	// bytes; anything longer is an error, and so is an empty name.
	InitSetting(ctx context.Context, name string, value []byte) ([]byte, error)

	// Setting returns the value stored under name, or an error wrapping
	// ErrNotFound if there is none.
	Setting(ctx context.Context, name string) ([]byte, error)
}

// Bounds of a setting, in bytes.
const (
	MaxSettingName  = 255
	MaxSettingValue = 4096
)

// SigningKeyUpdater replaces the private half of a stored signing key, as
// token.SealKeys does to seal keys stored before a key-encryption key was
// configured, or to move them under another.
type SigningKeyUpdater interface {
	// ReplaceSigningKeyPrivate sets the Private of the signing key id to next
	// if it holds old now (compared byte-wise; nil and empty are the same),
	// and reports whether it did. A key that holds something else is left
	// as it is and gives false and no error, so that of two concurrent
	// replacements of one value only one takes effect. Every other field of
	// the key is kept. It returns an error wrapping ErrNotFound if there is
	// no such key.
	ReplaceSigningKeyPrivate(ctx context.Context, id string, old, next []byte) (bool, error)
}
