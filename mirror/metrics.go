package mirror

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the mirror's Prometheus collectors. Labels are bounded: item kinds, results,
// error classes, VCD calls; never cluster ids or orgs.
type Metrics struct {
	reconciles *prometheus.CounterVec
	errors     *prometheus.CounterVec
	retries    *prometheus.CounterVec
	writes     *prometheus.CounterVec
	leader     prometheus.Gauge
	dirty      prometheus.GaugeFunc
	lag        prometheus.GaugeFunc

	stats func() (n int, oldest time.Time)
}

// NewMetrics registers the mirror's collectors on reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "mirror", Name: "reconciles_total",
			Help: "Clusters and operations made to match in VCD, by kind (cluster, operation) and result (ok, error)."}, []string{"kind", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "mirror", Name: "errors_total",
			Help: "Reconciles that failed, by class: retryable (VCD or the network unavailable, tried again soon) or terminal (VCD refused; tried again after the longest wait)."}, []string{"class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "mirror", Name: "retries_total",
			Help: "Calls made again, by reason: conflict (the entity changed since it was read, 412), backoff (an item tried again after an error)."}, []string{"reason"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "mirror", Name: "vcd_writes_total",
			Help: "Changes made in VCD, by what was changed: none are made while VCD already matches."}, []string{"call"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "mirror", Name: "leader",
			Help: "1 while this instance holds the mirror's lease and mirrors."}),
	}
	m.dirty = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "mirror", Name: "pending_items",
		Help: "Clusters and operations waiting to be made to match in VCD."}, func() float64 {
		if m.stats == nil {
			return 0
		}
		n, _ := m.stats()
		return float64(n)
	})
	m.lag = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "mirror", Name: "lag_seconds",
		Help: "How long the oldest pending cluster or operation has waited: how far VCD is behind kaas."}, func() float64 {
		if m.stats == nil {
			return 0
		}
		_, oldest := m.stats()
		if oldest.IsZero() {
			return 0
		}
		return time.Since(oldest).Seconds()
	})
	for _, k := range []string{kindName(kindCluster), kindName(kindOp)} {
		for _, r := range []string{"ok", "error"} {
			m.reconciles.WithLabelValues(k, r)
		}
	}
	for _, c := range []string{classRetryable, classTerminal} {
		m.errors.WithLabelValues(c)
	}
	for _, r := range []string{"conflict", "backoff"} {
		m.retries.WithLabelValues(r)
	}
	for _, c := range writeCalls {
		m.writes.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(m.reconciles, m.errors, m.retries, m.writes, m.leader, m.dirty, m.lag)
	}
	return m
}

// The VCD changes counted.
const (
	writeEntityCreate = "entity_create"
	writeEntityUpdate = "entity_update"
	writeEntityDelete = "entity_delete"
	writeResolve      = "entity_resolve"
	writeACL          = "access_control"
	writeVAppACL      = "vapp_access"
	writeTaskCreate   = "task_create"
	writeTaskUpdate   = "task_update"
)

var writeCalls = []string{writeEntityCreate, writeEntityUpdate, writeEntityDelete, writeResolve, writeACL, writeVAppACL, writeTaskCreate, writeTaskUpdate}

func kindName(kind string) string {
	if kind == kindOp {
		return "operation"
	}
	return "cluster"
}

func (m *Metrics) wrote(call string) { m.writes.WithLabelValues(call).Inc() }
