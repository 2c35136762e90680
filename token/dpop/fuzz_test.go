package dpop

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/internal/costtest"
)

// checkCost bounds what checking one proof may allocate: 48 bytes per byte
// of proof (base64 decoding, the JSON reader's tokens and raw values, the
// jwk's members) and 32 KiB whatever the proof (an RSA key and its
// signature check take some 10 KiB).
var checkCost = costtest.Bound{PerByte: 48, Fixed: 32 << 10}

// fuzzNonceSecret keys the nonces of the fuzz verifier, so that the seed
// proofs in testdata/fuzz/FuzzCheck stay valid.
var fuzzNonceSecret = []byte("keyturn FuzzCheck nonce secret!!")

// fuzzURL and fuzzToken are the request every fuzzed proof is checked for.
const (
	fuzzURL   = "https://rs.test/v1/staff"
	fuzzToken = "fuzz-access-token"
)

// FuzzCheck feeds arbitrary proofs to Check, starting from valid ones for
// each algorithm. Properties: no panic; an error wraps ErrInvalidProof or
// is ErrUseNonce, and never holds the proof; an accepted proof's JKT is
// the thumbprint of a well-formed key, Check accepts it again (it
// remembers nothing) but Use only once; checking allocates within
// checkCost (measured cheaply, confirmed precisely only when it seems
// exceeded: see costtest.Bound.Check).
func FuzzCheck(f *testing.F) {
	v, err := NewVerifier(Config{Algorithms: DefaultAlgorithms(), Nonce: true, NonceSecret: fuzzNonceSecret,
		Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	for _, key := range []crypto.Signer{edKey, ecKey, rsaKey} {
		p, err := NewProver(key)
		if err != nil {
			f.Fatal(err)
		}
		p.Now = func() time.Time { return t0 }
		p.SetNonce(v.Nonce())
		proof, err := p.Proof("GET", fuzzURL, fuzzToken)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(proof)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		var p Proof
		var err error
		if cost, ok := checkCost.Check(len(proof), func() func() {
			return func() { p, err = v.Check(proof, "GET", fuzzURL, fuzzToken) }
		}); !ok {
			t.Fatalf("checking a proof of %d bytes allocated %s, over %d bytes", len(proof), cost, checkCost.Bytes(len(proof)))
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidProof) && !errors.Is(err, ErrUseNonce) {
				t.Fatalf("error %v wraps neither ErrInvalidProof nor ErrUseNonce", err)
			}
			if len(proof) >= 8 && strings.Contains(err.Error(), proof) {
				t.Fatal("the error holds the proof")
			}
			return
		}
		if len(p.JKT) != 43 {
			t.Fatalf("JKT %q is not a SHA-256 thumbprint", p.JKT)
		}
		if p2, err := v.Check(proof, "GET", fuzzURL, fuzzToken); err != nil || p2 != p {
			t.Fatalf("second Check: %v", err)
		}
		ctx := context.Background()
		if err := v.Use(ctx, p); err != nil && !errors.Is(err, ErrReplayed) {
			t.Fatal(err) // replayed: the fuzzer tried this proof before
		}
		if err := v.Use(ctx, p); !errors.Is(err, ErrReplayed) {
			t.Fatalf("second Use: %v, want ErrReplayed", err)
		}
	})
}
