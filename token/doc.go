// Package token mints and verifies OAuth 2.0 access tokens: RFC 9068 JWTs
// signed with rotating keys published as a JWK Set, or opaque reference
// tokens kept in storage.
//
// Start with [NewKeySet], which loads (or creates) the signing keys kept in a
// [storage.SigningKeyStore]; then [NewIssuer] and [Issuer.Mint] to turn an
// authenticated client and its granted scope into a token, and
// [NewVerifier] and [Verifier.Verify] to turn a presented token back into
// [Claims]. [NewRevocations] gives the verifier a revocation view, and
// [KeySet.Handler] serves the public keys at [JWKSPath].
//
// # Tokens
//
// A JWT has the protected header {"alg", "kid", "typ": "at+jwt"} and the
// claims iss, sub, aud, exp, iat, nbf, jti (128 random bits), client_id and
// scope (the canonical space-delimited string; left out when empty), in
// that order, then any host claims from [IssuerConfig.Extra], which can never
// replace those. A token bound to a DPoP key ([Grant.JKT], RFC 9449) also
// carries cnf {"jkt": thumbprint}, which [Verifier.Verify] returns as
// [Claims.JKT]: Verify checks the token, not its sender, so whoever admits
// a request with a bound token must also check a DPoP proof made with that
// key (package token/dpop; keyturn's middleware does). Lifetimes are whole seconds up to [MaxLifetime], set per
// issuer ([IssuerConfig.Lifetime], default 900 s) and per client
// ([Grant.Lifetime], e.g. a key's own 900, 7200 or 3599 s).
//
// Minting does not go through go-jose: the header segment is encoded once
// per key, the claims are written without reflection, and the signing input
// is handed straight to the key's crypto.Signer (ECDSA signatures are
// converted from ASN.1 to the 64-byte R||S form, PSS uses a salt as long as
// the hash). Tests verify every minted token with go-jose and with
// golang-jwt, the latter given only the JWKS document. Verification parses
// and checks the signature with go-jose.
//
// # Default algorithm
//
// [DefaultAlgorithm] is [EdDSA] (Ed25519). Measured side by side (the
// benchmarks in this package, 2-core AMD EPYC, Go 1.26, medians): minting
// costs about 29 µs with EdDSA, 43 µs with ES256 and 1.1 to 1.2 ms with
// RS256 or PS256; verifying costs about 82 µs with EdDSA, 102 µs with ES256
// and 56 to 58 µs with RSA. EdDSA beats ES256 on both, and beats RSA on any
// token verified fewer than about 35 times per process, which with the
// verifier's cache of verified tokens is every token: one mint and one
// verification cost about 110 µs with EdDSA against 1.1 ms with RS256, and
// RSA signing caps a core at under a thousand tokens a second. Ed25519
// signatures are also deterministic (no random-number failure can leak the
// key), and keys and tokens are small (an 86-character signature against
// 342 for RSA-2048).
//
// EdDSA is registered for JOSE by RFC 8037 and understood by go-jose,
// golang-jwt (both tested here), jose (JavaScript), PyJWT, Nimbus and most
// current libraries. Where a relying party cannot verify it (some older
// stacks and API gateways know only RS256 or ES256), set
// [KeySetConfig.Algorithm] to [RS256], which every JOSE implementation
// supports, or [ES256]; a rotation then moves the set over without refusing
// any token (allow both algorithms in [VerifierConfig.Algorithms] meanwhile).
//
// # Signing keys
//
// A [KeySet] has one active key that signs, the next key, published (in the
// JWKS and to every verifier) at least [KeySetConfig.PublishAhead] before it
// signs, and retired keys, published until [MaxLifetime] + [MaxLeeway] after
// they stopped signing, by when every token they signed has expired. So no
// token is ever refused because of a rotation. Rotation happens in
// [KeySet.Refresh], which every process should run (see [KeySet.Run]) more
// often than PublishAhead; it also makes keys added by other processes
// known. Two processes starting on an empty store converge on one key.
//
// Each key is one [storage.SigningKey] record:
//
//   - ID: the key's RFC 7638 JWK thumbprint (SHA-256, base64url), used as
//     the kid;
//   - Algorithm: "EdDSA", "ES256", "RS256" or "PS256";
//   - Public: the public key, PKIX DER;
//   - Private: the private key, PKCS #8 DER, or, when
//     [KeySetConfig.KEK] is set, sealed as
//     "kts1" || 12-byte random nonce || AES-256-GCM(KEK, PKCS #8) with the
//     kid as additional data, so a record cannot be moved to another kid;
//   - CreatedAt, NotBefore (starts signing), NotAfter (stops signing) and
//     ExpiresAt (may be deleted).
//
// With a KEK a record that is not sealed is refused, and a wrong KEK fails
// with [ErrUnseal]. A [KeySetConfig.VerifyOnly] set reads public keys only.
// [SealKeys] seals the keys of a store made without a KEK, or moves them from
// one KEK to another.
//
// # Revocation
//
// [Revocations] keeps revoked jti values and client revocations in memory,
// loaded from a [storage.RevocationStore] and written through to it.
// [Verifier.Verify] consults it without I/O and refuses, with [ErrRevoked],
// a token whose jti is revoked or whose client was revoked at or after the
// token's iat. A revocation made through a Revocations value bites in that
// process at once. Another process sees it at its next
// [Revocations.Refresh]: run [Revocations.Run] with an interval, which is
// the bound on how long a token revoked elsewhere may still be accepted
// there (plus the store's own write latency), as long as the processes'
// clocks agree within RevocationsConfig.RefreshOverlap (5 min by default):
// each refresh reads the revocations stamped since the previous one, less
// that overlap. A revocation stamped further back (a clock running behind,
// a back-dated RevokeClient) is caught by the full reload Refresh makes
// every RevocationsConfig.FullReload (10 min by default), which is then the
// bound. [Revocations.Generation] lets a cache of verified tokens notice new
// revocations cheaply.
//
// # Cache of verified tokens
//
// A [Verifier] remembers the claims of the JWTs it accepted, up to
// [VerifierConfig.CacheSize] tokens ([DefaultCacheSize] unless set; a
// negative size turns the cache off), so that a token presented again costs
// a SHA-256 and a map lookup, without allocating, rather than a signature
// check: every host gets it, HTTP or not, through plain [Verifier.Verify].
// Entries are keyed by the SHA-256 of the token (the token itself is not
// kept) and evicted by a CLOCK (second-chance) policy when the cache is
// full; it is split in 16 shards with their own locks, so concurrent hits do
// not contend on one lock.
//
// Every hit is checked again at the verifier's Now. A cached token is never
// returned at or after its exp: it is then verified again, which may still
// accept it within the leeway, without caching it. Nor is it returned once
// [VerifierConfig.Revocations] reports it revoked: the entry is dropped and
// the token verified again, which refuses it with [ErrRevoked]. So a
// revocation bites a cached token exactly when it bites an uncached one. Only
// accepted tokens are cached, and every hit returns the *Claims of the first
// verification: claims from Verify are shared and must not be modified.
//
// The cache does not notice a signing key removed from the store by hand
// before the tokens it signed expire (a [KeySet] deletes keys only after
// [MaxLifetime] + [MaxLeeway]): such tokens stay accepted from the cache
// until their exp. Revoke them ([Revocations.RevokeClient]) to refuse them at
// once.
//
// Opaque tokens are not cached: each Verify looks the token up in the store,
// which is the authority for a reference token, so that a record deleted
// from the store bites at its next use and a store that is down is reported
// as such (introspection answers 503) rather than answered from memory.
//
// [Verifier.VerifyIgnoringRevocation] makes every check but revocation, and
// neither reads nor fills the cache: it tells who owns a token that may
// already be revoked, as RFC 7009 revocation needs.
//
// # Opaque tokens
//
// With [IssuerConfig.Format] set to [Opaque] the issuer mints
// <prefix>_<43 base62 characters> (256 random bits) and stores only its
// SHA-256 with the claims and expiry. A [Verifier] configured with both Keys
// and Opaque verifies either format through the same Verify call, routing by
// shape.
//
// # Security
//
// Verify bounds the token to [MaxTokenSize] bytes before anything else. It
// accepts only the compact serialisation in canonical base64url, an alg
// from [VerifierConfig.Algorithms] that equals the kid's key's algorithm
// ("none" and HMAC can never be allowed), and refuses tokens carrying jku,
// jwk, x5u, x5c, x5t or crit headers; keys come only from the key set.
// typ must be at+jwt or application/at+jwt, compared case-insensitively.
// Claims are decoded strictly: duplicate member names (also when escaped)
// are refused, registered claims must have their types, and iss, aud, exp,
// iat, jti, sub and client_id are required. exp, nbf and iat get a leeway of
// [DefaultLeeway], at most [MaxLeeway]. A kid that is not known triggers a
// reload from storage, however recently the set was loaded (another process
// may have just added the key), at most once a second for all unknown kids
// together. Errors wrap the sentinels below and never contain the token.
package token
