package events

// ClusterSpec is what a tenant asked for: the desired shape of a native Kubernetes cluster.
// It is kaas's own form of CSE's v2.1 entity spec (package cse converts between the two), so
// that history does not depend on one API version's wire format.
type ClusterSpec struct {
	Name              string      `json:"name"`
	OrgName           string      `json:"orgName"`
	VDC               string      `json:"vdc"`
	Site              string      `json:"site,omitempty"`
	Template          TemplateRef `json:"template"`
	ControlPlane      NodePool    `json:"controlPlane"`
	Workers           NodePool    `json:"workers"`
	NFS               NodePool    `json:"nfs"`
	Network           string      `json:"network"`
	SSHKey            string      `json:"sshKey,omitempty"`
	RollbackOnFailure bool        `json:"rollbackOnFailure"`
	Expose            bool        `json:"expose,omitempty"`
	PodCIDRs          []string    `json:"podCidrs,omitempty"`
	ServiceCIDRs      []string    `json:"serviceCidrs,omitempty"`
	CNI               Component   `json:"cni,omitzero"`
}

// TemplateRef names a provider's Kubernetes template by catalog item name and revision.
type TemplateRef struct {
	Name     string `json:"name"`
	Revision int    `json:"revision"`
}

// NodePool is a group of identical nodes.
type NodePool struct {
	Count          int    `json:"count"`
	SizingClass    string `json:"sizingClass,omitempty"`
	StorageProfile string `json:"storageProfile,omitempty"`
	CPU            int    `json:"cpu,omitempty"`
	MemoryMB       int    `json:"memoryMb,omitempty"`
}

// Component is a named, versioned piece of a cluster (CNI, Kubernetes itself).
type Component struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// Template is what a template offers, as its catalog item metadata describes it.
type Template struct {
	Name              string    `json:"name"`
	Revision          int       `json:"revision"`
	Catalog           string    `json:"catalog,omitempty"`
	CatalogItemID     string    `json:"catalogItemId,omitempty"`
	KubernetesVersion string    `json:"kubernetesVersion"`
	OS                string    `json:"os,omitempty"`
	CNI               Component `json:"cni,omitzero"`
	DockerVersion     string    `json:"dockerVersion,omitempty"`
	// Deprecated templates are listed but refused for new clusters and upgrades.
	Deprecated  bool   `json:"deprecated,omitempty"`
	Description string `json:"description,omitempty"`
	// ContainerdVersion is the container runtime's version a kaas-built template ships.
	ContainerdVersion string `json:"containerdVersion,omitempty"`
	// Rules are the template's defaults for the VMs of clusters made from it.
	Rules TemplateRules `json:"rules,omitzero"`
	// Source says where the revision came from: SourceBuilt, SourceImported, or empty for
	// one a provider put in the catalog by hand.
	Source string `json:"source,omitempty"`
}

// Template sources.
const (
	SourceBuilt    = "built"
	SourceImported = "imported"
)

// Node roles.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
	RoleNFS          = "nfs"
)

// Failure says why an operation or a step failed, in a form a person can act on. Code is
// stable and machine-readable; VCDCode and VCDMessage keep VCD's own error when it was VCD
// that refused.
type Failure struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Step       string `json:"step,omitempty"`
	VCDCode    string `json:"vcdCode,omitempty"`
	VCDMessage string `json:"vcdMessage,omitempty"`
}

// Failure codes recorded in events.
const (
	CodeTemplateNotFound  = "TEMPLATE_NOT_FOUND"
	CodeNetworkNotFound   = "NETWORK_NOT_FOUND"
	CodeVDCNotFound       = "VDC_NOT_FOUND"
	CodeNameConflict      = "NAME_CONFLICT"
	CodeQuotaExceeded     = "QUOTA_EXCEEDED"
	CodeBootstrapFailed   = "BOOTSTRAP_FAILED"
	CodeTimeout           = "TIMEOUT"
	CodeRetriesExhausted  = "RETRIES_EXHAUSTED"
	CodeVCDError          = "VCD_ERROR"
	CodeBusy              = "CLUSTER_BUSY"
	CodeNotFound          = "CLUSTER_NOT_FOUND"
	CodeInvalidChange     = "INVALID_CHANGE"
	CodeAlreadyExists     = "CLUSTER_EXISTS"
	CodeSuperseded        = "SUPERSEDED"
	CodeInternal          = "INTERNAL"
	CodeUnsupportedChange = "UNSUPPORTED_CHANGE"
	CodeDeadLettered      = "DEAD_LETTERED"
)

// Failure codes for a sizing class or storage profile the org VDC does not offer.
const (
	CodeSizingPolicyNotFound   = "SIZING_POLICY_NOT_FOUND"
	CodeStorageProfileNotFound = "STORAGE_PROFILE_NOT_FOUND"
)
