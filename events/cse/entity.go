package cse

// Entity type and id prefixes of CSE's native cluster RDE.
const (
	EntityType     = "urn:vcloud:type:cse:nativeCluster:2.1.0"
	EntityIDPrefix = "urn:vcloud:entity:cse:nativeCluster:"
	APIVersion21   = "cse.vmware.com/v2.1"
	APIVersion20   = "cse.vmware.com/v2.0"
	KindNative     = "native"
)

// DefEntity is VCD's defined-entity wrapper, the shape of every cluster response.
type DefEntity struct {
	Name       string       `json:"name"`
	Entity     NativeEntity `json:"entity"`
	ID         string       `json:"id"`
	EntityType string       `json:"entityType"`
	ExternalID *string      `json:"externalId"`
	State      string       `json:"state"`
	Owner      Ref          `json:"owner"`
	Org        Ref          `json:"org"`
}

// Ref names a VCD object.
type Ref struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// NativeEntity is the v2.1 native cluster entity. Optional fields are pointers: on input,
// nil means "not given"; on output they render as null, as CSE's do.
type NativeEntity struct {
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
	APIVersion string   `json:"apiVersion"`
	Status     *Status  `json:"status,omitempty"`
	Kind       string   `json:"kind"`
}

// Metadata names the cluster and where it lives.
type Metadata struct {
	Name                  string `json:"name"`
	OrgName               string `json:"orgName"`
	VirtualDataCenterName string `json:"virtualDataCenterName"`
	Site                  string `json:"site"`
}

// Spec is what the tenant asks for.
type Spec struct {
	Settings     *Settings     `json:"settings"`
	Topology     *Topology     `json:"topology"`
	Distribution *Distribution `json:"distribution"`
}

// Topology is the node pools.
type Topology struct {
	ControlPlane *NodePool `json:"controlPlane"`
	Workers      *NodePool `json:"workers"`
	NFS          *NodePool `json:"nfs"`
}

// NodePool is one pool's size and sizing.
type NodePool struct {
	SizingClass    *string `json:"sizingClass"`
	StorageProfile *string `json:"storageProfile"`
	Count          *int    `json:"count"`
	CPU            *int    `json:"cpu"`
	Memory         *int    `json:"memory"`
}

// Distribution names the template.
type Distribution struct {
	TemplateName     *string `json:"templateName"`
	TemplateRevision *int    `json:"templateRevision"`
}

// Settings are the cluster's settings.
type Settings struct {
	OvdcNetwork       *string      `json:"ovdcNetwork"`
	SSHKey            *string      `json:"sshKey"`
	RollbackOnFailure *bool        `json:"rollbackOnFailure"`
	Network           *Network     `json:"network"`
	CNI               *Component   `json:"cni"`
	CPI               *Component   `json:"cpi"`
	CSI               []CSIElement `json:"csi"`
}

// Network holds the cluster's network settings.
type Network struct {
	CNI      *Component `json:"cni"` // deprecated by CSE in favour of Settings.CNI
	Pods     *CIDRs     `json:"pods"`
	Services *CIDRs     `json:"services"`
	Expose   *bool      `json:"expose"`
}

// CIDRs is a list of CIDR blocks.
type CIDRs struct {
	CIDRBlocks []string `json:"cidrBlocks"`
}

// Component is a named, versioned add-on.
type Component struct {
	Name    *string `json:"name"`
	Version *string `json:"version"`
}

// CSIElement configures a CSI driver.
type CSIElement struct {
	Name                   *string          `json:"name"`
	Version                *string          `json:"version"`
	Default                *bool            `json:"default"`
	DefaultK8sStorageClass *K8sStorageClass `json:"defaultK8sStorageClass"`
}

// K8sStorageClass is a CSI default storage class.
type K8sStorageClass struct {
	VCDStorageProfileName  *string `json:"vcdStorageProfileName"`
	K8sStorageClassName    *string `json:"k8sStorageClassName"`
	UseDeleteReclaimPolicy *bool   `json:"useDeleteReclaimPolicy"`
	Filesystem             *string `json:"filesystem"`
}

// Status is what the cluster is, as kaas knows it. CSE's keys are kept, quirks included
// (externalIp, virtual_IPs), so that CSE clients read it unchanged; Kaas adds what CSE
// could not tell: the operation in progress and why the last one failed.
type Status struct {
	Phase             string          `json:"phase"`
	CNI               *string         `json:"cni"`
	TaskHref          *string         `json:"taskHref"`
	Kubernetes        *string         `json:"kubernetes"`
	DockerVersion     *string         `json:"dockerVersion"`
	OS                *string         `json:"os"`
	ExternalIP        *string         `json:"externalIp"`
	Nodes             *Nodes          `json:"nodes"`
	UID               string          `json:"uid"`
	CloudProperties   CloudProperties `json:"cloudProperties"`
	PersistentVolumes []string        `json:"persistentVolumes"`
	VirtualIPs        []string        `json:"virtual_IPs"`
	Private           *Private        `json:"private"`
	CPI               *Component      `json:"cpi"`
	Kaas              *KaasStatus     `json:"kaas,omitempty"`
}

// Nodes lists the cluster's VMs by role.
type Nodes struct {
	ControlPlane *Node  `json:"controlPlane"`
	Workers      []Node `json:"workers"`
	NFS          []Node `json:"nfs"`
}

// Node is one VM.
type Node struct {
	Name           string  `json:"name"`
	IP             string  `json:"ip"`
	SizingClass    *string `json:"sizingClass"`
	StorageProfile *string `json:"storageProfile"`
	CPU            *int    `json:"cpu"`
	Memory         *int    `json:"memory"`
}

// CloudProperties echoes where and how the cluster was made.
type CloudProperties struct {
	Site                  *string      `json:"site"`
	OrgName               string       `json:"orgName"`
	VirtualDataCenterName string       `json:"virtualDataCenterName"`
	OvdcNetworkName       string       `json:"ovdcNetworkName"`
	Distribution          Distribution `json:"distribution"`
	SSHKey                *string      `json:"sshKey"`
	RollbackOnFailure     bool         `json:"rollbackOnFailure"`
	Exposed               bool         `json:"exposed"`
}

// Private holds secrets; kaas never puts them in a cluster response (use /config).
type Private struct {
	KubeConfig   *string  `json:"kubeConfig"`
	KubeToken    *string  `json:"kubeToken"`
	Certificates []string `json:"certificates"`
}

// KaasStatus is what kaas adds to CSE's status: the operation in progress or the last one,
// with its progress and, when it failed, why.
type KaasStatus struct {
	// ClusterID is kaas's id of the cluster (a UUID), also once VCD's entity id is shown.
	ClusterID     string     `json:"clusterId,omitempty"`
	OperationID   string     `json:"operationId,omitempty"`
	OperationHref string     `json:"operationHref,omitempty"`
	Step          string     `json:"step,omitempty"`
	Percent       int        `json:"percent"`
	Error         *KaasError `json:"error,omitempty"`
	RolledBack    bool       `json:"rolledBack,omitempty"`
	Retrying      *KaasError `json:"retrying,omitempty"`
}

// KaasError is a failure a person can act on.
type KaasError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Step       string `json:"step,omitempty"`
	VCDCode    string `json:"vcdCode,omitempty"`
	VCDMessage string `json:"vcdMessage,omitempty"`
}

// Error is CSE's error body: {"message": {"minor error code": N, "error description": "…"}}.
type Error struct {
	Message ErrorMessage `json:"message"`
}

// ErrorMessage is the inside of CSE's error body; its keys contain spaces, as CSE's do.
type ErrorMessage struct {
	MinorErrorCode   int    `json:"minor error code"`
	ErrorDescription string `json:"error description"`
}

// NewError returns CSE's error body. Its client turns the minor code into its own
// MinorErrorCode enum, which raises on a code it does not define: any other is sent as
// MinorDefault.
func NewError(minor int, description string) Error {
	if minor < minorFirst || minor > minorLast {
		minor = MinorDefault
	}
	return Error{ErrorMessage{MinorErrorCode: minor, ErrorDescription: description}}
}

// The request-key codes CSE 3.1.4 defines (exception/minor_error_codes.py), besides -1.
const minorFirst, minorLast = 4000, 4029

// CSE's minor error codes (exception/minor_error_codes.py) that kaas uses.
const (
	MinorDefault            = -1
	MinorClusterNameMissing = 4000
	MinorClusterNameInvalid = 4001
	MinorNetworkNameMissing = 4008
	MinorNetworkNameInvalid = 4009
	MinorNumWorkersMissing  = 4014
	MinorNumWorkersInvalid  = 4015
	MinorOrgNameMissing     = 4016
	MinorOrgNameInvalid     = 4017
	MinorOvdcNameMissing    = 4020
	MinorOvdcNameInvalid    = 4021
)

// minorInvalid maps the events.ClusterSpec field a refusal blames to CSE's minor code for
// an invalid value of it; CSE has codes for these only.
var minorInvalid = map[string]int{
	"name": MinorClusterNameInvalid, "orgName": MinorOrgNameInvalid, "vdc": MinorOvdcNameInvalid,
	"network": MinorNetworkNameInvalid, "workers.count": MinorNumWorkersInvalid,
}

// MinorInvalid returns CSE's minor error code for an invalid value of a ClusterSpec field
// (a cluster.Rejection's Field), MinorDefault when CSE has none.
func MinorInvalid(field string) int {
	if m, ok := minorInvalid[field]; ok {
		return m
	}
	return MinorDefault
}

// Page is CSE's paged result.
type Page[T any] struct {
	ResultTotal     int    `json:"resultTotal"`
	PageCount       int    `json:"pageCount"`
	Page            int    `json:"page"`
	PageSize        int    `json:"pageSize"`
	NextPageURI     string `json:"nextPageUri,omitempty"`
	PreviousPageURI string `json:"previousPageUri,omitempty"`
	Values          []T    `json:"values"`
}
