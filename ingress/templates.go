package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/recipe"
)

// Statuses of a revision in the provider's view (cse.ProviderTemplate) that the routes
// act on.
const (
	templateReady   = "READY"
	templateFailed  = "FAILED"
	templateDeleted = "DELETED"
)

// TemplateReader answers about templates: the catalog tenants choose from, what a cluster
// may move to, and for the provider's routes every revision with its state.
type TemplateReader interface {
	// Templates lists the provider's templates; Template finds one.
	Templates(ctx context.Context) []cse.Template
	Template(ctx context.Context, ref events.TemplateRef) (events.Template, bool)
	// UpgradePlan lists the templates a cluster the principal may see can move to.
	UpgradePlan(ctx context.Context, p cluster.Principal, id string) ([]cse.Template, error)
	// ProviderTemplates lists every template revision with its state (those in the
	// catalog, built, imported, retired, or accepted and not started), sorted by name
	// then revision.
	ProviderTemplates(ctx context.Context) []cse.ProviderTemplate
	// TemplateCommand returns the revision an accepted template command is for.
	TemplateCommand(ctx context.Context, opID string) (events.TemplateRef, bool)
	// ClustersUsing names the clusters that run, or were asked on, a template revision.
	ClustersUsing(ctx context.Context, ref events.TemplateRef) []string
}

// templateRoutes are the provider's template routes. They come before any route they could
// be read as (template/{name}/{revision} matches templates/action/build).
func (a *API) templateRoutes(all []string) []route {
	return []route{
		{name: "templates-build", pattern: []string{"cse", "3.0", "templates", "action", "build"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"build_template", a.buildTemplate},
		}},
		{name: "templates-import", pattern: []string{"cse", "3.0", "templates", "action", "import"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"import_template", a.importTemplate},
		}},
		{name: "provider-templates", pattern: []string{"cse", "3.0", "templates"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_provider_templates", a.listProviderTemplates},
		}},
		{name: "template-deprecate", pattern: []string{"cse", "3.0", "template", "{}", "{}", "action", "deprecate"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"deprecate_template", a.deprecateTemplate},
		}},
		{name: "template", pattern: []string{"cse", "3.0", "template", "{}", "{}"}, versions: all, methods: map[string]handler{
			http.MethodGet:    {"get_template", a.getTemplate},
			http.MethodDelete: {"delete_template", a.deleteTemplate},
		}},
	}
}

// templateKey is what the changes to a template's revisions are serialized and synced on:
// revisions are numbered per name.
func templateKey(name string) string { return "template/" + name }

// listProviderTemplates answers kaas's GET /api/cse/3.0/templates: every revision, with
// its state, for providers.
func (a *API) listProviderTemplates(c *call) reply {
	if bad := providerOnly(c, "the templates' build state"); bad != nil {
		return *bad
	}
	a.sync(c, "templates")
	return ok(http.StatusOK, a.templates.ProviderTemplates(c.ctx))
}

// getTemplate answers kaas's GET /api/cse/3.0/template/{name}/{revision}.
func (a *API) getTemplate(c *call) reply {
	if bad := providerOnly(c, "a template's build state"); bad != nil {
		return *bad
	}
	ref, bad := a.templateRef(c)
	if bad != nil {
		return *bad
	}
	t, found := a.revision(c, ref)
	if !found {
		return templateNotFound(ref)
	}
	return ok(http.StatusOK, t)
}

// buildTemplate answers kaas's POST /api/cse/3.0/templates/action/build: the body is a
// recipe, as JSON; the build makes the template's next revision.
func (a *API) buildTemplate(c *call) reply {
	if bad := providerOnly(c, "building a template"); bad != nil {
		return *bad
	}
	b, err := readBody(c.r)
	if err == nil && !json.Valid(b) {
		err = errors.New("the body is not a JSON object (a recipe, as kaasctl template build sends it)")
	}
	if err != nil {
		return fail(http.StatusBadRequest, cse.MinorDefault, "invalid request body: %v", err)
	}
	r, err := recipe.Parse(b)
	if err != nil {
		return fail(http.StatusBadRequest, cse.MinorDefault, "invalid recipe: %v", oneLine(err))
	}
	if err := recipe.Validate(r); err != nil {
		return fail(http.StatusBadRequest, cse.MinorDefault, "invalid recipe: %s", oneLine(err))
	}
	return a.acceptTemplate(c, r.Name, 0, func(rev int) events.Payload { return events.BuildTemplate{Recipe: r, Revision: rev} })
}

// importTemplate answers kaas's POST /api/cse/3.0/templates/action/import: a ready-made
// OVA (CSE's template import), described by the provider.
func (a *API) importTemplate(c *call) reply {
	if bad := providerOnly(c, "importing a template"); bad != nil {
		return *bad
	}
	var in cse.TemplateImport
	if bad := decodeStrict(c, &in); bad != nil {
		return *bad
	}
	t := events.Template{Name: in.Name, Revision: in.Revision, KubernetesVersion: in.KubernetesVersion, OS: in.OS,
		CNI: events.Component{Name: in.CNI, Version: in.CNIVersion}, ContainerdVersion: in.ContainerdVersion, Description: in.Description,
		Rules: events.TemplateRules{CPU: in.CPU, MemoryMB: in.MemoryMB, SizingPolicy: in.SizingPolicy}, Source: events.SourceImported}
	check := t
	if check.Revision == 0 {
		check.Revision = 1 // none given: the next one is allocated below
	}
	if err := recipe.ValidateImport(check, in.OVA, in.SHA256); err != nil {
		return fail(http.StatusBadRequest, cse.MinorDefault, "invalid import: %s", oneLine(err))
	}
	return a.acceptTemplate(c, t.Name, t.Revision, func(rev int) events.Payload {
		t.Revision = rev
		return events.ImportTemplate{Template: t, OVA: in.OVA, SHA256: in.SHA256}
	})
}

// acceptTemplate appends a build or an import of a revision of the named template: rev, or
// the next one when rev is 0 (the highest revision of that name in the catalog or in any
// build or import, plus 1). A redelivered request appends nothing and answers the
// revision its first delivery was given.
func (a *API) acceptTemplate(c *call, name string, rev int, payload func(rev int) events.Payload) reply {
	unlock := a.locks.lock(templateKey(name))
	defer unlock()
	cmdID := c.commandID()
	a.sync(c, templateKey(name), "op/"+cmdID)
	ref, again := a.templates.TemplateCommand(c.ctx, cmdID)
	if !again {
		latest, taken := 0, ""
		for _, t := range a.templates.ProviderTemplates(c.ctx) {
			if t.Name == name {
				latest = max(latest, t.Revision)
				if t.Revision == rev {
					taken = t.Status
				}
			}
		}
		if taken != "" {
			return fail(http.StatusBadRequest, cse.MinorDefault, "template %s revision %d exists (%s): revisions are never reused; leave the revision out to take the next one (%d)",
				name, rev, taken, latest+1)
		}
		if rev == 0 {
			rev = latest + 1
		}
		ref = events.TemplateRef{Name: name, Revision: rev}
		seq, err := a.accept(c, events.TemplateID(name, rev), payload(rev))
		if err != nil {
			return unrecorded(err)
		}
		a.recent.set(seq, templateKey(name), "templates")
	}
	body := cse.TemplateAccepted{Name: ref.Name, Revision: ref.Revision, OperationID: cmdID, TemplateID: events.TemplateID(ref.Name, ref.Revision)}
	return reply{status: http.StatusAccepted, body: body, location: OperationHref(cmdID)}
}

// deprecateTemplate answers kaas's POST /api/cse/3.0/template/{name}/{revision}/action/deprecate,
// body {"deprecated": true|false} (no body: true). A deprecated revision is refused to new
// clusters and upgrades; clusters made from it keep working.
func (a *API) deprecateTemplate(c *call) reply {
	if bad := providerOnly(c, "deprecating a template"); bad != nil {
		return *bad
	}
	ref, bad := a.templateRef(c)
	if bad != nil {
		return *bad
	}
	var in cse.TemplateDeprecation
	if bad := decodeOptional(c, &in); bad != nil {
		return *bad
	}
	deprecated := in.Deprecated == nil || *in.Deprecated
	return a.retire(c, ref, events.DeprecateTemplate{Template: ref, Deprecated: deprecated}, nil)
}

// deleteTemplate answers kaas's DELETE /api/cse/3.0/template/{name}/{revision}: the
// revision's catalog item is removed. It is refused while clusters use the revision.
func (a *API) deleteTemplate(c *call) reply {
	if bad := providerOnly(c, "deleting a template"); bad != nil {
		return *bad
	}
	ref, bad := a.templateRef(c)
	if bad != nil {
		return *bad
	}
	return a.retire(c, ref, events.DeleteTemplate{Template: ref}, func() *reply {
		if using := a.templates.ClustersUsing(c.ctx, ref); len(using) > 0 {
			r := fail(http.StatusBadRequest, cse.MinorDefault, "template %s revision %d is used by %d cluster(s): %s. Delete them, or upgrade them to another template, first; deprecating the revision refuses it to new clusters meanwhile.",
				ref.Name, ref.Revision, len(using), strings.Join(using, ", "))
			return &r
		}
		return nil
	})
}

// retire appends a deprecation or a delete of a revision in the catalog (or, for a delete,
// of what a failed build could not roll back), after check (nil: none), and answers 202
// with the revision as it now reads.
func (a *API) retire(c *call, ref events.TemplateRef, p events.Payload, check func() *reply) reply {
	unlock := a.locks.lock(templateKey(ref.Name))
	defer unlock()
	a.sync(c, templateKey(ref.Name), "op/"+c.commandID())
	cmdID, again := a.redelivered(c)
	if !again {
		t, found := a.revision(c, ref)
		switch {
		case !found || t.Status == templateDeleted:
			return templateNotFound(ref)
		case t.Status == templateFailed && t.Step == events.TypeOperationFailed && p.Type() == events.TypeDeleteTemplate:
			// Failed with no rollback (or a failed one): what it made may be left, and a
			// delete removes it.
		case t.Status != templateReady:
			return fail(http.StatusBadRequest, cse.MinorDefault, "template %s revision %d is %s: only a revision in the catalog (READY) can be %s. Try again when its operation ends.",
				ref.Name, ref.Revision, t.Status, map[bool]string{true: "deleted", false: "deprecated"}[p.Type() == events.TypeDeleteTemplate])
		}
		if check != nil {
			if bad := check(); bad != nil {
				return *bad
			}
		}
		seq, err := a.accept(c, events.TemplateID(ref.Name, ref.Revision), p)
		if err != nil {
			return unrecorded(err)
		}
		a.recent.set(seq, templateKey(ref.Name), "templates")
	}
	a.sync(c, "op/"+cmdID)
	t, _ := a.revision(c, ref)
	return reply{status: http.StatusAccepted, body: t, location: OperationHref(cmdID)}
}

// revision finds a revision in the provider's view.
func (a *API) revision(c *call, ref events.TemplateRef) (cse.ProviderTemplate, bool) {
	for _, t := range a.templates.ProviderTemplates(c.ctx) {
		if t.Name == ref.Name && t.Revision == ref.Revision {
			return t, true
		}
	}
	return cse.ProviderTemplate{}, false
}

// templateRef reads a template route's {name} and {revision}.
func (a *API) templateRef(c *call) (events.TemplateRef, *reply) {
	name, revArg := c.args[0], c.args[1]
	rev, err := strconv.Atoi(revArg)
	if err != nil || rev < 1 {
		r := fail(http.StatusNotFound, cse.MinorDefault, "template %s revision %q not found: a revision is a number, 1 or more", name, revArg)
		return events.TemplateRef{}, &r
	}
	return events.TemplateRef{Name: name, Revision: rev}, nil
}

func templateNotFound(ref events.TemplateRef) reply {
	return fail(http.StatusNotFound, cse.MinorDefault, "template %s revision %d not found (GET /api/cse/3.0/templates lists every revision)", ref.Name, ref.Revision)
}

// decodeOptional is decodeStrict for a body that may be left out (or empty).
func decodeOptional(c *call, v any) *reply {
	b, err := readBody(c.r)
	if err != nil {
		r := fail(http.StatusBadRequest, cse.MinorDefault, "invalid request body: %v", err)
		return &r
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	c.r.Body = io.NopCloser(bytes.NewReader(b))
	return decodeStrict(c, v)
}

// oneLine joins the faults of a recipe or an import (one per line) into one line for
// CSE's error body: each names its field.
func oneLine(err error) string {
	var parts []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			parts = append(parts, e.Error())
		}
	} else {
		parts = strings.Split(err.Error(), "\n")
	}
	return strings.Join(parts, "; ")
}

// getTKGmTemplates answers CSE's GET /api/cse/templates/tkgm: kaas provisions native
// clusters only, so there are none.
func (a *API) getTKGmTemplates(c *call) reply { return ok(http.StatusOK, []cse.Template{}) }

// getTemplates answers CSE's GET /api/cse/templates.
func (a *API) getTemplates(c *call) reply { return ok(http.StatusOK, a.templates.Templates(c.ctx)) }

// reloadTemplates answers CSE's POST /api/cse/templates/action/reload: VCD's catalog (and
// org VDCs) are read again.
func (a *API) reloadTemplates(c *call) reply {
	if bad := providerOnly(c, "reloading templates"); bad != nil {
		return *bad
	}
	return a.acceptCloud(c, events.SyncCloud{}, http.StatusAccepted, nil)
}

// usableTemplate refuses a template the provider's catalog does not hold, or deprecated,
// once the catalog was read: the tenant learns now, not when the operation fails.
func (a *API) usableTemplate(c *call, ref events.TemplateRef) *reply {
	if !a.cloud.CloudSynced(c.ctx) {
		return nil
	}
	t, found := a.templates.Template(c.ctx, ref)
	var r reply
	switch {
	case !found:
		r = fail(http.StatusBadRequest, cse.MinorDefault, "spec.distribution.templateName: template %s revision %d is not in the provider's catalog (GET /api/cse/templates lists them)", ref.Name, ref.Revision)
	case t.Deprecated:
		r = fail(http.StatusBadRequest, cse.MinorDefault, "spec.distribution.templateName: template %s revision %d is deprecated: choose another (GET /api/cse/templates)", ref.Name, ref.Revision)
	default:
		return nil
	}
	return &r
}
