package vcdext

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes of one delivery, the values of the outcome label. The set is fixed so that the
// label stays bounded.
const (
	outcomeReplied    = "replied"          // reply confirmed, delivery acked (includes 4xx/5xx replies)
	outcomeRejected   = "rejected"         // no usable reply address: rejected without requeue
	outcomeUnroutable = "unroutable_reply" // reply returned by the broker (mandatory); delivery acked
	outcomeError      = "error"            // reply or ack failed; the broker will redeliver
)

// Metrics are the consumer's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	messages   *prometheus.CounterVec
	byOutcome  map[string]prometheus.Counter // messages' children, looked up once
	reconnects prometheus.Counter
	connected  prometheus.Gauge
	duration   prometheus.Histogram
}

// NewMetrics creates the collectors and registers them on reg; a nil reg registers nothing.
// It panics if they are already registered on reg, as promauto does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kaas", Subsystem: "ingress_amqp", Name: "messages_total",
			Help: "VCD extension messages handled, by outcome (replied, rejected, unroutable_reply, error).",
		}, []string{"outcome"}),
		reconnects: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kaas", Subsystem: "ingress_amqp", Name: "reconnects_total",
			Help: "Reconnect attempts to RabbitMQ after the first connection.",
		}),
		connected: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "kaas", Subsystem: "ingress_amqp", Name: "connected",
			Help: "1 while connected to RabbitMQ and consuming, else 0.",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kaas", Subsystem: "ingress_amqp", Name: "handle_duration_seconds",
			Help: "Time from delivery to ack or reject, including the handler and the reply confirm.",
			// AMQP round trips are sub-millisecond; VCD gives up at 10 s.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	// Known label values start at zero so that rate() and alerts work from the first scrape.
	m.byOutcome = map[string]prometheus.Counter{}
	for _, o := range []string{outcomeReplied, outcomeRejected, outcomeUnroutable, outcomeError} {
		m.byOutcome[o] = m.messages.WithLabelValues(o)
	}
	return m
}

func (m *Metrics) outcome(o string, d time.Duration) {
	if m == nil {
		return
	}
	c, ok := m.byOutcome[o]
	if !ok {
		c = m.messages.WithLabelValues(o)
	}
	c.Inc()
	m.duration.Observe(d.Seconds())
}

func (m *Metrics) reconnect() {
	if m != nil {
		m.reconnects.Inc()
	}
}

func (m *Metrics) setConnected(up bool) {
	if m == nil {
		return
	}
	if up {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}
