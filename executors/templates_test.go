package executors_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/template"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

// The provider's org, where builds run: no URN, as kaas acts there as the provider.
const systemOrgID = "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"

func buildCloud() vcdmem.Config {
	c := fastCloud()
	c.Orgs = append(c.Orgs, vcdmem.Org{Name: "provider", VDCs: []vcdmem.VDC{{Name: "build-vdc", Networks: []vcdmem.Network{{Name: "build-net"}}}}})
	return c
}

func buildConfig() executors.Config {
	c := fastConfig()
	c.Build = executors.Build{Org: "provider", VDC: "build-vdc", Network: "build-net", Timeout: 10 * time.Second}
	return c
}

func buildRecipe(name string) events.Recipe {
	return events.Recipe{Name: name, OS: "ubuntu-22.04", Description: "Kubernetes v1.30.4 on Ubuntu 22.04",
		Base:              events.BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64", OVA: "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"},
		KubernetesVersion: "v1.30.4", ContainerdVersion: "1.7.20",
		CNI:     events.RecipeCNI{Name: "antrea", Version: "1.15.1", Manifest: "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		Rules:   events.TemplateRules{CPU: 4, MemoryMB: 8192},
		Scripts: []events.RecipeScript{{Name: "motd", Run: "#!/bin/sh\necho 'Built by kaas' > /etc/motd\n"}}}
}

func (h *harness) provider(id string, p events.Payload) string {
	h.t.Helper()
	return h.sendAs(id, systemOrgID, p)
}

// template folds a template revision's history, checking its hash chain.
func (h *harness) template(id string) (*template.State, []string) {
	h.t.Helper()
	recs, err := h.store.Load(h.t.Context(), id, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	st := &template.State{}
	var types []string
	prev := ""
	for _, r := range recs {
		if r.Envelope.PrevHash != prev {
			h.t.Fatalf("event %d of %s breaks the hash chain", r.Seq, id)
		}
		prev = r.Hash()
		st.Apply(r.Envelope, r.Seq, r.Hash())
		types = append(types, r.Envelope.Type)
	}
	return st, types
}

// waitTemplate waits until the revision has at least n events and no operation in progress.
func (h *harness) waitTemplate(id string, n int) (*template.State, []string) {
	h.t.Helper()
	var st *template.State
	var types []string
	h.until(func() bool {
		st, types = h.template(id)
		return st.Events >= n && !st.Busy()
	}, func() string {
		return fmt.Sprintf("template %s still busy: %s %+v, events %v", id, st.Phase, st.Op, types)
	})
	return st, types
}

// items returns vcdmem's catalog items by name.
func (h *harness) items() map[string]vcdmem.ItemInfo {
	out := map[string]vcdmem.ItemInfo{}
	for _, it := range h.vcd.Items() {
		if _, dup := out[it.Name]; dup {
			h.t.Fatalf("two catalog items named %s", it.Name)
		}
		out[it.Name] = it
	}
	return out
}

func (h *harness) buildVApps() []vcdmem.VAppInfo {
	var out []vcdmem.VAppInfo
	for _, a := range h.vcd.VApps() {
		if strings.HasPrefix(a.Name, "kaas-build-") {
			out = append(out, a)
		}
	}
	return out
}

func count(types []string, typ string) int {
	n := 0
	for _, t := range types {
		if t == typ {
			n++
		}
	}
	return n
}

// A build runs to TemplateBuilt; building the recipe again makes revision 2 on the same
// base image; a cluster made from it runs, its pools sized by the template's rules unless
// they size themselves.
func TestTemplateBuildsAndRevisions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := buildConfig()
		cfg.Metrics = executors.NewMetrics(reg)
		cloud := buildCloud()
		cloud.BootDelay = time.Second // long enough for polls to see the guest's steps
		h := newHarness(t, cloud, cfg)
		r := buildRecipe("ubuntu-22.04_k8s-1.30_antrea-1.15-kaas")
		id1, id2 := events.TemplateID(r.Name, 1), events.TemplateID(r.Name, 2)
		h.provider(id1, events.BuildTemplate{Recipe: r, Revision: 1})
		st, types := h.waitTemplate(id1, 2)
		if st.Phase != "BUILD:SUCCEEDED" || st.Status() != template.StatusReady {
			t.Fatalf("build 1 ended %s: %+v\n%v", st.Phase, st.LastFailure, types)
		}
		for _, typ := range []string{events.TypeTemplateBuildStarted, events.TypeBaseImageReady, events.TypeBuildVAppCreated, events.TypeBuildVMCreated,
			events.TypeBuildVMStarted, events.TypeBuildCustomized, events.TypeBuildVMStopped, events.TypeTemplateCaptured, events.TypeBuildVAppDeleted,
			events.TypeTemplateBuilt} {
			if count(types, typ) != 1 {
				t.Errorf("%s recorded %d times: %v", typ, count(types, typ), types)
			}
		}
		// Each step the guest reported when kaas looked is recorded once, in the contract's
		// order (a poll may miss a short step).
		order := []string{"prepare", "containerd", "kubernetes", "images", "cni", "script:motd", "cleanup"}
		last := -1
		recs, _ := h.store.Load(t.Context(), id1, 0)
		for _, rec := range recs {
			if p, ok := rec.Envelope.Payload.(events.TemplateBuildProgressed); ok {
				i := slices.Index(order, p.Step)
				if i <= last {
					t.Errorf("guest step %q recorded out of order: %v", p.Step, types)
				}
				last = i
			}
		}
		if last < 0 {
			t.Errorf("no guest step recorded: %v", types)
		}
		if !st.Build.BaseUploaded || st.Template.Source != events.SourceBuilt || st.Template.CatalogItemID == "" || st.Template.Rules != r.Rules {
			t.Errorf("built %+v, build %+v", st.Template, st.Build)
		}

		h.provider(id2, events.BuildTemplate{Recipe: r, Revision: 2})
		st2, _ := h.waitTemplate(id2, 2)
		if st2.Phase != "BUILD:SUCCEEDED" || st2.Build.BaseUploaded {
			t.Fatalf("build 2 ended %s %+v, uploaded the base again: %v", st2.Phase, st2.LastFailure, st2.Build.BaseUploaded)
		}
		items := h.items()
		if len(items) != 3 || len(h.buildVApps()) != 0 {
			t.Fatalf("catalog %v, build vApps %+v", items, h.buildVApps())
		}
		base := items[r.Base.Name]
		if !base.Complete || base.Owner != id1 || base.Metadata["kaas.template.name"] != "" {
			t.Errorf("base image %+v", base)
		}
		for rev, id := range map[int]string{1: id1, 2: id2} {
			it := items[events.TemplateItemName(r.Name, rev)]
			md := it.Metadata
			if !it.Complete || it.Owner != id || md["kaas.template.revision"] != strconv.Itoa(rev) || md["kaas.template.source"] != "built" ||
				md["kaas.template.kubernetes_version"] != "v1.30.4" || md["kaas.template.containerd_version"] != "1.7.20" ||
				md["kaas.template.cpu"] != "4" || md["kaas.template.memory_mb"] != "8192" || md["kaas.template.deprecated"] != "false" ||
				it.Kubernetes != "v1.30.4" || len(it.GuestInfo) != 0 {
				t.Errorf("revision %d: complete %v, owner %s, installs %q, metadata %v, guestinfo carried %v", rev, it.Complete, it.Owner,
					it.Kubernetes, it.Metadata, slices.Sorted(maps.Keys(it.GuestInfo)))
			}
		}

		// The template operations are measured as the clusters' are.
		for _, m := range []struct {
			name   string
			labels map[string]string
			min    float64
		}{
			{"kaas_vcd_calls_total", map[string]string{"operation": "CaptureVApp", "status": "ok"}, 2},
			{"kaas_vcd_calls_total", map[string]string{"operation": "EnsureImage", "status": "pending"}, 1},
			{"kaas_vcd_calls_total", map[string]string{"operation": "PowerOff", "status": "ok"}, 2},
			{"kaas_executor_steps_total", map[string]string{"step": "CaptureTemplate", "outcome": "progress"}, 2},
			{"kaas_executor_steps_total", map[string]string{"step": "AwaitCustomization", "outcome": "progress"}, 4},
			{"kaas_executor_commands_total", map[string]string{"command": "BuildTemplate", "result": "done"}, 2},
			{"kaas_events_appended_total", map[string]string{"event": "TemplateBuilt"}, 2},
		} {
			if v := metric(t, reg, m.name, m.labels); v < m.min {
				t.Errorf("%s%v = %v, want at least %v", m.name, m.labels, v, m.min)
			}
		}

		// A cluster from revision 2: the control plane names no sizing and gets the rules; the
		// workers size themselves.
		cid := events.DeriveID("cluster", "from-built")
		sp := spec("from-built", r.Name, 1, true)
		sp.Template.Revision = 2
		sp.Workers.CPU, sp.Workers.MemoryMB = 2, 2048
		h.send(cid, events.CreateCluster{Spec: sp})
		cs := h.waitIdle(cid, 2)
		if cs.Phase != events.PhaseCreateSucceeded || cs.Template.Rules != r.Rules || cs.Template.ContainerdVersion != "1.7.20" {
			t.Fatalf("cluster on the built template: %s %+v %+v", cs.Phase, cs.LastFailure, cs.Template)
		}
		for _, n := range cs.Nodes {
			hw, err := h.vcd.Hardware(t.Context(), executors.VMRef{VApp: executors.VAppRef{Org: "acme", OrgID: vcdmem.AcmeOrgID, VDC: "acme-vdc",
				Name: "from-built", ClusterID: cid}, Name: n.Name})
			want := executors.VMHardware{CPU: 4, MemoryMB: 8192}
			if n.Role == events.RoleWorker {
				want = executors.VMHardware{CPU: 2, MemoryMB: 2048}
			}
			if err != nil || hw.CPU != want.CPU || hw.MemoryMB != want.MemoryMB {
				t.Errorf("%s %s: %+v %v, want %+v", n.Role, n.Name, hw, err, want)
			}
		}

		// Commands on a revision that exists or is being made.
		h.provider(id1, events.BuildTemplate{Recipe: r, Revision: 1})
		st, _ = h.waitTemplate(id1, st.Events+1)
		if f := lastRejection(h, id1); f == nil || f.Code != events.CodeTemplateExists {
			t.Fatalf("a second build of revision 1: %+v", f)
		}
	})
}

// lastRejection returns the failure of the revision's last CommandRejected.
func lastRejection(h *harness, id string) *events.Failure {
	recs, err := h.store.Load(h.t.Context(), id, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if r, ok := recs[i].Envelope.Payload.(events.CommandRejected); ok {
			return &r.Failure
		}
	}
	return nil
}

// A build whose guest fails fails with the guest's reason, and its rollback leaves nothing
// of it: no temporary vApp, no template item (the base image it uploaded, complete, stays
// for the next build). A base image VCD cannot import fails the build and is swept.
func TestTemplateBuildFailures(t *testing.T) {
	tests := []struct {
		name   string
		change func(*events.Recipe)
		code   string
		reason string
		items  []string
	}{
		{"customization", func(r *events.Recipe) { r.KubernetesVersion = "v1.30.99" }, events.CodeCustomizationFailed,
			"the build's customization failed at kubernetes: E: Version '1.30.99-1.1' for 'kubeadm' was not found",
			[]string{"ubuntu-22.04-server-cloudimg-amd64"}},
		{"provider script", func(r *events.Recipe) {
			r.Scripts = append(r.Scripts, events.RecipeScript{Name: "broken", Run: "#!/bin/sh\nif true; then\n"})
		}, events.CodeCustomizationFailed, "the build's customization failed at script:broken: /etc/kaas/build.d/20-broken.sh",
			[]string{"ubuntu-22.04-server-cloudimg-amd64"}},
		{"base image", func(r *events.Recipe) {
			r.Base = events.BaseImage{Name: "unreachable", OVA: "https://images.example.invalid/x.ova"}
		}, events.CodeBaseImageNotFound, "VCD could not import https://images.example.invalid/x.ova", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, buildCloud(), buildConfig())
				r := buildRecipe("failing")
				tt.change(&r)
				id := events.TemplateID(r.Name, 1)
				h.provider(id, events.BuildTemplate{Recipe: r, Revision: 1})
				st, types := h.waitTemplate(id, 2)
				f := st.LastFailure
				if st.Phase != "BUILD:FAILED" || st.Status() != template.StatusFailed || !st.RolledBack || f == nil || f.Code != tt.code ||
					!strings.Contains(f.Message, tt.reason) || strings.Contains(f.Message, "rollback failed") {
					t.Fatalf("ended %s %s rolled back %v: %+v\n%v", st.Phase, st.Status(), st.RolledBack, f, types)
				}
				if a := h.buildVApps(); len(a) != 0 {
					t.Fatalf("left %+v", a)
				}
				var names []string
				for n := range h.items() {
					names = append(names, n)
				}
				if slices.Sort(names); !slices.Equal(names, tt.items) {
					t.Fatalf("catalog %v, want %v", names, tt.items)
				}
				if count(types, events.TypeOperationRolledBack) != 1 {
					t.Fatalf("%v", types)
				}
			})
		})
	}
}

// A guest that does not finish within Build.Timeout fails the build with TIMEOUT.
func TestTemplateBuildTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := buildCloud()
		cloud.BootDelay = time.Hour
		cfg := buildConfig()
		cfg.Build.Timeout = 300 * time.Millisecond
		h := newHarness(t, cloud, cfg)
		r := buildRecipe("slow")
		id := events.TemplateID(r.Name, 1)
		h.provider(id, events.BuildTemplate{Recipe: r, Revision: 1})
		st, _ := h.waitTemplate(id, 2)
		if f := st.LastFailure; st.Phase != "BUILD:FAILED" || f.Code != events.CodeTimeout || f.Step != string(template.StepAwaitCustomization) ||
			!strings.Contains(f.Message, "its last step: prepare") || len(h.buildVApps()) != 0 {
			t.Fatalf("%s %+v", st.Phase, f)
		}
	})
}

// Without a build location builds are refused, naming the settings; imports still work. An
// import uploads a file (its checksum checked) as the revision's item with its metadata;
// a checksum that does not match fails it and leaves nothing.
func TestTemplateImport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig()
		cfg.Build.Org, cfg.Build.OVADir = "provider", t.TempDir()
		h := newHarness(t, buildCloud(), cfg)
		r := buildRecipe("unbuildable")
		bid := events.TemplateID(r.Name, 1)
		h.provider(bid, events.BuildTemplate{Recipe: r, Revision: 1})
		h.waitTemplate(bid, 1)
		if f := lastRejection(h, bid); f == nil || f.Code != events.CodeInvalidChange || !strings.Contains(f.Message, "KAAS_BUILD_VDC") ||
			!strings.Contains(f.Message, "KAAS_BUILD_NETWORK") {
			t.Fatalf("a build with nowhere to run: %+v", f)
		}

		ova := filepath.Join(cfg.Build.OVADir, "tkgm.ova")
		if err := os.WriteFile(ova, []byte("an OVA, as far as this test goes"), 0o600); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("an OVA, as far as this test goes"))
		tp := events.Template{Name: "tkgm-ubuntu-2204_k8s-1.29", Revision: 3, KubernetesVersion: "v1.29.8+vmware.1", OS: "ubuntu-22.04",
			CNI: events.Component{Name: "antrea", Version: "1.13.1"}, Rules: events.TemplateRules{SizingPolicy: "medium"}}
		id := events.TemplateID(tp.Name, tp.Revision)
		h.provider(id, events.ImportTemplate{Template: tp, OVA: ova, SHA256: hex.EncodeToString(sum[:])})
		st, types := h.waitTemplate(id, 2)
		if st.Phase != "IMPORT:SUCCEEDED" || st.Template.Source != events.SourceImported || !slices.Equal(types,
			[]string{events.TypeTemplateImportStarted, events.TypeTemplateImported}) {
			t.Fatalf("import ended %s %+v: %v", st.Phase, st.LastFailure, types)
		}
		it := h.items()["tkgm-ubuntu-2204_k8s-1.29_rev3"]
		if !it.Complete || it.Owner != id || it.Metadata["kaas.template.source"] != "imported" || it.Metadata["kaas.template.sizing_policy"] != "medium" ||
			it.Metadata["kaas.template.kubernetes_version"] != "v1.29.8+vmware.1" {
			t.Fatalf("imported item %+v", it)
		}

		bad := tp
		bad.Revision = 4
		bid = events.TemplateID(bad.Name, bad.Revision)
		h.provider(bid, events.ImportTemplate{Template: bad, OVA: ova, SHA256: strings.Repeat("0", 64)})
		st, _ = h.waitTemplate(bid, 2)
		if st.Phase != "IMPORT:FAILED" || !st.RolledBack || st.LastFailure.Code != events.CodeBaseImageNotFound || len(h.items()) != 1 {
			t.Fatalf("a bad checksum: %s %+v, catalog %v", st.Phase, st.LastFailure, h.items())
		}
		// kaasd reads OVA files from its OVA directory only: not its key, not its streams, not a
		// link out of the directory.
		outside := filepath.Join(t.TempDir(), "secrets.key")
		if err := os.WriteFile(outside, []byte("not for VCD's catalog"), 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(cfg.Build.OVADir, "link.ova")
		if err := os.Symlink(outside, link); err != nil {
			t.Fatal(err)
		}
		for i, path := range []string{outside, link, cfg.Build.OVADir + "/../" + filepath.Base(cfg.Build.OVADir) + "x/a.ova"} {
			bad.Revision = 10 + i
			bid = events.TemplateID(bad.Name, bad.Revision)
			h.provider(bid, events.ImportTemplate{Template: bad, OVA: path})
			st, types := h.waitTemplate(bid, 1)
			if types[0] == events.TypeCommandRejected { // a path that is not clean is refused before anything
				if f := lastRejection(h, bid); f == nil || !strings.Contains(f.Message, "ova") {
					t.Fatalf("an OVA path that is not clean (%s): %+v", path, f)
				}
				continue
			}
			st, _ = h.waitTemplate(bid, 2)
			if st.Phase != "IMPORT:FAILED" || st.LastFailure.Code != events.CodeBaseImageNotFound || len(h.items()) != 1 {
				t.Fatalf("an OVA outside the OVA directory (%s): %s %+v, catalog %v", path, st.Phase, st.LastFailure, h.items())
			}
		}
		// VCD's import fails after the upload: the half-uploaded item is swept.
		bad.Revision = 5
		bid = events.TemplateID(bad.Name, bad.Revision)
		h.provider(bid, events.ImportTemplate{Template: bad, OVA: "https://images.example.invalid/x.ova"})
		st, _ = h.waitTemplate(bid, 2)
		if st.Phase != "IMPORT:FAILED" || !st.RolledBack || len(h.items()) != 1 {
			t.Fatalf("a failed import: %s %+v, catalog %v", st.Phase, st.LastFailure, h.items())
		}
	})
}

// Deprecation sets the item's metadata (a built revision's, or one made by hand) and is
// recorded at once; a delete removes the item; the cloud sync sees both.
func TestTemplateDeprecateAndDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, buildCloud(), buildConfig())
		r := buildRecipe("retired")
		id := events.TemplateID(r.Name, 1)
		h.provider(id, events.BuildTemplate{Recipe: r, Revision: 1})
		st, _ := h.waitTemplate(id, 2)
		ref := events.TemplateRef{Name: r.Name, Revision: 1}

		h.provider(id, events.DeprecateTemplate{Template: ref, Deprecated: true})
		st, types := h.waitTemplate(id, st.Events+1)
		if types[len(types)-1] != events.TypeTemplateDeprecated || !st.Template.Deprecated ||
			h.items()["retired_rev1"].Metadata["kaas.template.deprecated"] != "true" {
			t.Fatalf("deprecate: %v %+v", types, h.items()["retired_rev1"])
		}
		resolved, err := h.vcd.ResolveTemplate(t.Context(), executors.Org{Name: "acme", ID: vcdmem.AcmeOrgID}, ref)
		if err != nil || !resolved.Deprecated {
			t.Fatalf("resolved %+v %v", resolved, err)
		}

		handMade := events.TemplateRef{Name: good, Revision: 1}
		hid := events.TemplateID(handMade.Name, handMade.Revision)
		h.provider(hid, events.DeprecateTemplate{Template: handMade, Deprecated: true})
		hs, _ := h.waitTemplate(hid, 1)
		if !hs.Template.Deprecated || hs.Status() != template.StatusReady {
			t.Fatalf("hand-made: %+v %+v", hs.Template, lastRejection(h, hid))
		}
		missing := events.TemplateRef{Name: "never-made", Revision: 1}
		mid := events.TemplateID(missing.Name, 1)
		h.provider(mid, events.DeprecateTemplate{Template: missing, Deprecated: true})
		h.waitTemplate(mid, 1)
		if f := lastRejection(h, mid); f == nil || f.Code != events.CodeTemplateNotFound {
			t.Fatalf("deprecating what is not there: %+v", f)
		}

		h.provider(id, events.DeleteTemplate{Template: ref})
		st, types = h.waitTemplate(id, st.Events+1)
		if st.Phase != "DELETE:SUCCEEDED" || st.Status() != template.StatusDeleted || types[len(types)-1] != events.TypeTemplateDeleted {
			t.Fatalf("delete: %s %+v %v", st.Phase, st.LastFailure, types)
		}
		h.provider(hid, events.DeleteTemplate{Template: handMade})
		if hs, _ = h.waitTemplate(hid, hs.Events+1); hs.Phase != "DELETE:SUCCEEDED" {
			t.Fatalf("hand-made delete: %s %+v", hs.Phase, hs.LastFailure)
		}
		cloud, err := h.vcd.Cloud(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range cloud.Templates {
			if tp.Name == r.Name || tp.Name == good {
				t.Errorf("deleted %s revision %d still listed", tp.Name, tp.Revision)
			}
		}
		if _, ok := h.items()["retired_rev1"]; ok {
			t.Fatal("the deleted revision's item is left")
		}
		// A new build of a deleted revision is refused; a deprecation of it is not found.
		h.provider(id, events.BuildTemplate{Recipe: r, Revision: 1})
		h.waitTemplate(id, st.Events+1)
		if f := lastRejection(h, id); f == nil || f.Code != events.CodeTemplateExists {
			t.Fatalf("rebuilding a deleted revision: %+v", f)
		}
	})
}

// While a build runs, another build of the revision is refused as existing, a deprecation
// or delete as busy.
func TestTemplateBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := buildCloud()
		cloud.BootDelay = time.Hour // the build waits on its guest throughout
		h := newHarness(t, cloud, buildConfig())
		r := buildRecipe("busy")
		id := events.TemplateID(r.Name, 1)
		h.provider(id, events.BuildTemplate{Recipe: r, Revision: 1})
		h.until(func() bool { st, _ := h.template(id); return st.Build.Started }, func() string { return "the build did not start" })
		ref := events.TemplateRef{Name: r.Name, Revision: 1}
		want := map[string]string{}
		want[h.provider(id, events.BuildTemplate{Recipe: r, Revision: 1})] = events.CodeTemplateExists
		want[h.provider(id, events.DeprecateTemplate{Template: ref, Deprecated: true})] = events.CodeTemplateBusy
		want[h.provider(id, events.DeleteTemplate{Template: ref})] = events.CodeTemplateBusy
		h.until(func() bool {
			recs, _ := h.store.Load(t.Context(), id, 0)
			for _, rec := range recs {
				if rj, ok := rec.Envelope.Payload.(events.CommandRejected); ok {
					if code, waited := want[rec.Envelope.CausationID]; waited && code != rj.Failure.Code {
						t.Fatalf("%s refused with %s, want %s", rj.CommandType, rj.Failure.Code, code)
					}
					delete(want, rec.Envelope.CausationID)
				}
			}
			return len(want) == 0
		}, func() string { return fmt.Sprintf("not refused: %v", want) })
		if st, _ := h.template(id); st.Status() != template.StatusBuilding {
			t.Fatalf("the build: %s", st.Status())
		}
	})
}

// killer loses the answer of the first call of one VCD operation, as when kaas is killed
// right after VCD did the work, and tells the test to restart the executor. Until it is
// restarted, the dying executor's calls fail.
type killer struct {
	executors.VCD
	op    string
	once  sync.Once
	dead  atomic.Bool
	fired chan struct{}
}

var errKilled = errors.New("the executor was killed")

func (k *killer) call(op string, fn func() (executors.Status, error)) (executors.Status, error) {
	if k.dead.Load() {
		return executors.Status{}, errKilled
	}
	st, err := fn()
	if op == k.op {
		lost := false
		k.once.Do(func() { lost = true })
		if lost {
			k.dead.Store(true)
			close(k.fired)
			return executors.Status{}, errKilled
		}
	}
	return st, err
}

func (k *killer) EnsureImage(ctx context.Context, s executors.ImageSpec) (executors.Status, error) {
	return k.call("EnsureImage", func() (executors.Status, error) { return k.VCD.EnsureImage(ctx, s) })
}
func (k *killer) EnsureVApp(ctx context.Context, s executors.VAppSpec) (executors.Status, error) {
	return k.call("EnsureVApp", func() (executors.Status, error) { return k.VCD.EnsureVApp(ctx, s) })
}
func (k *killer) EnsureVM(ctx context.Context, s executors.VMSpec) (executors.Status, error) {
	return k.call("EnsureVM", func() (executors.Status, error) { return k.VCD.EnsureVM(ctx, s) })
}
func (k *killer) PowerOn(ctx context.Context, vm executors.VMRef) (executors.Status, error) {
	return k.call("PowerOn", func() (executors.Status, error) { return k.VCD.PowerOn(ctx, vm) })
}
func (k *killer) GuestInfo(ctx context.Context, vm executors.VMRef) (map[string]string, error) {
	var gi map[string]string
	_, err := k.call("GuestInfo", func() (executors.Status, error) {
		var err error
		gi, err = k.VCD.GuestInfo(ctx, vm)
		return executors.Status{}, err
	})
	return gi, err
}
func (k *killer) PowerOff(ctx context.Context, vm executors.VMRef) (executors.Status, error) {
	return k.call("PowerOff", func() (executors.Status, error) { return k.VCD.PowerOff(ctx, vm) })
}
func (k *killer) SetGuestInfo(ctx context.Context, vm executors.VMRef, v map[string]string) (executors.Status, error) {
	return k.call("SetGuestInfo", func() (executors.Status, error) { return k.VCD.SetGuestInfo(ctx, vm, v) })
}
func (k *killer) CaptureVApp(ctx context.Context, s executors.CaptureSpec) (executors.Status, error) {
	return k.call("CaptureVApp", func() (executors.Status, error) { return k.VCD.CaptureVApp(ctx, s) })
}
func (k *killer) DeleteVApp(ctx context.Context, a executors.VAppRef) (executors.Status, error) {
	return k.call("DeleteVApp", func() (executors.Status, error) { return k.VCD.DeleteVApp(ctx, a) })
}

// An executor killed at any step of a build, right after VCD did that step's work, is
// replaced by one that resumes from the history: one template item, one base image, no
// temporary vApp, and a history whose hash chain holds.
func TestTemplateBuildSurvivesKills(t *testing.T) {
	for _, op := range []string{"EnsureImage", "EnsureVApp", "EnsureVM", "PowerOn", "GuestInfo", "PowerOff", "SetGuestInfo", "CaptureVApp", "DeleteVApp"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := memstore.New(memstore.Config{})
				v, err := vcdmem.New(buildCloud())
				if err != nil {
					t.Fatal(err)
				}
				k := &killer{op: op, fired: make(chan struct{})}
				h := &harness{t: t, store: st, vcd: v, cfg: buildConfig(), wrap: func(in executors.VCD) executors.VCD { k.VCD = in; return k }}
				h.start()
				t.Cleanup(h.halt)
				r := buildRecipe("killed")
				id := events.TemplateID(r.Name, 1)
				h.provider(id, events.BuildTemplate{Recipe: r, Revision: 1})
				select {
				case <-k.fired:
				case <-time.After(20 * time.Second):
					t.Fatalf("no %s call", op)
				}
				h.halt()
				k.dead.Store(false)
				h.start()
				ts, types := h.waitTemplate(id, 2)
				if ts.Phase != "BUILD:SUCCEEDED" {
					t.Fatalf("%s %+v\n%v", ts.Phase, ts.LastFailure, types)
				}
				items := h.items()
				if len(items) != 2 || !items["killed_rev1"].Complete || !items[r.Base.Name].Complete || len(h.buildVApps()) != 0 {
					t.Fatalf("catalog %+v, build vApps %+v", items, h.buildVApps())
				}
				if count(types, events.TypeTemplateCaptured) != 1 || count(types, events.TypeTemplateBuilt) != 1 {
					t.Fatalf("%v", types)
				}
			})
		})
	}
}

// metric sums a counter's series that have the labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
