package projector

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SnapshotMetrics counts the views' snapshots: writes, loads, and how old the newest is.
type SnapshotMetrics struct {
	writes, loads          *prometheus.CounterVec
	writeSeconds, copySecs prometheus.Gauge
	loadSeconds, bytes     prometheus.Gauge
	tail                   prometheus.Gauge
	takenUnixNano          atomic.Int64
}

// NewSnapshotMetrics registers the snapshot metrics on reg.
func NewSnapshotMetrics(reg prometheus.Registerer) *SnapshotMetrics {
	m := &SnapshotMetrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_writes_total",
			Help: "Snapshots of the views written, by result (ok, error)."}, []string{"result"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_loads_total",
			Help: "Starts of the projector, by how its views began: loaded (from a snapshot), none (no snapshot), rejected (none fit the streams), error (unreadable), off."},
			[]string{"outcome"}),
		writeSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_write_seconds",
			Help: "How long the last snapshot write took (copy, encode, check, store)."}),
		copySecs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_copy_seconds",
			Help: "How long the last snapshot write held the views to copy them: folding waited that long."}),
		loadSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_load_seconds",
			Help: "How long reading and decoding the snapshot the views started from took."}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_bytes",
			Help: "Size of the last snapshot written or loaded."}),
		tail: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_tail_records",
			Help: "Records stored after the snapshot the views started from: what the start folded."}),
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "projector", Name: "snapshot_age_seconds",
		Help: "Age of the newest snapshot of the views known (written or loaded); 0 before there is one."}, func() float64 {
		if t := m.takenUnixNano.Load(); t != 0 {
			return time.Since(time.Unix(0, t)).Seconds()
		}
		return 0
	})
	for _, r := range []string{"ok", "error"} {
		m.writes.WithLabelValues(r)
	}
	for _, o := range []string{LoadLoaded, LoadNone, LoadRejected, LoadError, LoadOff} {
		m.loads.WithLabelValues(o)
	}
	reg.MustRegister(m.writes, m.loads, m.writeSeconds, m.copySecs, m.loadSeconds, m.bytes, m.tail, age)
	return m
}

func (m *SnapshotMetrics) taken(at time.Time) {
	if m != nil && !at.IsZero() {
		m.takenUnixNano.Store(at.UnixNano())
	}
}

func (m *SnapshotMetrics) wrote(info SnapshotInfo, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.writes.WithLabelValues("error").Inc()
		return
	}
	m.writes.WithLabelValues("ok").Inc()
	m.writeSeconds.Set(info.Took.Seconds())
	m.copySecs.Set(info.Copy.Seconds())
	m.bytes.Set(float64(info.Bytes))
}

func (m *SnapshotMetrics) loaded(info SnapshotInfo, outcome string, tail uint64) {
	if m == nil {
		return
	}
	m.loads.WithLabelValues(outcome).Inc()
	if outcome == LoadLoaded {
		m.loadSeconds.Set(info.Took.Seconds())
		m.bytes.Set(float64(info.Bytes))
		m.tail.Set(float64(tail))
		m.taken(info.Meta.Taken)
	}
}
