package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzExtract drives bearer-token extraction and the refusal writer with
// arbitrary headers, queries and bodies. Properties: no panic; the status is
// one the middleware documents; every refusal carries a Bearer challenge
// whose attributes are well formed; a refusal never echoes the token; and
// keyturn's token.Verifier (asked before the syntax check, see authenticate)
// gets the same answer as a verifier asked after it, except that it refuses
// the fake's one good token.
func FuzzExtract(f *testing.F) {
	kv, _ := keyturnVerifier(f)
	f.Add("Bearer good", "", "GET", "", "", false, false)
	f.Add("bearer  good", "x=1", "GET", "", "", false, false)
	f.Add("Bearer a b", "", "GET", "", "", false, false)
	f.Add("Basic Zm9vOmJhcg==", "", "GET", "", "", false, false)
	f.Add("", "access_token=good", "GET", "", "", true, false)
	f.Add("Bearer good", "access_token=good", "GET", "", "", true, false)
	f.Add("", "", "POST", "application/x-www-form-urlencoded", "access_token=good&x=%zz", false, true)
	f.Add("Bearer tök", "", "GET", "", "", false, false)
	f.Add("Bearer good==", "access_token", "PUT", "application/x-www-form-urlencoded; charset=utf-8", "access_token=a&access_token=b", true, true)
	f.Fuzz(func(t *testing.T, auth, query, method, ctype, body string, allowQuery, allowForm bool) {
		if !validMethod(method) {
			method = "GET"
		}
		fv := newFake()
		fv.add("good", "read", time.Now().Add(time.Hour))
		m, err := New(Config{Verifier: fv, Realm: "r", AllowQueryToken: allowQuery, AllowFormToken: allowForm})
		if err != nil {
			t.Fatal(err)
		}
		mk, err := New(Config{Verifier: kv, Realm: "r", AllowQueryToken: allowQuery, AllowFormToken: allowForm})
		if err != nil {
			t.Fatal(err)
		}
		serve := func(m *Middleware) *httptest.ResponseRecorder {
			req := httptest.NewRequest(method, "/", strings.NewReader(body))
			req.URL.RawQuery = query
			for _, v := range strings.Split(auth, "\n") {
				if v != "" {
					req.Header.Add("Authorization", v)
				}
			}
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			rec := httptest.NewRecorder()
			m.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(rec, req)
			return rec
		}
		rec := serve(m)
		if krec := serve(mk); krec.Code != rec.Code && (rec.Code != 200 || krec.Code != 401) {
			t.Fatalf("status %d with the fake verifier, %d with keyturn's", rec.Code, krec.Code)
		}
		switch rec.Code {
		case 200:
			return
		case 400, 401, 413:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		ch := rec.Header().Get("WWW-Authenticate")
		if !strings.HasPrefix(ch, `Bearer realm="r"`) || strings.Count(ch, `"`)%2 != 0 || strings.Contains(ch, `\`) {
			t.Fatalf("malformed challenge %q", ch)
		}
		for _, secret := range candidates(auth, query, body) {
			if len(secret) < 8 || strings.Contains(fixedTexts, secret) {
				continue // too short to tell, or one of the middleware's own words
			}
			if strings.Contains(ch, secret) || strings.Contains(rec.Body.String(), secret) {
				t.Fatalf("refusal echoes the presented token")
			}
		}
	})
}

// fixedTexts holds every fixed text a refusal can carry.
const fixedTexts = `Bearer realm="r", error="invalid_request" error="invalid_token" error="insufficient_scope" scope="read"
error_description="a bearer token is required" "the access token is invalid" "the access token is too long"
"the request body is too large" "the token lacks the scope this resource needs" "more than one Authorization header"
"the access_token parameter is not a valid b64token" "the bearer token is empty or not a valid b64token"
"the form body is malformed" "the query string is malformed" "the request body could not be read"
"the token was sent by more than one method" "the access token expired" "the access token is not valid yet"
"the access token was revoked" {"error":"error_description":"scope":}`

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

// candidates returns the strings a client may have meant as its token.
func candidates(auth, query, body string) []string {
	var out []string
	for _, v := range strings.Split(auth, "\n") {
		if _, rest, ok := strings.Cut(v, " "); ok {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	for _, s := range []string{query, body} {
		if q, err := url.ParseQuery(s); err == nil {
			out = append(out, q["access_token"]...)
		}
	}
	return out
}
