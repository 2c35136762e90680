package keyturn

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyturn/keyturn/internal/jsonenc"
	"github.com/keyturn/keyturn/token"
)

// MetadataWellKnown is the well-known path of RFC 8414 authorization
// server metadata.
const MetadataWellKnown = "/.well-known/oauth-authorization-server"

// metadataMaxAge is how long a client may cache the metadata document.
const metadataMaxAge = 300 // seconds

// buildMetadata checks the advertised URLs and encodes the RFC 8414
// document once.
func (e *Endpoint) buildMetadata(cfg EndpointConfig) error {
	base := strings.TrimSuffix(e.issuer.Identifier(), "/")
	or := func(s, path string) string {
		if s == "" {
			return base + path
		}
		return s
	}
	tokenURL := or(cfg.TokenURL, DefaultTokenPath)
	introURL := or(cfg.IntrospectionURL, DefaultIntrospectionPath)
	revokeURL := or(cfg.RevocationURL, DefaultRevocationPath)
	jwksURL := or(cfg.JWKSURL, token.JWKSPath)
	for _, u := range []struct{ what, url string }{
		{"TokenURL", tokenURL}, {"IntrospectionURL", introURL}, {"RevocationURL", revokeURL}, {"JWKSURL", jwksURL},
	} {
		if err := checkEndpointURL("EndpointConfig."+u.what, u.url, e.plainHTTP); err != nil {
			return err
		}
	}

	// RFC 8414 §3: the issuer's path, without a trailing '/', goes after
	// the well-known path.
	iu, _ := url.Parse(e.issuer.Identifier()) // checked by NewEndpoint
	e.metadataPath = MetadataWellKnown + strings.TrimSuffix(iu.EscapedPath(), "/")

	var auth []string
	for _, m := range []AuthMethod{ClientSecretBasic, ClientSecretPost} {
		if e.methods&m != 0 {
			auth = append(auth, m.String())
		}
	}
	var authAlgs []string // private_key_jwt (assertion.go)
	if e.assertions != nil {
		auth = append(auth, PrivateKeyJWT.String())
		authAlgs = AssertionAlgorithms
	}
	grants := []string{grantClientCredentials}
	if e.users != nil {
		grants = append(grants, grantPassword)
	}

	b := make([]byte, 0, 1024)
	b = append(b, `{"issuer":`...)
	b = jsonenc.AppendString(b, e.issuer.Identifier())
	member := func(name, value string) {
		b = append(b, ',')
		b = jsonenc.AppendString(b, name)
		b = append(b, ':')
		b = jsonenc.AppendString(b, value)
	}
	list := func(name string, values []string) {
		if len(values) == 0 {
			return // RFC 8414 §3.2: no empty arrays
		}
		b = append(b, ',')
		b = jsonenc.AppendString(b, name)
		b = append(b, ":["...)
		for i, v := range values {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, v)
		}
		b = append(b, ']')
	}
	member("token_endpoint", tokenURL)
	member("jwks_uri", jwksURL)
	member("introspection_endpoint", introURL)
	if e.verifier.Revocations() != nil {
		member("revocation_endpoint", revokeURL)
	}
	list("grant_types_supported", grants)
	list("token_endpoint_auth_methods_supported", auth)
	list("token_endpoint_auth_signing_alg_values_supported", authAlgs)
	list("introspection_endpoint_auth_methods_supported", auth)
	list("introspection_endpoint_auth_signing_alg_values_supported", authAlgs)
	if e.verifier.Revocations() != nil {
		list("revocation_endpoint_auth_methods_supported", auth)
		list("revocation_endpoint_auth_signing_alg_values_supported", authAlgs)
	}
	list("scopes_supported", cfg.ScopesSupported.Tokens())
	if e.dpop != nil {
		list("dpop_signing_alg_values_supported", e.dpop.Algorithms()) // dpop.go
	}
	b = append(b, "}\n"...) // a newline, so that a shell prompt does not land on the JSON
	e.metadata = b
	return nil
}

// MetadataPath returns the path at which to mount [Endpoint.Metadata]:
// MetadataWellKnown followed by the issuer's path, if any (RFC 8414 §3.1),
// e.g. "/.well-known/oauth-authorization-server/t1" for the issuer
// "https://as.example/t1".
func (e *Endpoint) MetadataPath() string { return e.metadataPath }

// Metadata returns the RFC 8414 authorization server metadata handler, to
// mount at [Endpoint.MetadataPath]; it answers 404 at any other path, so
// that a catch-all route never serves the document under another issuer's
// name. It answers GET and HEAD (anything else gets 405 with Allow: GET,
// HEAD) with a fixed JSON document: issuer, token_endpoint, jwks_uri,
// introspection_endpoint, revocation_endpoint (when revocation is
// enabled), grant_types_supported, the *_auth_methods_supported lists (the
// RFC 6749 methods enabled), scopes_supported and, with DPoP,
// dpop_signing_alg_values_supported, leaving out any list that would be
// empty. The document is public: Cache-Control public,
// max-age=300, and Access-Control-Allow-Origin: *.
func (e *Endpoint) Metadata() http.Handler {
	return metadataHandler{e}
}

type metadataHandler struct{ e *Endpoint }

func (h metadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if r.URL.EscapedPath() != h.e.metadataPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(metadataMaxAge))
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Content-Length", strconv.Itoa(len(h.e.metadata)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(h.e.metadata)
	}
}
