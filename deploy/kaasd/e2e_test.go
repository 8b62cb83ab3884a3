package kaasd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// env is a running kaasd on vcdsim and a VCD-shaped AMQP client talking to kaasd as VCD
// relays a tenant's or a provider's call, in the security context the test chooses.
type env struct {
	t      *testing.T
	srv    *kaasd.Server
	sim    *vcdsim.Server
	client *vcdexttest.Client
	cfg    kaasd.Config
}

// The orgs of the simulated VCD the tests run on, by their URNs: acme is the org of
// vcdexttest's default caller; globex is another.
var (
	acmeOrg   = vcdexttest.DefaultCaller().Org
	globexOrg = "urn:vcloud:org:9b0e1c2d-3f4a-4b5c-8d6e-000000061b0e"
)

// testCloud is vcdsim's default cloud with short tasks and boots, its org acme by the URN
// of vcdexttest's default caller's org (kaas lets a tenant create only in its own org, and
// knows an org's URN from VCD), and a second org, globex, with its org VDC globex-vdc and
// network globex-net.
func testCloud() vcdsim.Config {
	c := kaasdtest.FastSim()
	c.TaskDelay, c.BootDelay = vcdsim.Duration(20*time.Millisecond), vcdsim.Duration(150*time.Millisecond)
	c.Orgs[0].ID = acmeOrg
	c.Orgs = append(c.Orgs, vcdsim.OrgConfig{Name: "globex", ID: globexOrg,
		VDCs: []vcdsim.VDCConfig{{Name: "globex-vdc", Networks: []vcdsim.NetworkConfig{{Name: "globex-net", Gateway: "10.2.0.1", Pool: "10.2"}}}}})
	return c
}

func start(t *testing.T) *env {
	t.Helper()
	return startWith(t, nil)
}

// startWith is start with the configuration changed first.
func startWith(t *testing.T, change func(*kaasd.Config)) *env {
	t.Helper()
	e := startBare(t, change)
	kaasdtest.EnableVDCs(t, providerDo(t, e.client))
	return e
}

// startBare is startWith without the provider's setup: no org VDC is enabled.
func startBare(t *testing.T, change func(*kaasd.Config)) *env {
	t.Helper()
	return startLogged(t, change, slog.New(slog.DiscardHandler))
}

// startLogged is startBare with kaasd logging to log.
func startLogged(t *testing.T, change func(*kaasd.Config), log *slog.Logger) *env {
	t.Helper()
	return startOn(t, testCloud(), change, log)
}

// startOn is startLogged on a cloud of the test's choosing.
//
// kaasd runs on vcdsim (kaasdtest.StartBare: in-process, over HTTPS, through
// go-vcloud-director) playing the ingress, the executors and the projector. It does not
// mirror into VCD unless change adds the mirror role: these tests are about what kaas does
// and answers, and call it directly over AMQP in security contexts of their own (callers
// VCD does not know). Without the mirror no change has a VCD task to wait for, so answers
// name kaas's operation at once.
func startOn(t *testing.T, cloud vcdsim.Config, change func(*kaasd.Config), log *slog.Logger) *env {
	t.Helper()
	sys := kaasdtest.StartBare(t, cloud, func(c *kaasd.Config) {
		c.Roles = []string{kaasd.RoleIngress, kaasd.RoleExecutor, kaasd.RoleProjector}
		c.PollInterval, c.TaskWait = 20*time.Millisecond, -1
		if change != nil {
			change(c)
		}
	})
	cfg := sys.Config
	if slices.Contains(cfg.Roles, kaasd.RoleMirror) {
		// The mirror writes CSE's entities: their types must be registered.
		if _, err := kaasd.InstallRDE(t.Context(), cfg.VCDConfig(nil), "all"); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := kaasd.Start(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := vcdexttest.NewClient(t.Context(), cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return &env{t: t, srv: srv, sim: sys.Sim, client: client, cfg: cfg}
}

func (e *env) do(method, path string, body any, opts ...func(*vcdexttest.Req)) (int, []byte) {
	e.t.Helper()
	req := vcdexttest.Req{Method: method, Path: path}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		req.Body = b
	}
	if s, ok := body.(string); ok {
		req.Body = []byte(s)
	}
	for _, o := range opts {
		o(&req)
	}
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	resp, err := e.client.Do(ctx, req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Body
}

func withRequestID(id string) func(*vcdexttest.Req) {
	return func(r *vcdexttest.Req) { r.RequestID = id }
}

func withCaller(c ingress.Caller) func(*vcdexttest.Req) {
	return func(r *vcdexttest.Req) { r.Caller = c }
}

func entity(name, template string, workers int, rollback bool) map[string]any {
	return map[string]any{
		"apiVersion": "cse.vmware.com/v2.1", "kind": "native",
		"metadata": map[string]any{"name": name, "orgName": "acme", "virtualDataCenterName": "acme-vdc", "site": "https://vcd.example.com"},
		"spec": map[string]any{
			"distribution": map[string]any{"templateName": template, "templateRevision": 1},
			"topology": map[string]any{"controlPlane": map[string]any{"count": 1},
				"workers": map[string]any{"count": workers}},
			"settings": map[string]any{"ovdcNetwork": "acme-net", "rollbackOnFailure": rollback},
		},
	}
}

// inOrg moves an entity to org's VDC and network, <org>-vdc and <org>-net.
func inOrg(entity map[string]any, org string) map[string]any {
	md := entity["metadata"].(map[string]any)
	md["orgName"], md["virtualDataCenterName"] = org, org+"-vdc"
	entity["spec"].(map[string]any)["settings"].(map[string]any)["ovdcNetwork"] = org + "-net"
	return entity
}

const good = "ubuntu-22.04_k8s-1.29_antrea-1.14"

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// waitPhase polls GET until the cluster reaches a phase that is not in progress.
func (e *env) waitPhase(id string) cse.DefEntity {
	e.t.Helper()
	return e.waitPhaseAs(id, vcdexttest.DefaultCaller())
}

// waitPhaseAs is waitPhase for another caller.
func (e *env) waitPhaseAs(id string, who ingress.Caller) cse.DefEntity {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		code, body := e.do("GET", "/api/cse/3.0/cluster/"+id, nil, withCaller(who))
		if code != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", id, code, body)
		}
		ent := decode[cse.DefEntity](e.t, body)
		if !strings.HasSuffix(ent.Entity.Status.Phase, "IN_PROGRESS") {
			return ent
		}
		time.Sleep(30 * time.Millisecond)
	}
	e.t.Fatalf("cluster %s still in progress", id)
	return cse.DefEntity{}
}

func (e *env) waitGone(id string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		code, _ := e.do("GET", "/api/cse/3.0/cluster/"+id, nil)
		if code == http.StatusNotFound {
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
	e.t.Fatalf("cluster %s still there", id)
}

// vapp is the cluster's vApp in VCD, nil when there is none.
func (e *env) vapp(id string) *vcdsim.VAppInfo {
	clusterID, _ := cse.ParseClusterID(id)
	for _, a := range e.sim.Inventory().VApps {
		if a.Metadata["kaas.cluster.id"] == clusterID {
			return &a
		}
	}
	return nil
}

func TestEndToEnd(t *testing.T) {
	e := start(t)

	// Create: 202 with the entity in CREATE:IN_PROGRESS.
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("prod", good, 2, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	created := decode[cse.DefEntity](t, body)
	if created.Entity.Status.Phase != "CREATE:IN_PROGRESS" || !strings.HasPrefix(created.ID, cse.EntityIDPrefix) || created.Name != "prod" {
		t.Fatalf("create answer: %s", body)
	}
	id := created.ID

	// Read your writes: the GET right after the 202 sees the cluster.
	code, body = e.do("GET", "/api/cse/3.0/cluster/"+id, nil)
	if code != http.StatusOK || decode[cse.DefEntity](t, body).Entity.Status.Phase != "CREATE:IN_PROGRESS" {
		t.Fatalf("GET after create: %d %s", code, body)
	}

	ent := e.waitPhase(id)
	if ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("create ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas)
	}
	nodes := ent.Entity.Status.Nodes
	if nodes == nil || nodes.ControlPlane == nil || len(nodes.Workers) != 2 || nodes.ControlPlane.IP == "" {
		t.Fatalf("nodes: %+v", nodes)
	}
	if a := e.vapp(id); a == nil || len(a.VMs) != 3 {
		t.Fatalf("VCD has %+v", a)
	}
	if k := ent.Entity.Status.Kubernetes; k == nil || *k != "upstream v1.29.8" {
		t.Fatalf("kubernetes %v", k)
	}
	// The kubeconfig the control plane published, as CSE's config route returns it.
	code, body = e.do("GET", "/api/cse/3.0/cluster/"+id+"/config", nil)
	if kc := decode[map[string]string](t, body)["message"]; code != http.StatusOK || !strings.HasPrefix(kc, "apiVersion: v1") {
		t.Fatalf("config: %d %.200s", code, body)
	}

	// Scale up through CSE's full-entity PUT.
	up := ent.Entity
	three := 3
	up.Spec.Topology.Workers.Count = &three
	up.Status = nil
	code, body = e.do("PUT", "/api/cse/3.0/cluster/"+id, up)
	if code != http.StatusAccepted || decode[cse.DefEntity](t, body).Entity.Status.Phase != "UPDATE:IN_PROGRESS" {
		t.Fatalf("scale: %d %s", code, body)
	}
	// A second change while busy is refused.
	code, body = e.do("DELETE", "/api/cse/3.0/cluster/"+id, nil)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "UPDATE:IN_PROGRESS") {
		t.Fatalf("delete while busy: %d %s", code, body)
	}
	ent = e.waitPhase(id)
	if ent.Entity.Status.Phase != "UPDATE:SUCCEEDED" || len(ent.Entity.Status.Nodes.Workers) != 3 || len(e.vapp(id).VMs) != 4 {
		t.Fatalf("after scale: %s, %d workers", ent.Entity.Status.Phase, len(ent.Entity.Status.Nodes.Workers))
	}

	// List, bare (CSE) and paged.
	code, body = e.do("GET", "/api/cse/3.0/clusters", nil)
	if list := decode[[]cse.DefEntity](t, body); code != 200 || len(list) != 1 || list[0].ID != id {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = e.do("GET", "/api/cse/3.0/nativeclusters", nil, func(r *vcdexttest.Req) { r.Query = "page=1&pageSize=10" })
	if page := decode[cse.Page[cse.DefEntity]](t, body); code != 200 || page.ResultTotal != 1 || len(page.Values) != 1 || page.PageCount != 1 {
		t.Fatalf("page: %d %s", code, body)
	}

	// Delete.
	code, body = e.do("DELETE", "/api/cse/3.0/cluster/"+id, nil)
	if code != http.StatusAccepted || decode[cse.DefEntity](t, body).Entity.Status.Phase != "DELETE:IN_PROGRESS" {
		t.Fatalf("delete: %d %s", code, body)
	}
	e.waitGone(id)
	if a := e.vapp(id); a != nil {
		t.Fatalf("delete left %+v", a)
	}
}

// A create rolled back leaves no cluster, as CSE's leaves neither vApp nor entity: its
// operation says why, and its name is free again.
func TestFailedCreateRollsBack(t *testing.T) {
	e := start(t)
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("broken", "ubuntu-22.04_k8s-1.30_broken", 2, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	created := decode[cse.DefEntity](t, body)
	id := created.ID
	op := e.waitOperation(created.Entity.Status.Kaas.OperationHref)
	if op.Status != "FAILED" || op.Phase != "CREATE:FAILED" || op.Step != "OperationRolledBack" || op.Error == nil ||
		op.Error.Code != "BOOTSTRAP_FAILED" || !strings.Contains(op.Error.Message, "kubeadm-init") {
		t.Fatalf("operation: %+v %+v", op, op.Error)
	}
	if code, body = e.do("GET", "/api/cse/3.0/cluster/"+id, nil); code != http.StatusNotFound {
		t.Fatalf("GET of a rolled-back cluster: %d %s", code, body)
	}
	if code, body = e.do("GET", "/api/cse/3.0/clusters", nil); code != 200 || len(decode[[]cse.DefEntity](t, body)) != 0 {
		t.Fatalf("list: %d %s", code, body)
	}
	if a := e.vapp(id); a != nil {
		t.Fatalf("rollback left %+v", a)
	}
	// Nothing is left to delete.
	if code, body = e.do("DELETE", "/api/cse/3.0/cluster/"+id, nil); code != http.StatusNotFound {
		t.Fatalf("delete of a rolled-back cluster: %d %s", code, body)
	}
	// The same name, with a good template: a new cluster.
	code, body = e.do("POST", "/api/cse/3.0/clusters", entity("broken", good, 0, true))
	if code != http.StatusAccepted {
		t.Fatalf("create again: %d %s", code, body)
	}
	again := decode[cse.DefEntity](t, body)
	if again.ID == id {
		t.Fatalf("the new create reuses %s", id)
	}
	if ent := e.waitPhase(again.ID); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("second create: %s %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas)
	}
}

// waitOperation polls an operation until it ends.
func (e *env) waitOperation(href string) cse.Operation {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		code, body := e.do("GET", href, nil)
		if code != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", href, code, body)
		}
		if op := decode[cse.Operation](e.t, body); op.Ended != nil {
			return op
		}
		time.Sleep(30 * time.Millisecond)
	}
	e.t.Fatalf("operation %s still running", href)
	return cse.Operation{}
}

func TestFailedCreateKeepsVMsWithoutRollback(t *testing.T) {
	e := start(t)
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("keep", "ubuntu-22.04_k8s-1.30_broken", 1, false))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	ent := e.waitPhase(id)
	if ent.Entity.Status.Phase != "CREATE:FAILED" || ent.Entity.Status.Kaas.RolledBack || e.vapp(id) == nil {
		t.Fatalf("%s %+v %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas, e.vapp(id))
	}
}

func TestRedeliveredRequestGetsTheSameAnswer(t *testing.T) {
	e := start(t)
	base, _ := baseline(t, e)
	_, first := e.do("POST", "/api/cse/3.0/clusters", entity("once", good, 0, true), withRequestID("vcd-req-42"))
	code, second := e.do("POST", "/api/cse/3.0/clusters", entity("once", good, 0, true), withRequestID("vcd-req-42"))
	if code != http.StatusAccepted || string(first) != string(second) {
		t.Fatalf("redelivery: %d\n%s\n%s", code, first, second)
	}
	// A different request for the same name is refused.
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("once", good, 0, true))
	if code != http.StatusBadRequest || !strings.Contains(string(body), "already exists") {
		t.Fatalf("duplicate name: %d %s", code, body)
	}
	_, body = e.do("GET", "/api/cse/3.0/clusters", nil)
	if n := len(decode[[]cse.DefEntity](t, body)); n != 1 {
		t.Fatalf("%d clusters", n)
	}
	cmds, _, err := e.srv.Store().LastSequences(t.Context())
	if err != nil || cmds != base+1 {
		t.Fatalf("command stream holds %d commands after setup's %d (%v)", cmds, base, err)
	}
}

func TestTenantsSeeOnlyTheirOrg(t *testing.T) {
	e := start(t)
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("mine", good, 0, true))
	if code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	other := withCaller(ingress.Caller{User: "urn:vcloud:user:e4e00000-0000-4000-8000-000000000e4e", Org: globexOrg})
	if code, _ := e.do("GET", "/api/cse/3.0/cluster/"+id, nil, other); code != http.StatusNotFound {
		t.Fatalf("other org GET: %d", code)
	}
	if code, _ := e.do("DELETE", "/api/cse/3.0/cluster/"+id, nil, other); code != http.StatusNotFound {
		t.Fatalf("other org DELETE: %d", code)
	}
	if _, body := e.do("GET", "/api/cse/3.0/clusters", nil, other); string(body) != "[]" {
		t.Fatalf("other org list: %s", body)
	}
}

func TestBadInputIsRefusedAndHarmsNothing(t *testing.T) {
	e := start(t)
	baseCmds, baseEvts := baseline(t, e)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		accept string
		status int
		want   string
	}{
		{"not json", "POST", "/api/cse/3.0/clusters", "{nope", "", 400, "not valid JSON"},
		{"array", "POST", "/api/cse/3.0/clusters", "[1]", "", 400, "must be a JSON object"},
		{"empty", "POST", "/api/cse/3.0/clusters", "", "", 400, "no body"},
		{"unknown field", "POST", "/api/cse/3.0/clusters", mutate(func(m map[string]any) { m["spec"].(map[string]any)["topology"].(map[string]any)["wrokers"] = 1 }), "", 400, "spec.topology.wrokers: unknown field"},
		{"mistyped", "POST", "/api/cse/3.0/clusters", mutate(func(m map[string]any) {
			m["spec"].(map[string]any)["topology"].(map[string]any)["workers"] = map[string]any{"count": "two"}
		}), "", 400, "spec.topology.workers.count: expected an integer"},
		{"missing network", "POST", "/api/cse/3.0/clusters", mutate(func(m map[string]any) { delete(m["spec"].(map[string]any)["settings"].(map[string]any), "ovdcNetwork") }), "", 400, "spec.settings.ovdcNetwork: missing"},
		{"bad name", "POST", "/api/cse/3.0/clusters", mutate(func(m map[string]any) { m["metadata"].(map[string]any)["name"] = "9lives" }), "", 400, "Invalid cluster name"},
		{"old payload", "POST", "/api/cse/3.0/clusters", mutate(func(m map[string]any) { m["apiVersion"] = "cse.vmware.com/v1.0" }), "", 400, "Unsupported payload version"},
		{"two control planes", "POST", "/api/cse/3.0/clusters", mutate(func(m map[string]any) {
			m["spec"].(map[string]any)["topology"].(map[string]any)["controlPlane"] = map[string]any{"count": 3}
		}), "", 400, "exactly one control plane"},
		{"xml", "GET", "/api/cse/3.0/clusters", nil, "application/xml", 406, "CSE can only serve response as json"},
		{"old version", "GET", "/api/cse/3.0/clusters", nil, "application/json;version=33.0", 406, "Invalid api version"},
		{"no route", "GET", "/api/cse/3.0/nothing", nil, "", 404, "Invalid url - not found"},
		{"wrong method", "PATCH", "/api/cse/3.0/clusters", nil, "", 405, "Method not allowed"},
		{"bad id", "GET", "/api/cse/3.0/cluster/not-a-uuid", nil, "", 404, "not found"},
		{"unknown id", "DELETE", "/api/cse/3.0/cluster/urn:vcloud:entity:cse:nativeCluster:6f0c2a1e-9b8d-4c7f-a6e5-d4c3b2a19087", nil, "", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do(tt.method, tt.path, tt.body, func(r *vcdexttest.Req) {
				if tt.accept != "" {
					r.Headers = map[string]string{"Accept": tt.accept}
				}
			})
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			var errBody cse.Error
			if err := json.Unmarshal(body, &errBody); err != nil || !strings.Contains(errBody.Message.ErrorDescription, tt.want) {
				t.Fatalf("body %s does not say %q", body, tt.want)
			}
		})
	}
	cmds, evts, err := e.srv.Store().LastSequences(t.Context())
	if err != nil || cmds != baseCmds || evts != baseEvts {
		t.Fatalf("bad input appended %d commands and %d events (%v)", cmds-baseCmds, evts-baseEvts, err)
	}
	// And the next good request is served normally.
	if code, body := e.do("POST", "/api/cse/3.0/clusters", entity("fine", good, 0, true)); code != http.StatusAccepted {
		t.Fatalf("good request after bad ones: %d %s", code, body)
	}
}

func mutate(f func(map[string]any)) any {
	m := entity("x1", good, 1, true)
	f(m)
	return m
}

var _ = fmt.Sprint

// A provider stops kaas through the API, as `vcd cse system stop` did: the request is
// answered, then kaasd stops gracefully.
func TestSystemStop(t *testing.T) {
	e := start(t)
	code, body := providerDo(t, e.client)("PUT", "/api/cse/system", map[string]string{"server_action": "stop"})
	if code != http.StatusOK || !strings.Contains(string(body), "graceful shutdown") {
		t.Fatalf("stop: %d %s", code, body)
	}
	select {
	case <-e.srv.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("kaasd did not stop")
	}
}

// As-of reads show a cluster as it was at several moments of its life, folded from its
// history, deleted or not.
func TestAsOf(t *testing.T) {
	e := start(t)
	// A moment before the cluster was asked for, hence before it existed (a millisecond
	// back, so that no clock's granularity makes it the same instant).
	before := time.Now().UTC().Add(-time.Millisecond)
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("past", good, 2, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	ent := e.waitPhase(id)
	created := time.Now().UTC()
	up := ent.Entity
	three := 3
	up.Spec.Topology.Workers.Count, up.Status = &three, nil
	if code, body := e.do("PUT", "/api/cse/3.0/cluster/"+id, up); code != http.StatusAccepted {
		t.Fatalf("scale: %d %s", code, body)
	}
	e.waitPhase(id)
	scaled := time.Now().UTC()
	// A moment in the middle of the create: its first event was recorded, its last not yet.
	var events []cse.Event
	_, body = e.do("GET", "/api/cse/3.0/cluster/"+id+"/events?pageSize=128", nil)
	events = decode[cse.Page[cse.Event]](t, body).Values
	if len(events) < 5 || events[0].Type != "ClusterCreationStarted" {
		t.Fatalf("history: %d events %+v", len(events), events)
	}
	during := events[1].Time
	if code, body := e.do("DELETE", "/api/cse/3.0/cluster/"+id, nil); code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, body)
	}
	e.waitGone(id)

	asOf := func(at time.Time, opts ...func(*vcdexttest.Req)) (int, []byte) {
		return e.do("GET", "/api/cse/3.0/cluster/"+id+"?asOf="+at.Format(time.RFC3339Nano), nil, opts...)
	}
	for _, tt := range []struct {
		name    string
		at      time.Time
		phase   string
		workers int
	}{
		{"during the create", during, "CREATE:IN_PROGRESS", 2},
		{"created", created, "CREATE:SUCCEEDED", 2},
		{"scaled", scaled, "UPDATE:SUCCEEDED", 3},
	} {
		code, body := asOf(tt.at)
		if code != 200 {
			t.Fatalf("%s: %d %s", tt.name, code, body)
		}
		st := decode[cse.DefEntity](t, body).Entity
		if st.Status.Phase != tt.phase || *st.Spec.Topology.Workers.Count != tt.workers {
			t.Errorf("%s: %s with %d workers, want %s with %d", tt.name, st.Status.Phase, *st.Spec.Topology.Workers.Count, tt.phase, tt.workers)
		}
	}
	if code, body := asOf(before); code != 404 || !strings.Contains(string(body), "did not exist yet") || !strings.Contains(string(body), "created at") {
		t.Errorf("before it existed: %d %s", code, body)
	}
	if code, body := e.do("GET", "/api/cse/3.0/cluster/"+id+"?asOf=yesterday", nil); code != 400 || !strings.Contains(string(body), "RFC 3339") {
		t.Errorf("bad time: %d %s", code, body)
	}
	other := ingress.Caller{User: "urn:vcloud:user:e4e00000-0000-4000-8000-000000000e4e", Org: globexOrg, Rights: []string{"cse:nativeCluster: Administrator Full access"}}
	if code, _ := asOf(scaled, withCaller(other)); code != 404 {
		t.Errorf("another org read the past: %d", code)
	}
}
