package dpop_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/keyturn/keyturn/token/dpop"
)

// A client makes a proof for a request to a protected resource, and the
// resource checks it: the proof's key thumbprint is what the access token
// must be bound to (its cnf.jkt).
func Example() {
	key := ed25519.NewKeyFromSeed([]byte("an example key seed of 32 bytes!"))
	clock := func() time.Time { return time.Unix(1_800_000_000, 0) }

	prover, err := dpop.NewProver(key)
	if err != nil {
		panic(err)
	}
	prover.Now = clock
	const accessToken = "an-access-token"
	proof, err := prover.Proof("GET", "https://api.example/v1/staff?page=2", accessToken)
	if err != nil {
		panic(err)
	}

	v, err := dpop.NewVerifier(dpop.Config{Algorithms: dpop.DefaultAlgorithms(), Now: clock})
	if err != nil {
		panic(err)
	}
	p, err := v.Verify(context.Background(), proof, "GET", "https://API.example:443/v1/staff", accessToken)
	fmt.Println("accepted:", err == nil)
	fmt.Println("bound to the prover's key:", p.JKT == prover.Thumbprint())
	_, err = v.Verify(context.Background(), proof, "GET", "https://api.example/v1/staff", accessToken)
	fmt.Println("replay:", err)
	// Output:
	// accepted: true
	// bound to the prover's key: true
	// replay: keyturn/dpop: invalid DPoP proof: the proof was used before
}
