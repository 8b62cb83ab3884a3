package kaasd

import (
	"context"

	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/queries"
)

// history adapts the store's records to the queries' (queries.HistoryReader), so that the
// queries know no store.
type history struct{ store *jsstore.Store }

func (h history) Load(ctx context.Context, clusterID string, afterSeq uint64) ([]queries.Record, error) {
	recs, err := h.store.Load(ctx, clusterID, afterSeq)
	if err != nil {
		return nil, err
	}
	out := make([]queries.Record, len(recs))
	for i, r := range recs {
		out[i] = record(r)
	}
	return out, nil
}

func (h history) Scan(ctx context.Context, f queries.HistoryFilter, fn func(queries.Record) bool) error {
	return h.store.Scan(ctx, jsstore.ScanFilter(f), func(r jsstore.Record) bool { return fn(record(r)) })
}

func record(r jsstore.Record) queries.Record {
	return queries.Record{Seq: r.Seq, Time: r.Time, Raw: r.Raw, Envelope: r.Envelope}
}
