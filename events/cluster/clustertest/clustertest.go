// Package clustertest is test support for the cluster aggregate's users: [Outcome] plays a
// flawless executor (package flawless, which kaas-bench links too).
package clustertest

import (
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cluster/flawless"
)

// Outcome returns the events a flawless executor records for the step planned on st.
func Outcome(st *cluster.State, step cluster.Step) []events.Payload {
	return flawless.Outcome(st, step)
}
