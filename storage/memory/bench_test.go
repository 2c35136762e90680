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

func BenchmarkRevocation(b *testing.B) {
	s, ids := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Revocation(ctx, storage.RevokedToken, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRevocationMiss is the common case on the verification path: the
// token is not revoked.
func BenchmarkRevocationMiss(b *testing.B) {
	s, ids := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Revocation(ctx, storage.RevokedClient, ids[i%len(ids)]); err == nil {
			b.Fatal("found a revocation that was never added")
		}
		i++
	}
}
