package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
)

// TestSettingStore tests a [storage.SettingStore]; newStore returns a fresh,
// empty store for each subtest.
func TestSettingStore(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	t.Helper()
	t.Run("FirstWins", func(t *testing.T) { testSettingFirstWins(t, newStore) })
	t.Run("Get", func(t *testing.T) { testSettingGet(t, newStore) })
	t.Run("Values", func(t *testing.T) { testSettingValues(t, newStore) })
	t.Run("Names", func(t *testing.T) { testSettingNames(t, newStore) })
	t.Run("Bounds", func(t *testing.T) { testSettingBounds(t, newStore) })
	t.Run("NoAliasing", func(t *testing.T) { testSettingNoAliasing(t, newStore) })
	t.Run("Cancelled", func(t *testing.T) { testSettingCancelled(t, newStore) })
	t.Run("ConcurrentFirstInit", func(t *testing.T) { testSettingConcurrent(t, newStore) })
}

// initSetting calls InitSetting and stops the test on an error.
func initSetting(t *testing.T, s storage.SettingStore, name string, value []byte) []byte {
	t.Helper()
	got, err := s.InitSetting(ctx(t), name, value)
	wantNoErr(t, fmt.Sprintf("InitSetting(%q)", name), err)
	return got
}

func wantSetting(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s returned %q, want %q", what, got, want)
	}
}

func testSettingFirstWins(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	s := newStore(t)
	wantSetting(t, "InitSetting of a free name", initSetting(t, s, "pepper", []byte("first")), []byte("first"))
	wantSetting(t, "InitSetting of a taken name", initSetting(t, s, "pepper", []byte("second")), []byte("first"))
	wantSetting(t, "InitSetting with an empty value", initSetting(t, s, "pepper", nil), []byte("first"))
	wantSetting(t, "InitSetting of another name", initSetting(t, s, "other", []byte("second")), []byte("second"))
	wantSetting(t, "InitSetting again", initSetting(t, s, "pepper", []byte("third")), []byte("first"))
}

func testSettingGet(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	s := newStore(t)
	_, err := s.Setting(ctx(t), "absent")
	wantErrIs(t, "Setting of a free name", err, storage.ErrNotFound)
	_, err = s.Setting(ctx(t), "")
	wantErrIs(t, "Setting of the empty name", err, storage.ErrNotFound)
	initSetting(t, s, "n", []byte("first"))
	initSetting(t, s, "n", []byte("second"))
	got, err := s.Setting(ctx(t), "n")
	wantNoErr(t, "Setting", err)
	wantSetting(t, "Setting", got, []byte("first"))
	got[0] = 'X'
	got, err = s.Setting(ctx(t), "n")
	wantNoErr(t, "Setting", err)
	wantSetting(t, "Setting after the caller changed the returned slice", got, []byte("first"))
	_, err = s.Setting(ctx(t), "N")
	wantErrIs(t, "Setting of a name differing in case", err, storage.ErrNotFound)
	_, err = s.Setting(cancelled(), "n")
	wantErrIs(t, "Setting with a cancelled context", err, context.Canceled)

	initSetting(t, s, "empty", nil)
	got, err = s.Setting(ctx(t), "empty")
	wantNoErr(t, "Setting of an empty value", err)
	wantSetting(t, "Setting of an empty value", got, nil)
}

func testSettingValues(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	tests := []struct {
		name  string
		value []byte
	}{
		{"Nil", nil},
		{"Empty", []byte{}},
		{"Binary", blob(30, 32)},
		{"Largest", blob(31, storage.MaxSettingValue)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			wantSetting(t, "InitSetting", initSetting(t, s, "n", tt.value), tt.value)
			// A stored empty value is a value: the name is taken.
			wantSetting(t, "InitSetting again", initSetting(t, s, "n", []byte("other")), tt.value)
			got, err := s.Setting(ctx(t), "n")
			wantNoErr(t, "Setting", err)
			wantSetting(t, "Setting", got, tt.value)
		})
	}
}

func testSettingNames(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	s := newStore(t)
	for i, id := range unusualIDs {
		initSetting(t, s, id, []byte(fmt.Sprint(i)))
	}
	for i, id := range unusualIDs {
		wantSetting(t, fmt.Sprintf("InitSetting(%q) again", id), initSetting(t, s, id, []byte("x")), []byte(fmt.Sprint(i)))
	}
	// A near miss of a taken name is free: names are compared byte-wise.
	for _, id := range nearMisses {
		if id == "" || len(id) > storage.MaxSettingName {
			continue
		}
		wantSetting(t, fmt.Sprintf("InitSetting(%q), a near miss", id), initSetting(t, s, id, []byte("near")), []byte("near"))
	}
}

func testSettingBounds(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	s := newStore(t)
	for _, tt := range []struct {
		what        string
		name        string
		value       []byte
		wantStoring bool
	}{
		{"an empty name", "", []byte("v"), false},
		{"a name over MaxSettingName bytes", strings.Repeat("n", storage.MaxSettingName+1), []byte("v"), false},
		{"a value over MaxSettingValue bytes", "big", blob(32, storage.MaxSettingValue+1), false},
	} {
		if _, err := s.InitSetting(ctx(t), tt.name, tt.value); err == nil {
			t.Errorf("InitSetting with %s succeeded", tt.what)
		}
	}
	// The failed call left the name free.
	wantSetting(t, "InitSetting after a refused one", initSetting(t, s, "big", []byte("small")), []byte("small"))
	long := strings.Repeat("n", storage.MaxSettingName)
	wantSetting(t, "InitSetting with a name of MaxSettingName bytes", initSetting(t, s, long, []byte("v")), []byte("v"))
}

func testSettingNoAliasing(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	s := newStore(t)
	in := []byte("value")
	out := initSetting(t, s, "n", in)
	in[0] = 'X'
	out[1] = 'X'
	wantSetting(t, "InitSetting after the caller changed its slices", initSetting(t, s, "n", nil), []byte("value"))
}

func testSettingCancelled(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	s := newStore(t)
	_, err := s.InitSetting(cancelled(), "n", []byte("cancelled"))
	wantErrIs(t, "InitSetting with a cancelled context", err, context.Canceled)
	wantSetting(t, "InitSetting after a cancelled one", initSetting(t, s, "n", []byte("v")), []byte("v"))
}

// testSettingConcurrent races many first calls for one name, each with its
// own value: exactly one value is stored, and every call returns it.
func testSettingConcurrent(t *testing.T, newStore func(t *testing.T) storage.SettingStore) {
	const callers = 16
	for round := range 3 {
		s := newStore(t)
		name := fmt.Sprintf("race-%d", round)
		got := make([][]byte, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.InitSetting(ctx(t), name, []byte(fmt.Sprintf("caller-%02d", i)))
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent InitSetting: %v", err)
		}
		winner := got[0]
		if !bytes.HasPrefix(winner, []byte("caller-")) {
			t.Fatalf("concurrent InitSetting returned %q, not any caller's value", winner)
		}
		for i, g := range got {
			if !bytes.Equal(g, winner) {
				t.Errorf("concurrent InitSetting: caller %d got %q, caller 0 got %q", i, g, winner)
			}
		}
		wantSetting(t, "InitSetting after the race", initSetting(t, s, name, []byte("late")), winner)
	}
}

// TestSigningKeyUpdater tests a store's [storage.SigningKeyUpdater] together
// with its [storage.SigningKeyStore]; newStore returns a fresh, empty store
// for each subtest.
func TestSigningKeyUpdater(t *testing.T, newStore func(t *testing.T) SigningKeyUpdaterStore) {
	t.Helper()
	t.Run("Replace", func(t *testing.T) { testReplaceSigningKey(t, newStore) })
	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.ReplaceSigningKeyPrivate(ctx(t), "missing", nil, []byte("x"))
		wantErrIs(t, "ReplaceSigningKeyPrivate of a missing key", err, storage.ErrNotFound)
	})
	t.Run("Cancelled", func(t *testing.T) {
		s := newStore(t)
		k := fullSigningKey("kid", 0)
		wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
		_, err := s.ReplaceSigningKeyPrivate(cancelled(), "kid", k.Private, []byte("new"))
		wantErrIs(t, "ReplaceSigningKeyPrivate with a cancelled context", err, context.Canceled)
		if d := diff([]storage.SigningKey{k}, signingKeys(t, s)); d != "" {
			t.Errorf("a cancelled ReplaceSigningKeyPrivate changed the key (-want +got):\n%s", d)
		}
	})
	t.Run("Concurrent", func(t *testing.T) { testReplaceSigningKeyConcurrent(t, newStore) })
}

// SigningKeyUpdaterStore is a [storage.SigningKeyStore] that is also a
// [storage.SigningKeyUpdater].
type SigningKeyUpdaterStore interface {
	storage.SigningKeyStore
	storage.SigningKeyUpdater
}

func testReplaceSigningKey(t *testing.T, newStore func(t *testing.T) SigningKeyUpdaterStore) {
	s := newStore(t)
	k := fullSigningKey("kid", 0)
	other := fullSigningKey("other", time.Hour)
	wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
	wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), other))

	ok, err := s.ReplaceSigningKeyPrivate(ctx(t), "kid", blob(99, 48), []byte("never"))
	wantNoErr(t, "ReplaceSigningKeyPrivate with a stale old value", err)
	if ok {
		t.Error("ReplaceSigningKeyPrivate with a stale old value reported a replacement")
	}
	next := blob(40, 60)
	ok, err = s.ReplaceSigningKeyPrivate(ctx(t), "kid", k.Private, next)
	wantNoErr(t, "ReplaceSigningKeyPrivate", err)
	if !ok {
		t.Fatal("ReplaceSigningKeyPrivate with the stored value reported no replacement")
	}
	k.Private = next
	if d := diff([]storage.SigningKey{k, other}, signingKeys(t, s)); d != "" {
		t.Errorf("after ReplaceSigningKeyPrivate (-want +got):\n%s", d)
	}
	// The old value no longer matches.
	if ok, err := s.ReplaceSigningKeyPrivate(ctx(t), "kid", fullSigningKey("kid", 0).Private, []byte("again")); err != nil || ok {
		t.Errorf("ReplaceSigningKeyPrivate with the replaced value: %v, %v; want false, nil", ok, err)
	}

	// An empty private half matches nil, and the other way round.
	bare := storage.SigningKey{ID: "bare", Algorithm: "EdDSA"}
	wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), bare))
	if ok, err := s.ReplaceSigningKeyPrivate(ctx(t), "bare", []byte{}, []byte("filled")); err != nil || !ok {
		t.Errorf("ReplaceSigningKeyPrivate of an empty private half given as empty: %v, %v", ok, err)
	}
	if ok, err := s.ReplaceSigningKeyPrivate(ctx(t), "bare", []byte("filled"), nil); err != nil || !ok {
		t.Errorf("ReplaceSigningKeyPrivate to nil: %v, %v", ok, err)
	}
	if ok, err := s.ReplaceSigningKeyPrivate(ctx(t), "bare", nil, []byte("again")); err != nil || !ok {
		t.Errorf("ReplaceSigningKeyPrivate of a nil private half given as nil: %v, %v", ok, err)
	}
}

// testReplaceSigningKeyConcurrent races replacements of one value: exactly
// one takes effect.
func testReplaceSigningKeyConcurrent(t *testing.T, newStore func(t *testing.T) SigningKeyUpdaterStore) {
	const callers = 16
	s := newStore(t)
	k := fullSigningKey("kid", 0)
	wantNoErr(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
	won := make([]bool, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			won[i], errs[i] = s.ReplaceSigningKeyPrivate(ctx(t), "kid", k.Private, []byte(fmt.Sprintf("caller-%02d", i)))
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent ReplaceSigningKeyPrivate: %v", err)
	}
	winner := -1
	for i, w := range won {
		if w {
			if winner >= 0 {
				t.Fatalf("callers %d and %d both replaced the same value", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent ReplaceSigningKeyPrivate took effect")
	}
	got := signingKeys(t, s)
	if len(got) != 1 || string(got[0].Private) != fmt.Sprintf("caller-%02d", winner) {
		t.Errorf("after the race the key holds %q, want caller %d's value", got[0].Private, winner)
	}
}
