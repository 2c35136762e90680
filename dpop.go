package keyturn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyturn/keyturn/internal/oauthreq"
	"github.com/keyturn/keyturn/middleware"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// DPoP (RFC 9449): sender-constrained tokens.
//
// At the token endpoint, a request with one DPoP header holding a valid
// proof (for POST and the token endpoint's URL: see
// EndpointConfig.DPoPURL) gets a token bound to the proof's key: its
// cnf.jkt is the key's RFC 7638 thumbprint, and the response says
// token_type "DPoP". A request without a DPoP header gets a bearer token,
// unless its client is DPoP-only (a key created with DPoPBound): that is
// 400 invalid_dpop_proof. So is every malformed, invalid, stale or
// replayed proof, and two DPoP headers.
//
// The order is fixed so that a proof reveals nothing about credentials and
// credentials nothing about proofs: the proof is checked (all but its
// novelty) before the client authenticates, so a bad proof is 400
// invalid_dpop_proof whatever the credentials; then the client
// authenticates (401 invalid_client as ever); then the proof is recorded
// as used, so that only an authenticated client's proofs take room in the
// replay memory, and a replayed one is 400 invalid_dpop_proof. With server
// nonces (DPoPConfig.Nonce) a proof without the current nonce is 400
// use_dpop_nonce with the nonce in the DPoP-Nonce header.
//
// Introspection shows a bound token's cnf and token_type "DPoP"; metadata
// lists dpop_signing_alg_values_supported. The resource side is the
// middleware's (middleware/dpop.go).

// DPoPConfig configures DPoP for a [Server]. The zero value turns DPoP on
// with the defaults of package token/dpop: every algorithm it knows, a
// 60-second iat window either way, a replay memory of this process bounded
// to dpop.DefaultReplayCacheSize proofs, no server nonces.
type DPoPConfig struct {
	// Disabled turns DPoP off: the token endpoint ignores DPoP headers and
	// issues bearer tokens only (refusing DPoP-only keys), and the
	// middleware refuses bound tokens.
	Disabled bool

	// Algorithms are the proof algorithms accepted, a subset of ES256,
	// EdDSA, Ed25519, PS256 and RS256. Zero means dpop.DefaultAlgorithms.
	Algorithms []string

	// Window is how far a proof's iat may lie from now, either way. Zero
	// means dpop.DefaultWindow (60 s).
	Window time.Duration

	// ReplayCacheSize bounds the proofs remembered in memory. Zero means
	// dpop.DefaultReplayCacheSize.
	ReplayCacheSize int

	// Replay, when set, remembers used proofs instead of this process's
	// memory, so that servers sharing it accept each proof once between
	// them (sqlstore on PostgreSQL is one), at the cost of a write per
	// proof. Nil means Config.Store when Config.Changes is set (the store
	// is shared by other processes), unless ReplayPerProcess; otherwise
	// each process keeps its own memory, and behind a load balancer a
	// proof could then be replayed once at each process within its window.
	Replay storage.ReplayStore

	// ReplayPerProcess keeps the memory of used proofs in this process
	// even when Config.Changes is set, sparing the store a write per
	// proof: a proof may then be replayed once at each other process
	// within its window.
	ReplayPerProcess bool

	// Nonce makes every proof carry a server nonce (RFC 9449 §8).
	Nonce bool

	// NonceSecret keys the nonces (at least 32 bytes): the same in every
	// process that should accept the others' nonces. Nil means one derived
	// from Config.Pepper when Config.Changes is set (every process sharing
	// the store accepts the others' nonces), and otherwise a random secret
	// per process.
	NonceSecret []byte

	// ResourceURL returns the URL a proof sent to the middleware
	// ([Server.Require]) must name: the resource's URL as clients address
	// it. Nil means the issuer's origin followed by the request's path
	// (middleware.RequestURL). It must not trust Host or X-Forwarded-*
	// headers unless a proxy you trust sets them.
	ResourceURL func(r *http.Request) string
}

// newDPoP returns the DPoP verifier of a Server, nil when DPoP is off, and
// the URL function of its resources.
func newDPoP(c DPoPConfig, issuer string, now func() time.Time) (*dpop.Verifier, func(*http.Request) string, error) {
	if c.Disabled {
		return nil, nil, nil
	}
	algs := c.Algorithms
	if algs == nil {
		algs = dpop.DefaultAlgorithms()
	}
	var replay dpop.ReplayStore
	if c.Replay != nil {
		replay = c.Replay
	}
	v, err := dpop.NewVerifier(dpop.Config{Algorithms: algs, Window: c.Window, ReplayCacheSize: c.ReplayCacheSize,
		Replay: replay, Nonce: c.Nonce, NonceSecret: c.NonceSecret, Now: now})
	if err != nil {
		return nil, nil, fmt.Errorf("keyturn: Config.DPoP: %w", err)
	}
	resourceURL := c.ResourceURL
	if resourceURL == nil {
		u, err := url.Parse(issuer)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, nil, errors.New("keyturn: the issuer must be an absolute URL")
		}
		resourceURL = middleware.RequestURL(u.Scheme + "://" + u.Host)
	}
	return v, resourceURL, nil
}

// dpopTokenURL is the default EndpointConfig.DPoPURL: the issuer followed
// by the request's path, as metadata advertises the endpoint.
func (e *Endpoint) dpopTokenURL(r *http.Request) string {
	return strings.TrimSuffix(e.issuer.Identifier(), "/") + r.URL.EscapedPath()
}

// errInvalidProof is the refusal of a DPoP proof at the token endpoint.
func errInvalidProof(desc string) *oauthreq.Error {
	return &oauthreq.Error{Status: http.StatusBadRequest, Code: "invalid_dpop_proof", Description: desc}
}

// dpopProof checks the request's DPoP proof, if any, before the client
// authenticates: nil and no error when there is none or DPoP is off. With
// nonces, a proof without the current one is use_dpop_nonce, and the nonce
// goes in the DPoP-Nonce header.
func (e *Endpoint) dpopProof(w http.ResponseWriter, r *http.Request) (*dpop.Proof, *oauthreq.Error) {
	vs := r.Header["Dpop"]
	if e.dpop == nil || len(vs) == 0 {
		return nil, nil
	}
	if len(vs) > 1 {
		return nil, errInvalidProof("exactly one DPoP proof is allowed")
	}
	// A proof costs a signature check before any credential is looked at,
	// so a bad one counts against the remote address, as credentials too
	// malformed to name anyone do: nobody can make the server check
	// signatures without limit.
	if wait := e.limiter.Reserve(r, LimitKey{}); wait > 0 {
		if r.Context().Err() != nil {
			return nil, errUnavailable
		}
		return nil, errRateLimited(wait)
	}
	p, err := e.dpop.Check(vs[0], r.Method, e.dpopURL(r), "")
	e.limiter.Settle(r, LimitKey{}, err != nil && !errors.Is(err, dpop.ErrUseNonce))
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		w.Header().Set("DPoP-Nonce", e.dpop.Nonce())
		return nil, &oauthreq.Error{Status: http.StatusBadRequest, Code: "use_dpop_nonce",
			Description: "the DPoP proof must carry the server's current nonce"}
	case err != nil:
		return nil, errInvalidProof("the DPoP proof is invalid")
	}
	return &p, nil
}

// dpopBind records the proof of an authenticated request as used and
// returns the thumbprint to bind the token to: "" for a request without a
// proof, which a DPoP-only client may not make.
func (e *Endpoint) dpopBind(ctx context.Context, p *dpop.Proof, mustBind bool) (string, *oauthreq.Error) {
	if p == nil {
		if mustBind {
			return "", errInvalidProof("this client must send a DPoP proof")
		}
		return "", nil
	}
	switch err := e.dpop.Use(ctx, *p); {
	case errors.Is(err, dpop.ErrReplayed):
		return "", errInvalidProof("the DPoP proof was used before")
	case err != nil:
		return "", errUnavailable
	}
	return p.JKT, nil
}

// tokenType is the token_type of a token (RFC 9449 §5), as a JSON string.
func tokenType(jkt string) string {
	if jkt != "" {
		return `"DPoP"`
	}
	return `"Bearer"`
}

// DPoPToken returns an access token holding scopes, minted for a new key
// made by [TestServer.Key] and bound to p's key, as the token endpoint
// would mint it for a request with p's proof. Send it as "Authorization:
// DPoP <token>" with a proof from p for the request's method and URL: the
// resources of a TestServer expect TestIssuer's origin followed by the
// request's path (p.Transport builds both headers for a real client).
func (ts *TestServer) DPoPToken(t TB, scopes string, p *dpop.Prover) string {
	t.Helper()
	set, err := scope.Parse(scopes)
	if err != nil {
		t.Fatalf("keyturn: TestServer.DPoPToken: %v", err)
	}
	k := ts.Key(t, scopes)
	tok, _, err := ts.issuer.Mint(context.Background(), token.Grant{Subject: k.ID(), ClientID: k.ID(), Scope: set, JKT: p.Thumbprint()})
	if err != nil {
		t.Fatalf("keyturn: TestServer.DPoPToken: %v", err)
	}
	return tok
}
