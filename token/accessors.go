package token

import "slices"

// Identifier returns the issuer identifier the Issuer puts in iss.
func (i *Issuer) Identifier() string { return i.issuer }

// Audience returns a copy of the Issuer's default audience.
func (i *Issuer) Audience() []string { return slices.Clone(i.audience) }

// Issuer returns the iss a token must carry to verify.
func (v *Verifier) Issuer() string { return v.issuer }

// Audience returns the audience a token's aud must contain to verify.
func (v *Verifier) Audience() string { return v.audience }

// Revocations returns the revocation view the Verifier consults, or nil
// when it checks none.
func (v *Verifier) Revocations() *Revocations { return v.revocations }
