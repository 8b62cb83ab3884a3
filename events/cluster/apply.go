package cluster

import (
	"slices"

	"github.com/kaasproject/kaas/events"
)

// Apply folds one event into the state. seq is the event's stream sequence and hash the hash
// of its stored bytes. Events that make no sense for the state (which a correct executor
// never records) are folded as harmlessly as possible rather than rejected: history is
// history, and a view must always be rebuildable from it.
func (s *State) Apply(e events.Envelope, seq uint64, hash string) {
	s.note(e, seq, hash)
	appliers.Apply(s, e)
}

// note keeps what every event changes: the position in the stream, the commands seen, and
// the operation's last step.
func (s *State) note(e events.Envelope, seq uint64, hash string) {
	if s.commands == nil {
		s.commands = map[string]bool{}
		s.nextOrdinal = map[string]int{}
	}
	s.Seq, s.Hash, s.Events = seq, hash, s.Events+1
	if s.ID == "" {
		s.ID = e.ClusterID
	}
	if e.CausationID != "" {
		s.commands[e.CausationID] = true
	}
	if _, rejected := e.Payload.(events.CommandRejected); !rejected && s.Exists {
		s.Updated = e.Time
	}
	_, aclChange := e.Payload.(events.ClusterACLChanged)
	if s.Op != nil && !aclChange { // sharing is no step of the operation in progress
		s.Op.LastStep = e.Type
		if _, retrying := e.Payload.(events.StepRetrying); !retrying {
			s.Op.Retry = nil // progress resets the retry count
		}
	}
}

// appliers fold each type of event. A type not named here (CommandRejected: a refusal)
// changes nothing but what note keeps.
var appliers = events.NewFold(
	events.On((*State).applyClusterCreationStarted),
	events.On((*State).applyTemplateResolved),
	events.On((*State).applyVAppCreated),
	events.On((*State).applyNodeCreated),
	events.On((*State).applyNodeStarted),
	events.On((*State).applyControlPlaneInitialized),
	events.On((*State).applyNodeJoined),
	events.On((*State).applyNodeReady),
	events.On((*State).applyClusterCreated),
	events.On((*State).applyStepRetrying),
	events.On((*State).applyOperationFailed),
	events.On((*State).applyNodeDeleted),
	events.On((*State).applyVAppDeleted),
	events.On((*State).applyOperationRolledBack),
	events.On((*State).applyWorkersScaleStarted),
	events.On((*State).applyNFSNodeDeletionStarted),
	events.On((*State).applyNFSNodeRemoved),
	events.On((*State).applyClusterScaled),
	events.On((*State).applyClusterUpgradeStarted),
	events.On((*State).applyNodeUpgradeRequested),
	events.On((*State).applyNodeUpgraded),
	events.On((*State).applyClusterUpgraded),
	events.On((*State).applyClusterDeletionStarted),
	events.On((*State).applyClusterDeleted),
	events.On((*State).applyClusterACLChanged),
)

func (s *State) applyClusterCreationStarted(e events.Envelope, p events.ClusterCreationStarted) {
	s.Exists, s.Deleted, s.RolledBack = true, false, false
	s.OrgID, s.Owner, s.Spec = e.OrgID, e.Actor, p.Spec
	s.Created, s.Updated = e.Time, e.Time
	s.start(e, events.OpCreate)
}

// applyTemplateResolved: an upgrade's template is its target; a create's is the cluster's.
func (s *State) applyTemplateResolved(_ events.Envelope, p events.TemplateResolved) {
	if s.Op != nil && s.Op.Op == events.OpUpgrade {
		t := p.Template
		s.Op.Target = &t
	} else {
		s.Template = p.Template
	}
}

func (s *State) applyVAppCreated(_ events.Envelope, p events.VAppCreated) {
	s.VAppID = p.VAppID
}

func (s *State) applyNodeCreated(_ events.Envelope, p events.NodeCreated) {
	if s.Node(p.Name) == nil {
		n := &Node{Name: p.Name, Role: p.Role, Ordinal: p.Ordinal, VMID: p.VMID}
		if s.Op != nil {
			n.Op = s.Op.CommandID
		}
		s.addNode(n)
	}
	if p.Ordinal+1 > s.nextOrdinal[p.Role] {
		s.nextOrdinal[p.Role] = p.Ordinal + 1
	}
}

func (s *State) applyNodeStarted(e events.Envelope, p events.NodeStarted) {
	if n := s.Node(p.Name); n != nil {
		n.Started, n.StartedAt = true, e.Time
	}
}

func (s *State) applyControlPlaneInitialized(_ events.Envelope, p events.ControlPlaneInitialized) {
	s.ControlPlane = Endpoint{Node: p.Node, IP: p.IP, Endpoint: p.Endpoint, KubeconfigRef: p.KubeconfigRef, JoinCommandRef: p.JoinCommandRef}
	if n := s.Node(p.Node); n != nil {
		n.Ready, n.IP, n.KubernetesVersion = true, p.IP, s.Template.KubernetesVersion
	}
}

func (s *State) applyNodeJoined(_ events.Envelope, p events.NodeJoined) {
	if n := s.Node(p.Name); n != nil {
		n.Ready, n.IP, n.KubernetesVersion = true, p.IP, s.Template.KubernetesVersion
	}
}

func (s *State) applyNodeReady(_ events.Envelope, p events.NodeReady) {
	if n := s.Node(p.Name); n != nil {
		n.Ready, n.IP = true, p.IP
	}
}

func (s *State) applyClusterCreated(events.Envelope, events.ClusterCreated) {
	s.succeed(events.OpCreate)
}

func (s *State) applyStepRetrying(_ events.Envelope, p events.StepRetrying) {
	if s.Op != nil {
		s.Op.Retry = &Retry{Step: p.Step, Attempt: p.Attempt, NotUntil: p.NotUntil, Failure: p.Failure}
	}
}

// applyOperationFailed ends the operation, or, when it is to be undone, marks it failed
// so that the plan rolls it back.
func (s *State) applyOperationFailed(e events.Envelope, p events.OperationFailed) {
	f := p.Failure
	s.LastFailure = &f
	switch {
	case s.Op == nil:
	case p.Rollback:
		s.Op.Failed, s.Op.FailedAt = &f, e.Time
	default:
		s.Phase, s.Op = events.MakePhase(s.Op.Op, events.StatusFailed), nil
	}
}

func (s *State) applyNodeDeleted(_ events.Envelope, p events.NodeDeleted) {
	if s.Node(p.Name) == nil && s.Op != nil && s.Op.Failed != nil {
		s.Op.Swept = true // the rollback looked for a node an interrupted step made
	}
	s.removeNode(p.Name)
}

func (s *State) applyVAppDeleted(events.Envelope, events.VAppDeleted) {
	s.VAppID, s.Nodes, s.ControlPlane = "", nil, Endpoint{}
	if s.Op != nil {
		s.Op.Swept = true
	}
}

func (s *State) applyOperationRolledBack(events.Envelope, events.OperationRolledBack) {
	if s.Op != nil {
		// A create undone leaves no cluster, as CSE deletes the vApp and the entity: its
		// name is free again, and only its history (operation, audit, as-of) tells of it.
		s.RolledBack = s.Op.Op == events.OpCreate
		s.Deleted = s.RolledBack
		s.Phase, s.Op = events.MakePhase(s.Op.Op, events.StatusFailed), nil
	}
}

func (s *State) applyWorkersScaleStarted(e events.Envelope, p events.WorkersScaleStarted) {
	s.start(e, events.OpUpdate)
	s.Op.FromWorkers, s.Op.Workers = p.From, p.To
}

func (s *State) applyNFSNodeDeletionStarted(e events.Envelope, p events.NFSNodeDeletionStarted) {
	s.start(e, events.OpUpdate)
	s.Op.RemoveNode = p.Node
	s.Op.FromWorkers, s.Op.Workers = s.Spec.Workers.Count, s.Spec.Workers.Count
}

func (s *State) applyNFSNodeRemoved(events.Envelope, events.NFSNodeRemoved) {
	s.Spec.NFS.Count = max(0, s.Spec.NFS.Count-1)
	s.succeed(events.OpUpdate)
}

func (s *State) applyClusterScaled(_ events.Envelope, p events.ClusterScaled) {
	s.Spec.Workers.Count = p.Workers
	s.succeed(events.OpUpdate)
}

func (s *State) applyClusterUpgradeStarted(e events.Envelope, p events.ClusterUpgradeStarted) {
	s.start(e, events.OpUpgrade)
	s.Op.TargetRef = p.To
}

func (s *State) applyNodeUpgradeRequested(_ events.Envelope, p events.NodeUpgradeRequested) {
	if n := s.Node(p.Name); n != nil {
		n.UpgradeRequested = p.KubernetesVersion
	}
}

func (s *State) applyNodeUpgraded(_ events.Envelope, p events.NodeUpgraded) {
	if n := s.Node(p.Name); n != nil {
		n.KubernetesVersion = p.KubernetesVersion
	}
}

func (s *State) applyClusterUpgraded(_ events.Envelope, p events.ClusterUpgraded) {
	s.Template = p.Template
	s.Spec.Template = events.TemplateRef{Name: p.Template.Name, Revision: p.Template.Revision}
	s.succeed(events.OpUpgrade)
}

func (s *State) applyClusterDeletionStarted(e events.Envelope, p events.ClusterDeletionStarted) {
	s.start(e, events.OpDelete)
	s.Op.Force = p.Force
	if p.Force {
		s.Op.CommandType = events.TypeForceDeleteCluster
	}
}

func (s *State) applyClusterDeleted(events.Envelope, events.ClusterDeleted) {
	s.Deleted, s.Op, s.Phase = true, nil, events.PhaseDeleteSucceeded
	s.VAppID, s.Nodes, s.ControlPlane = "", nil, Endpoint{}
}

func (s *State) applyClusterACLChanged(_ events.Envelope, p events.ClusterACLChanged) {
	s.ACL = slices.Clone(p.Entries)
}

func (s *State) start(e events.Envelope, op string) {
	s.Phase = events.MakePhase(op, events.StatusInProgress)
	s.Op = &Operation{CommandID: e.CausationID, Op: op, Actor: e.Actor, CorrelationID: e.CorrelationID,
		Started: e.Time, LastStep: e.Type}
	s.Op.CommandType = commandOf[e.Type]
}

func (s *State) succeed(op string) {
	s.Phase, s.Op, s.LastFailure = events.MakePhase(op, events.StatusSucceeded), nil, nil
}

// commandOf names the command each start event answers.
var commandOf = map[string]string{
	events.TypeClusterCreationStarted: events.TypeCreateCluster,
	events.TypeWorkersScaleStarted:    events.TypeScaleWorkers,
	events.TypeClusterUpgradeStarted:  events.TypeUpgradeTemplate,
	events.TypeClusterDeletionStarted: events.TypeDeleteCluster,
	events.TypeNFSNodeDeletionStarted: events.TypeDeleteNFSNode,
}
