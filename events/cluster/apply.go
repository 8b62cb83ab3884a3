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

	switch p := e.Payload.(type) {
	case events.ClusterCreationStarted:
		s.Exists, s.Deleted, s.RolledBack = true, false, false
		s.OrgID, s.Owner, s.Spec = e.OrgID, e.Actor, p.Spec
		s.Created, s.Updated = e.Time, e.Time
		s.start(e, events.OpCreate)

	case events.TemplateResolved:
		if s.Op != nil && s.Op.Op == events.OpUpgrade {
			t := p.Template
			s.Op.Target = &t
		} else {
			s.Template = p.Template
		}

	case events.VAppCreated:
		s.VAppID = p.VAppID

	case events.NodeCreated:
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

	case events.NodeStarted:
		if n := s.Node(p.Name); n != nil {
			n.Started, n.StartedAt = true, e.Time
		}

	case events.ControlPlaneInitialized:
		s.ControlPlane = Endpoint{Node: p.Node, IP: p.IP, Endpoint: p.Endpoint, KubeconfigRef: p.KubeconfigRef, JoinCommandRef: p.JoinCommandRef}
		if n := s.Node(p.Node); n != nil {
			n.Ready, n.IP, n.KubernetesVersion = true, p.IP, s.Template.KubernetesVersion
		}

	case events.NodeJoined:
		if n := s.Node(p.Name); n != nil {
			n.Ready, n.IP, n.KubernetesVersion = true, p.IP, s.Template.KubernetesVersion
		}

	case events.NodeReady:
		if n := s.Node(p.Name); n != nil {
			n.Ready, n.IP = true, p.IP
		}

	case events.ClusterCreated:
		s.succeed(events.OpCreate)

	case events.StepRetrying:
		if s.Op != nil {
			s.Op.Retry = &Retry{Step: p.Step, Attempt: p.Attempt, NotUntil: p.NotUntil, Failure: p.Failure}
		}

	case events.OperationFailed:
		f := p.Failure
		s.LastFailure = &f
		if s.Op == nil {
			break
		}
		if p.Rollback {
			s.Op.Failed, s.Op.FailedAt = &f, e.Time
			break
		}
		s.Phase, s.Op = events.MakePhase(s.Op.Op, events.StatusFailed), nil

	case events.NodeDeleted:
		if s.Node(p.Name) == nil && s.Op != nil && s.Op.Failed != nil {
			s.Op.Swept = true // the rollback looked for a node an interrupted step made
		}
		s.removeNode(p.Name)

	case events.VAppDeleted:
		s.VAppID, s.Nodes, s.ControlPlane = "", nil, Endpoint{}
		if s.Op != nil {
			s.Op.Swept = true
		}

	case events.OperationRolledBack:
		if s.Op != nil {
			// A create undone leaves no cluster, as CSE deletes the vApp and the entity: its
			// name is free again, and only its history (operation, audit, as-of) tells of it.
			s.RolledBack = s.Op.Op == events.OpCreate
			s.Deleted = s.RolledBack
			s.Phase, s.Op = events.MakePhase(s.Op.Op, events.StatusFailed), nil
		}

	case events.WorkersScaleStarted:
		s.start(e, events.OpUpdate)
		s.Op.FromWorkers, s.Op.Workers = p.From, p.To

	case events.NFSNodeDeletionStarted:
		s.start(e, events.OpUpdate)
		s.Op.RemoveNode = p.Node
		s.Op.FromWorkers, s.Op.Workers = s.Spec.Workers.Count, s.Spec.Workers.Count

	case events.NFSNodeRemoved:
		s.Spec.NFS.Count = max(0, s.Spec.NFS.Count-1)
		s.succeed(events.OpUpdate)

	case events.ClusterScaled:
		s.Spec.Workers.Count = p.Workers
		s.succeed(events.OpUpdate)

	case events.ClusterUpgradeStarted:
		s.start(e, events.OpUpgrade)
		s.Op.TargetRef = p.To

	case events.NodeUpgradeRequested:
		if n := s.Node(p.Name); n != nil {
			n.UpgradeRequested = p.KubernetesVersion
		}

	case events.NodeUpgraded:
		if n := s.Node(p.Name); n != nil {
			n.KubernetesVersion = p.KubernetesVersion
		}

	case events.ClusterUpgraded:
		s.Template = p.Template
		s.Spec.Template = events.TemplateRef{Name: p.Template.Name, Revision: p.Template.Revision}
		s.succeed(events.OpUpgrade)

	case events.ClusterDeletionStarted:
		s.start(e, events.OpDelete)
		s.Op.Force = p.Force
		if p.Force {
			s.Op.CommandType = events.TypeForceDeleteCluster
		}

	case events.ClusterDeleted:
		s.Deleted, s.Op, s.Phase = true, nil, events.PhaseDeleteSucceeded
		s.VAppID, s.Nodes, s.ControlPlane = "", nil, Endpoint{}

	case events.CommandRejected:
		// Only the command id is remembered (above): a refusal changes nothing.

	case events.ClusterACLChanged:
		s.ACL = slices.Clone(p.Entries)
	}
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
