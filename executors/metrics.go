package executors

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/template"
)

// Metrics are the executor's Prometheus collectors. Labels are bounded: command and step
// types, results; never cluster ids or orgs.
type Metrics struct {
	commands   *prometheus.CounterVec
	steps      *prometheus.CounterVec
	stepTime   *prometheus.HistogramVec
	appended   *prometheus.CounterVec
	conflicts  prometheus.Counter
	inFlight   prometheus.Gauge
	dead       *prometheus.CounterVec
	loadedRecs prometheus.Counter
	snapLoads  prometheus.Counter
	leases     *prometheus.CounterVec
	vcd        *vcdMetrics
}

// NewMetrics registers the executor's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "executor", Name: "commands_total",
			Help: "Command deliveries handled, by command type and result (done, waiting, retry, rejected, failed, error)."}, []string{"command", "result"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "executor", Name: "steps_total",
			Help: "Operation steps run, by step and outcome (progress, pending, retry, terminal)."}, []string{"step", "outcome"}),
		stepTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kaas", Subsystem: "executor", Name: "step_duration_seconds",
			Help: "Time one step spent calling VCD.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"step"}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Name: "events_appended_total",
			Help: "Events appended to KAAS_EVENTS, by type."}, []string{"event"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kaas", Name: "event_append_conflicts_total",
			Help: "Appends refused because the cluster's history moved on (optimistic concurrency)."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kaas", Subsystem: "executor", Name: "deliveries_in_flight",
			Help: "Command deliveries being handled right now."}),
	}
	m.dead = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Name: "dead_letters_total",
		Help: "Commands moved to KAAS_DLQ because they could not be carried out, by command type."}, []string{"command"})
	m.loadedRecs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "executor", Name: "history_events_loaded_total",
		Help: "Events read from KAAS_EVENTS to fold clusters' states (after their snapshots)."})
	m.snapLoads = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "executor", Name: "snapshots_loaded_total",
		Help: "Cluster states started from a snapshot rather than the first event."})
	m.leases = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "executor", Name: "leases_total",
		Help: "Cluster leases asked for by executors of several kaasd: held, busy (another executor holds it), taken_over (from one that stopped renewing), lost (while steps ran), error."},
		[]string{"outcome"})
	for _, o := range []string{"held", "busy", "taken_over", "lost", "error"} {
		m.leases.WithLabelValues(o)
	}
	reg.MustRegister(m.commands, m.steps, m.stepTime, m.appended, m.conflicts, m.inFlight, m.dead, m.loadedRecs, m.snapLoads, m.leases)
	m.vcd = newVCDMetrics(reg)
	// Known label values start at zero, so that rates exist before the first event.
	for _, c := range events.TypeNames(events.KindCommand) {
		for _, r := range []string{"done", "waiting", "retry", "rejected", "failed", "error"} {
			m.commands.WithLabelValues(c, r)
		}
	}
	for _, c := range events.TypeNames(events.KindCommand) {
		m.dead.WithLabelValues(c)
	}
	for _, e := range events.TypeNames(events.KindEvent) {
		m.appended.WithLabelValues(e)
	}
	for _, s := range []cluster.StepKind{cluster.StepResolveTemplate, cluster.StepCreateVApp, cluster.StepCreateNode, cluster.StepStartNode,
		cluster.StepAwaitControlPlane, cluster.StepAwaitNodes, cluster.StepProvisionNodes, cluster.StepRequestUpgrade, cluster.StepAwaitUpgrade,
		cluster.StepDeleteNode, cluster.StepDeleteVApp, cluster.StepRecord, cluster.StepFail} {
		m.stepTime.WithLabelValues(string(s))
	}
	for _, s := range template.Kinds {
		m.stepTime.WithLabelValues(string(s))
	}
	return m
}

// The helpers below accept a nil *Metrics, so that metrics stay optional.

func (m *Metrics) delivery(delta float64) {
	if m != nil {
		m.inFlight.Add(delta)
	}
}

func (m *Metrics) command(typ, result string) {
	if m != nil {
		m.commands.WithLabelValues(typ, result).Inc()
	}
}

func (m *Metrics) stepDone(kind string, r stepResult, err error, d time.Duration) {
	if m == nil || kind == "" {
		return
	}
	outcome := "pending"
	switch {
	case err != nil:
		outcome = "error"
	case len(r.events) > 0:
		outcome = "progress"
	}
	m.steps.WithLabelValues(kind, outcome).Inc()
	m.stepTime.WithLabelValues(kind).Observe(d.Seconds())
}

func (m *Metrics) appendedEvent(typ string) {
	if m != nil {
		m.appended.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) loaded(n int) {
	if m != nil {
		m.loadedRecs.Add(float64(n))
	}
}

func (m *Metrics) snapshotLoaded() {
	if m != nil {
		m.snapLoads.Inc()
	}
}

func (m *Metrics) deadLettered(typ string) {
	if m != nil {
		m.dead.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) lease(outcome string) {
	if m != nil {
		m.leases.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) conflict() {
	if m != nil {
		m.conflicts.Inc()
	}
}
