package keyturn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/keyturn/keyturn/scope"
)

// EventKind says what an [Event] reports.
type EventKind uint8

const (
	// TokenIssued: the token endpoint issued an access token.
	TokenIssued EventKind = iota + 1
	// AuthFailed: a client (or, for the password grant, a user) failed to
	// authenticate at one of the endpoints, or was refused by the
	// [Limiter] before trying.
	AuthFailed
	// TokenRevoked: the revocation endpoint revoked an access token.
	TokenRevoked
)

func (k EventKind) String() string {
	switch k {
	case TokenIssued:
		return "token issued"
	case AuthFailed:
		return "authentication failed"
	case TokenRevoked:
		return "token revoked"
	}
	return "unknown event"
}

// Event is what the [Endpoint] reports to [EndpointConfig.Events]. It never
// holds a secret: no client secret, API key, password or token, only ids.
type Event struct {
	Kind EventKind
	// Time is when the event happened, by the endpoint's clock.
	Time time.Time
	// Endpoint is "token", "introspection" or "revocation".
	Endpoint string
	// Method is how the client presented its credentials; zero for the
	// password grant and for requests that presented none.
	Method AuthMethod
	// ClientID is the client's id. For AuthFailed it is the id as
	// presented, which may name no client at all, when it is id-shaped (at
	// most 32 bytes of printable ASCII without spaces), and otherwise a
	// fingerprint "sha256:<16 hex digits>" of it, so that a secret pasted
	// into the wrong field is never logged.
	ClientID string
	// Subject is the sub of the issued or revoked token; for AuthFailed in
	// the password grant, always a fingerprint "sha256:<16 hex digits>" of
	// the username as presented, never the name itself: a password typed
	// into the username field must not reach a log. Repeated attempts with
	// one name still share a fingerprint.
	Subject string
	// Scope is the scope of the issued or revoked token.
	Scope scope.Set
	// TokenID is the jti of the issued or revoked token.
	TokenID string
	// ExpiresAt is when the issued or revoked token expires.
	ExpiresAt time.Time
	// RemoteAddr is the request's RemoteAddr.
	RemoteAddr string
	// Err says why authentication failed (ErrInvalidClient,
	// ErrInvalidGrant, ErrRateLimited or ErrBusy, possibly wrapping the
	// authenticator's reason).
	Err error
}

// maxEventID bounds the presented ids an Event repeats as given.
const maxEventID = 32

// eventID returns what an AuthFailed event may say of an attacker-chosen id
// or username: the value itself when it is id-shaped (1 to maxEventID bytes
// of printable ASCII, no space), and otherwise "sha256:" and the first 16 hex
// digits of its SHA-256. A whole API key or a client secret pasted into the
// client_id field, or anything else long or odd, thus never reaches a log,
// while repeated attempts with the same value can still be correlated.
func eventID(s string) string {
	if len(s) <= maxEventID {
		ok := true
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] > '~' {
				ok = false
				break
			}
		}
		if ok {
			return s
		}
	}
	return fingerprint(s)
}

// fingerprint returns "sha256:" and the first 16 hex digits of s's SHA-256:
// enough to correlate repeated attempts, never the value itself.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// LogEvents returns an [EndpointConfig.Events] hook that logs every event
// to l: TokenIssued and TokenRevoked at Info, AuthFailed at Warn, with the
// event's ids and times as attributes and never a secret. A nil Events
// hook logs this way to slog.Default().
func LogEvents(l *slog.Logger) func(context.Context, Event) {
	return func(ctx context.Context, ev Event) { logEvent(l, ctx, ev) }
}

func logEvent(l *slog.Logger, ctx context.Context, ev Event) {
	level := slog.LevelInfo
	if ev.Kind == AuthFailed {
		level = slog.LevelWarn
	}
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("endpoint", ev.Endpoint))
	if ev.Method != 0 {
		attrs = append(attrs, slog.String("method", ev.Method.String()))
	}
	if ev.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", ev.ClientID))
	}
	if ev.Subject != "" {
		attrs = append(attrs, slog.String("sub", ev.Subject))
	}
	if !ev.Scope.IsEmpty() {
		attrs = append(attrs, slog.String("scope", ev.Scope.String()))
	}
	if ev.TokenID != "" {
		attrs = append(attrs, slog.String("jti", ev.TokenID))
	}
	if !ev.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.Time("exp", ev.ExpiresAt))
	}
	if ev.RemoteAddr != "" {
		attrs = append(attrs, slog.String("remote_addr", ev.RemoteAddr))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("reason", ev.Err.Error()))
	}
	l.LogAttrs(ctx, level, "keyturn: "+ev.Kind.String(), attrs...)
}
