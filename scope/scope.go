// Package scope parses, canonicalises and compares OAuth 2.0 scope strings
// (RFC 6749 §3.3), including the compound scopes that grant permissions on
// one entity, written target-entity:<entity>:<perm>,<perm>.
//
// Start with [Parse], which turns a space-delimited scope string into a
// [Set], and [Set.Covers], which answers whether a held scope covers a
// requested one. [New] builds a Set from individual tokens (as kept in
// storage), and [Set.String] gives the canonical string to echo.
//
// # Syntax
//
// A scope string is one or more scope tokens separated by exactly one space
// (%x20), as in the ABNF of RFC 6749 §3.3. Parsing is strict: a leading or
// trailing space, two spaces in a row, or any other whitespace is refused
// with an error rather than folded, so that what a client sends and what it
// is granted never differ by a normalisation it did not ask for. The empty
// string is the empty scope. Each token is 1*NQCHAR (%x21 / %x23-5B /
// %x5D-7E): printable ASCII except space, '"' and '\'. Tokens are
// case-sensitive. The string is at most [MaxLength] bytes and holds at most
// [MaxTokens] tokens; duplicates are folded.
//
// # Compound scopes
//
// A token that starts with [CompoundPrefix] ("target-entity:", fixed: it is
// the syntax of the API keyturn serves) is a compound scope:
//
//	target-entity:<entity>:<perm>[,<perm>...]
//
// It grants each listed permission on that entity. Entity and permissions
// are non-empty and contain no ',' or ':'; anything else after the prefix
// (an empty entity, an empty permission, a second ':' ...) is a parse error,
// never a plain token. The value [Wildcard] ("*") standing alone in the
// entity or permission position of a held scope covers any value there,
// including a requested "*"; a requested "*" is covered only by a held "*".
// A '*' inside a longer entity or permission ("emp*") is refused, so that no
// one mistakes it for a pattern. Tokens without the prefix are opaque: a
// plain "*" is an ordinary token with no wildcard meaning.
//
// Held compound scopes combine per (entity, permission): target-entity:E:a
// and target-entity:E:b together cover target-entity:E:a,b.
//
// # Canonical form
//
// A [Set] is kept in one canonical form, which [Set.String] and [Set.Tokens]
// return and which [Set.Equal] compares: compound tokens for the same entity
// are merged into one with sorted, unique permissions; the permission "*"
// absorbs the other permissions of its entity (target-entity:E:*,read is
// target-entity:E:*); the entity "*" absorbs what it already grants on other
// entities (target-entity:*:read target-entity:E:read,write is
// target-entity:*:read target-entity:E:write, and target-entity:*:* absorbs
// every other compound token); finally all tokens are sorted bytewise. Two
// sets are therefore Equal exactly when each covers the other, and parsing
// a canonical string yields the same set.
//
// # Security
//
// Parse and New bound their input and never put it in an error: errors wrap
// [ErrMalformed] and carry at most a byte offset and a fixed reason. The
// package is pure: no I/O, no globals that change, no clock.
package scope

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

const (
	// MaxLength is the longest scope string, in bytes, that Parse accepts.
	// New applies the same bound to its tokens joined by single spaces. It
	// leaves room for 50 compound scopes on UUID entities with a few
	// permissions each.
	MaxLength = 8192

	// MaxTokens is the most scope tokens, counted as written (before
	// duplicates are folded), that Parse and New accept.
	MaxTokens = 256

	// CompoundPrefix starts every compound scope token.
	CompoundPrefix = "target-entity:"

	// Wildcard, as a whole entity or permission of a held compound scope,
	// covers any value in that position.
	Wildcard = "*"
)

// ErrMalformed is wrapped by every error Parse and New return.
var ErrMalformed = errors.New("keyturn/scope: malformed scope")

// Set is an immutable, canonical set of scope tokens. The zero value is the
// empty set. Sets are safe for concurrent use. Compare them with
// [Set.Equal], not ==.
type Set struct {
	_ [0]func() // not comparable: == would compare representations
	p *set
}

// set is the shared, never-modified representation behind a non-empty Set.
type set struct {
	str   string         // canonical string
	toks  []string       // canonical tokens, sorted bytewise
	plain []string       // plain tokens, sorted, unique
	ents  []entity       // compound grants, sorted by id, canonical
	index map[string]int // entity id to index in ents; nil for few entities
	wild  int            // index+1 of the entity "*" in ents; 0 if none
}

// entity is the canonical grant on one entity.
type entity struct {
	id    string
	all   bool     // holds the permission "*"; perms is then empty
	perms []string // sorted, unique, never "*"
}

// Parse parses a space-delimited scope string (RFC 6749 §3.3). The empty
// string is the empty set. See the package documentation for the syntax and
// its limits. Every error wraps [ErrMalformed] and names at most a byte
// offset, never the input.
func Parse(s string) (Set, error) {
	if s == "" {
		return Set{}, nil
	}
	if len(s) > MaxLength {
		return Set{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxLength)
	}
	n := strings.Count(s, " ") + 1
	if n > MaxTokens {
		return Set{}, fmt.Errorf("%w: more than %d scope tokens", ErrMalformed, MaxTokens)
	}
	b := builder{plain: make([]string, 0, n)}
	if strings.Contains(s, CompoundPrefix) {
		b.pairs = make([]pair, 0, n+strings.Count(s, ","))
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ' ' {
			continue
		}
		if i == start {
			return Set{}, fmt.Errorf("%w: byte %d: empty scope token (leading, trailing or repeated space)", ErrMalformed, start)
		}
		if off, why := b.add(s[start:i]); why != "" {
			return Set{}, fmt.Errorf("%w: byte %d: %s", ErrMalformed, start+off, why)
		}
		start = i + 1
	}
	return b.build(), nil
}

// MustParse is like [Parse] but panics if s is malformed. The panic value
// is the error, which does not contain s. It is meant for constants and
// tests.
func MustParse(s string) Set {
	set, err := Parse(s)
	if err != nil {
		panic(fmt.Errorf("keyturn/scope: MustParse: %w", err))
	}
	return set
}

// New builds a Set from individual scope tokens, such as the canonical
// tokens kept in a storage record. Each element must be exactly one token
// (no spaces); the same syntax and limits as [Parse] apply, the length
// limit to the tokens joined by single spaces. New() is the empty set.
// Every error wraps [ErrMalformed] and names at most the element index and a
// byte offset, never the input.
func New(tokens ...string) (Set, error) {
	if len(tokens) == 0 {
		return Set{}, nil
	}
	if len(tokens) > MaxTokens {
		return Set{}, fmt.Errorf("%w: more than %d scope tokens", ErrMalformed, MaxTokens)
	}
	total := len(tokens) - 1
	for _, t := range tokens {
		total += len(t)
	}
	if total > MaxLength {
		return Set{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxLength)
	}
	var b builder
	for i, t := range tokens {
		if t == "" {
			return Set{}, fmt.Errorf("%w: token %d: empty scope token", ErrMalformed, i)
		}
		if off, why := b.add(t); why != "" {
			return Set{}, fmt.Errorf("%w: token %d: byte %d: %s", ErrMalformed, i, off, why)
		}
	}
	return b.build(), nil
}

// Reasons for refusing a token. They are constants so that checking a token
// allocates nothing, and they never contain input.
const (
	whyChar         = "character not allowed in a scope token"
	whyNoEntity     = "compound scope has an empty entity"
	whyNoPermSep    = "compound scope has no ':' after its entity"
	whyEntityComma  = "compound scope entity contains ','"
	whyNoPerm       = "compound scope has an empty permission"
	whyPermColon    = "compound scope permission contains ':'"
	whyEmbeddedWild = "'*' must stand alone as an entity or permission"
)

// checkToken reports whether tok is one well-formed scope token (1*NQCHAR,
// and a well-formed compound if it has the prefix). On failure it returns
// the byte offset within tok and a reason. For a compound token it also
// returns the entity and the comma-separated permission list.
func checkToken(tok string) (entity, perms string, compound bool, off int, why string) {
	for i := 0; i < len(tok); i++ {
		if !nqchar(tok[i]) {
			return "", "", false, i, whyChar
		}
	}
	rest, ok := strings.CutPrefix(tok, CompoundPrefix)
	if !ok {
		return "", "", false, 0, ""
	}
	base := len(CompoundPrefix)
	colon := -1
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c == ':' {
			colon = i
			break
		} else if c == ',' {
			return "", "", true, base + i, whyEntityComma
		}
	}
	switch {
	case len(rest) == 0 || colon == 0:
		return "", "", true, base, whyNoEntity
	case colon < 0:
		return "", "", true, len(tok), whyNoPermSep
	}
	entity = rest[:colon]
	if off := embeddedWildcard(entity); off >= 0 {
		return "", "", true, base + off, whyEmbeddedWild
	}
	base += colon + 1
	perms = rest[colon+1:]
	start := 0
	for i := 0; i <= len(perms); i++ {
		if i < len(perms) {
			switch perms[i] {
			case ':':
				return "", "", true, base + i, whyPermColon
			case ',':
			default:
				continue
			}
		}
		if i == start {
			return "", "", true, base + start, whyNoPerm
		}
		if off := embeddedWildcard(perms[start:i]); off >= 0 {
			return "", "", true, base + start + off, whyEmbeddedWild
		}
		start = i + 1
	}
	return entity, perms, true, 0, ""
}

// nqchar reports whether c is an NQCHAR of RFC 6749 Appendix A.
func nqchar(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E)
}

// embeddedWildcard returns the offset of a '*' in v if v is not exactly
// "*", or -1.
func embeddedWildcard(v string) int {
	if v == Wildcard {
		return -1
	}
	return strings.IndexByte(v, '*')
}

// nextPerm splits the first permission off a checked permission list.
func nextPerm(perms string) (perm, rest string) {
	if i := strings.IndexByte(perms, ','); i >= 0 {
		return perms[:i], perms[i+1:]
	}
	return perms, ""
}

// builder collects tokens and (entity, permission) grants and turns them
// into a canonical set.
type builder struct {
	plain []string
	pairs []pair
}

// pair is one permission (possibly "*") on one entity (possibly "*").
type pair struct{ e, p string }

// add checks tok and records it. It returns a reason if tok is malformed.
func (b *builder) add(tok string) (off int, why string) {
	ent, perms, compound, off, why := checkToken(tok)
	if why != "" {
		return off, why
	}
	if !compound {
		b.plain = append(b.plain, tok)
		return 0, ""
	}
	for perms != "" {
		var p string
		p, perms = nextPerm(perms)
		b.pairs = append(b.pairs, pair{ent, p})
	}
	return 0, ""
}

// grantEntity records everything e grants, on the entity id.
func (b *builder) grantEntity(id string, e *entity) {
	if e.all {
		b.pairs = append(b.pairs, pair{id, Wildcard})
		return
	}
	for _, p := range e.perms {
		b.pairs = append(b.pairs, pair{id, p})
	}
}

// indexThreshold is the number of entities from which a set keeps a map
// from entity id to grant; below it a linear scan is faster.
const indexThreshold = 8

// build returns the canonical set of what was added.
func (b *builder) build() Set {
	slices.Sort(b.plain)
	plain := slices.Compact(b.plain)
	slices.SortFunc(b.pairs, func(x, y pair) int {
		if c := strings.Compare(x.e, y.e); c != 0 {
			return c
		}
		return strings.Compare(x.p, y.p)
	})
	pairs := slices.Compact(b.pairs)

	// The grant on "*" covers what it grants on every other entity, so
	// find it first.
	var wild entity
	hasWild := false
	for i := 0; i < len(pairs); {
		j := i + 1
		for j < len(pairs) && pairs[j].e == pairs[i].e {
			j++
		}
		if pairs[i].e == Wildcard {
			wild, hasWild = group(pairs[i:j]), true
			break
		}
		i = j
	}

	var ents []entity
	backing := make([]string, 0, len(pairs)) // holds every entity's perms
	for i := 0; i < len(pairs); {
		j := i + 1
		for j < len(pairs) && pairs[j].e == pairs[i].e {
			j++
		}
		g := pairs[i:j]
		i = j
		if g[0].e == Wildcard {
			ents = append(ents, wild)
			continue
		}
		if hasWild && wild.all {
			continue
		}
		if hasPerm(g, Wildcard) {
			ents = append(ents, entity{id: g[0].e, all: true})
			continue
		}
		start := len(backing)
		for _, x := range g {
			if !hasWild || !search(wild.perms, x.p) {
				backing = append(backing, x.p)
			}
		}
		if len(backing) == start {
			continue // everything it granted is granted on "*"
		}
		e := entity{id: g[0].e, perms: backing[start:len(backing):len(backing)]}
		ents = append(ents, e)
	}
	if len(plain) == 0 && len(ents) == 0 {
		return Set{}
	}

	p := &set{plain: plain, ents: ents}
	if len(ents) >= indexThreshold {
		p.index = make(map[string]int, len(ents))
	}
	p.toks = make([]string, 0, len(plain)+len(ents))
	p.toks = append(p.toks, plain...)
	for i := range ents {
		e := &ents[i]
		if e.id == Wildcard {
			p.wild = i + 1
		}
		if p.index != nil {
			p.index[e.id] = i
		}
		p.toks = append(p.toks, e.token())
	}
	slices.Sort(p.toks)
	p.str = strings.Join(p.toks, " ")
	return Set{p: p}
}

// group turns the sorted, unique pairs of one entity into its grant. A "*"
// permission absorbs the others.
func group(g []pair) entity {
	if hasPerm(g, Wildcard) {
		return entity{id: g[0].e, all: true}
	}
	e := entity{id: g[0].e, perms: make([]string, len(g))}
	for i, x := range g {
		e.perms[i] = x.p
	}
	return e
}

// hasPerm reports whether one of the pairs grants p.
func hasPerm(g []pair, p string) bool {
	for _, x := range g {
		if x.p == p {
			return true
		}
	}
	return false
}

// token returns e as one canonical compound token.
func (e *entity) token() string {
	if e.all {
		return CompoundPrefix + e.id + ":" + Wildcard
	}
	return CompoundPrefix + e.id + ":" + strings.Join(e.perms, ",")
}

// has reports whether e grants the requested permission p (which may be
// "*", granted only by "*"). A nil e grants nothing.
func (e *entity) has(p string) bool {
	if e == nil {
		return false
	}
	if e.all {
		return true
	}
	return p != Wildcard && search(e.perms, p)
}

// search reports whether x is in the sorted slice a. Short slices are
// scanned; longer ones binary-searched.
func search(a []string, x string) bool {
	if len(a) <= 8 {
		for _, y := range a {
			if y == x {
				return true
			}
		}
		return false
	}
	i := lowerBound(a, x)
	return i < len(a) && a[i] == x
}

// lowerBound returns the index of the first element of the sorted slice a
// that is not less than x. It is slices.BinarySearch without the generic
// comparison, which costs a call per step.
func lowerBound(a []string, x string) int {
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find returns the grant on exactly the entity id, or nil.
func (s *set) find(id string) *entity {
	if s.index != nil {
		if i, ok := s.index[id]; ok {
			return &s.ents[i]
		}
		return nil
	}
	for i := range s.ents {
		if s.ents[i].id == id {
			return &s.ents[i]
		}
	}
	return nil
}

// wildcard returns the grant on the entity "*", or nil.
func (s *set) wildcard() *entity {
	if s.wild == 0 {
		return nil
	}
	return &s.ents[s.wild-1]
}

// holders returns the grants that can cover a request on entity id: the
// grant on exactly id and the grant on "*" (either may be nil). A request
// on "*" is covered only by the grant on "*".
func (s *set) holders(id string) (exact, wild *entity) {
	wild = s.wildcard()
	if id == Wildcard {
		return nil, wild
	}
	return s.find(id), wild
}

// String returns the canonical scope string: tokens sorted bytewise,
// compound permissions merged per entity and sorted. It is "" for the empty
// set, and Parse(s.String()) is equal to s whenever the string is within
// [MaxLength] (always, for a set from Parse or New).
func (s Set) String() string {
	if s.p == nil {
		return ""
	}
	return s.p.str
}

// GoString returns a Go expression for s, so that %#v prints something
// readable in test failures.
func (s Set) GoString() string {
	return fmt.Sprintf("scope.MustParse(%q)", s.String())
}

// Tokens returns the canonical tokens of s in order, in a new slice the
// caller may modify. It is empty (not nil) for the empty set.
func (s Set) Tokens() []string {
	if s.p == nil {
		return []string{}
	}
	return slices.Clone(s.p.toks)
}

// Len returns the number of canonical tokens in s.
func (s Set) Len() int {
	if s.p == nil {
		return 0
	}
	return len(s.p.toks)
}

// IsEmpty reports whether s holds no scope at all.
func (s Set) IsEmpty() bool { return s.p == nil }

// Equal reports whether s and t are the same set. Because sets are
// canonical, this holds exactly when each covers the other.
func (s Set) Equal(t Set) bool { return s.String() == t.String() }

// Contains reports whether s covers the single requested scope token tok.
// For a compound token every listed permission must be covered, by held
// grants on the same entity or on "*", possibly several of them together. A
// malformed token, or a string holding more than one token, is contained in
// no set. Contains does not allocate.
func (s Set) Contains(tok string) bool {
	if s.p == nil || tok == "" || len(tok) > MaxLength {
		return false
	}
	ent, perms, compound, _, why := checkToken(tok)
	if why != "" {
		return false
	}
	if !compound {
		return search(s.p.plain, tok)
	}
	exact, wild := s.p.holders(ent)
	for perms != "" {
		var p string
		p, perms = nextPerm(perms)
		if !exact.has(p) && !wild.has(p) {
			return false
		}
	}
	return true
}

// Covers reports whether the held scope s covers every permission in the
// requested scope req: every plain token of req is in s, and every
// (entity, permission) of req is granted by s on that entity or on "*". The
// empty request is covered by every set. Covers does not allocate.
func (s Set) Covers(req Set) bool {
	if req.p == nil {
		return true
	}
	if s.p == nil {
		return false
	}
	if !subset(s.p.plain, req.p.plain) {
		return false
	}
	for i := range req.p.ents {
		r := &req.p.ents[i]
		exact, wild := s.p.holders(r.id)
		if r.all {
			if !exact.has(Wildcard) && !wild.has(Wildcard) {
				return false
			}
			continue
		}
		if exact == nil && wild == nil {
			return false
		}
		for _, p := range r.perms {
			if !exact.has(p) && !wild.has(p) {
				return false
			}
		}
	}
	return true
}

// subset reports whether every element of the sorted, unique slice sub is
// in the sorted, unique slice super.
func subset(super, sub []string) bool {
	if len(sub) > len(super) {
		return false
	}
	for _, x := range sub {
		// Both are sorted: search only past the previous match.
		i := lowerBound(super, x)
		if i == len(super) || super[i] != x {
			return false
		}
		super = super[i+1:]
	}
	return true
}

// Intersect returns the scope that both s and t cover: the plain tokens in
// both, and for compound scopes each (entity, permission) granted by both,
// where a "*" on one side narrows to the other side's value. For every
// held h and request r, h.Covers(r) holds exactly when
// h.Intersect(r).Equal(r).
//
// The result is not bounded by [MaxLength] and [MaxTokens]: a wildcard
// entity meeting many entities can grant each of them several permissions,
// so its size is bounded only by the product of the operands' sizes. Check
// untrusted requests with [Set.Covers] rather than granting an
// intersection.
func (s Set) Intersect(t Set) Set {
	if s.p == nil || t.p == nil {
		return Set{}
	}
	var b builder
	for _, x := range s.p.plain {
		if search(t.p.plain, x) {
			b.plain = append(b.plain, x)
		}
	}
	for i := range s.p.ents {
		a := &s.p.ents[i]
		if a.id == Wildcard {
			for j := range t.p.ents {
				meet(&b, a, &t.p.ents[j])
			}
			continue
		}
		exact, wild := t.p.holders(a.id)
		if exact != nil {
			meet(&b, a, exact)
		}
		if wild != nil {
			meet(&b, a, wild)
		}
	}
	return b.build()
}

// meet records in b the grants common to a and c, whose entities are equal
// or of which one is "*".
func meet(b *builder, a, c *entity) {
	id := a.id
	if id == Wildcard {
		id = c.id
	}
	switch {
	case a.all:
		b.grantEntity(id, c)
	case c.all:
		b.grantEntity(id, a)
	default:
		for _, p := range a.perms {
			if search(c.perms, p) {
				b.pairs = append(b.pairs, pair{id, p})
			}
		}
	}
}

// Union returns the scope covered by s or t (or both).
//
// The result is not bounded by [MaxLength] and [MaxTokens]: its String may
// be longer than Parse accepts.
func (s Set) Union(t Set) Set {
	switch {
	case s.p == nil:
		return t
	case t.p == nil:
		return s
	}
	var b builder
	for _, x := range []*set{s.p, t.p} {
		b.plain = append(b.plain, x.plain...)
		for i := range x.ents {
			b.grantEntity(x.ents[i].id, &x.ents[i])
		}
	}
	return b.build()
}

// MarshalText returns the canonical scope string, so that a Set encodes as
// a JSON string such as the scope claim of RFC 9068.
func (s Set) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// UnmarshalText parses text with [Parse] and replaces *s with the result.
func (s *Set) UnmarshalText(text []byte) error {
	set, err := Parse(string(text))
	if err != nil {
		return err
	}
	*s = set
	return nil
}
