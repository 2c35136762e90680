package storage

import "context"

// ChangeKind says what a [Change] is about.
type ChangeKind uint8

const (
	// RevocationAdded reports that a revocation (of a token or of every
	// token of a client) was stored: reload revocations.
	RevocationAdded ChangeKind = 1 + iota
	// SigningKeysChanged reports that a signing key was added, retired,
	// deleted or replaced: reload signing keys.
	SigningKeysChanged
	// KeyChanged reports that the API key record Change.ID was changed
	// (revoked, or any other change that may make it stop authenticating):
	// forget any copy of it.
	KeyChanged
	// Resync reports that changes may have been missed, for example while
	// the notification connection was down: reload everything and forget
	// every cached key record. A [Notifier] sends it each time it starts
	// listening, the first time included.
	Resync
)

// String returns the kind's name, e.g. "revocation-added".
func (k ChangeKind) String() string {
	switch k {
	case RevocationAdded:
		return "revocation-added"
	case SigningKeysChanged:
		return "signing-keys-changed"
	case KeyChanged:
		return "key-changed"
	case Resync:
		return "resync"
	}
	return "unknown"
}

// Change is one notification from a [Notifier].
type Change struct {
	Kind ChangeKind
	// ID is the key id of a KeyChanged change, and empty otherwise.
	ID string
}

// Notifier tells a process about changes made to a shared store by any
// process, itself included, so that it need not wait for its next poll.
// It is optional: polling remains the fallback that also catches what a
// notifier missed, and a store shared by no other process needs none.
// [github.com/keyturn/keyturn/storage/sqlstore/pgnotify] implements it
// for a [github.com/keyturn/keyturn/storage/sqlstore] store on PostgreSQL.
type Notifier interface {
	// Listen calls f with each change until ctx is done, then returns ctx's
	// error. Calls to f are sequential and must return quickly. Each time
	// Listen starts listening (first, and again after a lost connection)
	// it calls f with a Resync change once it will not miss further
	// changes, so that f can catch up with those made in between. A
	// notifier that loses its connection keeps trying to listen again
	// until ctx is done. Notifications are a hint: f may hear of a change
	// more than once, and a change made while listening was down is only
	// reported through the Resync that follows.
	Listen(ctx context.Context, f func(Change)) error
}
