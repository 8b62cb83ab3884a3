// Package queries answers reads from the projector's views in CSE's shapes: a cluster as a
// DefEntity, an org's clusters (as CSE's bare list or paged), an operation's progress, and
// the facts the ingress checks before it accepts a change. Reads never touch VCD, and but for
// the history (history.go, audit.go, verify.go: a cluster's events, as-of, audit and verify,
// which read the recorded history through a HistoryReader deploy adapts the store to) never
// the streams: they are served from memory, which is what keeps
// every reply well inside VCD's extension timeout.
package queries
