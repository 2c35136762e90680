package oauthreq

import (
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written reader, because encoding/json accepts duplicate member
// names (last wins), replaces invalid UTF-8 and lone surrogates with
// U+FFFD instead of refusing them, and allocates for every token.

func malformedJSON() error { return badRequest("the JSON body is malformed") }

// jsonReader walks a JSON text.
type jsonReader struct {
	s string
	i int
}

func (p *jsonReader) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next returns the next byte, or 0 at the end.
func (p *jsonReader) next() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// parseJSON decodes a JSON body: one object whose known members are
// strings (resource: a string or an array of strings).
func (c *collector) parseJSON(s string) error {
	if !utf8.ValidString(s) {
		return badRequest("the JSON body is not UTF-8")
	}
	p := jsonReader{s: s}
	p.ws()
	if p.next() != '{' {
		return badRequest("the JSON body is not an object")
	}
	p.i++
	p.ws()
	if p.next() == '}' {
		p.i++
	} else {
		for {
			p.ws()
			name, ok := p.str()
			if !ok {
				return malformedJSON()
			}
			p.ws()
			if p.next() != ':' {
				return malformedJSON()
			}
			p.i++
			p.ws()
			id := c.lookup(name)
			if err := c.name(name, id); err != nil {
				return err
			}
			if err := c.member(&p, id); err != nil {
				return err
			}
			p.ws()
			switch p.next() {
			case ',':
				p.i++
				continue
			case '}':
				p.i++
			default:
				return malformedJSON()
			}
			break
		}
	}
	p.ws()
	if p.i != len(p.s) {
		return badRequest("the JSON body has data after the object")
	}
	return nil
}

// member reads the value of a top-level member.
func (c *collector) member(p *jsonReader, id int) error {
	switch {
	case id == pUnknown:
		if !p.skip(2) {
			return malformedJSON()
		}
		return nil
	case id == pResource && p.next() == '[':
		p.i++
		p.ws()
		if p.next() == ']' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if p.next() != '"' {
				if !p.skip(3) {
					return malformedJSON()
				}
				return badRequest("the JSON member resource must be a string or an array of strings")
			}
			v, ok := p.str()
			if !ok {
				return malformedJSON()
			}
			if err := c.resourceElem(v); err != nil {
				return err
			}
			p.ws()
			switch p.next() {
			case ',':
				p.i++
				continue
			case ']':
				p.i++
				return nil
			}
			return malformedJSON()
		}
	case p.next() != '"':
		if !p.skip(2) {
			return malformedJSON()
		}
		if id == pResource {
			return badRequest("the JSON member resource must be a string or an array of strings")
		}
		return badRequest("the JSON member " + paramName[id] + " must be a string")
	}
	v, ok := p.str()
	if !ok {
		return malformedJSON()
	}
	c.set(id, v)
	return nil
}

// str reads a string, returning it unescaped. Without escapes it is a
// substring of the input.
func (p *jsonReader) str() (string, bool) {
	if p.next() != '"' {
		return "", false
	}
	p.i++
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			return v, true
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// strEscaped finishes a string that holds escapes, from its start.
func (p *jsonReader) strEscaped(start int) (string, bool) {
	b := make([]byte, 0, len(p.s)-start)
	b = append(b, p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), true
		case c < 0x20:
			return "", false
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.s) {
			return "", false
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			switch {
			case utf16.IsSurrogate(r):
				// Only a high surrogate followed by an escaped low one is
				// a character; anything else cannot be UTF-8.
				if r >= 0xdc00 || p.i+1 >= len(p.s) || p.s[p.i] != '\\' || p.s[p.i+1] != 'u' {
					return "", false
				}
				p.i += 2
				lo, ok := p.hex4()
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return "", false
				}
				r = utf16.DecodeRune(r, lo)
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", false
		}
	}
	return "", false
}

// hex4 reads the four hex digits of a \u escape.
func (p *jsonReader) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		h := unhex(c)
		if h < 0 {
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	p.i += 4
	return r, true
}

// skip validates and passes over one value at the given nesting depth.
func (p *jsonReader) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch c := p.next(); {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{':
		p.i++
		p.ws()
		if p.next() == '}' {
			p.i++
			return true
		}
		for {
			p.ws()
			if _, ok := p.str(); !ok {
				return false
			}
			p.ws()
			if p.next() != ':' {
				return false
			}
			p.i++
			p.ws()
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			switch p.next() {
			case ',':
				p.i++
				continue
			case '}':
				p.i++
				return true
			}
			return false
		}
	case c == '[':
		p.i++
		p.ws()
		if p.next() == ']' {
			p.i++
			return true
		}
		for {
			p.ws()
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			switch p.next() {
			case ',':
				p.i++
				continue
			case ']':
				p.i++
				return true
			}
			return false
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return false
}

func (p *jsonReader) literal(lit string) bool {
	if len(p.s)-p.i < len(lit) || p.s[p.i:p.i+len(lit)] != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// number passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonReader) number() bool {
	if p.next() == '-' {
		p.i++
	}
	switch c := p.next(); {
	case c == '0':
		p.i++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return false
	}
	if p.next() == '.' {
		p.i++
		if !p.digits() {
			return false
		}
	}
	if c := p.next(); c == 'e' || c == 'E' {
		p.i++
		if c := p.next(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits passes over one or more digits, reporting whether there was one.
func (p *jsonReader) digits() bool {
	start := p.i
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
