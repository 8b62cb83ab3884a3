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
	b := &s.Build

	switch p := e.Payload.(type) {
	case events.TemplateBuildStarted:
		s.made(e, OpBuild, FromRecipe(p.Recipe, p.Revision), p.CatalogItem)
		s.Recipe = p.Recipe

	case events.BaseImageReady:
		b.BaseImageID, b.BaseUploaded = p.VAppTemplateID, p.Uploaded

	case events.BuildVAppCreated:
		b.VAppID, b.VAppName = p.VAppID, p.Name

	case events.BuildVMCreated:
		b.VMID = p.VMID

	case events.BuildVMStarted:
		b.Started, b.StartedAt = true, e.Time

	case events.TemplateBuildProgressed:
		b.GuestStep = p.Step

	case events.BuildCustomized:
		b.Customized = true

	case events.BuildVMStopped:
		b.Stopped = true

	case events.TemplateCaptured:
		b.CatalogItemID, b.VAppTemplateID = p.CatalogItemID, p.VAppTemplateID
		s.Template.CatalogItemID = p.CatalogItemID

	case events.BuildVAppDeleted:
		b.VAppDeleted = true

	case events.TemplateBuilt:
		s.Template = p.Template
		s.Template.Source = cmp.Or(s.Template.Source, events.SourceBuilt)
		s.Ready = true
		s.succeed(OpBuild)

	case events.TemplateImportStarted:
		s.made(e, OpImport, FromImport(p.Template), p.CatalogItem)
		s.OVA = p.OVA

	case events.TemplateImported:
		s.Template = p.Template
		s.Template.Source = cmp.Or(s.Template.Source, events.SourceImported)
		s.Ready = true
		s.succeed(OpImport)

	case events.TemplateDeprecated:
		s.named(p.Template)
		s.Template.Deprecated = p.Deprecated

	case events.TemplateDeletionStarted:
		s.named(p.Template)
		s.start(e, OpDelete)

	case events.TemplateDeleted:
		s.named(p.Template)
		s.Deleted, s.Ready = true, false
		s.succeed(OpDelete)

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

	case events.OperationRolledBack:
		if s.Op != nil {
			s.RolledBack = s.Op.Op != OpDelete
			s.Phase, s.Op = events.MakePhase(s.Op.Op, events.StatusFailed), nil
		}

	case events.CommandRejected:
		// Only the command id is remembered (above): a refusal changes nothing.
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
