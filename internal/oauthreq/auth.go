package oauthreq

import (
	"encoding/base64"
	"strings"
)

// strictBase64 refuses non-canonical padding bits, so that one credential
// has one encoding.
var strictBase64 = base64.StdEncoding.Strict()

// credentials finds the request's one client credential, from the
// Authorization header (auth, if hasAuth) and the body parameters in c.
func credentials(req *Request, c *collector, auth string, hasAuth bool, o *Options) error {
	clientID := c.vals[pClientID]
	secret := c.vals[pClientSecret]
	assertion, assertionType := c.vals[pClientAssertion], c.vals[pClientAssertionType]
	bodyKey := c.vals[pKey]

	methods := 0
	if hasAuth {
		methods++
	}
	if secret != "" {
		methods++
	}
	if assertion != "" || assertionType != "" {
		methods++
	}
	if bodyKey != "" {
		methods++
	}
	if methods > 1 {
		return badRequest("the request uses more than one client authentication method")
	}

	switch {
	case hasAuth:
		return header(req, auth, clientID, o)

	case secret != "":
		if req.JSON && !o.AllowPostJSON || !req.JSON && !o.AllowPost {
			return unauthorized("Basic", "client_secret in the body is not an enabled authentication method")
		}
		if clientID == "" {
			return unauthorized("Basic", "client_secret without client_id")
		}
		req.Source, req.ClientID, req.ClientSecret = SourcePost, clientID, secret

	case assertion != "" || assertionType != "":
		if !o.AllowAssertion {
			return unauthorized("Basic", "client assertions are not an enabled authentication method")
		}
		if assertion == "" || assertionType == "" {
			return badRequest("client_assertion and client_assertion_type go together")
		}
		req.Source, req.ClientID = SourceAssertion, clientID
		req.ClientAssertion, req.ClientAssertionType = assertion, assertionType

	case bodyKey != "":
		// c only knows "key" when AllowBodyKey is set.
		if clientID != "" {
			return badRequest("client_id is not allowed beside an API key")
		}
		req.Source, req.Key = SourceBodyKey, bodyKey

	default:
		req.Source, req.ClientID = SourceNone, clientID
	}
	return nil
}

// header reads the Authorization header's credential.
func header(req *Request, auth, clientID string, o *Options) error {
	scheme, rest, _ := strings.Cut(auth, " ")
	value := strings.TrimLeft(rest, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		if !o.AllowBasic {
			return unauthorized("Basic", "HTTP Basic is not an enabled authentication method")
		}
		id, secret, ok := decodeBasic(value)
		if !ok {
			return unauthorized("Basic", "the Basic credentials are malformed")
		}
		if clientID != "" && clientID != id {
			return badRequest("client_id does not match the Basic credentials")
		}
		req.Source, req.ClientID, req.ClientSecret = SourceBasic, id, secret

	case strings.EqualFold(scheme, "Bearer"):
		if !o.AllowBearerKey {
			return unauthorized("Bearer", "a Bearer API key is not an enabled authentication method")
		}
		if !token68(value) {
			return unauthorized("Bearer", "the Bearer credential is malformed")
		}
		if clientID != "" {
			return badRequest("client_id is not allowed beside an API key")
		}
		req.Source, req.Key = SourceBearerKey, value

	default:
		return unauthorized("Basic", "the authentication scheme is not supported")
	}
	return nil
}

// decodeBasic decodes the token68 of a Basic credential: base64 of
// formenc(id) ":" formenc(secret) (RFC 6749 §2.3.1, Appendix B). Both
// must be non-empty.
func decodeBasic(v string) (id, secret string, ok bool) {
	if !token68(v) {
		return "", "", false
	}
	var buf [MaxAuthorization / 4 * 3]byte
	n, err := strictBase64.Decode(buf[:], []byte(v))
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(buf[:n]), ":")
	if !found {
		return "", "", false
	}
	if id, ok = unescape(rawID); !ok || id == "" {
		return "", "", false
	}
	if secret, ok = unescape(rawSecret); !ok || secret == "" {
		return "", "", false
	}
	return id, secret, true
}

// token68 reports whether s is a token68 (RFC 9110 §11.2):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func token68(s string) bool {
	i := 0
	for i < len(s) && tokenChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

var tokenChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()
