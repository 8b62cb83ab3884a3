// Package vcdmem is an in-memory VMware Cloud Director for the executors' unit tests: orgs,
// VDCs, networks, catalog templates, vApps and VMs whose operations take time like VCD
// tasks, and a guest that plays the node bootstrap (a control plane publishes a kubeconfig
// and a join command; a worker joins only with the control plane's real join command).
//
// It implements executors.VCD directly, without HTTP: it proves the executors' logic, not
// the VCD wire protocol (that is the job of the simulator, deploy/vcdsim, which is also the
// VCD of everything that runs kaasd). Faults can be injected: random retryable errors, and
// templates whose bootstrap fails or never finishes. Its state can be kept in a file so
// that it outlives a restart, as a real VCD's does.
package vcdmem

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/guestsim"
)

// Config describes the simulated cloud.
type Config struct {
	Orgs []Org `json:"orgs"`
	// TaskDelay is how long VCD takes to create, power on or delete something.
	TaskDelay time.Duration `json:"taskDelay"`
	// BootDelay is how long a node's bootstrap takes after power on.
	BootDelay time.Duration `json:"bootDelay"`
	// ErrorRate is the chance (0..1) that a call fails with a retryable BUSY_ENTITY error.
	ErrorRate float64 `json:"errorRate"`
	// StateFile, when set, keeps the cloud's state across restarts.
	StateFile string `json:"stateFile,omitempty"`
	// UploadPolls is how many calls an OVA upload, or a capture, takes before VCD has the
	// catalog item; 0 is 3.
	UploadPolls int `json:"uploadPolls,omitempty"`
	// Repository is what template builds' guests can install; nil is
	// guestsim.DefaultRepository.
	Repository *guestsim.Repository `json:"repository,omitempty"`
}

// Org is a tenant organization.
type Org struct {
	Name string `json:"name"`
	// ID, when set, is the org's URN: a request naming this org from another org's
	// security context is refused, as VCD refuses it. Empty accepts any caller (handy for
	// local runs, where kaasd call makes up its own URNs).
	ID        string     `json:"id,omitempty"`
	VDCs      []VDC      `json:"vdcs"`
	Templates []Template `json:"templates"`
	// Users are the org's users, whose names Cloud reports.
	Users []User `json:"users,omitempty"`
}

// User is an org's user: its URN and its name.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// VDC is an org VDC with its networks.
type VDC struct {
	Name     string    `json:"name"`
	Networks []Network `json:"networks"`
	// MaxVMs is the VDC's VM quota; 0 means no limit.
	MaxVMs int `json:"maxVMs,omitempty"`
	// StorageProfiles are where its VMs go: the one marked default (else the first) for a
	// VM that names none. A VDC configured with none has one, "*", as VCD always gives one.
	StorageProfiles []events.StorageProfile `json:"storageProfiles,omitempty"`
	// SizingPolicies are the VM sizing policies assigned to it (their CPU and memory, when
	// set, are what a VM of the policy gets). Like VCD, every VDC also has its own "System
	// Default" policy, which sizes nothing, for a VM that names none.
	SizingPolicies []events.SizingPolicy `json:"sizingPolicies,omitempty"`
}

// systemDefaultPolicy is the sizing policy VCD gives every VDC.
const systemDefaultPolicy = "System Default"

// profiles is the VDC's storage profiles, the default marked.
func (d VDC) profiles() []events.StorageProfile {
	if len(d.StorageProfiles) == 0 {
		return []events.StorageProfile{{Name: "*", Default: true}}
	}
	out := slices.Clone(d.StorageProfiles)
	if !slices.ContainsFunc(out, func(p events.StorageProfile) bool { return p.Default }) {
		out[0].Default = true
	}
	return out
}

// policies is the VDC's sizing policies, its System Default first, each with its URN: the
// provider's by name, the System Default the VDC's own.
func (d VDC) policies(org string) []events.SizingPolicy {
	out := append([]events.SizingPolicy{{Name: systemDefaultPolicy, ID: policyURN(org + "/" + d.Name + "/" + systemDefaultPolicy)}},
		d.SizingPolicies...)
	for i := range out {
		if out[i].ID == "" {
			out[i].ID = policyURN(out[i].Name)
		}
	}
	return out
}

func policyURN(name string) string {
	return "urn:vcloud:vdcComputePolicy:" + events.DeriveID("vcdmem-policy", name)
}

// Network is an org VDC network. CIDR, when set, is its subnet, where its VMs get their
// addresses; a network written as a bare name (as configurations did before) has none.
type Network struct {
	Name string `json:"name"`
	CIDR string `json:"cidr,omitempty"`
}

// UnmarshalJSON reads a network as an object or as its bare name.
func (n *Network) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &n.Name); err == nil {
		n.CIDR = ""
		return nil
	}
	type plain Network
	return json.Unmarshal(b, (*plain)(n))
}

// Template is a catalog template.
type Template struct {
	events.Template
	// FailAt makes every node's bootstrap fail at this step; "never" makes it hang.
	FailAt string `json:"failAt,omitempty"`
	// CPU and MemoryMB are the template VM's hardware, which a VM starts with; 0 is 2 CPUs
	// and 4096 MB.
	CPU      int `json:"cpu,omitempty"`
	MemoryMB int `json:"memoryMb,omitempty"`
}

// AcmeOrgID is the URN of Default's org: VCD's orgs have one, and kaas lets a tenant create
// only in the org its URN names.
const AcmeOrgID = "urn:vcloud:org:6b2f5e4c-1d3a-4c8b-9e7f-00000000ac3e"

// Default is a small cloud: one org with one VDC (a network, storage profiles Silver and
// Gold, sizing policies small and medium), and templates for two Kubernetes minor
// versions plus one whose bootstrap fails.
func Default() Config {
	return Config{
		TaskDelay: 200 * time.Millisecond,
		BootDelay: time.Second,
		Orgs: []Org{{
			Name: "acme",
			ID:   AcmeOrgID,
			VDCs: []VDC{{Name: "acme-vdc", Networks: []Network{{Name: "acme-net", CIDR: "10.100.0.0/16"}},
				StorageProfiles: []events.StorageProfile{{Name: "Silver", Default: true}, {Name: "Gold"}},
				SizingPolicies:  []events.SizingPolicy{{Name: "small", CPU: 2, MemoryMB: 2048}, {Name: "medium", CPU: 2, MemoryMB: 4096}}}},
			Templates: []Template{
				{Template: tpl("ubuntu-22.04_k8s-1.29_antrea-1.14", "v1.29.8", "antrea", "1.14.0")},
				{Template: tpl("ubuntu-22.04_k8s-1.30_antrea-1.15", "v1.30.4", "antrea", "1.15.1")},
				{Template: tpl("ubuntu-22.04_k8s-1.30_broken", "v1.30.4", "antrea", "1.15.1"), FailAt: "kubeadm-init"},
			},
		}},
	}
}

func tpl(name, k8s, cni, cniVersion string) events.Template {
	return events.Template{Name: name, Revision: 1, Catalog: "kaas-templates", KubernetesVersion: k8s, OS: "ubuntu-22.04",
		CNI: events.Component{Name: cni, Version: cniVersion}, CatalogItemID: "urn:vcloud:catalogitem:" + events.DeriveID("template", name)}
}

// VCD is the simulated cloud. It is safe for concurrent use.
type VCD struct {
	cfg Config
	mu  sync.Mutex
	st  state
}

// state is everything that changes, kept in a form that survives a restart: operations
// are recorded as the time they complete, so a restart simply goes on with the clock.
type state struct {
	VApps  map[string]*VApp `json:"vapps"`
	NextIP int              `json:"nextIp"`
	// Items are the catalog items kaas uploaded or captured, by id: the provider's
	// catalog, which every org sees.
	Items map[string]*Item `json:"items,omitempty"`
	// Configured holds what was done to the configured templates (made by hand), by
	// name/revision: metadata set on them, and deletion.
	Configured map[string]*configured `json:"configured,omitempty"`
}

// VApp is a simulated vApp.
type VApp struct {
	ID       string            `json:"id"`
	Org      string            `json:"org"`
	VDC      string            `json:"vdc"`
	Name     string            `json:"name"`
	Network  string            `json:"network"`
	Metadata map[string]string `json:"metadata"`
	// ClusterID marks the vApp as the cluster's from its creation, as kaas's description
	// does in VCD, before any metadata is written.
	ClusterID string         `json:"clusterId,omitempty"`
	ReadyAt   time.Time      `json:"readyAt"`
	DeletedAt time.Time      `json:"deletedAt,omitzero"`
	VMs       map[string]*VM `json:"vms"`
	// JoinCommand is what the control plane handed out, to check workers against.
	JoinCommand string `json:"joinCommand,omitempty"`
}

// VM is a simulated VM.
type VM struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Role      string            `json:"role"`
	Template  string            `json:"template"`
	Metadata  map[string]string `json:"metadata"`
	GuestInfo map[string]string `json:"guestInfo"`
	IP        string            `json:"ip"`
	ReadyAt   time.Time         `json:"readyAt"`
	OnAt      time.Time         `json:"onAt,omitzero"`
	DeletedAt time.Time         `json:"deletedAt,omitzero"`
	UpgradeAt time.Time         `json:"upgradeAt,omitzero"`
	// OffAt is when a power off completes; zero while it was not asked for.
	OffAt time.Time `json:"offAt,omitzero"`
	// Image is the base image (a catalog item with no template metadata) a template
	// build's VM was made from; its guest plays the build's customization, Build.
	Image string             `json:"image,omitempty"`
	Build *guestsim.BuildRun `json:"build,omitempty"`
	// Where it runs and how big it is (empty in state files from before kaas sized VMs).
	SizingPolicy   string `json:"sizingPolicy,omitempty"`
	StorageProfile string `json:"storageProfile,omitempty"`
	CPU            int    `json:"cpu,omitempty"`
	MemoryMB       int    `json:"memoryMb,omitempty"`
}

// New returns a simulated cloud, loading its state file when there is one.
func New(cfg Config) (*VCD, error) {
	v := &VCD{cfg: cfg, st: state{VApps: map[string]*VApp{}, Items: map[string]*Item{}, Configured: map[string]*configured{}}}
	if cfg.StateFile != "" {
		b, err := os.ReadFile(cfg.StateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &v.st); err != nil {
				return nil, fmt.Errorf("vcdmem state %s: %w", cfg.StateFile, err)
			}
			if v.st.Items == nil {
				v.st.Items = map[string]*Item{}
			}
			if v.st.Configured == nil {
				v.st.Configured = map[string]*configured{}
			}
		case !os.IsNotExist(err):
			return nil, err
		}
	}
	return v, nil
}

var _ executors.VCD = (*VCD)(nil)

// save writes the state file; called with mu held after every change.
func (v *VCD) save() error {
	if v.cfg.StateFile == "" {
		return nil
	}
	b, err := json.Marshal(v.st)
	if err != nil {
		return err
	}
	tmp := v.cfg.StateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, v.cfg.StateFile)
}

// fault fails a call now and then, as a busy VCD does.
func (v *VCD) fault(op string) error {
	if v.cfg.ErrorRate > 0 && rand.Float64() < v.cfg.ErrorRate {
		return executors.Retryable("BUSY_ENTITY", "The entity is busy completing an operation ("+op+").", nil)
	}
	return nil
}

// orgByName finds an org by name, for lookups the caller was already checked for.
func (v *VCD) orgByName(name string) *Org {
	for i := range v.cfg.Orgs {
		if v.cfg.Orgs[i].Name == name {
			return &v.cfg.Orgs[i]
		}
	}
	return nil
}

// org finds an org by name and checks that the caller belongs to it.
func (v *VCD) org(name, callerOrg string) (*Org, error) {
	for i := range v.cfg.Orgs {
		if o := &v.cfg.Orgs[i]; o.Name == name {
			// An empty caller is kaas acting as the provider (a template build), as the
			// adapter, which then checks nothing, does.
			if o.ID != "" && callerOrg != "" && callerOrg != o.ID {
				return nil, executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("organization %q is not the requester's organization", name),
					"ACCESS_TO_RESOURCE_IS_FORBIDDEN", "")
			}
			return o, nil
		}
	}
	return nil, executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("organization %q does not exist", name), "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "")
}

// ResolveTemplate implements executors.VCD.
func (v *VCD) ResolveTemplate(ctx context.Context, org executors.Org, ref events.TemplateRef) (events.Template, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("query catalog items"); err != nil {
		return events.Template{}, err
	}
	o, err := v.org(org.Name, org.ID)
	if err != nil {
		return events.Template{}, err
	}
	for _, t := range o.Templates {
		if t.Name == ref.Name && t.Revision == ref.Revision && !v.configuredOf(ref).Deleted {
			return v.configuredOf(ref).apply(t.Template), nil
		}
	}
	if it := v.templateItem(ref); it != nil {
		return it.template(), nil
	}
	return events.Template{}, executors.Terminal(events.CodeTemplateNotFound,
		fmt.Sprintf("template %q revision %d is not in any catalog of org %q", ref.Name, ref.Revision, org.Name), "", "")
}

// Cloud implements executors.VCD: every org's templates (once each), VDCs, the networks,
// storage profiles and sizing policies of each, and users.
func (v *VCD) Cloud(ctx context.Context) (events.CloudSynced, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("query catalog items"); err != nil {
		return events.CloudSynced{}, err
	}
	out := events.CloudSynced{Templates: []events.Template{}, VDCs: []events.VDC{}, Users: []events.User{},
		StorageProfiles: []events.VDCStorageProfiles{}, SizingPolicies: []events.VDCSizingPolicies{}}
	seen := map[events.TemplateRef]bool{}
	for _, o := range v.cfg.Orgs {
		for _, t := range o.Templates {
			if ref := (events.TemplateRef{Name: t.Name, Revision: t.Revision}); !seen[ref] && !v.configuredOf(ref).Deleted {
				seen[ref] = true
				out.Templates = append(out.Templates, v.configuredOf(ref).apply(t.Template))
			}
		}
		for _, u := range o.Users {
			out.Users = append(out.Users, events.User{ID: u.ID, Name: u.Name, OrgID: o.ID})
		}
		for _, d := range o.VDCs {
			id := "urn:vcloud:vdc:" + events.DeriveID("vcdmem-vdc", o.Name+"/"+d.Name)
			out.VDCs = append(out.VDCs, events.VDC{ID: id, Name: d.Name, OrgName: o.Name, OrgID: o.ID})
			nets := events.VDCNetworks{VDC: id, Networks: []events.Network{}}
			for _, n := range d.Networks {
				en := events.Network{Name: n.Name}
				if n.CIDR != "" {
					en.CIDRs = []string{n.CIDR}
				}
				nets.Networks = append(nets.Networks, en)
			}
			out.Networks = append(out.Networks, nets)
			out.StorageProfiles = append(out.StorageProfiles, events.VDCStorageProfiles{VDC: id, Profiles: d.profiles()})
			out.SizingPolicies = append(out.SizingPolicies, events.VDCSizingPolicies{VDC: id, Policies: d.policies(o.Name)})
		}
	}
	out.Templates = append(out.Templates, v.itemTemplates(seen)...)
	return out, nil
}

// address is the n-th address of a network's pool: in its subnet from .10 on, as VCD's
// static pools usually start, or from 10.100.0.1 on for a network without one.
func (v *VCD) address(org, vdc, network string, n int) string {
	if o := v.orgByName(org); o != nil {
		for _, d := range o.VDCs {
			for _, net := range d.Networks {
				if p, err := netip.ParsePrefix(net.CIDR); d.Name == vdc && net.Name == network && err == nil && p.Addr().Is4() && p.Bits() <= 27 {
					a := p.Masked().Addr().As4()
					host := binary.BigEndian.Uint32(a[:]) + 10 + uint32(n)%(1<<(32-p.Bits())-12) // from .10, short of the broadcast address
					binary.BigEndian.PutUint32(a[:], host)
					return netip.AddrFrom4(a).String()
				}
			}
		}
	}
	return fmt.Sprintf("10.%d.%d.%d", 100+n/65536%100, n/256%256, n%256)
}

func (v *VCD) template(org, name string) Template {
	if o := v.orgByName(org); o != nil {
		for _, t := range o.Templates {
			if t.Name == name {
				return t
			}
		}
	}
	return Template{}
}

// vdc finds the cluster's org, checked against the caller's, and the index of its VDC.
func (v *VCD) vdc(ref executors.VAppRef) (*Org, int, error) {
	o, err := v.org(ref.Org, ref.OrgID)
	if err != nil {
		return nil, 0, err
	}
	i := slices.IndexFunc(o.VDCs, func(d VDC) bool { return d.Name == ref.VDC })
	if i < 0 {
		return nil, 0, executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("org VDC %q does not exist in org %q", ref.VDC, ref.Org), "", "")
	}
	return o, i, nil
}

// ownVApp finds the cluster's vApp for a delete: nil when none of the cluster's can be
// there, because its org or VDC does not exist, the org is not the caller's (nothing is
// made there), or the vApp of that name is someone else's (which a delete must not touch).
func (v *VCD) ownVApp(ref executors.VAppRef) *VApp {
	if _, _, err := v.vdc(ref); err != nil {
		return nil
	}
	a, err := v.findVApp(ref)
	if err != nil {
		return nil
	}
	return a
}

// findVApp finds a cluster's vApp by name, and tells a tenant's vApp of the same name apart.
func (v *VCD) findVApp(ref executors.VAppRef) (*VApp, error) {
	for _, a := range v.st.VApps {
		if a.Org == ref.Org && a.VDC == ref.VDC && a.Name == ref.Name {
			if a.ClusterID != ref.ClusterID && a.Metadata[executors.MetaClusterID] != ref.ClusterID {
				return nil, executors.Terminal(events.CodeNameConflict,
					fmt.Sprintf("a vApp named %q already exists in VDC %q and is not this cluster's", ref.Name, ref.VDC), "DUPLICATE_NAME", "")
			}
			return a, nil
		}
	}
	return nil, nil
}

// EnsureVApp implements executors.VCD.
func (v *VCD) EnsureVApp(ctx context.Context, spec executors.VAppSpec) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("compose vApp"); err != nil {
		return executors.Status{}, err
	}
	// The org and VDC are checked first, as VCD does: nothing is ever made, or found,
	// outside the cluster's org and VDC, which is what lets a delete find nothing there.
	o, i, err := v.vdc(spec.VAppRef)
	if err != nil {
		return executors.Status{}, err
	}
	a, err := v.findVApp(spec.VAppRef)
	if err != nil {
		return executors.Status{}, err
	}
	now := time.Now()
	if a == nil {
		if !slices.ContainsFunc(o.VDCs[i].Networks, func(n Network) bool { return n.Name == spec.Network }) {
			return executors.Status{}, executors.Terminal(events.CodeNetworkNotFound, fmt.Sprintf("network %q does not exist in VDC %q", spec.Network, spec.VDC), "", "")
		}
		a = &VApp{ID: "urn:vcloud:vapp:" + uuid.NewString(), Org: spec.Org, VDC: spec.VDC, Name: spec.Name, Network: spec.Network,
			Metadata: maps.Clone(spec.Metadata), ClusterID: spec.ClusterID, ReadyAt: now.Add(v.cfg.TaskDelay), VMs: map[string]*VM{}}
		if a.Metadata == nil {
			a.Metadata = map[string]string{}
		}
		v.st.VApps[a.ID] = a
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	} else if !now.Before(a.ReadyAt) && missing(a.Metadata, spec.Metadata) {
		// Tagged after it was made, as kaas tags a cluster's vApp once its VMs are in:
		// a task's time.
		maps.Copy(a.Metadata, spec.Metadata)
		a.ReadyAt = now.Add(v.cfg.TaskDelay)
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	}
	return executors.Status{ID: a.ID, Done: !now.Before(a.ReadyAt)}, nil
}

func (v *VCD) vm(ref executors.VMRef) (*VApp, *VM, error) {
	a, err := v.findVApp(ref.VApp)
	if err != nil || a == nil {
		return a, nil, err
	}
	return a, a.VMs[ref.Name], nil
}

// EnsureVM implements executors.VCD.
func (v *VCD) EnsureVM(ctx context.Context, spec executors.VMSpec) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("recompose vApp"); err != nil {
		return executors.Status{}, err
	}
	a, m, err := v.vm(spec.VMRef)
	if err != nil {
		return executors.Status{}, err
	}
	if a == nil {
		return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("vApp %q is gone", spec.VApp.Name), "", "")
	}
	now := time.Now()
	if m == nil {
		o := v.orgByName(a.Org)
		if i := slices.IndexFunc(o.VDCs, func(d VDC) bool { return d.Name == a.VDC }); i >= 0 && o.VDCs[i].MaxVMs > 0 && v.countVMs(a.Org, a.VDC) >= o.VDCs[i].MaxVMs {
			return executors.Status{}, executors.Terminal(events.CodeQuotaExceeded, fmt.Sprintf("VDC %q has reached its quota of %d VMs", a.VDC, o.VDCs[i].MaxVMs),
				"VDC_RESOURCE_LIMIT_EXCEEDED", "The requested operation will exceed the VDC's VM quota.")
		}
		hw, err := v.sized(o, a.VDC, spec)
		if err != nil {
			return executors.Status{}, err
		}
		image, err := v.image(spec.Template)
		if err != nil {
			return executors.Status{}, err
		}
		v.st.NextIP++
		m = &VM{ID: "urn:vcloud:vm:" + uuid.NewString(), Name: spec.Name, Role: spec.Role, Template: spec.Template.Name,
			Metadata: maps.Clone(spec.Metadata), GuestInfo: guestInfo(spec.GuestInfo), ReadyAt: now.Add(v.cfg.TaskDelay),
			IP: v.address(a.Org, a.VDC, a.Network, v.st.NextIP), SizingPolicy: hw.SizingPolicy, StorageProfile: hw.StorageProfile,
			CPU: hw.CPU, MemoryMB: hw.MemoryMB, Image: image}
		a.VMs[m.Name] = m
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	} else if now.Before(m.ReadyAt) {
		return executors.Status{ID: m.ID}, nil
	} else if missing(m.GuestInfo, spec.GuestInfo) || missing(m.Metadata, spec.Metadata) {
		// A VM made before its user data was known (while its control plane booted) gets
		// what it lacks, as VCD's reconfigure would, in a task's time.
		maps.Copy(m.GuestInfo, spec.GuestInfo)
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		maps.Copy(m.Metadata, spec.Metadata)
		m.ReadyAt = now.Add(v.cfg.TaskDelay)
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	}
	return executors.Status{ID: m.ID, Done: !now.Before(m.ReadyAt)}, nil
}

// sized is what a new VM of the spec gets in the VDC: the storage profile and sizing
// policy it names (refused when the VDC offers neither), else the VDC's defaults; the CPUs
// and memory it names, else its policy's, else its template's.
func (v *VCD) sized(o *Org, vdcName string, spec executors.VMSpec) (executors.VMHardware, error) {
	i := slices.IndexFunc(o.VDCs, func(d VDC) bool { return d.Name == vdcName })
	if i < 0 {
		return executors.VMHardware{}, executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("org VDC %q does not exist", vdcName), "", "")
	}
	d := o.VDCs[i]
	hw := executors.VMHardware{CPU: 2, MemoryMB: 4096}
	if t := v.template(o.Name, spec.Template.Name); t.CPU > 0 || t.MemoryMB > 0 {
		hw.CPU, hw.MemoryMB = cmp.Or(t.CPU, hw.CPU), cmp.Or(t.MemoryMB, hw.MemoryMB)
	}
	profiles := d.profiles()
	j := slices.IndexFunc(profiles, func(p events.StorageProfile) bool { return p.Default })
	if spec.StorageProfile != "" {
		if j = slices.IndexFunc(profiles, func(p events.StorageProfile) bool { return p.Name == spec.StorageProfile }); j < 0 {
			return hw, executors.Terminal(events.CodeStorageProfileNotFound, fmt.Sprintf("org VDC %q has no storage profile %q", vdcName, spec.StorageProfile), "", "")
		}
	}
	hw.StorageProfile = profiles[j].Name
	policies := d.policies(o.Name)
	k := 0 // System Default
	if spec.SizingClass != "" {
		if k = slices.IndexFunc(policies, func(p events.SizingPolicy) bool { return p.Name == spec.SizingClass }); k < 0 {
			return hw, executors.Terminal(events.CodeSizingPolicyNotFound, fmt.Sprintf("org VDC %q is not assigned a VM sizing policy %q", vdcName, spec.SizingClass), "", "")
		}
	}
	p := policies[k]
	if spec.CPU != 0 && p.CPU != 0 && spec.CPU != p.CPU || spec.MemoryMB != 0 && p.MemoryMB != 0 && spec.MemoryMB != p.MemoryMB {
		return hw, executors.Terminal(events.CodeVCDError, "VCD refused the request", "400",
			fmt.Sprintf("The VM %q cannot have other CPUs or memory than its sizing policy %q sets.", spec.Name, p.Name))
	}
	hw.SizingPolicy = p.Name
	hw.CPU, hw.MemoryMB = cmp.Or(spec.CPU, p.CPU, hw.CPU), cmp.Or(spec.MemoryMB, p.MemoryMB, hw.MemoryMB)
	return hw, nil
}

// Hardware reports what a VM got: its sizing policy, storage profile, CPUs and memory.
func (v *VCD) Hardware(ctx context.Context, ref executors.VMRef) (executors.VMHardware, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, m, err := v.vm(ref)
	if err != nil {
		return executors.VMHardware{}, err
	}
	if m == nil {
		return executors.VMHardware{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	return executors.VMHardware{SizingPolicy: m.SizingPolicy, StorageProfile: m.StorageProfile, CPU: m.CPU, MemoryMB: m.MemoryMB}, nil
}

func (v *VCD) countVMs(org, vdc string) int {
	n := 0
	for _, a := range v.st.VApps {
		if a.Org == org && a.VDC == vdc {
			n += len(a.VMs)
		}
	}
	return n
}

// PowerOn implements executors.VCD.
func (v *VCD) PowerOn(ctx context.Context, ref executors.VMRef) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("power on"); err != nil {
		return executors.Status{}, err
	}
	_, m, err := v.vm(ref)
	if err != nil {
		return executors.Status{}, err
	}
	if m == nil {
		return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	now := time.Now()
	if now.Before(m.ReadyAt) {
		return executors.Status{}, executors.Retryable("BUSY_ENTITY", "The VM is busy completing an operation.", nil)
	}
	if !m.OffAt.IsZero() && now.Before(m.OffAt) {
		return executors.Status{}, executors.Retryable("BUSY_ENTITY", "The VM is busy completing an operation.", nil)
	}
	if m.OnAt.IsZero() || !m.OffAt.IsZero() {
		m.OnAt, m.OffAt = now.Add(v.cfg.TaskDelay), time.Time{}
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	}
	return executors.Status{ID: m.ID, Done: !now.Before(m.OnAt)}, nil
}

// GuestInfo implements executors.VCD: it plays the guest's bootstrap as far as the clock
// says it has got.
func (v *VCD) GuestInfo(ctx context.Context, ref executors.VMRef) (map[string]string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("get VM"); err != nil {
		return nil, err
	}
	a, m, err := v.vm(ref)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	v.play(a, m, time.Now())
	return maps.Clone(m.GuestInfo), nil
}

// play runs the guest's side of the bootstrap contract up to now: a template build's, on a
// VM made from a base image, or a node's. A VM that is off runs nothing.
func (v *VCD) play(a *VApp, m *VM, now time.Time) {
	if !m.poweredOn(now) {
		return
	}
	if m.Image != "" {
		repo := guestsim.DefaultRepository()
		if v.cfg.Repository != nil {
			repo = *v.cfg.Repository
		}
		g := &guestsim.BuildGuest{OnAt: m.OnAt, GuestInfo: m.GuestInfo, Run: m.Build}
		if guestsim.PlayBuild(g, repo, v.cfg.BootDelay, now) {
			m.Build = g.Run
			_ = v.save()
		}
		return
	}
	t := v.template(a.Org, m.Template)
	n := &guestsim.Node{Role: m.Role, IP: m.IP, OnAt: m.OnAt, UpgradeAt: m.UpgradeAt, GuestInfo: m.GuestInfo}
	c := &guestsim.Cluster{Name: a.Name, JoinCommand: a.JoinCommand}
	if guestsim.Play(n, c, guestsim.Behaviour{BootDelay: v.cfg.BootDelay, FailAt: t.FailAt}, now) {
		a.JoinCommand = c.JoinCommand
		_ = v.save()
	}
}

// SetGuestInfo implements executors.VCD.
func (v *VCD) SetGuestInfo(ctx context.Context, ref executors.VMRef, values map[string]string) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("reconfigure VM"); err != nil {
		return executors.Status{}, err
	}
	_, m, err := v.vm(ref)
	if err != nil {
		return executors.Status{}, err
	}
	if m == nil {
		return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	changed := false
	for k, val := range values {
		if m.GuestInfo[k] != val {
			m.GuestInfo[k] = val
			changed = true
		}
	}
	if changed && values[executors.GuestUpgradeTarget] != "" {
		n := &guestsim.Node{GuestInfo: m.GuestInfo}
		guestsim.RequestUpgrade(n, time.Now(), v.cfg.BootDelay)
		m.UpgradeAt = n.UpgradeAt
	}
	if changed {
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	}
	return executors.Status{ID: m.ID, Done: true}, nil
}

// DeleteVM implements executors.VCD. A VM that is not there, in a vApp that is not there
// or is not the cluster's, is deleted.
func (v *VCD) DeleteVM(ctx context.Context, ref executors.VMRef) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("delete VM"); err != nil {
		return executors.Status{}, err
	}
	a := v.ownVApp(ref.VApp)
	var m *VM
	if a != nil {
		m = a.VMs[ref.Name]
	}
	if m == nil {
		return executors.Status{Done: true}, nil
	}
	now := time.Now()
	if m.DeletedAt.IsZero() {
		m.DeletedAt = now.Add(v.cfg.TaskDelay)
	}
	if now.Before(m.DeletedAt) {
		return executors.Status{ID: m.ID}, v.save()
	}
	delete(a.VMs, m.Name)
	return executors.Status{ID: m.ID, Done: true}, v.save()
}

// DeleteVApp implements executors.VCD. A vApp that is not there, or is not the cluster's,
// is deleted.
func (v *VCD) DeleteVApp(ctx context.Context, ref executors.VAppRef) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("delete vApp"); err != nil {
		return executors.Status{}, err
	}
	a := v.ownVApp(ref)
	if a == nil {
		return executors.Status{Done: true}, nil
	}
	now := time.Now()
	if a.DeletedAt.IsZero() {
		a.DeletedAt = now.Add(v.cfg.TaskDelay)
	}
	if now.Before(a.DeletedAt) {
		return executors.Status{ID: a.ID}, v.save()
	}
	delete(v.st.VApps, a.ID)
	return executors.Status{ID: a.ID, Done: true}, v.save()
}

// VAppInfo describes a vApp for inspection.
type VAppInfo struct {
	ID, Org, VDC, Name string
	ClusterID          string
	VMs                []VMInfo
}

// VMInfo describes a VM for inspection.
type VMInfo struct {
	Name, Role, IP, Status string
	PoweredOn              bool
	Hardware               executors.VMHardware
}

// VApps lists every vApp and VM, for tests and people.
func (v *VCD) VApps() []VAppInfo {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []VAppInfo
	now := time.Now()
	for _, a := range v.st.VApps {
		info := VAppInfo{ID: a.ID, Org: a.Org, VDC: a.VDC, Name: a.Name, ClusterID: cmp.Or(a.Metadata[executors.MetaClusterID], a.ClusterID)}
		for _, m := range a.VMs {
			info.VMs = append(info.VMs, VMInfo{Name: m.Name, Role: m.Role, IP: m.IP, Status: m.GuestInfo[executors.GuestStatus],
				PoweredOn: m.poweredOn(now),
				Hardware:  executors.VMHardware{SizingPolicy: m.SizingPolicy, StorageProfile: m.StorageProfile, CPU: m.CPU, MemoryMB: m.MemoryMB}})
		}
		slices.SortFunc(info.VMs, func(x, y VMInfo) int { return strings.Compare(x.Name, y.Name) })
		out = append(out, info)
	}
	slices.SortFunc(out, func(x, y VAppInfo) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// SetErrorRate changes the fault rate at run time.
func (v *VCD) SetErrorRate(r float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cfg.ErrorRate = r
}

// guestInfo is a new VM's guestinfo: what kaas set, in a map its guest can write to.
// missing reports whether have lacks any of want's keys or values.
func missing(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return true
		}
	}
	return false
}

func guestInfo(set map[string]string) map[string]string {
	gi := maps.Clone(set)
	if gi == nil {
		gi = map[string]string{}
	}
	return gi
}
