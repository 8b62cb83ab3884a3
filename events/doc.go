// Package events is the vocabulary of kaas: the commands tenants send, the events executors
// record, the envelope both travel in, their codec, and the JetStream subject names.
//
// A command is a request to change one cluster (CreateCluster, ScaleWorkers, …); it is
// imperative and may be refused. An event is a fact, named in the past tense
// (ClusterCreationStarted, NodeJoined, …); events are never changed or deleted, and the
// stream of a cluster's events is the only source of truth about it.
//
// Every envelope carries who asked (the VCD user URN), for which org, when, which command
// caused it and which VCD request started it all, so that one request can be followed end to
// end. Each event also carries the hash of the previous event of the same cluster, so that a
// cluster's history can be verified as a chain.
//
// Payload types are registered in a fixed table with a schema version. Decoding a type that
// is not in the table fails with [ErrUnknownType]; a schema change adds a version and an
// upcaster, never an edit of old history. Every type is at version 1 so far. Old history is
// kept honest twice: testdata holds one record of every type at its current version (a
// change to a payload's JSON fails TestGolden), and deploy/kaasd/testdata/history holds
// whole streams recorded by a running kaasd, which every test run replays into the views
// recorded with them (TestRecordedHistoriesReplay); a new version records a new history
// beside the old ones.
//
// Records exactly as Marshal writes them are read by a hand-written decoder (codec_fast.go),
// because replaying history is mostly decoding; anything else goes through encoding/json.
// FuzzUnmarshal checks the two agree, and TestFastDecodeEveryField fails when a payload
// field has no line in its type's decode method.
//
// This package imports nothing of kaas and does no I/O.
package events
