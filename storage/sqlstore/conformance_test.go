package sqlstore_test

import (
	"testing"

	"github.com/keyturn/keyturn/storage/storagetest"
)

// TestConformance runs the storage conformance suite against each database,
// every subtest on a fresh database (a new SQLite file, a new PostgreSQL
// schema).
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.fresh(t) // skips here, once, when the database is not configured
			storagetest.Run(t, func(t *testing.T) storagetest.Store {
				s, _ := b.fresh(t).store(t)
				return s
			})
		})
	}
}
