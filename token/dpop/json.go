package dpop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxMembers bounds the members of a proof's header, claims or jwk.
const maxMembers = 32

// members calls f with the name and raw value of every member of the JSON
// object b, in order. b must be exactly one JSON object of valid UTF-8,
// with no name twice (compared after unescaping) and at most maxMembers
// members, so that no two JSON readers can see different proofs in the
// same bytes. what names b in errors. Once json.Valid has passed b, the
// members are found by a scan that needs no allocation.
func members(b []byte, what string, f func(name string, raw []byte) error) error {
	if !utf8.Valid(b) || !json.Valid(b) {
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidProof, what)
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return fmt.Errorf("%w: %s is not a JSON object", ErrInvalidProof, what)
	}
	i = skipSpace(b, i+1)
	if b[i] == '}' {
		return nil
	}
	var seen [maxMembers]string
	for n := 0; ; n++ {
		if n == maxMembers {
			return fmt.Errorf("%w: %s has more than %d members", ErrInvalidProof, what, maxMembers)
		}
		// b is valid JSON, so b[i] starts a member name (a string).
		end := skipString(b, i)
		name, ok := jsonString(b[i:end])
		if !ok {
			return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidProof, what)
		}
		for _, s := range seen[:n] {
			if s == name {
				return fmt.Errorf("%w: a member of %s appears twice", ErrInvalidProof, what)
			}
		}
		seen[n] = name
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // past ':'
		end = skipValue(b, i)
		if err := f(name, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if b[i] == '}' {
			return nil
		}
		i = skipSpace(b, i+1) // past ','
	}
}

// jsonString decodes raw if it is a JSON string (from valid JSON).
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// skipSpace returns the index of the first non-whitespace byte of b at or
// after i, or len(b).
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string that starts at
// b[i] == '"'. b must be valid JSON.
func skipString(b []byte, i int) int {
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

// skipValue returns the index just past the JSON value that starts at
// b[i]. b must be valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
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
