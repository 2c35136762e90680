package keyturn

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestInteropClientCredentials has golang.org/x/oauth2/clientcredentials,
// a widely used client, obtain and refresh tokens from a TLS server built
// on the handler, in both of its authentication styles, with the fixture
// client whose id and secret need RFC 6749 Appendix B form-encoding, and
// with a real API key.
func TestInteropClientCredentials(t *testing.T) {
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"AuthStyleInHeader", oauth2.AuthStyleInHeader},
		{"AuthStyleInParams", oauth2.AuthStyleInParams},
	} {
		t.Run(style.name, func(t *testing.T) {
			e := newEndpointEnv(t)
			// A lifetime of 10 s is inside x/oauth2's 10 s expiry margin,
			// so every Token call fetches a fresh token: a refresh.
			e.clients.set("short", fakeClient{secret: cbSecret, scope: "read write", lifetime: 10 * time.Second})
			srv := httptest.NewTLSServer(e.mux)
			defer srv.Close()
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())

			cfg := clientcredentials.Config{
				ClientID: cbID, ClientSecret: cbSecret, TokenURL: srv.URL + "/token",
				Scopes: []string{"read"}, AuthStyle: style.style,
			}
			src := cfg.TokenSource(ctx)
			first, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			again, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			if first.AccessToken != again.AccessToken || e.events.count(TokenIssued) != 1 {
				t.Errorf("a valid token was not reused: %d issued", e.events.count(TokenIssued))
			}
			if first.TokenType != "Bearer" || first.Extra("scope") != "read" || first.RefreshToken != "" {
				t.Errorf("token %+v, scope %v", first, first.Extra("scope"))
			}
			c, err := e.verify.Verify(ctx, first.AccessToken)
			if err != nil || c.ClientID != cbID {
				t.Fatalf("Verify: %v, %+v", err, c)
			}

			cfg.ClientID = "short"
			src = cfg.TokenSource(ctx)
			a, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			b, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			if a.AccessToken == b.AccessToken || e.events.count(TokenIssued) != 3 {
				t.Errorf("an expiring token was not refreshed: %d issued", e.events.count(TokenIssued))
			}
			for _, tok := range []*oauth2.Token{a, b} {
				if c, err := e.verify.Verify(ctx, tok.AccessToken); err != nil || c.ClientID != "short" {
					t.Errorf("refreshed token: %v, %+v", err, c)
				}
			}

			// A wrong secret surfaces as x/oauth2's RetrieveError with the
			// RFC 6749 error code.
			cfg.ClientSecret = "wrong"
			_, err = cfg.Token(ctx)
			re, ok := err.(*oauth2.RetrieveError)
			if !ok || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
				t.Errorf("wrong secret: %v", err)
			}
		})
	}

	t.Run("API key", func(t *testing.T) {
		k := newKeysEnv(t)
		key := k.create(t, "read:users read:participants", 0)
		srv := httptest.NewTLSServer(k.mux)
		defer srv.Close()
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cfg := clientcredentials.Config{ClientID: key.ID(), ClientSecret: key.ClientSecret(),
				TokenURL: srv.URL + "/oauth/token", AuthStyle: style}
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Extra("scope") != "read:participants read:users" {
				t.Errorf("scope %v", tok.Extra("scope"))
			}
		}
	})
}
