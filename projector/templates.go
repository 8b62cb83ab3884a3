package projector

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/template"
)

// TemplateView is one template revision as the provider sees it: what it offers, where it
// stands and the operation that brought it there.
type TemplateView struct {
	// ID is the revision's aggregate id, events.TemplateID(name, revision).
	ID       string
	Template events.Template
	// CatalogItem is the catalog item's name: <name>_rev<N> for revisions kaas made.
	CatalogItem string
	// Status is one of events/template's Status* values.
	Status string
	// Step is the last step recorded of the operation in progress or of the last one;
	// GuestStep is the last customization step the build's guest reported, while the
	// revision's last operation is its build.
	Step, GuestStep string
	// OperationID is the operation in progress, or the last one.
	OperationID string
	// Failure is why the last operation failed; Retrying is why its step is being retried.
	Failure, Retrying *events.Failure
}

// tmplFold is a template revision as the event fold knows it: its state, folded by
// events/template as the executor folds it, and the operation its view shows. ApplyEvent
// writes it, nothing else does.
type tmplFold struct {
	st *template.State
	// op is the operation in progress or the last one to run; a deprecation counts when
	// nothing runs. On a revision that is nothing else, it is a build or an import that was
	// refused: the revision keeps its number as a failed one.
	op string
}

// status is the revision's status, empty while only refusals of changes were recorded.
func (f *tmplFold) status() string {
	switch {
	case f.st.Template.Name != "":
		return f.st.Status()
	case f.op != "":
		return template.StatusFailed
	}
	return ""
}

// tmplCommand is what a template command says of its revision, kept on its operation's
// command part.
type tmplCommand struct {
	ref        events.TemplateRef
	template   events.Template // for a build or an import: what the revision will be
	deprecated bool
}

// templateCommand reads what a template command says of its revision; nil for any other.
func templateCommand(p events.Payload) *tmplCommand {
	switch p := p.(type) {
	case events.BuildTemplate:
		return &tmplCommand{ref: events.TemplateRef{Name: p.Recipe.Name, Revision: p.Revision}, template: template.FromRecipe(p.Recipe, p.Revision)}
	case events.ImportTemplate:
		return &tmplCommand{ref: events.TemplateRef{Name: p.Template.Name, Revision: p.Template.Revision}, template: template.FromImport(p.Template)}
	case events.DeprecateTemplate:
		return &tmplCommand{ref: p.Template, deprecated: p.Deprecated}
	case events.DeleteTemplate:
		return &tmplCommand{ref: p.Template}
	}
	return nil
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
	tf := v.templates[env.ClusterID]
	if tf == nil {
		tf = &tmplFold{st: &template.State{}}
		v.templates[env.ClusterID] = tf
	}
	st, cause := tf.st, env.CausationID
	var before string // the operation in progress before the event
	if st.Op != nil {
		before = st.Op.CommandID
	}
	st.Apply(env, seq, hash)
	running := cause != "" && st.Op != nil && st.Op.CommandID == cause // the event is of the operation in progress
	if running {
		tf.op = cause
	}
	switch p := env.Payload.(type) {
	case events.TemplateBuilt, events.TemplateImported:
		v.cloud.putTemplate(st.Template)
	case events.TemplateDeprecated:
		if st.Op == nil {
			tf.op = cause
		}
		v.cloud.deprecateTemplate(p.Template, p.Deprecated)
	case events.TemplateDeleted:
		v.cloud.dropTemplate(p.Template)
	case events.CommandRejected:
		if tf.status() == "" && (p.CommandType == events.TypeBuildTemplate || p.CommandType == events.TypeImportTemplate) {
			// What it was to be is its command's (see Templates).
			tf.op = cause
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
			// Done when recorded; it neither starts nor ends another operation in progress.
			o.status, o.started, o.ended, o.percent, o.step = OpSucceeded, env.Time, env.Time, 100, env.Type
			o.typ = events.TypeDeprecateTemplate
		default:
			// Only the events of the revision's operation in progress say anything of it.
			switch {
			case running:
				var retry *events.Failure
				if r := st.Op.Retry; r != nil {
					retry = &r.Failure
				}
				step, percent := template.Progress(st)
				o.progressed(env.Time, st.Op.CommandType, "", step, percent, st.Op.Failed, retry)
			case before == cause:
				o.finished(env, "", st.Phase.Status() == events.StatusFailed, st.LastFailure)
			}
		}
	}
	v.evtTime = env.Time
	v.advance(&v.evtSeq, seq)
}

// templateView is the revision as its events say, with mu held; false while it is nothing.
func (v *Views) templateView(id string, f *tmplFold) (TemplateView, bool) {
	st := f.st
	tv := TemplateView{ID: id, Template: st.Template, CatalogItem: st.CatalogItem, Status: f.status(), OperationID: f.op}
	if tv.Status == "" {
		return tv, false // only refusals of changes
	}
	if st.Phase.Op() == template.OpBuild {
		tv.GuestStep = st.Build.GuestStep
	}
	if r := v.ops[f.op]; r != nil {
		tv.Step, tv.Failure, tv.Retrying = r.evt.step, r.evt.failure, r.evt.retrying
	}
	if st.Template.Name == "" {
		// A refused build or import: what it was to be is its command's, once folded.
		r := v.ops[f.op]
		if r == nil || r.cmd.tmpl == nil {
			return tv, false
		}
		tv.Template = r.cmd.tmpl.template
	}
	if tv.CatalogItem == "" {
		tv.CatalogItem = events.TemplateItemName(tv.Template.Name, tv.Template.Revision)
	}
	return tv, true
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
			Template: t, CatalogItem: item, Status: template.StatusReady}
	}
	for id, f := range v.templates {
		tv, ok := v.templateView(id, f)
		if !ok {
			continue
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
					Status: template.StatusBuilding, OperationID: r.id}
			}
		case events.TypeDeprecateTemplate:
			if tv != nil {
				tv.Template.Deprecated = tc.deprecated
			}
		case events.TypeDeleteTemplate:
			if tv != nil && tv.Status != template.StatusBuilding && tv.Status != template.StatusDeleting {
				tv.Status, tv.OperationID, tv.Step, tv.GuestStep, tv.Failure, tv.Retrying = template.StatusDeleting, r.id, "", "", nil, nil
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
