package template

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func testRecipe() events.Recipe {
	return events.Recipe{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", OS: "ubuntu-22.04",
		Base:              events.BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64", OVA: "https://cloud-images.ubuntu.com/x.ova"},
		KubernetesVersion: "v1.30.4", ContainerdVersion: "1.7.20",
		CNI:   events.RecipeCNI{Name: "antrea", Version: "1.15.1", Manifest: "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		Rules: events.TemplateRules{CPU: 2, MemoryMB: 4096, SizingPolicy: "medium"}}
}

var id = events.TemplateID(testRecipe().Name, 2)

func ref() events.TemplateRef { return events.TemplateRef{Name: testRecipe().Name, Revision: 2} }

// history builds a state from payloads; each event is caused by the command named in cmd.
type history struct {
	s   *State
	cmd string
	n   int
}

func newHistory() *history { return &history{s: &State{}, cmd: "cmd-build"} }

func (h *history) by(cmd string) *history { h.cmd = cmd; return h }

func (h *history) add(ps ...events.Payload) *history {
	for _, p := range ps {
		h.n++
		h.s.Apply(events.Envelope{ID: "ev", Type: p.Type(), ClusterID: id, OrgID: "urn:vcloud:org:system", Actor: "urn:vcloud:user:admin",
			Time: t0.Add(time.Duration(h.n) * time.Second), CausationID: h.cmd, Payload: p}, uint64(h.n), "h")
	}
	return h
}

func cmd(cid string, p events.Payload) events.Envelope {
	return events.Envelope{ID: cid, Type: p.Type(), ClusterID: id, Payload: p}
}

func started() *history {
	r := testRecipe()
	return newHistory().add(events.TemplateBuildStarted{Recipe: r, Revision: 2, CatalogItem: events.TemplateItemName(r.Name, 2)})
}

// run plays an executor whose every step succeeds, and returns the steps it took.
func run(h *history, max int) []string {
	var steps []string
	for range max {
		st := Plan(h.s)
		if st.Kind == StepNone {
			return steps
		}
		steps = append(steps, st.String())
		switch st.Kind {
		case StepEnsureBaseImage:
			h.add(events.BaseImageReady{Name: h.s.Recipe.Base.Name, VAppTemplateID: "urn:vcloud:vapptemplate:base", Uploaded: true})
		case StepCreateVApp:
			h.add(events.BuildVAppCreated{VAppID: "urn:vcloud:vapp:b", Name: BuildVAppName(h.s.ID)})
		case StepCreateVM:
			h.add(events.BuildVMCreated{Name: BuildVMName, VMID: "urn:vcloud:vm:b"})
		case StepStartVM:
			h.add(events.BuildVMStarted{})
		case StepAwaitCustomization:
			h.add(events.TemplateBuildProgressed{Step: "prepare"}, events.BuildCustomized{})
		case StepStopVM:
			h.add(events.BuildVMStopped{})
		case StepCapture:
			h.add(events.TemplateCaptured{CatalogItemID: "urn:vcloud:catalogitem:t", VAppTemplateID: "urn:vcloud:vapptemplate:t"})
		case StepDeleteVApp:
			h.add(events.BuildVAppDeleted{})
		case StepUpload:
			t := h.s.Template
			h.add(events.TemplateImported{Template: t})
		case StepDeleteItem:
			h.add(events.TemplateDeleted{Template: h.s.Ref()})
		case StepSweep, StepRecord:
			h.add(st.Event)
		case StepFail:
			h.add(events.OperationFailed{Failure: st.Failure})
		}
	}
	return steps
}

func TestBuildRunsToBuilt(t *testing.T) {
	h := started()
	if h.s.Phase != "BUILD:IN_PROGRESS" || h.s.Status() != StatusBuilding || h.s.Op.CommandType != events.TypeBuildTemplate {
		t.Fatalf("started: %s %s %+v", h.s.Phase, h.s.Status(), h.s.Op)
	}
	steps := run(h, 20)
	want := []string{"EnsureBaseImage", "CreateBuildVApp", "CreateBuildVM", "StartBuildVM", "AwaitCustomization", "StopBuildVM",
		"CaptureTemplate", "DeleteBuildVApp", "Record TemplateBuilt"}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps %v\nwant  %v", steps, want)
	}
	s := h.s
	tp := s.Template
	if s.Status() != StatusReady || s.Phase != "BUILD:SUCCEEDED" || !s.Ready || tp.Source != events.SourceBuilt ||
		tp.CatalogItemID != "urn:vcloud:catalogitem:t" || tp.ContainerdVersion != "1.7.20" || tp.Rules != testRecipe().Rules ||
		tp.KubernetesVersion != "v1.30.4" || tp.Revision != 2 || s.CatalogItem != "ubuntu-22.04_k8s-1.30_antrea-1.15_rev2" {
		t.Fatalf("built: %s %+v", s.Status(), s)
	}
	if s.Build.GuestStep != "prepare" || !s.Build.BaseUploaded {
		t.Fatalf("build %+v", s.Build)
	}
}

func TestImportAndDelete(t *testing.T) {
	tp := events.Template{Name: testRecipe().Name, Revision: 2, KubernetesVersion: "v1.30.4", OS: "ubuntu-22.04",
		CNI: events.Component{Name: "antrea", Version: "1.15.1"}}
	h := newHistory().by("cmd-import")
	ev, err := Decide(h.s, cmd("cmd-import", events.ImportTemplate{Template: tp, OVA: "/srv/x.ova"}))
	if err != nil {
		t.Fatal(err)
	}
	h.add(ev)
	if h.s.Template.Source != events.SourceImported || h.s.OVA != "/srv/x.ova" || h.s.Phase != "IMPORT:IN_PROGRESS" {
		t.Fatalf("%+v", h.s)
	}
	if steps := run(h, 5); !slices.Equal(steps, []string{"UploadTemplate"}) || h.s.Status() != StatusReady {
		t.Fatalf("import steps %v, %s", steps, h.s.Status())
	}
	ev, err = Decide(h.s, cmd("cmd-delete", events.DeleteTemplate{Template: ref()}))
	if err != nil {
		t.Fatal(err)
	}
	h.by("cmd-delete").add(ev)
	if h.s.Status() != StatusDeleting {
		t.Fatal(h.s.Status())
	}
	if steps := run(h, 5); !slices.Equal(steps, []string{"DeleteTemplateItem"}) || h.s.Status() != StatusDeleted || h.s.Phase != "DELETE:SUCCEEDED" {
		t.Fatalf("delete steps %v, %s", steps, h.s.Status())
	}
}

func TestDecide(t *testing.T) {
	r := testRecipe()
	build := events.BuildTemplate{Recipe: r, Revision: 2}
	imp := events.ImportTemplate{Template: events.Template{Name: r.Name, Revision: 2, KubernetesVersion: "v1.30.4", OS: "ubuntu-22.04",
		CNI: events.Component{Name: "antrea", Version: "1.15.1"}}, OVA: "https://x.example.com/y.ova"}
	deprecate := events.DeprecateTemplate{Template: ref(), Deprecated: true}
	del := events.DeleteTemplate{Template: ref()}
	built := func() *State { h := started(); run(h, 20); return h.s }
	failedBuild := func(rolledBack bool) *State {
		h := started().add(events.BaseImageReady{Name: "b", VAppTemplateID: "x"},
			events.OperationFailed{Failure: events.Failure{Code: events.CodeVCDError, Message: "boom"}, Rollback: true})
		if rolledBack {
			run(h, 10)
		} else {
			h.add(events.OperationFailed{Failure: events.Failure{Code: events.CodeVCDError, Message: "rollback failed: boom"}})
		}
		return h.s
	}
	handMade := func() *State {
		return newHistory().by("cmd-dep").add(events.TemplateDeprecated{Template: ref(), Deprecated: true}).s
	}
	deleted := func() *State {
		s := built()
		(&history{s: s, cmd: "d", n: 100}).add(events.TemplateDeletionStarted{Template: ref()}, events.TemplateDeleted{Template: ref()})
		return s
	}
	deleting := func() *State {
		s := handMade()
		(&history{s: s, cmd: "d", n: 100}).add(events.TemplateDeletionStarted{Template: ref()})
		return s
	}

	tests := []struct {
		name  string
		state *State
		cmd   events.Payload
		want  string // event type, or rejection code
	}{
		{"build new", &State{}, build, events.TypeTemplateBuildStarted},
		{"import new", &State{}, imp, events.TypeTemplateImportStarted},
		{"build while built", built(), build, events.CodeTemplateExists},
		{"build while building", started().s, build, events.CodeTemplateExists},
		{"import while building", started().s, imp, events.CodeTemplateExists},
		{"build after rollback", failedBuild(true), build, events.TypeTemplateBuildStarted},
		{"build after a failed rollback", failedBuild(false), build, events.CodeTemplateExists},
		{"build a hand-made one", handMade(), build, events.CodeTemplateExists},
		{"build a deleted one", deleted(), build, events.CodeTemplateExists},
		{"build while a hand-made one is deleted", deleting(), build, events.CodeTemplateBusy},
		{"build with no base", &State{}, events.BuildTemplate{Recipe: events.Recipe{Name: r.Name}, Revision: 2}, events.CodeInvalidChange},
		{"build of another revision", &State{}, events.BuildTemplate{Recipe: r, Revision: 3}, events.CodeInternal},
		{"build revision 0", &State{}, events.BuildTemplate{Recipe: r}, events.CodeInvalidChange},
		{"import with no OVA", &State{}, events.ImportTemplate{Template: imp.Template}, events.CodeInvalidChange},
		{"build of a recipe that does not validate", &State{}, events.BuildTemplate{Recipe: func() events.Recipe {
			r := testRecipe()
			r.KubernetesVersion = "1.30"
			return r
		}(), Revision: 2}, events.CodeInvalidChange},
		{"deprecate hand-made", &State{}, deprecate, events.TypeTemplateDeprecated},
		{"deprecate built", built(), deprecate, events.TypeTemplateDeprecated},
		{"deprecate while building", started().s, deprecate, events.CodeTemplateBusy},
		{"deprecate a failed build", failedBuild(true), deprecate, events.CodeTemplateNotFound},
		{"deprecate deleted", deleted(), deprecate, events.CodeTemplateNotFound},
		{"delete hand-made", &State{}, del, events.TypeTemplateDeletionStarted},
		{"delete built", built(), del, events.TypeTemplateDeletionStarted},
		{"delete while building", started().s, del, events.CodeTemplateBusy},
		{"delete while deleting", deleting(), del, events.CodeTemplateBusy},
		{"delete deleted", deleted(), del, events.CodeTemplateNotFound},
		{"delete a rolled-back build", failedBuild(true), del, events.CodeTemplateNotFound},
		{"delete what a failed rollback left", failedBuild(false), del, events.TypeTemplateDeletionStarted},
		{"a cluster command", &State{}, events.DeleteCluster{}, events.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decide(tt.state, cmd("new", tt.cmd))
			var rej *Rejection
			switch {
			case errors.As(err, &rej):
				if rej.Code != tt.want {
					t.Fatalf("rejected %s (%s), want %s", rej.Code, rej.Message, tt.want)
				}
			case err != nil:
				t.Fatal(err)
			case ev.Type() != tt.want:
				t.Fatalf("decided %s, want %s", ev.Type(), tt.want)
			}
		})
	}
}

func TestDuplicateIsIgnored(t *testing.T) {
	h := started()
	if _, err := Decide(h.s, cmd("cmd-build", events.BuildTemplate{Recipe: testRecipe(), Revision: 2})); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a redelivered build: %v", err)
	}
	h.by("cmd-x").add(events.CommandRejected{CommandType: events.TypeDeleteTemplate, Failure: events.Failure{Code: events.CodeTemplateBusy}})
	if _, err := Decide(h.s, cmd("cmd-x", events.DeleteTemplate{Template: ref()})); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a refused command again: %v", err)
	}
}

// A failure rolls back: the temporary vApp first, looked for even when none was recorded,
// then a sweep of what the build may have made, by how far it got.
func TestRollbackPlans(t *testing.T) {
	fail := events.OperationFailed{Failure: events.Failure{Code: events.CodeCustomizationFailed, Message: "x"}, Rollback: true}
	base := Item{Name: testRecipe().Base.Name, Unfinished: true}
	item := Item{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15_rev2"}
	tests := []struct {
		name  string
		after []events.Payload // before the failure
		steps []string
		items []Item
	}{
		{"at the base image", nil, []string{"DeleteBuildVApp", "SweepCatalog OperationRolledBack"}, []Item{base}},
		{"at the vApp", []events.Payload{events.BaseImageReady{VAppTemplateID: "b"}},
			[]string{"DeleteBuildVApp", "SweepCatalog OperationRolledBack"}, nil},
		{"customizing", []events.Payload{events.BaseImageReady{VAppTemplateID: "b"}, events.BuildVAppCreated{VAppID: "a"},
			events.BuildVMCreated{VMID: "v"}, events.BuildVMStarted{}},
			[]string{"DeleteBuildVApp", "SweepCatalog OperationRolledBack"}, nil},
		{"capturing", []events.Payload{events.BaseImageReady{VAppTemplateID: "b"}, events.BuildVAppCreated{VAppID: "a"},
			events.BuildVMCreated{VMID: "v"}, events.BuildVMStarted{}, events.BuildCustomized{}, events.BuildVMStopped{}},
			[]string{"DeleteBuildVApp", "SweepCatalog OperationRolledBack"}, []Item{item}},
		{"after the vApp was deleted", []events.Payload{events.BaseImageReady{VAppTemplateID: "b"}, events.BuildVAppCreated{VAppID: "a"},
			events.BuildVMCreated{VMID: "v"}, events.BuildVMStarted{}, events.BuildCustomized{}, events.BuildVMStopped{},
			events.TemplateCaptured{CatalogItemID: "i"}, events.BuildVAppDeleted{}},
			[]string{"SweepCatalog OperationRolledBack"}, []Item{item}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := started().add(tt.after...).add(fail)
			if h.s.Status() != StatusBuilding || h.s.Phase != "BUILD:IN_PROGRESS" {
				t.Fatalf("rolling back: %s %s", h.s.Status(), h.s.Phase)
			}
			if s := Plan(h.s); s.Kind == StepDeleteVApp {
				h.add(events.BuildVAppDeleted{})
			}
			if s := Plan(h.s); s.Kind != StepSweep || !reflect.DeepEqual(s.Items, tt.items) {
				t.Fatalf("sweep %+v, want the items %+v", s, tt.items)
			}
			h = started().add(tt.after...).add(fail)
			steps := run(h, 10)
			if !slices.Equal(steps, tt.steps) {
				t.Fatalf("steps %v, want %v", steps, tt.steps)
			}
			if !h.s.RolledBack || h.s.Status() != StatusFailed || h.s.Phase != "BUILD:FAILED" || h.s.LastFailure.Code != events.CodeCustomizationFailed {
				t.Fatalf("after rollback: %s %s %+v", h.s.Status(), h.s.Phase, h.s.LastFailure)
			}
		})
	}
}

// An import's failure sweeps the revision's item; a rollback that fails ends the operation
// failed, and a delete afterwards removes what is left, the temporary vApp first.
func TestImportRollbackAndDeleteAfterAFailedRollback(t *testing.T) {
	tp := events.Template{Name: testRecipe().Name, Revision: 2, KubernetesVersion: "v1.30.4"}
	h := newHistory().by("imp").add(events.TemplateImportStarted{Template: tp, OVA: "https://x/y.ova", CatalogItem: "n_rev2"},
		events.OperationFailed{Failure: events.Failure{Code: events.CodeVCDError}, Rollback: true})
	if s := Plan(h.s); s.Kind != StepSweep || !reflect.DeepEqual(s.Items, []Item{{Name: "n_rev2"}}) {
		t.Fatalf("import rollback: %+v", s)
	}
	run(h, 5)
	if h.s.Phase != "IMPORT:FAILED" || !h.s.RolledBack || h.s.Status() != StatusFailed {
		t.Fatalf("%s %+v", h.s.Phase, h.s)
	}

	h = started().add(events.BaseImageReady{VAppTemplateID: "b"}, events.BuildVAppCreated{VAppID: "a"},
		events.OperationFailed{Failure: events.Failure{Code: events.CodeVCDError, Message: "x"}, Rollback: true},
		events.OperationFailed{Failure: events.Failure{Code: events.CodeVCDError, Message: "rollback failed: x"}})
	if h.s.Op != nil || h.s.RolledBack || h.s.Status() != StatusFailed || h.s.Phase != "BUILD:FAILED" {
		t.Fatalf("after a failed rollback: %s %+v", h.s.Status(), h.s.Op)
	}
	h.by("del").add(events.TemplateDeletionStarted{Template: ref()})
	if steps := run(h, 5); !slices.Equal(steps, []string{"DeleteBuildVApp", "DeleteTemplateItem"}) || h.s.Status() != StatusDeleted {
		t.Fatalf("delete: %v %s", steps, h.s.Status())
	}
}

func TestRetriesAndProgress(t *testing.T) {
	h := started().add(events.BaseImageReady{VAppTemplateID: "b"})
	h.add(events.StepRetrying{Step: "CreateBuildVApp", Attempt: 2, NotUntil: t0.Add(time.Hour)})
	if r := h.s.Op.Retry; r == nil || r.Attempt != 2 {
		t.Fatalf("retry %+v", r)
	}
	// 8 steps of kaas's and the guest's 6 (no scripts in the recipe).
	if step, pct := Progress(h.s); step != events.TypeStepRetrying || pct != 100*1/14 {
		t.Fatalf("progress %s %d", step, pct)
	}
	// A refusal of another command is no step of the build, nor progress of its retry.
	h.by("cmd-other").add(events.CommandRejected{CommandType: events.TypeDeleteTemplate, Failure: events.Failure{Code: events.CodeTemplateBusy}})
	if step, _ := Progress(h.s); step != events.TypeStepRetrying || h.s.Op.Retry == nil {
		t.Fatalf("after a refusal: step %s, retry %+v", step, h.s.Op.Retry)
	}
	h.by("cmd-build").add(events.BuildVAppCreated{VAppID: "a"})
	if h.s.Op.Retry != nil {
		t.Fatal("progress did not reset the retry")
	}
	if _, pct := Progress(h.s); pct != 100*2/14 {
		t.Fatalf("progress %d", pct)
	}
	h.add(events.BuildVMCreated{VMID: "v"}, events.BuildVMStarted{}, events.TemplateBuildProgressed{Step: "kubernetes"})
	if step, pct := Progress(h.s); step != "customize: kubernetes" || pct != 100*(4+2)/14 {
		t.Fatalf("while the guest customizes: %s %d", step, pct)
	}
	h.add(events.BuildCustomized{})
	if step, pct := Progress(h.s); step != events.TypeBuildCustomized || pct != 100*(5+6)/14 {
		t.Fatalf("customized: %s %d", step, pct)
	}
	c := h.s.Clone()
	h.add(events.BuildVMStopped{})
	if c.Build.Stopped || c.Events == h.s.Events {
		t.Fatal("a clone shares its original's state")
	}
	run(h, 20)
	if _, pct := Progress(h.s); pct != 100 {
		t.Fatalf("progress when built %d", pct)
	}
}

// A hand-made revision deprecated here gets its name from the command; undeprecating it
// keeps it.
func TestDeprecation(t *testing.T) {
	h := newHistory().by("d1").add(events.TemplateDeprecated{Template: ref(), Deprecated: true})
	if !h.s.Template.Deprecated || h.s.Template.Name != testRecipe().Name || h.s.Exists || h.s.Status() != StatusReady ||
		h.s.CatalogItem != "ubuntu-22.04_k8s-1.30_antrea-1.15_rev2" {
		t.Fatalf("%+v", h.s)
	}
	h.by("d2").add(events.TemplateDeprecated{Template: ref()})
	if h.s.Template.Deprecated || h.s.Phase != "" {
		t.Fatalf("%+v", h.s)
	}
}

func TestMetadata(t *testing.T) {
	tp := FromRecipe(testRecipe(), 2)
	want := map[string]string{
		"kaas.template.name": "ubuntu-22.04_k8s-1.30_antrea-1.15", "kaas.template.revision": "2",
		"kaas.template.kubernetes_version": "v1.30.4", "kaas.template.os": "ubuntu-22.04", "kaas.template.cni": "antrea",
		"kaas.template.cni_version": "1.15.1", "kaas.template.containerd_version": "1.7.20", "kaas.template.cpu": "2",
		"kaas.template.memory_mb": "4096", "kaas.template.sizing_policy": "medium", "kaas.template.source": "built",
		"kaas.template.deprecated": "false",
	}
	if got := Metadata(tp); !reflect.DeepEqual(got, want) {
		t.Fatalf("metadata %v", got)
	}
	tp.Rules = events.TemplateRules{}
	if md := Metadata(tp); md["kaas.template.cpu"] != "" || len(md) != len(want)-3 {
		t.Fatalf("unset rules have keys: %v", md)
	}
}

func TestBuildVAppName(t *testing.T) {
	if got := BuildVAppName("0d6f2b8a-3c1e-4e7a"); got != "kaas-build-0d6f2b8a" {
		t.Fatal(got)
	}
}

func TestGuestSteps(t *testing.T) {
	r := testRecipe()
	r.Scripts = []events.RecipeScript{{Name: "motd"}, {Name: "harden"}}
	want := []string{"prepare", "containerd", "kubernetes", "images", "cni", "script:motd", "script:harden", "cleanup"}
	if got := GuestSteps(r); !slices.Equal(got, want) {
		t.Fatalf("GuestSteps = %v", got)
	}
}

// An import offers what the provider said, as kaas's import, outside any catalog until it
// is uploaded; the fold says so of its history too.
func TestFromImport(t *testing.T) {
	offered := FromRecipe(testRecipe(), 2)
	offered.Source, offered.Catalog, offered.CatalogItemID, offered.Deprecated = "", "elsewhere", "urn:vcloud:catalogitem:x", true
	got := FromImport(offered)
	want := FromRecipe(testRecipe(), 2)
	want.Source = events.SourceImported
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FromImport =\n%+v\nwant\n%+v", got, want)
	}
	h := newHistory().by("imp").add(events.TemplateImportStarted{Template: offered, OVA: "/srv/x.ova", CatalogItem: events.TemplateItemName(offered.Name, 2)})
	if !reflect.DeepEqual(h.s.Template, want) || h.s.Status() != StatusBuilding {
		t.Fatalf("import started: %s %+v", h.s.Status(), h.s.Template)
	}
	done := want
	done.Source, done.Catalog = "", "kaas-templates"
	h.add(events.TemplateImported{Template: done})
	if h.s.Template.Source != events.SourceImported || h.s.Template.Catalog != "kaas-templates" || h.s.Status() != StatusReady {
		t.Fatalf("imported: %s %+v", h.s.Status(), h.s.Template)
	}
}
