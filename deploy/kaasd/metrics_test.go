package kaasd_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/events/cse"
)

// TestMetricsFollowTheWorkload runs a known workload, scrapes /metrics, and checks that the
// counters and gauges moved as the workload says they should.
func TestMetricsFollowTheWorkload(t *testing.T) {
	// Every role, so that every series the dashboard and the alerts use is exported.
	e := startWith(t, func(c *kaasd.Config) { c.Roles = append(c.Roles, kaasd.RoleMirror) })
	create := func(name, template string) string {
		// Kept on failure: a rolled-back create leaves no cluster to count.
		code, body := e.do("POST", "/api/cse/3.0/clusters", entity(name, template, 1, template == good))
		if code != http.StatusAccepted {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
		return decode[cse.DefEntity](t, body).ID
	}
	scaled, deleted, failed := create("scaled", good), create("deleted", good), create("failed", "ubuntu-22.04_k8s-1.30_broken")
	ent := e.waitPhase(scaled)
	e.waitPhase(deleted)
	e.waitPhase(failed)
	two := 2
	ent.Entity.Spec.Topology.Workers.Count, ent.Entity.Status = &two, nil
	if code, body := e.do("PUT", "/api/cse/3.0/cluster/"+scaled, ent.Entity); code != http.StatusAccepted {
		t.Fatalf("scale: %d %s", code, body)
	}
	if code, body := e.do("DELETE", "/api/cse/3.0/cluster/"+deleted, nil); code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, body)
	}
	e.waitPhase(scaled)
	e.waitGone(deleted)
	e.do("GET", "/api/cse/3.0/cluster/urn:vcloud:entity:cse:nativeCluster:7c9e6679-7425-40de-944b-e07fc1f90ae7", nil) // a 404

	resp, err := http.Get("http://" + e.srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}

	// Prometheus's own linter accepts the scrape (promtool comes with `make test`).
	lint := exec.Command("promtool", "check", "metrics")
	lint.Stdin = bytes.NewReader(scrape)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	// Every kaas metric the dashboard and the alerts use exists.
	for _, file := range []string{"../monitoring/grafana-dashboard.json", "../monitoring/alerts.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`kaas_[a-z_]+`).FindAllString(string(b), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
			if _, ok := families[base]; !ok && name != "kaas_overview" {
				t.Errorf("%s uses %s, which kaasd does not export", file, name)
			}
		}
	}
	// value sums the series of a family whose labels include all of want.
	value := func(name string, want ...string) float64 {
		f, ok := families[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
		var sum float64
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(want); i += 2 {
				if labels[want[i]] != want[i+1] {
					match = false
				}
			}
			if match {
				sum += sampleValue(m)
			}
		}
		return sum
	}
	for _, tt := range []struct {
		what     string
		got      float64
		min, max float64
	}{
		{"creates accepted", value("kaas_ingress_requests_total", "operation", "create_cluster", "outcome", "accepted"), 3, 3},
		{"404s", value("kaas_ingress_requests_total", "operation", "get_cluster", "outcome", "rejected"), 1, 1e9},
		{"clusters scaled", value("kaas_clusters", "phase", "UPDATE:SUCCEEDED"), 1, 1},
		{"clusters failed", value("kaas_clusters", "phase", "CREATE:FAILED"), 1, 1},
		{"clusters created and left alone (the other was deleted)", value("kaas_clusters", "phase", "CREATE:SUCCEEDED"), 0, 0},
		{"operations running", value("kaas_operations_in_progress"), 0, 0},
		{"commands pending", value("kaas_commands_pending"), 0, 0},
		{"clusters created", value("kaas_events_appended_total", "event", "ClusterCreated"), 2, 2},
		{"clusters deleted", value("kaas_events_appended_total", "event", "ClusterDeleted"), 1, 1},
		{"create operations failed", value("kaas_events_appended_total", "event", "OperationFailed"), 1, 1e9},
		{"vApps made", value("kaas_vcd_calls_total", "operation", "EnsureVApp", "status", "ok"), 3, 1e9},
		{"VCD tasks timed", value("kaas_vcd_task_duration_seconds", "operation", "PowerOn"), 1, 1e9},
		{"executor creates done", value("kaas_executor_commands_total", "command", "CreateCluster", "result", "done"), 2, 1e9},
		{"projector lag", value("kaas_projector_lag_records", "stream", "KAAS_EVENTS"), 0, 0},
		{"build info", value("kaas_build_info"), 1, 1},
	} {
		if tt.got < tt.min || tt.got > tt.max {
			t.Errorf("%s: %v, want %v..%v", tt.what, tt.got, tt.min, tt.max)
		}
	}
	// /readyz names each check; /livez checks nothing but the process.
	for path, want := range map[string][]string{"/readyz?verbose": {"nats", "jetstream", "projector", "executor", "amqp"}, "/livez": nil} {
		resp, err := http.Get("http://" + e.srv.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
		for _, check := range want {
			if !strings.Contains(string(b), check) {
				t.Errorf("%s does not name the %s check: %s", path, check, b)
			}
		}
	}
	// No cluster id or org name is a label value anywhere.
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "urn:vcloud") || strings.Contains(l.GetValue(), "acme") {
					t.Errorf("%s has label %s=%s", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// sampleValue is a counter's or gauge's value, or a histogram's count.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}
