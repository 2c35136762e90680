package memory_test

import (
	"testing"

	"github.com/keyturn/keyturn/storage/memory"
	"github.com/keyturn/keyturn/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Store { return memory.New() })
}
