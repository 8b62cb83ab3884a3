package vcd_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/template"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcd"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

// A template build and an import run end to end on the simulator through this adapter:
// the executors' steps, govcd's requests, VCD's answers. The build uploads the recipe's
// base image (downloaded by VCD), customizes a temporary vApp, captures it and deletes it;
// the import uploads an OVA file. Each revision is then a template kaas resolves.
func TestTemplateBuildOnSimulator(t *testing.T) {
	sim, url := startSim(t, fastSim())
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New(memstore.Config{}) // the executor's store is not what this tests
	ovaDir := t.TempDir()                    // the only place the executor uploads OVA files from
	ex, err := executors.New(executors.Config{Workers: 2, PollInterval: 20 * time.Millisecond, RetryBase: 10 * time.Millisecond,
		RetryMax: 100 * time.Millisecond, MaxAttempts: 12, BootTimeout: 20 * time.Second, OperationTimeout: time.Minute,
		Build:  executors.Build{Org: "acme", VDC: "acme-vdc", Network: "acme-net", Timeout: 20 * time.Second, OVADir: ovaDir},
		Logger: slog.New(slog.DiscardHandler)}, store, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ex.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	n := 0
	send := func(id string, p events.Payload) {
		n++
		req := fmt.Sprintf("req-%d", n)
		env := events.Envelope{ID: events.DeriveID("command", req), ClusterID: id, OrgID: sim.OrgID("System"),
			Actor: "urn:vcloud:user:administrator", Time: time.Now(), CorrelationID: req, Payload: p}
		if _, _, err := store.AppendCommand(t.Context(), env, req); err != nil {
			t.Fatal(err)
		}
	}
	// settled waits until the template's history ends its operation, looking again at
	// every append to the store.
	settled := func(id string) *template.State {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			changed := store.Changed() // taken before the look, so that no append is missed
			recs, err := store.Load(t.Context(), id, 0)
			if err != nil {
				t.Fatal(err)
			}
			st := &template.State{}
			for _, r := range recs {
				st.Apply(r.Envelope, r.Seq, r.Hash())
			}
			if st.Events > 1 && !st.Busy() {
				return st
			}
			select {
			case <-changed:
			case <-timeout:
				t.Fatalf("after 30s template %s is still busy: %s", id, st.Phase)
			}
		}
	}

	r := events.Recipe{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", OS: "ubuntu-22.04", Description: "Kubernetes v1.30.4 on Ubuntu 22.04",
		Base:              events.BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64", OVA: ubuntuOVA},
		KubernetesVersion: "v1.30.4", ContainerdVersion: "1.7.20",
		CNI:   events.RecipeCNI{Name: "antrea", Version: "1.15.1", Manifest: "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		Rules: events.TemplateRules{CPU: 2, MemoryMB: 4096}}
	built := events.TemplateID(r.Name, 1)
	send(built, events.BuildTemplate{Recipe: r, Revision: 1})
	if st := settled(built); st.Status() != template.StatusReady {
		t.Fatalf("the build ended %s: %+v", st.Phase, st.LastFailure)
	}

	// A recipe the guest cannot install fails with the guest's reason and leaves nothing.
	bad := r
	bad.Name, bad.KubernetesVersion = "broken", "v1.30.99"
	failed := events.TemplateID(bad.Name, 1)
	send(failed, events.BuildTemplate{Recipe: bad, Revision: 1})
	if st := settled(failed); st.Status() != template.StatusFailed || st.LastFailure == nil ||
		!strings.Contains(st.LastFailure.Message, "1.30.99") {
		t.Fatalf("the broken build ended %s: %+v", st.Phase, st.LastFailure)
	}

	ova, digest := vcdtest.WriteOVA(t, ovaDir)
	imported := events.TemplateID("imported", 1)
	send(imported, events.ImportTemplate{OVA: ova, SHA256: digest, Template: events.Template{Name: "imported", Revision: 1,
		KubernetesVersion: "v1.30.4", OS: "ubuntu-22.04", CNI: events.Component{Name: "antrea", Version: "1.15.1"}}})
	if st := settled(imported); st.Status() != template.StatusReady {
		t.Fatalf("the import ended %s: %+v", st.Phase, st.LastFailure)
	}

	acme := executors.Org{Name: "acme", ID: sim.OrgID("acme")}
	for ref, source := range map[events.TemplateRef]string{{Name: r.Name, Revision: 1}: events.SourceBuilt, {Name: "imported", Revision: 1}: events.SourceImported} {
		tmpl, err := c.ResolveTemplate(t.Context(), acme, ref)
		if err != nil || tmpl.Source != source || tmpl.KubernetesVersion != "v1.30.4" {
			t.Errorf("%+v resolves as %+v %v", ref, tmpl, err)
		}
	}
	inv := sim.Inventory()
	if len(inv.VApps) != 0 {
		t.Errorf("the build left %+v", inv.VApps)
	}
	names := map[string]int{}
	for _, it := range inv.Catalog {
		names[it.Name]++
		if it.Name == events.TemplateItemName(r.Name, 1) && it.Kubernetes != "v1.30.4" {
			t.Errorf("the captured template installs %q", it.Kubernetes)
		}
	}
	for name, want := range map[string]int{r.Base.Name: 1, events.TemplateItemName(r.Name, 1): 1, events.TemplateItemName("imported", 1): 1,
		events.TemplateItemName(bad.Name, 1): 0} {
		if names[name] != want {
			t.Errorf("the catalog holds %d items %s, want %d: %v", names[name], name, want, names)
		}
	}
}
