package cluster

import (
	"errors"

	"github.com/kaasproject/kaas/events"
)

// ErrNotFound and ErrNotYet are what reads of a cluster wrap, in every component, for a
// cluster the caller may not see (or that does not exist) and for an as-of read of a moment
// before the cluster was created.
var (
	ErrNotFound = errors.New("not found")
	ErrNotYet   = errors.New("did not exist yet")
)

// Snapshot is a cluster as a reader sees it: its folded history plus the commands that were
// accepted but have not started yet. The ingress checks a change against it.
type Snapshot struct {
	// Exists is false for a cluster never created, deleted, or of another org.
	Exists bool
	// State is the folded history, nil before the first event.
	State *State
	// Spec is the cluster's spec, also for a create that has not started yet.
	Spec events.ClusterSpec
	// Pending lists the types of the commands accepted but not started, oldest first.
	Pending []string
	// OrgID is the URN of the cluster's org, under which its commands are filed.
	OrgID string
	// Level is what the asking principal may do with the cluster.
	Level Level
	// ACL lists the users the cluster is shared with, pending changes included.
	ACL []events.ACLEntry
}

// Busy returns the phase the cluster is busy with, or "" when it takes changes. A command
// accepted but not started makes it busy too: it will run first.
func (s Snapshot) Busy() events.Phase {
	if s.State != nil && s.State.Busy() {
		return s.State.Phase
	}
	if len(s.Pending) > 0 {
		return PendingPhase(s.Pending[0])
	}
	return ""
}

// PendingPhase is the phase a command puts a cluster in once it starts.
func PendingPhase(commandType string) events.Phase {
	switch commandType {
	case events.TypeCreateCluster:
		return events.PhaseCreateInProgress
	case events.TypeScaleWorkers, events.TypeDeleteNFSNode:
		return events.PhaseUpdateInProgress
	case events.TypeUpgradeTemplate:
		return events.PhaseUpgradeInProgress
	case events.TypeDeleteCluster, events.TypeForceDeleteCluster:
		return events.PhaseDeleteInProgress
	}
	return ""
}
