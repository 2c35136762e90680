package keyturn

// Regression tests for findings of the adversarial review of the token
// server that are not throttling (bruteforce_test.go) or the admin API
// (admin_test.go). Each failed before its fix.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/token"
)

// stallClients runs after before each successful authentication, as a
// slow process would between checking a key and minting its token.
type stallClients struct {
	next  ClientAuthenticator
	after func()
}

func (s stallClients) AuthenticateClient(ctx context.Context, id, secret string) (Client, error) {
	c, err := s.next.AuthenticateClient(ctx, id, secret)
	if err == nil && s.after != nil {
		s.after()
	}
	return c, err
}

// Finding 5: a key revoked between its authentication and the minting of
// its token yielded a token that stayed valid, since iat (whole seconds)
// then fell after the revocation.
func TestFinding5_RevocationBetweenCheckAndMint(t *testing.T) {
	var stall func()
	k := newKeysEnv(t, func(c *EndpointConfig) {
		c.Clients = stallClients{next: c.Clients, after: func() { stall() }}
	})
	key := k.create(t, "read:users", 0)
	k.clock.Add(400 * time.Millisecond) // t0 + 0.4 s: the check
	stall = func() {
		if err := k.mgr.Revoke(context.Background(), key.ID()); err != nil { // revoked at t0 + 0.4 s
			t.Error(err)
		}
		k.clock.Add(1500 * time.Millisecond) // minting at t0 + 1.9 s, in the next second
	}
	res := k.do(formPost("/oauth/token", "grant_type=client_credentials", "Authorization", basicAuth(key.ID(), key.ClientSecret())))
	// In this process the revocation is seen at once: no token at all.
	wantError(t, res, http.StatusUnauthorized, "invalid_client")

	// Another process sees the revocation only later, and hands the token
	// out; the revocation must still cover it once seen. Here: a second
	// exchange whose check precedes a revocation the endpoint cannot see
	// yet (the revocation view is the verifier's, refreshed later).
	key2 := k.create(t, "read:users", 0)
	k.clock.Add(400 * time.Millisecond)
	var revokedAt time.Time
	stall = func() {
		revokedAt = k.clock.Now() // stored by "another process" only
		k.clock.Add(1500 * time.Millisecond)
	}
	res = k.do(formPost("/oauth/token", "grant_type=client_credentials", "Authorization", basicAuth(key2.ID(), key2.ClientSecret())))
	got := wantToken(t, k.endpointEnv, res)
	if err := k.revs.RevokeClient(context.Background(), key2.ID(), revokedAt); err != nil { // now seen here
		t.Fatal(err)
	}
	if _, err := k.verify.Verify(context.Background(), got.token); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("the token minted after the revocation verifies: %v (iat %v, revoked at %v)", err, got.claims.IssuedAt, revokedAt)
	}
}

// Finding 10: the default event logger wrote a failed login's username as
// given when it was short and printable, so a password typed into the
// username field reached the logs.
func TestFinding10_FailedUsernameIsFingerprinted(t *testing.T) {
	var buf bytes.Buffer
	e := newEndpointEnv(t, withUsers(t), func(c *EndpointConfig) {
		c.Events = LogEvents(slog.New(slog.NewTextHandler(&buf, nil)))
	})
	for _, name := range []string{"hunter2", "alice"} { // a password, and a user with a wrong password
		res := e.do(formPost("/token", "grant_type=password&username="+name+"&password=wrong"))
		if res.Code != http.StatusBadRequest {
			t.Fatalf("%s: status %d", name, res.Code)
		}
		if strings.Contains(buf.String(), name) {
			t.Errorf("the log holds the username %q: %s", name, buf.String())
		}
		if !strings.Contains(buf.String(), fingerprint(name)) {
			t.Errorf("the log lacks the fingerprint of %q: %s", name, buf.String())
		}
	}
}

// Finding 11: a bad Bearer key at the token endpoint was answered with a
// body saying invalid_client and a challenge saying invalid_token. The
// challenge now carries the body's error, at every endpoint.
func TestFinding11_ChallengeAgreesWithBody(t *testing.T) {
	k := newKeysEnv(t)
	key := k.create(t, "read:users", 0)
	bad := "Bearer " + key.String()[:len(key.String())-1] + "x"
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke"} {
		for _, auth := range []string{bad, "Bearer a b"} {
			res := k.do(formPost(path, "grant_type=client_credentials&token=x", "Authorization", auth))
			if res.Code != http.StatusUnauthorized {
				t.Errorf("%s with %q: status %d", path, auth, res.Code)
				continue
			}
			body := decodeObject(t, res.Body)
			ch := res.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="`+body["error"].(string)+`"`) {
				t.Errorf("%s with %q: body error %v, challenge %q", path, auth, body["error"], ch)
			}
			if want := "invalid_client"; path == "/oauth/token" && body["error"] != want {
				t.Errorf("%s: body error %v, want %s", path, body["error"], want)
			}
		}
	}
}
