package token

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/internal/jsonenc"
	"github.com/keyturn/keyturn/storage"
)

// Lifetimes and key-rotation bounds.
const (
	// MaxLifetime is the longest access-token lifetime keyturn issues (86400
	// s). Signing keys are kept for verification this long, plus
	// MaxLeeway, after they stop signing.
	MaxLifetime = 24 * time.Hour

	// MaxLeeway is the largest clock-skew allowance a [Verifier] accepts.
	MaxLeeway = 5 * time.Minute

	// DefaultRotationPeriod is how long a key signs before the next one takes
	// over, when [KeySetConfig.RotationPeriod] is zero.
	DefaultRotationPeriod = 30 * 24 * time.Hour

	// DefaultPublishAhead is how long a new key is published (in the JWKS and
	// to verifiers) before it signs, when [KeySetConfig.PublishAhead] is zero.
	DefaultPublishAhead = 24 * time.Hour

	// MinPublishAhead is the shortest PublishAhead a KeySet accepts: twice
	// the JWKS document's max-age, so that a relying party's cached copy
	// always holds a key before its first token.
	MinPublishAhead = 2 * jwksMaxAge * time.Second

	// retention is how long a key stays published after it stops signing:
	// every token it signed has expired by then, leeway included.
	retention = MaxLifetime + MaxLeeway

	// unknownKidReload is the least time between two reloads from storage
	// triggered by a token with an unknown kid. Other reloads do not count
	// against it, so the first token signed by a key another process has
	// just added (processes started at once each generating a first key,
	// say) finds it at once, whenever this process last loaded; tokens
	// with made-up kids cost at most one read of the signing keys per
	// interval.
	unknownKidReload = time.Second
)

// KeySetConfig configures a [KeySet]. Store is required; every other zero
// value has the documented default.
type KeySetConfig struct {
	// Store keeps the keys, so that a restarted process and every other
	// process over the same store sign and verify with the same set.
	Store storage.SigningKeyStore

	// Algorithm is the algorithm of the keys the set generates. Zero means
	// DefaultAlgorithm. Keys already stored keep their own algorithm.
	Algorithm Algorithm

	// KEK, when set, is a 32-byte key-encryption key: private keys are stored
	// sealed with AES-256-GCM under it and unsealed when loaded, and a stored
	// key that is not sealed is refused. Nil means private keys are stored
	// as plain PKCS #8. See the package documentation for the record format.
	KEK []byte

	// RotationPeriod is how long each key signs before the next one takes
	// over. Zero means DefaultRotationPeriod. It must exceed PublishAhead.
	RotationPeriod time.Duration

	// PublishAhead is how long a new key is published before it signs. Zero
	// means DefaultPublishAhead; it must be at least MinPublishAhead, and
	// longer than the interval at which every process calls Refresh.
	PublishAhead time.Duration

	// VerifyOnly makes the set read public keys only: it never generates,
	// rotates, writes or unseals anything, and cannot sign. Use it in a
	// resource server that shares the store but not the KEK.
	VerifyOnly bool

	// Generate makes a new private key for Algorithm. It must return an
	// ed25519.PrivateKey, *ecdsa.PrivateKey or *rsa.PrivateKey (the key is
	// stored as PKCS #8). Nil means GenerateKey(alg, Rand).
	Generate func(alg Algorithm) (crypto.Signer, error)

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// Rand is the source of the AES-GCM nonces and of Ed25519 key seeds.
	// Nil means crypto/rand.
	Rand io.Reader
}

// KeySet is the set of token-signing keys: one active key that signs, the
// next key (published before it signs) and older keys kept for verification
// until every token they signed has expired. It lives in a
// [storage.SigningKeyStore] and keeps an in-memory snapshot, so signing and
// looking up a kid do no I/O.
//
// Rotation is driven by [KeySet.Refresh], which [KeySet.Run] calls
// periodically: PublishAhead before the active key's RotationPeriod ends it
// generates the next key and schedules the active key to stop signing when
// the next one starts; a key is deleted once retention (MaxLifetime +
// MaxLeeway) has passed after it stopped signing. No token is ever refused
// because of a rotation.
//
// A KeySet is safe for concurrent use.
type KeySet struct {
	store        storage.SigningKeyStore
	alg          Algorithm
	kek          []byte
	rotation     time.Duration
	publishAhead time.Duration
	verifyOnly   bool
	generate     func(Algorithm) (crypto.Signer, error)
	nowFunc      func() time.Time
	rand         io.Reader

	snap       atomic.Pointer[keySnapshot]
	nextReload atomic.Int64 // unix nanoseconds before which an unknown kid triggers no other reload

	mu    sync.Mutex // serialises loading and maintenance
	cache map[string]*parsedKey
}

// keySnapshot is an immutable view of the set.
type keySnapshot struct {
	keys []*keyEntry // ordered by NotBefore, then ID
	byID map[string]*keyEntry
	jwks []byte
	etag string
}

// keyEntry is one key of a snapshot: the parsed key and its schedule.
type keyEntry struct {
	*parsedKey
	notBefore, notAfter, expiresAt time.Time
}

// parsedKey is what keyturn derives from a stored record once: it does not
// change while the record's bytes do not.
type parsedKey struct {
	id      string
	alg     Algorithm
	pub     crypto.PublicKey
	private []byte  // the stored bytes, to detect a changed record
	public  []byte  // the stored bytes
	signer  *signer // nil when the set is verify-only
	header  []byte  // base64url(JWS protected header) + "."
	sigSize int     // length of a signature, in bytes
	jwk     []byte  // the public JWK, JSON
}

// NewKeySet loads the keys in the store and, unless VerifyOnly, brings the
// set up to date as [KeySet.Refresh] does: on an empty store it generates the
// first key, which signs at once.
func NewKeySet(ctx context.Context, cfg KeySetConfig) (*KeySet, error) {
	if cfg.Store == nil {
		return nil, errors.New("keyturn/token: KeySetConfig.Store is required")
	}
	ks := &KeySet{
		store:        cfg.Store,
		alg:          cmp.Or(cfg.Algorithm, DefaultAlgorithm),
		rotation:     cmp.Or(cfg.RotationPeriod, DefaultRotationPeriod),
		publishAhead: cmp.Or(cfg.PublishAhead, DefaultPublishAhead),
		verifyOnly:   cfg.VerifyOnly,
		generate:     cfg.Generate,
		nowFunc:      cfg.Now,
		rand:         cfg.Rand,
		cache:        make(map[string]*parsedKey),
	}
	if ks.nowFunc == nil {
		ks.nowFunc = time.Now
	}
	if ks.rand == nil {
		ks.rand = rand.Reader
	}
	if !ks.alg.valid() {
		return nil, fmt.Errorf("keyturn/token: KeySetConfig.Algorithm: %w: %s", ErrUnsupportedAlgorithm, safeName(string(ks.alg)))
	}
	if cfg.KEK != nil {
		if len(cfg.KEK) != KEKSize {
			return nil, errors.New("keyturn/token: KeySetConfig.KEK must be 32 bytes")
		}
		ks.kek = bytes.Clone(cfg.KEK)
	}
	if ks.publishAhead < MinPublishAhead {
		return nil, fmt.Errorf("keyturn/token: KeySetConfig.PublishAhead must be at least %s", MinPublishAhead)
	}
	if ks.rotation <= ks.publishAhead {
		return nil, errors.New("keyturn/token: KeySetConfig.RotationPeriod must exceed PublishAhead")
	}
	if ks.generate == nil {
		ks.generate = func(alg Algorithm) (crypto.Signer, error) { return GenerateKey(alg, ks.rand) }
	}
	if err := ks.Refresh(ctx); err != nil {
		return nil, err
	}
	return ks, nil
}

func (ks *KeySet) now() time.Time {
	return ks.nowFunc().UTC().Truncate(time.Microsecond)
}

// Refresh reloads the set from the store, so that keys added or retired by
// other processes are seen, and, unless the set is VerifyOnly, maintains it:
// generates a key if none can sign, publishes the next key PublishAhead
// before the active one's period ends, retires superseded keys and deletes
// keys whose tokens have all expired. Every process should call it more
// often than PublishAhead; [KeySet.Run] does.
func (ks *KeySet) Refresh(ctx context.Context) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.refreshLocked(ctx, !ks.verifyOnly)
}

// Run calls Refresh every interval until ctx is done, reporting each error
// to onError (which may be nil), and returns ctx's error. Start it in its
// own goroutine:
//
//	go ks.Run(ctx, time.Minute, func(err error) { log.Print(err) })
func (ks *KeySet) Run(ctx context.Context, every time.Duration, onError func(error)) error {
	return runEvery(ctx, every, ks.Refresh, onError)
}

func runEvery(ctx context.Context, every time.Duration, f func(context.Context) error, onError func(error)) error {
	if every <= 0 {
		return errors.New("keyturn/token: Run needs a positive interval")
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if ctx.Err() != nil {
				return ctx.Err() // select picks at random when both are ready
			}
			// A run cut short because ctx ended is not a failure: Run is
			// stopping, and onError must not hear of it (a spurious error
			// at every clean shutdown otherwise).
			if err := f(ctx); err != nil && onError != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// Rotate publishes a new key that starts signing PublishAhead from now, and
// schedules the active key to stop then. If a next key is already pending
// it does nothing. It returns the kid of the key that will sign next.
// Tokens signed by the current key stay valid until they expire.
func (ks *KeySet) Rotate(ctx context.Context) (string, error) {
	if ks.verifyOnly {
		return "", fmt.Errorf("%w: the key set is verify-only", ErrNoSigningKey)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.now()
	recs, err := ks.load(ctx)
	if err != nil {
		return "", err
	}
	if i := pendingRecord(recs, now); i >= 0 {
		return recs[i].ID, ks.refreshLocked(ctx, true)
	}
	if activeRecord(recs, now) < 0 {
		if err := ks.refreshLocked(ctx, true); err != nil {
			return "", err
		}
		return ks.snap.Load().signing(now).id, nil
	}
	key, err := ks.generate(ks.alg)
	if err != nil {
		return "", err
	}
	rec, err := ks.add(ctx, key, ks.alg, now, now.Add(ks.publishAhead))
	if err != nil {
		return "", err
	}
	return rec.ID, ks.refreshLocked(ctx, true)
}

// Add imports an existing private key (an ed25519.PrivateKey,
// *ecdsa.PrivateKey or *rsa.PrivateKey of the strength alg requires) into the
// set and returns its kid, the key's RFC 7638 thumbprint. If the set has an
// active key, the new key is published now and signs from PublishAhead on;
// otherwise it signs at once. Adding a key twice is an error wrapping
// [storage.ErrExists].
func (ks *KeySet) Add(ctx context.Context, key crypto.Signer, alg Algorithm) (string, error) {
	if ks.verifyOnly {
		return "", fmt.Errorf("%w: the key set is verify-only", ErrNoSigningKey)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.now()
	recs, err := ks.load(ctx)
	if err != nil {
		return "", err
	}
	notBefore := now
	if activeRecord(recs, now) >= 0 {
		notBefore = now.Add(ks.publishAhead)
	}
	rec, err := ks.add(ctx, key, alg, now, notBefore)
	if err != nil {
		return "", err
	}
	return rec.ID, ks.refreshLocked(ctx, true)
}

// add stores key as a new signing key.
func (ks *KeySet) add(ctx context.Context, key crypto.Signer, alg Algorithm, now, notBefore time.Time) (storage.SigningKey, error) {
	if !alg.valid() {
		return storage.SigningKey{}, fmt.Errorf("%w: %s", ErrUnsupportedAlgorithm, safeName(string(alg)))
	}
	pub := key.Public()
	if err := checkPublicKey(alg, pub); err != nil {
		return storage.SigningKey{}, err
	}
	kid, err := thumbprint(pub)
	if err != nil {
		return storage.SigningKey{}, err
	}
	private, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("keyturn/token: encoding private key: %w", err)
	}
	public, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("keyturn/token: encoding public key: %w", err)
	}
	if ks.kek != nil {
		sealed, err := seal(ks.kek, kid, private, ks.rand)
		clear(private)
		if err != nil {
			return storage.SigningKey{}, err
		}
		private = sealed
	}
	rec := storage.SigningKey{
		ID:        kid,
		Algorithm: string(alg),
		Private:   private,
		Public:    public,
		CreatedAt: now,
		NotBefore: notBefore,
	}
	if err := ks.store.AddSigningKey(ctx, rec); err != nil {
		return storage.SigningKey{}, fmt.Errorf("keyturn/token: storing signing key %s: %w", kid, err)
	}
	return rec, nil
}

// refreshLocked reloads the set, maintains it when asked and publishes a
// new snapshot. ks.mu must be held.
func (ks *KeySet) refreshLocked(ctx context.Context, maintain bool) error {
	now := ks.now()
	recs, err := ks.load(ctx)
	if err != nil {
		return err
	}
	if maintain {
		changed, err := ks.maintain(ctx, recs, now)
		if err != nil {
			return err
		}
		if changed {
			if recs, err = ks.load(ctx); err != nil {
				return err
			}
		}
	}
	snap, err := ks.build(recs, now)
	if err != nil {
		return err
	}
	ks.snap.Store(snap)
	return nil
}

// load returns the stored keys ordered by NotBefore, then ID.
func (ks *KeySet) load(ctx context.Context) ([]storage.SigningKey, error) {
	recs, err := ks.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyturn/token: loading signing keys: %w", err)
	}
	slices.SortFunc(recs, func(a, b storage.SigningKey) int {
		return cmp.Or(a.NotBefore.Compare(b.NotBefore), cmp.Compare(a.ID, b.ID))
	})
	return recs, nil
}

// maintain applies the rotation schedule to recs at now, writing to the
// store. It reports whether it changed anything.
func (ks *KeySet) maintain(ctx context.Context, recs []storage.SigningKey, now time.Time) (bool, error) {
	changed := false
	live := recs[:0:0]
	for _, r := range recs {
		if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
			if err := ks.store.DeleteSigningKey(ctx, r.ID); err != nil {
				return changed, fmt.Errorf("keyturn/token: deleting expired signing key %s: %w", r.ID, err)
			}
			changed = true
			continue
		}
		live = append(live, r)
	}

	active := activeRecord(live, now)
	if active < 0 {
		key, err := ks.generate(ks.alg)
		if err != nil {
			return changed, err
		}
		rec, err := ks.add(ctx, key, ks.alg, now, now)
		if err != nil {
			return changed, err
		}
		changed = true
		live = append(live, rec)
		active = len(live) - 1
	}
	a := live[active]

	// Keys that could sign now but lost to the active one (two processes
	// generated keys at once) stop now. A process that has not refreshed
	// yet may sign with one a little longer, at most until its next
	// refresh, which comes sooner than PublishAhead: they stay published
	// that much longer than retention.
	for i, r := range live {
		if i != active && canSign(r, now) {
			if err := ks.store.RetireSigningKey(ctx, r.ID, now, now.Add(retention+ks.publishAhead)); err != nil {
				return changed, fmt.Errorf("keyturn/token: retiring signing key %s: %w", r.ID, err)
			}
			changed = true
		}
	}

	var next *storage.SigningKey
	if i := pendingRecord(live, now); i >= 0 {
		next = &live[i]
	} else {
		due := a.NotBefore.Add(ks.rotation)
		if !a.NotAfter.IsZero() && a.NotAfter.Before(due) {
			due = a.NotAfter
		}
		if !now.Before(due.Add(-ks.publishAhead)) {
			key, err := ks.generate(ks.alg)
			if err != nil {
				return changed, err
			}
			rec, err := ks.add(ctx, key, ks.alg, now, later(due, now.Add(ks.publishAhead)))
			if err != nil {
				return changed, err
			}
			changed = true
			next = &rec
		}
	}
	if next != nil && (a.NotAfter.IsZero() || a.NotAfter.After(next.NotBefore)) {
		if err := ks.retire(ctx, a.ID, next.NotBefore); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// retire schedules key id to stop signing at notAfter and to be deleted once
// every token it may have signed has expired.
func (ks *KeySet) retire(ctx context.Context, id string, notAfter time.Time) error {
	if err := ks.store.RetireSigningKey(ctx, id, notAfter, notAfter.Add(retention)); err != nil {
		return fmt.Errorf("keyturn/token: retiring signing key %s: %w", id, err)
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// canSign reports whether r's schedule lets it sign at now.
func canSign(r storage.SigningKey, now time.Time) bool {
	return !now.Before(r.NotBefore) && (r.NotAfter.IsZero() || now.Before(r.NotAfter)) &&
		(r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt))
}

// activeRecord returns the index of the key that signs at now: of those whose
// schedule allows it, the one with the latest NotBefore (then the greatest
// ID), so that every process picks the same one. recs must be sorted.
func activeRecord(recs []storage.SigningKey, now time.Time) int {
	for i := len(recs) - 1; i >= 0; i-- {
		if canSign(recs[i], now) {
			return i
		}
	}
	return -1
}

// pendingRecord returns the index of the earliest key that starts signing
// after now, or -1. recs must be sorted.
func pendingRecord(recs []storage.SigningKey, now time.Time) int {
	for i, r := range recs {
		if r.NotBefore.After(now) {
			return i
		}
	}
	return -1
}

// build parses recs (reusing what it parsed before) into a snapshot.
func (ks *KeySet) build(recs []storage.SigningKey, now time.Time) (*keySnapshot, error) {
	snap := &keySnapshot{byID: make(map[string]*keyEntry, len(recs))}
	cache := make(map[string]*parsedKey, len(recs))
	var jwks bytes.Buffer
	jwks.WriteString(`{"keys":[`)
	n := 0
	for _, r := range recs {
		pk := ks.cache[r.ID]
		if pk == nil || string(pk.alg) != r.Algorithm || !bytes.Equal(pk.public, r.Public) ||
			(!ks.verifyOnly && !bytes.Equal(pk.private, r.Private)) {
			var err error
			if pk, err = ks.parse(r); err != nil {
				return nil, err
			}
		}
		cache[r.ID] = pk
		e := &keyEntry{parsedKey: pk, notBefore: r.NotBefore, notAfter: r.NotAfter, expiresAt: r.ExpiresAt}
		if _, dup := snap.byID[r.ID]; dup {
			return nil, fmt.Errorf("keyturn/token: store returned signing key %s twice", r.ID)
		}
		snap.keys = append(snap.keys, e)
		snap.byID[r.ID] = e
		if e.expired(now) {
			continue
		}
		if n > 0 {
			jwks.WriteByte(',')
		}
		jwks.Write(pk.jwk)
		n++
	}
	jwks.WriteString("]}")
	snap.jwks = jwks.Bytes()
	sum := sha256.Sum256(snap.jwks)
	snap.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	ks.cache = cache
	return snap, nil
}

// parse checks a stored record and derives its parsedKey: the algorithm is
// supported, the public key fits it, the kid is its thumbprint, and (unless
// the set is verify-only) the private key unseals, parses and matches.
func (ks *KeySet) parse(r storage.SigningKey) (*parsedKey, error) {
	kid := safeName(r.ID)
	alg := Algorithm(r.Algorithm)
	if !alg.valid() {
		return nil, fmt.Errorf("keyturn/token: signing key %s: %w: %s", kid, ErrUnsupportedAlgorithm, safeName(r.Algorithm))
	}
	pub, err := x509.ParsePKIXPublicKey(r.Public)
	if err != nil {
		return nil, fmt.Errorf("keyturn/token: signing key %s: bad public key: %w", kid, err)
	}
	if err := checkPublicKey(alg, pub); err != nil {
		return nil, fmt.Errorf("keyturn/token: signing key %s: %w", kid, err)
	}
	if tp, err := thumbprint(pub); err != nil || tp != r.ID {
		return nil, fmt.Errorf("keyturn/token: signing key %s: kid is not the key's thumbprint", kid)
	}
	pk := &parsedKey{id: r.ID, alg: alg, pub: pub, public: bytes.Clone(r.Public)}
	if !ks.verifyOnly {
		der := r.Private
		switch {
		case ks.kek != nil:
			if der, err = unseal(ks.kek, r.ID, r.Private); err != nil {
				return nil, err
			}
			defer clear(der)
		case isSealed(r.Private):
			return nil, fmt.Errorf("%w %s: record is sealed but no key-encryption key is configured", ErrUnseal, kid)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("keyturn/token: signing key %s: bad private key", kid)
		}
		key, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("keyturn/token: signing key %s: private key cannot sign", kid)
		}
		if eq, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
			return nil, fmt.Errorf("keyturn/token: signing key %s: private and public keys do not match", kid)
		}
		if pk.signer, err = newSigner(alg, key); err != nil {
			return nil, fmt.Errorf("keyturn/token: signing key %s: %w", kid, err)
		}
		pk.private = bytes.Clone(r.Private)
	}
	header := make([]byte, 0, 80)
	header = append(header, `{"alg":`...)
	header = jsonenc.AppendString(header, string(alg))
	header = append(header, `,"kid":`...)
	header = jsonenc.AppendString(header, r.ID)
	header = append(header, `,"typ":"at+jwt"}`...)
	pk.sigSize = signatureSize(pub)
	pk.header = base64.RawURLEncoding.AppendEncode(nil, header)
	pk.header = append(pk.header, '.')
	if pk.jwk, err = (jose.JSONWebKey{Key: pub, KeyID: r.ID, Algorithm: string(alg), Use: "sig"}).MarshalJSON(); err != nil {
		return nil, fmt.Errorf("keyturn/token: signing key %s: %w", kid, err)
	}
	return pk, nil
}

func (e *keyEntry) expired(now time.Time) bool {
	return !e.expiresAt.IsZero() && !now.Before(e.expiresAt)
}

// signing returns the key that signs at now, or nil.
func (s *keySnapshot) signing(now time.Time) *keyEntry {
	for i := len(s.keys) - 1; i >= 0; i-- {
		e := s.keys[i]
		if e.signer != nil && !now.Before(e.notBefore) && (e.notAfter.IsZero() || now.Before(e.notAfter)) && !e.expired(now) {
			return e
		}
	}
	return nil
}

// verificationKey returns the published key with the given kid. A kid the
// snapshot does not know triggers a reload from the store, at most once per
// unknownKidReload across all callers, in case another process added it.
func (ks *KeySet) verificationKey(ctx context.Context, kid string) (*keyEntry, error) {
	now := ks.now()
	e := ks.snap.Load().byID[kid]
	if e == nil {
		next := ks.nextReload.Load()
		if now.UnixNano() >= next && ks.nextReload.CompareAndSwap(next, now.Add(unknownKidReload).UnixNano()) {
			ks.mu.Lock()
			err := ks.refreshLocked(ctx, false)
			ks.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("%w: reloading key set: %w", ErrUnknownKey, err)
			}
			e = ks.snap.Load().byID[kid]
		}
	}
	if e == nil {
		return nil, fmt.Errorf("%w: kid %s", ErrUnknownKey, safeName(kid))
	}
	if e.expired(now) {
		return nil, fmt.Errorf("%w: kid %s has expired", ErrUnknownKey, safeName(kid))
	}
	return e, nil
}

// JWKS returns the public keys of the set as an RFC 7517 JWK Set document:
// {"keys":[...]} with kty, the public members, kid, alg and use "sig" for
// every key that is published (the next key, the active one and retired
// ones that may still have valid tokens), never a private member.
func (ks *KeySet) JWKS() []byte {
	return bytes.Clone(ks.snap.Load().jwks)
}
