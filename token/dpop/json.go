package dpop

import (
	"errors"
	"fmt"

	"github.com/keyturn/keyturn/internal/jsonscan"
)

// maxMembers bounds the members of a proof's header, claims or jwk.
const maxMembers = 32

// members calls f with the name and raw value of every member of the JSON
// object b, in order. b must be exactly one JSON object of valid UTF-8,
// with no name twice (compared after unescaping) and at most maxMembers
// members, so that no two JSON readers can see different proofs in the
// same bytes. what names b in errors. Once json.Valid has passed b, the
// members are found by a scan that allocates only their names (jsonscan).
func members(b []byte, what string, f func(name string, raw []byte) error) error {
	var seen [maxMembers]string
	n := 0
	err := jsonscan.Members(b, func(name string, raw []byte) error {
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
		return f(name, raw)
	})
	switch {
	case errors.Is(err, jsonscan.ErrInvalid):
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidProof, what)
	case errors.Is(err, jsonscan.ErrNotObject):
		return fmt.Errorf("%w: %s is not a JSON object", ErrInvalidProof, what)
	}
	return err
}
