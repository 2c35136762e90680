package keyturn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/keys"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite token/testdata/golden/*.golden from the handler's answers")

// goldenCase is one token-endpoint exchange as a seed document's curl
// example shows it: the endpoint configured for that API, the request the
// example sends, and the values to normalise in the dump.
type goldenCase struct {
	name    string
	methods AuthMethod
	created bool
	users   bool
	// request builds the request from the key the case creates.
	request func(k keys.Key) *http.Request
	scope   string        // the key's scope
	life    time.Duration // the key's token lifetime
	want    map[string]any
}

// TestGolden runs one exchange per seed document (seeds 000–003 in
// ../shared/seeds) against the handler and compares a normalised dump of
// request and response with testdata/golden/<name>.golden. The access token
// (verified first) and secrets are replaced by placeholders; created_at by
// <iat> once checked against the token's iat. Run with -update-golden to
// rewrite the files after a deliberate change.
func TestGolden(t *testing.T) {
	const entity = "8ed17dce-9eca-4383-a9e1-54f82c362b6d"
	seed003Scope := "target-entity:" + entity + ":employees-read,performance-evaluations-read"
	cases := []goldenCase{
		{
			name: "seed000_bearer", methods: StandardAuthMethods | BearerKey | JSONKey,
			scope: "read:users read:participants", life: 900 * time.Second,
			request: func(k keys.Key) *http.Request {
				// curl https://api.diversitysync.com/oauth/token -H "Authorization: Bearer ds_live_…"
				r := httptest.NewRequest(http.MethodPost, "https://api.diversitysync.com/oauth/token", nil)
				r.Header.Set("Authorization", "Bearer "+k.String())
				return r
			},
			want: map[string]any{"token_type": "Bearer", "expires_in": 900.0, "scope": "read:participants read:users"},
		},
		{
			name: "seed000_json_key", methods: StandardAuthMethods | BearerKey | JSONKey,
			scope: "read:users read:participants", life: 900 * time.Second,
			request: func(k keys.Key) *http.Request {
				r := httptest.NewRequest(http.MethodPost, "https://api.diversitysync.com/oauth/token",
					strings.NewReader(`{"key": "`+k.String()+`"}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			want: map[string]any{"token_type": "Bearer", "expires_in": 900.0, "scope": "read:participants read:users"},
		},
		{
			name: "seed001_password", users: true,
			request: func(keys.Key) *http.Request {
				// POST /authorization with the form username=…&password=…
				r := httptest.NewRequest(http.MethodPost, "https://platform.example/authorization",
					strings.NewReader("username=alice&password=alice-pw"))
				r.Header.Set("Content-Type", formType)
				return r
			},
			want: map[string]any{"token_type": "Bearer", "expires_in": 900.0, "scope": "read write"},
		},
		{
			name: "seed002_json", methods: StandardAuthMethods | ClientSecretJSON, created: true,
			scope: "users:read users:write subscriptions:read", life: 7200 * time.Second,
			request: func(k keys.Key) *http.Request {
				body := fmt.Sprintf(`{
  "client_id": %q,
  "client_secret": %q,
  "grant_type": "client_credentials",
  "scope": "users:read users:write"
}`, k.ID(), k.ClientSecret())
				r := httptest.NewRequest(http.MethodPost, "http://localhost:3000/oauth/token", strings.NewReader(body))
				r.Header.Set("Accept", "application/json")
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			want: map[string]any{"token_type": "Bearer", "expires_in": 7200.0, "scope": "users:read users:write"},
		},
		{
			name: "seed003_form", scope: seed003Scope, life: 3599 * time.Second,
			request: func(k keys.Key) *http.Request {
				body := "grant_type=client_credentials&scope=" + url.QueryEscape(seed003Scope) +
					"&client_id=" + k.ID() + "&client_secret=" + k.ClientSecret()
				r := httptest.NewRequest(http.MethodPost, "https://api.cultureamp.com/v1/oauth2/token", strings.NewReader(body))
				r.Header.Set("Content-Type", formType)
				return r
			},
			want: map[string]any{"token_type": "Bearer", "expires_in": 3599.0, "scope": seed003Scope},
		},
		{
			name: "seed003_basic", scope: seed003Scope, life: 3599 * time.Second,
			request: func(k keys.Key) *http.Request {
				body := "grant_type=client_credentials&scope=" + url.QueryEscape(seed003Scope)
				r := httptest.NewRequest(http.MethodPost, "https://api.cultureamp.com/v1/oauth2/token", strings.NewReader(body))
				r.Header.Set("Content-Type", formType)
				r.Header.Set("Authorization", basicAuth(k.ID(), k.ClientSecret()))
				return r
			},
			want: map[string]any{"token_type": "Bearer", "expires_in": 3599.0, "scope": seed003Scope},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runGolden(t, tc) })
	}
}

func runGolden(t *testing.T, tc goldenCase) {
	configure := func(c *EndpointConfig) {
		c.Methods, c.CreatedAt, c.AllowPlainHTTP = tc.methods, tc.created, true
	}
	users := func(*EndpointConfig) {}
	if tc.users {
		users = withUsers(t)
	}
	k := newKeysEnv(t, configure, users)
	var key keys.Key
	if tc.scope != "" {
		key = k.create(t, tc.scope, tc.life)
	}
	req := tc.request(key)
	reqDump := dumpRequest(t, req)
	handler := k.ep.Token()
	if tc.users {
		handler = k.ep.PasswordToken()
	}
	w := httptest.NewRecorder()
	before := k.events.count(TokenIssued)
	handler.ServeHTTP(w, req)
	res := &result{Code: w.Code, Header: w.Header(), Body: w.Body.Bytes(), issued: k.events.count(TokenIssued) - before}
	got := wantToken(t, k.endpointEnv, res)
	for name, v := range tc.want {
		var x any
		if n, ok := got.body[name].(json.Number); ok {
			x, _ = n.Float64()
		} else {
			x = got.body[name]
		}
		if x != v {
			t.Errorf("%s = %v, want %v", name, got.body[name], v)
		}
	}
	if tc.scope != "" && (got.claims.ClientID != key.ID() || got.claims.Subject != key.ID()) {
		t.Errorf("claims %+v", got.claims)
	}

	// Normalise: the token, and created_at once checked.
	body := bytes.Replace(res.Body, []byte(got.token), []byte("<access_token>"), 1)
	if ca, ok := got.body["created_at"].(json.Number); ok {
		if ca.String() != fmt.Sprint(got.claims.IssuedAt.Unix()) {
			t.Errorf("created_at %s, iat %d", ca, got.claims.IssuedAt.Unix())
		}
		body = bytes.Replace(body, []byte(`"created_at":`+ca.String()), []byte(`"created_at":"<iat>"`), 1)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	out.WriteString(reqDump)
	fmt.Fprintf(&out, "\nHTTP/1.1 %d %s\n", res.Code, http.StatusText(res.Code))
	names := make([]string, 0, len(res.Header))
	for name := range res.Header {
		if name != "Content-Length" { // it varies with the token
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&out, "%s: %s\n", name, strings.Join(res.Header[name], ", "))
	}
	out.WriteString("\n" + pretty.String() + "\n")
	dump := out.String()
	if tc.scope != "" {
		dump = normaliseKey(dump, key)
	}

	path := filepath.Join("testdata", "golden", tc.name+".golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(dump), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-golden to create it)", err)
	}
	if string(want) != dump {
		t.Errorf("%s differs (run with -update-golden after a deliberate change)\n--- got\n%s\n--- want\n%s", path, dump, want)
	}
}

// dumpRequest writes the request line, the headers the example sends and
// the body. It leaves the request's body readable.
func dumpRequest(t *testing.T, r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\nHost: %s\n", r.Method, r.URL.RequestURI(), r.Host)
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "%s: %s\n", name, strings.Join(r.Header[name], ", "))
	}
	if r.Body != nil && r.Body != http.NoBody {
		body := new(bytes.Buffer)
		if _, err := body.ReadFrom(r.Body); err != nil {
			t.Fatal(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body.Bytes()))
		if body.Len() > 0 {
			b.WriteString("\n" + body.String() + "\n")
		}
	}
	return b.String()
}

// normaliseKey replaces every form of k's secret parts in s by
// placeholders: the whole key, the Basic credential, the id and secret.
func normaliseKey(s string, k keys.Key) string {
	basic := base64.StdEncoding.EncodeToString([]byte(k.ID() + ":" + k.ClientSecret()))
	return strings.NewReplacer(
		k.String(), "ds_live_<id>_<secret>",
		basic, "<base64(client_id:client_secret)>",
		k.ClientSecret(), "<client_secret>",
		k.ID(), "<client_id>",
	).Replace(s)
}
