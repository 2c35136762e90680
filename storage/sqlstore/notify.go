package sqlstore

import "context"

// NotifyChannel is the PostgreSQL channel on which a [Store] announces its
// writes with NOTIFY, for
// [github.com/keyturn/keyturn/storage/sqlstore/pgnotify] to hear.
//
// On PostgreSQL, each write that another process must not miss is
// followed, right after it committed, by a NOTIFY on NotifyChannel whose
// payload is the schema the store's tables live in (current_schema() of
// the writing connection), a space, and one of:
//
//	r         a revocation was added (Store.AddRevocation)
//	s         a signing key was added, retired, deleted or replaced
//	k <id>    the API key <id> was revoked (Store.RevokeKey)
//
// The schema lets stores in several schemas of one database share the
// channel. Notifications are a hint, not a log: one is lost if the writer
// dies between its write and its NOTIFY, or if nobody listens, and the
// failure of a NOTIFY is not reported (the write succeeded). Readers keep
// polling to catch those. On SQLite nothing is sent.
const NotifyChannel = "keyturn"

// Payload kinds of the notifications on NotifyChannel.
const (
	notifyRevocation  = "r"
	notifyKey         = "k"
	notifySigningKeys = "s"
)

// notify announces a committed write on PostgreSQL; see NotifyChannel.
func (s *Store) notify(ctx context.Context, payload string) {
	if s.d != Postgres {
		return
	}
	// The write is done: a failure here only delays the other processes
	// until they poll, so it is not the caller's error.
	_, _ = s.db.ExecContext(ctx, "SELECT pg_notify($1, coalesce(current_schema(), '') || ' ' || $2)", NotifyChannel, payload)
}
