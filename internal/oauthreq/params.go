package oauthreq

import (
	"strings"
	"unicode/utf8"
)

// The parameters Parse knows, as indexes into collector.vals.
const (
	pGrantType = iota
	pResponseType
	pScope
	pResource
	pUsername
	pPassword
	pToken
	pTokenTypeHint
	pClientID
	pClientSecret
	pClientAssertion
	pClientAssertionType
	pKey
	numParams
	pUnknown = -1
)

// paramName names the known parameters, for error descriptions.
var paramName = [numParams]string{
	"grant_type", "response_type", "scope", "resource", "username", "password", "token",
	"token_type_hint", "client_id", "client_secret", "client_assertion",
	"client_assertion_type", "key",
}

// collector gathers the parameters of a body, refusing repeats.
type collector struct {
	vals     [numParams]string
	present  uint32 // bit i: parameter i appeared (perhaps empty)
	resource []string
	names    [MaxParams]string // every name seen, for duplicate detection
	n        int               // parameters seen (resource elements included)
	nn       int               // entries of names
	json     bool              // the body is JSON: its extensions apply
	bodyKey  bool              // JSON "key" is known
	alias    bool              // JSON "response_type" is known
}

// lookup returns the index of a known parameter, or pUnknown.
func (c *collector) lookup(name string) int {
	switch name {
	case "grant_type":
		return pGrantType
	case "scope":
		return pScope
	case "resource":
		return pResource
	case "username":
		return pUsername
	case "password":
		return pPassword
	case "token":
		return pToken
	case "token_type_hint":
		return pTokenTypeHint
	case "client_id":
		return pClientID
	case "client_secret":
		return pClientSecret
	case "client_assertion":
		return pClientAssertion
	case "client_assertion_type":
		return pClientAssertionType
	case "response_type":
		if c.json && c.alias {
			return pResponseType
		}
	case "key":
		if c.json && c.bodyKey {
			return pKey
		}
	}
	return pUnknown
}

// name records a parameter name, refusing a repeat. In a form, resource
// may repeat (RFC 8707 §2); in JSON no member may.
func (c *collector) name(name string, id int) error {
	if c.n >= MaxParams {
		return badRequest("the request has too many parameters")
	}
	c.n++
	if id >= 0 {
		bit := uint32(1) << id
		if c.present&bit != 0 {
			if id == pResource && !c.json {
				return nil
			}
			return badRequest("the parameter " + paramName[id] + " is repeated")
		}
		c.present |= bit
		return nil
	}
	for _, seen := range c.names[:c.nn] {
		if seen == name {
			return badRequest("a parameter is repeated")
		}
	}
	c.names[c.nn] = name
	c.nn++
	return nil
}

// set records a known parameter's value; an empty value stays absent.
func (c *collector) set(id int, value string) {
	if value == "" {
		return
	}
	if id == pResource {
		c.resource = append(c.resource, value)
		return
	}
	c.vals[id] = value
}

// resourceElem counts and records one element of a JSON resource array.
func (c *collector) resourceElem(value string) error {
	if c.n >= MaxParams {
		return badRequest("the request has too many parameters")
	}
	c.n++
	c.set(pResource, value)
	return nil
}

func (c *collector) has(id int) bool { return c.present&(1<<id) != 0 }

// fill copies the parameters into req and applies the grant_type rules.
func (c *collector) fill(req *Request) error {
	gt := c.vals[pGrantType]
	if c.has(pGrantType) && gt == "" {
		return badRequest("the parameter grant_type is empty")
	}
	if c.has(pResponseType) {
		rt := c.vals[pResponseType]
		switch {
		case rt == "":
			return badRequest("the parameter response_type is empty")
		case gt != "" && gt != rt:
			return badRequest("grant_type and response_type differ")
		}
		gt = rt
	}
	req.GrantType = gt
	req.Scope = c.vals[pScope]
	req.Resource = c.resource
	req.Username = c.vals[pUsername]
	req.Password = c.vals[pPassword]
	req.Token = c.vals[pToken]
	req.TokenTypeHint = c.vals[pTokenTypeHint]
	return nil
}

// parseForm decodes an application/x-www-form-urlencoded body strictly.
func (c *collector) parseForm(s string) error {
	for s != "" {
		var seg string
		if i := strings.IndexByte(s, '&'); i >= 0 {
			seg, s = s[:i], s[i+1:]
		} else {
			seg, s = s, ""
		}
		if seg == "" {
			continue
		}
		if strings.IndexByte(seg, ';') >= 0 {
			// Go's url.ParseQuery refuses it too; accepting it would let
			// two parsers read one body differently.
			return badRequest("the form body contains a raw ';'")
		}
		rawName, rawValue, _ := strings.Cut(seg, "=")
		name, ok := unescape(rawName)
		if !ok {
			return badRequest("the form body is malformed: bad %-escape or invalid UTF-8")
		}
		value, ok := unescape(rawValue)
		if !ok {
			return badRequest("the form body is malformed: bad %-escape or invalid UTF-8")
		}
		id := c.lookup(name)
		if err := c.name(name, id); err != nil {
			return err
		}
		if id >= 0 {
			c.set(id, value)
		}
	}
	return nil
}

// unescape decodes application/x-www-form-urlencoded text: '+' is a space
// and %XX a byte (RFC 6749 Appendix B). It fails on a malformed escape or
// a result that is not UTF-8.
func unescape(s string) (string, bool) {
	i := plainRun(s, 0)
	if i == len(s) {
		return s, utf8.ValidString(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		if s[i] == '+' {
			b.WriteByte(' ')
			i++
		} else {
			if i+2 >= len(s) {
				return "", false
			}
			h, l := unhex(s[i+1]), unhex(s[i+2])
			if h < 0 || l < 0 {
				return "", false
			}
			b.WriteByte(byte(h<<4 | l))
			i += 3
		}
		j := plainRun(s, i)
		b.WriteString(s[i:j])
		i = j
	}
	if !utf8.ValidString(b.String()) {
		return "", false
	}
	return b.String(), true
}

// plainRun returns the index of the first '%' or '+' in s from i, or
// len(s).
func plainRun(s string, i int) int {
	for i < len(s) && s[i] != '%' && s[i] != '+' {
		i++
	}
	return i
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
