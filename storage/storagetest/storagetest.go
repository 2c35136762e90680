// Package storagetest is the conformance suite for keyturn stores: every
// store, keyturn's own and a host's, must pass it.
//
// Start with [Run], which tests a store implementing every role interface of
// [github.com/keyturn/keyturn/storage] (see [Store]). A host store that
// implements only some of them runs the matching [TestKeyStore],
// [TestSigningKeyStore], [TestSigningKeyUpdater], [TestRevocationStore],
// [TestOpaqueTokenStore], [TestSettingStore], [TestKeyJWKSReplacer],
// [TestReplayStore] and [TestFailureStore] instead. Like [testing/fstest.TestFS], the suite is called from an ordinary
// test of the store's own package:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storagetest.Store {
//			db := openTestDatabase(t) // fresh and empty; closed with t.Cleanup
//			return mystore.New(db)
//		})
//	}
//
// The function passed in is called once per subtest and must return a fresh,
// empty store; it may use t.Cleanup to release it. The subtests run one after
// another (never in parallel with each other), but some of them call the store
// from several goroutines at once, so run the suite under -race too.
//
// # What the suite checks
//
// Every sentence of the method docs in the storage package, and the package's
// general contract: every field round-trips (durations to the nanosecond,
// byte slices holding zero bytes and invalid UTF-8); errors.Is finds
// [storage.ErrNotFound] and [storage.ErrExists]; times come back in UTC and
// equal (time.Equal) to what was stored, at microsecond precision (the suite
// only uses times truncated to microseconds, some of them in a non-UTC
// location); slices are never shared between the caller and the store; large
// values (a 64 KiB opaque token claim set, 256 scope tokens, a 16 KiB private
// key) and unusual identifiers (mixed case, non-ASCII, SQL and LIKE
// metacharacters, 255 bytes) round-trip; and the store is safe for concurrent
// use, with creation and merging atomic: of concurrent RotateKey calls from
// one hash exactly one takes effect, rotations retried from the hash each
// read form one unbroken chain, a revocation racing rotations leaves the
// key revoked, and concurrent TouchKey calls within one interval write once.
//
// Where the storage docs leave a choice open, the suite requires the reading
// a careful caller would rely on:
//
//   - A call made with a context that is already cancelled fails with an
//     error for which errors.Is(err, context.Canceled) holds, and has no
//     effect.
//   - A nil and an empty slice are the same value: a store may return either
//     for a field that was stored as either.
//   - Identifiers are compared and ordered byte-wise, as Go compares strings:
//     "B" sorts before "a", and "a" and "A" are different keys. (SQL stores
//     need a binary collation, such as COLLATE "C" in PostgreSQL.)
//   - RevokeKey keeps the time of the first revocation, even if a later call
//     passes an earlier time.
//   - RevokeKey with a zero time, and AddRevocation with a zero RevokedAt, fail
//     and change nothing: the zero time means "not revoked", so storing it
//     would silently leave the key or token valid.
//   - RetireSigningKey ignores a zero notAfter or expiresAt, because a zero
//     time means "not scheduled" and times only move earlier.
//   - SigningKeys orders a zero NotBefore first, as the earliest time.
//   - A deleted signing key, and a swept opaque token, revocation or signing
//     key, no longer exists, so its identifier may be added again.
//   - Sweep removes no API key records, expired or not.
//   - Errors from opaque-token methods do not contain the token hash.
//   - InitSetting refuses an empty name, and a name or value over its bound,
//     and then stores nothing.
package storagetest

import (
	"testing"

	"github.com/keyturn/keyturn/storage"
)

// Store is every role interface keyturn's own stores implement.
type Store interface {
	storage.KeyStore
	storage.SigningKeyStore
	storage.RevocationStore
	storage.OpaqueTokenStore
	storage.Sweeper
	storage.SettingStore
	storage.SigningKeyUpdater
	storage.KeyJWKSReplacer
	storage.ReplayStore
	storage.FailureStore
}

// KeyJWKSReplacerStore is what [TestKeyJWKSReplacer] tests: a key store
// that can replace a key's JWK set.
type KeyJWKSReplacerStore interface {
	storage.KeyStore
	storage.KeyJWKSReplacer
}

// TestKeyJWKSReplacer tests a [storage.KeyJWKSReplacer]; newStore returns
// a fresh, empty store for each subtest.
func TestKeyJWKSReplacer(t *testing.T, newStore func(t *testing.T) KeyJWKSReplacerStore) {
	t.Helper()
	t.Run("Replace", func(t *testing.T) { testKeyReplaceJWKS(t, newStore) })
	t.Run("Concurrent", func(t *testing.T) { testKeyReplaceJWKSConcurrent(t, newStore) })
}

// Run runs the whole conformance suite; newStore returns a fresh, empty store
// for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Helper()
	t.Run("KeyStore", func(t *testing.T) {
		TestKeyStore(t, func(t *testing.T) storage.KeyStore { return newStore(t) })
	})
	t.Run("SigningKeyStore", func(t *testing.T) {
		TestSigningKeyStore(t, func(t *testing.T) storage.SigningKeyStore { return newStore(t) })
	})
	t.Run("RevocationStore", func(t *testing.T) {
		TestRevocationStore(t, func(t *testing.T) storage.RevocationStore { return newStore(t) })
	})
	t.Run("OpaqueTokenStore", func(t *testing.T) {
		TestOpaqueTokenStore(t, func(t *testing.T) storage.OpaqueTokenStore { return newStore(t) })
	})
	t.Run("SigningKeyUpdater", func(t *testing.T) {
		TestSigningKeyUpdater(t, func(t *testing.T) SigningKeyUpdaterStore { return newStore(t) })
	})
	t.Run("SettingStore", func(t *testing.T) {
		TestSettingStore(t, func(t *testing.T) storage.SettingStore { return newStore(t) })
	})
	t.Run("KeyJWKSReplacer", func(t *testing.T) {
		TestKeyJWKSReplacer(t, func(t *testing.T) KeyJWKSReplacerStore { return newStore(t) })
	})
	t.Run("ReplayStore", func(t *testing.T) {
		TestReplayStore(t, func(t *testing.T) storage.ReplayStore { return newStore(t) })
	})
	t.Run("FailureStore", func(t *testing.T) {
		TestFailureStore(t, func(t *testing.T) storage.FailureStore { return newStore(t) })
	})
	t.Run("Sweeper", func(t *testing.T) {
		testSweeper(t, newStore)
	})
	t.Run("SweepOneTime", func(t *testing.T) {
		testSweepOneTime(t, newStore)
	})
}
