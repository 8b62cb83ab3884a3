package projector

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/template"
)

// Stats are the views' aggregates that monitoring watches.
type Stats struct {
	// Clusters counts existing clusters by phase (deleted ones are not counted).
	Clusters map[events.Phase]int
	// InProgress counts operations running, by operation; Oldest is when the oldest of
	// each started.
	InProgress map[string]int
	Oldest     map[string]time.Time
	// Templates counts template revisions by status (template.Status*); their operations
	// are counted in InProgress and Oldest as BUILD, IMPORT and TEMPLATE_DELETE.
	Templates map[string]int
	// Pending counts commands accepted and not started.
	Pending int
	// CommandSeq and EventSeq are the last records folded; EventTime the time of the last
	// event folded.
	CommandSeq, EventSeq uint64
	EventTime            time.Time
}

// Stats returns the aggregates.
func (v *Views) Stats() Stats {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := Stats{Clusters: map[events.Phase]int{}, InProgress: map[string]int{}, Oldest: map[string]time.Time{},
		Templates: map[string]int{}, CommandSeq: v.cmdSeq, EventSeq: v.evtSeq, EventTime: v.evtTime}
	for _, st := range v.clusters {
		if !st.Exists || st.Deleted {
			continue
		}
		s.Clusters[st.Phase]++
		if op := st.Op; op != nil {
			s.InProgress[op.Op]++
			if o, ok := s.Oldest[op.Op]; !ok || op.Started.Before(o) {
				s.Oldest[op.Op] = op.Started
			}
		}
	}
	for _, f := range v.templates {
		if st := f.status(); st != "" {
			s.Templates[st]++
		}
		if op := f.st.Op; op != nil {
			name := templateOpLabel(op.Op)
			s.InProgress[name]++
			if o, ok := s.Oldest[name]; !ok || op.Started.Before(o) {
				s.Oldest[name] = op.Started
			}
		}
	}
	for _, r := range v.ops {
		if r.evt.status == "" && r.command() != "" {
			s.Pending++
		}
	}
	return s
}

// templateOpLabel names a template operation in the operation metrics: a template's delete
// is told from a cluster's.
func templateOpLabel(op string) string {
	if op == events.OpDelete {
		return "TEMPLATE_DELETE"
	}
	return op
}

// Collector exports the views' aggregates and the projector's lag at each scrape. It reads
// the streams' last sequences then, so the lag is current, not sampled.
type Collector struct {
	views *Views
	src   Source

	clusters, templates, inProgress, oldest, pending, lag, lagSeconds *prometheus.Desc
}

// NewCollector returns the collector; src may be nil (no lag is exported then).
func NewCollector(v *Views, src Source) *Collector {
	return &Collector{views: v, src: src,
		clusters:   prometheus.NewDesc("kaas_clusters", "Existing clusters, by phase.", []string{"phase"}, nil),
		templates:  prometheus.NewDesc("kaas_templates", "Template revisions, by status (BUILDING, READY, FAILED, DELETING, DELETED).", []string{"status"}, nil),
		inProgress: prometheus.NewDesc("kaas_operations_in_progress", "Operations running, by operation (a template's: BUILD, IMPORT, TEMPLATE_DELETE).", []string{"operation"}, nil),
		oldest: prometheus.NewDesc("kaas_operation_oldest_age_seconds",
			"Age of the oldest operation running, by operation: a stuck operation shows as a growing age.", []string{"operation"}, nil),
		pending:    prometheus.NewDesc("kaas_commands_pending", "Commands accepted and not yet started by an executor.", nil, nil),
		lag:        prometheus.NewDesc("kaas_projector_lag_records", "Records in the stream not yet folded into the views.", []string{"stream"}, nil),
		lagSeconds: prometheus.NewDesc("kaas_projector_lag_seconds", "How far behind the newest event the views are, in time.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.clusters, c.templates, c.inProgress, c.oldest, c.pending, c.lag, c.lagSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.views.Stats()
	ops := []string{events.OpCreate, events.OpUpdate, events.OpUpgrade, events.OpDelete}
	for _, op := range ops {
		for _, st := range []string{events.StatusInProgress, events.StatusSucceeded, events.StatusFailed} {
			p := events.MakePhase(op, st)
			ch <- prometheus.MustNewConstMetric(c.clusters, prometheus.GaugeValue, float64(s.Clusters[p]), string(p))
		}
		ch <- prometheus.MustNewConstMetric(c.inProgress, prometheus.GaugeValue, float64(s.InProgress[op]), op)
		age := 0.0
		if t, ok := s.Oldest[op]; ok {
			age = time.Since(t).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, op)
	}
	for _, op := range []string{template.OpBuild, template.OpImport, templateOpLabel(events.OpDelete)} {
		ch <- prometheus.MustNewConstMetric(c.inProgress, prometheus.GaugeValue, float64(s.InProgress[op]), op)
		age := 0.0
		if t, ok := s.Oldest[op]; ok {
			age = time.Since(t).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, op)
	}
	for _, st := range []string{template.StatusBuilding, template.StatusReady, template.StatusFailed, template.StatusDeleting, template.StatusDeleted} {
		ch <- prometheus.MustNewConstMetric(c.templates, prometheus.GaugeValue, float64(s.Templates[st]), st)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending))
	if c.src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ends, err := c.src.Ends(ctx)
	if err != nil {
		return // no lag figure beats a wrong one; /readyz says why
	}
	var lagTime float64
	for _, st := range []struct {
		name      string
		seq, last uint64
	}{{events.CommandStream, s.CommandSeq, ends.Commands}, {events.EventStream, s.EventSeq, ends.Events}} {
		behind := float64(0)
		if st.last > st.seq {
			behind = float64(st.last - st.seq)
			if st.name == events.EventStream && !s.EventTime.IsZero() && ends.EventTime.After(s.EventTime) {
				lagTime = ends.EventTime.Sub(s.EventTime).Seconds()
			}
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, behind, st.name)
	}
	ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, lagTime)
}
