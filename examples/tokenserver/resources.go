package main

import (
	"fmt"
	"strings"
)

// resourceFlag is -resource: resource indicators (RFC 8707) the server
// issues tokens for besides -audience. It may be given several times, and
// each value (so KEYTURN_RESOURCE too) may hold several URIs separated by
// commas. keyturn.New checks them.
type resourceFlag []string

func (r *resourceFlag) String() string { return strings.Join(*r, ",") }

func (r *resourceFlag) Set(v string) error {
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u == "" {
			return fmt.Errorf("an empty resource")
		}
		*r = append(*r, u)
	}
	return nil
}
