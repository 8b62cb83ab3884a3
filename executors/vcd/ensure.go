package vcd

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// EnsureVApp implements executors.VCD: the vApp, composed empty on the network, then
// tagged, one task at a time. A vApp composed without the network (by an earlier kaas)
// gets it attached before it is tagged.
func (c *Client) EnsureVApp(ctx context.Context, spec executors.VAppSpec) (executors.Status, error) {
	key := "vapp:" + spec.ClusterID
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	vdc, err := c.vdc(ctx, spec.VAppRef)
	if err != nil {
		return executors.Status{}, err
	}
	vapp, err := c.findVApp(ctx, vdc, spec.VAppRef)
	if err != nil {
		return executors.Status{}, err
	}
	if vapp == nil {
		// A missing network fails the create before anything is made.
		net, err := orgNetwork(vdc, spec)
		if err != nil {
			return executors.Status{}, err
		}
		// govcd's CreateRawVApp waits for the compose task; the same request is sent here
		// without waiting. The description marks the vApp as this cluster's from the start,
		// and the network comes with the compose (bridged to the org VDC network, as
		// AddOrgNetworkAsync attaches it), which saves a task of its own.
		var created types.VApp
		_, err = call(ctx, c, func(vc *govcd.VCDClient) (*http.Response, error) {
			return vc.Client.ExecuteRequest(vdc.Vdc.HREF+"/action/composeVApp", http.MethodPost, types.MimeComposeVappParams,
				"compose vApp: %s", &types.ComposeVAppParams{Ovf: types.XMLNamespaceOVF, Xsi: types.XMLNamespaceXSI, Xmlns: types.XMLNamespaceVCloud,
					Name: spec.Name, Description: description(spec.ClusterID),
					InstantiationParams: &types.InstantiationParams{NetworkConfigSection: &types.NetworkConfigSection{
						Info:          "Configuration parameters for logical networks",
						NetworkConfig: []types.VAppNetworkConfiguration{vappNetwork(net.OrgVDCNetwork)}}}}, &created)
		})
		if err != nil {
			return executors.Status{}, classify(err)
		}
		if created.Tasks != nil && len(created.Tasks.Task) > 0 {
			c.remember(key, govcd.Task{Task: created.Tasks.Task[0]})
		}
		return executors.Status{ID: created.ID}, nil
	}
	if busy(vapp.VApp.Tasks) || vapp.VApp.Status == 0 { // 0: UNRESOLVED, still being composed
		return executors.Status{ID: vapp.VApp.ID}, nil
	}
	if !hasNetwork(vapp, spec.Network) {
		net, err := orgNetwork(vdc, spec)
		if err != nil {
			return executors.Status{}, err
		}
		task, err := vapp.AddOrgNetworkAsync(&govcd.VappNetworkSettings{}, net.OrgVDCNetwork, false)
		if err != nil {
			return executors.Status{}, classify(err)
		}
		c.remember(key, task)
		return executors.Status{ID: vapp.VApp.ID}, nil
	}
	done, err := c.ensureMetadata(key, vapp.GetMetadata, vapp.MergeMetadataWithMetadataValuesAsync, spec.Metadata)
	return executors.Status{ID: vapp.VApp.ID, Done: done}, err
}

func orgNetwork(vdc *govcd.Vdc, spec executors.VAppSpec) (*govcd.OrgVDCNetwork, error) {
	net, err := vdc.GetOrgVdcNetworkByName(spec.Network, false)
	if notFound(err) {
		return nil, executors.Terminal(events.CodeNetworkNotFound,
			fmt.Sprintf("network %q does not exist in VDC %q", spec.Network, spec.VDC), "", "")
	}
	return net, classify(err)
}

// vappNetwork is the vApp network bridged to an org VDC network, as govcd's
// AddOrgNetworkAsync makes it.
func vappNetwork(net *types.OrgVDCNetwork) types.VAppNetworkConfiguration {
	return types.VAppNetworkConfiguration{NetworkName: net.Name,
		Configuration: &types.NetworkConfiguration{FenceMode: types.FenceModeBridged, ParentNetwork: &types.Reference{HREF: net.HREF}}}
}

func hasNetwork(vapp *govcd.VApp, name string) bool {
	s := vapp.VApp.NetworkConfigSection
	if s == nil {
		return false
	}
	return slices.ContainsFunc(s.NetworkConfig, func(n types.VAppNetworkConfiguration) bool { return n.NetworkName == name })
}

// ensureMetadata writes every missing metadata entry in one merge (one task, where an
// entry at a time costs a task each) and reports whether all are there.
func (c *Client) ensureMetadata(key string, get func() (*types.Metadata, error),
	merge func(map[string]types.MetadataValue) (govcd.Task, error), want map[string]string) (bool, error) {
	if len(want) == 0 {
		return true, nil
	}
	md, err := get()
	if err != nil {
		return false, classify(err)
	}
	have := metadataMap(md)
	missing := map[string]types.MetadataValue{}
	for k, v := range want {
		if have[k] != v {
			missing[k] = types.MetadataValue{Domain: &types.MetadataDomainTag{Visibility: types.MetadataReadWriteVisibility, Domain: "GENERAL"},
				TypedValue: &types.MetadataTypedValue{XsiType: types.MetadataStringValue, Value: v}}
		}
	}
	if len(missing) == 0 {
		return true, nil
	}
	task, err := merge(missing)
	if err != nil {
		return false, classify(err)
	}
	c.remember(key, task)
	return false, nil
}

func (c *Client) vapp(ctx context.Context, ref executors.VAppRef) (*govcd.VApp, error) {
	if vapp, err := c.knownVApp(ctx, ref); vapp != nil || err != nil {
		return vapp, err
	}
	vdc, err := c.vdc(ctx, ref)
	if err != nil {
		return nil, err
	}
	vapp, err := c.findVApp(ctx, vdc, ref)
	if err != nil {
		return nil, err
	}
	if vapp == nil {
		return nil, executors.Terminal(events.CodeInternal, fmt.Sprintf("the vApp of cluster %q is gone", ref.Name), "", "")
	}
	return vapp, nil
}

// findVM finds a node's VM in its vApp, and remembers where it is.
func (c *Client) findVM(vapp *govcd.VApp, ref executors.VMRef) (*govcd.VM, error) {
	vm, err := vapp.GetVMByName(ref.Name, false)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	c.mu.Lock()
	if len(c.vms) > 100_000 {
		clear(c.vms) // hints, like vapps
	}
	c.vms[vmKey(ref)] = vm.VM.HREF
	c.mu.Unlock()
	return vm, nil
}

func vmKey(ref executors.VMRef) string { return ref.VApp.ClusterID + "/" + ref.Name }

// knownVM reads a node's VM by the href an earlier lookup found, one read where its vApp
// and then the VM would be two. It returns nil when none is known, or when the VM there
// is gone or is no longer the node's: of another name, or in another vApp than the
// cluster's (the caller then looks it up in the vApp).
func (c *Client) knownVM(ctx context.Context, ref executors.VMRef) (*govcd.VM, error) {
	c.mu.Lock()
	href, vappHREF := c.vms[vmKey(ref)], c.vapps[ref.VApp.ClusterID]
	c.mu.Unlock()
	if href == "" || vappHREF == "" {
		return nil, nil
	}
	vm, err := call(ctx, c, func(vc *govcd.VCDClient) (*govcd.VM, error) { return vc.Client.GetVMByHref(href) })
	switch {
	case notFound(err):
	case err != nil:
		return nil, classify(err)
	case vm.VM.Name == ref.Name && slices.ContainsFunc(vm.VM.Link, func(l *types.Link) bool { return l.Rel == "up" && l.HREF == vappHREF }):
		return vm, nil
	}
	c.forgetVM(ref)
	return nil, nil
}

func (c *Client) forgetVM(ref executors.VMRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.vms, vmKey(ref))
}

// EnsureVM implements executors.VCD: the VM added from the template on the storage profile
// and sizing policy the spec names (one recompose at a time: VCD refuses overlapping ones on
// a vApp), then reconfigured to the CPUs and memory it names (sizing.go), then its
// guestinfo, then its metadata.
func (c *Client) EnsureVM(ctx context.Context, spec executors.VMSpec) (executors.Status, error) {
	key := "vm:" + spec.VApp.ClusterID + ":" + spec.Name
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	vm, err := c.knownVM(ctx, spec.VMRef)
	if err != nil {
		return executors.Status{}, err
	}
	if vm == nil {
		vapp, err := c.vapp(ctx, spec.VApp)
		if err != nil {
			return executors.Status{}, err
		}
		if vm, err = c.findVM(vapp, spec.VMRef); err != nil {
			return executors.Status{}, err
		}
		if vm == nil {
			if busy(vapp.VApp.Tasks) {
				return executors.Status{}, nil
			}
			return executors.Status{}, c.addVM(ctx, key, vapp, spec)
		}
	}
	if busy(vm.VM.Tasks) {
		return executors.Status{ID: vm.VM.ID}, nil
	}
	if started, err := c.reconfigure(ctx, key, vm, spec); started || err != nil {
		return executors.Status{ID: vm.VM.ID}, err
	}
	have, hw, err := c.extraConfig(ctx, vm)
	if err != nil {
		return executors.Status{ID: vm.VM.ID}, err
	}
	missing := map[string]string{}
	for k, v := range spec.GuestInfo {
		if have[k] != v {
			missing[k] = v
		}
	}
	if len(missing) > 0 {
		return executors.Status{ID: vm.VM.ID}, c.setExtraConfig(ctx, key, vm, hw, missing)
	}
	done, err := c.ensureMetadata(key, vm.GetMetadata, vm.MergeMetadataWithMetadataValuesAsync, spec.Metadata)
	return executors.Status{ID: vm.VM.ID, Done: done}, err
}

func (c *Client) addVM(ctx context.Context, key string, vapp *govcd.VApp, spec executors.VMSpec) error {
	it, err := c.source(ctx, spec)
	if err != nil {
		return err
	}
	if it.tmpl.Children == nil || len(it.tmpl.Children.VM) == 0 {
		return executors.Terminal(events.CodeTemplateNotFound, fmt.Sprintf("template %q has no VM to clone", spec.Template.Name), "", "")
	}
	source := it.tmpl.Children.VM[0]
	enabled := true
	params := &types.ReComposeVAppParams{
		Ovf: types.XMLNamespaceOVF, Xsi: types.XMLNamespaceXSI, Xmlns: types.XMLNamespaceVCloud,
		Name: spec.VApp.Name, AllEULAsAccepted: true,
		SourcedItem: &types.SourcedCompositionItemParam{
			Source: &types.Reference{HREF: source.HREF, Name: spec.Name},
			InstantiationParams: &types.InstantiationParams{
				GuestCustomizationSection: &types.GuestCustomizationSection{Enabled: &enabled, ComputerName: spec.Name},
				NetworkConnectionSection: &types.NetworkConnectionSection{NetworkConnection: []*types.NetworkConnection{{
					Network: spec.Network, IsConnected: true, IPAddressAllocationMode: types.IPAllocationModePool}}},
			},
		},
	}
	if err := c.place(ctx, params.SourcedItem, spec); err != nil {
		return err
	}
	task, err := call(ctx, c, func(vc *govcd.VCDClient) (govcd.Task, error) {
		return vc.Client.ExecuteTaskRequestWithApiVersion(vapp.VApp.HREF+"/action/recomposeVApp", http.MethodPost,
			types.MimeRecomposeVappParams, "add VM: %s", params, vc.Client.GetSpecificApiVersionOnCondition(">=37.1", "37.1"))
	})
	if err != nil {
		// The template may have gone since it was read: the next add reads it again.
		c.forgetSource(spec)
		return classify(err)
	}
	c.remember(key, task)
	return nil
}

// source is the catalog item a VM is made from (sourceItem), read once for the VMs a
// create adds in a row: a template revision's item does not change (a new revision is a
// new item), and one that is deleted meanwhile fails the recompose, which forgets it.
func (c *Client) source(ctx context.Context, spec executors.VMSpec) (*item, error) {
	key := spec.VApp.Org + "/" + spec.Template.Name + "/" + strconv.Itoa(spec.Template.Revision)
	c.mu.Lock()
	cached, ok := c.sources[key]
	c.mu.Unlock()
	if ok && time.Since(cached.at) < sourceFor {
		return cached.it, nil
	}
	it, err := c.sourceItem(ctx, spec)
	if err != nil || spec.Template.Revision == 0 {
		return it, err // a base image (a build's) may be uploaded again under its name
	}
	c.mu.Lock()
	if len(c.sources) > 1000 {
		clear(c.sources)
	}
	c.sources[key] = cachedItem{it: it, at: time.Now()}
	c.mu.Unlock()
	return it, nil
}

// sourceFor bounds how long a template's item is used without reading it again.
const sourceFor = time.Minute

type cachedItem struct {
	it *item
	at time.Time
}

func (c *Client) forgetSource(spec executors.VMSpec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sources, spec.VApp.Org+"/"+spec.Template.Name+"/"+strconv.Itoa(spec.Template.Revision))
}

// sourceItem is the catalog item a VM is made from: a template revision, or, for a
// template build's VM, a base image (a template of revision 0: the item of that name).
func (c *Client) sourceItem(ctx context.Context, spec executors.VMSpec) (*item, error) {
	o := executors.Org{Name: spec.VApp.Org, ID: spec.VApp.OrgID}
	if spec.Template.Revision != 0 {
		return c.catalogItem(ctx, o, events.TemplateRef{Name: spec.Template.Name, Revision: spec.Template.Revision})
	}
	cat, err := c.catalog(ctx, o.Name, o.ID)
	if err != nil {
		return nil, err
	}
	it, err := findItem(cat, spec.Template.Name)
	switch {
	case err != nil:
		return nil, err
	case it == nil:
		return nil, executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("image %q is not in catalog %q", spec.Template.Name, c.cfg.Catalog), "", "")
	case !it.ready():
		return nil, executors.Retryable("", "", fmt.Errorf("image %q is not ready yet (vApp template status %d)", spec.Template.Name, it.tmpl.Status))
	}
	return it, nil
}

// extraConfig reads a VM's guestinfo (its VMX extra configuration), and the virtual
// hardware section it is in, which a write of guestinfo sends back.
func (c *Client) extraConfig(ctx context.Context, vm *govcd.VM) (map[string]string, *types.ResponseVirtualHardwareSection, error) {
	hw, err := c.hardwareSection(ctx, vm.VM.HREF)
	if err != nil {
		return nil, nil, err
	}
	return extraConfigIn(hw), hw, nil
}

// extraConfigOf reads the extra configuration of the VM at href, as govcd's
// VM.GetExtraConfig does.
func (c *Client) extraConfigOf(ctx context.Context, href string) (map[string]string, error) {
	hw, err := c.hardwareSection(ctx, href)
	if err != nil {
		return nil, err
	}
	return extraConfigIn(hw), nil
}

func (c *Client) hardwareSection(ctx context.Context, href string) (*types.ResponseVirtualHardwareSection, error) {
	var hw types.ResponseVirtualHardwareSection
	if _, err := call(ctx, c, func(vc *govcd.VCDClient) (*http.Response, error) {
		return vc.Client.ExecuteRequest(href+"/virtualHardwareSection/", http.MethodGet, types.MimeVirtualHardwareSection,
			"read virtual hardware: %s", nil, &hw)
	}); err != nil {
		return nil, classify(err)
	}
	return &hw, nil
}

func extraConfigIn(hw *types.ResponseVirtualHardwareSection) map[string]string {
	out := make(map[string]string, len(hw.ExtraConfigs))
	for _, it := range hw.ExtraConfigs {
		if it != nil {
			out[it.Key] = it.Value
		}
	}
	return out
}

// setExtraConfig writes guestinfo keys without waiting for the task (govcd's
// UpdateExtraConfig sends the same request, then polls), with the rest of the virtual
// hardware section as current (just read) has it.
func (c *Client) setExtraConfig(ctx context.Context, key string, vm *govcd.VM, current *types.ResponseVirtualHardwareSection, values map[string]string) error {
	req := &types.RequestVirtualHardwareSection{
		Info: "Virtual hardware requirements", Ovf: types.XMLNamespaceOVF, Rasd: types.XMLNamespaceRASD, Vssd: types.XMLNamespaceVSSD,
		Ns2: types.XMLNamespaceVCloud, Ns3: types.XMLNamespaceVCloud, Ns4: types.XMLNamespaceVCloud, Ns5: types.XMLNamespaceVCloud,
		Vmw: types.XMLNamespaceVMW, Xmlns: types.XMLNamespaceVCloud, Type: current.Type, System: current.System, Item: current.Item,
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		req.ExtraConfigs = append(req.ExtraConfigs, &types.ExtraConfigMarshal{Key: k, Value: values[k]})
	}
	task, err := call(ctx, c, func(vc *govcd.VCDClient) (govcd.Task, error) {
		return vc.Client.ExecuteTaskRequest(vm.VM.HREF+"/virtualHardwareSection/", http.MethodPut, types.MimeVirtualHardwareSection,
			"set guestinfo: %s", req)
	})
	if err != nil {
		return classify(err)
	}
	c.remember(key, task)
	return nil
}

// vmOf finds a node's VM: where it was last found, else in its vApp. It is nil when the
// vApp has no such VM.
func (c *Client) vmOf(ctx context.Context, ref executors.VMRef) (*govcd.VM, error) {
	if vm, err := c.knownVM(ctx, ref); vm != nil || err != nil {
		return vm, err
	}
	vapp, err := c.vapp(ctx, ref.VApp)
	if err != nil {
		return nil, err
	}
	return c.findVM(vapp, ref)
}

// PowerOn implements executors.VCD.
func (c *Client) PowerOn(ctx context.Context, ref executors.VMRef) (executors.Status, error) {
	key := "vm:" + ref.VApp.ClusterID + ":" + ref.Name
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	vm, err := c.vmOf(ctx, ref)
	if err != nil {
		return executors.Status{}, err
	}
	if vm == nil {
		return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	switch {
	case busy(vm.VM.Tasks):
		return executors.Status{ID: vm.VM.ID}, nil
	case vm.VM.Status == 4: // POWERED_ON
		return executors.Status{ID: vm.VM.ID, Done: true}, nil
	}
	task, err := vm.PowerOn()
	if err != nil {
		return executors.Status{ID: vm.VM.ID}, classify(err)
	}
	c.remember(key, task)
	return executors.Status{ID: vm.VM.ID}, nil
}

// GuestInfo implements executors.VCD: the guestinfo keys, from the VM's extra configuration.
// It is what a boot's polls call, so it costs two reads: the vApp (whose children name
// each VM's href) and the VM's virtual hardware.
func (c *Client) GuestInfo(ctx context.Context, ref executors.VMRef) (map[string]string, error) {
	c.mu.Lock()
	href := c.vms[vmKey(ref)]
	c.mu.Unlock()
	var all map[string]string
	var err error
	if href != "" {
		// Where the VM was found before: one read, not two. A VM gone from there is
		// looked up again in its vApp.
		if all, err = c.extraConfigOf(ctx, href); notFound(err) {
			c.forgetVM(ref)
			href, all, err = "", nil, nil
		} else if err != nil {
			return nil, err
		}
	}
	if href == "" {
		vapp, err := c.vapp(ctx, ref.VApp)
		if err != nil {
			return nil, err
		}
		if vapp.VApp.Children != nil {
			for _, child := range vapp.VApp.Children.VM {
				if child != nil && child.Name == ref.Name {
					href = child.HREF
				}
			}
		}
		if href == "" {
			return nil, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
		}
		if all, err = c.extraConfigOf(ctx, href); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.vms[vmKey(ref)] = href
		c.mu.Unlock()
	}
	out := map[string]string{}
	for k, v := range all {
		if strings.HasPrefix(k, "guestinfo.") {
			out[k] = v
		}
	}
	return out, nil
}

// SetGuestInfo implements executors.VCD.
func (c *Client) SetGuestInfo(ctx context.Context, ref executors.VMRef, values map[string]string) (executors.Status, error) {
	key := "vm:" + ref.VApp.ClusterID + ":" + ref.Name
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	vm, err := c.vmOf(ctx, ref)
	if err != nil {
		return executors.Status{}, err
	}
	if vm == nil {
		return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	if busy(vm.VM.Tasks) {
		return executors.Status{ID: vm.VM.ID}, nil
	}
	have, hw, err := c.extraConfig(ctx, vm)
	if err != nil {
		return executors.Status{}, err
	}
	missing := map[string]string{}
	for k, v := range values {
		if have[k] != v {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return executors.Status{ID: vm.VM.ID, Done: true}, nil
	}
	return executors.Status{ID: vm.VM.ID}, c.setExtraConfig(ctx, key, vm, hw, missing)
}

// ownVApp finds the cluster's vApp for a delete: nil when none of the cluster's can be
// there (see absent), which leaves the delete nothing to do. Like every lookup it goes by
// name and kaas's description or metadata, whether or not the vApp's creation was recorded.
func (c *Client) ownVApp(ctx context.Context, ref executors.VAppRef) (*govcd.VApp, error) {
	vdc, err := c.vdc(ctx, ref)
	if err == nil {
		var vapp *govcd.VApp
		if vapp, err = c.findVApp(ctx, vdc, ref); err == nil {
			return vapp, nil
		}
	}
	if isAbsent(err) {
		return nil, nil
	}
	return nil, err
}

// deleteKey is where a delete remembers its own tasks: a task the cluster's create left
// behind (a compose or recompose that failed) is no failure of the delete, whose lookups
// see the object as it is now.
func deleteKey(key string) string { return key + ":delete" }

// DeleteVM implements executors.VCD: power off (undeploy), then delete. A VM that is not
// there, in a vApp that is not there or is not the cluster's, is deleted.
func (c *Client) DeleteVM(ctx context.Context, ref executors.VMRef) (executors.Status, error) {
	key := "vm:" + ref.VApp.ClusterID + ":" + ref.Name
	if running, err := c.pending(ctx, deleteKey(key)); running || err != nil {
		return executors.Status{}, err
	}
	vapp, err := c.ownVApp(ctx, ref.VApp)
	if err != nil {
		return executors.Status{}, err
	}
	var vm *govcd.VM
	if vapp != nil {
		if vm, err = c.findVM(vapp, ref); err != nil {
			return executors.Status{}, err
		}
	}
	if vm == nil {
		c.forget(key)
		c.forgetVM(ref)
		return executors.Status{Done: true}, nil
	}
	if busy(vm.VM.Tasks) {
		return executors.Status{ID: vm.VM.ID}, nil
	}
	var task govcd.Task
	if vm.VM.Deployed || vm.VM.Status == 4 {
		task, err = vm.Undeploy()
	} else {
		task, err = call(ctx, c, func(vc *govcd.VCDClient) (govcd.Task, error) {
			return vc.Client.ExecuteTaskRequest(vm.VM.HREF, http.MethodDelete, "", "delete VM: %s", nil)
		})
	}
	if err != nil {
		return executors.Status{ID: vm.VM.ID}, classify(err)
	}
	c.remember(deleteKey(key), task)
	return executors.Status{ID: vm.VM.ID}, nil
}

// DeleteVApp implements executors.VCD: wait for the tasks on the vApp and its VMs,
// undeploy, then delete the vApp with every VM in it. A vApp that is not there, or is not
// the cluster's, is deleted.
func (c *Client) DeleteVApp(ctx context.Context, ref executors.VAppRef) (executors.Status, error) {
	key := "vapp:" + ref.ClusterID
	if running, err := c.pending(ctx, deleteKey(key)); running || err != nil {
		return executors.Status{}, err
	}
	vapp, err := c.ownVApp(ctx, ref)
	if err != nil {
		return executors.Status{}, err
	}
	if vapp == nil {
		c.forgetVApp(ref.ClusterID)
		c.forget(key)
		return executors.Status{Done: true}, nil
	}
	var vms []*types.Vm
	if vapp.VApp.Children != nil {
		vms = vapp.VApp.Children.VM
	}
	// VCD refuses to remove a vApp while anything in it changes or runs.
	if busy(vapp.VApp.Tasks) || slices.ContainsFunc(vms, func(vm *types.Vm) bool { return vm != nil && busy(vm.Tasks) }) {
		return executors.Status{ID: vapp.VApp.ID}, nil
	}
	var task govcd.Task
	running := slices.IndexFunc(vms, func(vm *types.Vm) bool { return vm != nil && (vm.Deployed || vm.Status == 4) })
	switch {
	case vapp.VApp.Deployed:
		task, err = vapp.Undeploy()
	case running >= 0:
		// A VM can run in a vApp that VCD does not call deployed: stop that VM itself.
		href := vms[running].HREF
		task, err = call(ctx, c, func(vc *govcd.VCDClient) (govcd.Task, error) {
			return vc.Client.ExecuteTaskRequest(href+"/action/undeploy", http.MethodPost, types.MimeUndeployVappParams,
				"undeploy VM: %s", &types.UndeployVAppParams{Xmlns: types.XMLNamespaceVCloud, UndeployPowerAction: "powerOff"})
		})
	default:
		task, err = vapp.Delete()
	}
	if err != nil {
		return executors.Status{ID: vapp.VApp.ID}, classify(err)
	}
	c.remember(deleteKey(key), task)
	return executors.Status{ID: vapp.VApp.ID}, nil
}
