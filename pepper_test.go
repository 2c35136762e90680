package keyturn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/storage/memory"
)

// TestFinding7PepperFingerprint: a store remembers the pepper it was created
// with (issue 11, finding 7). Starting with another pepper, with none after
// one or with one after none fails at once with ErrPepperMismatch instead
// of silently refusing every key, and changes nothing; a short pepper is
// refused; the store holds a fingerprint, never the pepper.
func TestFinding7PepperFingerprint(t *testing.T) {
	ctx := context.Background()
	const p1, p2 = "the first pepper, long enough", "the second pepper, long enough"
	start := func(st Store, pepper string) (*Server, error) {
		return New(ctx, Config{Store: st, Issuer: testIssuer, KeyPrefix: "ds_live", Pepper: []byte(pepper),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}

	st := memory.New()
	srv, err := start(st, p1)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: srv}
	key := s.rootKey(t, "read:users")
	fp, err := st.InitSetting(ctx, pepperSetting, nil)
	if err != nil || len(fp) == 0 || bytes.Contains(fp, []byte(p1)) || bytes.Contains(fp, []byte("first pepper")) {
		t.Fatalf("stored fingerprint %q, %v: want one that does not hold the pepper", fp, err)
	}

	for _, tt := range []struct {
		name, pepper, says string
	}{
		{"another pepper", p2, "another pepper"},
		{"no pepper after one", "", "none is set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := start(st, tt.pepper)
			if !errors.Is(err, ErrPepperMismatch) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("New: %v; want ErrPepperMismatch saying %q", err, tt.says)
			}
			if tt.pepper != "" && strings.Contains(err.Error(), tt.pepper) {
				t.Errorf("the error shows the pepper: %v", err)
			}
		})
	}
	t.Run("the same pepper", func(t *testing.T) {
		again, err := start(st, p1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := again.Keys().Authenticate(ctx, key); err != nil {
			t.Errorf("a key after refused starts: %v", err)
		}
	})
	t.Run("a pepper after none", func(t *testing.T) {
		bare := memory.New()
		if _, err := start(bare, ""); err != nil {
			t.Fatal(err)
		}
		_, err := start(bare, p1)
		if !errors.Is(err, ErrPepperMismatch) || !strings.Contains(err.Error(), "without a pepper") {
			t.Fatalf("New: %v; want ErrPepperMismatch", err)
		}
		if _, err := start(bare, ""); err != nil {
			t.Errorf("no pepper again: %v", err)
		}
	})
	t.Run("a short pepper", func(t *testing.T) {
		short := strings.Repeat("s", MinPepperLen-1)
		_, err := start(memory.New(), short)
		if err == nil || errors.Is(err, ErrPepperMismatch) || strings.Contains(err.Error(), short) {
			t.Fatalf("New with a %d-byte pepper: %v", len(short), err)
		}
		if _, err := start(memory.New(), strings.Repeat("s", MinPepperLen)); err != nil {
			t.Errorf("New with a %d-byte pepper: %v", MinPepperLen, err)
		}
	})
}
