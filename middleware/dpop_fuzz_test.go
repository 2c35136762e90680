package middleware

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/scope"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/token"
	"github.com/keyturn/keyturn/token/dpop"
)

// FuzzDPoPResource sends arbitrary Authorization and DPoP headers to a
// middleware that accepts DPoP, over keyturn's verifier holding a token
// bound to a fixed key; the seeds include a valid DPoP request, the bound
// token as Bearer and a replay. Properties: no panic; the status is one
// the middleware documents; a request is let through only with the DPoP
// scheme and a proof, and the same request a second time never is (a
// proof is used once); every refusal carries a Bearer challenge and a DPoP
// one with algs, and echoes neither token nor proof.
func FuzzDPoPResource(f *testing.F) {
	ctx := context.Background()
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	store := memory.New()
	ks, err := token.NewKeySet(ctx, token.KeySetConfig{Store: store, Algorithm: token.EdDSA, Now: now})
	if err != nil {
		f.Fatal(err)
	}
	iss, _ := token.NewIssuer(token.IssuerConfig{Issuer: "https://as.test", Audience: []string{"https://api.test"}, Keys: ks, Now: now})
	v, err := token.NewVerifier(token.VerifierConfig{Issuer: "https://as.test", Audience: "https://api.test",
		Keys: ks, Algorithms: []token.Algorithm{token.EdDSA}, Now: now})
	if err != nil {
		f.Fatal(err)
	}
	prover, _ := dpop.NewProver(ed25519.NewKeyFromSeed([]byte("keyturn FuzzDPoPResource key 32b")))
	prover.Now = now
	tok, _, err := iss.Mint(ctx, token.Grant{Subject: "k1", ClientID: "k1", Scope: scope.MustParse("read"), JKT: prover.Thumbprint()})
	if err != nil {
		f.Fatal(err)
	}
	dv, _ := dpop.NewVerifier(dpop.Config{Algorithms: dpop.DefaultAlgorithms(), Now: now})
	m, err := New(Config{Verifier: v, Realm: "r", DPoP: dv, DPoPURL: RequestURL("https://api.test")})
	if err != nil {
		f.Fatal(err)
	}
	h := m.Require("read")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 2 {
		proof, _ := prover.Proof("GET", "https://api.test/r", tok)
		f.Add("DPoP "+tok, proof, "GET")
		f.Add("Bearer "+tok, proof, "GET")
		f.Add("DPoP "+tok, proof+"\n"+proof, "GET")
		f.Add("dpop "+tok, proof, "POST")
	}
	f.Add("DPoP "+tok, "", "GET")
	f.Add("DPoP", "x.y.z", "GET")
	f.Fuzz(func(t *testing.T, auth, proofs, method string) {
		if !validMethod(method) {
			method = "GET"
		}
		serve := func() *httptest.ResponseRecorder {
			req := httptest.NewRequest(method, "/r", nil)
			for _, a := range strings.Split(auth, "\n") {
				if a != "" {
					req.Header.Add("Authorization", a)
				}
			}
			for _, p := range strings.Split(proofs, "\n") {
				if p != "" {
					req.Header.Add("DPoP", p)
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		rec := serve()
		switch rec.Code {
		case 200:
			scheme, _, _ := strings.Cut(auth, " ")
			if !strings.EqualFold(scheme, "DPoP") || proofs == "" {
				t.Fatalf("let through without the DPoP scheme and a proof")
			}
			if again := serve(); again.Code == 200 {
				t.Fatal("the same proof was accepted twice")
			}
			return
		case 400, 401, 403, 503:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		ch := rec.Header().Values("WWW-Authenticate")
		if len(ch) != 2 || !strings.HasPrefix(ch[0], `Bearer realm="r"`) || !strings.HasPrefix(ch[1], `DPoP realm="r"`) ||
			!strings.HasSuffix(ch[1], `algs="ES256 EdDSA Ed25519 PS256 RS256"`) {
			t.Fatalf("challenges %q", ch)
		}
		for _, secret := range append(strings.Split(proofs, "\n"), tok) {
			if len(secret) >= 16 && (strings.Contains(strings.Join(ch, " "), secret) || strings.Contains(rec.Body.String(), secret)) {
				t.Fatal("the refusal echoes a token or proof")
			}
		}
	})
}
