package projector_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/template"
	"github.com/kaasproject/kaas/projector"
)

const tmplName = "ubuntu-k8s-1.30"

func testRecipe() events.Recipe {
	return events.Recipe{Name: tmplName, OS: "ubuntu-22.04", KubernetesVersion: "v1.30.4", ContainerdVersion: "1.7.20",
		Base:  events.BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64", OVA: "/srv/ubuntu.ova"},
		CNI:   events.RecipeCNI{Name: "antrea", Version: "1.15.1", Manifest: "https://example.com/antrea.yml"},
		Rules: events.TemplateRules{CPU: 2, MemoryMB: 4096}, Scripts: []events.RecipeScript{{Name: "motd", Run: "#!/bin/sh\ntrue\n"}}}
}

func ref(rev int) events.TemplateRef { return events.TemplateRef{Name: tmplName, Revision: rev} }

func builtTemplate(rev int) events.Template {
	t := template.FromRecipe(testRecipe(), rev)
	t.Catalog, t.CatalogItemID = "kaas-templates", "urn:vcloud:catalogitem:"+events.DeriveID("item", events.TemplateItemName(tmplName, rev))
	return t
}

// handPut is a template a provider put in the catalog by hand, as a sync reads it.
var handPut = events.Template{Name: "ubuntu-k8s-1.29", Revision: 1, KubernetesVersion: "v1.29.8", OS: "ubuntu-22.04", Catalog: "kaas-templates"}

// build records a build command of the recipe's revision and the events of its steps up to
// the guest's customization step guest ("" for none), then, when finish, to its end.
func build(s *stream, req string, rev int, guest string, finish bool) events.Envelope {
	cmd := s.Command(req, events.TemplateID(tmplName, rev), systemOrg, provider, events.BuildTemplate{Recipe: testRecipe(), Revision: rev})
	s.Event(cmd, events.TemplateBuildStarted{Recipe: testRecipe(), Revision: rev, CatalogItem: events.TemplateItemName(tmplName, rev)})
	s.Event(cmd, events.BaseImageReady{Name: "ubuntu-22.04-server-cloudimg-amd64", VAppTemplateID: "urn:vcloud:vapptemplate:1"})
	s.Event(cmd, events.BuildVAppCreated{VAppID: "urn:vcloud:vapp:1", Name: "kaas-build-1"})
	s.Event(cmd, events.BuildVMCreated{Name: "build", VMID: "urn:vcloud:vm:1"})
	s.Event(cmd, events.BuildVMStarted{})
	for _, g := range []string{"prepare", "containerd", "kubernetes", "images", "cni", "script:motd", "cleanup"} {
		if guest == "" {
			break
		}
		s.Event(cmd, events.TemplateBuildProgressed{Step: g})
		if g == guest {
			break
		}
	}
	if !finish {
		return cmd
	}
	s.Event(cmd, events.BuildCustomized{})
	s.Event(cmd, events.BuildVMStopped{})
	s.Event(cmd, events.TemplateCaptured{CatalogItemID: builtTemplate(rev).CatalogItemID, VAppTemplateID: "urn:vcloud:vapptemplate:2"})
	s.Event(cmd, events.BuildVAppDeleted{})
	s.Event(cmd, events.TemplateBuilt{Template: builtTemplate(rev)})
	return cmd
}

// templateHistory adds template revisions in every state to s: built and deprecated, a
// build that failed and was cleaned up, one imported, one being built, a hand-put one
// deleted, refusals, and commands not started yet.
func templateHistory(s *stream) {
	sync := s.Command("sync-templates", events.CloudID, systemOrg, "kaasd", events.SyncCloud{})
	s.Event(sync, events.CloudSynced{Templates: []events.Template{handPut}})

	build(s, "build-1", 1, "cleanup", true)
	// A second build fails in its guest, retried first, then rolls back.
	b2 := build(s, "build-2", 2, "kubernetes", false)
	s.Event(b2, events.StepRetrying{Step: "WaitCustomized", Attempt: 1, Failure: events.Failure{Code: events.CodeVCDError, Message: "busy"}})
	f := events.Failure{Code: events.CodeCustomizationFailed, Message: "E: Version '1.30.99-1.1' for 'kubeadm' was not found", Step: "kubernetes"}
	s.Event(b2, events.OperationFailed{Failure: f, Rollback: true})
	s.Event(b2, events.BuildVAppDeleted{})
	s.Event(b2, events.OperationRolledBack{})

	dep := s.Command("deprecate-1", events.TemplateID(tmplName, 1), systemOrg, provider, events.DeprecateTemplate{Template: ref(1), Deprecated: true})
	s.Event(dep, events.TemplateDeprecated{Template: ref(1), Deprecated: true})

	imp := events.Template{Name: tmplName, Revision: 3, KubernetesVersion: "v1.30.4", OS: "ubuntu-22.04", CNI: events.Component{Name: "antrea", Version: "1.15.1"}}
	ic := s.Command("import-3", events.TemplateID(tmplName, 3), systemOrg, provider, events.ImportTemplate{Template: imp, OVA: "/srv/tkgm.ova"})
	s.Event(ic, events.TemplateImportStarted{Template: imp, OVA: "/srv/tkgm.ova", CatalogItem: events.TemplateItemName(tmplName, 3)})
	imp.Source, imp.Catalog = events.SourceImported, "kaas-templates"
	s.Event(ic, events.TemplateImported{Template: imp})

	hand := events.TemplateRef{Name: handPut.Name, Revision: handPut.Revision}
	del := s.Command("delete-hand", events.TemplateID(hand.Name, hand.Revision), systemOrg, provider, events.DeleteTemplate{Template: hand})
	s.Event(del, events.TemplateDeletionStarted{Template: hand})
	s.Event(del, events.TemplateDeleted{Template: hand})

	// Refused: a delete of a revision that is not there, and a second build of revision 1.
	gone := s.Command("delete-9", events.TemplateID(tmplName, 9), systemOrg, provider, events.DeleteTemplate{Template: ref(9)})
	s.Event(gone, events.CommandRejected{CommandType: events.TypeDeleteTemplate, Failure: events.Failure{Code: events.CodeTemplateNotFound, Message: "no such revision"}})
	again := s.Command("build-1-again", events.TemplateID(tmplName, 1), systemOrg, provider, events.BuildTemplate{Recipe: testRecipe(), Revision: 1})
	s.Event(again, events.CommandRejected{CommandType: events.TypeBuildTemplate, Failure: events.Failure{Code: events.CodeTemplateExists, Message: "exists"}})

	build(s, "build-4", 4, "kubernetes", false) // in progress

	// Refused before it made anything: a failed revision, which keeps its number.
	taken := s.Command("build-6", events.TemplateID(tmplName, 6), systemOrg, provider, events.BuildTemplate{Recipe: testRecipe(), Revision: 6})
	s.Event(taken, events.CommandRejected{CommandType: events.TypeBuildTemplate, Failure: events.Failure{Code: events.CodeTemplateExists, Message: "in the catalog"}})

	// Accepted, not started: a build, the undoing of revision 1's deprecation, the delete
	// of the imported revision.
	s.Command("build-5", events.TemplateID(tmplName, 5), systemOrg, provider, events.BuildTemplate{Recipe: testRecipe(), Revision: 5})
	s.Command("undeprecate-1", events.TemplateID(tmplName, 1), systemOrg, provider, events.DeprecateTemplate{Template: ref(1)})
	s.Command("delete-3", events.TemplateID(tmplName, 3), systemOrg, provider, events.DeleteTemplate{Template: ref(3)})
}

func opID(req string) string { return events.DeriveID("command", req) }

// TestTemplates: the provider's view of every revision, the operations of template
// commands, and the catalog tenants see, at the end of a history with revisions in every
// state.
func TestTemplates(t *testing.T) {
	s := newStream(t)
	templateHistory(s)
	v := s.Views()

	type row struct {
		name      string
		rev       int
		status    string
		op        string
		deprec    bool
		source    string
		guest     string
		failed    string
		stepLike  string
		hasRules  bool
		catalogID bool
	}
	want := []row{
		{name: handPut.Name, rev: 1, status: template.StatusDeleted, op: opID("delete-hand"), stepLike: events.TypeTemplateDeleted},
		{name: tmplName, rev: 1, status: template.StatusReady, op: opID("deprecate-1"), source: events.SourceBuilt, guest: "cleanup",
			stepLike: events.TypeTemplateDeprecated, hasRules: true, catalogID: true}, // the undo is pending: not deprecated any more
		{name: tmplName, rev: 2, status: template.StatusFailed, op: opID("build-2"), source: events.SourceBuilt, guest: "kubernetes",
			failed: events.CodeCustomizationFailed, stepLike: events.TypeOperationRolledBack, hasRules: true},
		{name: tmplName, rev: 3, status: template.StatusDeleting, op: opID("delete-3"), source: events.SourceImported, catalogID: false},
		{name: tmplName, rev: 4, status: template.StatusBuilding, op: opID("build-4"), source: events.SourceBuilt, guest: "kubernetes",
			stepLike: "customize: kubernetes", hasRules: true},
		{name: tmplName, rev: 5, status: template.StatusBuilding, op: opID("build-5"), source: events.SourceBuilt, hasRules: true},
		{name: tmplName, rev: 6, status: template.StatusFailed, op: opID("build-6"), source: events.SourceBuilt, hasRules: true,
			failed: events.CodeTemplateExists, stepLike: events.TypeCommandRejected},
	}
	got := v.Templates()
	if len(got) != len(want) {
		t.Fatalf("%d templates, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Template.Name != w.name || g.Template.Revision != w.rev || g.Status != w.status || g.OperationID != w.op ||
			g.Template.Deprecated != w.deprec || g.Template.Source != w.source || g.GuestStep != w.guest || g.Step != w.stepLike ||
			(g.Template.Rules.CPU == 2) != w.hasRules || (g.Template.CatalogItemID != "") != w.catalogID {
			t.Errorf("template %d:\n got %+v\nwant %+v", i, g, w)
		}
		if (g.Failure == nil) != (w.failed == "") || (g.Failure != nil && g.Failure.Code != w.failed) {
			t.Errorf("template %s rev %d failure %+v, want %q", g.Template.Name, g.Template.Revision, g.Failure, w.failed)
		}
		if g.ID != events.TemplateID(w.name, w.rev) {
			t.Errorf("template %s rev %d: id %s", w.name, w.rev, g.ID)
		}
		if w.name == tmplName && g.CatalogItem != events.TemplateItemName(tmplName, w.rev) {
			t.Errorf("template rev %d: catalog item %q", w.rev, g.CatalogItem)
		}
	}

	// Tenants see revision 1, not deprecated (the undo is pending: read your writes); not
	// the hand-put revision (deleted), nor 3 (its delete accepted), nor those not built.
	cloud := v.Cloud().Templates
	if len(cloud) != 1 || cloud[0].Name != tmplName || cloud[0].Revision != 1 || cloud[0].Deprecated || cloud[0].Rules.CPU != 2 {
		t.Errorf("catalog as tenants see it: %+v", cloud)
	}

	ops := map[string]struct {
		status, command string
		percent         int
	}{
		"build-1":       {projector.OpSucceeded, events.TypeBuildTemplate, 100},
		"build-2":       {projector.OpFailed, events.TypeBuildTemplate, -1},
		"deprecate-1":   {projector.OpSucceeded, events.TypeDeprecateTemplate, 100},
		"import-3":      {projector.OpSucceeded, events.TypeImportTemplate, 100},
		"delete-hand":   {projector.OpSucceeded, events.TypeDeleteTemplate, 100},
		"delete-9":      {projector.OpRejected, events.TypeDeleteTemplate, -1},
		"build-1-again": {projector.OpRejected, events.TypeBuildTemplate, -1},
		"build-4":       {projector.OpRunning, events.TypeBuildTemplate, 100 * (4 + 2) / (8 + 7)},
		"build-5":       {projector.OpPending, events.TypeBuildTemplate, 0},
		"build-6":       {projector.OpRejected, events.TypeBuildTemplate, -1},
		"delete-3":      {projector.OpPending, events.TypeDeleteTemplate, 0},
	}
	for req, w := range ops {
		o, ok := v.Operation(opID(req))
		if !ok || o.EffectiveStatus() != w.status || o.Command != w.command || (w.percent >= 0 && o.Percent != w.percent) {
			t.Errorf("operation %s: %+v (found %v), want %+v", req, o, ok, w)
		}
		if o.Phase != "" {
			t.Errorf("operation %s has a cluster's phase %s", req, o.Phase)
		}
	}
	if o, _ := v.Operation(opID("build-4")); o.Step != "customize: kubernetes" || o.Target != tmplName+" revision 4" {
		t.Errorf("build in progress: step %q, target %q", o.Step, o.Target)
	}
	if o, _ := v.Operation(opID("build-2")); o.Failure == nil || o.Failure.Code != events.CodeCustomizationFailed || o.Retrying != nil {
		t.Errorf("failed build: %+v", o)
	}
	if r, ok := v.TemplateCommand(opID("build-5")); !ok || r != ref(5) {
		t.Errorf("TemplateCommand(build-5) = %v, %v", r, ok)
	}

	// Template aggregates are no clusters.
	for _, rev := range []int{1, 2, 3, 4, 5, 6, 9} {
		id := events.TemplateID(tmplName, rev)
		if _, ok := v.Cluster(id); ok || !v.IsTemplate(id) {
			t.Errorf("revision %d: a cluster, or not a template", rev)
		}
	}
	if len(v.OrgClusters("")) != 0 || len(v.Stats().Clusters) != 0 {
		t.Errorf("template aggregates listed as clusters")
	}
	if h := v.Heads(); h[events.TemplateID(tmplName, 1)].Seq == 0 {
		t.Errorf("no head for revision 1: %v", h)
	}
}

// TestTemplateCatalogFollowsEvents: the catalog tenants see is the last sync's list as
// template events after it changed it; a newer sync replaces it.
func TestTemplateCatalogFollowsEvents(t *testing.T) {
	s := newStream(t)
	sync := s.Command("sync", events.CloudID, systemOrg, "kaasd", events.SyncCloud{})
	build(s, "build-1", 1, "", true) // before any sync
	s.Event(sync, events.CloudSynced{Templates: []events.Template{handPut}})
	names := func(v *projector.Views) []string {
		var out []string
		for _, t := range v.Cloud().Templates {
			s := events.TemplateItemName(t.Name, t.Revision)
			if t.Deprecated {
				s += " deprecated"
			}
			out = append(out, s)
		}
		return out
	}
	if got := names(s.Views()); !slices.Equal(got, []string{"ubuntu-k8s-1.29_rev1"}) {
		t.Errorf("after a sync that did not list the build: %v", got)
	}
	build(s, "build-2", 2, "", true)
	dep := s.Command("deprecate-hand", events.TemplateID(handPut.Name, 1), systemOrg, provider, events.DeprecateTemplate{Template: events.TemplateRef{Name: handPut.Name, Revision: 1}, Deprecated: true})
	s.Event(dep, events.TemplateDeprecated{Template: events.TemplateRef{Name: handPut.Name, Revision: 1}, Deprecated: true})
	if got := names(s.Views()); !slices.Equal(got, []string{"ubuntu-k8s-1.29_rev1 deprecated", tmplName + "_rev2"}) {
		t.Errorf("after a build and a deprecation: %v", got)
	}
	del := s.Command("delete-2", events.TemplateID(tmplName, 2), systemOrg, provider, events.DeleteTemplate{Template: ref(2)})
	if got := names(s.Views()); !slices.Equal(got, []string{"ubuntu-k8s-1.29_rev1 deprecated"}) {
		t.Errorf("with a delete accepted: %v", got)
	}
	s.Event(del, events.TemplateDeletionStarted{Template: ref(2)})
	f := events.Failure{Code: events.CodeVCDError, Message: "VCD refused"}
	s.Event(del, events.OperationFailed{Failure: f})
	v := s.Views()
	if got := names(v); !slices.Equal(got, []string{"ubuntu-k8s-1.29_rev1 deprecated", tmplName + "_rev2"}) {
		t.Errorf("after the delete failed: %v", got)
	}
	i := slices.IndexFunc(v.Templates(), func(tv projector.TemplateView) bool { return tv.Template.Revision == 2 && tv.Template.Name == tmplName })
	if tv := v.Templates()[i]; tv.Status != template.StatusReady || tv.Failure == nil || tv.OperationID != opID("delete-2") {
		t.Errorf("revision 2 after its delete failed: %+v", tv)
	}
	sync2 := s.Command("sync-2", events.CloudID, systemOrg, "kaasd", events.SyncCloud{})
	s.Event(sync2, events.CloudSynced{Templates: []events.Template{builtTemplate(1)}})
	if got := names(s.Views()); !slices.Equal(got, []string{tmplName + "_rev1"}) {
		t.Errorf("after a newer sync: %v", got)
	}
}

// TestTemplatesOrderIndependence: the template views are a function of the two streams,
// whatever the interleaving, and a rebuild equals the live views.
func TestTemplatesOrderIndependence(t *testing.T) {
	s := newStream(t)
	templateHistory(s)
	want := s.Views()
	for name, recs := range map[string][]record{
		"commands first":  append(slices.Clone(s.Cmds), s.Evts...),
		"events first":    append(slices.Clone(s.Evts), s.Cmds...),
		"commands lagged": interleave(s.Cmds, s.Evts, func(n int) bool { return n%5 == 0 }),
	} {
		t.Run(name, func(t *testing.T) {
			v := fold(recs)
			sameViews(t, v, want, s)
			if x, y := v.Templates(), want.Templates(); !reflect.DeepEqual(x, y) {
				t.Errorf("templates:\n%+v\n%+v", x, y)
			}
		})
	}
}
