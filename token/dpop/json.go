package dpop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxMembers bounds the members of a proof's header, claims or jwk.
const maxMembers = 32

// members calls f with the name and raw value of every member of the JSON
// object b, in order. b must be exactly one JSON object of valid UTF-8,
// with no name twice (compared after unescaping) and at most maxMembers
// members, so that no two JSON readers can see different proofs in the
// same bytes. what names b in errors.
func members(b []byte, what string, f func(name string, raw []byte) error) error {
	if !utf8.Valid(b) || !json.Valid(b) {
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidProof, what)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, _ := dec.Token(); t != json.Delim('{') {
		return fmt.Errorf("%w: %s is not a JSON object", ErrInvalidProof, what)
	}
	var seen [maxMembers]string
	n := 0
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return fmt.Errorf("%w: %s is not a JSON object", ErrInvalidProof, what)
		}
		if n == maxMembers {
			return fmt.Errorf("%w: %s has more than %d members", ErrInvalidProof, what, maxMembers)
		}
		for _, s := range seen[:n] {
			if s == name {
				return fmt.Errorf("%w: a member of %s appears twice", ErrInvalidProof, what)
			}
		}
		seen[n] = name
		n++
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidProof, what)
		}
		if err := f(name, raw); err != nil {
			return err
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return fmt.Errorf("%w: %s is not a JSON object", ErrInvalidProof, what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: %s has data after the object", ErrInvalidProof, what)
	}
	return nil
}

// jsonString decodes raw if it is a JSON string.
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
