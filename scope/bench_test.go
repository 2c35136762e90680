package scope

import (
	"fmt"
	"strings"
	"testing"
)

// typical is a scope string as a key from the example server would carry:
// the admin scopes plus two seed-003 compound scopes.
const typical = "read:api_keys write:api_keys read:users read:participants introspect " +
	"target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:employees-read,performance-evaluations-read " +
	"target-entity:0b7c1d52-3f0e-4d7b-9a51-6c0f3e2d1a99:employees-read"

func BenchmarkParse(b *testing.B) {
	b.SetBytes(int64(len(typical)))
	for b.Loop() {
		if _, err := Parse(typical); err != nil {
			b.Fatal(err)
		}
	}
}

// plainSets returns a held set of 50 plain tokens and a request for 10 of
// them, spread over the held set.
func plainSets() (held, req Set) {
	var h, r []string
	for i := range 50 {
		tok := fmt.Sprintf("scope-%02d:read", i)
		h = append(h, tok)
		if i%5 == 2 {
			r = append(r, tok)
		}
	}
	return MustParse(strings.Join(h, " ")), MustParse(strings.Join(r, " "))
}

// compoundSets returns a held set of 50 compound tokens (UUID entities, two
// permissions each) and a request for one permission on 10 of them.
func compoundSets() (held, req Set) {
	var h, r []string
	for i := range 50 {
		ent := fmt.Sprintf("%08x-9eca-4383-a9e1-54f82c362b6d", i*0x01010101)
		h = append(h, "target-entity:"+ent+":employees-read,performance-evaluations-read")
		if i%5 == 2 {
			r = append(r, "target-entity:"+ent+":performance-evaluations-read")
		}
	}
	return MustParse(strings.Join(h, " ")), MustParse(strings.Join(r, " "))
}

func BenchmarkCovers(b *testing.B) {
	plainHeld, plainReq := plainSets()
	compHeld, compReq := compoundSets()
	wildHeld := MustParse("target-entity:*:employees-read,performance-evaluations-read")
	for _, bc := range []struct {
		name      string
		held, req Set
	}{
		{"plain-10-in-50", plainHeld, plainReq},
		{"compound-10-in-50", compHeld, compReq},
		{"compound-10-in-wildcard", wildHeld, compReq},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.held.Len() < 1 || bc.req.Len() != 10 || !bc.held.Covers(bc.req) {
				b.Fatalf("bad fixture: held %d tokens, request %d tokens", bc.held.Len(), bc.req.Len())
			}
			for b.Loop() {
				if !bc.held.Covers(bc.req) {
					b.Fatal("not covered")
				}
			}
		})
	}
}

func BenchmarkContains(b *testing.B) {
	plainHeld, _ := plainSets()
	compHeld, _ := compoundSets()
	for _, bc := range []struct {
		name string
		held Set
		tok  string
	}{
		{"plain-in-50", plainHeld, "scope-37:read"},
		{"compound-in-50", compHeld, "target-entity:25252525-9eca-4383-a9e1-54f82c362b6d:employees-read,performance-evaluations-read"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if !bc.held.Contains(bc.tok) {
				b.Fatal("bad fixture: token not contained")
			}
			for b.Loop() {
				if !bc.held.Contains(bc.tok) {
					b.Fatal("not contained")
				}
			}
		})
	}
}

func BenchmarkIntersect(b *testing.B) {
	held, req := compoundSets()
	for b.Loop() {
		held.Intersect(req)
	}
}
