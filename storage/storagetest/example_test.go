package storagetest_test

import (
	"testing"

	"github.com/keyturn/keyturn/storage"
	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/storage/storagetest"
)

// revocationsOnly stands for a host store that implements only some of the
// role interfaces, here only storage.RevocationStore.
type revocationsOnly struct{ s *memory.Store }

func (r revocationsOnly) store() storage.RevocationStore { return r.s }

// testHostStore is what a host writes in its store's package, as
// func TestConformance(t *testing.T): a full store runs Run, a partial one
// the Test function of each interface it implements.
func testHostStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Store {
		return memory.New() // a fresh, empty store per subtest
	})
	storagetest.TestRevocationStore(t, func(t *testing.T) storage.RevocationStore {
		return revocationsOnly{memory.New()}.store()
	})
}

// This example is compiled, not run: the suite needs the *testing.T of a
// real test.
func Example() {
	_ = testHostStore
}
