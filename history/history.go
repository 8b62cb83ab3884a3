// Package history answers reads of the recorded history, the one read side that reads the
// stored streams rather than the views: a cluster's events, a cluster as it was at a past
// moment, the audit across clusters and orgs, and the verification of every cluster's hash
// chain. It reads through a Source of its own, with records of its own, which deploy adapts
// the store to; the views say who may read what and where the chains' heads are.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
)

// Source reads the recorded history; deploy adapts the store to it.
type Source interface {
	// Load returns a cluster's events with a stream sequence above afterSeq, in order.
	Load(ctx context.Context, clusterID string, afterSeq uint64) ([]Record, error)
	// Scan reads a stream in order, from the start (or as the filter says) to the last
	// record stored when the scan began, calling fn for each record until fn returns false.
	Scan(ctx context.Context, f Filter, fn func(Record) bool) error
}

// Ranger is what a Source may also do: load a cluster's events up to a sequence known to
// be its last, without looking past it.
type Ranger interface {
	LoadRange(ctx context.Context, clusterID string, afterSeq, lastSeq uint64) ([]Record, error)
}

// Renderer renders a cluster view as the API shows a cluster (package queries does).
type Renderer interface {
	Entity(cv projector.ClusterView) cse.DefEntity
}

// Reader answers reads of the recorded history.
type Reader struct {
	views  *projector.Views
	src    Source
	render Renderer
}

// New returns a reader of src's history; views say who may read which cluster's, and
// render renders a past state as a cluster.
func New(views *projector.Views, src Source, render Renderer) *Reader {
	return &Reader{views: views, src: src, render: render}
}

// ErrNotFound means there is no such cluster for the caller.
var ErrNotFound = cluster.ErrNotFound

// Record is one recorded command or event.
type Record struct {
	// Seq is its sequence in its stream; Time when the store stored it.
	Seq  uint64
	Time time.Time
	// Raw is the record as stored, what its hash is taken of; Envelope is Raw decoded.
	Raw      []byte
	Envelope events.Envelope
}

// Hash returns the hash of the record as stored: the PrevHash of the event after it. It is
// taken when asked for, since most records an audit scans are never rendered.
func (r Record) Hash() string { return events.Hash(r.Raw) }

// Filter says which records a Scan reads.
type Filter struct {
	// Stream is events.EventStream or events.CommandStream.
	Stream string
	// ClusterID, when set, reads that cluster's records only.
	ClusterID string
	// Since, when set, starts at the first record stored at or after it.
	Since time.Time
	// After, when set, starts at the record after this stream sequence (a cursor); it wins
	// over Since, which the caller then still compares with the records' times.
	After uint64
}

// History returns the recorded events of a cluster the principal may see, oldest first.
func (h *Reader) History(ctx context.Context, p cluster.Principal, id string) ([]cse.Event, error) {
	cv, ok := h.views.Cluster(id)
	if !ok || !cv.Exists() || cv.Level(p) == cluster.LevelNone {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	out := []cse.Event{}
	if cv.State == nil {
		return out, nil // accepted, nothing recorded yet
	}
	// From the cluster's first event to its last: a search for its subject from the
	// stream's start, or on to its end, reads the index of every block on the way.
	var after uint64
	if first, ok := h.views.FirstEventSeq(id); ok {
		after = first - 1
	}
	var recs []Record
	var err error
	if r, ok := h.src.(Ranger); ok && cv.State.Seq > 0 {
		recs, err = r.LoadRange(ctx, id, after, cv.State.Seq)
	} else {
		recs, err = h.src.Load(ctx, id, after)
	}
	if err != nil {
		return nil, fmt.Errorf("history of cluster %s: %w", id, err)
	}
	for _, r := range recs {
		e, err := entry(r, "")
		if err != nil {
			return nil, fmt.Errorf("history of cluster %s: %w", id, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// entry renders a record for a reader of history; kind is set for audit, where events and
// commands mix.
func entry(r Record, kind string) (cse.Event, error) {
	data, err := json.Marshal(r.Envelope.Payload)
	if err != nil {
		return cse.Event{}, fmt.Errorf("record %d: %w", r.Seq, err)
	}
	e := r.Envelope
	out := cse.Event{ID: e.ID, Seq: r.Seq, Kind: kind, Type: e.Type, Time: e.Time, Actor: e.Actor, OperationID: e.CausationID,
		RequestID: e.CorrelationID, Hash: r.Hash(), PrevHash: e.PrevHash, Data: data}
	if kind != "" {
		out.ClusterID, out.OrgID = e.ClusterID, e.OrgID
		if e.ClusterID != events.CloudID {
			out.ClusterID = cse.EntityID(e.ClusterID) // the id the API knows a cluster by
		}
	}
	if kind == "command" {
		out.OperationID, out.Hash, out.PrevHash = e.ID, "", "" // a command is an operation; only events chain
	}
	return out, nil
}

// ErrNotYet means an as-of read asked for a moment before the cluster was created.
var ErrNotYet = cluster.ErrNotYet

// ClusterAsOf returns a cluster as it was at a past moment, folded from its recorded events
// up to that moment. A deleted cluster can be read as it was: its owner, the users it was
// shared with and providers may still read its past.
func (h *Reader) ClusterAsOf(ctx context.Context, p cluster.Principal, id string, at time.Time) (cse.DefEntity, error) {
	cv, ok := h.views.Cluster(id)
	if !ok || cv.State == nil {
		return cse.DefEntity{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	if st := cv.State; p.On(st.OrgID, st.Owner, st.ACL) == cluster.LevelNone {
		return cse.DefEntity{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	recs, err := h.src.Load(ctx, id, 0)
	if err != nil {
		return cse.DefEntity{}, fmt.Errorf("history of cluster %s: %w", id, err)
	}
	past := &cluster.State{}
	for _, r := range recs {
		if r.Envelope.Time.After(at) {
			break
		}
		past.Apply(r.Envelope, r.Seq, r.Hash())
	}
	if !past.Exists {
		return cse.DefEntity{}, fmt.Errorf("cluster %s %w at %s: it was created at %s", id, ErrNotYet,
			at.UTC().Format(time.RFC3339), cv.State.Created.UTC().Format(time.RFC3339))
	}
	return h.render.Entity(projector.ClusterView{ID: id, State: past}), nil
}
