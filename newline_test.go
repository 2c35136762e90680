package keyturn

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestJSONBodiesEndInNewline: every JSON body the server writes (token,
// error, introspection active and inactive, metadata, JWKS, admin API,
// middleware refusal) ends in a newline, so that a shell prompt does not
// land on it, and Content-Length, where set, counts it.
func TestJSONBodiesEndInNewline(t *testing.T) {
	s := newServer(t)
	k := s.rootKey(t, "read:users introspect write:api_keys read:api_keys")
	_, body := s.exchange(t, k, "")
	tok := body["access_token"].(string)

	form := func(path, data string, basic bool) *http.Request {
		r := httptest.NewRequest("POST", path, strings.NewReader(data))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			r.SetBasicAuth(k.ID(), k.ClientSecret())
		}
		return r
	}
	bearer := func(method, path string) *http.Request {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	for _, tt := range []struct {
		name string
		r    *http.Request
	}{
		{"token", form("/oauth/token", "grant_type=client_credentials", true)},
		{"token error", form("/oauth/token", "grant_type=client_credentials", false)},
		{"introspection", form("/oauth/introspect", "token="+url.QueryEscape(tok), true)},
		{"inactive introspection", form("/oauth/introspect", "token=nope", true)},
		{"metadata", httptest.NewRequest("GET", "/.well-known/oauth-authorization-server", nil)},
		{"jwks", httptest.NewRequest("GET", "/.well-known/jwks.json", nil)},
		{"admin list", bearer("GET", "/v1/api_keys")},
		{"refusal", httptest.NewRequest("GET", "/v1/staff", nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := s.do(tt.r)
			b, _ := io.ReadAll(res.Body)
			if !strings.HasSuffix(string(b), "}\n") || strings.HasSuffix(string(b), "\n\n") {
				t.Errorf("status %d, body %q: want it to end in one newline", res.StatusCode, b)
			}
			if cl := res.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(b)) {
				t.Errorf("Content-Length %s, body %d bytes", cl, len(b))
			}
		})
	}
}
