package main

import "github.com/keyturn/keyturn"

// dpopConfig is the server's DPoP (RFC 9449) configuration: on, with every
// algorithm keyturn knows and a 60 s window. With -dpop-nonce, proofs must
// carry a server nonce. On PostgreSQL, where several servers may share the
// database, the server sets keyturn.Config.Changes, and keyturn then keeps
// the used proofs in the database, so that a proof is accepted once between
// the servers, and keys the nonces by a secret derived from the pepper,
// which those servers share, so that each accepts the others' nonces.
// Elsewhere (one process) both stay in memory.
func dpopConfig(c config) keyturn.DPoPConfig {
	return keyturn.DPoPConfig{Nonce: c.dpopNonce}
}
