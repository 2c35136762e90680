package keys_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/costtest"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

var b64 = base64.RawURLEncoding.EncodeToString

// Fixed test keys: an Ed25519 key from a fixed seed, a P-256 key and a
// 2048-bit RSA key generated once per run.
var (
	edKey  = ed25519.NewKeyFromSeed(make([]byte, 32))
	ecKey  = mustEC()
	rsaKey = mustRSA(2048)
)

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func jwkEd(kid string) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(edKey.Public().(ed25519.PublicKey))}
}

func jwkEC(kid string) map[string]any {
	pub, _ := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	return map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(pub[1:33]), "y": b64(pub[33:])}
}

func jwkRSA(kid string, k *rsa.PrivateKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func set(ks ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		panic(err)
	}
	return b
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestParseJWKSAccepts(t *testing.T) {
	got, canon, err := keys.ParseJWKS(set(jwkEd("a"), with(jwkEC("b"), "use", "sig"), with(jwkRSA("c", rsaKey), "alg", "PS256")))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"EdDSA"}, {"ES256"}, {"PS256"}}
	for i, k := range got {
		if strings.Join(k.Algorithms, ",") != strings.Join(want[i], ",") {
			t.Errorf("key %d: algorithms %v, want %v", i, k.Algorithms, want[i])
		}
	}
	if _, ok := got[0].Key.(ed25519.PublicKey); !ok {
		t.Errorf("key 0 is %T", got[0].Key)
	}
	if k, ok := got[1].Key.(*ecdsa.PublicKey); !ok || !k.Equal(&ecKey.PublicKey) {
		t.Errorf("key 1 is not the EC key")
	}
	if k, ok := got[2].Key.(*rsa.PublicKey); !ok || !k.Equal(&rsaKey.PublicKey) {
		t.Errorf("key 2 is not the RSA key")
	}
	// The canonical form parses to the same keys and is a fixed point.
	again, canon2, err := keys.ParseJWKS(canon)
	if err != nil || len(again) != 3 || string(canon2) != string(canon) {
		t.Fatalf("canonical form does not round-trip: %v\n%s\n%s", err, canon, canon2)
	}
	// An RSA key without alg may sign with RS256 or PS256.
	got, _, err = keys.ParseJWKS(set(jwkRSA("r", rsaKey)))
	if err != nil || strings.Join(got[0].Algorithms, ",") != "RS256,PS256" {
		t.Fatalf("RSA without alg: %v %v", got, err)
	}
}

// The checks of a client's JWK set at creation and rotation (DESIGN "More
// kinds of clients"; JW-03, JW-04, JW-07, JW-09 applied to client keys).
func TestParseJWKSRefuses(t *testing.T) {
	small := mustRSA(1024)
	ecPriv := with(jwkEC("p"), "d", b64(ecKey.D.Bytes()))
	offCurve := with(jwkEC("o"), "y", b64(make([]byte, 32)))
	many := make([]map[string]any, keys.MaxJWKSKeys+1)
	for i := range many {
		many[i] = jwkEd(string(rune('a' + i)))
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"not JSON", []byte(`{"keys":[`)},
		{"no keys", []byte(`{}`)},
		{"keys not an array", []byte(`{"keys":{}}`)},
		{"empty set", set()},
		{"too many keys", set(many...)},
		{"too large", []byte(`{"keys":[],"x":"` + strings.Repeat("a", keys.MaxJWKSSize) + `"}`)},
		{"repeated member", []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","kid":"b","x":"` + b64(edKey.Public().(ed25519.PublicKey)) + `"}]}`)},
		{"repeated keys member", []byte(`{"keys":[],"keys":[]}`)},
		{"private EC key", set(ecPriv)},
		{"private Ed25519 key", set(with(jwkEd("p"), "d", b64(edKey.Seed())))},
		{"private RSA key", set(with(jwkRSA("p", rsaKey), "d", b64(rsaKey.D.Bytes())))},
		{"symmetric key", set(map[string]any{"kty": "oct", "kid": "s", "k": "c2VjcmV0"})},
		{"oct without k", set(map[string]any{"kty": "oct", "kid": "s"})},
		{"RSA 1024", set(jwkRSA("r", small))},
		{"P-384", set(with(jwkEC("e"), "crv", "P-384"))},
		{"point off the curve", set(offCurve)},
		{"short x", set(with(jwkEd("x"), "x", "AAAA"))},
		{"X25519", set(with(jwkEd("x"), "crv", "X25519"))},
		{"no kid", set(with(jwkEd("x"), "kid", nil))},
		{"empty kid", set(jwkEd(""))},
		{"kid repeated", set(jwkEd("a"), jwkEC("a"))},
		{"use enc", set(with(jwkEd("a"), "use", "enc"))},
		{"key_ops", set(with(jwkEd("a"), "key_ops", []string{"verify"}))},
		{"x5c", set(with(jwkEd("a"), "x5c", []string{"MII"}))},
		{"alg of another key type", set(with(jwkEC("a"), "alg", "RS256"))},
		{"alg none", set(with(jwkEd("a"), "alg", "none"))},
		{"alg HS256", set(with(jwkRSA("a", rsaKey), "alg", "HS256"))},
		{"kid not a string", set(with(jwkEd("a"), "kid", 7))},
		{"padded base64", set(with(jwkEd("a"), "x", b64(edKey.Public().(ed25519.PublicKey))+"="))},
		{"too deep", []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + b64(edKey.Public().(ed25519.PublicKey)) + `","ext":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}]}`)},
		{"too many members", []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + b64(edKey.Public().(ed25519.PublicKey)) + `"` + manyMembers(40) + `}]}`)},
		{"even RSA exponent", set(with(jwkRSA("a", rsaKey), "e", b64([]byte{1, 0, 0})))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := b64(ecKey.D.Bytes())
			_, _, err := keys.ParseJWKS(tc.in)
			if !errors.Is(err, keys.ErrInvalidJWKS) {
				t.Fatalf("err = %v, want ErrInvalidJWKS", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("the error quotes key material: %v", err)
			}
		})
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(`,"m` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}

func TestCheckResource(t *testing.T) {
	for _, ok := range []string{"https://api.example.com", "https://api.example.com/v1", "urn:x:y"[:0] + "https://a.test:8443/p?q=1"} {
		if err := keys.CheckResource(ok); err != nil {
			t.Errorf("CheckResource(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/api", "api.example.com", "https://api.test/#frag", "https://api.test/#", "not a uri",
		"https://user@api.test/", "urn:example:api", "https://" + strings.Repeat("a", keys.MaxResourceLen)} {
		if err := keys.CheckResource(bad); !errors.Is(err, keys.ErrInvalidResource) {
			t.Errorf("CheckResource(%q) = %v, want ErrInvalidResource", bad, err)
		}
	}
}

// A private_key_jwt client is created without a secret, cannot
// authenticate with one, cannot be rotated to one, and has its keys
// replaced by compare-and-swap (TOK-27).
func TestPrivateKeyJWTClient(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	m, err := keys.NewManager(keys.Config{Store: st, Prefix: "kt_test"})
	if err != nil {
		t.Fatal(err)
	}
	k, rec, err := m.Create(ctx, keys.CreateParams{Name: "svc", Scope: scope.MustParse("a"),
		JWKS: set(jwkEd("a")), Resources: []string{"https://a.test", "https://a.test"}}, scope.MustParse("a"))
	if err != nil {
		t.Fatal(err)
	}
	if k.ClientSecret() != "" || rec.AuthMethod != storage.AuthPrivateKeyJWT || len(rec.Resources) != 1 {
		t.Fatalf("created %+v with secret %t", rec, k.ClientSecret() != "")
	}
	stored, _ := st.Key(ctx, rec.ID)
	if stored.SecretHash != nil || stored.AuthMethod != storage.AuthPrivateKeyJWT || !strings.Contains(string(stored.JWKS), `"kid":"a"`) {
		t.Fatalf("stored %+v", stored)
	}
	// A secret (any, even the dummy's) never authenticates such a client.
	forged, err := keys.FromPair("kt_test", rec.ID, strings.Repeat("0", 43)+"000000")
	if err == nil {
		if _, err := m.Authenticate(ctx, forged); !errors.Is(err, keys.ErrInvalidKey) {
			t.Fatalf("Authenticate with a secret: %v", err)
		}
	}
	if _, _, err := m.Rotate(ctx, rec.ID, 0); !errors.Is(err, keys.ErrInvalidParams) {
		t.Fatalf("Rotate of a private_key_jwt client: %v", err)
	}
	got, err := m.ReplaceJWKS(ctx, rec.ID, set(jwkEC("b")))
	if err != nil || !strings.Contains(got.JWKS, `"kid":"b"`) || strings.Contains(got.JWKS, `"kid":"a"`) {
		t.Fatalf("ReplaceJWKS: %v %s", err, got.JWKS)
	}
	if _, err := m.ReplaceJWKS(ctx, rec.ID, set(with(jwkEC("b"), "d", "AAAA"))); !errors.Is(err, keys.ErrInvalidParams) {
		t.Fatalf("ReplaceJWKS with a private key: %v", err)
	}
	sk, srec, err := m.Create(ctx, keys.CreateParams{Name: "s", Scope: scope.MustParse("a")}, scope.MustParse("a"))
	if err != nil || sk.ClientSecret() == "" {
		t.Fatal(err)
	}
	if _, err := m.ReplaceJWKS(ctx, srec.ID, set(jwkEd("a"))); !errors.Is(err, keys.ErrInvalidParams) {
		t.Fatalf("ReplaceJWKS of a secret key: %v", err)
	}
	if _, err := m.ReplaceJWKS(ctx, "0000000000000000", set(jwkEd("a"))); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ReplaceJWKS of a missing key: %v", err)
	}
	if err := m.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReplaceJWKS(ctx, rec.ID, set(jwkEd("a"))); !errors.Is(err, keys.ErrRevoked) {
		t.Fatalf("ReplaceJWKS of a revoked key: %v", err)
	}
	// Invalid JWKS and resources at creation.
	for _, p := range []keys.CreateParams{
		{Name: "x", Scope: scope.MustParse("a"), JWKS: []byte(`{"keys":[]}`)},
		{Name: "x", Scope: scope.MustParse("a"), Resources: []string{"/relative"}},
		{Name: "x", Scope: scope.MustParse("a"), Resources: []string{"https://a.test/#f"}},
	} {
		if _, _, err := m.Create(ctx, p, scope.MustParse("a")); !errors.Is(err, keys.ErrInvalidParams) {
			t.Errorf("Create(%+v) = %v, want ErrInvalidParams", p, err)
		}
	}
}

// A lost compare-and-swap is ErrConflict and changes nothing.
func TestReplaceJWKSConflict(t *testing.T) {
	ctx := context.Background()
	st := &racingStore{Store: memory.New()}
	m, err := keys.NewManager(keys.Config{Store: st, Prefix: "kt_test"})
	if err != nil {
		t.Fatal(err)
	}
	_, rec, err := m.Create(ctx, keys.CreateParams{Name: "svc", Scope: scope.MustParse("a"), JWKS: set(jwkEd("a"))}, scope.MustParse("a"))
	if err != nil {
		t.Fatal(err)
	}
	st.before = func() { // another process replaces the set first
		st.before = nil
		cur, _ := st.Key(ctx, rec.ID)
		_, canon, _ := keys.ParseJWKS(set(jwkEd("other")))
		st.Store.ReplaceKeyJWKS(ctx, rec.ID, cur.JWKS, canon)
	}
	if _, err := m.ReplaceJWKS(ctx, rec.ID, set(jwkEC("mine"))); !errors.Is(err, keys.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	cur, _ := st.Key(ctx, rec.ID)
	if !strings.Contains(string(cur.JWKS), `"other"`) {
		t.Fatalf("the set is %s", cur.JWKS)
	}
}

type racingStore struct {
	*memory.Store
	before func()
}

func (s *racingStore) ReplaceKeyJWKS(ctx context.Context, id string, old, next []byte) (bool, error) {
	if s.before != nil {
		s.before()
	}
	return s.Store.ReplaceKeyJWKS(ctx, id, old, next)
}

// jwksCost bounds what parsing a JWK set may allocate: 32 bytes per input
// byte and 32 KiB whatever the input, about five times the most the hostile
// sets of TestParseJWKSCost were measured to cost (5 per byte).
var jwksCost = costtest.Bound{PerByte: 32, Fixed: 32 << 10}

// ParseJWKS costs memory linear in its input, however the input is made:
// deep or long arrays, many small values, many members in one key.
func TestParseJWKSCost(t *testing.T) {
	n := keys.MaxJWKSSize - 32
	var members strings.Builder
	for i := 0; members.Len() < n-64; i++ {
		if i > 0 {
			members.WriteByte(',')
		}
		members.WriteString(`"m` + strconv.Itoa(i) + `":0`)
	}
	for name, in := range map[string]string{
		"numbers":          `{"x":[` + strings.Repeat("0,", n/2-10) + `0]}`,
		"objects":          `{"x":[` + strings.Repeat("{},", n/3-10) + `{}]}`,
		"strings":          `{"x":[` + strings.Repeat(`"",`, n/3-10) + `""]}`,
		"nested":           `{"x":` + strings.Repeat("[", n/2-10) + strings.Repeat("]", n/2-10) + `}`,
		"members in a key": `{"keys":[{` + members.String() + `}]}`,
		"many keys":        `{"keys":[` + strings.Repeat(`{"kty":"OKP"},`, n/15-10) + `{}]}`,
	} {
		if len(in) > keys.MaxJWKSSize {
			t.Fatalf("%s: %d bytes", name, len(in))
		}
		if cost, ok := jwksCost.Check(len(in), func() func() { return func() { keys.ParseJWKS([]byte(in)) } }); !ok {
			t.Errorf("%s: %d bytes allocated %s, want at most %d B", name, len(in), cost, jwksCost.Bytes(len(in)))
		}
	}
}

func FuzzParseJWKS(f *testing.F) {
	f.Add(set(jwkEd("a"), jwkEC("b"), jwkRSA("c", rsaKey)))
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"a","k":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"","y":""}],"keys":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			got   []keys.PublicKey
			canon []byte
			err   error
		)
		if cost, ok := jwksCost.Check(len(data), func() func() {
			return func() { got, canon, err = keys.ParseJWKS(data) }
		}); !ok {
			t.Fatalf("%d bytes allocated %s, want at most %d B", len(data), cost, jwksCost.Bytes(len(data)))
		}
		if err != nil {
			if !errors.Is(err, keys.ErrInvalidJWKS) {
				t.Fatalf("error %v does not wrap ErrInvalidJWKS", err)
			}
			return
		}
		// Round trip: the canonical form parses to the same kids and is
		// its own canonical form; it holds no private member.
		again, canon2, err := keys.ParseJWKS(canon)
		if err != nil || len(again) != len(got) || string(canon2) != string(canon) {
			t.Fatalf("canonical form does not round-trip: %v", err)
		}
		for i := range got {
			if got[i].ID != again[i].ID {
				t.Fatalf("kid %d changed", i)
			}
		}
		for _, m := range []string{`"d"`, `"k"`, `"p"`, `"q"`} {
			if strings.Contains(string(canon), m+":") {
				t.Fatalf("canonical form holds %s", m)
			}
		}
	})
}
