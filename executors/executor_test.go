package executors_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

type harness struct {
	t     *testing.T
	store *memstore.Store
	vcd   *vcdmem.VCD
	cfg   executors.Config
	// wrap, when set, stands between the executor and the in-memory VCD.
	wrap func(executors.VCD) executors.VCD
	stop context.CancelFunc
	done chan struct{}
}

func fastCloud() vcdmem.Config {
	c := vcdmem.Default()
	c.TaskDelay, c.BootDelay = 10*time.Millisecond, 60*time.Millisecond
	return c
}

func fastConfig() executors.Config {
	return executors.Config{Workers: 4, PollInterval: 15 * time.Millisecond, RetryBase: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		MaxAttempts: 12, BootTimeout: 20 * time.Second, OperationTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)}
}

func newHarness(t *testing.T, cloud vcdmem.Config, cfg executors.Config) *harness {
	t.Helper()
	st := memstore.New(memstore.Config{})
	v, err := vcdmem.New(cloud)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, vcd: v, cfg: cfg}
	h.start()
	t.Cleanup(h.halt)
	return h
}

func (h *harness) start() {
	var v executors.VCD = h.vcd
	if h.wrap != nil {
		v = h.wrap(v)
	}
	ex, err := executors.New(h.cfg, h.store, v)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); _ = ex.Run(ctx) }()
}

func (h *harness) halt() {
	if h.stop != nil {
		h.stop()
		<-h.done
		h.stop = nil
	}
}

var reqN atomic.Int64

// send appends a command as the ingress would.
func (h *harness) send(clusterID string, p events.Payload) string {
	h.t.Helper()
	return h.sendAs(clusterID, vcdmem.AcmeOrgID, p)
}

// sendAs is send from a caller in another org (as VCD's security context names it).
func (h *harness) sendAs(clusterID, orgID string, p events.Payload) string {
	h.t.Helper()
	req := fmt.Sprintf("req-%d", reqN.Add(1))
	env := events.Envelope{ID: events.DeriveID("command", req), ClusterID: clusterID, OrgID: orgID,
		Actor: "urn:vcloud:user:alice", Time: time.Now(), CorrelationID: req, Payload: p}
	if _, _, err := h.store.AppendCommand(h.t.Context(), env, req); err != nil {
		h.t.Fatal(err)
	}
	return env.ID
}

func (h *harness) state(id string) *cluster.State {
	h.t.Helper()
	recs, err := h.store.Load(h.t.Context(), id, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	st := &cluster.State{}
	prev := ""
	for _, r := range recs {
		if r.Envelope.PrevHash != prev {
			h.t.Fatalf("event %d of %s breaks the hash chain", r.Seq, id)
		}
		prev = r.Hash()
		st.Apply(r.Envelope, r.Seq, r.Hash())
	}
	return st
}

// until waits for cond, checking it again after every append to the store; after 30
// seconds (of the bubble's fake time) it fails with what says what it last saw.
func (h *harness) until(cond func() bool, what func() string) {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		changed := h.store.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			h.t.Fatal(what())
		}
	}
}

// waitIdle waits until the cluster has no operation in progress and at least n events.
func (h *harness) waitIdle(id string, n int) *cluster.State {
	h.t.Helper()
	var st *cluster.State
	h.until(func() bool {
		st = h.state(id)
		return st.Events >= n && !st.Busy() && (st.Exists || st.Events > 0)
	}, func() string { return fmt.Sprintf("cluster %s still busy: phase %s op %+v", id, st.Phase, st.Op) })
	return st
}

func spec(name, template string, workers int, rollback bool) events.ClusterSpec {
	return events.ClusterSpec{Name: name, OrgName: "acme", VDC: "acme-vdc", Network: "acme-net",
		Template:     events.TemplateRef{Name: template, Revision: 1},
		ControlPlane: events.NodePool{Count: 1}, Workers: events.NodePool{Count: workers}, RollbackOnFailure: rollback}
}

const good = "ubuntu-22.04_k8s-1.29_antrea-1.14"

func (h *harness) vapp(clusterID string) *vcdmem.VAppInfo {
	for _, a := range h.vcd.VApps() {
		if a.ClusterID == clusterID {
			return &a
		}
	}
	return nil
}

func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, fastCloud(), fastConfig())
		id := events.DeriveID("cluster", "c1")
		h.send(id, events.CreateCluster{Spec: spec("c1", good, 2, true)})
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateSucceeded {
			t.Fatalf("create ended %s: %+v", st.Phase, st.LastFailure)
		}
		a := h.vapp(id)
		if a == nil || len(a.VMs) != 3 {
			t.Fatalf("vApp %+v", a)
		}
		for _, vm := range a.VMs {
			if vm.Status != "done" || !vm.PoweredOn {
				t.Fatalf("VM %+v not up", vm)
			}
		}
		kc, err := h.store.Secrets().Get(t.Context(), st.ControlPlane.KubeconfigRef)
		if err != nil || len(kc) == 0 {
			t.Fatalf("kubeconfig: %v", err)
		}

		h.send(id, events.ScaleWorkers{Workers: 4})
		st = h.waitIdle(id, st.Events+1)
		if st.Phase != events.PhaseUpdateSucceeded || len(h.vapp(id).VMs) != 5 {
			t.Fatalf("scale up: %s, %d VMs", st.Phase, len(h.vapp(id).VMs))
		}
		h.send(id, events.ScaleWorkers{Workers: 1})
		st = h.waitIdle(id, st.Events+1)
		if st.Phase != events.PhaseUpdateSucceeded || len(h.vapp(id).VMs) != 2 {
			t.Fatalf("scale down: %s, %d VMs", st.Phase, len(h.vapp(id).VMs))
		}

		h.send(id, events.UpgradeTemplate{Template: events.TemplateRef{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 1}})
		st = h.waitIdle(id, st.Events+1)
		if st.Phase != events.PhaseUpgradeSucceeded || st.Template.KubernetesVersion != "v1.30.4" {
			t.Fatalf("upgrade: %s %+v", st.Phase, st.LastFailure)
		}

		h.send(id, events.DeleteCluster{})
		st = h.waitIdle(id, st.Events+1)
		if !st.Deleted || h.vapp(id) != nil {
			t.Fatalf("delete: %s, vApp %+v", st.Phase, h.vapp(id))
		}
		if _, err := h.store.Secrets().Get(t.Context(), st.ID+"x"); err == nil {
			t.Fatal("impossible secret")
		}
		if _, err := h.store.Secrets().Get(t.Context(), "cluster."+id+".kubeconfig"); !errors.Is(err, store.ErrNoSecret) {
			t.Fatalf("kubeconfig survived the cluster: %v", err)
		}
	})
}

func TestFailedCreate(t *testing.T) {
	tests := []struct {
		name     string
		rollback bool
		wantVMs  int
	}{
		{"rollback", true, -1},
		{"keep VMs", false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, fastCloud(), fastConfig())
				id := events.DeriveID("cluster", tt.name)
				h.send(id, events.CreateCluster{Spec: spec("bad", "ubuntu-22.04_k8s-1.30_broken", 2, tt.rollback)})
				st := h.waitIdle(id, 2)
				if st.Phase != events.PhaseCreateFailed || st.LastFailure == nil || st.LastFailure.Code != events.CodeBootstrapFailed {
					t.Fatalf("phase %s failure %+v", st.Phase, st.LastFailure)
				}
				a := h.vapp(id)
				switch {
				case tt.wantVMs < 0 && a != nil:
					t.Fatalf("rollback left %+v", a)
				case tt.wantVMs < 0:
					if !st.RolledBack {
						t.Fatal("not marked rolled back")
					}
				case a == nil || len(a.VMs) != 1:
					// The control plane failed, so no worker was ever made.
					t.Fatalf("kept VMs: %+v", a)
				}
			})
		})
	}
}

func TestTerminalVCDErrorsKeepTheirReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, fastCloud(), fastConfig())
		id := events.DeriveID("cluster", "nonet")
		sp := spec("nonet", good, 1, true)
		sp.Network = "missing-net"
		h.send(id, events.CreateCluster{Spec: sp})
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateFailed || st.LastFailure.Code != events.CodeNetworkNotFound || st.LastFailure.Step != "CreateVApp" {
			t.Fatalf("%s %+v", st.Phase, st.LastFailure)
		}

		id2 := events.DeriveID("cluster", "notpl")
		h.send(id2, events.CreateCluster{Spec: spec("notpl", "no-such-template", 1, true)})
		st = h.waitIdle(id2, 2)
		if st.LastFailure == nil || st.LastFailure.Code != events.CodeTemplateNotFound {
			t.Fatalf("%+v", st.LastFailure)
		}
	})
}

func TestRetryableFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.ErrorRate = 0.3
		h := newHarness(t, cloud, fastConfig())
		var ids []string
		for i := range 8 {
			id := events.DeriveID("cluster", fmt.Sprint("f", i))
			ids = append(ids, id)
			h.send(id, events.CreateCluster{Spec: spec(fmt.Sprint("f", i), good, 2, true)})
		}
		retries := 0
		for _, id := range ids {
			st := h.waitIdle(id, 2)
			if st.Phase != events.PhaseCreateSucceeded {
				t.Fatalf("%s: %s %+v", id, st.Phase, st.LastFailure)
			}
			recs, _ := h.store.Load(t.Context(), id, 0)
			for _, r := range recs {
				if r.Envelope.Type == events.TypeStepRetrying {
					retries++
				}
			}
			if a := h.vapp(id); a == nil || len(a.VMs) != 3 {
				t.Fatalf("%s has %+v", id, a)
			}
		}
		if retries == 0 {
			t.Fatal("30% faults caused no recorded retry")
		}
		if n := len(h.vcd.VApps()); n != 8 {
			t.Fatalf("%d vApps for 8 clusters", n)
		}
	})
}

func TestRetriesRunOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.ErrorRate = 1
		cfg := fastConfig()
		cfg.MaxAttempts = 3
		h := newHarness(t, cloud, cfg)
		id := events.DeriveID("cluster", "hopeless")
		sp := spec("hopeless", good, 1, false)
		h.send(id, events.CreateCluster{Spec: sp})
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateFailed || st.LastFailure.Code != events.CodeRetriesExhausted || st.LastFailure.VCDCode != "BUSY_ENTITY" {
			t.Fatalf("%s %+v", st.Phase, st.LastFailure)
		}
	})
}

func TestBootTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.Orgs[0].Templates = append(cloud.Orgs[0].Templates, vcdmem.Template{
			Template: events.Template{Name: "hangs", Revision: 1, KubernetesVersion: "v1.29.0"}, FailAt: "never"})
		cfg := fastConfig()
		cfg.BootTimeout = 300 * time.Millisecond
		h := newHarness(t, cloud, cfg)
		id := events.DeriveID("cluster", "hang")
		h.send(id, events.CreateCluster{Spec: spec("hang", "hangs", 1, true)})
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateFailed || st.LastFailure.Code != events.CodeTimeout || st.LastFailure.Step != string(cluster.StepAwaitControlPlane) ||
			h.vapp(id) != nil {
			t.Fatalf("%s %+v %+v", st.Phase, st.LastFailure, h.vapp(id))
		}
	})
}

func TestForceDeleteDuringCreate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.BootDelay = time.Hour // the create can never finish by itself
		h := newHarness(t, cloud, fastConfig())
		id := events.DeriveID("cluster", "stuck")
		h.send(id, events.CreateCluster{Spec: spec("stuck", good, 1, true)})
		// Wait until the control plane is booting.
		h.until(func() bool { st := h.state(id); return st.ControlPlane.Node != "" || len(st.Nodes) > 0 },
			func() string { return "the control plane never started" })
		h.send(id, events.DeleteCluster{}) // refused: busy
		h.send(id, events.ForceDeleteCluster{})
		var st *cluster.State
		h.until(func() bool { st = h.state(id); return st.Deleted }, func() string { return "never deleted: " + string(st.Phase) })
		if h.vapp(id) != nil {
			t.Fatalf("force delete: %s %+v", st.Phase, h.vapp(id))
		}
		recs, _ := h.store.Load(t.Context(), id, 0)
		rejected := 0
		for _, r := range recs {
			if r.Envelope.Type == events.TypeCommandRejected {
				rejected++
			}
		}
		if rejected != 1 {
			t.Fatalf("%d rejections, want the plain delete refused once", rejected)
		}
	})
}

func TestDuplicateCommandDoesNothingTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, fastCloud(), fastConfig())
		id := events.DeriveID("cluster", "dup")
		env := events.Envelope{ID: events.DeriveID("command", "r1"), ClusterID: id, OrgID: vcdmem.AcmeOrgID, Time: time.Now(), CorrelationID: "r1",
			Payload: events.CreateCluster{Spec: spec("dup", good, 1, true)}}
		if _, _, err := h.store.AppendCommand(t.Context(), env, "r1"); err != nil {
			t.Fatal(err)
		}
		st := h.waitIdle(id, 2)
		// The same command again under another Msg-Id, as when the dedupe window has passed.
		if _, _, err := h.store.AppendCommand(t.Context(), env, "r1-late"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the executor has taken the command again and is idle
		if after := h.state(id); after.Events != st.Events || len(h.vcd.VApps()) != 1 {
			t.Fatalf("a redelivered command did something: %d -> %d events", st.Events, after.Events)
		}
	})
}

// lossy makes the first VM creation succeed in VCD but lose its answer, as when kaas dies
// right after the call.
type lossy struct {
	executors.VCD
	once sync.Once
}

func (l *lossy) EnsureVM(ctx context.Context, spec executors.VMSpec) (executors.Status, error) {
	st, err := l.VCD.EnsureVM(ctx, spec)
	lost := false
	l.once.Do(func() { lost = true })
	if lost {
		return executors.Status{}, errors.New("connection reset by peer")
	}
	return st, err
}

func TestLostAnswerMakesNoDuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memstore.New(memstore.Config{})
		v, _ := vcdmem.New(fastCloud())
		ex, err := executors.New(fastConfig(), st, &lossy{VCD: v})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = ex.Run(ctx) }()
		defer func() { cancel(); <-done }()
		h := &harness{t: t, store: st, vcd: v}
		id := events.DeriveID("cluster", "lossy")
		h.send(id, events.CreateCluster{Spec: spec("lossy", good, 2, true)})
		s := h.waitIdle(id, 2)
		if s.Phase != events.PhaseCreateSucceeded || len(h.vapp(id).VMs) != 3 {
			t.Fatalf("%s, %+v", s.Phase, h.vapp(id))
		}
	})
}

func TestRestartResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, fastCloud(), fastConfig())
		var ids []string
		for i := range 6 {
			id := events.DeriveID("cluster", fmt.Sprint("r", i))
			ids = append(ids, id)
			h.send(id, events.CreateCluster{Spec: spec(fmt.Sprint("r", i), good, 2, true)})
		}
		// Stop the executor twice in the middle of provisioning: once every cluster has its
		// vApp, and once every cluster has a node.
		total := func() (vapps, nodes int) {
			for _, id := range ids {
				st := h.state(id)
				if st.VAppID != "" {
					vapps++
				}
				if len(st.Nodes) > 0 {
					nodes++
				}
			}
			return vapps, nodes
		}
		h.until(func() bool { v, _ := total(); return v == len(ids) }, func() string { return "the vApps were never made" })
		h.halt()
		h.start()
		h.until(func() bool { _, n := total(); return n == len(ids) }, func() string { return "the control planes never started" })
		h.halt()
		h.start()
		for _, id := range ids {
			st := h.waitIdle(id, 2)
			if st.Phase != events.PhaseCreateSucceeded || len(h.vapp(id).VMs) != 3 {
				t.Fatalf("%s: %s %+v", id, st.Phase, h.vapp(id))
			}
		}
	})
}

// Hundreds of clusters provisioning at once need only the configured workers: waiting for
// VCD holds no goroutine.
func TestManyClustersFewWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig()
		cfg.Workers = 2
		cfg.PollInterval = 50 * time.Millisecond
		cloud := fastCloud()
		cloud.BootDelay = 500 * time.Millisecond
		h := newHarness(t, cloud, cfg)
		const n = 200
		synctest.Wait()
		before := runtime.NumGoroutine()
		var ids []string
		for i := range n {
			id := events.DeriveID("cluster", fmt.Sprint("m", i))
			ids = append(ids, id)
			h.send(id, events.CreateCluster{Spec: spec(fmt.Sprint("m", i), good, 1, true)})
		}
		peak := 0
		for _, id := range ids {
			h.until(func() bool { return h.state(id).Exists }, func() string { return id + " never created" })
			synctest.Wait() // count the goroutines that wait, not the timers firing at this instant
			peak = max(peak, runtime.NumGoroutine())
		}
		for _, id := range ids {
			if st := h.waitIdle(id, 2); st.Phase != events.PhaseCreateSucceeded {
				t.Fatalf("%s: %s", id, st.Phase)
			}
		}
		if grew := peak - before; grew > 50 {
			t.Fatalf("goroutines grew by %d while %d clusters provisioned", grew, n)
		}
	})
}

// A VCD task that never ends fails the operation after its budget, and a rollback that
// cannot finish either ends too: nothing stays in progress.
func TestStuckVCDTaskTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.TaskDelay = time.Hour
		cfg := fastConfig()
		cfg.OperationTimeout, cfg.BootTimeout = 300*time.Millisecond, 200*time.Millisecond
		h := newHarness(t, cloud, cfg)
		id := events.DeriveID("cluster", "stuck-task")
		h.send(id, events.CreateCluster{Spec: spec("stuck-task", good, 1, true)})
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateFailed || st.LastFailure.Code != events.CodeTimeout || !strings.Contains(st.LastFailure.Message, "rollback") {
			t.Fatalf("%s %+v", st.Phase, st.LastFailure)
		}
	})
}

// A tenant that names another org in its request is refused by VCD: the org name is
// checked against the org URN from the caller's security context.
func TestOtherOrgIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.Orgs[0].ID = "urn:vcloud:org:the-real-acme"
		h := newHarness(t, cloud, fastConfig())
		id := events.DeriveID("cluster", "intruder")
		h.send(id, events.CreateCluster{Spec: spec("intruder", good, 1, true)}) // sent as urn:vcloud:org:acme
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateFailed || !strings.Contains(st.LastFailure.Message, "not the requester's organization") || h.vapp(id) != nil {
			t.Fatalf("%s %+v", st.Phase, st.LastFailure)
		}
	})
}

// A create placed where kaas can make nothing (another org than the caller's, a caller org
// that is no URN, an org or VDC that does not exist, a vApp name another cluster holds)
// fails; its rollback, and a force or plain delete after it, end with the cluster deleted,
// and the other cluster's vApp is left alone.
func TestNothingPlacedElsewhereStaysStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.Orgs[0].ID = vcdmem.AcmeOrgID
		cloud.Orgs = append(cloud.Orgs, vcdmem.Org{Name: "globex", ID: "urn:vcloud:org:globex",
			VDCs: []vcdmem.VDC{{Name: "globex-vdc", Networks: []vcdmem.Network{{Name: "globex-net"}}}}, Templates: cloud.Orgs[0].Templates})
		h := newHarness(t, cloud, fastConfig())
		owner := events.DeriveID("cluster", "owner")
		h.send(owner, events.CreateCluster{Spec: spec("taken", good, 0, true)})
		if st := h.waitIdle(owner, 2); st.Phase != events.PhaseCreateSucceeded {
			t.Fatalf("the name's owner: %s %+v", st.Phase, st.LastFailure)
		}

		places := []struct {
			name  string
			orgID string
			place func(*events.ClusterSpec)
			code  string
		}{
			{"another org", vcdmem.AcmeOrgID, func(s *events.ClusterSpec) {
				s.OrgName, s.VDC, s.Network = "globex", "globex-vdc", "globex-net"
			}, events.CodeVDCNotFound},
			{"caller org no URN", "acme", func(*events.ClusterSpec) {}, events.CodeVDCNotFound},
			{"no such org", vcdmem.AcmeOrgID, func(s *events.ClusterSpec) { s.OrgName = "nowhere" }, events.CodeVDCNotFound},
			{"no such VDC", vcdmem.AcmeOrgID, func(s *events.ClusterSpec) { s.VDC = "nowhere-vdc" }, events.CodeVDCNotFound},
			{"name taken", vcdmem.AcmeOrgID, func(s *events.ClusterSpec) { s.Name = "taken" }, events.CodeNameConflict},
		}
		type run struct {
			id, what, deleteBy string
			events             int
		}
		var runs []run
		for _, p := range places {
			for _, how := range []string{"rollback", "force", "plain"} {
				id := events.DeriveID("cluster", p.name+"/"+how)
				sp := spec("elsewhere", good, 1, how == "rollback")
				p.place(&sp)
				h.sendAs(id, p.orgID, events.CreateCluster{Spec: sp})
				runs = append(runs, run{id: id, what: p.name + ", " + how, deleteBy: how})
			}
		}
		for i := range runs {
			r := &runs[i]
			st := h.waitIdle(r.id, 2)
			r.events = st.Events
			code := places[i/3].code
			if st.Phase != events.PhaseCreateFailed || st.LastFailure == nil || st.LastFailure.Code != code ||
				strings.Contains(st.LastFailure.Message, "rollback failed") {
				t.Errorf("%s: create ended %s %+v, want %s failed with %s", r.what, st.Phase, st.LastFailure, events.PhaseCreateFailed, code)
			}
			if r.deleteBy == "rollback" && (!st.RolledBack || !st.Deleted) {
				t.Errorf("%s: not rolled back, or something is left", r.what)
			}
			if r.deleteBy == "plain" {
				h.send(r.id, events.DeleteCluster{})
			} else {
				h.send(r.id, events.ForceDeleteCluster{})
			}
		}
		for _, r := range runs {
			st := h.waitIdle(r.id, r.events+1)
			want := events.PhaseDeleteSucceeded
			if r.deleteBy == "rollback" {
				want = events.PhaseCreateFailed // nothing was left: the delete is refused, not found
			}
			if !st.Deleted || st.Phase != want {
				t.Errorf("%s: delete ended %s %+v", r.what, st.Phase, st.LastFailure)
			}
		}
		if a := h.vapp(owner); a == nil || len(a.VMs) != 1 || len(h.vcd.VApps()) != 1 {
			t.Fatalf("the name's owner lost its vApp, or something else is left: %+v", h.vcd.VApps())
		}
	})
}

// flakyGuestInfo fails every other read of a VM's guestinfo, as a busy VCD may.
type flakyGuestInfo struct {
	executors.VCD
	n atomic.Int64
}

func (f *flakyGuestInfo) GuestInfo(ctx context.Context, ref executors.VMRef) (map[string]string, error) {
	if f.n.Add(1)%2 == 0 {
		return nil, executors.Retryable("BUSY_ENTITY", "The entity is busy completing an operation (get VM).", nil)
	}
	return f.VCD.GuestInfo(ctx, ref)
}

// A node's boot is waited on with many reads; errors between successful reads are not one
// streak, so a long boot on a VCD that fails now and then does not use up the retries.
func TestWaitingOutlastsScatteredErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cloud := fastCloud()
		cloud.BootDelay = 400 * time.Millisecond
		cfg := fastConfig()
		cfg.MaxAttempts, cfg.RetryBase, cfg.RetryMax = 3, time.Millisecond, 5*time.Millisecond
		st := memstore.New(memstore.Config{})
		v, err := vcdmem.New(cloud)
		if err != nil {
			t.Fatal(err)
		}
		flaky := &flakyGuestInfo{}
		h := &harness{t: t, store: st, vcd: v, cfg: cfg, wrap: func(in executors.VCD) executors.VCD { flaky.VCD = in; return flaky }}
		h.start()
		t.Cleanup(h.halt)
		id := events.DeriveID("cluster", "patient")
		h.send(id, events.CreateCluster{Spec: spec("patient", good, 2, true)})
		if s := h.waitIdle(id, 2); s.Phase != events.PhaseCreateSucceeded {
			t.Fatalf("%s %+v", s.Phase, s.LastFailure)
		}
		if n := flaky.n.Load(); n < 2*int64(cfg.MaxAttempts)+2 {
			t.Fatalf("only %d guestinfo reads: the boot was too short to test anything", n)
		}
	})
}

// renaming renames VCD's users as a sync reads them.
type renaming struct {
	executors.VCD
	mu     sync.Mutex
	rename map[string]string // by user URN: the new name
}

func (r *renaming) Cloud(ctx context.Context) (events.CloudSynced, error) {
	c, err := r.VCD.Cloud(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, u := range c.Users {
		if n, ok := r.rename[u.ID]; ok {
			c.Users[i].Name = n
		}
	}
	return c, err
}

// A sync records the users it had not recorded, or recorded under another name: the first
// all of them, a sync that finds nothing new none, and a rename only the renamed user. A
// restarted executor records them all once more (what it recorded is not kept).
func TestSyncRecordsUsersOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const alice, bob = "urn:vcloud:user:a11ce000-0000-4000-8000-000000000001", "urn:vcloud:user:b0b00000-0000-4000-8000-000000000002"
		cloud := fastCloud()
		cloud.Orgs[0].Users = []vcdmem.User{{ID: alice, Name: "alice"}, {ID: bob, Name: "bob"}}
		r := &renaming{rename: map[string]string{}}
		h := newHarness(t, cloud, fastConfig())
		h.halt()
		h.wrap = func(v executors.VCD) executors.VCD { r.VCD = v; return r }
		h.start()

		syncs := func(n int) []events.CloudSynced {
			t.Helper()
			var out []events.CloudSynced
			h.until(func() bool {
				recs, err := h.store.Load(t.Context(), events.CloudID, 0)
				if err != nil {
					t.Fatal(err)
				}
				out = nil
				for _, rec := range recs {
					if cs, ok := rec.Envelope.Payload.(events.CloudSynced); ok {
						out = append(out, cs)
					}
				}
				return len(out) >= n
			}, func() string { return fmt.Sprintf("%d syncs recorded, want %d", len(out), n) })
			if len(out) != n {
				t.Fatalf("%d syncs recorded, want %d", len(out), n)
			}
			return out
		}
		names := func(cs events.CloudSynced) string {
			var s []string
			for _, u := range cs.Users {
				if u.OrgID != vcdmem.AcmeOrgID {
					t.Errorf("user %+v not of acme", u)
				}
				s = append(s, u.Name)
			}
			return strings.Join(s, ",")
		}
		want := []string{"alice,bob", "", "robert", "alice,robert"}
		h.send(events.CloudID, events.SyncCloud{})
		syncs(1)
		h.send(events.CloudID, events.SyncCloud{})
		syncs(2)
		r.mu.Lock()
		r.rename[bob] = "robert"
		r.mu.Unlock()
		h.send(events.CloudID, events.SyncCloud{})
		syncs(3)
		h.halt()
		h.start()
		h.send(events.CloudID, events.SyncCloud{})
		for i, cs := range syncs(4) {
			if got := names(cs); got != want[i] {
				t.Errorf("sync %d recorded users %q, want %q", i+1, got, want[i])
			}
			if i == 1 && cs.Users != nil {
				t.Errorf("a sync with no new user recorded %#v", cs.Users)
			}
		}
	})
}
