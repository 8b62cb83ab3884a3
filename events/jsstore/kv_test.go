package jsstore_test

import (
	"fmt"
	"testing"

	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/events/store/storetest"
)

// TestKV runs the key-value conformance suite on one nats-server, a new bucket per case.
func TestKV(t *testing.T) {
	st, _ := natstest.Store(t)
	storetest.RunKV(t, newBuckets(st))
}

// TestKVR3 runs the reads and conditional writes of the suite (what the ingress's name
// claims and the executors' leases stand on) on a three-node cluster with three replicas of
// each bucket, whose gets go to the leader: a follower could answer one without a write
// just made. Keys and Watch are left out: their consumers may sit on a follower a few
// milliseconds behind, so on three replicas what they list right after a write shows a
// moment later, not at once.
func TestKVR3(t *testing.T) {
	st, _ := natstest.ClusterStore(t, 3)
	storetest.RunKV(t, newBuckets(st), storetest.Only("GetMissing", "PutGet", "RevisionsAcrossKeys", "Create", "CreateRace", "Update", "Delete", "InvalidKey"))
}

// newBuckets opens a new bucket on st for each case.
func newBuckets(st *jsstore.Store) func(t *testing.T) store.KV {
	n := 0
	return func(t *testing.T) store.KV {
		n++
		kv, err := st.KeyValue(t.Context(), store.KVConfig{Bucket: fmt.Sprintf("TEST_%d", n), Description: "conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	}
}
