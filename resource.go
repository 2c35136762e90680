package keyturn

import (
	"net/http"
	"slices"

	"github.com/keyturn/keyturn/internal/oauthreq"
	"github.com/keyturn/keyturn/keys"
)

// Resource indicators (RFC 8707; TOK-50…53).
//
// The Endpoint issues tokens for its resources: the Issuer's audience and
// EndpointConfig.Resources. A token request may name some of them with
// resource parameters (repeatable); the token's aud is then those, in the
// order given, without repeats. Without resource, aud is the Issuer's
// audience, as before.

// errInvalidTarget is the 400 of a resource the Endpoint does not issue
// tokens for, or the client may not ask for. Its description names no
// resource.
func errInvalidTarget(desc string) *oauthreq.Error {
	return &oauthreq.Error{Status: http.StatusBadRequest, Code: oauthreq.InvalidTarget, Description: desc}
}

// requestedResources checks the resource parameters of a token request,
// before the client is authenticated: each must be an absolute URI without
// fragment (TOK-50) and one of the Endpoint's resources (TOK-51). It
// returns them without repeats; nil when there were none, which
// EndpointConfig.ResourceRequired refuses (TOK-53).
func (e *Endpoint) requestedResources(rs []string) ([]string, *oauthreq.Error) {
	if len(rs) == 0 {
		if e.resourceRequired {
			return nil, errInvalidTarget("a resource is required") // TOK-53
		}
		return nil, nil
	}
	var out []string
	for _, r := range rs {
		if keys.CheckResource(r) != nil {
			return nil, errInvalidTarget("a resource must be an absolute URI without fragment")
		}
		if !slices.Contains(e.resources, r) {
			return nil, errInvalidTarget("the resource is not one this server issues tokens for")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// clientResources checks that c may get tokens for every one of rs (all
// of the Endpoint's resources when c has no list of its own).
func clientResources(c Client, rs []string) *oauthreq.Error {
	if len(c.Resources) == 0 {
		return nil
	}
	for _, r := range rs {
		if !slices.Contains(c.Resources, r) {
			return errInvalidTarget("the client may not get tokens for the resource")
		}
	}
	return nil
}
