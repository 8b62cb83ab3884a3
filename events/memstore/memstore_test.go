package memstore_test

import (
	"testing"

	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store/storetest"
)

// The memory store passes the store conformance suite, each case in a synctest bubble: its
// waits take no real time, and its consumer's timings are exact.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Store { return memstore.New(memstore.Config{}) }, storetest.Synctest())
}
