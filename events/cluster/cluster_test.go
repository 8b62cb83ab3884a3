package cluster

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
)

const cid = "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30"

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func spec() events.ClusterSpec {
	return events.ClusterSpec{
		Name: "c1", OrgName: "acme", VDC: "vdc1", Network: "net1",
		Template:     events.TemplateRef{Name: "ubuntu-k8s-1.29", Revision: 1},
		ControlPlane: events.NodePool{Count: 1}, Workers: events.NodePool{Count: 2},
		RollbackOnFailure: true,
	}
}

func tmpl(version string) events.Template {
	return events.Template{Name: "ubuntu-k8s-" + version, Revision: 1, KubernetesVersion: "v" + version + ".0"}
}

// history builds a state from payloads; each event is caused by the command named in cmd.
type history struct {
	s   *State
	cmd string
	n   int
}

func newHistory() *history { return &history{s: &State{}, cmd: "cmd-create"} }

func (h *history) by(cmd string) *history { h.cmd = cmd; return h }

func (h *history) add(ps ...events.Payload) *history {
	for _, p := range ps {
		h.n++
		h.s.Apply(events.Envelope{ID: "ev", Type: p.Type(), ClusterID: cid, OrgID: "urn:vcloud:org:1", Actor: "urn:vcloud:user:1",
			Time: t0.Add(time.Duration(h.n) * time.Second), CausationID: h.cmd, Payload: p}, uint64(h.n), "h")
	}
	return h
}

func cmd(id string, p events.Payload) events.Envelope {
	return events.Envelope{ID: id, Type: p.Type(), ClusterID: cid, Payload: p}
}

// run plays an executor that succeeds at every step, and returns the steps it took.
func run(h *history, max int) []string {
	var steps []string
	for range max {
		st := Plan(h.s)
		if st.Kind == StepNone {
			return steps
		}
		steps = append(steps, st.String())
		switch st.Kind {
		case StepResolveTemplate:
			t := tmpl("1.29")
			if st.Template.Name == "ubuntu-k8s-1.30" {
				t = tmpl("1.30")
			}
			h.add(events.TemplateResolved{Template: t})
		case StepCreateVApp:
			h.add(events.VAppCreated{VAppID: "urn:vcloud:vapp:1", Name: h.s.Spec.Name})
		case StepCreateNode:
			h.add(events.NodeCreated{Name: st.New.Name, Role: st.New.Role, Ordinal: st.New.Ordinal, VMID: "vm-" + st.New.Name})
		case StepStartNode:
			h.add(events.NodeStarted{Name: st.Node.Name})
		case StepProvisionNodes:
			for _, n := range st.Nodes {
				h.add(events.NodeStarted{Name: n.Name})
			}
			for _, n := range st.News {
				h.add(events.NodeCreated{Name: n.Name, Role: n.Role, Ordinal: n.Ordinal, VMID: "vm-" + n.Name})
			}
		case StepAwaitControlPlane:
			h.add(events.ControlPlaneInitialized{Node: st.Node.Name, IP: "10.0.0.10", Endpoint: "https://10.0.0.10:6443", KubeconfigRef: "k", JoinCommandRef: "j"})
		case StepAwaitNodes:
			for _, n := range st.Nodes {
				if n.Role == events.RoleNFS {
					h.add(events.NodeReady{Name: n.Name, IP: "10.0.0.20"})
				} else {
					h.add(events.NodeJoined{Name: n.Name, IP: "10.0.0.11"})
				}
			}
		case StepRequestUpgrade:
			h.add(events.NodeUpgradeRequested{Name: st.Node.Name, KubernetesVersion: st.Version})
		case StepAwaitUpgrade:
			h.add(events.NodeUpgraded{Name: st.Node.Name, KubernetesVersion: st.Version})
		case StepDeleteNode:
			h.add(events.NodeDeleted{Name: st.Node.Name})
		case StepDeleteVApp:
			h.add(events.VAppDeleted{VAppID: h.s.VAppID})
		case StepRecord:
			h.add(st.Event)
		case StepFail:
			h.add(events.OperationFailed{Failure: st.Failure})
		}
	}
	return append(steps, "... did not finish")
}

// names lists the nodes a step makes (+name) and those it powers on.
func names(st Step) []string {
	var out []string
	for _, n := range st.News {
		out = append(out, "+"+n.Name)
	}
	for _, n := range st.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// A create's workers and NFS nodes are planned together: their VMs may be made while the
// control plane powers on and boots (its StartNode and AwaitControlPlane name them), then
// one step makes and powers them on, each powered on once recorded made.
func TestCreateProvisionsNodesAtOnce(t *testing.T) {
	sp := spec()
	sp.NFS = events.NodePool{Count: 1}
	h := newHistory().add(events.ClusterCreationStarted{Spec: sp})
	run(h, 3) // up to the control plane's power-on
	w0, w1, nfs := NodeName(cid, events.RoleWorker, 0), NodeName(cid, events.RoleWorker, 1), NodeName(cid, events.RoleNFS, 0)
	for _, tc := range []struct {
		then Step // what the history so far plans
		add  []events.Payload
	}{
		{Step{Kind: StepStartNode, News: []NewNode{{Name: w0}, {Name: w1}, {Name: nfs}}},
			[]events.Payload{events.NodeStarted{Name: NodeName(cid, events.RoleControlPlane, 0)}}},
		{Step{Kind: StepAwaitControlPlane, News: []NewNode{{Name: w0}, {Name: w1}, {Name: nfs}}},
			[]events.Payload{events.ControlPlaneInitialized{Node: NodeName(cid, events.RoleControlPlane, 0), KubeconfigRef: "k", JoinCommandRef: "j"}}},
		{Step{Kind: StepProvisionNodes, News: []NewNode{{Name: w0}, {Name: w1}, {Name: nfs}}},
			[]events.Payload{events.NodeCreated{Name: w0, Role: events.RoleWorker, Ordinal: 0}}},
		{Step{Kind: StepProvisionNodes, News: []NewNode{{Name: w1}, {Name: nfs}}, Nodes: []*Node{{Name: w0}}},
			[]events.Payload{events.NodeStarted{Name: w0}, events.NodeCreated{Name: w1, Role: events.RoleWorker, Ordinal: 1},
				events.NodeCreated{Name: nfs, Role: events.RoleNFS, Ordinal: 0}}},
		{Step{Kind: StepProvisionNodes, Nodes: []*Node{{Name: w1}, {Name: nfs}}},
			[]events.Payload{events.NodeStarted{Name: w1}, events.NodeStarted{Name: nfs}}},
		{Step{Kind: StepAwaitNodes, Nodes: []*Node{{Name: w0}, {Name: w1}, {Name: nfs}}}, nil},
	} {
		got := Plan(h.s)
		if got.Kind != tc.then.Kind || !slices.Equal(names(got), names(tc.then)) {
			t.Fatalf("planned %s %q, want %s %q", got.Kind, names(got), tc.then.Kind, names(tc.then))
		}
		for _, ev := range tc.add {
			h.add(ev)
		}
	}
}

// A create that keeps what failed has no VMs made ahead of being recorded.
func TestNoPreparedNodesWithoutRollback(t *testing.T) {
	sp := spec()
	sp.RollbackOnFailure = false
	h := newHistory().add(events.ClusterCreationStarted{Spec: sp})
	run(h, 4)
	if st := Plan(h.s); st.Kind != StepAwaitControlPlane || len(st.News) != 0 {
		t.Fatalf("planned %s preparing %q, want %s preparing nothing", st.Kind, names(st), StepAwaitControlPlane)
	}
}

// A large create's nodes come provisionBatch at a time.
func TestProvisionNodesBatch(t *testing.T) {
	sp := spec()
	sp.Workers.Count = provisionBatch + 3
	h := newHistory().add(events.ClusterCreationStarted{Spec: sp})
	run(h, 5)
	st := Plan(h.s)
	if st.Kind != StepProvisionNodes || len(st.News) != provisionBatch || st.News[provisionBatch-1].Ordinal != provisionBatch-1 {
		t.Fatalf("planned %s with %d new nodes, want %s with %d", st.Kind, len(st.News), StepProvisionNodes, provisionBatch)
	}
	for _, n := range st.News {
		h.add(events.NodeCreated{Name: n.Name, Role: n.Role, Ordinal: n.Ordinal})
	}
	st = Plan(h.s)
	if len(st.News) != 3 || st.News[0].Ordinal != provisionBatch || len(st.Nodes) != provisionBatch {
		t.Fatalf("then planned %d new nodes from ordinal %d and %d to power on, want 3 from %d and %d",
			len(st.News), st.News[0].Ordinal, len(st.Nodes), provisionBatch, provisionBatch)
	}
}

func created() *history {
	h := newHistory().add(events.ClusterCreationStarted{Spec: spec()})
	run(h, 100)
	return h
}

func TestCreateRunsToSucceeded(t *testing.T) {
	h := newHistory().add(events.ClusterCreationStarted{Spec: spec()})
	if h.s.Phase != events.PhaseCreateInProgress || !h.s.Busy() {
		t.Fatalf("after start: phase %s busy %v", h.s.Phase, h.s.Busy())
	}
	steps := run(h, 100)
	cp := NodeName(cid, events.RoleControlPlane, 0)
	want := []string{"ResolveTemplate", "CreateVApp", "CreateNode " + cp, "StartNode " + cp, "AwaitControlPlane " + cp,
		"ProvisionNodes", "ProvisionNodes", "AwaitNodes", "Record ClusterCreated"}
	if strings.Join(steps, "|") != strings.Join(want, "|") {
		t.Fatalf("steps:\n got %q\nwant %q", steps, want)
	}

	if h.s.Phase != events.PhaseCreateSucceeded || h.s.Busy() || len(h.s.Nodes) != 3 {
		t.Fatalf("end: phase %s busy %v nodes %d", h.s.Phase, h.s.Busy(), len(h.s.Nodes))
	}
	if step, pct := Progress(h.s); pct != 100 || step != "" {
		t.Fatalf("progress after success = %q %d", step, pct)
	}
}

func TestCreateWithNFS(t *testing.T) {
	sp := spec()
	sp.NFS.Count = 1
	h := newHistory().add(events.ClusterCreationStarted{Spec: sp})
	run(h, 100)
	if h.s.Phase != events.PhaseCreateSucceeded || len(h.s.NodesOf(events.RoleNFS)) != 1 {
		t.Fatalf("phase %s, nfs nodes %d", h.s.Phase, len(h.s.NodesOf(events.RoleNFS)))
	}
}

func TestDecide(t *testing.T) {
	busy := func() *State { return newHistory().add(events.ClusterCreationStarted{Spec: spec()}).s }
	idle := func() *State { return created().s }
	createFailed := func() *State {
		return newHistory().add(events.ClusterCreationStarted{Spec: spec()}, events.OperationFailed{Failure: events.Failure{Code: "X"}}).s
	}
	deleted := func() *State {
		h := created()
		h.by("cmd-del").add(events.ClusterDeletionStarted{})
		run(h, 10)
		return h.s
	}
	badSpec := spec()
	badSpec.Name = "1bad"
	tests := []struct {
		name     string
		state    func() *State
		cmd      events.Envelope
		want     string // event type, or "" when refused
		wantCode string
	}{
		{"create new", func() *State { return &State{} }, cmd("c1", events.CreateCluster{Spec: spec()}), events.TypeClusterCreationStarted, ""},
		{"create twice", idle, cmd("c2", events.CreateCluster{Spec: spec()}), "", events.CodeAlreadyExists},
		{"create bad name", func() *State { return &State{} }, cmd("c1", events.CreateCluster{Spec: badSpec}), "", events.CodeInvalidChange},
		{"scale idle", idle, cmd("s1", events.ScaleWorkers{Workers: 4}), events.TypeWorkersScaleStarted, ""},
		{"scale busy", busy, cmd("s1", events.ScaleWorkers{Workers: 4}), "", events.CodeBusy},
		{"scale same", idle, cmd("s1", events.ScaleWorkers{Workers: 2}), "", events.CodeInvalidChange},
		{"scale negative", idle, cmd("s1", events.ScaleWorkers{Workers: -1}), "", events.CodeInvalidChange},
		{"scale missing", func() *State { return &State{} }, cmd("s1", events.ScaleWorkers{Workers: 3}), "", events.CodeNotFound},
		{"scale create failed", createFailed, cmd("s1", events.ScaleWorkers{Workers: 3}), "", events.CodeInvalidChange},
		{"scale deleted", deleted, cmd("s1", events.ScaleWorkers{Workers: 3}), "", events.CodeNotFound},
		{"upgrade idle", idle, cmd("u1", events.UpgradeTemplate{Template: events.TemplateRef{Name: "ubuntu-k8s-1.30", Revision: 1}}), events.TypeClusterUpgradeStarted, ""},
		{"upgrade same", idle, cmd("u1", events.UpgradeTemplate{Template: spec().Template}), "", events.CodeInvalidChange},
		{"upgrade busy", busy, cmd("u1", events.UpgradeTemplate{Template: events.TemplateRef{Name: "x", Revision: 1}}), "", events.CodeBusy},
		{"upgrade no revision", idle, cmd("u1", events.UpgradeTemplate{Template: events.TemplateRef{Name: "x"}}), "", events.CodeInvalidChange},
		{"delete idle", idle, cmd("d1", events.DeleteCluster{}), events.TypeClusterDeletionStarted, ""},
		{"delete failed create", createFailed, cmd("d1", events.DeleteCluster{}), events.TypeClusterDeletionStarted, ""},
		{"delete busy", busy, cmd("d1", events.DeleteCluster{}), "", events.CodeBusy},
		{"delete missing", func() *State { return &State{} }, cmd("d1", events.DeleteCluster{}), "", events.CodeNotFound},
		{"delete deleted", deleted, cmd("d1", events.DeleteCluster{}), "", events.CodeNotFound},
		{"force delete busy", busy, cmd("f1", events.ForceDeleteCluster{}), events.TypeClusterDeletionStarted, ""},
		{"force delete idle", idle, cmd("f1", events.ForceDeleteCluster{}), events.TypeClusterDeletionStarted, ""},
		{"force delete missing", func() *State { return &State{} }, cmd("f1", events.ForceDeleteCluster{}), "", events.CodeNotFound},
		{"not a command", idle, cmd("x", events.ClusterCreated{}), "", events.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decide(tt.state(), tt.cmd)
			if tt.want != "" {
				if err != nil || ev.Type() != tt.want {
					t.Fatalf("got %v, %v; want %s", ev, err, tt.want)
				}
				return
			}
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Code != tt.wantCode {
				t.Fatalf("got %v, %v; want rejection %s", ev, err, tt.wantCode)
			}
			if rej.Message == "" {
				t.Fatal("rejection without a message")
			}
		})
	}
}

func TestDecideDuplicate(t *testing.T) {
	h := created()
	if _, err := Decide(h.s, cmd("cmd-create", events.CreateCluster{Spec: spec()})); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("redelivered create: %v", err)
	}
	h.by("rejected").add(events.CommandRejected{CommandType: events.TypeScaleWorkers})
	if _, err := Decide(h.s, cmd("rejected", events.ScaleWorkers{Workers: 9})); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("redelivered rejected command: %v", err)
	}
}

func TestForceDeleteSupersedes(t *testing.T) {
	h := newHistory().add(events.ClusterCreationStarted{Spec: spec()})
	run(h, 4) // part way: vApp and control plane VM exist
	ev, err := Decide(h.s, cmd("force", events.ForceDeleteCluster{}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.(events.ClusterDeletionStarted).Superseded != "cmd-create" {
		t.Fatalf("superseded = %q", ev.(events.ClusterDeletionStarted).Superseded)
	}
	h.by("force").add(ev)
	if h.s.Op.CommandID != "force" || h.s.Op.CommandType != events.TypeForceDeleteCluster || h.s.Phase != events.PhaseDeleteInProgress {
		t.Fatalf("op %+v phase %s", h.s.Op, h.s.Phase)
	}
	if _, err := Decide(h.s, cmd("force2", events.ForceDeleteCluster{})); err == nil {
		t.Fatal("a second force delete during a force delete was accepted")
	}
	steps := run(h, 10)
	if strings.Join(steps, "|") != "DeleteVApp|Record ClusterDeleted" || !h.s.Deleted || h.s.Phase != events.PhaseDeleteSucceeded {
		t.Fatalf("steps %q deleted %v phase %s", steps, h.s.Deleted, h.s.Phase)
	}
}

func TestScale(t *testing.T) {
	h := created()
	h.by("up").add(events.WorkersScaleStarted{From: 2, To: 4})
	if h.s.Phase != events.PhaseUpdateInProgress {
		t.Fatalf("phase %s", h.s.Phase)
	}
	steps := run(h, 20)
	w2, w3 := NodeName(cid, events.RoleWorker, 2), NodeName(cid, events.RoleWorker, 3)
	want := "CreateNode " + w2 + "|StartNode " + w2 + "|CreateNode " + w3 + "|StartNode " + w3 + "|AwaitNodes|Record ClusterScaled"
	if strings.Join(steps, "|") != want || h.s.Phase != events.PhaseUpdateSucceeded || h.s.Spec.Workers.Count != 4 {
		t.Fatalf("scale up: steps %q phase %s workers %d", steps, h.s.Phase, h.s.Spec.Workers.Count)
	}
	h.by("down").add(events.WorkersScaleStarted{From: 4, To: 1})
	steps = run(h, 20)
	w0, w1 := NodeName(cid, events.RoleWorker, 0), NodeName(cid, events.RoleWorker, 1)
	want = "DeleteNode " + w3 + "|DeleteNode " + w2 + "|DeleteNode " + w1 + "|Record ClusterScaled"
	if strings.Join(steps, "|") != want || len(h.s.NodesOf(events.RoleWorker)) != 1 || h.s.NodesOf(events.RoleWorker)[0].Name != w0 {
		t.Fatalf("scale down: steps %q", steps)
	}
	// Ordinals are never reused: the next worker gets a new name.
	if got := h.s.NextOrdinal(events.RoleWorker); got != 4 {
		t.Fatalf("next ordinal %d", got)
	}
}

func TestUpgrade(t *testing.T) {
	h := created()
	h.by("up").add(events.ClusterUpgradeStarted{From: spec().Template, To: events.TemplateRef{Name: "ubuntu-k8s-1.30", Revision: 1}})
	steps := run(h, 20)
	if h.s.Phase != events.PhaseUpgradeSucceeded || h.s.Template.KubernetesVersion != "v1.30.0" || h.s.Spec.Template.Name != "ubuntu-k8s-1.30" {
		t.Fatalf("phase %s template %+v steps %q", h.s.Phase, h.s.Template, steps)
	}
	cp := NodeName(cid, events.RoleControlPlane, 0)
	if steps[1] != "RequestUpgrade "+cp || steps[2] != "AwaitUpgrade "+cp {
		t.Fatalf("control plane must go first: %q", steps)
	}
	for _, n := range h.s.Nodes {
		if n.KubernetesVersion != "v1.30.0" {
			t.Fatalf("node %s runs %s", n.Name, n.KubernetesVersion)
		}
	}
}

func TestUpgradeRefusesSkippingMinor(t *testing.T) {
	h := created()
	h.by("up").add(events.ClusterUpgradeStarted{From: spec().Template, To: events.TemplateRef{Name: "ubuntu-k8s-1.31", Revision: 1}},
		events.TemplateResolved{Template: tmpl("1.31")})
	st := Plan(h.s)
	if st.Kind != StepFail || !strings.Contains(st.Failure.Message, "one minor version at a time") {
		t.Fatalf("plan = %+v", st)
	}
	h.add(events.OperationFailed{Failure: st.Failure})
	if h.s.Phase != events.PhaseUpgradeFailed || h.s.Busy() || h.s.LastFailure == nil {
		t.Fatalf("phase %s", h.s.Phase)
	}
	// An upgrade that failed leaves the cluster changeable.
	if _, err := Decide(h.s, cmd("s", events.ScaleWorkers{Workers: 3})); err != nil {
		t.Fatal(err)
	}
}

func TestCreateFailureWithRollback(t *testing.T) {
	h := newHistory().add(events.ClusterCreationStarted{Spec: spec()})
	run(h, 5) // control plane is booting
	h.add(events.OperationFailed{Rollback: true, Failure: events.Failure{Code: events.CodeBootstrapFailed, Message: "kubeadm init failed"}})
	if h.s.Phase != events.PhaseCreateInProgress || !h.s.Busy() || h.s.LastFailure == nil {
		t.Fatalf("rolling back: phase %s busy %v", h.s.Phase, h.s.Busy())
	}
	steps := run(h, 10)
	if strings.Join(steps, "|") != "DeleteVApp|Record OperationRolledBack" {
		t.Fatalf("rollback steps %q", steps)
	}
	if h.s.Phase != events.PhaseCreateFailed || !h.s.RolledBack || !h.s.Deleted || len(h.s.Nodes) != 0 || h.s.LastFailure.Code != events.CodeBootstrapFailed {
		t.Fatalf("after rollback: %+v", h.s)
	}
	// Nothing is left, as CSE leaves neither vApp nor entity: no command finds the cluster.
	for _, c := range []events.Payload{events.DeleteCluster{}, events.ForceDeleteCluster{}, events.ScaleWorkers{Workers: 3},
		events.SetClusterACL{}} {
		var rej *Rejection
		if _, err := Decide(h.s, cmd("after", c)); !errors.As(err, &rej) || rej.Code != events.CodeNotFound {
			t.Errorf("%T after rollback: %v", c, err)
		}
	}
	if Plan(h.s).Kind != StepNone {
		t.Error("a rolled-back cluster still has work planned")
	}
}

func TestCreateFailureEarlyRollbackStillSweeps(t *testing.T) {
	// The vApp's creation was interrupted before it was recorded: the rollback still looks.
	h := newHistory().add(events.ClusterCreationStarted{Spec: spec()}, events.TemplateResolved{Template: tmpl("1.29")})
	h.add(events.OperationFailed{Rollback: true, Failure: events.Failure{Code: events.CodeQuotaExceeded}})
	if st := Plan(h.s); st.Kind != StepDeleteVApp {
		t.Fatalf("plan = %v", st)
	}
}

func TestCreateFailureWithoutRollback(t *testing.T) {
	sp := spec()
	sp.RollbackOnFailure = false
	h := newHistory().add(events.ClusterCreationStarted{Spec: sp})
	run(h, 5)
	h.add(events.OperationFailed{Failure: events.Failure{Code: events.CodeTimeout, Message: "control plane did not boot"}})
	if h.s.Phase != events.PhaseCreateFailed || h.s.Busy() || len(h.s.Nodes) != 1 || h.s.RolledBack || h.s.Deleted {
		t.Fatalf("phase %s nodes %d", h.s.Phase, len(h.s.Nodes))
	}
	if Plan(h.s).Kind != StepNone {
		t.Fatal("a failed cluster still has work planned")
	}
	// Kept on failure, it stays with its VMs until deleted.
	if _, err := Decide(h.s, cmd("d", events.DeleteCluster{})); err != nil {
		t.Fatal(err)
	}
}

func TestScaleUpRollbackRemovesAddedAndInterrupted(t *testing.T) {
	h := created()
	h.by("up").add(events.WorkersScaleStarted{From: 2, To: 4})
	run(h, 1) // one new worker created; the second's creation was interrupted
	w2, w3 := NodeName(cid, events.RoleWorker, 2), NodeName(cid, events.RoleWorker, 3)
	h.add(events.OperationFailed{Rollback: true, Failure: events.Failure{Code: events.CodeQuotaExceeded}})
	steps := run(h, 10)
	want := "DeleteNode " + w2 + "|DeleteNode " + w3 + "|Record OperationRolledBack"
	if strings.Join(steps, "|") != want {
		t.Fatalf("steps %q want %q", steps, want)
	}
	if h.s.Phase != events.PhaseUpdateFailed || len(h.s.NodesOf(events.RoleWorker)) != 2 || h.s.Spec.Workers.Count != 2 || h.s.Deleted || h.s.RolledBack {
		t.Fatalf("phase %s workers %d", h.s.Phase, len(h.s.NodesOf(events.RoleWorker)))
	}
}

func TestRetryResetsOnProgress(t *testing.T) {
	h := newHistory().add(events.ClusterCreationStarted{Spec: spec()})
	h.add(events.StepRetrying{Step: "ResolveTemplate", Attempt: 1})
	h.add(events.StepRetrying{Step: "ResolveTemplate", Attempt: 2})
	if h.s.Op.Retry == nil || h.s.Op.Retry.Attempt != 2 {
		t.Fatalf("retry %+v", h.s.Op.Retry)
	}
	h.add(events.TemplateResolved{Template: tmpl("1.29")})
	if h.s.Op.Retry != nil {
		t.Fatal("retry survived progress")
	}
}

func TestChange(t *testing.T) {
	cur := spec()
	tests := []struct {
		name     string
		edit     func(*events.ClusterSpec)
		want     string
		wantCode string
		wantMsg  string
	}{
		{"scale", func(s *events.ClusterSpec) { s.Workers.Count = 5 }, events.TypeScaleWorkers, "", ""},
		{"upgrade", func(s *events.ClusterSpec) { s.Template.Revision = 2 }, events.TypeUpgradeTemplate, "", ""},
		{"nothing", func(*events.ClusterSpec) {}, "", events.CodeInvalidChange, "nothing to change"},
		{"both", func(s *events.ClusterSpec) { s.Workers.Count = 5; s.Template.Revision = 2 }, "", events.CodeInvalidChange, "Cannot resize and upgrade the cluster at the same time"},
		{"network", func(s *events.ClusterSpec) { s.Network = "other" }, "", events.CodeInvalidChange, "[settings.ovdcNetwork found : other expected : net1]"},
		{"worker sizing", func(s *events.ClusterSpec) { s.Workers.SizingClass = "Large" }, "", events.CodeInvalidChange, "topology.workers.sizingClass found : Large expected : "},
		{"two immutable", func(s *events.ClusterSpec) { s.ControlPlane.Count = 3; s.Workers.MemoryMB = 4096 }, "", events.CodeInvalidChange,
			"[topology.controlPlane.count found : 3 expected : 1, topology.workers.memory found : 4096 expected : 0]"},
		{"expose", func(s *events.ClusterSpec) { s.Expose = true }, "", events.CodeUnsupportedChange, "settings.network.expose"},
		{"nfs down", func(s *events.ClusterSpec) { s.NFS.Count = -1 }, "", events.CodeInvalidChange, "Scaling down nfs nodes is not supported"},
		{"nfs up", func(s *events.ClusterSpec) { s.NFS.Count = 1 }, "", events.CodeUnsupportedChange, "NFS"},
		{"empty vs nil cidrs", func(s *events.ClusterSpec) { s.PodCIDRs = []string{} }, "", events.CodeInvalidChange, "nothing to change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := spec()
			tt.edit(&d)
			got, err := Change(cur, d)
			if tt.want != "" {
				if err != nil || got.Type() != tt.want {
					t.Fatalf("got %v %v want %s", got, err, tt.want)
				}
				return
			}
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Code != tt.wantCode || !strings.Contains(rej.Message, tt.wantMsg) {
				t.Fatalf("got %v; want %s containing %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestCanUpgrade(t *testing.T) {
	tests := []struct {
		from, to string
		ok       bool
	}{
		{"v1.29.8", "v1.30.4", true},
		{"v1.29.8", "v1.29.9", true},
		{"1.29.8", "v1.30.0+vmware.1", true},
		{"v1.29.8", "v1.31.0", false},
		{"v1.30.0", "v1.29.8", false},
		{"v1.29.8", "v1.29.8", false},
		{"v1.29.8", "garbage", false},
		{"v1.29.8", "v2.0.0", false},
	}
	for _, tt := range tests {
		if err := CanUpgrade(tt.from, tt.to); (err == nil) != tt.ok {
			t.Errorf("CanUpgrade(%s, %s) = %v", tt.from, tt.to, err)
		}
	}
}

func TestProgressMovesForward(t *testing.T) {
	h := newHistory().add(events.ClusterCreationStarted{Spec: spec()})
	last := -1
	for Plan(h.s).Kind != StepNone {
		_, pct := Progress(h.s)
		if pct < last || pct > 99 {
			t.Fatalf("progress went from %d to %d", last, pct)
		}
		last = pct
		run(h, 1)
	}
	if last < 80 {
		t.Fatalf("progress before the end was only %d", last)
	}
}

func TestNodeNameDeterministic(t *testing.T) {
	a, b := NodeName(cid, events.RoleWorker, 3), NodeName(cid, events.RoleWorker, 3)
	if a != b || !strings.HasPrefix(a, "node-") || len(a) != 9 || a == NodeName(cid, events.RoleWorker, 4) {
		t.Fatalf("names %q %q", a, b)
	}
}

func TestCloneIsDeep(t *testing.T) {
	h := created()
	c := h.s.Clone()
	c.Nodes[0].Ready = false
	c.Apply(events.Envelope{ClusterID: cid, CausationID: "x", Payload: events.WorkersScaleStarted{From: 2, To: 3}}, 99, "h")
	if !h.s.Nodes[0].Ready || h.s.Busy() || h.s.Seen("x") {
		t.Fatal("clone shares memory with the original")
	}
}

func TestDeleteNFSNode(t *testing.T) {
	sp := spec()
	sp.NFS.Count = 1
	h := newHistory().add(events.ClusterCreationStarted{Spec: sp})
	run(h, 100)
	nfs := h.s.NodesOf(events.RoleNFS)
	if h.s.Phase != events.PhaseCreateSucceeded || len(nfs) != 1 {
		t.Fatalf("create: %s, %d NFS nodes", h.s.Phase, len(nfs))
	}
	del := events.Envelope{ID: "cmd-nfs", ClusterID: cid, Payload: events.DeleteNFSNode{Node: "nfsd-nope"}}
	if _, err := Decide(h.s, del); err == nil {
		t.Fatal("deleting an NFS node that does not exist was accepted")
	}
	if w := h.s.NodesOf(events.RoleWorker)[0]; true {
		if _, err := Decide(h.s, events.Envelope{ID: "cmd-w", ClusterID: cid, Payload: events.DeleteNFSNode{Node: w.Name}}); err == nil {
			t.Fatal("a worker was deleted as an NFS node")
		}
	}
	del.Payload = events.DeleteNFSNode{Node: nfs[0].Name}
	ev, err := Decide(h.s, del)
	if err != nil {
		t.Fatal(err)
	}
	h.by("cmd-nfs").add(ev)
	if h.s.Phase != events.PhaseUpdateInProgress {
		t.Fatalf("phase %s", h.s.Phase)
	}
	steps := run(h, 10)
	want := "DeleteNode " + nfs[0].Name + "|Record NFSNodeRemoved"
	if strings.Join(steps, "|") != want || h.s.Phase != events.PhaseUpdateSucceeded || h.s.Spec.NFS.Count != 0 || len(h.s.NodesOf(events.RoleNFS)) != 0 {
		t.Fatalf("steps %q phase %s nfs %d", steps, h.s.Phase, h.s.Spec.NFS.Count)
	}
}

// A snapshot restores the whole state, the aggregate's own memory included.
func TestSnapshotRoundTrip(t *testing.T) {
	h := created()
	h.by("up").add(events.WorkersScaleStarted{From: 2, To: 3})
	run(h, 20)
	b, err := h.s.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h.s) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", got, h.s)
	}
	// It remembers the commands it saw, and numbers new nodes on.
	if !got.Seen("up") || Plan(got).Kind != StepNone {
		t.Fatal("restored state forgot its commands")
	}
	if _, err := UnmarshalSnapshot([]byte(`{"v":99,"state":{}}`)); err == nil {
		t.Fatal("a snapshot of another version was read")
	}
}
