package keyturn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/keyturn/keyturn/internal/ratelimit"
	"github.com/keyturn/keyturn/storage"
)

// LimitKind says what the ID of a [LimitKey] is.
type LimitKind uint8

const (
	// LimitClient: a client id, as presented (it may name no client).
	LimitClient LimitKind = iota + 1
	// LimitUser: a username of the password grant, as presented.
	LimitUser
)

// LimitKey names who an authentication attempt claims to be. Client ids
// and usernames are separate namespaces: the client id "alice", or
// "user:alice", and the user alice have budgets of their own. The zero
// LimitKey names no one: it stands for credentials too malformed to name
// anyone, which count against the remote address alone.
type LimitKey struct {
	Kind LimitKind
	ID   string
}

// Limiter protects client secrets and user passwords against brute force
// (RFC 6749 §2.3.1, §10.10). The [Endpoint] reserves every authentication
// attempt before checking its credentials, and settles it afterwards:
//
//	if wait := l.Reserve(r, key); wait > 0 {
//		// 429 Too Many Requests, Retry-After: wait; nothing is checked
//	}
//	ok := check(credentials)
//	l.Settle(r, key, !ok)
//
// A reservation counts as a failure from the moment it is granted until it
// is settled as a success, so that N attempts made at once count as N and
// parallel attempts are throttled as if they had been made one after the
// other. [RateLimiter] is the default; a host with other needs (a store
// shared across processes, trusting a proxy's client address) implements
// its own.
type Limiter interface {
	// Reserve returns zero if an attempt to authenticate as key from r
	// may go ahead, and then counts it as a failure until Settle; else
	// how long the client should wait before trying again (429 with
	// Retry-After). Granting must be atomic: of many attempts reserved at
	// once, no more may go ahead than failures the budget allows. Reserve
	// may wait for earlier attempts to be settled, and must return soon
	// after r's context ends.
	Reserve(r *http.Request, key LimitKey) (wait time.Duration)
	// Settle ends an attempt that Reserve let go ahead; the Endpoint calls
	// it exactly once per such attempt, with the same r and key. failed
	// is false when the credentials were checked and right, or when the
	// server failed to check them while the client waited (the attempt is
	// then refunded, as if never made); true otherwise: wrong
	// credentials, but also an attempt the server had no room to check or
	// whose client left, so that neither can be used to try for free.
	Settle(r *http.Request, key LimitKey, failed bool)
}

// Defaults of [RateLimiterConfig].
const (
	DefaultClientAddressBurst  = 10
	DefaultClientAddressRefill = 6 * time.Second
	DefaultClientBurst         = 1000
	DefaultClientRefill        = time.Second
	DefaultAddressBurst        = 100
	DefaultAddressRefill       = time.Second
	DefaultLimiterMaxWait      = time.Second
)

// RateLimiterConfig configures a [RateLimiter]. The zero value means the
// defaults.
type RateLimiterConfig struct {
	// ClientAddressBurst is how many failures a client id (or username)
	// may have from one remote address before that address is refused for
	// it; ClientAddressRefill is how long it takes for one failure to be
	// forgiven. Zero means DefaultClientAddressBurst and
	// DefaultClientAddressRefill: ten failures, then one every six
	// seconds. Failures from one address never count against the same
	// client at another.
	ClientAddressBurst  int
	ClientAddressRefill time.Duration

	// ClientBurst and ClientRefill are the same for a client id (or
	// username) from all addresses together: a ceiling against guessing
	// spread over many addresses. Once it is reached the client is refused
	// everywhere, so it is far above one address's share. Zero means
	// DefaultClientBurst and DefaultClientRefill: a thousand failures, then
	// one a second; with the other defaults, reaching it takes a hundred
	// addresses at once, or seven or more failing all the time for over an
	// hour.
	ClientBurst  int
	ClientRefill time.Duration

	// AddressBurst and AddressRefill are the same per remote address, for
	// all clients and users together. Zero means DefaultAddressBurst and
	// DefaultAddressRefill: a hundred failures, then one a second. They
	// are higher than a client's at one address so that one client under
	// attack does not lock out the others behind the same address.
	AddressBurst  int
	AddressRefill time.Duration

	// MaxEntries bounds how many budgets of each of the three kinds are
	// remembered. Zero means 65536 each.
	MaxEntries int

	// MaxWait is how long Reserve waits at most when whether an attempt
	// may go ahead depends on how attempts already under way for the same
	// budget end (more are under way than failures are left). It refuses
	// the attempt with a one-second wait if they have not ended by then.
	// Zero means DefaultLimiterMaxWait, one second.
	MaxWait time.Duration

	// RemoteAddr returns the address a request is counted against. Nil
	// means the host of http.Request.RemoteAddr, IPv6 addresses cut to
	// their /64 (one subscriber's usual allocation). Behind a proxy, return
	// the client address the proxy reports, if you trust it. An empty
	// address counts against no address budget; its attempts share one
	// client-and-address budget per client.
	RemoteAddr func(r *http.Request) string

	// Failures, when set, is where failures are also counted, so that the
	// limits hold across every process sharing it: see [RateLimiter].
	// [New] sets it to its Store. FailureKey then names the counts: it is
	// a secret shared by those processes (New derives it from the
	// pepper), so that the store holds no client id, username or address,
	// only keyed hashes of them; it must be at least 16 bytes.
	Failures   storage.FailureStore
	FailureKey []byte

	// FailureTimeout bounds each write to Failures. Zero means one second.
	FailureTimeout time.Duration

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// RateLimiter is the default [Limiter]: token buckets of failures held in
// memory with bounded size (internal/ratelimit), one per client id (or
// username) and remote address, one per client id, one per remote address.
// An attempt is reserved in all three, and refused while any of them has
// no failure left. A refused attempt checks no credentials and records no
// failure. A success costs nothing but the reservation, given back. When
// more attempts are under way in a budget than it has failures left, the
// next one waits (MaxWait at most) for them to end, and goes ahead if they
// succeeded: many right secrets sent at once from one address all get
// their tokens, while many wrong ones are checked no more often than if
// sent one by one. It is safe for concurrent use.
//
// The buckets are found by a 64-bit hash of what they count (a random seed
// per RateLimiter), so that memory per bucket is small and fixed and no
// request's data is kept.
//
// With [RateLimiterConfig.Failures] set, the limits hold across processes:
// each failure is also counted in the store, per budget, in fixed windows
// of Burst×Refill (a minute for a client at one address by default), and
// a process that finds a budget's count for the window at Burst refuses
// that budget until the window ends, as if it had seen every failure
// itself. Successes never touch the store. Each process learns of the
// others' failures at its own next failure for that budget, so N processes
// allow at most Burst plus one failure per process (plus the attempts
// under way at once) per budget and window, where independent processes
// would allow N×Burst. A failure the store could not count still counts
// here.
type RateLimiter struct {
	pairs, clients, addrs *ratelimit.Limiter
	seed                  maphash.Seed
	remoteAddr            func(*http.Request) string
	maxWait               time.Duration
	now                   func() time.Time

	failures       storage.FailureStore
	failureKey     []byte
	failureTimeout time.Duration
	budgets        [3]budget // pairs, clients, addrs
}

// budget is one of a RateLimiter's three kinds of budget, for counting in
// a shared store.
type budget struct {
	lim    *ratelimit.Limiter
	tag    byte
	burst  int64
	window time.Duration
}

var _ Limiter = (*RateLimiter)(nil)

// NewRateLimiter checks c and returns a RateLimiter.
func NewRateLimiter(c RateLimiterConfig) (*RateLimiter, error) {
	l := &RateLimiter{seed: maphash.MakeSeed(), remoteAddr: c.RemoteAddr, maxWait: c.MaxWait, now: c.Now,
		failures: c.Failures, failureKey: c.FailureKey, failureTimeout: c.FailureTimeout}
	var err error
	for i, b := range []struct {
		what   string
		dst    **ratelimit.Limiter
		tag    byte
		burst  int
		refill time.Duration
		defB   int
		defR   time.Duration
	}{
		{"client and address", &l.pairs, 'p', c.ClientAddressBurst, c.ClientAddressRefill, DefaultClientAddressBurst, DefaultClientAddressRefill},
		{"client", &l.clients, 'c', c.ClientBurst, c.ClientRefill, DefaultClientBurst, DefaultClientRefill},
		{"address", &l.addrs, 'a', c.AddressBurst, c.AddressRefill, DefaultAddressBurst, DefaultAddressRefill},
	} {
		if b.burst == 0 {
			b.burst = b.defB
		}
		if b.refill == 0 {
			b.refill = b.defR
		}
		if *b.dst, err = ratelimit.New(ratelimit.Config{Burst: b.burst, Refill: b.refill, MaxEntries: c.MaxEntries}); err != nil {
			return nil, fmt.Errorf("keyturn: RateLimiterConfig %s limit: %w", b.what, err)
		}
		l.budgets[i] = budget{lim: *b.dst, tag: b.tag, burst: int64(b.burst), window: time.Duration(b.burst) * b.refill}
	}
	if l.failures != nil && len(l.failureKey) < 16 {
		return nil, errors.New("keyturn: RateLimiterConfig.FailureKey must be at least 16 bytes when Failures is set")
	}
	if l.failureTimeout == 0 {
		l.failureTimeout = time.Second
	}
	if l.failureTimeout < 0 {
		return nil, errors.New("keyturn: RateLimiterConfig.FailureTimeout must not be negative")
	}
	if l.maxWait == 0 {
		l.maxWait = DefaultLimiterMaxWait
	}
	if l.maxWait < 0 {
		return nil, errors.New("keyturn: RateLimiterConfig.MaxWait must not be negative")
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// busyWait is the Retry-After of an attempt refused because the attempts
// under way did not end within MaxWait.
const busyWait = time.Second

// buckets are the budgets an attempt is reserved in, in order.
type buckets struct {
	n    int
	lims [3]*ratelimit.Limiter
	keys [3]ratelimit.Key
}

func (b *buckets) add(l *ratelimit.Limiter, k uint64) {
	b.lims[b.n], b.keys[b.n] = l, ratelimit.Key(k)
	b.n++
}

// buckets returns the budgets of an attempt as key from r: key at r's
// address, key everywhere, and r's address (those that apply). Each is a
// hash of fixed-size fields, a tag first, so that no two budgets hash the
// same bytes.
func (l *RateLimiter) buckets(r *http.Request, key LimitKey) buckets {
	addr, hasAddr := l.addrHash(r)
	var b buckets
	if key != (LimitKey{}) {
		var buf [18]byte // tag, kind, hash of the id, hash of the address
		buf[0], buf[1] = 'p', byte(key.Kind)
		binary.LittleEndian.PutUint64(buf[2:], maphash.String(l.seed, key.ID))
		binary.LittleEndian.PutUint64(buf[10:], addr)
		b.add(l.pairs, maphash.Bytes(l.seed, buf[:]))
		buf[0] = 'c'
		b.add(l.clients, maphash.Bytes(l.seed, buf[:10]))
	}
	if hasAddr {
		b.add(l.addrs, addr)
	}
	return b
}

// addrHash returns the hash of r's remote address, as remoteHost
// normalizes it, and whether there was one.
func (l *RateLimiter) addrHash(r *http.Request) (uint64, bool) {
	var buf [17]byte
	host := ""
	if l.remoteAddr != nil {
		host = l.remoteAddr(r)
	} else {
		var a netip.Addr
		if a, host = remoteIP(r); a.IsValid() {
			ip := a.As16()
			buf[0] = 'i'
			copy(buf[1:], ip[:])
			return maphash.Bytes(l.seed, buf[:]), true
		}
	}
	buf[0] = 's'
	binary.LittleEndian.PutUint64(buf[1:], maphash.String(l.seed, host))
	return maphash.Bytes(l.seed, buf[:9]), host != ""
}

// Reserve reserves the attempt in its budgets: the client (or user) at
// r's address, the client everywhere, r's address. It returns the wait of
// the first budget that has no failure left, or zero once all three hold
// the reservation.
func (l *RateLimiter) Reserve(r *http.Request, key LimitKey) time.Duration {
	b := l.buckets(r, key)
	st, wait, wake := l.take(&b)
	switch st {
	case ratelimit.Taken:
		return 0
	case ratelimit.Refused:
		return wait
	}
	return l.reserveBusy(r, &b, wake)
}

// reserveBusy waits for attempts under way to settle, and takes again,
// until r's context ends or MaxWait has passed.
func (l *RateLimiter) reserveBusy(r *http.Request, b *buckets, wake <-chan struct{}) time.Duration {
	timer := time.NewTimer(l.maxWait)
	defer timer.Stop()
	done := r.Context().Done()
	for {
		select {
		case <-wake:
		case <-timer.C:
			return busyWait
		case <-done:
			return busyWait
		}
		var st ratelimit.Status
		var wait time.Duration
		st, wait, wake = l.take(b)
		switch st {
		case ratelimit.Taken:
			return 0
		case ratelimit.Refused:
			return wait
		}
	}
}

// take takes every bucket of b, or none: if one is not taken, those before
// it are given back.
func (l *RateLimiter) take(b *buckets) (ratelimit.Status, time.Duration, <-chan struct{}) {
	now := l.now()
	for i := range b.n {
		st, wait, wake := b.lims[i].Take(b.keys[i], now)
		if st != ratelimit.Taken {
			for j := range i {
				b.lims[j].Refund(b.keys[j])
			}
			return st, wait, wake
		}
	}
	return ratelimit.Taken, 0, nil
}

// Settle records the attempt's failure in each of its budgets, or gives
// the reservation back.
func (l *RateLimiter) Settle(r *http.Request, key LimitKey, failed bool) {
	b := l.buckets(r, key)
	if !failed {
		for i := range b.n {
			b.lims[i].Refund(b.keys[i])
		}
		return
	}
	now := l.now()
	for i := range b.n {
		b.lims[i].Fail(b.keys[i], now)
	}
	if l.failures != nil {
		l.countShared(r, key, &b, now)
	}
}

// countShared counts a failure in the shared store, in each budget of b,
// and blocks here every budget whose count for the window has reached its
// burst. It waits for the store, with FailureTimeout at most, even if the
// client has gone: a failure must not go uncounted because its client
// hung up.
func (l *RateLimiter) countShared(r *http.Request, key LimitKey, b *buckets, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), l.failureTimeout)
	defer cancel()
	addr := l.addrText(r)
	for i := range b.n {
		bud := l.budget(b.lims[i])
		start := now.Truncate(bud.window)
		end := start.Add(bud.window)
		n, err := l.failures.AddFailure(ctx, l.sharedName(bud.tag, key, addr), start, end)
		if err != nil {
			continue // counted here all the same
		}
		if n >= bud.burst {
			b.lims[i].Block(b.keys[i], now, end)
		}
	}
}

func (l *RateLimiter) budget(lim *ratelimit.Limiter) budget {
	for _, b := range l.budgets {
		if b.lim == lim {
			return b
		}
	}
	panic("keyturn: unknown limiter budget")
}

// sharedName is the name of a budget's count in the shared store: the
// budget's tag and a keyed hash (HMAC-SHA-256 under FailureKey, cut to 128
// bits) of what it counts, the same in every process with the same key.
func (l *RateLimiter) sharedName(tag byte, key LimitKey, addr string) string {
	m := hmac.New(sha256.New, l.failureKey)
	head := [2]byte{tag, byte(key.Kind)}
	if tag == 'a' {
		head[1] = 0 // an address's budget is shared by clients and users
	}
	m.Write(head[:])
	var n [8]byte
	if tag != 'a' {
		binary.BigEndian.PutUint64(n[:], uint64(len(key.ID)))
		m.Write(n[:])
		m.Write([]byte(key.ID))
	}
	if tag != 'c' {
		binary.BigEndian.PutUint64(n[:], uint64(len(addr)))
		m.Write(n[:])
		m.Write([]byte(addr))
	}
	var out [1 + 22]byte
	out[0] = tag
	base64.RawURLEncoding.Encode(out[1:], m.Sum(nil)[:16])
	return string(out[:])
}

// addrText returns the address r is counted against, as text.
func (l *RateLimiter) addrText(r *http.Request) string {
	if l.remoteAddr != nil {
		return l.remoteAddr(r)
	}
	return remoteHost(r)
}

// remoteIP returns the host of r.RemoteAddr as an address normalized for
// counting: IPv4 (IPv4-mapped addresses unmapped), or an IPv6 address cut
// to its /64 without zone. It returns an invalid address and the host when
// the host is not an IP address.
func remoteIP(r *http.Request) (netip.Addr, string) {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return netip.Addr{}, host
	case a.Is4In6():
		return a.Unmap(), host
	case a.Is6():
		p, _ := a.WithZone("").Prefix(64) // cannot fail for an IPv6 address
		return p.Addr(), host
	}
	return a, host
}

// remoteHost returns the address r is counted against by default, as
// text: an IPv4 address, an IPv6 /64, or a host that is not an IP address.
func remoteHost(r *http.Request) string {
	a, host := remoteIP(r)
	switch {
	case !a.IsValid():
		return host
	case a.Is6():
		return netip.PrefixFrom(a, 64).String()
	}
	return a.String()
}
