package executors

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/template"
	"github.com/kaasproject/kaas/executors/bootstrap"
)

// Template builds, imports, deprecations and deletes (issue 12). A build's steps use the
// clusters' VCD calls on a temporary vApp in the build location (Config.Build) and the
// template calls on the catalog; each finds what an interrupted attempt made, by name and
// by the aggregate id in its metadata.

// decideTemplate decides a template command. A build is refused while builds are not
// configured; a deprecation is carried out here, with its one VCD call.
func (e *Executor) decideTemplate(ctx context.Context, d *delivery) (events.Payload, error) {
	ev, err := template.Decide(d.tpl, d.cmd)
	if err != nil {
		return nil, err
	}
	switch p := ev.(type) {
	case events.TemplateBuildStarted:
		if err := e.cfg.Build.Validate(); err != nil {
			return nil, &template.Rejection{Failure: events.Failure{Code: events.CodeInvalidChange, Message: err.Error()}}
		}
	case events.TemplateDeprecated:
		res, err := e.vcd.SetTemplateMetadata(ctx, e.cfg.Build.Org, p.Template,
			map[string]string{template.MetaDeprecated: strconv.FormatBool(p.Deprecated)})
		if err != nil {
			if retry, f := classify(err); !retry {
				return nil, &template.Rejection{Failure: f}
			}
			return nil, err // nothing recorded: the next delivery calls VCD again
		}
		if !res.Done {
			return nil, errPending
		}
	}
	return ev, nil
}

// buildVApp is the build's temporary vApp, found by its name and the aggregate id in its
// metadata. It is in the provider's build location, not in a tenant's org: no tenant's
// security context is checked (OrgID is empty).
func (e *Executor) buildVApp(st *template.State) VAppRef {
	b := e.cfg.Build
	return VAppRef{Org: b.Org, VDC: b.VDC, Name: template.BuildVAppName(st.ID), ClusterID: st.ID}
}

func (e *Executor) buildVM(st *template.State) VMRef {
	return VMRef{VApp: e.buildVApp(st), Name: template.BuildVMName}
}

// templateStepFunc carries out one kind of planned step of a template operation with one
// VCD call (or two that belong together), never waiting for VCD, and reports what it found.
type templateStepFunc func(e *Executor, ctx context.Context, d *delivery, s template.Step) (stepResult, error)

// templateSteps names the function that carries out each kind of step Plan returns.
var templateSteps = map[template.StepKind]templateStepFunc{
	template.StepEnsureBaseImage:    (*Executor).ensureBaseImage,
	template.StepCreateVApp:         (*Executor).createBuildVApp,
	template.StepCreateVM:           (*Executor).createBuildVM,
	template.StepStartVM:            (*Executor).startBuildVM,
	template.StepAwaitCustomization: (*Executor).awaitCustomization,
	template.StepStopVM:             (*Executor).stopBuildVM,
	template.StepCapture:            (*Executor).captureTemplate,
	template.StepDeleteVApp:         (*Executor).deleteBuildVApp,
	template.StepUpload:             (*Executor).uploadTemplate,
	template.StepDeleteItem:         (*Executor).deleteTemplateItem,
	template.StepSweep:              (*Executor).sweepItems,
	template.StepRecord:             (*Executor).recordTemplateEvent,
	template.StepFail:               (*Executor).failTemplateStep,
}

// templateStep carries out one planned step of a template operation.
func (e *Executor) templateStep(ctx context.Context, d *delivery, s template.Step) (stepResult, error) {
	run, ok := templateSteps[s.Kind]
	if !ok {
		return stepResult{}, noStep(string(s.Kind))
	}
	return run(e, ctx, d, s)
}

// ensureBaseImage finds or uploads the build's base OS image; an upload takes many steps.
func (e *Executor) ensureBaseImage(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	st := d.tpl
	b := st.Recipe.Base
	if err := e.cfg.Build.OVAFile(b.OVA); err != nil && b.OVA != "" {
		return stepResult{}, Terminal(events.CodeBaseImageNotFound, err.Error(), "", "")
	}
	res, err := e.vcd.EnsureImage(ctx, ImageSpec{Org: e.cfg.Build.Org, Item: b.Name, Description: "Base OS image (" + st.Recipe.OS + ") of kaas template builds",
		OVA: b.OVA, SHA256: b.SHA256, Owner: st.ID})
	if err != nil {
		return stepResult{}, err
	}
	if !res.Done {
		e.uploading(d.cmd.ID, true)
		return stepResult{}, nil
	}
	return progress(events.BaseImageReady{Name: b.Name, VAppTemplateID: res.ID, Uploaded: e.uploading(d.cmd.ID, false)}), nil
}

func (e *Executor) createBuildVApp(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	ref := e.buildVApp(d.tpl)
	res, err := e.vcd.EnsureVApp(ctx, VAppSpec{VAppRef: ref, Network: e.cfg.Build.Network,
		Metadata: map[string]string{MetaClusterID: d.tpl.ID}})
	return whenDone(res, err, events.BuildVAppCreated{VAppID: res.ID, Name: ref.Name})
}

// createBuildVM makes the build's VM from the base image, with the recipe as its user data.
func (e *Executor) createBuildVM(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	st := d.tpl
	userData, err := bootstrap.RenderBuild(st.Recipe)
	if err != nil {
		return stepResult{}, Terminal(events.CodeInvalidChange, fmt.Sprintf("the recipe of template %q cannot be rendered: %v", st.Recipe.Name, err), "", "")
	}
	res, err := e.vcd.EnsureVM(ctx, VMSpec{
		VMRef: e.buildVM(st), Role: template.BuildVMName, Network: e.cfg.Build.Network,
		// The base image is a catalog item of that name with no template revision.
		Template:       events.Template{Name: st.Recipe.Base.Name, OS: st.Recipe.OS},
		StorageProfile: e.cfg.Build.StorageProfile, CPU: st.Recipe.Rules.CPU, MemoryMB: st.Recipe.Rules.MemoryMB,
		GuestInfo: map[string]string{
			GuestUserData:         base64.StdEncoding.EncodeToString([]byte(userData)),
			GuestUserDataEncoding: "base64",
		},
		Metadata: map[string]string{MetaClusterID: st.ID, MetaNodeRole: template.BuildVMName},
	})
	return whenDone(res, err, events.BuildVMCreated{Name: template.BuildVMName, VMID: res.ID})
}

func (e *Executor) startBuildVM(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	res, err := e.vcd.PowerOn(ctx, e.buildVM(d.tpl))
	return whenDone(res, err, events.BuildVMStarted{})
}

// stopBuildVM powers the build's VM off and empties its guestinfo: the template carries no
// user data, and no report of this build's guest, to the clusters' VMs made from it.
func (e *Executor) stopBuildVM(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	vm := e.buildVM(d.tpl)
	res, err := e.vcd.PowerOff(ctx, vm)
	if err != nil || !res.Done {
		return stepResult{}, err
	}
	res, err = e.vcd.SetGuestInfo(ctx, vm, map[string]string{GuestUserData: "", GuestUserDataEncoding: "", GuestStatus: "", GuestError: ""})
	return whenDone(res, err, events.BuildVMStopped{})
}

func (e *Executor) captureTemplate(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	st := d.tpl
	res, err := e.vcd.CaptureVApp(ctx, CaptureSpec{VApp: e.buildVApp(st), Item: st.CatalogItem, Description: st.Template.Description,
		Owner: st.ID, Metadata: template.Metadata(st.Template)})
	return whenDone(res, err, events.TemplateCaptured{CatalogItemID: res.ID})
}

func (e *Executor) deleteBuildVApp(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	res, err := e.vcd.DeleteVApp(ctx, e.buildVApp(d.tpl))
	return whenDone(res, err, events.BuildVAppDeleted{})
}

// uploadTemplate imports a template's OVA into the catalog.
func (e *Executor) uploadTemplate(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	st := d.tpl
	var sum string
	if c, ok := d.cmd.Payload.(events.ImportTemplate); ok {
		sum = c.SHA256 // the import's own command: a checksum is not part of its history
	}
	if err := e.cfg.Build.OVAFile(st.OVA); err != nil {
		return stepResult{}, Terminal(events.CodeBaseImageNotFound, err.Error(), "", "")
	}
	res, err := e.vcd.EnsureImage(ctx, ImageSpec{Org: e.cfg.Build.Org, Item: st.CatalogItem, Description: st.Template.Description,
		OVA: st.OVA, SHA256: sum, Owner: st.ID, Metadata: template.Metadata(st.Template)})
	return whenDone(res, err, events.TemplateImported{Template: st.Template})
}

func (e *Executor) deleteTemplateItem(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	res, err := e.vcd.DeleteTemplate(ctx, e.cfg.Build.Org, d.tpl.Ref())
	return whenDone(res, err, events.TemplateDeleted{Template: d.tpl.Ref()})
}

// sweepItems deletes the catalog items an undone build or import left, then records the
// planned event.
func (e *Executor) sweepItems(ctx context.Context, d *delivery, s template.Step) (stepResult, error) {
	for _, it := range s.Items {
		res, err := e.vcd.DeleteCatalogItem(ctx, ItemRef{Org: e.cfg.Build.Org, Name: it.Name, Owner: d.tpl.ID, Unfinished: it.Unfinished})
		if err != nil || !res.Done {
			return stepResult{}, err
		}
	}
	return progress(s.Event), nil
}

func (e *Executor) recordTemplateEvent(_ context.Context, _ *delivery, s template.Step) (stepResult, error) {
	return progress(s.Event), nil
}

// failTemplateStep ends the operation the plan says cannot go on.
func (e *Executor) failTemplateStep(_ context.Context, _ *delivery, s template.Step) (stepResult, error) {
	return stepResult{}, Terminal(s.Failure.Code, s.Failure.Message, "", "")
}

// awaitCustomization reads the build guest's report: each new step is recorded, done ends
// the wait, and a failure fails the build with the guest's own account of it.
func (e *Executor) awaitCustomization(ctx context.Context, d *delivery, _ template.Step) (stepResult, error) {
	st := d.tpl
	gi, err := e.vcd.GuestInfo(ctx, e.buildVM(st))
	if err != nil {
		return stepResult{}, err
	}
	status := gi[GuestStatus]
	switch {
	case status == "done":
		return progress(events.BuildCustomized{}), nil
	case strings.HasPrefix(status, "failed"):
		step := guestText(strings.TrimPrefix(strings.TrimPrefix(status, "failed"), ":"), 64)
		return stepResult{}, Terminal(events.CodeCustomizationFailed,
			fmt.Sprintf("the build's customization failed at %s: %s", cmp.Or(step, "an unknown step"), guestReason(gi[GuestError])), "", "")
	}
	if step := guestText(strings.TrimPrefix(status, "running:"), 64); strings.HasPrefix(status, "running:") && step != st.Build.GuestStep {
		return progress(events.TemplateBuildProgressed{Step: step}), nil
	}
	if time.Since(st.Build.StartedAt) > e.cfg.Build.Timeout {
		last := cmp.Or(st.Build.GuestStep, "none reported")
		return stepResult{timeout: &events.Failure{Code: events.CodeTimeout,
			Message: fmt.Sprintf("the build's guest did not finish its customization within %s (its last step: %s)", e.cfg.Build.Timeout, last)}}, nil
	}
	return stepResult{}, nil
}

// guestReason decodes the guest's account of its failure (base64 of its failing command's
// last lines). It is the guest's text: only printable characters and at most 1 KiB of it
// reach the history.
func guestReason(encoded string) string {
	if encoded == "" {
		return "the guest gave no reason"
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "the guest's reason is unreadable"
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for i, l := range lines {
		lines[i] = guestText(l, 1024)
	}
	return cmp.Or(guestText(strings.Join(lines, " | "), 1024), "the guest gave no reason")
}

// guestText keeps a guest's text printable, on one line, and at most max bytes long.
func guestText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsPrint(r) && r != unicode.ReplacementChar:
			return r
		case unicode.IsSpace(r):
			return ' '
		}
		return -1
	}, strings.ToValidUTF8(s, ""))
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") // a rune cut in two goes
	}
	return s
}

// uploading notes (pending true) that the build's base image was not complete when its
// build looked, and reports whether it was: a build that found it complete at once did not
// upload it. It is what BaseImageReady.Uploaded says, as far as this process saw.
func (e *Executor) uploading(cmdID string, pending bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if pending {
		if len(e.uploads) > 100_000 {
			clear(e.uploads)
		}
		e.uploads[cmdID] = true
		return true
	}
	seen := e.uploads[cmdID]
	delete(e.uploads, cmdID)
	return seen
}
