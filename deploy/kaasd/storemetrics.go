package kaasd

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/jsstore"
)

// registerStoreMetrics exports how the store grouped appends (jsstore's group commit): the
// appends per batch tell a provider how far the streams' syncs bound the request path and
// the executors.
func registerStoreMetrics(reg prometheus.Registerer, st *jsstore.Store) {
	streams := []struct {
		name  string
		stats func() jsstore.BatchStats
	}{
		{events.CommandStream, func() jsstore.BatchStats { c, _ := st.BatchStats(); return c }},
		{events.EventStream, func() jsstore.BatchStats { _, e := st.BatchStats(); return e }},
	}
	for _, s := range streams {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "store",
			Name: "batches_total", Help: "Atomic batches of appends stored (one sync each), by stream.",
			ConstLabels: prometheus.Labels{"stream": s.name}},
			func() float64 { return float64(s.stats().Batches) }))
		for _, how := range []struct {
			label string
			n     func(jsstore.BatchStats) uint64
		}{
			{"batched", func(b jsstore.BatchStats) uint64 { return b.Batched }},
			{"alone", func(b jsstore.BatchStats) uint64 { return b.Alone }},
			{"retried", func(b jsstore.BatchStats) uint64 { return b.Retried }},
		} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "store",
				Name: "appends_total", Help: "Appends by stream and by how they were stored: in a batch, alone (the stream was idle), or alone after their batch was refused.",
				ConstLabels: prometheus.Labels{"stream": s.name, "how": how.label}},
				func() float64 { return float64(how.n(s.stats())) }))
		}
	}
}
