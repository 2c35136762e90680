package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

func Example() {
	ctx := context.Background()
	now := time.Date(2025, time.March, 14, 15, 0, 0, 0, time.UTC)
	s := memory.New()

	// Key records are normally written by keys.Manager; here by hand.
	for _, id := range []string{"k2", "k1"} {
		err := s.CreateKey(ctx, storage.Key{
			ID:            id,
			Name:          "deploy bot " + id,
			Scope:         []string{"read:users", "write:api_keys"},
			SecretHash:    []byte("a keyed hash, never the secret"),
			TokenLifetime: 15 * time.Minute,
			CreatedAt:     now,
		})
		if err != nil {
			fmt.Println(err)
		}
	}
	err := s.CreateKey(ctx, storage.Key{ID: "k1"})
	fmt.Println("create again:", errors.Is(err, storage.ErrExists))

	// Revoke k1 and tell every process about it.
	if err := s.RevokeKey(ctx, "k1", now.Add(time.Hour)); err != nil {
		fmt.Println(err)
	}
	err = s.AddRevocation(ctx, storage.Revocation{
		Kind:      storage.RevokedClient,
		ID:        "k1",
		RevokedAt: now.Add(time.Hour),
		ExpiresAt: now.Add(time.Hour + 15*time.Minute), // the longest token lifetime
	})
	if err != nil {
		fmt.Println(err)
	}

	keys, err := s.Keys(ctx, "", 0)
	if err != nil {
		fmt.Println(err)
	}
	for _, k := range keys {
		fmt.Printf("%s %q revoked=%t\n", k.ID, k.Name, !k.RevokedAt.IsZero())
	}

	revs, err := s.RevocationsSince(ctx, now, 10)
	if err != nil {
		fmt.Println(err)
	}
	for _, r := range revs {
		fmt.Println(r.Kind, r.ID, r.RevokedAt.Format(time.RFC3339))
	}

	// Once no token of k1 can still be valid, the revocation may go.
	n, err := s.Sweep(ctx, now.Add(2*time.Hour))
	fmt.Println("swept:", n, err)
	revs, err = s.RevocationsSince(ctx, time.Time{}, 0)
	fmt.Println("revocations left:", len(revs), err)
	// Output:
	// create again: true
	// k1 "deploy bot k1" revoked=true
	// k2 "deploy bot k2" revoked=false
	// client k1 2025-03-14T16:00:00Z
	// swept: 1 <nil>
	// revocations left: 0 <nil>
}
