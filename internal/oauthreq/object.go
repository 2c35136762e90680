package oauthreq

// ReadJSONObject reads s, a JSON body other than an OAuth request's (the
// key admin API's, say), as strictly as [Parse] reads JSON bodies: one
// object, strict RFC 8259 with no byte-order mark, UTF-8 without lone
// surrogate escapes, no member name twice (compared after unescaping), at
// most MaxParams members, nesting at most 32 levels, nothing after the
// object. It calls member for each member in order with the unescaped name
// and the value's JSON text as sent, already validated; [UnquoteJSON]
// reads a string value. It returns member's first error as is; every other
// refusal is an [*Error] with Code InvalidRequest and a fixed description.
func ReadJSONObject(s string, member func(name, value string) error) error {
	var names [MaxParams]string
	n := 0
	return walkObject(s, func(p *jsonReader, name string) error {
		if n == len(names) {
			return badRequest("the JSON body has too many members")
		}
		for _, seen := range names[:n] {
			if seen == name {
				return badRequest("a JSON member is repeated")
			}
		}
		names[n] = name
		n++
		start := p.i
		if !p.skip(2) {
			return p.fail()
		}
		return member(name, p.s[start:p.i])
	})
}

// UnquoteJSON returns the string that the JSON string text v (a value as
// [ReadJSONObject] passes it) stands for, and whether v is exactly one
// string; if not, it returns "" and false.
func UnquoteJSON(v string) (string, bool) {
	p := jsonReader{s: v}
	s, ok := p.str()
	if !ok || p.i != len(v) {
		return "", false
	}
	return s, true
}
