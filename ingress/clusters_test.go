package ingress_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares a response body, indented and with volatile values normalized, with
// testdata/<name>.golden.json; -update rewrites it.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	got := timestamps.ReplaceAll(pretty.Bytes(), []byte(`"<time>"`))
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ingress -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed (run with -update if intended):\n got: %s\nwant: %s", path, got, want)
	}
}

var timestamps = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`)

func TestCreate(t *testing.T) {
	h := newHarness(t)
	const req = "vcd-req-create-1"
	rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 2), reqID(req))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	clusterID := derivedID("cluster", orgA, alice, http.MethodPost, base+"/clusters", req)
	cmdID := derivedID("command", orgA, alice, http.MethodPost, base+"/clusters", req)
	if loc, want := rec.Header().Get("Location"), "/api/cse/3.0/operations/"+cmdID; loc != want {
		t.Errorf("Location %q, want %q", loc, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json;version=36.0" {
		t.Errorf("Content-Type %q", ct)
	}
	golden(t, "create_accepted", rec.Body.Bytes())

	ent := decode[cse.DefEntity](t, rec)
	st := ent.Entity.Status
	switch {
	case ent.ID != cse.EntityID(clusterID), ent.EntityType != cse.EntityType, ent.Name != "c1":
		t.Errorf("wrapper: id %q type %q name %q", ent.ID, ent.EntityType, ent.Name)
	case ent.State != cse.StatePreCreated, st == nil || st.Phase != string(events.PhaseCreateInProgress):
		t.Errorf("state %q phase %+v", ent.State, st)
	case ent.Owner.ID != alice, ent.Org.ID != orgA:
		t.Errorf("owner %+v org %+v", ent.Owner, ent.Org)
	case st.TaskHref == nil || *st.TaskHref != ingress.OperationHref(cmdID), st.Kaas == nil || st.Kaas.OperationID != cmdID:
		t.Errorf("task %v kaas %+v", st.TaskHref, st.Kaas)
	}

	cmds := h.cmds.commands()
	if len(cmds) != 1 {
		t.Fatalf("%d commands appended", len(cmds))
	}
	c := cmds[0]
	cc, ok := c.Payload.(events.CreateCluster)
	if !ok || c.ID != cmdID || c.ClusterID != clusterID || c.OrgID != orgA || c.Actor != alice || c.CorrelationID != req {
		t.Fatalf("command %+v", c)
	}
	want := events.ClusterSpec{Name: "c1", OrgName: "acme", VDC: "vdc1", Site: "vcd.example.com", Network: "net1", SSHKey: tenantKey,
		Template: events.TemplateRef{Name: "ubuntu-k8s-1.29", Revision: 1}, ControlPlane: events.NodePool{Count: 1},
		Workers: events.NodePool{Count: 2, SizingClass: "Medium"}, RollbackOnFailure: true}
	if got, _ := json.Marshal(cc.Spec); !bytes.Equal(got, must(json.Marshal(want))) {
		t.Errorf("spec %s, want %s", got, must(json.Marshal(want)))
	}

	// Read your writes: the cluster reads as the 202 said, before any event.
	get := h.do(http.MethodGet, clusterPath(clusterID), "")
	if get.Code != 200 || !sameJSON(t, get.Body.Bytes(), rec.Body.Bytes()) {
		t.Errorf("GET after create: %d\n got %s\nwant %s", get.Code, get.Body, rec.Body)
	}
	// The Location is served, and tells the command is waiting.
	op := h.do(http.MethodGet, rec.Header().Get("Location"), "")
	if op.Code != 200 {
		t.Fatalf("GET %s: %d %s", rec.Header().Get("Location"), op.Code, op.Body)
	}
	golden(t, "operation_pending", op.Body.Bytes())
	o := decode[cse.Operation](t, op)
	if o.Status != "PENDING" || o.Phase != string(events.PhaseCreateInProgress) || o.Operation != events.TypeCreateCluster ||
		o.ID != cmdID || o.ClusterID != cse.EntityID(clusterID) || o.RequestID != req || o.Actor != alice ||
		o.Accepted == nil || o.Started != nil || o.Ended != nil || o.Error != nil || o.ClusterURI != clusterPath(clusterID) {
		t.Errorf("operation %+v", o)
	}
	// The list shows it.
	list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", ""))
	if len(list) != 1 || list[0].ID != cse.EntityID(clusterID) {
		t.Errorf("list %+v", list)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCreateRedelivered(t *testing.T) {
	h := newHarness(t)
	body := createBody("c1", "vdc1", 2)
	first := h.do(http.MethodPost, base+"/clusters", body, reqID("r1"))
	again := h.do(http.MethodPost, base+"/clusters", body, reqID("r1"))
	if first.Code != 202 || again.Code != 202 {
		t.Fatalf("statuses %d %d: %s", first.Code, again.Code, again.Body)
	}
	if first.Body.String() != again.Body.String() || first.Header().Get("Location") != again.Header().Get("Location") {
		t.Errorf("redelivery answered differently:\n%s\n%s", first.Body, again.Body)
	}
	// Even once the create ran, a late redelivery gets the first answer and appends nothing.
	h.exec.runAll()
	late := h.do(http.MethodPost, base+"/clusters", body, reqID("r1"))
	if late.Code != 202 || late.Body.String() != first.Body.String() {
		t.Errorf("late redelivery: %d %s", late.Code, late.Body)
	}
	if n := len(h.cmds.commands()); n != 1 {
		t.Errorf("%d commands appended, want 1", n)
	}

	t.Run("request id from the header", func(t *testing.T) {
		h := newHarness(t)
		a := h.do(http.MethodPost, base+"/clusters", body, reqID(""), header("X-Vmware-Vcloud-Request-Id", "hdr-1"))
		b := h.do(http.MethodPost, base+"/clusters", body, reqID(""), header("X-Vmware-Vcloud-Request-Id", "hdr-1"))
		if a.Code != 202 || b.Code != 202 || a.Body.String() != b.Body.String() || len(h.cmds.commands()) != 1 {
			t.Errorf("%d %d, %d commands", a.Code, b.Code, len(h.cmds.commands()))
		}
	})
	t.Run("no request id at all", func(t *testing.T) {
		h := newHarness(t)
		a := h.do(http.MethodPost, base+"/clusters", body, reqID(""))
		b := h.do(http.MethodPost, base+"/clusters", body, reqID(""))
		if a.Code != 202 {
			t.Fatalf("%d %s", a.Code, a.Body)
		}
		// Nothing identifies the second as a redelivery: it is a second create of the name.
		wantError(t, b, 400, cse.MinorClusterNameInvalid, "Cluster 'c1' already exists.")
	})
}

func TestCreateUnrecorded(t *testing.T) {
	h := newHarness(t)
	h.cmds.setErr(errors.New("nats: timeout"))
	wantError(t, h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1), reqID("r1")),
		http.StatusServiceUnavailable, cse.MinorDefault, "nothing was changed")
	h.cmds.setErr(nil)
	if rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1), reqID("r1")); rec.Code != 202 {
		t.Fatalf("retry: %d %s", rec.Code, rec.Body)
	}
	if n := len(h.cmds.commands()); n != 1 {
		t.Errorf("%d commands", n)
	}
}

func TestCreateDuplicateName(t *testing.T) {
	h := newHarness(t)
	h.create("c1", reqID("r1"))
	wantError(t, h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 3), reqID("r2")),
		400, cse.MinorClusterNameInvalid, "Cluster 'c1' already exists.")
	// VCD compares vApp names without case.
	wantError(t, h.do(http.MethodPost, base+"/clusters", createBody("C1", "vdc1", 3), reqID("r3")),
		400, cse.MinorClusterNameInvalid, "Cluster 'C1' already exists.")
	// Names are unique per org VDC.
	if rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc2", 1), reqID("r4")); rec.Code != 202 {
		t.Errorf("same name in another VDC: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do(http.MethodPost, base+"/clusters", createBodyIn("beta", "c1", "vdc1", 1), reqID("r5"), as(orgB, bob)); rec.Code != 202 {
		t.Errorf("same name in another org: %d %s", rec.Code, rec.Body)
	}
	if n := len(h.cmds.commands()); n != 3 {
		t.Errorf("%d commands, want 3", n)
	}

	// Still taken once the cluster runs; free again once it is deleted.
	h.exec.runAll()
	wantError(t, h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1), reqID("r6")), 400, cse.MinorClusterNameInvalid, "already exists")
	id := derivedID("cluster", orgA, alice, http.MethodPost, base+"/clusters", "r1")
	if rec := h.do(http.MethodDelete, clusterPath(id), ""); rec.Code != 202 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	h.exec.runAll()
	if rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1), reqID("r7")); rec.Code != 202 {
		t.Errorf("name of a deleted cluster: %d %s", rec.Code, rec.Body)
	}
}

func TestCreateConcurrentSameName(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			codes[i] = h.do(http.MethodPost, base+"/clusters", createBody("race", "vdc1", 1)).Code
		})
	}
	wg.Wait()
	accepted := 0
	for _, c := range codes {
		if c == 202 {
			accepted++
		} else if c != 400 {
			t.Errorf("status %d", c)
		}
	}
	if accepted != 1 || len(h.cmds.commands()) != 1 {
		t.Errorf("%d accepted, %d commands; want 1 and 1 (%v)", accepted, len(h.cmds.commands()), codes)
	}
}

func TestCreateInvalid(t *testing.T) {
	minimal := func(edit func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(createBody("c1", "vdc1", 2)), &m); err != nil {
			panic(err)
		}
		edit(m)
		return string(must(json.Marshal(m)))
	}
	meta := func(m map[string]any) map[string]any { return m["metadata"].(map[string]any) }
	topo := func(m map[string]any) map[string]any { return m["spec"].(map[string]any)["topology"].(map[string]any) }
	tests := []struct {
		name  string
		body  string
		minor int
		text  string
	}{
		{"no body", "", cse.MinorDefault, "no body"},
		{"not JSON", "name=c1", cse.MinorDefault, "not valid JSON"},
		{"array", "[]", cse.MinorDefault, "JSON object"},
		{"unknown field", strings.Replace(createBody("c1", "vdc1", 2), `"workers"`, `"wrokers"`, 1), cse.MinorDefault, "spec.topology.wrokers: unknown field"},
		{"mistyped field", strings.Replace(createBody("c1", "vdc1", 2), `"templateRevision":1`, `"templateRevision":"1"`, 1), cse.MinorDefault,
			"spec.distribution.templateRevision: expected an integer, got string"},
		{"v1.0 payload without org", `{"metadata":{"cluster_name":"c1"}}`, cse.MinorOrgNameMissing, "metadata.orgName: missing"},
		{"v1.0 payload, unknown field", `{"api_version":"","metadata":{"cluster_name":"c1","org":"acme"}}`, cse.MinorDefault, "metadata.org: unknown field"},
		{"v1.0 payload, other version", `{"api_version":"cse.vmware.com/v9","metadata":{"cluster_name":"c1"}}`, cse.MinorDefault, "api_version: Unsupported payload version"},
		{"no apiVersion", minimal(func(m map[string]any) { delete(m, "apiVersion") }), cse.MinorDefault, "apiVersion"},
		{"no name", minimal(func(m map[string]any) { delete(meta(m), "name") }), cse.MinorClusterNameMissing, "metadata.name"},
		{"no org", minimal(func(m map[string]any) { delete(meta(m), "orgName") }), cse.MinorOrgNameMissing, "metadata.orgName"},
		{"no vdc", minimal(func(m map[string]any) { delete(meta(m), "virtualDataCenterName") }), cse.MinorOvdcNameMissing, "metadata.virtualDataCenterName"},
		{"bad name", minimal(func(m map[string]any) { meta(m)["name"] = "1-c" }), cse.MinorClusterNameInvalid, "metadata.name: Invalid cluster name '1-c'"},
		{"long name", minimal(func(m map[string]any) { meta(m)["name"] = strings.Repeat("c", 26) }), cse.MinorClusterNameInvalid, "metadata.name"},
		{"too many workers", minimal(func(m map[string]any) { topo(m)["workers"] = map[string]any{"count": 101} }), cse.MinorNumWorkersInvalid, "topology.workers.count"},
		{"negative workers", minimal(func(m map[string]any) { topo(m)["workers"] = map[string]any{"count": -1} }), cse.MinorNumWorkersInvalid, "spec.topology.workers.count"},
		{"three control planes", minimal(func(m map[string]any) { topo(m)["controlPlane"] = map[string]any{"count": 3} }), cse.MinorDefault, "topology.controlPlane.count"},
		{"sizing and cpu", minimal(func(m map[string]any) { topo(m)["workers"] = map[string]any{"sizingClass": "S", "cpu": 2} }), cse.MinorDefault, "spec.topology.workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			wantError(t, h.do(http.MethodPost, base+"/clusters", tt.body), 400, tt.minor, tt.text)
			if n := len(h.cmds.commands()); n != 0 {
				t.Errorf("%d commands appended", n)
			}
		})
	}
}

// entityWith reads a cluster as a client would and edits its entity for a PUT.
func (h *harness) entityWith(id string, edit func(e *cse.NativeEntity)) string {
	h.t.Helper()
	rec := h.do(http.MethodGet, clusterPath(id), "")
	if rec.Code != 200 {
		h.t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	ent := decode[cse.DefEntity](h.t, rec)
	edit(&ent.Entity)
	return string(must(json.Marshal(ent.Entity)))
}

func TestUpdateScale(t *testing.T) {
	h := newHarness(t)
	id, _ := h.running("c1")
	body := h.entityWith(id, func(e *cse.NativeEntity) { n := 3; e.Spec.Topology.Workers.Count = &n })
	rec := h.do(http.MethodPut, clusterPath(id), body, reqID("scale-1"))
	if rec.Code != 202 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	cmdID := derivedID("command", orgA, alice, http.MethodPut, clusterPath(id), "scale-1")
	if loc := rec.Header().Get("Location"); loc != ingress.OperationHref(cmdID) {
		t.Errorf("Location %q", loc)
	}
	ent := decode[cse.DefEntity](t, rec)
	if ent.Entity.Status.Phase != string(events.PhaseUpdateInProgress) || ent.Entity.Status.Kaas.OperationID != cmdID || ent.State != cse.StateResolved {
		t.Errorf("phase %s kaas %+v state %s", ent.Entity.Status.Phase, ent.Entity.Status.Kaas, ent.State)
	}
	cmds := h.cmds.commands()
	if last := cmds[len(cmds)-1]; last.Payload != (events.ScaleWorkers{Workers: 3}) || last.ClusterID != id || last.ID != cmdID {
		t.Errorf("command %+v", last)
	}
	o := decode[cse.Operation](t, h.do(http.MethodGet, rec.Header().Get("Location"), ""))
	if o.Status != "PENDING" || o.Phase != string(events.PhaseUpdateInProgress) || o.Target != "3" || o.Operation != events.TypeScaleWorkers {
		t.Errorf("operation %+v", o)
	}

	// A redelivery of the PUT is not refused as busy with its own command.
	again := h.do(http.MethodPut, clusterPath(id), body, reqID("scale-1"))
	if again.Code != 202 || !sameJSON(t, again.Body.Bytes(), rec.Body.Bytes()) || len(h.cmds.commands()) != len(cmds) {
		t.Errorf("redelivery: %d %s (%d commands)", again.Code, again.Body, len(h.cmds.commands()))
	}

	h.exec.runAll()
	ent = decode[cse.DefEntity](t, h.do(http.MethodGet, clusterPath(id), ""))
	if ent.Entity.Status.Phase != string(events.PhaseUpdateSucceeded) || len(ent.Entity.Status.Nodes.Workers) != 3 || *ent.Entity.Spec.Topology.Workers.Count != 3 {
		t.Errorf("after the scale: phase %s workers %d", ent.Entity.Status.Phase, len(ent.Entity.Status.Nodes.Workers))
	}
	if o := decode[cse.Operation](t, h.do(http.MethodGet, ingress.OperationHref(cmdID), "")); o.Status != "SUCCEEDED" || o.Percent != 100 || o.Ended == nil {
		t.Errorf("operation %+v", o)
	}
}

func TestUpdateMinimalBodyAndUpgrade(t *testing.T) {
	h := newHarness(t)
	id, _ := h.running("c1")
	rec := h.do(http.MethodPut, clusterPath(id), `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":0}}}}`)
	if rec.Code != 202 || h.cmds.commands()[1].Payload != (events.ScaleWorkers{Workers: 0}) {
		t.Fatalf("scale to 0: %d %s", rec.Code, rec.Body)
	}
	h.exec.runAll()
	rec = h.do(http.MethodPut, clusterPath(id), `{"apiVersion":"cse.vmware.com/v2.1","spec":{"distribution":{"templateName":"ubuntu-k8s-1.30","templateRevision":1}}}`)
	if rec.Code != 202 {
		t.Fatalf("upgrade: %d %s", rec.Code, rec.Body)
	}
	if ent := decode[cse.DefEntity](t, rec); ent.Entity.Status.Phase != string(events.PhaseUpgradeInProgress) {
		t.Errorf("phase %s", ent.Entity.Status.Phase)
	}
	if p := h.cmds.commands()[2].Payload; p != (events.UpgradeTemplate{Template: events.TemplateRef{Name: "ubuntu-k8s-1.30", Revision: 1}}) {
		t.Errorf("command %+v", p)
	}
}

func TestUpdateRefused(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	tests := []struct {
		name   string
		edit   func(e *cse.NativeEntity)
		body   string // instead of an edited GET
		status int
		minor  int
		text   string
	}{
		{name: "no change", edit: func(*cse.NativeEntity) {}, status: 400, minor: cse.MinorDefault, text: "nothing to change"},
		{name: "network", edit: func(e *cse.NativeEntity) { e.Spec.Settings.OvdcNetwork = str("net2") }, status: 400, minor: cse.MinorDefault,
			text: "immutable field(s) [settings.ovdcNetwork found : net2 expected : net1]"},
		{name: "name", edit: func(e *cse.NativeEntity) { e.Metadata.Name = "c2" }, status: 400, minor: cse.MinorDefault, text: "metadata.name found : c2 expected : c1"},
		{name: "ssh key", edit: func(e *cse.NativeEntity) { e.Spec.Settings.SSHKey = str("ssh-rsa B") }, status: 400, minor: cse.MinorDefault, text: "settings.sshKey"},
		{name: "worker sizing", edit: func(e *cse.NativeEntity) { e.Spec.Topology.Workers.SizingClass = str("Large") }, status: 400, minor: cse.MinorDefault,
			text: "topology.workers.sizingClass"},
		{name: "two immutable fields", edit: func(e *cse.NativeEntity) {
			e.Spec.Settings.OvdcNetwork, e.Metadata.VirtualDataCenterName = str("net2"), "vdc9"
		}, status: 400, minor: cse.MinorDefault, text: "metadata.virtualDataCenterName found : vdc9 expected : vdc1"},
		{name: "resize and upgrade", edit: func(e *cse.NativeEntity) {
			e.Spec.Topology.Workers.Count, e.Spec.Distribution.TemplateName = num(4), str("ubuntu-k8s-1.30")
		}, status: 400, minor: cse.MinorDefault, text: "Cannot resize and upgrade"},
		{name: "nfs up", edit: func(e *cse.NativeEntity) { e.Spec.Topology.NFS.Count = num(1) }, status: 400, minor: cse.MinorDefault, text: "not supported"},
		{name: "expose", edit: func(e *cse.NativeEntity) { t := true; e.Spec.Settings.Network.Expose = &t }, status: 400, minor: cse.MinorDefault, text: "expose"},
		{name: "negative workers", edit: func(e *cse.NativeEntity) { e.Spec.Topology.Workers.Count = num(-1) }, status: 400, minor: cse.MinorNumWorkersInvalid,
			text: "spec.topology.workers.count"},
		{name: "too many workers", edit: func(e *cse.NativeEntity) { e.Spec.Topology.Workers.Count = num(101) }, status: 400, minor: cse.MinorNumWorkersInvalid,
			text: "worker count must be between 0 and 100"},
		{name: "unknown field", body: `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"wrokers":{"count":3}}}}`, status: 400, minor: cse.MinorDefault,
			text: "spec.topology.wrokers: unknown field"},
		{name: "no apiVersion", body: `{"spec":{"topology":{"workers":{"count":3}}}}`, status: 400, minor: cse.MinorDefault, text: "apiVersion"},
		{name: "no body", body: " ", status: 400, minor: cse.MinorDefault, text: "no body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id, _ := h.running("c1")
			body := tt.body
			if tt.edit != nil {
				body = h.entityWith(id, tt.edit)
			}
			wantError(t, h.do(http.MethodPut, clusterPath(id), body), tt.status, tt.minor, tt.text)
			if n := len(h.cmds.commands()); n != 1 {
				t.Errorf("%d commands appended by a refused PUT", n-1)
			}
		})
	}
}

func TestUpdateFailedCreate(t *testing.T) {
	h := newHarness(t)
	id, cmd := h.create("c1")
	h.exec.start(cmd)
	c := h.exec.command(cmd)
	h.exec.record(c, events.OperationFailed{Failure: events.Failure{Code: events.CodeTemplateNotFound, Message: "no template"}})
	wantError(t, h.do(http.MethodPut, clusterPath(id), `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":3}}}}`),
		400, cse.MinorDefault, "CREATE:FAILED and cannot be scaled; delete it")
	if rec := h.do(http.MethodDelete, clusterPath(id), ""); rec.Code != 202 {
		t.Errorf("delete of a failed cluster: %d %s", rec.Code, rec.Body)
	}
}

func TestBusy(t *testing.T) {
	const scale4 = `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":4}}}}`
	setups := []struct {
		name  string
		setup func(h *harness) string // returns the cluster id
		phase events.Phase
	}{
		{"create pending", func(h *harness) string { id, _ := h.create("c1"); return id }, events.PhaseCreateInProgress},
		{"create running", func(h *harness) string { id, cmd := h.create("c1"); h.exec.start(cmd); return id }, events.PhaseCreateInProgress},
		{"scale pending", func(h *harness) string {
			id, _ := h.running("c1")
			if rec := h.do(http.MethodPut, clusterPath(id), `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":3}}}}`); rec.Code != 202 {
				h.t.Fatalf("scale: %d %s", rec.Code, rec.Body)
			}
			return id
		}, events.PhaseUpdateInProgress},
		{"scale running", func(h *harness) string {
			id, _ := h.running("c1")
			h.do(http.MethodPut, clusterPath(id), `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":3}}}}`)
			cmds := h.cmds.commands()
			h.exec.start(cmds[len(cmds)-1].ID)
			return id
		}, events.PhaseUpdateInProgress},
		{"delete pending", func(h *harness) string {
			id, _ := h.running("c1")
			h.do(http.MethodDelete, clusterPath(id), "")
			return id
		}, events.PhaseDeleteInProgress},
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			h := newHarness(t)
			id := s.setup(h)
			n := len(h.cmds.commands())
			wantError(t, h.do(http.MethodPut, clusterPath(id), scale4), 400, cse.MinorDefault,
				"is not in a valid state to be updated: it is "+string(s.phase))
			wantError(t, h.do(http.MethodDelete, clusterPath(id), ""), 400, cse.MinorDefault,
				"is not in a valid state for this operation: it is "+string(s.phase))
			if got := len(h.cmds.commands()); got != n {
				t.Fatalf("%d commands appended by refused requests", got-n)
			}
			// A forced delete is the way out of anything.
			rec := h.do(http.MethodPost, clusterPath(id)+"/action/force-delete", "", reqID("force-1"))
			if rec.Code != 202 {
				t.Fatalf("force delete: %d %s", rec.Code, rec.Body)
			}
			if loc := rec.Header().Get("Location"); loc != ingress.OperationHref(derivedID("command", orgA, alice, http.MethodPost, clusterPath(id)+"/action/force-delete", "force-1")) {
				t.Errorf("Location %q", loc)
			}
			cmds := h.cmds.commands()
			if len(cmds) != n+1 || cmds[n].Payload != (events.ForceDeleteCluster{}) {
				t.Fatalf("commands %+v", cmds[n:])
			}
			// Everything runs out: the cluster is gone.
			h.exec.runAll()
			wantError(t, h.do(http.MethodGet, clusterPath(id), ""), 404, cse.MinorDefault, "not found")
		})
	}
}

func TestDelete(t *testing.T) {
	h := newHarness(t)
	id, _ := h.running("c1")
	rec := h.do(http.MethodDelete, clusterPath(id), "", reqID("del-1"))
	if rec.Code != 202 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	ent := decode[cse.DefEntity](t, rec)
	if ent.Entity.Status.Phase != string(events.PhaseDeleteInProgress) {
		t.Errorf("phase %s", ent.Entity.Status.Phase)
	}
	if p := h.cmds.commands()[1].Payload; p != (events.DeleteCluster{}) {
		t.Errorf("command %+v", p)
	}
	h.exec.runAll()
	wantError(t, h.do(http.MethodGet, clusterPath(id), ""), 404, cse.MinorDefault, "not found")
	if list := h.do(http.MethodGet, base+"/clusters", ""); strings.TrimSpace(list.Body.String()) != "[]" {
		t.Errorf("list after delete: %s", list.Body)
	}
	wantError(t, h.do(http.MethodDelete, clusterPath(id), ""), 404, cse.MinorDefault, "not found")
	o := decode[cse.Operation](t, h.do(http.MethodGet, ingress.OperationHref(derivedID("command", orgA, alice, http.MethodDelete, clusterPath(id), "del-1")), ""))
	if o.Status != "SUCCEEDED" || o.Phase != string(events.PhaseDeleteSucceeded) {
		t.Errorf("operation %+v", o)
	}
}

// TestOtherOrg: a cluster of another org is not found, exactly as a missing one is.
func TestOtherOrg(t *testing.T) {
	h := newHarness(t)
	id, cmd := h.running("c1")
	missing := "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	normalize := func(s, id string) string { return strings.ReplaceAll(s, id, "<id>") }
	for _, r := range []struct{ method, suffix, body string }{
		{http.MethodGet, "", ""},
		{http.MethodPut, "", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":3}}}}`},
		{http.MethodDelete, "", ""},
		{http.MethodPost, "/action/force-delete", ""},
		{http.MethodGet, "/acl", ""},
		{http.MethodPut, "/acl", `{"accessSetting":[]}`},
		{http.MethodGet, "/config", ""},
		{http.MethodGet, "/upgrade-plan", ""},
		{http.MethodGet, "/events", ""},
		{http.MethodDelete, "/nfs/nfsd-1", ""},
		{http.MethodPost, "/action/upgrade", `{"template_name":"ubuntu-k8s-1.29","template_revision":1}`},
	} {
		t.Run(r.method+r.suffix, func(t *testing.T) {
			other := h.do(r.method, clusterPath(id)+r.suffix, r.body, as(orgB, bob))
			none := h.do(r.method, clusterPath(missing)+r.suffix, r.body, as(orgB, bob))
			wantError(t, other, 404, cse.MinorDefault, "not found")
			if normalize(other.Body.String(), id) != normalize(none.Body.String(), missing) || other.Code != none.Code {
				t.Errorf("another org's cluster and a missing one answer differently:\n%s\n%s", other.Body, none.Body)
			}
		})
	}
	if n := len(h.cmds.commands()); n != 1 {
		t.Errorf("%d commands appended for another org", n-1)
	}
	op := h.do(http.MethodGet, ingress.OperationHref(cmd), "", as(orgB, bob))
	noOp := h.do(http.MethodGet, ingress.OperationHref(missing), "", as(orgB, bob))
	wantError(t, op, 404, cse.MinorDefault, "not found")
	if normalize(op.Body.String(), cmd) != normalize(noOp.Body.String(), missing) {
		t.Errorf("another org's operation and a missing one answer differently:\n%s\n%s", op.Body, noOp.Body)
	}
	if list := h.do(http.MethodGet, base+"/clusters", "", as(orgB, bob)); strings.TrimSpace(list.Body.String()) != "[]" {
		t.Errorf("orgB's list: %s", list.Body)
	}
	// A pending create of another org is just as invisible.
	pid, _ := h.create("c2")
	wantError(t, h.do(http.MethodGet, clusterPath(pid), "", as(orgB, bob)), 404, cse.MinorDefault, "not found")

	// A cluster does not move to another org: a change naming one is refused.
	n := len(h.cmds.commands())
	body := h.entityWith(id, func(e *cse.NativeEntity) { e.Metadata.OrgName = "beta" })
	wantError(t, h.do(http.MethodPut, clusterPath(id), body), 400, cse.MinorDefault, "Change detected in immutable field(s) [metadata.orgName")
	if got := len(h.cmds.commands()); got != n {
		t.Errorf("%d commands appended by a change naming another org", got-n)
	}
}

func TestList(t *testing.T) {
	h := newHarness(t)
	if rec := h.do(http.MethodGet, base+"/clusters", ""); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("empty list: %d %s", rec.Code, rec.Body)
	}
	h.running("b")
	h.create("c")
	h.create("a")
	h.create("z", as(orgB, bob))
	list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", ""))
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("names %v, want a,b,c", names)
	}
	if list[1].Entity.Status.Phase != string(events.PhaseCreateSucceeded) || list[0].Entity.Status.Phase != string(events.PhaseCreateInProgress) {
		t.Errorf("phases %s %s", list[0].Entity.Status.Phase, list[1].Entity.Status.Phase)
	}
}

func TestListPaging(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		h.create(n)
	}
	type page = cse.Page[cse.DefEntity]
	tests := []struct {
		path                   string
		total, count, pg, size int
		values                 string // names
		next, prev             string // "" for absent
	}{
		{base + "/clusters?page=1&pageSize=2", 5, 3, 1, 2, "a,b", "https://example.com/api/cse/3.0/clusters?page=2&pageSize=2", ""},
		{base + "/clusters?page=2&pageSize=2", 5, 3, 2, 2, "c,d",
			"https://example.com/api/cse/3.0/clusters?page=3&pageSize=2", "https://example.com/api/cse/3.0/clusters?page=1&pageSize=2"},
		{base + "/clusters?page=3&pageSize=2", 5, 3, 3, 2, "e", "", "https://example.com/api/cse/3.0/clusters?page=2&pageSize=2"},
		{base + "/clusters?page=4&pageSize=2", 5, 3, 4, 2, "", "", ""},
		{base + "/clusters?pageSize=5", 5, 1, 1, 5, "a,b,c,d,e", "", ""},
		{base + "/clusters?page=1", 5, 1, 1, 25, "a,b,c,d,e", "", ""},
		{base + "/nativeclusters", 5, 1, 1, 25, "a,b,c,d,e", "", ""},
		{base + "/nativeclusters?page=2&pageSize=3&ovdc_name=vdc1", 5, 2, 2, 3, "d,e", "",
			"https://example.com/api/cse/3.0/nativeclusters?ovdc_name=vdc1&page=1&pageSize=3"},
		// A page number so large that page*pageSize overflows is still past the end: an
		// empty page, not a 500 or a link to a further page (see the report).
		{base + "/clusters?page=9223372036854775807&pageSize=2", 5, 3, 9223372036854775807, 2, "", "", ""},
		{base + "/clusters?page=4611686018427387904&pageSize=2", 5, 3, 4611686018427387904, 2, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := h.do(http.MethodGet, tt.path, "")
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			p := decode[page](t, rec)
			var names []string
			for _, e := range p.Values {
				names = append(names, e.Name)
			}
			if p.ResultTotal != tt.total || p.PageCount != tt.count || p.Page != tt.pg || p.PageSize != tt.size || strings.Join(names, ",") != tt.values {
				t.Errorf("got total %d pages %d page %d size %d values %v", p.ResultTotal, p.PageCount, p.Page, p.PageSize, names)
			}
			if p.NextPageURI != tt.next || p.PreviousPageURI != tt.prev {
				t.Errorf("links:\n next %q want %q\n prev %q want %q", p.NextPageURI, tt.next, p.PreviousPageURI, tt.prev)
			}
			if p.Values == nil || !strings.Contains(rec.Body.String(), `"values":[`) {
				t.Errorf("values must be a list: %s", rec.Body)
			}
		})
	}
	for _, q := range []string{"page=0", "page=-1", "page=x", "page=1.5", "pageSize=0", "pageSize=129", "pageSize=abc", "page=1&pageSize=-5"} {
		t.Run("bad "+q, func(t *testing.T) {
			for _, p := range []string{"/clusters?", "/nativeclusters?"} {
				wantError(t, h.do(http.MethodGet, base+p+q, ""), 400, cse.MinorDefault, "must be a whole number")
			}
		})
	}
}

func TestGetOperation(t *testing.T) {
	h := newHarness(t)
	_, cmd := h.create("c1")
	get := func() cse.Operation {
		return decode[cse.Operation](t, h.do(http.MethodGet, ingress.OperationHref(cmd), ""))
	}
	if o := get(); o.Status != "PENDING" || o.Percent != 0 || o.Started != nil {
		t.Errorf("pending: %+v", o)
	}
	h.exec.start(cmd)
	if o := get(); o.Status != "RUNNING" || o.Phase != string(events.PhaseCreateInProgress) || o.Started == nil || o.Ended != nil ||
		o.Step != events.TypeClusterCreationStarted {
		t.Errorf("running: %+v", o)
	}
	h.exec.runAll()
	o := get()
	if o.Status != "SUCCEEDED" || o.Phase != string(events.PhaseCreateSucceeded) || o.Percent != 100 || o.Ended == nil || o.Error != nil {
		t.Errorf("succeeded: %+v", o)
	}
	golden(t, "operation_succeeded", h.do(http.MethodGet, ingress.OperationHref(cmd), "").Body.Bytes())
}

// TestReadYourWrites: with views that see commands only a while after they are durable,
// the API still answers each tenant with its own changes.
func TestReadYourWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarnessLag(t, 500*time.Millisecond)
		id, _ := h.create("c1", reqID("r1"))
		if rec := h.do(http.MethodGet, clusterPath(id), ""); rec.Code != 200 {
			t.Errorf("GET right after the create: %d %s", rec.Code, rec.Body)
		}
		if list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", "")); len(list) != 1 {
			t.Errorf("list right after the create: %d clusters", len(list))
		}
		// A second create of the name waits for the first to show, and is refused.
		h.do(http.MethodPost, base+"/clusters", createBody("c2", "vdc1", 1), reqID("r2"))
		wantError(t, h.do(http.MethodPost, base+"/clusters", createBody("c2", "vdc1", 1), reqID("r3")), 400, cse.MinorClusterNameInvalid, "already exists")
		// A redelivery finds its command and appends nothing.
		if rec := h.do(http.MethodPost, base+"/clusters", createBody("c2", "vdc1", 1), reqID("r2")); rec.Code != 202 {
			t.Errorf("redelivery: %d %s", rec.Code, rec.Body)
		}
		if n := len(h.cmds.commands()); n != 2 {
			t.Errorf("%d commands, want 2", n)
		}
	})
}

// A VCD that lists rights by URN: RightIDs names them.
func TestRightsByURN(t *testing.T) {
	views := projector.NewViews()
	cmds := newFakeCommands(t, views, 0)
	api, err := ingress.New(ingress.Config{RightIDs: map[string]string{"URN:vcloud:right:0f1e": cluster.RightFullAccess}}, cmds, queries.New(views, nil))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, api: api, views: views, cmds: cmds}
	enableVDC(views)
	for _, tt := range []struct {
		right string
		want  int
	}{{"urn:vcloud:right:0f1e", http.StatusAccepted}, {"urn:vcloud:right:9999", http.StatusForbidden}} {
		rec := h.do(http.MethodPost, base+"/clusters", createBody("c-"+tt.right[len(tt.right)-4:], "vdc1", 1), withRights(tt.right))
		if rec.Code != tt.want {
			t.Errorf("with %s: %d, want %d: %s", tt.right, rec.Code, tt.want, rec.Body)
		}
	}
}

// CSE 3.0's clients send the v1.0 entity and, on API 35.0, read answers in it.
func TestV1Payload(t *testing.T) {
	h := newHarness(t)
	body := `{"api_version":"","kind":"native","metadata":{"cluster_name":"old","org_name":"acme","ovdc_name":"vdc1"},
	  "spec":{"control_plane":{"count":1,"sizing_class":null,"storage_profile":null},"workers":{"count":2},
	    "k8_distribution":{"template_name":"ubuntu-k8s-1.29","template_revision":1},
	    "settings":{"network":"net1","rollback_on_failure":true,"ssh_key":null}},"status":{"phase":null}}`
	v35 := accept("application/json;version=35.0")
	rec := h.do(http.MethodPost, base+"/clusters", body, v35)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	got := decode[cse.DefEntityV1](t, rec)
	if got.EntityType != cse.EntityTypeV1 || got.Entity.Metadata.ClusterName != "old" || got.Entity.Spec.Workers == nil ||
		*got.Entity.Spec.Workers.Count != 2 || got.Entity.Status.Phase != "CREATE:IN_PROGRESS" || got.Entity.Spec.Settings.Network == nil {
		t.Fatalf("v1.0 answer: %s", rec.Body)
	}
	// The same cluster, read on 36.0, is the v2.1 entity.
	rec = h.do(http.MethodGet, base+"/cluster/"+got.ID, "")
	v2 := decode[cse.DefEntity](t, rec)
	if v2.EntityType != cse.EntityType || v2.Entity.Metadata.Name != "old" || *v2.Entity.Spec.Topology.Workers.Count != 2 {
		t.Fatalf("v2.1 answer: %s", rec.Body)
	}
	// Lists on 35.0 are v1.0 too.
	rec = h.do(http.MethodGet, base+"/clusters", "", v35)
	if list := decode[[]cse.DefEntityV1](t, rec); len(list) != 1 || list[0].Entity.Metadata.ClusterName != "old" {
		t.Fatalf("v1.0 list: %s", rec.Body)
	}
}
