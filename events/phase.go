package events

import "strings"

// Phase is a cluster's lifecycle phase, spelled exactly as CSE spells it: <OP>:<STATUS>.
type Phase string

// Operations and statuses that make up a phase.
const (
	OpCreate  = "CREATE"
	OpUpdate  = "UPDATE"
	OpUpgrade = "UPGRADE"
	OpDelete  = "DELETE"

	StatusInProgress = "IN_PROGRESS"
	StatusSucceeded  = "SUCCEEDED"
	StatusFailed     = "FAILED"
)

// The phases a native cluster goes through.
const (
	PhaseCreateInProgress  Phase = OpCreate + ":" + StatusInProgress
	PhaseCreateSucceeded   Phase = OpCreate + ":" + StatusSucceeded
	PhaseCreateFailed      Phase = OpCreate + ":" + StatusFailed
	PhaseUpdateInProgress  Phase = OpUpdate + ":" + StatusInProgress
	PhaseUpdateSucceeded   Phase = OpUpdate + ":" + StatusSucceeded
	PhaseUpdateFailed      Phase = OpUpdate + ":" + StatusFailed
	PhaseUpgradeInProgress Phase = OpUpgrade + ":" + StatusInProgress
	PhaseUpgradeSucceeded  Phase = OpUpgrade + ":" + StatusSucceeded
	PhaseUpgradeFailed     Phase = OpUpgrade + ":" + StatusFailed
	PhaseDeleteInProgress  Phase = OpDelete + ":" + StatusInProgress
	PhaseDeleteSucceeded   Phase = OpDelete + ":" + StatusSucceeded
	PhaseDeleteFailed      Phase = OpDelete + ":" + StatusFailed
)

// MakePhase joins an operation and a status.
func MakePhase(op, status string) Phase { return Phase(op + ":" + status) }

// Op returns the operation part of the phase (CREATE, UPDATE, …).
func (p Phase) Op() string { op, _, _ := strings.Cut(string(p), ":"); return op }

// Status returns the status part of the phase (IN_PROGRESS, SUCCEEDED, FAILED).
func (p Phase) Status() string { _, st, _ := strings.Cut(string(p), ":"); return st }

// Busy reports whether an operation is in progress; a busy cluster refuses other changes.
func (p Phase) Busy() bool { return p.Status() == StatusInProgress }
