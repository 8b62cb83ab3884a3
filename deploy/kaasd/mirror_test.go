package kaasd_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events/cse"
)

// vcdEntity is a defined entity as VCD's cloudapi answers it.
type vcdEntity struct {
	ID         string         `json:"id"`
	EntityType string         `json:"entityType"`
	Name       string         `json:"name"`
	ExternalID *string        `json:"externalId"`
	Entity     map[string]any `json:"entity"`
	State      string         `json:"state"`
	Owner      struct{ Name, ID string }
	Org        struct{ Name, ID string }
}

// vcdTask is a task as VCD's XML API answers it.
type vcdTask struct {
	Status        string `xml:"status,attr"`
	Operation     string `xml:"operation,attr"`
	OperationName string `xml:"operationName,attr"`
	Owner         struct {
		Href string `xml:"href,attr"`
		Name string `xml:"name,attr"`
	} `xml:"Owner"`
	User struct {
		Href string `xml:"href,attr"`
		Name string `xml:"name,attr"`
	} `xml:"User"`
	Error *struct {
		Minor   string `xml:"minorErrorCode,attr"`
		Message string `xml:"message,attr"`
	} `xml:"Error"`
	Progress int `xml:"Progress"`
}

// logBuffer keeps kaasd's log, shown when a test fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// mirrorEnv is vcdsim and kaasd mirroring into it, and sessions of alice, bob (both of
// acme) and the provider.
type mirrorEnv struct {
	t                    *testing.T
	sys                  *kaasdtest.System
	alice, bob, provider string
}

func startMirrorEnv(t *testing.T, opts ...func(*kaasd.Config)) *mirrorEnv {
	t.Helper()
	sys := kaasdtest.StartSim(t, kaasdtest.FastSim(), opts...)
	if _, err := kaasd.Install(t.Context(), sys.Config.VCDConfig(nil), kaasd.DefaultExtension(sys.Config.AMQPExchange, sys.Config.AMQPRoutingKey)); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	srv, err := kaasd.Start(t.Context(), sys.Config, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Close()
		if t.Failed() {
			logs.mu.Lock()
			t.Logf("kaasd's log:\n%s", logs.b.String())
			logs.mu.Unlock()
		}
	})
	sys.Server = srv
	kaasdtest.EnableVDCs(t, sys.AsProvider(t))
	return &mirrorEnv{t: t, sys: sys, alice: sys.Login(t, "alice@acme", "alice-pass"), bob: sys.Login(t, "bob@acme", "bob-pass"),
		provider: sys.Login(t, "administrator@System", "kaas-admin")}
}

// cse makes a call to /api/cse in a session.
func (e *mirrorEnv) cse(token, method, path string, body any) (int, []byte) {
	e.t.Helper()
	code, b, _ := e.sys.Call(e.t, token, "", method, path, body)
	return code, b
}

// entities lists the cluster entities a session sees through VCD's cloudapi.
func (e *mirrorEnv) entities(token string) []vcdEntity {
	e.t.Helper()
	code, b, _ := e.sys.Call(e.t, token, "application/json;version=37.0", "GET", "/cloudapi/1.0.0/entities/types/cse/nativeCluster/2.1.0?page=1&pageSize=128", nil)
	if code != http.StatusOK {
		e.t.Fatalf("list entities: %d %s", code, b)
	}
	var page struct {
		Values []vcdEntity `json:"values"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Values
}

// task reads a VCD task at the href an answer gave, in a session.
func (e *mirrorEnv) task(token, href string) vcdTask {
	e.t.Helper()
	if !strings.HasPrefix(href, e.sys.URL+"/api/task/") {
		e.t.Fatalf("task href %q is not a VCD task", href)
	}
	code, b, _ := e.sys.Call(e.t, token, "application/*+xml;version=37.0", "GET", strings.TrimPrefix(href, e.sys.URL), nil)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", href, code, b)
	}
	var t vcdTask
	if err := xml.Unmarshal(b, &t); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// waitTask follows a task until it ends, as vcd task wait does.
func (e *mirrorEnv) waitTask(token, href string) vcdTask {
	e.t.Helper()
	var t vcdTask
	kaasdtest.Eventually(e.t, 60*time.Second, 50*time.Millisecond, func() error {
		if t = e.task(token, href); t.Status != "success" && t.Status != "error" && t.Status != "aborted" {
			return fmt.Errorf("task %s is %s", href, t.Status)
		}
		return nil
	})
	return t
}

// caughtUp waits until VCD shows every record kaas holds.
func (e *mirrorEnv) caughtUp() {
	e.t.Helper()
	kaasdtest.Eventually(e.t, 30*time.Second, 20*time.Millisecond, func() error {
		ok, err := e.sys.Server.Mirror().CaughtUp(e.t.Context())
		if err != nil {
			e.t.Fatal(err)
		}
		if !ok {
			return errors.New("the mirror has not caught up")
		}
		return nil
	})
}

// shows fails unless VCD's entity is what /api/cse answers for the cluster, as its owner
// reads both: the same id, and the same content.
func (e *mirrorEnv) shows(token string, ent vcdEntity) cse.DefEntity {
	e.t.Helper()
	code, b := e.cse(token, "GET", "/api/cse/3.0/cluster/"+ent.ID, nil)
	if code != http.StatusOK {
		e.t.Fatalf("GET cluster %s: %d %s", ent.ID, code, b)
	}
	var raw struct {
		ID     string         `json:"id"`
		Entity map[string]any `json:"entity"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		e.t.Fatal(err)
	}
	if raw.ID != ent.ID || !reflect.DeepEqual(raw.Entity, ent.Entity) {
		e.t.Fatalf("VCD's entity %s does not show what kaas does:\n vcd  %v\n kaas %v (id %s)", ent.ID, ent.Entity, raw.Entity, raw.ID)
	}
	return decode[cse.DefEntity](e.t, b)
}

// sharedWith is whom VCD says the cluster's vApp is shared with.
func (e *mirrorEnv) sharedWith(vappName string) []string {
	e.t.Helper()
	for _, a := range e.sys.Sim.Inventory().VApps {
		if a.Name == vappName {
			return a.SharedWith
		}
	}
	e.t.Fatalf("no vApp %s", vappName)
	return nil
}

// userID finds a user of the session's org by name, as vcd-cli's share does (a user query).
func (e *mirrorEnv) userID(token, name string) string {
	e.t.Helper()
	code, b, _ := e.sys.Call(e.t, token, "application/*+xml;version=37.0", "GET", "/api/query?type=user&format=records&filter=name=="+name, nil)
	var recs struct {
		Records []struct {
			Href string `xml:"href,attr"`
		} `xml:"UserRecord"`
	}
	if code != http.StatusOK || xml.Unmarshal(b, &recs) != nil || len(recs.Records) != 1 {
		e.t.Fatalf("user %s: %d %s", name, code, b)
	}
	h := recs.Records[0].Href
	return "urn:vcloud:user:" + h[strings.LastIndex(h, "/")+1:]
}

// kaasID is kaas's id of a cluster an answer shows: once the mirror linked it, the answer's
// id is its VCD entity's.
func kaasID(ent cse.DefEntity) string {
	if st := ent.Entity.Status; st != nil && st.Kaas != nil && st.Kaas.ClusterID != "" {
		return st.Kaas.ClusterID
	}
	id, _ := cse.ParseClusterID(ent.ID)
	return id
}

func taskHref(ent cse.DefEntity) string {
	if ent.Entity.Status == nil || ent.Entity.Status.TaskHref == nil {
		return ""
	}
	return *ent.Entity.Status.TaskHref
}

// TestMirrorShowsClusters: what tenants do through /api/cse shows in VCD as CSE's server
// showed it: an entity per cluster (owner, org, content, access controls) and a task per
// operation that vcd task wait follows to its end; an entity changed behind kaas's back is
// put back; a deleted cluster leaves none.
func TestMirrorShowsClusters(t *testing.T) {
	e := startMirrorEnv(t, func(c *kaasd.Config) { c.MirrorResync = time.Second })

	// An org VDC's enabling is an OVDC Update task, owned by the VDC.
	var vdcs []cse.Ovdc
	_, b := e.cse(e.provider, "GET", "/api/cse/3.0/ovdcs", nil)
	_ = json.Unmarshal(b, &vdcs)
	code, b := e.cse(e.provider, "PUT", "/api/cse/3.0/ovdc/"+vdcs[0].ID, cse.OvdcUpdate{K8sRuntime: []string{"native"}, OrgName: vdcs[0].OrgName, OvdcName: vdcs[0].Name})
	var ovdc struct {
		Href string `json:"task_href"`
	}
	if code != http.StatusAccepted || json.Unmarshal(b, &ovdc) != nil {
		t.Fatalf("enable: %d %s", code, b)
	}
	if task := e.waitTask(e.provider, ovdc.Href); task.Status != "success" || task.OperationName != "OVDC Update" || task.Owner.Name != vdcs[0].Name {
		t.Fatalf("org VDC task: %+v", task)
	}

	// alice creates: the answer's taskHref is a VCD task she follows to its end.
	code, b = e.cse(e.alice, "POST", "/api/cse/3.0/clusters", entity("web", good, 1, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, b)
	}
	created := decode[cse.DefEntity](t, b)
	task := e.waitTask(e.alice, taskHref(created))
	if task.Status != "success" || task.User.Name != "alice" || task.Owner.Name != "acme" || !strings.Contains(task.Operation, "'web'") || task.Progress != 100 {
		t.Fatalf("create task: %+v", task)
	}
	e.caughtUp()
	mine := e.entities(e.alice)
	if len(mine) != 1 {
		t.Fatalf("alice sees %d entities", len(mine))
	}
	ent := mine[0]
	clusterID, _ := cse.ParseClusterID(created.ID)
	if ent.ID == created.ID || ent.State != "RESOLVED" || ent.Owner.Name != "alice" || ent.Org.Name != "acme" || ent.Name != "web" ||
		ent.ExternalID == nil || !strings.HasPrefix(*ent.ExternalID, e.sys.URL+"/api/vApp/vapp-") || ent.EntityType != cse.EntityType {
		t.Fatalf("entity %+v", ent)
	}
	shown := e.shows(e.alice, ent)
	if shown.Entity.Status.UID != ent.ID || shown.Entity.Status.Kaas.ClusterID != clusterID || shown.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("status %+v", shown.Entity.Status)
	}
	// kaas's own id still finds it.
	if code, b = e.cse(e.alice, "GET", "/api/cse/3.0/cluster/"+created.ID, nil); code != http.StatusOK || decode[cse.DefEntity](t, b).ID != ent.ID {
		t.Fatalf("GET by kaas's id: %d %s", code, b)
	}

	// bob sees it in VCD once alice shares it with him, as kaas lets him see it.
	if n := len(e.entities(e.bob)); n != 0 {
		t.Fatalf("bob sees %d entities before the share", n)
	}
	bobID := e.userID(e.alice, "bob")
	if code, b = e.cse(e.alice, "PUT", "/api/cse/3.0/cluster/"+ent.ID+"/acl", map[string]any{"accessSetting": []map[string]string{
		{"memberId": bobID, "accessLevelId": "urn:vcloud:accessLevel:ReadOnly", "username": "bob"}}}); code != http.StatusNoContent {
		t.Fatalf("share: %d %s", code, b)
	}
	e.caughtUp()
	if theirs := e.entities(e.bob); len(theirs) != 1 || theirs[0].ID != ent.ID {
		t.Fatalf("bob sees %+v after the share", theirs)
	}
	// The vApp is shared as the entity is, as CSE shares it (ReadOnly stays ReadOnly).
	if got := e.sharedWith(created.Name); !slices.Equal(got, []string{"bob=ReadOnly"}) {
		t.Fatalf("the vApp is shared with %v", got)
	}

	// A resize through the entity's id: its own task, and the entity follows.
	up := created.Entity
	two := 2
	up.Spec.Topology.Workers.Count = &two
	up.Status = nil
	if code, b = e.cse(e.alice, "PUT", "/api/cse/3.0/cluster/"+ent.ID, up); code != http.StatusAccepted {
		t.Fatalf("resize: %d %s", code, b)
	}
	resized := decode[cse.DefEntity](t, b)
	if href := taskHref(resized); href == taskHref(created) || e.waitTask(e.alice, href).Status != "success" {
		t.Fatalf("resize task %s", href)
	}
	e.caughtUp()
	if shown = e.shows(e.alice, e.entities(e.alice)[0]); shown.Entity.Status.Phase != "UPDATE:SUCCEEDED" || len(shown.Entity.Status.Nodes.Workers) != 2 {
		t.Fatalf("after the resize: %+v", shown.Entity.Status)
	}

	// Changed behind kaas's back: put back by the resync.
	code, b, _ = e.sys.Call(t, e.provider, "application/json;version=37.0", "GET", "/cloudapi/1.0.0/entities/"+ent.ID, nil)
	if code != http.StatusOK {
		t.Fatalf("read entity: %d %s", code, b)
	}
	tampered := decode[vcdEntity](t, b)
	tampered.Entity["status"].(map[string]any)["phase"] = "DELETE:FAILED"
	tampered.Name = "not-web"
	if code, b, _ = e.sys.Call(t, e.provider, "application/json;version=37.0", "PUT", "/cloudapi/1.0.0/entities/"+ent.ID, tampered); code != http.StatusOK {
		t.Fatalf("tamper: %d %s", code, b)
	}
	kaasdtest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		back := e.entities(e.alice)[0]
		if phase := back.Entity["status"].(map[string]any)["phase"]; back.Name != "web" || phase != "UPDATE:SUCCEEDED" {
			return fmt.Errorf("the tampered entity is not put back: %s, %v", back.Name, phase)
		}
		e.shows(e.alice, back)
		return nil
	})

	// A create that fails: its task ends in error with kaas's reason.
	if code, b = e.cse(e.alice, "POST", "/api/cse/3.0/clusters", entity("broken", "ubuntu-22.04_k8s-1.30_broken", 1, true)); code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, b)
	}
	if task = e.waitTask(e.alice, taskHref(decode[cse.DefEntity](t, b))); task.Status != "error" || task.Error == nil || !strings.Contains(task.Error.Message, "kubeadm-init") {
		t.Fatalf("failed create's task: %+v %+v", task, task.Error)
	}

	// Deleted: its task ends well and no entity is left for it.
	if code, b = e.cse(e.alice, "DELETE", "/api/cse/3.0/cluster/"+ent.ID, nil); code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, b)
	}
	if task = e.waitTask(e.alice, taskHref(decode[cse.DefEntity](t, b))); task.Status != "success" || !strings.HasPrefix(task.Operation, "Deleting cluster 'web'") {
		t.Fatalf("delete task: %+v", task)
	}
	e.caughtUp()
	for _, x := range e.entities(e.provider) {
		if x.ID == ent.ID || x.Name == "web" {
			t.Fatalf("the deleted cluster's entity is left: %+v", x)
		}
	}
}

// TestMirrorRolledBackCreate: a create rolled back leaves no cluster, as CSE 3.1.4 leaves
// neither vApp nor entity (cse-rde.md §1.3): its VCD task ends in error with kaas's reason,
// the cluster is gone from /api/cse and from VCD's entities, and so the tenant's same apply
// (which finds the cluster by name among the entities) creates it again. Its history stays:
// the operation, the audit, and as-of reads of a moment when it existed.
func TestMirrorRolledBackCreate(t *testing.T) {
	e := startMirrorEnv(t)
	code, b := e.cse(e.alice, "POST", "/api/cse/3.0/clusters", entity("phoenix", "ubuntu-22.04_k8s-1.30_broken", 1, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, b)
	}
	failed := decode[cse.DefEntity](t, b)
	if task := e.waitTask(e.alice, taskHref(failed)); task.Status != "error" || task.Error == nil || !strings.Contains(task.Error.Message, "kubeadm-init") {
		t.Fatalf("the create's task: %+v %+v", task, task.Error)
	}
	opHref := failed.Entity.Status.Kaas.OperationHref
	code, b = e.cse(e.alice, "GET", opHref, nil)
	op := decode[cse.Operation](t, b)
	if code != http.StatusOK || op.Status != "FAILED" || op.Phase != "CREATE:FAILED" || op.Step != "OperationRolledBack" || op.Error == nil ||
		op.Error.Code != "BOOTSTRAP_FAILED" || !strings.Contains(op.Error.Message, "kubeadm-init") || op.Started == nil || op.Ended == nil {
		t.Fatalf("operation: %d %s", code, b)
	}

	// Gone: from /api/cse, from VCD's entities (the mirror deleted its entity), from VCD's vApps.
	e.caughtUp()
	for _, token := range []string{e.alice, e.provider} {
		if ents := e.entities(token); len(ents) != 0 {
			t.Fatalf("VCD still shows %+v", ents)
		}
		if code, b = e.cse(token, "GET", "/api/cse/3.0/clusters", nil); code != http.StatusOK || len(decode[[]cse.DefEntity](t, b)) != 0 {
			t.Fatalf("list: %d %s", code, b)
		}
	}
	for _, path := range []string{"/api/cse/3.0/cluster/" + failed.ID, op.ClusterURI} {
		if code, b = e.cse(e.alice, "GET", path, nil); code != http.StatusNotFound {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
	}
	if code, b = e.cse(e.alice, "DELETE", "/api/cse/3.0/cluster/"+failed.ID, nil); code != http.StatusNotFound {
		t.Fatalf("delete of a rolled-back cluster: %d %s", code, b)
	}
	if inv := e.sys.Sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("VCD still holds %+v", inv.VApps)
	}

	// Its history stays readable: as it was while it was being made, and in the audit.
	code, b = e.cse(e.alice, "GET", "/api/cse/3.0/cluster/"+failed.ID+"?asOf="+op.Started.Format(time.RFC3339Nano), nil)
	if code != http.StatusOK || decode[cse.DefEntity](t, b).Entity.Status.Phase != "CREATE:IN_PROGRESS" {
		t.Fatalf("as of its start: %d %s", code, b)
	}
	code, b = e.cse(e.provider, "GET", "/api/cse/3.0/audit?type=OperationRolledBack", nil)
	if audit := decode[cse.Page[cse.Event]](t, b); code != http.StatusOK || audit.ResultTotal != 1 || audit.Values[0].OperationID != op.ID {
		t.Fatalf("audit: %d %s", code, b)
	}

	// The same apply with a good template: its name is free, a new cluster is made.
	code, b = e.cse(e.alice, "POST", "/api/cse/3.0/clusters", entity("phoenix", good, 1, true))
	if code != http.StatusAccepted {
		t.Fatalf("create again: %d %s", code, b)
	}
	again := decode[cse.DefEntity](t, b)
	if kaasID(again) == kaasID(failed) {
		t.Fatalf("the new create reuses cluster %s", kaasID(failed))
	}
	if task := e.waitTask(e.alice, taskHref(again)); task.Status != "success" {
		t.Fatalf("the second create's task: %+v %+v", task, task.Error)
	}
	e.caughtUp()
	ents := e.entities(e.alice)
	if len(ents) != 1 || ents[0].Name != "phoenix" || e.shows(e.alice, ents[0]).Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("entities after the second create: %+v", ents)
	}
}
