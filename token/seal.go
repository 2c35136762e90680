package token

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
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
