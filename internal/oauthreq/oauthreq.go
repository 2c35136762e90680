package oauthreq

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Limits of a request.
const (
	// DefaultMaxBody is the body limit when [Options.MaxBody] is zero.
	DefaultMaxBody = 64 << 10
	// MaxParams is the most parameters (form) or top-level members (JSON,
	// counting each resource array element) a body may hold.
	MaxParams = 64
	// MaxAuthorization is the longest Authorization header value accepted.
	MaxAuthorization = 4 << 10
	// MaxContentType is the longest Content-Type header value accepted:
	// room for any real media type and its parameters, and a bound on what
	// parsing one costs (mime.ParseMediaType copies it, invalid bytes
	// growing threefold).
	MaxContentType = 256
	// maxDepth is how deeply a JSON body may nest (the object itself is 1).
	maxDepth = 32
	// maxValues is the most values a JSON body may hold, counting the
	// object itself, every member's value and everything inside one:
	// unknown members are validated, and each value costs a little.
	maxValues = 1024
	// maxNumber is the longest number, in bytes, a JSON body may hold.
	maxNumber = 64
)

// Options says what [Parse] accepts. The zero value accepts form bodies of
// up to 64 KiB and no client credential: every credential style must be
// switched on.
type Options struct {
	// MaxBody caps the body in bytes. Zero or less means DefaultMaxBody.
	MaxBody int64

	// AllowJSON accepts application/json bodies besides
	// application/x-www-form-urlencoded.
	AllowJSON bool

	// AllowBasic accepts client_secret_basic: Authorization: Basic with
	// the form-encoded client_id and client_secret (RFC 6749 §2.3.1).
	AllowBasic bool

	// AllowPost accepts client_secret_post: client_id and client_secret in
	// a form body (RFC 6749 §2.3.1).
	AllowPost bool

	// AllowPostJSON accepts client_id and client_secret in a JSON body.
	// It needs AllowJSON.
	AllowPostJSON bool

	// AllowBearerKey accepts an API key as Authorization: Bearer <key>.
	AllowBearerKey bool

	// AllowBodyKey accepts an API key as the JSON member "key". It needs
	// AllowJSON; in a form body, key is an unknown parameter.
	AllowBodyKey bool

	// AllowAssertion accepts client_assertion and client_assertion_type
	// (RFC 7521 §4.2) as a credential, which the caller verifies.
	AllowAssertion bool

	// AllowResponseTypeAlias lets the JSON member "response_type" stand
	// for grant_type (some APIs document it so). It needs AllowJSON.
	AllowResponseTypeAlias bool
}

// CredentialSource says where a request's client credential came from.
type CredentialSource uint8

// The credential sources.
const (
	// SourceNone: no client credential. Request.ClientID holds a bare
	// client_id if the body named one.
	SourceNone CredentialSource = iota
	// SourceBasic: Authorization: Basic; ClientID and ClientSecret are set.
	SourceBasic
	// SourcePost: client_id and client_secret in the body (form or JSON,
	// see Request.JSON); both are set.
	SourcePost
	// SourceBearerKey: Authorization: Bearer <key>; Key is set.
	SourceBearerKey
	// SourceBodyKey: the JSON member "key"; Key is set.
	SourceBodyKey
	// SourceAssertion: client_assertion and client_assertion_type;
	// ClientAssertion and ClientAssertionType are set, ClientID if given.
	SourceAssertion
)

var sourceNames = [...]string{"none", "basic", "post", "bearer_key", "body_key", "assertion"}

// String returns the source's name: "none", "basic", "post", "bearer_key",
// "body_key" or "assertion".
func (s CredentialSource) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// Request is a parsed request. Fields hold decoded values; an empty
// string means the parameter was absent or empty (RFC 6749 §3.2).
type Request struct {
	// GrantType is grant_type, or JSON response_type with
	// Options.AllowResponseTypeAlias. Empty if absent: whether it is
	// required is the caller's decision.
	GrantType string
	// Scope is the scope parameter, undecoded as a scope string.
	Scope string
	// Resource holds every non-empty resource parameter in order (RFC
	// 8707 §2); nil if none.
	Resource []string
	// Username and Password are the password grant's (RFC 6749 §4.3.2).
	Username, Password string
	// Token and TokenTypeHint are introspection's and revocation's.
	Token, TokenTypeHint string

	// Source says which credential the request carries, and so which of
	// the fields below are set.
	Source CredentialSource
	// ClientID is the client identifier of a Basic or Post credential, or
	// the bare client_id of a request with SourceNone or SourceAssertion.
	ClientID string
	// ClientSecret is the secret of a Basic or Post credential.
	ClientSecret string
	// Key is the whole API key of a Bearer or body key credential.
	Key string
	// ClientAssertionType and ClientAssertion are RFC 7521's.
	ClientAssertionType, ClientAssertion string

	// JSON reports that the request declared a JSON body rather than a
	// form.
	JSON bool
}

// Challenge returns the authentication scheme that a 401 about this
// request's credential should challenge with: "Bearer" when a Bearer key
// was presented, "Basic" otherwise (body credentials, Basic, or none).
func (r *Request) Challenge() string {
	if r.Source == SourceBearerKey {
		return "Bearer"
	}
	return "Basic"
}

// Parse reads and checks r, an OAuth endpoint request, as o allows. It
// consumes r.Body. w is used only as http.MaxBytesReader uses it, to tell
// the server to close the connection after an oversized body; it may be
// nil. Every error is an [*Error] (use errors.As), to be written with
// [WriteError]. The package documentation lists the rules.
func Parse(w http.ResponseWriter, r *http.Request, o Options) (*Request, error) {
	if r.Method != http.MethodPost {
		return nil, &Error{Status: http.StatusMethodNotAllowed, Code: InvalidRequest,
			Description: "the method is not allowed, use POST"}
	}
	var auth string
	hasAuth := false
	switch vs := r.Header["Authorization"]; len(vs) {
	case 0:
	case 1:
		auth, hasAuth = vs[0], true
		if len(auth) > MaxAuthorization {
			return nil, &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Code: InvalidRequest,
				Description: "the Authorization header is too large"}
		}
	default:
		return nil, badRequest("more than one Authorization header")
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		if err := checkQuery(r.URL.RawQuery); err != nil {
			return nil, err
		}
	}
	kind, err := contentType(r.Header, o.AllowJSON)
	if err != nil {
		return nil, err
	}
	if kind == kindNone && r.ContentLength > 0 {
		return nil, badRequest("the request has a body but no Content-Type")
	}
	for _, ce := range r.Header["Content-Encoding"] {
		if !strings.EqualFold(strings.TrimSpace(ce), "identity") {
			return nil, badRequest("content codings are not supported")
		}
	}
	body, err := readBody(w, r, o.MaxBody)
	if err != nil {
		return nil, err
	}

	req := &Request{JSON: kind == kindJSON}
	var c collector
	if body != "" {
		switch kind {
		case kindNone:
			return nil, badRequest("the request has a body but no Content-Type")
		case kindForm:
			err = c.parseForm(body)
		case kindJSON:
			c.json = true
			c.bodyKey = o.AllowBodyKey
			c.alias = o.AllowResponseTypeAlias
			err = c.parseJSON(body)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := c.fill(req); err != nil {
		return nil, err
	}
	if err := credentials(req, &c, auth, hasAuth, &o); err != nil {
		return nil, err
	}
	return req, nil
}

// Body kinds by Content-Type.
const (
	kindNone = iota
	kindForm
	kindJSON
)

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// contentType classifies the request's Content-Type.
func contentType(h http.Header, allowJSON bool) (int, error) {
	vs := h["Content-Type"]
	switch len(vs) {
	case 0:
		return kindNone, nil
	case 1:
	default:
		return 0, badRequest("more than one Content-Type header")
	}
	ct := vs[0]
	if len(ct) > MaxContentType {
		return 0, badRequest("the Content-Type is too long")
	}
	// The common spellings skip mime.ParseMediaType and its map.
	if strings.EqualFold(ct, formType) {
		return kindForm, nil
	}
	if allowJSON && strings.EqualFold(ct, jsonType) {
		return kindJSON, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, badRequest("the Content-Type is malformed")
	}
	var kind int
	switch {
	case mt == formType:
		kind = kindForm
	case mt == jsonType && allowJSON:
		kind = kindJSON
	case allowJSON:
		return 0, badRequest("the Content-Type must be application/x-www-form-urlencoded or application/json")
	default:
		return 0, badRequest("the Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return 0, badRequest("the charset must be UTF-8")
	}
	return kind, nil
}

// bufPool holds read buffers, cleared before they are put back.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooled is the largest buffer kept in bufPool.
const maxPooled = 4 << 10

// readBody reads the whole body, at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) (string, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	if r.ContentLength > max {
		return "", tooLarge()
	}
	rd := http.MaxBytesReader(w, r.Body, max)
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if r.ContentLength > int64(cap(b)) {
		b = make([]byte, 0, r.ContentLength+1)
	}
	var rerr error
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	s := string(b)
	// Read may use all of its buffer as scratch space, so all of it is
	// cleared; pooled buffers are small, so this is cheap.
	clear(b[:cap(b)])
	if cap(b) <= maxPooled {
		*bp = b[:0]
		bufPool.Put(bp)
	}
	if rerr != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](rerr); ok {
			return "", tooLarge()
		}
		return "", badRequest("the request body could not be read")
	}
	return s, nil
}

func tooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: InvalidRequest,
		Description: "the request body is too large"}
}

// checkQuery refuses grant and credential parameters in the URL query
// (RFC 6749 §2.3.1, §3.2): they belong in the body or a header.
func checkQuery(q string) error {
	for q != "" {
		var seg string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			seg, q = q[:i], q[i+1:]
		} else {
			seg, q = q, ""
		}
		name, _, _ := strings.Cut(seg, "=")
		if strings.ContainsAny(name, "%+") {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
		}
		if queryForbidden(name) {
			return badRequest("grant and credential parameters must be in the body, not the URL")
		}
	}
	return nil
}

func queryForbidden(name string) bool {
	switch name {
	case "grant_type", "response_type", "client_id", "client_secret", "client_assertion",
		"client_assertion_type", "scope", "username", "password", "token", "token_type_hint",
		"key", "assertion", "resource", "access_token", "refresh_token", "code", "code_verifier":
		return true
	}
	return false
}

const redacted = "[REDACTED]"

// fields lists the request's non-empty fields for printing, with the
// secrets (ClientSecret, Password, Key, ClientAssertion, Token) redacted.
func (r Request) fields(yield func(name, value string) bool) {
	show := func(name, v string, secret bool) bool {
		if v == "" {
			return true
		}
		if secret {
			v = redacted
		}
		return yield(name, v)
	}
	_ = show("GrantType", r.GrantType, false) &&
		show("Scope", r.Scope, false) &&
		show("Resource", strings.Join(r.Resource, " "), false) &&
		show("Username", r.Username, false) &&
		show("Password", r.Password, true) &&
		show("Token", r.Token, true) &&
		show("TokenTypeHint", r.TokenTypeHint, false) &&
		yield("Source", r.Source.String()) &&
		show("ClientID", r.ClientID, false) &&
		show("ClientSecret", r.ClientSecret, true) &&
		show("Key", r.Key, true) &&
		show("ClientAssertionType", r.ClientAssertionType, false) &&
		show("ClientAssertion", r.ClientAssertion, true)
}

// Format prints the request for every fmt verb with its secrets redacted,
// e.g. oauthreq.Request{GrantType:"client_credentials", Source:basic,
// ClientID:"abc", ClientSecret:"[REDACTED]"}.
func (r Request) Format(f fmt.State, verb rune) {
	io.WriteString(f, "oauthreq.Request{")
	sep := ""
	for name, v := range r.fields {
		io.WriteString(f, sep+name+":")
		if name == "Source" {
			io.WriteString(f, v)
		} else {
			io.WriteString(f, strconv.Quote(v))
		}
		sep = ", "
	}
	io.WriteString(f, "}")
}

// LogValue logs the request as a group with its secrets redacted.
func (r Request) LogValue() slog.Value {
	var attrs []slog.Attr
	for name, v := range r.fields {
		attrs = append(attrs, slog.String(name, v))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON encodes the request as an object with its secrets redacted.
func (r Request) MarshalJSON() ([]byte, error) {
	m := make(map[string]string)
	for name, v := range r.fields {
		m[name] = v
	}
	return json.Marshal(m)
}
