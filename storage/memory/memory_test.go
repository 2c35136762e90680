package memory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Store { return memory.New() })
}

func TestErrorText(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	tests := []struct {
		name string
		id   string
	}{
		{"Long", strings.Repeat("k", 10_000)},
		{"LongMultiByte", "a" + strings.Repeat("é", 100)}, // byte 32 is mid-rune
		{"Control", "a\x00b\nc\x1b[31m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Key(ctx, tt.id)
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Key: %v, want ErrNotFound", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "keyturn/memory: ") {
				t.Errorf("error %q lacks the package prefix", msg)
			}
			if len(msg) > 120 {
				t.Errorf("error text is %d bytes long, want a short excerpt of the ID", len(msg))
			}
			if tt.name == "LongMultiByte" && strings.Contains(msg, `\x`) {
				t.Errorf("error text %q cuts the ID inside a character", msg)
			}
			if !utf8.ValidString(msg) {
				t.Errorf("error text %q is not valid UTF-8", msg)
			}
			for _, c := range msg {
				if c < 0x20 || c == 0x7f {
					t.Errorf("error text %q contains control character %U", msg, c)
				}
			}
		})
	}
}
