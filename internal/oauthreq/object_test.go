package oauthreq

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestReadJSONObject(t *testing.T) {
	type kv struct{ name, value string }
	for _, c := range []struct {
		name, body string
		want       []kv
	}{
		{"empty", `{}`, nil},
		{"whitespace", " \t\r\n{ \"a\" : \"b\" , \"n\" : -1.5e3 } \n", []kv{{"a", `"b"`}, {"n", `-1.5e3`}}},
		{"values as sent", `{"s":"x\"y","o":{"k":[1,null]},"t":true,"z":null}`,
			[]kv{{"s", `"x\"y"`}, {"o", `{"k":[1,null]}`}, {"t", "true"}, {"z", "null"}}},
		{"escaped name", `{"sc\u006fpe":"a"}`, []kv{{"scope", `"a"`}}},
		{"same name nested", `{"a":{"a":1},"b":{"a":2}}`, []kv{{"a", `{"a":1}`}, {"b", `{"a":2}`}}},
		{"at the member limit", "{" + members(MaxParams) + "}", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []kv
			err := ReadJSONObject(c.body, func(name, value string) error {
				got = append(got, kv{name, value})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.want != nil && !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestReadJSONObjectRefused(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"duplicate", `{"scope":"a","scope":"b"}`},
		{"duplicate, escaped", `{"scope":"a","sc\u006fpe":"b"}`},
		{"duplicate, both escaped", `{"\u0073cope":"a","sc\u006fpe":"a"}`},
		{"duplicate, other values", `{"a":null,"a":1}`},
		{"too many members", "{" + members(MaxParams+1) + "}"},
		{"array", `[{"a":"b"}]`},
		{"null", `null`},
		{"string", `"a"`},
		{"empty", ``},
		{"byte-order mark", "\ufeff{}"},
		{"trailing object", `{}{}`},
		{"trailing garbage", `{} x`},
		{"trailing comma", `{"a":"b",}`},
		{"unterminated", `{"a":"b"`},
		{"raw newline in string", "{\"a\":\"x\ny\"}"},
		{"lone surrogate", `{"a":"\ud800"}`},
		{"lone surrogate in a name", `{"\udc00":1}`},
		{"invalid UTF-8", "{\"a\":\"\xff\"}"},
		{"leading zero", `{"a":01}`},
		{"too deep", `{"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`},
		{"NaN", `{"x":NaN}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ReadJSONObject(c.body, func(string, string) error { return nil })
			var e *Error
			if !errors.As(err, &e) || e.Code != InvalidRequest || !validText(e.Description) {
				t.Errorf("err = %v, want invalid_request", err)
			}
		})
	}
	stop := errors.New("stop")
	if err := ReadJSONObject(`{"a":1,"b":2}`, func(string, string) error { return stop }); err != stop {
		t.Errorf("member's error: got %v", err)
	}
}

func members(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m` + strings.Repeat("x", i) + `":1`)
	}
	return b.String()
}

func TestUnquoteJSON(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{`"a"`, "a", true},
		{`""`, "", true},
		{`"\u00e9\n\"\ud83d\ude00"`, "é\n\"😀", true},
		{`"a" `, "", false},
		{`"a"x`, "", false},
		{`1`, "", false},
		{`null`, "", false},
		{`"\ud800"`, "", false},
		{``, "", false},
	} {
		got, ok := UnquoteJSON(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("UnquoteJSON(%s) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
