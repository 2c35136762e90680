package keyturn

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/keyturn/keyturn/internal/ratelimit"
)

// Limiter protects client secrets and user passwords against brute force
// (RFC 6749 §2.3.1, §10.10). The [Endpoint] asks it before checking
// credentials and tells it about every failure; a positive wait from Allow
// refuses the attempt with 429 Too Many Requests and a Retry-After header,
// without checking the credentials. [RateLimiter] is the default; a host
// with other needs (a shared store across processes, delaying instead of
// refusing, trusting a proxy's client address) implements its own.
type Limiter interface {
	// Allow returns zero if an authentication attempt for id from r may go
	// ahead, else how long the caller should wait. id is the client id, or
	// "user:" followed by the username for the password grant.
	Allow(r *http.Request, id string) time.Duration
	// Fail records a failed authentication for id from r. id is empty
	// when the credentials were too malformed to name anyone.
	Fail(r *http.Request, id string)
}

// Defaults of [RateLimiterConfig].
const (
	DefaultClientBurst   = ratelimit.DefaultBurst  // 10 failures
	DefaultClientRefill  = ratelimit.DefaultRefill // one forgiven every 6 s
	DefaultAddressBurst  = 100
	DefaultAddressRefill = time.Second
)

// RateLimiterConfig configures a [RateLimiter]. The zero value means the
// defaults.
type RateLimiterConfig struct {
	// ClientBurst is how many failures a client id (or username) may have
	// before it is refused; ClientRefill how long it takes for one failure
	// to be forgiven. Zero means DefaultClientBurst and
	// DefaultClientRefill: ten failures, then one every six seconds.
	ClientBurst  int
	ClientRefill time.Duration

	// AddressBurst and AddressRefill are the same per remote address.
	// Zero means DefaultAddressBurst and DefaultAddressRefill: a hundred
	// failures, then one a second. They are higher than a client's so that
	// one client under attack does not lock out the others behind the same
	// address.
	AddressBurst  int
	AddressRefill time.Duration

	// MaxEntries bounds how many ids, and separately how many addresses,
	// are remembered. Zero means 65536 each.
	MaxEntries int

	// RemoteAddr returns the address a request is counted against. Nil
	// means the host of http.Request.RemoteAddr, IPv6 addresses cut to
	// their /64 (one subscriber's usual allocation). Behind a proxy, return
	// the client address the proxy reports, if you trust it.
	RemoteAddr func(r *http.Request) string

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// RateLimiter is the default [Limiter]: a token bucket of failures per
// client id and per remote address, held in memory with bounded size
// (internal/ratelimit). Successes cost nothing. An attempt is refused while
// either its id or its address has used up its failures; a refused attempt
// checks no credentials and records no new failure. It is safe for
// concurrent use.
type RateLimiter struct {
	ids, addrs *ratelimit.Limiter
	remoteAddr func(*http.Request) string
	now        func() time.Time
}

var _ Limiter = (*RateLimiter)(nil)

// NewRateLimiter checks c and returns a RateLimiter.
func NewRateLimiter(c RateLimiterConfig) (*RateLimiter, error) {
	if c.AddressBurst == 0 {
		c.AddressBurst = DefaultAddressBurst
	}
	if c.AddressRefill == 0 {
		c.AddressRefill = DefaultAddressRefill
	}
	ids, err := ratelimit.New(ratelimit.Config{Burst: c.ClientBurst, Refill: c.ClientRefill, MaxEntries: c.MaxEntries})
	if err != nil {
		return nil, fmt.Errorf("keyturn: RateLimiterConfig client limit: %w", err)
	}
	addrs, err := ratelimit.New(ratelimit.Config{Burst: c.AddressBurst, Refill: c.AddressRefill, MaxEntries: c.MaxEntries})
	if err != nil {
		return nil, fmt.Errorf("keyturn: RateLimiterConfig address limit: %w", err)
	}
	l := &RateLimiter{ids: ids, addrs: addrs, remoteAddr: c.RemoteAddr, now: c.Now}
	if l.remoteAddr == nil {
		l.remoteAddr = remoteHost
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Allow returns how long the attempt must wait: the longer of the waits of
// id and of r's address, zero when both may go ahead.
func (l *RateLimiter) Allow(r *http.Request, id string) time.Duration {
	now := l.now()
	var wait time.Duration
	if addr := l.remoteAddr(r); addr != "" {
		if ok, d := l.addrs.Allow(addr, now); !ok {
			wait = d
		}
	}
	if id != "" {
		if ok, d := l.ids.Allow(id, now); !ok {
			wait = max(wait, d)
		}
	}
	return wait
}

// Fail records a failure of id (if not empty) and of r's address.
func (l *RateLimiter) Fail(r *http.Request, id string) {
	now := l.now()
	if addr := l.remoteAddr(r); addr != "" {
		l.addrs.Fail(addr, now)
	}
	if id != "" {
		l.ids.Fail(id, now)
	}
}

// remoteHost returns the host of r.RemoteAddr: an IPv4 address (IPv4-mapped
// ones unmapped), or an IPv6 address cut to its /64.
func remoteHost(r *http.Request) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return host
	case a.Is4In6():
		return a.Unmap().String()
	case a.Is6():
		p, _ := a.WithZone("").Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	return a.String()
}
