package keyturn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// jwtAssertion signs a client assertion for id with github.com/golang-jwt/
// jwt/v5, an independent JWT implementation.
func jwtAssertion(t testing.TB, method jwt.SigningMethod, key any, kid, id string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer: id, Subject: id, Audience: jwt.ClaimStrings{testIssuer},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: rand.Text(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TOK-63 interop: assertions made by golang-jwt/jwt/v5 authenticate, with
// each algorithm keyturn allows.
func TestTOK63_InteropGolangJWT(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	for _, tc := range []struct {
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{jwt.SigningMethodEdDSA, kjEd, "ed"},
		{jwt.SigningMethodES256, kjEC, "ec"},
		{jwt.SigningMethodRS256, kjRSA, "rsa"},
		{jwt.SigningMethodPS256, kjRSA, "rsa"},
	} {
		t.Run(tc.method.Alg(), func(t *testing.T) {
			a := jwtAssertion(t, tc.method, tc.key, tc.kid, id)
			if status, body, _ := s.postForm(t, "/oauth/token", assertionForm(a).Encode()); status != 200 {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
	// golang-jwt's HS256 keyed with the public key is refused (TOK-70).
	a := jwtAssertion(t, jwt.SigningMethodHS256, []byte(kjEd.Public().(ed25519.PublicKey)), "ed", id)
	status, body, hdr := s.postForm(t, "/oauth/token", assertionForm(a).Encode())
	wantRefused(t, status, body, hdr, 401, "invalid_client")
}

// TOK-63 interop: golang.org/x/oauth2/clientcredentials, with
// AuthStyleInParams and the assertion as EndpointParams, gets a token
// over TLS.
func TestTOK63_InteropClientCredentials(t *testing.T) {
	s := newServer(t)
	id := s.pkClient(t, clientJWKS())
	srv := httptest.NewTLSServer(s.mux)
	defer srv.Close()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	cfg := clientcredentials.Config{
		ClientID:  id,
		TokenURL:  srv.URL + DefaultTokenPath,
		Scopes:    []string{"read:users"},
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {ClientAssertionType},
			"client_assertion":      {jwtAssertion(t, jwt.SigningMethodES256, kjEC, "ec", id)},
		},
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil || c.ClientID != id || c.Scope.String() != "read:users" || tok.TokenType != "Bearer" {
		t.Fatalf("token %+v, claims %+v, %v", tok, c, err)
	}
	// The same parameters again are a replay.
	if _, err := cfg.Token(ctx); err == nil {
		t.Fatal("a replayed assertion got a token")
	}
}
