package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
)

// Errors reported by [Manager].
var (
	// ErrInvalidKey reports a key that does not authenticate: an unknown key
	// id and a wrong secret are deliberately the same error.
	ErrInvalidKey = errors.New("keyturn/keys: invalid key")
	// ErrRevoked reports a key that authenticated but has been revoked.
	ErrRevoked = errors.New("keyturn/keys: key revoked")
	// ErrExpired reports a key that authenticated but is past its ExpiresAt.
	ErrExpired = errors.New("keyturn/keys: key expired")
	// ErrScopeExceedsCeiling reports a request to create a key with a scope
	// its creator does not hold. Hosts answer it as a 403 insufficient_scope.
	ErrScopeExceedsCeiling = errors.New("keyturn/keys: scope exceeds the creator's")
	// ErrInvalidParams reports invalid [CreateParams] (empty scope, token
	// lifetime out of range, expiry in the past, over-long name or one with
	// a control character), an over-long List cursor or a grace period of
	// [Manager.Rotate] out of range. Hosts answer it as a 400
	// invalid_request.
	ErrInvalidParams = errors.New("keyturn/keys: invalid parameters")
	// ErrConflict reports a rotation that lost a race with another rotation
	// of the same key: the other one took effect, this one changed nothing
	// and its secret does not authenticate. Hosts answer it as a 409; the
	// caller may read the key and rotate again.
	ErrConflict = errors.New("keyturn/keys: the key was rotated concurrently")
)

// Defaults and bounds of [Config].
const (
	DefaultTokenLifetime = 900 * time.Second
	DefaultMinLifetime   = 60 * time.Second
	DefaultMaxLifetime   = 86400 * time.Second

	// MaxNameLen and MaxOwnerLen bound CreateParams.Name and Owner, in bytes.
	MaxNameLen  = 200
	MaxOwnerLen = 256

	// DefaultListLimit is the page size of [Manager.List] for a limit of
	// zero or less; MaxListLimit is the largest page it returns.
	DefaultListLimit = 100
	MaxListLimit     = 1000

	maxCursorLen = 256

	// MaxGrace is the longest grace period of [Manager.Rotate].
	MaxGrace = 24 * time.Hour

	// TouchInterval is how stale a key's LastUsedAt may get: [Manager.Touch]
	// writes it only when it is older than this.
	TouchInterval = time.Minute
)

// Revoker is told when a key is revoked, so that access tokens already
// issued to it stop verifying. token.Revocations implements it.
type Revoker interface {
	RevokeClient(ctx context.Context, clientID string, at time.Time) error
}

// Config configures a [Manager]. Store and Prefix are required.
type Config struct {
	// Store keeps the key records. Required.
	Store storage.KeyStore
	// Hasher hashes key secrets. Nil means an unpeppered Hasher; a pepper is
	// recommended (see [Hasher]).
	Hasher *Hasher
	// Prefix is the prefix of every key, e.g. "ds_live". Required; see
	// [Generate] for what a prefix may hold.
	Prefix string
	// DefaultLifetime is the token lifetime of a key created without one;
	// zero means DefaultTokenLifetime (900 s).
	DefaultLifetime time.Duration
	// MinLifetime and MaxLifetime bound the token lifetime a key may have;
	// zero means DefaultMinLifetime (60 s) and DefaultMaxLifetime (86400 s).
	// Lifetimes are whole seconds.
	MinLifetime, MaxLifetime time.Duration
	// Revoker, when set, is told about every revocation. Without one, tokens
	// issued before a key was revoked stay valid until they expire; the key
	// itself mints no more either way.
	Revoker Revoker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of key ids and secrets; nil means crypto/rand.
	Rand io.Reader
	// JWKSReplacer replaces the keys of private_key_jwt clients
	// ([Manager.ReplaceJWKS]). Nil means Store, if it implements
	// storage.KeyJWKSReplacer; otherwise their keys cannot be replaced.
	JWKSReplacer storage.KeyJWKSReplacer
}

// Manager creates, authenticates, lists and revokes API keys kept in a
// [storage.KeyStore]. Storage only ever sees a key's hash, and callers only
// ever see [Record] values, which leave the hash out. A Manager is safe for
// concurrent use if its Store and Revoker are.
type Manager struct {
	store           storage.KeyStore
	hasher          *Hasher
	prefix          string
	def, minL, maxL time.Duration
	revoker         Revoker
	now             func() time.Time
	rand            io.Reader
	dummy           []byte // a hash no presented key matches
	// verify is hasher.verifyPair, a seam for tests.
	verify func(k Key, cur, prev []byte) (okCur, okPrev int)
	// jwks remembers parsed client key sets (clients.go).
	jwks jwksCache
	// replacer is Config.JWKSReplacer, or Store's (clients.go); nil if
	// neither.
	replacer storage.KeyJWKSReplacer
}

// NewManager validates c and returns a Manager.
func NewManager(c Config) (*Manager, error) {
	if c.Store == nil {
		return nil, errors.New("keyturn/keys: Config.Store is required")
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return nil, err
	}
	m := &Manager{
		store:   c.Store,
		hasher:  c.Hasher,
		prefix:  c.Prefix,
		def:     orDuration(c.DefaultLifetime, DefaultTokenLifetime),
		minL:    orDuration(c.MinLifetime, DefaultMinLifetime),
		maxL:    orDuration(c.MaxLifetime, DefaultMaxLifetime),
		revoker: c.Revoker,
		now:     c.Now,
		rand:    c.Rand,
	}
	if m.replacer = c.JWKSReplacer; m.replacer == nil {
		m.replacer, _ = c.Store.(storage.KeyJWKSReplacer)
	}
	if m.hasher == nil {
		m.hasher = new(Hasher)
	}
	if m.now == nil {
		m.now = time.Now
	}
	for _, d := range []time.Duration{m.def, m.minL, m.maxL} {
		if d <= 0 || d%time.Second != 0 {
			return nil, errors.New("keyturn/keys: lifetimes must be positive whole seconds")
		}
	}
	if m.minL > m.maxL || m.def < m.minL || m.def > m.maxL {
		return nil, errors.New("keyturn/keys: want MinLifetime <= DefaultLifetime <= MaxLifetime")
	}
	// The dummy hash is of a fixed, well-formed key that nobody holds: its
	// secret is all zeros, which Generate never draws in practice.
	var secret [SecretLen]byte
	for i := range secret {
		secret[i] = '0'
	}
	m.dummy = m.hasher.Hash(Key{prefix: m.prefix, id: "0000000000000000", secret: string(secret[:])})
	m.verify = m.hasher.verifyPair
	return m, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Prefix returns the prefix of the Manager's keys, for [Parse] and
// [FromPair].
func (m *Manager) Prefix() string { return m.prefix }

// Record is an API key's record as a [Manager] returns it: everything the
// store keeps about the key except the hash of its secret, which has no field
// here and so cannot be leaked by a caller.
type Record struct {
	// ID is the public key id, which is also the client_id.
	ID string
	// Name is the label given at creation.
	Name string
	// Owner identifies who created the key.
	Owner string
	// Scope is what the key may be granted, in canonical form.
	Scope scope.Set
	// TokenLifetime is the lifetime of the access tokens minted from the key.
	TokenLifetime time.Duration
	// CreatedAt is when the key was created.
	CreatedAt time.Time
	// ExpiresAt is when the key stops authenticating; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked; zero means it is not revoked.
	RevokedAt time.Time
	// LastUsedAt is when a token was last issued for the key, to within
	// TouchInterval (see [Manager.Touch]); zero means never, as far as the
	// store knows.
	LastUsedAt time.Time
	// AuthMethod is "" for a key that authenticates with its secret, or
	// storage.AuthPrivateKeyJWT for a client that has no secret and
	// authenticates with a JWT signed by a key of JWKS (see [ParseJWKS]).
	AuthMethod string
	// JWKS is the canonical public JWK set of a private_key_jwt client
	// (see [ParseJWKS]), JSON; empty otherwise.
	JWKS string
	// Resources are the resource indicators (RFC 8707) the key may get
	// tokens for; empty means any of the server's.
	Resources []string
	// DPoPBound says the key must present a DPoP proof (RFC 9449) at the
	// token endpoint, so that every token it gets is sender-constrained.
	DPoPBound bool
}

// recordOf turns a stored key into a Record. A stored scope that does not
// parse is an error wrapping [scope.ErrMalformed], never an empty scope.
func recordOf(k storage.Key) (Record, error) {
	sc, err := scope.New(k.Scope...)
	if err != nil {
		return Record{}, fmt.Errorf("keyturn/keys: stored scope of key %s: %w", k.ID, err)
	}
	return record(k, sc), nil
}

// record is the one place a stored key becomes a Record; sc is k.Scope,
// already parsed. The secret hash is left behind.
func record(k storage.Key, sc scope.Set) Record {
	return Record{
		ID:            k.ID,
		Name:          k.Name,
		Owner:         k.Owner,
		Scope:         sc,
		TokenLifetime: k.TokenLifetime,
		CreatedAt:     k.CreatedAt,
		ExpiresAt:     k.ExpiresAt,
		RevokedAt:     k.RevokedAt,
		LastUsedAt:    k.LastUsedAt,
		AuthMethod:    k.AuthMethod,
		JWKS:          string(k.JWKS),
		Resources:     slices.Clone(k.Resources),
		DPoPBound:     k.DPoPBound,
	}
}

// CreateParams describe a key to create.
type CreateParams struct {
	// Name is a label for people, at most MaxNameLen bytes of UTF-8. It
	// may not hold a control character (C0, DEL or C1: U+0000–U+001F,
	// U+007F–U+009F), a line or paragraph separator (U+2028, U+2029) or a
	// bidi embedding, override or isolate control (U+202A–U+202E,
	// U+2066–U+2069): names are shown in terminals, logs and pages, and
	// these could rewrite them or the text around them. Other text is kept
	// as given, right-to-left scripts, their marks (U+200E, U+200F, U+061C)
	// and joiners included.
	Name string
	// Owner identifies the creator, at most MaxOwnerLen bytes of UTF-8.
	Owner string
	// Scope is what the key may be granted. It must not be empty and must be
	// covered by the creator's ceiling.
	Scope scope.Set
	// TokenLifetime is the lifetime of the tokens minted from the key, whole
	// seconds within the Manager's bounds; zero means the default.
	TokenLifetime time.Duration
	// ExpiresAt is when the key stops authenticating; zero means never.
	ExpiresAt time.Time
	// JWKS, when set, makes the key a private_key_jwt client (RFC 7523)
	// with these public keys and no secret (see [ParseJWKS]).
	JWKS []byte
	// Resources, when set, are the only resource indicators (RFC 8707)
	// the key may get tokens for: absolute URIs without fragment, at most
	// MaxResources (see [CheckResource]). Whether they are the server's is
	// the caller's to check.
	Resources []string
	// DPoPBound makes the key DPoP-only: the token endpoint refuses it a
	// token unless the request carries a valid DPoP proof.
	DPoPBound bool
}

// validName reports whether name may be a key's name (see
// CreateParams.Name).
func validName(name string) bool {
	if !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		switch {
		case r < 0x20, 0x7f <= r && r <= 0x9f, // C0, DEL, C1
			r == 0x2028, r == 0x2029, // line and paragraph separators
			0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069: // bidi controls
			return false
		}
	}
	return true
}

// Create makes a new key and stores its record. ceiling is the scope the
// creator holds (for example the scope of the access token that called the
// admin API); a scope it does not cover is refused with
// [ErrScopeExceedsCeiling]. Invalid parameters are refused with
// [ErrInvalidParams]. Create returns the key, which must be shown to its
// owner now because only its hash is kept, and its record.
func (m *Manager) Create(ctx context.Context, p CreateParams, ceiling scope.Set) (Key, Record, error) {
	k, rec, commit, err := m.Prepare(p, ceiling)
	if err != nil {
		return Key{}, Record{}, err
	}
	if err := commit(ctx); err != nil {
		return Key{}, Record{}, err
	}
	return k, rec, nil
}

// Prepare checks p and ceiling and makes a new key as [Manager.Create]
// does, but stores nothing: the key authenticates only once commit has
// stored its record. Use it when a key must be shown before it may work: a
// server that prints its first admin key commits it only after the print
// succeeded, so that a key nobody saw is never left usable. The record's
// CreatedAt is the time of Prepare. A second commit fails with an error
// wrapping [storage.ErrExists]; a key never committed leaves no trace.
func (m *Manager) Prepare(p CreateParams, ceiling scope.Set) (Key, Record, func(context.Context) error, error) {
	if len(p.Name) > MaxNameLen || !validName(p.Name) {
		return Key{}, Record{}, nil, fmt.Errorf("%w: name must be at most %d bytes of UTF-8 without control characters",
			ErrInvalidParams, MaxNameLen)
	}
	if len(p.Owner) > MaxOwnerLen || !utf8.ValidString(p.Owner) {
		return Key{}, Record{}, nil, fmt.Errorf("%w: owner must be at most %d bytes of UTF-8", ErrInvalidParams, MaxOwnerLen)
	}
	if p.Scope.IsEmpty() {
		return Key{}, Record{}, nil, fmt.Errorf("%w: scope is empty", ErrInvalidParams)
	}
	if !ceiling.Covers(p.Scope) {
		return Key{}, Record{}, nil, ErrScopeExceedsCeiling
	}
	lifetime := orDuration(p.TokenLifetime, m.def)
	if lifetime < m.minL || lifetime > m.maxL || lifetime%time.Second != 0 {
		return Key{}, Record{}, nil, fmt.Errorf("%w: token lifetime must be whole seconds from %d to %d",
			ErrInvalidParams, m.minL/time.Second, m.maxL/time.Second)
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	var expires time.Time
	if !p.ExpiresAt.IsZero() {
		expires = p.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !expires.After(now) {
			return Key{}, Record{}, nil, fmt.Errorf("%w: expiry is not in the future", ErrInvalidParams)
		}
	}
	jwks, resources, err := clientParams(p)
	if err != nil {
		return Key{}, Record{}, nil, err
	}
	k, err := Generate(m.prefix, m.rand)
	if err != nil {
		return Key{}, Record{}, nil, err
	}
	rec := storage.Key{
		ID:            k.id,
		Name:          p.Name,
		Owner:         p.Owner,
		Scope:         p.Scope.Tokens(),
		SecretHash:    m.hasher.Hash(k),
		TokenLifetime: lifetime,
		CreatedAt:     now,
		ExpiresAt:     expires,
		Resources:     resources,
		DPoPBound:     p.DPoPBound,
	}
	if jwks != nil {
		// A private_key_jwt client: no secret at all (see clients.go).
		k.secret = ""
		rec.SecretHash, rec.AuthMethod, rec.JWKS = nil, storage.AuthPrivateKeyJWT, jwks
	}
	commit := func(ctx context.Context) error {
		if err := m.store.CreateKey(ctx, rec); err != nil {
			return fmt.Errorf("keyturn/keys: storing key %s: %w", rec.ID, err)
		}
		return nil
	}
	// p.Scope is what rec.Scope was made from: no need to parse it back.
	return k, record(rec, p.Scope), commit, nil
}

// Authenticate checks a presented key against its stored record and returns
// the record. An unknown key id and a wrong secret both give
// [ErrInvalidKey] after the same hashing work; a key with the right secret
// that has been revoked gives [ErrRevoked], one past its expiry
// [ErrExpired]. A key with another prefix, or the zero Key, is
// ErrInvalidKey without a lookup. Storage failures are returned wrapped, and
// so is a stored scope that does not parse (wrapping [scope.ErrMalformed]).
//
// The right secret is the key's current one or, during the grace period of
// a rotation ([Manager.Rotate]), the one before it. Both are compared every
// time, in constant time and with one hashing of the presented key, so
// that the work does not depend on which of them (or neither, or an unknown
// id) the key presents.
//
// Use [Parse] or [FromPair] first: they reject mistyped and made-up keys
// without touching storage.
func (m *Manager) Authenticate(ctx context.Context, k Key) (Record, error) {
	if k.prefix != m.prefix || len(k.id) != IDLen || len(k.secret) != SecretLen {
		return Record{}, ErrInvalidKey
	}
	rec, err := m.store.Key(ctx, k.id)
	if errors.Is(err, storage.ErrNotFound) {
		m.verify(k, m.dummy, m.dummy)
		return Record{}, ErrInvalidKey
	}
	if err != nil {
		return Record{}, fmt.Errorf("keyturn/keys: looking up key %s: %w", k.id, err)
	}
	now := m.now()
	prev, live := rec.PreviousSecretHash, 0
	if len(prev) == 0 {
		prev = m.dummy // the same work as a key in its grace period
	} else if now.Before(rec.PreviousExpiresAt) {
		live = 1
	}
	cur := rec.SecretHash
	if rec.AuthMethod != "" {
		// A client without a secret (private_key_jwt): nothing matches,
		// after the same work (TOK-27).
		cur, live = m.dummy, 0
	}
	okCur, okPrev := m.verify(k, cur, prev)
	if okCur|okPrev&live != 1 || rec.ID != k.id || rec.AuthMethod != "" {
		return Record{}, ErrInvalidKey
	}
	if !rec.RevokedAt.IsZero() {
		return Record{}, ErrRevoked
	}
	if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
		return Record{}, ErrExpired
	}
	return recordOf(rec)
}

// Rotate gives the key with the given id a new secret and returns the new
// key, to be shown to its owner now, and its record. The key keeps its id,
// scope, owner and everything else; access tokens already issued from it
// stay valid. The old secret keeps authenticating for grace (0 to
// [MaxGrace]; out of range is [ErrInvalidParams]) and no longer: with a
// grace of zero it stops at once. A key has at most two secrets: rotating
// again during a grace period replaces the old secret with the current one,
// whose grace then starts, and the older one stops at once.
//
// A revoked key gives [ErrRevoked] and an expired one [ErrExpired], and
// neither is changed. A missing key, or an id that cannot be a key id, is
// an error wrapping [storage.ErrNotFound]. Rotation is a compare-and-swap
// on the stored hash ([storage.KeyStore.RotateKey]): of two rotations of
// one key at once, one takes effect and the other gives [ErrConflict] and
// changes nothing, so that no caller is handed a secret that was silently
// replaced; a revocation made during the rotation wins (ErrRevoked).
func (m *Manager) Rotate(ctx context.Context, id string, grace time.Duration) (Key, Record, error) {
	if grace < 0 || grace > MaxGrace {
		return Key{}, Record{}, fmt.Errorf("%w: grace must be from 0 to %s", ErrInvalidParams, MaxGrace)
	}
	if len(id) != IDLen || !isBase62(id) {
		return Key{}, Record{}, fmt.Errorf("keyturn/keys: no such key: %w", storage.ErrNotFound)
	}
	rec, err := m.store.Key(ctx, id)
	if err != nil {
		return Key{}, Record{}, fmt.Errorf("keyturn/keys: rotating key %s: %w", id, err)
	}
	now := m.now()
	switch {
	case !rec.RevokedAt.IsZero():
		return Key{}, Record{}, ErrRevoked
	case !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		return Key{}, Record{}, ErrExpired
	case rec.AuthMethod != "":
		return Key{}, Record{}, fmt.Errorf("%w: a private_key_jwt client has no secret; replace its keys with ReplaceJWKS", ErrInvalidParams)
	}
	k, err := generateSecret(m.prefix, id, m.rand)
	if err != nil {
		return Key{}, Record{}, err
	}
	var until time.Time
	if grace > 0 {
		until = now.Add(grace).UTC().Truncate(time.Microsecond)
	}
	hash := m.hasher.Hash(k)
	ok, err := m.store.RotateKey(ctx, id, rec.SecretHash, hash, until)
	if err != nil {
		return Key{}, Record{}, fmt.Errorf("keyturn/keys: rotating key %s: %w", id, err)
	}
	if !ok {
		// Revoked, or rotated by someone else, since it was read.
		if cur, err := m.store.Key(ctx, id); err == nil && !cur.RevokedAt.IsZero() {
			return Key{}, Record{}, ErrRevoked
		}
		return Key{}, Record{}, ErrConflict
	}
	rec.PreviousSecretHash, rec.PreviousExpiresAt = nil, until
	if grace > 0 {
		rec.PreviousSecretHash = rec.SecretHash
	}
	rec.SecretHash = hash
	out, err := recordOf(rec)
	if err != nil {
		return Key{}, Record{}, err
	}
	return k, out, nil
}

// Touch records that a token was just issued for the key id, as its
// LastUsedAt, and reports whether it wrote to the store: it writes only when
// the stored LastUsedAt is older than TouchInterval
// ([storage.KeyStore.TouchKey]), so that any number of processes sharing
// the store write a key's LastUsedAt about once per TouchInterval. Each call
// still costs a conditional write; callers on a hot path keep a throttle of
// their own in front of it, as keyturn.Server does. A missing key is not an
// error, and neither is an id that cannot be a key id (nothing is asked of
// the store then).
func (m *Manager) Touch(ctx context.Context, id string) (bool, error) {
	if len(id) != IDLen || !isBase62(id) {
		return false, nil // no key has this id
	}
	at := m.now().UTC().Truncate(time.Microsecond)
	ok, err := m.store.TouchKey(ctx, id, at, TouchInterval)
	if err != nil {
		return false, fmt.Errorf("keyturn/keys: recording the use of key %s: %w", id, err)
	}
	return ok, nil
}

// Get returns the record of the key with the given id. A missing key, or an
// id that cannot be a key id, is an error wrapping [storage.ErrNotFound]; a
// stored scope that does not parse, one wrapping [scope.ErrMalformed].
func (m *Manager) Get(ctx context.Context, id string) (Record, error) {
	if len(id) != IDLen || !isBase62(id) {
		return Record{}, fmt.Errorf("keyturn/keys: no such key: %w", storage.ErrNotFound)
	}
	rec, err := m.store.Key(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("keyturn/keys: getting key %s: %w", id, err)
	}
	return recordOf(rec)
}

// List returns up to limit key records whose id sorts after the given one
// (from the start when after is empty), in ascending id order, revoked keys
// included. A limit of zero or less means DefaultListLimit; more than
// MaxListLimit means MaxListLimit. Pass the last id of a page as the next
// after. If any record of the page has a stored scope that does not parse,
// List returns no records and an error wrapping [scope.ErrMalformed] that
// names the key.
func (m *Manager) List(ctx context.Context, after string, limit int) ([]Record, error) {
	if len(after) > maxCursorLen {
		return nil, fmt.Errorf("%w: cursor too long", ErrInvalidParams)
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	recs, err := m.store.Keys(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("keyturn/keys: listing keys: %w", err)
	}
	out := make([]Record, len(recs))
	for i, rec := range recs {
		if out[i], err = recordOf(rec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Revoke revokes the key with the given id: it stops authenticating at once.
// Revoking a revoked key succeeds (the first revocation time is kept). A
// missing key is an error wrapping [storage.ErrNotFound].
//
// With a [Revoker] configured, Revoke then tells it, every time, so that a
// notification that failed can be retried by revoking again; its error is
// returned wrapped, after the key itself has been revoked. Without one,
// access tokens already issued from the key stay valid until they expire.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if len(id) != IDLen || !isBase62(id) {
		return fmt.Errorf("keyturn/keys: no such key: %w", storage.ErrNotFound)
	}
	at := m.now().UTC().Truncate(time.Microsecond)
	if err := m.store.RevokeKey(ctx, id, at); err != nil {
		return fmt.Errorf("keyturn/keys: revoking key %s: %w", id, err)
	}
	if m.revoker != nil {
		if err := m.revoker.RevokeClient(ctx, id, at); err != nil {
			return fmt.Errorf("keyturn/keys: key %s revoked, but revoking its tokens failed: %w", id, err)
		}
	}
	return nil
}

// maxCascadePasses bounds how many times RevokeCascade lists every key.
const maxCascadePasses = 4

// RevokeCascade revokes the key with the given id and every key it created,
// transitively: the keys whose Owner is its id, the keys whose Owner is one
// of theirs, and so on (an Owner naming a user is not a key and starts no
// branch). It returns the ids it revoked, the given one first and every
// key after the key that created it. It is meant for cleaning up after a
// key was stolen: whoever may revoke a key may revoke what it created.
//
// Each key is revoked as by [Manager.Revoke], the [Revoker] told every
// time. A key that fails to be revoked does not stop the others; the
// error then reports how many failed, and the returned ids leave them out.
// RevokeCascade never returns a nil error while a key it found is left
// unrevoked, and running it again finishes a job that failed part-way:
// revoking a revoked key succeeds (and tells the Revoker again).
//
// The store keeps no index by owner, so each pass lists every key once
// (holding the ids of the keys that have a key as Owner in memory) and
// revokes the descendants not yet revoked, parents first. Passes repeat
// until one finds no new descendant, so that a key made by a descendant
// while the cascade ran is found too; after maxCascadePasses passes that
// all found new keys, RevokeCascade gives up with an error. Cycles of
// owners, which Create cannot make but a store may hold, end.
//
// A missing key is an error wrapping [storage.ErrNotFound], and nothing is
// revoked.
func (m *Manager) RevokeCascade(ctx context.Context, id string) ([]string, error) {
	var (
		revoked  []string
		failed   int
		firstErr error
	)
	revoke := func(id string) {
		if err := m.Revoke(ctx, id); err != nil {
			if failed++; firstErr == nil {
				firstErr = err
			}
			return
		}
		revoked = append(revoked, id)
	}
	result := func(err error) ([]string, error) {
		if failed > 0 {
			err = errors.Join(fmt.Errorf("keyturn/keys: cascade from key %s: %d keys not revoked: %w", id, failed, firstErr), err)
		}
		return revoked, err
	}
	if err := m.Revoke(ctx, id); errors.Is(err, storage.ErrNotFound) {
		return nil, err
	} else if err != nil {
		failed, firstErr = 1, err
	} else {
		revoked = append(revoked, id)
	}
	done := map[string]bool{id: true} // every key this call tried to revoke
	for pass := 1; ; pass++ {
		children, err := m.children(ctx)
		if err != nil {
			return result(fmt.Errorf("keyturn/keys: cascade from key %s: %w", id, err))
		}
		fresh := 0
		seen := map[string]bool{id: true}
		for queue := []string{id}; len(queue) > 0; queue = queue[1:] {
			for _, c := range children[queue[0]] {
				if seen[c] {
					continue
				}
				seen[c] = true
				queue = append(queue, c)
				if !done[c] {
					done[c] = true
					fresh++
					revoke(c)
				}
			}
		}
		if fresh == 0 {
			return result(nil)
		}
		if pass == maxCascadePasses {
			return result(fmt.Errorf("keyturn/keys: cascade from key %s: keys were still being created after %d passes", id, pass))
		}
	}
}

// children lists every key and returns, for each key id that is some
// key's Owner, the ids of the keys it owns.
func (m *Manager) children(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	for after := ""; ; {
		page, err := m.store.Keys(ctx, after, MaxListLimit)
		if err != nil {
			return nil, fmt.Errorf("listing keys: %w", err)
		}
		for _, k := range page {
			if k.ID <= after {
				return nil, errors.New("listing keys: the store returned keys out of order")
			}
			after = k.ID
			if len(k.Owner) == IDLen && isBase62(k.Owner) {
				out[k.Owner] = append(out[k.Owner], k.ID)
			}
		}
		if len(page) < MaxListLimit {
			return out, nil
		}
	}
}
