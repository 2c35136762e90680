package keyturn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyturn/keyturn/internal/jsonenc"
	"github.com/keyturn/keyturn/internal/oauthreq"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// AuthMethod is a way for a client to present its credentials. Methods
// combine as a bit set in [EndpointConfig.Methods].
type AuthMethod uint8

// The client authentication methods. The first two are RFC 6749's
// (§2.3.1) and are advertised in metadata under these names; the others
// serve common token APIs and are keyturn's extensions, advertised nowhere.
const (
	// ClientSecretBasic: HTTP Basic, id and secret each form-encoded
	// (RFC 6749 §2.3.1, Appendix B) before base64.
	ClientSecretBasic AuthMethod = 1 << iota
	// ClientSecretPost: client_id and client_secret in a form body.
	ClientSecretPost
	// ClientSecretJSON: client_id and client_secret in a JSON body, where
	// response_type may stand for grant_type.
	ClientSecretJSON
	// BearerKey: a whole API key as "Authorization: Bearer <key>"; no
	// grant_type needed.
	BearerKey
	// JSONKey: a whole API key as {"key": "<key>"} in a JSON body; no
	// grant_type needed.
	JSONKey
	// PrivateKeyJWT: a client assertion, a JWT signed with the client's
	// private key (RFC 7523 §2.2), in a form body. It is offered when
	// [EndpointConfig.Assertions] is set, not through Methods.
	PrivateKeyJWT

	// StandardAuthMethods are the methods RFC 6749 defines; the zero
	// [EndpointConfig.Methods] means these.
	StandardAuthMethods = ClientSecretBasic | ClientSecretPost
	// AllAuthMethods are every method keyturn knows.
	AllAuthMethods = ClientSecretBasic | ClientSecretPost | ClientSecretJSON | BearerKey | JSONKey
)

var authMethodNames = [...]string{"client_secret_basic", "client_secret_post", "client_secret_json", "bearer_key", "json_key", "private_key_jwt"}

// String returns the method's name ("client_secret_basic"...), or the
// names of a set joined by "|".
func (m AuthMethod) String() string {
	var names []string
	for i, n := range authMethodNames {
		if m&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if m&^(AllAuthMethods|PrivateKeyJWT) != 0 {
		names = append(names, "unknown")
	}
	return strings.Join(names, "|")
}

// Defaults of [EndpointConfig].
const (
	// DefaultIntrospectScope is the scope that lets a client introspect any
	// token, when [EndpointConfig.IntrospectScope] is empty.
	DefaultIntrospectScope = "introspect"
	// DefaultRealm is the realm of WWW-Authenticate challenges when
	// [EndpointConfig.Realm] is empty.
	DefaultRealm = "keyturn"
	// Default paths, below the issuer, of the endpoint URLs that metadata
	// advertises when [EndpointConfig] leaves them empty.
	DefaultTokenPath         = "/oauth/token"
	DefaultIntrospectionPath = "/oauth/introspect"
	DefaultRevocationPath    = "/oauth/revoke"
	// DefaultPasswordWaitingPerCheck × [EndpointConfig.MaxPasswordChecks]
	// requests may wait for a turn to check a password when
	// [EndpointConfig.MaxPasswordWaiting] is zero, each for at most
	// DefaultPasswordWait.
	DefaultPasswordWaitingPerCheck = 4
	DefaultPasswordWait            = time.Second
)

// EndpointConfig configures an [Endpoint]. Issuer, Verifier and Clients
// are required; every other zero value has the documented meaning. The
// four API styles differ only in this configuration (see the package
// documentation).
type EndpointConfig struct {
	// Issuer mints the tokens. Required. Its issuer identifier is the
	// metadata's issuer and must be https unless AllowPlainHTTP is set.
	Issuer *token.Issuer

	// Verifier checks tokens presented to introspection and revocation.
	// Required; its issuer must be the Issuer's and its audience one of the
	// Issuer's. Revocation records into the Verifier's Revocations; without
	// them, revocation answers unsupported_token_type (RFC 7009 §2.2.1).
	Verifier *token.Verifier

	// Clients authenticates client_id / client_secret pairs. Required.
	Clients ClientAuthenticator

	// Methods are the ways a client may present its credentials. Zero
	// means StandardAuthMethods. BearerKey and JSONKey need SplitKey.
	// Introspection and revocation accept the same methods except the JSON
	// ones: their requests are form-encoded (RFC 7662 §2.1, RFC 7009 §2.1).
	Methods AuthMethod

	// SplitKey turns an API key presented whole (BearerKey, JSONKey) into
	// its client_id / client_secret pair, which Clients then checks; a key
	// that cannot be split gives an error wrapping ErrInvalidClient.
	// [KeyClients.SplitKey] is one. Required with BearerKey or JSONKey.
	SplitKey func(key string) (clientID, clientSecret string, err error)

	// Users enables the password grant and checks its
	// credentials. Nil means grant_type=password is answered
	// unsupported_grant_type, as RFC 9700 §2.4 advises.
	Users UserAuthenticator

	// PasswordClientID is the client_id claim of password-grant tokens,
	// whose sub is the user. Required with Users. No client of Clients
	// may have this id: such tokens belong to no client, and revocation
	// refuses them for everyone.
	PasswordClientID string

	// PasswordLifetime is the lifetime of password-grant tokens. Zero
	// means DefaultLifetime (900 s).
	PasswordLifetime time.Duration

	// MaxPasswordChecks bounds how many Users.AuthenticateUser calls run
	// at once. A password hash is meant to be costly (argon2id at
	// keyturn's defaults takes 64 MiB), so unbounded parallel checks would
	// be a denial of service. Zero means runtime.GOMAXPROCS(0).
	MaxPasswordChecks int

	// MaxPasswordWaiting bounds how many password-grant requests wait for
	// a turn while MaxPasswordChecks run, first come first served;
	// PasswordWait is how long one waits at most. A request beyond the
	// bound, or still waiting after PasswordWait, is answered 503
	// temporarily_unavailable with Retry-After at once, its password
	// unchecked (an AuthFailed event with ErrBusy, and a failure for the
	// Limiter), rather than held until the server gives up on its
	// connection; one whose context ends while it waits stops there. Zero
	// means DefaultPasswordWaitingPerCheck × MaxPasswordChecks and
	// DefaultPasswordWait.
	MaxPasswordWaiting int
	PasswordWait       time.Duration

	// Ceiling, when set, is asked at every client-credentials exchange
	// (and when a client introspects another's token) for what the
	// client's creator (Client.Owner) may still grant today; the client
	// then holds at most its scope intersected with the ceiling, so that a
	// creator who lost a permission cannot keep passing it on through keys
	// made earlier. An error fails the request (500).
	Ceiling func(ctx context.Context, c Client) (scope.Set, error)

	// CreatedAt adds created_at (unix seconds, the token's iat) to token
	// responses.
	CreatedAt bool

	// IntrospectScope is the scope that lets a client introspect tokens
	// issued to others. Zero means DefaultIntrospectScope. A client without
	// it may introspect only its own tokens.
	IntrospectScope string

	// ScopesSupported is advertised in metadata as scopes_supported. The
	// empty set leaves it out (RFC 8414 §3.2 forbids empty arrays).
	ScopesSupported scope.Set

	// TokenURL, IntrospectionURL, RevocationURL and JWKSURL are the
	// absolute URLs metadata advertises. Zero means the issuer followed by
	// DefaultTokenPath, DefaultIntrospectionPath, DefaultRevocationPath and
	// JWKSPath.
	TokenURL, IntrospectionURL, RevocationURL, JWKSURL string

	// Realm is the realm of WWW-Authenticate challenges. Zero means
	// DefaultRealm.
	Realm string

	// AllowPlainHTTP lets the endpoints answer requests that did not arrive
	// over TLS, and an http issuer. Leave it false in production unless a
	// TLS-terminating proxy you trust forwards the requests: without it,
	// a request whose http.Request.TLS is nil is refused before its
	// credentials are looked at (RFC 6749 §3.2; TOK-01 in docs/conformance.md).
	AllowPlainHTTP bool

	// Limiter throttles failed authentications. Nil means a
	// [RateLimiter] with its defaults.
	Limiter Limiter

	// Events receives an [Event] for every token issued, failed
	// authentication and token revoked. Nil means [LogEvents] to
	// slog.Default().
	Events func(ctx context.Context, ev Event)

	// Now is the clock of events and of the default Limiter. Nil means
	// time.Now.
	Now func() time.Time

	// Assertions, when set, lets its clients authenticate with
	// private_key_jwt (RFC 7523) at the token, introspection and
	// revocation endpoints (see "Clients without secrets" in the package
	// documentation). Nil means client assertions are refused (401).
	Assertions AssertionClients
	// Replay remembers the jti of every accepted assertion until its exp,
	// so that none is accepted twice, across every process sharing it.
	// Required with Assertions.
	Replay storage.ReplayStore

	// Resources are the resource indicators (RFC 8707) a token request may
	// name besides the Issuer's audience: absolute URIs without fragment.
	// Nil means the Issuer's audience only (see "Resource indicators" in
	// the package documentation).
	Resources []string
	// ResourceRequired refuses a token request that names no resource
	// (400 invalid_target), so that every token is for an explicitly
	// chosen resource (RFC 8707 §2.1).
	ResourceRequired bool

	// DPoP, when set, binds tokens to the keys of DPoP proofs (RFC 9449;
	// see dpop.go). Nil means DPoP headers are ignored and DPoP-only
	// clients get no token.
	DPoP *dpop.Verifier

	// DPoPURL returns the URL a token request's DPoP proof must name (its
	// htu). Nil means the issuer followed by the request's path, as
	// metadata advertises the endpoint; no header is read.
	DPoPURL func(r *http.Request) string
}

// Endpoint is keyturn's authorization server over HTTP: the token endpoint
// (RFC 6749), introspection (RFC 7662), revocation (RFC 7009) and metadata
// (RFC 8414). Each handler is an http.Handler to mount at a path of the
// host's choosing. An Endpoint is safe for concurrent use.
type Endpoint struct {
	issuer   *token.Issuer
	verifier *token.Verifier
	clients  ClientAuthenticator
	methods  AuthMethod
	splitKey func(string) (string, string, error)

	users        UserAuthenticator
	passwordID   string
	passwordLife time.Duration
	passwords    passwordQueue
	ceiling      func(context.Context, Client) (scope.Set, error)
	createdAt    bool
	introspect   scope.Set
	realm        string
	plainHTTP    bool
	tokenOpts    oauthreq.Options // what the token endpoint parses
	formOpts     oauthreq.Options // what introspection and revocation parse
	limiter      Limiter
	events       func(context.Context, Event)
	now          func() time.Time
	metadata     []byte
	metadataPath string

	assertions         AssertionClients
	replay             storage.ReplayStore
	assertionAudiences []string // the aud values an assertion may hold
	resources          []string // the Issuer's audience, then Resources
	resourceRequired   bool

	dpop    *dpop.Verifier // nil: DPoP off
	dpopURL func(*http.Request) string
}

// NewEndpoint checks cfg and returns an Endpoint.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	e := &Endpoint{
		issuer:       cfg.Issuer,
		verifier:     cfg.Verifier,
		clients:      cfg.Clients,
		methods:      cfg.Methods,
		splitKey:     cfg.SplitKey,
		users:        cfg.Users,
		passwordID:   cfg.PasswordClientID,
		passwordLife: cfg.PasswordLifetime,
		ceiling:      cfg.Ceiling,
		createdAt:    cfg.CreatedAt,
		realm:        cfg.Realm,
		plainHTTP:    cfg.AllowPlainHTTP,
		limiter:      cfg.Limiter,
		events:       cfg.Events,
		now:          cfg.Now,
		dpop:         cfg.DPoP,
		dpopURL:      cfg.DPoPURL,
	}
	if e.dpopURL == nil {
		e.dpopURL = e.dpopTokenURL
	}
	if e.issuer == nil {
		return nil, errors.New("keyturn: EndpointConfig.Issuer is required")
	}
	if e.verifier == nil {
		return nil, errors.New("keyturn: EndpointConfig.Verifier is required")
	}
	if e.clients == nil {
		return nil, errors.New("keyturn: EndpointConfig.Clients is required")
	}
	if e.verifier.Issuer() != e.issuer.Identifier() {
		return nil, errors.New("keyturn: EndpointConfig.Verifier must check the Issuer's issuer")
	}
	if !slices.Contains(e.issuer.Audience(), e.verifier.Audience()) {
		return nil, errors.New("keyturn: EndpointConfig.Verifier's audience must be one of the Issuer's")
	}
	if err := checkEndpointURL("issuer", e.issuer.Identifier(), e.plainHTTP); err != nil {
		return nil, err
	}
	if strings.Contains(e.issuer.Identifier(), "?") {
		return nil, errors.New("keyturn: the issuer must have no query (RFC 8414 §2)")
	}
	if e.methods == 0 {
		e.methods = StandardAuthMethods
	}
	if e.methods&^AllAuthMethods != 0 {
		return nil, errors.New("keyturn: EndpointConfig.Methods holds an unknown method")
	}
	if e.methods&(BearerKey|JSONKey) != 0 && e.splitKey == nil {
		return nil, errors.New("keyturn: EndpointConfig.SplitKey is required with BearerKey or JSONKey")
	}
	if e.users != nil {
		if err := checkClaimString("EndpointConfig.PasswordClientID", e.passwordID); err != nil {
			return nil, err
		}
		if e.passwordLife == 0 {
			e.passwordLife = token.DefaultLifetime
		}
		if err := checkLifetime("EndpointConfig.PasswordLifetime", e.passwordLife); err != nil {
			return nil, err
		}
		n, waiting, wait := cfg.MaxPasswordChecks, cfg.MaxPasswordWaiting, cfg.PasswordWait
		if n == 0 {
			n = runtime.GOMAXPROCS(0)
		}
		if waiting == 0 {
			waiting = DefaultPasswordWaitingPerCheck * n
		}
		if wait == 0 {
			wait = DefaultPasswordWait
		}
		if n < 0 || waiting < 0 || wait < 0 {
			return nil, errors.New("keyturn: EndpointConfig.MaxPasswordChecks, MaxPasswordWaiting and PasswordWait must not be negative")
		}
		e.passwords = passwordQueue{running: make(chan struct{}, n), waiting: make(chan struct{}, waiting), wait: wait}
	}
	is := cfg.IntrospectScope
	if is == "" {
		is = DefaultIntrospectScope
	}
	var err error
	if e.introspect, err = scope.Parse(is); err != nil || e.introspect.Len() != 1 {
		return nil, errors.New("keyturn: EndpointConfig.IntrospectScope must be one scope token")
	}
	if e.realm == "" {
		e.realm = DefaultRealm
	}
	if !headerSafe(e.realm) {
		return nil, errors.New("keyturn: EndpointConfig.Realm must be printable ASCII without '\"' or '\\'")
	}
	if err := e.configureClients(cfg); err != nil {
		return nil, err
	}
	m := e.methods
	e.formOpts = oauthreq.Options{
		AllowBasic:     m&ClientSecretBasic != 0,
		AllowPost:      m&ClientSecretPost != 0,
		AllowBearerKey: m&BearerKey != 0,
		AllowAssertion: e.assertions != nil,
	}
	e.tokenOpts = e.formOpts
	// A Bearer key may come with a JSON body carrying scope.
	e.tokenOpts.AllowJSON = m&(ClientSecretJSON|JSONKey|BearerKey) != 0
	e.tokenOpts.AllowPostJSON = m&ClientSecretJSON != 0
	e.tokenOpts.AllowResponseTypeAlias = m&ClientSecretJSON != 0
	e.tokenOpts.AllowBodyKey = m&JSONKey != 0
	if e.now == nil {
		e.now = time.Now
	}
	if e.limiter == nil {
		if e.limiter, err = NewRateLimiter(RateLimiterConfig{Now: e.now}); err != nil {
			return nil, err
		}
	}
	if e.events == nil {
		e.events = func(ctx context.Context, ev Event) { logEvent(slog.Default(), ctx, ev) }
	}
	if err := e.buildMetadata(cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// checkEndpointURL checks an issuer or endpoint URL: absolute, https (or
// http when plain is allowed), with a host, no fragment, no user info.
func checkEndpointURL(what, s string, plain bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil || u.Opaque != "" ||
		!(u.Scheme == "https" || plain && u.Scheme == "http") {
		if plain {
			return fmt.Errorf("keyturn: the %s must be an absolute http or https URL with a host and no fragment", what)
		}
		return fmt.Errorf("keyturn: the %s must be an absolute https URL with a host and no fragment (or set AllowPlainHTTP)", what)
	}
	return nil
}

// headerSafe reports whether s may stand in a quoted-string of a
// challenge, and in error and error_description (RFC 6749 §5.2: %x20-21 /
// %x23-5B / %x5D-7E).
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Token returns the token endpoint (RFC 6749 §3.2), to mount at e.g.
// POST /oauth/token. See the package documentation for the requests it
// accepts.
func (e *Endpoint) Token() http.Handler {
	return tokenHandler{e: e}
}

// PasswordToken returns the token endpoint as username and password APIs serve it, e.g. at
// POST /authorization: the same as [Endpoint.Token], except that a
// username and password with no client credentials need no grant_type.
// Without [EndpointConfig.Users] it is the same as Token.
func (e *Endpoint) PasswordToken() http.Handler {
	return tokenHandler{e: e, implicitPassword: true}
}

type tokenHandler struct {
	e                *Endpoint
	implicitPassword bool
}

func (h tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.e.serveToken(w, r, h.implicitPassword)
}

// Grant types.
const (
	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
)

func (e *Endpoint) serveToken(w http.ResponseWriter, r *http.Request, implicitPassword bool) {
	req, oerr := e.parse(w, r, &e.tokenOpts)
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	if req.JSON && req.Source == oauthreq.SourceBasic {
		// JSON bodies serve the API-key and JSON styles, which carry their credentials
		// in the body or as a Bearer key; the RFC 6749 flow stays a form
		// (TOK-03).
		e.writeError(w, errInvalidRequest("a request with HTTP Basic credentials must have a form body"))
		return
	}

	grant := req.GrantType
	switch {
	case grant == "" && implicitPassword && e.users != nil && req.Source == oauthreq.SourceNone &&
		(req.Username != "" || req.Password != ""):
		grant = grantPassword
	case grant == "" && (req.Source == oauthreq.SourceBearerKey || req.Source == oauthreq.SourceBodyKey):
		grant = grantClientCredentials
	case grant == "":
		e.writeError(w, errInvalidRequest("grant_type is missing"))
		return
	case grant == grantClientCredentials:
	case grant == grantPassword && e.users != nil:
	default:
		e.writeError(w, &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.UnsupportedGrantType,
			Description: "the grant type is not supported"})
		return
	}

	resources, oerr := e.requestedResources(req.Resource) // RFC 8707, see resource.go
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	requested, err := scope.Parse(req.Scope)
	if err != nil {
		e.writeError(w, &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.InvalidScope,
			Description: "the scope is malformed"})
		return
	}

	// DPoP (dpop.go): the proof is checked before any credential is.
	proof, oerr := e.dpopProof(w, r)
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	if grant == grantPassword {
		e.passwordGrant(w, r, req, requested, resources, proof)
		return
	}
	e.clientCredentialsGrant(w, r, req, requested, resources, proof)
}

func (e *Endpoint) clientCredentialsGrant(w http.ResponseWriter, r *http.Request, req *oauthreq.Request, requested scope.Set, resources []string, proof *dpop.Proof) {
	ctx := r.Context()
	// The token is issued as of now, before the client is checked: a
	// revocation of the client made after the check then covers it, however
	// long minting takes (token.Grant.IssuedAt).
	checked := e.now()
	client, oerr := e.authenticate(ctx, r, req, "token")
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	allowed, err := e.allowedScope(ctx, client)
	if err != nil {
		// The ceiling reads the store: it could not be reached in time.
		e.writeError(w, errUnavailable)
		return
	}
	granted, oerr := grantScope(allowed, requested)
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	if oerr := clientResources(client, resources); oerr != nil {
		e.writeError(w, oerr)
		return
	}
	jkt, oerr := e.dpopBind(ctx, proof, client.DPoPBound)
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	e.mint(w, r, methodOf(req), token.Grant{
		Subject:  client.ID,
		ClientID: client.ID,
		Scope:    granted,
		Lifetime: client.TokenLifetime,
		IssuedAt: checked,
		Audience: resources, // nil: the Issuer's audience
		JKT:      jkt,
	})
}

func (e *Endpoint) passwordGrant(w http.ResponseWriter, r *http.Request, req *oauthreq.Request, requested scope.Set, resources []string, proof *dpop.Proof) {
	if req.Source != oauthreq.SourceNone || req.ClientID != "" {
		e.writeError(w, errInvalidRequest("the password grant takes no client credentials"))
		return
	}
	if req.Username == "" || req.Password == "" {
		e.writeError(w, errInvalidRequest("username and password are required"))
		return
	}
	user, oerr := e.authenticateUser(r, req)
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	granted, oerr := grantScope(user.Scope, requested)
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	jkt, oerr := e.dpopBind(r.Context(), proof, false)
	if oerr != nil {
		e.writeError(w, oerr)
		return
	}
	e.mint(w, r, 0, token.Grant{
		Subject:  user.Subject,
		ClientID: e.passwordID,
		Scope:    granted,
		Lifetime: e.passwordLife,
		Audience: resources, // nil: the Issuer's audience
		JKT:      jkt,
	})
}

// authenticateUser checks the username and password of req, through the
// limiter. It reports failures as events and returns the error to answer.
func (e *Endpoint) authenticateUser(r *http.Request, req *oauthreq.Request) (User, *oauthreq.Error) {
	ctx := r.Context()
	key := LimitKey{Kind: LimitUser, ID: req.Username}
	if wait := e.limiter.Reserve(r, key); wait > 0 {
		if ctx.Err() != nil {
			return User{}, errUnavailable
		}
		e.emit(ctx, Event{Kind: AuthFailed, Endpoint: "token", Subject: fingerprint(req.Username),
			RemoteAddr: r.RemoteAddr, Err: ErrRateLimited})
		return User{}, errRateLimited(wait)
	}
	failed := true // until the password proves right; a panic included
	defer func() { e.limiter.Settle(r, key, failed) }()
	user, err := e.checkPassword(ctx, req.Username, req.Password)
	switch {
	case errors.Is(err, ErrBusy), errors.Is(err, ErrInvalidGrant):
		e.emit(ctx, Event{Kind: AuthFailed, Endpoint: "token", Subject: fingerprint(req.Username),
			RemoteAddr: r.RemoteAddr, Err: err})
		if errors.Is(err, ErrBusy) {
			return User{}, errUnavailable
		}
		return User{}, &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.InvalidGrant,
			Description: "the username or password is wrong"}
	case ctx.Err() != nil:
		// The client is gone, maybe during a check that found the
		// password right: mint nothing, and count the attempt all the
		// same.
		return User{}, errUnavailable
	case err == nil:
		failed = false
		return user, nil
	}
	failed = false // the server failed, not the password
	return User{}, errServer
}

// checkPassword asks the UserAuthenticator, once a turn is free among
// MaxPasswordChecks. It returns ErrBusy when MaxPasswordWaiting requests
// already wait for a turn or none came within PasswordWait, and ctx's error
// if ctx ends first: then nothing is checked.
func (e *Endpoint) checkPassword(ctx context.Context, username, password string) (User, error) {
	if err := e.passwords.acquire(ctx); err != nil {
		return User{}, err
	}
	defer e.passwords.release()
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	return e.users.AuthenticateUser(ctx, username, password)
}

// passwordQueue hands out turns to check a password: a bounded number run
// at once, a bounded number wait, for a bounded time, first come first
// served.
type passwordQueue struct {
	running chan struct{} // one value per check running
	waiting chan struct{} // one value per request waiting for a turn
	wait    time.Duration
}

func (q *passwordQueue) acquire(ctx context.Context) error {
	select {
	case q.running <- struct{}{}:
		return nil
	default:
	}
	select {
	case q.waiting <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-q.waiting }()
	t := time.NewTimer(q.wait)
	defer t.Stop()
	// Blocked senders are served in order: a request that arrives when a
	// turn frees never overtakes one that waits.
	select {
	case q.running <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *passwordQueue) release() { <-q.running }

// allowedScope returns the scope c holds today: its own, within the
// host's ceiling if one is configured.
func (e *Endpoint) allowedScope(ctx context.Context, c Client) (scope.Set, error) {
	if e.ceiling == nil {
		return c.Scope, nil
	}
	ceiling, err := e.ceiling(ctx, c)
	if err != nil {
		return scope.Set{}, err
	}
	if ceiling.Covers(c.Scope) {
		return c.Scope, nil // the common case, without building a new set
	}
	return c.Scope.Intersect(ceiling), nil
}

// grantScope returns what to grant a holder of allowed who asked for
// requested: all of allowed when nothing was asked, the request when
// allowed covers it, invalid_scope otherwise (never a silent narrowing).
func grantScope(allowed, requested scope.Set) (scope.Set, *oauthreq.Error) {
	if requested.IsEmpty() {
		if allowed.IsEmpty() {
			return scope.Set{}, &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.InvalidScope,
				Description: "there is no scope to grant"}
		}
		return allowed, nil
	}
	if !allowed.Covers(requested) {
		return scope.Set{}, &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.InvalidScope,
			Description: "the requested scope exceeds what may be granted"}
	}
	return requested, nil
}

// mint issues the token and writes the RFC 6749 §5.1 response.
func (e *Endpoint) mint(w http.ResponseWriter, r *http.Request, method AuthMethod, g token.Grant) {
	ctx := r.Context()
	if ctx.Err() != nil {
		// The client is gone: mint nothing that nobody will receive.
		e.writeError(w, errUnavailable)
		return
	}
	tok, c, err := e.issuer.Mint(ctx, g)
	if err != nil {
		e.writeError(w, errServer)
		return
	}
	if revs := e.verifier.Revocations(); revs != nil && revs.Revoked(c) {
		// The client was revoked while this request was served: the token
		// would be refused everywhere (IssuedAt is the time of the check),
		// so answer as for a revoked client rather than hand it out.
		challenge := "Basic"
		if method == BearerKey {
			challenge = "Bearer"
		}
		e.emit(ctx, Event{Kind: AuthFailed, Endpoint: "token", Method: method, ClientID: c.ClientID,
			RemoteAddr: r.RemoteAddr, Err: fmt.Errorf("%w: revoked while its token was minted", ErrInvalidClient)})
		e.writeError(w, &oauthreq.Error{Status: http.StatusUnauthorized, Code: oauthreq.InvalidClient,
			Description: "client authentication failed", Challenge: challenge})
		return
	}
	sc := c.Scope.String()
	buf := make([]byte, 0, len(tok)+len(sc)+128)
	buf = append(buf, `{"access_token":`...)
	buf = jsonenc.AppendString(buf, tok)
	buf = append(buf, `,"token_type":`...)
	buf = append(buf, tokenType(c.JKT)...) // "DPoP" for a bound token (dpop.go)
	buf = append(buf, `,"expires_in":`...)
	buf = strconv.AppendInt(buf, int64(c.ExpiresAt.Sub(c.IssuedAt)/time.Second), 10)
	buf = append(buf, `,"scope":`...)
	buf = jsonenc.AppendString(buf, sc)
	if e.createdAt {
		buf = append(buf, `,"created_at":`...)
		buf = strconv.AppendInt(buf, c.IssuedAt.Unix(), 10)
	}
	buf = append(buf, '}')
	writeJSON(w, http.StatusOK, buf)
	e.emit(ctx, Event{Kind: TokenIssued, Endpoint: "token", Method: method, ClientID: c.ClientID, Subject: c.Subject,
		Scope: c.Scope, TokenID: c.ID, ExpiresAt: c.ExpiresAt, RemoteAddr: r.RemoteAddr})
}

// methodOf returns the method by which req presented its credential.
func methodOf(req *oauthreq.Request) AuthMethod {
	switch req.Source {
	case oauthreq.SourceBasic:
		return ClientSecretBasic
	case oauthreq.SourcePost:
		if req.JSON {
			return ClientSecretJSON
		}
		return ClientSecretPost
	case oauthreq.SourceBearerKey:
		return BearerKey
	case oauthreq.SourceBodyKey:
		return JSONKey
	case oauthreq.SourceAssertion:
		return PrivateKeyJWT
	}
	return 0
}

// authenticate authenticates the client of req, through the limiter. It
// reports failures as events and returns the error to answer.
func (e *Endpoint) authenticate(ctx context.Context, r *http.Request, req *oauthreq.Request, endpoint string) (Client, *oauthreq.Error) {
	if req.Source == oauthreq.SourceAssertion {
		return e.authenticateAssertion(ctx, r, req, endpoint) // private_key_jwt, see assertion.go
	}
	method := methodOf(req)
	fail := func(id string, err error, oerr *oauthreq.Error) (Client, *oauthreq.Error) {
		e.emit(ctx, Event{Kind: AuthFailed, Endpoint: endpoint, Method: method, ClientID: eventID(id),
			RemoteAddr: r.RemoteAddr, Err: err})
		return Client{}, oerr
	}
	id, secret := req.ClientID, req.ClientSecret
	switch req.Source {
	case oauthreq.SourceNone:
		return fail(id, fmt.Errorf("%w: no client credentials", ErrInvalidClient), e.invalidClient(req, endpoint))
	case oauthreq.SourceBearerKey, oauthreq.SourceBodyKey:
		var err error
		if id, secret, err = e.splitKey(req.Key); err != nil {
			e.failAnonymous(r)
			if !errors.Is(err, ErrInvalidClient) {
				err = fmt.Errorf("%w: %w", ErrInvalidClient, err)
			}
			return fail("", err, e.invalidClient(req, endpoint))
		}
	}
	key := LimitKey{Kind: LimitClient, ID: id}
	if wait := e.limiter.Reserve(r, key); wait > 0 {
		if ctx.Err() != nil {
			return Client{}, errUnavailable
		}
		return fail(id, ErrRateLimited, errRateLimited(wait))
	}
	failed := true // until the secret proves right; a panic included
	defer func() { e.limiter.Settle(r, key, failed) }()
	client, err := e.clients.AuthenticateClient(ctx, id, secret)
	switch {
	case err == nil && client.ID == id:
		failed = false
		return client, nil
	case errors.Is(err, ErrInvalidClient):
		return fail(id, err, e.invalidClient(req, endpoint))
	}
	// The attempt is given back unless its client left.
	failed = ctx.Err() != nil
	if err != nil {
		// The credentials could not be checked now, most likely because
		// the store is unreachable (Config.StoreTimeout bounds the wait):
		// 503 with Retry-After, never a 401 that would count against the
		// client.
		return Client{}, errUnavailable
	}
	// An authenticator that maps credentials to another client, which
	// would make every client_id check meaningless.
	return Client{}, errServer
}

// failAnonymous counts credentials too malformed to name anyone against
// r's address.
func (e *Endpoint) failAnonymous(r *http.Request) {
	if e.limiter.Reserve(r, LimitKey{}) == 0 {
		e.limiter.Settle(r, LimitKey{}, true)
	}
}

// invalidClient is the 401 for credentials that do not authenticate, with
// a challenge in the scheme the client used (Basic when the credentials
// came in the body or were missing).
//
// At the token endpoint the error is invalid_client in every case (RFC 6749
// §5.2), a Bearer challenge included. At introspection and revocation a
// refused Bearer credential is invalid_token instead: there the request is
// authorized by a bearer credential (RFC 7662 §2.3, RFC 6750 §3.1). Either
// way the challenge carries the body's error.
func (e *Endpoint) invalidClient(req *oauthreq.Request, endpoint string) *oauthreq.Error {
	code := oauthreq.InvalidClient
	if endpoint != "token" && req.Challenge() == "Bearer" {
		code = oauthreq.InvalidToken
	}
	return &oauthreq.Error{Status: http.StatusUnauthorized, Code: code,
		Description: "client authentication failed", Challenge: req.Challenge()}
}

func (e *Endpoint) emit(ctx context.Context, ev Event) {
	ev.Time = e.now()
	e.events(ctx, ev)
}

// maxClaimLen bounds a configured claim value, as the token package does.
const maxClaimLen = 1024

func checkClaimString(what, s string) error {
	if s == "" {
		return fmt.Errorf("keyturn: %s is required", what)
	}
	if len(s) > maxClaimLen || !utf8.ValidString(s) {
		return fmt.Errorf("keyturn: %s must be valid UTF-8 of at most %d bytes", what, maxClaimLen)
	}
	return nil
}

func checkLifetime(what string, d time.Duration) error {
	if d < time.Second || d > token.MaxLifetime || d%time.Second != 0 {
		return fmt.Errorf("keyturn: %s must be whole seconds from 1s to %s", what, token.MaxLifetime)
	}
	return nil
}
