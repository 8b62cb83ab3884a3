package template

import (
	"slices"

	"github.com/kaasproject/kaas/events"
)

// StepKind names what an executor must do next.
type StepKind string

// The steps of every operation. Each is short and idempotent: an executor that crashed in
// the middle of one does it again and finds what the first attempt already made.
const (
	StepNone               StepKind = ""
	StepEnsureBaseImage    StepKind = "EnsureBaseImage"    // find the recipe's base image in the catalog, or upload it
	StepCreateVApp         StepKind = "CreateBuildVApp"    // find or create the temporary vApp
	StepCreateVM           StepKind = "CreateBuildVM"      // find or create its VM from the base image, with the build's user data
	StepStartVM            StepKind = "StartBuildVM"       // power it on: its guest customizes itself
	StepAwaitCustomization StepKind = "AwaitCustomization" // read the guest's progress
	StepStopVM             StepKind = "StopBuildVM"        // power it off and clear its user data
	StepCapture            StepKind = "CaptureTemplate"    // capture the vApp into the catalog
	StepDeleteVApp         StepKind = "DeleteBuildVApp"    // find and delete the temporary vApp
	StepUpload             StepKind = "UploadTemplate"     // an import: find or upload the OVA as the revision's item
	StepDeleteItem         StepKind = "DeleteTemplateItem" // a delete: remove the revision's catalog item
	StepSweep              StepKind = "SweepCatalog"       // delete the catalog items in Items this aggregate made, then record Event
	StepRecord             StepKind = "Record"             // no VCD work: record Event
	StepFail               StepKind = "Fail"               // the operation cannot go on: record Failure
)

// Kinds lists every step kind but StepNone, for metrics.
var Kinds = []StepKind{StepEnsureBaseImage, StepCreateVApp, StepCreateVM, StepStartVM, StepAwaitCustomization, StepStopVM,
	StepCapture, StepDeleteVApp, StepUpload, StepDeleteItem, StepSweep, StepRecord, StepFail}

// Step is the next thing to do for the operation in progress.
type Step struct {
	Kind StepKind
	// Items are what a sweep deletes: catalog items this aggregate uploaded or captured.
	Items []Item
	// Event is what Record records, and what Sweep records once done.
	Event   events.Payload
	Failure events.Failure // Fail
}

// Item is a catalog item a failed operation may have left.
type Item struct {
	Name string
	// Unfinished limits its deletion to an item whose upload VCD never finished: a base
	// image the build uploaded is kept for the next build once it is complete.
	Unfinished bool
}

func (s Step) String() string {
	if s.Event != nil {
		return string(s.Kind) + " " + s.Event.Type()
	}
	return string(s.Kind)
}

// Plan returns the next step of the operation in progress. It is a pure function of the
// state: after a crash, the same history gives the same next step.
func Plan(s *State) Step {
	op := s.Op
	switch {
	case op == nil:
		return Step{}
	case op.Failed != nil:
		return s.planRollback()
	}
	switch op.Op {
	case OpBuild:
		return s.planBuild()
	case OpImport:
		return Step{Kind: StepUpload}
	case OpDelete:
		// What a build whose rollback failed left goes too.
		if s.Recipe.Name != "" && !s.Build.VAppDeleted {
			return Step{Kind: StepDeleteVApp}
		}
		return Step{Kind: StepDeleteItem}
	}
	return Step{Kind: StepFail, Failure: events.Failure{Code: events.CodeInternal, Message: "unknown operation " + op.Op}}
}

func (s *State) planBuild() Step {
	b := s.Build
	switch {
	case b.BaseImageID == "":
		return Step{Kind: StepEnsureBaseImage}
	case b.VAppID == "":
		return Step{Kind: StepCreateVApp}
	case b.VMID == "":
		return Step{Kind: StepCreateVM}
	case !b.Started:
		return Step{Kind: StepStartVM}
	case !b.Customized:
		return Step{Kind: StepAwaitCustomization}
	case !b.Stopped:
		return Step{Kind: StepStopVM}
	case b.CatalogItemID == "":
		return Step{Kind: StepCapture}
	case !b.VAppDeleted:
		return Step{Kind: StepDeleteVApp}
	}
	t := s.Template
	t.CatalogItemID = b.CatalogItemID
	return Step{Kind: StepRecord, Event: events.TemplateBuilt{Template: t}}
}

// planRollback undoes a failed build or import. What is looked for does not depend on what
// was recorded only: a step interrupted after VCD made something left it unrecorded.
func (s *State) planRollback() Step {
	done := Step{Kind: StepSweep, Event: events.OperationRolledBack{}}
	b := s.Build
	switch s.Op.Op {
	case OpBuild:
		if !b.VAppDeleted {
			return Step{Kind: StepDeleteVApp}
		}
		// The revision's item, once the capture may have begun; the sweep touches only an
		// item this build made, never one that was there before.
		if b.Stopped {
			done.Items = append(done.Items, Item{Name: s.CatalogItem})
		}
		if b.BaseImageID == "" && s.Recipe.Base.Name != "" {
			done.Items = append(done.Items, Item{Name: s.Recipe.Base.Name, Unfinished: true})
		}
	case OpImport:
		done.Items = append(done.Items, Item{Name: s.CatalogItem})
	}
	return done
}

// GuestSteps are the steps a build's guest reports, in the order it runs them (the build
// script's contract, see executors/bootstrap): kaas's, the recipe's scripts, then cleanup.
func GuestSteps(r events.Recipe) []string {
	out := []string{"prepare", "containerd", "kubernetes", "images", "cni"}
	for _, sc := range r.Scripts {
		out = append(out, "script:"+sc.Name)
	}
	return append(out, "cleanup")
}

// Progress says how far the operation in progress is, for people watching it: the last step
// recorded (while a build's guest customizes, "customize: <its step>") and a rough
// percentage of the steps done. A build counts its guest's steps one each beside its own:
// they take most of its time.
func Progress(s *State) (step string, percent int) {
	op := s.Op
	if op == nil {
		if s.Phase.Status() == events.StatusSucceeded {
			return "", 100
		}
		return "", 0
	}
	var done, total int
	switch {
	case op.Failed != nil:
		return op.LastStep, 0
	case op.Op == OpBuild:
		b := s.Build
		own := []bool{b.BaseImageID != "", b.VAppID != "", b.VMID != "", b.Started, b.Customized, b.Stopped,
			b.CatalogItemID != "", b.VAppDeleted}
		guest := GuestSteps(s.Recipe)
		total = len(own) + len(guest)
		for _, ok := range own {
			if ok {
				done++
			}
		}
		switch {
		case b.Customized:
			done += len(guest)
		case b.Started && b.GuestStep != "":
			done += max(0, slices.Index(guest, b.GuestStep)) // the steps before the one it runs
			return "customize: " + b.GuestStep, min(99, 100*done/total)
		}
	case op.Op == OpImport, op.Op == OpDelete:
		total = 1
	}
	if total == 0 {
		return op.LastStep, 0
	}
	return op.LastStep, min(99, 100*done/total)
}
