package keyturn

// Tests of the seed flows (DESIGN.md, "The four flows" and "Fine print")
// and of the endpoint's configuration, beyond the CONFORMANCE items.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

// Seed 000: a whole API key as a Bearer credential or JSON "key", no
// grant_type needed; if given it must be client_credentials; scope in a
// form or JSON body narrows.
func TestSeed000_APIKey(t *testing.T) {
	k := newKeysEnv(t, withUsers(t)) // so that password is a known grant
	key := k.create(t, "read:users read:participants", 900*time.Second)
	bearer := []string{"Authorization", "Bearer " + key.String()}
	for _, tc := range []struct {
		name  string
		r     *http.Request
		scope string
	}{
		{"bearer, empty body", post("/oauth/token", "", "", bearer...), "read:participants read:users"},
		{"bearer, grant_type", formPost("/oauth/token", "grant_type=client_credentials", bearer...), "read:participants read:users"},
		{"bearer, form scope", formPost("/oauth/token", "scope=read:users", bearer...), "read:users"},
		{"bearer, JSON scope", post("/oauth/token", "application/json", `{"scope":"read:users"}`, bearer...), "read:users"},
		{"bearer, lower-case scheme", post("/oauth/token", "", "", "Authorization", "bearer "+key.String()), "read:participants read:users"},
		{"JSON key", post("/oauth/token", "application/json", `{"key":"`+key.String()+`"}`), "read:participants read:users"},
		{"JSON key and scope", post("/oauth/token", "application/json", `{"key":"`+key.String()+`","scope":"read:participants"}`), "read:participants"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wantToken(t, k.endpointEnv, k.do(tc.r))
			if got.body["scope"] != tc.scope || got.claims.ClientID != key.ID() || got.claims.Subject != key.ID() {
				t.Errorf("scope %v, claims %+v", got.body["scope"], got.claims)
			}
			if n, _ := got.body["expires_in"].(json.Number).Int64(); n != 900 {
				t.Errorf("expires_in %d", n)
			}
		})
	}
	t.Run("JSON body with Bearer only", func(t *testing.T) {
		k := newKeysEnv(t, func(c *EndpointConfig) { c.Methods = StandardAuthMethods | BearerKey })
		key := k.create(t, "read:users read:participants", 0)
		got := wantToken(t, k.endpointEnv, k.do(post("/oauth/token", "application/json", `{"scope":"read:users"}`, "Authorization", "Bearer "+key.String())))
		if got.body["scope"] != "read:users" {
			t.Errorf("scope %v", got.body["scope"])
		}
		// Without JSONKey, "key" is an unknown member: no credentials.
		res := k.do(post("/oauth/token", "application/json", `{"grant_type":"client_credentials","key":"`+key.String()+`"}`))
		wantError(t, res, http.StatusUnauthorized, "invalid_client")
	})
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
		code   string
	}{
		{"password beside a key", formPost("/oauth/token", "grant_type=password&username=a&password=b", bearer...), 400, "invalid_request"},
		{"unknown grant", formPost("/oauth/token", "grant_type=foo", bearer...), 400, "unsupported_grant_type"},
		{"scope beyond the key", formPost("/oauth/token", "scope=write:users", bearer...), 400, "invalid_scope"},
		{"client_id beside the key", formPost("/oauth/token", "client_id="+key.ID(), bearer...), 400, "invalid_request"},
		{"key and Basic", post("/oauth/token", "application/json", `{"key":"`+key.String()+`"}`, "Authorization", basicAuth(key.ID(), key.ClientSecret())), 400, "invalid_request"},
		{"garbage key", post("/oauth/token", "", "", "Authorization", "Bearer ds_live_nope"), 401, "invalid_client"},
		{"other prefix", post("/oauth/token", "", "", "Authorization", "Bearer "+strings.Replace(key.String(), "ds_live", "ds_test", 1)), 401, "invalid_client"},
		{"JSON key in a form", formPost("/oauth/token", "key="+url.QueryEscape(key.String())), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := k.do(tc.r)
			wantError(t, res, tc.status, tc.code)
			if tc.status == 401 && tc.r.Header.Get("Authorization") != "" {
				wantChallenge(t, res, "Bearer")
			}
		})
	}
}

// Seed 001: username and password, without grant_type at /authorization
// (PasswordToken), with grant_type=password anywhere. The token inherits
// the user's scope; unknown user and wrong password are answered alike
// after the same work.
func TestSeed001_Password(t *testing.T) {
	users := newFakeUsers(t, "alice:alice-pw:read write", "bob:bob-pw:read")
	e := newEndpointEnv(t, func(c *EndpointConfig) {
		c.Users, c.PasswordClientID = users, "tokenserver"
	})
	got := wantToken(t, e, e.do(formPost("/authorization", "username=alice&password=alice-pw")))
	if got.body["scope"] != "read write" || got.claims.Subject != "alice" || got.claims.ClientID != "tokenserver" {
		t.Errorf("scope %v claims %+v", got.body["scope"], got.claims)
	}
	if n, _ := got.body["expires_in"].(json.Number).Int64(); n != 900 {
		t.Errorf("expires_in %d, want 900", n)
	}
	wantToken(t, e, e.do(formPost("/token", "grant_type=password&username=bob&password=bob-pw&scope=read")))
	wantToken(t, e, e.do(formPost("/authorization", "grant_type=password&username=bob&password=bob-pw")))
	// At /authorization the client-credentials flow works as at /token.
	wantToken(t, e, e.do(formPost("/authorization", "grant_type=client_credentials", cbAuth...)))

	before := users.count()
	wrong := e.do(formPost("/authorization", "username=alice&password=nope"))
	unknown := e.do(formPost("/authorization", "username=nobody&password=nope"))
	wantError(t, wrong, http.StatusBadRequest, "invalid_grant")
	if !bytes.Equal(wrong.Body, unknown.Body) || wrong.Code != unknown.Code {
		t.Errorf("wrong password %d %s, unknown user %d %s", wrong.Code, wrong.Body, unknown.Code, unknown.Body)
	}
	if users.count()-before != 2 {
		t.Errorf("%d password checks for two attempts", users.count()-before)
	}

	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
		code   string
	}{
		{"beyond the user's scope", formPost("/authorization", "username=bob&password=bob-pw&scope=write"), 400, "invalid_scope"},
		{"no grant_type at /token", formPost("/token", "username=alice&password=alice-pw"), 400, "invalid_request"},
		{"missing password", formPost("/authorization", "username=alice"), 400, "invalid_request"},
		{"missing username", formPost("/token", "grant_type=password&password=x"), 400, "invalid_request"},
		{"client credentials too", formPost("/token", "grant_type=password&username=alice&password=alice-pw&client_id=cp&client_secret=cp-secret"), 400, "invalid_request"},
		{"bare client_id too", formPost("/token", "grant_type=password&username=alice&password=alice-pw&client_id=cp"), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, e.do(tc.r), tc.status, tc.code) })
	}

	t.Run("without Users", func(t *testing.T) {
		e := newEndpointEnv(t)
		wantError(t, e.do(formPost("/authorization", "username=alice&password=alice-pw")), 400, "invalid_request")
		wantError(t, e.do(formPost("/authorization", "grant_type=password&username=alice&password=alice-pw")), 400, "unsupported_grant_type")
	})

	t.Run("brute force", func(t *testing.T) {
		var last *result
		for range DefaultClientAddressBurst + 1 {
			last = e.do(formPost("/token", "grant_type=password&username=bob&password=guess"))
		}
		wantError(t, last, http.StatusTooManyRequests, "slow_down")
		e.clock.Add(DefaultClientAddressRefill)
		wantToken(t, e, e.do(formPost("/token", "grant_type=password&username=bob&password=bob-pw")))
	})

	t.Run("lifetime", func(t *testing.T) {
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.PasswordLifetime = users, "tokenserver", 300*time.Second
		})
		got := wantToken(t, e, e.do(formPost("/authorization", "username=alice&password=alice-pw")))
		if n, _ := got.body["expires_in"].(json.Number).Int64(); n != 300 {
			t.Errorf("expires_in %d", n)
		}
	})
}

// Seed 002: client_id and client_secret in a JSON body, with response_type
// standing for grant_type; created_at equals the token's iat.
func TestSeed002_JSONClientCredentials(t *testing.T) {
	e := newEndpointEnv(t, func(c *EndpointConfig) { c.Methods = StandardAuthMethods | ClientSecretJSON; c.CreatedAt = true })
	e.clients.set("c002", fakeClient{secret: "s002", scope: "users:read users:write subscriptions:read", lifetime: 7200 * time.Second})
	for _, body := range []string{
		`{"client_id":"c002","client_secret":"s002","grant_type":"client_credentials","scope":"users:read users:write"}`,
		`{"client_id":"c002","client_secret":"s002","response_type":"client_credentials","scope":"users:read users:write"}`,
		`{"client_id":"c002","client_secret":"s002","grant_type":"client_credentials","response_type":"client_credentials","scope":"users:write users:read"}`,
	} {
		got := wantToken(t, e, e.do(post("/token", "application/json", body)))
		if got.body["scope"] != "users:read users:write" {
			t.Errorf("scope %v", got.body["scope"])
		}
		ca, _ := got.body["created_at"].(json.Number).Int64()
		ei, _ := got.body["expires_in"].(json.Number).Int64()
		if ca != got.claims.IssuedAt.Unix() || ei != 7200 {
			t.Errorf("created_at %d (iat %d), expires_in %d", ca, got.claims.IssuedAt.Unix(), ei)
		}
	}
	for name, body := range map[string]string{
		"grant and alias differ": `{"client_id":"c002","client_secret":"s002","grant_type":"client_credentials","response_type":"password"}`,
		"no grant":               `{"client_id":"c002","client_secret":"s002"}`,
		"scope not a string":     `{"client_id":"c002","client_secret":"s002","grant_type":"client_credentials","scope":["users:read"]}`,
		"duplicate member":       `{"client_id":"c002","client_secret":"s002","grant_type":"client_credentials","grant_type":"client_credentials"}`,
		"not an object":          `["client_credentials"]`,
		"trailing data":          `{"client_id":"c002","client_secret":"s002","grant_type":"client_credentials"} x`,
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(post("/token", "application/json", body)), http.StatusBadRequest, "invalid_request")
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		res := e.do(post("/token", "application/json", `{"client_id":"c002","client_secret":"x","grant_type":"client_credentials"}`))
		wantError(t, res, http.StatusUnauthorized, "invalid_client")
		wantChallenge(t, res, "Basic")
	})
	t.Run("JSON off", func(t *testing.T) {
		e := newEndpointEnv(t)
		res := e.do(post("/token", "application/json", `{"client_id":"cp","client_secret":"cp-secret","grant_type":"client_credentials"}`))
		wantError(t, res, http.StatusBadRequest, "invalid_request")
	})
}

// Seed 003: form or Basic, compound scopes: held target-entity scopes
// combine per (entity, permission), a held "*" covers any value, a
// requested "*" only a held "*", and the echo is canonical.
func TestSeed003_CompoundScopes(t *testing.T) {
	e := newEndpointEnv(t)
	auth := []string{"Authorization", basicAuth("c003", "c003-secret")}
	for _, tc := range []struct{ req, granted string }{
		{"target-entity:E1:a,b", "target-entity:E1:a,b"},
		{"target-entity:E1:b,a", "target-entity:E1:a,b"},
		{"target-entity:E2:read", "target-entity:E2:read"},
		{"target-entity:*:read", "target-entity:*:read"},
		{"target-entity:E1:a target-entity:E9:read", "target-entity:E1:a target-entity:E9:read"},
	} {
		t.Run(tc.req, func(t *testing.T) {
			got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&scope="+url.QueryEscape(tc.req), auth...)))
			if got.body["scope"] != tc.granted || got.claims.Scope.String() != tc.granted {
				t.Errorf("granted %v (claim %q), want %s", got.body["scope"], got.claims.Scope, tc.granted)
			}
			if n, _ := got.body["expires_in"].(json.Number).Int64(); n != 3599 {
				t.Errorf("expires_in %d", n)
			}
		})
	}
	for _, req := range []string{"target-entity:E2:write", "target-entity:E1:*", "target-entity:*:a", "target-entity:E1:a,c"} {
		t.Run(req, func(t *testing.T) {
			res := e.do(formPost("/token", "grant_type=client_credentials&scope="+url.QueryEscape(req), auth...))
			wantError(t, res, http.StatusBadRequest, "invalid_scope")
		})
	}
	// The same request with the credentials in the form.
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials&client_id=c003&client_secret=c003-secret&scope=target-entity%3AE1%3Aa")))
	if got.body["scope"] != "target-entity:E1:a" {
		t.Errorf("scope %v", got.body["scope"])
	}
}

// The ceiling hook narrows what a client holds to what its creator may
// still grant today.
func TestCeiling(t *testing.T) {
	var asked []Client
	e := newEndpointEnv(t, func(c *EndpointConfig) {
		c.Ceiling = func(_ context.Context, cl Client) (scope.Set, error) {
			asked = append(asked, cl)
			if cl.Owner == "alice" {
				return scope.MustParse("read"), nil // alice lost write
			}
			return scope.MustParse("read write introspect"), nil
		}
	})
	got := wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)))
	if got.body["scope"] != "read" {
		t.Errorf("granted %v, want read", got.body["scope"])
	}
	wantError(t, e.do(formPost("/token", "grant_type=client_credentials&scope=write", cbAuth...)), http.StatusBadRequest, "invalid_scope")
	got = wantToken(t, e, e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("cx", "cx-secret"))))
	if got.body["scope"] != "read write" {
		t.Errorf("cx granted %v", got.body["scope"])
	}
	if len(asked) != 3 || asked[0].ID != cbID || asked[0].Owner != "alice" {
		t.Errorf("ceiling asked about %+v", asked)
	}

	t.Run("nothing left", func(t *testing.T) {
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Ceiling = func(context.Context, Client) (scope.Set, error) { return scope.Set{}, nil }
		})
		wantError(t, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)), http.StatusBadRequest, "invalid_scope")
	})
	t.Run("failure", func(t *testing.T) {
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Ceiling = func(context.Context, Client) (scope.Set, error) { return scope.Set{}, errStoreDown }
		})
		wantError(t, e.do(formPost("/token", "grant_type=client_credentials", cbAuth...)), http.StatusServiceUnavailable, "temporarily_unavailable")
	})
}

// Events report issuance, failures and revocation with ids, never secrets;
// the default hook logs them with slog.
func TestEvents(t *testing.T) {
	e := newEndpointEnv(t)
	tok := e.ccToken(t, cbID, cbSecret, "read")
	e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth("cx", "wrong-secret")))
	e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(strings.Repeat("n", 100), "wrong-secret")))
	e.revoke(tok, cbAuth...)
	evs := e.events.all()
	if len(evs) != 4 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	issued, failed, long, revoked := evs[0], evs[1], evs[2], evs[3]
	if issued.Kind != TokenIssued || issued.ClientID != cbID || issued.TokenID == "" || issued.Method != ClientSecretBasic ||
		issued.Scope.String() != "read" || !issued.Time.Equal(t0) || issued.Endpoint != "token" {
		t.Errorf("issued: %+v", issued)
	}
	if failed.Kind != AuthFailed || failed.ClientID != "cx" || !errors.Is(failed.Err, ErrInvalidClient) || failed.TokenID != "" {
		t.Errorf("failed: %+v", failed)
	}
	if long.ClientID != eventID(strings.Repeat("n", 100)) || !strings.HasPrefix(long.ClientID, "sha256:") || len(long.ClientID) != 7+16 {
		t.Errorf("a long presented id is reported as %q, want its fingerprint", long.ClientID)
	}
	if revoked.Kind != TokenRevoked || revoked.TokenID != issued.TokenID || revoked.Endpoint != "revocation" {
		t.Errorf("revoked: %+v", revoked)
	}

	var buf bytes.Buffer
	log := LogEvents(slog.New(slog.NewJSONHandler(&buf, nil)))
	for _, ev := range evs {
		log(context.Background(), ev)
	}
	out := buf.String()
	for _, want := range []string{`"level":"INFO"`, `"level":"WARN"`, `"client_id":"c:b/1"`, `"jti":"` + issued.TokenID, "token revoked", "authentication failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "wrong-secret") || strings.Contains(out, cbSecret) {
		t.Errorf("log holds a secret:\n%s", out)
	}
}

// Malformed credentials that the parser refuses with 401 count against the
// remote address (the zero LimitKey); every attempt is reserved before its
// credentials are checked and settled after.
func TestParseFailuresCount(t *testing.T) {
	lim := &recordingLimiter{}
	e := newEndpointEnv(t, withUsers(t), func(c *EndpointConfig) { c.Limiter = lim })
	e.do(formPost("/token", "grant_type=client_credentials", "Authorization", "Basic !!!"))
	e.do(formPost("/token", "grant_type=client_credentials", "Authorization", basicAuth(cbID, "x")))
	e.do(formPost("/token", "grant_type=client_credentials", cbAuth...))
	e.do(formPost("/token", "grant_type=password&username=alice&password=x"))
	e.do(formPost("/token", "grant_type=password&username=alice&password=alice-pw"))
	e.clients.fail(errStoreDown)
	e.do(formPost("/token", "grant_type=client_credentials", cbAuth...))
	want := []LimitKey{{}, {LimitClient, cbID}, {LimitClient, cbID}, {LimitUser, "alice"}, {LimitUser, "alice"}, {LimitClient, cbID}}
	if !slices.Equal(lim.reserved, want) {
		t.Errorf("reserved %q, want %q", lim.reserved, want)
	}
	wantSettled := []string{"0: failed", "1:c:b/1 failed", "1:c:b/1 ok", "2:alice failed", "2:alice ok", "1:c:b/1 ok"}
	if !slices.Equal(lim.settled, wantSettled) {
		t.Errorf("settled %q, want %q", lim.settled, wantSettled)
	}
}

func TestNewEndpointChecksConfig(t *testing.T) {
	base := newEnv(t, token.EdDSA)
	good := EndpointConfig{Issuer: base.issuer, Verifier: base.verify, Clients: newFakeClients()}
	otherIss, err := token.NewVerifier(token.VerifierConfig{Issuer: "https://other.test", Audience: testAudience, Keys: base.keys, Algorithms: []token.Algorithm{token.EdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	otherAud, err := token.NewVerifier(token.VerifierConfig{Issuer: testIssuer, Audience: "https://other.test/", Keys: base.keys, Algorithms: []token.Algorithm{token.EdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*EndpointConfig){
		"no issuer":            func(c *EndpointConfig) { c.Issuer = nil },
		"no verifier":          func(c *EndpointConfig) { c.Verifier = nil },
		"no clients":           func(c *EndpointConfig) { c.Clients = nil },
		"verifier issuer":      func(c *EndpointConfig) { c.Verifier = otherIss },
		"verifier audience":    func(c *EndpointConfig) { c.Verifier = otherAud },
		"unknown method":       func(c *EndpointConfig) { c.Methods = 1 << 7 },
		"bearer without split": func(c *EndpointConfig) { c.Methods = BearerKey },
		"users without id":     func(c *EndpointConfig) { c.Users = newFakeUsers(t) },
		"password lifetime": func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.PasswordLifetime = newFakeUsers(t), "ts", 1500*time.Millisecond
		},
		"password checks": func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.MaxPasswordChecks = newFakeUsers(t), "ts", -1
		},
		"password waiting": func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.MaxPasswordWaiting = newFakeUsers(t), "ts", -1
		},
		"password wait": func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.PasswordWait = newFakeUsers(t), "ts", -time.Second
		},
		"two introspect scopes": func(c *EndpointConfig) { c.IntrospectScope = "a b" },
		"bad introspect scope":  func(c *EndpointConfig) { c.IntrospectScope = `a"` },
		"bad realm":             func(c *EndpointConfig) { c.Realm = `a"b` },
		"bad token URL":         func(c *EndpointConfig) { c.TokenURL = "/oauth/token" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			ep, err := NewEndpoint(cfg)
			if err == nil || ep != nil {
				t.Fatalf("NewEndpoint accepted it")
			}
			if !strings.HasPrefix(err.Error(), "keyturn: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	if _, err := NewEndpoint(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
}

func TestAuthMethodString(t *testing.T) {
	for m, want := range map[AuthMethod]string{
		ClientSecretBasic:   "client_secret_basic",
		StandardAuthMethods: "client_secret_basic|client_secret_post",
		AllAuthMethods:      "client_secret_basic|client_secret_post|client_secret_json|bearer_key|json_key",
		0:                   "",
		1 << 6:              "unknown",
	} {
		if got := m.String(); got != want {
			t.Errorf("%d: %q, want %q", m, got, want)
		}
	}
}

func TestRemoteHost(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:1234":             "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"[fe80::1%eth0]:80":          "fe80::/64",
		"pipe":                       "pipe",
		"":                           "",
	} {
		r := &http.Request{RemoteAddr: addr}
		if got := remoteHost(r); got != want {
			t.Errorf("%q: %q, want %q", addr, got, want)
		}
	}
}

func TestNewRateLimiterChecksConfig(t *testing.T) {
	for name, c := range map[string]RateLimiterConfig{
		"negative burst":       {ClientBurst: -1},
		"negative pair burst":  {ClientAddressBurst: -1},
		"negative refill":      {AddressRefill: -time.Second},
		"negative pair refill": {ClientAddressRefill: -time.Second},
		"too large burst":      {ClientBurst: 1 << 30},
		"negative entries":     {MaxEntries: -1},
		"negative wait":        {MaxWait: -time.Second},
	} {
		if _, err := NewRateLimiter(c); err == nil || !strings.HasPrefix(err.Error(), "keyturn: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// blockingUsers accepts everyone, holding each check until released, and
// counts the checks running at once.
type blockingUsers struct {
	release  chan struct{}
	mu       sync.Mutex
	inflight int
}

func (u *blockingUsers) AuthenticateUser(ctx context.Context, username, _ string) (User, error) {
	u.mu.Lock()
	u.inflight++
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.inflight--
		u.mu.Unlock()
	}()
	select {
	case <-u.release:
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	return User{Subject: username, Scope: scope.MustParse("read")}, nil
}

func (u *blockingUsers) running() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.inflight
}

// At most MaxPasswordChecks password checks run at once; the others wait
// their turn, or give up with 503 when their request ends.
func TestPasswordChecksBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := &blockingUsers{release: make(chan struct{})}
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.MaxPasswordChecks, c.Limiter = users, "tokenserver", 2, allowAll{}
		})
		const n = 5
		results := make(chan *result, n)
		for range n {
			go func() { results <- e.do(formPost("/token", "grant_type=password&username=u&password=p")) }()
		}
		synctest.Wait()
		if got := users.running(); got != 2 {
			t.Fatalf("%d checks running, want 2", got)
		}

		ctx, cancel := context.WithCancel(context.Background())
		r := formPost("/token", "grant_type=password&username=u&password=p").WithContext(ctx)
		late := make(chan *result, 1)
		go func() { late <- e.do(r) }()
		synctest.Wait()
		cancel()
		wantError(t, <-late, http.StatusServiceUnavailable, "temporarily_unavailable")

		for i := range n {
			users.release <- struct{}{}
			synctest.Wait()
			if got, want := users.running(), min(2, n-i-1); got != want {
				t.Fatalf("after %d releases %d checks running, want %d", i+1, got, want)
			}
		}
		for range n {
			// Concurrent requests: do's count of issued tokens is not
			// per request here, so check the answers themselves.
			res := <-results
			if res.Code != http.StatusOK || !bytes.Contains(res.Body, []byte(`"access_token"`)) {
				t.Errorf("status %d: %s", res.Code, res.Body)
			}
		}
		if got := e.events.count(TokenIssued); got != n {
			t.Errorf("%d tokens issued, want %d", got, n)
		}
	})
}

func TestEventIDNeverRepeatsSecrets(t *testing.T) {
	key := "ds_live_W7p6DXeF6zzybyBN_QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ"
	secret := key[len("ds_live_W7p6DXeF6zzybyBN_"):]
	for _, tt := range []struct {
		in   string
		kept bool
	}{
		{"W7p6DXeF6zzybyBN", true},
		{"c:b/1", true},
		{"ada", true},
		{strings.Repeat("x", 32), true},
		{strings.Repeat("x", 33), false},
		{key, false},
		{secret, false},
		{"two words", false},
		{"caf\u00e9", false},
		{"", true},
	} {
		got := eventID(tt.in)
		if tt.kept != (got == tt.in) {
			t.Errorf("eventID(%q) = %q, kept %v, want kept %v", tt.in, got, got == tt.in, tt.kept)
		}
		if !tt.kept && (strings.Contains(got, tt.in) || !strings.HasPrefix(got, "sha256:") || got != eventID(tt.in)) {
			t.Errorf("eventID(%q) = %q: not a stable fingerprint", tt.in, got)
		}
	}
	if strings.Contains(eventID(key), secret[:8]) || strings.Contains(eventID(secret), secret[:8]) {
		t.Error("a fingerprint holds part of the secret")
	}
}

// MaxPasswordWaiting requests wait for a turn, for PasswordWait at most;
// the others are answered 503 at once, reported with ErrBusy, and count
// as failures.
func TestPasswordQueueConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := newGatedUsers(t)
		lim := &recordingLimiter{}
		e := newEndpointEnv(t, func(c *EndpointConfig) {
			c.Users, c.PasswordClientID, c.Limiter = users, "tokenserver", lim
			c.MaxPasswordChecks, c.MaxPasswordWaiting, c.PasswordWait = 1, 2, 5*time.Second
		})
		login := func(name string) <-chan *result {
			return e.goDo(formPost("/token", "grant_type=password&password=pw&username="+name))
		}
		running := login("u0")
		synctest.Wait()
		waiting := []<-chan *result{login("u1"), login("u2")}
		synctest.Wait()
		refused := login("u3")
		synctest.Wait()
		got, _ := ready([]<-chan *result{refused})
		if len(got) != 1 {
			t.Fatal("the request beyond the queue was not answered at once")
		}
		wantStatus(t, got[0], http.StatusServiceUnavailable, "temporarily_unavailable")
		var busy int
		for _, ev := range e.events.all() {
			if ev.Kind == AuthFailed && errors.Is(ev.Err, ErrBusy) && ev.Subject == fingerprint("u3") {
				busy++
			}
		}
		if busy != 1 {
			t.Errorf("%d AuthFailed events with ErrBusy for u3, want 1", busy)
		}

		time.Sleep(5*time.Second - 1)
		synctest.Wait()
		if _, n := ready(waiting); n != 2 {
			t.Fatalf("%d of 2 still wait before PasswordWait", n)
		}
		time.Sleep(1)
		synctest.Wait()
		got, n := ready(waiting)
		if n != 0 {
			t.Fatal("still waiting after PasswordWait")
		}
		for _, res := range got {
			wantStatus(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
		}
		users.verdict <- nil
		if res := <-running; res.Code != http.StatusOK {
			t.Errorf("status %d: %s", res.Code, res.Body)
		}
		if users.count() != 1 {
			t.Errorf("%d passwords checked, want 1", users.count())
		}
		want := []string{"2:u0 ok", "2:u1 failed", "2:u2 failed", "2:u3 failed"}
		if slices.Sort(lim.settled); !slices.Equal(lim.settled, want) {
			t.Errorf("settled %q, want %q", lim.settled, want)
		}
	})
}

// panickyClients panics at every check.
type panickyClients struct{}

func (panickyClients) AuthenticateClient(context.Context, string, string) (Client, error) {
	panic("authenticator bug")
}

// An attempt is settled even when its authenticator panics (which
// net/http recovers from): as a failure, so that the reservation is not
// left behind and the panic cannot be used to try for free.
func TestSettledOnPanic(t *testing.T) {
	lim := &recordingLimiter{}
	e := newEndpointEnv(t, func(c *EndpointConfig) { c.Clients, c.Limiter = panickyClients{}, lim })
	func() {
		defer func() { recover() }()
		e.do(formPost("/token", "grant_type=client_credentials", cbAuth...))
	}()
	if want := []string{"1:c:b/1 failed"}; !slices.Equal(lim.settled, want) {
		t.Errorf("settled %q, want %q", lim.settled, want)
	}
}
