package oauthreq

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// Tests are named by the CONFORMANCE.md item they cover at the parsing
// level; the token endpoint's own tests cover the HTTP exchange.

func TestTOK02_PostOnly(t *testing.T) {
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "post", "Post"} {
		t.Run(m, func(t *testing.T) {
			r := httptest.NewRequest(m, "/token", strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", formCT)
			r.Header.Set("Authorization", basic(cbID, cbSecret))
			refuse(t, r, allOn, 405, InvalidRequest, "")
		})
	}
	t.Run("POST", func(t *testing.T) {
		req := mustParse(t, post(formCT, "grant_type=client_credentials", basic(cbID, cbSecret)), allOn)
		if req.GrantType != "client_credentials" || req.Source != SourceBasic {
			t.Errorf("got %v", req)
		}
	})
}

func TestTOK03_ContentType(t *testing.T) {
	refused := []struct {
		name, ct, body string
		o              Options
	}{
		{"json when JSON is off", jsonCT, `{"grant_type":"client_credentials"}`, Options{AllowBasic: true}},
		{"form body without Content-Type", "", "grant_type=client_credentials", allOn},
		{"json body without Content-Type", "", `{"grant_type":"client_credentials"}`, allOn},
		{"text/plain", "text/plain", "grant_type=client_credentials", allOn},
		{"multipart", "multipart/form-data; boundary=x", "--x--", allOn},
		{"form+json suffix", "application/x-www-form-urlencoded+json", "grant_type=x", allOn},
		{"json-like", "application/jsonx", "{}", allOn},
		{"malformed", "application/x-www-form-urlencoded; ;", "grant_type=x", allOn},
		{"empty value", "", "", allOn}, // set below as a present, empty header
		{"latin-1 form", "application/x-www-form-urlencoded; charset=iso-8859-1", "grant_type=x", allOn},
		{"utf-16 json", "application/json; charset=utf-16", `{}`, allOn},
		{"text/plain empty body", "text/plain", "", allOn},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r := post(c.ct, c.body, basic(cbID, cbSecret))
			if c.name == "empty value" {
				r.Header["Content-Type"] = []string{""}
			}
			refuse(t, r, c.o, 400, InvalidRequest, "")
		})
	}
	t.Run("body of unknown length without Content-Type", func(t *testing.T) {
		r := post("", "", basic(cbID, cbSecret))
		r.Body, r.ContentLength = chunked("grant_type=client_credentials"), -1
		refuse(t, r, allOn, 400, InvalidRequest, "")
	})
	t.Run("gzip", func(t *testing.T) {
		r := post(formCT, "grant_type=client_credentials", basic(cbID, cbSecret))
		r.Header.Set("Content-Encoding", "gzip")
		refuse(t, r, allOn, 400, InvalidRequest, "")
		r = post(formCT, "grant_type=client_credentials", basic(cbID, cbSecret))
		r.Header.Set("Content-Encoding", "Identity")
		mustParse(t, r, allOn)
	})
	t.Run("two Content-Type headers", func(t *testing.T) {
		r := post(formCT, "grant_type=client_credentials", basic(cbID, cbSecret))
		r.Header.Add("Content-Type", formCT)
		refuse(t, r, allOn, 400, InvalidRequest, "")
	})

	accepted := []struct {
		name, ct, body string
		want           bool // JSON
	}{
		{"empty body, no Content-Type", "", "", false},
		{"empty body, form", formCT, "", false},
		{"empty body, json", jsonCT, "", true},
		{"json", jsonCT, `{"grant_type":"client_credentials"}`, true},
		{"json utf-8", "application/json; charset=utf-8", `{"grant_type":"client_credentials"}`, true},
		{"form", formCT, "grant_type=client_credentials", false},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			req := mustParse(t, post(c.ct, c.body, basic(cbID, cbSecret)), allOn)
			if req.JSON != c.want {
				t.Errorf("JSON = %v, want %v", req.JSON, c.want)
			}
			if c.body != "" && req.GrantType != "client_credentials" {
				t.Errorf("GrantType = %q", req.GrantType)
			}
		})
	}
	t.Run("empty stream body without Content-Type", func(t *testing.T) {
		// A body of unknown length that turns out empty is no body.
		r := post("", "", "Bearer k")
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader("")), -1
		if req := mustParse(t, r, allOn); req.Key != "k" {
			t.Errorf("Key = %q", req.Key)
		}
	})
}

func TestTOK04_MediaTypeMatching(t *testing.T) {
	for _, ct := range []string{
		"application/x-www-form-urlencoded; charset=UTF-8",
		"Application/X-WWW-Form-URLEncoded",
		"APPLICATION/X-WWW-FORM-URLENCODED;charset=utf-8",
		"application/x-www-form-urlencoded ; Charset=\"UTF-8\"",
		"application/x-www-form-urlencoded; foo=bar",
		"Application/JSON",
		"application/json; charset=UTF-8",
	} {
		t.Run(ct, func(t *testing.T) {
			body := "grant_type=client_credentials&scope=read"
			if strings.Contains(strings.ToLower(ct), "json") {
				body = `{"grant_type":"client_credentials","scope":"read"}`
			}
			req := mustParse(t, post(ct, body, basic(cbID, cbSecret)), allOn)
			if req.GrantType != "client_credentials" || req.Scope != "read" {
				t.Errorf("got %v", req)
			}
		})
	}
}

func TestTOK05_MalformedForm(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"bad escape", "grant_type=client_credentials&scope=%zz"},
		{"invalid UTF-8 escape", "grant_type=client_credentials&scope=%C3%28"},
		{"raw invalid UTF-8", "grant_type=client_credentials&scope=\xff"},
		{"lone percent", "grant_type=client_credentials&scope=%"},
		{"truncated escape", "grant_type=client_credentials&scope=%4"},
		{"escape in name", "grant_type=client_credentials&sc%ZZope=read"},
		{"invalid UTF-8 name", "grant_type=client_credentials&%FF=read"},
		{"semicolon", "grant_type=client_credentials;scope=read"},
		{"semicolon in value", "grant_type=client_credentials&scope=a;b"},
		{"overlong UTF-8", "grant_type=client_credentials&scope=%C0%AF"},
		{"surrogate as UTF-8", "grant_type=client_credentials&scope=%ED%A0%80"},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, post(formCT, c.body, basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
		})
	}
	for _, c := range []struct{ name, body, scope string }{
		{"escapes and plus", "grant_type=client_credentials&scope=read+wr%69te%3A%2A", "read write:*"},
		{"UTF-8", "grant_type=client_credentials&scope=%C3%A9t%C3%A9", "été"},
		{"raw UTF-8", "grant_type=client_credentials&scope=été", "été"},
		{"escaped name", "grant%5Ftype=client_credentials&sc%6Fpe=a", "a"},
		{"empty segments", "&&grant_type=client_credentials&&scope=a&", "a"},
		{"escaped ampersand", "grant_type=client_credentials&scope=a%26b%3Dc", "a&b=c"},
		{"escaped semicolon", "grant_type=client_credentials&scope=a%3Bb", "a;b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := mustParse(t, post(formCT, c.body, basic(cbID, cbSecret)), allOn)
			if req.GrantType != "client_credentials" || req.Scope != c.scope {
				t.Errorf("got GrantType %q Scope %q, want scope %q", req.GrantType, req.Scope, c.scope)
			}
		})
	}
}

func TestTOK06_TOK07_NoParametersInQuery(t *testing.T) {
	for _, q := range []string{
		"grant_type=client_credentials",
		"client_id=c%3Ab%2F1&client_secret=" + secretMark,
		"client_secret=" + secretMark,
		"scope=read",
		"foo=1&token=x",
		"grant%5Ftype=client_credentials",
		"foo=1;scope=read",
		"username=u&password=" + secretMark,
		"key=" + secretMark,
		"client_assertion=x",
		"assertion=x",
		"resource=https%3A%2F%2Fapi.test%2F",
		"access_token=x",
		"grant_type",
		"%zz=1&grant_type=x",
	} {
		t.Run(q, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/token?"+q, nil)
			r.Header.Set("Content-Type", formCT)
			r.Header.Set("Authorization", basic(cbID, cbSecret))
			refuse(t, r, allOn, 400, InvalidRequest, "")
		})
	}
	for _, q := range []string{"tenant=t1", "foo=bar&baz", "%zz", "grant_type_x=1", "Grant_Type=x"} {
		t.Run("allowed "+q, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/token?"+q, strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", formCT)
			r.Header.Set("Authorization", basic(cbID, cbSecret))
			if req := mustParse(t, r, allOn); req.GrantType != "client_credentials" {
				t.Errorf("GrantType = %q", req.GrantType)
			}
		})
	}
}

// chunked returns a reader of unknown length, as a chunked body is.
func chunked(s string) io.ReadCloser { return io.NopCloser(iotest.HalfReader(strings.NewReader(s))) }

func TestTOK08_OversizedInput(t *testing.T) {
	big := "grant_type=client_credentials&scope=" + strings.Repeat("a", 1<<20)
	t.Run("1 MiB body with Content-Length", func(t *testing.T) {
		refuse(t, post(formCT, big, basic(cbID, cbSecret)), allOn, 413, InvalidRequest, "")
	})
	t.Run("1 MiB body of unknown length", func(t *testing.T) {
		r := post(formCT, "", basic(cbID, cbSecret))
		r.Body, r.ContentLength = chunked(big), -1
		refuse(t, r, allOn, 413, InvalidRequest, "")
	})
	t.Run("body longer than its Content-Length claims", func(t *testing.T) {
		r := post(formCT, "", basic(cbID, cbSecret))
		r.Body, r.ContentLength = chunked(big), 10
		refuse(t, r, allOn, 413, InvalidRequest, "")
	})
	t.Run("MaxBody", func(t *testing.T) {
		o := allOn
		o.MaxBody = 39
		body := "grant_type=client_credentials&scope=abc"          // 39 bytes
		mustParse(t, post(formCT, body, basic(cbID, cbSecret)), o) // at the limit
		refuse(t, post(formCT, body+"d", basic(cbID, cbSecret)), o, 413, InvalidRequest, "")
		r := post(formCT, "", basic(cbID, cbSecret))
		r.Body, r.ContentLength = chunked(body+"d"), -1
		refuse(t, r, o, 413, InvalidRequest, "")
		r = post(formCT, "", basic(cbID, cbSecret))
		r.Body, r.ContentLength = chunked(body), -1
		mustParse(t, r, o)
	})
	t.Run("default is 64 KiB", func(t *testing.T) {
		prefix := "grant_type=client_credentials&scope="
		body := prefix + strings.Repeat("a", DefaultMaxBody-len(prefix))
		if req := mustParse(t, post(formCT, body, basic(cbID, cbSecret)), allOn); len(req.Scope) != DefaultMaxBody-len(prefix) {
			t.Errorf("Scope has %d bytes", len(req.Scope))
		}
		refuse(t, post(formCT, body+"a", basic(cbID, cbSecret)), allOn, 413, InvalidRequest, "")
	})
	t.Run("10 000 parameters", func(t *testing.T) {
		o := allOn
		o.MaxBody = 1 << 20
		var b strings.Builder
		for i := range 10000 {
			b.WriteString("p" + strconv.Itoa(i) + "=1&")
		}
		refuse(t, post(formCT, b.String(), basic(cbID, cbSecret)), o, 400, InvalidRequest, "")
		b.Reset()
		b.WriteString("{")
		for i := range 10000 {
			b.WriteString(`"p` + strconv.Itoa(i) + `":1,`)
		}
		b.WriteString(`"q":1}`)
		refuse(t, post(jsonCT, b.String(), basic(cbID, cbSecret)), o, 400, InvalidRequest, "")
	})
	t.Run("MaxParams", func(t *testing.T) {
		var names []string
		for i := range MaxParams {
			names = append(names, "p"+strings.Repeat("x", i)+"=1")
		}
		mustParse(t, post(formCT, strings.Join(names, "&"), basic(cbID, cbSecret)), allOn)
		refuse(t, post(formCT, strings.Join(names, "&")+"&q=1", basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
		res := strings.Repeat("resource=https%3A%2F%2Fa.test%2F&", MaxParams+1)
		refuse(t, post(formCT, res, basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
	})
	t.Run("64 KiB Authorization header", func(t *testing.T) {
		refuse(t, post(formCT, "grant_type=client_credentials", "Basic "+strings.Repeat("A", 64<<10)), allOn, 431, InvalidRequest, "")
	})
	t.Run("Authorization at the limit", func(t *testing.T) {
		v := "Bearer " + strings.Repeat("A", MaxAuthorization-len("Bearer "))
		if req := mustParse(t, post("", "", v), allOn); len(req.Key) != MaxAuthorization-len("Bearer ") {
			t.Errorf("Key has %d bytes", len(req.Key))
		}
		refuse(t, post("", "", v+"A"), allOn, 431, InvalidRequest, "")
	})
}

func TestTOK08_MaxBytesReaderTellsServer(t *testing.T) {
	// Through a real server: the oversized body is refused with 413 and the
	// connection is not kept for another request.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := Parse(w, r, allOn)
		if e, ok := errors.AsType[*Error](err); ok {
			WriteError(w, e, "")
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	body := io.MultiReader(strings.NewReader("grant_type=client_credentials&scope="), strings.NewReader(strings.Repeat("a", 1<<20)))
	req, _ := http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(body)) // unknown length: chunked
	req.Header.Set("Content-Type", formCT)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 413 || !res.Close {
		t.Errorf("status %d, Close %v; want 413 and a closed connection", res.StatusCode, res.Close)
	}
}

func TestTOK09_GrantTypeLeftToCaller(t *testing.T) {
	// grant_type is required for RFC 6749 grants but not for seed 000's
	// API key; Parse reports it absent and the endpoint decides.
	req := mustParse(t, post(formCT, "scope=read", basic(cbID, cbSecret)), allOn)
	if req.GrantType != "" || req.Scope != "read" {
		t.Errorf("got %v", req)
	}
}

func TestTOK10_GrantTypeValueUntouched(t *testing.T) {
	for _, g := range []string{"foo", "CLIENT_CREDENTIALS", "password", " client_credentials"} {
		t.Run(g, func(t *testing.T) {
			req := mustParse(t, post(formCT, "grant_type="+strings.ReplaceAll(g, " ", "+"), basic(cbID, cbSecret)), allOn)
			if req.GrantType != g {
				t.Errorf("GrantType = %q, want %q (values are case-sensitive and passed as sent)", req.GrantType, g)
			}
		})
	}
}

func TestTOK12_RepeatedParameters(t *testing.T) {
	for _, c := range []struct{ name, ct, body string }{
		{"grant_type identical", formCT, "grant_type=client_credentials&grant_type=client_credentials"},
		{"scope twice", formCT, "grant_type=client_credentials&scope=read&scope=write"},
		{"client_id twice", formCT, "grant_type=client_credentials&client_id=cp&client_id=cp&client_secret=" + secretMark},
		{"client_secret twice", formCT, "grant_type=client_credentials&client_id=cp&client_secret=" + secretMark + "&client_secret=" + secretMark},
		{"empty then value", formCT, "grant_type=client_credentials&scope=&scope=read"},
		{"without equals", formCT, "grant_type=client_credentials&scope&scope"},
		{"escaped name", formCT, "grant_type=client_credentials&scope=a&sc%6Fpe=a"},
		{"unknown twice", formCT, "grant_type=client_credentials&foo=1&foo=1"},
		{"key twice in a form", formCT, "grant_type=client_credentials&key=a&key=a"},
		{"token twice", formCT, "token=a&token=b"},
		{"json member twice", jsonCT, `{"grant_type":"client_credentials","scope":"a","scope":"a"}`},
		{"json escaped twin", jsonCT, `{"grant_type":"client_credentials","scope":"a","sc\u006fpe":"b"}`},
		{"json unknown twice", jsonCT, `{"grant_type":"client_credentials","x":1,"x":[1]}`},
		{"json escaped unknown twin", jsonCT, `{"é😀\n":1,"\u00e9\ud83d\ude00\n":1}`},
		{"json alias twice", jsonCT, `{"response_type":"client_credentials","response_type":"client_credentials"}`},
		{"json resource twice", jsonCT, `{"resource":"https://a.test/","resource":["https://b.test/"]}`},
		{"json key twice", jsonCT, `{"key":"k","key":"k"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, post(c.ct, c.body, basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
		})
	}
	t.Run("nested duplicates in an unknown member are not looked at", func(t *testing.T) {
		mustParse(t, post(jsonCT, `{"grant_type":"client_credentials","x":{"a":1,"a":2}}`, basic(cbID, cbSecret)), allOn)
	})
}

func TestTOK13_ResourceMayRepeat(t *testing.T) {
	for _, c := range []struct {
		name, ct, body string
		want           []string
	}{
		{"form twice", formCT, "grant_type=client_credentials&resource=https%3A%2F%2Fapi.test%2F&resource=https%3A%2F%2Fapi2.test%2F",
			[]string{"https://api.test/", "https://api2.test/"}},
		{"form identical", formCT, "resource=r&resource=r", []string{"r", "r"}},
		{"form empty one skipped", formCT, "resource=&resource=r", []string{"r"}},
		{"form none", formCT, "grant_type=client_credentials", nil},
		{"json string", jsonCT, `{"resource":"https://api.test/"}`, []string{"https://api.test/"}},
		{"json array", jsonCT, `{"resource":["https://api.test/","https://api2.test/"]}`, []string{"https://api.test/", "https://api2.test/"}},
		{"json empty array", jsonCT, `{"resource":[]}`, nil},
		{"json empty strings", jsonCT, `{"resource":["", "r", ""]}`, []string{"r"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := mustParse(t, post(c.ct, c.body, basic(cbID, cbSecret)), allOn)
			if diff := cmp.Diff(c.want, req.Resource); diff != "" {
				t.Errorf("Resource (-want +got):\n%s", diff)
			}
		})
	}
	for _, body := range []string{`{"resource":1}`, `{"resource":[1]}`, `{"resource":["a",null]}`, `{"resource":[["a"]]}`, `{"resource":null}`} {
		t.Run("refused "+body, func(t *testing.T) {
			refuse(t, post(jsonCT, body, basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
		})
	}
}

func TestTOK14_EmptyValueIsAbsent(t *testing.T) {
	t.Run("scope=", func(t *testing.T) {
		a := mustParse(t, post(formCT, "grant_type=client_credentials&scope=", basic(cbID, cbSecret)), allOn)
		b := mustParse(t, post(formCT, "grant_type=client_credentials", basic(cbID, cbSecret)), allOn)
		if diff := cmp.Diff(b, a); diff != "" {
			t.Errorf("scope= differs from no scope (-absent +empty):\n%s", diff)
		}
	})
	t.Run("empty client_id beside Basic", func(t *testing.T) {
		if req := mustParse(t, post(formCT, "grant_type=client_credentials&client_id=", basic(cbID, cbSecret)), allOn); req.ClientID != cbID {
			t.Errorf("ClientID = %q", req.ClientID)
		}
	})
	t.Run("empty client_secret is no credential", func(t *testing.T) {
		req := mustParse(t, post(formCT, "grant_type=client_credentials&client_id=cp&client_secret="), allOn)
		if req.Source != SourceNone || req.ClientID != "cp" {
			t.Errorf("got %v", req)
		}
	})
	for _, c := range []struct{ name, ct, body string }{
		{"grant_type=", formCT, "grant_type=&scope=read"},
		{"grant_type without =", formCT, "grant_type&scope=read"},
		{"json empty grant_type", jsonCT, `{"grant_type":"","scope":"read"}`},
		{"json empty response_type", jsonCT, `{"response_type":""}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, post(c.ct, c.body, basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
		})
	}
}

func TestTOK15_UnknownParametersIgnored(t *testing.T) {
	for _, c := range []struct{ name, ct, body string }{
		{"form", formCT, "grant_type=client_credentials&foo=bar&state=x&scope=read"},
		{"form empty name", formCT, "grant_type=client_credentials&=x&scope=read"},
		{"form key is unknown", formCT, "grant_type=client_credentials&key=" + secretMark + "&scope=read"},
		{"form response_type is unknown", formCT, "grant_type=client_credentials&response_type=code&scope=read"},
		{"json", jsonCT, `{"grant_type":"client_credentials","foo":{"a":[1,2.5e-3,true,false,null,"x",{}]},"state":-0,"scope":"read"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := mustParse(t, post(c.ct, c.body, basic(cbID, cbSecret)), allOn)
			want := &Request{GrantType: "client_credentials", Scope: "read", Source: SourceBasic,
				ClientID: cbID, ClientSecret: cbSecret, JSON: c.ct == jsonCT}
			if diff := cmp.Diff(want, req); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTOK16_NamesAreCaseSensitive(t *testing.T) {
	for _, c := range []struct{ ct, body string }{
		{formCT, "Grant_Type=client_credentials&SCOPE=read"},
		{jsonCT, `{"Grant_Type":"client_credentials","SCOPE":"read"}`},
	} {
		t.Run(c.ct, func(t *testing.T) {
			req := mustParse(t, post(c.ct, c.body, basic(cbID, cbSecret)), allOn)
			if req.GrantType != "" || req.Scope != "" {
				t.Errorf("got %v: names matched case-insensitively", req)
			}
		})
	}
}

func TestTOK18_BasicFormDecoding(t *testing.T) {
	t.Run("CONFORMANCE fixture", func(t *testing.T) {
		h := basic(cbID, "p@ss w+rd%/=:é")
		if want := "Basic " + "YyUzQWIlMkYxOnAlNDBzcyt3JTJCcmQlMjUlMkYlM0QlM0ElQzMlQTk="; h != want {
			t.Fatalf("fixture encoding %q, want %q", h, want)
		}
		req := mustParse(t, post(formCT, "grant_type=client_credentials", h), allOn)
		if req.ClientID != cbID || req.ClientSecret != "p@ss w+rd%/=:é" || req.Source != SourceBasic {
			t.Errorf("got %q / %q / %v", req.ClientID, req.ClientSecret, req.Source)
		}
	})
	t.Run("raw pair is refused", func(t *testing.T) {
		refuse(t, post(formCT, "grant_type=client_credentials", rawBasic(cbID+":"+cbSecret)), allOn, 401, InvalidClient, "Basic")
	})
	for _, c := range []struct{ name, userpass, id, secret string }{
		{"plus is space", "a+b:c+d", "a b", "c d"},
		{"escaped plus", "a%2Bb:c%2bd", "a+b", "c+d"},
		{"colon in secret", "id:a:b", "id", "a:b"},
		{"escaped colon in id", "a%3Ab:s", "a:b", "s"},
		{"unreserved key pair", "W7p6DXeF6zzybyBN:QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ", "W7p6DXeF6zzybyBN", "QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ"},
		{"raw UTF-8", "é:ü", "é", "ü"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := mustParse(t, post(formCT, "grant_type=client_credentials", rawBasic(c.userpass)), allOn)
			if req.ClientID != c.id || req.ClientSecret != c.secret {
				t.Errorf("got %q / %q, want %q / %q", req.ClientID, req.ClientSecret, c.id, c.secret)
			}
		})
	}
}

func TestTOK19_SchemeIsCaseInsensitive(t *testing.T) {
	enc := strings.TrimPrefix(basic(cbID, cbSecret), "Basic ")
	for _, scheme := range []string{"Basic", "basic", "BASIC", "bAsIc"} {
		for _, sp := range []string{" ", "   "} {
			t.Run(scheme+"/"+sp, func(t *testing.T) {
				req := mustParse(t, post(formCT, "grant_type=client_credentials", scheme+sp+enc), allOn)
				if req.Source != SourceBasic || req.ClientID != cbID || req.ClientSecret != cbSecret {
					t.Errorf("got %v", req)
				}
			})
		}
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		t.Run(scheme, func(t *testing.T) {
			if req := mustParse(t, post("", "", scheme+" ds_live_abc_"+secretMark), allOn); req.Source != SourceBearerKey || req.Key != "ds_live_abc_"+secretMark {
				t.Errorf("got %v", req)
			}
		})
	}
}

func TestTOK22_MalformedBasic(t *testing.T) {
	for _, c := range []struct{ name, h string }{
		{"not base64", "Basic !!!"},
		{"no colon", rawBasic("nocolon" + secretMark)},
		{"no value", "Basic"},
		{"empty value", "Basic "},
		{"empty id", rawBasic(":" + secretMark)},
		{"empty secret", rawBasic("id:")},
		{"empty both", rawBasic(":")},
		{"non-canonical padding bits", strings.Replace(rawBasic("ab:c"), "Yw==", "Yx==", 1)},
		{"missing padding", strings.TrimRight(rawBasic("ab:"+secretMark+"x"), "=")},
		{"two values", rawBasic("a:b") + " " + rawBasic("c:d")},
		{"bad escape in id", rawBasic("a%zz:" + secretMark)},
		{"bad escape in secret", rawBasic("a:%" + secretMark)},
		{"invalid UTF-8 in id", rawBasic("\xff:" + secretMark)},
		{"invalid UTF-8 escape in secret", rawBasic("a:%C3%28" + secretMark)},
		{"tab before value", "Basic\t" + strings.TrimPrefix(rawBasic("a:b"), "Basic ")},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, post(formCT, "grant_type=client_credentials", c.h), allOn, 401, InvalidClient, "Basic")
		})
	}
	t.Run("canonical control", func(t *testing.T) {
		if req := mustParse(t, post(formCT, "grant_type=client_credentials", rawBasic("ab:c")), allOn); req.ClientID != "ab" || req.ClientSecret != "c" {
			t.Errorf("got %v", req)
		}
	})
}

func TestBearerKey(t *testing.T) {
	const key = "ds_live_W7p6DXeF6zzybyBN_QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ"
	t.Run("seed 000: empty body", func(t *testing.T) {
		req := mustParse(t, post("", "", "Bearer "+key), allOn)
		want := &Request{Source: SourceBearerKey, Key: key}
		if diff := cmp.Diff(want, req); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if req.Challenge() != "Bearer" {
			t.Errorf("Challenge() = %q", req.Challenge())
		}
	})
	t.Run("scope in a form", func(t *testing.T) {
		req := mustParse(t, post(formCT, "scope=read", "Bearer "+key), allOn)
		if req.Scope != "read" || req.Key != key || req.JSON {
			t.Errorf("got %v", req)
		}
	})
	t.Run("scope in JSON", func(t *testing.T) {
		req := mustParse(t, post(jsonCT, `{"scope":"read"}`, "Bearer "+key), allOn)
		if req.Scope != "read" || req.Key != key || !req.JSON {
			t.Errorf("got %v", req)
		}
	})
	t.Run("token68 padding", func(t *testing.T) {
		if req := mustParse(t, post("", "", "Bearer a-._~+/b=="), allOn); req.Key != "a-._~+/b==" {
			t.Errorf("Key = %q", req.Key)
		}
	})
	for _, c := range []struct{ name, h string }{
		{"empty", "Bearer"},
		{"only spaces", "Bearer   "},
		{"two tokens", "Bearer a b"},
		{"bad character", "Bearer a,b"},
		{"padding inside", "Bearer a=b"},
		{"only padding", "Bearer =="},
		{"trailing space", "Bearer abc "},
		{"non-ASCII", "Bearer é"},
	} {
		t.Run("malformed "+c.name, func(t *testing.T) {
			refuse(t, post("", "", c.h), allOn, 401, InvalidClient, "Bearer")
		})
	}
	t.Run("client_id beside", func(t *testing.T) {
		refuse(t, post(formCT, "client_id=W7p6DXeF6zzybyBN", "Bearer "+key), allOn, 400, InvalidRequest, "")
	})
	t.Run("disabled", func(t *testing.T) {
		o := allOn
		o.AllowBearerKey = false
		refuse(t, post("", "", "Bearer "+key), o, 401, InvalidClient, "Bearer")
	})
}

func TestBodyKey(t *testing.T) {
	const key = "ds_live_W7p6DXeF6zzybyBN_QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ"
	t.Run("seed 000: JSON key", func(t *testing.T) {
		req := mustParse(t, post(jsonCT, `{"key":"`+key+`","scope":"read"}`), allOn)
		want := &Request{Scope: "read", Source: SourceBodyKey, Key: key, JSON: true}
		if diff := cmp.Diff(want, req); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if req.Challenge() != "Basic" {
			t.Errorf("Challenge() = %q", req.Challenge())
		}
	})
	t.Run("disabled: an unknown member", func(t *testing.T) {
		o := allOn
		o.AllowBodyKey = false
		req := mustParse(t, post(jsonCT, `{"key":"`+key+`"}`), o)
		if req.Source != SourceNone || req.Key != "" {
			t.Errorf("got %v", req)
		}
	})
	t.Run("not a string", func(t *testing.T) {
		refuse(t, post(jsonCT, `{"key":{"id":"x"}}`), allOn, 400, InvalidRequest, "")
	})
	t.Run("client_id beside", func(t *testing.T) {
		refuse(t, post(jsonCT, `{"key":"`+key+`","client_id":"W7p6DXeF6zzybyBN"}`), allOn, 400, InvalidRequest, "")
	})
	t.Run("empty key is absent", func(t *testing.T) {
		if req := mustParse(t, post(jsonCT, `{"key":""}`), allOn); req.Source != SourceNone {
			t.Errorf("got %v", req)
		}
	})
}

func TestOtherSchemes(t *testing.T) {
	for _, h := range []string{"Digest username=\"a\"", "DPoP abc", "Token abc", "", "   ", "Basicabc", "Bearerabc", "Negotiate"} {
		t.Run(h, func(t *testing.T) {
			refuse(t, post(formCT, "grant_type=client_credentials", h), allOn, 401, InvalidClient, "Basic")
		})
	}
	t.Run("two Authorization headers", func(t *testing.T) {
		refuse(t, post(formCT, "grant_type=client_credentials", basic(cbID, cbSecret), basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
		refuse(t, post("", "", "Bearer a", basic(cbID, cbSecret)), allOn, 400, InvalidRequest, "")
	})
}

func TestTOK23_PostCredentials(t *testing.T) {
	t.Run("form", func(t *testing.T) {
		req := mustParse(t, post(formCT, "grant_type=client_credentials&client_id=c%3Ab%2F1&client_secret=p%40ss+w%2Brd"+secretMark), allOn)
		want := &Request{GrantType: "client_credentials", Source: SourcePost, ClientID: cbID, ClientSecret: "p@ss w+rd" + secretMark}
		if diff := cmp.Diff(want, req); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("seed 002 JSON", func(t *testing.T) {
		body := `{"client_id":"3oyGaZLxkppqDi5V3kLw0e2mDh97ioEH6jMvSgYuhzE","client_secret":"rXDV5m_XkOI9XpEou_w-yW5A_Dby_EwHNg-5sHLnqnE","grant_type":"client_credentials","scope":"users:read users:write"}`
		req := mustParse(t, post(jsonCT, body), allOn)
		want := &Request{GrantType: "client_credentials", Scope: "users:read users:write", Source: SourcePost,
			ClientID: "3oyGaZLxkppqDi5V3kLw0e2mDh97ioEH6jMvSgYuhzE", ClientSecret: "rXDV5m_XkOI9XpEou_w-yW5A_Dby_EwHNg-5sHLnqnE", JSON: true}
		if diff := cmp.Diff(want, req); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("form post disabled", func(t *testing.T) {
		o := allOn
		o.AllowPost = false
		refuse(t, post(formCT, "grant_type=client_credentials&client_id=cp&client_secret="+secretMark), o, 401, InvalidClient, "Basic")
		mustParse(t, post(jsonCT, `{"client_id":"cp","client_secret":"`+secretMark+`"}`), o)
	})
	t.Run("JSON post disabled", func(t *testing.T) {
		o := allOn
		o.AllowPostJSON = false
		refuse(t, post(jsonCT, `{"client_id":"cp","client_secret":"`+secretMark+`"}`), o, 401, InvalidClient, "Basic")
		mustParse(t, post(formCT, "client_id=cp&client_secret="+secretMark), o)
	})
	t.Run("secret without id", func(t *testing.T) {
		refuse(t, post(formCT, "grant_type=client_credentials&client_secret="+secretMark), allOn, 401, InvalidClient, "Basic")
	})
}

func TestTOK24_NoCredentials(t *testing.T) {
	for _, c := range []struct{ name, ct, body, id string }{
		{"nothing", formCT, "grant_type=client_credentials", ""},
		{"bare client_id", formCT, "grant_type=client_credentials&client_id=cb", "cb"},
		{"public client", formCT, "grant_type=client_credentials&client_id=cpub", "cpub"},
		{"json bare client_id", jsonCT, `{"grant_type":"client_credentials","client_id":"cb"}`, "cb"},
		{"empty body", "", "", ""},
		{"password grant", formCT, "grant_type=password&username=alice&password=" + secretMark, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := mustParse(t, post(c.ct, c.body), allOn)
			if req.Source != SourceNone || req.ClientID != c.id || req.ClientSecret != "" || req.Key != "" {
				t.Errorf("got %v", req)
			}
			if req.Challenge() != "Basic" {
				t.Errorf("Challenge() = %q, want Basic (DESIGN.md: missing credentials)", req.Challenge())
			}
		})
	}
	t.Run("zero Options accept no credential", func(t *testing.T) {
		refuse(t, post(formCT, "grant_type=client_credentials", basic(cbID, cbSecret)), Options{}, 401, InvalidClient, "Basic")
		refuse(t, post(formCT, "client_id=a&client_secret="+secretMark), Options{}, 401, InvalidClient, "Basic")
		refuse(t, post("", "", "Bearer k"), Options{}, 401, InvalidClient, "Bearer")
		refuse(t, post(formCT, "client_assertion_type=t&client_assertion=a"), Options{}, 401, InvalidClient, "Basic")
		refuse(t, post(jsonCT, `{}`), Options{}, 400, InvalidRequest, "")
		if req := mustParse(t, post(formCT, "grant_type=password&username=u&password=p"), Options{}); req.Source != SourceNone {
			t.Errorf("got %v", req)
		}
	})
}

func TestTOK25_OneAuthenticationMethod(t *testing.T) {
	const key = "ds_live_abc_" + secretMark
	b := basic(cbID, cbSecret)
	for _, c := range []struct {
		name, ct, body string
		auth           []string
	}{
		{"Basic and body secret, same values", formCT, "grant_type=client_credentials&client_id=c%3Ab%2F1&client_secret=p%40ss+w%2Brd%25%2F%3D%3A%C3%A9" + secretMark, []string{b}},
		{"Basic and body secret alone", formCT, "grant_type=client_credentials&client_secret=" + secretMark, []string{b}},
		{"Basic and client assertion", formCT, "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJ.x.y", []string{b}},
		{"Basic and assertion type only", formCT, "grant_type=client_credentials&client_assertion_type=t", []string{b}},
		{"body secret and client assertion", formCT, "grant_type=client_credentials&client_id=cb&client_secret=" + secretMark + "&client_assertion_type=t&client_assertion=a", nil},
		{"Bearer key and JSON key", jsonCT, `{"key":"` + key + `"}`, []string{"Bearer " + key}},
		{"Bearer key and body secret", formCT, "client_id=a&client_secret=" + secretMark, []string{"Bearer " + key}},
		{"JSON key and JSON secret", jsonCT, `{"key":"` + key + `","client_secret":"` + secretMark + `"}`, nil},
		{"JSON key and Basic", jsonCT, `{"key":"` + key + `"}`, []string{b}},
		{"unknown scheme and body secret", formCT, "client_id=a&client_secret=" + secretMark, []string{"Digest x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, post(c.ct, c.body, c.auth...), allOn, 400, InvalidRequest, "")
		})
	}
}

func TestTOK26_BareClientIDBesideBasic(t *testing.T) {
	b := basic(cbID, cbSecret)
	t.Run("matching", func(t *testing.T) {
		req := mustParse(t, post(formCT, "grant_type=client_credentials&client_id=c%3Ab%2F1", b), allOn)
		if req.ClientID != cbID || req.Source != SourceBasic {
			t.Errorf("got %v", req)
		}
	})
	for _, id := range []string{"cx", "c%3Ab%2F2", "C%3Ab%2F1", "c%3Ab%2F1+"} {
		t.Run("mismatch "+id, func(t *testing.T) {
			refuse(t, post(formCT, "grant_type=client_credentials&client_id="+id, b), allOn, 400, InvalidRequest, "")
		})
	}
	t.Run("json mismatch", func(t *testing.T) {
		refuse(t, post(jsonCT, `{"client_id":"cx"}`, b), allOn, 400, InvalidRequest, "")
	})
}

func TestAssertion(t *testing.T) {
	const typ = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	t.Run("passed through", func(t *testing.T) {
		req := mustParse(t, post(formCT, "grant_type=client_credentials&client_id=cj&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJ.x.y"), allOn)
		want := &Request{GrantType: "client_credentials", Source: SourceAssertion, ClientID: "cj", ClientAssertionType: typ, ClientAssertion: "eyJ.x.y"}
		if diff := cmp.Diff(want, req); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	for _, body := range []string{"client_assertion=eyJ.x.y", "client_assertion_type=x"} {
		t.Run("half "+body, func(t *testing.T) {
			refuse(t, post(formCT, body), allOn, 400, InvalidRequest, "")
		})
	}
}

func TestResponseTypeAlias(t *testing.T) {
	for _, c := range []struct {
		name, body string
		alias      bool
		want       string
	}{
		{"seed 002 spelling", `{"response_type":"client_credentials"}`, true, "client_credentials"},
		{"both, equal", `{"response_type":"client_credentials","grant_type":"client_credentials"}`, true, "client_credentials"},
		{"alias off: unknown member", `{"response_type":"client_credentials"}`, false, ""},
		{"alias off: grant_type wins alone", `{"response_type":"code","grant_type":"client_credentials"}`, false, "client_credentials"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := allOn
			o.AllowResponseTypeAlias = c.alias
			if req := mustParse(t, post(jsonCT, c.body), o); req.GrantType != c.want {
				t.Errorf("GrantType = %q, want %q", req.GrantType, c.want)
			}
		})
	}
	t.Run("both, different", func(t *testing.T) {
		refuse(t, post(jsonCT, `{"response_type":"password","grant_type":"client_credentials"}`), allOn, 400, InvalidRequest, "")
	})
	t.Run("not a string", func(t *testing.T) {
		refuse(t, post(jsonCT, `{"response_type":["client_credentials"]}`), allOn, 400, InvalidRequest, "")
	})
}

// Introspection and revocation requests: the endpoint parses them with
// AllowJSON off and checks that token is present.
var formOnly = Options{AllowBasic: true, AllowPost: true, AllowBearerKey: true}

func TestIN_RV_Requests(t *testing.T) {
	t.Run("IN-01 token and hint", func(t *testing.T) {
		req := mustParse(t, post(formCT, "token=eyJ.a.b&token_type_hint=access_token", basic("rsc", "pw"+secretMark)), formOnly)
		if req.Token != "eyJ.a.b" || req.TokenTypeHint != "access_token" || req.ClientID != "rsc" {
			t.Errorf("got %v", req)
		}
	})
	t.Run("IN-15 RV-10 missing token left to caller", func(t *testing.T) {
		if req := mustParse(t, post("", "", basic("rsc", "pw"+secretMark)), formOnly); req.Token != "" {
			t.Errorf("got %v", req)
		}
	})
	t.Run("IN-16 RV-13 repeated token", func(t *testing.T) {
		refuse(t, post(formCT, "token=a&token=b", basic("rsc", "pw"+secretMark)), formOnly, 400, InvalidRequest, "")
		refuse(t, post(formCT, "token=a&token=a", basic("rsc", "pw"+secretMark)), formOnly, 400, InvalidRequest, "")
	})
	t.Run("IN-17 RV-11 GET", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/introspect", nil)
		r.Header.Set("Authorization", basic("rsc", "pw"+secretMark))
		refuse(t, r, formOnly, 405, InvalidRequest, "")
	})
	t.Run("IN-17 RV-11 token in the query", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/introspect?token=eyJ.a.b", nil)
		r.Header.Set("Authorization", basic("rsc", "pw"+secretMark))
		refuse(t, r, formOnly, 400, InvalidRequest, "")
	})
	t.Run("IN-18 RV-12 JSON", func(t *testing.T) {
		refuse(t, post(jsonCT, `{"token":"eyJ.a.b"}`, basic("rsc", "pw"+secretMark)), formOnly, 400, InvalidRequest, "")
	})
	t.Run("IN-02 RV-07 no credentials", func(t *testing.T) {
		if req := mustParse(t, post(formCT, "token=eyJ.a.b"), formOnly); req.Source != SourceNone || req.Challenge() != "Basic" {
			t.Errorf("got %v", req)
		}
	})
	t.Run("RV-08 bad Basic", func(t *testing.T) {
		refuse(t, post(formCT, "token=eyJ.a.b", "Basic !!"), formOnly, 401, InvalidClient, "Basic")
	})
}

func TestReadFailure(t *testing.T) {
	r := post(formCT, "", basic(cbID, cbSecret))
	r.Body, r.ContentLength = io.NopCloser(iotest.ErrReader(errors.New("connection reset"))), -1
	refuse(t, r, allOn, 400, InvalidRequest, "")
}

func TestPooledBuffersAreCleared(t *testing.T) {
	secret := strings.Repeat(secretMark, 100)
	for range 20 {
		mustParse(t, post(formCT, "client_id=a&client_secret="+secret), allOn)
		bp := bufPool.Get().(*[]byte)
		b := *bp
		for i, c := range b[:cap(b)] {
			if c != 0 {
				t.Fatalf("pooled buffer byte %d is %q after Parse: not cleared", i, c)
			}
		}
		bufPool.Put(bp)
	}
}

func TestCredentialSourceString(t *testing.T) {
	for s, want := range map[CredentialSource]string{
		SourceNone: "none", SourceBasic: "basic", SourcePost: "post", SourceBearerKey: "bearer_key",
		SourceBodyKey: "body_key", SourceAssertion: "assertion", 99: "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
	}
}
