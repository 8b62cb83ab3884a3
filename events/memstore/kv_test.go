package memstore_test

import (
	"testing"

	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/events/store/storetest"
)

// TestKV runs the key-value conformance suite, a new store per case. (The mirror's tests run
// the buckets in synctest bubbles; the suite's subtests cannot run inside one.)
func TestKV(t *testing.T) {
	storetest.RunKV(t, func(t *testing.T) store.KV {
		kv, err := memstore.New(memstore.Config{}).KeyValue(t.Context(), store.KVConfig{Bucket: "TEST"})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}
