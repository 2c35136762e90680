package scope

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The reference model below decides coverage from first principles, by
// decomposing canonical tokens with strings.Split and enumerating every
// (entity, permission) mpair over the values that occur, so that it shares
// no code with the package's representation.

type mpair struct{ e, p string }

// decompose splits a set's canonical tokens into plain tokens and
// (entity, permission) pairs.
func decompose(s Set) (plain []string, pairs []mpair) {
	for _, tok := range s.Tokens() {
		rest, ok := strings.CutPrefix(tok, "target-entity:")
		if !ok {
			plain = append(plain, tok)
			continue
		}
		f := strings.Split(rest, ":")
		for _, p := range strings.Split(f[1], ",") {
			pairs = append(pairs, mpair{f[0], p})
		}
	}
	return plain, pairs
}

// dominates reports whether a held mpair h covers a requested mpair r.
func dominates(h, r mpair) bool {
	return (h.e == "*" || h.e == r.e) && (h.p == "*" || h.p == r.p)
}

// model is what a set grants over a finite universe of values: its plain
// tokens and every (entity, permission) mpair of the universe it covers.
type model map[string]bool

func denote(s Set, ents, perms []string) model {
	m := model{}
	plain, pairs := decompose(s)
	for _, p := range plain {
		m["plain "+p] = true
	}
	for _, e := range ents {
		for _, p := range perms {
			for _, h := range pairs {
				if dominates(h, mpair{e, p}) {
					m["mpair "+e+" "+p] = true
					break
				}
			}
		}
	}
	return m
}

func (m model) subsetOf(n model) bool {
	for k := range m {
		if !n[k] {
			return false
		}
	}
	return true
}

func (m model) equal(n model) bool { return m.subsetOf(n) && n.subsetOf(m) }

// universe returns every entity and permission value in the sets, plus "*".
func universe(sets ...Set) (ents, perms []string) {
	ents, perms = []string{"*"}, []string{"*"}
	for _, s := range sets {
		_, pairs := decompose(s)
		for _, p := range pairs {
			ents = append(ents, p.e)
			perms = append(perms, p.p)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(ents))), slices.Compact(slices.Sorted(slices.Values(perms)))
}

// checkCanonical checks that s is in canonical form: sorted unique tokens,
// one compound token per entity with sorted unique permissions, and no mpair
// dominated by another.
func checkCanonical(t *testing.T, s Set) {
	t.Helper()
	toks := s.Tokens()
	if !slices.IsSorted(toks) || len(slices.Compact(slices.Clone(toks))) != len(toks) {
		t.Errorf("tokens of %q not sorted and unique", s)
	}
	seen := map[string]bool{}
	for _, tok := range toks {
		rest, ok := strings.CutPrefix(tok, "target-entity:")
		if !ok {
			continue
		}
		f := strings.Split(rest, ":")
		if seen[f[0]] {
			t.Errorf("%q: entity appears in two tokens", s)
		}
		seen[f[0]] = true
		ps := strings.Split(f[1], ",")
		if !slices.IsSorted(ps) || len(slices.Compact(slices.Clone(ps))) != len(ps) {
			t.Errorf("%q: permissions not sorted and unique", s)
		}
	}
	_, pairs := decompose(s)
	for i, a := range pairs {
		for j, b := range pairs {
			if i != j && dominates(a, b) {
				t.Errorf("%q: mpair %v is dominated by %v, not canonical", s, b, a)
			}
		}
	}
}

// checkLaws checks Covers, Contains, Intersect, Union and Equal of h and r
// against the reference model and against each other.
func checkLaws(t *testing.T, h, r Set) {
	t.Helper()
	ents, perms := universe(h, r)
	mh, mr := denote(h, ents, perms), denote(r, ents, perms)
	i, u := h.Intersect(r), h.Union(r)

	covers := mr.subsetOf(mh)
	if got := h.Covers(r); got != covers {
		t.Errorf("%q.Covers(%q) = %v, model says %v", h, r, got, covers)
	}
	contains := true
	for _, tok := range r.Tokens() {
		contains = contains && h.Contains(tok)
	}
	if contains != covers {
		t.Errorf("Contains over tokens of %q in %q = %v, model says %v", r, h, contains, covers)
	}
	if got := i.Equal(r); got != covers {
		t.Errorf("%q.Intersect(%q).Equal(r) = %v, Covers model says %v", h, r, got, covers)
	}
	if got := h.Equal(r); got != mh.equal(mr) {
		t.Errorf("%q.Equal(%q) = %v, model says %v", h, r, got, mh.equal(mr))
	}
	if want := model(intersectModels(mh, mr)); !denote(i, ents, perms).equal(want) {
		t.Errorf("%q ∩ %q = %q, not the model's intersection", h, r, i)
	}
	if want := model(unionModels(mh, mr)); !denote(u, ents, perms).equal(want) {
		t.Errorf("%q ∪ %q = %q, not the model's union", h, r, u)
	}
	if !i.Equal(r.Intersect(h)) || !u.Equal(r.Union(h)) {
		t.Errorf("Intersect or Union of %q and %q not commutative", h, r)
	}
	if !u.Covers(h) || !u.Covers(r) || !h.Covers(i) || !r.Covers(i) {
		t.Errorf("Union/Intersect of %q and %q not bounds", h, r)
	}
	checkCanonical(t, i)
	checkCanonical(t, u)
}

func intersectModels(a, b model) model {
	m := model{}
	for k := range a {
		if b[k] {
			m[k] = true
		}
	}
	return m
}

func unionModels(a, b model) model {
	m := model{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// randomScope writes a scope string from a small alphabet so that values
// collide often: plain tokens, compound tokens with one or more
// permissions, and wildcards in either position.
func randomScope(r *rand.Rand, size int) string {
	plains := []string{"read", "write", "*", "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"}
	ents := []string{"E", "F", "*", "E0", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9"}
	perms := []string{"a", "b", "c", "*", "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"}
	if size < 3 {
		// A small alphabet, so that values collide often.
		plains, ents, perms = plains[:3], ents[:3], perms[:4]
	}
	var toks []string
	for range r.IntN(size) {
		if r.IntN(3) == 0 {
			toks = append(toks, plains[r.IntN(len(plains))])
			continue
		}
		var ps []string
		for range 1 + r.IntN(3*size) {
			ps = append(ps, perms[r.IntN(len(perms))])
		}
		toks = append(toks, "target-entity:"+ents[r.IntN(len(ents))]+":"+strings.Join(ps, ","))
	}
	return strings.Join(toks, " ")
}

// TestLaws checks the set laws on many pseudo-random pairs of scopes drawn
// from a small alphabet (fixed seed, so the test is deterministic).
func TestLaws(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 5000
	if testing.Short() {
		n = 500
	}
	for i := range n {
		// Mostly small scopes over a tiny alphabet; every fourth pair large
		// enough to use the entity index and binary searches.
		size := 2
		if i%4 == 0 {
			size = 20
		}
		hs, rs := randomScope(r, size), randomScope(r, size)
		h, r := MustParse(hs), MustParse(rs)
		checkCanonical(t, h)
		checkLaws(t, h, r)
		if t.Failed() {
			t.Fatalf("first failure with held %q, request %q", hs, rs)
		}
	}
}

// checkRoundTrip checks the properties every successfully parsed set has.
func checkRoundTrip(t *testing.T, s Set) {
	t.Helper()
	str := s.String()
	p, err := Parse(str)
	if err != nil {
		t.Fatalf("Parse(String()) failed: %v", err)
	}
	if !p.Equal(s) || p.String() != str {
		t.Fatalf("String is not a fixed point: %q then %q", str, p.String())
	}
	n, err := New(s.Tokens()...)
	if err != nil {
		t.Fatalf("New(Tokens()...) failed: %v", err)
	}
	if !n.Equal(s) {
		t.Fatalf("New(Tokens()...) = %q, want %q", n, s)
	}
	if len(str) > MaxLength || s.Len() > MaxTokens {
		t.Fatalf("canonical form exceeds the input bounds: %d bytes, %d tokens", len(str), s.Len())
	}
	if !s.Covers(s) || !s.Equal(s) || !s.Intersect(s).Equal(s) || !s.Union(s).Equal(s) {
		t.Fatalf("%q: Covers/Equal/Intersect/Union not reflexive", str)
	}
	if s.IsEmpty() != (s.Len() == 0) || s.IsEmpty() != (str == "") {
		t.Fatalf("%q: IsEmpty, Len and String disagree", str)
	}
	for _, tok := range s.Tokens() {
		if !s.Contains(tok) {
			t.Fatalf("%q does not contain its own token", str)
		}
	}
	checkCanonical(t, s)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "read", "read write", "write read read", " read", "read ", "read  write",
		"read\twrite", `read"`, `a\b`, "read\x01", "lecture écriture",
		"target-entity:" + uuid + ":employees-read,performance-evaluations-read",
		"target-entity:E:b,a target-entity:E:*", "target-entity:*:a target-entity:E:a,b",
		"target-entity:*:*", "target-entity:", "target-entity:E:", "target-entity:E:a,,b",
		"target-entity::a", "target-entity:E:a:b", "target-entity:E,F:a", "target-entity:E*:a",
		"read:api_keys write:api_keys read:users read:participants introspect target-entity:*:*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if msg := err.Error(); len(msg) > 160 || !strings.HasPrefix(msg, "keyturn/scope: ") {
				t.Fatalf("error text %q is not a short keyturn/scope message", msg)
			}
			if !s.IsEmpty() {
				t.Fatal("failed Parse returned a non-empty set")
			}
			return
		}
		checkRoundTrip(t, s)
		// Every token as written is contained in the parsed set.
		if in != "" {
			for _, tok := range strings.Split(in, " ") {
				if !s.Contains(tok) {
					t.Fatalf("%q does not contain input token %q", s, tok)
				}
			}
		}
	})
}

func FuzzCovers(f *testing.F) {
	for _, c := range [][2]string{
		{"read write", "read"},
		{"target-entity:E1:a target-entity:E1:b", "target-entity:E1:a,b"},
		{"target-entity:E:a,b", "target-entity:F:a"},
		{"target-entity:*:a", "target-entity:*:a target-entity:E:a"},
		{"target-entity:E:*", "target-entity:*:a"},
		{"target-entity:*:*", "read target-entity:E:*"},
		{"target-entity:*:a,b", "target-entity:E:* target-entity:F:b,c"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, hs, rs string) {
		h, err1 := Parse(hs)
		r, err2 := Parse(rs)
		if err1 != nil || err2 != nil {
			return
		}
		if ents, perms := universe(h, r); len(ents)*len(perms) > 4096 {
			return // keep the reference model cheap
		}
		checkLaws(t, h, r)
	})
}
