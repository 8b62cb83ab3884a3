// Package mirror keeps VCD showing what kaas knows: every cluster as a VCD defined entity of
// CSE's type (cse:nativeCluster:2.1.0) and every operation as a VCD task, so that CSE's own
// clients, which read clusters from VCD and follow VCD tasks (cse-rde.md), and VCD's UI work
// with kaas as they did with CSE.
//
// The mirror is one more projection of the history, with side effects in VCD. It comes
// after the queries in the flow and is never on the request path:
//
//   - A follower reads KAAS_COMMANDS and KAAS_EVENTS from the position recorded in the
//     KAAS_VCD_MIRROR bucket and marks the clusters and operations each record touches
//     dirty. A mark is stored in the bucket before the position moves past its record, so
//     that no update is lost across a restart.
//   - Workers reconcile each dirty item, level-triggered, once the projector's views have
//     reached the records that marked it: the desired state is what the queries render (the
//     same render the /api/cse routes use), the actual state is read from VCD, and VCD is
//     made to match. A mark is removed only after VCD matched; an item that keeps failing
//     backs off without holding up the others.
//   - Links (cluster id ↔ VCD entity id, operation id → VCD task id) are recorded in the
//     bucket once VCD made the object, and an intent before it is asked to, so that after a
//     crash between the two the object is found again (by entity.status.kaas.clusterId, or
//     by the operation id in the task's operation text) instead of made twice.
//   - A periodic resync re-reads every live cluster's entity and puts back what was changed
//     behind kaas's back, and removes entities of clusters kaas no longer has.
//
// One instance mirrors at a time (a lease in the bucket), so that several kaasd behave as
// one. The links are read by every instance from memory (the bucket is watched), for the
// ingress and the queries: once linked, responses show the VCD entity URN as the cluster's
// id and the VCD task as status.taskHref, and both kinds of id work on every route.
//
// VCD is reached through the VCD interface; package mirror/vcdclient implements it on
// go-vcloud-director. The streams and the bucket are reached through the Store interface,
// which events/jsstore implements on JetStream and events/memstore in memory.
package mirror
