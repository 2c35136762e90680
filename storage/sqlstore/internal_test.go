package sqlstore

import (
	"database/sql"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name string
		d    Dialect
		in   string
		want string
	}{
		{"sqlite unchanged", SQLite, "SELECT a FROM t WHERE b = ? AND c > ?", "SELECT a FROM t WHERE b = ? AND c > ?"},
		{"postgres numbered", Postgres, "SELECT a FROM t WHERE b = ? AND c > ?", "SELECT a FROM t WHERE b = $1 AND c > $2"},
		{"postgres many", Postgres, "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
		{"postgres none", Postgres, "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rebind(tt.d, tt.in); got != tt.want {
				t.Errorf("rebind = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestQueriesParameterCount checks that each dialect's statements have the
// same number of parameters, so a Go call binds the same arguments to both.
func TestQueriesParameterCount(t *testing.T) {
	lite, pg := dialectQueries[SQLite], dialectQueries[Postgres]
	for name, pair := range map[string][2]string{
		"createKey":                {lite.createKey, pg.createKey},
		"retireSigningKey":         {lite.retireSigningKey, pg.retireSigningKey},
		"addRevocation":            {lite.addRevocation, pg.addRevocation},
		"revocationsSince":         {lite.revocationsSince, pg.revocationsSince},
		"sweepRevocations":         {lite.sweepRevocations, pg.sweepRevocations},
		"replaceSigningKeyPrivate": {lite.replaceSigningKeyPrivate, pg.replaceSigningKeyPrivate},
		"initSetting":              {lite.initSetting, pg.initSetting},
	} {
		t.Run(name, func(t *testing.T) {
			n := strings.Count(pair[0], "?")
			if strings.Contains(pair[1], "?") || !strings.Contains(pair[1], "$"+strconv.Itoa(n)) || strings.Contains(pair[1], "$"+strconv.Itoa(n+1)) {
				t.Errorf("sqlite has %d parameters; postgres statement %q does not have $1…$%d", n, pair[1], n)
			}
		})
	}
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "-- a\n  -- b\n", nil},
		{"two", "CREATE TABLE a (x INT);\nCREATE INDEX i ON a (x);\n", []string{"CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"}},
		{"comments dropped, inline kept", "-- head\nCREATE TABLE a (\n\tx INT -- note\n);\n\n-- tail\n",
			[]string{"CREATE TABLE a (\n\tx INT -- note\n)"}},
		{"no final semicolon", "SELECT 1;\nSELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon mid-line is not a split", "SELECT ';' AS x;\n", []string{"SELECT ';' AS x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitStatements(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("splitStatements = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMigrationsEmbedded checks that both dialects have the same versions and
// that each migration creates the same tables, indexes and columns.
func TestMigrationsEmbedded(t *testing.T) {
	lite, pg := migrations[SQLite], migrations[Postgres]
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("SQLite has %d migrations, PostgreSQL %d; want the same, at least 1", len(lite), len(pg))
	}
	objects := func(m migration) []string {
		var out []string
		for _, st := range m.statements {
			f := strings.Fields(st)
			if len(f) >= 3 && f[0] == "CREATE" {
				out = append(out, f[1]+" "+f[2])
			}
			if len(f) >= 3 && f[0] == "ALTER" && f[1] == "TABLE" {
				for i := 3; i+2 < len(f); i++ {
					if f[i] == "ADD" && f[i+1] == "COLUMN" {
						out = append(out, "COLUMN "+f[2]+"."+f[i+2])
					}
				}
			}
		}
		return out
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("migration %d named %q (SQLite) and %q (PostgreSQL)", i+1, lite[i].name, pg[i].name)
		}
		if a, b := objects(lite[i]), objects(pg[i]); !slices.Equal(a, b) || len(a) == 0 {
			t.Errorf("migration %d creates %v (SQLite) and %v (PostgreSQL)", i+1, a, b)
		}
	}
	if LatestVersion(SQLite) != len(lite) || LatestVersion(Dialect(0)) != 0 {
		t.Errorf("LatestVersion = %d, %d", LatestVersion(SQLite), LatestVersion(Dialect(0)))
	}
}

func TestMicros(t *testing.T) {
	kolkata := time.FixedZone("UTC+05:30", 5*3600+30*60)
	tests := []struct {
		name string
		in   time.Time
		want time.Time // after a round trip
	}{
		{"zero", time.Time{}, time.Time{}},
		{"zero in a location", time.Time{}.In(kolkata), time.Time{}},
		{"epoch", time.Unix(0, 0), time.Unix(0, 0).UTC()},
		{"microseconds kept", time.Date(2025, 3, 14, 15, 9, 26, 535897000, kolkata), time.Date(2025, 3, 14, 9, 39, 26, 535897000, time.UTC)},
		{"nanoseconds truncated", time.Date(2025, 1, 1, 0, 0, 0, 999, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"before 1970 truncated down", time.Unix(-1, 1500), time.Unix(-1, 1000).UTC()},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := micros(tt.in)
			if err != nil {
				t.Fatalf("micros: %v", err)
			}
			got := fromMicros(v)
			if !got.Equal(tt.want) || got.Location() != time.UTC || got.IsZero() != tt.want.IsZero() {
				t.Errorf("round trip = %v (%v), want %v", got, got.Location(), tt.want)
			}
			nv, err := optMicros(tt.in)
			if err != nil {
				t.Fatalf("optMicros: %v", err)
			}
			if nv.Valid == tt.in.IsZero() {
				t.Errorf("optMicros(%v).Valid = %v", tt.in, nv.Valid)
			}
			if got := fromOptMicros(nv); !got.Equal(tt.want) {
				t.Errorf("optional round trip = %v, want %v", got, tt.want)
			}
		})
	}
	for _, tm := range []time.Time{
		time.Unix(math.MaxInt64/1_000_000, 0),
		time.Unix(math.MinInt64/1_000_000-1, 0),
		time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if _, err := micros(tm); !errors.Is(err, errTimeRange) {
			t.Errorf("micros(year %d) = %v, want errTimeRange", tm.Year(), err)
		}
	}
}

func TestBytesCol(t *testing.T) {
	tests := []struct {
		name    string
		src     any
		want    []byte
		wantNil bool
	}{
		{"NULL", nil, nil, true},
		{"empty blob", []byte{}, []byte{}, false},
		{"nil blob value", []byte(nil), []byte{}, false},
		{"blob", []byte{0, 1, 0xff}, []byte{0, 1, 0xff}, false},
		{"text", "ab", []byte("ab"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytesCol
			if err := b.Scan(tt.src); err != nil {
				t.Fatal(err)
			}
			if string(b) != string(tt.want) || (b == nil) != tt.wantNil {
				t.Errorf("Scan(%#v) = %#v, want %#v", tt.src, b, tt.want)
			}
		})
	}
	var b bytesCol
	if err := b.Scan(int64(1)); err == nil {
		t.Error("Scan(int64) succeeded")
	}
	// The scanned slice is a copy.
	src := []byte{1, 2}
	b.Scan(src)
	src[0] = 9
	if b[0] != 1 {
		t.Error("Scan kept a reference to the driver's buffer")
	}
	var _ sql.Scanner = (*bytesCol)(nil)
}

func TestExcerpt(t *testing.T) {
	tests := []struct{ in, want string }{
		{"k1", `"k1"`},
		{strings.Repeat("x", 32), `"` + strings.Repeat("x", 32) + `"`},
		{strings.Repeat("x", 40), `"` + strings.Repeat("x", 32) + `"…`},
		{strings.Repeat("x", 31) + "ключ", `"` + strings.Repeat("x", 31) + `"…`},
	}
	for _, tt := range tests {
		if got := excerpt(tt.in); got != tt.want {
			t.Errorf("excerpt(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
