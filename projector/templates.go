package projector

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/kaasproject/kaas/events"
)

// Template statuses, as the provider's view shows a revision.
const (
	TemplateBuilding = "BUILDING" // a build or an import in progress (or accepted)
	TemplateReady    = "READY"    // in the catalog
	TemplateFailed   = "FAILED"   // its build or import failed; nothing is left in the catalog
	TemplateDeleting = "DELETING" // a delete in progress (or accepted)
	TemplateDeleted  = "DELETED"  // removed from the catalog
)

// TemplateView is one template revision as the provider sees it: what it offers, where it
// stands and the operation that brought it there.
type TemplateView struct {
	// ID is the revision's aggregate id, events.TemplateID(name, revision).
	ID       string
	Template events.Template
	// CatalogItem is the catalog item's name: <name>_rev<N> for revisions kaas made.
	CatalogItem string
	Status      string
	// Step is the last step recorded of the operation in progress or of the last one;
	// GuestStep is the last customization step the build's guest reported.
	Step, GuestStep string
	// OperationID is the operation in progress, or the last one.
	OperationID string
	// Failure is why the last operation failed; Retrying is why its step is being retried.
	Failure, Retrying *events.Failure
}

// tmplState is the fold of one template aggregate's events. ApplyEvent writes it, nothing
// else does.
type tmplState struct {
	tmpl        events.Template
	catalogItem string
	status      string // empty while only refusals were recorded
	before      string // the status a delete started from: a failed delete returns to it
	op, opType  string // the operation in progress, or the last one, and its command type
	running     bool
	step, guest string
	scripts     []string // the recipe's scripts, for the guest's progress; never changed in place
	stage       int      // how far a build went, see buildStage
	failure     *events.Failure
	retrying    *events.Failure
	seq         uint64
	hash        string
}

// tmplCommand is what a template command says of its revision, kept on its operation's
// command part.
type tmplCommand struct {
	ref        events.TemplateRef
	template   events.Template // for a build or an import: what the revision will be
	deprecated bool
}

// buildStage orders a build's steps for its progress; the guest's customization runs
// between the VM's start (4) and BuildCustomized (5).
var buildStage = map[string]int{
	events.TypeTemplateBuildStarted: 0, events.TypeBaseImageReady: 1, events.TypeBuildVAppCreated: 2, events.TypeBuildVMCreated: 3,
	events.TypeBuildVMStarted: 4, events.TypeTemplateBuildProgressed: 4, events.TypeBuildCustomized: 5, events.TypeBuildVMStopped: 6,
	events.TypeTemplateCaptured: 7, events.TypeBuildVAppDeleted: 8,
}

// guestSteps are the build script's steps, in the order the guest runs them (the contract
// of executors/bootstrap's build script).
var guestSteps = []string{"prepare", "containerd", "kubernetes", "images", "cni"}

// RecipeTemplate is the template a recipe builds, as its revision will be offered.
func RecipeTemplate(r events.Recipe, revision int) events.Template {
	return events.Template{Name: r.Name, Revision: revision, KubernetesVersion: r.KubernetesVersion, OS: r.OS,
		CNI: events.Component{Name: r.CNI.Name, Version: r.CNI.Version}, Description: r.Description,
		ContainerdVersion: r.ContainerdVersion, Rules: r.Rules, Source: events.SourceBuilt}
}

// named fills in the revision's name when nothing told it yet: a revision kaas did not
// make is known by its deprecation or delete alone.
func (ts *tmplState) named(ref events.TemplateRef) {
	if ts.tmpl.Name == "" {
		ts.tmpl.Name, ts.tmpl.Revision = ref.Name, ref.Revision
	}
}

// begin starts an operation on the revision.
func (ts *tmplState) begin(cause, commandType, status string) {
	ts.op, ts.opType, ts.running, ts.status = cause, commandType, true, status
	ts.step, ts.guest, ts.stage, ts.failure, ts.retrying = "", "", 0, nil, nil
}

// progress is the step and rough percentage of the operation in progress.
func (ts *tmplState) progress() (step string, percent int) {
	step = ts.step
	if ts.opType != events.TypeBuildTemplate {
		return step, 0
	}
	order := ts.guestOrder()
	g := len(order)
	done := min(ts.stage, 4) + max(0, ts.stage-4)
	switch {
	case ts.stage >= 5:
		done += g
	case ts.stage == 4 && ts.guest != "":
		done += max(0, slices.Index(order, ts.guest))
		step = "customize: " + ts.guest
	}
	return step, min(99, 100*done/(8+g))
}

// guestOrder is every step the build's guest reports, in order.
func (ts *tmplState) guestOrder() []string {
	out := slices.Clone(guestSteps)
	for _, s := range ts.scripts {
		out = append(out, "script:"+s)
	}
	return append(out, "cleanup")
}

// failedStatus is what a failed operation leaves the revision as: a build or an import
// leaves nothing in the catalog; a failed delete leaves the revision as it was.
func (ts *tmplState) failedStatus() string {
	if ts.opType == events.TypeDeleteTemplate {
		return cmp.Or(ts.before, TemplateReady)
	}
	return TemplateFailed
}

// templateCommand reads what a template command says of its revision; nil for any other.
func templateCommand(p events.Payload) *tmplCommand {
	switch p := p.(type) {
	case events.BuildTemplate:
		return &tmplCommand{ref: events.TemplateRef{Name: p.Recipe.Name, Revision: p.Revision}, template: RecipeTemplate(p.Recipe, p.Revision)}
	case events.ImportTemplate:
		return &tmplCommand{ref: events.TemplateRef{Name: p.Template.Name, Revision: p.Template.Revision}, template: importedTemplate(p.Template)}
	case events.DeprecateTemplate:
		return &tmplCommand{ref: p.Template, deprecated: p.Deprecated}
	case events.DeleteTemplate:
		return &tmplCommand{ref: p.Template}
	}
	return nil
}

func importedTemplate(t events.Template) events.Template {
	t.Source = cmp.Or(t.Source, events.SourceImported)
	return t
}

// isTemplate reports whether an aggregate is a template revision's, as either fold knows.
func (v *Views) isTemplate(id string) bool { return v.templates[id] != nil || v.tmplCmds[id] }

// IsTemplate reports whether the aggregate id is a template revision's, not a cluster's.
func (v *Views) IsTemplate(id string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.isTemplate(id)
}

// templateFold reports whether an event belongs to a template aggregate: one already
// known as such, or one whose history it starts (a cluster's has started before).
func (v *Views) templateFold(env events.Envelope) bool {
	if v.templates[env.ClusterID] != nil {
		return true
	}
	return v.clusters[env.ClusterID] == nil && events.IsTemplateHistory(env)
}

// applyTemplateEvent folds an event of a template aggregate, with mu held: the revision's
// state, the events' part of its operations, and the catalog's templates tenants see.
func (v *Views) applyTemplateEvent(seq uint64, hash string, env events.Envelope) {
	ts := v.templates[env.ClusterID]
	if ts == nil {
		ts = &tmplState{}
		v.templates[env.ClusterID] = ts
	}
	ts.seq, ts.hash = seq, hash
	cause := env.CausationID
	ours := ts.running && cause == ts.op // an event of the operation in progress
	var ended, succeeded, rejected bool
	switch p := env.Payload.(type) {
	case events.TemplateBuildStarted:
		ts.begin(cause, events.TypeBuildTemplate, TemplateBuilding)
		ts.tmpl, ts.catalogItem = RecipeTemplate(p.Recipe, p.Revision), p.CatalogItem
		ts.scripts = make([]string, len(p.Recipe.Scripts))
		for i, s := range p.Recipe.Scripts {
			ts.scripts[i] = s.Name
		}
		ours = true
	case events.TemplateImportStarted:
		ts.begin(cause, events.TypeImportTemplate, TemplateBuilding)
		ts.tmpl, ts.catalogItem, ts.scripts = importedTemplate(p.Template), p.CatalogItem, nil
		ours = true
	case events.TemplateDeletionStarted:
		ts.named(p.Template)
		ts.before = cmp.Or(ts.status, TemplateReady)
		ts.begin(cause, events.TypeDeleteTemplate, TemplateDeleting)
		ours = true
	case events.TemplateDeprecated:
		// Done when recorded; it neither starts nor ends another operation in progress.
		ts.named(p.Template)
		ts.tmpl.Deprecated = p.Deprecated
		ts.status = cmp.Or(ts.status, TemplateReady) // only a revision in the catalog is deprecated
		if !ts.running {
			ts.op, ts.opType, ts.step, ts.failure, ts.retrying = cause, events.TypeDeprecateTemplate, env.Type, nil, nil
		}
		ended, succeeded = true, true
		v.cloud.deprecateTemplate(p.Template, p.Deprecated)
	case events.TemplateBuildProgressed:
		if ours {
			ts.guest = strings.TrimPrefix(p.Step, "running:")
		}
	case events.TemplateCaptured:
		ts.tmpl.CatalogItemID = p.CatalogItemID
	case events.TemplateBuilt:
		ts.tmpl, ts.status = p.Template, TemplateReady
		ts.tmpl.Source = cmp.Or(ts.tmpl.Source, events.SourceBuilt)
		ended, succeeded = true, true
		v.cloud.putTemplate(ts.tmpl)
	case events.TemplateImported:
		ts.tmpl, ts.status = importedTemplate(p.Template), TemplateReady
		ended, succeeded = true, true
		v.cloud.putTemplate(ts.tmpl)
	case events.TemplateDeleted:
		ts.named(p.Template)
		ts.status = TemplateDeleted
		ended, succeeded = true, true
		v.cloud.dropTemplate(p.Template)
	case events.StepRetrying:
		if ours {
			f := p.Failure
			ts.retrying = &f
		}
	case events.OperationFailed:
		if ours {
			f := p.Failure
			ts.failure, ts.retrying = &f, nil
		}
		ended = !p.Rollback
	case events.OperationRolledBack:
		ended = true
	case events.CommandRejected:
		rejected = true
		if ts.status == "" && (p.CommandType == events.TypeBuildTemplate || p.CommandType == events.TypeImportTemplate) {
			// A build or an import refused before it made anything is a revision that
			// failed: it keeps its number, so that the next one does not run into the same
			// refusal. What it was to be is its command's (see Templates).
			f := p.Failure
			ts.status, ts.op, ts.opType, ts.step, ts.failure = TemplateFailed, cause, p.CommandType, env.Type, &f
		}
	}
	if ours && !rejected {
		if s, ok := buildStage[env.Type]; ok && ts.failure == nil {
			ts.stage = max(ts.stage, s)
		}
		ts.step = env.Type
		if ended {
			ts.running, ts.retrying = false, nil
			if !succeeded {
				ts.status = ts.failedStatus()
			}
		}
	}

	if cause != "" {
		o := &v.named(seq, env).evt
		switch p := env.Payload.(type) {
		case events.CommandRejected:
			f := p.Failure
			o.status, o.failure, o.ended, o.step = OpRejected, &f, env.Time, env.Type
			o.typ = cmp.Or(p.CommandType, o.typ)
		case events.TemplateDeprecated:
			o.status, o.started, o.ended, o.percent, o.step = OpSucceeded, env.Time, env.Time, 100, env.Type
			o.typ = events.TypeDeprecateTemplate
		default:
			if !ours {
				break // not the revision's operation in progress: nothing to say of it
			}
			if o.status == "" {
				o.started = env.Time
			}
			o.typ = cmp.Or(ts.opType, o.typ)
			o.failure = ts.failure
			switch {
			case ended && succeeded:
				o.status, o.ended, o.step, o.percent, o.retrying = OpSucceeded, env.Time, env.Type, 100, nil
			case ended:
				o.status, o.ended, o.step, o.retrying = OpFailed, env.Time, env.Type, nil
			default:
				o.status, o.retrying = OpRunning, ts.retrying
				o.step, o.percent = ts.progress()
			}
		}
	}
	v.evtTime = env.Time
	v.advance(&v.evtSeq, seq)
}

// view is the revision as its events alone say.
func (ts *tmplState) view(id string) TemplateView {
	tv := TemplateView{ID: id, Template: ts.tmpl, CatalogItem: ts.catalogItem, Status: ts.status, Step: ts.step, GuestStep: ts.guest,
		OperationID: ts.op, Failure: ts.failure, Retrying: ts.retrying}
	if ts.running {
		tv.Step, _ = ts.progress()
	}
	if tv.CatalogItem == "" {
		tv.CatalogItem = events.TemplateItemName(ts.tmpl.Name, ts.tmpl.Revision)
	}
	return tv
}

// pendingTemplateOps returns the template commands accepted that no event named yet, in
// the order they were accepted.
func (v *Views) pendingTemplateOps() []*opRecord {
	var out []*opRecord
	for id := range v.tmplCmds {
		for _, r := range v.byCluster[id] {
			if r.cmd.tmpl != nil && r.evt.status == "" {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b *opRecord) int { return cmp.Compare(a.cmd.seq, b.cmd.seq) })
	return out
}

// Templates returns every template revision the provider has: those in the catalog as
// tenants see them, every revision kaas built, imported or retired, and those whose build,
// import or delete was accepted and has not started (shown as it will start: read your
// writes). Sorted by name, then revision.
func (v *Views) Templates() []TemplateView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	byRef := map[events.TemplateRef]*TemplateView{}
	for _, t := range v.cloud.templates {
		item := t.Name // an item a provider put there by hand is named as the template
		if t.Source != "" {
			item = events.TemplateItemName(t.Name, t.Revision)
		}
		byRef[events.TemplateRef{Name: t.Name, Revision: t.Revision}] = &TemplateView{ID: events.TemplateID(t.Name, t.Revision),
			Template: t, CatalogItem: item, Status: TemplateReady}
	}
	for id, ts := range v.templates {
		if ts.status == "" {
			continue // only refusals of changes: the revision is nothing
		}
		tv := ts.view(id)
		if ts.tmpl.Name == "" {
			// A refused build or import: what it was to be is its command's, once folded.
			r := v.ops[ts.op]
			if r == nil || r.cmd.tmpl == nil {
				continue
			}
			tv.Template = r.cmd.tmpl.template
			tv.CatalogItem = events.TemplateItemName(tv.Template.Name, tv.Template.Revision)
		}
		ref := events.TemplateRef{Name: tv.Template.Name, Revision: tv.Template.Revision}
		if c, ok := byRef[ref]; ok {
			// The catalog says what tenants are offered: its flag, and the ids a sync read.
			tv.Template.Deprecated = c.Template.Deprecated
			tv.Template.Catalog = cmp.Or(tv.Template.Catalog, c.Template.Catalog)
			tv.Template.CatalogItemID = cmp.Or(tv.Template.CatalogItemID, c.Template.CatalogItemID)
		}
		byRef[ref] = &tv
	}
	for _, r := range v.pendingTemplateOps() {
		tc := r.cmd.tmpl
		tv := byRef[tc.ref]
		switch r.cmd.typ {
		case events.TypeBuildTemplate, events.TypeImportTemplate:
			if tv == nil {
				byRef[tc.ref] = &TemplateView{ID: r.clusterID, Template: tc.template, CatalogItem: events.TemplateItemName(tc.ref.Name, tc.ref.Revision),
					Status: TemplateBuilding, OperationID: r.id}
			}
		case events.TypeDeprecateTemplate:
			if tv != nil {
				tv.Template.Deprecated = tc.deprecated
			}
		case events.TypeDeleteTemplate:
			if tv != nil && tv.Status != TemplateBuilding && tv.Status != TemplateDeleting {
				tv.Status, tv.OperationID, tv.Step, tv.GuestStep, tv.Failure, tv.Retrying = TemplateDeleting, r.id, "", "", nil, nil
			}
		}
	}
	out := make([]TemplateView, 0, len(byRef))
	for _, tv := range byRef {
		out = append(out, *tv)
	}
	slices.SortFunc(out, func(a, b TemplateView) int {
		return cmp.Or(strings.Compare(a.Template.Name, b.Template.Name), cmp.Compare(a.Template.Revision, b.Template.Revision))
	})
	return out
}

// TemplateCommand returns the revision an accepted template command is for.
func (v *Views) TemplateCommand(opID string) (events.TemplateRef, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if r := v.ops[opID]; r != nil && r.cmd.tmpl != nil {
		return r.cmd.tmpl.ref, true
	}
	return events.TemplateRef{}, false
}

// catalogTemplates is the catalog's templates as tenants see them, with mu held: the last
// sync's list as template events since changed it, and the deprecations and deletes
// accepted and not started yet (read your writes: a revision a provider retires is
// refused to new clusters at once).
func (v *Views) catalogTemplates(list []events.Template) []events.Template {
	for _, r := range v.pendingTemplateOps() {
		ref := r.cmd.tmpl.ref
		i := slices.IndexFunc(list, func(t events.Template) bool { return t.Name == ref.Name && t.Revision == ref.Revision })
		if i < 0 {
			continue
		}
		switch r.cmd.typ {
		case events.TypeDeprecateTemplate:
			list[i].Deprecated = r.cmd.tmpl.deprecated
		case events.TypeDeleteTemplate:
			list = slices.Delete(list, i, i+1)
		}
	}
	return list
}

// putTemplate adds a revision kaas put in the catalog to the templates tenants see, or
// replaces it.
func (c *cloud) putTemplate(t events.Template) {
	if i := c.templateIndex(events.TemplateRef{Name: t.Name, Revision: t.Revision}); i >= 0 {
		c.templates[i] = t
		return
	}
	c.templates = append(c.templates, t)
}

func (c *cloud) deprecateTemplate(ref events.TemplateRef, deprecated bool) {
	if i := c.templateIndex(ref); i >= 0 {
		c.templates[i].Deprecated = deprecated
	}
}

func (c *cloud) dropTemplate(ref events.TemplateRef) {
	if i := c.templateIndex(ref); i >= 0 {
		c.templates = slices.Delete(c.templates, i, i+1)
	}
}

func (c *cloud) templateIndex(ref events.TemplateRef) int {
	return slices.IndexFunc(c.templates, func(t events.Template) bool { return t.Name == ref.Name && t.Revision == ref.Revision })
}

// templateTarget is how an operation's target names a revision.
func templateTarget(ref events.TemplateRef) string {
	return ref.Name + " revision " + strconv.Itoa(ref.Revision)
}
