package keys_test

import (
	"context"
	"testing"

	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
)

// TestCreateDPoPBound: DPoPBound is stored with the key and comes back in
// every record: from Create, Get, List and Authenticate.
func TestCreateDPoPBound(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, bound := range []bool{true, false} {
		k, rec, err := f.m.Create(ctx, keys.CreateParams{Name: "c", Scope: scope.MustParse("read:users"), DPoPBound: bound}, admin)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.m.Get(ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		auth, err := f.m.Authenticate(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		list, err := f.m.List(ctx, "", keys.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, r := range list {
			if r.ID == rec.ID {
				listed = r.DPoPBound
			}
		}
		if rec.DPoPBound != bound || got.DPoPBound != bound || auth.DPoPBound != bound || listed != bound {
			t.Errorf("bound %v: create %v, get %v, authenticate %v, list %v", bound, rec.DPoPBound, got.DPoPBound, auth.DPoPBound, listed)
		}
	}
}
