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

// CloudSynced records what VCD offers: every template of the provider's catalog, and every
// org VDC.
type CloudSynced struct {
	Templates []Template `json:"templates"`
	VDCs      []VDC      `json:"vdcs"`
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
