package keyturn

import (
	"net/http"

	"github.com/keyturn/keyturn/internal/adminui"
)

// DefaultAdminPagePath is where the example server serves [Server.AdminPage].
const DefaultAdminPagePath = "/admin"

// AdminPage returns the admin page for people, seed 000's "Admin → API
// Keys", served at path (e.g. DefaultAdminPagePath) with its script, style
// sheet and icon below path+"/". A staff member signs in with a user's name
// and password (when [Config.Users] is set) or with an admin key, and lists,
// creates, rotates and revokes keys; the page does all of it through
// [Server.Admin] and the token endpoint, so mount those too:
//
//	mux.Handle("/", srv.Handler())
//	mux.Handle("/v1/api_keys", srv.Admin())
//	mux.Handle("/v1/api_keys/", srv.Admin())
//	mux.Handle("/admin", srv.AdminPage("/admin"))
//	mux.Handle("/admin/", srv.AdminPage("/admin"))
//
// The page keeps the access token in memory only (no cookie, so no CSRF
// surface; a reload signs the user out), loads nothing from another origin,
// and is served with a Content-Security-Policy that allows no inline script
// or style and no framing. It offers a new key's scope from the signed-in
// token's scope, so a key never exceeds its creator's permissions (the admin
// API enforces it regardless). Only GET and HEAD are answered (405
// otherwise); other paths below path+"/" are 404.
//
// It panics when path does not start with '/', ends with '/', or holds a
// space, brace, '?' or '#'.
func (s *Server) AdminPage(path string) http.Handler {
	c := adminui.Config{Path: path, TokenPath: s.tokenPaths[0], PasswordPath: s.passwordPath, AdminPath: s.adminPath}
	switch {
	case s.endpoint.users == nil:
		c.PasswordPath = "" // no password grant: nobody could sign in with one
	case c.PasswordPath == "":
		c.PasswordPath = s.tokenPaths[0] // grant_type=password works at every token path
	}
	switch m := s.endpoint.methods; {
	case m&ClientSecretBasic != 0:
		c.KeyAuth = adminui.KeyAuthBasic
	case m&ClientSecretPost != 0:
		c.KeyAuth = adminui.KeyAuthPost
	default:
		c.KeyAuth = adminui.KeyAuthBearer
	}
	return adminui.Handler(c)
}
