package oauthreq

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/costtest"
)

// parseCost bounds what one Parse may allocate. Reading the body costs
// about twice its size (the read buffer and the string made of it), and
// up to about six times when its length is not declared (the buffer
// grows by append); decoded names and values add at most the body's size
// again. 8 bytes per input byte covers all of it; the fixed part covers
// the Request, the pooled buffer and the error of a small request, which
// measure under 1 KiB (BenchmarkParse).
var parseCost = costtest.Bound{PerByte: 8, Fixed: 8 << 10}

// hostileSize is the size of the hostile bodies, the size of the body of
// the finding.
const hostileSize = 100 << 10

// hostileOptions accept a body of hostileSize.
var hostileOptions = func() Options { o := allOn; o.MaxBody = 2 * hostileSize; return o }()

// repeatTo returns prefix, then unit repeated (separated by sep) until
// the whole would reach about size bytes, then suffix.
func repeatTo(size int, prefix, unit, sep, suffix string) string {
	n := max(1, (size-len(prefix)-len(suffix))/(len(unit)+len(sep)))
	return prefix + strings.Repeat(unit+sep, n-1) + unit + suffix
}

// nest returns unit inside depth arrays.
func nest(depth int, unit string) string {
	return strings.Repeat("[", depth) + unit + strings.Repeat("]", depth)
}

// numbered returns prefix, then unit with %d replaced by 0, 1, 2...
// (separated by sep) until the whole would reach about size bytes, then
// suffix.
func numbered(size int, prefix, unit, sep, suffix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; b.Len() < size-len(suffix)-len(unit)-8; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(strings.ReplaceAll(unit, "%d", strconv.Itoa(i)))
	}
	b.WriteString(suffix)
	return b.String()
}

// hostileBody is a body shaped to cost the parser the most per byte.
// Parse accepts it if accepted is set, which shows that the reader went
// through all of it rather than stopping at a limit.
type hostileBody struct {
	name, ct, body string
	accepted       bool
}

// hostileBodies are bodies shaped to cost the parser the most per byte:
// many escaped strings (each once cost an allocation the size of the rest
// of the body), escapes in names, deep nesting, long numbers and many
// tiny values or members. Every one is about size bytes.
func hostileBodies(size int) []hostileBody {
	// Inside {"x":[...]}, at depth 3: the string at the heart of these
	// arrays and objects is at the limit.
	deep := nest(maxDepth-3, `"\n"`)
	deepObjects := strings.Repeat(`{"\n":`, maxDepth-3) + `"\n"` + strings.Repeat("}", maxDepth-3)
	// Few enough of these that their values fit within maxValues.
	deepLong := nest(maxDepth-3, `"`+strings.Repeat(`\n`, size/64)+`"`)
	// Long enough that the strings of a body fit within maxValues.
	longEscaped := `"` + strings.Repeat(`\n`, size/maxValues) + `"`
	return []hostileBody{
		// The body of the finding, and its variations.
		{"escaped strings in an unknown array", jsonCT, repeatTo(size, `{"x":[`, `"\n"`, ",", `]}`), false},
		{"escaped strings in an unknown object", jsonCT, repeatTo(size, `{"x":{`, `"\n":"\n"`, ",", `}}`), false},
		{"escaped names in unknown objects", jsonCT, repeatTo(size, `{"x":[`, `{"\n":0}`, ",", `]}`), false},
		{"surrogate pairs in an unknown array", jsonCT, repeatTo(size, `{"x":[`, `"\ud83d\ude00"`, ",", `]}`), false},
		{"escaped strings after many members", jsonCT, numbered(size, `{`, `"\n%d":["\n","\n","\n","\n","\n","\n","\n","\n"]`, ",", `}`), false},
		{"escaped strings then an error", jsonCT, repeatTo(size, `{"x":[`, `"\n"`, ",", `,]}`), false},
		// Within the value limit, so that all of the body is read.
		{"long escaped strings in an unknown array", jsonCT, repeatTo(size, `{"x":[`, longEscaped, ",", `]}`), true},
		{"long escaped strings in unknown objects", jsonCT, repeatTo(size, `{"x":[`, `{`+longEscaped+`:0}`, ",", `]}`), true},
		{"long escaped unknown names", jsonCT, numbered(size, `{`, `"%d`+strings.Repeat(`\t`, size/(2*MaxParams)-8)+`":0`, ",", `}`), true},
		{"long escaped unknown string", jsonCT, repeatTo(size, `{"x":"`, `\n`, "", `"}`), true},
		{"long escaped known string", jsonCT, repeatTo(size, `{"grant_type":"client_credentials","scope":"`, `\u00e9\n`, "", `"}`), true},
		{"long known string with one escape", jsonCT, repeatTo(size, `{"scope":"\n`, `a`, "", `"}`), true},
		{"escaped resource elements", jsonCT, repeatTo(size, `{"resource":[`, `"\/"`, ",", `]}`), false},
		{"long escaped resource elements", jsonCT, numbered(size, `{"resource":[`, `"%d`+strings.Repeat(`\/`, size/(2*(MaxParams-1)))+`"`, ",", `]}`), true},
		// Nesting.
		{"deep nesting", jsonCT, repeatTo(size, `{"x":[`, deep, ",", `]}`), false},
		{"deep nesting within the value limit", jsonCT, repeatTo(size, `{"x":[`, deepLong, ",", `]}`), true},
		{"deep objects", jsonCT, repeatTo(size, `{"x":[`, deepObjects, ",", `]}`), false},
		{"unterminated deep nesting", jsonCT, repeatTo(size, `{"x":`, `[`, "", ``), false},
		// Numbers and literals.
		{"long number", jsonCT, repeatTo(size, `{"x":-1`, `1`, "", `.5e+7}`), false},
		{"long numbers in an array", jsonCT, repeatTo(size, `{"x":[`, "-123456789.0123456789e-123456789", ",", `]}`), false},
		{"many literals", jsonCT, repeatTo(size, `{"x":[`, "true,false,null", ",", `]}`), false},
		// Members.
		{"many tiny members", jsonCT, numbered(size, `{`, `"%d":0`, ",", `}`), false},
		{"many tiny escaped members", jsonCT, numbered(size, `{`, `"\n%d":0`, ",", `}`), false},
		{"many tiny members in an unknown object", jsonCT, numbered(size, `{"x":{`, `"%d":0`, ",", `}}`), false},
		// Forms, for comparison.
		{"form escapes", formCT, repeatTo(size, "grant_type=client_credentials&scope=", "%0A", "", ""), true},
		{"many form parameters", formCT, numbered(size, "", "%0A%d=%0A", "&", ""), false},
	}
}

// hostileRequest builds a POST of body as Parse sees it from a server:
// with its length declared, or chunked (length -1).
func hostileRequest(ct, body string, chunked bool) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Authorization", basic(cbID, cbSecret))
	if chunked {
		r.ContentLength = -1
	}
	return r
}

// TestFinding1_QuadraticJSONAllocation: a strict JSON reader allocated the
// length of the rest of the body for every string with an escape, so a
// 100 KiB body of {"x":["\n","\n",...]} cost some 460 MB. What Parse
// allocates must be linear in the body, and how many allocations it makes
// must not grow with it.
func TestFinding1_QuadraticJSONAllocation(t *testing.T) {
	for _, c := range hostileBodies(hostileSize) {
		for _, chunked := range []bool{false, true} {
			name := c.name
			if chunked {
				name += " chunked"
			}
			t.Run(name, func(t *testing.T) {
				var err error
				got := costtest.Allocated(3, func() func() {
					r := hostileRequest(c.ct, c.body, chunked)
					return func() { _, err = Parse(nil, r, hostileOptions) }
				})
				if err != nil {
					checkError(t, asError(t, err))
				}
				if accepted := err == nil; accepted != c.accepted {
					t.Errorf("accepted = %v (%v), want %v", accepted, err, c.accepted)
				}
				t.Logf("%d-byte body: %s (%.2f B per byte)", len(c.body), got, float64(got.Bytes)/float64(len(c.body)))
				if want := parseCost.Bytes(len(c.body)); got.Bytes > want {
					t.Errorf("Parse of a %d-byte body allocated %d bytes (%.0f per byte), want at most %d",
						len(c.body), got.Bytes, float64(got.Bytes)/float64(len(c.body)), want)
				}
				if got.Allocs > maxParseAllocs {
					t.Errorf("Parse of a %d-byte body made %d allocations, want at most %d", len(c.body), got.Allocs, maxParseAllocs)
				}
			})
		}
	}
}

// maxParseAllocs caps the allocations of one Parse of a hostile body: one
// per decoded name or value, of which there are at most MaxParams names
// and as many values, plus a few for the body, the Request and the
// resource slice.
const maxParseAllocs = 2*MaxParams + 32

func asError(t *testing.T, err error) *Error {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T is not an *Error", err)
	}
	return e
}

// A finding of the ten-minute fuzzing run: a Content-Type of 3.6 KB of
// invalid UTF-8 made Parse allocate 38 KB (mime.ParseMediaType copies it,
// each invalid byte growing to three), over the bound of 8 B per input byte.
// Content-Type is now bounded (MaxContentType) before it is parsed.
func TestFuzzFinding_LongContentTypeCost(t *testing.T) {
	for _, ct := range []string{
		"0" + strings.Repeat("\xbc", 3642),
		formType + "; x=" + strings.Repeat("a", 8000),
		strings.Repeat("application/json", 500),
	} {
		var err error
		cost := costtest.Allocated(3, func() func() {
			r := fuzzRequest([]byte("0\xbc"), ct, "", "")
			return func() { _, err = Parse(nil, r, Options{AllowJSON: true, AllowBasic: true, AllowPost: true}) }
		})
		if want := parseCost.Bytes(len(ct)); cost.Bytes > want {
			t.Errorf("Content-Type of %d bytes: Parse allocated %s, want at most %d B", len(ct), cost, want)
		}
		if e := asError(t, err); e.Status != 400 || e.Code != InvalidRequest {
			t.Errorf("Content-Type of %d bytes: %d %s, want 400 invalid_request", len(ct), e.Status, e.Code)
		}
	}
}
