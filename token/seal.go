package token

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"github.com/keyturn/keyturn/storage"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// sealMagic starts every sealed private key. A PKCS #8 DER encoding starts
// with 0x30 (SEQUENCE), so the two forms cannot be confused.
const sealMagic = "kts1"

const gcmNonceSize = 12

// seal encrypts a PKCS #8 private key with AES-256-GCM under kek, binding it
// to the key's kid as additional data. The result is
//
//	"kts1" || nonce (12 bytes, from rand) || ciphertext || tag (16 bytes)
func seal(kek []byte, kid string, pkcs8 []byte, rand io.Reader) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(sealMagic)+gcmNonceSize, len(sealMagic)+gcmNonceSize+len(pkcs8)+aead.Overhead())
	copy(out, sealMagic)
	nonce := out[len(sealMagic):]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("keyturn/token: sealing signing key: reading nonce: %w", err)
	}
	return aead.Seal(out, nonce, pkcs8, []byte(kid)), nil
}

// unseal reverses seal. Every failure wraps ErrUnseal.
func unseal(kek []byte, kid string, sealed []byte) ([]byte, error) {
	if !isSealed(sealed) {
		return nil, fmt.Errorf("%w %s: record is not sealed", ErrUnseal, safeName(kid))
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	rest := sealed[len(sealMagic):]
	if len(rest) < gcmNonceSize+aead.Overhead() {
		return nil, fmt.Errorf("%w %s: sealed record is truncated", ErrUnseal, safeName(kid))
	}
	pkcs8, err := aead.Open(nil, rest[:gcmNonceSize], rest[gcmNonceSize:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w %s: wrong key-encryption key, or the record was altered", ErrUnseal, safeName(kid))
	}
	return pkcs8, nil
}

func isSealed(b []byte) bool {
	return len(b) >= len(sealMagic) && string(b[:len(sealMagic)]) == sealMagic
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, errors.New("keyturn/token: key-encryption key must be 32 bytes")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keyturn/token: key-encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}

// SealStore is the store [SealKeys] reads and rewrites signing keys in.
type SealStore interface {
	storage.SigningKeyStore
	storage.SigningKeyUpdater
}

// SealKeys seals under kek every signing key in store that is stored
// unsealed, or sealed under one of previous (key-encryption keys being
// replaced), and returns how many keys it sealed. Keys already sealed under
// kek are left as they are, so a second run seals nothing.
//
// It checks every key before it writes any: a key that is sealed under none
// of kek and previous, or whose private half is not PKCS #8, fails the call
// (an error wrapping [ErrUnseal] in the first case) and nothing is changed.
// Each key is then replaced only if it still holds what was checked
// ([storage.SigningKeyUpdater]); one that changed in between fails the call,
// and running SealKeys again finishes the work.
//
// A [KeySet] configured without kek refuses the sealed keys at its next
// load, so stop every process that uses the store, seal, and start them again
// with kek.
func SealKeys(ctx context.Context, store SealStore, kek []byte, previous ...[]byte) (sealed int, err error) {
	if len(kek) != KEKSize {
		return 0, errors.New("keyturn/token: SealKeys: the key-encryption key must be 32 bytes")
	}
	for _, p := range previous {
		if len(p) != KEKSize {
			return 0, errors.New("keyturn/token: SealKeys: every previous key-encryption key must be 32 bytes")
		}
	}
	recs, err := store.SigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("keyturn/token: SealKeys: loading signing keys: %w", err)
	}
	type change struct {
		id        string
		old, next []byte
	}
	var changes []change
	for _, r := range recs {
		kid := safeName(r.ID)
		der := r.Private
		if isSealed(r.Private) {
			if _, err := unseal(kek, r.ID, r.Private); err == nil {
				continue // sealed under kek already
			}
			der = nil
			for _, p := range previous {
				if d, err := unseal(p, r.ID, r.Private); err == nil {
					der = d
					break
				}
			}
			if der == nil {
				return 0, fmt.Errorf("%w %s: sealed under a key-encryption key that is neither the new one nor a previous one", ErrUnseal, kid)
			}
			defer clear(der)
		}
		if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
			return 0, fmt.Errorf("keyturn/token: SealKeys: signing key %s: bad private key", kid)
		}
		next, err := seal(kek, r.ID, der, rand.Reader)
		if err != nil {
			return 0, err
		}
		changes = append(changes, change{r.ID, r.Private, next})
	}
	for _, c := range changes {
		ok, err := store.ReplaceSigningKeyPrivate(ctx, c.id, c.old, c.next)
		if err != nil {
			return sealed, fmt.Errorf("keyturn/token: SealKeys: storing signing key %s: %w", safeName(c.id), err)
		}
		if !ok {
			return sealed, fmt.Errorf("keyturn/token: SealKeys: signing key %s changed while it was being sealed; run SealKeys again", safeName(c.id))
		}
		sealed++
	}
	return sealed, nil
}
