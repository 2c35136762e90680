package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyturn/keyturn/internal/jsonscan"
)

// Errors of [Verifier.Verify]. Every refusal of a proof wraps
// ErrInvalidProof, except a missing or stale nonce (ErrUseNonce) and a full
// replay memory (ErrBusy).
var (
	// ErrInvalidProof reports a proof that is malformed, badly signed, for
	// another request, stale, or already used: the invalid_dpop_proof
	// error of RFC 9449.
	ErrInvalidProof = errors.New("keyturn/dpop: invalid DPoP proof")

	// ErrReplayed reports a proof whose jti was accepted before. It wraps
	// ErrInvalidProof.
	ErrReplayed = fmt.Errorf("%w: the proof was used before", ErrInvalidProof)

	// ErrUseNonce reports a proof, otherwise valid, without the server
	// nonce it must carry, or with one no longer (or never) valid: the
	// use_dpop_nonce error of RFC 9449 §8. Answer with [Verifier.Nonce] in
	// the DPoP-Nonce header.
	ErrUseNonce = errors.New("keyturn/dpop: the proof must carry the server's current nonce")

	// ErrBusy reports that the replay memory is full of proofs still
	// within the window, so a new proof cannot be remembered and is
	// refused; or that the shared ReplayStore failed. Retry later.
	ErrBusy = errors.New("keyturn/dpop: cannot record the proof now")
)

// Bounds and defaults.
const (
	// MaxProofSize is the longest proof looked at, in bytes.
	MaxProofSize = 8 << 10
	// MaxJTILen is the longest jti accepted, in bytes.
	MaxJTILen = 256
	// maxNonceLen bounds the nonce claim.
	maxNonceLen = 256

	// DefaultWindow is how far a proof's iat may lie from now, either way,
	// when [Config.Window] is zero: RFC 9449 §11.1 leaves the window to the
	// server, and a minute covers ordinary clock skew and latency.
	DefaultWindow = 60 * time.Second
	// MaxWindow bounds [Config.Window].
	MaxWindow = 5 * time.Minute

	// DefaultReplayCacheSize is the number of proofs remembered when
	// [Config.ReplayCacheSize] is zero: some 10 MB at most, enough for
	// 800 proofs a second with the default window.
	DefaultReplayCacheSize = 100_000
)

// ReplayStore remembers one-time values across processes.
// storage.ReplayStore (keyturn's SQL and memory stores) satisfies it.
type ReplayStore interface {
	// UseOnce records the value id of the given kind until expiresAt and
	// reports whether this is its first use; of concurrent calls for one
	// value exactly one reports true.
	UseOnce(ctx context.Context, kind, id string, now, expiresAt time.Time) (bool, error)
}

// ReplayKind is the kind of the values a Verifier records in a ReplayStore.
const ReplayKind = "dpop"

// Config configures a [Verifier]. Algorithms is required; every other zero
// value has the documented meaning.
type Config struct {
	// Algorithms are the proof algorithms accepted: a non-empty subset of
	// ES256, EdDSA, Ed25519, PS256 and RS256 (see DefaultAlgorithms), advertised as
	// dpop_signing_alg_values_supported and in challenges. Required.
	Algorithms []string

	// Window is how far a proof's iat may lie from now, in the past or
	// the future. Zero means DefaultWindow; at most MaxWindow. A proof is
	// remembered for replay until its iat plus Window.
	Window time.Duration

	// ReplayCacheSize bounds the proofs remembered in memory. Zero means
	// DefaultReplayCacheSize. Unused with Replay.
	ReplayCacheSize int

	// Replay, when set, remembers proofs instead of the process's memory,
	// so that processes sharing it accept each proof once between them.
	Replay ReplayStore

	// Nonce makes every proof carry a server nonce (RFC 9449 §8).
	Nonce bool

	// NonceSecret keys the nonces: at least 32 bytes, the same in every
	// process that should accept the others' nonces. Nil means a random
	// secret of this Verifier's own.
	NonceSecret []byte

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Verifier checks DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	algs   []string
	window time.Duration
	cache  *replayCache // nil with a ReplayStore
	store  ReplayStore
	nonces *nonces // nil when nonces are off
	now    func() time.Time
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{algs: slices.Clone(cfg.Algorithms), window: cfg.Window, store: cfg.Replay, now: cfg.Now}
	if len(v.algs) == 0 {
		return nil, errors.New("keyturn/dpop: Config.Algorithms is required")
	}
	for i, a := range v.algs {
		if !knownAlg(a) || slices.Contains(v.algs[:i], a) {
			return nil, errors.New("keyturn/dpop: Config.Algorithms may hold only ES256, EdDSA, Ed25519, PS256 and RS256, each once")
		}
	}
	switch {
	case v.window == 0:
		v.window = DefaultWindow
	case v.window < time.Second || v.window > MaxWindow:
		return nil, fmt.Errorf("keyturn/dpop: Config.Window must be from 1s to %s", MaxWindow)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.store == nil {
		size := cfg.ReplayCacheSize
		if size == 0 {
			size = DefaultReplayCacheSize
		}
		if size < 0 {
			return nil, errors.New("keyturn/dpop: Config.ReplayCacheSize must not be negative")
		}
		v.cache = newReplayCache(size)
	}
	if cfg.Nonce {
		var err error
		if v.nonces, err = newNonces(cfg.NonceSecret); err != nil {
			return nil, err
		}
	} else if cfg.NonceSecret != nil {
		return nil, errors.New("keyturn/dpop: Config.NonceSecret without Nonce")
	}
	return v, nil
}

// Algorithms returns the accepted algorithms, in the configured order.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// Nonce returns the nonce a proof should carry now, for the DPoP-Nonce
// header, or "" when nonces are off.
func (v *Verifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.current(v.now())
}

// Proof is a proof that passed [Verifier.Check].
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// base64url: what a token bound to the key carries as cnf.jkt.
	JKT string

	replayID string    // hash of the key and the jti
	until    time.Time // when the proof is stale
}

// Verify checks proof as [Verifier.Check] does and then records it, so that
// it is accepted only once ([Verifier.Use]).
func (v *Verifier) Verify(ctx context.Context, proof, method, url, accessToken string) (Proof, error) {
	p, err := v.Check(proof, method, url, accessToken)
	if err != nil {
		return Proof{}, err
	}
	if err := v.Use(ctx, p); err != nil {
		return Proof{}, err
	}
	return p, nil
}

// Check checks everything about proof but its novelty: that it is a
// well-formed, well-signed DPoP proof (see the package documentation) for a
// request with the given method and URL (the URL as the client addressed
// it: the server's public URL, from configuration), within the window and,
// when nonces are on, with a current nonce. When accessToken is not empty
// the proof must carry its hash as ath; when it is empty, ath is not looked
// at (a token request). Check does no I/O and remembers nothing; call
// [Verifier.Use] once the request is otherwise acceptable.
func (v *Verifier) Check(proof, method, url, accessToken string) (Proof, error) {
	if proof == "" || len(proof) > MaxProofSize {
		return Proof{}, fmt.Errorf("%w: empty or longer than %d bytes", ErrInvalidProof, MaxProofSize)
	}
	h64, rest, ok1 := strings.Cut(proof, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return Proof{}, fmt.Errorf("%w: not a compact JWS", ErrInvalidProof)
	}
	hb, err1 := b64.DecodeString(h64)
	pb, err2 := b64.DecodeString(p64)
	sig, err3 := b64.DecodeString(s64)
	if err1 != nil || err2 != nil || err3 != nil || len(hb) == 0 || len(pb) == 0 || len(sig) == 0 {
		return Proof{}, fmt.Errorf("%w: a part is empty or not base64url", ErrInvalidProof)
	}

	var typ, alg string
	var jwkRaw []byte
	err := members(hb, "header", func(name string, raw []byte) error {
		var ok bool
		switch name {
		case "typ":
			typ, ok = jsonscan.String(raw)
		case "alg":
			alg, ok = jsonscan.String(raw)
		case "jwk":
			jwkRaw, ok = raw, len(raw) > 0 && raw[0] == '{'
		case "crit", "b64", "zip", "enc", "jku", "x5u", "x5c":
			return fmt.Errorf("%w: header parameter %q is not accepted", ErrInvalidProof, name)
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("%w: header parameter %q has the wrong type", ErrInvalidProof, name)
		}
		return nil
	})
	if err != nil {
		return Proof{}, err
	}
	if !strings.EqualFold(typ, "dpop+jwt") && !strings.EqualFold(typ, "application/dpop+jwt") {
		return Proof{}, fmt.Errorf("%w: typ is not dpop+jwt", ErrInvalidProof)
	}
	if !slices.Contains(v.algs, alg) {
		return Proof{}, fmt.Errorf("%w: alg is not one of %s", ErrInvalidProof, strings.Join(v.algs, ", "))
	}
	if jwkRaw == nil {
		return Proof{}, fmt.Errorf("%w: no jwk header", ErrInvalidProof)
	}
	key, err := parseJWK(jwkRaw)
	if err != nil {
		return Proof{}, err
	}
	if !key.fits(alg) {
		return Proof{}, fmt.Errorf("%w: the jwk is not a key for alg %s", ErrInvalidProof, alg)
	}
	if !key.verify(alg, []byte(proof[:len(h64)+1+len(p64)]), sig) {
		return Proof{}, fmt.Errorf("%w: the signature does not verify with the jwk", ErrInvalidProof)
	}

	var c claims
	if err := members(pb, "claim set", c.set); err != nil {
		return Proof{}, err
	}
	switch {
	case c.jti == "" || len(c.jti) > MaxJTILen:
		return Proof{}, fmt.Errorf("%w: jti is missing, empty or longer than %d bytes", ErrInvalidProof, MaxJTILen)
	case c.htm == "":
		return Proof{}, fmt.Errorf("%w: htm is missing", ErrInvalidProof)
	case c.htu == "":
		return Proof{}, fmt.Errorf("%w: htu is missing", ErrInvalidProof)
	case !c.hasIat:
		return Proof{}, fmt.Errorf("%w: iat is missing", ErrInvalidProof)
	}
	if c.htm != method {
		return Proof{}, fmt.Errorf("%w: htm is not the request method", ErrInvalidProof)
	}
	got, ok := NormalizeURL(c.htu)
	want, ok2 := NormalizeURL(url)
	if !ok || !ok2 || got != want {
		return Proof{}, fmt.Errorf("%w: htu is not the request URL", ErrInvalidProof)
	}
	now := v.now()
	if d := now.Sub(c.iat); d > v.window || d < -v.window {
		return Proof{}, fmt.Errorf("%w: iat is more than %s from now", ErrInvalidProof, v.window)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if c.ath != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return Proof{}, fmt.Errorf("%w: ath is missing or not the access token's hash", ErrInvalidProof)
		}
	}
	if v.nonces != nil && !v.nonces.valid(c.nonce, now) {
		return Proof{}, ErrUseNonce
	}
	id := sha256.New()
	id.Write([]byte(key.jkt))
	id.Write([]byte{0})
	id.Write([]byte(c.jti))
	return Proof{
		JKT:      key.jkt,
		replayID: base64.RawURLEncoding.EncodeToString(id.Sum(nil)),
		until:    c.iat.Add(v.window + time.Second),
	}, nil
}

// Use records p, which [Verifier.Check] returned, as used: it returns nil
// the first time, and an error wrapping ErrReplayed for a proof with the
// same key and jti recorded before and not yet stale. With a ReplayStore,
// ctx serves its I/O and a failure of the store is ErrBusy.
func (v *Verifier) Use(ctx context.Context, p Proof) error {
	if p.replayID == "" {
		return fmt.Errorf("%w: not a checked proof", ErrInvalidProof)
	}
	now := v.now()
	if v.store != nil {
		first, err := v.store.UseOnce(ctx, ReplayKind, p.replayID, now, p.until)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		if !first {
			return ErrReplayed
		}
		return nil
	}
	return v.cache.use(p.replayID, now, p.until)
}

// claims are the members of a proof's claim set that matter.
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       time.Time
	hasIat                    bool
}

func (c *claims) set(name string, raw []byte) error {
	var dst *string
	max := maxURLLen
	switch name {
	case "jti":
		dst, max = &c.jti, MaxJTILen
	case "htm":
		dst, max = &c.htm, 32
	case "htu":
		dst = &c.htu
	case "ath":
		dst, max = &c.ath, 64
	case "nonce":
		dst, max = &c.nonce, maxNonceLen
	case "iat":
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || raw[0] == '"' || math.IsNaN(f) || f < 0 || f > 253402300799 {
			return fmt.Errorf("%w: iat is not a time", ErrInvalidProof)
		}
		sec := math.Floor(f)
		c.iat, c.hasIat = time.Unix(int64(sec), int64((f-sec)*1e9)), true
		return nil
	default:
		return nil
	}
	s, ok := jsonscan.String(raw)
	if !ok || len(s) > max {
		return fmt.Errorf("%w: claim %q is not a string of at most %d bytes", ErrInvalidProof, name, max)
	}
	*dst = s
	return nil
}
