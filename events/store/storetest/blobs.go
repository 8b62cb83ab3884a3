package storetest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"testing"

	"github.com/kaasproject/kaas/events/store"
)

// RunBlobs runs the blob bucket conformance suite; open returns a new, empty bucket each
// call.
func RunBlobs(t *testing.T, open func(t *testing.T) store.Blobs) {
	big := make([]byte, 3<<20+17) // several of JetStream's chunks, and a part of one
	_, _ = rand.Read(big)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, b store.Blobs)
	}{
		{"GetMissing", func(t *testing.T, b store.Blobs) {
			if _, err := b.Get(t.Context(), "nothing"); !errors.Is(err, store.ErrNoBlob) {
				t.Fatalf("get of a missing blob: %v", err)
			}
		}},
		{"PutGetLarge", func(t *testing.T, b store.Blobs) {
			if err := b.Put(t.Context(), "big", big); err != nil {
				t.Fatal(err)
			}
			got, err := b.Get(t.Context(), "big")
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("get: %d bytes, %v", len(got), err)
			}
		}},
		{"Replace", func(t *testing.T, b store.Blobs) {
			for _, v := range [][]byte{big, []byte("small")} {
				if err := b.Put(t.Context(), "x", v); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := b.Get(t.Context(), "x"); err != nil || string(got) != "small" {
				t.Fatalf("get after a replace: %q %v", got, err)
			}
		}},
		{"ListDelete", func(t *testing.T, b store.Blobs) {
			for _, n := range []string{"views-1", "views-2", "views-3"} {
				if err := b.Put(t.Context(), n, []byte(n)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Delete(t.Context(), "views-2"); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(t.Context(), "never"); err != nil {
				t.Fatalf("delete of a missing blob: %v", err)
			}
			list, err := b.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, i := range list {
				names = append(names, i.Name)
				if i.Size != uint64(len(i.Name)) || i.Modified.IsZero() {
					t.Errorf("listed %+v", i)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"views-1", "views-3"}) {
				t.Fatalf("listed %v", names)
			}
			if _, err := b.Get(t.Context(), "views-2"); !errors.Is(err, store.ErrNoBlob) {
				t.Fatalf("get of a deleted blob: %v", err)
			}
		}},
		{"ListEmpty", func(t *testing.T, b store.Blobs) {
			if list, err := b.List(t.Context()); err != nil || len(list) != 0 {
				t.Fatalf("list of an empty bucket: %v %v", list, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}
