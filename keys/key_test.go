package keys_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/keys"
)

const testPrefix = "ds_live"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// streamReader is a deterministic, endless byte stream: SHA-256 in counter
// mode over a seed. Tests use it as the randomness source.
type streamReader struct {
	seed string
	ctr  uint64
	buf  []byte
}

func newStream(seed string) *streamReader { return &streamReader{seed: seed} }

func (r *streamReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			r.ctr++
			sum := sha256.Sum256(append([]byte(r.seed), c[:]...))
			r.buf = sum[:]
		}
		m := copy(p[n:], r.buf)
		r.buf = r.buf[m:]
		n += m
	}
	return n, nil
}

func mustGenerate(t testing.TB, prefix, seed string) keys.Key {
	t.Helper()
	k, err := keys.Generate(prefix, newStream(seed))
	if err != nil {
		t.Fatalf("Generate(%q): %v", prefix, err)
	}
	return k
}

func TestGenerateShape(t *testing.T) {
	for _, prefix := range []string{"ds_live", "k", "a_b_c", "x9", strings.Repeat("p", keys.MaxPrefixLen)} {
		t.Run(prefix, func(t *testing.T) {
			k := mustGenerate(t, prefix, "shape "+prefix)
			s := k.String()
			rest, ok := strings.CutPrefix(s, prefix+"_")
			if !ok {
				t.Fatalf("String() does not start with %q", prefix+"_")
			}
			id, secret, ok := strings.Cut(rest, "_")
			if !ok || strings.Contains(secret, "_") {
				t.Fatalf("want exactly one '_' after the prefix, got %d", strings.Count(rest, "_"))
			}
			if id != k.ID() || secret != k.ClientSecret() || k.Prefix() != prefix {
				t.Errorf("String() parts disagree with ID/ClientSecret/Prefix")
			}
			if len(id) != keys.IDLen || len(secret) != keys.SecretLen {
				t.Errorf("len(id), len(secret) = %d, %d; want %d, %d", len(id), len(secret), keys.IDLen, keys.SecretLen)
			}
			for _, part := range []string{id, secret} {
				if strings.Trim(part, base62) != "" {
					t.Errorf("part has characters outside [0-9A-Za-z]")
				}
			}
		})
	}
}

// TestGenerateEntropy checks the documented strength from the lengths and
// the alphabet: at least 256 bits in the secret body, at least 80 in the id.
func TestGenerateEntropy(t *testing.T) {
	const bitsPerChar = 5.954196310386876 // log2(62)
	if got := float64(keys.SecretLen-6) * bitsPerChar; got < 256 {
		t.Errorf("secret body carries %.2f bits, want >= 256", got)
	}
	if got := float64(keys.IDLen) * bitsPerChar; got < 80 {
		t.Errorf("id carries %.2f bits, want >= 80", got)
	}
}

func TestGenerateDeterministicAndDistinct(t *testing.T) {
	a1 := mustGenerate(t, testPrefix, "a")
	a2 := mustGenerate(t, testPrefix, "a")
	b := mustGenerate(t, testPrefix, "b")
	if a1.String() != a2.String() {
		t.Error("same reader stream gave different keys")
	}
	if a1.ID() == b.ID() || a1.ClientSecret() == b.ClientSecret() {
		t.Error("different reader streams gave the same id or secret")
	}
	// Two keys from crypto/rand differ.
	r1, err1 := keys.Generate(testPrefix, nil)
	r2, err2 := keys.Generate(testPrefix, nil)
	if err1 != nil || err2 != nil {
		t.Fatalf("Generate(nil reader): %v, %v", err1, err2)
	}
	if r1.ID() == r2.ID() || r1.ClientSecret() == r2.ClientSecret() {
		t.Error("crypto/rand gave the same key twice")
	}
}

// TestGenerateRejectionSampling checks that bytes >= 248 are skipped (so
// b%62 is uniform) and the rest map to alphabet[b%62].
func TestGenerateRejectionSampling(t *testing.T) {
	stream := make([]byte, 0, 256)
	for b := 248; b < 256; b++ {
		stream = append(stream, byte(b)) // all dropped
	}
	for i := 0; len(stream) < 256; i++ {
		stream = append(stream, byte(i%248))
	}
	k, err := keys.Generate(testPrefix, bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for i := range keys.IDLen {
		want += string(base62[i%62])
	}
	if k.ID() != want {
		t.Errorf("ID() = %q, want %q", k.ID(), want)
	}
}

func TestGenerateReaderError(t *testing.T) {
	errBroken := errors.New("broken reader")
	for _, tc := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"empty", bytes.NewReader(nil), io.EOF},
		{"short", bytes.NewReader(make([]byte, 10)), io.ErrUnexpectedEOF},
		{"failing", failingReader{errBroken}, errBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := keys.Generate(testPrefix, tc.r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if k.String() != "" {
				t.Error("a failed Generate returned a key")
			}
		})
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestPrefixValidation(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"ds_live", true},
		{"a", true},
		{"sk2", true},
		{"a_b_c_d", true},
		{strings.Repeat("a", keys.MaxPrefixLen), true},
		{"", false},
		{strings.Repeat("a", keys.MaxPrefixLen+1), false},
		{"DS_LIVE", false},
		{"ds-live", false},
		{"ds live", false},
		{"ds.live", false},
		{"_ds", false},
		{"ds_", false},
		{"9ds", false},
		{"dś", false},
		{"ds%live", false},
	} {
		t.Run(fmt.Sprintf("%q", tc.prefix), func(t *testing.T) {
			k, gerr := keys.Generate(tc.prefix, newStream("p"))
			_, perr := keys.Parse(tc.prefix, "anything")
			_, ferr := keys.FromPair(tc.prefix, "id", "secret")
			if tc.ok {
				if gerr != nil {
					t.Fatalf("Generate: %v", gerr)
				}
				if _, err := keys.Parse(tc.prefix, k.String()); err != nil {
					t.Fatalf("Parse of generated key: %v", err)
				}
				return
			}
			for name, err := range map[string]error{"Generate": gerr, "Parse": perr, "FromPair": ferr} {
				if !errors.Is(err, keys.ErrInvalidPrefix) {
					t.Errorf("%s: err = %v, want ErrInvalidPrefix", name, err)
				}
			}
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, prefix := range []string{"ds_live", "k", "a_b_c_d", strings.Repeat("z", keys.MaxPrefixLen)} {
		for i := range 20 {
			k := mustGenerate(t, prefix, fmt.Sprint("round trip ", i))
			s := k.String()
			p, err := keys.Parse(prefix, s)
			if err != nil {
				t.Fatalf("Parse(%s key %d): %v", prefix, i, err)
			}
			if p != k || p.String() != s {
				t.Fatalf("Parse(String()) != key (%s key %d)", prefix, i)
			}
			f, err := keys.FromPair(prefix, k.ID(), k.ClientSecret())
			if err != nil {
				t.Fatalf("FromPair: %v", err)
			}
			if f != k {
				t.Fatalf("FromPair(ID, ClientSecret) != key")
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	k := mustGenerate(t, testPrefix, "rejects")
	s := k.String()
	id, secret := k.ID(), k.ClientSecret()
	other := mustGenerate(t, testPrefix, "other")
	onOtherPrefix := mustGenerate(t, "ds_test", "rejects")

	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"empty", "", keys.ErrMalformed},
		{"prefix only", testPrefix + "_", keys.ErrMalformed},
		{"truncated by one", s[:len(s)-1], keys.ErrMalformed},
		{"extended by one", s + "0", keys.ErrMalformed},
		{"very long", strings.Repeat(s, 1000), keys.ErrMalformed},
		{"other prefix", onOtherPrefix.String(), keys.ErrMalformed},
		{"other prefix, same length", "ds_tes1" + s[len(testPrefix):], keys.ErrMalformed},
		{"missing prefix separator", testPrefix + "X" + s[len(testPrefix)+1:], keys.ErrMalformed},
		{"separator moved", testPrefix + "_" + id[:15] + "_" + id[15:] + secret, keys.ErrMalformed},
		{"dash in secret", s[:len(s)-10] + "-" + s[len(s)-9:], keys.ErrMalformed},
		{"underscore in id", s[:len(testPrefix)+3] + "_" + s[len(testPrefix)+4:], keys.ErrMalformed},
		{"percent", s[:len(s)-1] + "%", keys.ErrMalformed},
		{"space", " " + s[1:], keys.ErrMalformed},
		{"non-ASCII", s[:len(s)-2] + "é", keys.ErrMalformed},
		{"NUL", s[:len(s)-1] + "\x00", keys.ErrMalformed},
		{"prefix upper case", "DS_LIVE" + s[len(testPrefix):], keys.ErrMalformed},
		{"id from another key", testPrefix + "_" + other.ID() + "_" + secret, keys.ErrChecksum},
		{"secret from another key", testPrefix + "_" + id + "_" + other.ClientSecret(), keys.ErrChecksum},
		{"checksum from another key", s[:len(s)-6] + other.ClientSecret()[keys.SecretLen-6:], keys.ErrChecksum},
		{"checksum zeroed", s[:len(s)-6] + "000000", keys.ErrChecksum},
		{"checksum over 2^32", s[:len(s)-6] + "zzzzzz", keys.ErrChecksum},
		{"made up", testPrefix + "_" + strings.Repeat("A", keys.IDLen) + "_" + strings.Repeat("b", keys.SecretLen), keys.ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.Parse(testPrefix, tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != (keys.Key{}) {
				t.Error("a failed Parse returned a non-zero Key")
			}
			if !strings.HasPrefix(err.Error(), "keyturn/keys: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestFromPairRejects(t *testing.T) {
	k := mustGenerate(t, testPrefix, "pair")
	other := mustGenerate(t, testPrefix, "pair other")
	id, secret := k.ID(), k.ClientSecret()
	for _, tc := range []struct {
		name, id, secret string
		want             error
	}{
		{"empty", "", "", keys.ErrMalformed},
		{"empty secret", id, "", keys.ErrMalformed},
		{"short id", id[1:], secret, keys.ErrMalformed},
		{"long secret", id, secret + "0", keys.ErrMalformed},
		{"whole key as id", k.String(), secret, keys.ErrMalformed},
		{"colon in id", id[:5] + ":" + id[6:], secret, keys.ErrMalformed},
		{"plus in secret", id, secret[:3] + "+" + secret[4:], keys.ErrMalformed},
		{"swapped", secret[:keys.IDLen], id + secret[keys.IDLen:], keys.ErrChecksum},
		{"other id", other.ID(), secret, keys.ErrChecksum},
		{"other secret", id, other.ClientSecret(), keys.ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.FromPair(testPrefix, tc.id, tc.secret)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != (keys.Key{}) {
				t.Error("a failed FromPair returned a non-zero Key")
			}
		})
	}
	// The checksum covers the prefix: a pair is bound to its prefix.
	if _, err := keys.FromPair("ds_test", id, secret); !errors.Is(err, keys.ErrChecksum) {
		t.Errorf("pair under another prefix: err = %v, want ErrChecksum", err)
	}
}

// substitutions are the characters tried at every position of a key: the
// whole alphabet plus characters a copy-paste or a bad encoder introduces.
var substitutions = base62 + "_-+/=%: .~\x00é"

// TestMistypedKeysRejected changes every character of several keys to every
// other character, swaps every pair of neighbours, and deletes and doubles
// every character: Parse must refuse each result. A change inside the id or
// secret to another base62 character must be caught by the checksum itself.
func TestMistypedKeysRejected(t *testing.T) {
	for _, prefix := range []string{"ds_live", "k"} {
		for seed := range 4 {
			k := mustGenerate(t, prefix, fmt.Sprint("typo ", seed))
			s := k.String()
			idStart := len(prefix) + 1
			t.Run(fmt.Sprintf("%s/%d", prefix, seed), func(t *testing.T) {
				tried := 0
				for i := 0; i < len(s); i++ {
					inIDOrSecret := i >= idStart && s[i] != '_'
					for _, c := range substitutions {
						m := s[:i] + string(c) + s[i+1:]
						if m == s {
							continue
						}
						tried++
						_, err := keys.Parse(prefix, m)
						if err == nil {
							t.Fatalf("substitution at %d accepted", i)
						}
						if inIDOrSecret && strings.ContainsRune(base62, c) && !errors.Is(err, keys.ErrChecksum) {
							t.Fatalf("base62 substitution at %d: err = %v, want ErrChecksum", i, err)
						}
					}
					if i+1 < len(s) && s[i] != s[i+1] {
						tried++
						m := s[:i] + s[i+1:i+2] + s[i:i+1] + s[i+2:]
						if _, err := keys.Parse(prefix, m); err == nil {
							t.Fatalf("swap at %d accepted", i)
						}
					}
					for _, m := range []string{s[:i] + s[i+1:], s[:i] + s[i:i+1] + s[i:]} {
						tried++
						if _, err := keys.Parse(prefix, m); err == nil {
							t.Fatalf("deletion or doubling at %d accepted", i)
						}
					}
				}
				if tried < len(s)*len(base62) {
					t.Fatalf("only %d variants tried", tried)
				}
			})
		}
	}
}

// secretLeaks reports whether out contains the secret or a recognisable
// part of it (any 12-character window).
func secretLeaks(out, secret string) bool {
	for i := 0; i+12 <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+12]) {
			return true
		}
	}
	return false
}

func TestSecretNeverPrinted(t *testing.T) {
	k := mustGenerate(t, testPrefix, "printing")
	secret := k.ClientSecret()
	redacted := testPrefix + "_" + k.ID() + "_[REDACTED]"

	type holder struct {
		Name string
		Key  keys.Key
		Ptr  *keys.Key
	}
	h := holder{Name: "n", Key: k, Ptr: &k}

	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%20s", "%-10v", "%#q", "%T"} {
		outputs["Sprintf "+verb] = fmt.Sprintf(verb, k)
		outputs["Sprintf ptr "+verb] = fmt.Sprintf(verb, &k)
		outputs["Sprintf struct "+verb] = fmt.Sprintf(verb, h)
		outputs["Sprintf slice "+verb] = fmt.Sprintf(verb, []keys.Key{k})
		outputs["Sprintf map "+verb] = fmt.Sprintf(verb, map[string]keys.Key{"k": k})
	}
	outputs["Sprint"] = fmt.Sprint(k)
	outputs["Sprintln"] = fmt.Sprintln(k, &k)
	outputs["Errorf"] = fmt.Errorf("authenticating %v: %w", k, errors.New("x")).Error()

	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("msg", "key", k, "ptr", &k, "h", h, slog.Any("any", k), slog.Group("g", "key", k))
	slog.New(slog.NewJSONHandler(&js, nil)).Info("msg", "key", k, "ptr", &k, "h", h, slog.Any("any", k), slog.Group("g", "key", k))
	// Handlers that walk values themselves see a resolved string, not a Key.
	if v := slog.AnyValue(k).Resolve(); v.Kind() != slog.KindString || v.String() != redacted {
		t.Errorf("slog value resolves to %v %q, want the redacted string", v.Kind(), v)
	}
	outputs["slog text"] = text.String()
	outputs["slog json"] = js.String()

	j, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs["json"] = string(j)
	jm, err := json.Marshal(map[keys.Key]int{k: 1})
	if err != nil {
		t.Fatalf("json.Marshal map key: %v", err)
	}
	outputs["json map key"] = string(jm)
	x, err := xml.Marshal(h)
	if err != nil {
		t.Fatalf("xml.Marshal: %v", err)
	}
	outputs["xml"] = string(x)

	for name, out := range outputs {
		if secretLeaks(out, secret) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
	}
	// The redacted form is what is shown, so the output is still useful.
	for _, name := range []string{"Sprintf %v", "Sprintf %s", "Sprint", "slog text", "slog json", "json", "xml", "Errorf"} {
		if !strings.Contains(outputs[name], redacted) {
			t.Errorf("%s = %q, want it to contain %q", name, outputs[name], redacted)
		}
	}
	if got, want := outputs["Sprintf %q"], fmt.Sprintf("%q", redacted); got != want {
		t.Errorf("%%q = %s, want %s", got, want)
	}
	if got := outputs["Sprintf %#v"]; !strings.HasPrefix(got, "keys.Key{") || !strings.Contains(got, k.ID()) {
		t.Errorf("%%#v = %s", got)
	}
	// The explicit accessors still work.
	if !strings.Contains(k.String(), secret) || k.ClientSecret() != secret {
		t.Error("String/ClientSecret do not return the secret")
	}
	// The zero Key prints as nothing.
	if got := fmt.Sprint(keys.Key{}); got != "" {
		t.Errorf("zero Key prints %q", got)
	}
}

// TestParseErrorsDoNotIncludeInput checks every way Parse and FromPair fail
// for an error text that contains the input or the secret.
func TestParseErrorsDoNotIncludeInput(t *testing.T) {
	k := mustGenerate(t, testPrefix, "errors")
	s := k.String()
	inputs := []string{
		s[:len(s)-1] + "Q",
		s[:len(s)-1],
		s + "Q",
		strings.Replace(s, "_", "-", -1),
		"ds_test" + s[len(testPrefix):],
		s[:30] + "%" + s[31:],
		strings.ToUpper(s),
	}
	pairErrors := 0
	for i, in := range inputs {
		_, err := keys.Parse(testPrefix, in)
		if err == nil {
			t.Fatalf("input %d parsed", i)
		}
		if secretLeaks(err.Error(), in[len(testPrefix):]) || secretLeaks(err.Error(), k.ClientSecret()) {
			t.Errorf("Parse error %d contains the input: %v", i, err)
		}
		rest := in[len(testPrefix)+1:]
		if len(rest) > keys.IDLen+1 {
			// Input 3 only lost its separators, so its pair is valid.
			_, err := keys.FromPair(testPrefix, rest[:keys.IDLen], rest[keys.IDLen+1:])
			if err == nil {
				continue
			}
			pairErrors++
			if secretLeaks(err.Error(), rest[keys.IDLen+1:]) {
				t.Errorf("FromPair error %d contains the secret: %v", i, err)
			}
		}
	}
	if pairErrors < 4 {
		t.Errorf("only %d FromPair errors checked", pairErrors)
	}
}
