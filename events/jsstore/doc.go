// Package jsstore keeps kaas's commands and events in NATS JetStream, the source of truth.
//
// Commands go to the KAAS_COMMANDS stream, one subject per cluster, with the command id
// (which the ingress derives from the VCD request id scoped to its caller and route) as
// Nats-Msg-Id, so that a redelivered request appends nothing new. Events go to the
// KAAS_EVENTS stream, one subject per cluster, each append guarded by
// Nats-Expected-Last-Subject-Sequence (optimistic concurrency) and Nats-Msg-Id (dedupe).
// A conflict is told apart from a duplicate of our own earlier append by reading the
// subject's last message, as jetstream.md §1.3 prescribes: on a single-replica stream the
// server checks the expected sequence before the dedupe window.
//
// Streams are declared idempotently at start and deny delete and purge: history is never
// rewritten. Secrets (kubeconfigs, join commands) live apart, sealed with AES-GCM, in a key
// value bucket; events only name them.
//
// New refuses a nats-server older than 2.12: older servers silently ignore features kaas
// relies on.
package jsstore
