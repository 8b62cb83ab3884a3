package jsstore_test

import (
	"fmt"
	"testing"

	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/events/store/storetest"
)

// TestBlobs runs the blob bucket conformance suite on one nats-server, a new object store
// per case.
func TestBlobs(t *testing.T) {
	st, _ := natstest.Store(t)
	n := 0
	storetest.RunBlobs(t, func(t *testing.T) store.Blobs {
		n++
		b, err := st.Blobs(t.Context(), store.BlobConfig{Bucket: fmt.Sprintf("TEST_%d", n), Description: "conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
