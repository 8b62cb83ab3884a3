package vcd_test

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcd"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

// Cloud reads what each org VDC offers VMs: its enabled storage profiles (the default
// marked) and the sizing policies assigned to it, with the CPUs and memory they set.
func TestCloudReadsOffers(t *testing.T) {
	cfg := fastSim()
	cfg.Orgs = append(cfg.Orgs, vcdsim.OrgConfig{Name: "globex", VDCs: []vcdsim.VDCConfig{
		{Name: "globex-vdc", SizingPolicies: []string{"large"}, StorageProfiles: []vcdsim.StorageProfileConfig{
			{Name: "Fast"}, {Name: "Slow", Default: true}, {Name: "Retired", Disabled: true}}},
		{Name: "bare-vdc"},
	}})
	_, url := startSim(t, cfg)
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := c.Cloud(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	name := map[string]string{}
	for _, d := range cloud.VDCs {
		name[d.ID] = d.OrgName + "/" + d.Name
	}
	profiles := map[string][]events.StorageProfile{}
	for _, p := range cloud.StorageProfiles {
		profiles[name[p.VDC]] = p.Profiles
	}
	policies := map[string][]events.SizingPolicy{}
	for _, p := range cloud.SizingPolicies {
		for i := range p.Policies {
			p.Policies[i].ID = "" // VCD's
		}
		policies[name[p.VDC]] = p.Policies
	}
	wantProfiles := map[string][]events.StorageProfile{
		"acme/acme-vdc":     {{Name: "Silver", Default: true}, {Name: "Gold"}},
		"globex/globex-vdc": {{Name: "Fast"}, {Name: "Slow", Default: true}},
		"globex/bare-vdc":   {{Name: "*", Default: true}},
	}
	wantPolicies := map[string][]events.SizingPolicy{
		"acme/acme-vdc":     {{Name: "System Default"}, {Name: "small", CPU: 2, MemoryMB: 2048}, {Name: "medium", CPU: 2, MemoryMB: 4096}},
		"globex/globex-vdc": {{Name: "System Default"}, {Name: "large", CPU: 4, MemoryMB: 8192}},
		"globex/bare-vdc":   {{Name: "System Default"}},
	}
	if !reflect.DeepEqual(profiles, wantProfiles) {
		t.Errorf("storage profiles %+v, want %+v", profiles, wantProfiles)
	}
	if !reflect.DeepEqual(policies, wantPolicies) {
		t.Errorf("sizing policies %+v, want %+v", policies, wantPolicies)
	}
}

// A VM an interrupted create left without what its spec names (made by an older kaas, or
// changed in VCD before it booted) is brought to it, one reconfiguration at a time: its
// storage profile, its sizing policy, then its CPUs and memory.
func TestEnsureVMReconfigures(t *testing.T) {
	cfg := fastSim()
	cfg.TaskDelay = 0
	sim, url := startSim(t, cfg)
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ref := executors.VAppRef{Org: "acme", OrgID: sim.OrgID("acme"), VDC: "acme-vdc", Name: "resized", ClusterID: "4c1d9e1e-0000-4000-8000-000000000002"}
	meta := map[string]string{executors.MetaClusterID: ref.ClusterID}
	until(t, func() (executors.Status, error) {
		return c.EnsureVApp(ctx, executors.VAppSpec{VAppRef: ref, Network: "acme-net", Metadata: meta})
	})
	tmpl, err := c.ResolveTemplate(ctx, executors.Org{Name: "acme", ID: sim.OrgID("acme")}, events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The VM as the interrupted create left it: plain, on the VDC's defaults.
	plain := executors.VMSpec{VMRef: executors.VMRef{VApp: ref, Name: "node-a"}, Role: events.RoleWorker, Template: tmpl, Network: "acme-net"}
	until(t, func() (executors.Status, error) { return c.EnsureVM(ctx, plain) })
	hw := func() executors.VMHardware {
		h, err := c.Hardware(ctx, plain.VMRef)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if got := hw(); got != (executors.VMHardware{SizingPolicy: "System Default", StorageProfile: "Silver", CPU: 2, MemoryMB: 4096}) {
		t.Fatalf("plain VM: %+v", got)
	}
	for _, tc := range []struct {
		change func(*executors.VMSpec)
		want   executors.VMHardware
	}{
		{func(s *executors.VMSpec) { s.StorageProfile, s.SizingClass = "Gold", "small" },
			executors.VMHardware{SizingPolicy: "small", StorageProfile: "Gold", CPU: 2, MemoryMB: 2048}},
		{func(s *executors.VMSpec) { s.CPU, s.MemoryMB = 4, 6144 },
			executors.VMHardware{SizingPolicy: "System Default", StorageProfile: "Silver", CPU: 4, MemoryMB: 6144}},
	} {
		spec := plain
		tc.change(&spec)
		steps := until(t, func() (executors.Status, error) { return c.EnsureVM(ctx, spec) })
		if got := hw(); got != tc.want || steps < 2 {
			t.Fatalf("after EnsureVM (%d calls): %+v, want %+v", steps, got, tc.want)
		}
		// Back to the VDC's defaults, as VCD reconfigures a VM.
		vc, err := vcd.Login(ctx, vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		reset(t, vc, ref, "node-a")
	}
}

// reset puts a VM back on the VDC's default storage profile and sizing policy with its
// template's hardware.
func reset(t *testing.T, vc *govcd.VCDClient, ref executors.VAppRef, name string) {
	t.Helper()
	org, err := vc.GetOrgByName(ref.Org)
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := org.GetVDCByName(ref.VDC, false)
	if err != nil {
		t.Fatal(err)
	}
	vapp, err := vdc.GetVAppByName(ref.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := vapp.GetVMByName(name, true)
	if err != nil {
		t.Fatal(err)
	}
	silver, err := vdc.FindStorageProfileReference("Silver")
	if err != nil {
		t.Fatal(err)
	}
	cpus, cores := 2, 1
	body := &types.Vm{Xmlns: types.XMLNamespaceVCloud, Ovf: types.XMLNamespaceOVF, Name: name, StorageProfile: &silver,
		ComputePolicy: &types.ComputePolicy{VmSizingPolicy: &types.Reference{HREF: vdc.Vdc.DefaultComputePolicy.HREF}},
		VmSpecSection: &types.VmSpecSection{NumCpus: &cpus, NumCoresPerSocket: &cores, MemoryResourceMb: &types.MemoryResourceMb{Configured: 4096}}}
	task, err := vc.Client.ExecuteTaskRequest(vm.VM.HREF+"/action/reconfigureVm", http.MethodPost, types.MimeVM, "reset: %s", body)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.WaitTaskCompletion(); err != nil {
		t.Fatal(err)
	}
}

// until repeats a level-triggered call until it is done, and says how many calls it took.
func until(t *testing.T, f func() (executors.Status, error)) int {
	t.Helper()
	n := 0
	vcdtest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		n++
		st, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Done {
			return fmt.Errorf("not done after %d calls: %+v", n, st)
		}
		return nil
	})
	return n
}
