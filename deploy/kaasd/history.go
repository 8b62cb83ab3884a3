package kaasd

import (
	"context"
	"fmt"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/history"
)

// historySource adapts the store's records to the history reads' own (history.Source), so
// that package history knows no store.
type historySource struct{ store *jsstore.Store }

func (h historySource) Load(ctx context.Context, clusterID string, afterSeq uint64) ([]history.Record, error) {
	recs, err := h.store.Load(ctx, clusterID, afterSeq)
	if err != nil {
		return nil, err
	}
	out := make([]history.Record, len(recs))
	for i, r := range recs {
		out[i] = record(r)
	}
	return out, nil
}

func (h historySource) Scan(ctx context.Context, f history.Filter, fn func(history.Record) bool) error {
	return h.store.Scan(ctx, jsstore.ScanFilter(f), func(r jsstore.Record) bool { return fn(record(r)) })
}

func record(r jsstore.Record) history.Record {
	return history.Record{Seq: r.Seq, Time: r.Time, Raw: r.Raw, Envelope: r.Envelope}
}

// Extent tells an audit that filters nothing where its page is (history.Extent): the
// stream's first sequence and how many records it holds.
func (h historySource) Extent(ctx context.Context, stream string) (first, count uint64, err error) {
	st, err := h.store.JetStream().Stream(ctx, stream)
	if err != nil {
		return 0, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return info.State.FirstSeq, info.State.Msgs, nil
}

// Get reads records of a stream by sequence, for an audit of one org (history.Getter), with
// direct gets.
func (h historySource) Get(ctx context.Context, stream string, seqs []uint64) ([]history.Record, error) {
	st, err := h.store.JetStream().Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	out := make([]history.Record, 0, len(seqs))
	for _, seq := range seqs {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, fmt.Errorf("%s #%d: %w", stream, seq, err)
		}
		env, err := events.Unmarshal(m.Data)
		if err != nil {
			return nil, fmt.Errorf("decode %s #%d: %w", stream, seq, err)
		}
		out = append(out, history.Record{Seq: seq, Time: m.Time, Raw: m.Data, Envelope: env})
	}
	return out, nil
}
