// Package queries answers reads from the projector's views in CSE's shapes: a cluster as a
// DefEntity, an org's clusters (as CSE's bare list or paged), an operation's progress, and
// the facts the ingress checks before it accepts a change. Reads never touch VCD or the
// streams: they are served from memory, which is what keeps every reply well inside VCD's
// extension timeout. Reads of the recorded history itself are package history's.
package queries
