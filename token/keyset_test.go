package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

func kidOf(t testing.TB, tok string) string {
	t.Helper()
	kid, _ := decodeSegment(t, tok, 0)["kid"].(string)
	return kid
}

// TestRotationNeverRejects mints tokens before, during and after a
// scheduled rotation, with the longest lifetime, and checks that each one
// verifies, in this process and in a second one over the same store, until
// its own expiry, and is then refused as expired, never as an unknown key.
func TestRotationNeverRejects(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := memory.New()
	const period, ahead = 48 * time.Hour, 12 * time.Hour
	k1, k2, k3 := fixedKey(t, EdDSA, 0), fixedKey(t, EdDSA, 1), fixedKey(t, EdDSA, 2)
	ks, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: clk.Now, RotationPeriod: period, PublishAhead: ahead,
		Generate: fixedGenerate(t, k1, k2, k3)})
	if err != nil {
		t.Fatal(err)
	}
	// The second process only verifies, and learns keys from the store.
	other, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: clk.Now, VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: ks, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var verifiers []*Verifier
	for _, k := range []*KeySet{ks, other} {
		v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: k, Algorithms: []Algorithm{EdDSA}, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		verifiers = append(verifiers, v)
	}
	kid1, _ := thumbprint(k1.Public())
	kid2, _ := thumbprint(k2.Public())

	type minted struct {
		name string
		tok  string
		exp  time.Time
		kid  string
	}
	var toks []minted
	mint := func(name, wantKid string) {
		t.Helper()
		g := testGrant
		g.Lifetime = MaxLifetime
		tok, c, err := iss.Mint(ctx, g)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if kid := kidOf(t, tok); kid != wantKid {
			t.Fatalf("%s: signed by %s, want %s", name, kid, wantKid)
		}
		toks = append(toks, minted{name, tok, c.ExpiresAt, wantKid})
	}
	refresh := func() {
		t.Helper()
		for _, k := range []*KeySet{ks, other} {
			if err := k.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkAll := func(stage string) {
		t.Helper()
		now := clk.Now()
		for _, m := range toks {
			for i, v := range verifiers {
				_, err := v.Verify(ctx, m.tok)
				switch {
				case now.Before(m.exp.Add(DefaultLeeway)):
					if err != nil {
						t.Errorf("%s: token %q (process %d) refused before its expiry: %v", stage, m.name, i, err)
					}
				case errors.Is(err, ErrExpired):
				case errors.Is(err, ErrUnknownKey):
					// Only once the key is gone, which must be after
					// every token it signed expired (checked above).
					if _, published := keysFromJWKS(t, ks.JWKS())[m.kid]; published {
						t.Errorf("%s: token %q (process %d): unknown key while it is published", stage, m.name, i)
					}
				default:
					t.Errorf("%s: token %q (process %d) after expiry: %v, want ErrExpired", stage, m.name, i, err)
				}
			}
		}
	}
	jwksKids := func() []string {
		var kids []string
		for kid := range keysFromJWKS(t, ks.JWKS()) {
			kids = append(kids, kid)
		}
		return kids
	}

	mint("before", kid1)
	checkAll("start")

	// Rotation becomes due PublishAhead before the period ends: the next
	// key is published, the active one keeps signing.
	clk.Add(period - ahead)
	refresh()
	if kids := jwksKids(); len(kids) != 2 {
		t.Fatalf("JWKS during overlap has %d keys, want 2", len(kids))
	}
	mint("during_overlap", kid1)
	checkAll("overlap")
	clk.Add(ahead - time.Second)
	mint("last_second_of_old_key", kid1)

	// The next key takes over even before anyone refreshes.
	clk.Add(time.Second)
	mint("after_switch_no_refresh", kid2)
	checkAll("switch")
	refresh()
	mint("after", kid2)

	// Walk through the old key's retention in steps, refreshing.
	for step := 0; step < 30; step++ {
		clk.Add(time.Hour)
		refresh()
		checkAll("retention")
	}
	// By now the old key is gone from the JWKS and the store.
	if kids := jwksKids(); len(kids) != 1 || kids[0] != kid2 {
		t.Fatalf("JWKS after retention = %v, want only %s", kids, kid2)
	}
	recs, err := store.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != kid2 {
		t.Fatalf("store after retention holds %d keys", len(recs))
	}
	// The last token signed by the old key expired before its key went.
	checkAll("end")
}

// TestRestart mints, then builds a new KeySet, Issuer and Verifier over the
// same store: old tokens verify, and the new issuer signs with the same key.
func TestRestart(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, alg)
			tok, _ := e.mint(t, testGrant)

			ks2, err := NewKeySet(ctx, KeySetConfig{Store: e.store, Algorithm: alg, Now: e.clock.Now,
				Generate: func(Algorithm) (crypto.Signer, error) { return nil, errors.New("must not generate on restart") }})
			if err != nil {
				t.Fatal(err)
			}
			iss2, err := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: ks2, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			v2, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: ks2, Algorithms: []Algorithm{alg}, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v2.Verify(ctx, tok); err != nil {
				t.Fatalf("old token refused after restart: %v", err)
			}
			tok2, _, err := iss2.Mint(ctx, testGrant)
			if err != nil {
				t.Fatal(err)
			}
			if kidOf(t, tok2) != e.kid {
				t.Errorf("restarted issuer signs with %s, want %s", kidOf(t, tok2), e.kid)
			}
			if _, err := e.verify.Verify(ctx, tok2); err != nil {
				t.Fatalf("first process refused the restarted one's token: %v", err)
			}
			if !bytes.Equal(ks2.JWKS(), e.keys.JWKS()) {
				t.Error("JWKS differs after restart")
			}
		})
	}
}

// TestSealedKeys stores keys sealed under a KEK: the store never holds the
// PKCS #8 plaintext, a restart with the KEK works, and a wrong or missing
// KEK fails clearly.
func TestSealedKeys(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			store := memory.New()
			kek := bytes.Repeat([]byte{0x42}, KEKSize)
			key := fixedKey(t, alg, 0)
			ks, err := NewKeySet(ctx, KeySetConfig{Store: store, Algorithm: alg, KEK: kek, Now: clk.Now,
				Generate: fixedGenerate(t, key)})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := store.SigningKeys(ctx)
			if err != nil || len(recs) != 1 {
				t.Fatalf("store holds %d keys, %v", len(recs), err)
			}
			pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			rec := recs[0]
			if bytes.Contains(rec.Private, pkcs8) || bytes.Contains(rec.Private, pkcs8[len(pkcs8)-32:]) {
				t.Fatal("stored private key contains PKCS #8 plaintext")
			}
			if raw := rawSecret(key); bytes.Contains(rec.Private, raw) {
				t.Fatal("stored private key contains the raw secret scalar")
			}
			if !strings.HasPrefix(string(rec.Private), sealMagic) || len(rec.Private) != len(sealMagic)+12+len(pkcs8)+16 {
				t.Fatalf("sealed record has unexpected layout (%d bytes)", len(rec.Private))
			}
			pub, _ := x509.MarshalPKIXPublicKey(key.Public())
			if !bytes.Equal(rec.Public, pub) {
				t.Error("stored public key is not the PKIX encoding")
			}
			iss, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: ks, Now: clk.Now})
			tok, _, err := iss.Mint(ctx, testGrant)
			if err != nil {
				t.Fatal(err)
			}

			noGen := func(Algorithm) (crypto.Signer, error) { return nil, errors.New("must not generate") }
			if _, err := NewKeySet(ctx, KeySetConfig{Store: store, KEK: kek, Now: clk.Now, Generate: noGen}); err != nil {
				t.Fatalf("restart with the right KEK: %v", err)
			}
			wrong := bytes.Repeat([]byte{0x43}, KEKSize)
			_, err = NewKeySet(ctx, KeySetConfig{Store: store, KEK: wrong, Now: clk.Now, Generate: noGen})
			if !errors.Is(err, ErrUnseal) || !strings.Contains(err.Error(), "wrong key-encryption key") {
				t.Fatalf("wrong KEK: %v, want ErrUnseal naming the wrong key", err)
			}
			_, err = NewKeySet(ctx, KeySetConfig{Store: store, Now: clk.Now, Generate: noGen})
			if !errors.Is(err, ErrUnseal) {
				t.Fatalf("missing KEK: %v, want ErrUnseal", err)
			}
			// A verify-only set needs no KEK and verifies.
			ro, err := NewKeySet(ctx, KeySetConfig{Store: store, VerifyOnly: true, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: ro, Algorithms: []Algorithm{alg}, Now: clk.Now})
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("verify-only set refused a token: %v", err)
			}
		})
	}
}

// rawSecret returns the secret scalar or seed of key.
func rawSecret(key crypto.Signer) []byte {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k.Seed()
	case *ecdsa.PrivateKey:
		b, _ := k.Bytes()
		return b
	case *rsa.PrivateKey:
		return k.D.Bytes()
	}
	return nil
}

// TestSealedRecordTampering checks that a sealed record moved to another kid,
// truncated, or flipped does not unseal, and that an unsealed record is
// refused when a KEK is configured.
func TestSealedRecordTampering(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, KEKSize)
	pkcs8 := []byte("0\x82pkcs8 bytes")
	sealed, err := seal(kek, "kid-1", pkcs8, &countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unseal(kek, "kid-1", sealed); err != nil || !bytes.Equal(got, pkcs8) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	cases := []struct {
		name   string
		kek    []byte
		kid    string
		sealed []byte
	}{
		{"other_kid", kek, "kid-2", sealed},
		{"wrong_kek", bytes.Repeat([]byte{8}, KEKSize), "kid-1", sealed},
		{"flipped_bit", kek, "kid-1", flipped},
		{"truncated", kek, "kid-1", sealed[:len(sealMagic)+10]},
		{"not_sealed", kek, "kid-1", pkcs8},
		{"short_kek", kek[:16], "kid-1", sealed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := unseal(c.kek, c.kid, c.sealed); err == nil {
				t.Fatal("unseal succeeded")
			}
		})
	}
	t.Run("keyset_refuses_plain_record_with_kek", func(t *testing.T) {
		ctx := context.Background()
		store := memory.New()
		if _, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: newClock().Now}); err != nil {
			t.Fatal(err)
		}
		_, err := NewKeySet(ctx, KeySetConfig{Store: store, KEK: kek, Now: newClock().Now})
		if !errors.Is(err, ErrUnseal) {
			t.Fatalf("NewKeySet = %v, want ErrUnseal", err)
		}
	})
}

func TestNewKeySetValidates(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		cfg  KeySetConfig
	}{
		{"no_store", KeySetConfig{}},
		{"bad_algorithm", KeySetConfig{Store: memory.New(), Algorithm: "HS256"}},
		{"short_kek", KeySetConfig{Store: memory.New(), KEK: make([]byte, 16)}},
		{"publish_ahead_too_short", KeySetConfig{Store: memory.New(), PublishAhead: time.Minute}},
		{"period_not_above_publish_ahead", KeySetConfig{Store: memory.New(), RotationPeriod: time.Hour, PublishAhead: time.Hour}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewKeySet(ctx, c.cfg); err == nil {
				t.Fatal("NewKeySet accepted an invalid config")
			}
		})
	}
}

// TestKeySetRefusesBadRecords plants records that keyturn would never write
// and checks that loading them fails instead of signing or verifying.
func TestKeySetRefusesBadRecords(t *testing.T) {
	ctx := context.Background()
	good := func(t *testing.T, alg Algorithm, key crypto.Signer) storage.SigningKey {
		kid, err := thumbprint(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		priv, _ := x509.MarshalPKCS8PrivateKey(key)
		pub, _ := x509.MarshalPKIXPublicKey(key.Public())
		return storage.SigningKey{ID: kid, Algorithm: string(alg), Private: priv, Public: pub, CreatedAt: t0, NotBefore: t0}
	}
	weak, err := rsa.GenerateKey(nil, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ed := fixedKey(t, EdDSA, 0)
	other := fixedKey(t, EdDSA, 1)
	cases := []struct {
		name string
		rec  func(t *testing.T) storage.SigningKey
	}{
		{"JW07_rsa_1024", func(t *testing.T) storage.SigningKey { return good(t, RS256, weak) }},
		{"JW07_p384_as_ES256", func(t *testing.T) storage.SigningKey { return good(t, ES256, p384) }},
		{"ed25519_as_RS256", func(t *testing.T) storage.SigningKey { return good(t, RS256, ed) }},
		{"HS256", func(t *testing.T) storage.SigningKey { r := good(t, EdDSA, ed); r.Algorithm = "HS256"; return r }},
		{"kid_not_thumbprint", func(t *testing.T) storage.SigningKey { r := good(t, EdDSA, ed); r.ID = "my-kid"; return r }},
		{"private_public_mismatch", func(t *testing.T) storage.SigningKey {
			r := good(t, EdDSA, ed)
			r.Private, _ = x509.MarshalPKCS8PrivateKey(other)
			return r
		}},
		{"garbage_private", func(t *testing.T) storage.SigningKey { r := good(t, EdDSA, ed); r.Private = []byte{0x30, 1}; return r }},
		{"garbage_public", func(t *testing.T) storage.SigningKey { r := good(t, EdDSA, ed); r.Public = []byte{0x30, 1}; return r }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := memory.New()
			if err := store.AddSigningKey(ctx, c.rec(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: newClock().Now}); err == nil {
				t.Fatal("NewKeySet loaded the record")
			}
		})
	}
}

// TestKeySetAddAndRotate covers importing keys and forced rotation: a key
// added to an empty set signs at once; one added beside an active key is
// published and signs PublishAhead later; Rotate does the same with a new
// key and is idempotent while a key is pending.
func TestKeySetAddAndRotate(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := memory.New()
	k1, k2, k3 := fixedKey(t, EdDSA, 0), fixedKey(t, ES256, 0), fixedKey(t, EdDSA, 2)
	// Generate is called only by Rotate here: Add supplies the first key.
	var empty bool
	ks, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: clk.Now, Generate: func(Algorithm) (crypto.Signer, error) {
		if !empty {
			empty = true
			return k1, nil
		}
		return k3, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	kid1, _ := thumbprint(k1.Public())
	if got := ks.snap.Load().signing(clk.Now()); got == nil || got.id != kid1 {
		t.Fatalf("first key does not sign")
	}
	kid2, err := ks.Add(ctx, k2, ES256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Add(ctx, k2, ES256); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("adding a key twice: %v, want ErrExists", err)
	}
	if _, err := ks.Add(ctx, fixedKey(t, EdDSA, 3), RS256); err == nil {
		t.Fatal("Add accepted an Ed25519 key for RS256")
	}
	if got := ks.snap.Load().signing(clk.Now()).id; got != kid1 {
		t.Fatalf("added key signs before it was published long enough")
	}
	if _, ok := keysFromJWKS(t, ks.JWKS())[kid2]; !ok {
		t.Fatal("added key is not published")
	}
	pending, err := ks.Rotate(ctx)
	if err != nil || pending != kid2 {
		t.Fatalf("Rotate with a pending key = %q, %v; want %q", pending, err, kid2)
	}
	clk.Add(DefaultPublishAhead)
	if got := ks.snap.Load().signing(clk.Now()).id; got != kid2 {
		t.Fatalf("added key does not sign after PublishAhead")
	}
	if err := ks.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	kid3, err := ks.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := thumbprint(k3.Public()); kid3 != want {
		t.Fatalf("Rotate = %q, want the generated key %q", kid3, want)
	}
	recs, _ := store.SigningKeys(ctx)
	for _, r := range recs {
		if r.ID == kid2 && !r.NotAfter.Equal(clk.Now().Add(DefaultPublishAhead)) {
			t.Errorf("active key retires at %v, want when the rotated key starts", r.NotAfter)
		}
	}

	ro, err := NewKeySet(ctx, KeySetConfig{Store: store, VerifyOnly: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Rotate(ctx); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("Rotate on a verify-only set: %v", err)
	}
	if _, err := ro.Add(ctx, k3, EdDSA); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("Add on a verify-only set: %v", err)
	}
}

// staleView is a store whose next SigningKeys call answers as if it were
// still empty: the read of a process that raced another one.
type staleView struct {
	*memory.Store
	stale atomic.Bool
}

func (s *staleView) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	if s.stale.Swap(false) {
		return nil, nil
	}
	return s.Store.SigningKeys(ctx)
}

// TestTwoProcessesConverge starts two signing processes on one empty store
// at the same instant: each generates a first key. After a refresh both sign
// with the same one, the other is retired (not deleted), and the tokens it
// signed stay valid.
func TestTwoProcessesConverge(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	mem := memory.New()
	ka, kb := fixedKey(t, EdDSA, 0), fixedKey(t, EdDSA, 1)
	a, err := NewKeySet(ctx, KeySetConfig{Store: mem, Now: clk.Now, Generate: fixedGenerate(t, ka)})
	if err != nil {
		t.Fatal(err)
	}
	issA, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: a, Now: clk.Now})
	tokA, _, err := issA.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	// B's first read misses A's key, so B generates its own.
	view := &staleView{Store: mem}
	view.stale.Store(true)
	b, err := NewKeySet(ctx, KeySetConfig{Store: view, Now: clk.Now, Generate: fixedGenerate(t, kb)})
	if err != nil {
		t.Fatal(err)
	}
	issB, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: b, Now: clk.Now})
	tokB, _, err := issB.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.snap.Load().signing(clk.Now()), b.snap.Load().signing(clk.Now())
	if sa == nil || sb == nil || sa.id != sb.id {
		t.Fatal("the two processes sign with different keys after a refresh")
	}
	recs, _ := mem.SigningKeys(ctx)
	if len(recs) != 2 {
		t.Fatalf("store holds %d keys, want 2", len(recs))
	}
	for _, r := range recs {
		// The loser stops now and stays published for retention plus
		// PublishAhead, the bound on how long a process that has not
		// refreshed yet may still sign with it.
		if r.ID != sa.id && (!r.NotAfter.Equal(clk.Now()) || !r.ExpiresAt.Equal(clk.Now().Add(retention+DefaultPublishAhead))) {
			t.Errorf("losing key schedule: NotAfter %v ExpiresAt %v", r.NotAfter, r.ExpiresAt)
		}
	}
	for name, ks := range map[string]*KeySet{"A": a, "B": b} {
		v, _ := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: ks, Algorithms: []Algorithm{EdDSA}, Now: clk.Now})
		for tn, tok := range map[string]string{"A": tokA, "B": tokB} {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Errorf("process %s refused the token of process %s: %v", name, tn, err)
			}
		}
	}
}

// TestUnknownKidReload: a key added by another process after this one
// loaded is found by reloading on the first token that names it, however
// recently this process loaded (processes started together each generate a
// first key); reloads for unknown kids are rate-limited, and a failing
// store is reported as an unknown key.
func TestUnknownKidReload(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newFaultyStore()
	// The verifying process loads the store before any key exists...
	verifierKeys, err := NewKeySet(ctx, KeySetConfig{Store: store, VerifyOnly: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: verifierKeys, Algorithms: []Algorithm{EdDSA}, Now: clk.Now})
	// ...then the signing process creates the first key and mints.
	signer, err := NewKeySet(ctx, KeySetConfig{Store: store, Now: clk.Now, Generate: fixedGenerate(t, fixedKey(t, EdDSA, 0))})
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: signer, Now: clk.Now})
	tok, _, err := iss.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	// On the verifier's clock no time has passed since its own load, and
	// still the unknown kid is reloaded for, and found.
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify of a key added after the last load = %v, want it found", err)
	}

	// A key the shared store does not hold yet: the reload for it uses up
	// the interval, so once the key is added, it is not looked for again
	// until the interval has passed.
	other := newFaultyStore()
	signer2, err := NewKeySet(ctx, KeySetConfig{Store: other, Now: clk.Now, Generate: fixedGenerate(t, fixedKey(t, EdDSA, 1))})
	if err != nil {
		t.Fatal(err)
	}
	iss2, _ := NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: []string{testAudience}, Keys: signer2, Now: clk.Now})
	tok2, _, err := iss2.Mint(ctx, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Verify of a key the store does not hold = %v, want ErrUnknownKey", err)
	}
	recs, err := other.SigningKeys(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("the other store's keys: %v, %v", recs, err)
	}
	if err := store.AddSigningKey(ctx, recs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid again inside the interval = %v, want ErrUnknownKey (no reload)", err)
	}
	clk.Add(unknownKidReload)
	// A failing store is reported as an unknown key, not a crash, and uses
	// up the interval too.
	store.set("SigningKeys", true)
	if _, err := v.Verify(ctx, tok2); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, errInjected) {
		t.Fatalf("Verify with failing reload = %v", err)
	}
	store.set("SigningKeys", false)
	if _, err := v.Verify(ctx, tok2); !errors.Is(err, ErrUnknownKey) || errors.Is(err, errInjected) {
		t.Fatalf("second reload inside the interval: %v", err)
	}
	clk.Add(unknownKidReload)
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatalf("Verify after the interval = %v", err)
	}
}

func TestKeySetRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	store := newFaultyStore()
	ks, err := NewKeySet(ctx, KeySetConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	store.set("SigningKeys", true)
	errs := make(chan error, 1)
	done := make(chan error)
	go func() {
		done <- ks.Run(ctx, time.Millisecond, func(err error) {
			select {
			case errs <- err:
			default:
			}
		})
	}()
	if err := <-errs; !errors.Is(err, errInjected) {
		t.Fatalf("Run reported %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if err := ks.Run(context.Background(), 0, nil); err == nil {
		t.Fatal("Run accepted a zero interval")
	}
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			if alg == RS256 || alg == PS256 {
				if testing.Short() {
					t.Skip("RSA key generation is slow")
				}
			}
			k, err := GenerateKey(alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkPublicKey(alg, k.Public()); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("ed25519_from_rand", func(t *testing.T) {
		seed := bytes.Repeat([]byte{9}, ed25519.SeedSize)
		k, err := GenerateKey(EdDSA, bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		if !k.(ed25519.PrivateKey).Equal(ed25519.NewKeyFromSeed(seed)) {
			t.Fatal("Ed25519 key is not derived from Rand")
		}
	})
	t.Run("unsupported", func(t *testing.T) {
		if _, err := GenerateKey("HS256", nil); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Fatalf("GenerateKey(HS256) = %v", err)
		}
	})
}

func mustRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(nil, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
