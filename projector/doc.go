// Package projector folds the event stream into the views that answer queries: clusters by
// id and by org, and operations by id.
//
// Views live in memory and are disposable: each records the stream sequences it has
// reached, and Rebuild makes a fresh one from sequence 1 that must equal the live one. The
// projector reads KAAS_EVENTS, the source of truth, and also KAAS_COMMANDS, so that an
// operation accepted but not yet started is visible at once: a tenant's GET right after its
// own 202 sees the change. The fold is built so that the order in which the two streams
// interleave does not change the result, which is what makes a rebuild equal to the live
// view.
//
// So that a start does not fold the whole history again, the projector writes snapshots of
// its views to a blob bucket (snapshot.go, snapshots.go) and starts from the newest that
// fits the streams, folding only the records after it. A snapshot is a cache: one that is
// missing, corrupt, of another schema or build, or of another history is ignored and the
// views are rebuilt from sequence 1.
package projector
