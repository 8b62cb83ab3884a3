package history

import (
	"context"
	"fmt"
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
func (h *Reader) Audit(ctx context.Context, f cse.AuditQuery) (cse.AuditResult, error) {
	size := max(f.PageSize, 1)
	page := max(f.Page, 1)
	sf := Filter{Stream: events.EventStream, ClusterID: f.ClusterID, Since: f.Since, After: f.After}
	kind := "event"
	if f.Commands {
		sf.Stream, kind = events.CommandStream, "command"
	}
	if ext, ok := h.src.(Extent); ok && !f.Cursor && f.ClusterID == "" && f.OrgID == "" && f.Actor == "" && len(f.Types) == 0 &&
		f.Since.IsZero() && f.Until.IsZero() {
		return h.auditByPosition(ctx, ext, sf.Stream, kind, f.NewestFirst, page, size)
	}
	if g, ok := h.src.(Getter); ok && f.OrgID != "" && !f.Cursor && f.ClusterID == "" && f.Actor == "" && len(f.Types) == 0 &&
		f.Since.IsZero() && f.Until.IsZero() {
		return h.auditOfOrg(ctx, g, sf.Stream, kind, f.OrgID, f.NewestFirst, page, size)
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
	err := h.src.Scan(ctx, sf, func(r Record) bool {
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

// Extent is what a Source may also tell of a stream: its first sequence and how many
// records it holds. The streams deny deletes and purges (retention drops the oldest only),
// so the n-th record is at first+n: an audit that filters nothing finds its page there
// instead of reading the history up to it.
type Extent interface {
	Extent(ctx context.Context, stream string) (first, count uint64, err error)
}

// auditByPosition answers an audit that filters nothing: the page's records are read from
// their position on, and the total is the stream's count. The pages are those Audit's scan
// would cut, deep newest-first pages (past maxNewestFirst) coming out empty alike.
func (h *Reader) auditByPosition(ctx context.Context, ext Extent, stream, kind string, newestFirst bool, page, size int) (cse.AuditResult, error) {
	first, count, err := ext.Extent(ctx, stream)
	if err != nil {
		return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
	}
	total := int(min(count, math.MaxInt))
	lo, hi := pageBounds(total, newestFirst, page, size)
	res := cse.AuditResult{Records: make([]cse.Event, 0, hi-lo), Total: total}
	if lo >= hi {
		return res, nil
	}
	var kept []Record
	if g, ok := h.src.(Getter); ok { // the page's records by sequence: no consumer to create
		seqs := make([]uint64, hi-lo)
		for i := range seqs {
			seqs[i] = first + uint64(lo+i)
		}
		kept, err = g.Get(ctx, stream, seqs)
	} else {
		err = h.src.Scan(ctx, Filter{Stream: stream, After: first - 1 + uint64(lo)}, func(r Record) bool {
			kept = append(kept, r)
			return len(kept) < hi-lo
		})
	}
	if err != nil {
		return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
	}
	return pageOf(res, kept, kind, newestFirst)
}

// pageOf adds recs, oldest first, to res's records in the page's order.
func pageOf(res cse.AuditResult, recs []Record, kind string, newestFirst bool) (cse.AuditResult, error) {
	if newestFirst {
		slices.Reverse(recs)
	}
	for _, r := range recs {
		ent, err := entry(r, kind)
		if err != nil {
			return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
		}
		res.Records = append(res.Records, ent)
	}
	return res, nil
}

// pageBounds returns the records [lo, hi) of a list of total, oldest first, that a page of
// size holds, the pages Audit's scan cuts: newest first, page 1 is the newest records,
// and pages past maxNewestFirst come out empty.
func pageBounds(total int, newestFirst bool, page, size int) (lo, hi int) {
	switch {
	case !newestFirst && page-1 <= (total-1)/size:
		lo = (page - 1) * size
		return lo, min(lo+size, total)
	case newestFirst && page <= maxNewestFirst/size && page-1 <= (total-1)/size:
		return max(total-page*size, 0), total - (page-1)*size
	}
	return total, total
}

// Getter is what a Source may also do: read a stream's records by sequence.
type Getter interface {
	Get(ctx context.Context, stream string, seqs []uint64) ([]Record, error)
}

// auditOfOrg answers an audit filtered by org only from the views' index of each org's
// records: the page's records are read by sequence, and the total is the index's count
// (of what the views have folded).
func (h *Reader) auditOfOrg(ctx context.Context, g Getter, stream, kind, org string, newestFirst bool, page, size int) (cse.AuditResult, error) {
	_, total := h.views.OrgRecords(stream, org, 0, 0)
	lo, hi := pageBounds(total, newestFirst, page, size)
	seqs, _ := h.views.OrgRecords(stream, org, lo, hi)
	res := cse.AuditResult{Records: make([]cse.Event, 0, len(seqs)), Total: total}
	if len(seqs) == 0 {
		return res, nil
	}
	recs, err := g.Get(ctx, stream, seqs)
	if err != nil {
		return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
	}
	return pageOf(res, recs, kind, newestFirst)
}
