package memstore_test

import (
	"testing"

	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/events/store/storetest"
)

// TestBlobs runs the blob bucket conformance suite, a new store per case.
func TestBlobs(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) store.Blobs {
		b, err := memstore.New(memstore.Config{}).Blobs(t.Context(), store.BlobConfig{Bucket: "TEST"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
