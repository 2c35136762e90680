package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// attackerKey returns a key of alg that the key set does not know (K_ATK).
func attackerKey(t testing.TB, alg Algorithm) crypto.Signer {
	t.Helper()
	switch alg {
	case EdDSA:
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = 0xa7
		return ed25519.NewKeyFromSeed(seed)
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return testRSAKey(t, 1)
}

// publicKeyForms returns the public key of key in the forms an algorithm-
// confusion attacker feeds to HMAC (RS-13): PEM SPKI, DER, JWK JSON, raw.
func publicKeyForms(t testing.TB, key crypto.Signer) map[string][]byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := (jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		raw = pub
	case *ecdsa.PublicKey:
		ec, err := pub.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		raw = ec.Bytes()
	case *rsa.PublicKey:
		raw = pub.N.Bytes()
	}
	return map[string][]byte{
		"PEM": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"DER": der,
		"JWK": jwk,
		"raw": raw,
	}
}

// noneToken builds an unsigned token with the given alg spelling (RS-12).
func noneToken(hdr, payload []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload) + "."
}

func with(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

func without(m map[string]any, k string) map[string]any {
	out := with(m, k, nil)
	delete(out, k)
	return out
}

// flipChar replaces the character at i with another base64url character
// whose value differs in its high bits, so the string stays canonical.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'g'
	}
	return s[:i] + string(c) + s[i+1:]
}

// TestVerifyRefusals crafts, for every algorithm, tokens that are wrong in
// exactly one way, signed with the real key through go-jose unless the
// defect is in the signature or key, and checks the sentinel each gets.
func TestVerifyRefusals(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			ja := jose.SignatureAlgorithm(alg)
			good := validClaims()
			payload := func(m map[string]any) []byte { return mustJSON(t, m) }
			sign := func(hdr map[string]any, m map[string]any) string {
				return craft(t, e.key, ja, hdr, payload(m))
			}
			hdrWith := func(k string, v any) map[string]any { return with(e.stdHeader(), k, v) }
			atk := attackerKey(t, alg)
			atkKid, err := thumbprint(atk.Public())
			if err != nil {
				t.Fatal(err)
			}
			valid := sign(e.stdHeader(), good)
			h64, rest, _ := strings.Cut(valid, ".")
			p64, s64, _ := strings.Cut(rest, ".")

			// Sanity: the crafting baseline is accepted, so every refusal
			// below is due to its one defect.
			if _, err := e.verify.Verify(context.Background(), valid); err != nil {
				t.Fatalf("baseline crafted token refused: %v", err)
			}

			otherAlg := ES256
			if alg == ES256 {
				otherAlg = EdDSA
			}
			type tc struct {
				name string
				tok  string
				want error
			}
			cases := []tc{
				// RS-12: alg none, in every spelling.
				{"RS12_alg_none", noneToken([]byte(`{"alg":"none","kid":"`+e.kid+`","typ":"at+jwt"}`), payload(good)), ErrUnsupportedAlgorithm},
				{"RS12_alg_None", noneToken([]byte(`{"alg":"None","kid":"`+e.kid+`","typ":"at+jwt"}`), payload(good)), ErrUnsupportedAlgorithm},
				{"RS12_alg_NONE", noneToken([]byte(`{"alg":"NONE","kid":"`+e.kid+`","typ":"at+jwt"}`), payload(good)), ErrUnsupportedAlgorithm},
				{"RS12_alg_none_with_signature", noneToken([]byte(`{"alg":"none","kid":"`+e.kid+`","typ":"at+jwt"}`), payload(good)) + s64, ErrUnsupportedAlgorithm},
				// RS-14: the token's alg is not the allowed one.
				{"RS14_alg_outside_allow_list", craft(t, attackerKey(t, otherAlg), jose.SignatureAlgorithm(otherAlg), e.stdHeader(), payload(good)), ErrUnsupportedAlgorithm},
				{"RS14_alg_missing", e.craftRaw(t, `{"kid":"`+e.kid+`","typ":"at+jwt"}`, string(payload(good))), ErrMalformed},
				// Unknown or missing kid, and a key the set does not hold.
				{"RS20_unknown_kid", craft(t, atk, ja, with(e.stdHeader(), "kid", atkKid), payload(good)), ErrUnknownKey},
				{"missing_kid", sign(without(e.stdHeader(), "kid"), good), ErrUnknownKey},
				{"kid_of_real_key_signed_by_attacker", craft(t, atk, ja, e.stdHeader(), payload(good)), ErrInvalidSignature},
				// RS-20: header-supplied keys, with the real key signing.
				{"RS20_jku", sign(hdrWith("jku", "https://attacker.test/jwks.json"), good), ErrMalformed},
				{"RS20_x5u", sign(hdrWith("x5u", "https://attacker.test/cert.pem"), good), ErrMalformed},
				{"RS20_jwk", sign(hdrWith("jwk", mustJSONValue(t, e.key.Public())), good), ErrMalformed},
				{"RS20_x5c", sign(hdrWith("x5c", []string{"MIIBszCCAVmgAwIBAgIUE"}), good), ErrMalformed},
				{"RS20_x5t", sign(hdrWith("x5t", "dGh1bWI"), good), ErrMalformed},
				{"RS20_jwk_attacker_key_embedded", craftEmbedded(t, atk, ja, e.kid, payload(good)), ErrMalformed},
				// RS-21: crit, even naming something understood.
				{"RS21_crit_unknown", sign(with(hdrWith("crit", []string{"urn:x-unknown"}), "urn:x-unknown", 1), good), ErrMalformed},
				{"RS21_crit_b64", sign(with(hdrWith("crit", []string{"b64"}), "b64", true), good), ErrMalformed},
				// RS-15 / RS-16: typ.
				{"RS15_typ_absent", sign(without(e.stdHeader(), "typ"), good), ErrWrongType},
				{"RS15_typ_JWT", sign(hdrWith("typ", "JWT"), good), ErrWrongType},
				{"RS15_typ_not_a_string", sign(hdrWith("typ", 1), good), ErrMalformed},
				{"RS16_id_token", sign(hdrWith("typ", "JWT"), with(with(good, "aud", "client-1"), "nonce", "n-0S6")), ErrWrongType},
				// RS-17: issuer matches exactly.
				{"RS17_other_issuer", sign(e.stdHeader(), with(good, "iss", "https://other.test")), ErrWrongIssuer},
				{"RS17_trailing_slash", sign(e.stdHeader(), with(good, "iss", "https://as.test/")), ErrWrongIssuer},
				{"RS17_case", sign(e.stdHeader(), with(good, "iss", "HTTPS://AS.TEST")), ErrWrongIssuer},
				{"RS17_missing", sign(e.stdHeader(), without(good, "iss")), ErrWrongIssuer},
				{"RS17_not_a_string", sign(e.stdHeader(), with(good, "iss", 7)), ErrMalformed},
				// RS-18: audience.
				{"RS18_missing", sign(e.stdHeader(), without(good, "aud")), ErrWrongAudience},
				{"RS18_other", sign(e.stdHeader(), with(good, "aud", "https://other-api.test/")), ErrWrongAudience},
				{"RS18_empty_array", sign(e.stdHeader(), with(good, "aud", []string{})), ErrWrongAudience},
				{"RS18_number", sign(e.stdHeader(), with(good, "aud", 1)), ErrMalformed},
				{"RS18_array_with_number", sign(e.stdHeader(), with(good, "aud", []any{testAudience, 1})), ErrMalformed},
				// RS-19: signature.
				{"RS19_payload_byte_changed", h64 + "." + flipChar(p64, 10) + "." + s64, ErrInvalidSignature},
				{"RS19_signature_truncated", h64 + "." + p64 + "." + s64[:(len(s64)/4-1)*4], ErrInvalidSignature},
				{"RS19_signature_from_other_token", h64 + "." + p64 + "." + sigOf(sign(e.stdHeader(), with(good, "jti", "jti-2"))), ErrInvalidSignature},
				{"RS19_signature_empty", h64 + "." + p64 + ".", ErrMalformed},
				{"TOK34_noncanonical_last_char", h64 + "." + p64 + "." + bumpPadding(s64), ErrMalformed},
				// RS-10 and RS-22: required claims and their types.
				{"RS10_exp_missing", sign(e.stdHeader(), without(good, "exp")), ErrMalformed},
				{"RS10_exp_string", sign(e.stdHeader(), with(good, "exp", "9999999999")), ErrMalformed},
				{"RS10_exp_null", sign(e.stdHeader(), with(good, "exp", nil)), ErrMalformed},
				{"RS10_exp_negative", sign(e.stdHeader(), with(good, "exp", -1)), ErrMalformed},
				{"RS22_sub_missing", sign(e.stdHeader(), without(good, "sub")), ErrMalformed},
				{"RS22_client_id_missing", sign(e.stdHeader(), without(good, "client_id")), ErrMalformed},
				{"RS22_iat_missing", sign(e.stdHeader(), without(good, "iat")), ErrMalformed},
				{"RS22_jti_missing", sign(e.stdHeader(), without(good, "jti")), ErrMalformed},
				{"RS22_sub_empty", sign(e.stdHeader(), with(good, "sub", "")), ErrMalformed},
				{"scope_malformed", sign(e.stdHeader(), with(good, "scope", "read  write")), ErrMalformed},
				{"scope_not_a_string", sign(e.stdHeader(), with(good, "scope", []string{"read"})), ErrMalformed},
				// RS-9, RS-11, RS-36: time.
				{"RS09_expired", sign(e.stdHeader(), with(good, "exp", t0.Add(-300*time.Second).Unix())), ErrExpired},
				{"RS09_expired_exactly_at_leeway", sign(e.stdHeader(), with(good, "exp", t0.Add(-30*time.Second).Unix())), ErrExpired},
				{"RS11_nbf_future", sign(e.stdHeader(), with(good, "nbf", t0.Add(600*time.Second).Unix())), ErrNotYetValid},
				{"RS36_iat_future", sign(e.stdHeader(), with(good, "iat", t0.Add(86400*time.Second).Unix())), ErrNotYetValid},
				// RS-23: only the compact JWS serialisation.
				{"RS23_jwe_five_parts", h64 + "." + p64 + "." + s64 + ".AAAA.AAAA", ErrMalformed},
				{"RS23_json_serialisation", `{"payload":"` + p64 + `","protected":"` + h64 + `","signature":"` + s64 + `"}`, ErrMalformed},
				{"RS23_empty_payload", h64 + ".." + s64, ErrMalformed},
				{"RS23_header_enc", sign(hdrWith("enc", "A256GCM"), good), ErrMalformed},
				// RS-31 / RS-32: hostile shapes.
				{"RS31_too_long", valid + strings.Repeat("A", MaxTokenSize), ErrMalformed},
				{"RS31_1000_audiences", sign(e.stdHeader(), with(good, "aud", manyAud(1000))), ErrMalformed},
				{"RS32_duplicate_aud", e.craftRaw(t, `{"alg":"`+string(alg)+`","kid":"`+e.kid+`","typ":"at+jwt"}`,
					strings.Replace(string(payload(good)), `{`, `{"aud":"https://other.test/",`, 1)), ErrMalformed},
				{"RS32_duplicate_escaped_iss", e.craftRaw(t, `{"alg":"`+string(alg)+`","kid":"`+e.kid+`","typ":"at+jwt"}`,
					strings.Replace(string(payload(good)), `{`, `{"\u0069ss":"https://other.test",`, 1)), ErrMalformed},
				{"RS32_duplicate_extra_claim", e.craftRaw(t, `{"alg":"`+string(alg)+`","kid":"`+e.kid+`","typ":"at+jwt"}`,
					strings.Replace(string(payload(good)), `{`, `{"x":1,"x":2,`, 1)), ErrMalformed},
				{"RS32_duplicate_alg_header", e.craftRaw(t, `{"alg":"none","alg":"`+string(alg)+`","kid":"`+e.kid+`","typ":"at+jwt"}`, string(payload(good))), ErrMalformed},
				{"header_not_json", "bm90IGpzb24." + p64 + "." + s64, ErrMalformed},
				{"header_array", e.craftRaw(t, `["alg"]`, string(payload(good))), ErrMalformed},
				{"claims_array", e.craftRaw(t, `{"alg":"`+string(alg)+`","kid":"`+e.kid+`","typ":"at+jwt"}`, `[1]`), ErrMalformed},
				{"claims_invalid_utf8", e.craftRaw(t, `{"alg":"`+string(alg)+`","kid":"`+e.kid+`","typ":"at+jwt"}`,
					strings.Replace(string(payload(good)), "key1", "key\xff", 1)), ErrMalformed},
				{"empty", "", ErrMalformed},
				{"one_part", "abc", ErrMalformed},
				{"whitespace_inside", h64 + " ." + p64 + "." + s64, ErrMalformed},
			}
			// RS-13: HS256 keyed with the public key, in every form.
			for form, secret := range publicKeyForms(t, e.key) {
				cases = append(cases, tc{"RS13_HS256_public_key_" + form, craft(t, secret, jose.HS256, e.stdHeader(), payload(good)), ErrUnsupportedAlgorithm})
			}
			// RS-14: right key type, wrong algorithm for it.
			switch alg {
			case RS256, PS256:
				other := jose.PS256
				if alg == PS256 {
					other = jose.RS256
				}
				cases = append(cases,
					tc{"RS14_RSA_key_other_padding", craft(t, e.key, other, e.stdHeader(), payload(good)), ErrUnsupportedAlgorithm},
					tc{"RS14_RS384", craft(t, e.key, jose.RS384, e.stdHeader(), payload(good)), ErrUnsupportedAlgorithm})
			}
			// RS-14: an allowed algorithm, but not the kid's key's.
			mixed, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys,
				Algorithms: []Algorithm{alg, otherAlg}, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			kidConfusion := craft(t, attackerKey(t, otherAlg), jose.SignatureAlgorithm(otherAlg), e.stdHeader(), payload(good))
			if _, err := mixed.Verify(context.Background(), kidConfusion); !errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Errorf("RS14_alg_of_other_key_type: got %v, want %v", err, ErrUnsupportedAlgorithm)
			}

			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got, err := e.verify.Verify(context.Background(), c.tok)
					if !errors.Is(err, c.want) {
						t.Fatalf("Verify = %v, %v; want %v", got, err, c.want)
					}
					if got != nil {
						t.Fatalf("Verify returned claims with error %v", err)
					}
					assertNoTokenInError(t, err, c.tok)
				})
			}
		})
	}
}

// assertNoTokenInError checks that err does not echo the token or a part of
// it longer than a kid-sized excerpt.
func assertNoTokenInError(t *testing.T, err error, tok string) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "keyturn/token: ") {
		t.Errorf("error %q does not start with keyturn/token: ", msg)
	}
	for _, part := range strings.Split(tok, ".") {
		if len(part) > 50 && strings.Contains(msg, part) {
			t.Errorf("error %q contains part of the token", msg)
		}
	}
	if len(tok) > 50 && strings.Contains(msg, tok) {
		t.Errorf("error %q contains the token", msg)
	}
}

func mustJSONValue(t testing.TB, pub crypto.PublicKey) any {
	t.Helper()
	b, err := (jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return jsonRaw(b)
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }

// craftEmbedded signs with key and embeds its public JWK in the header, as
// an attacker pointing the verifier at their own key would.
func craftEmbedded(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, kid string, payload []byte) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt").WithHeader("kid", kid)
	return signCompact(t, key, alg, opts, payload)
}

func sigOf(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// bumpPadding changes only the unused low bits of the last character, so
// that a lenient base64 decoder still reads the same signature bytes.
func bumpPadding(s string) string {
	last := s[len(s)-1]
	v := b64urlValue[last] | 1
	if v == b64urlValue[last] {
		v = b64urlValue[last] &^ 1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return s[:len(s)-1] + string(alphabet[v])
}

func manyAud(n int) []string {
	aud := make([]string, n)
	for i := range aud {
		aud[i] = "a"
	}
	aud[n-1] = testAudience
	return aud
}

// TestVerifyAccepts covers the tokens RFC 9068 says must pass: every
// spelling of at+jwt (RS-15), an aud array naming us (RS-18), an exp just
// inside the leeway (RS-09), and fractional NumericDates.
func TestVerifyAccepts(t *testing.T) {
	e := newEnv(t, EdDSA)
	good := validClaims()
	cases := []struct {
		name   string
		hdr    map[string]any
		claims map[string]any
	}{
		{"RS15_at+jwt", e.stdHeader(), good},
		{"RS15_application/at+jwt", with(e.stdHeader(), "typ", "application/at+jwt"), good},
		{"RS15_AT+JWT", with(e.stdHeader(), "typ", "AT+JWT"), good},
		{"RS15_at+JWT", with(e.stdHeader(), "typ", "at+JWT"), good},
		{"RS15_Application/At+Jwt", with(e.stdHeader(), "typ", "Application/At+Jwt"), good},
		{"RS18_aud_array", e.stdHeader(), with(good, "aud", []string{"https://other.test/", testAudience})},
		{"RS18_aud_string", e.stdHeader(), with(good, "aud", testAudience)},
		{"RS09_expired_inside_leeway", e.stdHeader(), with(good, "exp", t0.Add(-10*time.Second).Unix())},
		{"nbf_inside_leeway", e.stdHeader(), with(good, "nbf", t0.Add(20*time.Second).Unix())},
		{"nbf_absent", e.stdHeader(), without(good, "nbf")},
		{"scope_absent", e.stdHeader(), without(good, "scope")},
		{"fractional_exp", e.stdHeader(), with(good, "exp", float64(t0.Unix())+900.5)},
		{"unknown_header_parameter_ignored", with(e.stdHeader(), "cty", "x"), good},
		{"extra_claims", e.stdHeader(), with(with(good, "tenant", "t1"), "roles", []string{"a"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := craft(t, e.key, jose.EdDSA, c.hdr, mustJSON(t, c.claims))
			got, err := e.verify.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != "key1" || got.ClientID != "key1" || got.ID != "jti-1" || got.Issuer != testIssuer {
				t.Errorf("claims = %+v", got)
			}
			if exp, ok := c.claims["exp"].(float64); ok {
				if want := time.Unix(0, int64(exp*1e9)).UTC(); !got.ExpiresAt.Equal(want) {
					t.Errorf("exp = %v, want %v", got.ExpiresAt, want)
				}
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	e := newEnv(t, EdDSA)
	tok := craft(t, e.key, jose.EdDSA, e.stdHeader(), mustJSON(t, with(validClaims(), "exp", t0.Add(-10*time.Second).Unix())))
	cases := []struct {
		name   string
		leeway time.Duration
		want   error
	}{
		{"default_30s", 0, nil},
		{"none", -1, ErrExpired},
		{"5s", 5 * time.Second, ErrExpired},
		{"11s", 11 * time.Second, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys,
				Algorithms: []Algorithm{EdDSA}, Leeway: c.leeway, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestNewVerifierValidates(t *testing.T) {
	e := newEnv(t, EdDSA)
	ok := VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: e.keys, Algorithms: []Algorithm{EdDSA}}
	cases := []struct {
		name string
		mod  func(*VerifierConfig)
	}{
		{"no_issuer", func(c *VerifierConfig) { c.Issuer = "" }},
		{"no_audience", func(c *VerifierConfig) { c.Audience = "" }},
		{"no_keys_no_opaque", func(c *VerifierConfig) { c.Keys = nil; c.Algorithms = nil }},
		{"no_algorithms", func(c *VerifierConfig) { c.Algorithms = nil }},
		{"HS256_in_allow_list", func(c *VerifierConfig) { c.Algorithms = []Algorithm{"HS256"} }},
		{"none_in_allow_list", func(c *VerifierConfig) { c.Algorithms = []Algorithm{"none"} }},
		{"algorithms_without_keys", func(c *VerifierConfig) { c.Keys = nil; c.Opaque = e.store }},
		{"leeway_too_large", func(c *VerifierConfig) { c.Leeway = MaxLeeway + time.Second }},
		{"bad_opaque_prefix", func(c *VerifierConfig) { c.Opaque = e.store; c.OpaquePrefix = "Bad-Prefix" }},
	}
	if _, err := NewVerifier(ok); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.mod(&cfg)
			if _, err := NewVerifier(cfg); err == nil {
				t.Fatal("NewVerifier accepted an invalid config")
			} else if !strings.HasPrefix(err.Error(), "keyturn/token: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if c, ok := FromContext(ctx); ok || c != nil {
		t.Fatalf("FromContext(empty) = %v, %v", c, ok)
	}
	want := &Claims{Subject: "s"}
	got, ok := FromContext(NewContext(ctx, want))
	if !ok || got != want {
		t.Fatalf("FromContext = %v, %v", got, ok)
	}
	if _, ok := FromContext(NewContext(ctx, nil)); ok {
		t.Fatal("FromContext reported nil claims as present")
	}
	// A string key with the same text must not collide with the
	// unexported key type.
	if _, ok := FromContext(context.WithValue(ctx, "token.contextKey", want)); ok {
		t.Fatal("FromContext matched a foreign key")
	}
}
