// Package adminui serves the admin page for people: seed 000's "Admin → API
// Keys", a plain HTML page with a small script that signs a staff member in
// (a user's name and password, or an admin key), lists, creates, rotates
// and revokes API keys through the key admin API, and signs out.
//
// Start with [Handler]; hosts get it as keyturn.Server.AdminPage, which
// fills the [Config] from the server's own paths.
//
// # Security
//
// The page and its assets are embedded (no build step, nothing loaded from
// another origin) and served with a Content-Security-Policy that allows
// script, style, images and fetches from the page's own origin only and
// nothing inline, with frame-ancestors 'none', X-Content-Type-Options:
// nosniff and Referrer-Policy: no-referrer. The script keeps the access token
// in memory only: no cookie (so no CSRF surface), no Web Storage; a reload
// signs the user out. Every value from the server is shown as text.
package adminui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// CSP is the Content-Security-Policy of every response. Beyond same-origin
// script, style, images and fetches and nothing inline, it requires Trusted
// Types and allows no policy: the script never writes HTML from a string
// (innerHTML and the like), and a browser that enforces Trusted Types
// refuses it if it ever tries.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// The ways the page may present an admin key at the token endpoint (see
// Config.KeyAuth).
const (
	KeyAuthBasic  = "basic"  // HTTP Basic, client_id and client_secret (RFC 6749 §2.3.1)
	KeyAuthPost   = "post"   // client_id and client_secret in a form body
	KeyAuthBearer = "bearer" // the whole key as "Authorization: Bearer <key>"
)

// Config is what the page needs to know about the server it runs on.
type Config struct {
	// Path is where the page is served, e.g. "/admin"; its assets are
	// served below Path+"/". Required: it starts with '/' and does not end
	// with one.
	Path string
	// TokenPath is the token endpoint, where an admin key is exchanged for
	// a token. Required.
	TokenPath string
	// PasswordPath is where a user's name and password are exchanged for a
	// token (grant_type=password). Empty: the page offers no password
	// sign-in.
	PasswordPath string
	// AdminPath is the key admin API, e.g. "/v1/api_keys". Required.
	AdminPath string
	// KeyAuth is how an admin key is presented at TokenPath: KeyAuthBasic,
	// KeyAuthPost or KeyAuthBearer. Empty means KeyAuthBasic.
	KeyAuth string
}

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/index.html"))

// asset is one file of the page, served with its ETag.
type asset struct {
	body        []byte
	contentType string
	etag        string
	cache       string
}

// Handler returns the page at c.Path and its assets below c.Path+"/". Only
// GET and HEAD are allowed (405 otherwise); an unknown path is 404. Mount it
// for the path and its subtree:
//
//	mux.Handle("/admin", h)
//	mux.Handle("/admin/", h)
//
// It panics when c is incomplete or a path is malformed, as a mux panics on
// a malformed pattern: the configuration is the program's, not its input.
func Handler(c Config) http.Handler {
	if c.KeyAuth == "" {
		c.KeyAuth = KeyAuthBasic
	}
	switch c.KeyAuth {
	case KeyAuthBasic, KeyAuthPost, KeyAuthBearer:
	default:
		panic("adminui: unknown Config.KeyAuth " + c.KeyAuth)
	}
	for _, p := range []string{c.Path, c.TokenPath, c.AdminPath} {
		if p == "" {
			panic("adminui: Config.Path, TokenPath and AdminPath are required")
		}
	}
	// The paths reach the page through html/template, which escapes them.
	for _, p := range []string{c.Path, c.TokenPath, c.PasswordPath, c.AdminPath} {
		if p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}?#")) {
			panic("adminui: path " + p + " must start with '/' and hold no space, brace, '?' or '#'")
		}
	}
	if strings.HasSuffix(c.Path, "/") {
		panic("adminui: Config.Path " + c.Path + " must not end with '/': its assets are served below it")
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, c); err != nil {
		panic("adminui: " + err.Error())
	}
	h := &handler{path: c.Path, files: map[string]asset{
		c.Path: newAsset(buf.Bytes(), "text/html; charset=utf-8", "no-store"),
	}}
	for name, typ := range map[string]string{
		"app.js":   "text/javascript; charset=utf-8",
		"app.css":  "text/css; charset=utf-8",
		"icon.svg": "image/svg+xml",
	} {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			panic("adminui: " + err.Error())
		}
		h.files[c.Path+"/"+name] = newAsset(b, typ, "no-cache")
	}
	return h
}

func newAsset(b []byte, typ, cache string) asset {
	sum := sha256.Sum256(b)
	return asset{body: b, contentType: typ, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, cache: cache}
}

type handler struct {
	path  string
	files map[string]asset
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == h.path+"/" {
		http.Redirect(w, r, h.path, http.StatusMovedPermanently)
		return
	}
	a, ok := h.files[r.URL.Path]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", a.cache)
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
