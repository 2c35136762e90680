package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/sqlstore"
)

// benchRecords is how many keys and revocations the benchmark databases hold.
const benchRecords = 1000

// benchStore returns a migrated store on b's backend holding benchRecords
// keys and token revocations.
func benchStore(b *testing.B, be backend) *sqlstore.Store {
	b.Helper()
	s, _ := be.fresh(b).store(b)
	ctx := b.Context()
	for i := range benchRecords {
		k := concKey(i%writers, i)
		k.ID = fmt.Sprintf("key-%05d", i) // as benchIDs("key-")
		if err := s.CreateKey(ctx, k); err != nil {
			b.Fatal(err)
		}
		r := storage.Revocation{Kind: storage.RevokedToken, ID: fmt.Sprintf("jti-%05d", i), RevokedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := s.AddRevocation(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// benchIDs returns the identifiers prefix00000, prefix00001, …, made before
// a benchmark's loop so that it measures only the lookup.
func benchIDs(prefix string) []string {
	ids := make([]string, benchRecords)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return ids
}

// BenchmarkKey measures the token endpoint's lookup: a key by its id.
func BenchmarkKey(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := benchStore(b, be)
			ids := benchIDs("key-")
			ctx := b.Context()
			i := 0
			for b.Loop() {
				if _, err := s.Key(ctx, ids[i%benchRecords]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRevocationsSince measures what token.Revocations asks of the
// store: a poll for revocations made since the last one (none, the common
// case) and a full reload.
func BenchmarkRevocationsSince(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := benchStore(b, be)
			for _, tc := range []struct {
				name  string
				since time.Time
				want  int
			}{
				{"Poll", t0.Add(time.Minute), 0},
				{"Full", time.Time{}, benchRecords},
			} {
				b.Run(tc.name, func(b *testing.B) {
					ctx := b.Context()
					for b.Loop() {
						revs, err := s.RevocationsSince(ctx, tc.since, 0)
						if err != nil || len(revs) != tc.want {
							b.Fatalf("RevocationsSince = %d revocations, %v; want %d", len(revs), err, tc.want)
						}
					}
				})
			}
		})
	}
}
