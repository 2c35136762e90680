package oauthreq

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSONRefused(t *testing.T) {
	deep := strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1)
	for _, c := range []struct{ name, body string }{
		{"array", `[{"grant_type":"client_credentials"}]`},
		{"null", `null`},
		{"string", `"grant_type"`},
		{"whitespace only", " \n"},
		{"byte-order mark", "\ufeff{}"},
		{"trailing object", `{}{}`},
		{"trailing garbage", `{} x`},
		{"trailing comma", `{"scope":"a",}`},
		{"leading comma", `{,"scope":"a"}`},
		{"unterminated object", `{"scope":"a"`},
		{"unterminated string", `{"scope":"a}`},
		{"missing colon", `{"scope" "a"}`},
		{"unquoted name", `{scope:"a"}`},
		{"single quotes", `{'scope':'a'}`},
		{"raw newline in string", "{\"scope\":\"a\nb\"}"},
		{"raw tab in string", "{\"scope\":\"a\tb\"}"},
		{"bad escape", `{"scope":"\x41"}`},
		{"short unicode escape", `{"scope":"\u004"}`},
		{"non-hex unicode escape", `{"scope":"\u00zz"}`},
		{"lone high surrogate", `{"scope":"\ud800"}`},
		{"lone low surrogate", `{"scope":"\udc00"}`},
		{"high surrogate then letter", `{"scope":"\ud800x"}`},
		{"two high surrogates", `{"scope":"\ud800\ud800"}`},
		{"lone surrogate in a name", `{"\ud800":"a"}`},
		{"lone surrogate in an unknown value", `{"x":"\udfff"}`},
		{"invalid UTF-8", "{\"scope\":\"\xff\"}"},
		{"invalid UTF-8 in unknown member", "{\"x\":\"\xc3\x28\"}"},
		{"grant_type number", `{"grant_type":1}`},
		{"grant_type null", `{"grant_type":null}`},
		{"scope array", `{"scope":["read"]}`},
		{"client_id object", `{"client_id":{}}`},
		{"client_secret bool", `{"client_secret":true}`},
		{"too deep", `{"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`},
		{"too deep objects", `{"x":` + strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth) + `}`},
		{"leading zero", `{"x":01}`},
		{"bare minus", `{"x":-}`},
		{"dot without digits", `{"x":1.}`},
		{"exponent without digits", `{"x":1e}`},
		{"plus sign", `{"x":+1}`},
		{"NaN", `{"x":NaN}`},
		{"truncated literal", `{"x":tru}`},
		{"capital literal", `{"x":True}`},
		{"unclosed array", `{"x":[1,2}`},
		{"array trailing comma", `{"x":[1,]}`},
		{"comment", `{"x":1 /* c */}`},
		{"too many values", `{"x":[` + strings.Repeat("0,", maxValues-2) + `0]}`},
		{"too many values in an unknown object", `{"x":{` + strings.Repeat(`"":0,`, maxValues-2) + `"":0}}`},
		{"too many values after a resource array", `{"resource":["a"],"x":[` + strings.Repeat("0,", maxValues-4) + `0]}`},
		{"too long a number", `{"x":-1` + strings.Repeat("0", maxNumber-4) + `e+1}`},
		{"too long an integer", `{"x":` + strings.Repeat("9", maxNumber+1) + `}`},
		{"nested", `{"a":` + deep + `,"b":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, post(jsonCT, c.body, basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
		})
	}
}

func TestJSONAccepted(t *testing.T) {
	for _, c := range []struct{ name, body, scope string }{
		{"plain", `{"grant_type":"client_credentials","scope":"read write"}`, "read write"},
		{"whitespace", " \t\r\n{ \"grant_type\" : \"client_credentials\" , \"scope\" : \"a\" } \n", "a"},
		{"escapes", `{"grant_type":"client_credentials","scope":"a\"b\\c\/d\b\f\n\r\t"}`, "a\"b\\c/d\b\f\n\r\t"},
		{"unicode escapes", `{"grant_type":"client_credentials","scope":"\u00e9\u20AC\ud83d\ude00\u0000"}`, "é€😀\x00"},
		{"raw UTF-8", `{"grant_type":"client_credentials","scope":"été 😀"}`, "été 😀"},
		{"escaped name", `{"grant_type":"client_credentials","\u0073cope":"a"}`, "a"},
		{"unknown values", `{"grant_type":"client_credentials","n":[0,-1,1.5,2e10,3E-2,-0.0e+1],"o":{"k":{"k":[]}},"l":[true,false,null],"s":"\u00e9","scope":"a"}`, "a"},
		{"depth at the limit", `{"grant_type":"client_credentials","x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `,"scope":"a"}`, "a"},
		{"empty scope", `{"grant_type":"client_credentials","scope":""}`, ""},
		{"values at the limit", `{"grant_type":"client_credentials","x":[` + strings.Repeat("0,", maxValues-5) + `0],"scope":"a"}`, "a"},
		{"number at the limit", `{"grant_type":"client_credentials","x":-1` + strings.Repeat("0", maxNumber-5) + `e+1,"scope":"a"}`, "a"},
		{"empty unknown object and array", `{"grant_type":"client_credentials","x":{},"y":[],"scope":"a"}`, "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := mustParse(t, post(jsonCT, c.body, basic(cbID, cbSecret)), allOn)
			if req.GrantType != "client_credentials" || req.Scope != c.scope || !req.JSON {
				t.Errorf("got GrantType %q Scope %q JSON %v, want scope %q", req.GrantType, req.Scope, req.JSON, c.scope)
			}
			// What Parse accepts, encoding/json accepts and reads alike.
			var m map[string]any
			if err := json.Unmarshal([]byte(c.body), &m); err != nil {
				t.Fatalf("encoding/json refuses what Parse accepted: %v", err)
			}
			if m["scope"] != c.scope {
				t.Errorf("encoding/json reads scope %q, Parse %q", m["scope"], c.scope)
			}
		})
	}
	t.Run("empty object", func(t *testing.T) {
		if diff := cmp.Diff(&Request{JSON: true}, mustParse(t, post(jsonCT, `{}`), allOn)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}
