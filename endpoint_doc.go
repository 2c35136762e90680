// # Token endpoint
//
// [NewEndpoint] puts an [token.Issuer] and a [token.Verifier] on the wire as an OAuth
// 2.0 authorization server for machine clients: [Endpoint.Token] (RFC 6749
// §3.2, the client_credentials grant), [Endpoint.Introspection] (RFC 7662),
// [Endpoint.Revocation] (RFC 7009) and [Endpoint.Metadata] (RFC 8414, to
// mount at [Endpoint.MetadataPath]); [token.KeySet.Handler] serves the JWKS
// beside them. Clients authenticate through a [ClientAuthenticator]:
// [KeyClients] checks the API keys of a keys.Manager, so that a key's id
// and secret are its client_id and client_secret. Every token, failed
// authentication and revocation is reported to [EndpointConfig.Events]
// ([LogEvents] by default) with ids, never secrets.
//
// The four seed APIs are four configurations of one Endpoint, not forks:
//
//   - Seed 000, an API key exchanged whole: Methods with [BearerKey] and
//     [JSONKey], SplitKey set ([KeyClients.SplitKey]). No grant_type is
//     needed; if given it must be client_credentials.
//   - Seed 001, username and password: Users and PasswordClientID set, and
//     [Endpoint.PasswordToken] mounted at POST /authorization, where the
//     pair needs no grant_type (grant_type=password works at either path).
//     The token's sub is the user, its scope the user's. At most
//     MaxPasswordChecks password hashes are computed at once.
//   - Seed 002, client_id and client_secret in JSON: Methods with
//     [ClientSecretJSON] (response_type may stand for grant_type),
//     CreatedAt set, the key's token lifetime 7200 s.
//   - Seed 003, form body or HTTP Basic: the default Methods, compound
//     target-entity scopes, the key's token lifetime 3599 s.
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
// missing). Failed authentications are limited per client id and per
// remote address ([RateLimiter], or the host's own [Limiter]).
//
// # Conformance choices
//
// Where CONFORMANCE.md (the checklist of RFC requirements the tests follow
// item by item) leaves a choice, or an item does not apply, keyturn goes
// this way:
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
//   - Resource indicators (TOK-13, TOK-48, TOK-49): not supported yet; any
//     resource parameter, repeated or not, is invalid_target, and every
//     token carries the Issuer's audience. No scope maps to a resource, so
//     scopes can never make a token's audience ambiguous.
//   - Client authentication (TOK-22 … TOK-27): malformed Basic credentials
//     are 401 invalid_client; client_secret_post is supported and
//     advertised; there are no public clients, so a bare client_id is 401
//     invalid_client; a client_id beside Basic must match (else 400
//     invalid_request); clients have no registered method, and
//     client_assertion (private_key_jwt) is refused as an unsupported
//     method, 401 invalid_client. Extension methods (JSON, Bearer key) have
//     no registered names and are not advertised (MD-07).
//   - Brute force (TOK-29): [RateLimiter] allows a client id (or username)
//     10 failures, then one every 6 s, and a remote address (IPv6 by /64)
//     100, then one a second, so one client under attack does not lock out
//     its neighbours. A refused attempt is 429 with Retry-After and the
//     error slow_down (registered for token endpoint responses by RFC 8628),
//     and its credentials are not checked.
//   - Lifetimes (TOK-33): 900 s by default; a client's own lifetime may be
//     longer, up to [MaxLifetime] (seed 002's 7200 s, deliberately beyond
//     RFC 6750 §5.3's hour).
//   - Scope (TOK-35 … TOK-40): no silent narrowing: a scope the client does
//     not hold, an unknown scope, a differently-cased scope and irregular
//     whitespace (the ABNF's single space) are all invalid_scope. An omitted
//     scope grants the client's whole scope; the response echoes the grant.
//   - Other statuses (TOK-41): 500 server_error when the authenticator or
//     signing fails, 503 temporarily_unavailable with Retry-After when
//     introspection or revocation cannot reach storage.
//   - Subjects (TOK-46): sub is the client id; for the password grant sub is
//     the user and client_id is [EndpointConfig.PasswordClientID], so a
//     resource server tells the two apart by sub == client_id.
//   - Introspection callers (IN-04, IN-05, IN-11): the caller authenticates
//     like a client at the token endpoint, a Bearer credential being an API
//     key (an invalid one is 401 with a Bearer error="invalid_token"
//     challenge). A caller may introspect its own tokens, and a caller
//     holding [EndpointConfig.IntrospectScope] any token; another client's
//     token is {"active":false}, exactly as an unknown one, rather than 401
//     or 403. Tokens not for the Verifier's audience are inactive. Type
//     hints are ignored (IN-14, RV-05). There is no scanning throttle beyond
//     the authentication limiter (IN-22): 128-bit jti values and signatures
//     make scanning hopeless. DPoP is not supported (IN-20, MD-12).
//   - Revocation (RV-06, RV-09, RV-14): without [Revocations] on the
//     Verifier every request is 400 unsupported_token_type and metadata
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
