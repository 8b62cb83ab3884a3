package projector_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/projector"
)

// noSource is a Source with no records to check a snapshot against.
type noSource struct{}

func (noSource) Ends(context.Context) (store.Ends, error) { return store.Ends{}, nil }
func (noSource) Follow(context.Context, string, uint64, func(store.Raw)) (func(), error) {
	return func() {}, nil
}

// BenchmarkSnapshot writes and loads a snapshot of the views of 5,000 clusters'
// lifecycles (90,000 events; kaas-bench's startup section measures a million).
func BenchmarkSnapshot(b *testing.B) {
	cmds, evts := foldHistory(5000)
	v := projector.NewViews()
	for i, c := range cmds {
		env, _ := events.Unmarshal(c)
		v.ApplyCommand(uint64(i+1), env)
	}
	for i, e := range evts {
		env, _ := events.Unmarshal(e)
		v.ApplyEvent(uint64(i+1), events.Hash(e), env)
	}
	blobs, err := memstore.New(memstore.Config{}).Blobs(b.Context(), store.BlobConfig{Bucket: "B"})
	if err != nil {
		b.Fatal(err)
	}
	ends := store.Ends{Commands: uint64(len(cmds)), Events: uint64(len(evts))}
	b.ResetTimer()
	var write, load float64
	var size int
	for range b.N {
		info, err := projector.WriteSnapshot(b.Context(), blobs, noSource{}, v, "")
		if err != nil {
			b.Fatal(err)
		}
		_, li, outcome := projector.LoadSnapshot(b.Context(), blobs, noSource{}, ends, "", slog.New(slog.DiscardHandler))
		if outcome != projector.LoadLoaded {
			b.Fatal(outcome)
		}
		write, load, size = write+info.Took.Seconds(), load+li.Took.Seconds(), info.Bytes
	}
	b.ReportMetric(write/float64(b.N), "write-s")
	b.ReportMetric(load/float64(b.N), "load-s")
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(float64(len(evts)), "events")
}
