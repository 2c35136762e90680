package scope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

const uuid = "8ed17dce-9eca-4383-a9e1-54f82c362b6d"

func TestContains(t *testing.T) {
	tests := []struct {
		name string
		held string
		tok  string
		want bool
	}{
		{"plain present", "read write", "read", true},
		{"plain absent", "read write", "delete", false},
		{"plain is case-sensitive", "read", "READ", false},
		{"plain is exact, not prefix", "read", "readonly", false},
		{"plain wildcard is only itself", "*", "read", false},
		{"plain wildcard contains itself", "*", "*", true},
		{"empty set", "", "read", false},
		{"empty token", "read", "", false},
		{"two tokens are not one", "read write", "read write", false},
		{"malformed token", "read", "read\"", false},
		{"too long token", "read", string(make([]byte, MaxLength+1)), false},
		{"compound subset of perms", "target-entity:E:a,b", "target-entity:E:a", true},
		{"compound all perms", "target-entity:E:a,b", "target-entity:E:b,a", true},
		{"compound other entity", "target-entity:E:a,b", "target-entity:F:a", false},
		{"compound missing perm", "target-entity:E:a", "target-entity:E:a,b", false},
		{"compound held perms combine", "target-entity:E1:a target-entity:E1:b", "target-entity:E1:a,b", true},
		{"compound duplicate request perms", "target-entity:E:a", "target-entity:E:a,a", true},
		{"compound seed 003", "target-entity:" + uuid + ":employees-read,performance-evaluations-read",
			"target-entity:" + uuid + ":performance-evaluations-read", true},
		{"compound malformed request", "target-entity:E:a", "target-entity:E:", false},
		{"compound entity is case-sensitive", "target-entity:E:a", "target-entity:e:a", false},
		{"compound is not a plain token", "target-entity:E:a", "target-entity", false},
		{"held wildcard perm covers any perm", "target-entity:E:*", "target-entity:E:anything", true},
		{"held wildcard perm covers requested wildcard perm", "target-entity:E:*", "target-entity:E:*", true},
		{"held wildcard perm stays on its entity", "target-entity:E:*", "target-entity:F:a", false},
		{"held wildcard entity covers any entity", "target-entity:*:a", "target-entity:" + uuid + ":a", true},
		{"held wildcard entity covers requested wildcard entity", "target-entity:*:a", "target-entity:*:a", true},
		{"held wildcard entity stays on its perms", "target-entity:*:a", "target-entity:E:b", false},
		{"held full wildcard covers everything compound", "target-entity:*:*", "target-entity:*:*", true},
		{"held full wildcard does not cover plain", "target-entity:*:*", "read", false},
		{"requested wildcard perm needs held wildcard", "target-entity:E:a,b", "target-entity:E:*", false},
		{"requested wildcard entity needs held wildcard", "target-entity:E:a target-entity:F:a", "target-entity:*:a", false},
		{"requested wildcard perm not covered by wildcard entity", "target-entity:*:a", "target-entity:E:*", false},
		{"requested wildcard entity not covered by wildcard perm", "target-entity:E:*", "target-entity:*:a", false},
		{"wildcard entity and exact entity combine", "target-entity:*:a target-entity:E:b", "target-entity:E:a,b", true},
		{"wildcard entity and exact entity combine only where exact", "target-entity:*:a target-entity:E:b", "target-entity:F:a,b", false},
		{"requested wildcard entity ignores exact grants", "target-entity:*:a target-entity:E:b", "target-entity:*:a,b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := MustParse(tt.held)
			if got := held.Contains(tt.tok); got != tt.want {
				t.Errorf("%q.Contains(%q) = %v, want %v", tt.held, tt.tok, got, tt.want)
			}
			// Contains agrees with Covers on the one-token request.
			if req, err := Parse(tt.tok); err == nil && req.Len() == 1 {
				if got := held.Covers(req); got != tt.want {
					t.Errorf("%q.Covers(%q) = %v, want %v", tt.held, tt.tok, got, tt.want)
				}
			}
		})
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		name      string
		held, req string
		want      bool
	}{
		{"empty covers empty", "", "", true},
		{"anything covers empty", "read", "", true},
		{"empty covers nothing", "", "read", false},
		{"equal", "read write", "write read", true},
		{"subset", "read write admin", "read write", true},
		{"superset", "read", "read write", false},
		{"disjoint", "read", "write", false},
		{"order irrelevant", "a b c d", "d b", true},
		{"plain and compound", "read target-entity:E:a,b", "read target-entity:E:b", true},
		{"plain missing beside compound", "target-entity:E:a,b", "read target-entity:E:b", false},
		{"compound missing beside plain", "read target-entity:E:a", "read target-entity:E:b", false},
		{"design: held per (entity, perm) combine", "target-entity:E1:a target-entity:E1:b", "target-entity:E1:a,b", true},
		{"design: held E:a,b covers E:a", "target-entity:E:a,b", "target-entity:E:a", true},
		{"design: held E:a,b does not cover F:a", "target-entity:E:a,b", "target-entity:F:a", false},
		{"design: held * entity covers any", "target-entity:*:employees-read", "target-entity:" + uuid + ":employees-read", true},
		{"design: requested * covered only by held *", "target-entity:" + uuid + ":employees-read", "target-entity:*:employees-read", false},
		{"bootstrap admin covers any entity request", "read:api_keys write:api_keys read:users read:participants introspect target-entity:*:*",
			"read:users target-entity:" + uuid + ":employees-read,performance-evaluations-read target-entity:E2:*", true},
		{"bootstrap admin lacks unknown plain scope", "read:api_keys write:api_keys read:users read:participants introspect target-entity:*:*",
			"read:users delete:everything", false},
		{"several entities all covered", "target-entity:E:a target-entity:F:b target-entity:*:c", "target-entity:E:a,c target-entity:F:b,c target-entity:G:c", true},
		{"several entities one short", "target-entity:E:a target-entity:F:b target-entity:*:c", "target-entity:E:a,c target-entity:F:a", false},
		{"entity id prefix is a different entity", "target-entity:E:a", "target-entity:E1:a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held, req := MustParse(tt.held), MustParse(tt.req)
			if got := held.Covers(req); got != tt.want {
				t.Errorf("%q.Covers(%q) = %v, want %v", tt.held, tt.req, got, tt.want)
			}
			// Covers is the conjunction of Contains over the request's tokens.
			all := true
			for _, tok := range req.Tokens() {
				all = all && held.Contains(tok)
			}
			if all != tt.want {
				t.Errorf("Contains over %q's tokens = %v, want %v", tt.req, all, tt.want)
			}
			if got := held.Intersect(req).Equal(req); got != tt.want {
				t.Errorf("Intersect(req).Equal(req) = %v, want %v (Intersect = %q)", got, tt.want, held.Intersect(req))
			}
		})
	}
}

func TestIntersectUnion(t *testing.T) {
	tests := []struct {
		name         string
		a, b         string
		inter, union string
	}{
		{"empty", "", "", "", ""},
		{"empty and plain", "", "read", "", "read"},
		{"plain overlap", "read write", "write admin", "write", "admin read write"},
		{"plain disjoint", "read", "write", "", "read write"},
		{"compound same entity", "target-entity:E:a,b", "target-entity:E:b,c", "target-entity:E:b", "target-entity:E:a,b,c"},
		{"compound different entity", "target-entity:E:a", "target-entity:F:a", "", "target-entity:E:a target-entity:F:a"},
		{"perm wildcard narrows", "target-entity:E:*", "target-entity:E:a,b", "target-entity:E:a,b", "target-entity:E:*"},
		{"entity wildcard narrows", "target-entity:*:a,b", "target-entity:E:a target-entity:F:b,c", "target-entity:E:a target-entity:F:b",
			"target-entity:*:a,b target-entity:F:c"},
		{"wildcards cross", "target-entity:*:a,b", "target-entity:E:*", "target-entity:E:a,b", "target-entity:*:a,b target-entity:E:*"},
		{"full wildcard", "target-entity:*:*", "target-entity:*:a target-entity:E:*", "target-entity:*:a target-entity:E:*", "target-entity:*:*"},
		{"requested wildcard entity meets exact", "target-entity:E:a", "target-entity:*:a", "target-entity:E:a", "target-entity:*:a"},
		{"mixed", "read target-entity:E:a,b", "read write target-entity:E:b target-entity:F:a", "read target-entity:E:b",
			"read target-entity:E:a,b target-entity:F:a write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustParse(tt.a), MustParse(tt.b)
			for _, c := range []struct {
				op   string
				got  Set
				want string
			}{
				{"a∩b", a.Intersect(b), tt.inter},
				{"b∩a", b.Intersect(a), tt.inter},
				{"a∪b", a.Union(b), tt.union},
				{"b∪a", b.Union(a), tt.union},
			} {
				if c.got.String() != c.want {
					t.Errorf("%s = %q, want %q", c.op, c.got, c.want)
				}
			}
			i, u := a.Intersect(b), a.Union(b)
			if !a.Covers(i) || !b.Covers(i) {
				t.Errorf("intersection %q not covered by both operands", i)
			}
			if !u.Covers(a) || !u.Covers(b) {
				t.Errorf("union %q does not cover both operands", u)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"both empty", "", "", true},
		{"order", "a b", "b a", true},
		{"duplicates", "a a b", "b a", true},
		{"different", "a", "b", false},
		{"subset", "a", "a b", false},
		{"merged compound", "target-entity:E:a target-entity:E:b", "target-entity:E:b,a", true},
		{"absorbed by wildcard entity", "target-entity:*:a target-entity:E:a,b", "target-entity:E:b target-entity:*:a", true},
		{"absorbed by wildcard perm", "target-entity:E:a,*", "target-entity:E:*", true},
		{"wildcard is not its expansion", "target-entity:E:*", "target-entity:E:a,b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustParse(tt.a), MustParse(tt.b)
			if got := a.Equal(b); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
			if mutual := a.Covers(b) && b.Covers(a); mutual != tt.want {
				t.Errorf("mutual Covers = %v, want %v", mutual, tt.want)
			}
		})
	}
}

func TestZeroValue(t *testing.T) {
	var z Set
	if !z.IsEmpty() || z.Len() != 0 || z.String() != "" || z.Contains("read") {
		t.Errorf("zero Set is not the empty set: %#v", z)
	}
	if toks := z.Tokens(); toks == nil || len(toks) != 0 {
		t.Errorf("zero Set Tokens() = %#v, want an empty non-nil slice", toks)
	}
	if !z.Equal(MustParse("")) || !z.Covers(Set{}) || z.Covers(MustParse("read")) {
		t.Error("zero Set does not behave as the parsed empty set")
	}
	if !MustParse("read").Covers(z) {
		t.Error("a set does not cover the zero Set")
	}
}

func TestTokensIsACopy(t *testing.T) {
	s := MustParse("a b target-entity:E:x,y")
	toks := s.Tokens()
	toks[0] = "changed"
	if s.String() != "a b target-entity:E:x,y" || s.Tokens()[0] != "a" {
		t.Errorf("modifying Tokens() changed the set: %q", s)
	}
}

func TestText(t *testing.T) {
	type claims struct {
		Scope Set `json:"scope"`
	}
	tests := []struct {
		name    string
		in      string
		want    string // canonical scope; ignored when wantErr
		wantErr bool
	}{
		{"canonicalised", `{"scope":"write target-entity:E:b,a read"}`, "read target-entity:E:a,b write", false},
		{"empty", `{"scope":""}`, "", false},
		{"malformed", `{"scope":"read  write"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c claims
			err := json.Unmarshal([]byte(tt.in), &c)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Unmarshal error = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Scope.String() != tt.want {
				t.Errorf("decoded %q, want %q", c.Scope, tt.want)
			}
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"scope":%q}`, tt.want); string(out) != want {
				t.Errorf("Marshal = %s, want %s", out, want)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	s := MustParse("b a")
	if got, want := fmt.Sprintf("%v|%s|%#v", s, s, s), `a b|a b|scope.MustParse("a b")`; got != want {
		t.Errorf("formatted %q, want %q", got, want)
	}
}

// TestNoAllocs checks the allocation promise of Contains and Covers
// (counts, not timing).
func TestNoAllocs(t *testing.T) {
	held := MustParse("read write target-entity:*:c target-entity:E:a,b target-entity:" + uuid + ":employees-read")
	req := MustParse("read target-entity:E:a,b,c target-entity:" + uuid + ":employees-read,c")
	tests := []struct {
		name string
		f    func() bool
	}{
		{"Contains plain", func() bool { return held.Contains("write") }},
		{"Contains compound", func() bool { return held.Contains("target-entity:E:b,c,a") }},
		{"Covers", func() bool { return held.Covers(req) }},
		{"Equal", func() bool { return held.Equal(held) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.f() {
				t.Fatal("call returned false; the allocation check would be vacuous")
			}
			if n := testing.AllocsPerRun(100, func() { tt.f() }); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
}

// TestConcurrentUse shares one Set between goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	held := MustParse("read target-entity:*:a target-entity:E:b")
	req := MustParse("target-entity:E:a,b")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if !held.Covers(req) || !held.Contains("read") || !held.Union(req).Equal(held) ||
					!held.Intersect(req).Equal(req) || len(held.Tokens()) != 3 {
					t.Error("concurrent use gave a wrong answer")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestLargeSets exercises the paths taken only by larger sets: the entity
// index (from indexThreshold entities) and binary search over long plain
// and permission lists.
func TestLargeSets(t *testing.T) {
	var toks []string
	for i := range 40 {
		toks = append(toks, fmt.Sprintf("plain-%02d", i))
	}
	for e := range 20 {
		var perms []string
		for p := range 12 {
			perms = append(perms, fmt.Sprintf("perm-%02d", (p*7+e)%30))
		}
		toks = append(toks, fmt.Sprintf("target-entity:ent-%02d:%s", e, strings.Join(perms, ",")))
	}
	held, err := New(toks...)
	if err != nil {
		t.Fatal(err)
	}
	if held.Len() != 60 {
		t.Fatalf("Len() = %d, want 60", held.Len())
	}
	for _, tok := range toks {
		if !held.Contains(tok) {
			t.Errorf("does not contain its own token %q", tok)
		}
	}
	tests := []struct {
		name string
		tok  string
		want bool
	}{
		{"first plain", "plain-00", true},
		{"last plain", "plain-39", true},
		{"plain before all", "plain-", false},
		{"plain between", "plain-05x", false},
		{"plain after all", "plain-40", false},
		{"first entity, its perm", "target-entity:ent-00:perm-00", true},
		{"last entity, its perm", "target-entity:ent-19:perm-19", true},
		{"middle entity, several perms", "target-entity:ent-10:perm-10,perm-17,perm-24", true},
		{"entity lacks perm", "target-entity:ent-00:perm-99", false},
		{"perm of another entity", "target-entity:ent-00:perm-01", false},
		{"unknown entity", "target-entity:ent-20:perm-00", false},
		{"entity between", "target-entity:ent-05x:perm-05", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := held.Contains(tt.tok); got != tt.want {
				t.Errorf("Contains(%q) = %v, want %v", tt.tok, got, tt.want)
			}
			if got := held.Covers(MustParse("plain-03 " + tt.tok)); got != tt.want {
				t.Errorf("Covers(plain-03 %s) = %v, want %v", tt.tok, got, tt.want)
			}
		})
	}
}
