package history

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// problem is one place where the recorded history is not what kaas wrote.
type problem struct {
	clusterID string
	seq       uint64
	kind      string
	detail    string
}

// Kinds of problem.
const (
	problemMissing   = "missing"   // the cluster's first events are gone
	problemBroken    = "broken"    // the event this one chained to was changed or removed
	problemReordered = "reordered" // this event chains to one that is not its predecessor
	problemHead      = "head"      // the cluster's newest event is not the one kaas last read
)

// verifier walks events in stream order and checks each cluster's hash chain: every event
// names the hash of the cluster's previous event as stored. It needs no key: it proves that
// the history it reads is the one kaas appended, in its order, without gaps, up to the head
// a trusted reader (the live views) last saw.
type verifier struct {
	heads    map[string]head              // per cluster: the last event read
	seen     map[string]map[string]uint64 // per cluster: hash → sequence of every event read
	events   int
	problems []problem
}

type head struct {
	seq  uint64
	hash string
}

// newVerifier returns an empty verifier.
func newVerifier() *verifier {
	return &verifier{heads: map[string]head{}, seen: map[string]map[string]uint64{}}
}

// add checks the next event of the stream.
func (v *verifier) add(r Record) {
	v.events++
	id := r.Envelope.ClusterID
	prev, known := v.heads[id]
	if v.seen[id] == nil {
		v.seen[id] = map[string]uint64{}
	}
	want := r.Envelope.PrevHash
	switch {
	case want == prev.hash:
		// In order.
	case !known:
		v.report(id, r.Seq, problemMissing, "the cluster's first events are gone: this one chains to %.12s…", want)
	case want == "":
		v.report(id, r.Seq, problemReordered, "a first event after event %d", prev.seq)
	default:
		if at, ok := v.seen[id][want]; ok {
			v.report(id, r.Seq, problemReordered, "it chains to event %d, but event %d came in between", at, prev.seq)
		} else {
			v.report(id, r.Seq, problemBroken, "it chains to an event no longer in the stream: the one after event %d was changed or removed", prev.seq)
		}
	}
	h := r.Hash()
	v.heads[id] = head{r.Seq, h}
	v.seen[id][h] = r.Seq
}

// checkHead checks that the event a trusted reader last saw as a cluster's newest is still in
// the stream, unchanged, at its sequence. Events appended since are no problem.
func (v *verifier) checkHead(clusterID string, seq uint64, hash string) {
	if at, ok := v.seen[clusterID][hash]; ok && at == seq {
		return
	}
	got, ok := v.heads[clusterID]
	switch {
	case !ok:
		v.report(clusterID, seq, problemHead, "the cluster's events are all gone")
	case got.seq < seq:
		v.report(clusterID, seq, problemHead, "the stream ends at event %d, before event %d that kaas read", got.seq, seq)
	default:
		v.report(clusterID, seq, problemHead, "event %d that kaas read was changed or removed", seq)
	}
}

func (v *verifier) report(clusterID string, seq uint64, kind, format string, args ...any) {
	v.problems = append(v.problems, problem{clusterID: clusterID, seq: seq, kind: kind, detail: fmt.Sprintf(format, args...)})
}

// result returns what was checked and what was found.
func (v *verifier) result() (clusters, events int, problems []problem) {
	return len(v.heads), v.events, v.problems
}

// Verify walks every cluster's hash chain in the event stream and checks each chain's head
// against the one the live views read: a removed, changed or reordered event is reported
// with its cluster and sequence.
func (h *Reader) Verify(ctx context.Context) (cse.Verification, error) {
	heads := h.views.Heads() // before the scan: heads the scan will reach
	v := newVerifier()
	if err := h.src.Scan(ctx, Filter{Stream: events.EventStream}, func(r Record) bool {
		v.add(r)
		return true
	}); err != nil {
		return cse.Verification{}, fmt.Errorf("verify: %w", err)
	}
	ids := slices.Sorted(maps.Keys(heads))
	for _, id := range ids {
		v.checkHead(id, heads[id].Seq, heads[id].Hash)
	}
	clusters, n, problems := v.result()
	out := cse.Verification{Clusters: clusters, Events: n, OK: len(problems) == 0, Problems: []cse.ChainProblem{}}
	for _, p := range problems {
		out.Problems = append(out.Problems, cse.ChainProblem{ClusterID: cse.EntityID(p.clusterID), Seq: p.seq, Kind: p.kind, Detail: p.detail})
	}
	return out, nil
}
