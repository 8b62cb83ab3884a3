package cluster

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
)

// State is everything the events of one cluster say about it.
type State struct {
	ID    string
	OrgID string
	Owner string // URN of the user who created it
	// ACL lists the users of the org the cluster is shared with.
	ACL     []events.ACLEntry
	Exists  bool // a create was accepted
	Deleted bool // nothing of it is left: deleted, or its create rolled back

	Spec     events.ClusterSpec
	Template events.Template // the resolved template the nodes run
	Phase    events.Phase

	// Op is the operation in progress, nil when the cluster is idle.
	Op *Operation
	// LastFailure is why the last operation failed, until one succeeds.
	LastFailure *events.Failure
	// RolledBack is set when a failed create was undone: nothing of it is left in VCD, and
	// it is Deleted (its phase stays CREATE:FAILED, for its history's readers).
	RolledBack bool

	VAppID       string
	Nodes        []*Node // ordered by role, then ordinal
	ControlPlane Endpoint

	Created, Updated time.Time

	// Seq is the stream sequence of the last event applied, Hash its hash: the expected
	// sequence and the PrevHash of the next append. Events counts them.
	Seq    uint64
	Hash   string
	Events int

	// commands holds the id of every command that started or was refused on this cluster,
	// so that a command delivered again long after the stream's dedupe window does nothing.
	commands map[string]bool
	// nextOrdinal numbers nodes per role; ordinals are never reused, so names never repeat.
	nextOrdinal map[string]int
}

// Operation is the operation in progress.
type Operation struct {
	CommandID     string
	CommandType   string
	Op            string // CREATE, UPDATE, UPGRADE, DELETE
	Actor         string
	CorrelationID string
	Started       time.Time

	// ScaleWorkers: the worker count before and after.
	FromWorkers, Workers int
	// UpgradeTemplate: the target and, once resolved, what it offers.
	TargetRef events.TemplateRef
	Target    *events.Template
	// Delete: whether forced.
	Force bool
	// DeleteNFSNode: the NFS node to remove.
	RemoveNode string

	// Failed is set when the operation failed and is being rolled back, since FailedAt.
	Failed   *events.Failure
	FailedAt time.Time
	// Retry is set while a step waits to be tried again after a retryable error.
	Retry *Retry
	// LastStep is the type of the last event the operation recorded.
	LastStep string
	// Swept is set once the operation (a delete, or a rollback) has removed what it had to,
	// including anything an interrupted step may have made without recording it.
	Swept bool
}

// Retry is the state of a step that hit a retryable error.
type Retry struct {
	Step     string
	Attempt  int
	NotUntil time.Time
	Failure  events.Failure
}

// Node is one VM of the cluster.
type Node struct {
	Name    string
	Role    string
	Ordinal int
	VMID    string
	IP      string

	Started   bool
	StartedAt time.Time
	Ready     bool

	KubernetesVersion string
	UpgradeRequested  string
	// Op is the command id of the operation that created it.
	Op string
}

// Endpoint is what the control plane published.
type Endpoint struct {
	Node           string
	IP             string
	Endpoint       string
	KubeconfigRef  string
	JoinCommandRef string
}

// Initialized reports whether the control plane ran kubeadm init.
func (e Endpoint) Initialized() bool { return e.JoinCommandRef != "" }

// Busy reports whether an operation is in progress.
func (s *State) Busy() bool { return s.Op != nil }

// Seen reports whether a command already started or was refused on this cluster.
func (s *State) Seen(commandID string) bool { return s.commands[commandID] }

// Node returns the node with the name, or nil.
func (s *State) Node(name string) *Node {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NodesOf returns the nodes of a role, in ordinal order.
func (s *State) NodesOf(role string) []*Node {
	var out []*Node
	for _, n := range s.Nodes {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// NextOrdinal returns the ordinal the next node of the role will get.
func (s *State) NextOrdinal(role string) int { return s.nextOrdinal[role] }

// NodeName returns the deterministic name of a node: a retried step that lost its result
// finds the VM it created by this name instead of making a second one. The prefixes are
// CSE's (mstr, node, nfsd); the suffix is derived from the cluster, role and ordinal.
func NodeName(clusterID, role string, ordinal int) string {
	prefix := map[string]string{events.RoleControlPlane: "mstr", events.RoleWorker: "node", events.RoleNFS: "nfsd"}[role]
	sum := sha256.Sum256([]byte(clusterID + "/" + role + "/" + strconv.Itoa(ordinal)))
	return prefix + "-" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:4])
}

// Clone returns a deep copy, so that a caller can try events on a copy.
func (s *State) Clone() *State {
	c := *s
	if s.Op != nil {
		op := *s.Op
		if op.Target != nil {
			t := *op.Target
			op.Target = &t
		}
		if op.Failed != nil {
			f := *op.Failed
			op.Failed = &f
		}
		if op.Retry != nil {
			r := *op.Retry
			op.Retry = &r
		}
		c.Op = &op
	}
	if s.LastFailure != nil {
		f := *s.LastFailure
		c.LastFailure = &f
	}
	c.ACL = slices.Clone(s.ACL)
	if s.Nodes != nil { // a copy is equal to its original, nil or not
		c.Nodes = make([]*Node, len(s.Nodes))
		for i, n := range s.Nodes {
			nn := *n
			c.Nodes[i] = &nn
		}
	}
	c.commands = make(map[string]bool, len(s.commands))
	for k, v := range s.commands {
		c.commands[k] = v
	}
	c.nextOrdinal = make(map[string]int, len(s.nextOrdinal))
	for k, v := range s.nextOrdinal {
		c.nextOrdinal[k] = v
	}
	c.Spec.PodCIDRs = slices.Clone(s.Spec.PodCIDRs)
	c.Spec.ServiceCIDRs = slices.Clone(s.Spec.ServiceCIDRs)
	return &c
}

var roleOrder = map[string]int{events.RoleControlPlane: 0, events.RoleWorker: 1, events.RoleNFS: 2}

func (s *State) addNode(n *Node) {
	s.Nodes = append(s.Nodes, n)
	slices.SortFunc(s.Nodes, func(a, b *Node) int {
		return cmp.Or(cmp.Compare(roleOrder[a.Role], roleOrder[b.Role]), cmp.Compare(a.Ordinal, b.Ordinal))
	})
}

func (s *State) removeNode(name string) {
	s.Nodes = slices.DeleteFunc(s.Nodes, func(n *Node) bool { return n.Name == name })
}
