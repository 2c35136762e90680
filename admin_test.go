package keyturn

// The key admin API over HTTP: its fine print, refusals included.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/keys"
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
				if !slices.Contains([]string{"id", "name", "scope", "token_lifetime", "created_at", "owner",
					"expires_at", "revoked_at", "last_used_at"}, f) {
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

// token trades k for an access token with the given scope ("" for all).
func (s *server) token(t *testing.T, k keys.Key, scopeParam string) string {
	t.Helper()
	status, body := s.exchange(t, k, scopeParam)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// userToken trades a user's name and password for a token with the given
// scope ("" for all the user may do).
func (s *server) userToken(t *testing.T, user, scopeParam string) string {
	t.Helper()
	form := url.Values{"username": {user}, "password": {reverse(user)}}
	if scopeParam != "" {
		form.Set("scope", scopeParam)
	}
	r := httptest.NewRequest("POST", "/authorization", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body := decode(t, s.do(r))
	if status != http.StatusOK {
		t.Fatalf("password grant for %s: %d %v", user, status, body)
	}
	return body["access_token"].(string)
}

// revokeKey sends DELETE /v1/api_keys/{id}{query} with tok.
func (s *server) revokeKey(tok, id, query string) *http.Response {
	r := httptest.NewRequest("DELETE", "/v1/api_keys/"+id+query, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return s.do(r)
}

// postKey sends POST /v1/api_keys with tok and a JSON body.
func (s *server) postKey(tok, body string) *http.Response {
	r := httptest.NewRequest("POST", "/v1/api_keys", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	return s.do(r)
}

// valid reports whether k still exchanges.
func (s *server) valid(t *testing.T, k keys.Key) bool {
	t.Helper()
	status, _ := s.exchange(t, k, "")
	return status == http.StatusOK
}

// Issue 11, finding 4: any write:api_keys holder could revoke any key, the
// bootstrap key included. Only the key's owner, or a caller whose token
// scope covers the key's scope, may; anyone else gets 403
// insufficient_scope and the key stays valid.
func TestAdminRevokeNeedsOwnerOrCoveringScope(t *testing.T) {
	s := newServer(t)
	s.users.set("alice", "write:api_keys read:users")
	s.users.set("bob", "write:api_keys read:participants")
	root := s.rootKey(t, serverScopes)
	rootTok := s.token(t, root, "")
	otherAdminTok := s.token(t, s.rootKey(t, serverScopes), "")
	writer := s.createKey(t, rootTok, "write:api_keys read:users")
	writerTok := s.token(t, writer, "")
	writerNarrow := s.token(t, writer, "write:api_keys")
	aliceTok := s.userToken(t, "alice", "")
	aliceNarrow := s.userToken(t, "alice", "write:api_keys")
	bobTok := s.userToken(t, "bob", "")

	tests := []struct {
		name   string
		target func() keys.Key
		caller string
		status int
	}{
		{"owner, with a token narrower than the key", func() keys.Key { return s.createKey(t, writerTok, "read:users") }, writerNarrow, 204},
		{"covering scope, not the owner", func() keys.Key { return s.createKey(t, rootTok, "read:users") }, writerTok, 204},
		{"another admin", func() keys.Key { return s.createKey(t, rootTok, "write:api_keys read:participants") }, otherAdminTok, 204},
		{"user owner, narrowed token", func() keys.Key { return s.createKey(t, aliceTok, "read:users") }, aliceNarrow, 204},
		{"the key's own token", func() keys.Key { return s.createKey(t, rootTok, "write:api_keys read:users") }, "", 204},

		{"neither owner nor covering", func() keys.Key { return s.createKey(t, rootTok, "read:participants") }, writerTok, 403},
		{"covering part of the scope", func() keys.Key { return s.createKey(t, rootTok, "read:users read:participants") }, writerTok, 403},
		{"the bootstrap key", func() keys.Key { return s.rootKey(t, serverScopes) }, writerTok, 403},
		{"the caller's own creator", func() keys.Key { return root }, writerTok, 403},
		{"another user's key", func() keys.Key { return s.createKey(t, aliceTok, "read:users") }, bobTok, 403},
		{"a user's key, by a key of the same scope", func() keys.Key { return s.createKey(t, aliceTok, "read:users") }, s.token(t, writer, "write:api_keys"), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.target()
			caller := tt.caller
			if caller == "" {
				caller = s.token(t, k, "")
			}
			res := s.revokeKey(caller, k.ID(), "")
			ch := res.Header.Get("WWW-Authenticate")
			status, body := decode(t, res)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if tt.status == 204 {
				if s.valid(t, k) {
					t.Error("a revoked key still exchanges")
				}
				return
			}
			if body["error"] != "insufficient_scope" || !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="insufficient_scope"`) {
				t.Errorf("refusal: %v, WWW-Authenticate %q", body, ch)
			}
			if !s.valid(t, k) {
				t.Error("a refused revocation revoked the key")
			}
			if rec, err := s.Keys().Get(context.Background(), k.ID()); err != nil || !rec.RevokedAt.IsZero() {
				t.Errorf("after a refusal: %v, %v", rec.RevokedAt, err)
			}
		})
	}
}

// Issue 11, finding 4: ?cascade=true revokes the key and every key it
// created, transitively, so that the keys made with a stolen admin key can
// be cleaned up; only the target's authorization is checked.
func TestAdminRevokeCascade(t *testing.T) {
	var logs bytes.Buffer
	s := newServer(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	root := s.rootKey(t, serverScopes)
	rootTok := s.token(t, root, "")
	const rw = "write:api_keys read:users"
	g1 := s.createKey(t, rootTok, rw)
	g1Tok := s.token(t, g1, "")
	g2 := s.createKey(t, g1Tok, rw)
	g2Tok := s.token(t, g2, "")
	g3 := s.createKey(t, g2Tok, "read:users")
	g3Tok := s.token(t, g3, "")
	g2b := s.createKey(t, g1Tok, "read:users") // a second child of g1
	g2bTok := s.token(t, g2b, "")
	sibling := s.createKey(t, rootTok, rw) // made by root, not by the chain
	siblingTok := s.token(t, sibling, "")
	nephew := s.createKey(t, siblingTok, "read:users")
	nephewTok := s.token(t, nephew, "")
	outsider := s.token(t, s.createKey(t, rootTok, "write:api_keys"), "")

	chain := []keys.Key{g1, g2, g3, g2b}
	chainToks := []string{g1Tok, g2Tok, g3Tok, g2bTok}
	kept := []keys.Key{root, sibling, nephew}
	keptToks := []string{rootTok, siblingTok, nephewTok}
	for _, tok := range append(chainToks, keptToks...) {
		if got := s.staff(tok); got != http.StatusOK { // and now the verifier caches it
			t.Fatalf("before: %d", got)
		}
	}

	for _, q := range []string{"?cascade=1", "?cascade=yes", "?cascade=TRUE", "?cascade=", "?cascade",
		"?cascade=true&cascade=true", "?cascade=false&cascade=true", "?cascade=true%00"} {
		res := s.revokeKey(rootTok, g1.ID(), q)
		if status, body := decode(t, res); status != 400 || body["error"] != "invalid_request" {
			t.Fatalf("%s: %d %v, want 400 invalid_request", q, status, body)
		}
	}
	if res := s.revokeKey(outsider, g1.ID(), "?cascade=true"); res.StatusCode != 403 {
		t.Fatalf("cascade by a caller who may not revoke the target: %d", res.StatusCode)
	}
	for i, k := range chain {
		if !s.valid(t, k) {
			t.Fatalf("generation %d revoked by a refused request", i)
		}
	}

	// The owner of g1, with a token that covers none of the chain's scope.
	ownerNarrow := s.token(t, root, "write:api_keys")
	if res := s.revokeKey(ownerNarrow, g1.ID(), "?cascade=true"); res.StatusCode != 204 {
		_, body := decode(t, res)
		t.Fatalf("cascade: %d %v", res.StatusCode, body)
	}
	for i, k := range chain {
		if s.valid(t, k) {
			t.Errorf("key %d of the chain still exchanges", i)
		}
		if got := s.staff(chainToks[i]); got != http.StatusUnauthorized {
			t.Errorf("token of key %d of the chain: %d, want 401", i, got)
		}
	}
	for i, k := range kept {
		if !s.valid(t, k) || s.staff(keptToks[i]) != http.StatusOK {
			t.Errorf("key %d outside the chain was revoked", i)
		}
	}
	if res := s.revokeKey(ownerNarrow, g1.ID(), "?cascade=true"); res.StatusCode != 204 {
		t.Errorf("cascade again: %d", res.StatusCode)
	}

	// One audit line per revoked key, naming the acting client; no secret.
	out := logs.String()
	for i, k := range chain {
		if !regexp.MustCompile(`api key revoked.* id=` + k.ID() + ` .*by=` + root.ID()).MatchString(out) {
			t.Errorf("no audit line for key %d of the chain", i)
		}
	}
	for _, k := range append(chain, kept...) {
		if strings.Contains(out, k.ClientSecret()) {
			t.Fatal("a secret in the logs")
		}
	}

	// cascade=false revokes only the key.
	parent := s.createKey(t, rootTok, rw)
	child := s.createKey(t, s.token(t, parent, ""), "read:users")
	if res := s.revokeKey(rootTok, parent.ID(), "?cascade=false"); res.StatusCode != 204 {
		t.Fatalf("cascade=false: %d", res.StatusCode)
	}
	if s.valid(t, parent) || !s.valid(t, child) {
		t.Error("cascade=false: want the key revoked and its child valid")
	}
}

// Issue 11, finding 8: the admin API accepted duplicate JSON members (last
// wins) and other bodies the token endpoint refuses. It reads its body as
// strictly: one object, no duplicates (also when escaped), no unknown
// members, no trailing data, UTF-8 without lone surrogates.
func TestAdminRefusesDuplicateMembers(t *testing.T) {
	s := newServer(t)
	tok := s.token(t, s.rootKey(t, serverScopes), "")
	for _, body := range []string{
		`{"scope":"read:users","scope":"write:api_keys"}`,
		`{"scope":"read:users","sc\u006fpe":"write:api_keys"}`,
		`{"\u0073cope":"read:users","scope":"read:users"}`,
		`{"name":"a","name":"b","scope":"read:users"}`,
		`{"scope":"read:users","token_lifetime":900,"token_lifetime":60}`,
		`{"scope":"read:users","token_lifetime":null,"token_lifetime":60}`,
		`{"scope":"read:users","unknown":1}`,
		`{"scope":"read:users"} x`,
		`{"scope":"read:users"}{}`,
		`{"scope":"read:users"`,
		`["scope","read:users"]`,
		`"scope"`,
		`null`,
		``,
		`{"scope":"read:users","name":"\ud800"}`,
		"{\"scope\":\"read:users\",\"name\":\"\xff\"}",
		"\ufeff{\"scope\":\"read:users\"}",
		`{"scope":"read:users","token_lifetime":9e2}`,
		`{"scope":"read:users","token_lifetime":900.0}`,
		`{"scope":"read:users","token_lifetime":true}`,
		`{"scope":"read:users","token_lifetime":99999999999999999999}`,
		`{"scope":"read:users","name":1}`,
	} {
		res := s.postKey(tok, body)
		if status, reply := decode(t, res); status != 400 || reply["error"] != "invalid_request" {
			t.Errorf("%s: %d %v, want 400 invalid_request", body, status, reply)
		}
	}
	if ks, _ := s.Keys().List(context.Background(), "", 0); len(ks) != 1 {
		t.Errorf("%d keys stored, want only the admin key", len(ks))
	}
}

// Issue 11, finding 8: names with NUL and ANSI escape characters were
// stored and echoed. Control characters (C0, DEL, C1), line separators and
// bidi embedding, override and isolate controls are refused; other text,
// right-to-left scripts and joiners included, is kept as given.
func TestAdminRefusesControlCharactersInNames(t *testing.T) {
	s := newServer(t)
	tok := s.token(t, s.rootKey(t, serverScopes), "")
	for _, tt := range []struct {
		name   string // JSON string content
		status int
	}{
		{`nul\u0000byte`, 400},
		{`\u001b[31mred\u001b[0m`, 400},
		{`tab\t`, 400},
		{`line\nbreak`, 400},
		{`del\u007f`, 400},
		{`c1\u0085`, 400},
		{`csi\u009b31m`, 400},
		{`line\u2028sep`, 400},
		{`rlo\u202eexe.txt`, 400},
		{`lre\u202a`, 400},
		{`fsi\u2068`, 400},
		{`pdi\u2069`, 400},

		{`Zoë's key`, 201},
		{`日本語`, 201},
		{`👩\u200d💻 dev`, 201},
		{`שלום\u200f key`, 201},
		{``, 201},
	} {
		res := s.postKey(tok, `{"name":"`+tt.name+`","scope":"read:users"}`)
		status, body := decode(t, res)
		if status != tt.status {
			t.Errorf("name %s: %d %v, want %d", tt.name, status, body, tt.status)
			continue
		}
		if status == 400 && body["error"] != "invalid_request" {
			t.Errorf("name %s: error %v", tt.name, body["error"])
		}
		if status == 201 {
			var want string
			json.Unmarshal([]byte(`"`+tt.name+`"`), &want)
			if body["name"] != want {
				t.Errorf("name echoed as %q, want %q", body["name"], want)
			}
		}
	}
}
