// Package sqlstore keeps keyturn's state — API keys, signing keys,
// revocations and opaque tokens — in a SQL database through database/sql:
// SQLite embedded in the host (pure Go, with modernc.org/sqlite) or
// PostgreSQL for production (with github.com/jackc/pgx/v5/stdlib).
//
// Start with [New]: give it the host's *sql.DB and its [Dialect] in a
// [Config], call [Store.Migrate] once at start-up, and pass the [*Store]
// wherever keyturn asks for a [storage.KeyStore], [storage.SigningKeyStore],
// [storage.SigningKeyUpdater], [storage.RevocationStore],
// [storage.OpaqueTokenStore], [storage.SettingStore] or [storage.Sweeper].
// Call [Store.Sweep] on a timer so that expired opaque tokens, revocations and
// signing keys do not accumulate.
//
// The package imports no driver; the host imports the one it opens:
//
//	import _ "modernc.org/sqlite"                 // driver name "sqlite"
//	import _ "github.com/jackc/pgx/v5/stdlib"     // driver name "pgx"
//
// # SQLite
//
// Open a file (not ":memory:", which gives each pooled connection its own
// empty database) with these pragmas, which modernc.org/sqlite runs on every
// connection it opens:
//
//	db, err := sql.Open("sqlite", "file:/var/lib/app/keyturn.db"+
//		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
//
// busy_timeout(5000) makes a writer wait up to 5 s for another one instead of
// failing at once with SQLITE_BUSY; journal_mode(WAL) lets readers proceed
// while one connection writes; foreign_keys(1) enforces foreign keys, which
// SQLite leaves off by default, for the host's own tables if it shares the
// file (keyturn's tables declare none).
// Every write the store makes is a single statement, never a deferred
// transaction that reads and then writes, so with busy_timeout set,
// concurrent writers, through one or several *sql.DB handles or processes,
// queue rather than fail, and the pool needs no SetMaxOpenConns limit.
// [Store.Migrate] takes the write lock up front with BEGIN IMMEDIATE.
// SQLite's default synchronous(FULL) makes each commit durable across power
// loss; synchronous(NORMAL) is much faster on slow disks and, with WAL, loses
// at most the last commits on power loss, never on a process crash. The
// tables are STRICT, which needs SQLite 3.37 or later.
//
// On SQLite the store prepares its hot lookups (key by id, opaque token)
// once; [Store.Close] releases them, as closing the *sql.DB does.
//
// # PostgreSQL
//
//	db, err := sql.Open("pgx", "postgres://keyturn@db.internal:5432/app?sslmode=verify-full")
//
// The tables are created in the first schema of the connection's search_path.
// To keep them in a schema of their own, create it and name it in the URL,
// e.g. "...&search_path=keyturn" (pgx sends it as a run-time parameter on every
// connection). [Store.Migrate] serialises concurrent migrations, from any
// number of processes, with a transaction-scoped advisory lock
// (pg_advisory_xact_lock), so every replica may call it at start-up.
//
// On PostgreSQL the store also announces, with NOTIFY on [NotifyChannel],
// the writes other processes must not miss (revocations, signing-key
// changes, revoked API keys), for
// [github.com/keyturn/keyturn/storage/sqlstore/pgnotify] to hear; see
// NotifyChannel for the payloads.
//
// # Schema
//
// The schema is embedded and versioned: migrations/<dialect>/NNN_*.sql, each
// applied once, in order, in one transaction, and recorded in the table
// keyturn_schema_version. Every table is named keyturn_*. A schema change
// always comes as a new version; applied migrations are never edited.
// [Store.Migrate] refuses a database whose schema is newer than this code
// knows, and every other method fails with an error wrapping
// [ErrSchemaVersion] until the schema is current (it checks once per Store,
// on first use).
//
// Times are stored as UTC Unix microseconds in 64-bit integer columns, so
// both databases keep exactly the same instants (sub-microsecond parts are
// truncated) and hand them back in UTC. A time that may be unset is NULL when
// it is the zero time. A key's scope is stored as a JSON array of its tokens
// in a text column. Identifiers are compared byte-wise, as Go compares
// strings (COLLATE "C" on PostgreSQL). Lookups and merges use primary keys
// (key id, signing key id, revocation kind and id, opaque token hash, setting
// name); indexes
// cover [Store.RevocationsSince] and the expiry sweeps.
//
// # Security
//
// The store keeps only what the storage contract hands it: a keyed hash of
// each API key's secret, a hash of each opaque token, and signing keys'
// private halves exactly as given (sealed when the host configured a
// key-encryption key). Every query is a fixed, parameterised statement; no
// SQL is built from the values passed in. Errors name a record by at most a
// short excerpt of its public identifier (key id, jti), never contain a token
// hash or other record contents, and the store never logs.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyturn/keyturn/storage"
)

var (
	_ storage.KeyStore          = (*Store)(nil)
	_ storage.SigningKeyStore   = (*Store)(nil)
	_ storage.RevocationStore   = (*Store)(nil)
	_ storage.OpaqueTokenStore  = (*Store)(nil)
	_ storage.Sweeper           = (*Store)(nil)
	_ storage.SettingStore      = (*Store)(nil)
	_ storage.SigningKeyUpdater = (*Store)(nil)
	_ storage.KeyJWKSReplacer   = (*Store)(nil)
	_ storage.ReplayStore       = (*Store)(nil)
	_ storage.FailureStore      = (*Store)(nil)
)

// Dialect names the SQL database behind a *sql.DB.
type Dialect int

const (
	// SQLite is SQLite 3.37 or later, e.g. through modernc.org/sqlite.
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL 12 or later, e.g. through
	// github.com/jackc/pgx/v5/stdlib.
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// ErrSchemaVersion reports that the database schema is not the version this
// code needs: missing or older (call [Store.Migrate]) or newer (upgrade
// keyturn).
var ErrSchemaVersion = errors.New("keyturn/sqlstore: database schema version mismatch")

// errZeroTime is returned when a revocation carries no time.
var errZeroTime = errors.New("keyturn/sqlstore: revocation time is zero")

// errTimeRange is returned for a time that does not fit in int64 Unix
// microseconds (beyond about 292,000 years from 1970).
var errTimeRange = errors.New("keyturn/sqlstore: time out of range")

// Config configures a [Store].
type Config struct {
	// DB is the database. Required. The store does not close it.
	DB *sql.DB
	// Dialect says which database DB talks to. Required.
	Dialect Dialect
	// Now stamps the migrations recorded in keyturn_schema_version; nil
	// means time.Now. No other method reads a clock: record times come from
	// the caller.
	Now func() time.Time
}

// Store is a SQL store. It is safe for concurrent use, and several Stores,
// in one process or many, may share a database.
type Store struct {
	db  *sql.DB
	d   Dialect
	now func() time.Time
	q   *queries

	// current is set once the schema is known to be at the latest version.
	current atomic.Bool

	// hot holds the prepared statements of the hot lookups, once prepared
	// (see hotStmts); nil before, and after Close.
	hot    atomic.Pointer[hotStmts]
	hotMu  sync.Mutex // serialises preparing and closing
	closed bool       // guarded by hotMu; no preparing after Close
}

// hotStmts are the statements of the lookups made on every token request
// and every verification. On SQLite they are prepared once per Store
// (database/sql then prepares each on a connection the first time it runs
// there), which saves about two thirds of each lookup's time. On PostgreSQL
// they are not: pgx already caches prepared statements per connection, and
// leaving it to pgx honours the host's choice of query execution mode (such
// as the simple protocol behind a transaction-pooling proxy).
type hotStmts struct {
	key, opaqueToken *sql.Stmt
}

// hotStatements returns the prepared hot statements, preparing them on first
// use. It returns nil if they cannot be prepared now (the caller then runs
// the unprepared query) or the Store is closed.
func (s *Store) hotStatements(ctx context.Context) *hotStmts {
	if h := s.hot.Load(); h != nil || s.d != SQLite {
		return h
	}
	s.hotMu.Lock()
	defer s.hotMu.Unlock()
	if h := s.hot.Load(); h != nil || s.closed {
		return h
	}
	var h hotStmts
	var err error
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&h.key, s.q.key},
		{&h.opaqueToken, s.q.opaqueToken},
	} {
		if *p.dst, err = s.db.PrepareContext(ctx, p.query); err != nil {
			h.close()
			return nil
		}
	}
	s.hot.Store(&h)
	return &h
}

func (h *hotStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{h.key, h.opaqueToken} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// queryRow runs a hot lookup, prepared when possible.
func (s *Store) queryRow(ctx context.Context, pick func(*hotStmts) *sql.Stmt, query string, args ...any) *sql.Row {
	if h := s.hotStatements(ctx); h != nil {
		return pick(h).QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, query, args...)
}

// Close releases the statements the Store prepared. It does not close the
// *sql.DB, whose own Close also releases them. Call it after the last use of
// the Store; methods called later still work, unprepared.
func (s *Store) Close() error {
	s.hotMu.Lock()
	defer s.hotMu.Unlock()
	s.closed = true
	h := s.hot.Swap(nil)
	if h == nil {
		return nil
	}
	if err := h.close(); err != nil {
		return fmt.Errorf("keyturn/sqlstore: close: %w", err)
	}
	return nil
}

// New returns a store over c.DB. It does no I/O: call [Store.Migrate] before
// first use.
func New(c Config) (*Store, error) {
	if c.DB == nil {
		return nil, errors.New("keyturn/sqlstore: Config.DB is nil")
	}
	q, ok := dialectQueries[c.Dialect]
	if !ok {
		return nil, fmt.Errorf("keyturn/sqlstore: unknown Config.Dialect %d", int(c.Dialect))
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: c.DB, d: c.Dialect, now: now, q: q}, nil
}

// ready returns nil if the schema is current, checking the database the first
// time it is called (and on every call until the check succeeds).
func (s *Store) ready(ctx context.Context) error {
	if s.current.Load() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, "schema", err)
	}
	v, err := s.schemaVersion(ctx, s.db)
	if err != nil {
		return s.fail(ctx, "schema", err)
	}
	if err := checkVersion(v, s.d); err != nil {
		return err
	}
	s.current.Store(true)
	return nil
}

// begin checks the context and the schema before an operation.
func (s *Store) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.ready(ctx)
}

// fail wraps err for operation op. If ctx is done, the result also wraps the
// context's error, because drivers report an interrupted query in their own
// words.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("keyturn/sqlstore: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("keyturn/sqlstore: %s: %w", op, err)
}

// CreateKey implements [storage.KeyStore].
func (s *Store) CreateKey(ctx context.Context, k storage.Key) error {
	const op = "create key"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	scope, err := json.Marshal(k.Scope)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	created, err := micros(k.CreatedAt)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	var opt [4]sql.NullInt64 // expires, revoked, previous expires, last used
	for i, tm := range []time.Time{k.ExpiresAt, k.RevokedAt, k.PreviousExpiresAt, k.LastUsedAt} {
		if opt[i], err = optMicros(tm); err != nil {
			return s.fail(ctx, op, err)
		}
	}
	var resources sql.NullString
	if len(k.Resources) > 0 {
		b, err := json.Marshal(k.Resources)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		resources = sql.NullString{String: string(b), Valid: true}
	}
	res, err := s.db.ExecContext(ctx, s.q.createKey,
		k.ID, k.Name, k.Owner, string(scope), nullBytes(k.SecretHash),
		int64(k.TokenLifetime), created, opt[0], opt[1],
		nullBytes(k.PreviousSecretHash), opt[2], opt[3],
		k.AuthMethod, nullBytes(k.JWKS), resources, k.DPoPBound)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return s.inserted(ctx, op, res)
}

// Key implements [storage.KeyStore].
func (s *Store) Key(ctx context.Context, id string) (storage.Key, error) {
	const op = "key"
	if err := s.begin(ctx, op); err != nil {
		return storage.Key{}, err
	}
	k, err := scanKey(s.queryRow(ctx, func(h *hotStmts) *sql.Stmt { return h.key }, s.q.key, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Key{}, fmt.Errorf("keyturn/sqlstore: key %s: %w", excerpt(id), storage.ErrNotFound)
	}
	if err != nil {
		return storage.Key{}, s.fail(ctx, op, err)
	}
	return k, nil
}

// Keys implements [storage.KeyStore].
func (s *Store) Keys(ctx context.Context, after string, limit int) ([]storage.Key, error) {
	const op = "list keys"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	var err error
	if after == "" {
		rows, err = s.db.QueryContext(ctx, s.q.keysFirst, sqlLimit(limit))
	} else {
		rows, err = s.db.QueryContext(ctx, s.q.keysAfter, after, sqlLimit(limit))
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	var out []storage.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return out, nil
}

// RevokeKey implements [storage.KeyStore]. A zero at is an error, because the
// zero time means "not revoked".
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	const op = "revoke key"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	if at.IsZero() {
		return errZeroTime
	}
	t, err := micros(at)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	res, err := s.db.ExecContext(ctx, s.q.revokeKey, t, id)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if err := s.updated(ctx, op, res, "key "+excerpt(id)); err != nil {
		return err
	}
	s.notify(ctx, notifyKey+" "+id)
	return nil
}

// RotateKey implements [storage.KeyStore] in one conditional UPDATE, a
// compare-and-swap on the current hash of a key not revoked.
func (s *Store) RotateKey(ctx context.Context, id string, old, next []byte, oldUntil time.Time) (bool, error) {
	const op = "rotate key"
	if err := s.begin(ctx, op); err != nil {
		return false, err
	}
	until, err := optMicros(oldUntil)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	var prev any // NULL unless the old hash is kept
	if until.Valid {
		prev = keyBytes(old)
	}
	res, err := s.db.ExecContext(ctx, s.q.rotateKey, nullBytes(next), prev, until, id, []byte{}, keyBytes(old))
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	// Other processes' key caches must drop the old secret now.
	return s.swapped(ctx, op, res, s.q.keyExists, "key", id, notifyKey+" "+id)
}

// TouchKey implements [storage.KeyStore] in one conditional UPDATE, which
// writes nothing while last_used_at is recent.
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	const op = "touch key"
	if err := s.begin(ctx, op); err != nil {
		return false, err
	}
	t, err := micros(at)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	stale, err := micros(at.Add(-every))
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	res, err := s.db.ExecContext(ctx, s.q.touchKey, t, id, stale)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	return n > 0, nil
}

// ReplaceKeyJWKS implements [storage.KeyJWKSReplacer] in one conditional UPDATE, a
// compare-and-swap on the JWK set of a key not revoked.
func (s *Store) ReplaceKeyJWKS(ctx context.Context, id string, old, next []byte) (bool, error) {
	const op = "replace key jwks"
	if err := s.begin(ctx, op); err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, s.q.replaceKeyJWKS, nullBytes(next), id, []byte{}, keyBytes(old))
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	// Other processes' key caches must drop the old keys now.
	return s.swapped(ctx, op, res, s.q.keyExists, "key", id, notifyKey+" "+id)
}

// UseOnce implements [storage.ReplayStore] in one INSERT … ON CONFLICT,
// which changes a row only when the value is new or its record expired.
func (s *Store) UseOnce(ctx context.Context, kind, id string, now, expiresAt time.Time) (bool, error) {
	const op = "use once"
	if err := s.begin(ctx, op); err != nil {
		return false, err
	}
	if err := checkReplayID("one-time value kind", kind); err != nil {
		return false, err
	}
	if err := checkReplayID("one-time value id", id); err != nil {
		return false, err
	}
	n, err := micros(now)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	exp, err := micros(expiresAt)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	res, err := s.db.ExecContext(ctx, s.q.useOnce, kind, id, exp, n)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	c, err := res.RowsAffected()
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	return c > 0, nil
}

// AddFailure implements [storage.FailureStore] in one INSERT … ON CONFLICT
// … RETURNING, an atomic increment.
func (s *Store) AddFailure(ctx context.Context, key string, window, expiresAt time.Time) (int64, error) {
	const op = "add failure"
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	if err := checkReplayID("failure key", key); err != nil {
		return 0, err
	}
	w, err := micros(window)
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	exp, err := micros(expiresAt)
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, s.q.addFailure, key, w, exp).Scan(&n); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	return n, nil
}

func checkReplayID(what, v string) error {
	if len(v) == 0 || len(v) > storage.MaxReplayID {
		return fmt.Errorf("keyturn/sqlstore: %s is %d bytes, want 1 to %d", what, len(v), storage.MaxReplayID)
	}
	return nil
}

// AddSigningKey implements [storage.SigningKeyStore].
func (s *Store) AddSigningKey(ctx context.Context, k storage.SigningKey) error {
	const op = "add signing key"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	var t [4]any
	for i, tm := range []time.Time{k.CreatedAt, k.NotBefore} {
		v, err := micros(tm)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		t[i] = v
	}
	for i, tm := range []time.Time{k.NotAfter, k.ExpiresAt} {
		v, err := optMicros(tm)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		t[2+i] = v
	}
	res, err := s.db.ExecContext(ctx, s.q.addSigningKey,
		k.ID, k.Algorithm, nullBytes(k.Private), nullBytes(k.Public), t[0], t[1], t[2], t[3])
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if err := s.inserted(ctx, op, res); err != nil {
		return err
	}
	s.notify(ctx, notifySigningKeys)
	return nil
}

// SigningKeys implements [storage.SigningKeyStore].
func (s *Store) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	const op = "list signing keys"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q.signingKeys)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	var out []storage.SigningKey
	for rows.Next() {
		var (
			k                   storage.SigningKey
			priv, pub           bytesCol
			created, notBefore  int64
			notAfter, expiresAt sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &priv, &pub, &created, &notBefore, &notAfter, &expiresAt); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		k.Private, k.Public = priv, pub
		k.CreatedAt, k.NotBefore = fromMicros(created), fromMicros(notBefore)
		k.NotAfter, k.ExpiresAt = fromOptMicros(notAfter), fromOptMicros(expiresAt)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return out, nil
}

// RetireSigningKey implements [storage.SigningKeyStore]. A zero notAfter or
// expiresAt leaves that time as it is.
func (s *Store) RetireSigningKey(ctx context.Context, id string, notAfter, expiresAt time.Time) error {
	const op = "retire signing key"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	na, err := optMicros(notAfter)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	ea, err := optMicros(expiresAt)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	// Each new time appears three times in the statement (see earlier()).
	res, err := s.db.ExecContext(ctx, s.q.retireSigningKey, na, na, na, ea, ea, ea, id)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if err := s.updated(ctx, op, res, "signing key "+excerpt(id)); err != nil {
		return err
	}
	s.notify(ctx, notifySigningKeys)
	return nil
}

// DeleteSigningKey implements [storage.SigningKeyStore].
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	const op = "delete signing key"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q.deleteSigningKey, id); err != nil {
		return s.fail(ctx, op, err)
	}
	s.notify(ctx, notifySigningKeys)
	return nil
}

// ReplaceSigningKeyPrivate implements [storage.SigningKeyUpdater] in one
// conditional UPDATE.
func (s *Store) ReplaceSigningKeyPrivate(ctx context.Context, id string, old, next []byte) (bool, error) {
	const op = "replace signing key"
	if err := s.begin(ctx, op); err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, s.q.replaceSigningKeyPrivate, nullBytes(next), id, []byte{}, keyBytes(old))
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	return s.swapped(ctx, op, res, s.q.signingKeyExists, "signing key", id, notifySigningKeys)
}

// swapped finishes a compare-and-swap UPDATE of the record id: true (and
// the notification sent) when it changed a row, false when the record
// holds another value now, and an error wrapping storage.ErrNotFound when
// existsQuery finds no such record.
func (s *Store) swapped(ctx context.Context, op string, res sql.Result, existsQuery, what, id, notification string) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	if n > 0 {
		s.notify(ctx, notification)
		return true, nil
	}
	var exists int
	if err := s.db.QueryRowContext(ctx, existsQuery, id).Scan(&exists); err != nil {
		return false, s.fail(ctx, op, err)
	}
	if exists == 0 {
		return false, fmt.Errorf("keyturn/sqlstore: %s %s: %w", what, excerpt(id), storage.ErrNotFound)
	}
	return false, nil
}

// InitSetting implements [storage.SettingStore]: an INSERT that does nothing
// when the name is taken, then a read of what the name holds, which no
// later call can change.
func (s *Store) InitSetting(ctx context.Context, name string, value []byte) ([]byte, error) {
	const op = "init setting"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	if name == "" || len(name) > storage.MaxSettingName || len(value) > storage.MaxSettingValue {
		return nil, fmt.Errorf("keyturn/sqlstore: setting %s: name or value out of bounds", excerpt(name))
	}
	if _, err := s.db.ExecContext(ctx, s.q.initSetting, name, keyBytes(value)); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	var cur bytesCol
	if err := s.db.QueryRowContext(ctx, s.q.setting, name).Scan(&cur); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if cur == nil {
		cur = bytesCol{}
	}
	return cur, nil
}

// Setting implements [storage.SettingStore].
func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	const op = "setting"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	var cur bytesCol
	err := s.db.QueryRowContext(ctx, s.q.setting, name).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("keyturn/sqlstore: setting %s: %w", excerpt(name), storage.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if cur == nil {
		cur = bytesCol{}
	}
	return cur, nil
}

// AddRevocation implements [storage.RevocationStore]. A zero RevokedAt is an
// error, because the zero time means "not revoked". The merge with an
// existing revocation happens in one statement, so concurrent calls for the
// same revocation cannot lose either's times.
func (s *Store) AddRevocation(ctx context.Context, r storage.Revocation) error {
	const op = "add revocation"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	if r.RevokedAt.IsZero() {
		return errZeroTime
	}
	revoked, err := micros(r.RevokedAt)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	expires, err := optMicros(r.ExpiresAt)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if _, err := s.db.ExecContext(ctx, s.q.addRevocation, int64(r.Kind), r.ID, revoked, expires); err != nil {
		return s.fail(ctx, op, err)
	}
	s.notify(ctx, notifyRevocation)
	return nil
}

// RevocationsSince implements [storage.RevocationStore].
func (s *Store) RevocationsSince(ctx context.Context, since time.Time, limit int) ([]storage.Revocation, error) {
	const op = "revocations since"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	t, err := micros(since)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.db.QueryContext(ctx, s.q.revocationsSince, t, sqlLimit(limit))
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	var out []storage.Revocation
	for rows.Next() {
		var (
			r       storage.Revocation
			kind    int64
			revoked int64
			expires sql.NullInt64
		)
		if err := rows.Scan(&kind, &r.ID, &revoked, &expires); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		if kind < 0 || kind > math.MaxUint8 {
			return nil, s.fail(ctx, op, fmt.Errorf("stored revocation kind %d out of range", kind))
		}
		r.Kind = storage.RevocationKind(kind)
		r.RevokedAt, r.ExpiresAt = fromMicros(revoked), fromOptMicros(expires)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return out, nil
}

// AddOpaqueToken implements [storage.OpaqueTokenStore].
func (s *Store) AddOpaqueToken(ctx context.Context, t storage.OpaqueToken) error {
	const op = "add opaque token"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	expires, err := optMicros(t.ExpiresAt)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	res, err := s.db.ExecContext(ctx, s.q.addOpaqueToken, keyBytes(t.Hash), t.ClientID, nullBytes(t.Claims), expires)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return s.inserted(ctx, op, res)
}

// OpaqueToken implements [storage.OpaqueTokenStore].
func (s *Store) OpaqueToken(ctx context.Context, hash []byte) (storage.OpaqueToken, error) {
	const op = "opaque token"
	if err := s.begin(ctx, op); err != nil {
		return storage.OpaqueToken{}, err
	}
	var (
		t       storage.OpaqueToken
		claims  bytesCol
		expires sql.NullInt64
	)
	err := s.queryRow(ctx, func(h *hotStmts) *sql.Stmt { return h.opaqueToken }, s.q.opaqueToken, keyBytes(hash)).
		Scan(&t.ClientID, &claims, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.OpaqueToken{}, fmt.Errorf("keyturn/sqlstore: opaque token: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.OpaqueToken{}, s.fail(ctx, op, err)
	}
	t.Hash = append([]byte{}, hash...)
	t.Claims = claims
	t.ExpiresAt = fromOptMicros(expires)
	return t, nil
}

// sweepBatch bounds the rows one DELETE statement of [Store.Sweep] removes,
// so that a large backlog never holds SQLite's write lock for long.
var sweepBatch = 1000 // a variable for tests

// Sweep implements [storage.Sweeper]. It deletes opaque tokens, revocations
// and signing keys whose ExpiresAt is set and not after now, and one-time
// values and failure counts whose expiry is not after now, in batches of at
// most 1000 rows per statement; API key records are never swept. If it fails
// part-way, the rows already deleted stay deleted and the count returned is
// the number deleted so far.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	const op = "sweep"
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	t, err := micros(now)
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	n := 0
	for _, q := range []string{s.q.sweepOpaqueTokens, s.q.sweepRevocations, s.q.sweepSigningKeys, s.q.sweepUsed, s.q.sweepFailures} {
		for {
			res, err := s.db.ExecContext(ctx, q, t, sweepBatch)
			if err != nil {
				return n, s.fail(ctx, op, err)
			}
			c, err := res.RowsAffected()
			if err != nil {
				return n, s.fail(ctx, op, err)
			}
			n += int(c)
			if c < int64(sweepBatch) {
				break
			}
		}
	}
	return n, nil
}

// inserted turns the result of an INSERT … ON CONFLICT DO NOTHING into
// storage.ErrExists when no row was inserted.
func (s *Store) inserted(ctx context.Context, op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("keyturn/sqlstore: %s: %w", op, storage.ErrExists)
	}
	return nil
}

// updated turns the result of an UPDATE by primary key into
// storage.ErrNotFound when no row matched. Both dialects count matched rows,
// changed or not.
func (s *Store) updated(ctx context.Context, op string, res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("keyturn/sqlstore: %s: %w", what, storage.ErrNotFound)
	}
	return nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

func scanKey(r rowScanner) (storage.Key, error) {
	var (
		k                            storage.Key
		scope                        string
		hash, prevHash, jwks         bytesCol
		lifetime                     int64
		created                      int64
		expires, revoked, prev, used sql.NullInt64
		resources                    sql.NullString
	)
	if err := r.Scan(&k.ID, &k.Name, &k.Owner, &scope, &hash, &lifetime, &created, &expires, &revoked,
		&prevHash, &prev, &used, &k.AuthMethod, &jwks, &resources, &k.DPoPBound); err != nil {
		return storage.Key{}, err
	}
	k.JWKS = jwks
	if resources.Valid {
		if err := json.Unmarshal([]byte(resources.String), &k.Resources); err != nil {
			return storage.Key{}, errors.New("stored resources are not a JSON array of strings")
		}
	}
	k.PreviousSecretHash = prevHash
	k.PreviousExpiresAt, k.LastUsedAt = fromOptMicros(prev), fromOptMicros(used)
	if err := json.Unmarshal([]byte(scope), &k.Scope); err != nil {
		return storage.Key{}, errors.New("stored scope is not a JSON array of strings")
	}
	k.SecretHash = hash
	k.TokenLifetime = time.Duration(lifetime)
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt, k.RevokedAt = fromOptMicros(expires), fromOptMicros(revoked)
	return k, nil
}

// zeroMicros is the zero time.Time in Unix microseconds, as NOT NULL time
// columns store it.
const zeroMicros = -62135596800000000

// Bounds, in Unix seconds, of the times that fit in int64 microseconds.
const (
	minSeconds = math.MinInt64/1_000_000 + 1
	maxSeconds = math.MaxInt64/1_000_000 - 1
)

// micros converts t to Unix microseconds, truncating.
func micros(t time.Time) (int64, error) {
	if sec := t.Unix(); sec < minSeconds || sec > maxSeconds {
		return 0, errTimeRange
	}
	return t.UnixMicro(), nil
}

// optMicros is micros for a nullable column: the zero time is NULL.
func optMicros(t time.Time) (sql.NullInt64, error) {
	if t.IsZero() {
		return sql.NullInt64{}, nil
	}
	v, err := micros(t)
	return sql.NullInt64{Int64: v, Valid: err == nil}, err
}

func fromMicros(v int64) time.Time {
	if v == zeroMicros {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func fromOptMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// sqlLimit maps the storage contract's "zero or less means no limit" to a
// LIMIT both dialects accept.
func sqlLimit(limit int) int64 {
	if limit <= 0 {
		return math.MaxInt64
	}
	return int64(limit)
}

// nullBytes stores a nil slice as NULL and any other, even an empty one, as a
// blob.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// keyBytes binds a byte slice used as a key: never NULL.
func keyBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// bytesCol scans a nullable blob into a fresh slice: NULL is nil, anything
// else non-nil.
type bytesCol []byte

func (b *bytesCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = append([]byte{}, v...)
	case string:
		*b = append([]byte{}, v...)
	default:
		return fmt.Errorf("cannot scan %T into bytes", src)
	}
	return nil
}

// excerpt returns a short, quoted excerpt of a public identifier for error
// text.
func excerpt(id string) string {
	const max = 32
	if len(id) <= max {
		return strconv.Quote(id)
	}
	cut := max
	for cut > 0 && id[cut]&0xC0 == 0x80 {
		cut--
	}
	return strconv.Quote(id[:cut]) + "…"
}

// rebind rewrites the ? placeholders of q as $1, $2, … for PostgreSQL. The
// queries it is given are constants of this package with no ? inside
// literals.
func rebind(d Dialect, q string) string {
	if d != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
