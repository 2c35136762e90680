package dpop

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Prover makes DPoP proofs with one private key, for a client of
// DPoP-protected services. It remembers the last server nonce it was given
// and puts it in the proofs it makes. It is safe for concurrent use.
type Prover struct {
	key    crypto.Signer
	alg    string
	header string // base64url of the protected header, and '.'
	jkt    string
	nonce  atomic.Pointer[string]

	// Now is the clock of iat. Nil means time.Now.
	Now func() time.Time
}

// NewProver returns a Prover signing with key: an *ecdsa.PrivateKey on
// P-256 (ES256), an ed25519.PrivateKey (EdDSA) or an *rsa.PrivateKey of
// 2048 to 4096 bits (PS256), or any crypto.Signer whose public key is one
// of those (a key in a hardware module, say).
func NewProver(key crypto.Signer) (*Prover, error) {
	if key == nil {
		return nil, errors.New("keyturn/dpop: NewProver: nil key")
	}
	enc := base64.RawURLEncoding
	var alg, jwk, canonical string
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("keyturn/dpop: NewProver: ECDSA keys must be on P-256")
		}
		b, err := pub.Bytes()
		if err != nil {
			return nil, fmt.Errorf("keyturn/dpop: NewProver: %w", err)
		}
		x, y := enc.EncodeToString(b[1:33]), enc.EncodeToString(b[33:])
		alg = ES256
		canonical = `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
		jwk = canonical
	case ed25519.PublicKey:
		alg = EdDSA
		canonical = `{"crv":"Ed25519","kty":"OKP","x":"` + enc.EncodeToString(pub) + `"}`
		jwk = canonical
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("keyturn/dpop: NewProver: RSA keys must have %d to %d bits", minRSABits, maxRSABits)
		}
		alg = PS256
		e := enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
		canonical = `{"e":"` + e + `","kty":"RSA","n":"` + enc.EncodeToString(pub.N.Bytes()) + `"}`
		jwk = canonical
	default:
		return nil, errors.New("keyturn/dpop: NewProver: the key must be ECDSA P-256, Ed25519 or RSA")
	}
	header := `{"typ":"dpop+jwt","alg":"` + alg + `","jwk":` + jwk + `}`
	return &Prover{key: key, alg: alg, header: enc.EncodeToString([]byte(header)) + ".", jkt: thumbprint(canonical)}, nil
}

// Thumbprint returns the RFC 7638 thumbprint of the Prover's key: the
// cnf.jkt of the tokens bound to it.
func (p *Prover) Thumbprint() string { return p.jkt }

// Algorithm returns the algorithm of the Prover's proofs.
func (p *Prover) Algorithm() string { return p.alg }

// SetNonce sets the server nonce to put in proofs from now on (from a
// DPoP-Nonce response header); "" puts none.
func (p *Prover) SetNonce(nonce string) { p.nonce.Store(&nonce) }

// Proof returns a new proof for a request with the given method and URL
// (its query and fragment are left out of htu), bound to accessToken
// through ath when it is not empty (a request to a protected resource),
// carrying the last nonce set.
func (p *Prover) Proof(method, url, accessToken string) (string, error) {
	if i := strings.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	var jti [16]byte
	rand.Read(jti[:])
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	c := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
		"htm": method,
		"htu": url,
		"iat": now().Unix(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if n := p.nonce.Load(); n != nil && *n != "" {
		c["nonce"] = *n
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("keyturn/dpop: %w", err)
	}
	input := p.header + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := p.sign([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func (p *Prover) sign(input []byte) ([]byte, error) {
	if p.alg == EdDSA {
		sig, err := p.key.Sign(rand.Reader, input, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("keyturn/dpop: signing: %w", err)
		}
		return sig, nil
	}
	h := sha256.Sum256(input)
	var opts crypto.SignerOpts = crypto.SHA256
	if p.alg == PS256 {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	sig, err := p.key.Sign(rand.Reader, h[:], opts)
	if err != nil {
		return nil, fmt.Errorf("keyturn/dpop: signing: %w", err)
	}
	if p.alg != ES256 {
		return sig, nil
	}
	// ECDSA signers answer in ASN.1; JWS wants R||S, 32 bytes each.
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
		return nil, errors.New("keyturn/dpop: signing: the ECDSA signature is not ASN.1")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// Transport returns an http.RoundTripper that sends every request through
// base (http.DefaultTransport when nil) with a DPoP header holding a new
// proof for it: bound to the access token when the request has
// "Authorization: DPoP <token>". It keeps the nonce of every DPoP-Nonce
// response header, and when a server answers use_dpop_nonce (400 from a
// token endpoint, 401 from a resource) it sends the request once more with
// the new nonce, if its body can be replayed (http.NewRequest arranges that
// for the usual bodies).
func (p *Prover) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{p: p, base: base}
}

type transport struct {
	p    *Prover
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.send(req)
	if err != nil || !t.retry(resp) || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	r2 := req.Clone(req.Context())
	if req.GetBody != nil {
		if r2.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.send(r2)
}

// send sends req, a clone of it with a new proof, and keeps the nonce of
// the response.
func (t *transport) send(req *http.Request) (*http.Response, error) {
	var tok string
	if scheme, rest, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "DPoP") {
		tok = strings.TrimSpace(rest)
	}
	u := *req.URL
	u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
	proof, err := t.p.Proof(req.Method, u.String(), tok)
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = req.Body
	r.Header.Set("DPoP", proof)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		t.p.SetNonce(n)
	}
	return resp, nil
}

// retry reports whether resp asks for a new nonce (RFC 9449 §8, §9). A
// 400's body is read to find out and then put back.
func (t *transport) retry(resp *http.Response) bool {
	if resp.Header.Get("DPoP-Nonce") == "" {
		return false
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		for _, c := range resp.Header.Values("WWW-Authenticate") {
			if strings.Contains(c, `error="use_dpop_nonce"`) {
				return true
			}
		}
	case http.StatusBadRequest:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(body, &e) == nil && e.Error == "use_dpop_nonce"
	}
	return false
}
