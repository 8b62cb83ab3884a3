package executors_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/template"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

// Golden traces of whole operations. Each scenario runs commands through the real executor
// against the in-memory VCD, with faults injected at chosen calls, and renders the recorded
// history as a trace: one line per recorded event, beside the step that recorded it. The
// step is planned again from the history before the event (cluster.Plan and template.Plan
// are pure, and the executor plans from the same history), so a step that recorded
// several events shows once for each, with what was still left to do. Polls that recorded
// nothing do not show: how many there were is timing, not behaviour; nor does a build
// guest's progress (TemplateBuildProgressed), which is what the polls happened to see.
//
// Nothing in a trace depends on timing: ids, times, addresses and generated names are left
// out or renamed by order of appearance (mstr-0, node-0, ...); faults hit given calls, not
// random ones; the test waits on the recorded history, never for a fixed time.

var updateTraces = flag.Bool("update", false, "rewrite testdata/traces/*.golden from this run")

// fault makes calls of one VCD operation fail, or (guest) read other guestinfo.
type fault struct {
	op   string // the executors.VCD method
	name string // the VM, vApp or catalog item it is about; "" is any
	// times is how many matching calls fail, from the first; 0 is every one.
	times int
	err   error
	// guest, for GuestInfo, is merged into what the guest reports instead of failing.
	guest map[string]string
}

func busy(op string) error {
	return executors.Retryable("BUSY_ENTITY", "The entity is busy completing an operation ("+op+").", nil)
}

// faulty stands between the executor and the in-memory VCD and injects the faults.
type faulty struct {
	executors.VCD
	mu     sync.Mutex
	faults []*fault
	hits   map[*fault]int
	// armed is false while a scenario's setup runs: its calls count towards no fault.
	armed bool
}

// hit returns the fault the call runs into, if any.
func (f *faulty) hit(op, name string) *fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed {
		return nil
	}
	for _, ft := range f.faults {
		if ft.op != op || ft.name != "" && ft.name != name {
			continue
		}
		if ft.times > 0 && f.hits[ft] >= ft.times {
			continue
		}
		f.hits[ft]++
		return ft
	}
	return nil
}

func (f *faulty) status(op, name string, call func() (executors.Status, error)) (executors.Status, error) {
	if ft := f.hit(op, name); ft != nil {
		return executors.Status{}, ft.err
	}
	return call()
}

func (f *faulty) ResolveTemplate(ctx context.Context, org executors.Org, ref events.TemplateRef) (events.Template, error) {
	if ft := f.hit("ResolveTemplate", ref.Name); ft != nil {
		return events.Template{}, ft.err
	}
	return f.VCD.ResolveTemplate(ctx, org, ref)
}
func (f *faulty) EnsureVApp(ctx context.Context, s executors.VAppSpec) (executors.Status, error) {
	return f.status("EnsureVApp", s.Name, func() (executors.Status, error) { return f.VCD.EnsureVApp(ctx, s) })
}
func (f *faulty) EnsureVM(ctx context.Context, s executors.VMSpec) (executors.Status, error) {
	return f.status("EnsureVM", s.Name, func() (executors.Status, error) { return f.VCD.EnsureVM(ctx, s) })
}
func (f *faulty) PowerOn(ctx context.Context, vm executors.VMRef) (executors.Status, error) {
	return f.status("PowerOn", vm.Name, func() (executors.Status, error) { return f.VCD.PowerOn(ctx, vm) })
}
func (f *faulty) PowerOff(ctx context.Context, vm executors.VMRef) (executors.Status, error) {
	return f.status("PowerOff", vm.Name, func() (executors.Status, error) { return f.VCD.PowerOff(ctx, vm) })
}
func (f *faulty) SetGuestInfo(ctx context.Context, vm executors.VMRef, v map[string]string) (executors.Status, error) {
	return f.status("SetGuestInfo", vm.Name, func() (executors.Status, error) { return f.VCD.SetGuestInfo(ctx, vm, v) })
}
func (f *faulty) DeleteVM(ctx context.Context, vm executors.VMRef) (executors.Status, error) {
	return f.status("DeleteVM", vm.Name, func() (executors.Status, error) { return f.VCD.DeleteVM(ctx, vm) })
}
func (f *faulty) DeleteVApp(ctx context.Context, a executors.VAppRef) (executors.Status, error) {
	return f.status("DeleteVApp", a.Name, func() (executors.Status, error) { return f.VCD.DeleteVApp(ctx, a) })
}
func (f *faulty) EnsureImage(ctx context.Context, s executors.ImageSpec) (executors.Status, error) {
	return f.status("EnsureImage", s.Item, func() (executors.Status, error) { return f.VCD.EnsureImage(ctx, s) })
}
func (f *faulty) CaptureVApp(ctx context.Context, s executors.CaptureSpec) (executors.Status, error) {
	return f.status("CaptureVApp", s.Item, func() (executors.Status, error) { return f.VCD.CaptureVApp(ctx, s) })
}
func (f *faulty) DeleteCatalogItem(ctx context.Context, it executors.ItemRef) (executors.Status, error) {
	return f.status("DeleteCatalogItem", it.Name, func() (executors.Status, error) { return f.VCD.DeleteCatalogItem(ctx, it) })
}
func (f *faulty) GuestInfo(ctx context.Context, vm executors.VMRef) (map[string]string, error) {
	ft := f.hit("GuestInfo", vm.Name)
	if ft != nil && ft.guest == nil {
		return nil, ft.err
	}
	gi, err := f.VCD.GuestInfo(ctx, vm)
	if ft != nil && err == nil {
		gi = maps.Clone(gi)
		maps.Copy(gi, ft.guest)
	}
	return gi, err
}

// tracer runs one scenario: commands on one aggregate, recorded as a trace.
type tracer struct {
	h        *harness
	vcd      *faulty
	id       string
	template bool
	cmds     map[string]string // command id: its type, for the trace's decisions
	// recipe is the build's, whose guest steps its progress must follow, and guestStep the
	// last one the history showed.
	recipe    events.Recipe
	guestStep string
	from      int // events before the traced operations (the scenario's setup)
}

func newTracer(t *testing.T, cloud vcdmem.Config, cfg executors.Config, id string, isTemplate bool, faults ...*fault) *tracer {
	t.Helper()
	cfg.Workers = 1
	f := &faulty{faults: faults, hits: map[*fault]int{}, armed: true}
	st := memstore.New(memstore.Config{})
	v, err := vcdmem.New(cloud)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, vcd: v, cfg: cfg, wrap: func(in executors.VCD) executors.VCD { f.VCD = in; return f }}
	h.start()
	t.Cleanup(h.halt)
	return &tracer{h: h, vcd: f, id: id, template: isTemplate, cmds: map[string]string{}}
}

// send records a command as the ingress would, from the org a cluster or a template is in.
func (tr *tracer) send(p events.Payload) string {
	org := vcdmem.AcmeOrgID
	if tr.template {
		org = systemOrgID
	}
	id := tr.h.sendAs(tr.id, org, p)
	tr.cmds[id] = p.Type()
	return id
}

// run sends a command and waits until the history shows it decided and its operation over.
func (tr *tracer) run(p events.Payload) {
	tr.h.t.Helper()
	id := tr.send(p)
	tr.waitFor(p.Type()+" to end", func(seen func(string) bool, busy bool) bool { return seen(id) && !busy })
}

// setup runs commands whose events the trace leaves out: what the traced operation starts from.
func (tr *tracer) setup(ps ...events.Payload) {
	tr.h.t.Helper()
	tr.arm(false)
	for _, p := range ps {
		tr.run(p)
	}
	tr.arm(true)
	tr.from = len(tr.records())
}

func (tr *tracer) arm(on bool) {
	tr.vcd.mu.Lock()
	defer tr.vcd.mu.Unlock()
	tr.vcd.armed = on
}

// waitFor waits until the recorded history satisfies ok, checking after every append.
func (tr *tracer) waitFor(what string, ok func(seen func(string) bool, busy bool) bool) {
	tr.h.t.Helper()
	tr.h.until(func() bool {
		if tr.template {
			st, _ := tr.h.template(tr.id)
			return ok(st.Seen, st.Busy())
		}
		st := tr.h.state(tr.id)
		return ok(st.Seen, st.Busy())
	}, func() string { return fmt.Sprintf("waited 30s for %s\n%s", what, strings.Join(tr.lines(), "\n")) })
}

// waitEvent waits until the history holds an event of the type.
func (tr *tracer) waitEvent(typ string) {
	tr.h.t.Helper()
	tr.h.until(func() bool {
		return slices.ContainsFunc(tr.records(), func(e events.Envelope) bool { return e.Type == typ })
	},
		func() string { return fmt.Sprintf("no %s recorded\n%s", typ, strings.Join(tr.lines(), "\n")) })
}

func (tr *tracer) records() []events.Envelope {
	recs, err := tr.h.store.Load(tr.h.t.Context(), tr.id, 0)
	if err != nil {
		tr.h.t.Fatal(err)
	}
	out := make([]events.Envelope, len(recs))
	for i, r := range recs {
		out[i] = r.Envelope
	}
	return out
}

// lines renders the history after the setup, one line per event, each beside the step
// planned from the history before it.
func (tr *tracer) lines() []string {
	recs, err := tr.h.store.Load(tr.h.t.Context(), tr.id, 0)
	if err != nil {
		tr.h.t.Fatal(err)
	}
	cst, tst := &cluster.State{}, &template.State{}
	tr.guestStep = ""
	var steps, evs []string
	for _, r := range recs {
		e := r.Envelope
		var step, failStep, opCmd string
		if tr.template {
			if tst.Op != nil {
				s := template.Plan(tst)
				opCmd, step, failStep = tst.Op.CommandID, templateStep(s), cmp.Or(s.Failure.Step, string(s.Kind))
			}
		} else if cst.Op != nil {
			s := cluster.Plan(cst)
			opCmd, step, failStep = cst.Op.CommandID, clusterStep(s), cmp.Or(s.Failure.Step, string(s.Kind))
		}
		if opCmd != e.CausationID {
			step, failStep = "decide "+tr.cmds[e.CausationID], ""
		}
		tr.check(step, failStep, e)
		if tr.template {
			tst.Apply(e, r.Seq, r.Hash())
		} else {
			cst.Apply(e, r.Seq, r.Hash())
		}
		steps, evs = append(steps, step), append(evs, tr.event(e))
	}
	// Names are numbered over the whole history, setup included, so that a node keeps its
	// number from one scenario's operation to the next.
	n := tr.normalizer()
	for i := range evs {
		steps[i], evs[i] = n(steps[i]), n(evs[i])
	}
	var out []string
	for i := tr.from; i < len(recs); i++ {
		// What a build's guest reported as it went depends on when it was read (a fast
		// guest may be read first when it is done): its progress is left out, and check
		// verified that it only went forward.
		if _, progress := recs[i].Envelope.Payload.(events.TemplateBuildProgressed); progress {
			continue
		}
		out = append(out, fmt.Sprintf("%-30s → %s", steps[i], evs[i]))
	}
	return out
}

// check holds what a trace line cannot show at a glance: a failure names the step that
// failed (a planned failure, the step it names), and a guest's progress only goes forward.
func (tr *tracer) check(step, failStep string, e events.Envelope) {
	t := tr.h.t
	switch p := e.Payload.(type) {
	case events.StepRetrying:
		if p.Step != failStep || p.Failure.Step != failStep {
			t.Errorf("StepRetrying names step %s (failure: %s), but %s was planned", p.Step, p.Failure.Step, step)
		}
	case events.OperationFailed:
		if failStep != "" && p.Failure.Step != failStep {
			t.Errorf("OperationFailed names step %s, but %s was planned", p.Failure.Step, step)
		}
	case events.TemplateBuildProgressed:
		if failStep != string(template.StepAwaitCustomization) {
			t.Errorf("guest progress recorded by %s", step)
		}
		if guest := template.GuestSteps(tr.recipe); slices.Index(guest, p.Step) <= slices.Index(guest, tr.guestStep) {
			t.Errorf("guest progress went from %q to %q", tr.guestStep, p.Step)
		}
		tr.guestStep = p.Step
	}
}

func clusterStep(s cluster.Step) string {
	switch {
	case s.Kind == cluster.StepNone:
		return "(idle)"
	case s.Kind == cluster.StepResolveTemplate:
		return fmt.Sprintf("%s %s/%d", s.Kind, s.Template.Name, s.Template.Revision)
	case s.Kind == cluster.StepAwaitNodes:
		names := make([]string, len(s.Nodes))
		for i, n := range s.Nodes {
			names[i] = n.Name
		}
		return string(s.Kind) + " " + strings.Join(names, ",")
	case s.Kind == cluster.StepProvisionNodes:
		// The nodes to power on, then those to make (+).
		var names []string
		for _, n := range s.Nodes {
			names = append(names, n.Name)
		}
		for _, n := range s.News {
			names = append(names, "+"+n.Name)
		}
		return string(s.Kind) + " " + strings.Join(names, ",")
	case s.Kind == cluster.StepRequestUpgrade || s.Kind == cluster.StepAwaitUpgrade:
		return s.String() + " " + s.Version
	case s.Kind == cluster.StepFail:
		return string(s.Kind) + " " + s.Failure.Code
	}
	return s.String()
}

func templateStep(s template.Step) string {
	out := s.String()
	if s.Kind == template.StepNone {
		return "(idle)"
	}
	for _, it := range s.Items {
		out += " " + it.Name
		if it.Unfinished {
			out += "(if unfinished)"
		}
	}
	return out
}

// event renders an event's key fields: names, counts, versions, failures; never ids,
// addresses or times.
func (tr *tracer) event(e events.Envelope) string {
	var f []string
	add := func(format string, a ...any) { f = append(f, fmt.Sprintf(format, a...)) }
	failure := func(x events.Failure, step string) {
		add("code=%s", x.Code)
		if x.Step != step {
			add("step=%s", x.Step)
		}
		if x.VCDCode != "" {
			add("vcd=%s", x.VCDCode)
		}
		add("message=%q", x.Message)
	}
	switch p := e.Payload.(type) {
	case events.ClusterCreationStarted:
		s := p.Spec
		add("template=%s/%d controlPlane=%d workers=%d nfs=%d rollback=%t", s.Template.Name, s.Template.Revision,
			s.ControlPlane.Count, s.Workers.Count, s.NFS.Count, s.RollbackOnFailure)
	case events.TemplateResolved:
		add("kubernetes=%s", p.Template.KubernetesVersion)
	case events.VAppCreated:
		add("%s", p.Name)
	case events.NodeCreated:
		add("%s role=%s ordinal=%d", p.Name, p.Role, p.Ordinal)
	case events.NodeStarted:
		add("%s", p.Name)
	case events.ControlPlaneInitialized:
		add("%s kubeconfig=%t join=%t", p.Node, p.KubeconfigRef != "", p.JoinCommandRef != "")
	case events.NodeJoined:
		add("%s", p.Name)
	case events.NodeReady:
		add("%s", p.Name)
	case events.NodeDeleted:
		add("%s", p.Name)
	case events.VAppDeleted:
		// Whether a vApp was there to delete: a rollback looks for one none was recorded of.
		add("found=%t", p.VAppID != "")
	case events.WorkersScaleStarted:
		add("from=%d to=%d", p.From, p.To)
	case events.ClusterScaled:
		add("workers=%d", p.Workers)
	case events.ClusterUpgradeStarted:
		add("from=%s/%d to=%s/%d", p.From.Name, p.From.Revision, p.To.Name, p.To.Revision)
	case events.NodeUpgradeRequested:
		add("%s kubernetes=%s", p.Name, p.KubernetesVersion)
	case events.NodeUpgraded:
		add("%s kubernetes=%s", p.Name, p.KubernetesVersion)
	case events.ClusterUpgraded:
		add("template=%s/%d kubernetes=%s", p.Template.Name, p.Template.Revision, p.Template.KubernetesVersion)
	case events.ClusterDeletionStarted:
		add("force=%t", p.Force)
		if p.Superseded != "" {
			add("superseded=%s", tr.cmds[p.Superseded])
		}
	case events.StepRetrying:
		add("step=%s attempt=%d", p.Step, p.Attempt)
		failure(p.Failure, p.Step)
	case events.OperationFailed:
		add("rollback=%t", p.Rollback)
		failure(p.Failure, "")
	case events.CommandRejected:
		add("command=%s", p.CommandType)
		failure(p.Failure, "")
	case events.TemplateBuildStarted:
		add("recipe=%s revision=%d item=%s base=%s", p.Recipe.Name, p.Revision, p.CatalogItem, p.Recipe.Base.Name)
	case events.BaseImageReady:
		add("%s uploaded=%t", p.Name, p.Uploaded)
	case events.BuildVAppCreated:
		add("%s", p.Name)
	case events.BuildVMCreated:
		add("%s", p.Name)
	case events.TemplateCaptured:
		add("item=%t", p.CatalogItemID != "")
	case events.TemplateBuilt:
		add("template=%s/%d kubernetes=%s item=%t", p.Template.Name, p.Template.Revision, p.Template.KubernetesVersion, p.Template.CatalogItemID != "")
	default:
		// Events with nothing to show but their type (ClusterCreated, OperationRolledBack, ...)
		// have no fields; any other shows them all, so that a new event is not rendered empty.
		if b, err := json.Marshal(p); err == nil && string(b) != "{}" {
			add("%s", b)
		}
	}
	return strings.TrimSpace(e.Type + " " + strings.Join(f, " "))
}

var generated = regexp.MustCompile(`\b(mstr|node|nfsd)-[a-z2-7]{4}\b`)

// normalizer renames generated node names by order of appearance (over every string it is
// given), and the aggregate's id.
func (tr *tracer) normalizer() func(string) string {
	names := map[string]string{}
	next := map[string]int{}
	return func(l string) string {
		l = strings.ReplaceAll(l, template.BuildVAppName(tr.id), "kaas-build-<id>")
		l = strings.ReplaceAll(l, tr.id, "<id>")
		return generated.ReplaceAllStringFunc(l, func(n string) string {
			if _, ok := names[n]; !ok {
				prefix, _, _ := strings.Cut(n, "-")
				names[n] = fmt.Sprintf("%s-%d", prefix, next[prefix])
				next[prefix]++
			}
			return names[n]
		})
	}
}

// scenario is one traced run: its setup, then the traced commands.
type scenario struct {
	name string
	run  func(t *testing.T) *tracer
}

// golden compares (or with -update writes) testdata/traces/<op>.golden, the scenarios' traces.
func golden(t *testing.T, op, about string, scenarios []scenario) {
	t.Helper()
	traces := make([][]string, len(scenarios))
	t.Run("scenarios", func(t *testing.T) {
		for i, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) { traces[i] = sc.run(t).lines() })
			})
		}
	})
	if t.Failed() {
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n#\n# %s\n#\n# Each line: the step planned from the history so far, then the event it recorded\n"+
		"# (\"decide X\": the command X, decided). Written by go test ./executors -run TestTraces -update.\n", op, about)
	for i, sc := range scenarios {
		fmt.Fprintf(&b, "\n## %s\n\n", sc.name)
		for _, l := range traces[i] {
			b.WriteString(strings.TrimRight(l, " ") + "\n")
		}
	}
	path := filepath.Join("testdata", "traces", op+".golden")
	if *updateTraces {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("%s differs from this run's trace (-update rewrites it):\n%s", path, diffLines(string(want), b.String()))
	}
}

// diffLines shows the lines of got that differ from want, by position.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, a, b))
		}
	}
	return strings.Join(out, "\n")
}
