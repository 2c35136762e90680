package oauthreq

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written reader, because encoding/json accepts duplicate member
// names (last wins), replaces invalid UTF-8 and lone surrogates with
// U+FFFD instead of refusing them, and allocates for every token.
//
// Its cost is linear in the body: it reads each byte a bounded number of
// times, and it allocates only to decode a name or a known member's value
// that holds an escape, into a buffer the size of that string. Values
// inside unknown members are validated, never decoded. Everything a
// client controls is counted: top-level members (MaxParams), values in
// the whole body (maxValues), nesting (maxDepth) and a number's length
// (maxNumber).

func malformedJSON() error { return badRequest("the JSON body is malformed") }

// jsonReader walks a JSON text.
type jsonReader struct {
	s      string
	i      int
	values int    // values begun, the body's object included
	err    *Error // the limit the body broke, if that is why reading failed
}

// value counts one more value, failing past maxValues.
func (p *jsonReader) value() bool {
	if p.values >= maxValues {
		p.err = badRequest("the JSON body has too many values")
		return false
	}
	p.values++
	return true
}

// fail is the error of a read that failed: the limit broken, if any, else
// malformed JSON.
func (p *jsonReader) fail() error {
	if p.err != nil {
		return p.err
	}
	return malformedJSON()
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
	return walkObject(s, func(p *jsonReader, name string) error {
		id := c.lookup(name)
		if err := c.name(name, id); err != nil {
			return err
		}
		return c.member(p, id)
	})
}

// walkObject reads s, which must be one JSON object and nothing else,
// calling member for each member in order with its decoded name once p
// stands at the value; member must read the value. Both JSON bodies keyturn
// accepts (OAuth requests and the key admin API's) are read through it.
func walkObject(s string, member func(p *jsonReader, name string) error) error {
	if !utf8.ValidString(s) {
		return badRequest("the JSON body is not UTF-8")
	}
	p := jsonReader{s: s}
	p.ws()
	if p.next() != '{' {
		return badRequest("the JSON body is not an object")
	}
	p.i++
	p.values++
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
			if err := member(&p, name); err != nil {
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
			return p.fail()
		}
		return nil
	case id == pResource && p.next() == '[':
		if !p.value() {
			return p.fail()
		}
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
					return p.fail()
				}
				return badRequest("the JSON member resource must be a string or an array of strings")
			}
			if !p.value() {
				return p.fail()
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
			return p.fail()
		}
		if id == pResource {
			return badRequest("the JSON member resource must be a string or an array of strings")
		}
		return badRequest("the JSON member " + paramName[id] + " must be a string")
	}
	if !p.value() {
		return p.fail()
	}
	v, ok := p.str()
	if !ok {
		return malformedJSON()
	}
	c.set(id, v)
	return nil
}

// str reads a string, returning it unescaped: a substring of the input
// if it holds no escape, else a copy of exactly the decoded length.
func (p *jsonReader) str() (string, bool) {
	start := p.i + 1
	n, escaped, ok := p.skipStr()
	if !ok {
		return "", false
	}
	raw := p.s[start : p.i-1]
	if !escaped {
		return raw, true
	}
	return unescapeJSON(raw, n), true
}

// skipStr validates and passes over a string without decoding it,
// returning its decoded length in bytes and whether it holds an escape.
func (p *jsonReader) skipStr() (n int, escaped, ok bool) {
	if p.next() != '"' {
		return 0, false, false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return n, escaped, true
		case c < 0x20:
			return 0, false, false
		case c != '\\':
			n++
			continue
		}
		escaped = true
		if p.i >= len(p.s) {
			return 0, false, false
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			n++
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return 0, false, false
			}
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one is
				// a character; anything else cannot be UTF-8.
				if r >= 0xdc00 || p.i+1 >= len(p.s) || p.s[p.i] != '\\' || p.s[p.i+1] != 'u' {
					return 0, false, false
				}
				p.i += 2
				lo, ok := p.hex4()
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return 0, false, false
				}
				r = utf16.DecodeRune(r, lo)
			}
			n += utf8.RuneLen(r)
		default:
			return 0, false, false
		}
	}
	return 0, false, false
}

// unescapeJSON decodes the text of a string that skipStr validated and
// measured as n bytes decoded. Every escape decodes to fewer bytes than it
// takes, so n is at most len(raw).
func unescapeJSON(raw string, n int) string {
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(raw); {
		j := i + strings.IndexByte(raw[i:], '\\')
		if j < i {
			b.WriteString(raw[i:])
			break
		}
		b.WriteString(raw[i:j])
		e := raw[j+1]
		i = j + 2
		switch e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := hexRune(raw[i : i+4])
			i += 4
			if utf16.IsSurrogate(r) {
				r = utf16.DecodeRune(r, hexRune(raw[i+2:i+6]))
				i += 6
			}
			b.WriteRune(r)
		default: // '"', '\\', '/'
			b.WriteByte(e)
		}
	}
	return b.String()
}

// hexRune decodes four hex digits that hex4 validated.
func hexRune(h string) rune {
	var r rune
	for _, c := range []byte(h) {
		r = r<<4 | rune(unhex(c))
	}
	return r
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

// skip validates and passes over one value at the given nesting depth,
// counting it and every value inside it. It decodes nothing and so
// allocates nothing.
func (p *jsonReader) skip(depth int) bool {
	if depth > maxDepth {
		p.err = badRequest("the JSON body is nested too deeply")
		return false
	}
	if !p.value() {
		return false
	}
	switch c := p.next(); {
	case c == '"':
		_, _, ok := p.skipStr()
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
			if _, _, ok := p.skipStr(); !ok {
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

// number passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?,
// at most maxNumber bytes of it.
func (p *jsonReader) number() bool {
	start := p.i
	if !p.numberSyntax() {
		return false
	}
	if p.i-start > maxNumber {
		p.err = badRequest("the JSON body has a number that is too long")
		return false
	}
	return true
}

// numberSyntax passes over a number of any length.
func (p *jsonReader) numberSyntax() bool {
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
