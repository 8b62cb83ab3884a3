package projector

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestOrdered checks the blocked sorted set against a plain sorted slice through inserts,
// repeated inserts and removals that split blocks and empty them.
func TestOrdered(t *testing.T) {
	for _, n := range []int{1, 2 * orderedBlock, 2*orderedBlock + 1, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			var o ordered
			var want []clusterKey
			check := func(step string) {
				t.Helper()
				if got := o.keys(); !slices.Equal(got, want) || o.len() != len(want) {
					t.Fatalf("%s: %d keys (len %d), want %d", step, len(got), o.len(), len(want))
				}
				for _, from := range []int{0, 1, orderedBlock - 1, orderedBlock, 2*orderedBlock + 1, len(want) - 1, len(want)} {
					if from < 0 {
						continue
					}
					var got []clusterKey
					o.each(from, func(k clusterKey) bool { got = append(got, k); return len(got) < 3 })
					if w := want[min(from, len(want)):min(from+3, len(want))]; !slices.Equal(got, w) {
						t.Fatalf("%s: from %d: %v, want %v", step, from, got, w)
					}
				}
			}
			for range n {
				k := clusterKey{fmt.Sprintf("c%d", r.IntN(n)), fmt.Sprint(r.IntN(3))}
				o.insert(k)
				if i, found := slices.BinarySearchFunc(want, k, clusterKey.compare); !found {
					want = slices.Insert(want, i, k)
				}
			}
			check("inserted")
			for _, k := range slices.Clone(want) {
				if r.IntN(3) == 0 {
					continue
				}
				o.remove(k)
				o.remove(k) // a second removal does nothing
				i, _ := slices.BinarySearchFunc(want, k, clusterKey.compare)
				want = slices.Delete(want, i, i+1)
			}
			o.remove(clusterKey{"not", "there"})
			check("removed")
		})
	}
}
