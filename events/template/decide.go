package template

import (
	"errors"
	"fmt"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/recipe"
)

// Rejection is a command that may not run, with a failure code a client can act on.
type Rejection struct {
	events.Failure
}

func (r *Rejection) Error() string { return r.Message }

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Failure: events.Failure{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// ErrDuplicate means the command already started or was refused: doing nothing is right.
var ErrDuplicate = errors.New("command already handled")

// Decide says whether the command may run on the revision as it is (a recipe or an import
// is checked whole, as the ingress checks it, so that nothing unchecked starts). It returns the event
// that starts the operation (for a deprecation, the one event it records), or a
// *Rejection, or ErrDuplicate for a command seen before.
//
// A build or import of a revision that exists, or is being made, is refused with
// TEMPLATE_EXISTS (a revision whose build failed and was rolled back may be made again);
// anything else while an operation runs is refused with TEMPLATE_BUSY. A deprecation or a
// delete is allowed on a revision with no history here: one a provider made by hand.
func Decide(s *State, cmd events.Envelope) (events.Payload, error) {
	if s.Seen(cmd.ID) {
		return nil, ErrDuplicate
	}
	switch c := cmd.Payload.(type) {
	case events.BuildTemplate:
		if err := s.makeable(cmd, c.Recipe.Name, c.Revision); err != nil {
			return nil, err
		}
		if err := recipe.Validate(c.Recipe); err != nil {
			return nil, reject(events.CodeInvalidChange, "the recipe of template %q: %v", c.Recipe.Name, err)
		}
		return events.TemplateBuildStarted{Recipe: c.Recipe, Revision: c.Revision,
			CatalogItem: events.TemplateItemName(c.Recipe.Name, c.Revision)}, nil

	case events.ImportTemplate:
		t := c.Template
		if err := s.makeable(cmd, t.Name, t.Revision); err != nil {
			return nil, err
		}
		if err := recipe.ValidateImport(t, c.OVA, c.SHA256); err != nil {
			return nil, reject(events.CodeInvalidChange, "the import of template %q: %v", t.Name, err)
		}
		return events.TemplateImportStarted{Template: FromImport(t), OVA: c.OVA, CatalogItem: events.TemplateItemName(t.Name, t.Revision)}, nil

	case events.DeprecateTemplate:
		if err := s.changeable(cmd, c.Template); err != nil {
			return nil, err
		}
		return events.TemplateDeprecated(c), nil

	case events.DeleteTemplate:
		if err := s.changeable(cmd, c.Template); err != nil {
			return nil, err
		}
		return events.TemplateDeletionStarted(c), nil
	}
	return nil, reject(events.CodeInternal, "%s is not a template command", cmd.Type)
}

// makeable refuses a build or an import of a revision that exists or is being made.
func (s *State) makeable(cmd events.Envelope, name string, revision int) error {
	if err := named(cmd, events.TemplateRef{Name: name, Revision: revision}); err != nil {
		return err
	}
	switch {
	case s.Deleted:
		return reject(events.CodeTemplateExists, "template %q revision %d was deleted; make the next revision instead", name, revision)
	case s.Op != nil && s.Op.Op != OpDelete:
		return reject(events.CodeTemplateExists, "template %q revision %d is being made (%s)", name, revision, s.Phase)
	case s.Op != nil:
		return s.busy()
	case s.Template.Name != "" && !s.RolledBack:
		// Built, imported, or made by hand and deprecated here: it is in the catalog, or
		// what is left of a failed build is (a delete removes it).
		return reject(events.CodeTemplateExists, "template %q revision %d already exists (%s)", name, revision, s.Status())
	}
	return nil
}

// changeable refuses a deprecation or delete of a revision that is busy or not in the
// catalog. A delete is allowed on what a build whose rollback failed left.
func (s *State) changeable(cmd events.Envelope, ref events.TemplateRef) error {
	if err := named(cmd, ref); err != nil {
		return err
	}
	_, deleting := cmd.Payload.(events.DeleteTemplate)
	switch {
	case s.Op != nil:
		return s.busy()
	case s.Deleted, s.RolledBack, s.Exists && !s.Ready && !deleting:
		return reject(events.CodeTemplateNotFound, "template %q revision %d is not in the catalog (%s)", ref.Name, ref.Revision, s.Status())
	}
	return nil
}

func (s *State) busy() *Rejection {
	return reject(events.CodeTemplateBusy, "template %q revision %d is busy (%s); try again when the operation ends",
		s.Template.Name, s.Template.Revision, s.Phase)
}

// named checks that the command names the revision whose aggregate it was sent to.
func named(cmd events.Envelope, ref events.TemplateRef) error {
	if ref.Name == "" || ref.Revision < 1 {
		return reject(events.CodeInvalidChange, "a template command needs a template name and a revision of 1 or more")
	}
	if id := events.TemplateID(ref.Name, ref.Revision); cmd.ClusterID != id {
		return reject(events.CodeInternal, "a command for template %q revision %d was sent to aggregate %s, not %s",
			ref.Name, ref.Revision, cmd.ClusterID, id)
	}
	return nil
}
