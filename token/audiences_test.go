package token

import (
	"context"
	"errors"
	"testing"
)

// OtherAudiences: a verifier accepts a token whose aud holds its Audience
// or one of them, and refuses a token for another resource only (RFC 8707;
// TOK-48, RS-style audience checks with arrays).
func TestVerifierOtherAudiences(t *testing.T) {
	e := newEnv(t, EdDSA)
	const a, b = "https://a.api.test", "https://b.api.test"
	forA, _ := e.mint(t, Grant{Subject: "k", ClientID: "k", Scope: testGrant.Scope, Audience: []string{a}})
	forAB, _ := e.mint(t, Grant{Subject: "k", ClientID: "k", Scope: testGrant.Scope, Audience: []string{b, a}})
	forDefault, _ := e.mint(t, testGrant)
	verifier := func(aud string, others ...string) *Verifier {
		v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: aud, OtherAudiences: others,
			Keys: e.keys, Algorithms: []Algorithm{EdDSA}, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		v    *Verifier
		tok  string
		ok   bool
	}{
		{"default verifier, token for A", e.verify, forA, false},
		{"verifier for A", verifier(a), forA, true},
		{"verifier for B, token for A", verifier(b), forA, false},
		{"verifier for B, token for B and A", verifier(b), forAB, true},
		{"default with A, token for A", verifier(testAudience, a), forA, true},
		{"default with A, default token", verifier(testAudience, a), forDefault, true},
		{"default with B, token for A", verifier(testAudience, b), forA, false},
	} {
		_, err := tc.v.Verify(context.Background(), tc.tok)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrWrongAudience) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: a, OtherAudiences: []string{""},
		Keys: e.keys, Algorithms: []Algorithm{EdDSA}}); err == nil {
		t.Error("an empty other audience was accepted")
	}
}
