// Package oauthreq reads the requests that keyturn's OAuth endpoints
// receive — token (RFC 6749 §3.2), introspection (RFC 7662 §2.1) and
// revocation (RFC 7009 §2.1) — and writes their RFC 6749 §5.2 error
// responses. It only parses: it reads the body and the Authorization
// header and knows nothing of keys, clients, storage or grant semantics.
//
// Start with [Parse]: it checks the method, the URL query, the content
// type and the body, decodes a form or JSON body into a [Request], and
// finds the one client credential the request carries ([CredentialSource]).
// [Options] switches each credential style and the JSON body on; the zero
// value accepts form bodies and no credential at all. Every refusal is an
// [*Error], which [WriteError] turns into the response, so that an
// endpoint answers every error through one writer.
//
// What Parse leaves to the caller: whether grant_type is required (an API
// key exchanged whole needs none), which grant types exist (unsupported_grant_type),
// scope syntax (invalid_scope), whether token is present at introspection
// and revocation, authenticating the credential, and choosing the options
// per endpoint (introspection and revocation take form bodies only).
//
// # Choices
//
// Where the standards leave room, Parse decides as follows (the item of the
// conformance map, docs/conformance.md, in brackets):
//
//   - Any method but POST, OPTIONS and HEAD included, is 405 with
//     Allow: POST [TOK-02].
//   - The body is at most [Options.MaxBody] bytes (64 KiB by default); a
//     larger one is 413, refused from Content-Length before reading when
//     the length is declared [TOK-08]. At most 64 parameters or JSON
//     members; an Authorization header over 4 KiB is 431.
//   - Content types: application/x-www-form-urlencoded, matched
//     case-insensitively with parameters tolerated [TOK-04]; a charset
//     parameter must be UTF-8. application/json only with
//     [Options.AllowJSON]. Anything else, and a non-empty body without a
//     Content-Type, is 400 invalid_request (no sniffing, never 415)
//     [TOK-03]. An empty body needs no Content-Type (an API key may come
//     as a Bearer credential and nothing else) and is an empty parameter set, also
//     when declared application/json. A Content-Encoding other than
//     identity is invalid_request: bodies are read as sent.
//   - Forms are decoded strictly: a malformed or truncated %-escape, a raw
//     ';', or a name or value that is not UTF-8 after decoding is
//     invalid_request [TOK-05]. Empty segments ("a=1&&b=2") are skipped;
//     a segment without '=' is a name with an empty value.
//   - No parameter may appear twice, known or not, even with identical
//     values [TOK-12]; only resource repeats, into [Request.Resource]
//     [TOK-13]. An empty value counts as absent [TOK-14], except that an
//     empty grant_type is invalid_request. Unknown parameters are ignored
//     [TOK-15]; names are case-sensitive [TOK-16].
//   - A grant or credential parameter (grant_type, client_id,
//     client_secret, scope, username, password, token, key, assertion...)
//     in the URL query is invalid_request, whatever the body says
//     [TOK-06, TOK-07].
//   - JSON bodies are one object, strict RFC 8259 with no byte-order mark:
//     duplicate member names (compared after unescaping), invalid UTF-8,
//     lone surrogate escapes, trailing data, nesting deeper than 32
//     levels, more than 1024 values in all (the object, every member's
//     value and everything inside one, unknown members included) or a
//     number longer than 64 bytes are invalid_request. Known members must
//     be strings (resource a string or an array of strings); null is not
//     a string. Unknown members are validated, not decoded, and skipped;
//     parsing costs time and memory linear in the body. Two extensions
//     exist in JSON only, so that form requests stay pure RFC 6749: "key"
//     carries an API key with [Options.AllowBodyKey], and "response_type"
//     stands for grant_type with [Options.AllowResponseTypeAlias] (both
//     present and different is invalid_request). Elsewhere they are
//     unknown members.
//   - Authorization: at most one header field; the scheme is
//     case-insensitive [TOK-19] and followed by one or more spaces and a
//     token68. Basic is decoded with strict base64, split at the first
//     ':' and each half form-decoded (RFC 6749 §2.3.1, Appendix B)
//     [TOK-18]. A Basic credential that does not decode, lacks the ':', or
//     has an empty id or secret is 401 invalid_client with a Basic
//     challenge [TOK-22]. A malformed Bearer value is 401 invalid_client
//     with a Bearer challenge. Another scheme (Digest, DPoP...) is an
//     authentication method keyturn does not support: 401 invalid_client
//     with a Basic challenge (RFC 6749 §5.2 names "unsupported
//     authentication method" as invalid_client).
//   - A credential presented by a method the options do not enable is 401
//     invalid_client with the challenge of the scheme used (Basic for body
//     credentials), as RFC 6749 §5.2 prescribes for unsupported methods;
//     it is not silently ignored. The exceptions are the JSON-only
//     extensions: with their option off, "key" and "response_type" are
//     just unknown members.
//   - More than one client-authentication method in a request (an
//     Authorization header of any scheme, client_secret, client_assertion
//     or client_assertion_type, a JSON key) is invalid_request [TOK-25].
//     A bare client_id beside Basic must equal the Basic id, else
//     invalid_request [TOK-26]; beside an API key (whose id only the
//     caller can extract) a client_id is invalid_request. client_secret
//     without client_id is 401 invalid_client. A request with no
//     credential has [SourceNone] and, if it named one, the bare
//     [Request.ClientID]: the caller answers 401 invalid_client [TOK-24].
//   - [Request.Challenge] names the scheme a 401 about the request's
//     credential carries: Bearer for a Bearer key, Basic otherwise,
//     missing credentials included.
//
// # Security
//
// Error codes and descriptions are fixed strings of the RFC 6749 §5.2
// character set (%x20-21 / %x23-5B / %x5D-7E); they may name a known
// parameter but never contain a parameter value, a secret, a key or any
// other request data [TOK-41, TOK-42]. A [Request] prints, logs and
// marshals with its secrets (ClientSecret, Password, Key, ClientAssertion,
// Token) redacted. Parse reads the body through a pooled buffer that is
// cleared before reuse, and its work is linear in the bounded input.
// Every 401 that Parse returns is a failed client authentication that the
// caller should count in its brute-force limiter (by remote address: no
// credential was checked).
package oauthreq
