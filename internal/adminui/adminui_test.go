package adminui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

var testConfig = Config{Path: "/admin", TokenPath: "/oauth/token", PasswordPath: "/authorization", AdminPath: "/v1/api_keys"}

func TestHandler(t *testing.T) {
	h := Handler(testConfig)
	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		cache              string
		body               string // a substring of the body
	}{
		{"page", "GET", "/admin", 200, "text/html; charset=utf-8", "no-store", `<script src="/admin/app.js" defer></script>`},
		{"page HEAD", "HEAD", "/admin", 200, "text/html; charset=utf-8", "no-store", ""},
		{"script", "GET", "/admin/app.js", 200, "text/javascript; charset=utf-8", "no-cache", `"use strict"`},
		{"style", "GET", "/admin/app.css", 200, "text/css; charset=utf-8", "no-cache", ":root"},
		{"icon", "GET", "/admin/icon.svg", 200, "image/svg+xml", "no-cache", "<svg"},
		{"slash redirects", "GET", "/admin/", 301, "", "", ""},
		{"template not served", "GET", "/admin/index.html", 404, "text/plain; charset=utf-8", "", "not found"},
		{"assets dir not served", "GET", "/admin/assets/app.js", 404, "text/plain; charset=utf-8", "", "not found"},
		{"unknown asset", "GET", "/admin/nope.js", 404, "text/plain; charset=utf-8", "", "not found"},
		{"other path", "GET", "/adminx", 404, "text/plain; charset=utf-8", "", "not found"},
		{"POST", "POST", "/admin", 405, "text/plain; charset=utf-8", "", "method not allowed"},
		{"PUT asset", "PUT", "/admin/app.js", 405, "text/plain; charset=utf-8", "", ""},
		{"DELETE", "DELETE", "/admin", 405, "text/plain; charset=utf-8", "", ""},
		{"OPTIONS", "OPTIONS", "/admin", 405, "text/plain; charset=utf-8", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": CSP,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if tt.contentType != "" && res.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.contentType)
			}
			if tt.cache != "" && res.Header.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), tt.cache)
			}
			if tt.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", res.Header.Get("Allow"))
			}
			if tt.status == 301 && res.Header.Get("Location") != "/admin" {
				t.Errorf("Location %q, want /admin", res.Header.Get("Location"))
			}
			body, _ := io.ReadAll(res.Body)
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body does not hold %q:\n%.300s", tt.body, body)
			}
		})
	}
}

// The CSP allows nothing inline and nothing from another origin, and the
// page holds nothing inline that it would block.
func TestPolicy(t *testing.T) {
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "data:", "*"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP allows %s", bad)
		}
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %s", want)
		}
	}
	rec := httptest.NewRecorder()
	Handler(testConfig).ServeHTTP(rec, httptest.NewRequest("GET", "/admin", nil))
	page := rec.Body.String()
	for _, re := range []string{`<script>`, `<script[^>]*>[^<]`, `<style`, ` style=`, ` on[a-z]+=`, `javascript:`, `(src|href)="(https?:)?//`} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("the page holds %q, which the policy would block or which loads from elsewhere", m)
		}
	}
	js, _ := assets.ReadFile("assets/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage", "sessionStorage", "document.cookie", "new Function"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// The paths reach the page as data attributes, escaped by html/template.
func TestConfigInPage(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want []string
	}{
		{"example server", testConfig, []string{
			`data-token-path="/oauth/token"`, `data-password-path="/authorization"`,
			`data-admin-path="/v1/api_keys"`, `data-key-auth="basic"`, `href="/admin/app.css"`}},
		{"elsewhere, no passwords", Config{Path: "/ops/keys", TokenPath: "/v1/oauth2/token", AdminPath: "/api/keys", KeyAuth: KeyAuthBearer}, []string{
			`data-token-path="/v1/oauth2/token"`, `data-password-path=""`, `data-admin-path="/api/keys"`,
			`data-key-auth="bearer"`, `src="/ops/keys/app.js"`}},
		{"escaped", Config{Path: "/a&b", TokenPath: `/t"><script>u`, AdminPath: "/k'"}, []string{
			`data-token-path="/t&#34;&gt;&lt;script&gt;u"`, `data-admin-path="/k&#39;"`, `href="/a&amp;b/app.css"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler(tt.c).ServeHTTP(rec, httptest.NewRequest("GET", tt.c.Path, nil))
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("the page lacks %s", w)
				}
			}
		})
	}
}

// An asset answers If-None-Match with 304.
func TestETag(t *testing.T) {
	h := Handler(testConfig)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/app.js", nil))
	etag := rec.Header().Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	req := httptest.NewRequest("GET", "/admin/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("status %d, want 304", rec.Code)
	}
}

func TestHandlerPanicsOnBadConfig(t *testing.T) {
	for _, c := range []Config{
		{},
		{Path: "/admin", TokenPath: "/oauth/token"},
		{Path: "admin", TokenPath: "/oauth/token", AdminPath: "/k"},
		{Path: "/admin/", TokenPath: "/oauth/token", AdminPath: "/k"},
		{Path: "/admin", TokenPath: "/oauth/token?x", AdminPath: "/k"},
		{Path: "/", TokenPath: "/oauth/token", AdminPath: "/k"},
		{Path: "/admin", TokenPath: "/oauth token", AdminPath: "/k"},
		{Path: "/admin", TokenPath: "/oauth/token", AdminPath: "/k", KeyAuth: "json"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler(%+v) did not panic", c)
				}
			}()
			Handler(c)
		}()
	}
}
