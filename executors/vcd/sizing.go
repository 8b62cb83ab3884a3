package vcd

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// What a VM gets of what its org VDC offers: the storage profile and VM sizing policy a
// node pool names (CSE's storageProfile and sizingClass), found by name among the VDC's
// storage profiles (its document) and the sizing policies assigned to it (the cloudapi's
// vdcs/{id}/computePolicies), and the CPUs and memory it names. The recompose that adds a VM
// names its storage profile and sizing policy; CPUs and memory, and anything an interrupted
// create left otherwise, are then set by reconfiguring the VM, one task at a time, before
// its guestinfo is written (and well before it is powered on, since VCD changes neither
// CPUs nor memory of a running VM).

// placement is what a VM spec names, resolved in its VDC: nil where it names nothing (the
// VDC's default).
type placement struct {
	profile *types.Reference
	policy  *types.VdcComputePolicyV2
}

// placementOf resolves a spec's storage profile and sizing policy in its VDC; a name the
// VDC does not offer fails the operation.
func (c *Client) placementOf(ctx context.Context, spec executors.VMSpec) (placement, error) {
	var out placement
	if spec.StorageProfile == "" && spec.SizingClass == "" {
		return out, nil
	}
	vdc, err := c.vdc(ctx, spec.VApp)
	if err != nil {
		return out, err
	}
	if spec.StorageProfile != "" {
		if out.profile = storageProfile(vdc.Vdc, spec.StorageProfile); out.profile == nil {
			return out, executors.Terminal(events.CodeStorageProfileNotFound,
				fmt.Sprintf("org VDC %q has no storage profile %q", spec.VApp.VDC, spec.StorageProfile), "", "")
		}
	}
	if spec.SizingClass != "" {
		policies, found, err := c.sizingPolicies(ctx, vdc.Vdc.ID)
		if err != nil {
			return out, err
		}
		for _, p := range policies {
			if p.Name == spec.SizingClass {
				out.policy = p
			}
		}
		if !found || out.policy == nil {
			return out, executors.Terminal(events.CodeSizingPolicyNotFound,
				fmt.Sprintf("org VDC %q is not assigned a VM sizing policy %q", spec.VApp.VDC, spec.SizingClass), "", "")
		}
	}
	return out, nil
}

// storageProfile finds a storage profile of the VDC by name.
func storageProfile(vdc *types.Vdc, name string) *types.Reference {
	if vdc.VdcStorageProfiles == nil {
		return nil
	}
	for _, sp := range vdc.VdcStorageProfiles.VdcStorageProfile {
		if sp != nil && sp.Name == name {
			return &types.Reference{HREF: sp.HREF, ID: sp.ID, Name: sp.Name, Type: sp.Type}
		}
	}
	return nil
}

// sizingPolicies lists the VM sizing policies assigned to a VDC (by its URN); found is
// false when the VDC went away meanwhile. Placement and vGPU policies are left out: a
// sizingClass names a sizing policy.
func (c *Client) sizingPolicies(ctx context.Context, vdcID string) ([]*types.VdcComputePolicyV2, bool, error) {
	all, err := call(ctx, c, func(vc *govcd.VCDClient) ([]*govcd.VdcComputePolicyV2, error) {
		return vc.GetAllAssignedVdcComputePoliciesV2(vdcID, nil)
	})
	if notFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, classify(err)
	}
	var out []*types.VdcComputePolicyV2
	for _, p := range all {
		if p != nil && p.VdcComputePolicyV2 != nil && sizing(p.VdcComputePolicyV2) {
			out = append(out, p.VdcComputePolicyV2)
		}
	}
	return out, true, nil
}

func sizing(p *types.VdcComputePolicyV2) bool {
	return p.IsSizingOnly && !p.IsVgpuPolicy && (p.PolicyType == "" || p.PolicyType == "VdcVmPolicy")
}

// policyHREF is a compute policy's cloudapi href, as a Vm document or a recompose names it.
func policyHREF(vc *govcd.VCDClient, id string) string {
	u, err := vc.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion2_0_0, types.OpenApiEndpointVdcComputePolicies, id)
	if err != nil {
		return ""
	}
	return u.String()
}

// place names a new VM's storage profile and sizing policy in its recompose.
func (c *Client) place(ctx context.Context, item *types.SourcedCompositionItemParam, spec executors.VMSpec) error {
	p, err := c.placementOf(ctx, spec)
	if err != nil {
		return err
	}
	item.StorageProfile = p.profile
	if p.policy != nil {
		vc, err := c.client(ctx, false)
		if err != nil {
			return err
		}
		item.ComputePolicy = &types.ComputePolicy{VmSizingPolicy: &types.Reference{HREF: policyHREF(vc, p.policy.ID)}}
	}
	return nil
}

// reconfigure starts the one change that brings a VM's storage profile, sizing policy,
// CPUs or memory to what the spec names, remembering its task under key. It reports false
// when the VM already has everything.
func (c *Client) reconfigure(ctx context.Context, key string, vm *govcd.VM, spec executors.VMSpec) (bool, error) {
	v := vm.VM
	if spec.StorageProfile != "" && (v.StorageProfile == nil || v.StorageProfile.Name != spec.StorageProfile) {
		p, err := c.placementOf(ctx, executors.VMSpec{VMRef: spec.VMRef, StorageProfile: spec.StorageProfile})
		if err != nil {
			return false, err
		}
		if v.StorageProfile == nil || v.StorageProfile.HREF != p.profile.HREF {
			task, err := vm.UpdateStorageProfileAsync(p.profile.HREF)
			return c.started(key, task, err)
		}
	}
	if spec.SizingClass != "" && !hasPolicy(v, spec.SizingClass, "") {
		p, err := c.placementOf(ctx, executors.VMSpec{VMRef: spec.VMRef, SizingClass: spec.SizingClass})
		if err != nil {
			return false, err
		}
		if !hasPolicy(v, spec.SizingClass, p.policy.ID) {
			placementID := ""
			if v.ComputePolicy != nil && v.ComputePolicy.VmPlacementPolicy != nil {
				placementID = refID(v.ComputePolicy.VmPlacementPolicy)
			}
			task, err := vm.UpdateComputePolicyV2Async(p.policy.ID, placementID, "")
			return c.started(key, task, err)
		}
	}
	if hw, change := resized(v.VmSpecSection, spec.CPU, spec.MemoryMB); change {
		task, err := vm.UpdateVmSpecSectionAsync(hw, v.Description)
		return c.started(key, task, err)
	}
	return false, nil
}

// started remembers a change's task.
func (c *Client) started(key string, task govcd.Task, err error) (bool, error) {
	if err != nil {
		return false, classify(err)
	}
	c.remember(key, task)
	return true, nil
}

// hasPolicy reports whether a VM's sizing policy is the one named: by the reference's name
// when VCD gives one, else by id (when id is known).
func hasPolicy(v *types.Vm, name, id string) bool {
	if v.ComputePolicy == nil || v.ComputePolicy.VmSizingPolicy == nil {
		return false
	}
	ref := v.ComputePolicy.VmSizingPolicy
	if ref.Name != "" {
		return ref.Name == name
	}
	return id != "" && strings.EqualFold(refID(ref), id)
}

// refID is the URN a reference carries, or the one its href ends in.
func refID(ref *types.Reference) string {
	if ref.ID != "" {
		return ref.ID
	}
	return lastSegment(ref.HREF)
}

// resized returns the VM spec section that gives a VM the CPUs and memory asked for (0:
// whatever it has), and whether that is a change. Cores per socket are kept when they
// divide the CPUs, else 1, as VCD wants the CPUs a multiple of them.
func resized(cur *types.VmSpecSection, cpu, memoryMB int) (*types.VmSpecSection, bool) {
	if cpu == 0 && memoryMB == 0 {
		return nil, false
	}
	var out types.VmSpecSection
	if cur != nil {
		out = *cur
	}
	out.DiskSection = nil // VCD takes the same disks as changes, and refuses them (govcd's ChangeMemory does this too)
	change := false
	if cpu > 0 && (out.NumCpus == nil || *out.NumCpus != cpu) {
		n, cores := cpu, 1
		if out.NumCoresPerSocket != nil && *out.NumCoresPerSocket > 0 && cpu%*out.NumCoresPerSocket == 0 {
			cores = *out.NumCoresPerSocket
		}
		out.NumCpus, out.NumCoresPerSocket, change = &n, &cores, true
	}
	if memoryMB > 0 && (out.MemoryResourceMb == nil || out.MemoryResourceMb.Configured != int64(memoryMB)) {
		out.MemoryResourceMb, change = &types.MemoryResourceMb{Configured: int64(memoryMB)}, true
	}
	return &out, change
}

// Hardware reads what a VM got: its sizing policy, storage profile, CPUs and memory, from
// its Vm document. It is not part of executors.VCD; the conformance suite uses it against
// a real VCD.
func (c *Client) Hardware(ctx context.Context, ref executors.VMRef) (executors.VMHardware, error) {
	vm, err := c.vmOf(ctx, ref)
	if err != nil {
		return executors.VMHardware{}, err
	}
	if vm == nil {
		return executors.VMHardware{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	var out executors.VMHardware
	v := vm.VM
	if v.StorageProfile != nil {
		out.StorageProfile = v.StorageProfile.Name
	}
	if v.ComputePolicy != nil && v.ComputePolicy.VmSizingPolicy != nil {
		out.SizingPolicy = v.ComputePolicy.VmSizingPolicy.Name
		if out.SizingPolicy == "" {
			p, err := call(ctx, c, func(vc *govcd.VCDClient) (*govcd.VdcComputePolicyV2, error) {
				return vc.GetVdcComputePolicyV2ById(refID(v.ComputePolicy.VmSizingPolicy))
			})
			if err != nil {
				return out, classify(err)
			}
			out.SizingPolicy = p.VdcComputePolicyV2.Name
		}
	}
	if s := v.VmSpecSection; s != nil {
		if s.NumCpus != nil {
			out.CPU = *s.NumCpus
		}
		if s.MemoryResourceMb != nil {
			out.MemoryMB = int(s.MemoryResourceMb.Configured)
		}
	}
	return out, nil
}

// offers reads what an org VDC offers VMs: its enabled storage profiles (each read for
// whether it is enabled and the default) and its sizing policies. A list kaas could not
// read (the VDC went away meanwhile) is left out: unknown, not empty.
func (c *Client) offers(ctx context.Context, id string, vdc *types.Vdc, out *events.CloudSynced) error {
	if vdc.VdcStorageProfiles != nil {
		profiles := []events.StorageProfile{}
		for _, ref := range vdc.VdcStorageProfiles.VdcStorageProfile {
			if ref == nil {
				continue
			}
			sp, err := call(ctx, c, func(vc *govcd.VCDClient) (*types.VdcStorageProfile, error) {
				return vc.Client.GetStorageProfileByHref(ref.HREF)
			})
			if notFound(err) {
				continue // removed since the VDC was read
			}
			if err != nil {
				return classify(err)
			}
			if sp.Enabled != nil && !*sp.Enabled {
				continue // VCD puts no new VM on it
			}
			profiles = append(profiles, events.StorageProfile{Name: ref.Name, Default: sp.Default})
		}
		out.StorageProfiles = append(out.StorageProfiles, events.VDCStorageProfiles{VDC: id, Profiles: profiles})
	}
	policies, found, err := c.sizingPolicies(ctx, id)
	if err != nil || !found {
		return err
	}
	list := []events.SizingPolicy{}
	for _, p := range policies {
		sp := events.SizingPolicy{Name: p.Name, ID: p.ID}
		if p.CPUCount != nil {
			sp.CPU = *p.CPUCount
		}
		if p.Memory != nil {
			sp.MemoryMB = *p.Memory
		}
		list = append(list, sp)
	}
	out.SizingPolicies = append(out.SizingPolicies, events.VDCSizingPolicies{VDC: id, Policies: list})
	return nil
}
