package jsonenc

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func marshalString(t testing.TB, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAppendString(t *testing.T) {
	var ctl strings.Builder
	for b := 0; b < 0x20; b++ {
		ctl.WriteByte(byte(b))
	}
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"ascii", "https://as.test/path?q=1#f"},
		{"controls", ctl.String()},
		{"del", "\x7f"},
		{"quote_backslash", `a"b\c`},
		{"html", "<script>&amp;</script>"},
		{"line_separators", "a\u2028b\u2029c"},
		{"non_ascii", "é ü 日本 😀 \u00a0 \ufeff"},
		{"lone_continuation", "a\x80b"},
		{"truncated_sequence", "a\xe6\x97"},
		{"surrogate_half", "\xed\xa0\x80"},
		{"overlong", "\xc0\x80"},
		{"max_rune", "\U0010ffff"},
		{"beyond_max_rune", "\xf4\x90\x80\x80"},
		{"ufffd_itself", "\ufffd"},
		{"all_escapes_adjacent", "\"\\\b\f\n\r\t\x00<>&\u2028"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := string(AppendString(nil, c.in)), marshalString(t, c.in); got != want {
				t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", c.in, got, want)
			}
		})
	}
}

// TestAppendStringEveryByteAndRune compares with encoding/json on every
// single byte and on every rune, each embedded between ASCII letters.
func TestAppendStringEveryByteAndRune(t *testing.T) {
	for b := 0; b < 256; b++ {
		s := "x" + string([]byte{byte(b)}) + "y"
		if got, want := string(AppendString(nil, s)), marshalString(t, s); got != want {
			t.Fatalf("byte %#x: %s, want %s", b, got, want)
		}
	}
	buf := make([]byte, 0, 8)
	for r := rune(0); r <= utf8.MaxRune; r++ {
		s := "x" + string(r) + "y"
		buf = AppendString(buf[:0], s)
		if r < 0x800 || r%97 == 0 || r >= 0xd800 && r < 0xe000 || r == 0x2028 || r == 0x2029 {
			if got, want := string(buf), marshalString(t, s); got != want {
				t.Fatalf("rune %U: %s, want %s", r, got, want)
			}
		}
	}
}

// FuzzAppendString checks byte-for-byte agreement with encoding/json and
// the round trip: decoding the output gives back the input (for valid
// UTF-8; invalid bytes become U+FFFD in both encoders).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", "\u2028", "\xff", "é\"\\<", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString([]byte("prefix"), s)
		if string(got[:6]) != "prefix" {
			t.Fatal("AppendString changed dst's existing bytes")
		}
		got = got[6:]
		if want := marshalString(t, s); string(got) != want {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("output is not a JSON string: %v", err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip: %q became %q", s, back)
		}
	})
}
