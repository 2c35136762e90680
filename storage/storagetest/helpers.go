package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// t0 is the suite's reference instant, at microsecond precision.
var t0 = time.Date(2025, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// at returns t0 moved by d (d a whole number of microseconds).
func at(d time.Duration) time.Time { return t0.Add(d) }

// Non-UTC locations: the store must keep the instant and return it in UTC.
var (
	kolkata  = time.FixedZone("UTC+05:30", 5*3600+30*60)
	honolulu = time.FixedZone("UTC-10", -10*3600)
)

// cmpOpts compares records: times with time.Equal (go-cmp uses the Equal
// method), and a nil slice equal to an empty one.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func diff(want, got any) string { return cmp.Diff(want, got, cmpOpts...) }

// ctx returns a context for one call of the suite, cancelled when the test
// ends.
func ctx(t *testing.T) context.Context { return t.Context() }

// cancelled returns a context that is already cancelled.
func cancelled() context.Context {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	return c
}

// mustUTC reports an error for every time not in UTC.
func mustUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time %d (%v) is in location %q, want UTC", what, i, tm, tm.Location())
		}
	}
}

// wantErrIs reports an error unless errors.Is(err, target).
func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want one wrapping %v", what, err, target)
	}
}

// wantNoErr stops the test if err is not nil.
func wantNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// blob returns n deterministic pseudo-random bytes, including zero bytes and
// invalid UTF-8, seeded by seed.
func blob(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6b65797475726e))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if n > 0 {
		b[0] = 0x00
	}
	if n > 2 {
		b[n-1] = 0xff
		b[n/2] = 0x00
	}
	return b
}

// scopes returns n distinct canonical (sorted) scope tokens.
func scopes(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("scope:%04d", i)
	}
	return s
}

// unusualIDs are valid identifiers that trip stores which fold case, use a
// locale collation, build SQL or LIKE patterns by hand, or truncate. They are
// valid UTF-8 without NUL bytes, so any text column can hold them.
var unusualIDs = []string{
	"A",
	"B",
	"a",
	"a0",
	"aa",
	"a_b",
	"a%b",
	"a_",
	"o'brien",
	`quote"d`,
	`back\slash`,
	"with space",
	"semi;colon--",
	"ключ",
	"日本語キー",
	"émoji-🔑",
	"~tilde",
	"-dash",
	strings.Repeat("x", 255),
	strings.Repeat("x", 254) + "y",
}

// notFound lists near misses of the unusual IDs: a store that matches them
// compares wrongly.
var nearMisses = []string{
	"",
	"b",
	"AA",
	"a_c",
	"a%",
	"axb",
	"o''brien",
	"КЛЮЧ",
	"with  space",
	strings.Repeat("x", 256),
	strings.Repeat("x", 253),
}
