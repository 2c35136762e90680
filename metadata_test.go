package keyturn

// Tests of the metadata handler, one per MD item of CONFORMANCE.md §5.1
// (MD-01 … MD-15), named by the item's ID. The JW items are the JWKS
// handler's, tested in jwks_test.go.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

// metadata fetches and decodes the metadata document.
func (e *endpointEnv) metadata(t testing.TB) map[string]any {
	t.Helper()
	res := e.do(httptest.NewRequest(http.MethodGet, "https://as.test"+e.ep.MetadataPath(), nil))
	if res.Code != http.StatusOK {
		t.Fatalf("metadata: %d %s", res.Code, res.Body)
	}
	return decodeObject(t, res.Body)
}

func stringList(t testing.TB, v any) []string {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not an array", v)
	}
	var out []string
	for _, x := range arr {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%v holds a non-string", v)
		}
		out = append(out, s)
	}
	return out
}

// MD-01: the document is at the well-known location, a JSON object.
func TestMD01_WellKnown(t *testing.T) {
	e := newEndpointEnv(t)
	if e.ep.MetadataPath() != "/.well-known/oauth-authorization-server" {
		t.Errorf("MetadataPath = %q", e.ep.MetadataPath())
	}
	res := e.do(httptest.NewRequest(http.MethodGet, "https://as.test/.well-known/oauth-authorization-server", nil))
	if res.Code != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", res.Code, res.Header.Get("Content-Type"))
	}
	decodeObject(t, res.Body)
}

// MD-02: an issuer with a path has its metadata at the well-known path
// followed by the issuer's path (trailing '/' removed); other paths are
// 404, never another issuer's document.
func TestMD02_PathInsertion(t *testing.T) {
	for _, iss := range []string{"https://as.test/t1", "https://as.test/t1/"} {
		t.Run(iss, func(t *testing.T) {
			base := newEnv(t, token.EdDSA)
			issuer, err := token.NewIssuer(token.IssuerConfig{Issuer: iss, Audience: []string{testAudience}, Keys: base.keys})
			if err != nil {
				t.Fatal(err)
			}
			ver, err := token.NewVerifier(token.VerifierConfig{Issuer: iss, Audience: testAudience, Keys: base.keys, Algorithms: []token.Algorithm{token.EdDSA}})
			if err != nil {
				t.Fatal(err)
			}
			ep, err := NewEndpoint(EndpointConfig{Issuer: issuer, Verifier: ver, Clients: newFakeClients()})
			if err != nil {
				t.Fatal(err)
			}
			if ep.MetadataPath() != "/.well-known/oauth-authorization-server/t1" {
				t.Fatalf("MetadataPath = %q", ep.MetadataPath())
			}
			mux := http.NewServeMux()
			mux.Handle("/.well-known/oauth-authorization-server/", ep.Metadata())
			for path, want := range map[string]int{
				"/.well-known/oauth-authorization-server/t1":      200,
				"/.well-known/oauth-authorization-server/unknown": 404,
				"/.well-known/oauth-authorization-server/t1/x":    404,
			} {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://as.test"+path, nil))
				if w.Code != want {
					t.Errorf("%s: %d, want %d", path, w.Code, want)
				}
				if want == 200 {
					md := decodeObject(t, w.Body.Bytes())
					if md["issuer"] != iss || md["token_endpoint"] != "https://as.test/t1/oauth/token" {
						t.Errorf("issuer %v token_endpoint %v", md["issuer"], md["token_endpoint"])
					}
				}
			}
		})
	}
}

// MD-03: issuer is byte-equal to the configured identifier and to iss in
// every token, https, without query or fragment.
func TestMD03_IssuerExact(t *testing.T) {
	e := newEndpointEnv(t)
	md := e.metadata(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	_, claims := jwtParts(t, tok)
	if md["issuer"] != testIssuer || claims["iss"] != md["issuer"] {
		t.Errorf("metadata issuer %v, configured %s, token iss %v", md["issuer"], testIssuer, claims["iss"])
	}
	u, err := url.Parse(md["issuer"].(string))
	if err != nil || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
		t.Errorf("issuer %v", md["issuer"])
	}
	for _, bad := range []string{"https://as.test#f", "https://as.test?x=1", "ftp://as.test", "https://user@as.test", "as.test"} {
		base := newEnv(t, token.EdDSA)
		iss, err := token.NewIssuer(token.IssuerConfig{Issuer: bad, Audience: []string{testAudience}, Keys: base.keys})
		if err != nil {
			t.Fatal(err)
		}
		ver, err := token.NewVerifier(token.VerifierConfig{Issuer: bad, Audience: testAudience, Keys: base.keys, Algorithms: []token.Algorithm{token.EdDSA}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewEndpoint(EndpointConfig{Issuer: iss, Verifier: ver, Clients: newFakeClients()}); err == nil {
			t.Errorf("NewEndpoint accepted issuer %q", bad)
		}
	}
}

// MD-04: endpoint URLs are present, https, and the ones configured.
func TestMD04_EndpointURLs(t *testing.T) {
	e := newEndpointEnv(t)
	md := e.metadata(t)
	want := map[string]string{
		"token_endpoint":         "https://as.test/oauth/token",
		"introspection_endpoint": "https://as.test/oauth/introspect",
		"revocation_endpoint":    "https://as.test/oauth/revoke",
		"jwks_uri":               "https://as.test/.well-known/jwks.json",
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("%s = %v, want %s", k, md[k], v)
		}
	}
	e = newEndpointEnv(t, func(c *EndpointConfig) {
		c.TokenURL, c.IntrospectionURL = "https://as.test/token", "https://as.test/introspect"
		c.RevocationURL, c.JWKSURL = "https://as.test/revoke", "https://as.test/jwks.json"
	})
	md = e.metadata(t)
	for k, path := range map[string]string{"token_endpoint": "/token", "introspection_endpoint": "/introspect",
		"revocation_endpoint": "/revoke", "jwks_uri": "/jwks.json"} {
		if md[k] != "https://as.test"+path {
			t.Errorf("%s = %v", k, md[k])
		}
	}
	_, err := NewEndpoint(EndpointConfig{Issuer: e.issuer, Verifier: e.verify, Clients: e.clients, JWKSURL: "http://as.test/jwks.json"})
	if err == nil {
		t.Error("NewEndpoint accepted an http jwks_uri")
	}
}

// MD-05: response_types_supported is REQUIRED by RFC 8414 §2, but a
// client-credentials server supports no response type and §3.2 forbids
// empty arrays. Choice: leave it out, the only truthful answer.
func TestMD05_ResponseTypesOmitted(t *testing.T) {
	e := newEndpointEnv(t)
	if _, ok := e.metadata(t)["response_types_supported"]; ok {
		t.Error("response_types_supported present")
	}
}

// MD-06: grant_types_supported says what the token endpoint does.
func TestMD06_GrantTypes(t *testing.T) {
	e := newEndpointEnv(t)
	if got := stringList(t, e.metadata(t)["grant_types_supported"]); !slices.Equal(got, []string{"client_credentials"}) {
		t.Errorf("grant_types_supported = %v", got)
	}
	e = newEndpointEnv(t, withUsers(t))
	if got := stringList(t, e.metadata(t)["grant_types_supported"]); !slices.Equal(got, []string{"client_credentials", "password"}) {
		t.Errorf("with users: grant_types_supported = %v", got)
	}
}

// MD-07: token_endpoint_auth_methods_supported matches behaviour: every
// listed method succeeds, the JWT methods are refused. Choice: keyturn's
// extensions (JSON body, Bearer key) have no registered names and are
// not listed.
func TestMD07_AuthMethodsMatchBehaviour(t *testing.T) {
	for _, methods := range []AuthMethod{StandardAuthMethods, ClientSecretBasic, ClientSecretPost} {
		t.Run(methods.String(), func(t *testing.T) {
			e := newEndpointEnv(t, func(c *EndpointConfig) { c.Methods = methods })
			listed := stringList(t, e.metadata(t)["token_endpoint_auth_methods_supported"])
			requests := map[string]*http.Request{
				"client_secret_basic": formPost("/token", "grant_type=client_credentials", cbAuth...),
				"client_secret_post": formPost("/token", "grant_type=client_credentials&client_id="+url.QueryEscape(cbID)+
					"&client_secret="+url.QueryEscape(cbSecret)),
				"private_key_jwt": formPost("/token", "grant_type=client_credentials&client_assertion_type="+
					url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")+"&client_assertion=a.b.c"),
			}
			for name, r := range requests {
				res := e.do(r)
				if slices.Contains(listed, name) {
					wantToken(t, e, res)
				} else {
					wantError(t, res, http.StatusUnauthorized, "invalid_client")
				}
			}
			if !slices.Equal(listed, strings.Split(methods.String(), "|")) {
				t.Errorf("listed %v for %s", listed, methods)
			}
		})
	}
}

// MD-08: no JWT client authentication is offered, so no signing-alg list is
// needed, and none says "none".
func TestMD08_NoJWTAuthMethods(t *testing.T) {
	e := newEndpointEnv(t)
	md := e.metadata(t)
	for k, v := range md {
		if strings.HasSuffix(k, "_auth_methods_supported") {
			for _, m := range stringList(t, v) {
				if strings.HasSuffix(m, "_jwt") {
					t.Errorf("%s lists %s", k, m)
				}
			}
		}
		if strings.HasSuffix(k, "_signing_alg_values_supported") {
			t.Errorf("%s present", k)
		}
	}
}

// MD-09: no empty array anywhere, whatever the configuration.
func TestMD09_NoEmptyArrays(t *testing.T) {
	for name, configure := range map[string]func(*EndpointConfig){
		"no scopes":   func(c *EndpointConfig) { c.ScopesSupported = scope.Set{} },
		"no standard": func(c *EndpointConfig) { c.Methods = BearerKey; c.SplitKey = refuseKeys },
		"default":     func(*EndpointConfig) {},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEndpointEnv(t, configure)
			res := e.do(httptest.NewRequest(http.MethodGet, "https://as.test"+e.ep.MetadataPath(), nil))
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(res.Body, &raw); err != nil {
				t.Fatal(err)
			}
			for k, v := range raw {
				if strings.ReplaceAll(string(v), " ", "") == "[]" {
					t.Errorf("%s is an empty array", k)
				}
			}
		})
	}
}

// MD-10: scopes_supported is present when the host configures it (the
// library cannot know the host's scopes; leaving it out is the host's
// documented choice).
func TestMD10_ScopesSupported(t *testing.T) {
	e := newEndpointEnv(t)
	if got := stringList(t, e.metadata(t)["scopes_supported"]); !slices.Equal(got, []string{"introspect", "read", "write"}) {
		t.Errorf("scopes_supported = %v", got)
	}
	e = newEndpointEnv(t, func(c *EndpointConfig) { c.ScopesSupported = scope.Set{} })
	if _, ok := e.metadata(t)["scopes_supported"]; ok {
		t.Error("empty scopes_supported present")
	}
}

// MD-11: the introspection and revocation auth-method lists match what
// those endpoints accept (the token endpoint's standard methods).
func TestMD11_IntrospectionRevocationMethods(t *testing.T) {
	e := newEndpointEnv(t)
	md := e.metadata(t)
	tok := e.ccToken(t, cbID, cbSecret, "")
	for _, k := range []string{"introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
		if got := stringList(t, md[k]); !slices.Equal(got, []string{"client_secret_basic", "client_secret_post"}) {
			t.Errorf("%s = %v", k, got)
		}
	}
	post := "token=" + tok + "&client_id=" + url.QueryEscape(cbID) + "&client_secret=" + url.QueryEscape(cbSecret)
	wantActive(t, e.do(formPost("/introspect", post)))
	wantActive(t, e.do(formPost("/introspect", "token="+tok, cbAuth...)))
	wantRevokeOK(t, e.do(formPost("/revoke", post)))
}

// MD-12: an Endpoint without DPoP (EndpointConfig.DPoP nil) advertises no
// dpop_signing_alg_values_supported; TestMD12_DPoPAlgorithms is the other
// half.
func TestMD12_NoDPoP(t *testing.T) {
	e := newEndpointEnv(t)
	if _, ok := e.metadata(t)["dpop_signing_alg_values_supported"]; ok {
		t.Error("dpop_signing_alg_values_supported present")
	}
}

// MD-13 does not apply: keyturn serves no signed_metadata. MD-14 does not
// apply: keyturn serves no OpenID Connect discovery document. Both stay
// absent.
func TestMD13_MD14_NotServed(t *testing.T) {
	e := newEndpointEnv(t)
	md := e.metadata(t)
	for _, k := range []string{"signed_metadata", "userinfo_endpoint", "id_token_signing_alg_values_supported"} {
		if _, ok := md[k]; ok {
			t.Errorf("%s present", k)
		}
	}
}

// MD-15: GET and HEAD answer 200, other methods 405 with Allow: GET, HEAD;
// the public document allows any origin and a short max-age.
func TestMD15_Transport(t *testing.T) {
	e := newEndpointEnv(t)
	path := "https://as.test" + e.ep.MetadataPath()
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		res := e.do(httptest.NewRequest(m, path, nil))
		if res.Code != http.StatusOK {
			t.Errorf("%s: %d", m, res.Code)
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "*" || res.Header.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("%s: CORS %q, Cache-Control %q", m, res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Cache-Control"))
		}
		if m == http.MethodHead && len(res.Body) != 0 {
			t.Errorf("HEAD has a body")
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		res := e.do(httptest.NewRequest(m, path, nil))
		if res.Code != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", m, res.Code, res.Header.Get("Allow"))
		}
	}
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Origin", "https://elsewhere.test")
	if res := e.do(req); res.Code != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("cross-origin GET: %d", res.Code)
	}
}
