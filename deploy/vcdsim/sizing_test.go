package vcdsim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

// vmByName is the inventory's view of a VM.
func vmByName(t *testing.T, sim *vcdsim.Server, name string) vcdsim.VMInfo {
	t.Helper()
	for _, a := range sim.Inventory().VApps {
		for _, m := range a.VMs {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no VM %s in the inventory", name)
	return vcdsim.VMInfo{}
}

// placed adds a VM with a storage profile and sizing policy reference, either nil.
func placed(name, src string, profile *types.Reference, policy *types.Reference) *types.ReComposeVAppParams {
	p := addVM(name, src)
	p.SourcedItem.StorageProfile = profile
	if policy != nil {
		p.SourcedItem.ComputePolicy = &types.ComputePolicy{VmSizingPolicy: policy}
	}
	return p
}

// The org VDC's storage profiles and sizing policies, read and used as govcd does.
func TestStorageProfilesAndSizingPolicies(t *testing.T) {
	sim, base := start(t, func(c *vcdsim.Config) { c.TaskDelay = 0 })
	vc := client(t, base, "administrator", "kaas-admin", "System")
	vdc, vapp := vappWithNetwork(t, vc, "sized")
	src := templateVM(t, vc)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// The VDC document lists its storage profiles and its default compute policy.
	var names []string
	for _, sp := range vdc.Vdc.VdcStorageProfiles.VdcStorageProfile {
		names = append(names, sp.Name)
		full, err := vc.Client.GetStorageProfileByHref(sp.HREF)
		must(err)
		if full.Name != sp.Name || full.Default != (sp.Name == "Silver") || full.Enabled == nil || !*full.Enabled {
			t.Errorf("storage profile %s reads %+v", sp.Name, full)
		}
	}
	if !slices.Equal(names, []string{"Silver", "Gold"}) || vdc.Vdc.DefaultComputePolicy == nil || vdc.Vdc.DefaultComputePolicy.Name != "System Default" {
		t.Fatalf("VDC lists %v, default policy %+v", names, vdc.Vdc.DefaultComputePolicy)
	}
	gold, err := vdc.FindStorageProfileReference("Gold")
	must(err)

	// The policies assigned to the VDC, and all the provider's.
	assigned, err := vc.GetAllAssignedVdcComputePoliciesV2(vdc.Vdc.ID, nil)
	must(err)
	policies := map[string]*types.VdcComputePolicyV2{}
	for _, p := range assigned {
		policies[p.VdcComputePolicyV2.Name] = p.VdcComputePolicyV2
	}
	small := policies["small"]
	if len(policies) != 3 || small == nil || policies["medium"] == nil || policies[vcdsimDefault] == nil ||
		small.CPUCount == nil || *small.CPUCount != 2 || small.Memory == nil || *small.Memory != 2048 || !small.IsSizingOnly ||
		small.PolicyType != "VdcVmPolicy" || policies[vcdsimDefault].CPUCount != nil {
		t.Fatalf("assigned policies %+v", policies)
	}
	filtered, err := vc.GetAllAssignedVdcComputePoliciesV2(vdc.Vdc.ID, url.Values{"filter": {"name==medium"}})
	must(err)
	if len(filtered) != 1 || filtered[0].VdcComputePolicyV2.Name != "medium" {
		t.Fatalf("filtered: %d", len(filtered))
	}
	large, err := vc.GetAllVdcComputePoliciesV2(url.Values{"filter": {"name==large"}})
	must(err)
	if len(large) != 1 {
		t.Fatalf("large: %d", len(large))
	}
	byID, err := vc.GetVdcComputePolicyV2ById(small.ID)
	must(err)
	if byID.VdcComputePolicyV2.Name != "small" {
		t.Fatalf("by id: %+v", byID.VdcComputePolicyV2)
	}
	if _, err := vc.GetVdcComputePolicyV2ById("urn:vcloud:vdcComputePolicy:00000000-0000-0000-0000-000000000000"); !govcd.ContainsNotFound(err) {
		t.Fatalf("an unknown policy: %v", err)
	}
	ref := func(p *types.VdcComputePolicyV2) *types.Reference {
		return &types.Reference{HREF: base + "/cloudapi/2.0.0/vdcComputePolicies/" + p.ID}
	}

	// A VM on Gold, sized small: the policy's CPUs and memory.
	vm, err := vapp.AddRawVM(placed("mstr-a", src, &gold, ref(small)))
	must(err)
	spec := vm.VM.VmSpecSection
	if vm.VM.StorageProfile == nil || vm.VM.StorageProfile.Name != "Gold" || vm.VM.ComputePolicy == nil || vm.VM.ComputePolicy.VmSizingPolicy == nil ||
		vm.VM.ComputePolicy.VmSizingPolicy.ID != small.ID || spec == nil || *spec.NumCpus != 2 || spec.MemoryResourceMb.Configured != 2048 {
		t.Fatalf("VM %+v %+v %+v", vm.VM.StorageProfile, vm.VM.ComputePolicy, spec)
	}
	if got := vmByName(t, sim, "mstr-a"); got.SizingPolicy != "small" || got.StorageProfile != "Gold" || got.CPU != 2 || got.MemoryMB != 2048 {
		t.Fatalf("inventory %+v", got)
	}
	// A VM that names neither: the VDC's defaults, the template's hardware.
	plain, err := vapp.AddRawVM(placed("node-b", src, nil, nil))
	must(err)
	if got := vmByName(t, sim, "node-b"); got.SizingPolicy != vcdsimDefault || got.StorageProfile != "Silver" || got.CPU != 2 || got.MemoryMB != 4096 {
		t.Fatalf("inventory %+v", got)
	}

	// VCD refuses a policy the VDC is not assigned, and a storage profile not its.
	for what, p := range map[string]*types.ReComposeVAppParams{
		"a policy not assigned": placed("node-c", src, nil, ref(large[0].VdcComputePolicyV2)),
		"an unknown policy":     placed("node-c", src, nil, &types.Reference{HREF: base + "/cloudapi/2.0.0/vdcComputePolicies/urn:vcloud:vdcComputePolicy:00000000-0000-0000-0000-000000000000"}),
		"an unknown profile":    placed("node-c", src, &types.Reference{HREF: base + "/api/vdcStorageProfile/00000000-0000-0000-0000-000000000000"}, nil),
	} {
		if _, err := vapp.AddRawVM(p); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("%s: %v", what, err)
		}
	}

	// Reconfigured, as govcd does it: the hardware a policy leaves open changes; what it
	// fixes does not.
	must(plain.ChangeMemory(8192))
	must(plain.ChangeCPU(4, 2))
	must(plain.Refresh())
	if s := plain.VM.VmSpecSection; *s.NumCpus != 4 || *s.NumCoresPerSocket != 2 || s.MemoryResourceMb.Configured != 8192 {
		t.Fatalf("after reconfigure: %d CPUs, %d cores, %d MB", *s.NumCpus, *s.NumCoresPerSocket, s.MemoryResourceMb.Configured)
	}
	if err := vm.ChangeMemory(4096); err == nil || !strings.Contains(err.Error(), "sizing policy") {
		t.Fatalf("memory its sizing policy fixes: %v", err)
	}
	if _, err := vm.UpdateComputePolicyV2(policies["medium"].ID, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.UpdateStorageProfile(vdc.Vdc.VdcStorageProfiles.VdcStorageProfile[0].HREF); err != nil {
		t.Fatal(err)
	}
	if got := vmByName(t, sim, "mstr-a"); got.SizingPolicy != "medium" || got.StorageProfile != "Silver" || got.MemoryMB != 4096 {
		t.Fatalf("after a new policy and profile: %+v", got)
	}
	// The deprecated item calls (a PUT of the cpu or memory item) too.
	task, err := plain.ChangeMemorySize(6144)
	must(err)
	must(task.WaitTaskCompletion())
	task, err = plain.ChangeCPUCount(6)
	must(err)
	must(task.WaitTaskCompletion())
	if got := vmByName(t, sim, "node-b"); got.CPU != 6 || got.MemoryMB != 6144 {
		t.Fatalf("after the item calls: %+v", got)
	}

	// The virtual hardware section shows CPU and memory, and writing extraConfig, which
	// sends back the items read, keeps them.
	hw, err := plain.GetVirtualHardwareSection()
	must(err)
	var cpu, mem int64
	for _, it := range hw.Item {
		switch it.ResourceType {
		case 3:
			cpu = it.VirtualQuantity
		case 4:
			mem = it.VirtualQuantity
		}
	}
	if cpu != 6 || mem != 6144 {
		t.Fatalf("virtual hardware: %d CPUs, %d MB", cpu, mem)
	}
	if _, err := plain.UpdateExtraConfig([]*types.ExtraConfigMarshal{{Key: "guestinfo.x", Value: "y"}}); err != nil {
		t.Fatal(err)
	}
	if got := vmByName(t, sim, "node-b"); got.CPU != 6 || got.MemoryMB != 6144 || got.GuestInfo["guestinfo.x"] != "y" {
		t.Fatalf("after extraConfig: %+v", got)
	}

	// A running VM's CPUs and memory do not change (hot add is off).
	task, err = plain.PowerOn()
	must(err)
	must(task.WaitTaskCompletion())
	must(plain.Refresh())
	if err := plain.ChangeMemory(8192); err == nil || !strings.Contains(err.Error(), "powered on") {
		t.Fatalf("memory of a running VM: %v", err)
	}
}

const vcdsimDefault = "System Default"

// A tenant reads the policies of its org's VDCs only, on both cloudapi versions.
func TestSizingPoliciesTenantView(t *testing.T) {
	_, base := start(t, func(c *vcdsim.Config) {
		c.Orgs = append(c.Orgs, vcdsim.OrgConfig{Name: "globex", VDCs: []vcdsim.VDCConfig{{Name: "globex-vdc", SizingPolicies: []string{"large"}}}})
	})
	alice := login(t, base, "alice", "alice-pass", "acme")
	admin := login(t, base, "administrator", "kaas-admin", "System")
	names := func(b []byte) []string {
		var out []string
		for _, v := range decode[page](t, b).Values {
			out = append(out, decode[map[string]any](t, v)["name"].(string))
		}
		slices.Sort(out)
		return out
	}
	if got := names(alice.must(200, http.MethodGet, "/cloudapi/2.0.0/vdcComputePolicies", nil)); !slices.Equal(got, []string{vcdsimDefault, "medium", "small"}) {
		t.Fatalf("alice sees %v", got)
	}
	if got := names(admin.must(200, http.MethodGet, "/cloudapi/2.0.0/vdcComputePolicies", nil)); len(got) != 5 {
		t.Fatalf("the provider sees %v", got)
	}
	acme := vcdsim.VDCURN("acme", "acme-vdc")
	globex := vcdsim.VDCURN("globex", "globex-vdc")
	if got := names(alice.must(200, http.MethodGet, "/cloudapi/1.0.0/vdcs/"+acme+"/computePolicies", nil)); !slices.Equal(got, []string{vcdsimDefault, "medium", "small"}) {
		t.Fatalf("acme-vdc's: %v", got)
	}
	alice.must(403, http.MethodGet, "/cloudapi/2.0.0/vdcs/"+globex+"/computePolicies", nil)
	if got := names(admin.must(200, http.MethodGet, "/cloudapi/2.0.0/vdcs/"+globex+"/computePolicies", nil)); !slices.Equal(got, []string{vcdsimDefault, "large"}) {
		t.Fatalf("globex-vdc's: %v", got)
	}
	// 1.0.0 has no policyType; 2.0.0 nothing but compute policies.
	var p map[string]any
	_ = json.Unmarshal(decode[page](t, alice.must(200, http.MethodGet, "/cloudapi/1.0.0/vdcComputePolicies?filter=name==small", nil)).Values[0], &p)
	if _, has := p["policyType"]; has || p["cpuCount"] != float64(2) || p["memory"] != float64(2048) {
		t.Fatalf("1.0.0 policy %v", p)
	}
	admin.must(404, http.MethodGet, "/cloudapi/2.0.0/vdcs", nil)
	admin.must(404, http.MethodGet, "/cloudapi/2.0.0/entityTypes", nil)
}

// A configuration that assigns a policy nobody configured, or gives a VDC two default
// storage profiles, does not start.
func TestSizingConfigRefused(t *testing.T) {
	for name, mutate := range map[string]func(*vcdsim.Config){
		"unknown policy": func(c *vcdsim.Config) { c.Orgs[0].VDCs[0].SizingPolicies = []string{"huge"} },
		"two defaults": func(c *vcdsim.Config) {
			c.Orgs[0].VDCs[0].StorageProfiles = []vcdsim.StorageProfileConfig{{Name: "a", Default: true}, {Name: "b", Default: true}}
		},
		"disabled default": func(c *vcdsim.Config) {
			c.Orgs[0].VDCs[0].StorageProfiles = []vcdsim.StorageProfileConfig{{Name: "a", Default: true, Disabled: true}}
		},
		"same policy twice": func(c *vcdsim.Config) {
			c.SizingPolicies = append(c.SizingPolicies, vcdsim.SizingPolicyConfig{Name: "small"})
		},
	} {
		cfg := vcdsim.Default()
		mutate(&cfg)
		if _, err := vcdsim.New(cfg, nil); err == nil {
			t.Errorf("%s: started", name)
		}
	}
}

// A disabled storage profile is listed, and takes no new VM.
func TestDisabledStorageProfile(t *testing.T) {
	_, base := start(t, func(c *vcdsim.Config) {
		c.TaskDelay = 0
		c.Orgs[0].VDCs[0].StorageProfiles = append(c.Orgs[0].VDCs[0].StorageProfiles, vcdsim.StorageProfileConfig{Name: "Bronze", Disabled: true})
	})
	vc := client(t, base, "administrator", "kaas-admin", "System")
	vdc, vapp := vappWithNetwork(t, vc, "disabled")
	bronze, err := vdc.FindStorageProfileReference("Bronze")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vapp.AddRawVM(placed("node-a", templateVM(t, vc), &bronze, nil)); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("a VM on a disabled profile: %v", err)
	}
}
