package token

import (
	"net/http"
	"strconv"
	"strings"
)

// jwksMaxAge is how long a client may cache the JWKS document.
const jwksMaxAge = 300 // seconds

// JWKSPath is where RFC 8414 metadata conventionally points jwks_uri.
const JWKSPath = "/.well-known/jwks.json"

// Handler returns an http.Handler that serves [KeySet.JWKS], for mounting at
// [JWKSPath]. It answers GET and HEAD (anything else gets 405 with Allow:
// GET, HEAD), with Content-Type application/json, a strong ETag (a
// conditional GET with a matching If-None-Match gets 304), Cache-Control
// public, max-age=300, and Access-Control-Allow-Origin: * since the document
// is public. Keys are published MinPublishAhead or more before they sign, so
// a cached copy never misses a key in use.
func (ks *KeySet) Handler() http.Handler {
	return jwksHandler{ks}
}

type jwksHandler struct{ ks *KeySet }

func (h jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	snap := h.ks.snap.Load()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(jwksMaxAge))
	hdr.Set("ETag", snap.etag)
	hdr.Set("Access-Control-Allow-Origin", "*")
	if etagMatch(r.Header.Values("If-None-Match"), snap.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(snap.jwks)+1))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(snap.jwks)
		w.Write([]byte{'\n'}) // so that a shell prompt does not land on the JSON
	}
}

// etagMatch reports whether an If-None-Match field (RFC 9110 §13.1.2)
// matches etag: "*", or a list holding etag, compared weakly (a W/ prefix is
// ignored).
func etagMatch(fields []string, etag string) bool {
	for _, f := range fields {
		for _, t := range strings.Split(f, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}
