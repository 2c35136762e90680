package keyturn

// Tests of the token endpoint, one per item of CONFORMANCE.md §1 (TOK-01 …
// TOK-49), named by the item's ID. Items that do not apply, and items where
// the standard leaves a choice, say which way keyturn went beside the test;
// the package documentation ("Conformance choices") says it too.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

// TOK-01: plain HTTP is refused before credentials are looked at, unless
// the host opts in with AllowPlainHTTP (behind a TLS-terminating proxy, or
// in development). Choice: 400 invalid_request, never a redirect.
func TestTOK01_TLSRequired(t *testing.T) {
	e := newEndpointEnv(t)
	r := httptest.NewRequest(http.MethodPost, "http://as.test/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", formType)
	r.Header.Set("Authorization", basicAuth(cbID, cbSecret))
	res := e.do(r)
	wantError(t, res, http.StatusBadRequest, "invalid_request")
	if n := e.clients.count(); n != 0 {
		t.Errorf("credentials checked %d times over plain HTTP", n)
	}

	t.Run("opt-in", func(t *testing.T) {
		e := newEndpointEnv(t, func(c *EndpointConfig) { c.AllowPlainHTTP = true })
		r := httptest.NewRequest(http.MethodPost, "http://as.test/token", strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", formType)
		r.Header.Set("Authorization", basicAuth(cbID, cbSecret))
		wantToken(t, e, e.do(r))
	})

	t.Run("http issuer needs the opt-in", func(t *testing.T) {
		base := newEnv(t, token.EdDSA)
		iss, err := token.NewIssuer(token.IssuerConfig{Issuer: "http://as.test", Audience: []string{testAudience}, Keys: base.keys})
		if err != nil {
			t.Fatal(err)
		}
		ver, err := token.NewVerifier(token.VerifierConfig{Issuer: "http://as.test", Audience: testAudience, Keys: base.keys, Algorithms: []token.Algorithm{token.EdDSA}})
		if err != nil {
			t.Fatal(err)
		}
		cfg := EndpointConfig{Issuer: iss, Verifier: ver, Clients: newFakeClients()}
		if _, err := NewEndpoint(cfg); err == nil {
			t.Error("NewEndpoint accepted an http issuer without AllowPlainHTTP")
		}
		cfg.AllowPlainHTTP = true
		if _, err := NewEndpoint(cfg); err != nil {
			t.Errorf("NewEndpoint with AllowPlainHTTP: %v", err)
		}
	})
}

// TOK-02: only POST. Choice: 405 with Allow: POST for every other method,
// OPTIONS and HEAD included (no CORS at the token endpoint).
func TestTOK02_PostOnly(t *testing.T) {
	e := newEndpointEnv(t)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, http.MethodHead} {
		t.Run(m, func(t *testing.T) {
			r := httptest.NewRequest(m, "https://as.test/token?grant_type=client_credentials", nil)
			r.Header.Set("Authorization", basicAuth(cbID, cbSecret))
			res := e.do(r)
			if m == http.MethodHead {
				// A HEAD response has no body to check.
				if res.Code != http.StatusMethodNotAllowed || res.issued != 0 {
					t.Fatalf("HEAD: status %d, issued %d", res.Code, res.issued)
				}
			} else {
				wantError(t, res, http.StatusMethodNotAllowed, "invalid_request")
			}
			if got := res.Header.Get("Allow"); got != "POST" {
				t.Errorf("Allow = %q, want POST", got)
			}
		})
	}
	if n := e.clients.count(); n != 0 {
		t.Errorf("credentials checked %d times", n)
	}
}

// TOK-03: the RFC 6749 flow takes a form body. JSON bodies exist only for
// the seed APIs' own credential styles (JSON client_id/client_secret or
// key, or a Bearer key); beside HTTP Basic a JSON body is refused even when
// JSON is enabled, so the check the standard makes is never weakened.
// Choice: 400 invalid_request, never 415.
func TestTOK03_FormBodyRequired(t *testing.T) {
	for _, methods := range []AuthMethod{StandardAuthMethods, AllAuthMethods} {
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Methods = methods
			c.SplitKey = refuseKeys
		})
		t.Run(methods.String(), func(t *testing.T) {
			for name, r := range map[string]*http.Request{
				"json":            post("/token", "application/json", `{"grant_type":"client_credentials"}`, cbAuth...),
				"no content type": post("/token", "", "grant_type=client_credentials", cbAuth...),
				"text/plain":      post("/token", "text/plain", "grant_type=client_credentials", cbAuth...),
			} {
				t.Run(name, func(t *testing.T) {
					wantError(t, e.do(r), http.StatusBadRequest, "invalid_request")
				})
			}
		})
	}
}

// TOK-04: media types match case-insensitively and with parameters.
func TestTOK04_MediaTypeMatching(t *testing.T) {
	e := newEndpointEnv(t)
	for _, ct := range []string{
		"application/x-www-form-urlencoded; charset=UTF-8",
		"Application/X-WWW-Form-URLEncoded",
		"application/x-www-form-urlencoded;charset=utf-8",
	} {
		t.Run(ct, func(t *testing.T) {
			wantToken(t, e, e.do(post("/token", ct, "grant_type=client_credentials", cbAuth...)))
		})
	}
}

// TOK-05: malformed form encoding is invalid_request.
func TestTOK05_MalformedForm(t *testing.T) {
	e := newEndpointEnv(t)
	for name, body := range map[string]string{
		"bad escape":   "grant_type=client_credentials&scope=%zz",
		"invalid utf8": "grant_type=client_credentials&scope=%C3%28",
		"truncated":    "grant_type=client_credentials&scope=%C",
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(formPost("/token", body, cbAuth...)), http.StatusBadRequest, "invalid_request")
		})
	}
}

// TOK-06: grant parameters in the URL are refused (choice: even with a
// body that would be valid on its own).
func TestTOK06_GrantTypeInQuery(t *testing.T) {
	e := newEndpointEnv(t)
	for name, r := range map[string]*http.Request{
		"empty body":    formPost("/token?grant_type=client_credentials", "", cbAuth...),
		"and in body":   formPost("/token?grant_type=client_credentials", "grant_type=client_credentials", cbAuth...),
		"scope in URL":  formPost("/token?scope=read", "grant_type=client_credentials", cbAuth...),
		"escaped names": formPost("/token?grant%5Ftype=client_credentials", "grant_type=client_credentials", cbAuth...),
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(r), http.StatusBadRequest, "invalid_request")
		})
	}
	t.Run("other query parameters are allowed", func(t *testing.T) {
		wantToken(t, e, e.do(formPost("/token?tenant=1", "grant_type=client_credentials", cbAuth...)))
	})
}

// TOK-07: client credentials are never taken from the URL.
func TestTOK07_CredentialsInQuery(t *testing.T) {
	e := newEndpointEnv(t)
	q := "?client_id=" + url.QueryEscape(cbID) + "&client_secret=" + url.QueryEscape(cbSecret)
	wantError(t, e.do(formPost("/token"+q, "grant_type=client_credentials")), http.StatusBadRequest, "invalid_request")
	if n := e.clients.count(); n != 0 {
		t.Errorf("credentials from the URL were checked %d times", n)
	}
}

// TOK-08: oversized input is refused early, never with a 5xx: 413 for the
// body, 431 for the Authorization header, 400 for too many parameters.
func TestTOK08_OversizedInput(t *testing.T) {
	e := newEndpointEnv(t)
	big := "grant_type=client_credentials&x=" + strings.Repeat("a", 1<<20)
	many := "grant_type=client_credentials" + strings.Repeat("&a=1", 10000)
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"1 MiB body", formPost("/token", big, cbAuth...), http.StatusRequestEntityTooLarge},
		{"10000 parameters", formPost("/token", many, cbAuth...), http.StatusBadRequest},
		{"64 KiB Authorization", formPost("/token", "grant_type=client_credentials",
			"Authorization", "Basic "+strings.Repeat("A", 64<<10)), http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(tc.r), tc.status, "invalid_request")
		})
	}
	t.Run("healthy afterwards", func(t *testing.T) {
		wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	})
}

// TOK-09: grant_type is required in the RFC 6749 flow (only a whole API
// key, seed 000, may leave it out).
func TestTOK09_GrantTypeRequired(t *testing.T) {
	e := newEndpointEnv(t)
	wantError(t, e.do(formPost("/token", "scope=read", cbAuth...)), http.StatusBadRequest, "invalid_request")
	wantError(t, e.do(formPost("/token", "", cbAuth...)), http.StatusBadRequest, "invalid_request")
}

// TOK-10: unknown grant types, compared case-sensitively, are
// unsupported_grant_type; so is password unless the host enables the
// password grant (seed 001), as RFC 9700 §2.4 advises. Where it is
// enabled, password beside client credentials does not fit them:
// invalid_request (DESIGN.md, "Fine print").
func TestTOK10_UnsupportedGrantType(t *testing.T) {
	e := newEndpointEnv(t)
	for _, g := range []string{"foo", "CLIENT_CREDENTIALS", "password", "authorization_code", "refresh_token",
		"urn:ietf:params:oauth:grant-type:jwt-bearer"} {
		t.Run(g, func(t *testing.T) {
			res := e.do(formPost("/token", "grant_type="+url.QueryEscape(g)+"&username=alice&password=alice-pw", cbAuth...))
			wantError(t, res, http.StatusBadRequest, "unsupported_grant_type")
		})
	}
	t.Run("password beside client credentials", func(t *testing.T) {
		e := newEndpointEnv(t, withUsers(t))
		res := e.do(formPost("/token", "grant_type=password&username=alice&password=alice-pw", cbAuth...))
		wantError(t, res, http.StatusBadRequest, "invalid_request")
	})
}

// TOK-11 does not apply: keyturn does not model per-client grant types.
// Every client may use client_credentials; the password grant belongs to
// users, never to clients (TOK-10 covers a client trying it).

// TOK-12: no parameter may repeat, even with the same value.
func TestTOK12_RepeatedParameters(t *testing.T) {
	e := newEndpointEnv(t)
	for name, r := range map[string]*http.Request{
		"grant_type twice": formPost("/token", "grant_type=client_credentials&grant_type=client_credentials", cbAuth...),
		"scope twice":      formPost("/token", "grant_type=client_credentials&scope=read&scope=write", cbAuth...),
		"client_id twice":  formPost("/token", "grant_type=client_credentials&client_id=cp&client_id=cp&client_secret=cp-secret"),
		"unknown twice":    formPost("/token", "grant_type=client_credentials&foo=1&foo=1", cbAuth...),
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(r), http.StatusBadRequest, "invalid_request")
		})
	}
}

// TOK-13: resource may repeat. Choice: RFC 8707 resource indicators are not
// supported yet, so any resource is invalid_target (never invalid_request
// for the repetition), and every token is for the configured audience.
func TestTOK13_ResourceMayRepeat(t *testing.T) {
	e := newEndpointEnv(t, func(c *EndpointConfig) { c.Resources = []string{"https://api2.test/"} })
	body := "grant_type=client_credentials&resource=" + url.QueryEscape("https://api.test/") +
		"&resource=" + url.QueryEscape("https://api2.test/")
	got := wantToken(t, e, e.do(formPost("/token", body, cbAuth...)))
	if strings.Join(got.claims.Audience, " ") != "https://api.test/ https://api2.test/" {
		t.Errorf("aud = %v", got.claims.Audience)
	}
	// A resource the server does not know is invalid_target, repeated or
	// not, never invalid_request.
	body += "&resource=" + url.QueryEscape("https://api3.test/")
	wantError(t, e.do(formPost("/token", body, cbAuth...)), http.StatusBadRequest, "invalid_target")
}

// TOK-14: an empty parameter counts as absent; an empty grant_type is no
// grant type.
func TestTOK14_EmptyValueIsAbsent(t *testing.T) {
	e := newEndpointEnv(t)
	with := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&scope=", cbAuth...)))
	without := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	if with.body["scope"] != without.body["scope"] || with.body["scope"] != "read write" {
		t.Errorf("scope= gave %v, no scope %v", with.body["scope"], without.body["scope"])
	}
	wantError(t, e.do(formPost("/token", "grant_type=&scope=read", cbAuth...)), http.StatusBadRequest, "invalid_request")
}

// TOK-15: unknown parameters are ignored.
func TestTOK15_UnknownParametersIgnored(t *testing.T) {
	e := newEndpointEnv(t)
	wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&foo=bar&state=x", cbAuth...)))
}

// TOK-16: parameter names are case-sensitive.
func TestTOK16_NamesAreCaseSensitive(t *testing.T) {
	e := newEndpointEnv(t)
	wantError(t, e.do(formPost("/token", "Grant_Type=client_credentials", cbAuth...)), http.StatusBadRequest, "invalid_request")
}

// TOK-17: the happy path with HTTP Basic.
func TestTOK17_BasicHappyPath(t *testing.T) {
	e := newEndpointEnv(t)
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&scope=read", cbAuth...)))
	if got.body["scope"] != "read" || got.claims.ClientID != cbID || !got.claims.Scope.Equal(scope.MustParse("read")) {
		t.Errorf("scope %v, claims %+v", got.body["scope"], got.claims)
	}
}

// TOK-18: Basic id and secret are form-decoded (RFC 6749 §2.3.1, App. B).
// keyturn's own secrets are base62, so encoded and raw forms coincide.
func TestTOK18_BasicFormDecoding(t *testing.T) {
	e := newEndpointEnv(t)
	encoded := "Basic " + base64.StdEncoding.EncodeToString([]byte("c%3Ab%2F1:p%40ss+w%2Brd%25%2F%3D%3A%C3%A9"))
	if encoded != basicAuth(cbID, cbSecret) {
		t.Fatalf("fixture: %q != %q", encoded, basicAuth(cbID, cbSecret))
	}
	wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", "Authorization", encoded)))

	raw := "Basic " + base64.StdEncoding.EncodeToString([]byte(cbID+":"+cbSecret))
	res := e.do(formPost("/token", "grant_type=client_credentials", "Authorization", raw))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")
}

// TOK-19: the auth-scheme is case-insensitive.
func TestTOK19_SchemeIsCaseInsensitive(t *testing.T) {
	e := newEndpointEnv(t)
	cred := strings.TrimPrefix(basicAuth(cbID, cbSecret), "Basic ")
	for _, scheme := range []string{"basic", "BASIC", "bAsIc"} {
		t.Run(scheme, func(t *testing.T) {
			wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", "Authorization", scheme+" "+cred)))
		})
	}
}

// TOK-20: a failed Basic authentication is 401 invalid_client with a Basic
// challenge.
func TestTOK20_FailedBasicIs401(t *testing.T) {
	e := newEndpointEnv(t)
	res := e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "wrong-secret")))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")
	if got := res.Header.Get("WWW-Authenticate"); got != `Basic realm="keyturn", charset="UTF-8"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
}

// TOK-21: an unknown client is answered exactly like a wrong secret, after
// the same work (one secret comparison each).
func TestTOK21_UnknownClientLikeWrongSecret(t *testing.T) {
	e := newEndpointEnv(t)
	before := e.clients.count()
	wrong := e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "x")))
	mid := e.clients.count()
	unknown := e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("nobody", "x")))
	after := e.clients.count()
	wantError(t, unknown, http.StatusUnauthorized, "invalid_client")
	if wrong.Code != unknown.Code || string(wrong.Body) != string(unknown.Body) {
		t.Errorf("wrong secret: %d %s; unknown client: %d %s", wrong.Code, wrong.Body, unknown.Code, unknown.Body)
	}
	for _, h := range []string{"WWW-Authenticate", "Cache-Control", "Pragma", "Content-Type", "Content-Length"} {
		if wrong.Header.Get(h) != unknown.Header.Get(h) {
			t.Errorf("%s differs: %q vs %q", h, wrong.Header.Get(h), unknown.Header.Get(h))
		}
	}
	if mid-before != 1 || after-mid != 1 {
		t.Errorf("secret checks: wrong secret %d, unknown client %d; want 1 each", mid-before, after-mid)
	}
}

// TOK-22: malformed Basic credentials are a failed authentication, never a
// crash. Choice: 401 invalid_client with a Basic challenge.
func TestTOK22_MalformedBasic(t *testing.T) {
	e := newEndpointEnv(t)
	for name, auth := range map[string]string{
		"not base64":   "Basic !!!",
		"no colon":     "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")),
		"empty":        "Basic",
		"empty value":  "Basic ",
		"empty id":     "Basic " + base64.StdEncoding.EncodeToString([]byte(":secret")),
		"empty secret": "Basic " + base64.StdEncoding.EncodeToString([]byte("id:")),
		"bad escape":   "Basic " + base64.StdEncoding.EncodeToString([]byte("c%zz:secret")),
	} {
		t.Run(name, func(t *testing.T) {
			res := e.do(formPost("/token", "grant_type=client_credentials", "Authorization", auth))
			wantError(t, res, http.StatusUnauthorized, "invalid_client")
			wantChallenge(t, res, "Basic")
		})
	}
}

// TOK-23: client_secret_post is supported (and advertised, MD-07); a wrong
// secret is 401 invalid_client with a Basic challenge. A host that turns it
// off gets invalid_client for it, never a silently ignored secret.
func TestTOK23_ClientSecretPost(t *testing.T) {
	e := newEndpointEnv(t)
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&client_id=cp&client_secret=cp-secret")))
	if got.claims.ClientID != "cp" {
		t.Errorf("client_id = %q", got.claims.ClientID)
	}
	res := e.do(formPost("/token", "grant_type=client_credentials&client_id=cp&client_secret=wrong"))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")

	t.Run("disabled", func(t *testing.T) {
		e := newEndpointEnv(t, func(c *EndpointConfig) { c.Methods = ClientSecretBasic })
		res := e.do(formPost("/token", "grant_type=client_credentials&client_id=cp&client_secret=cp-secret"))
		wantError(t, res, http.StatusUnauthorized, "invalid_client")
		wantChallenge(t, res, "Basic")
	})
}

// TOK-24: no client authentication, no token. keyturn has no public
// clients: a bare client_id is no credential. Choice: 401 invalid_client
// with a Basic challenge.
func TestTOK24_NoClientAuthentication(t *testing.T) {
	e := newEndpointEnv(t)
	for name, body := range map[string]string{
		"nothing":       "grant_type=client_credentials",
		"bare id":       "grant_type=client_credentials&client_id=" + url.QueryEscape(cbID),
		"public client": "grant_type=client_credentials&client_id=cpub",
	} {
		t.Run(name, func(t *testing.T) {
			res := e.do(formPost("/token", body))
			wantError(t, res, http.StatusUnauthorized, "invalid_client")
			wantChallenge(t, res, "Basic")
		})
	}
}

// TOK-25: one authentication method per request.
func TestTOK25_OneAuthenticationMethod(t *testing.T) {
	e := newEndpointEnv(t)
	assertion := "&client_assertion_type=" + url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") + "&client_assertion=eyJ.eyJ.sig"
	for name, r := range map[string]*http.Request{
		"basic and post": formPost("/token", "grant_type=client_credentials&client_id="+url.QueryEscape(cbID)+
			"&client_secret="+url.QueryEscape(cbSecret), cbAuth...),
		"basic and assertion": formPost("/token", "grant_type=client_credentials"+assertion, cbAuth...),
		"post and assertion":  formPost("/token", "grant_type=client_credentials&client_id=cp&client_secret=cp-secret"+assertion),
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(r), http.StatusBadRequest, "invalid_request")
		})
	}
	if n := e.clients.count(); n != 0 {
		t.Errorf("credentials checked %d times", n)
	}
}

// TOK-26: a bare client_id beside Basic must name the same client.
// Choice: a mismatch is 400 invalid_request.
func TestTOK26_BareClientIDBesideBasic(t *testing.T) {
	e := newEndpointEnv(t)
	wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&client_id="+url.QueryEscape(cbID), cbAuth...)))
	wantError(t, e.do(formPost("/token", "grant_type=client_credentials&client_id=cx", cbAuth...)), http.StatusBadRequest, "invalid_request")
}

// TOK-27: an Endpoint without EndpointConfig.Assertions offers no
// private_key_jwt, so an assertion is refused as an unsupported method:
// 401 invalid_client with a Basic challenge. (A Server offers it; the
// registered-method checks are TestTOK27_RegisteredMethodOnly.)
func TestTOK27_UnsupportedMethodRefused(t *testing.T) {
	e := newEndpointEnv(t)
	body := "grant_type=client_credentials&client_id=cj&client_assertion_type=" +
		url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") + "&client_assertion=eyJ.eyJ.sig"
	res := e.do(formPost("/token", body))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")
}

// TOK-28: a disabled client is refused, with the fake authenticator and
// with a real API key revoked through keys.Manager.
func TestTOK28_DisabledClient(t *testing.T) {
	e := newEndpointEnv(t)
	wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("cdis", "cdis-secret"))))
	e.clients.disable("cdis")
	res := e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("cdis", "cdis-secret")))
	wantError(t, res, http.StatusUnauthorized, "invalid_client")
	wantChallenge(t, res, "Basic")

	t.Run("revoked key", func(t *testing.T) {
		k := newKeysEnv(t)
		key := k.create(t, "read:users", 0)
		auth := basicAuth(key.ID(), key.ClientSecret())
		wantToken(t, k.endpointEnv, k.do(formPost("/oauth/token", "grant_type=client_credentials", "Authorization", auth)))
		if err := k.mgr.Revoke(context.Background(), key.ID()); err != nil {
			t.Fatal(err)
		}
		res := k.do(formPost("/oauth/token", "grant_type=client_credentials", "Authorization", auth))
		wantError(t, res, http.StatusUnauthorized, "invalid_client")
		wantChallenge(t, res, "Basic")
	})
}

// TOK-29: failed authentications are limited per client id and remote
// address, per client id and per remote address. Choice: 429 with
// Retry-After (and error slow_down), without checking the credentials; the
// client's correct secret works again from that address after the
// cool-down, and from others all along (TestTOK29_KeyIDLockout); other
// clients are unaffected.
func TestTOK29_BruteForce(t *testing.T) {
	e := newEndpointEnv(t)
	wrong := func() *result {
		return e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "guess")))
	}
	var limited *result
	for i := range 50 {
		res := wrong()
		if res.Code == http.StatusTooManyRequests {
			limited = res
			if i < DefaultClientAddressBurst {
				t.Errorf("limited after %d failures, want %d allowed", i, DefaultClientAddressBurst)
			}
			break
		}
		wantError(t, res, http.StatusUnauthorized, "invalid_client")
		e.clock.Add(100 * time.Millisecond)
	}
	if limited == nil {
		t.Fatal("50 wrong secrets in 5 s were never limited")
	}
	wantError(t, limited, http.StatusTooManyRequests, "slow_down")
	if ra := limited.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}

	checks := e.clients.count()
	wantError(t, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)), http.StatusTooManyRequests, "slow_down")
	if e.clients.count() != checks {
		t.Error("a limited attempt had its credentials checked")
	}
	// Another client behind the same address is unaffected.
	wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("cx", "cx-secret"))))

	e.clock.Add(DefaultClientAddressRefill)
	wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))

	t.Run("per address", func(t *testing.T) {
		e := newEndpointEnv(t)
		var last *result
		for i := range DefaultAddressBurst + 1 {
			last = e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("spray-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "guess")))
		}
		wantError(t, last, http.StatusTooManyRequests, "slow_down")
	})

	t.Run("host decides", func(t *testing.T) {
		lim := &recordingLimiter{wait: 3 * time.Second}
		e := newEndpointEnv(t, func(c *EndpointConfig) { c.Limiter = lim })
		res := e.do(formPost("/token", "grant_type=client_credentials", cbAuth...))
		wantError(t, res, http.StatusTooManyRequests, "slow_down")
		if want := []LimitKey{{LimitClient, cbID}}; res.Header.Get("Retry-After") != "3" || !slices.Equal(lim.reserved, want) || lim.settled != nil {
			t.Errorf("Retry-After %q, limiter asked to reserve %q and settle %q", res.Header.Get("Retry-After"), lim.reserved, lim.settled)
		}
	})
}

// recordingLimiter refuses everything with a fixed wait, if set, and
// records what it was asked. Read its records once the requests are done.
type recordingLimiter struct {
	wait     time.Duration
	mu       sync.Mutex
	reserved []LimitKey
	settled  []string // "kind:id ok" or "kind:id failed"
}

func (l *recordingLimiter) Reserve(_ *http.Request, key LimitKey) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserved = append(l.reserved, key)
	return l.wait
}

func (l *recordingLimiter) Settle(_ *http.Request, key LimitKey, failed bool) {
	outcome := "ok"
	if failed {
		outcome = "failed"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settled = append(l.settled, fmt.Sprintf("%d:%s %s", key.Kind, key.ID, outcome))
}

// TOK-30: token responses are never cached.
func TestTOK30_NoStore(t *testing.T) {
	e := newEndpointEnv(t)
	res := e.do(formPost("/token", "grant_type=client_credentials&scope=read", cbAuth...))
	wantToken(t, e, res) // checks Cache-Control, Pragma and Content-Type
}

// TOK-31: member types of the success response.
func TestTOK31_ResponseMembers(t *testing.T) {
	e := newEndpointEnv(t)
	res := e.do(formPost("/token", "grant_type=client_credentials&scope=read", cbAuth...))
	got := wantToken(t, e, res) // checks access_token, token_type, expires_in, scope
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["expires_in"]) != "900" {
		t.Errorf("expires_in written as %s, want the integer 900", raw["expires_in"])
	}
	if len(raw) != 4 {
		t.Errorf("members %v, want access_token, token_type, expires_in, scope", got.body)
	}
}

// TOK-32: no refresh token for client credentials (nor for the password
// grant).
func TestTOK32_NoRefreshToken(t *testing.T) {
	e := newEndpointEnv(t, withUsers(t))
	for name, r := range map[string]*http.Request{
		"client_credentials": formPost("/token", "grant_type=client_credentials", cbAuth...),
		"password":           formPost("/token", "grant_type=password&username=alice&password=alice-pw"),
	} {
		t.Run(name, func(t *testing.T) {
			res := e.do(r)
			wantToken(t, e, res) // fails on refresh_token
			if strings.Contains(string(res.Body), "refresh") {
				t.Errorf("body mentions a refresh token: %s", res.Body)
			}
		})
	}
}

// TOK-33: tokens are short-lived by default (900 s). A client's own
// lifetime may be longer (seed 002's 7200 s), up to MaxLifetime: a
// deliberate, documented exception to RFC 6750 §5.3's one hour.
func TestTOK33_ShortLived(t *testing.T) {
	e := newEndpointEnv(t)
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	if n, _ := got.body["expires_in"].(json.Number).Int64(); n != 900 {
		t.Errorf("default expires_in = %d, want 900", n)
	}
	e.clients.set("c002", fakeClient{secret: "s", scope: "users:read", lifetime: 7200 * time.Second})
	got = wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("c002", "s"))))
	if n, _ := got.body["expires_in"].(json.Number).Int64(); n != 7200 {
		t.Errorf("client lifetime expires_in = %d, want 7200", n)
	}
}

// TOK-34: tokens cannot be guessed or forged: 1000 tokens are distinct, and
// one changed character makes a token invalid everywhere.
func TestTOK34_Unguessable(t *testing.T) {
	e := newEndpointEnv(t)
	tokens := map[string]bool{}
	jtis := map[string]bool{}
	var last issuedToken
	for range 1000 {
		last = wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
		tokens[last.token] = true
		jtis[last.claims.ID] = true
		if raw, err := base64.RawURLEncoding.DecodeString(last.claims.ID); err != nil || len(raw) < 16 {
			t.Fatalf("jti %q carries fewer than 128 bits", last.claims.ID)
		}
	}
	if len(tokens) != 1000 || len(jtis) != 1000 {
		t.Errorf("%d distinct tokens, %d distinct jti, want 1000", len(tokens), len(jtis))
	}
	for _, i := range []int{0, 10, len(last.token) / 2, len(last.token) - 2, len(last.token) - 1} {
		b := []byte(last.token)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		flipped := string(b)
		if _, err := e.verify.Verify(context.Background(), flipped); err == nil {
			t.Errorf("token with byte %d changed verifies", i)
		}
		res := e.do(formPost("/introspect", "token="+url.QueryEscape(flipped), "Authorization", basicAuth("rsc", "rsc-secret")))
		if string(res.Body) != "{\"active\":false}\n" {
			t.Errorf("token with byte %d changed introspects as %s", i, res.Body)
		}
	}
}

// TOK-35: a scope beyond the client's is refused, never silently
// narrowed. Choice: 400 invalid_scope.
func TestTOK35_ScopeBeyondClient(t *testing.T) {
	e := newEndpointEnv(t)
	res := e.do(formPost("/token", "grant_type=client_credentials&scope=read%20write", "Authorization", basicAuth("cl", "cl-secret")))
	wantError(t, res, http.StatusBadRequest, "invalid_scope")
}

// TOK-36: an omitted scope grants the client's whole scope, echoed.
func TestTOK36_OmittedScope(t *testing.T) {
	e := newEndpointEnv(t)
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	if got.body["scope"] != "read write" || got.claims.Scope.String() != "read write" {
		t.Errorf("scope %v, claim %q", got.body["scope"], got.claims.Scope)
	}
}

// TOK-37: scope syntax is enforced (RFC 6749 §3.3 NQCHAR).
func TestTOK37_ScopeSyntax(t *testing.T) {
	e := newEndpointEnv(t)
	for _, s := range []string{"read%22", "a%5Cb", "read%01", "read%7F", "r%C3%A9ad", "target-entity::read"} {
		t.Run(s, func(t *testing.T) {
			res := e.do(formPost("/token", "grant_type=client_credentials&scope="+s, cbAuth...))
			wantError(t, res, http.StatusBadRequest, "invalid_scope")
		})
	}
}

// TOK-38: an unknown scope value is refused with invalid_scope (not
// silently dropped).
func TestTOK38_UnknownScope(t *testing.T) {
	e := newEndpointEnv(t)
	res := e.do(formPost("/token", "grant_type=client_credentials&scope=read%20nonexistent", cbAuth...))
	wantError(t, res, http.StatusBadRequest, "invalid_scope")
}

// TOK-39: scope tokens are case-sensitive; their order does not matter.
func TestTOK39_ScopeCaseAndOrder(t *testing.T) {
	e := newEndpointEnv(t)
	wantError(t, e.do(formPost("/token", "grant_type=client_credentials&scope=READ", cbAuth...)), http.StatusBadRequest, "invalid_scope")
	a := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&scope=write%20read", cbAuth...)))
	b := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&scope=read%20write", cbAuth...)))
	if a.body["scope"] != "read write" || b.body["scope"] != "read write" {
		t.Errorf("scopes %v and %v, want both canonical read write", a.body["scope"], b.body["scope"])
	}
}

// TOK-40: irregular whitespace. Choice: strict, as the ABNF says (one SP
// between tokens): 400 invalid_scope, so what is granted never differs
// from what was asked by a normalisation the client did not ask for.
func TestTOK40_ScopeWhitespace(t *testing.T) {
	e := newEndpointEnv(t)
	for _, s := range []string{"read%20%20write", "%20read", "read%20", "read%09write", "read%0Awrite"} {
		t.Run(s, func(t *testing.T) {
			res := e.do(formPost("/token", "grant_type=client_credentials&scope="+s, cbAuth...))
			wantError(t, res, http.StatusBadRequest, "invalid_scope")
		})
	}
}

// TOK-41: every token-endpoint error has the RFC 6749 §5.2 shape; the
// status is 400 except for invalid_client (401) and the documented
// transport refusals (405, 413, 431) and throttling (429). wantError checks
// the shape of each.
func TestTOK41_ErrorShape(t *testing.T) {
	e := newEndpointEnv(t, withUsers(t))
	cases := []struct {
		name   string
		r      *http.Request
		status int
		code   string
	}{
		{"missing grant_type", formPost("/token", "", cbAuth...), 400, "invalid_request"},
		{"unknown grant", formPost("/token", "grant_type=x", cbAuth...), 400, "unsupported_grant_type"},
		{"bad scope", formPost("/token", "grant_type=client_credentials&scope=%22", cbAuth...), 400, "invalid_scope"},
		{"wrong secret", formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "x")), 401, "invalid_client"},
		{"wrong password", formPost("/token", "grant_type=password&username=alice&password=x"), 400, "invalid_grant"},
		{"resource", formPost("/token", "grant_type=client_credentials&resource=https%3A%2F%2Fx", cbAuth...), 400, "invalid_target"},
		{"GET", httptest.NewRequest(http.MethodGet, "https://as.test/token", nil), 405, "invalid_request"},
		{"too large", formPost("/token", strings.Repeat("a", 1<<17), cbAuth...), 413, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(tc.r), tc.status, tc.code)
		})
	}
}

// TOK-42: errors leak nothing: no secret, password or key in any response
// or event, and the same body for an unknown client and a bad secret
// (TOK-21).
func TestTOK42_ErrorsLeakNothing(t *testing.T) {
	k := newKeysEnv(t, withUsers(t))
	key := k.create(t, "read:users", 0)
	secret := key.ClientSecret()
	requests := []*http.Request{
		formPost("/oauth/token", "grant_type=client_credentials", "Authorization", basicAuth(key.ID(), secret[:len(secret)-1]+"x")),
		formPost("/oauth/token", "grant_type=client_credentials&scope=nope", "Authorization", basicAuth(key.ID(), secret)),
		formPost("/oauth/token", "grant_type=x", "Authorization", "Bearer "+key.String()),
		post("/oauth/token", "application/json", `{"key":"`+key.String()+`x"}`),
		post("/oauth/token", "", "", "Authorization", "Bearer "+key.String()[:40]),
		formPost("/oauth/token", "grant_type=password&username=alice&password=secret-password-123"),
		formPost("/oauth/token", "grant_type=password&username=nobody&password=secret-password-123"),
	}
	for i, r := range requests {
		res := k.do(r)
		if res.Code == http.StatusOK {
			t.Fatalf("request %d succeeded", i)
		}
		dump := string(res.Body) + headerDump(res.Header)
		for _, s := range []string{secret, key.String(), "secret-password-123", secret[:20]} {
			if strings.Contains(dump, s) {
				t.Errorf("response %d contains a secret: %s", i, dump)
			}
		}
	}
	var logs strings.Builder
	for _, ev := range k.events.all() {
		logs.WriteString(ev.ClientID + " " + ev.Subject + " ")
		if ev.Err != nil {
			logs.WriteString(ev.Err.Error())
		}
	}
	for _, s := range []string{secret, "secret-password-123", secret[:20]} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("events contain a secret: %s", logs.String())
		}
	}
}

func headerDump(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	return b.String()
}

// jwtParts decodes a JWT's header and claims without verifying it.
func jwtParts(t testing.TB, tok string) (hdr, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		*dst = decodeObject(t, b)
	}
	return hdr, claims
}

// TOK-43: explicitly typed, really signed, kid in the JWKS.
func TestTOK43_TypedAndSigned(t *testing.T) {
	e := newEndpointEnv(t)
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	hdr, _ := jwtParts(t, got.token)
	if hdr["typ"] != "at+jwt" || hdr["alg"] == "none" || hdr["alg"] == nil {
		t.Errorf("header %v", hdr)
	}
	res := e.do(httptest.NewRequest(http.MethodGet, "https://as.test/jwks.json", nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(res.Body, &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(hdr["kid"].(string))
	if len(keys) != 1 {
		t.Fatalf("kid %v found %d times in the JWKS", hdr["kid"], len(keys))
	}
	jws, err := jose.ParseSignedCompact(got.token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(keys[0].Key); err != nil {
		t.Errorf("token does not verify with its JWKS key: %v", err)
	}
}

// TOK-44: RS256 can be issued and verified; asymmetric signing is the
// default (EdDSA) and no HS* algorithm exists in keyturn.
func TestTOK44_Algorithms(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEndpointEnvAlg(t, alg)
			got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
			if hdr, _ := jwtParts(t, got.token); hdr["alg"] != string(alg) {
				t.Errorf("alg = %v", hdr["alg"])
			}
		})
	}
	if token.DefaultAlgorithm != token.EdDSA {
		t.Errorf("default algorithm %s", token.DefaultAlgorithm)
	}
}

// TOK-45: required claims, iss equal to the metadata issuer, exp − iat =
// expires_in.
func TestTOK45_RequiredClaims(t *testing.T) {
	e := newEndpointEnv(t)
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	_, claims := jwtParts(t, got.token)
	for _, c := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "nbf"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("claim %s missing", c)
		}
	}
	md := decodeObject(t, e.do(httptest.NewRequest(http.MethodGet, "https://as.test"+e.ep.MetadataPath(), nil)).Body)
	if claims["iss"] != md["issuer"] {
		t.Errorf("iss %v, metadata issuer %v", claims["iss"], md["issuer"])
	}
	exp, _ := claims["exp"].(json.Number).Int64()
	iat, _ := claims["iat"].(json.Number).Int64()
	ei, _ := got.body["expires_in"].(json.Number).Int64()
	if exp-iat != ei {
		t.Errorf("exp - iat = %d, expires_in %d", exp-iat, ei)
	}
}

// TOK-46: sub is the client's id for client credentials (and the user for
// the password grant, whose client_id is the configured
// PasswordClientID). keyturn key ids are random, and a resource server
// tells the two apart by sub == client_id.
func TestTOK46_SubjectIsClient(t *testing.T) {
	e := newEndpointEnv(t, withUsers(t))
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	if got.claims.Subject != cbID || got.claims.ClientID != cbID {
		t.Errorf("sub %q client_id %q", got.claims.Subject, got.claims.ClientID)
	}
	got = wantToken(t, e, e.do(formPost("/token", "grant_type=password&username=alice&password=alice-pw")))
	if got.claims.Subject != "alice" || got.claims.ClientID != "tokenserver" {
		t.Errorf("password grant: sub %q client_id %q", got.claims.Subject, got.claims.ClientID)
	}
}

// TOK-47: the scope claim equals the response's scope.
func TestTOK47_ScopeClaim(t *testing.T) {
	e := newEndpointEnv(t)
	for _, s := range []string{"", "read", "write read"} {
		got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&scope="+url.QueryEscape(s), cbAuth...)))
		_, claims := jwtParts(t, got.token)
		if claims["scope"] != got.body["scope"] {
			t.Errorf("scope %q: claim %v, response %v", s, claims["scope"], got.body["scope"])
		}
	}
}

// TOK-48: without resource the token's aud is the configured audience; a
// requested resource (one of the server's) becomes the aud, and no token
// is ever for an audience the host did not configure.
func TestTOK48_DefaultAudience(t *testing.T) {
	e := newEndpointEnv(t)
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	if len(got.claims.Audience) != 1 || got.claims.Audience[0] != testAudience {
		t.Errorf("aud = %v, want [%s]", got.claims.Audience, testAudience)
	}
	got = wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&resource="+url.QueryEscape(testAudience), cbAuth...)))
	if len(got.claims.Audience) != 1 || got.claims.Audience[0] != testAudience {
		t.Errorf("aud = %v, want [%s]", got.claims.Audience, testAudience)
	}
	res := e.do(formPost("/token", "grant_type=client_credentials&resource="+url.QueryEscape("https://other.test/"), cbAuth...))
	wantError(t, res, http.StatusBadRequest, "invalid_target")
}

// TOK-49 does not apply: keyturn maps no scope to a resource, so scopes can
// never point at different resources; every token carries exactly the
// configured audience, whatever its scope (no ambiguous token).
func TestTOK49_ScopesDoNotChooseAudience(t *testing.T) {
	e := newEndpointEnv(t)
	e.clients.set("multi", fakeClient{secret: "s", scope: "api1.read api2.read"})
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&scope=api1.read%20api2.read",
		"Authorization", basicAuth("multi", "s"))))
	if len(got.claims.Audience) != 1 || got.claims.Audience[0] != testAudience {
		t.Errorf("aud = %v", got.claims.Audience)
	}
}

// A storage failure in the authenticator is a 503 with Retry-After (the
// credentials could not be checked now), never a 401 that would count
// against the client, and never a token.
func TestAuthenticatorFailure(t *testing.T) {
	e := newEndpointEnv(t)
	e.clients.fail(errStoreDown)
	res := e.do(formPost("/token", "grant_type=client_credentials", cbAuth...))
	wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
	if res.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if errors.Is(errStoreDown, ErrInvalidClient) {
		t.Fatal("fixture")
	}
}
