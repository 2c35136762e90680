package oauthreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/keyturn/keyturn/internal/costtest"
)

// fuzzOptions turns a byte into Options, one switch per bit.
func fuzzOptions(bits uint8) Options {
	return Options{
		AllowJSON:              bits&1 != 0,
		AllowBasic:             bits&2 != 0,
		AllowPost:              bits&4 != 0,
		AllowPostJSON:          bits&8 != 0,
		AllowBearerKey:         bits&16 != 0,
		AllowBodyKey:           bits&32 != 0,
		AllowAssertion:         bits&64 != 0,
		AllowResponseTypeAlias: bits&128 != 0,
	}
}

// fuzzRequest builds a POST; an empty contentType or authorization means
// no such header.
func fuzzRequest(body []byte, contentType, authorization, query string) *http.Request {
	r := &http.Request{
		Method:        http.MethodPost,
		URL:           &url.URL{Path: "/token", RawQuery: query},
		Header:        http.Header{},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}
	if len(body) == 0 {
		r.Body = http.NoBody
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

// encode writes req back as a request: form or JSON body as req.JSON
// says, the credential where req.Source says.
func encode(req *Request) *http.Request {
	params := map[string]string{
		"grant_type": req.GrantType, "scope": req.Scope, "username": req.Username, "password": req.Password,
		"token": req.Token, "token_type_hint": req.TokenTypeHint, "client_assertion_type": req.ClientAssertionType,
		"client_assertion": req.ClientAssertion,
	}
	auth := ""
	switch req.Source {
	case SourceBasic:
		auth = basic(req.ClientID, req.ClientSecret)
	case SourceBearerKey:
		auth = "Bearer " + req.Key
	case SourcePost:
		params["client_id"], params["client_secret"] = req.ClientID, req.ClientSecret
	case SourceBodyKey:
		params["key"] = req.Key
	case SourceNone, SourceAssertion:
		params["client_id"] = req.ClientID
	}
	var body []byte
	ct := formCT
	if req.JSON {
		ct = jsonCT
		m := map[string]any{}
		for k, v := range params {
			if v != "" {
				m[k] = v
			}
		}
		if req.Resource != nil {
			m["resource"] = req.Resource
		}
		body, _ = json.Marshal(m)
	} else {
		v := url.Values{}
		for k, s := range params {
			if s != "" {
				v.Set(k, s)
			}
		}
		v["resource"] = req.Resource
		body = []byte(v.Encode())
	}
	return fuzzRequest(body, ct, auth, "")
}

// fuzzBound is the cost allowed to one Parse of a fuzzed request, and the
// number of input bytes it is measured against: every byte of the request
// that Parse reads. In bytes it is parseCost. In allocations it is
// maxParseAllocs, what a body may cost, plus one per byte of the query
// and the Content-Type, which Parse reads segment by segment (the server's
// header limit bounds them).
func fuzzBound(body []byte, contentType, authorization, query string) (costtest.Bound, int) {
	b := parseCost
	b.Allocs = maxParseAllocs + uint64(len(query)+len(contentType))
	return b, len(body) + len(contentType) + len(authorization) + len(query)
}

// FuzzParse checks what Parse returns: errors that are *Error and leak
// nothing, requests consistent with their source and read as the standard
// library reads them, and a round trip through encode. Parse must also
// allocate within fuzzBound; that is measured cheaply and only confirmed
// precisely when it seems exceeded (see costtest.Bound.Check), so that it
// slows the fuzzer little. FuzzParseCost measures every input precisely.
func FuzzParse(f *testing.F) {
	f.Add([]byte("grant_type=client_credentials&scope=read"), formCT, basic(cbID, "p@ss w+rd%/=:é"), "", uint8(0xff))
	f.Add([]byte(`{"client_id":"a","client_secret":"b","grant_type":"client_credentials"}`), jsonCT, "", "", uint8(0xff))
	f.Add([]byte{}, "", "Bearer ds_live_a_b", "", uint8(0xff))
	f.Add([]byte("scope=%zz&scope=a"), "application/x-www-form-urlencoded; charset=UTF-8", "Basic !!!", "grant_type=x", uint8(0x02))
	f.Fuzz(func(t *testing.T, body []byte, contentType, authorization, query string, bits uint8) {
		o := fuzzOptions(bits)
		var req *Request
		var err error
		bound, n := fuzzBound(body, contentType, authorization, query)
		if cost, ok := bound.Check(n, func() func() {
			r := fuzzRequest(body, contentType, authorization, query)
			return func() { req, err = Parse(nil, r, o) }
		}); !ok {
			t.Fatalf("Parse of %d input bytes allocated %s, want at most %d B in %d allocs", n, cost, bound.Bytes(n), bound.Allocs)
		}
		if err != nil {
			if req != nil {
				t.Fatalf("request %v beside error %v", req, err)
			}
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("error %T is not an *Error", err)
			}
			checkError(t, e)
			return
		}

		// The fields are consistent with the source.
		switch req.Source {
		case SourceBasic:
			if req.ClientID == "" || req.ClientSecret == "" || req.Key != "" || !o.AllowBasic {
				t.Fatalf("inconsistent Basic request %v", req)
			}
		case SourceBearerKey:
			scheme, rest, _ := strings.Cut(authorization, " ")
			if !strings.EqualFold(scheme, "Bearer") || req.Key != strings.TrimLeft(rest, " ") || req.ClientID != "" || !o.AllowBearerKey {
				t.Fatalf("inconsistent Bearer request %v", req)
			}
		case SourcePost:
			if req.ClientID == "" || req.ClientSecret == "" || authorization != "" {
				t.Fatalf("inconsistent Post request %v", req)
			}
		case SourceBodyKey:
			if req.Key == "" || !req.JSON || !o.AllowBodyKey || authorization != "" || req.ClientID != "" {
				t.Fatalf("inconsistent body key request %v", req)
			}
		case SourceNone, SourceAssertion:
			if req.ClientSecret != "" || req.Key != "" || authorization != "" {
				t.Fatalf("inconsistent request %v", req)
			}
		}
		for _, s := range append([]string{req.GrantType, req.Scope, req.Username, req.Password, req.Token,
			req.TokenTypeHint, req.ClientID, req.ClientSecret, req.Key, req.ClientAssertion, req.ClientAssertionType}, req.Resource...) {
			if !utf8.ValidString(s) {
				t.Fatalf("a field is not UTF-8: %v", req)
			}
		}
		for _, r := range req.Resource {
			if r == "" {
				t.Fatal("an empty resource")
			}
		}

		// Differential: what Parse accepts, the standard library accepts
		// and reads alike.
		if len(body) > 0 && req.JSON {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("encoding/json refuses an accepted body: %v", err)
			}
			for name, v := range map[string]string{"scope": req.Scope, "username": req.Username, "token": req.Token} {
				if got, _ := m[name].(string); got != v {
					t.Fatalf("encoding/json reads %s as %q, Parse as %q", name, got, v)
				}
			}
		}
		if len(body) > 0 && !req.JSON {
			q, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatalf("url.ParseQuery refuses an accepted body: %v", err)
			}
			for name, v := range map[string]string{"grant_type": req.GrantType, "scope": req.Scope, "token": req.Token} {
				if q.Get(name) != v {
					t.Fatalf("url.ParseQuery reads %s as %q, Parse as %q", name, q.Get(name), v)
				}
			}
		}

		// Round trip: the request written back parses to the same request,
		// unless escaping grew it past a limit.
		enc := encode(req)
		again, err := Parse(nil, enc, o)
		if len(enc.Header.Get("Authorization")) > MaxAuthorization || enc.ContentLength > DefaultMaxBody {
			if e, ok := errors.AsType[*Error](err); !ok || (e.Status != 431 && e.Status != 413) {
				t.Fatalf("re-encoded request past a limit: got %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("re-encoded %v refused: %v", req, err)
		}
		if diff := cmp.Diff(req, again); diff != "" {
			t.Fatalf("round trip differs (-first +again):\n%s", diff)
		}
	})
}

// FuzzParseCost is a fuzz target whose oracle is cost: Parse, whatever the
// request, allocates within fuzzBound of its size. The seed corpus holds
// the hostile bodies of TestFinding1_QuadraticJSONAllocation, at 4 KiB:
// large enough that the finding's quadratic allocation exceeds the bound
// many times over (at n bytes it allocated about n²/10).
//
// Every input is measured precisely, with runtime.ReadMemStats, as the
// least of two runs (costtest.Allocated): allocation by anything else in
// the process can only add, and a fuzzing worker is a process of its own
// running one input at a time, so noise is rare and the minimum hides it.
// The bound's fixed part (8 KiB, many times the under 1 KiB that a small
// request costs) absorbs the rest. This costs some 100 µs per input, which is why
// FuzzParse only screens.
func FuzzParseCost(f *testing.F) {
	f.Add([]byte(`{"x":["\n","\n","\n"]}`), jsonCT, basic(cbID, cbSecret), "", uint8(0xff))
	f.Add([]byte("grant_type=client_credentials&scope=%0A%0A"), formCT, "", "a%41=1&b", uint8(0xff))
	f.Fuzz(func(t *testing.T, body []byte, contentType, authorization, query string, bits uint8) {
		o := fuzzOptions(bits)
		var err error
		bound, n := fuzzBound(body, contentType, authorization, query)
		cost := costtest.Allocated(2, func() func() {
			r := fuzzRequest(body, contentType, authorization, query)
			return func() { _, err = Parse(nil, r, o) }
		})
		if cost.Bytes > bound.Bytes(n) || cost.Allocs > bound.Allocs {
			t.Fatalf("Parse of %d input bytes allocated %s (%.1f B per byte), want at most %d B in %d allocs",
				n, cost, float64(cost.Bytes)/float64(max(n, 1)), bound.Bytes(n), bound.Allocs)
		}
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("error %T is not an *Error", err)
			}
		}
	})
}
