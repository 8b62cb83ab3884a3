package vcdext

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Test hooks for package vcdext_test.

func (c *Consumer) DropConsumingConnection() bool { return c.dropConsumingConnection() }

// CheckFastAgrees fails t if the fast path takes body and the careful path does not read it
// the same way.
var CheckFastAgrees = checkFastAgrees

// HasRepeatedKey is the slow reading of repeated keys that the scanner is fuzzed against.
var HasRepeatedKey = hasRepeatedKey

// Metric values, read without prometheus/testutil to keep the test dependencies small.
func (m *Metrics) Messages(outcome string) float64 { return value(m.messages.WithLabelValues(outcome)) }
func (m *Metrics) Reconnects() float64             { return value(m.reconnects) }
func (m *Metrics) Connected() float64              { return value(m.connected) }

func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}
