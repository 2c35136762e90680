// Package keyturn lets a Go service be its own OAuth 2.0 authorization
// server for machine-to-machine access: API keys that are also client_id /
// client_secret pairs, exchanged at a token endpoint for short-lived RFC 9068
// access tokens, which middleware then checks in front of the service's own
// handlers.
//
// Start with [New]: it takes a [Config] (a [Store], the issuer, the key
// prefix) and returns a [Server], the whole authorization server wired
// once. Mount [Server.Handler] (token, introspection, revocation, metadata,
// JWKS) and [Server.Admin] (create, list, read, rotate and revoke keys),
// wrap handlers in [Server.Require], and run [Server.Run] for the
// background work:
//
//	srv, err := keyturn.New(ctx, keyturn.Config{Store: memory.New(),
//		Issuer: "https://auth.example.com", KeyPrefix: "ds_live", Pepper: pepper})
//	if err != nil {
//		return err
//	}
//	mux.Handle("/", srv.Handler())
//	mux.Handle("/v1/api_keys", srv.Admin())
//	mux.Handle("/v1/api_keys/", srv.Admin())
//	mux.Handle("GET /v1/staff", srv.Require("read:users")(staff))
//	go srv.Run(ctx)
//
// [Server.AdminPage] is the page for people beside the admin API: staff sign
// in and create, rotate and revoke keys in a browser.
//
// A host's own tests get a server over the memory store, and tokens with
// the scopes they need, from [NewTestServer].
//
// # What New wires, so that no host can forget it
//
//   - Revocation: revoking a key ([keys.Manager.Revoke] through
//     [Server.Keys], or the admin API) or a token (RFC 7009) refuses its
//     tokens at the middleware, at introspection and in the verified-token
//     cache from the next request on; [Server.Run] picks up revocations
//     made by other processes: at once through [Config.Changes] when set
//     (storage/sqlstore/pgnotify on PostgreSQL), and by polling otherwise
//     and as the fallback. docs/deployment.md says how to run several
//     processes on one database.
//   - The scope ceiling: a key never grants more than its creators may
//     grant today. A key made through another key's token is bounded by
//     that key (transitively); one made through a user's password-grant
//     token by the user's scope as [Config.UserScope] reports it at each
//     exchange.
//   - Brute-force protection: failed authentications are throttled
//     ([RateLimiter] unless the host brings its own [Limiter]); it cannot
//     be switched off.
//   - Key lifecycle: a key past its expiry is refused like a revoked one;
//     a rotated key's old secret works until its grace period ends and no
//     longer; every token issued records the key's last use
//     (keys.Record.LastUsedAt), at most once a minute per key and process
//     and off the response.
//   - DPoP (RFC 9449, on unless [DPoPConfig.Disabled]): a token request
//     with a valid DPoP proof gets a token bound to the proof's key, and
//     the middleware admits a bound token only with a fresh proof made with
//     that key, on every request, cached verification or not; a bound token
//     sent as a bearer token is refused. See "DPoP choices" below.
//   - The pepper: the store remembers a fingerprint of [Config.Pepper], and
//     New refuses another pepper, or none after one, with
//     [ErrPepperMismatch] instead of starting a server that refuses every
//     key.
//
// Every part stays exported for a host that needs another shape: the
// packages token (issuer, verifier, signing keys, revocations), keys (API
// keys and their lifecycle), middleware and storage, and [NewEndpoint] here,
// which puts a token.Issuer and token.Verifier on the wire.
//
// # API styles
//
// [NewEndpoint] serves the token endpoint (RFC 6749 §3.2, the
// client_credentials grant), introspection (RFC 7662), revocation (RFC
// 7009) and metadata (RFC 8414); token.KeySet.Handler serves the JWKS beside
// them. Clients authenticate through a [ClientAuthenticator]: [KeyClients]
// checks the API keys of a keys.Manager, so that a key's id and secret are
// its client_id and client_secret. Every token, failed authentication and
// revocation is reported to [EndpointConfig.Events] ([LogEvents] by
// default) with ids, never secrets.
//
// Four common styles of token API are four configurations, not forks:
//
//   - An API key exchanged whole: Methods with [BearerKey] and [JSONKey]
//     (the key as "Authorization: Bearer <key>" or {"key": "<key>"}). No
//     grant_type is needed; if given it must be client_credentials.
//   - Username and password: [Config.Users] set, and [Config.PasswordPath]
//     (e.g. POST /authorization), where the pair needs no grant_type
//     (grant_type=password works at either path). The token's sub is the
//     user, its scope the user's. At most [EndpointConfig.MaxPasswordChecks]
//     password hashes are computed at once, a few more requests wait
//     briefly for a turn, and the rest are answered 503 at once.
//   - client_id and client_secret in a JSON body: Methods with
//     [ClientSecretJSON] (response_type may stand for grant_type), CreatedAt
//     set, the key's token lifetime e.g. 7200 s.
//   - Form body or HTTP Basic: the default Methods, compound
//     target-entity scopes, the key's token lifetime e.g. 3599 s.
//
// In every flow a request without scope is granted the client's whole
// scope (within [EndpointConfig.Ceiling]), a request with scope gets
// exactly that if the client holds it and invalid_scope if not, and the
// response's scope always states what was granted, canonically. Responses
// are {"access_token", "token_type": "Bearer", "expires_in", "scope"} plus
// created_at when configured, never a refresh token, with Cache-Control:
// no-store and Pragma: no-cache, errors included. Errors follow RFC 6749
// §5.2; an unknown client and a wrong secret get the same 401
// invalid_client, with a WWW-Authenticate challenge in the scheme the
// client used (Basic when the credentials came in the body or were
// missing). Failed authentications are limited per client id (or
// username) and remote address, per client id and per remote address
// ([RateLimiter], or the host's own [Limiter]).
//
// # Clients without secrets
//
// A key created with a public JSON Web Key Set ([keys.CreateParams].JWKS:
// 1 to 10 EC P-256, Ed25519 or RSA ≥ 2048-bit public keys, each with a
// unique kid; no private or symmetric member) is a private_key_jwt client
// (RFC 7523): it has no secret, and authenticates at the token,
// introspection and revocation endpoints with
// client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
// and a client_assertion, in a form body only. The assertion is refused,
// 401 invalid_client whatever the reason (the reason goes to the AuthFailed
// event, never the assertion), unless it is one compact JWS of at most
// [MaxAssertionLen] bytes, signed with one of [AssertionAlgorithms] by a
// key of the client whose type fits the algorithm (the kid's key, or
// without a kid each fitting key in turn), with no embedded jwk, a typ, if
// any, of JWT or client-authentication+jwt (so never an access token or a
// DPoP proof), iss and sub both the client_id, every aud the issuer or the
// token endpoint URL, exp in the future and at most
// [MaxAssertionLifetime] ahead and after its iat, iat and nbf not in the
// future (30 s of skew), and a jti (at most 1 KiB) never accepted before:
// the jti is remembered in the store's [storage.ReplayStore] until exp,
// across every process sharing the store, and swept after (every [Store]
// is a storage.ReplayStore, so this cannot be left out). Failed assertions
// count against the client
// (their sub) at the address in the [Limiter], as wrong secrets do.
//
// The admin API creates such a client with {"token_endpoint_auth_method":
// "private_key_jwt", "jwks": {"keys": [...]}}: the 201 body has its
// client_id and no key or client_secret. Rotating it takes {"jwks": ...}
// and replaces its keys (compare-and-swap, 409 on a concurrent
// replacement); the old keys stop authenticating at once in this process,
// and in others as soon as the store's change notification arrives.
//
// # Resource indicators
//
// [Config.Resources] are the resource indicators (RFC 8707) the server
// issues tokens for besides [Config.Audience], which is always one of
// them. A token request may name some with resource (repeatable); the
// token's aud is then those, in order, without repeats; without resource
// it is the Audience, as before. A key created with Resources may get
// tokens only for those. [Server.Require] and [Server.Verifier] accept
// tokens whose aud holds the Audience, so a token for another resource is
// refused there; introspection and revocation accept the tokens of every
// resource.
//
// # DPoP choices
//
// RFC 9449 leaves these to the server (TOK-54 … TOK-62, RS-30, IN-20,
// MD-12; the code is in dpop.go, middleware/dpop.go and token/dpop):
//
//   - Algorithms: ES256, EdDSA (also under its RFC 9864 name Ed25519, which
//     oauth4webapi sends), PS256 and RS256 ([DPoPConfig.Algorithms] narrows
//     them), advertised as dpop_signing_alg_values_supported and in every
//     DPoP challenge's algs. Never none, never an HMAC, never a key the
//     proof does not embed; a jwk with private members is refused.
//   - The window: a proof's iat may lie 60 s before or after the server's
//     clock ([DPoPConfig.Window], at most 5 min).
//   - Replay: each proof (its key and jti) is accepted once. By default the
//     memory is the process's own, bounded to 100 000 proofs and holding
//     each until its iat + window; full of live proofs it refuses new ones
//     (503 at the token endpoint and the middleware) rather than forget one.
//     Processes sharing a store share it too, by default once
//     [Config.Changes] says the store is shared (or through
//     [DPoPConfig.Replay]); with [DPoPConfig.ReplayPerProcess] a proof
//     could be accepted once at each process.
//   - htu: compared after RFC 3986 normalisation, without query or
//     fragment, with a URL built from configuration, never from Host or
//     X-Forwarded-* headers: the issuer followed by the request's path at
//     the token endpoint ([EndpointConfig.DPoPURL] overrides it), the
//     issuer's origin followed by the request line's path at the resources
//     ([DPoPConfig.ResourceURL] overrides it; middleware.RequestURL builds
//     one for another origin). Behind a TLS-terminating proxy the issuer is
//     the public https URL, which is what clients sign.
//   - Order at the token endpoint: the proof is checked before the client
//     authenticates (a bad proof is 400 invalid_dpop_proof whatever the
//     credentials, and costs no credential check), and recorded as used only
//     after (only an authenticated client's proofs take room in the replay
//     memory; a good proof with bad credentials can be sent again with good
//     ones). Two DPoP headers are invalid_dpop_proof. A bad proof counts
//     as a failure against the remote address in the [Limiter], as
//     credentials too malformed to name anyone do, so that nobody can make
//     the server check signatures without limit.
//   - Nonces ([DPoPConfig.Nonce], off by default): stateless, an HMAC of
//     the current 5-minute slot, valid in that slot and the next; 400
//     use_dpop_nonce at the token endpoint and 401 error="use_dpop_nonce"
//     at the resources, each with the nonce in DPoP-Nonce.
//   - Clients: a key created with dpop_bound (keys.CreateParams.DPoPBound)
//     gets no token without a proof (400 invalid_dpop_proof). Any client
//     may send a proof and gets a bound token; the password grant too.
//   - Resources: an error about a DPoP request goes in a DPoP challenge
//     (with algs), beside a bare Bearer one; a proof by another key than
//     the token's cnf.jkt, a bound token sent as Bearer and an unbound one
//     sent as DPoP are invalid_token; a missing, malformed, stale or
//     replayed proof is invalid_dpop_proof (RFC 9449 §7.1, §12.2).
//   - Tokens outside HTTP: [Server.Verifier] returns a bound token's
//     token.Claims.JKT; a host that admits requests with it (a gRPC
//     interceptor, say) must check a proof itself (token/dpop).
//
// # Conformance choices
//
// docs/conformance.md in the repository maps every requirement keyturn
// follows (RFC 6749, 6750, 9068, 7662, 7009, 8414, 8725, 9700) to the test
// named by its item ID (TestTOK18_…, TestRS15_…). Where a standard leaves a
// choice, or an item does not apply, keyturn goes this way:
//
//   - TLS (TOK-01, IN-23, RV-17): a request that did not arrive over TLS is
//     refused with 400 invalid_request before its credentials are read,
//     unless [EndpointConfig.AllowPlainHTTP] is set (behind a TLS-terminating
//     proxy, or in development); an http issuer needs the same switch.
//   - Methods (TOK-02, IN-17, RV-11): anything but POST, OPTIONS and HEAD
//     included, is 405 with Allow: POST. The metadata document answers GET
//     and HEAD, anything else 405 with Allow: GET, HEAD (MD-15).
//   - Body format (TOK-03, IN-18, RV-12): form bodies. JSON bodies only when
//     ClientSecretJSON, JSONKey or BearerKey is enabled, only at the token
//     endpoint, and never beside HTTP Basic, so the RFC 6749 flow stays a
//     form. Refusals are 400 invalid_request, never 415. Grant and credential parameters in the URL
//     query are invalid_request; other query parameters are ignored
//     (TOK-06, TOK-07). Bodies are capped at 64 KiB (413), 64 parameters
//     (400), the Authorization header at 4 KiB (431) (TOK-08).
//   - Grant types (TOK-10, TOK-11): client_credentials, and password only
//     when Users is set (RFC 9700 §2.4 advises against it; otherwise it is
//     unsupported_grant_type). password beside client credentials is
//     invalid_request. Clients have no per-client grant types, so
//     unauthorized_client (TOK-11) never arises at the token endpoint.
//   - Resource indicators (TOK-13, TOK-48 … TOK-53): see "Resource
//     indicators" above. A resource that is not an absolute URI with a
//     host (so no URN), has a fragment or user info, or is not one of the
//     server's or the key's resources, is 400 invalid_target, repeated or
//     not. No scope maps to a resource, so scopes never make a token's
//     audience ambiguous (TOK-49) and no resource/scope combination is
//     refused (TOK-52 does not apply). A resource is required only with
//     [Config.ResourceRequired] (TOK-53): then a request without one is
//     400 invalid_target.
//   - Client authentication (TOK-22 … TOK-27): malformed Basic credentials
//     are 401 invalid_client; client_secret_post is supported and
//     advertised; there are no public clients, so a bare client_id is 401
//     invalid_client; a client_id beside Basic must match (else 400
//     invalid_request). A client authenticates only with its registered
//     method (TOK-27): a key with a secret by its secret, a private_key_jwt
//     client only by an assertion (it has no secret; Basic with anything is
//     401 invalid_client with a Basic challenge). Without
//     [EndpointConfig.Assertions] every assertion is 401 invalid_client.
//     Extension methods (JSON, Bearer key) have no registered names and
//     are not advertised (MD-07).
//   - Client assertions (TOK-63 … TOK-73): see "Clients without secrets"
//     above. The audience (TOK-65) is this server's issuer or its token
//     endpoint URL, as RFC 7523 allows, as a string or an array whose
//     every value is one of those two: an array that also names another
//     server is refused, a middle way to the rfc7523bis draft's
//     issuer-only rule. The most an assertion may live is 300 s (TOK-67).
//     A missing client_assertion_type is 400 invalid_request, a wrong one
//     401 invalid_client (TOK-64); a client_id that names another client
//     is 400 invalid_request (TOK-71).
//   - Brute force (TOK-29): every authentication attempt is reserved in
//     the [Limiter] before its credentials are checked and settled after,
//     so that parallel attempts count as if made one after the other: of
//     20 wrong passwords sent at once, 10 are checked and 10 refused. A
//     reservation counts as a failure until its credentials prove right;
//     an attempt refused for lack of room, or whose client left, stays a
//     failure. [RateLimiter] allows a client id (or username: a separate
//     namespace, so that the client id "user:alice" is not the user alice)
//     10 failures from one remote address (IPv6 by /64), then one every 6
//     s; the same id 1000 from all addresses together, then one a second,
//     against guessing spread over many addresses; and a remote address
//     100 for all ids, then one a second, so one client under attack does
//     not lock out its neighbours. Failures from one address never lock a
//     client out at another: while the attacker's address is refused, the
//     right secret from elsewhere gets a token (short of the 1000 ceiling).
//     When an attempt's fate hangs on attempts still being checked (more
//     under way than failures left), it waits for them, up to 1 s. A
//     refused attempt is 429 with Retry-After and the error slow_down
//     (registered for token endpoint responses by RFC 8628), and its
//     credentials are not checked. Password checks run at most
//     [EndpointConfig.MaxPasswordChecks] at once with a bounded queue
//     ([EndpointConfig.MaxPasswordWaiting], 4 per check) and a short wait
//     ([EndpointConfig.PasswordWait], 1 s); beyond either the answer is 503
//     temporarily_unavailable with Retry-After, never a held connection.
//     A request whose client is gone is dropped while it waits, and gets
//     no token minted after its check.
//   - Lifetimes (TOK-33): 900 s by default; a client's own lifetime may be
//     longer, up to [token.MaxLifetime] (7200 s for an API in the style of JSON client
//     credentials, deliberately beyond
//     RFC 6750 §5.3's hour).
//   - Scope (TOK-35 … TOK-40): no silent narrowing: a scope the client does
//     not hold, an unknown scope, a differently-cased scope and irregular
//     whitespace (the ABNF's single space) are all invalid_scope. An omitted
//     scope grants the client's whole scope; the response echoes the grant.
//   - Other statuses (TOK-41): 503 temporarily_unavailable with
//     Retry-After when the credentials, the ceiling or an assertion's jti
//     cannot be checked against storage in time ([Config.StoreTimeout]),
//     when introspection or revocation cannot reach storage, or when no
//     turn to check a password comes soon (TOK-29); 500 server_error when
//     signing fails or an authenticator answers for another client.
//   - Subjects (TOK-46): sub is the client id; for the password grant sub is
//     the user and client_id is [EndpointConfig.PasswordClientID], so a
//     resource server tells the two apart by sub == client_id.
//   - Introspection callers (IN-04, IN-05, IN-11): the caller authenticates
//     like a client at the token endpoint, a Bearer credential being an API
//     key (an invalid one is 401 invalid_token, in the body and in the
//     Bearer challenge alike). A caller may introspect its own tokens, and a caller
//     holding [EndpointConfig.IntrospectScope] any token; another client's
//     token is {"active":false}, exactly as an unknown one, rather than 401
//     or 403. Tokens not for the Verifier's audience are inactive. Type
//     hints are ignored (IN-14, RV-05). There is no scanning throttle beyond
//     the authentication limiter (IN-22): 128-bit jti values and signatures
//     make scanning hopeless. A DPoP-bound token shows cnf {"jkt"} and
//     token_type DPoP (IN-20).
//   - Revocation (RV-06, RV-09, RV-14): without token.Revocations on
//     the Verifier every request is 400 unsupported_token_type and metadata
//     advertises no revocation endpoint. Another client's token is refused
//     with 400 unauthorized_client and stays valid (RFC 7009 §2.1: refuse
//     and inform); password-grant tokens belong to no client and are refused
//     for everyone. A revocation that cannot be stored is 503; it already
//     bites in this process, and a retry writes it again.
//   - Metadata (MD-02, MD-05, MD-10, MD-13, MD-14): served at the issuer's
//     well-known path with path insertion, 404 elsewhere;
//     response_types_supported is left out (RFC 8414 makes it required but
//     forbids empty arrays, and a client-credentials server supports no
//     response type); scopes_supported comes from configuration and is left
//     out when empty; no signed metadata and no OpenID Connect discovery are
//     served.
package keyturn
