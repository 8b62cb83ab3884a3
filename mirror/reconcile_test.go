package mirror

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/projector/projectortest"
	"github.com/kaasproject/kaas/queries"
)

const (
	orgA  = projectortest.OrgA
	alice = projectortest.Alice
	bob   = projectortest.Bob
)

// harness is a mirror over views fed from a projectortest stream, reconciling item by item
// into a fake VCD, with its links in a bucket of the in-memory store.
type harness struct {
	t     *testing.T
	st    *projectortest.Stream
	views *projector.Views
	fed   int
	vcd   *fakeVCD
	links *Links
	m     *Mirror
	d     *dirty
}

func newHarness(t *testing.T, cfg ...Config) *harness {
	t.Helper()
	st := memstore.New(memstore.Config{})
	links, err := OpenLinks(t.Context(), st, LinksConfig{PublicURL: "https://vcd.test/api"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: projectortest.New(t), views: projector.NewViews(), vcd: newFakeVCD(), links: links}
	h.vcd.users[alice] = "alice"
	cfg = append(cfg, Config{})
	if h.m, err = New(cfg[0], st, h.views, links, h.vcd); err != nil {
		t.Fatal(err)
	}
	h.d = newDirty(links.kv)
	h.m.dirty = h.d
	return h
}

// feed folds what the stream gained since the last feed into the views.
func (h *harness) feed() {
	projectortest.Feed(h.views, h.st.All[h.fed:])
	h.fed = len(h.st.All)
}

func (h *harness) cluster(id string, full bool) {
	h.t.Helper()
	h.feed()
	if err := h.m.reconcileCluster(h.t.Context(), id, full); err != nil {
		h.t.Fatalf("reconcile cluster: %v", err)
	}
}

func (h *harness) op(id string) {
	h.t.Helper()
	h.feed()
	if err := h.m.reconcileOp(h.t.Context(), id); err != nil {
		h.t.Fatalf("reconcile operation: %v", err)
	}
}

// only returns the cluster's one entity in VCD, failing unless there is exactly one.
func (h *harness) only(clusterID string) Entity {
	h.t.Helper()
	es := h.vcd.entitiesOf(clusterID)
	if len(es) != 1 {
		h.t.Fatalf("cluster %s has %d entities in VCD, want 1", clusterID, len(es))
	}
	return es[0]
}

// matches fails unless the cluster's entity is what the queries render for it.
func (h *harness) matches(clusterID string) Entity {
	h.t.Helper()
	e := h.only(clusterID)
	cv, _ := h.views.Cluster(clusterID)
	want := queries.RenderLinked(cv, h.links)
	content, _ := toMap(want.Entity)
	switch {
	case !sameEntity(e, Entity{Name: want.Name, ExternalID: deref(want.ExternalID), Owner: want.Owner.ID, Content: content}):
		h.t.Fatalf("entity %s does not show the view:\n have %v\n want %v", e.ID, e.Content, content)
	case e.State != StateResolved, e.Org != want.Org.ID, want.ID != e.ID:
		h.t.Fatalf("entity %s: state %s org %s; the queries show id %s", e.ID, e.State, e.Org, want.ID)
	}
	return e
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *harness) taskOf(opID string) Task {
	h.t.Helper()
	l := h.links.op(opID)
	if l.Task == "" {
		h.t.Fatalf("operation %s has no task", opID)
	}
	t, _ := h.vcd.task(l.Task)
	return t
}

// TestClusterLifecycle follows one cluster from its accepted create to its delete: one
// entity that shows what the queries render, a task per operation that moves with it, the
// ACL as access controls, and nothing left once it is deleted.
func TestClusterLifecycle(t *testing.T) {
	h := newHarness(t)
	create := h.st.Create("web", orgA, alice)
	id := create.ClusterID

	// Accepted, not started: the task is queued, the entity already there (PRE_CREATED in
	// the render, RESOLVED in VCD).
	h.op(create.ID)
	h.cluster(id, false)
	task := h.taskOf(create.ID)
	if task.Status != TaskQueued || !strings.Contains(task.Operation, create.ID) || !strings.Contains(task.Operation, "'web'") ||
		task.Owner.ID != orgA || task.Owner.Name != "acme" || task.User != (Ref{ID: alice, Name: "alice"}) || task.OperationName != clusterOperationName {
		t.Fatalf("task of the create: %+v", task)
	}
	if _, org := h.vcd.task(task.ID); org != orgA {
		t.Fatalf("task made in org %s", org)
	}
	e := h.matches(id)
	st := e.Content["status"].(map[string]any)
	if e.Owner != alice || st["uid"] != e.ID || st["taskHref"] != "https://vcd.test/api/task/"+strings.TrimPrefix(task.ID, "urn:vcloud:task:") ||
		clusterIDOf(e.Content) != id {
		t.Fatalf("entity %s: owner %s status %v", e.ID, e.Owner, st)
	}
	if c, ok := h.links.ClusterOf(e.ID); !ok || c != id {
		t.Fatalf("the entity's id resolves to %q", c)
	}

	// It runs and succeeds: the task follows, then ends; the entity shows the vApp.
	h.st.Start(create)
	h.op(create.ID)
	if task = h.taskOf(create.ID); task.Status != TaskRunning {
		t.Fatalf("task while running: %+v", task)
	}
	h.st.Finish(id)
	// The task ends only once the entity shows the outcome, as CSE orders them.
	h.feed()
	if err := h.m.reconcileOp(t.Context(), create.ID); !errors.Is(err, errEntityBehind) {
		t.Fatalf("the task of an ended create, before its entity: %v", err)
	}
	if task = h.taskOf(create.ID); task.Status != TaskRunning {
		t.Fatalf("task ended before its entity: %+v", task)
	}
	h.cluster(id, false)
	h.op(create.ID)
	if task = h.taskOf(create.ID); task.Status != TaskSucceeded || task.Progress != 100 || !h.links.op(create.ID).Done {
		t.Fatalf("task after success: %+v", task)
	}
	e = h.matches(id)
	if !strings.HasPrefix(e.ExternalID, "https://vcd.test/api/vApp/vapp-") {
		t.Fatalf("externalId %q", e.ExternalID)
	}

	// Shared with bob: his access control; unshared: none.
	acl := h.st.Command("share-web", id, orgA, alice, events.SetClusterACL{Entries: []events.ACLEntry{{MemberID: bob, AccessLevel: events.AccessReadWrite}}})
	h.st.Run(acl)
	h.op(acl.ID) // sharing has no task
	h.cluster(id, false)
	acs, _ := h.vcd.AccessControls(t.Context(), e.ID)
	if len(acs) != 1 || acs[0].MemberID != bob || acs[0].AccessLevelID != "urn:vcloud:accessLevel:ReadWrite" {
		t.Fatalf("access controls %+v", acs)
	}
	if h.links.op(acl.ID).Task != "" {
		t.Fatal("sharing got a task")
	}
	h.st.Run(h.st.Command("unshare-web", id, orgA, alice, events.SetClusterACL{Entries: []events.ACLEntry{}}))
	h.cluster(id, false)
	if acs, _ = h.vcd.AccessControls(t.Context(), e.ID); len(acs) != 0 {
		t.Fatalf("access controls after unsharing %+v", acs)
	}

	// Reconciling what matches changes nothing.
	writes := h.vcd.count("UpdateEntity") + h.vcd.count("CreateEntity") + h.vcd.count("UpdateTask")
	h.cluster(id, false)
	h.cluster(id, true)
	h.op(create.ID)
	if n := h.vcd.count("UpdateEntity") + h.vcd.count("CreateEntity") + h.vcd.count("UpdateTask"); n != writes {
		t.Fatalf("%d writes to a VCD that matched", n-writes)
	}

	// Deleted: the entity goes, its link too; the delete's task ends well.
	del := h.st.Command("delete-web", id, orgA, alice, events.DeleteCluster{})
	h.op(del.ID)
	h.cluster(id, false)
	if e = h.matches(id); e.Content["status"].(map[string]any)["phase"] != "DELETE:IN_PROGRESS" {
		t.Fatalf("entity during the delete: %v", e.Content["status"])
	}
	h.st.Run(del)
	h.feed()
	if err := h.m.reconcileOp(t.Context(), del.ID); !errors.Is(err, errEntityBehind) {
		t.Fatalf("the task of an ended delete, before its entity is gone: %v", err)
	}
	h.cluster(id, false)
	h.op(del.ID)
	if task := h.taskOf(del.ID); task.Status != TaskSucceeded {
		t.Fatalf("delete task %+v", task)
	}
	if es := h.vcd.entitiesOf(id); len(es) != 0 {
		t.Fatalf("the deleted cluster still has %d entities", len(es))
	}
	// Its past is still read by the id clients knew: the link stays, marked gone.
	if l := h.links.cluster(id); !l.Gone || l.Entity != e.ID {
		t.Fatalf("the deleted cluster's link: %+v", l)
	}
	if c, ok := h.links.ClusterOf(e.ID); !ok || c != id {
		t.Fatal("the deleted cluster's entity id no longer resolves")
	}
	gets := h.vcd.count("Entity")
	h.cluster(id, false)
	if h.vcd.count("Entity") != gets {
		t.Fatal("a cluster deleted with its entity was looked for again")
	}
	if task = h.taskOf(del.ID); task.Status != TaskSucceeded || !strings.HasPrefix(task.Operation, "Deleting cluster 'web'") {
		t.Fatalf("task of the delete: %+v", task)
	}
}

// TestPutsBack: an entity changed behind kaas's back (content, owner, access controls) or
// removed is made what kaas knows again.
func TestPutsBack(t *testing.T) {
	h := newHarness(t)
	create := h.st.Create("db", orgA, alice)
	id := create.ClusterID
	h.st.Run(create)
	h.st.Run(h.st.Command("share-db", id, orgA, alice, events.SetClusterACL{Entries: []events.ACLEntry{{MemberID: bob, AccessLevel: events.AccessReadOnly}}}))
	h.op(create.ID)
	h.cluster(id, false)
	e := h.matches(id)

	h.vcd.edit(e.ID, func(e *Entity) {
		e.Content["status"].(map[string]any)["phase"] = "UPGRADE:IN_PROGRESS"
		e.Content["spec"] = map[string]any{}
		e.Owner = bob
		e.Name = "renamed"
	})
	_ = h.vcd.AddAccessControl(t.Context(), Tenant{}, e.ID, AccessControl{MemberID: "urn:vcloud:user:c0000000-0000-4000-8000-00000000000c", AccessLevelID: "urn:vcloud:accessLevel:FullControl"})
	acs, _ := h.vcd.AccessControls(t.Context(), e.ID)
	_ = h.vcd.RemoveAccessControl(t.Context(), e.ID, acs[0].ID) // bob's
	h.cluster(id, true)
	h.matches(id)
	acs, _ = h.vcd.AccessControls(t.Context(), e.ID)
	if len(acs) != 1 || acs[0].MemberID != bob {
		t.Fatalf("access controls not put back: %+v", acs)
	}

	// Deleted behind kaas's back: made again, and linked.
	_ = h.vcd.DeleteEntity(t.Context(), e.ID)
	h.cluster(id, false)
	if again := h.matches(id); again.ID == e.ID {
		t.Fatal("the same id came back")
	}
}

// TestCrashBetweenCreateAndLink: VCD made the entity (or the task), and the mirror ended
// before it recorded the link: the next reconcile finds it and makes no second one.
func TestCrashBetweenCreateAndLink(t *testing.T) {
	h := newHarness(t)
	create := h.st.Create("crash", orgA, alice)
	id := create.ClusterID
	h.feed()
	crash := errors.New("the process died")
	h.vcd.afterCreate = func(string) error { return crash }
	if err := h.m.reconcileCluster(t.Context(), id, false); !errors.Is(err, crash) {
		t.Fatalf("reconcile: %v", err)
	}
	if l := h.links.cluster(id); !l.Creating || l.Entity != "" {
		t.Fatalf("link after the crash: %+v", l)
	}
	h.cluster(id, false)
	h.matches(id)
	if n := h.vcd.count("CreateEntity"); n != 1 {
		t.Fatalf("%d entities made", n)
	}

	// The task: VCD made it, the link says only that it was being made.
	h.op(create.ID)
	task := h.taskOf(create.ID)
	if err := h.links.putOp(t.Context(), create.ID, opLink{Creating: true}); err != nil {
		t.Fatal(err)
	}
	h.st.Run(create)
	h.cluster(create.ClusterID, false)
	h.op(create.ID)
	if n := h.vcd.count("CreateTask"); n != 1 {
		t.Fatalf("%d tasks made", n)
	}
	if got := h.taskOf(create.ID); got.ID != task.ID || got.Status != TaskSucceeded {
		t.Fatalf("task %+v, want %s ended", got, task.ID)
	}
}

// TestDuplicatesAndOrphans: a resync leaves one entity per cluster and none for a cluster
// kaas does not have.
func TestDuplicatesAndOrphans(t *testing.T) {
	h := newHarness(t)
	create := h.st.Create("dup", orgA, alice)
	id := create.ClusterID
	h.st.Run(create)
	h.cluster(id, false)
	e := h.matches(id)
	// A copy made behind kaas's back, and an entity of a cluster kaas never had.
	copyID, _ := h.vcd.CreateEntity(t.Context(), Tenant{ID: orgA}, e)
	orphan := e
	orphan.Content = normalize(e.Content).(map[string]any)
	orphan.Content["status"].(map[string]any)["kaas"].(map[string]any)["clusterId"] = projectortest.ClusterID("never")
	orphanID, _ := h.vcd.CreateEntity(t.Context(), Tenant{ID: orgA}, orphan)

	if err := h.m.resync(t.Context(), h.d); err != nil {
		t.Fatal(err)
	}
	for {
		w, ok := h.d.next(t.Context())
		if !ok {
			t.Fatal("no work")
		}
		if err := h.m.reconcile(t.Context(), w); err != nil {
			t.Fatal(err)
		}
		if err := h.d.done(t.Context(), w, false, func(int) time.Duration { return time.Second }); err != nil {
			t.Fatal(err)
		}
		if n, _ := h.d.stats(); n == 0 {
			break
		}
	}
	if got := h.only(id); got.ID != e.ID {
		t.Fatalf("kept %s, not the linked %s (copy %s)", got.ID, e.ID, copyID)
	}
	if _, err := h.vcd.Entity(t.Context(), orphanID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the orphan is still there: %v", err)
	}
}

// TestConflictIsRetried: an entity changed between the read and the write (412) is read
// again and written again.
func TestConflictIsRetried(t *testing.T) {
	h := newHarness(t)
	create := h.st.Create("race", orgA, alice)
	id := create.ClusterID
	h.cluster(id, false)
	h.st.Run(create)
	conflicts := 0
	h.vcd.fail = func(call, _ string) error {
		if call == "UpdateEntity" && conflicts < 2 {
			conflicts++
			return ErrConflict
		}
		return nil
	}
	h.cluster(id, false)
	h.matches(id)
	if n := h.vcd.count("UpdateEntity"); n < 3 {
		t.Fatalf("%d updates", n)
	}
}

// TestTaskOutcomes: a refused create and a failed one end their tasks in error with kaas's
// reason; a task that ended in VCD (a provider aborted it) is never changed again; an org
// VDC's enabling gets CSE's OVDC Update task, owned by the VDC.
func TestTaskOutcomes(t *testing.T) {
	h := newHarness(t)

	failing := h.st.Create("fails", orgA, alice)
	h.st.Start(failing)
	h.st.Fail(failing.ClusterID, false)
	h.op(failing.ID)
	task := h.taskOf(failing.ID)
	if task.Status != TaskFailed || task.Error == nil || task.Error.MajorErrorCode != 500 || task.Error.MinorErrorCode != events.CodeQuotaExceeded ||
		!strings.Contains(task.Error.Message, "quota") {
		t.Fatalf("failed create's task: %+v %+v", task, task.Error)
	}

	first := h.st.Create("twice", orgA, alice)
	h.st.Run(first)
	again := h.st.Command("create-twice-again", first.ClusterID, orgA, alice, events.CreateCluster{Spec: projectortest.Spec("twice")})
	h.st.Start(again)
	h.op(again.ID)
	if task = h.taskOf(again.ID); task.Status != TaskFailed || task.Error.MajorErrorCode != 400 || task.Error.MinorErrorCode != events.CodeAlreadyExists {
		t.Fatalf("refused create's task: %+v %+v", task, task.Error)
	}

	aborted := h.st.Create("aborted", orgA, alice)
	h.op(aborted.ID)
	task = h.taskOf(aborted.ID)
	h.vcd.mu.Lock()
	h.vcd.tasks[task.ID].Status = TaskAborted
	h.vcd.mu.Unlock()
	h.st.Run(aborted)
	updates := h.vcd.count("UpdateTask")
	h.op(aborted.ID)
	h.op(aborted.ID)
	if n := h.vcd.count("UpdateTask"); n != updates || !h.links.op(aborted.ID).Done {
		t.Fatalf("an ended task was changed (%d updates) or not marked done", n-updates)
	}

	vdc := events.VDC{ID: "urn:vcloud:vdc:d0000000-0000-4000-8000-000000000001", Name: "vdc1", OrgName: "acme", OrgID: orgA}
	provider := "urn:vcloud:user:e0000000-0000-4000-8000-00000000000e"
	enable := h.st.Command("enable-vdc1", events.CloudID, "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9", provider,
		events.SetVDCRuntimes{VDC: vdc, Runtimes: []string{events.RuntimeNative}})
	h.st.Event(enable, events.VDCRuntimesChanged{VDC: vdc, Runtimes: []string{events.RuntimeNative}})
	h.op(enable.ID)
	task = h.taskOf(enable.ID)
	if task.OperationName != ovdcOperationName || task.Owner != (Ref{ID: vdc.ID, Name: "vdc1"}) || task.Status != TaskSucceeded || task.User.ID != provider {
		t.Fatalf("org VDC task: %+v", task)
	}
}

// TestTouched: the items each record marks.
func TestTouched(t *testing.T) {
	c := "c0000000-0000-4000-8000-000000000001"
	tests := []struct {
		name    string
		env     events.Envelope
		command bool
		want    []string
	}{
		{"create", events.Envelope{ID: "op1", ClusterID: c, Type: events.TypeCreateCluster}, true, []string{"c." + c, "o.op1"}},
		{"share", events.Envelope{ID: "op2", ClusterID: c, Type: events.TypeSetClusterACL}, true, []string{"c." + c}},
		{"sync", events.Envelope{ID: "op3", ClusterID: events.CloudID, Type: events.TypeSyncCloud}, true, nil},
		{"enable", events.Envelope{ID: "op4", ClusterID: events.CloudID, Type: events.TypeSetVDCRuntimes}, true, []string{"o.op4"}},
		{"step", events.Envelope{ClusterID: c, CausationID: "op1", Payload: events.NodeStarted{}}, false, []string{"c." + c, "o.op1"}},
		{"shared", events.Envelope{ClusterID: c, CausationID: "op2", Payload: events.ClusterACLChanged{}}, false, []string{"c." + c}},
		{"forced", events.Envelope{ClusterID: c, CausationID: "op5", Payload: events.ClusterDeletionStarted{Superseded: "op1"}}, false,
			[]string{"c." + c, "o.op1", "o.op5"}},
		{"refused share", events.Envelope{ClusterID: c, CausationID: "op2", Payload: events.CommandRejected{CommandType: events.TypeSetClusterACL}}, false,
			[]string{"c." + c}},
		{"refused create", events.Envelope{ClusterID: c, CausationID: "op1", Payload: events.CommandRejected{CommandType: events.TypeCreateCluster}}, false,
			[]string{"c." + c, "o.op1"}},
		{"synced", events.Envelope{ClusterID: events.CloudID, CausationID: "op3", Payload: events.CloudSynced{}}, false, nil},
		{"build", events.Envelope{ID: "op6", ClusterID: c, Type: events.TypeBuildTemplate}, true, nil},
		{"build step", events.Envelope{ClusterID: c, CausationID: "op6", Type: events.TypeBuildVMStarted, Payload: events.BuildVMStarted{}}, false, nil},
		{"refused delete of a template", events.Envelope{ClusterID: c, CausationID: "op7", Type: events.TypeCommandRejected,
			Payload: events.CommandRejected{CommandType: events.TypeDeleteTemplate}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := touched(tt.env, tt.command); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("touched %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOldOperationsGetNoTask: a mirror started on a long history makes no task for an
// operation that ended long before the newest event; an operation still followed gets one.
func TestOldOperationsGetNoTask(t *testing.T) {
	h := newHarness(t)
	old := h.st.Create("old", orgA, alice)
	h.st.Run(old)
	recent := h.st.Create("recent", orgA, alice)
	h.st.Start(recent)
	h.feed()
	// Two hours on, the recent one ends.
	evtSeq := uint64(len(h.st.Evts) + 1)
	h.views.ApplyEvent(evtSeq, "", events.Envelope{ID: "later", ClusterID: recent.ClusterID, OrgID: orgA, Actor: alice, CausationID: recent.ID,
		Time: projectortest.T0.Add(2 * time.Hour), Type: events.TypeOperationFailed,
		Payload: events.OperationFailed{Failure: events.Failure{Code: events.CodeTimeout, Message: "too slow"}}})
	h.op(old.ID)
	h.op(recent.ID)
	if l := h.links.op(old.ID); l != (opLink{}) {
		t.Fatalf("the long-ended create got a task: %+v", l)
	}
	if task := h.taskOf(recent.ID); task.Status != TaskFailed || task.Error.MinorErrorCode != events.CodeTimeout {
		t.Fatalf("the recent create's task: %+v", task)
	}
}

// TestEntityAt35 mirrors into a VCD 10.2 (API 35.0): the entity carries the v1.0 payload,
// exactly what the /api/cse routes answer at 35.0, with the keys CSE's client reads from
// RDE 1.0.0 (metadata.org_name and ovdc_name, status.task_href, status.nodes.control_plane),
// and the task still ends only once the entity shows the outcome.
func TestEntityAt35(t *testing.T) {
	h := newHarness(t, Config{APIVersion: "35.0"})
	create := h.st.Create("web", orgA, alice)
	id := create.ClusterID
	h.op(create.ID)
	h.cluster(id, false)
	task := h.taskOf(create.ID)
	check := func(what string) Entity {
		t.Helper()
		e := h.only(id)
		cv, _ := h.views.Cluster(id)
		d := queries.RenderLinked(cv, h.links)
		want, _ := toMap(cse.ToV1(d).Entity)
		if !sameEntity(e, Entity{Name: d.Name, ExternalID: deref(d.ExternalID), Owner: d.Owner.ID, Content: want}) || e.ID != d.ID {
			t.Fatalf("%s: entity %s does not show the v1.0 render:\n have %v\n want %v", what, e.ID, e.Content, want)
		}
		md, _ := e.Content["metadata"].(map[string]any)
		st, _ := e.Content["status"].(map[string]any)
		if e.Content["api_version"] != cse.APIVersion10 || md["cluster_name"] != "web" || md["org_name"] != "acme" || md["ovdc_name"] == nil ||
			e.Content["apiVersion"] != nil || st["task_href"] != "https://vcd.test/api/task/"+strings.TrimPrefix(task.ID, "urn:vcloud:task:") ||
			clusterIDOf(e.Content) != id {
			t.Fatalf("%s: entity content %v", what, e.Content)
		}
		return e
	}
	check("accepted")

	h.st.Start(create)
	h.st.Finish(id)
	h.feed()
	if err := h.m.reconcileOp(t.Context(), create.ID); !errors.Is(err, errEntityBehind) {
		t.Fatalf("the task of an ended create, before its entity: %v", err)
	}
	h.cluster(id, false)
	h.op(create.ID)
	if task = h.taskOf(create.ID); task.Status != TaskSucceeded {
		t.Fatalf("task after success: %+v", task)
	}
	e := check("created")
	nodes, _ := e.Content["status"].(map[string]any)["nodes"].(map[string]any)
	if cp, _ := nodes["control_plane"].(map[string]any); cp == nil || cp["name"] == nil || !strings.HasPrefix(e.ExternalID, "https://vcd.test/api/vApp/") {
		t.Fatalf("nodes %v, externalId %q", nodes, e.ExternalID)
	}
	bad := Config{APIVersion: "37.0"}
	bad.setDefaults()
	if err := bad.Validate(); err == nil {
		t.Fatal("API version 37.0 was taken")
	}
}

// TestTemplatesNotMirrored: a template revision's aggregate gets no entity and its
// operations no task, even through the records it shares with clusters (a retry, a
// failure), which do mark it.
func TestTemplatesNotMirrored(t *testing.T) {
	h := newHarness(t)
	const provider = "urn:vcloud:user:00000000-0000-4000-8000-0000000000ff"
	system := "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"
	r := events.Recipe{Name: "ubuntu", OS: "ubuntu-22.04", KubernetesVersion: "v1.30.4"}
	id := events.TemplateID(r.Name, 1)
	build := h.st.Command("build", id, system, provider, events.BuildTemplate{Recipe: r, Revision: 1})
	h.st.Event(build, events.TemplateBuildStarted{Recipe: r, Revision: 1, CatalogItem: events.TemplateItemName(r.Name, 1)})
	h.st.Event(build, events.StepRetrying{Step: "EnsureImage", Attempt: 1, Failure: events.Failure{Code: events.CodeVCDError, Message: "busy"}})
	h.st.Event(build, events.OperationFailed{Failure: events.Failure{Code: events.CodeVCDError, Message: "refused"}})
	h.cluster(id, true)
	h.op(build.ID)
	if len(h.vcd.entities) != 0 || len(h.vcd.tasks) != 0 || h.vcd.calls["FindEntities"] != 0 {
		t.Fatalf("a template build mirrored: entities %d, tasks %d, calls %v", len(h.vcd.entities), len(h.vcd.tasks), h.vcd.calls)
	}
}
