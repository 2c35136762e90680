package token

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyturn/keyturn/internal/jsonscan"
	"github.com/keyturn/keyturn/storage/memory"
)

// jwksEnv is a key set holding one key of every algorithm (one active, the
// rest pending or retired), so JWKS tests see every key type at once.
func jwksEnv(t *testing.T) (*KeySet, *clock) {
	t.Helper()
	ctx := context.Background()
	clk := newClock()
	ks, err := NewKeySet(ctx, KeySetConfig{Store: memory.New(), Now: clk.Now, Generate: fixedGenerate(t, fixedKey(t, EdDSA, 0), fixedKey(t, EdDSA, 1))})
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []Algorithm{ES256, RS256, PS256} {
		i := 0
		if alg == PS256 {
			i = 1 // one RSA key cannot have two algorithms
		}
		if _, err := ks.Add(ctx, fixedKey(t, alg, i), alg); err != nil {
			t.Fatal(err)
		}
	}
	return ks, clk
}

func getJWKS(t *testing.T, h http.Handler, method string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, JWKSPath, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func jwksKeys(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	raw, ok := doc["keys"].([]any)
	if !ok {
		t.Fatalf("JWKS has no keys array: %s", body)
	}
	var out []map[string]any
	for _, k := range raw {
		m, ok := k.(map[string]any)
		if !ok {
			t.Fatalf("JWKS key is not an object: %v", k)
		}
		out = append(out, m)
	}
	return out
}

func TestJW01_SetShape(t *testing.T) {
	ks, _ := jwksEnv(t)
	rec := getJWKS(t, ks.Handler(), http.MethodGet, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if keys := jwksKeys(t, rec.Body.Bytes()); len(keys) != 4 {
		t.Fatalf("%d keys, want 4", len(keys))
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %q for %d bytes", cl, rec.Body.Len())
	}
}

func TestJW02_KeysComplete(t *testing.T) {
	ks, _ := jwksEnv(t)
	want := map[string][]string{"OKP": {"crv", "x"}, "EC": {"crv", "x", "y"}, "RSA": {"n", "e"}}
	seen := map[string]bool{}
	for _, k := range jwksKeys(t, ks.JWKS()) {
		kty, _ := k["kty"].(string)
		members, ok := want[kty]
		if !ok {
			t.Fatalf("unexpected kty %q", kty)
		}
		seen[kty] = true
		for _, m := range members {
			if s, _ := k[m].(string); s == "" {
				t.Errorf("%s key lacks %q", kty, m)
			}
		}
		if kty == "OKP" && k["crv"] != "Ed25519" {
			t.Errorf("OKP crv %v", k["crv"])
		}
	}
	if len(seen) != 3 {
		t.Errorf("key types seen: %v", seen)
	}
}

func TestJW03_PublicMaterialOnly(t *testing.T) {
	ks, _ := jwksEnv(t)
	for _, k := range jwksKeys(t, ks.JWKS()) {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, has := k[private]; has {
				t.Errorf("key %v has private member %q", k["kid"], private)
			}
		}
		if k["kty"] == "oct" {
			t.Errorf("symmetric key published")
		}
		// go-jose agrees: every key parses as public.
		var jwk jose.JSONWebKey
		b, _ := json.Marshal(k)
		if err := jwk.UnmarshalJSON(b); err != nil || !jwk.IsPublic() {
			t.Errorf("key %v is not a valid public JWK: %v", k["kid"], err)
		}
	}
}

func TestJW04_DistinctKids(t *testing.T) {
	ks, _ := jwksEnv(t)
	kids := map[string]bool{}
	for _, k := range jwksKeys(t, ks.JWKS()) {
		kid, _ := k["kid"].(string)
		if kid == "" || kids[kid] {
			t.Fatalf("missing or repeated kid %q", kid)
		}
		kids[kid] = true
	}
}

func TestJW05_KeyUse(t *testing.T) {
	ks, _ := jwksEnv(t)
	for _, k := range jwksKeys(t, ks.JWKS()) {
		if k["use"] != "sig" {
			t.Errorf("key %v: use %v", k["kid"], k["use"])
		}
		if _, has := k["key_ops"]; has {
			t.Errorf("key %v has both use and key_ops", k["kid"])
		}
	}
}

// TestJW06_AlgMatchesKid checks, for a key of every algorithm, that the
// JWKS alg of a token's kid is the alg the token was signed with.
func TestJW06_AlgMatchesKid(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			tok, _ := e.mint(t, testGrant)
			hdr := decodeSegment(t, tok, 0)
			for _, k := range jwksKeys(t, e.keys.JWKS()) {
				if k["kid"] == hdr["kid"] && k["alg"] != hdr["alg"] {
					t.Fatalf("token alg %v, JWKS alg %v", hdr["alg"], k["alg"])
				}
				if k["alg"] != string(alg) {
					t.Fatalf("JWKS alg %v for a %s key", k["alg"], alg)
				}
			}
		})
	}
}

func TestJW07_KeyStrength(t *testing.T) {
	ks, _ := jwksEnv(t)
	for _, k := range jwksKeys(t, ks.JWKS()) {
		var jwk jose.JSONWebKey
		b, _ := json.Marshal(k)
		if err := jwk.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		if err := checkPublicKey(Algorithm(k["alg"].(string)), jwk.Key); err != nil {
			t.Errorf("key %v: %v", k["kid"], err)
		}
		if k["kty"] == "EC" && k["crv"] != "P-256" {
			t.Errorf("ES256 key on curve %v", k["crv"])
		}
	}
	// Weak keys never get in (see also TestKeySetRefusesBadRecords).
	weak := map[string]func() error{
		"rsa_1024": func() error {
			_, err := ks.Add(context.Background(), mustRSA(t, 1024), RS256)
			return err
		},
	}
	for name, f := range weak {
		if f() == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestJW08_TokenKidResolves(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			tok, _ := e.mint(t, testGrant)
			kid := kidOf(t, tok)
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(e.keys.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			keys := set.Key(kid)
			if len(keys) != 1 {
				t.Fatalf("kid %s resolves to %d keys", kid, len(keys))
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(keys[0].Algorithm)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(keys[0]); err != nil {
				t.Fatalf("token does not verify with its JWKS key: %v", err)
			}
		})
	}
}

func TestJW09_StrictJSON(t *testing.T) {
	ks, _ := jwksEnv(t)
	doc := ks.JWKS()
	if !json.Valid(doc) {
		t.Fatal("JWKS is not valid JSON")
	}
	// Every object in the document has unique member names.
	err := forEachMember(doc, "jwks", func(name string, raw []byte) error {
		if name != "keys" {
			return errors.New("unexpected top-level member " + name)
		}
		i := jsonscan.SkipSpace(raw, 1)
		for raw[i] != ']' {
			end := jsonscan.SkipValue(raw, i)
			names := map[string]bool{}
			if err := forEachMember(raw[i:end], "jwk", func(n string, _ []byte) error {
				if names[n] {
					return errors.New("duplicate member " + n)
				}
				names[n] = true
				return nil
			}); err != nil {
				return err
			}
			i = jsonscan.SkipSpace(raw, end)
			if raw[i] == ',' {
				i = jsonscan.SkipSpace(raw, i+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestJW10_Rotation: a new key is in the JWKS before its first token, and a
// retired key stays until every token it signed has expired.
func TestJW10_Rotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks, err := NewKeySet(ctx, KeySetConfig{Store: memory.New(), Now: clk.Now,
		Generate: fixedGenerate(t, fixedKey(t, EdDSA, 0), fixedKey(t, EdDSA, 1))})
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: ks, Now: clk.Now})
	oldKid := ks.snap.Load().signing(clk.Now()).id
	newKid, err := ks.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	published := func(kid string) bool { _, ok := keysFromJWKS(t, ks.JWKS())[kid]; return ok }
	if !published(newKid) {
		t.Fatal("rotated key not published before use")
	}
	var lastOld time.Time
	for clk.Now().Before(t0.Add(DefaultPublishAhead + time.Minute)) {
		g := testGrant
		g.Lifetime = MaxLifetime
		tok, c, err := iss.Mint(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		switch kidOf(t, tok) {
		case oldKid:
			lastOld = c.ExpiresAt
		case newKid:
			if clk.Now().Before(t0.Add(DefaultPublishAhead)) {
				t.Fatalf("new key signed %s after being published, before PublishAhead", clk.Now().Sub(t0))
			}
		}
		clk.Add(30 * time.Minute)
	}
	for clk.Now().Before(lastOld.Add(MaxLeeway + time.Hour)) {
		if err := ks.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !published(oldKid) && clk.Now().Before(lastOld.Add(MaxLeeway)) {
			t.Fatalf("old key removed at %v, before its last token expired at %v", clk.Now(), lastOld)
		}
		clk.Add(10 * time.Minute)
	}
	if published(oldKid) {
		t.Fatal("old key still published long after its tokens expired")
	}
}

func TestJW11_GetOnlyAndCaching(t *testing.T) {
	ks, clk := jwksEnv(t)
	h := ks.Handler()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		t.Run("405_"+m, func(t *testing.T) {
			rec := getJWKS(t, h, m, nil)
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Fatalf("%s: %d Allow=%q", m, rec.Code, rec.Header().Get("Allow"))
			}
			if strings.Contains(rec.Body.String(), `"keys"`) {
				t.Error("405 carries the key set")
			}
		})
	}
	get := getJWKS(t, h, http.MethodGet, nil)
	etag := get.Header().Get("ETag")
	t.Run("headers", func(t *testing.T) {
		cc := get.Header().Get("Cache-Control")
		if !strings.Contains(cc, "max-age=") {
			t.Fatalf("Cache-Control %q", cc)
		}
		age, err := strconv.Atoi(cc[strings.Index(cc, "max-age=")+len("max-age="):])
		if err != nil || age <= 0 || time.Duration(age)*time.Second*2 > MinPublishAhead {
			t.Errorf("max-age %q is not short against MinPublishAhead", cc)
		}
		if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
			t.Errorf("ETag %q is not a strong quoted tag", etag)
		}
		if get.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no CORS header")
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		rec := getJWKS(t, h, http.MethodHead, nil)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Fatalf("HEAD: %d, %d body bytes, ETag %q", rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
		}
		if rec.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) {
			t.Error("HEAD Content-Length differs from GET's body")
		}
	})
	conditional := []struct {
		name, inm string
		want      int
	}{
		{"match", etag, http.StatusNotModified},
		{"weak_match", "W/" + etag, http.StatusNotModified},
		{"in_list", `"nope", ` + etag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"other", `"nope"`, http.StatusOK},
		{"unquoted", strings.Trim(etag, `"`), http.StatusOK},
	}
	for _, c := range conditional {
		t.Run("If-None-Match_"+c.name, func(t *testing.T) {
			rec := getJWKS(t, h, http.MethodGet, map[string]string{"If-None-Match": c.inm})
			if rec.Code != c.want {
				t.Fatalf("status %d, want %d", rec.Code, c.want)
			}
			if c.want == http.StatusNotModified && (rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag) {
				t.Error("304 with a body or without the ETag")
			}
		})
	}
	t.Run("etag_changes_with_the_set", func(t *testing.T) {
		clk.Add(DefaultPublishAhead)
		if _, err := ks.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec := getJWKS(t, h, http.MethodGet, map[string]string{"If-None-Match": etag})
		if rec.Code != http.StatusOK || rec.Header().Get("ETag") == etag {
			t.Fatalf("after rotation: %d, ETag %q (old %q)", rec.Code, rec.Header().Get("ETag"), etag)
		}
	})
}
