package keyturn

// The key admin API over HTTP: its fine print, refusals included.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// adminServer serves a Server's OAuth endpoints and admin API through
// httptest over plain HTTP, and returns its URL and an admin key holding
// every scope the tests use.
func adminServer(t *testing.T) (string, string) {
	t.Helper()
	s := newServer(t, func(c *Config) {
		c.Issuer = "http://keyturn.test"
		c.AllowPlainHTTP = true
	})
	admin := s.rootKey(t, serverScopes+" read:users target-entity:*:*")
	hs := httptest.NewServer(s.mux)
	t.Cleanup(hs.Close)
	return hs.URL, admin.String()
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t *testing.T, method, url, bearerToken, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header, raw: string(b)}
	json.Unmarshal(b, &r.body)
	return r
}

// keyToken trades a whole key for a token with the given scope ("" for
// all).
func keyToken(t *testing.T, base, key, scope string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"key": key, "scope": scope})
	r := call(t, "POST", base+"/oauth/token", "", string(body))
	if r.status != 200 {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string)
}

func TestAdminCreate(t *testing.T) {
	base, admin := adminServer(t)
	all := keyToken(t, base, admin, "")
	narrow := keyToken(t, base, admin, "write:api_keys read:users target-entity:E1:a")
	readOnly := keyToken(t, base, admin, "read:api_keys")

	tests := []struct {
		name     string
		token    string
		body     string
		status   int
		error    string // error code, for refusals
		scope    string // echoed scope, for 201
		lifetime float64
	}{
		{"all fields", all, `{"name":"n","scope":"read:users","token_lifetime":3599}`, 201, "", "read:users", 3599},
		{"default lifetime", all, `{"name":"n","scope":"read:users"}`, 201, "", "read:users", 900},
		{"null lifetime is the default", all, `{"scope":"read:users","token_lifetime":null}`, 201, "", "read:users", 900},
		{"lifetime 60", all, `{"scope":"read:users","token_lifetime":60}`, 201, "", "read:users", 60},
		{"lifetime 86400", all, `{"scope":"read:users","token_lifetime":86400}`, 201, "", "read:users", 86400},
		{"no name", all, `{"scope":"read:users"}`, 201, "", "read:users", 900},
		{"canonical echo", all, `{"scope":"target-entity:E2:b target-entity:E2:a read:users"}`, 201, "", "read:users target-entity:E2:a,b", 900},
		{"within a narrow token", narrow, `{"scope":"target-entity:E1:a"}`, 201, "", "target-entity:E1:a", 900},

		{"scope missing", all, `{"name":"n"}`, 400, "invalid_request", "", 0},
		{"scope empty", all, `{"scope":""}`, 400, "invalid_request", "", 0},
		{"scope malformed", all, `{"scope":"read:users  read:participants"}`, 400, "invalid_request", "", 0},
		{"scope not a string", all, `{"scope":["read:users"]}`, 400, "invalid_request", "", 0},
		{"lifetime 59", all, `{"scope":"read:users","token_lifetime":59}`, 400, "invalid_request", "", 0},
		{"lifetime 86401", all, `{"scope":"read:users","token_lifetime":86401}`, 400, "invalid_request", "", 0},
		{"lifetime 0", all, `{"scope":"read:users","token_lifetime":0}`, 400, "invalid_request", "", 0},
		{"lifetime negative", all, `{"scope":"read:users","token_lifetime":-900}`, 400, "invalid_request", "", 0},
		{"lifetime fractional", all, `{"scope":"read:users","token_lifetime":900.5}`, 400, "invalid_request", "", 0},
		{"lifetime a string", all, `{"scope":"read:users","token_lifetime":"900"}`, 400, "invalid_request", "", 0},
		{"name too long", all, `{"name":"` + strings.Repeat("n", 201) + `","scope":"read:users"}`, 400, "invalid_request", "", 0},
		{"unknown field", all, `{"scope":"read:users","expires_at":1}`, 400, "invalid_request", "", 0},
		{"two objects", all, `{"scope":"read:users"}{}`, 400, "invalid_request", "", 0},
		{"not JSON", all, `scope=read:users`, 400, "invalid_request", "", 0},

		{"beyond the caller's scope", narrow, `{"scope":"read:participants"}`, 403, "insufficient_scope", "", 0},
		{"another entity than the caller's", narrow, `{"scope":"target-entity:E2:a"}`, 403, "insufficient_scope", "", 0},
		{"a wildcard the caller lacks", narrow, `{"scope":"target-entity:*:a"}`, 403, "insufficient_scope", "", 0},
		{"no write:api_keys", readOnly, `{"scope":"read:api_keys"}`, 403, "insufficient_scope", "", 0},
		{"no token", "", `{"scope":"read:users"}`, 401, "", "", 0},
		{"a key instead of a token", admin, `{"scope":"read:users"}`, 401, "invalid_token", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			begin := time.Now().Unix()
			r := call(t, "POST", base+"/v1/api_keys", tt.token, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if r.status != 201 {
				if tt.error != "" && r.body["error"] != tt.error {
					t.Errorf("error %v, want %s", r.body["error"], tt.error)
				}
				if r.status == 401 || r.status == 403 {
					ch := r.header.Get("WWW-Authenticate")
					if !strings.HasPrefix(ch, "Bearer ") || tt.error != "" && !strings.Contains(ch, `error="`+tt.error+`"`) {
						t.Errorf("WWW-Authenticate %q", ch)
					}
				}
				return
			}
			b := r.body
			id, _ := b["id"].(string)
			secret, _ := b["client_secret"].(string)
			if id == "" || b["client_id"] != id || b["key"] != "ds_live_"+id+"_"+secret {
				t.Errorf("id, client_id, client_secret and key disagree: %s", r.raw)
			}
			if b["scope"] != tt.scope || b["token_lifetime"] != tt.lifetime {
				t.Errorf("scope %v, lifetime %v; want %q, %v", b["scope"], b["token_lifetime"], tt.scope, tt.lifetime)
			}
			if c, _ := b["created_at"].(float64); int64(c) < begin || int64(c) > time.Now().Unix() {
				t.Errorf("created_at %v is not now in unix seconds", b["created_at"])
			}
			if _, ok := b["revoked_at"]; ok {
				t.Error("a new key shows revoked_at")
			}
			if got := keyToken(t, base, b["key"].(string), ""); got == "" {
				t.Error("the new key mints nothing")
			}
		})
	}
}

func TestAdminListAndRevoke(t *testing.T) {
	base, admin := adminServer(t)
	all := keyToken(t, base, admin, "")
	created := call(t, "POST", base+"/v1/api_keys", all, `{"name":"k","scope":"read:users"}`)
	if created.status != 201 {
		t.Fatal(created.raw)
	}
	id, key := created.body["id"].(string), created.body["key"].(string)
	secret := created.body["client_secret"].(string)
	keyToken := keyToken(t, base, key, "")

	list := func() map[string]map[string]any {
		t.Helper()
		r := call(t, "GET", base+"/v1/api_keys", all, "")
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		if strings.Contains(r.raw, secret) {
			t.Error("the list shows a secret")
		}
		byID := map[string]map[string]any{}
		for _, k := range r.body["api_keys"].([]any) {
			k := k.(map[string]any)
			for f := range k {
				if !slices.Contains([]string{"id", "name", "scope", "token_lifetime", "created_at", "revoked_at"}, f) {
					t.Errorf("listed key has field %q", f)
				}
			}
			byID[k["id"].(string)] = k
		}
		return byID
	}
	if got := list(); len(got) != 2 || got[id]["scope"] != "read:users" || got[id]["name"] != "k" {
		t.Fatalf("list before revocation: %v", got)
	}
	if r := call(t, "GET", base+"/v1/api_keys", keyToken, ""); r.status != 403 {
		t.Errorf("list without read:api_keys: %d", r.status)
	}

	for _, step := range []struct {
		name   string
		id     string
		status int
	}{
		{"revoke", id, 204},
		{"revoke again", id, 204},
		{"unknown id", "AAAAAAAAAAAAAAAA", 404},
		{"malformed id", "not-an-id", 404},
		{"over-long id", strings.Repeat("a", 2000), 404},
	} {
		t.Run(step.name, func(t *testing.T) {
			if r := call(t, "DELETE", base+"/v1/api_keys/"+step.id, all, ""); r.status != step.status {
				t.Errorf("status %d, want %d: %s", r.status, step.status, r.raw)
			}
		})
	}
	got := list()
	if rev, ok := got[id]["revoked_at"].(float64); !ok || rev < got[id]["created_at"].(float64) {
		t.Errorf("revoked key listed as %v", got[id])
	}
	if _, ok := got[strings.Split(admin, "_")[2]]["revoked_at"]; ok {
		t.Error("the admin key shows revoked_at")
	}
	// Revocation is immediate: the key's token and the key itself stop.
	if r := call(t, "GET", base+"/v1/staff", keyToken, ""); r.status != 401 {
		t.Errorf("token of a revoked key: %d", r.status)
	}
	if r := call(t, "POST", base+"/oauth/token", key, ""); r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("revoked key exchanged: %d %s", r.status, r.raw)
	}
	if r := call(t, "DELETE", base+"/v1/api_keys/"+id, keyToken, ""); r.status != 401 {
		t.Errorf("delete with a revoked token: %d", r.status)
	}
}
