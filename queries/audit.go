package queries

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// maxNewestFirst bounds the records an audit keeps to answer newest first (decoded, about
// 1.5 KB each: some 100 MB at most); deeper pages come out empty (ask oldest first, or
// narrow by time).
const maxNewestFirst = 1 << 16

// Audit returns one page of the records across clusters and orgs that match, oldest first
// unless NewestFirst, and how many matched. It reads the stream from After or Since (or the
// start) in order and renders only the page's records, so that a page of a long history
// costs one read of it and little memory; a cursor read (After) stops after the page.
func (q *Queries) Audit(ctx context.Context, f cse.AuditQuery) (cse.AuditResult, error) {
	if q.history == nil {
		return cse.AuditResult{}, errors.New("no history reader")
	}
	size := max(f.PageSize, 1)
	page := max(f.Page, 1)
	sf := HistoryFilter{Stream: events.EventStream, ClusterID: f.ClusterID, Since: f.Since, After: f.After}
	kind := "event"
	if f.Commands {
		sf.Stream, kind = events.CommandStream, "command"
	}
	// Oldest first, the page is matches [from, from+size). Newest first it is matches
	// [total-page*size, total-(page-1)*size), reversed: a ring keeps the last page*size
	// matches, since the total is known only at the end.
	from := (page - 1) * size
	if page-1 > math.MaxInt/size {
		from = math.MaxInt // a page past any history
	}
	var (
		kept  []Record
		ring  []Record
		next  int // the ring's oldest slot, once it is full
		total int
	)
	keepLast := 0
	if f.NewestFirst && !f.Cursor && page <= maxNewestFirst/size {
		keepLast = page * size
	}
	err := q.history.Scan(ctx, sf, func(r Record) bool {
		e := r.Envelope
		if !f.Until.IsZero() && e.Time.After(f.Until) {
			// Records are stored in about the order of their times (each process stamps its
			// own): a minute past Until in the store, nothing later can match.
			return !r.Time.After(f.Until.Add(time.Minute))
		}
		if (f.OrgID != "" && e.OrgID != f.OrgID) || (f.Actor != "" && e.Actor != f.Actor) ||
			(len(f.Types) > 0 && !slices.Contains(f.Types, e.Type)) || (!f.Since.IsZero() && e.Time.Before(f.Since)) {
			return true
		}
		total++
		switch {
		case f.Cursor:
			kept = append(kept, r)
			return len(kept) <= size
		case keepLast > 0 && len(ring) < keepLast:
			ring = append(ring, r)
		case keepLast > 0:
			ring[next] = r
			next = (next + 1) % keepLast
		case !f.NewestFirst && total > from && total <= from+size:
			kept = append(kept, r)
		}
		return true
	})
	if err != nil {
		return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
	}
	if keepLast > 0 {
		ordered := append(slices.Clone(ring[next:]), ring[:next]...) // matches [total-len(ring), total)
		lo, hi := max(total-page*size, 0), total-(page-1)*size
		if base := total - len(ordered); hi > lo {
			kept = ordered[lo-base : hi-base]
			slices.Reverse(kept)
		}
	}
	res := cse.AuditResult{Records: make([]cse.Event, 0, len(kept)), Total: total}
	if f.Cursor {
		res.Total = -1
	}
	for _, r := range kept {
		ent, err := entry(r, kind)
		if err != nil {
			return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
		}
		res.Records = append(res.Records, ent)
	}
	return res, nil
}

// Verify walks every cluster's hash chain in the event stream and checks each chain's head
// against the one the live views read: a removed, changed or reordered event is reported
// with its cluster and sequence.
func (q *Queries) Verify(ctx context.Context) (cse.Verification, error) {
	if q.history == nil {
		return cse.Verification{}, errors.New("no history reader")
	}
	heads := q.views.Heads() // before the scan: heads the scan will reach
	v := newVerifier()
	if err := q.history.Scan(ctx, HistoryFilter{Stream: events.EventStream}, func(r Record) bool {
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
