package jsstore_test

import (
	"testing"

	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/events/store/storetest"
)

// The JetStream store passes the store conformance suite on a real nats-server (one per
// case), on the real clock.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		st, _ := natstest.Store(t)
		return st
	})
}
