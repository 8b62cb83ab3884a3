package kaasd_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/recipe"
)

// templateEnv is the whole system with a provider's session beside the tenant's.
type templateEnv struct {
	*simEnv
	provider func(method, path string, body any) (int, []byte)
}

func startTemplateEnv(t *testing.T, simCfg vcdsim.Config) *templateEnv {
	t.Helper()
	e := startSimEnv(t, simCfg)
	return &templateEnv{simEnv: e, provider: e.sys.AsProvider(t)}
}

// loadRecipe reads one of the repository's recipes, as kaasctl does.
func loadRecipe(t *testing.T, name string) events.Recipe {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "recipes", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := recipe.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// build posts a build and returns the revision it makes.
func (e *templateEnv) build(r events.Recipe) cse.TemplateAccepted {
	e.t.Helper()
	code, body := e.provider("POST", "/api/cse/3.0/templates/action/build", r)
	if code != http.StatusAccepted {
		e.t.Fatalf("build %s: %d %s", r.Name, code, body)
	}
	return decode[cse.TemplateAccepted](e.t, body)
}

// revision reads one revision as the provider sees it.
func (e *templateEnv) revision(name string, rev int) (cse.ProviderTemplate, bool) {
	e.t.Helper()
	code, body := e.provider("GET", "/api/cse/3.0/template/"+name+"/"+strconv.Itoa(rev), nil)
	if code == http.StatusNotFound {
		return cse.ProviderTemplate{}, false
	}
	if code != http.StatusOK {
		e.t.Fatalf("GET template %s/%d: %d %s", name, rev, code, body)
	}
	return decode[cse.ProviderTemplate](e.t, body), true
}

// settled waits until a revision's operation ended and returns it.
func (e *templateEnv) settled(name string, rev int) cse.ProviderTemplate {
	e.t.Helper()
	var p cse.ProviderTemplate
	kaasdtest.Eventually(e.t, 90*time.Second, 50*time.Millisecond, func() error {
		var ok bool
		if p, ok = e.revision(name, rev); !ok || p.Status == "BUILDING" || p.Status == "DELETING" {
			return fmt.Errorf("template %s revision %d is %q at %q (guest %q)", name, rev, p.Status, p.Step, p.GuestStep)
		}
		return nil
	})
	return p
}

// createOn creates a cluster on a template revision and returns its id and first answer.
func (e *templateEnv) createOn(name, template string, rev int) (int, []byte) {
	e.t.Helper()
	ent := entity(name, template, 1, true)
	ent["spec"].(map[string]any)["distribution"].(map[string]any)["templateRevision"] = rev
	return e.call("POST", "/api/cse/3.0/clusters", ent)
}

// leftovers names what a build must not leave in VCD: temporary vApps, and catalog items
// that are not ready.
func leftovers(inv vcdsim.Inventory) []string {
	var out []string
	for _, a := range inv.VApps {
		if strings.HasPrefix(a.Name, "kaas-build-") {
			out = append(out, "vApp "+a.Name)
		}
	}
	for _, c := range inv.Catalog {
		if c.Status != 8 {
			out = append(out, fmt.Sprintf("catalog item %s at status %d", c.Name, c.Status))
		}
	}
	return out
}

// items counts the catalog items of each name.
func items(inv vcdsim.Inventory) map[string]int {
	n := map[string]int{}
	for _, c := range inv.Catalog {
		n[c.Name]++
	}
	return n
}

// TestTemplateStory is the provider's story from a recipe to a tenant's cluster, through
// the real path (HTTPS to VCD, AMQP, JetStream, go-vcloud-director, vcdsim's guests): a
// build from one of the repository's recipes makes revision 1, a tenant's cluster on it
// runs the Kubernetes its guest installed, a second build makes revision 2, deprecating
// revision 1 refuses new clusters on it and leaves the existing one working, a revision
// in use cannot be deleted and one that is not can.
func TestTemplateStory(t *testing.T) {
	e := startTemplateEnv(t, kaasdtest.FastSim())
	r := loadRecipe(t, "ubuntu-24.04_k8s-1.31_calico-3.28")

	acc := e.build(r)
	if acc.Revision != 1 || acc.Name != r.Name {
		t.Fatalf("first build: %+v", acc)
	}
	p := e.settled(r.Name, 1)
	if p.Status != "READY" || p.Source != "built" || p.KubernetesVersion != r.KubernetesVersion || p.ContainerdVersion != r.ContainerdVersion ||
		p.CNI != r.CNI.Name || p.CNIVersion != r.CNI.Version || p.CatalogItem != events.TemplateItemName(r.Name, 1) {
		t.Fatalf("revision 1: %+v", p)
	}
	inv := e.sim.Inventory()
	if l := leftovers(inv); len(l) > 0 {
		t.Fatalf("the build left %v", l)
	}
	for _, c := range inv.Catalog {
		if c.Name == events.TemplateItemName(r.Name, 1) && (c.Kubernetes != r.KubernetesVersion || c.Metadata["kaas.template.revision"] != "1" ||
			c.Metadata["kaas.template.name"] != r.Name || c.Metadata["kaas.template.source"] != "built") {
			t.Fatalf("captured item: %+v", c)
		}
	}

	// Tenants see it in CSE's list, and a cluster on it runs what the build installed.
	code, body := e.call("GET", "/api/cse/templates", nil)
	if code != 200 || !strings.Contains(string(body), r.Name) {
		t.Fatalf("tenant's template list: %d %s", code, body)
	}
	code, body = e.createOn("on-built", r.Name, 1)
	if code != http.StatusAccepted {
		t.Fatalf("create on revision 1: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("cluster on the built template ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}
	for _, vm := range e.vapp(id).VMs {
		if vm.Kubernetes != r.KubernetesVersion {
			t.Fatalf("node %s runs Kubernetes %q, the template has %s", vm.Name, vm.Kubernetes, r.KubernetesVersion)
		}
	}

	// A cluster on Kubernetes 1.30 may move to the built revision: upgrade plans follow.
	code, body = e.createOn("on-130", "ubuntu-22.04_k8s-1.30_antrea-1.15", 1)
	if code != http.StatusAccepted {
		t.Fatalf("create on 1.30: %d %s", code, body)
	}
	old := decode[cse.DefEntity](t, body).ID
	if ent := e.waitPhase(old); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("cluster on 1.30 ended %s", ent.Entity.Status.Phase)
	}
	plan := func() []string {
		code, body := e.call("GET", "/api/cse/3.0/cluster/"+old+"/upgrade-plan", nil)
		if code != http.StatusOK {
			t.Fatalf("upgrade-plan: %d %s", code, body)
		}
		var out []string
		for _, p := range decode[[]cse.Template](t, body) {
			out = append(out, fmt.Sprintf("%s/%d", p.Name, p.Revision))
		}
		return out
	}
	if got := plan(); !slices.Contains(got, r.Name+"/1") {
		t.Fatalf("the 1.30 cluster's upgrade plan %v lacks the built revision", got)
	}

	// Building again makes revision 2, from the base image the first build uploaded.
	if acc := e.build(r); acc.Revision != 2 {
		t.Fatalf("second build: %+v", acc)
	}
	if p := e.settled(r.Name, 2); p.Status != "READY" {
		t.Fatalf("revision 2: %+v", p)
	}
	n := items(e.sim.Inventory())
	if n[events.TemplateItemName(r.Name, 1)] != 1 || n[events.TemplateItemName(r.Name, 2)] != 1 || n[r.Base.Name] != 1 {
		t.Fatalf("catalog items: %v", n)
	}

	// Deprecating revision 1 refuses new clusters on it; the existing one keeps working.
	if code, body := e.provider("POST", "/api/cse/3.0/template/"+r.Name+"/1/action/deprecate", nil); code != http.StatusAccepted {
		t.Fatalf("deprecate: %d %s", code, body)
	}
	kaasdtest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if p, _ := e.revision(r.Name, 1); !p.Deprecated {
			return fmt.Errorf("revision 1 does not show deprecated: %+v", p)
		}
		return nil
	})
	if code, body := e.createOn("on-deprecated", r.Name, 1); code != http.StatusBadRequest || !strings.Contains(string(body), "deprecated") {
		t.Fatalf("create on a deprecated revision: %d %s", code, body)
	}
	if got := plan(); slices.Contains(got, r.Name+"/1") || !slices.Contains(got, r.Name+"/2") {
		t.Fatalf("after deprecating revision 1 the upgrade plan is %v", got)
	}
	ent := e.waitPhase(id)
	two := 2
	up := ent.Entity
	up.Spec.Topology.Workers.Count = &two
	up.Status = nil
	if code, body := e.call("PUT", "/api/cse/3.0/cluster/"+id, up); code != http.StatusAccepted {
		t.Fatalf("scale the cluster on the deprecated revision: %d %s", code, body)
	}
	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "UPDATE:SUCCEEDED" {
		t.Fatalf("scale on a deprecated revision ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}
	kaasdtest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := len(e.vapp(id).VMs); n != 3 {
			return fmt.Errorf("the scaled cluster has %d VMs, want 3", n)
		}
		return nil
	})

	// A revision in use cannot be deleted; one that is not can, and is gone from VCD.
	if code, body := e.provider("DELETE", "/api/cse/3.0/template/"+r.Name+"/1", nil); code != http.StatusBadRequest || !strings.Contains(string(body), "on-built") {
		t.Fatalf("delete of a revision in use: %d %s", code, body)
	}
	if code, body := e.provider("DELETE", "/api/cse/3.0/template/"+r.Name+"/2", nil); code != http.StatusAccepted {
		t.Fatalf("delete revision 2: %d %s", code, body)
	}
	if p := e.settled(r.Name, 2); p.Status != "DELETED" {
		t.Fatalf("revision 2 after its delete: %+v", p)
	}
	if n := items(e.sim.Inventory()); n[events.TemplateItemName(r.Name, 2)] != 0 || n[events.TemplateItemName(r.Name, 1)] != 1 {
		t.Fatalf("catalog items after the delete: %v", n)
	}
	if code, body := e.call("GET", "/api/cse/templates", nil); code != 200 || strings.Contains(string(body), `"revision": 2`) && strings.Contains(string(body), r.Name+`", "revision": 2`) {
		t.Fatalf("tenant's list after the delete: %d %s", code, body)
	}
	verifyHistory(t, e.provider)

	// Monitoring sees the revisions and the builds' steps.
	resp, err := http.Get("http://" + e.srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`kaas_templates{status="READY"} 1`, `kaas_templates{status="DELETED"} 1`,
		`kaas_operations_in_progress{operation="BUILD"} 0`, `kaas_executor_steps_total{outcome="progress",step="CaptureTemplate"} 2`} {
		if !strings.Contains(string(scrape), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// verifyHistory checks every aggregate's hash chain, templates' included.
func verifyHistory(t *testing.T, provider func(method, path string, body any) (int, []byte)) {
	t.Helper()
	code, body := provider("GET", "/api/cse/3.0/audit/verify", nil)
	if v := decode[cse.Verification](t, body); code != http.StatusOK || !v.OK {
		t.Fatalf("audit verify: %d %s", code, body)
	}
}

// TestTemplateImportOVA imports a ready-made OVA file (one the test makes) through
// go-vcloud-director's upload into vcdsim's catalog, and a tenant's cluster runs on it.
func TestTemplateImportOVA(t *testing.T) {
	e := startTemplateEnv(t, kaasdtest.FastSim())
	path := filepath.Join(e.cfg.DataDir, "ova", "tkgm-1.30.ova") // kaasd reads OVA files from there only
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := vcdsim.WriteOVA(f, vcdsim.BaseImage{OS: "ubuntu-22.04", KubernetesVersion: "v1.30.2", ContainerdVersion: "1.7.20",
		CNI: "antrea", CNIVersion: "1.15.1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	const name = "ubuntu-22.04_k8s-1.30_tkgm"
	code, body := e.provider("POST", "/api/cse/3.0/templates/action/import", cse.TemplateImport{Name: name, OVA: path,
		KubernetesVersion: "v1.30.2", OS: "ubuntu-22.04", CNI: "antrea", CNIVersion: "1.15.1", MemoryMB: 4096})
	if code != http.StatusAccepted {
		t.Fatalf("import: %d %s", code, body)
	}
	if acc := decode[cse.TemplateAccepted](t, body); acc.Revision != 1 {
		t.Fatalf("import: %+v", acc)
	}
	p := e.settled(name, 1)
	if p.Status != "READY" || p.Source != "imported" || p.Rules.MemoryMB != 4096 {
		t.Fatalf("imported revision: %+v", p)
	}
	inv := e.sim.Inventory()
	if l := leftovers(inv); len(l) > 0 {
		t.Fatalf("the import left %v", l)
	}
	var found bool
	for _, c := range inv.Catalog {
		if c.Name == events.TemplateItemName(name, 1) {
			found = c.Kubernetes == "v1.30.2" && c.Metadata["kaas.template.source"] == "imported" && c.Metadata["kaas.template.memory_mb"] == "4096"
		}
	}
	if !found {
		t.Fatalf("the imported item is not in VCD's catalog as it should be: %+v", inv.Catalog)
	}
	code, body = e.createOn("on-import", name, 1)
	if code != http.StatusAccepted {
		t.Fatalf("create on the import: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("cluster on the import ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}
	for _, vm := range e.vapp(id).VMs {
		if vm.MemoryMB != 4096 {
			t.Fatalf("node %s has %d MB: the template's rule says 4096", vm.Name, vm.MemoryMB)
		}
	}
	verifyHistory(t, e.provider)
}

// TestTemplateBuildFaults: a guest whose customization fails and VCD refusing the capture
// both fail the build with their reason and leave nothing behind; VCD errors that pass are
// retried and the build succeeds.
func TestTemplateBuildFaults(t *testing.T) {
	cfg := kaasdtest.FastSim()
	e := startTemplateEnv(t, cfg)
	base := loadRecipe(t, "ubuntu-22.04_k8s-1.30_antrea-1.15")
	base.Name = "faults"

	cases := []struct {
		name   string
		change func(*events.Recipe)
		fault  *vcdsim.Faults
		want   string // in the failure's message; "" for success
	}{
		{name: "kubernetes version that does not exist", change: func(r *events.Recipe) { r.KubernetesVersion = "v1.30.99" },
			want: "E: Version '1.30.99-1.1' for 'kubeadm' was not found"},
		{name: "provider script sh rejects", change: func(r *events.Recipe) {
			r.Scripts = []events.RecipeScript{{Name: "broken", Run: "#!/bin/sh\nif true; then\n  echo never closed\n"}}
		}, want: "script:broken"},
		{name: "VCD refuses the capture", fault: &vcdsim.Faults{Targeted: []vcdsim.Targeted{{Op: "capture", FailStatus: 400}}}, want: "VCD"},
		{name: "VCD errors that pass", fault: &vcdsim.Faults{ErrorRate: 0.15}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base
			r.Name = fmt.Sprintf("faults-%d", i)
			if c.change != nil {
				c.change(&r)
			}
			if c.fault != nil {
				e.sim.SetFaults(*c.fault)
				t.Cleanup(func() { e.sim.SetFaults(vcdsim.Faults{}) })
			}
			acc := e.build(r)
			p := e.settled(r.Name, acc.Revision)
			e.sim.SetFaults(vcdsim.Faults{})
			if c.want == "" {
				if p.Status != "READY" {
					t.Fatalf("build ended %s: %+v", p.Status, p.Failure)
				}
			} else if p.Status != "FAILED" || p.Failure == nil || !strings.Contains(p.Failure.Message+" "+p.Failure.Step+" "+p.Failure.VCDMessage, c.want) {
				t.Fatalf("build ended %s with %+v; want a failure naming %q", p.Status, p.Failure, c.want)
			}
			kaasdtest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				if l := leftovers(e.sim.Inventory()); len(l) > 0 {
					return fmt.Errorf("left behind: %v", l)
				}
				return nil
			})
			if n := items(e.sim.Inventory())[events.TemplateItemName(r.Name, acc.Revision)]; (c.want == "") != (n == 1) {
				t.Fatalf("%d catalog items for the revision", n)
			}
		})
	}
	verifyHistory(t, e.provider)
}
