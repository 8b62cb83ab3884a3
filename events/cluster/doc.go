// Package cluster is the cluster aggregate: the pure functions that say what a cluster's
// events mean (Apply), whether a command may run (Decide), which fields a tenant may change
// (Change), and what an operation in progress must do next (Plan).
//
// Nothing here does I/O or reads the clock: time comes in with the events and as an
// argument. The executors drive VCD from Plan and record what happened; the projector folds
// the same events with the same Apply to build its views; the ingress runs Decide and Change
// on the view's state to refuse a bad request before it is accepted. One set of rules, used
// everywhere, so the three can never disagree.
package cluster
