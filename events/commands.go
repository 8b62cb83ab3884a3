package events

// Command types: what a tenant or provider asks kaas to do to one cluster. Each is appended
// to the cluster's command subject with the VCD request id as its Nats-Msg-Id.

// CreateCluster asks for a new cluster.
type CreateCluster struct {
	Spec ClusterSpec `json:"spec"`
}

// ScaleWorkers asks for a new number of worker nodes.
type ScaleWorkers struct {
	Workers int `json:"workers"`
}

// UpgradeTemplate asks to move a cluster to another template (and so Kubernetes version).
type UpgradeTemplate struct {
	Template TemplateRef `json:"template"`
}

// DeleteCluster asks to delete a cluster that is not busy.
type DeleteCluster struct{}

// ForceDeleteCluster asks to delete a cluster whatever state it is in, cancelling any
// operation in progress; it is the way out for a broken cluster.
type ForceDeleteCluster struct{}

// DeleteNFSNode asks to remove one NFS node (CSE's DELETE cluster/{id}/nfs/{node}).
type DeleteNFSNode struct {
	Node string `json:"node"`
}

// SetClusterACL replaces the list of users a cluster is shared with. It needs no VCD work:
// an executor records it as ClusterACLChanged even while the cluster is busy.
type SetClusterACL struct {
	Entries []ACLEntry `json:"entries"`
}

// ACLEntry shares a cluster with one user of its org (CSE's cluster ACL).
type ACLEntry struct {
	// MemberID is the user's URN, urn:vcloud:user:<uuid>.
	MemberID string `json:"memberId"`
	// Username is the name the sharer gave, shown back as given: VCD's security context
	// names users by URN only.
	Username string `json:"username,omitempty"`
	// AccessLevel is ReadOnly, ReadWrite or FullControl.
	AccessLevel string `json:"accessLevel"`
}

// Access levels of an ACLEntry, VCD's names for them.
const (
	AccessReadOnly    = "ReadOnly"
	AccessReadWrite   = "ReadWrite"
	AccessFullControl = "FullControl"
)

// Command type names, as they appear in the envelope.
const (
	TypeCreateCluster      = "CreateCluster"
	TypeScaleWorkers       = "ScaleWorkers"
	TypeUpgradeTemplate    = "UpgradeTemplate"
	TypeDeleteCluster      = "DeleteCluster"
	TypeForceDeleteCluster = "ForceDeleteCluster"
	TypeSetClusterACL      = "SetClusterACL"
	TypeDeleteNFSNode      = "DeleteNFSNode"
)

func (CreateCluster) Type() string      { return TypeCreateCluster }
func (ScaleWorkers) Type() string       { return TypeScaleWorkers }
func (UpgradeTemplate) Type() string    { return TypeUpgradeTemplate }
func (DeleteCluster) Type() string      { return TypeDeleteCluster }
func (ForceDeleteCluster) Type() string { return TypeForceDeleteCluster }
func (SetClusterACL) Type() string      { return TypeSetClusterACL }
func (DeleteNFSNode) Type() string      { return TypeDeleteNFSNode }
