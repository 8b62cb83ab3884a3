package ingress

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the API's Prometheus collectors: requests and latency by operation and
// outcome. Labels are bounded (operation names and status classes, never ids).
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the API's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "ingress", Name: "requests_total",
			Help: "API requests, by operation and outcome (accepted, ok, rejected, error)."}, []string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kaas", Subsystem: "ingress", Name: "request_duration_seconds",
			Help: "Time to answer an API request, from routing to the reply body.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)},
			[]string{"operation"}),
	}
	reg.MustRegister(m.requests, m.duration)
	for _, op := range []string{"create_cluster", "list_clusters", "list_native_clusters", "get_cluster", "update_cluster", "delete_cluster",
		"force_delete_cluster", "get_operation", "get_kubeconfig", "build_template", "import_template", "deprecate_template", "delete_template"} {
		for _, o := range []string{"accepted", "ok", "rejected", "error"} {
			m.requests.WithLabelValues(op, o)
		}
	}
	return m
}

func (m *Metrics) observe(op string, status int, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	switch {
	case status == 202:
		outcome = "accepted"
	case status >= 500:
		outcome = "error"
	case status >= 400:
		outcome = "rejected"
	}
	m.requests.WithLabelValues(op, outcome).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}
