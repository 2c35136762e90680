package main

import (
	"crypto/hmac"
	"crypto/sha256"

	"github.com/keyturn/keyturn"
)

// dpopConfig is the server's DPoP (RFC 9449) configuration: on, with every
// algorithm keyturn knows and a 60 s window. With -dpop-nonce, proofs must
// carry a server nonce. On PostgreSQL, where several servers may share the
// database, the used proofs are remembered in it, so that a proof is
// accepted once between them, and the nonces are keyed by a secret drawn
// from the pepper, which those servers share, so that each accepts the
// others' nonces. Elsewhere (one process) both stay in memory.
func dpopConfig(c config, st *openedStore) keyturn.DPoPConfig {
	d := keyturn.DPoPConfig{Nonce: c.dpopNonce}
	if st.changes != nil { // PostgreSQL
		d.Replay = st.store
		if c.dpopNonce && len(c.pepper) > 0 {
			mac := hmac.New(sha256.New, c.pepper)
			mac.Write([]byte("tokenserver dpop nonce secret v1"))
			d.NonceSecret = mac.Sum(nil)
		}
	}
	return d
}
