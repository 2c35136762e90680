package scope

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // canonical String
		len  int
	}{
		{"empty", "", "", 0},
		{"single", "read", "read", 1},
		{"sorted", "write read", "read write", 2},
		{"duplicates folded", "read write read read", "read write", 2},
		{"case-sensitive", "READ read", "READ read", 2},
		{"all NQCHAR classes", "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", 1},
		{"plain wildcard is opaque", "*", "*", 1},
		{"prefix without colon is plain", "target-entity", "target-entity", 1},
		{"prefix in other case is plain", "Target-Entity:E:a", "Target-Entity:E:a", 1},
		{"colon tokens are plain", "read:api_keys write:api_keys", "read:api_keys write:api_keys", 2},
		{"seed 003 compound", "target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:employees-read,performance-evaluations-read",
			"target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:employees-read,performance-evaluations-read", 1},
		{"compound perms sorted", "target-entity:E:b,a", "target-entity:E:a,b", 1},
		{"compound perms deduplicated", "target-entity:E:a,b,a", "target-entity:E:a,b", 1},
		{"compound same entity merged", "target-entity:E:b target-entity:E:a", "target-entity:E:a,b", 1},
		{"compound entities kept apart", "target-entity:F:a target-entity:E:a", "target-entity:E:a target-entity:F:a", 2},
		{"perm wildcard absorbs perms", "target-entity:E:a,*,b", "target-entity:E:*", 1},
		{"perm wildcard absorbs across tokens", "target-entity:E:a target-entity:E:*", "target-entity:E:*", 1},
		{"entity wildcard absorbs same perm", "target-entity:*:a target-entity:E:a,b", "target-entity:*:a target-entity:E:b", 2},
		{"entity wildcard absorbs whole entity", "target-entity:*:a,b target-entity:E:a", "target-entity:*:a,b", 1},
		{"full wildcard absorbs all compounds", "target-entity:*:* target-entity:E:* target-entity:F:a read", "read target-entity:*:*", 2},
		{"entity wildcard does not absorb perm wildcard", "target-entity:*:a target-entity:E:*", "target-entity:*:a target-entity:E:*", 2},
		{"tokens sorted bytewise across kinds", "zeta target-entity:E:a alpha", "alpha target-entity:E:a zeta", 3},
		{"entity prefix sorts by token", "target-entity:E:a target-entity:E1:a", "target-entity:E1:a target-entity:E:a", 2},
		{"uuid entity", "target-entity:0b7c1d52-0000-4000-8000-000000000000:x", "target-entity:0b7c1d52-0000-4000-8000-000000000000:x", 1},
		{"bootstrap admin", "read:api_keys write:api_keys read:users read:participants introspect target-entity:*:*",
			"introspect read:api_keys read:participants read:users target-entity:*:* write:api_keys", 6},
		{"max tokens", strings.TrimSpace(strings.Repeat("a ", MaxTokens)), "a", 1},
		{"max length", strings.Repeat("x", MaxLength), strings.Repeat("x", MaxLength), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := s.Len(); got != tt.len {
				t.Errorf("Len() = %d, want %d", got, tt.len)
			}
			if got := strings.Join(s.Tokens(), " "); got != tt.want {
				t.Errorf("Tokens() joined = %q, want %q", got, tt.want)
			}
			if s.IsEmpty() != (tt.len == 0) {
				t.Errorf("IsEmpty() = %v with Len %d", s.IsEmpty(), tt.len)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // error text after the ErrMalformed prefix
	}{
		{"leading space", " read", "byte 0: empty scope token (leading, trailing or repeated space)"},
		{"trailing space", "read ", "byte 5: empty scope token (leading, trailing or repeated space)"},
		{"double space", "read  write", "byte 5: empty scope token (leading, trailing or repeated space)"},
		{"only a space", " ", "byte 0: empty scope token (leading, trailing or repeated space)"},
		{"tab separator", "read\twrite", "byte 4: character not allowed in a scope token"},
		{"newline", "read\n", "byte 4: character not allowed in a scope token"},
		{"double quote", `read"`, "byte 4: character not allowed in a scope token"},
		{"backslash", `a\b`, "byte 1: character not allowed in a scope token"},
		{"control", "read\x01", "byte 4: character not allowed in a scope token"},
		{"DEL", "read\x7f", "byte 4: character not allowed in a scope token"},
		{"NUL", "\x00", "byte 0: character not allowed in a scope token"},
		{"non-ASCII", "lecture écriture", "byte 8: character not allowed in a scope token"},
		{"invalid UTF-8", "read \xc3\x28", "byte 5: character not allowed in a scope token"},
		{"too long", strings.Repeat("x", MaxLength+1), "longer than 8192 bytes"},
		{"too many tokens", strings.TrimSpace(strings.Repeat("a ", MaxTokens+1)), "more than 256 scope tokens"},
		{"compound prefix only", "target-entity:", "byte 14: compound scope has an empty entity"},
		{"compound empty entity", "target-entity::a", "byte 14: compound scope has an empty entity"},
		{"compound no perms separator", "target-entity:E", "byte 15: compound scope has no ':' after its entity"},
		{"compound empty perm list", "target-entity:E:", "byte 16: compound scope has an empty permission"},
		{"compound empty middle perm", "target-entity:E:a,,b", "byte 18: compound scope has an empty permission"},
		{"compound leading comma", "target-entity:E:,a", "byte 16: compound scope has an empty permission"},
		{"compound trailing comma", "target-entity:E:a,", "byte 18: compound scope has an empty permission"},
		{"compound extra colon in perms", "target-entity:E:a:b", "byte 17: compound scope permission contains ':'"},
		{"compound extra colon in later perm", "target-entity:E:a,b:c", "byte 19: compound scope permission contains ':'"},
		{"compound comma in entity", "target-entity:E,F:a", "byte 15: compound scope entity contains ','"},
		{"compound embedded wildcard entity", "target-entity:E*:a", "byte 15: '*' must stand alone as an entity or permission"},
		{"compound embedded wildcard perm", "target-entity:E:a,read*", "byte 22: '*' must stand alone as an entity or permission"},
		{"compound bad char", "target-entity:E:a\"b", "byte 17: character not allowed in a scope token"},
		{"malformed compound after good token", "read target-entity:E:", "byte 21: compound scope has an empty permission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse succeeded with %q, want an error", s.String())
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if want := ErrMalformed.Error() + ": " + tt.want; err.Error() != want {
				t.Errorf("error = %q, want %q", err.Error(), want)
			}
			if !s.IsEmpty() {
				t.Errorf("failed Parse returned a non-empty set %q", s.String())
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		want   string
	}{
		{"none", nil, ""},
		{"storage tokens", []string{"write:api_keys", "read:users"}, "read:users write:api_keys"},
		{"compound merged across elements", []string{"target-entity:E:b", "target-entity:E:a", "target-entity:E:b"}, "target-entity:E:a,b"},
		{"canonical tokens round-trip", MustParse("x target-entity:*:a target-entity:E:a,b").Tokens(), "target-entity:*:a target-entity:E:b x"},
		{"max tokens", repeat("a", MaxTokens), "a"},
		{"max length", []string{strings.Repeat("x", MaxLength/2), strings.Repeat("y", MaxLength-MaxLength/2-1)},
			strings.Repeat("x", MaxLength/2) + " " + strings.Repeat("y", MaxLength-MaxLength/2-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.tokens...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			p, err := Parse(tt.want)
			if err != nil {
				t.Fatalf("Parse(canonical): %v", err)
			}
			if !p.Equal(s) {
				t.Errorf("Parse(%q) = %q, not equal to New's %q", tt.want, p, s)
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		want   string
	}{
		{"empty element", []string{"read", ""}, "token 1: empty scope token"},
		{"element with space", []string{"read write"}, "token 0: byte 4: character not allowed in a scope token"},
		{"element with tab", []string{"ok", "read\t"}, "token 1: byte 4: character not allowed in a scope token"},
		{"malformed compound", []string{"a", "b", "target-entity:E:a,,b"}, "token 2: byte 18: compound scope has an empty permission"},
		{"too many", repeat("a", MaxTokens+1), "more than 256 scope tokens"},
		{"too long", []string{strings.Repeat("x", MaxLength/2), strings.Repeat("y", MaxLength-MaxLength/2)}, "longer than 8192 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.tokens...)
			if err == nil {
				t.Fatalf("New succeeded with %q, want an error", s.String())
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if want := ErrMalformed.Error() + ": " + tt.want; err.Error() != want {
				t.Errorf("error = %q, want %q", err.Error(), want)
			}
		})
	}
}

func repeat(tok string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = tok
	}
	return out
}

// TestErrorsDoNotIncludeInput feeds secret-looking input to every refusal
// and checks that no error (nor MustParse's panic) repeats any of it.
func TestErrorsDoNotIncludeInput(t *testing.T) {
	const secret = "ds_live_S3CR3Tid_S3CR3Tsecret"
	tests := []struct {
		name string
		in   string
	}{
		{"bad char after secret", secret + "\""},
		{"bad char before secret", "\\" + secret},
		{"secret then double space", secret + "  read"},
		{"secret then trailing space", secret + " "},
		{"secret as compound entity", "target-entity:" + secret + ","},
		{"secret as compound perm", "target-entity:E:" + secret + ":x"},
		{"secret with embedded wildcard", "target-entity:E:" + secret + "*"},
		{"secret too long", strings.Repeat(secret, MaxLength/len(secret)+1)},
		{"secret too many", strings.TrimSpace(strings.Repeat(secret+" ", MaxTokens+1))},
	}
	check := func(t *testing.T, msg string) {
		t.Helper()
		for _, frag := range []string{"S3CR3T", "ds_live", "secret"} {
			if strings.Contains(msg, frag) {
				t.Errorf("error text %q contains input fragment %q", msg, frag)
			}
		}
		if len(msg) > 160 {
			t.Errorf("error text is %d bytes, want a short fixed message", len(msg))
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			check(t, err.Error())
			_, err = New(strings.Split(tt.in, " ")...)
			if err == nil {
				t.Fatal("New succeeded")
			}
			check(t, err.Error())
			func() {
				defer func() {
					r := recover()
					if r == nil {
						t.Fatal("MustParse did not panic")
					}
					perr, ok := r.(error)
					if !ok || !errors.Is(perr, ErrMalformed) {
						t.Fatalf("MustParse panicked with %v, want an error wrapping ErrMalformed", r)
					}
					check(t, perr.Error())
				}()
				MustParse(tt.in)
			}()
		})
	}
}
