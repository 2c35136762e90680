package middleware

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// extract finds the request's bearer token (RFC 6750 §2), or its DPoP
// token ("Authorization: DPoP", RFC 9449 §7.1) when DPoP is configured. It
// returns the token, whether it came from the query, and, when it read a
// form body, a replacement body for the handler, and whether the DPoP
// scheme carried it. The caller checks the token's syntax with b64token.
func (m *Middleware) extract(r *http.Request) (tok string, fromQuery bool, body io.ReadCloser, isDPoP bool, rerr *Error) {
	var header string
	hasHeader := false
	switch vs := r.Header["Authorization"]; len(vs) {
	case 0:
	case 1:
		scheme, rest, _ := strings.Cut(vs[0], " ")
		isDPoP = m.dpop != nil && strings.EqualFold(scheme, "DPoP")
		if isDPoP || strings.EqualFold(scheme, "Bearer") {
			hasHeader = true
			// Its syntax is checked by the caller, after a token.Verifier
			// (whose cache hits then skip the scan) or before another.
			header = strings.TrimLeft(rest, " ")
		}
		// Another scheme (Basic, Token...) is no bearer credential at all
		// (RFC 6750 §3.1): the request is answered as unauthenticated.
	default:
		return "", false, nil, false, malformed("more than one Authorization header")
	}

	// A token in the query is looked for only if the query mentions it, so
	// that the common request parses nothing.
	var query string
	hasQuery := false
	if strings.Contains(r.URL.RawQuery, "access_token") {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "", false, nil, false, malformed("the query string is malformed")
		}
		if vs, ok := q["access_token"]; ok {
			if hasHeader || len(vs) != 1 {
				return "", false, nil, false, malformed("the token was sent by more than one method")
			}
			if m.allowQuery {
				hasQuery = true
				query = vs[0]
				if !b64token(query) {
					return "", false, nil, false, malformed("the access_token parameter is not a valid b64token")
				}
			}
		}
	}

	var form string
	hasForm := false
	if m.allowForm && formBody(r) {
		buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
		if err != nil {
			return "", false, nil, false, malformed("the request body could not be read")
		}
		if len(buf) > maxFormBody {
			return "", false, nil, false, &Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request",
				Description: "the request body is too large"}
		}
		body = io.NopCloser(bytes.NewReader(buf))
		if bytes.Contains(buf, []byte("access_token")) {
			q, err := url.ParseQuery(string(buf))
			if err != nil {
				return "", false, nil, false, malformed("the form body is malformed")
			}
			if vs, ok := q["access_token"]; ok {
				if hasHeader || hasQuery || len(vs) != 1 {
					return "", false, nil, false, malformed("the token was sent by more than one method")
				}
				hasForm = true
				form = vs[0]
				if !b64token(form) {
					return "", false, nil, false, malformed("the access_token parameter is not a valid b64token")
				}
			}
		}
	}

	switch {
	case hasHeader:
		return header, false, body, isDPoP, nil
	case hasQuery:
		return query, true, body, false, nil
	case hasForm:
		return form, false, body, false, nil
	}
	return "", false, nil, false, &Error{Status: http.StatusUnauthorized, Description: "a bearer token is required"}
}

// formBody reports whether r may carry a form-encoded token (RFC 6750 §2.2):
// a method with defined body semantics and a form content type.
func formBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodConnect:
		return false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// b64char marks the characters of RFC 6750's b64token before its padding.
var b64char = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

// b64token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	i := 0
	for i < len(s) && b64char[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

func malformed(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}
