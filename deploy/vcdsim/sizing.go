package vcdsim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Where a VM runs and how big it is, as VCD decides it: each org VDC has storage profiles
// (listed in the VDC document, one of them the default) and VM sizing policies assigned to it
// (VDC compute policies, served by the cloudapi at /cloudapi/{1.0.0,2.0.0}/vdcComputePolicies
// and /vdcs/{id}/computePolicies), its own System Default among them. A VM is made
// (compose, recompose) on the storage profile and sizing policy its SourcedItem names, or
// the VDC's defaults; either must be the VDC's, or VCD refuses. A sizing policy that fixes
// CPUs or memory gives the VM those; what it leaves open the VM has from its template.
// Its VmSpecSection and virtual hardware show it, and reconfigureVm, or a PUT of the
// virtual hardware section (or of its cpu or memory item), changes it: VCD refuses
// hardware the VM's sizing policy fixes otherwise, and a change of CPUs or memory while the
// VM runs (hot add is off, VCD's default).

const (
	systemDefaultPolicy = "System Default"
	mimeStorageProfile  = "application/vnd.vmware.vcloud.vdcStorageProfile+xml"
	// Template hardware when the configuration gives none.
	defaultTemplateCPU, defaultTemplateMemoryMB = 2, 4096
	// VCD's bounds on a VM's hardware (VCD 10.4: 768 vCPUs, 24 TB).
	maxVMCPU, maxVMMemoryMB = 768, 24 << 20
)

// storageProfile is an org VDC storage profile.
type storageProfile struct {
	id, name     string
	vdc          *vdc
	def, enabled bool
}

// sizingPolicy is a VM sizing policy; fields at 0 are left open.
type sizingPolicy struct {
	id, name, description string
	cpu, cores, memoryMB  int
	vdc                   *vdc // the VDC whose System Default it is; nil for the provider's
}

func (p *sizingPolicy) urn() string { return "urn:vcloud:vdcComputePolicy:" + p.id }

func (s *Server) policyHREF(p *sizingPolicy) string {
	return s.base + "/cloudapi/2.0.0/vdcComputePolicies/" + p.urn()
}

func (sp *storageProfile) urn() string { return "urn:vcloud:vdcstorageProfile:" + sp.id }

func (s *Server) profileHREF(sp *storageProfile) string { return s.href("vdcStorageProfile/" + sp.id) }

// addPolicy makes a sizing policy: the provider's (d nil) or a VDC's System Default.
func (s *Server) addPolicy(pc SizingPolicyConfig, id string, d *vdc) error {
	switch {
	case strings.TrimSpace(pc.Name) == "":
		return fmt.Errorf("vcdsim: a sizing policy needs a name")
	case d == nil && slices.ContainsFunc(s.providerPolicies(), func(p *sizingPolicy) bool { return p.name == pc.Name }):
		return fmt.Errorf("vcdsim: sizing policy %q is configured twice", pc.Name)
	case pc.CPU < 0 || pc.CPU > maxVMCPU || pc.MemoryMB < 0 || pc.MemoryMB > maxVMMemoryMB || pc.CoresPerSocket < 0:
		return fmt.Errorf("vcdsim: sizing policy %q: CPU, cores and memory out of bounds", pc.Name)
	case pc.CPU > 0 && pc.CoresPerSocket > 0 && pc.CPU%pc.CoresPerSocket != 0:
		return fmt.Errorf("vcdsim: sizing policy %q: %d CPUs are not a multiple of %d cores per socket", pc.Name, pc.CPU, pc.CoresPerSocket)
	}
	s.policies[id] = &sizingPolicy{id: id, name: pc.Name, description: pc.Description, cpu: pc.CPU, cores: pc.CoresPerSocket,
		memoryMB: pc.MemoryMB, vdc: d}
	return nil
}

// providerPolicies lists the provider's sizing policies, by name.
func (s *Server) providerPolicies() []*sizingPolicy {
	var out []*sizingPolicy
	for _, p := range s.policies {
		if p.vdc == nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *sizingPolicy) int { return strings.Compare(a.name, b.name) })
	return out
}

// placeVDC gives a new VDC its storage profiles and sizing policies.
func (s *Server) placeVDC(d *vdc, dc VDCConfig) error {
	key := d.org.name + "/" + d.name
	profiles := dc.StorageProfiles
	if len(profiles) == 0 {
		profiles = []StorageProfileConfig{{Name: "*", Default: true}}
	}
	defaults := 0
	for _, pc := range profiles {
		if strings.TrimSpace(pc.Name) == "" || slices.ContainsFunc(d.profiles, func(sp *storageProfile) bool { return sp.name == pc.Name }) {
			return fmt.Errorf("vcdsim: VDC %s: storage profile %q is empty or configured twice", key, pc.Name)
		}
		sp := &storageProfile{id: stableID("storageprofile", key+"/"+pc.Name), name: pc.Name, vdc: d, def: pc.Default, enabled: !pc.Disabled}
		if sp.def {
			defaults++
		}
		d.profiles = append(d.profiles, sp)
		s.profiles[sp.id] = sp
	}
	if defaults == 0 {
		d.profiles[0].def = true
	}
	if defaults > 1 || !d.defaultProfile().enabled {
		return fmt.Errorf("vcdsim: VDC %s needs one enabled default storage profile", key)
	}
	id := stableID("computepolicy", key+"/"+systemDefaultPolicy)
	if err := s.addPolicy(SizingPolicyConfig{Name: systemDefaultPolicy, Description: "Default compute policy of VDC " + d.name}, id, d); err != nil {
		return err
	}
	d.defaultPolicy = s.policies[id]
	d.policies = []*sizingPolicy{d.defaultPolicy}
	for _, name := range dc.SizingPolicies {
		i := slices.IndexFunc(s.providerPolicies(), func(p *sizingPolicy) bool { return p.name == name })
		if i < 0 {
			return fmt.Errorf("vcdsim: VDC %s is assigned sizing policy %q, which is not configured", key, name)
		}
		if p := s.providerPolicies()[i]; !slices.Contains(d.policies, p) {
			d.policies = append(d.policies, p)
		}
	}
	return nil
}

func (d *vdc) defaultProfile() *storageProfile {
	for _, sp := range d.profiles {
		if sp.def {
			return sp
		}
	}
	return nil
}

// lastID is the id an href or URN ends in.
func lastID(ref string) string {
	ref = strings.TrimRight(ref, "/")
	ref = ref[strings.LastIndex(ref, "/")+1:]
	return strings.ToLower(ref[strings.LastIndex(ref, ":")+1:])
}

// profileOf resolves a storage profile reference for a VM of the VDC: nil is the VDC's
// default; one that is not the VDC's, or is disabled, VCD refuses.
func (s *Server) profileOf(d *vdc, ref *types.Reference) (*storageProfile, *vcdError) {
	if ref == nil || ref.HREF == "" && ref.ID == "" {
		return d.defaultProfile(), nil
	}
	sp := s.profiles[lastID(ref.HREF+ref.ID)]
	if ref.HREF == "" {
		sp = s.profiles[lastID(ref.ID)]
	}
	switch {
	case sp == nil || sp.vdc != d:
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "The storage profile %s is not available in VDC %q.", cmpOr(ref.HREF, ref.ID), d.name)
	case !sp.enabled:
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "The storage profile %q of VDC %q is disabled.", sp.name, d.name)
	}
	return sp, nil
}

// policyOf resolves a VM's sizing policy reference: none is the VDC's System Default; one
// that does not exist or is not assigned to the VDC VCD refuses.
func (s *Server) policyOf(d *vdc, cp *types.ComputePolicy) (*sizingPolicy, *vcdError) {
	if cp != nil && cp.VmPlacementPolicy != nil && cp.VmPlacementPolicy.HREF != "" {
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "The VM placement policy %s does not exist.", cp.VmPlacementPolicy.HREF)
	}
	if cp == nil || cp.VmSizingPolicy == nil || cp.VmSizingPolicy.HREF == "" && cp.VmSizingPolicy.ID == "" {
		return d.defaultPolicy, nil
	}
	ref := cmpOr(cp.VmSizingPolicy.HREF, cp.VmSizingPolicy.ID)
	p := s.policies[lastID(ref)]
	switch {
	case p == nil:
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "The VDC compute policy %s does not exist.", ref)
	case !slices.Contains(d.policies, p):
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "The VDC compute policy %q is not assigned to VDC %q.", p.name, d.name)
	}
	return p, nil
}

// hardware is a VM's CPUs, cores per socket and memory.
type hardware struct{ cpu, cores, memoryMB int }

func (m *vm) hardware() hardware { return hardware{m.cpu, m.cores, m.memoryMB} }

// sized is what a VM of the template gets under the policy: what the policy fixes, else
// the template's.
func sized(t *template, p *sizingPolicy) hardware {
	h := hardware{cpu: defaultTemplateCPU, cores: 1, memoryMB: defaultTemplateMemoryMB}
	if t != nil && t.cpu > 0 {
		h.cpu = t.cpu
	}
	if t != nil && t.memoryMB > 0 {
		h.memoryMB = t.memoryMB
	}
	return p.fix(h)
}

// fix gives hardware what the policy fixes.
func (p *sizingPolicy) fix(h hardware) hardware {
	if p.cpu > 0 {
		h.cpu, h.cores = p.cpu, max(p.cores, 1)
	}
	if p.memoryMB > 0 {
		h.memoryMB = p.memoryMB
	}
	return h
}

// checkHardware is VCD's refusal of hardware for a VM: out of bounds, against what its
// sizing policy fixes, or a change while it runs.
func checkHardware(m *vm, p *sizingPolicy, h hardware) *vcdError {
	switch {
	case h.cpu < 1 || h.cpu > maxVMCPU:
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The number of virtual CPUs must be between 1 and %d, not %d.", maxVMCPU, h.cpu)
	case h.cores < 1 || h.cpu%h.cores != 0:
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The number of virtual CPUs (%d) must be a multiple of the cores per socket (%d).", h.cpu, h.cores)
	case h.memoryMB < 4 || h.memoryMB > maxVMMemoryMB || h.memoryMB%4 != 0:
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The memory size must be a multiple of 4 MB between 4 and %d MB, not %d.", maxVMMemoryMB, h.memoryMB)
	case p.cpu > 0 && (h.cpu != p.cpu || h.cores != max(p.cores, 1)):
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The VM %q cannot have %d virtual CPUs: its sizing policy %q sets %d.", m.name, h.cpu, p.name, p.cpu)
	case p.memoryMB > 0 && h.memoryMB != p.memoryMB:
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The VM %q cannot have %d MB of memory: its sizing policy %q sets %d MB.", m.name, h.memoryMB, p.name, p.memoryMB)
	case !m.onAt.IsZero() && h != m.hardware():
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The VM %q is powered on and CPU and memory hot add are disabled: power it off to change its CPUs or memory.", m.name)
	}
	return nil
}

// place gives a new VM of the vApp's VDC its storage profile, sizing policy and hardware,
// as its SourcedItem asks.
func (s *Server) place(m *vm, item *types.SourcedCompositionItemParam) *vcdError {
	d := m.vapp.vdc
	sp, err := s.profileOf(d, item.StorageProfile)
	if err != nil {
		return err
	}
	p, err := s.policyOf(d, item.ComputePolicy)
	if err != nil {
		return err
	}
	m.storage, m.sizing = sp, p
	h := sized(m.template, p)
	m.cpu, m.cores, m.memoryMB = h.cpu, h.cores, h.memoryMB
	return nil
}

// reconfigureVM serves POST …/vm-{id}/action/reconfigureVm: a Vm document whose sections
// given are the VM's new ones (name, storage profile, compute policy, VmSpecSection).
func (s *Server) reconfigureVM(w http.ResponseWriter, r *http.Request, sess *session, m *vm) *vcdError {
	var in types.Vm
	if err := readXML(r, &in); err != nil {
		return err
	}
	d := m.vapp.vdc
	name := m.name
	if in.Name != "" && in.Name != m.name {
		if slices.ContainsFunc(m.vapp.vms, func(o *vm) bool { return o.name == in.Name }) {
			return errf(400, "DUPLICATE_NAME", "A VM named %q already exists in vApp %q.", in.Name, m.vapp.name)
		}
		name = in.Name
	}
	sp := m.storage
	if in.StorageProfile != nil {
		var err *vcdError
		if sp, err = s.profileOf(d, in.StorageProfile); err != nil {
			return err
		}
	}
	p, h := m.sizing, m.hardware()
	if in.ComputePolicy != nil {
		var err *vcdError
		if p, err = s.policyOf(d, in.ComputePolicy); err != nil {
			return err
		}
		if p != m.sizing {
			h = p.fix(h)
		}
	}
	if spec := in.VmSpecSection; spec != nil {
		if spec.NumCpus != nil {
			h.cpu = *spec.NumCpus
		}
		if spec.NumCoresPerSocket != nil {
			h.cores = *spec.NumCoresPerSocket
		}
		if spec.MemoryResourceMb != nil && spec.MemoryResourceMb.Configured != 0 {
			h.memoryMB = int(spec.MemoryResourceMb.Configured)
		}
	}
	if err := checkHardware(m, p, h); err != nil {
		return err
	}
	t := s.newTask(subject{caller: sess, class: "reconfigure", vapp: m.vapp, vm: m}, "vappUpdateVm", "Updating Virtual Machine "+m.name,
		s.href("vApp/vm-"+m.id), m.name, mimeVM)
	if t.fail == nil {
		m.name, m.storage, m.sizing = name, sp, p
		m.cpu, m.cores, m.memoryMB = h.cpu, h.cores, h.memoryMB
	}
	m.busyTask, m.busyUntil = t, t.end
	s.writeTask(w, t)
	return nil
}

// rasdItems reads the CPU and memory items of a virtual hardware section (or one item, for
// …/virtualHardwareSection/cpu and /memory) into the hardware they ask for; items of other
// resource types are the VM's disks, NICs and drives, which the simulator does not keep.
type rasdItems struct {
	Items []rasdItem `xml:"Item"`
	rasdItem
}

type rasdItem struct {
	ResourceType    int   `xml:"ResourceType"`
	VirtualQuantity int64 `xml:"VirtualQuantity"`
	CoresPerSocket  int   `xml:"CoresPerSocket"`
}

// Resource types of the items the simulator keeps (CIM_ResourceAllocationSettingData).
const (
	rasdCPU    = 3
	rasdMemory = 4
)

func (h hardware) with(items ...rasdItem) hardware {
	for _, it := range items {
		switch it.ResourceType {
		case rasdCPU:
			h.cpu = int(it.VirtualQuantity)
			if it.CoresPerSocket > 0 {
				h.cores = it.CoresPerSocket
			}
		case rasdMemory:
			h.memoryMB = int(it.VirtualQuantity)
		}
	}
	return h
}

// hardwareItem serves PUT …/virtualHardwareSection/cpu and /memory: one item.
func (s *Server) hardwareItem(w http.ResponseWriter, r *http.Request, sess *session, m *vm, want int) *vcdError {
	var in rasdItems
	if err := readXML(r, &in); err != nil {
		return err
	}
	if in.ResourceType != want {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The item is of resource type %d, not %d.", in.ResourceType, want)
	}
	h := m.hardware().with(in.rasdItem)
	if err := checkHardware(m, m.sizing, h); err != nil {
		return err
	}
	t := s.newTask(subject{caller: sess, class: "reconfigure", vapp: m.vapp, vm: m}, "vappUpdateVm", "Updating Virtual Machine "+m.name,
		s.href("vApp/vm-"+m.id), m.name, mimeVM)
	if t.fail == nil {
		m.cpu, m.cores, m.memoryMB = h.cpu, h.cores, h.memoryMB
	}
	m.busyTask, m.busyUntil = t, t.end
	s.writeTask(w, t)
	return nil
}

// hardwareXML is the VM's hardware as VCD shows it in a Vm document.
func (s *Server) hardwareXML(m *vm, out *types.Vm) {
	cpu, cores := m.cpu, m.cores
	out.VmSpecSection = &types.VmSpecSection{Info: "Virtual Machine specification", OsType: "ubuntu64Guest", NumCpus: &cpu,
		NumCoresPerSocket: &cores, MemoryResourceMb: &types.MemoryResourceMb{Configured: int64(m.memoryMB)},
		HardwareVersion: &types.HardwareVersion{HREF: s.href("vApp/vm-" + m.id + "/vmSpecSection"), Value: "vmx-19"}}
	if m.storage != nil {
		out.StorageProfile = &types.Reference{HREF: s.profileHREF(m.storage), ID: m.storage.urn(), Name: m.storage.name, Type: mimeStorageProfile}
	}
	if m.sizing != nil {
		final := false
		out.ComputePolicy = &types.ComputePolicy{VmSizingPolicy: &types.Reference{HREF: s.policyHREF(m.sizing), ID: m.sizing.urn(),
			Name: m.sizing.name, Type: "application/json"}, VmSizingPolicyFinal: &final}
	}
}

// rasdXML is the CPU and memory items of the VM's virtual hardware section, with the
// prefixes writeHardware declares.
type rasdXML struct {
	AllocationUnits string `xml:"rasd:AllocationUnits"`
	Description     string `xml:"rasd:Description"`
	ElementName     string `xml:"rasd:ElementName"`
	InstanceID      int    `xml:"rasd:InstanceID"`
	Reservation     int    `xml:"rasd:Reservation"`
	ResourceType    int    `xml:"rasd:ResourceType"`
	VirtualQuantity int    `xml:"rasd:VirtualQuantity"`
	Weight          int    `xml:"rasd:Weight"`
	CoresPerSocket  *int   `xml:"vmw:CoresPerSocket,omitempty"`
}

func (m *vm) rasdItems() []rasdXML {
	cores := m.cores
	return []rasdXML{
		{AllocationUnits: "hertz * 10^6", Description: "Number of Virtual CPUs", ElementName: strconv.Itoa(m.cpu) + " virtual CPU(s)",
			InstanceID: 4, ResourceType: rasdCPU, VirtualQuantity: m.cpu, CoresPerSocket: &cores},
		{AllocationUnits: "byte * 2^20", Description: "Memory Size", ElementName: strconv.Itoa(m.memoryMB) + " MB of memory",
			InstanceID: 5, ResourceType: rasdMemory, VirtualQuantity: m.memoryMB},
	}
}

// vdcProfilesXML lists a VDC's storage profiles and default compute policy for its
// document.
func (s *Server) vdcProfilesXML(d *vdc, out *types.Vdc) {
	out.VdcStorageProfiles = &types.VdcStorageProfiles{}
	for _, sp := range d.profiles {
		out.VdcStorageProfiles.VdcStorageProfile = append(out.VdcStorageProfiles.VdcStorageProfile,
			&types.Reference{HREF: s.profileHREF(sp), ID: sp.urn(), Name: sp.name, Type: mimeStorageProfile})
	}
	out.DefaultComputePolicy = &types.Reference{HREF: s.policyHREF(d.defaultPolicy), ID: d.defaultPolicy.urn(), Name: d.defaultPolicy.name,
		Type: "application/json"}
}

// storageProfileGet serves GET /api/vdcStorageProfile/{id} (and its admin view).
func (s *Server) storageProfileGet(w http.ResponseWriter, sess *session, id string) *vcdError {
	sp := s.profiles[strings.ToLower(id)]
	if sp == nil || !s.visible(sess, sp.vdc.org) {
		return forbidden("VdcStorageProfile", id)
	}
	enabled := sp.enabled
	out := struct {
		XMLName xml.Name `xml:"VdcStorageProfile"`
		HREF    string   `xml:"href,attr"`
		ID      string   `xml:"id,attr"`
		Name    string   `xml:"name,attr"`
		Type    string   `xml:"type,attr"`
		Link    types.LinkList
		// The elements of types.VdcStorageProfile, in VCD's order.
		Enabled       *bool  `xml:"Enabled"`
		Units         string `xml:"Units"`
		Limit         int64  `xml:"Limit"`
		Default       bool   `xml:"Default"`
		StorageUsedMB int64  `xml:"StorageUsedMB"`
	}{HREF: s.profileHREF(sp), ID: sp.urn(), Name: sp.name, Type: mimeStorageProfile,
		Link:    types.LinkList{{Rel: "up", HREF: s.href("vdc/" + sp.vdc.id), Type: "application/vnd.vmware.vcloud.vdc+xml"}},
		Enabled: &enabled, Units: "MB", Default: sp.def, StorageUsedMB: int64(s.storageUsed(sp))}
	writeXML(w, http.StatusOK, mimeStorageProfile, "VdcStorageProfile", &out)
	return nil
}

// storageUsed is what the profile's VMs use, at a nominal 20 GB a VM.
func (s *Server) storageUsed(sp *storageProfile) int {
	n := 0
	for _, a := range sp.vdc.vapps {
		for _, m := range a.vms {
			if m.storage == sp {
				n += 20 << 10
			}
		}
	}
	return n
}

// policyJSON is a VDC compute policy as the cloudapi shows it (2.0.0's VdcComputePolicy2;
// 1.0.0 leaves out policyType).
type policyJSON struct {
	ID                 string   `json:"id"`
	Description        *string  `json:"description"`
	Name               string   `json:"name"`
	CPUSpeed           *int     `json:"cpuSpeed"`
	Memory             *int     `json:"memory"`
	CPUCount           *int     `json:"cpuCount"`
	CoresPerSocket     *int     `json:"coresPerSocket"`
	IsSizingOnly       bool     `json:"isSizingOnly"`
	PolicyType         string   `json:"policyType,omitempty"`
	CompatibleVdcTypes []string `json:"compatibleVdcTypes"`
	IsAutoGenerated    bool     `json:"isAutoGenerated"`
	PvdcID             *string  `json:"pvdcId"`
}

func (c *apiCall) policyJSON(p *sizingPolicy) policyJSON {
	out := policyJSON{ID: p.urn(), Name: p.name, IsSizingOnly: true, CompatibleVdcTypes: []string{"ORG_VDC"}}
	if p.description != "" {
		d := p.description
		out.Description = &d
	}
	if p.cpu > 0 {
		cpu, cores := p.cpu, max(p.cores, 1)
		out.CPUCount, out.CoresPerSocket = &cpu, &cores
	}
	if p.memoryMB > 0 {
		mem := p.memoryMB
		out.Memory = &mem
	}
	if c.version == "2.0.0" {
		out.PolicyType = "VdcVmPolicy"
	}
	return out
}

// visiblePolicies are the policies a caller may read: a provider all (or, with a tenant
// context, those of that org's VDCs), a tenant those assigned to its org's VDCs.
func (s *Server) visiblePolicies(c *apiCall) ([]*sizingPolicy, *vcdError) {
	scope, err := s.scope(c)
	if err != nil {
		return nil, err
	}
	var out []*sizingPolicy
	if scope == nil {
		out = s.providerPolicies()
		for _, o := range s.orgs {
			for _, d := range o.vdcs {
				out = append(out, d.defaultPolicy)
			}
		}
		return out, nil
	}
	for _, d := range scope.vdcs {
		for _, p := range d.policies {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// computePoliciesRoute serves GET /cloudapi/{1.0.0,2.0.0}/vdcComputePolicies[/{id}]. The
// simulator's policies are configured, not made through the API.
func (s *Server) computePoliciesRoute(c *apiCall) *vcdError {
	if c.r.Method != http.MethodGet || len(c.t) > 2 {
		return notFoundPath(c)
	}
	ps, err := s.visiblePolicies(c)
	if err != nil {
		return err
	}
	if len(c.t) == 2 {
		i := slices.IndexFunc(ps, func(p *sizingPolicy) bool { return strings.EqualFold(p.urn(), c.at(1)) })
		if i < 0 {
			return notExist("VdcComputePolicy", c.at(1))
		}
		writeJSON(c.w, http.StatusOK, c.policyJSON(ps[i]))
		return nil
	}
	out := make([]policyJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, c.policyJSON(p))
	}
	return writePage(c, out)
}

// vdcPolicies serves GET /cloudapi/{1.0.0,2.0.0}/vdcs/{id}/computePolicies: the policies
// assigned to the VDC.
func (s *Server) vdcPolicies(c *apiCall) *vcdError {
	if c.r.Method != http.MethodGet {
		return notFoundPath(c)
	}
	d := s.vdcs[lastID(c.at(1))]
	if d == nil || !strings.HasPrefix(strings.ToLower(c.at(1)), "urn:vcloud:vdc:") || !s.visible(c.sess, d.org) {
		return notExist("VDC", c.at(1))
	}
	if scope, err := s.scope(c); err != nil || scope != nil && scope != d.org {
		return cmpErr(err, notExist("VDC", c.at(1)))
	}
	out := make([]policyJSON, 0, len(d.policies))
	for _, p := range d.policies {
		out = append(out, c.policyJSON(p))
	}
	return writePage(c, out)
}

func cmpErr(a, b *vcdError) *vcdError {
	if a != nil {
		return a
	}
	return b
}

// placement names the VM's sizing policy and storage profile, for the inventory.
func (m *vm) placement() (sizing, storage string) {
	if m.sizing != nil {
		sizing = m.sizing.name
	}
	if m.storage != nil {
		storage = m.storage.name
	}
	return sizing, storage
}
