package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/token"
)

// fakeVerifier accepts the tokens in its map and refuses every other one with
// token.ErrInvalidSignature (or the error set for it).
type fakeVerifier struct {
	mu     sync.Mutex
	tokens map[string]*token.Claims
	errs   map[string]error
	calls  atomic.Int64
}

func newFake() *fakeVerifier {
	return &fakeVerifier{tokens: map[string]*token.Claims{}, errs: map[string]error{}}
}

func (f *fakeVerifier) add(tok, scopes string, exp time.Time) *token.Claims {
	c := &token.Claims{Subject: "k1", ClientID: "k1", ID: "jti-" + tok, Scope: scope.MustParse(scopes), ExpiresAt: exp}
	f.mu.Lock()
	f.tokens[tok] = c
	f.mu.Unlock()
	return c
}

func (f *fakeVerifier) Verify(_ context.Context, tok string) (*token.Claims, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err, ok := f.errs[tok]; ok {
		return nil, err
	}
	if c, ok := f.tokens[tok]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("fake: %w", token.ErrInvalidSignature)
}

var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// okHandler answers 200 with the subject of the claims in its context.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := token.FromContext(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "hello "+c.Subject)
})

func newMW(t *testing.T, cfg Config) *Middleware {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type answer struct {
	status    int
	challenge string // exact WWW-Authenticate, "" for none
}

func do(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func check(t *testing.T, rec *httptest.ResponseRecorder, want answer) {
	t.Helper()
	if rec.Code != want.status {
		t.Errorf("status = %d, want %d (body %q)", rec.Code, want.status, rec.Body.String())
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != want.challenge {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want.challenge)
	}
}

const (
	bare        = `Bearer realm="api"`
	badRequest  = `Bearer realm="api", error="invalid_request", error_description=`
	invalidTok  = `Bearer realm="api", error="invalid_token", error_description="the access token is invalid"`
	expiredTok  = `Bearer realm="api", error="invalid_token", error_description="the access token expired"`
	revokedTok  = `Bearer realm="api", error="invalid_token", error_description="the access token was revoked"`
	insuffPrefx = `Bearer realm="api", error="insufficient_scope", error_description="the token lacks the scope this resource needs", scope=`
)

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Verifier: newFake(), Realm: `a"b`},
		{Verifier: newFake(), Realm: "a\\b"},
		{Verifier: newFake(), Realm: "a\nb"},
		{Verifier: newFake(), MaxTokenLength: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestExtraction(t *testing.T) {
	f := newFake()
	f.add("good.tok-en_~+/=", "read", farFuture)
	m := newMW(t, Config{Verifier: f, Realm: "api"})
	h := m.Require("read")(okHandler)

	tests := []struct {
		name    string
		headers []string // Authorization values
		target  string
		want    answer
		prefix  bool // challenge is a prefix match
	}{
		{"RS01_bearer", []string{"Bearer good.tok-en_~+/="}, "/", answer{200, ""}, false},
		{"RS02_lowercase", []string{"bearer good.tok-en_~+/="}, "/", answer{200, ""}, false},
		{"RS02_uppercase", []string{"BEARER good.tok-en_~+/="}, "/", answer{200, ""}, false},
		{"RS02_two_spaces", []string{"Bearer  good.tok-en_~+/="}, "/", answer{200, ""}, false},
		{"RS03_none", nil, "/", answer{401, bare}, false},
		{"RS04_basic", []string{"Basic Zm9vOmJhcg=="}, "/", answer{401, bare}, false},
		{"RS04_other_scheme", []string{"Token abc"}, "/", answer{401, bare}, false},
		{"RS05_empty", []string{"Bearer"}, "/", answer{400, badRequest}, true},
		{"RS05_empty_space", []string{"Bearer "}, "/", answer{400, badRequest}, true},
		{"RS05_two_parts", []string{"Bearer a b"}, "/", answer{400, badRequest}, true},
		{"RS05_comma", []string{"Bearer tok,en"}, "/", answer{400, badRequest}, true},
		{"RS05_non_ascii", []string{"Bearer tök"}, "/", answer{400, badRequest}, true},
		{"RS05_padding_inside", []string{"Bearer a=b"}, "/", answer{400, badRequest}, true},
		{"RS06_header_and_query", []string{"Bearer good.tok-en_~+/="}, "/?access_token=good", answer{400, badRequest}, true},
		{"RS06_two_headers", []string{"Bearer good.tok-en_~+/=", "Bearer good.tok-en_~+/="}, "/", answer{400, badRequest}, true},
		{"RS07_query_only_is_no_credential", nil, "/?access_token=good.tok-en_~%2B/%3D", answer{401, bare}, false},
		{"unknown_token", []string{"Bearer other"}, "/", answer{401, invalidTok}, false},
		{"query_mentions_other_param", []string{"Bearer good.tok-en_~+/="}, "/?x=access_tokens", answer{200, ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.target, nil)
			for _, v := range tt.headers {
				req.Header.Add("Authorization", v)
			}
			rec := do(h, req)
			if tt.prefix {
				got := rec.Header().Get("WWW-Authenticate")
				if rec.Code != tt.want.status || !strings.HasPrefix(got, tt.want.challenge) {
					t.Errorf("got %d %q, want %d %q...", rec.Code, got, tt.want.status, tt.want.challenge)
				}
				return
			}
			check(t, rec, tt.want)
		})
	}
}

func TestRS07_QueryTokenWhenEnabled(t *testing.T) {
	f := newFake()
	f.add("qtok", "read", farFuture)
	m := newMW(t, Config{Verifier: f, Realm: "api", AllowQueryToken: true})
	h := m.Require("read")(okHandler)

	rec := do(h, httptest.NewRequest("GET", "/?access_token=qtok", nil))
	check(t, rec, answer{200, ""})
	if got := rec.Header().Get("Cache-Control"); got != "private" {
		t.Errorf("Cache-Control = %q, want private (RFC 6750 §2.3)", got)
	}
	rec = do(h, httptest.NewRequest("GET", "/?access_token=qtok&access_token=qtok", nil))
	if rec.Code != 400 {
		t.Errorf("repeated access_token: status %d, want 400", rec.Code)
	}
}

func TestRS08_FormToken(t *testing.T) {
	f := newFake()
	f.add("ftok", "read", farFuture)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := token.FromContext(r.Context()); !ok {
			t.Error("no claims in context")
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	form := func(method, ct, body string) *http.Request {
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		return req
	}
	t.Run("off_by_default", func(t *testing.T) {
		h := newMW(t, Config{Verifier: f, Realm: "api"}).Require("read")(echo)
		check(t, do(h, form("POST", "application/x-www-form-urlencoded", "access_token=ftok")), answer{401, bare})
	})
	on := newMW(t, Config{Verifier: f, Realm: "api", AllowFormToken: true}).Require("read")(echo)
	t.Run("post_form_accepted_and_body_kept", func(t *testing.T) {
		rec := do(on, form("POST", "application/x-www-form-urlencoded; charset=utf-8", "a=1&access_token=ftok"))
		check(t, rec, answer{200, ""})
		if rec.Body.String() != "a=1&access_token=ftok" {
			t.Errorf("handler saw body %q", rec.Body.String())
		}
	})
	t.Run("get_with_form_body_is_no_credential", func(t *testing.T) {
		check(t, do(on, form("GET", "application/x-www-form-urlencoded", "access_token=ftok")), answer{401, bare})
	})
	t.Run("json_body_is_no_credential", func(t *testing.T) {
		check(t, do(on, form("POST", "application/json", `{"access_token":"ftok"}`)), answer{401, bare})
	})
	t.Run("RS06_header_and_form", func(t *testing.T) {
		req := form("POST", "application/x-www-form-urlencoded", "access_token=ftok")
		req.Header.Set("Authorization", "Bearer ftok")
		if rec := do(on, req); rec.Code != 400 {
			t.Errorf("status %d, want 400", rec.Code)
		}
	})
	t.Run("oversized_body", func(t *testing.T) {
		rec := do(on, form("POST", "application/x-www-form-urlencoded", "access_token=ftok&x="+strings.Repeat("a", maxFormBody)))
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", rec.Code)
		}
	})
}

func TestVerificationFailures(t *testing.T) {
	f := newFake()
	f.errs["Zq1exp"] = fmt.Errorf("x: %w", token.ErrExpired)
	f.errs["Zq2rev"] = fmt.Errorf("x: %w", token.ErrRevoked)
	f.errs["Zq3sig"] = fmt.Errorf("x: %w", token.ErrInvalidSignature)
	m := newMW(t, Config{Verifier: f, Realm: "api"})
	h := m.Authenticate(okHandler)
	for tok, want := range map[string]string{"Zq1exp": expiredTok, "Zq2rev": revokedTok, "Zq3sig": invalidTok} {
		t.Run(tok, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := do(h, req)
			check(t, rec, answer{401, want})
			if strings.Contains(rec.Body.String(), tok) {
				t.Errorf("body echoes the token: %q", rec.Body.String())
			}
		})
	}
	t.Run("RS31_too_long", func(t *testing.T) {
		long := strings.Repeat("a", DefaultMaxTokenLength+1)
		f.add(long, "read", farFuture)
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+long)
		before := f.calls.Load()
		rec := do(h, req)
		if rec.Code != 401 || f.calls.Load() != before {
			t.Errorf("status %d, verifier calls %d; want 401 without verifying", rec.Code, f.calls.Load()-before)
		}
	})
}

func TestScopeRequirements(t *testing.T) {
	f := newFake()
	f.add("r", "read", farFuture)
	f.add("rw", "write read", farFuture)
	f.add("READ", "READ", farFuture)
	f.add("readonly", "readonly", farFuture)
	f.add("e1", "target-entity:E1:employees-read,perf-read", farFuture)
	f.add("star", "target-entity:*:employees-read", farFuture)
	m := newMW(t, Config{Verifier: f, Realm: "api"})

	mux := http.NewServeMux()
	mux.Handle("GET /r/read", m.Require("read")(okHandler))
	mux.Handle("GET /r/write", m.Require("write")(okHandler))
	mux.Handle("GET /r/both", m.Require("read write")(okHandler))
	mux.Handle("GET /r/any", m.RequireAny("write admin")(okHandler))
	mux.Handle("GET /entities/{id}/employees", m.RequireEntity("employees-read", func(r *http.Request) string { return r.PathValue("id") })(okHandler))

	tests := []struct {
		tok, path string
		want      answer
	}{
		{"r", "/r/read", answer{200, ""}},
		{"rw", "/r/read", answer{200, ""}}, // RS-25: order irrelevant
		{"rw", "/r/both", answer{200, ""}},
		{"r", "/r/write", answer{403, insuffPrefx + `"write"`}}, // RS-24
		{"r", "/r/both", answer{403, insuffPrefx + `"read write"`}},
		{"READ", "/r/read", answer{403, insuffPrefx + `"read"`}},     // RS-25: case-sensitive
		{"readonly", "/r/read", answer{403, insuffPrefx + `"read"`}}, // RS-25: exact token
		{"rw", "/r/any", answer{200, ""}},
		{"r", "/r/any", answer{403, insuffPrefx + `"admin write"`}},
		{"e1", "/entities/E1/employees", answer{200, ""}},
		{"e1", "/entities/E2/employees", answer{403, insuffPrefx + `"target-entity:E2:employees-read"`}},
		{"star", "/entities/E9/employees", answer{200, ""}},
		{"star", "/entities/*/employees", answer{403, insuffPrefx + `"target-entity:<entity>:employees-read"`}},
		{"e1", "/entities/E%22x/employees", answer{403, insuffPrefx + `"target-entity:<entity>:employees-read"`}},
		{"r", "/entities/E1/employees", answer{403, insuffPrefx + `"target-entity:E1:employees-read"`}},
	}
	for _, tt := range tests {
		t.Run(tt.tok+tt.path, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			req.Header.Set("Authorization", "Bearer "+tt.tok)
			rec := do(mux, req)
			check(t, rec, tt.want)
			if tt.want.status == 403 && !strings.Contains(rec.Body.String(), `"error":"insufficient_scope"`) {
				t.Errorf("body %q lacks the error", rec.Body.String())
			}
		})
	}
}

func TestRequirePanicsOnBadScope(t *testing.T) {
	m := newMW(t, Config{Verifier: newFake()})
	for name, f := range map[string]func(){
		"empty":        func() { m.Require("") },
		"malformed":    func() { m.Require(`a"b`) },
		"any_empty":    func() { m.RequireAny("") },
		"entity_perms": func() { m.RequireEntity("a,,b", func(*http.Request) string { return "x" }) },
		"entity_func":  func() { m.RequireEntity("a", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

func TestRequestNotMutated(t *testing.T) {
	f := newFake()
	f.add("tok", "read", farFuture)
	m := newMW(t, Config{Verifier: f})
	var inner *http.Request
	h := m.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner = r }))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer tok")
	ctx := req.Context()
	h.ServeHTTP(httptest.NewRecorder(), req)
	if inner == req || req.Context() != ctx {
		t.Error("the incoming request was modified or passed on as is")
	}
	if _, ok := token.FromContext(req.Context()); ok {
		t.Error("the caller's request gained claims")
	}
}

func TestNestedGuardsVerifyOnce(t *testing.T) {
	f := newFake()
	f.add("tok", "read write", farFuture)
	m := newMW(t, Config{Verifier: f})
	h := m.Authenticate(m.Require("read")(m.Require("write")(okHandler)))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer tok")
	if rec := do(h, req); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("verifier called %d times, want 1", n)
	}
}

// TestWriteErrorIsTheDefault checks that a hook delegating to WriteError
// answers exactly as the middleware does without a hook.
func TestWriteErrorIsTheDefault(t *testing.T) {
	f := newFake()
	f.add("r", "read", farFuture)
	plain := newMW(t, Config{Verifier: f, Realm: "api"})
	hooked := newMW(t, Config{Verifier: f, Realm: "api", ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *Error) {
		WriteError(w, e, "api")
	}})
	for _, auth := range []string{"", "Bearer nope", "Bearer a b", "Bearer r"} {
		var got [2]*httptest.ResponseRecorder
		for i, m := range []*Middleware{plain, hooked} {
			req := httptest.NewRequest("GET", "/", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			got[i] = do(m.Require("write")(okHandler), req)
		}
		if got[0].Code != got[1].Code || got[0].Body.String() != got[1].Body.String() ||
			!reflect.DeepEqual(got[0].Header(), got[1].Header()) {
			t.Errorf("%q: default %d %v %q, hook %d %v %q", auth, got[0].Code, got[0].Header(), got[0].Body,
				got[1].Code, got[1].Header(), got[1].Body)
		}
	}
}

func TestErrorHandlerHook(t *testing.T) {
	var got *Error
	m := newMW(t, Config{Verifier: newFake(), ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *Error) {
		got = e
		w.WriteHeader(499)
	}})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer nope")
	rec := do(m.Authenticate(okHandler), req)
	if rec.Code != 499 || got == nil || got.Code != "invalid_token" || !errors.Is(got, token.ErrInvalidSignature) {
		t.Fatalf("hook got %+v, status %d", got, rec.Code)
	}
	if strings.Contains(got.Error(), "nope") {
		t.Errorf("error text echoes the token: %q", got.Error())
	}
}

// TestRS26_ChallengeSyntax checks every challenge the middleware can send:
// scheme Bearer, each attribute at most once, quoted values without '"' or
// '\' inside.
func TestRS26_ChallengeSyntax(t *testing.T) {
	errs := []*Error{
		{Status: 401, Description: "a bearer token is required"},
		malformed("x"),
		{Status: 401, Code: "invalid_token", Description: describe(token.ErrExpired)},
		{Status: 403, Code: "insufficient_scope", Description: "d", Scope: "a b target-entity:E:x,y"},
	}
	for _, e := range errs {
		for _, realm := range []string{"", "api"} {
			ch := e.Challenge(realm)
			rest, ok := strings.CutPrefix(ch, "Bearer")
			if !ok {
				t.Fatalf("challenge %q does not start with Bearer", ch)
			}
			seen := map[string]bool{}
			for rest != "" {
				rest = strings.TrimPrefix(strings.TrimPrefix(rest, ","), " ")
				name, after, ok := strings.Cut(rest, `="`)
				if !ok {
					t.Fatalf("challenge %q: attribute without quoted value", ch)
				}
				value, tail, ok := strings.Cut(after, `"`)
				if !ok || strings.Contains(value, `\`) {
					t.Fatalf("challenge %q: bad value", ch)
				}
				if seen[name] {
					t.Fatalf("challenge %q repeats %s", ch, name)
				}
				seen[name] = true
				rest = tail
			}
			if e.Code == "" && (seen["error"] || seen["error_description"]) {
				t.Errorf("bare challenge %q carries error details (RS-03)", ch)
			}
		}
	}
}
