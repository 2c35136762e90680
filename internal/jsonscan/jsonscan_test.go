package jsonscan

import (
	"errors"
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // name=raw;… as Members reports them
		err  error
	}{
		{`{}`, "", nil},
		{` { "a" : 1 , "b":"x\"y" ,"c":[1,{"d":"]"}] } `, `a=1;b="x\"y";c=[1,{"d":"]"}];`, nil},
		{`{"\u0061":true,"e":{"f":null}}`, `a=true;e={"f":null};`, nil},
		{`[1]`, "", ErrNotObject},
		{`"s"`, "", ErrNotObject},
		{`{"a":1`, "", ErrInvalid},
		{`{"a":1}{}`, "", ErrInvalid},
		{"{\"a\":\"\xff\"}", "", ErrInvalid},
		{``, "", ErrInvalid},
	} {
		var b strings.Builder
		err := Members([]byte(tc.in), func(name string, raw []byte) error {
			b.WriteString(name + "=" + string(raw) + ";")
			return nil
		})
		if !errors.Is(err, tc.err) || b.String() != tc.want {
			t.Errorf("Members(%q) = %q, %v; want %q, %v", tc.in, b.String(), err, tc.want, tc.err)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := Members([]byte(`{"a":1,"b":2}`), func(string, []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("an error from f: %v after %d calls, want it returned after 1", err, n)
	}
}

// Members allocates only the names of the members it reports: one string
// each, whatever the size of the values.
func TestMembersAllocatesOnlyNames(t *testing.T) {
	b := []byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256"},"n":[1,2,3]}`)
	f := func(string, []byte) error { return nil }
	if a := testing.AllocsPerRun(100, func() { Members(b, f) }); a > 4 {
		t.Errorf("Members allocated %v times per run for 4 members, want at most 4", a)
	}
}
