package events

import "time"

// Event types: facts an executor recorded about one cluster, in the order they happened.
// Each step of an operation records one of them, so that after a crash the next delivery of
// the command resumes from the last one.

// ClusterCreationStarted records that a CreateCluster command was accepted.
type ClusterCreationStarted struct {
	Spec ClusterSpec `json:"spec"`
}

// TemplateResolved records the template an operation uses, as found in the provider's
// catalog. For a create it becomes the cluster's template; for an upgrade, the target.
type TemplateResolved struct {
	Template Template `json:"template"`
}

// VAppCreated records the cluster's vApp in VCD.
type VAppCreated struct {
	VAppID string `json:"vappId"`
	Name   string `json:"name"`
}

// NodeCreated records a VM created for a node (powered off).
type NodeCreated struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Ordinal int    `json:"ordinal"`
	VMID    string `json:"vmId"`
}

// NodeStarted records that a node's VM was powered on and is booting its bootstrap.
type NodeStarted struct {
	Name string `json:"name"`
}

// ControlPlaneInitialized records that the control plane ran kubeadm init and published its
// endpoint. The kubeconfig and join command are secrets: only references to them are kept.
type ControlPlaneInitialized struct {
	Node           string `json:"node"`
	IP             string `json:"ip"`
	Endpoint       string `json:"endpoint"`
	KubeconfigRef  string `json:"kubeconfigRef"`
	JoinCommandRef string `json:"joinCommandRef"`
}

// NodeJoined records that a worker joined the cluster.
type NodeJoined struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// NodeReady records that an NFS node finished its bootstrap.
type NodeReady struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// ClusterCreated records that every node is up: the create succeeded.
type ClusterCreated struct{}

// StepRetrying records that a step hit a retryable error and will be tried again, so that a
// person can see why an operation is slow.
type StepRetrying struct {
	Step     string    `json:"step"`
	Attempt  int       `json:"attempt"`
	Failure  Failure   `json:"failure"`
	NotUntil time.Time `json:"notUntil"`
}

// OperationFailed records that the operation in progress failed for good. When Rollback is
// true, the executor now undoes what the operation created.
type OperationFailed struct {
	Failure  Failure `json:"failure"`
	Rollback bool    `json:"rollback"`
}

// NodeDeleted records that a node's VM is gone.
type NodeDeleted struct {
	Name string `json:"name"`
}

// VAppDeleted records that the cluster's vApp and every VM in it are gone.
type VAppDeleted struct {
	VAppID string `json:"vappId"`
}

// OperationRolledBack records that a failed operation was undone.
type OperationRolledBack struct{}

// WorkersScaleStarted records that a ScaleWorkers command was accepted.
type WorkersScaleStarted struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// ClusterScaled records that the cluster has the requested number of workers.
type ClusterScaled struct {
	Workers int `json:"workers"`
}

// ClusterUpgradeStarted records that an UpgradeTemplate command was accepted.
type ClusterUpgradeStarted struct {
	From TemplateRef `json:"from"`
	To   TemplateRef `json:"to"`
}

// NodeUpgradeRequested records that a node was told to upgrade Kubernetes in place.
type NodeUpgradeRequested struct {
	Name              string `json:"name"`
	KubernetesVersion string `json:"kubernetesVersion"`
}

// NodeUpgraded records that a node runs the new Kubernetes version.
type NodeUpgraded struct {
	Name              string `json:"name"`
	KubernetesVersion string `json:"kubernetesVersion"`
}

// ClusterUpgraded records that every node runs the target template's Kubernetes.
type ClusterUpgraded struct {
	Template Template `json:"template"`
}

// ClusterDeletionStarted records that a delete was accepted. A forced delete cancels the
// operation in progress, which is named in Superseded.
type ClusterDeletionStarted struct {
	Force      bool   `json:"force"`
	Superseded string `json:"superseded,omitempty"`
}

// ClusterDeleted records that nothing of the cluster is left in VCD.
type ClusterDeleted struct{}

// CommandRejected records that a command reached the executor but could not be carried out
// (for example, the cluster became busy after the request was accepted).
type CommandRejected struct {
	CommandType string  `json:"commandType"`
	Failure     Failure `json:"failure"`
}

// NFSNodeDeletionStarted records that a DeleteNFSNode command was accepted.
type NFSNodeDeletionStarted struct {
	Node string `json:"node"`
}

// NFSNodeRemoved records that the NFS node is gone: the cluster has one fewer.
type NFSNodeRemoved struct {
	Node string `json:"node"`
}

// ClusterACLChanged records the users a cluster is now shared with (the whole list).
type ClusterACLChanged struct {
	Entries []ACLEntry `json:"entries"`
}

// Event type names, as they appear in the envelope.
const (
	TypeClusterCreationStarted  = "ClusterCreationStarted"
	TypeTemplateResolved        = "TemplateResolved"
	TypeVAppCreated             = "VAppCreated"
	TypeNodeCreated             = "NodeCreated"
	TypeNodeStarted             = "NodeStarted"
	TypeControlPlaneInitialized = "ControlPlaneInitialized"
	TypeNodeJoined              = "NodeJoined"
	TypeNodeReady               = "NodeReady"
	TypeClusterCreated          = "ClusterCreated"
	TypeStepRetrying            = "StepRetrying"
	TypeOperationFailed         = "OperationFailed"
	TypeNodeDeleted             = "NodeDeleted"
	TypeVAppDeleted             = "VAppDeleted"
	TypeOperationRolledBack     = "OperationRolledBack"
	TypeWorkersScaleStarted     = "WorkersScaleStarted"
	TypeClusterScaled           = "ClusterScaled"
	TypeClusterUpgradeStarted   = "ClusterUpgradeStarted"
	TypeNodeUpgradeRequested    = "NodeUpgradeRequested"
	TypeNodeUpgraded            = "NodeUpgraded"
	TypeClusterUpgraded         = "ClusterUpgraded"
	TypeClusterDeletionStarted  = "ClusterDeletionStarted"
	TypeClusterDeleted          = "ClusterDeleted"
	TypeCommandRejected         = "CommandRejected"
	TypeClusterACLChanged       = "ClusterACLChanged"
	TypeNFSNodeDeletionStarted  = "NFSNodeDeletionStarted"
	TypeNFSNodeRemoved          = "NFSNodeRemoved"
)

func (ClusterCreationStarted) Type() string  { return TypeClusterCreationStarted }
func (TemplateResolved) Type() string        { return TypeTemplateResolved }
func (VAppCreated) Type() string             { return TypeVAppCreated }
func (NodeCreated) Type() string             { return TypeNodeCreated }
func (NodeStarted) Type() string             { return TypeNodeStarted }
func (ControlPlaneInitialized) Type() string { return TypeControlPlaneInitialized }
func (NodeJoined) Type() string              { return TypeNodeJoined }
func (NodeReady) Type() string               { return TypeNodeReady }
func (ClusterCreated) Type() string          { return TypeClusterCreated }
func (StepRetrying) Type() string            { return TypeStepRetrying }
func (OperationFailed) Type() string         { return TypeOperationFailed }
func (NodeDeleted) Type() string             { return TypeNodeDeleted }
func (VAppDeleted) Type() string             { return TypeVAppDeleted }
func (OperationRolledBack) Type() string     { return TypeOperationRolledBack }
func (WorkersScaleStarted) Type() string     { return TypeWorkersScaleStarted }
func (ClusterScaled) Type() string           { return TypeClusterScaled }
func (ClusterUpgradeStarted) Type() string   { return TypeClusterUpgradeStarted }
func (NodeUpgradeRequested) Type() string    { return TypeNodeUpgradeRequested }
func (NodeUpgraded) Type() string            { return TypeNodeUpgraded }
func (ClusterUpgraded) Type() string         { return TypeClusterUpgraded }
func (ClusterDeletionStarted) Type() string  { return TypeClusterDeletionStarted }
func (ClusterDeleted) Type() string          { return TypeClusterDeleted }
func (CommandRejected) Type() string         { return TypeCommandRejected }
func (ClusterACLChanged) Type() string       { return TypeClusterACLChanged }
func (NFSNodeDeletionStarted) Type() string  { return TypeNFSNodeDeletionStarted }
func (NFSNodeRemoved) Type() string          { return TypeNFSNodeRemoved }
