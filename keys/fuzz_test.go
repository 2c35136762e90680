package keys_test

import (
	"strings"
	"testing"

	"github.com/keyturn/keyturn/keys"
)

// FuzzParse checks that Parse never panics, that anything it accepts
// re-Strings to the same input and is the same key as its pair form, that
// its errors do not echo the input, and that Generate → String → Parse is
// the identity for every prefix Generate accepts.
func FuzzParse(f *testing.F) {
	k, err := keys.Generate("ds_live", newStream("fuzz seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("ds_live", k.String())
	f.Fuzz(func(t *testing.T, prefix, s string) {
		k, err := keys.Parse(prefix, s)
		if err != nil {
			if len(s) >= 16 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes the input: %v", err)
			}
			if k != (keys.Key{}) {
				t.Fatal("failed Parse returned a key")
			}
		} else {
			if got := k.String(); got != s {
				t.Fatalf("Parse(%q).String() = %q", s, got)
			}
			if k.Prefix() != prefix || len(k.ID()) != keys.IDLen || len(k.ClientSecret()) != keys.SecretLen {
				t.Fatalf("parsed key has the wrong shape")
			}
			p, err := keys.FromPair(prefix, k.ID(), k.ClientSecret())
			if err != nil || p != k {
				t.Fatalf("FromPair of a parsed key: %v", err)
			}
		}

		g, err := keys.Generate(prefix, newStream(s))
		if err != nil {
			return // invalid prefix; Parse refused it too
		}
		back, err := keys.Parse(prefix, g.String())
		if err != nil || back != g {
			t.Fatalf("Generate → String → Parse: %v", err)
		}
	})
}
