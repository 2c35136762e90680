package keyturn

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The page is told the server's own paths and how to present an admin key.
func TestAdminPageConfig(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*Config)
		want      []string
	}{
		{"password path, every method", nil, []string{
			`data-token-path="/oauth/token"`, `data-password-path="/authorization"`,
			`data-admin-path="/v1/api_keys"`, `data-key-auth="basic"`}},
		{"users without a password path", func(c *Config) { c.PasswordPath = ""; c.TokenPaths = []string{"/v1/oauth2/token"} }, []string{
			`data-token-path="/v1/oauth2/token"`, `data-password-path="/v1/oauth2/token"`}},
		{"no users", func(c *Config) { c.Users, c.UserScope = nil, nil }, []string{`data-password-path=""`}},
		{"form only", func(c *Config) { c.Methods = ClientSecretPost; c.AdminPath = "/keys" }, []string{
			`data-key-auth="post"`, `data-admin-path="/keys"`}},
		{"bearer key only", func(c *Config) { c.Methods = BearerKey | JSONKey }, []string{`data-key-auth="bearer"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *server
			if tt.configure == nil {
				s = newServer(t)
			} else {
				s = newServer(t, tt.configure)
			}
			rec := httptest.NewRecorder()
			s.AdminPage("/admin").ServeHTTP(rec, httptest.NewRequest("GET", "/admin", nil))
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("CSP %q", csp)
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("the page lacks %s", w)
				}
			}
		})
	}
}
