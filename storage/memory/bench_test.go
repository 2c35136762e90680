package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
)

const benchRecords = 10_000

// benchStore returns a store holding benchRecords keys and as many
// revocations, and their IDs.
func benchStore(b *testing.B) (*memory.Store, []string) {
	b.Helper()
	ctx := context.Background()
	now := time.Date(2025, time.March, 14, 15, 0, 0, 0, time.UTC)
	s := memory.New()
	ids := make([]string, benchRecords)
	for i := range ids {
		ids[i] = fmt.Sprintf("k%015d", i*7919%benchRecords)
		err := s.CreateKey(ctx, storage.Key{
			ID:            ids[i],
			Name:          "bench key",
			Owner:         "user:bench",
			Scope:         []string{"read:users", "read:participants", "write:api_keys"},
			SecretHash:    make([]byte, 32),
			TokenLifetime: 15 * time.Minute,
			CreatedAt:     now,
		})
		if err != nil {
			b.Fatal(err)
		}
		err = s.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokedToken, ID: ids[i], RevokedAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

func BenchmarkKey(b *testing.B) {
	s, ids := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Key(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkKeyParallel(b *testing.B) {
	s, ids := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Key(ctx, ids[i%len(ids)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkRevocationsSince measures what token.Revocations asks of the
// store: a poll for revocations made since the last one (none, the common
// case) and a full reload.
func BenchmarkRevocationsSince(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		since time.Time
		want  int
	}{
		{"Poll", time.Date(2025, time.March, 14, 16, 0, 0, 0, time.UTC), 0},
		{"Full", time.Time{}, benchRecords},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				revs, err := s.RevocationsSince(ctx, tc.since, 0)
				if err != nil || len(revs) != tc.want {
					b.Fatalf("RevocationsSince = %d revocations, %v; want %d", len(revs), err, tc.want)
				}
			}
		})
	}
}
