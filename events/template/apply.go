package template

import (
	"cmp"

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

// note keeps what every event changes: the position in the stream, the commands seen, the
// times, and the operation's last step.
func (s *State) note(e events.Envelope, seq uint64, hash string) {
	if s.commands == nil {
		s.commands = map[string]bool{}
	}
	s.Seq, s.Hash, s.Events = seq, hash, s.Events+1
	if s.ID == "" {
		s.ID = e.ClusterID
	}
	if s.OrgID == "" {
		s.OrgID = e.OrgID
	}
	if e.CausationID != "" {
		s.commands[e.CausationID] = true
	}
	if _, rejected := e.Payload.(events.CommandRejected); !rejected {
		if s.Created.IsZero() {
			s.Created = e.Time
		}
		s.Updated = e.Time
	}
	// A deprecation (done when recorded) and a refusal of another command are no steps of
	// the operation in progress.
	_, deprecation := e.Payload.(events.TemplateDeprecated)
	_, rejection := e.Payload.(events.CommandRejected)
	if s.Op != nil && !deprecation && !rejection {
		s.Op.LastStep = e.Type
		if _, retrying := e.Payload.(events.StepRetrying); !retrying {
			s.Op.Retry = nil // progress resets the retry count
		}
	}
}

// appliers fold each type of event. A type not named here (CommandRejected: a refusal)
// changes nothing but what note keeps.
var appliers = events.NewFold(
	events.On((*State).applyTemplateBuildStarted),
	events.On((*State).applyBaseImageReady),
	events.On((*State).applyBuildVAppCreated),
	events.On((*State).applyBuildVMCreated),
	events.On((*State).applyBuildVMStarted),
	events.On((*State).applyTemplateBuildProgressed),
	events.On((*State).applyBuildCustomized),
	events.On((*State).applyBuildVMStopped),
	events.On((*State).applyTemplateCaptured),
	events.On((*State).applyBuildVAppDeleted),
	events.On((*State).applyTemplateBuilt),
	events.On((*State).applyTemplateImportStarted),
	events.On((*State).applyTemplateImported),
	events.On((*State).applyTemplateDeprecated),
	events.On((*State).applyTemplateDeletionStarted),
	events.On((*State).applyTemplateDeleted),
	events.On((*State).applyStepRetrying),
	events.On((*State).applyOperationFailed),
	events.On((*State).applyOperationRolledBack),
)

func (s *State) applyTemplateBuildStarted(e events.Envelope, p events.TemplateBuildStarted) {
	s.made(e, OpBuild, FromRecipe(p.Recipe, p.Revision), p.CatalogItem)
	s.Recipe = p.Recipe
}

func (s *State) applyBaseImageReady(_ events.Envelope, p events.BaseImageReady) {
	s.Build.BaseImageID, s.Build.BaseUploaded = p.VAppTemplateID, p.Uploaded
}

func (s *State) applyBuildVAppCreated(_ events.Envelope, p events.BuildVAppCreated) {
	s.Build.VAppID, s.Build.VAppName = p.VAppID, p.Name
}

func (s *State) applyBuildVMCreated(_ events.Envelope, p events.BuildVMCreated) {
	s.Build.VMID = p.VMID
}

func (s *State) applyBuildVMStarted(e events.Envelope, _ events.BuildVMStarted) {
	s.Build.Started, s.Build.StartedAt = true, e.Time
}

func (s *State) applyTemplateBuildProgressed(_ events.Envelope, p events.TemplateBuildProgressed) {
	s.Build.GuestStep = p.Step
}

func (s *State) applyBuildCustomized(events.Envelope, events.BuildCustomized) {
	s.Build.Customized = true
}

func (s *State) applyBuildVMStopped(events.Envelope, events.BuildVMStopped) {
	s.Build.Stopped = true
}

func (s *State) applyTemplateCaptured(_ events.Envelope, p events.TemplateCaptured) {
	s.Build.CatalogItemID, s.Build.VAppTemplateID = p.CatalogItemID, p.VAppTemplateID
	s.Template.CatalogItemID = p.CatalogItemID
}

func (s *State) applyBuildVAppDeleted(events.Envelope, events.BuildVAppDeleted) {
	s.Build.VAppDeleted = true
}

func (s *State) applyTemplateBuilt(_ events.Envelope, p events.TemplateBuilt) {
	s.Template = p.Template
	s.Template.Source = cmp.Or(s.Template.Source, events.SourceBuilt)
	s.Ready = true
	s.succeed(OpBuild)
}

func (s *State) applyTemplateImportStarted(e events.Envelope, p events.TemplateImportStarted) {
	s.made(e, OpImport, FromImport(p.Template), p.CatalogItem)
	s.OVA = p.OVA
}

func (s *State) applyTemplateImported(_ events.Envelope, p events.TemplateImported) {
	s.Template = p.Template
	s.Template.Source = cmp.Or(s.Template.Source, events.SourceImported)
	s.Ready = true
	s.succeed(OpImport)
}

func (s *State) applyTemplateDeprecated(_ events.Envelope, p events.TemplateDeprecated) {
	s.named(p.Template)
	s.Template.Deprecated = p.Deprecated
}

func (s *State) applyTemplateDeletionStarted(e events.Envelope, p events.TemplateDeletionStarted) {
	s.named(p.Template)
	s.start(e, OpDelete)
}

func (s *State) applyTemplateDeleted(_ events.Envelope, p events.TemplateDeleted) {
	s.named(p.Template)
	s.Deleted, s.Ready = true, false
	s.succeed(OpDelete)
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

func (s *State) applyOperationRolledBack(events.Envelope, events.OperationRolledBack) {
	if s.Op != nil {
		s.RolledBack = s.Op.Op != OpDelete
		s.Phase, s.Op = events.MakePhase(s.Op.Op, events.StatusFailed), nil
	}
}

// made starts a build or an import: the revision begins again from nothing (a revision
// whose earlier attempt was rolled back may be made again).
func (s *State) made(e events.Envelope, op string, t events.Template, item string) {
	s.Template, s.CatalogItem = t, item
	s.Exists, s.Ready, s.Deleted, s.RolledBack = true, false, false, false
	s.Recipe, s.OVA, s.Build = events.Recipe{}, "", Build{}
	s.Created = e.Time
	s.start(e, op)
}

// named gives a revision with no history of its making (made by hand) its name.
func (s *State) named(ref events.TemplateRef) {
	if s.Template.Name == "" {
		s.Template.Name, s.Template.Revision = ref.Name, ref.Revision
		s.CatalogItem = events.TemplateItemName(ref.Name, ref.Revision)
	}
}

func (s *State) start(e events.Envelope, op string) {
	s.Phase = events.MakePhase(op, events.StatusInProgress)
	s.Op = &Operation{CommandID: e.CausationID, CommandType: commandOf[e.Type], Op: op, Actor: e.Actor,
		CorrelationID: e.CorrelationID, Started: e.Time, LastStep: e.Type}
}

func (s *State) succeed(op string) {
	s.Phase, s.Op, s.LastFailure = events.MakePhase(op, events.StatusSucceeded), nil, nil
}

// commandOf names the command each start event answers.
var commandOf = map[string]string{
	events.TypeTemplateBuildStarted:    events.TypeBuildTemplate,
	events.TypeTemplateImportStarted:   events.TypeImportTemplate,
	events.TypeTemplateDeletionStarted: events.TypeDeleteTemplate,
}
