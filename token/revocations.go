package token

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// DefaultRefreshOverlap is how far back [Revocations.Refresh] looks before
// its previous run, when [RevocationsConfig.RefreshOverlap] is zero.
const DefaultRefreshOverlap = 5 * time.Minute

// DefaultFullReload is how often [Revocations.Refresh] reloads every
// revocation in the store, when [RevocationsConfig.FullReload] is zero.
const DefaultFullReload = 10 * time.Minute

// maxRevocationID bounds a jti or client id held as a revocation.
const maxRevocationID = maxClaimLen

// RevocationsConfig configures [Revocations]. Store is required.
type RevocationsConfig struct {
	// Store keeps revocations, shared by every process.
	Store storage.RevocationStore

	// RefreshOverlap is how far before the start of its previous run each
	// Refresh asks the store for revocations, to catch those written late
	// or stamped by a process whose clock runs behind. Zero means
	// DefaultRefreshOverlap.
	RefreshOverlap time.Duration

	// FullReload is how often Refresh reads every revocation in the store
	// rather than those stamped since its previous run. It bounds how long
	// a revocation the overlap cannot catch (stamped by a process whose
	// clock runs more than RefreshOverlap behind, or back-dated) can go
	// unseen here. The store holds only revocations whose tokens may still
	// be valid (Sweep removes the rest), so a full read stays small. Zero
	// means DefaultFullReload.
	FullReload time.Duration

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Revocations is an in-process view of the revocations in a
// [storage.RevocationStore]: a revoked jti, or a client whose tokens issued
// up to some time are all revoked. [Verifier] consults it on every
// verification without I/O.
//
// Revocations made through this value ([Revocations.RevokeToken],
// [Revocations.RevokeClient]; the latter also makes it a keys.Revoker) bite
// at once in this process. Revocations made by other processes bite here
// after the next [Revocations.Refresh]: run [Revocations.Run] with an
// interval, and that interval (plus the time a write takes to reach the
// store) is the bound on how long a token revoked elsewhere can still be
// accepted here.
//
// A Revocations is safe for concurrent use.
type Revocations struct {
	store   storage.RevocationStore
	overlap time.Duration
	nowFunc func() time.Time

	mu      sync.RWMutex
	tokens  map[string]time.Time // jti → when the entry can be forgotten (zero: never)
	clients map[string]clientRevocation
	gen     atomic.Uint64

	refreshMu sync.Mutex
	since     time.Time // start of the previous successful refresh
	full      time.Time // start of the previous successful full load
	fullEvery time.Duration
}

type clientRevocation struct {
	at        time.Time // tokens issued at or before this are revoked
	expiresAt time.Time // when the entry can be forgotten (zero: never)
}

// NewRevocations loads every revocation in the store.
func NewRevocations(ctx context.Context, cfg RevocationsConfig) (*Revocations, error) {
	if cfg.Store == nil {
		return nil, errors.New("keyturn/token: RevocationsConfig.Store is required")
	}
	if cfg.RefreshOverlap < 0 || cfg.FullReload < 0 {
		return nil, errors.New("keyturn/token: RevocationsConfig.RefreshOverlap and FullReload must not be negative")
	}
	r := &Revocations{
		store:     cfg.Store,
		overlap:   cfg.RefreshOverlap,
		fullEvery: cmp.Or(cfg.FullReload, DefaultFullReload),
		nowFunc:   cfg.Now,
		tokens:    make(map[string]time.Time),
		clients:   make(map[string]clientRevocation),
	}
	if r.overlap == 0 {
		r.overlap = DefaultRefreshOverlap
	}
	if r.nowFunc == nil {
		r.nowFunc = time.Now
	}
	start := r.now()
	all, err := r.store.RevocationsSince(ctx, time.Time{}, 0)
	if err != nil {
		return nil, fmt.Errorf("keyturn/token: loading revocations: %w", err)
	}
	r.merge(all, start)
	r.since, r.full = start, start
	return r, nil
}

func (r *Revocations) now() time.Time {
	return r.nowFunc().UTC().Truncate(time.Microsecond)
}

// RevokeToken revokes the token with the given jti, which expires at exp
// (the zero time if unknown: the revocation is then kept for MaxLifetime).
// The revocation bites in this process before the store is written, so it
// holds here even if the write fails; the write's error is returned.
// Revoking a revoked token succeeds.
func (r *Revocations) RevokeToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" || len(jti) > maxRevocationID {
		return errors.New("keyturn/token: RevokeToken needs a jti of 1 to 1024 bytes")
	}
	now := r.now()
	if exp.IsZero() {
		exp = now.Add(MaxLifetime)
	}
	rec := storage.Revocation{
		Kind:      storage.RevokedToken,
		ID:        jti,
		RevokedAt: now,
		ExpiresAt: exp.UTC().Add(MaxLeeway),
	}
	r.merge([]storage.Revocation{rec}, now)
	if err := r.store.AddRevocation(ctx, rec); err != nil {
		return fmt.Errorf("keyturn/token: storing token revocation: %w", err)
	}
	return nil
}

// RevokeClient revokes every token issued to clientID at or before at:
// tokens whose iat is not after at are refused. Pass the current time (as
// keys.Manager does): other processes look for revocations by time, RefreshOverlap
// back from their previous refresh. The revocation bites in this process
// before the store is written; the write's error is returned. Revoking again
// keeps the earlier time, as the store does.
func (r *Revocations) RevokeClient(ctx context.Context, clientID string, at time.Time) error {
	if clientID == "" || len(clientID) > maxRevocationID {
		return errors.New("keyturn/token: RevokeClient needs a client id of 1 to 1024 bytes")
	}
	if at.IsZero() {
		return errors.New("keyturn/token: RevokeClient needs a revocation time")
	}
	at = at.UTC()
	rec := storage.Revocation{
		Kind:      storage.RevokedClient,
		ID:        clientID,
		RevokedAt: at,
		// Every token issued up to at has expired by then.
		ExpiresAt: at.Add(MaxLifetime + MaxLeeway),
	}
	r.merge([]storage.Revocation{rec}, r.now())
	if err := r.store.AddRevocation(ctx, rec); err != nil {
		return fmt.Errorf("keyturn/token: storing client revocation: %w", err)
	}
	return nil
}

// Refresh loads the revocations other processes stored since the previous
// refresh (RefreshOverlap earlier, to be safe), or every revocation once
// FullReload has passed since the last full load, and forgets those that can
// no longer matter. [Revocations.Run] calls it periodically.
func (r *Revocations) Refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	start := r.now()
	since, full := r.since.Add(-r.overlap), !start.Before(r.full.Add(r.fullEvery))
	if full {
		since = time.Time{}
	}
	recs, err := r.store.RevocationsSince(ctx, since, 0)
	if err != nil {
		return fmt.Errorf("keyturn/token: refreshing revocations: %w", err)
	}
	r.merge(recs, start)
	r.prune(start)
	r.since = start
	if full {
		r.full = start
	}
	return nil
}

// Run calls Refresh every interval until ctx is done, reporting each error
// to onError (which may be nil), and returns ctx's error. Start it in its
// own goroutine:
//
//	go revs.Run(ctx, 5*time.Second, func(err error) { log.Print(err) })
//
// The interval bounds how long a revocation made by another process takes
// to bite here.
func (r *Revocations) Run(ctx context.Context, every time.Duration, onError func(error)) error {
	return runEvery(ctx, every, r.Refresh, onError)
}

// merge adds recs to the in-memory view, skipping those already expired at
// now, and bumps the generation if anything new bites.
func (r *Revocations) merge(recs []storage.Revocation, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, rec := range recs {
		if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
			continue
		}
		switch rec.Kind {
		case storage.RevokedToken:
			old, ok := r.tokens[rec.ID]
			if !ok {
				changed = true
				r.tokens[rec.ID] = rec.ExpiresAt
			} else if !old.IsZero() && (rec.ExpiresAt.IsZero() || rec.ExpiresAt.After(old)) {
				r.tokens[rec.ID] = rec.ExpiresAt
			}
		case storage.RevokedClient:
			old, ok := r.clients[rec.ID]
			if !ok {
				changed = true
				old = clientRevocation{at: rec.RevokedAt, expiresAt: rec.ExpiresAt}
			} else {
				// As in the store: the earlier time, the later expiry.
				if rec.RevokedAt.Before(old.at) {
					old.at = rec.RevokedAt
				}
				if !old.expiresAt.IsZero() && (rec.ExpiresAt.IsZero() || rec.ExpiresAt.After(old.expiresAt)) {
					old.expiresAt = rec.ExpiresAt
				}
			}
			r.clients[rec.ID] = old
		}
	}
	if changed {
		r.gen.Add(1)
	}
}

// prune forgets revocations whose tokens have all expired.
func (r *Revocations) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, exp := range r.tokens {
		if !exp.IsZero() && !now.Before(exp) {
			delete(r.tokens, id)
		}
	}
	for id, c := range r.clients {
		if !c.expiresAt.IsZero() && !now.Before(c.expiresAt) {
			delete(r.clients, id)
		}
	}
}

// Revoked reports whether c is revoked: its jti is revoked, or its client
// was revoked at or after its iat. It is two map lookups under a read lock.
func (r *Revocations) Revoked(c *Claims) bool {
	r.mu.RLock()
	_, tok := r.tokens[c.ID]
	cr, client := r.clients[c.ClientID]
	r.mu.RUnlock()
	return tok || client && !c.IssuedAt.After(cr.at)
}

// Generation returns a counter that grows whenever a revocation is added to
// this view (here or by Refresh). A cache of verified tokens can remember the
// generation it verified under and call [Revocations.Revoked] again only
// when the generation has moved.
func (r *Revocations) Generation() uint64 {
	return r.gen.Load()
}
