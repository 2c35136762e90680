package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// NonceInterval is the time slot of a server nonce: a nonce is valid in the
// slot it was made in and the next, so for one to two intervals.
const NonceInterval = 5 * time.Minute

// minNonceSecret is the shortest Config.NonceSecret accepted, in bytes.
const minNonceSecret = 32

// nonces makes and checks stateless server nonces: the base64url of the
// first 16 bytes of HMAC-SHA-256(secret, slot number).
type nonces struct {
	secret []byte
}

func newNonces(secret []byte) (*nonces, error) {
	if secret == nil {
		secret = make([]byte, minNonceSecret)
		rand.Read(secret)
	} else if len(secret) < minNonceSecret {
		return nil, errors.New("keyturn/dpop: Config.NonceSecret must be at least 32 bytes")
	}
	return &nonces{secret: append([]byte(nil), secret...)}, nil
}

func slot(t time.Time) int64 { return t.Unix() / int64(NonceInterval/time.Second) }

func (n *nonces) at(slot int64) string {
	mac := hmac.New(sha256.New, n.secret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(slot))
	mac.Write([]byte("keyturn dpop nonce v1"))
	mac.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// current is the nonce to hand out at now.
func (n *nonces) current(now time.Time) string { return n.at(slot(now)) }

// valid reports whether nonce was handed out in now's slot or the one
// before.
func (n *nonces) valid(nonce string, now time.Time) bool {
	if len(nonce) != 22 {
		return false
	}
	s := slot(now)
	ok := hmac.Equal([]byte(nonce), []byte(n.at(s)))
	return hmac.Equal([]byte(nonce), []byte(n.at(s-1))) || ok
}
