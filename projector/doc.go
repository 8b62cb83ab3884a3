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
package projector
