package token

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/keyturn/keyturn/scope"
)

func TestDecodeClaims(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    *Claims
		wantErr bool
	}{
		{"empty_object", `{}`, &Claims{}, false},
		{"whitespace", " \t\n{ \"sub\" :\r\"s\" , \"jti\":\"j\" }\n", &Claims{Subject: "s", ID: "j"}, false},
		{"escaped_name", `{"\u0073ub":"s"}`, &Claims{Subject: "s"}, false},
		{"escaped_value", `{"sub":"a\"b\u00e9"}`, &Claims{Subject: "a\"bé"}, false},
		{"aud_array", `{"aud":["a", "b"]}`, &Claims{Audience: []string{"a", "b"}}, false},
		{"aud_empty_array", `{"aud":[ ]}`, &Claims{}, false},
		{"exp_integer", `{"exp":1700000000}`, &Claims{ExpiresAt: time.Unix(1700000000, 0).UTC()}, false},
		{"exp_fraction", `{"exp":1700000000.25}`, &Claims{ExpiresAt: time.Unix(1700000000, 250000000).UTC()}, false},
		{"exp_exponent", `{"exp":1.7e9}`, &Claims{ExpiresAt: time.Unix(1700000000, 0).UTC()}, false},
		{"exp_zero", `{"exp":0}`, &Claims{ExpiresAt: time.Unix(0, 0).UTC()}, false},
		{"extra_nested", `{"x":{"y":[1,{"z":null}]},"s":"t"}`, &Claims{Extra: map[string]any{"x": map[string]any{"y": []any{1.0, map[string]any{"z": nil}}}, "s": "t"}}, false},
		{"scope", `{"scope":"b a"}`, &Claims{Scope: scope.MustParse("a b")}, false},
		{"exp_too_large", `{"exp":253402300800}`, nil, true},
		{"exp_huge", `{"exp":1e400}`, nil, true},
		{"exp_negative", `{"exp":-1}`, nil, true},
		{"exp_negative_fraction", `{"exp":-0.5}`, nil, true},
		{"exp_bool", `{"exp":true}`, nil, true},
		{"sub_number", `{"sub":1}`, nil, true},
		{"sub_null", `{"sub":null}`, nil, true},
		{"dup_registered", `{"sub":"a","sub":"a"}`, nil, true},
		{"dup_escaped", `{"sub":"a","\u0073ub":"a"}`, nil, true},
		{"dup_extra", `{"x":1,"x":1}`, nil, true},
		{"not_object", `"x"`, nil, true},
		{"trailing_garbage", `{} x`, nil, true},
		{"two_objects", `{}{}`, nil, true},
		{"invalid_utf8", "{\"sub\":\"\xff\"}", nil, true},
		{"truncated", `{"sub":"a"`, nil, true},
		{"aud_object", `{"aud":{}}`, nil, true},
		{"scope_bad", `{"scope":" a"}`, nil, true},
		{"empty", ``, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := decodeClaims([]byte(c.in))
			if c.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("decodeClaims = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got, cmp.Comparer(func(a, b scope.Set) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzClaimsRoundTrip encodes arbitrary claims with the reflection-free
// encoder and decodes them back: what comes out is what went in, and
// encoding/json reads the same JSON.
func FuzzClaimsRoundTrip(f *testing.F) {
	f.Add("https://as.test", "sub", "https://api.test/", "aud2", "jti", "client", "read write", int64(1700000000), int64(900), "tenant", "t1")
	f.Add("i\u2028", "s\"<>&", "a", "", "j\x00", "c\\", "target-entity:E:a,b", int64(0), int64(1), "x", "")
	f.Fuzz(func(t *testing.T, iss, sub, aud1, aud2, jti, client, scopeStr string, iat, life int64, extraName, extraVal string) {
		for _, s := range []string{iss, sub, aud1, aud2, jti, client, extraName, extraVal} {
			if !utf8.ValidString(s) {
				t.Skip("the issuer refuses invalid UTF-8")
			}
		}
		sc, err := scope.Parse(scopeStr)
		if err != nil {
			t.Skip()
		}
		if iat < 0 || life < 0 || iat > maxNumericDate-life || life > math.MaxInt32 {
			t.Skip()
		}
		c := &Claims{
			Issuer: iss, Subject: sub, Audience: []string{aud1}, ID: jti, ClientID: client, Scope: sc,
			IssuedAt: time.Unix(iat, 0).UTC(), NotBefore: time.Unix(iat, 0).UTC(), ExpiresAt: time.Unix(iat+life, 0).UTC(),
		}
		if aud2 != "" {
			c.Audience = append(c.Audience, aud2)
		}
		var extra []extraClaim
		if extraName != "" && !isRegistered(extraName) {
			v, _ := json.Marshal(extraVal)
			extra = append(extra, extraClaim{extraName, v})
			c.Extra = map[string]any{extraName: extraVal}
		}
		enc := appendClaims(nil, c, extra)
		var std map[string]any
		if err := json.Unmarshal(enc, &std); err != nil {
			t.Fatalf("encoding/json cannot read %s: %v", enc, err)
		}
		if std["sub"] != sub || std["client_id"] != client || std["jti"] != jti || std["iss"] != iss {
			t.Fatalf("encoding/json reads different claims from %s", enc)
		}
		got, seen, err := decodeClaims(enc)
		if err != nil {
			t.Fatalf("decodeClaims(%s): %v", enc, err)
		}
		want := hasIss | hasSub | hasAud | hasExp | hasIat | hasNbf | hasJti | hasClientID
		if !sc.IsEmpty() {
			want |= hasScope
		}
		if seen != want {
			t.Errorf("seen = %b, want %b", seen, want)
		}
		if diff := cmp.Diff(c, got, cmp.Comparer(func(a, b scope.Set) bool { return a.Equal(b) })); diff != "" {
			t.Fatalf("round trip (-in +out):\n%s", diff)
		}
	})
}

// FuzzDecodeClaims feeds arbitrary bytes to the strict claims decoder: it
// never panics, and whatever it accepts encoding/json reads as an object
// with the same registered string claims.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{`{}`, `{"sub":"a","aud":["x"],"exp":1}`, `{"\u0073ub":"a"}`, `{"a":[{"b":"\"}"}]}`, `{"exp":1.5e3}`, `[`, `{"x":1,"x":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, seen, err := decodeClaims(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var std map[string]any
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		for name, got := range map[string]string{"iss": c.Issuer, "sub": c.Subject, "jti": c.ID, "client_id": c.ClientID} {
			if v, ok := std[name]; ok && v != got {
				t.Fatalf("%s: decoded %q, encoding/json %q", name, got, v)
			}
		}
		if seen&hasExp != 0 {
			if f, ok := std["exp"].(float64); !ok || math.Abs(float64(c.ExpiresAt.Unix())+float64(c.ExpiresAt.Nanosecond())/1e9-f) > 1e-3*math.Max(1, f/1e9) {
				t.Fatalf("exp: decoded %v, encoding/json %v", c.ExpiresAt, std["exp"])
			}
		}
	})
}
