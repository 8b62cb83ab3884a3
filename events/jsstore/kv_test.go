package jsstore_test

import (
	"fmt"
	"testing"

	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/events/store/storetest"
)

// TestKV runs the key-value conformance suite on one nats-server, a new bucket per case.
func TestKV(t *testing.T) {
	st, _ := natstest.Store(t)
	n := 0
	storetest.RunKV(t, func(t *testing.T) store.KV {
		n++
		kv, err := st.KeyValue(t.Context(), store.KVConfig{Bucket: fmt.Sprintf("TEST_%d", n), Description: "conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}
