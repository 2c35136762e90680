// Package dpop makes and checks DPoP proofs (RFC 9449): the small signed
// JWTs with which a client proves, request by request, that it holds the
// private key an access token is bound to, so that a stolen token is
// useless without the key.
//
// A server starts with [NewVerifier] and [Verifier.Verify], which checks
// one proof against the request it came with (method, URL and, at a
// protected resource, the access token) and returns the [Proof], whose JKT
// is the RFC 7638 thumbprint of the proof's key: the value of a bound
// token's cnf.jkt claim. keyturn's token endpoint and middleware do this for
// their hosts. A client starts with [NewProver] and [Prover.Proof], or
// [Prover.Transport], an http.RoundTripper that adds a proof to every
// request and answers a server's nonce challenge once.
//
// # What a proof must be
//
// At most [MaxProofSize] bytes; a compact JWS whose protected header has
// typ dpop+jwt, an alg from the Verifier's allow-list (only ES256, EdDSA
// and its fully-specified name Ed25519, PS256 and RS256 are known: never
// none or an HMAC) and a jwk holding a public key of that algorithm (EC
// P-256, Ed25519, or RSA of 2048 to 4096 bits with an exponent of at most
// 32 bits) and no private member (d, p, q, dp, dq, qi, oth, k); no crit,
// jku, x5u or x5c: the key is the embedded jwk, nothing else. The signature must verify with that key. The claims must hold a
// jti (1 to [MaxJTILen] bytes), htm equal to the request method, htu equal
// to the request URL after normalisation (scheme and host compared without
// case, default ports dropped, an empty path read as "/", percent-escapes
// compared without case; query and fragment ignored, RFC 9449 §4.3), an
// iat within [Config.Window] of now either way, ath (the base64url SHA-256
// of the access token) when one goes with the request, and a valid server
// nonce when nonces are on. JSON is read strictly: one object, valid UTF-8,
// no member twice.
//
// # Replay
//
// A proof is accepted once. The Verifier remembers the jti of every proof
// it accepted, keyed by the proof's key (so that nobody can spend another
// client's jti), until the proof's iat plus the window has passed, after
// which the proof is refused as stale anyway. By default the memory is the
// process's own, bounded by [Config.ReplayCacheSize] entries: a Verifier
// that is full of live entries refuses new proofs with [ErrBusy] rather
// than forget one (it fails closed). Several processes behind one name
// should share a [ReplayStore] ([Config.Replay]; keyturn's SQL store on
// PostgreSQL is one), or a proof could be replayed once at each.
//
// # Nonces
//
// With [Config.Nonce] the Verifier requires a server nonce (RFC 9449 §8)
// in every proof. Nonces are stateless: an HMAC of the current time slot
// (of [NonceInterval]) under a secret, valid in that slot and the next, so
// for between one and two intervals; processes that share
// [Config.NonceSecret] accept each other's nonces. [Verifier.Nonce] is the
// nonce to send in the DPoP-Nonce header; a proof without it, or with
// another, gives [ErrUseNonce].
//
// # Security
//
// Errors never hold the proof or any value from it, only the name of the
// check that failed. The URL a proof must name comes from the caller, who
// should build it from configuration (its public URL), never from Host or
// X-Forwarded-* headers a client can set.
package dpop
