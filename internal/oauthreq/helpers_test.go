package oauthreq

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

const (
	formCT = "application/x-www-form-urlencoded"
	jsonCT = "application/json"
	// secretMark is part of every secret the tests send; no error
	// description may contain it.
	secretMark = "S3CR3T"
)

// allOn enables every credential style and JSON.
var allOn = Options{
	AllowJSON: true, AllowBasic: true, AllowPost: true, AllowPostJSON: true,
	AllowBearerKey: true, AllowBodyKey: true, AllowAssertion: true, AllowResponseTypeAlias: true,
}

// The CONFORMANCE.md fixture client cb: its id and secret need form-encoding.
const (
	cbID     = "c:b/1"
	cbSecret = "p@ss w+rd%/=:é" + secretMark
)

// basic is B(id, secret) of CONFORMANCE.md: each half form-encoded, then
// base64 (RFC 6749 §2.3.1).
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// rawBasic is the naive RFC 7617 encoding, without form-encoding.
func rawBasic(s string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s))
}

// post builds a POST /token with the given Content-Type ("" for none),
// body ("" for none) and Authorization header fields.
func post(ct, body string, auth ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(http.MethodPost, "/token", nil)
	} else {
		r = httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

// mustParse parses r and fails the test on an error.
func mustParse(t *testing.T, r *http.Request, o Options) *Request {
	t.Helper()
	req, err := Parse(nil, r, o)
	if err != nil {
		t.Fatalf("Parse: unexpected error %v", err)
	}
	if req == nil {
		t.Fatal("Parse: nil request and nil error")
	}
	return req
}

// refuse parses r, expects an *Error with the given status, code and
// challenge, and checks what every error must be: §5.2 characters, a
// fixed description without request data, a well-formed response.
func refuse(t *testing.T, r *http.Request, o Options, status int, code, challenge string) *Error {
	t.Helper()
	var raw []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		raw, err = io.ReadAll(r.Body)
		rest := io.Reader(bytes.NewReader(raw))
		if err != nil {
			rest = io.MultiReader(rest, iotest.ErrReader(err))
		}
		r.Body = io.NopCloser(rest)
	}
	req, err := Parse(nil, r, o)
	if err == nil {
		t.Fatalf("Parse accepted the request: %v", req)
	}
	if req != nil {
		t.Errorf("Parse returned a request beside error %v", err)
	}
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("Parse error %T is not an *Error", err)
	}
	if e.Status != status || e.Code != code || e.Challenge != challenge {
		t.Errorf("Parse error = {%d %s %q} (%s), want {%d %s %q}",
			e.Status, e.Code, e.Challenge, e.Description, status, code, challenge)
	}
	checkError(t, e)
	if strings.Contains(e.Description, secretMark) {
		t.Errorf("description %q contains a secret", e.Description)
	}
	for _, v := range append(r.Header.Values("Authorization"), requestValues(string(raw))...) {
		if len(v) >= 8 && !slices.Contains(paramName[:], v) && strings.Contains(e.Description, v) {
			t.Errorf("description %q contains request data %q", e.Description, v)
		}
	}
	checkWritten(t, e)
	return e
}

// requestValues splits a form or JSON body loosely into its values.
func requestValues(body string) []string {
	return strings.FieldsFunc(body, func(r rune) bool { return strings.ContainsRune(`&=,:"{}[] `, r) })
}

// checkError checks the invariants of an error Parse returns.
func checkError(t *testing.T, e *Error) {
	t.Helper()
	switch e.Code {
	case InvalidRequest, InvalidClient:
	default:
		t.Errorf("code %q is not one Parse uses", e.Code)
	}
	switch e.Status {
	case 400, 405, 413, 431:
		if e.Code != InvalidRequest || e.Challenge != "" {
			t.Errorf("status %d with code %s, challenge %q", e.Status, e.Code, e.Challenge)
		}
	case 401:
		if e.Code != InvalidClient || (e.Challenge != "Basic" && e.Challenge != "Bearer") {
			t.Errorf("401 with code %s, challenge %q", e.Code, e.Challenge)
		}
	default:
		t.Errorf("status %d", e.Status)
	}
	if !validText(e.Code) || e.Description == "" || !validText(e.Description) {
		t.Errorf("code %q or description %q is empty or outside RFC 6749 §5.2", e.Code, e.Description)
	}
	if !knownDescription(t, e.Description) {
		t.Errorf("description %q is not a fixed string of the package", e.Description)
	}
}

// checkWritten writes e and checks the response.
func checkWritten(t *testing.T, e *Error) {
	t.Helper()
	w := httptest.NewRecorder()
	WriteError(w, e, "")
	res := w.Result()
	if res.StatusCode != e.Status {
		t.Errorf("written status %d, want %d", res.StatusCode, e.Status)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got, want := res.Header.Get("WWW-Authenticate") != "", e.Status == 401; got != want {
		t.Errorf("WWW-Authenticate present = %v for status %d", got, e.Status)
	}
	if e.Status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), e.Challenge+" ") {
		t.Errorf("WWW-Authenticate %q, want scheme %s", res.Header.Get("WWW-Authenticate"), e.Challenge)
	}
	if got, want := res.Header.Get("Allow"), map[bool]string{true: "POST"}[e.Status == 405]; got != want {
		t.Errorf("Allow = %q for status %d", got, e.Status)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not a JSON object of strings: %v", w.Body, err)
	}
	if body["error"] != e.Code || body["error_description"] != e.Description || len(body) != 2 {
		t.Errorf("error body %v, want error %q and error_description %q", body, e.Code, e.Description)
	}
}

var (
	literalsOnce sync.Once
	literals     map[string]bool
)

// knownDescription reports whether d is a string literal of the package's
// source, or two literals around a known parameter name: proof that no
// request data made it in.
func knownDescription(t testing.TB, d string) bool {
	literalsOnce.Do(func() {
		literals = map[string]bool{}
		files, _ := filepath.Glob("*.go")
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(fset, f, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						literals[s] = true
					}
				}
				return true
			})
		}
	})
	if literals[d] {
		return true
	}
	for _, n := range paramName {
		for i := strings.Index(d, n); i >= 0; {
			if literals[d[:i]] && literals[d[i+len(n):]] {
				return true
			}
			j := strings.Index(d[i+1:], n)
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return false
}
