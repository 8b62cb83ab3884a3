package cluster

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kaasproject/kaas/events"
)

// StepKind names what an executor must do next.
type StepKind string

// The steps of every operation. Each is short and idempotent: an executor that crashed in
// the middle of one does it again and finds what the first attempt already made.
const (
	StepNone              StepKind = ""                  // idle: nothing to do
	StepResolveTemplate   StepKind = "ResolveTemplate"   // find the template in the catalogs
	StepCreateVApp        StepKind = "CreateVApp"        // find or create the vApp
	StepCreateNode        StepKind = "CreateNode"        // find or create a node's VM
	StepStartNode         StepKind = "StartNode"         // power a node on
	StepAwaitControlPlane StepKind = "AwaitControlPlane" // read the control plane's bootstrap progress
	StepAwaitNodes        StepKind = "AwaitNodes"        // read the workers' and NFS nodes' progress
	StepProvisionNodes    StepKind = "ProvisionNodes"    // create and power on a create's workers and NFS nodes, all at once
	StepRequestUpgrade    StepKind = "RequestUpgrade"    // tell a node to upgrade in place
	StepAwaitUpgrade      StepKind = "AwaitUpgrade"      // read a node's upgrade progress
	StepDeleteNode        StepKind = "DeleteNode"        // find and delete a node's VM
	StepDeleteVApp        StepKind = "DeleteVApp"        // find and delete the vApp and all its VMs
	StepRecord            StepKind = "Record"            // no VCD work: record Event
	StepFail              StepKind = "Fail"              // the operation cannot go on: record Failure
)

// Step is the next thing to do for the operation in progress.
type Step struct {
	Kind     StepKind
	Template events.TemplateRef // ResolveTemplate
	Node     *Node              // StartNode, AwaitControlPlane, RequestUpgrade, AwaitUpgrade, DeleteNode
	New      NewNode            // CreateNode
	// News are the nodes ProvisionNodes creates or, for the control plane's StartNode and
	// AwaitControlPlane, those whose VMs may be made (without their user data, which needs
	// the join command) meanwhile; in ordinal order within each role.
	News    []NewNode
	Nodes   []*Node        // AwaitNodes; ProvisionNodes: the created nodes it powers on
	Version string         // RequestUpgrade, AwaitUpgrade: target Kubernetes version
	Event   events.Payload // Record
	Failure events.Failure // Fail
}

// NewNode is a node about to be created.
type NewNode struct {
	Name    string
	Role    string
	Ordinal int
}

func (s Step) String() string {
	switch {
	case s.Node != nil:
		return string(s.Kind) + " " + s.Node.Name
	case s.New.Name != "":
		return string(s.Kind) + " " + s.New.Name
	case s.Event != nil:
		return string(s.Kind) + " " + s.Event.Type()
	}
	return string(s.Kind)
}

// Plan returns the next step of the operation in progress. It is a pure function of the
// state: after a crash, the same history gives the same next step.
func Plan(s *State) Step {
	op := s.Op
	switch {
	case op == nil:
		return Step{}
	case op.Failed != nil:
		return s.planRollback()
	}
	switch op.Op {
	case events.OpCreate:
		return s.planCreate()
	case events.OpUpdate:
		return s.planScale()
	case events.OpUpgrade:
		return s.planUpgrade()
	case events.OpDelete:
		if !op.Swept {
			return Step{Kind: StepDeleteVApp}
		}
		return Step{Kind: StepRecord, Event: events.ClusterDeleted{}}
	}
	return Step{Kind: StepFail, Failure: events.Failure{Code: events.CodeInternal, Message: "unknown operation " + op.Op}}
}

func (s *State) planCreate() Step {
	if s.Template.KubernetesVersion == "" {
		return Step{Kind: StepResolveTemplate, Template: s.Spec.Template}
	}
	if s.VAppID == "" {
		return Step{Kind: StepCreateVApp}
	}
	// The control plane first: workers need its join command.
	if st, ok := s.growPool(events.RoleControlPlane, s.Spec.ControlPlane.Count); ok {
		return st
	}
	cp := s.NodesOf(events.RoleControlPlane)[0]
	// While the control plane powers on and boots, the other nodes' VMs may be made, but
	// only when a failure rolls back (deleting the vApp and all in it): a create that
	// keeps what failed for the tenant to look at keeps nothing kaas did not record.
	var prepare []NewNode
	if s.Spec.RollbackOnFailure {
		prepare = s.missingNodes()
	}
	if !cp.Started {
		return Step{Kind: StepStartNode, Node: cp, News: prepare}
	}
	if !s.ControlPlane.Initialized() {
		return Step{Kind: StepAwaitControlPlane, Node: cp, News: prepare}
	}
	// The workers and NFS nodes are made and powered on all at once: VCD works on
	// different VMs in parallel, and each is powered on as soon as it exists, so that it
	// boots while the others are made. None is waited on before all are made.
	if news, start := s.missingNodes(), s.unstarted(); len(news) > 0 || len(start) > 0 {
		return Step{Kind: StepProvisionNodes, News: news, Nodes: start}
	}
	if st, ok := s.bootNodes(); ok {
		return st
	}
	return Step{Kind: StepRecord, Event: events.ClusterCreated{}}
}

func (s *State) planScale() Step {
	if name := s.Op.RemoveNode; name != "" {
		if n := s.Node(name); n != nil {
			return Step{Kind: StepDeleteNode, Node: n}
		}
		return Step{Kind: StepRecord, Event: events.NFSNodeRemoved{Node: name}}
	}
	workers := s.NodesOf(events.RoleWorker)
	if len(workers) > s.Op.Workers {
		// Remove the newest workers first.
		return Step{Kind: StepDeleteNode, Node: workers[len(workers)-1]}
	}
	if st, ok := s.startNodes(); ok {
		return st
	}
	if st, ok := s.growPool(events.RoleWorker, s.Op.Workers); ok {
		return st
	}
	if st, ok := s.bootNodes(); ok {
		return st
	}
	return Step{Kind: StepRecord, Event: events.ClusterScaled{Workers: s.Op.Workers}}
}

func (s *State) planUpgrade() Step {
	op := s.Op
	if op.Target == nil {
		return Step{Kind: StepResolveTemplate, Template: op.TargetRef}
	}
	if err := CanUpgrade(s.Template.KubernetesVersion, op.Target.KubernetesVersion); err != nil {
		return Step{Kind: StepFail, Failure: events.Failure{Code: events.CodeInvalidChange, Step: string(StepResolveTemplate), Message: err.Error()}}
	}
	want := op.Target.KubernetesVersion
	// One node at a time, control plane first: kubeadm's upgrade order.
	for _, n := range s.Nodes {
		if n.Role == events.RoleNFS || n.KubernetesVersion == want {
			continue
		}
		if n.UpgradeRequested != want {
			return Step{Kind: StepRequestUpgrade, Node: n, Version: want}
		}
		return Step{Kind: StepAwaitUpgrade, Node: n, Version: want}
	}
	return Step{Kind: StepRecord, Event: events.ClusterUpgraded{Template: *op.Target}}
}

func (s *State) planRollback() Step {
	switch s.Op.Op {
	case events.OpCreate:
		// The vApp is looked for even when none was recorded: its creation may have been
		// interrupted after VCD made it.
		if !s.Op.Swept {
			return Step{Kind: StepDeleteVApp}
		}
	case events.OpUpdate:
		// Remove the workers this operation added, including one whose creation was
		// interrupted: its name is known from the next ordinal.
		for _, n := range s.NodesOf(events.RoleWorker) {
			if n.Op == s.Op.CommandID {
				return Step{Kind: StepDeleteNode, Node: n}
			}
		}
		if s.Op.Workers > s.Op.FromWorkers && !s.Op.Swept {
			n := &Node{Name: NodeName(s.ID, events.RoleWorker, s.nextOrdinal[events.RoleWorker]), Role: events.RoleWorker,
				Ordinal: s.nextOrdinal[events.RoleWorker]}
			return Step{Kind: StepDeleteNode, Node: n}
		}
	}
	return Step{Kind: StepRecord, Event: events.OperationRolledBack{}}
}

// growPool returns the step that creates the next missing node of a role.
func (s *State) growPool(role string, want int) (Step, bool) {
	if len(s.NodesOf(role)) >= want {
		return Step{}, false
	}
	ord := s.nextOrdinal[role]
	return Step{Kind: StepCreateNode, New: NewNode{Name: NodeName(s.ID, role, ord), Role: role, Ordinal: ord}}, true
}

// provisionBatch bounds the nodes one ProvisionNodes step makes: VCD adds one VM to a
// vApp at a time, so a few in the pipeline keep it busy, and each costs reads per poll.
const provisionBatch = 8

// missingNodes are the create's workers, then its NFS nodes, not made yet (at most
// provisionBatch), named by the ordinals they will be recorded with.
func (s *State) missingNodes() []NewNode {
	var out []NewNode
	for _, pool := range []struct {
		role string
		want int
	}{{events.RoleWorker, s.Spec.Workers.Count}, {events.RoleNFS, s.Spec.NFS.Count}} {
		have := len(s.NodesOf(pool.role))
		for j := 0; have+j < pool.want && len(out) < provisionBatch; j++ {
			ord := s.nextOrdinal[pool.role] + j
			out = append(out, NewNode{Name: NodeName(s.ID, pool.role, ord), Role: pool.role, Ordinal: ord})
		}
	}
	return out
}

// unstarted are the created nodes, other than the control plane, not yet powered on.
func (s *State) unstarted() []*Node {
	var out []*Node
	for _, n := range s.Nodes {
		if n.Role != events.RoleControlPlane && !n.Started {
			out = append(out, n)
		}
	}
	return out
}

// startNodes starts the first created node (other than the control plane) not yet
// powered on.
func (s *State) startNodes() (Step, bool) {
	for _, n := range s.Nodes {
		if n.Role != events.RoleControlPlane && !n.Started {
			return Step{Kind: StepStartNode, Node: n}, true
		}
	}
	return Step{}, false
}

// bootNodes starts every created node, then waits for the ones still booting.
func (s *State) bootNodes() (Step, bool) {
	if st, ok := s.startNodes(); ok {
		return st, true
	}
	var waiting []*Node
	for _, n := range s.Nodes {
		if n.Role != events.RoleControlPlane && !n.Ready {
			waiting = append(waiting, n)
		}
	}
	if len(waiting) > 0 {
		return Step{Kind: StepAwaitNodes, Nodes: waiting}, true
	}
	return Step{}, false
}

// CanUpgrade applies kubeadm's rule: an upgrade goes forward, one minor version at a time.
func CanUpgrade(from, to string) error {
	fm, fn, ok1 := minor(from)
	tm, tn, ok2 := minor(to)
	if !ok1 || !ok2 {
		return fmt.Errorf("cannot compare Kubernetes versions %q and %q", from, to)
	}
	switch {
	case tm != fm || tn < fn:
		return fmt.Errorf("cannot upgrade from Kubernetes %s to %s: upgrades go forward only", from, to)
	case tn > fn+1:
		return fmt.Errorf("cannot upgrade from Kubernetes %s to %s: kubeadm upgrades one minor version at a time", from, to)
	case tn == fn && patch(to) <= patch(from):
		return fmt.Errorf("cannot upgrade from Kubernetes %s to %s: the target is not newer", from, to)
	}
	return nil
}

func parts(v string) []string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	return strings.Split(v, ".")
}

func minor(v string) (major, minor int, ok bool) {
	p := parts(v)
	if len(p) < 2 {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(p[0])
	b, err2 := strconv.Atoi(p[1])
	return a, b, err1 == nil && err2 == nil
}

func patch(v string) int {
	p := parts(v)
	if len(p) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(p[2])
	return n
}

// Progress says how far the operation in progress is, for people watching it: the last step
// recorded and a rough percentage of the steps done.
func Progress(s *State) (step string, percent int) {
	op := s.Op
	if op == nil {
		if s.Phase.Status() == events.StatusSucceeded {
			return "", 100
		}
		return "", 0
	}
	var done, total int
	switch op.Op {
	case events.OpCreate:
		nodes := s.Spec.ControlPlane.Count + s.Spec.Workers.Count + s.Spec.NFS.Count
		total = 2 + 3*nodes // template, vApp, then create+start+ready per node
		if s.Template.KubernetesVersion != "" {
			done++
		}
		if s.VAppID != "" {
			done++
		}
		for _, n := range s.Nodes {
			done += 1 + b2i(n.Started) + b2i(n.Ready)
		}
	case events.OpUpdate:
		diff := op.Workers - op.FromWorkers
		if op.RemoveNode != "" {
			total, done = 1, b2i(s.Node(op.RemoveNode) == nil)
		} else if diff < 0 {
			total = -diff
			done = op.FromWorkers - len(s.NodesOf(events.RoleWorker))
		} else {
			total = 3 * diff
			for _, n := range s.Nodes {
				if n.Op == op.CommandID {
					done += 1 + b2i(n.Started) + b2i(n.Ready)
				}
			}
		}
	case events.OpUpgrade:
		total = 1
		if op.Target != nil {
			done = 1
			for _, n := range s.Nodes {
				if n.Role == events.RoleNFS {
					continue
				}
				total += 2
				done += b2i(n.UpgradeRequested == op.Target.KubernetesVersion) + b2i(n.KubernetesVersion == op.Target.KubernetesVersion)
			}
		}
	case events.OpDelete:
		total = 2
		if op.Swept {
			done = 1
		}
	}
	if total == 0 {
		return op.LastStep, 0
	}
	// An operation in progress is never shown as finished.
	return op.LastStep, min(99, 100*done/total)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
