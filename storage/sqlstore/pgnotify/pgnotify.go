// Package pgnotify hears, through PostgreSQL LISTEN, the changes that
// [github.com/keyturn/keyturn/storage/sqlstore] stores announce with NOTIFY
// on [sqlstore.NotifyChannel], so that every process sharing one database
// learns of a revocation, a signing-key change or a revoked API key within
// milliseconds instead of at its next poll.
//
// Start with [New], and pass the [*Listener] as keyturn.Config.Changes:
//
//	l, err := pgnotify.New(pgnotify.Config{ConnString: dsn})
//	...
//	srv, err := keyturn.New(ctx, keyturn.Config{Store: store, Changes: l, ...})
//	go srv.Run(ctx) // Run listens through l
//
// A Listener holds one dedicated connection (not from the host's pool) while
// it listens. When that connection fails it reconnects with exponential
// backoff, and after every (re)connect it reports a [storage.Resync], so
// that the server reloads what it may have missed. An idle connection is
// checked every PingInterval, so that a silently dead one is replaced.
//
// It is the only package of keyturn that imports a PostgreSQL driver
// (github.com/jackc/pgx/v5); the store itself stays on database/sql.
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// Defaults of [Config].
const (
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultPingInterval = 10 * time.Second

	// DefaultApplicationName is the application_name of the listening
	// connection (as pg_stat_activity shows it) unless ConnString sets one.
	DefaultApplicationName = "keyturn-pgnotify"
)

// Config configures a [Listener]. ConnString is required.
type Config struct {
	// ConnString is a pgx connection string (URL or keyword/value) for the
	// database the store is in, with the same search_path: the store's
	// DSN will do. Required.
	ConnString string

	// Schema is the schema whose changes are reported. Zero means the
	// current_schema() of the listening connection, which is the store's
	// when ConnString selects the same search_path.
	Schema string

	// MinBackoff and MaxBackoff bound the wait before reconnecting, which
	// doubles after each failed attempt. Zero means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration

	// PingInterval is how long the connection may stay silent before it
	// is checked with a ping (which must answer within the same time).
	// Zero means DefaultPingInterval.
	PingInterval time.Duration

	// Logger receives a line for each lost connection and failed attempt.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Listener implements [storage.Notifier] for sqlstore on PostgreSQL.
type Listener struct {
	conn       *pgx.ConnConfig
	schema     string
	minB, maxB time.Duration
	ping       time.Duration
	log        *slog.Logger
}

var _ storage.Notifier = (*Listener)(nil)

// New checks cfg and returns a Listener. It does not connect: [Listener.Listen]
// does.
func New(cfg Config) (*Listener, error) {
	if cfg.ConnString == "" {
		return nil, errors.New("keyturn/pgnotify: Config.ConnString is required")
	}
	cc, err := pgx.ParseConfig(cfg.ConnString)
	if err != nil {
		// pgx's message may quote the string, which may hold a password.
		return nil, errors.New("keyturn/pgnotify: Config.ConnString does not parse")
	}
	l := &Listener{
		conn:   cc,
		schema: cfg.Schema,
		minB:   orDuration(cfg.MinBackoff, DefaultMinBackoff),
		maxB:   orDuration(cfg.MaxBackoff, DefaultMaxBackoff),
		ping:   orDuration(cfg.PingInterval, DefaultPingInterval),
		log:    cfg.Logger,
	}
	if l.minB < 0 || l.maxB < l.minB || l.ping < 0 {
		return nil, errors.New("keyturn/pgnotify: want 0 <= MinBackoff <= MaxBackoff and PingInterval >= 0")
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = DefaultApplicationName
	}
	return l, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Listen implements [storage.Notifier]: it listens on
// [sqlstore.NotifyChannel] until ctx is done, reconnecting as needed, and
// returns ctx's error.
func (l *Listener) Listen(ctx context.Context, f func(storage.Change)) error {
	backoff := l.minB
	for {
		start := time.Now()
		err := l.listenOnce(ctx, f)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > l.maxB {
			backoff = l.minB // it worked for a while: start over
		}
		l.log.Warn("keyturn/pgnotify: listening failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, l.maxB)
	}
}

// listenOnce connects, listens and reports changes until the connection
// fails or ctx is done.
func (l *Listener) listenOnce(ctx context.Context, f func(storage.Change)) error {
	connectCtx, cancel := context.WithTimeout(ctx, max(l.ping, time.Second))
	conn, err := pgx.ConnectConfig(connectCtx, l.conn)
	cancel()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		conn.Close(closeCtx)
		cancel()
	}()
	schema := l.schema
	if schema == "" {
		var cur *string
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&cur); err != nil {
			return fmt.Errorf("reading current_schema(): %w", err)
		}
		if cur != nil {
			schema = *cur
		}
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{sqlstore.NotifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("LISTEN: %w", err)
	}
	// From here on nothing is missed: catch up with what came before.
	f(storage.Change{Kind: storage.Resync})
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.ping)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, l.ping)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			continue
		case err != nil:
			return fmt.Errorf("waiting for a notification: %w", err)
		}
		if c, ok := parse(n.Payload, schema); ok {
			f(c)
		}
	}
}

// parse reads a payload of sqlstore's (see [sqlstore.NotifyChannel]) for
// the given schema. Payloads of other schemas give false; one of the schema
// that it does not know, a Resync, to be safe.
func parse(payload, schema string) (storage.Change, bool) {
	s, rest, ok := strings.Cut(payload, " ")
	if !ok || s != schema {
		return storage.Change{}, false
	}
	kind, id, _ := strings.Cut(rest, " ")
	switch kind {
	case "r":
		return storage.Change{Kind: storage.RevocationAdded}, true
	case "s":
		return storage.Change{Kind: storage.SigningKeysChanged}, true
	case "k":
		if id == "" {
			return storage.Change{Kind: storage.Resync}, true
		}
		return storage.Change{Kind: storage.KeyChanged, ID: id}, true
	}
	return storage.Change{Kind: storage.Resync}, true
}
