package events

// The cloud is the part of VCD kaas offers Kubernetes on: the templates in the provider's
// catalog, the org VDCs and which of them a provider enabled, and whether the service takes
// requests. It is one aggregate, under the fixed id CloudID, on the same subjects as the
// clusters (kaas.cmd.cluster.<CloudID>, kaas.evt.cluster.<CloudID>), so that it is stored,
// replayed and audited as they are.

// CloudID is the cloud aggregate's id.
var CloudID = DeriveID("aggregate", "cloud")

// SyncCloud asks an executor to read the templates and org VDCs from VCD again.
type SyncCloud struct{}

// SetVDCRuntimes asks to enable (or, with no runtimes, disable) Kubernetes on an org VDC.
type SetVDCRuntimes struct {
	VDC      VDC      `json:"vdc"`
	Runtimes []string `json:"runtimes"`
}

// SetServiceState asks to enable or disable the whole service (CSE's system enable/disable).
type SetServiceState struct {
	Enabled bool `json:"enabled"`
}

// VDC names an org VDC.
type VDC struct {
	ID      string `json:"id"` // urn:vcloud:vdc:<uuid>
	Name    string `json:"name"`
	OrgName string `json:"orgName"`
	OrgID   string `json:"orgId,omitempty"`
}

// RuntimeNative is the only runtime kaas provisions: kubeadm on the provider's templates.
const RuntimeNative = "native"

// CloudSynced records what VCD offers: every template of the provider's catalog, every
// org VDC, and the networks of each org VDC.
type CloudSynced struct {
	Templates []Template `json:"templates"`
	VDCs      []VDC      `json:"vdcs"`
	// Networks lists the networks of each org VDC the sync could read. It was added without
	// a new schema version: records written before have none, and a VDC without an entry is
	// one whose networks kaas does not know (which checks nothing against them).
	Networks []VDCNetworks `json:"networks,omitempty"`
	// Users are the users of VCD's orgs, System's included, whose names kaas shows (a
	// cluster's owner, the users it is shared with), read with the rest so that no request
	// waits for VCD. A sync records only the users it had not recorded, or whose name
	// changed: a name once learnt is kept, also for a user since removed from VCD, whose
	// clusters it still names. Added without a new schema version: records written before
	// have none.
	Users []User `json:"users,omitempty"`
	// StorageProfiles and SizingPolicies list what each org VDC the sync could read offers
	// its VMs: its enabled storage profiles and the VM sizing policies assigned to it. They
	// were added as Networks was: records written before have none, and a VDC without an
	// entry is one whose offers kaas does not know (which checks nothing against them).
	StorageProfiles []VDCStorageProfiles `json:"storageProfiles,omitempty"`
	SizingPolicies  []VDCSizingPolicies  `json:"sizingPolicies,omitempty"`
}

// User is a VCD user: its URN (urn:vcloud:user:<uuid>), its name, and the URN of its org
// (empty when VCD did not say which).
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	OrgID string `json:"orgId,omitempty"`
}

// VDCNetworks is what networks an org VDC has; none is an answer too.
type VDCNetworks struct {
	VDC      string    `json:"vdc"` // the VDC's id, urn:vcloud:vdc:<uuid>
	Networks []Network `json:"networks"`
}

// Network is an org VDC network and the subnets its IP scopes cover, as VCD reports them
// (each scope's gateway masked by its netmask or prefix length), e.g. 10.1.0.0/16. The
// nodes of a cluster on it get their addresses there.
type Network struct {
	Name  string   `json:"name"`
	CIDRs []string `json:"cidrs,omitempty"`
}

// VDCStorageProfiles is what storage profiles an org VDC offers new VMs.
type VDCStorageProfiles struct {
	VDC      string           `json:"vdc"` // the VDC's id, urn:vcloud:vdc:<uuid>
	Profiles []StorageProfile `json:"profiles"`
}

// StorageProfile is an org VDC storage profile, by the name a cluster spec gives
// (storageProfile). Default is the one a VM that names none is put on.
type StorageProfile struct {
	Name    string `json:"name"`
	Default bool   `json:"default,omitempty"`
}

// VDCSizingPolicies is what VM sizing policies are assigned to an org VDC.
type VDCSizingPolicies struct {
	VDC      string         `json:"vdc"` // the VDC's id, urn:vcloud:vdc:<uuid>
	Policies []SizingPolicy `json:"policies"`
}

// SizingPolicy is a VM sizing policy, by the name a cluster spec gives (sizingClass), and
// the CPUs and memory it gives a VM; 0 is what it leaves to the VM's template.
type SizingPolicy struct {
	Name     string `json:"name"`
	ID       string `json:"id,omitempty"` // urn:vcloud:vdcComputePolicy:<uuid>
	CPU      int    `json:"cpu,omitempty"`
	MemoryMB int    `json:"memoryMb,omitempty"`
}

// VDCRuntimesChanged records the runtimes an org VDC is enabled for; none means disabled.
type VDCRuntimesChanged struct {
	VDC      VDC      `json:"vdc"`
	Runtimes []string `json:"runtimes"`
}

// ServiceStateChanged records that a provider enabled or disabled the service.
type ServiceStateChanged struct {
	Enabled bool `json:"enabled"`
}

// Cloud command and event type names.
const (
	TypeSyncCloud           = "SyncCloud"
	TypeSetVDCRuntimes      = "SetVDCRuntimes"
	TypeSetServiceState     = "SetServiceState"
	TypeCloudSynced         = "CloudSynced"
	TypeVDCRuntimesChanged  = "VDCRuntimesChanged"
	TypeServiceStateChanged = "ServiceStateChanged"
)

func (SyncCloud) Type() string           { return TypeSyncCloud }
func (SetVDCRuntimes) Type() string      { return TypeSetVDCRuntimes }
func (SetServiceState) Type() string     { return TypeSetServiceState }
func (CloudSynced) Type() string         { return TypeCloudSynced }
func (VDCRuntimesChanged) Type() string  { return TypeVDCRuntimesChanged }
func (ServiceStateChanged) Type() string { return TypeServiceStateChanged }
