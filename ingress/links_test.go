package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/queries"
)

// memLinks are the VCD mirror's links as the queries read them, held here: what the mirror
// would have recorded.
type memLinks struct {
	mu       sync.Mutex
	entities map[string]string // cluster id → entity URN
	tasks    map[string]string // operation id → task href
	changed  chan struct{}
}

func newMemLinks() *memLinks {
	return &memLinks{entities: map[string]string{}, tasks: map[string]string{}, changed: make(chan struct{})}
}

func (l *memLinks) EntityID(clusterID string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entities[clusterID]
	return e, ok
}

func (l *memLinks) ClusterOf(entity string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, e := range l.entities {
		if e == entity {
			return c, true
		}
	}
	return "", false
}

func (l *memLinks) TaskHref(opID string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.tasks[opID]
	return h, ok
}

func (l *memLinks) WaitTask(ctx context.Context, opID string) (string, bool) {
	for {
		l.mu.Lock()
		h, ok := l.tasks[opID]
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return h, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", false
		}
	}
}

func (l *memLinks) VAppHref(urn string) string {
	return "https://vcd.example.com/api/vApp/vapp-" + strings.TrimPrefix(urn, "urn:vcloud:vapp:")
}

func (l *memLinks) link(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
	close(l.changed)
	l.changed = make(chan struct{})
}

// linkTaskSoon links an operation's task a little later, as the mirror does once it made it,
// unless ctx ends first. Tests call it in a synctest bubble, where the link comes only once
// the answer is blocked waiting for it.
func (l *memLinks) linkTaskSoon(ctx context.Context, opID, href string) {
	go func() {
		select {
		case <-time.After(30 * time.Millisecond):
			l.link(func() { l.tasks[opID] = href })
		case <-ctx.Done():
		}
	}()
}

// TestVCDIds: once the mirror linked them, answers show VCD's ids (the entity's URN, the
// task's href), every route takes either id of a cluster, and a change's answer waits for
// its task, within TaskWait. The clock is synctest's: a task is linked after its answer
// began waiting, for certain.
func TestVCDIds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		links := newMemLinks()
		api, err := ingress.New(ingress.Config{TaskWait: 2 * time.Second}, h.cmds, queries.New(h.views, nil).WithLinks(links))
		if err != nil {
			t.Fatal(err)
		}
		h.api = api

		// The create's answer waits for the task.
		createID := derivedID("command", orgA, alice, http.MethodPost, base+"/clusters", "r1")
		const createTask = "https://vcd.example.com/api/task/11111111-0000-4000-8000-000000000001"
		links.linkTaskSoon(t.Context(), createID, createTask)
		body := createBody("c1", "vdc1", 2)
		first := h.do(http.MethodPost, base+"/clusters", body, reqID("r1"))
		ent := decode[cse.DefEntity](t, first)
		if first.Code != http.StatusAccepted || *ent.Entity.Status.TaskHref != createTask {
			t.Fatalf("create: %d taskHref %v", first.Code, ent.Entity.Status.TaskHref)
		}
		clusterID, _ := cse.ParseClusterID(ent.ID)
		if ent.Entity.Status.Kaas.ClusterID != clusterID {
			t.Fatalf("status.kaas.clusterId %q", ent.Entity.Status.Kaas.ClusterID)
		}
		h.exec.run(createID)

		// VCD made the entity: its URN is the cluster's id, and both ids find it.
		const entity = "urn:vcloud:entity:cse:nativeCluster:22222222-0000-4000-8000-000000000002"
		links.link(func() { links.entities[clusterID] = entity })
		for _, id := range []string{entity, cse.EntityID(clusterID), clusterID} {
			rec := h.do(http.MethodGet, base+"/cluster/"+id, "")
			got := decode[cse.DefEntity](t, rec)
			if rec.Code != 200 || got.ID != entity || got.Entity.Status.UID != entity || *got.Entity.Status.TaskHref != createTask {
				t.Fatalf("GET by %s: %d id %s uid %s taskHref %v", id, rec.Code, got.ID, got.Entity.Status.UID, got.Entity.Status.TaskHref)
			}
		}
		list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", ""))
		if len(list) != 1 || list[0].ID != entity {
			t.Fatalf("list shows %+v", list)
		}
		// A redelivery of the create gets the first answer.
		if again := h.do(http.MethodPost, base+"/clusters", body, reqID("r1")); again.Body.String() != first.Body.String() {
			t.Fatalf("redelivered create answered differently:\n%s\n%s", first.Body, again.Body)
		}

		// A change through the entity's URN: its answer shows its own task.
		scaleID := derivedID("command", orgA, alice, http.MethodPut, base+"/cluster/"+entity, "r2")
		const scaleTask = "https://vcd.example.com/api/task/33333333-0000-4000-8000-000000000003"
		links.linkTaskSoon(t.Context(), scaleID, scaleTask)
		up := h.do(http.MethodPut, base+"/cluster/"+entity, createBody("c1", "vdc1", 3), reqID("r2"))
		got := decode[cse.DefEntity](t, up)
		if up.Code != http.StatusAccepted || got.ID != entity || *got.Entity.Status.TaskHref != scaleTask {
			t.Fatalf("scale: %d id %s taskHref %v: %s", up.Code, got.ID, got.Entity.Status.TaskHref, up.Body)
		}
		if cmd := h.exec.command(scaleID); cmd.ClusterID != clusterID {
			t.Fatalf("the scale went to cluster %s", cmd.ClusterID)
		}
		op := decode[cse.Operation](t, h.do(http.MethodGet, base+"/operation/"+scaleID, ""))
		if op.TaskHref != scaleTask || op.ClusterID != entity {
			t.Fatalf("operation %+v", op)
		}

		// An org VDC's enabling answers with its task too.
		vdc := vdcID("acme", "vdc2")
		ovdcID := derivedID("command", ingress.SystemOrg, root, http.MethodPut, base+"/ovdc/"+vdc, "r3")
		const ovdcTask = "https://vcd.example.com/api/task/44444444-0000-4000-8000-000000000004"
		links.linkTaskSoon(t.Context(), ovdcID, ovdcTask)
		rec := h.do(http.MethodPut, base+"/ovdc/"+vdc, `{"k8s_runtime":["native"]}`, reqID("r3"), as(ingress.SystemOrg, root))
		if th := decode[map[string]string](t, rec)["task_href"]; rec.Code != http.StatusAccepted || th != ovdcTask {
			t.Fatalf("ovdc: %d %s", rec.Code, rec.Body)
		}
	})
}

// TestTaskWaitBounded: with no task made in time, the answer names kaas's operation.
func TestTaskWaitBounded(t *testing.T) {
	h := newHarness(t)
	api, err := ingress.New(ingress.Config{TaskWait: 50 * time.Millisecond}, h.cmds, queries.New(h.views, nil).WithLinks(newMemLinks()))
	if err != nil {
		t.Fatal(err)
	}
	h.api = api
	start := time.Now()
	rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 2), reqID("r1"))
	ent := decode[cse.DefEntity](t, rec)
	opID := derivedID("command", orgA, alice, http.MethodPost, base+"/clusters", "r1")
	if took := time.Since(start); rec.Code != http.StatusAccepted || *ent.Entity.Status.TaskHref != ingress.OperationHref(opID) || took > 2*time.Second {
		t.Fatalf("%d taskHref %v after %s", rec.Code, ent.Entity.Status.TaskHref, took)
	}
	if _, err := ingress.New(ingress.Config{TaskWait: 9 * time.Second}, h.cmds, queries.New(h.views, nil)); err == nil {
		t.Fatal("a task wait past VCD's timeout was taken")
	}
}
