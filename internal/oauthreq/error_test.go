package oauthreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWriteError(t *testing.T) {
	for _, c := range []struct {
		name   string
		e      *Error
		realm  string
		status int
		hdr    map[string]string // "" means absent
		body   string
	}{
		{"invalid_request", &Error{Status: 400, Code: InvalidRequest, Description: "a parameter is repeated"}, "",
			400, map[string]string{"WWW-Authenticate": "", "Allow": "", "Retry-After": ""},
			`{"error":"invalid_request","error_description":"a parameter is repeated"}`},
		{"Basic challenge", &Error{Status: 401, Code: InvalidClient, Description: "client authentication failed", Challenge: "Basic"}, "api",
			401, map[string]string{"WWW-Authenticate": `Basic realm="api", charset="UTF-8"`},
			`{"error":"invalid_client","error_description":"client authentication failed"}`},
		{"empty challenge is Basic, default realm", &Error{Status: 401, Code: InvalidClient}, "",
			401, map[string]string{"WWW-Authenticate": `Basic realm="keyturn", charset="UTF-8"`},
			`{"error":"invalid_client"}`},
		{"Bearer challenge carries the body's error", &Error{Status: 401, Code: InvalidClient, Challenge: "Bearer"}, "api",
			401, map[string]string{"WWW-Authenticate": `Bearer realm="api", error="invalid_client"`},
			`{"error":"invalid_client"}`},
		{"Bearer challenge, invalid_token", &Error{Status: 401, Code: InvalidToken, Challenge: "Bearer"}, "api",
			401, map[string]string{"WWW-Authenticate": `Bearer realm="api", error="invalid_token"`},
			`{"error":"invalid_token"}`},
		{"realm sanitized", &Error{Status: 401, Code: InvalidClient}, "a\"b\\c\r\nd",
			401, map[string]string{"WWW-Authenticate": `Basic realm="a?b?c??d", charset="UTF-8"`},
			`{"error":"invalid_client"}`},
		{"405", &Error{Status: 405, Code: InvalidRequest, Description: "x"}, "",
			405, map[string]string{"Allow": "POST", "WWW-Authenticate": ""}, `{"error":"invalid_request","error_description":"x"}`},
		{"429 rounds Retry-After up", &Error{Status: 429, Code: InvalidClient, RetryAfter: 5*time.Second + time.Millisecond}, "",
			429, map[string]string{"Retry-After": "6", "WWW-Authenticate": ""}, `{"error":"invalid_client"}`},
		{"Retry-After exact", &Error{Status: 503, Code: ServerError, RetryAfter: 2 * time.Second}, "",
			503, map[string]string{"Retry-After": "2"}, `{"error":"server_error"}`},
		{"Retry-After below a second", &Error{Status: 429, Code: InvalidClient, RetryAfter: time.Nanosecond}, "",
			429, map[string]string{"Retry-After": "1"}, `{"error":"invalid_client"}`},
		{"zero status is 400", &Error{Code: InvalidScope}, "", 400, nil, `{"error":"invalid_scope"}`},
		{"bad status is 500", &Error{Status: 200, Code: InvalidScope}, "", 500, nil, `{"error":"invalid_scope"}`},
		{"empty code", &Error{Status: 400}, "", 400, nil, `{"error":"invalid_request"}`},
		{"empty code 5xx", &Error{Status: 502}, "", 502, nil, `{"error":"server_error"}`},
		{"nil", nil, "", 500, map[string]string{"WWW-Authenticate": ""}, `{"error":"server_error"}`},
		{"forbidden characters replaced", &Error{Status: 400, Code: "bad\"code", Description: "é \\ \" \x7f\x00<>&"}, "",
			400, nil, `{"error":"bad?code","error_description":"?? ? ? ??<>&"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, c.e, c.realm)
			if w.Code != c.status {
				t.Errorf("status %d, want %d", w.Code, c.status)
			}
			want := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache", "X-Content-Type-Options": "nosniff"}
			for k, v := range c.hdr {
				want[k] = v
			}
			for k, v := range want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := strings.TrimSuffix(w.Body.String(), "\n"); got != c.body {
				t.Errorf("body %s, want %s", got, c.body)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Errorf("body %q is not JSON", w.Body)
			}
		})
	}
}

func TestTOK41_ErrorTextCharacters(t *testing.T) {
	// Every Parse error of the other tests passes through checkError; this
	// test checks the checker against the §5.2 grammar itself.
	for c := 0; c < 256; c++ {
		want := c == 0x20 || c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e
		if got := validText(string(rune(c))[:1]); c < 0x80 && got != want {
			t.Errorf("validText(%#x) = %v, want %v", c, got, want)
		}
		if got := textChar(byte(c)); got != want {
			t.Errorf("textChar(%#x) = %v, want %v", c, got, want)
		}
	}
}

func TestErrorIsAndMessage(t *testing.T) {
	e := &Error{Status: 401, Code: InvalidClient, Description: "the Basic credentials are malformed", Challenge: "Basic"}
	var err error = fmt.Errorf("token endpoint: %w", e)
	if !errors.Is(err, &Error{Code: InvalidClient}) {
		t.Error("errors.Is does not match the same code")
	}
	if errors.Is(err, &Error{Code: InvalidRequest, Status: 401}) {
		t.Error("errors.Is matches another code")
	}
	if got := e.Error(); got != "keyturn/oauthreq: invalid_client: the Basic credentials are malformed" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Code: InvalidScope}).Error(); got != "keyturn/oauthreq: invalid_scope" {
		t.Errorf("Error() = %q", got)
	}
}

func TestRequestRedaction(t *testing.T) {
	req := &Request{
		GrantType: "client_credentials", Scope: "read", Resource: []string{"https://a.test/"},
		Username: "alice", Password: "pw-" + secretMark, Token: "tok-" + secretMark, TokenTypeHint: "access_token",
		Source: SourceBasic, ClientID: "cb", ClientSecret: "cs-" + secretMark, Key: "key-" + secretMark,
		ClientAssertionType: "urn:x", ClientAssertion: "as-" + secretMark,
	}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(f, req), fmt.Sprintf(f, *req))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("req", "req", req, "val", *req)
	outs = append(outs, buf.String())
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("req", "req", req)
	outs = append(outs, buf.String())
	j, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	for _, out := range outs {
		if strings.Contains(out, secretMark) {
			t.Errorf("output shows a secret: %s", out)
		}
		for _, want := range []string{"client_credentials", "alice", "cb", "[REDACTED]"} {
			if !strings.Contains(out, want) {
				t.Errorf("output %s lacks %q", out, want)
			}
		}
	}
	if got, want := fmt.Sprint(req), `oauthreq.Request{GrantType:"client_credentials", Scope:"read", Resource:"https://a.test/", Username:"alice", Password:"[REDACTED]", Token:"[REDACTED]", TokenTypeHint:"access_token", Source:basic, ClientID:"cb", ClientSecret:"[REDACTED]", Key:"[REDACTED]", ClientAssertionType:"urn:x", ClientAssertion:"[REDACTED]"}`; got != want {
		t.Errorf("Sprint = %s\nwant     %s", got, want)
	}
	if got, want := fmt.Sprint(Request{}), `oauthreq.Request{Source:none}`; got != want {
		t.Errorf("Sprint(zero) = %s, want %s", got, want)
	}
}
