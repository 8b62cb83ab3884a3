package executors

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaasproject/kaas/events"
)

// vcdOps are the VCD calls, the label values of the VCD metrics.
var vcdOps = []string{"ResolveTemplate", "Cloud", "EnsureVApp", "EnsureVM", "PowerOn", "GuestInfo", "SetGuestInfo", "DeleteVM", "DeleteVApp",
	"EnsureImage", "PowerOff", "CaptureVApp", "SetTemplateMetadata", "DeleteTemplate", "DeleteCatalogItem"}

// vcdMetrics counts every VCD call by operation and status, times it, and times how long VCD
// worked on a request (from the first "not done yet" to done): VCD's own task durations as
// kaas sees them.
type vcdMetrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	work    *prometheus.HistogramVec

	mu      sync.Mutex
	waiting map[string]time.Time // operation and object → when VCD first said not done
}

func newVCDMetrics(reg prometheus.Registerer) *vcdMetrics {
	m := &vcdMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kaas", Subsystem: "vcd", Name: "calls_total",
			Help: "Calls to VCD, by operation and status (ok, pending: VCD still works, retryable, terminal)."}, []string{"operation", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kaas", Subsystem: "vcd", Name: "call_duration_seconds",
			Help: "Time one call to VCD took, by operation.", Buckets: prometheus.ExponentialBuckets(0.002, 3, 9)}, []string{"operation"}),
		work: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kaas", Subsystem: "vcd", Name: "task_duration_seconds",
			Help:    "Time VCD worked on a request (its tasks, a VM's boot), from the first call that found it unfinished to the one that found it done.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2.5, 10)}, []string{"operation"}),
		waiting: map[string]time.Time{},
	}
	reg.MustRegister(m.calls, m.latency, m.work)
	for _, op := range vcdOps {
		for _, s := range []string{"ok", "pending", "retryable", "terminal"} {
			m.calls.WithLabelValues(op, s)
		}
		m.latency.WithLabelValues(op)
	}
	return m
}

// observe records one call; key names the object for the work timer ("" for none).
func (m *vcdMetrics) observe(op, key string, start time.Time, done bool, err error) {
	m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	status := "ok"
	var ve *Error
	switch {
	case err != nil && errors.As(err, &ve) && !ve.Retryable:
		status = "terminal"
	case err != nil:
		status = "retryable"
	case !done:
		status = "pending"
	}
	m.calls.WithLabelValues(op, status).Inc()
	if key == "" || err != nil {
		return
	}
	k := op + "\x00" + key
	m.mu.Lock()
	defer m.mu.Unlock()
	first, waited := m.waiting[k]
	switch {
	case !done && !waited:
		if len(m.waiting) > 100_000 {
			clear(m.waiting) // timers of objects whose operation ended elsewhere
		}
		m.waiting[k] = start
	case done && waited:
		delete(m.waiting, k)
		m.work.WithLabelValues(op).Observe(time.Since(first).Seconds())
	}
}

// instrumentedVCD is a VCD whose calls are measured.
type instrumentedVCD struct {
	VCD
	m *vcdMetrics
}

func (v instrumentedVCD) ResolveTemplate(ctx context.Context, org Org, ref events.TemplateRef) (events.Template, error) {
	start := time.Now()
	t, err := v.VCD.ResolveTemplate(ctx, org, ref)
	v.m.observe("ResolveTemplate", "", start, true, err)
	return t, err
}

func (v instrumentedVCD) Cloud(ctx context.Context) (events.CloudSynced, error) {
	start := time.Now()
	c, err := v.VCD.Cloud(ctx)
	v.m.observe("Cloud", "", start, true, err)
	return c, err
}

func (v instrumentedVCD) EnsureVApp(ctx context.Context, spec VAppSpec) (Status, error) {
	start := time.Now()
	st, err := v.VCD.EnsureVApp(ctx, spec)
	v.m.observe("EnsureVApp", spec.ClusterID, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) EnsureVM(ctx context.Context, spec VMSpec) (Status, error) {
	start := time.Now()
	st, err := v.VCD.EnsureVM(ctx, spec)
	v.m.observe("EnsureVM", spec.VApp.ClusterID+"/"+spec.Name, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) PowerOn(ctx context.Context, vm VMRef) (Status, error) {
	start := time.Now()
	st, err := v.VCD.PowerOn(ctx, vm)
	v.m.observe("PowerOn", vm.VApp.ClusterID+"/"+vm.Name, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) GuestInfo(ctx context.Context, vm VMRef) (map[string]string, error) {
	start := time.Now()
	gi, err := v.VCD.GuestInfo(ctx, vm)
	v.m.observe("GuestInfo", "", start, true, err)
	return gi, err
}

func (v instrumentedVCD) SetGuestInfo(ctx context.Context, vm VMRef, values map[string]string) (Status, error) {
	start := time.Now()
	st, err := v.VCD.SetGuestInfo(ctx, vm, values)
	v.m.observe("SetGuestInfo", vm.VApp.ClusterID+"/"+vm.Name, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) DeleteVM(ctx context.Context, vm VMRef) (Status, error) {
	start := time.Now()
	st, err := v.VCD.DeleteVM(ctx, vm)
	v.m.observe("DeleteVM", vm.VApp.ClusterID+"/"+vm.Name, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) DeleteVApp(ctx context.Context, vapp VAppRef) (Status, error) {
	start := time.Now()
	st, err := v.VCD.DeleteVApp(ctx, vapp)
	v.m.observe("DeleteVApp", vapp.ClusterID, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) EnsureImage(ctx context.Context, spec ImageSpec) (Status, error) {
	start := time.Now()
	st, err := v.VCD.EnsureImage(ctx, spec)
	v.m.observe("EnsureImage", spec.Owner+"/"+spec.Item, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) PowerOff(ctx context.Context, vm VMRef) (Status, error) {
	start := time.Now()
	st, err := v.VCD.PowerOff(ctx, vm)
	v.m.observe("PowerOff", vm.VApp.ClusterID+"/"+vm.Name, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) CaptureVApp(ctx context.Context, spec CaptureSpec) (Status, error) {
	start := time.Now()
	st, err := v.VCD.CaptureVApp(ctx, spec)
	v.m.observe("CaptureVApp", spec.Owner+"/"+spec.Item, start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) SetTemplateMetadata(ctx context.Context, org string, ref events.TemplateRef, md map[string]string) (Status, error) {
	start := time.Now()
	st, err := v.VCD.SetTemplateMetadata(ctx, org, ref, md)
	v.m.observe("SetTemplateMetadata", events.TemplateItemName(ref.Name, ref.Revision), start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) DeleteTemplate(ctx context.Context, org string, ref events.TemplateRef) (Status, error) {
	start := time.Now()
	st, err := v.VCD.DeleteTemplate(ctx, org, ref)
	v.m.observe("DeleteTemplate", events.TemplateItemName(ref.Name, ref.Revision), start, st.Done, err)
	return st, err
}

func (v instrumentedVCD) DeleteCatalogItem(ctx context.Context, item ItemRef) (Status, error) {
	start := time.Now()
	st, err := v.VCD.DeleteCatalogItem(ctx, item)
	v.m.observe("DeleteCatalogItem", item.Owner+"/"+item.Name, start, st.Done, err)
	return st, err
}
