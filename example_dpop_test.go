package keyturn_test

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/token/dpop"
)

// A host tests its handler with a DPoP-bound token: the proof goes with
// every request, and the same token as a bearer token is refused.
func ExampleTestServer_DPoPToken() {
	t := &exampleT{} // in a test: the *testing.T

	ts := keyturn.NewTestServer(t)
	staff := ts.Require("read:users")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the staff list")
	}))
	prover, err := dpop.NewProver(ed25519.NewKeyFromSeed([]byte("the client's key seed, 32 bytes!")))
	if err != nil {
		panic(err)
	}
	tok := ts.DPoPToken(t, "read:users", prover)

	send := func(scheme string, withProof bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/staff", nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		if withProof {
			// The resources of a TestServer are at TestIssuer's origin.
			proof, err := prover.Proof("GET", keyturn.TestIssuer+"/v1/staff", tok)
			if err != nil {
				panic(err)
			}
			req.Header.Set("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		staff.ServeHTTP(rec, req)
		return rec
	}
	fmt.Println("DPoP with a proof:", send("DPoP", true).Code)
	fmt.Println("DPoP without:", send("DPoP", false).Code)
	rec := send("Bearer", false)
	fmt.Println("as a bearer token:", rec.Code, rec.Header().Values("WWW-Authenticate")[1])
	// Output:
	// DPoP with a proof: 200
	// DPoP without: 401
	// as a bearer token: 401 DPoP realm="keyturn", error="invalid_token", error_description="a DPoP-bound access token must come with the DPoP scheme and a proof", algs="ES256 EdDSA Ed25519 PS256 RS256"
}
