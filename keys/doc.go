// Package keys makes, parses and checks API keys, and manages their
// lifecycle: creation under the creator's scope ceiling, expiry,
// authentication, rotation of the secret with a grace period, the time of
// last use, and revocation. It also hashes passwords for hosts that let
// users log in with one.
//
// Start with [Manager]: [NewManager] over a [storage.KeyStore], then
// [Manager.Create] to issue a key and [Manager.Authenticate] to check one
// that a client presents, after [Parse] (a whole key) or [FromPair] (a
// client_id / client_secret pair) has turned the presented string into a
// [Key]. The Manager reports keys as [Record] values: the stored record,
// with its scope parsed into a canonical [scope.Set] and without the secret's
// hash. The format functions ([Generate], [Parse], [FromPair], [Key]) and
// [Hasher] are pure: no I/O, no clock.
//
// # Format
//
// A key is
//
//	<prefix>_<id>_<secret>
//
// for example
//
//	ds_live_W7p6DXeF6zzybyBN_QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ
//
// (the key the Generate example makes; never use a key printed in
// documentation). The prefix is chosen by the host: 1 to 32 characters of
// [a-z0-9_] starting with a letter and not ending with '_'; it may itself
// hold '_' (ds_live), since [Parse] strips the exact expected prefix before
// splitting the rest at its single '_'. The id is 16 base62 characters
// ([0-9A-Za-z], about 95 random bits); it is public and is the client_id.
// The secret is 43 base62 characters (256 random bits)
// followed by a 6-character base62 CRC-32 of "<prefix>_<id>_<secret body>".
// The secret is the client_secret. Ids and secrets never hold '_', '-', '%',
// '+' or ':', so they need no escaping in URLs, form bodies or HTTP Basic
// credentials. Secret scanners can match keys with
//
//	<prefix>_[0-9A-Za-z]{16}_[0-9A-Za-z]{49}
//
// and confirm a hit with the checksum.
//
// # Security
//
// The checksum is not a secret and not a MAC: it lets [Parse] refuse a
// mistyped, truncated or invented key (every single-character change and
// every swap of neighbouring characters) before storage is consulted.
//
// Storage keeps a key's id and a fast keyed hash of its secret ([Hasher]:
// HMAC-SHA-256 with a host-held pepper, which is recommended), never the
// secret. A slow password hash would add nothing for a 256-bit random
// secret. Hashes are compared in constant time, and an unknown key id costs
// the same hashing work as a wrong secret. The hash never leaves the
// [Manager]: a [Record] has no field to carry it. A stored scope that does not
// parse is reported as an error wrapping [scope.ErrMalformed], never read as
// a smaller scope.
//
// A [Key] prints redacted through fmt, slog, encoding/json and
// encoding/xml; only [Key.String] and [Key.ClientSecret] reveal the secret.
// Errors never contain a presented key or secret.
//
// [Manager.Rotate] gives a key a new secret and keeps the old one working
// for a grace period: a key then has two hashes stored, and
// [Manager.Authenticate] compares the presented secret with both, every
// time, from one hashing of it, so that the work does not show which one
// (or neither) matched. A key never has more than two secrets, and the
// store swaps them atomically ([storage.KeyStore.RotateKey]), so that of two
// rotations at once one fails rather than one secret being silently lost.
//
// A key's scope can never exceed its creator's: [Manager.Create] takes the
// creator's ceiling as a [scope.Set] and refuses anything it does not cover
// with [ErrScopeExceedsCeiling].
//
// Passwords (for a username/password flow) are hashed with argon2id at the
// parameters RFC 9106 recommends for memory-constrained settings
// ([HashPassword], [CheckPassword]); [DummyCheckPassword] does the same work
// for an unknown user.
package keys
