package storagetest_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/storage/storagetest"
)

// The suite is itself tested by running it against stores with one planted
// bug each (a wrapper around the memory store), in a child process, and
// checking that it fails in the subtest that covers the bug. Stores with
// harmless differences from the memory store must pass.

const mutantEnv = "KEYTURN_STORAGETEST_MUTANT"

var mutants = []struct {
	bug      string
	failsIn  string // a subtest that must fail; "" means the suite must pass
	describe string
}{
	{"", "", "the memory store itself"},
	{"EmptySlicesNil", "", "returns nil for empty slices and empty for nil"},
	{"MicrosecondTimes", "", "truncates times to microseconds"},

	{"NotFoundUnwrapped", "KeyStore/NotFound", "Key reports a missing key with its own error"},
	{"CreateKeyNoErrExists", "KeyStore/CreateExisting", "CreateKey of an existing ID returns nil"},
	{"KeyFoldsCase", "KeyStore/NotFound/NearMisses", "Key falls back to a case-insensitive match"},
	{"KeysIgnoresLimit", "KeyStore/Keys/FirstOne", "Keys ignores limit"},
	{"KeysAfterInclusive", "KeyStore/Keys/AfterExisting", "Keys includes the key named by after"},
	{"KeysFoldedOrder", "KeyStore/UnusualIDs", "Keys sorts case-insensitively"},
	{"KeysSkipsRevoked", "KeyStore/Keys", "Keys leaves out revoked keys"},
	{"RevokeKeyLastWins", "KeyStore/Revoke/AgainLater", "RevokeKey overwrites the revocation time"},
	{"RevokeKeyEarliestWins", "KeyStore/Revoke/AgainEarlier", "RevokeKey keeps the earliest time, not the first"},
	{"RevokeKeyMissingOK", "KeyStore/Revoke/Missing", "RevokeKey of a missing key succeeds"},
	{"RevokeKeyZeroOK", "KeyStore/Revoke/ZeroTime", "RevokeKey with a zero time succeeds"},
	{"LocalTimes", "KeyStore/RoundTrip/Full", "Key returns times in a non-UTC location"},
	{"SecondTimes", "KeyStore/RoundTrip/Full", "CreateKey keeps times to the second"},
	{"AliasIn", "KeyStore/NoAliasing", "CreateKey keeps the caller's Scope slice"},
	{"AliasOut", "KeyStore/NoAliasing", "Key hands out the same slices every time"},
	{"KeyIgnoresCancel", "KeyStore/Cancelled", "Key ignores its context"},
	{"RotateIgnoresOld", "KeyStore/Rotate/StaleOld", "RotateKey replaces whatever hash is stored"},
	{"RotateRevoked", "KeyStore/Rotate/Revoked", "RotateKey rotates a revoked key"},
	{"RotateNotAtomic", "KeyStore/RotateConcurrent/FromOneHash", "RotateKey compares and swaps in two steps"},
	{"RotateKeepsPrevious", "KeyStore/Rotate/ZeroUntilDropsTheOldHash", "RotateKey with a zero oldUntil keeps the old hash"},
	{"RotateIgnoresCancel", "KeyStore/Cancelled", "RotateKey ignores its context"},
	{"TouchUnconditional", "KeyStore/Touch/WithinTheInterval", "TouchKey writes every time"},
	{"TouchMissingErr", "KeyStore/Touch/Missing", "TouchKey of a missing key fails"},

	{"RetireOverwrites", "SigningKeyStore/Retire/LaterIgnored", "RetireSigningKey overwrites the times"},
	{"RetireZeroClears", "SigningKeyStore/Retire/ZeroIgnored", "RetireSigningKey stores zero times"},
	{"SigningKeysByID", "SigningKeyStore/Order/ByNotBeforeThenID", "SigningKeys orders by ID only"},
	{"SigningKeysZeroLast", "SigningKeyStore/Order/ByNotBeforeThenID", "SigningKeys orders a zero NotBefore last"},
	{"DeleteSigningKeyMissingErr", "SigningKeyStore/Delete", "DeleteSigningKey of a missing key fails"},

	{"MergeLastWins", "RevocationStore/Merge/LaterRevokedAtIgnored", "AddRevocation overwrites"},
	{"MergeZeroExpiresEarliest", "RevocationStore/Merge/ZeroExpiresAtAdded", "AddRevocation counts a zero ExpiresAt as earliest"},
	{"RevocationFoldsCase", "RevocationStore/DistinctIDs", "AddRevocation merges IDs that differ only in case"},
	{"RevocationZeroOK", "RevocationStore/ZeroRevokedAt", "AddRevocation accepts a zero RevokedAt"},
	{"SinceExclusive", "RevocationStore/Since/InclusiveBound", "RevocationsSince leaves out RevokedAt == since"},
	{"SinceIgnoresLimit", "RevocationStore/Since/LimitOne", "RevocationsSince ignores limit"},
	{"SinceKindDescending", "RevocationStore/Since/ZeroSince", "RevocationsSince orders client before token"},

	{"OpaqueHidesExpired", "OpaqueTokenStore/RoundTrip/Expired", "OpaqueToken hides expired tokens"},
	{"OpaqueErrorLeaksHash", "OpaqueTokenStore/NotFound", "OpaqueToken's error contains the hash in hex"},
	{"OpaqueNoErrExists", "OpaqueTokenStore/AddExisting", "AddOpaqueToken of an existing hash returns nil"},

	{"SettingLastWins", "SettingStore/FirstWins", "InitSetting overwrites a stored value"},
	{"SettingNotAtomic", "SettingStore/ConcurrentFirstInit", "InitSetting checks and stores in two steps"},
	{"SettingFoldsCase", "SettingStore/Names", "InitSetting folds the case of names"},
	{"SettingNoBounds", "SettingStore/Bounds", "InitSetting stores names and values of any length"},
	{"SettingMissingNil", "SettingStore/Get", "Setting of a free name returns nil and no error"},
	{"ReplaceIgnoresOld", "SigningKeyUpdater/Replace", "ReplaceSigningKeyPrivate replaces whatever is stored"},

	{"SweepExclusive", "Sweeper/Now", "Sweep keeps records expiring exactly at now"},
	{"SweepCountsZero", "Sweeper/Now", "Sweep always reports 0"},
	{"SweepIgnoresCancel", "Sweeper/Cancelled", "Sweep ignores its context"},
}

// TestSuiteCatchesBrokenStores runs the suite against each mutant in a child
// process.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("running as a child")
	}
	if testing.Short() {
		t.Skip("starts a child process per mutant")
	}
	for _, m := range mutants {
		name := m.bug
		if name == "" {
			name = "None"
		}
		t.Run(name, func(t *testing.T) {
			// Run only the subtest expected to fail, or the whole suite.
			run := "^TestMutant$"
			if m.failsIn != "" {
				for elem := range strings.SplitSeq(m.failsIn, "/") {
					run += "/^" + elem + "$"
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if m.failsIn == "" {
				if err != nil {
					t.Errorf("suite failed against a store that %s: %v\n%s", m.describe, err, out)
				}
				return
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("suite passed against a store where %s (err %v); want it to fail in %s\n%s", m.describe, err, m.failsIn, out)
			}
			if want := "--- FAIL: TestMutant/" + m.failsIn + " "; !strings.Contains(string(out), want) {
				t.Errorf("suite against a store where %s did not fail in %s\n%s", m.describe, m.failsIn, out)
			}
		})
	}
}

// TestMutant is the child: it runs the suite against the mutant named in
// the environment.
func TestMutant(t *testing.T) {
	bug := os.Getenv(mutantEnv)
	if bug == "" {
		t.Skip("only run as a child of TestSuiteCatchesBrokenStores")
	}
	if bug == "None" {
		bug = ""
	}
	storagetest.Run(t, func(t *testing.T) storagetest.Store {
		return &broken{Store: memory.New(), bug: bug}
	})
}

// broken is the memory store with one bug planted.
type broken struct {
	*memory.Store
	bug string

	mu        sync.Mutex
	revokedAt map[string]time.Time         // RevokeKey*Wins
	callerSc  map[string][]string          // AliasIn
	handedOut map[string]storage.Key       // AliasOut
	revs      map[revID]storage.Revocation // revocation bugs
	rotations map[string]storage.Key       // RotateRevoked, RotateKeepsPrevious: the hashes to show
	settings  map[string][]byte            // setting bugs
}

func (b *broken) InitSetting(ctx context.Context, name string, value []byte) ([]byte, error) {
	switch b.bug {
	case "SettingFoldsCase":
		return b.Store.InitSetting(ctx, strings.ToLower(name), value)
	case "SettingLastWins", "SettingNotAtomic", "SettingNoBounds":
	default:
		return b.Store.InitSetting(ctx, name, value)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.bug != "SettingNoBounds" && (name == "" || len(name) > storage.MaxSettingName || len(value) > storage.MaxSettingValue) {
		return nil, errors.New("out of bounds")
	}
	b.mu.Lock()
	if b.settings == nil {
		b.settings = make(map[string][]byte)
	}
	cur, ok := b.settings[name]
	b.mu.Unlock()
	if b.bug == "SettingNotAtomic" {
		time.Sleep(time.Millisecond) // between the check and the store
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok || b.bug == "SettingLastWins" {
		cur = append([]byte{}, value...)
		b.settings[name] = cur
	}
	return append([]byte{}, cur...), nil
}

func (b *broken) Setting(ctx context.Context, name string) ([]byte, error) {
	v, err := b.Store.Setting(ctx, name)
	if b.bug == "SettingMissingNil" && errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

func (b *broken) ReplaceSigningKeyPrivate(ctx context.Context, id string, old, next []byte) (bool, error) {
	if b.bug == "ReplaceIgnoresOld" {
		for _, k := range must(b.Store.SigningKeys(ctx)) {
			if k.ID == id {
				old = k.Private
			}
		}
	}
	return b.Store.ReplaceSigningKeyPrivate(ctx, id, old, next)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

type revID struct {
	kind storage.RevocationKind
	id   string
}

func (b *broken) CreateKey(ctx context.Context, k storage.Key) error {
	switch b.bug {
	case "SecondTimes":
		k.CreatedAt = k.CreatedAt.Truncate(time.Second)
	case "MicrosecondTimes":
		k.CreatedAt = k.CreatedAt.Truncate(time.Microsecond)
		k.ExpiresAt = k.ExpiresAt.Truncate(time.Microsecond)
		k.RevokedAt = k.RevokedAt.Truncate(time.Microsecond)
		k.PreviousExpiresAt = k.PreviousExpiresAt.Truncate(time.Microsecond)
		k.LastUsedAt = k.LastUsedAt.Truncate(time.Microsecond)
	}
	err := b.Store.CreateKey(ctx, k)
	switch b.bug {
	case "CreateKeyNoErrExists":
		if errors.Is(err, storage.ErrExists) {
			return nil
		}
	case "AliasIn":
		if err == nil {
			b.mu.Lock()
			if b.callerSc == nil {
				b.callerSc = map[string][]string{}
			}
			b.callerSc[k.ID] = k.Scope
			b.mu.Unlock()
		}
	}
	return err
}

func (b *broken) Key(ctx context.Context, id string) (storage.Key, error) {
	if b.bug == "KeyIgnoresCancel" {
		ctx = context.Background()
	}
	k, err := b.Store.Key(ctx, id)
	if err != nil {
		switch b.bug {
		case "NotFoundUnwrapped":
			if errors.Is(err, storage.ErrNotFound) {
				return k, errors.New("no such key")
			}
		case "KeyFoldsCase":
			all, _ := b.Store.Keys(ctx, "", 0)
			for _, other := range all {
				if strings.EqualFold(other.ID, id) {
					return b.fix(other), nil
				}
			}
		}
		return k, err
	}
	if b.bug == "AliasOut" {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.handedOut == nil {
			b.handedOut = map[string]storage.Key{}
		}
		if old, ok := b.handedOut[id]; ok {
			return old, nil
		}
		b.handedOut[id] = k
	}
	return b.fix(k), nil
}

func (b *broken) Keys(ctx context.Context, after string, limit int) ([]storage.Key, error) {
	switch b.bug {
	case "KeysIgnoresLimit":
		limit = 0
	case "KeysSkipsRevoked":
		list, err := b.Store.Keys(ctx, after, 0)
		list = slices.DeleteFunc(list, func(k storage.Key) bool { return !k.RevokedAt.IsZero() })
		if limit > 0 && len(list) > limit {
			list = list[:limit]
		}
		return list, err
	}
	list, err := b.Store.Keys(ctx, after, limit)
	if err != nil {
		return list, err
	}
	switch b.bug {
	case "KeysAfterInclusive":
		if k, err := b.Store.Key(ctx, after); err == nil {
			list = append([]storage.Key{k}, list...)
			if limit > 0 && len(list) > limit {
				list = list[:limit]
			}
		}
	case "KeysFoldedOrder":
		slices.SortStableFunc(list, func(a, b storage.Key) int {
			return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID))
		})
	}
	for i := range list {
		list[i] = b.fix(list[i])
	}
	return list, nil
}

func (b *broken) RevokeKey(ctx context.Context, id string, at time.Time) error {
	switch b.bug {
	case "RevokeKeyZeroOK":
		if at.IsZero() {
			return nil
		}
	case "RevokeKeyMissingOK":
		if err := b.Store.RevokeKey(ctx, id, at); !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	case "RevokeKeyLastWins", "RevokeKeyEarliestWins":
		if err := b.Store.RevokeKey(ctx, id, at); err != nil {
			return err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.revokedAt == nil {
			b.revokedAt = map[string]time.Time{}
		}
		if old, ok := b.revokedAt[id]; !ok || b.bug == "RevokeKeyLastWins" || at.Before(old) {
			b.revokedAt[id] = at
		}
		return nil
	}
	return b.Store.RevokeKey(ctx, id, at)
}

func (b *broken) RotateKey(ctx context.Context, id string, old, next []byte, oldUntil time.Time) (bool, error) {
	switch b.bug {
	case "RotateIgnoresCancel":
		ctx = context.Background()
	case "RotateIgnoresOld":
		if k, err := b.Key(ctx, id); err == nil {
			old = k.SecretHash
		}
	case "RotateNotAtomic":
		k, err := b.Key(ctx, id)
		if err != nil || !slices.Equal(k.SecretHash, old) {
			return false, err
		}
		time.Sleep(time.Millisecond) // between the check and the swap
		if k, err = b.Key(ctx, id); err != nil {
			return false, err
		}
		old = k.SecretHash
	case "RotateRevoked", "RotateKeepsPrevious":
		k, err := b.Key(ctx, id)
		if err != nil {
			return false, err
		}
		if !slices.Equal(k.SecretHash, old) || b.bug == "RotateKeepsPrevious" && !oldUntil.IsZero() {
			return b.Store.RotateKey(ctx, id, old, next, oldUntil)
		}
		if b.bug == "RotateRevoked" && k.RevokedAt.IsZero() {
			return b.Store.RotateKey(ctx, id, old, next, oldUntil)
		}
		k.SecretHash = slices.Clone(next)
		if b.bug == "RotateRevoked" {
			k.PreviousSecretHash, k.PreviousExpiresAt = slices.Clone(old), oldUntil.UTC()
			if oldUntil.IsZero() {
				k.PreviousSecretHash, k.PreviousExpiresAt = nil, time.Time{}
			}
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.rotations == nil {
			b.rotations = map[string]storage.Key{}
		}
		b.rotations[id] = k
		return true, nil
	}
	return b.Store.RotateKey(ctx, id, old, next, oldUntil)
}

func (b *broken) TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	switch b.bug {
	case "TouchUnconditional":
		every = -100 * 365 * 24 * time.Hour
	case "TouchMissingErr":
		if _, err := b.Store.Key(ctx, id); err != nil {
			return false, err
		}
	}
	return b.Store.TouchKey(ctx, id, at, every)
}

// fix applies the output side of the key bugs.
func (b *broken) fix(k storage.Key) storage.Key {
	switch b.bug {
	case "LocalTimes":
		k.CreatedAt = k.CreatedAt.In(time.FixedZone("X", 3600))
	case "EmptySlicesNil":
		k.Scope = flipEmpty(k.Scope)
		k.SecretHash = flipEmpty(k.SecretHash)
		k.PreviousSecretHash = flipEmpty(k.PreviousSecretHash)
	case "RotateRevoked", "RotateKeepsPrevious":
		b.mu.Lock()
		if r, ok := b.rotations[k.ID]; ok {
			k = r
		}
		b.mu.Unlock()
	case "AliasIn":
		b.mu.Lock()
		if sc, ok := b.callerSc[k.ID]; ok {
			k.Scope = sc
		}
		b.mu.Unlock()
	case "RevokeKeyLastWins", "RevokeKeyEarliestWins":
		b.mu.Lock()
		if at, ok := b.revokedAt[k.ID]; ok {
			k.RevokedAt = at.UTC()
		}
		b.mu.Unlock()
	}
	return k
}

// flipEmpty returns nil for an empty slice and an empty slice for nil.
func flipEmpty[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	if len(s) == 0 {
		return nil
	}
	return s
}

func (b *broken) RetireSigningKey(ctx context.Context, id string, notAfter, expiresAt time.Time) error {
	if b.bug != "RetireOverwrites" && b.bug != "RetireZeroClears" {
		return b.Store.RetireSigningKey(ctx, id, notAfter, expiresAt)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	all, err := b.Store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(k storage.SigningKey) bool { return k.ID == id })
	if i < 0 {
		return fmt.Errorf("retire: %w", storage.ErrNotFound)
	}
	k := all[i]
	if b.bug == "RetireOverwrites" {
		if !notAfter.IsZero() {
			k.NotAfter = notAfter
		}
		if !expiresAt.IsZero() {
			k.ExpiresAt = expiresAt
		}
	} else {
		k.NotAfter = earliestOrZero(k.NotAfter, notAfter)
		k.ExpiresAt = earliestOrZero(k.ExpiresAt, expiresAt)
	}
	if err := b.Store.DeleteSigningKey(ctx, id); err != nil {
		return err
	}
	return b.Store.AddSigningKey(ctx, k)
}

// earliestOrZero returns the earlier of a and b, the zero time counting as
// earliest.
func earliestOrZero(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (b *broken) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	list, err := b.Store.SigningKeys(ctx)
	switch b.bug {
	case "SigningKeysByID":
		slices.SortFunc(list, func(a, b storage.SigningKey) int { return strings.Compare(a.ID, b.ID) })
	case "SigningKeysZeroLast":
		slices.SortStableFunc(list, func(a, b storage.SigningKey) int {
			switch {
			case a.NotBefore.IsZero() == b.NotBefore.IsZero():
				return 0
			case a.NotBefore.IsZero():
				return 1
			}
			return -1
		})
	case "EmptySlicesNil":
		for i := range list {
			list[i].Private = flipEmpty(list[i].Private)
			list[i].Public = flipEmpty(list[i].Public)
		}
	}
	return list, err
}

func (b *broken) DeleteSigningKey(ctx context.Context, id string) error {
	if b.bug == "DeleteSigningKeyMissingErr" {
		all, err := b.Store.SigningKeys(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(all, func(k storage.SigningKey) bool { return k.ID == id }) {
			return fmt.Errorf("delete: %w", storage.ErrNotFound)
		}
	}
	return b.Store.DeleteSigningKey(ctx, id)
}

// revocationBug reports whether the revocation methods are replaced by the
// wrapper's own map.
func (b *broken) revocationBug() bool {
	switch b.bug {
	case "MergeLastWins", "MergeZeroExpiresEarliest", "RevocationFoldsCase", "SinceExclusive", "SinceIgnoresLimit", "SinceKindDescending":
		return true
	}
	return false
}

func (b *broken) AddRevocation(ctx context.Context, r storage.Revocation) error {
	if b.bug == "RevocationZeroOK" && r.RevokedAt.IsZero() {
		return nil
	}
	if !b.revocationBug() {
		return b.Store.AddRevocation(ctx, r)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.RevokedAt.IsZero() {
		return errors.New("zero RevokedAt")
	}
	r.RevokedAt, r.ExpiresAt = utc(r.RevokedAt), utc(r.ExpiresAt)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revs == nil {
		b.revs = map[revID]storage.Revocation{}
	}
	id := revID{r.Kind, r.ID}
	if b.bug == "RevocationFoldsCase" {
		for other := range b.revs {
			if other.kind == r.Kind && strings.EqualFold(other.id, r.ID) {
				id, r.ID = other, other.id
				break
			}
		}
	}
	if old, ok := b.revs[id]; ok && b.bug != "MergeLastWins" {
		if old.RevokedAt.Before(r.RevokedAt) {
			r.RevokedAt = old.RevokedAt
		}
		if b.bug == "MergeZeroExpiresEarliest" {
			if old.ExpiresAt.After(r.ExpiresAt) {
				r.ExpiresAt = old.ExpiresAt
			}
		} else if old.ExpiresAt.IsZero() || (!r.ExpiresAt.IsZero() && old.ExpiresAt.After(r.ExpiresAt)) {
			r.ExpiresAt = old.ExpiresAt
		}
	}
	b.revs[id] = r
	return nil
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func (b *broken) RevocationsSince(ctx context.Context, since time.Time, limit int) ([]storage.Revocation, error) {
	if !b.revocationBug() {
		return b.Store.RevocationsSince(ctx, since, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	var out []storage.Revocation
	for _, r := range b.revs {
		if r.RevokedAt.After(since) || (b.bug != "SinceExclusive" && r.RevokedAt.Equal(since)) {
			out = append(out, r)
		}
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y storage.Revocation) int {
		if c := x.RevokedAt.Compare(y.RevokedAt); c != 0 {
			return c
		}
		if x.Kind != y.Kind {
			if (x.Kind < y.Kind) != (b.bug == "SinceKindDescending") {
				return -1
			}
			return 1
		}
		return strings.Compare(x.ID, y.ID)
	})
	if limit > 0 && len(out) > limit && b.bug != "SinceIgnoresLimit" {
		out = out[:limit]
	}
	return out, nil
}

func (b *broken) AddOpaqueToken(ctx context.Context, tok storage.OpaqueToken) error {
	err := b.Store.AddOpaqueToken(ctx, tok)
	if b.bug == "OpaqueNoErrExists" && errors.Is(err, storage.ErrExists) {
		return nil
	}
	return err
}

func (b *broken) OpaqueToken(ctx context.Context, hash []byte) (storage.OpaqueToken, error) {
	tok, err := b.Store.OpaqueToken(ctx, hash)
	switch b.bug {
	case "OpaqueHidesExpired":
		if err == nil && tok.ExpiresAt.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
			return storage.OpaqueToken{}, storage.ErrNotFound
		}
	case "OpaqueErrorLeaksHash":
		if err != nil {
			return tok, fmt.Errorf("token %s: %w", hex.EncodeToString(hash), err)
		}
	case "EmptySlicesNil":
		tok.Claims = flipEmpty(tok.Claims)
	}
	return tok, err
}

func (b *broken) Sweep(ctx context.Context, now time.Time) (int, error) {
	switch b.bug {
	case "SweepExclusive":
		return b.Store.Sweep(ctx, now.Add(-time.Nanosecond))
	case "SweepCountsZero":
		_, err := b.Store.Sweep(ctx, now)
		return 0, err
	case "SweepIgnoresCancel":
		return b.Store.Sweep(context.Background(), now)
	}
	return b.Store.Sweep(ctx, now)
}
