package kaasd_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
)

// simEnv is the whole system (kaasdtest.System: vcdsim playing VCD, including its
// API-extension role, RabbitMQ, kaasd with embedded JetStream) and a tenant's session.
type simEnv struct {
	t     *testing.T
	sys   *kaasdtest.System
	sim   *vcdsim.Server
	url   string
	token string
	srv   *kaasd.Server
	cfg   kaasd.Config
}

func startSimEnv(t *testing.T, simCfg vcdsim.Config) *simEnv {
	t.Helper()
	sys := kaasdtest.Start(t, simCfg)
	e := &simEnv{t: t, sys: sys, sim: sys.Sim, url: sys.URL, srv: sys.Server, cfg: sys.Config}
	kaasdtest.EnableVDCs(t, sys.AsProvider(t))
	e.token = e.login("alice@acme", "alice-pass")
	return e
}

// login opens a session on the simulated VCD, as a CSE client does.
func (e *simEnv) login(user, pass string) string {
	e.t.Helper()
	return e.sys.Login(e.t, user, pass)
}

// call is a tenant's HTTPS call to VCD's /api/cse, which VCD forwards to kaas over AMQP.
func (e *simEnv) call(method, path string, body any) (int, []byte) {
	e.t.Helper()
	return e.callAs(e.token, method, path, body)
}

// callAs is call in another user's session.
func (e *simEnv) callAs(token, method, path string, body any) (int, []byte) {
	e.t.Helper()
	return e.callAccept(token, "", method, path, body)
}

// callAccept is callAs with an Accept header of the caller's choosing.
func (e *simEnv) callAccept(token, accept, method, path string, body any) (int, []byte) {
	e.t.Helper()
	code, b, _ := e.sys.Call(e.t, token, accept, method, path, body)
	return code, b
}

func (e *simEnv) waitPhase(id string) cse.DefEntity {
	e.t.Helper()
	var ent cse.DefEntity
	kaasdtest.Eventually(e.t, 60*time.Second, 50*time.Millisecond, func() error {
		code, body := e.call("GET", "/api/cse/3.0/cluster/"+id, nil)
		if code != 200 {
			e.t.Fatalf("GET %s: %d %s", id, code, body)
		}
		if ent = decode[cse.DefEntity](e.t, body); strings.HasSuffix(ent.Entity.Status.Phase, "IN_PROGRESS") {
			return fmt.Errorf("cluster %s is %s", id, ent.Entity.Status.Phase)
		}
		return nil
	})
	return ent
}

func (e *simEnv) waitGone(id string) {
	e.t.Helper()
	kaasdtest.Eventually(e.t, 60*time.Second, 50*time.Millisecond, func() error {
		if code, body := e.call("GET", "/api/cse/3.0/cluster/"+id, nil); code != 404 {
			return fmt.Errorf("cluster %s is still there: %d %s", id, code, body)
		}
		return nil
	})
}

func (e *simEnv) vapp(id string) *vcdsim.VAppInfo {
	clusterID, _ := cse.ParseClusterID(id)
	for _, a := range e.sim.Inventory().VApps {
		if a.Metadata["kaas.cluster.id"] == clusterID {
			return &a
		}
	}
	return nil
}

// TestFullPath drives the whole system as a tenant does: HTTPS to VCD, AMQP, kaasd,
// JetStream, go-vcloud-director, and the VMs in VCD.
func TestFullPath(t *testing.T) {
	e := startSimEnv(t, kaasdtest.FastSim())
	code, body := e.call("POST", "/api/cse/3.0/clusters", entity("web", good, 2, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	ent := e.waitPhase(id)
	if ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("create ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}
	a := e.vapp(id)
	if a == nil || len(a.VMs) != 3 || a.Name != "web" {
		t.Fatalf("VCD has %+v", a)
	}
	for _, vm := range a.VMs {
		if vm.Status != 4 || vm.Metadata["kaas.node.role"] == "" || vm.GuestInfo["guestinfo.kaas.status"] != "done" {
			t.Fatalf("VM %+v", vm)
		}
		for _, secret := range []string{"guestinfo.kaas.kubeconfig", "guestinfo.kaas.join"} {
			if _, left := vm.GuestInfo[secret]; left {
				t.Fatalf("VM %s still holds %s in VCD", vm.Name, secret)
			}
		}
	}
	code, body = e.call("GET", "/api/cse/3.0/cluster/"+id+"/config", nil)
	if kc := decode[map[string]string](t, body)["message"]; code != 200 || !strings.Contains(kc, "server: https://") {
		t.Fatalf("config: %d %.200s", code, body)
	}

	// Scale up, then down.
	for _, n := range []int{3, 1} {
		up := ent.Entity
		up.Spec.Topology.Workers.Count = &n
		up.Status = nil
		if code, body = e.call("PUT", "/api/cse/3.0/cluster/"+id, up); code != http.StatusAccepted {
			t.Fatalf("scale to %d: %d %s", n, code, body)
		}
		ent = e.waitPhase(id)
		if ent.Entity.Status.Phase != "UPDATE:SUCCEEDED" || len(e.vapp(id).VMs) != n+1 {
			t.Fatalf("scale to %d: %s, %d VMs", n, ent.Entity.Status.Phase, len(e.vapp(id).VMs))
		}
	}

	if code, body = e.call("DELETE", "/api/cse/3.0/cluster/"+id, nil); code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, body)
	}
	e.waitGone(id)
	if inv := e.sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("delete left %+v", inv.VApps)
	}
}

func TestFullPathFailures(t *testing.T) {
	e := startSimEnv(t, kaasdtest.FastSim())
	_, body := e.call("POST", "/api/cse/3.0/clusters", entity("gone", "ubuntu-22.04_k8s-1.30_broken", 1, true))
	rolledBack := decode[cse.DefEntity](t, body)
	_, body = e.call("POST", "/api/cse/3.0/clusters", entity("kept", "ubuntu-22.04_k8s-1.30_broken", 1, false))
	kept := decode[cse.DefEntity](t, body).ID

	// Rolled back, the create leaves nothing: its operation says why.
	e.waitGone(rolledBack.ID)
	code, body := e.call("GET", rolledBack.Entity.Status.Kaas.OperationHref, nil)
	if op := decode[cse.Operation](t, body); code != 200 || op.Status != "FAILED" || op.Error == nil || e.vapp(rolledBack.ID) != nil {
		t.Fatalf("rollback: %d %s %+v", code, body, e.vapp(rolledBack.ID))
	}
	ent := e.waitPhase(kept)
	if ent.Entity.Status.Phase != "CREATE:FAILED" || !strings.Contains(ent.Entity.Status.Kaas.Error.Message, "kubeadm-init") {
		t.Fatalf("kept: %s %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}
	if a := e.vapp(kept); a == nil || len(a.VMs) != 1 {
		t.Fatalf("a failed create without rollback must keep its VMs: %+v", a)
	}
}

func TestExtensionTimeoutIs504(t *testing.T) {
	e := startSimEnv(t, func() vcdsim.Config {
		c := kaasdtest.FastSim()
		c.ExtensionTimeout = vcdsim.Duration(500 * time.Millisecond)
		return c
	}())
	_ = e.srv.Close() // kaas is down: VCD gives up after its extension timeout
	code, body := e.call("GET", "/api/cse/3.0/clusters", nil)
	if code != http.StatusGatewayTimeout || !strings.Contains(string(body), "failed to respond in the specified timeout") {
		t.Fatalf("%d %s", code, body)
	}
}

// Installing twice changes nothing the second time.
func TestInstallIsIdempotent(t *testing.T) {
	e := startSimEnv(t, kaasdtest.FastSim())
	res, err := kaasd.Install(t.Context(), e.cfg.VCDConfig(nil), kaasd.DefaultExtension(e.cfg.AMQPExchange, e.cfg.AMQPRoutingKey))
	if err != nil {
		t.Fatal(err)
	}
	if res.Created || res.Updated || len(res.FiltersAdded) != 0 || len(res.FiltersPresent) != 2 {
		t.Fatalf("second install: %+v", res)
	}
	// A changed routing key is brought up to date, not registered twice.
	res, err = kaasd.Install(t.Context(), e.cfg.VCDConfig(nil), kaasd.DefaultExtension(e.cfg.AMQPExchange, e.cfg.AMQPRoutingKey+"-2"))
	if err != nil || res.Created || !res.Updated {
		t.Fatalf("re-keyed install: %+v %v", res, err)
	}
}

// httpClient talks to the simulator's self-signed HTTPS, as a tenant's client configured
// for a lab VCD does.
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
