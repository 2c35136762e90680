package sqlstore_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/storage/sqlstore"
)

// TestInitSettingAcrossHandles races the first InitSetting of one name
// through four *sql.DB handles, as four processes starting at once on an
// empty database would: exactly one value is stored, and every caller gets
// it back.
func TestInitSettingAcrossHandles(t *testing.T) {
	const handles, perHandle = 4, 4
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			first, _ := d.store(t)
			stores := []*sqlstore.Store{first}
			for range handles - 1 {
				stores = append(stores, newStore(t, d.open(t), d.dialect))
			}
			for round := range 3 {
				name := fmt.Sprintf("race-%d", round)
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					seen [][]byte
				)
				start := make(chan struct{})
				for h, s := range stores {
					for i := range perHandle {
						wg.Go(func() {
							<-start
							v, err := s.InitSetting(t.Context(), name, fmt.Appendf(nil, "h%d-%d", h, i))
							if err != nil {
								t.Errorf("InitSetting: %v", err)
								return
							}
							mu.Lock()
							seen = append(seen, v)
							mu.Unlock()
						})
					}
				}
				close(start)
				wg.Wait()
				for _, v := range seen {
					if !bytes.Equal(v, seen[0]) {
						t.Fatalf("callers got %q and %q", seen[0], v)
					}
				}
			}
		})
	}
}
