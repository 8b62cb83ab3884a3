package kaasd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
)

// deleteCase is one cluster of TestDeleteConverges: how its create goes wrong (or where it
// still is), and how it is deleted.
type deleteCase struct {
	name     string // the cluster's (and its vApp's) name, unique in the test
	template string
	revision int
	workers  int
	rollback bool
	// faults are aimed at this cluster's vApp while it is created.
	faults []vcdsim.Targeted
	// direct appends the create to JetStream as the ingress would, after changing the spec,
	// bypassing the ingress's checks: histories hold creates that it now refuses.
	direct func(*events.ClusterSpec)
	// orgID is the caller's org of a direct create; default the tenant's.
	orgID string

	// The create fails at step with code, keeping kept VMs of the cluster in VCD (-1: no
	// vApp) when it does not roll back.
	step, code string
	kept       int
	// during, when set, says the create is still at the step under test (from what VCD
	// shows): the force delete is issued then, and supersedes the create. A nil during on
	// a case without step issues the force delete right behind the create.
	during func(a *vcdsim.VAppInfo) bool
	// inProgress marks a case whose force delete is issued while the create runs.
	inProgress bool

	// after, when set, is closed when the create may start.
	after chan struct{}

	// plain deletes with DELETE (allowed once the create ended) instead of force-delete.
	plain bool
	// provider deletes as the provider instead of the tenant.
	provider bool
	// deleteFaults are aimed at the vApp once the create ended; refused says they make the
	// first force delete end DELETE:FAILED with VCD's reason, and a second one succeed.
	deleteFaults []vcdsim.Targeted
	refused      bool
}

// convergeEnv is the whole system and the tenant's and the provider's sessions, with one
// poller of the provider's cluster list that every case waits on (a poller per case would
// load the two cores more than the work under test).
type convergeEnv struct {
	sys              *kaasdtest.System
	tenant, provider string
	tenantOrg        string
	mu               sync.Mutex
	listed           map[string]cse.DefEntity // by cluster id
	listedAt         time.Time                // when the GET that listed them started
}

// TestDeleteConverges: whatever step a create failed at or is still at, and wherever its
// request placed it, a force delete (and a plain delete where one is allowed) ends
// DELETE:SUCCEEDED, the cluster gone from every list and nothing of it left in VCD; a
// create rolled back leaves the same without any delete. The whole path: HTTPS to vcdsim, its AMQP relay, kaasd in-process with
// JetStream, go-vcloud-director, vcdsim's vApps and VMs; vcdsim's targeted faults fail or
// hold one step of one cluster while the others run.
func TestDeleteConverges(t *testing.T) {
	simCfg := kaasdtest.FastSim()
	simCfg.Orgs = append(simCfg.Orgs, vcdsim.OrgConfig{Name: "globex", VDCs: []vcdsim.VDCConfig{{Name: "globex-vdc",
		Networks: []vcdsim.NetworkConfig{{Name: "globex-net", Gateway: "10.2.0.1", Pool: "10.2"}}}}})
	sys := kaasdtest.Start(t, simCfg, func(c *kaasd.Config) {
		// Retries back off from 20 ms; a boot that never ends fails after 4 s, long
		// enough that no boot on two busy cores is taken for one.
		c.RetryBase, c.BootTimeout, c.PollInterval = 20*time.Millisecond, 4*time.Second, 100*time.Millisecond
	})
	kaasdtest.EnableVDCs(t, sys.AsProvider(t))
	e := &convergeEnv{sys: sys, tenant: sys.Login(t, "alice@acme", "alice-pass"), provider: sys.Login(t, "administrator@System", "kaas-admin"),
		tenantOrg: sys.Sim.OrgID("acme"), listed: map[string]cse.DefEntity{}}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	go e.poll(ctx)

	// A live cluster owns the name "taken": a create on that name must fail, and no delete
	// of it may touch the owner's vApp. The creates on its name wait for it.
	owner, _, err := e.create(ctx, deleteCase{name: "taken", template: good, revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	ownerUp := make(chan struct{})
	go func() {
		defer close(ownerUp)
		if ent, err := e.ended(ctx, owner); err != nil || ent.Entity.Status.Phase != string(events.PhaseCreateSucceeded) {
			t.Errorf("the owner of the name: %s %v", ent.Entity.Status.Phase, err)
		}
	}()

	role := func(a *vcdsim.VAppInfo, prefix string) *vcdsim.VMInfo {
		for i := range a.VMs {
			if strings.HasPrefix(a.VMs[i].Name, prefix) {
				return &a.VMs[i]
			}
		}
		return nil
	}
	task := func(prefix, op string) func(a *vcdsim.VAppInfo) bool {
		return func(a *vcdsim.VAppInfo) bool {
			if prefix == "" {
				return a.Task == op
			}
			vm := role(a, prefix)
			return vm != nil && vm.Task == op
		}
	}
	poweredOn := func(prefix string) func(a *vcdsim.VAppInfo) bool {
		return func(a *vcdsim.VAppInfo) bool { vm := role(a, prefix); return vm != nil && vm.Status == 4 }
	}
	// Long enough that the create's 202, which can come after its first VCD task on two
	// busy cores, still finds the held step running.
	hold := vcdsim.Duration(3 * time.Second)
	missing := func(s *events.ClusterSpec) { s.Template.Name = "no-such-template" }
	otherRevision := func(s *events.ClusterSpec) { s.Template.Revision = 2 }

	// Every step of a create fails in turn.
	failures := []deleteCase{
		{name: "notpl", direct: missing, step: "ResolveTemplate", code: events.CodeTemplateNotFound, kept: -1},
		{name: "badrev", direct: otherRevision, step: "ResolveTemplate", code: events.CodeTemplateNotFound, kept: -1},
		{name: "compose", faults: []vcdsim.Targeted{{Op: "compose", FailStatus: 400, Count: 1}},
			step: "CreateVApp", code: events.CodeVCDError, kept: -1},
		{name: "cpadd", faults: []vcdsim.Targeted{{Op: "recompose", Role: events.RoleControlPlane, FailStatus: 400, Count: 1}},
			step: "CreateNode", code: events.CodeVCDError, kept: 0},
		{name: "workeradd", faults: []vcdsim.Targeted{{Op: "recompose", Role: events.RoleWorker, FailStatus: 400, Count: 1}},
			step: "ProvisionNodes", code: events.CodeVCDError, kept: 1},
		{name: "poweron", faults: []vcdsim.Targeted{{Op: "vappDeploy", Role: events.RoleControlPlane, FailStatus: 400, Count: 1}},
			step: "StartNode", code: events.CodeVCDError, kept: 1},
		{name: "broken", template: "ubuntu-22.04_k8s-1.30_broken", step: "AwaitControlPlane", code: events.CodeBootstrapFailed, kept: 1},
		{name: "noboot", faults: []vcdsim.Targeted{{Op: "boot", Role: events.RoleControlPlane, FailAt: "never", Count: 1}},
			step: "AwaitControlPlane", code: events.CodeTimeout, kept: 1},
		{name: "nojoin", faults: []vcdsim.Targeted{{Op: "boot", Role: events.RoleWorker, FailAt: "kubeadm-join", Count: 1}},
			step: "AwaitNodes", code: events.CodeBootstrapFailed, kept: 2},
	}
	// Creates placed where kaas can make nothing, or that hit a name another cluster holds.
	places := []deleteCase{
		{name: "otherorg", direct: func(s *events.ClusterSpec) { s.OrgName, s.VDC, s.Network = "globex", "globex-vdc", "globex-net" },
			step: "ResolveTemplate", code: events.CodeVDCNotFound, kept: -1},
		{name: "nourn", direct: func(*events.ClusterSpec) {}, orgID: "acme", provider: true,
			step: "ResolveTemplate", code: events.CodeVDCNotFound, kept: -1},
		{name: "noorg", direct: func(s *events.ClusterSpec) { s.OrgName = "nowhere" }, step: "ResolveTemplate", code: events.CodeVDCNotFound, kept: -1},
		{name: "novdc", direct: func(s *events.ClusterSpec) { s.VDC = "nowhere-vdc" }, step: "CreateVApp", code: events.CodeVDCNotFound, kept: -1},
		{name: "dupname", direct: func(s *events.ClusterSpec) { s.Name = "taken" }, after: ownerUp,
			step: "CreateVApp", code: events.CodeNameConflict, kept: -1},
	}
	var cases []deleteCase
	for i, c := range slices.Concat(failures, places) {
		// Without rollback, whatever was made is kept, then deleted: force and plain deletes,
		// by the tenant and by a provider, alternate. With it, nothing is: no cluster is
		// left to delete.
		keep, back := c, c
		keep.name, keep.plain, keep.provider = c.name+"-keep", i%2 == 1, c.provider || i%3 == 2
		back.name, back.rollback, back.plain = c.name+"-rb", true, i%2 == 0
		cases = append(cases, keep, back)
	}
	// A force delete issued while the create is still at each step.
	cases = append(cases,
		deleteCase{name: "at-resolve", inProgress: true},
		deleteCase{name: "at-compose", faults: []vcdsim.Targeted{{Op: "compose", Delay: hold, Count: 1}},
			during: task("", "vdcComposeVapp"), inProgress: true},
		deleteCase{name: "at-cpadd", faults: []vcdsim.Targeted{{Op: "recompose", Role: events.RoleControlPlane, Delay: hold, Count: 1}},
			during: task("mstr-", "vdcRecomposeVapp"), inProgress: true},
		deleteCase{name: "at-workeradd", faults: []vcdsim.Targeted{{Op: "recompose", Role: events.RoleWorker, Delay: hold, Count: 1}},
			during: task("node-", "vdcRecomposeVapp"), inProgress: true},
		deleteCase{name: "at-poweron", faults: []vcdsim.Targeted{{Op: "vappDeploy", Role: events.RoleControlPlane, Delay: hold, Count: 1}},
			during: task("mstr-", "vappDeploy"), inProgress: true},
		deleteCase{name: "at-cpboot", faults: []vcdsim.Targeted{{Op: "boot", Role: events.RoleControlPlane, FailAt: "never", Count: 1}},
			during: poweredOn("mstr-"), inProgress: true},
		deleteCase{name: "at-workerboot", faults: []vcdsim.Targeted{{Op: "boot", Role: events.RoleWorker, FailAt: "never", Count: 1}},
			during: poweredOn("node-"), inProgress: true},
		// VCD refuses a delete: the delete fails saying why, and another force delete ends it.
		deleteCase{name: "refused", faults: []vcdsim.Targeted{{Op: "boot", Role: events.RoleWorker, FailAt: "kubeadm-join", Count: 1}},
			step: "AwaitNodes", code: events.CodeBootstrapFailed, kept: 2, refused: true,
			deleteFaults: []vcdsim.Targeted{{Op: "vappUndeploy", FailStatus: 500, Count: 1}, {Op: "vdcDeleteVapp", FailStatus: 403, Count: 1}}},
	)

	start := time.Now()
	var wg sync.WaitGroup
	ids := make([]string, len(cases))
	for i, c := range cases {
		if c.template == "" {
			c.template = good
		}
		if c.revision == 0 {
			c.revision = 1
		}
		if c.workers == 0 {
			c.workers = 1
		}
		wg.Go(func() {
			id, err := e.converge(ctx, c)
			ids[i] = id
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d clusters created, failed or held, and deleted in %s", len(cases), time.Since(start).Round(time.Millisecond))

	// Gone from the tenant's list and the provider's, and nothing of them in VCD; the owner
	// of the name "taken" keeps its vApp.
	for who, token := range map[string]string{"tenant": e.tenant, "provider": e.provider} {
		code, body, _, err := e.call(ctx, token, "GET", "/api/cse/3.0/clusters", nil)
		var list []cse.DefEntity
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &list) != nil {
			t.Fatalf("%s's list: %d %v %.300s", who, code, err, body)
		}
		for _, ent := range list {
			if id := kaasID(ent); slices.Contains(ids, id) {
				t.Errorf("%s's list still holds %s (%s)", who, ent.Name, ent.Entity.Status.Phase)
			}
		}
	}
	for _, a := range sys.Sim.Inventory().VApps {
		if a.Metadata[executorsMetaClusterID] != owner {
			t.Errorf("VCD still holds vApp %s (cluster %q) with %d VMs", a.Name, a.Metadata[executorsMetaClusterID], len(a.VMs))
		} else if len(a.VMs) != 1 {
			t.Errorf("the owner of the name lost its VM: %+v", a.VMs)
		}
	}
}

const executorsMetaClusterID = "kaas.cluster.id"

// converge runs one case to its end and returns the cluster's id.
func (e *convergeEnv) converge(ctx context.Context, c deleteCase) (string, error) {
	if c.after != nil {
		<-c.after
	}
	e.sys.Sim.AddTargeted(aim(c.name, c.faults)...)
	id, createOp, err := e.create(ctx, c)
	if err != nil {
		return "", err
	}
	if c.inProgress {
		if c.during != nil {
			if err := e.until(ctx, func() bool { a := e.vapp(id, c.name); return a != nil && c.during(a) }); err != nil {
				return id, fmt.Errorf("the create never reached the step under test: %w (VCD has %+v)", err, e.vapp(id, c.name))
			}
		}
		if err := e.remove(ctx, c, id, false); err != nil {
			return id, err
		}
		// The create was still running when the force delete came.
		if op, err := e.operation(ctx, createOp); err != nil || op.Status != "SUPERSEDED" {
			return id, fmt.Errorf("the create's operation ended %s %+v (%v), want SUPERSEDED", op.Status, op.Error, err)
		}
		return id, nil
	}

	if c.rollback {
		return id, e.rolledBack(ctx, c, id, createOp)
	}
	ent, err := e.ended(ctx, id)
	if err != nil {
		return id, err
	}
	st := ent.Entity.Status
	switch {
	case st.Phase != string(events.PhaseCreateFailed) || st.Kaas == nil || st.Kaas.Error == nil:
		return id, fmt.Errorf("the create ended %s (%+v), want %s", st.Phase, st.Kaas, events.PhaseCreateFailed)
	case st.Kaas.Error.Step != c.step || st.Kaas.Error.Code != c.code:
		return id, fmt.Errorf("the create failed at %s with %s (%s), want %s with %s", st.Kaas.Error.Step, st.Kaas.Error.Code, st.Kaas.Error.Message, c.step, c.code)
	}
	a := e.vapp(id, c.name)
	switch kept := c.kept; {
	case kept < 0:
		if a != nil {
			return id, fmt.Errorf("the failed create left vApp %+v", a)
		}
	case a == nil || len(a.VMs) != kept:
		return id, fmt.Errorf("without rollback the create kept %+v, want a vApp with %d VMs", a, kept)
	}
	if c.refused {
		e.sys.Sim.AddTargeted(aim(c.name, c.deleteFaults)...)
		if err := e.remove(ctx, c, id, true); err != nil {
			return id, err
		}
	}
	return id, e.remove(ctx, c, id, false)
}

// rolledBack checks a create rolled back: its operation failed at the step under test and
// was undone; nothing of the cluster is left, in the lists or in VCD, nor to delete.
func (e *convergeEnv) rolledBack(ctx context.Context, c deleteCase, id, opHref string) error {
	var op cse.Operation
	if err := e.until(ctx, func() bool {
		var err error
		op, err = e.operation(ctx, opHref)
		return err == nil && op.Ended != nil
	}); err != nil {
		return fmt.Errorf("the create never ended (%s %s): %w", op.Status, op.Step, err)
	}
	switch {
	case op.Status != "FAILED" || op.Phase != string(events.PhaseCreateFailed) || op.Step != events.TypeOperationRolledBack || op.Error == nil:
		return fmt.Errorf("the create ended %s %s at %s (%+v), want rolled back", op.Status, op.Phase, op.Step, op.Error)
	case op.Error.Step != c.step || op.Error.Code != c.code:
		return fmt.Errorf("the create failed at %s with %s (%s), want %s with %s", op.Error.Step, op.Error.Code, op.Error.Message, c.step, c.code)
	case strings.Contains(op.Error.Message, "rollback failed"):
		return fmt.Errorf("the rollback failed: %+v", op.Error)
	}
	token := e.tenant
	if c.provider || c.orgID != "" {
		token = e.provider
	}
	if err := e.until(ctx, func() bool { _, listed, fresh := e.listedAfter(id, *op.Ended); return fresh && !listed }); err != nil {
		return fmt.Errorf("the rolled-back cluster is still listed: %w", err)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if code, body, _, err := e.call(ctx, token, method, "/api/cse/3.0/cluster/"+cse.EntityID(id), nil); err != nil || code != http.StatusNotFound {
			return fmt.Errorf("%s of the rolled-back cluster: %d %v %.200s", method, code, err, body)
		}
	}
	if a := e.vapp(id, c.name); a != nil {
		return fmt.Errorf("the rollback left vApp %+v", a)
	}
	return nil
}

// remove deletes the cluster and checks that the delete ended as wanted: DELETE:SUCCEEDED,
// the cluster gone from the list and from VCD; or, when refused, DELETE:FAILED saying why.
func (e *convergeEnv) remove(ctx context.Context, c deleteCase, id string, refused bool) error {
	token := e.tenant
	if c.provider || c.orgID != "" {
		token = e.provider
	}
	method, path := http.MethodPost, "/api/cse/3.0/cluster/"+cse.EntityID(id)+"/action/force-delete"
	if c.plain && !c.inProgress && !refused {
		method, path = http.MethodDelete, "/api/cse/3.0/cluster/"+cse.EntityID(id)
	}
	asked := time.Now()
	code, body, opHref, err := e.call(ctx, token, method, path, nil)
	if err != nil || code != http.StatusAccepted || opHref == "" {
		return fmt.Errorf("%s %s: %d %v %.300s", method, path, code, err, body)
	}
	opID := opHref[strings.LastIndex(opHref, "/")+1:]
	var phase string
	if err := e.until(ctx, func() bool {
		ent, listed, fresh := e.listedAfter(id, asked)
		if !listed || !fresh {
			return fresh
		}
		st := ent.Entity.Status
		phase = st.Phase
		return phase == string(events.PhaseDeleteFailed) && st.Kaas != nil && st.Kaas.OperationID == opID
	}); err != nil {
		return fmt.Errorf("the delete never ended (%s): %w", phase, err)
	}
	op, err := e.operation(ctx, opHref)
	if err != nil {
		return err
	}
	if refused {
		if op.Status != "FAILED" || op.Phase != string(events.PhaseDeleteFailed) || op.Error == nil || op.Error.Step != "DeleteVApp" ||
			op.Error.VCDCode != "403" {
			return fmt.Errorf("a delete VCD refused ended %s %s %+v, want FAILED at DeleteVApp with VCD's reason", op.Status, op.Phase, op.Error)
		}
		return nil
	}
	if op.Status != "SUCCEEDED" || op.Phase != string(events.PhaseDeleteSucceeded) {
		return fmt.Errorf("the delete ended %s %s %+v, want DELETE:SUCCEEDED", op.Status, op.Phase, op.Error)
	}
	if code, body, _, err := e.call(ctx, token, http.MethodGet, "/api/cse/3.0/cluster/"+cse.EntityID(id), nil); err != nil || code != http.StatusNotFound {
		return fmt.Errorf("GET of the deleted cluster: %d %v %.200s", code, err, body)
	}
	if a := e.vapp(id, c.name); a != nil {
		return fmt.Errorf("the delete left vApp %s with %d VMs in VCD", a.Name, len(a.VMs))
	}
	for _, a := range e.sys.Sim.Inventory().VApps {
		for _, vm := range a.VMs {
			if vm.Metadata[executorsMetaClusterID] == id {
				return fmt.Errorf("the delete left VM %s in vApp %s", vm.Name, a.Name)
			}
		}
	}
	return nil
}

// aim points faults at one vApp.
func aim(vapp string, faults []vcdsim.Targeted) []vcdsim.Targeted {
	out := slices.Clone(faults)
	for i := range out {
		out[i].VApp = vapp
	}
	return out
}

// create starts the case's create, through the tenant's API or straight into JetStream,
// and returns the cluster's id and where its operation is served.
func (e *convergeEnv) create(ctx context.Context, c deleteCase) (string, string, error) {
	spec := events.ClusterSpec{Name: c.name, OrgName: "acme", VDC: "acme-vdc", Network: "acme-net",
		Template:     events.TemplateRef{Name: c.template, Revision: c.revision},
		ControlPlane: events.NodePool{Count: 1}, Workers: events.NodePool{Count: c.workers}, RollbackOnFailure: c.rollback}
	if c.direct != nil {
		c.direct(&spec)
		orgID := c.orgID
		if orgID == "" {
			orgID = e.tenantOrg
		}
		req := "converge-" + c.name + "-" + uuid.NewString()
		env := events.Envelope{ID: events.DeriveID("command", req), ClusterID: events.DeriveID("cluster", req), OrgID: orgID,
			Actor: vcdsim.UserURN("acme", "alice"), Time: time.Now().UTC(), CorrelationID: req, Payload: events.CreateCluster{Spec: spec}}
		if _, _, err := e.sys.Server.Store().AppendCommand(ctx, env, req); err != nil {
			return "", "", fmt.Errorf("append the create: %w", err)
		}
		// The ingress serves a cluster once its creation started (a rolled-back one maybe
		// never long enough to be listed: its operation is served then).
		err := e.until(ctx, func() bool {
			if _, listed, _ := e.listedAfter(env.ClusterID, time.Time{}); listed {
				return true
			}
			op, err := e.operation(ctx, ingress.OperationHref(env.ID))
			return c.rollback && err == nil && op.Ended != nil
		})
		return env.ClusterID, ingress.OperationHref(env.ID), err
	}
	ent := entity(c.name, c.template, c.workers, c.rollback)
	code, body, opHref, err := e.call(ctx, e.tenant, http.MethodPost, "/api/cse/3.0/clusters", ent)
	if err != nil || code != http.StatusAccepted {
		return "", "", fmt.Errorf("create: %d %v %.300s", code, err, body)
	}
	var created cse.DefEntity
	if err := json.Unmarshal(body, &created); err != nil {
		return "", "", err
	}
	id, _ := cse.ParseClusterID(created.ID)
	return id, opHref, nil
}

// ended waits until the cluster's operation is over.
func (e *convergeEnv) ended(ctx context.Context, id string) (cse.DefEntity, error) {
	var ent cse.DefEntity
	err := e.until(ctx, func() bool {
		var listed bool
		ent, listed, _ = e.listedAfter(id, time.Time{})
		return listed && !strings.HasSuffix(ent.Entity.Status.Phase, "IN_PROGRESS")
	})
	if err != nil {
		return ent, fmt.Errorf("the create never ended (%s): %w", ent.Entity.Status.Phase, err)
	}
	return ent, nil
}

// poll lists every cluster as the provider, ten times a second, until ctx ends.
func (e *convergeEnv) poll(ctx context.Context) {
	for ctx.Err() == nil {
		at := time.Now()
		code, body, _, err := e.call(ctx, e.provider, http.MethodGet, "/api/cse/3.0/clusters", nil)
		var list []cse.DefEntity
		if err == nil && code == http.StatusOK && json.Unmarshal(body, &list) == nil {
			byID := make(map[string]cse.DefEntity, len(list))
			for _, ent := range list {
				byID[kaasID(ent)] = ent
			}
			e.mu.Lock()
			e.listed, e.listedAt = byID, at
			e.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// listedAfter returns the cluster as last listed, whether it was listed, and whether that
// list was asked for after since.
func (e *convergeEnv) listedAfter(id string, since time.Time) (cse.DefEntity, bool, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, listed := e.listed[id]
	return ent, listed, e.listedAt.After(since)
}

// until polls cond until it holds or a minute passed.
func (e *convergeEnv) until(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(40 * time.Millisecond):
		}
	}
	return nil
}

// vapp is the cluster's vApp in VCD, found by the cluster id in its metadata or, before
// that is written, by its name.
func (e *convergeEnv) vapp(id, name string) *vcdsim.VAppInfo {
	for _, a := range e.sys.Sim.Inventory().VApps {
		if cid := a.Metadata[executorsMetaClusterID]; cid == id || cid == "" && a.Name == name {
			return &a
		}
	}
	return nil
}

func (e *convergeEnv) operation(ctx context.Context, href string) (cse.Operation, error) {
	var op cse.Operation
	code, body, _, err := e.call(ctx, e.provider, http.MethodGet, href, nil)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %.300s", href, code, body)
	}
	if err == nil {
		err = json.Unmarshal(body, &op)
	}
	return op, err
}

// call is one HTTPS call to VCD's /api/cse, which VCD relays to kaas over AMQP. Unlike
// kaasdtest's Call it reports errors instead of failing the test: cases run on their own
// goroutines.
func (e *convergeEnv) call(ctx context.Context, token, method, path string, body any) (int, []byte, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.sys.URL+path, rd)
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json;version=36.0")
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.sys.HTTP.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Location"), err
}
