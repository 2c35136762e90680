// Package jsonscan walks JSON that encoding/json has already found valid,
// allocating nothing but member names: the members of an object, and the
// extent of a value.
// It is what keyturn's strict readers of JWT claims (token) and DPoP proofs
// (token/dpop) share.
//
// Start with [Members]. Every other function assumes b is valid JSON, as
// Members checks before it scans.
package jsonscan

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

var (
	// ErrInvalid reports bytes that are not one valid JSON value of valid
	// UTF-8.
	ErrInvalid = errors.New("not valid JSON")
	// ErrNotObject reports a valid JSON value that is not an object.
	ErrNotObject = errors.New("not a JSON object")
)

// Members calls f with the name (unescaped) and the raw value of every
// member of the JSON object b, in order, and stops at the first error f
// returns, which it returns. b must be exactly one JSON object of valid
// UTF-8 (else ErrInvalid or ErrNotObject). Once json.Valid has passed b,
// the members are found by a scan that allocates only the member names.
func Members(b []byte, f func(name string, raw []byte) error) error {
	if !utf8.Valid(b) || !json.Valid(b) {
		return ErrInvalid
	}
	i := SkipSpace(b, 0)
	if b[i] != '{' {
		return ErrNotObject
	}
	i = SkipSpace(b, i+1)
	if b[i] == '}' {
		return nil
	}
	for {
		// b is valid JSON, so b[i] starts a member name (a string).
		end := SkipString(b, i)
		name, ok := String(b[i:end])
		if !ok {
			return ErrInvalid
		}
		i = SkipSpace(b, end)
		i = SkipSpace(b, i+1) // past ':'
		end = SkipValue(b, i)
		if err := f(name, b[i:end]); err != nil {
			return err
		}
		i = SkipSpace(b, end)
		if b[i] == '}' {
			return nil
		}
		i = SkipSpace(b, i+1) // past ','
	}
}

// String decodes raw if it is a JSON string literal (quotes included) from
// valid JSON. Strings without escapes are converted directly.
func String(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, ch := range body {
		if ch == '\\' {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(body), true
}

// SkipSpace returns the index of the first non-whitespace byte of b at or
// after i, or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipString returns the index just past the JSON string that starts at
// b[i] == '"'. b must be valid JSON.
func SkipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// SkipValue returns the index just past the JSON value that starts at
// b[i]. b must be valid JSON.
func SkipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = SkipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
