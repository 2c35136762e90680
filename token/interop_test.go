package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/keyturn/keyturn/scope"
)

// keysFromJWKS turns a JWKS document into public keys by kid, by hand, with
// no JOSE library, as an independent relying party would.
func keysFromJWKS(t testing.TB, doc []byte) map[string]crypto.PublicKey {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out := make(map[string]crypto.PublicKey)
	for _, k := range set.Keys {
		switch k["kty"] {
		case "OKP":
			out[k["kid"]] = ed25519.PublicKey(b64(k["x"]))
		case "EC":
			pt := append(append([]byte{4}, b64(k["x"])...), b64(k["y"])...)
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
			if err != nil {
				t.Fatal(err)
			}
			out[k["kid"]] = pub
		case "RSA":
			out[k["kid"]] = &rsa.PublicKey{N: new(big.Int).SetBytes(b64(k["n"])), E: int(new(big.Int).SetBytes(b64(k["e"])).Int64())}
		default:
			t.Fatalf("unexpected kty %q", k["kty"])
		}
	}
	return out
}

// TestInteropGolangJWT verifies keyturn tokens with golang-jwt/jwt v5, given
// only the JWKS JSON.
func TestInteropGolangJWT(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			tok, minted := e.mint(t, Grant{Subject: "sub-é", ClientID: "client-1", Scope: scope.MustParse("read:users")})
			keys := keysFromJWKS(t, e.keys.JWKS())
			parsed, err := gjwt.Parse(tok, func(tk *gjwt.Token) (any, error) {
				kid, _ := tk.Header["kid"].(string)
				return keys[kid], nil
			},
				gjwt.WithValidMethods([]string{string(alg)}),
				gjwt.WithIssuer(testIssuer),
				gjwt.WithAudience(testAudience),
				gjwt.WithExpirationRequired(),
				gjwt.WithIssuedAt(),
				gjwt.WithTimeFunc(func() time.Time { return t0.Add(time.Minute) }),
			)
			if err != nil {
				t.Fatalf("golang-jwt refused a keyturn token: %v", err)
			}
			if typ := parsed.Header["typ"]; typ != "at+jwt" {
				t.Errorf("typ = %v", typ)
			}
			mc := parsed.Claims.(gjwt.MapClaims)
			for k, want := range map[string]any{"sub": "sub-é", "client_id": "client-1", "scope": "read:users", "jti": minted.ID} {
				if mc[k] != want {
					t.Errorf("%s = %v, want %v", k, mc[k], want)
				}
			}
			// And golang-jwt refuses it once expired: the keys did the work.
			_, err = gjwt.Parse(tok, func(*gjwt.Token) (any, error) { return keys[e.kid], nil },
				gjwt.WithValidMethods([]string{string(alg)}),
				gjwt.WithTimeFunc(func() time.Time { return t0.Add(time.Hour) }))
			if err == nil {
				t.Error("golang-jwt accepted an expired token")
			}
		})
	}
}

// TestInteropGoJose verifies keyturn tokens with go-jose's own JWT package
// and its JWK Set parser.
func TestInteropGoJose(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			tok, minted := e.mint(t, testGrant)
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(e.keys.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			var std josejwt.Claims
			var priv struct {
				ClientID string `json:"client_id"`
				Scope    string `json:"scope"`
			}
			if err := parsed.Claims(set, &std, &priv); err != nil {
				t.Fatalf("go-jose refused a keyturn token: %v", err)
			}
			err = std.ValidateWithLeeway(josejwt.Expected{Issuer: testIssuer, AnyAudience: []string{testAudience}, Time: t0}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if std.ID != minted.ID || priv.ClientID != testGrant.ClientID || priv.Scope != testGrant.Scope.String() {
				t.Errorf("go-jose read %+v %+v", std, priv)
			}
		})
	}
}

// TestInteropGoJoseSigned checks the reverse direction: tokens that
// go-jose signs with keyturn's key and header verify with keyturn.
func TestInteropGoJoseSigned(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			tok := craft(t, e.key, jose.SignatureAlgorithm(alg), e.stdHeader(), mustJSON(t, validClaims()))
			if _, err := e.verify.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}
