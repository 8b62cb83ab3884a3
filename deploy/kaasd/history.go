package kaasd

import (
	"context"

	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/history"
)

// historySource adapts the store's records to the history reads' own (history.Source), so
// that package history knows no store.
type historySource struct{ store *jsstore.Store }

func (h historySource) Load(ctx context.Context, clusterID string, afterSeq uint64) ([]history.Record, error) {
	return records(h.store.Load(ctx, clusterID, afterSeq))
}

func (h historySource) Scan(ctx context.Context, f history.Filter, fn func(history.Record) bool) error {
	return h.store.Scan(ctx, jsstore.ScanFilter(f), func(r jsstore.Record) bool { return fn(record(r)) })
}

func record(r jsstore.Record) history.Record {
	return history.Record{Seq: r.Seq, Time: r.Time, Raw: r.Raw, Envelope: r.Envelope}
}

// Extent tells an audit that filters nothing where its page is (history.Extent).
func (h historySource) Extent(ctx context.Context, stream string) (first, count uint64, err error) {
	return h.store.Extent(ctx, stream)
}

// Get reads records of a stream by sequence (history.Getter), with direct gets.
func (h historySource) Get(ctx context.Context, stream string, seqs []uint64) ([]history.Record, error) {
	return records(h.store.RecordsAt(ctx, stream, seqs))
}

// records converts what a store read returned, passing its error on.
func records(recs []jsstore.Record, err error) ([]history.Record, error) {
	if err != nil {
		return nil, err
	}
	out := make([]history.Record, len(recs))
	for i, r := range recs {
		out[i] = record(r)
	}
	return out, nil
}

// LoadRange loads a cluster's events up to its last (history.Ranger).
func (h historySource) LoadRange(ctx context.Context, clusterID string, afterSeq, lastSeq uint64) ([]history.Record, error) {
	return records(h.store.LoadRange(ctx, clusterID, afterSeq, lastSeq))
}
