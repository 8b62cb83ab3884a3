package kaasd_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// TestFaultsAndCrashes: with 20% of VCD's calls failing, 50 concurrent creates all reach a
// final phase, and killing kaasd twice meanwhile leaves no duplicate and no orphan VM.
func TestFaultsAndCrashes(t *testing.T) {
	bin, err := buildKaasd()
	if err != nil {
		t.Fatal(err)
	}
	amqpURL := vcdexttest.RequireBroker(t)
	exchange, key := vcdexttest.UniqueNames(t)
	simCfg := kaasdtest.FastSim()
	simCfg.AMQPURL = amqpURL
	simCfg.ExtensionTimeout = vcdsim.Duration(20 * time.Second)
	sim, err := vcdsim.New(simCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(sim)
	sim.SetBase(ts.URL)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	cfg := kaasd.Defaults()
	cfg.VCDURL, cfg.VCDUser, cfg.VCDPassword, cfg.VCDInsecure = ts.URL+"/api", "administrator", "kaas-admin", true
	if _, err := kaasd.Install(t.Context(), cfg.VCDConfig(nil), kaasd.DefaultExtension(exchange, key)); err != nil {
		t.Fatal(err)
	}
	if _, err := kaasd.InstallRDE(t.Context(), cfg.VCDConfig(nil), "all"); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "kaasd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	admin := freePort(t)
	p := &proc{t: t, bin: bin, admin: admin, log: logf, env: []string{
		"KAAS_DATA_DIR=" + filepath.Join(dir, "data"), "KAAS_AMQP_URL=" + amqpURL, "KAAS_AMQP_EXCHANGE=" + exchange,
		"KAAS_AMQP_ROUTING_KEY=" + key, "KAAS_ADMIN_ADDR=" + admin, "KAAS_VCD_URL=" + cfg.VCDURL, "KAAS_VCD_USER=administrator",
		"KAAS_VCD_PASSWORD=kaas-admin", "KAAS_VCD_INSECURE=true", "KAAS_POLL_INTERVAL=50ms", "KAAS_EXECUTOR_ACK_WAIT=2s",
		// Retries back off from 50 ms: the test wants the outcome, not realistic waits.
		"KAAS_EXECUTOR_RETRY_BASE=50ms",
	}}
	p.start()
	t.Cleanup(p.stop)
	sim.SetFaults(vcdsim.Faults{ErrorRate: 0.2})

	e := &simEnv{t: t, sys: &kaasdtest.System{URL: ts.URL, Sim: sim, HTTP: kaasdtest.HTTPClient()}, sim: sim, url: ts.URL}
	provider := e.login("administrator@System", "kaas-admin")
	sim.SetFaults(vcdsim.Faults{}) // the provider's setup is not what this test is about
	kaasdtest.EnableVDCs(t, func(method, path string, body any) (int, []byte) { return e.callAs(provider, method, path, body) })
	sim.SetFaults(vcdsim.Faults{ErrorRate: 0.2})
	e.token = e.login("alice@acme", "alice-pass")
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code, body := e.call("POST", "/api/cse/3.0/clusters", entity(fmt.Sprintf("chaos-%02d", i), good, 1, true))
			if code != http.StatusAccepted {
				t.Errorf("create %d: %d %s", i, code, body)
				return
			}
			var ent cse.DefEntity
			_ = jsonUnmarshal(body, &ent)
			ids[i] = ent.ID
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Each kill lands while kaasd is at work on VCD: once the kaasd running has had VCD
	// change things (compose, recompose, power, ...) a few times since it started.
	changes := func() int {
		n := 0
		for op, c := range sim.Calls() {
			switch op {
			case "login", "get", "query", "task", "cloudapi":
			default:
				n += c
			}
		}
		return n
	}
	for k := range 2 {
		from := changes()
		kaasdtest.Eventually(t, time.Minute, 5*time.Millisecond, func() error {
			if n := changes() - from; n < 10 {
				return fmt.Errorf("kaasd had VCD change %d things since it started", n)
			}
			return nil
		})
		t.Logf("kill %d after %d changes in VCD", k+1, changes())
		p.kill()
		p.start()
	}

	var list []cse.DefEntity
	kaasdtest.Eventually(t, 3*time.Minute, 200*time.Millisecond, func() error {
		code, body := e.call("GET", "/api/cse/3.0/clusters", nil)
		list = nil
		if code == 200 {
			_ = jsonUnmarshal(body, &list)
		}
		busy := 0
		for _, c := range list {
			if strings.HasSuffix(c.Entity.Status.Phase, "IN_PROGRESS") {
				busy++
			}
		}
		if code != 200 || busy > 0 || len(list) != n {
			return fmt.Errorf("%d clusters listed (status %d), %d still in progress", len(list), code, busy)
		}
		return nil
	})
	t.Logf("%d changes in VCD in all", changes())
	phases := map[string]int{}
	final := map[string]string{}
	for _, c := range list {
		phases[c.Entity.Status.Phase]++
		final[kaasID(c)] = c.Entity.Status.Phase
		if c.Entity.Status.Phase != "CREATE:SUCCEEDED" && (c.Entity.Status.Kaas == nil || c.Entity.Status.Kaas.Error == nil) {
			t.Errorf("cluster %s ended %s without a reason", c.Name, c.Entity.Status.Phase)
		}
	}
	t.Logf("final phases with 20%% VCD faults and two kills: %v", phases)
	seen := map[string]bool{}
	for _, a := range sim.Inventory().VApps {
		cid := a.Metadata["kaas.cluster.id"]
		phase, ok := final[cid]
		switch {
		case !ok:
			t.Errorf("orphan vApp %s (%s) belongs to no cluster", a.Name, cid)
		case seen[cid]:
			t.Errorf("cluster %s has two vApps", cid)
		case phase == "CREATE:SUCCEEDED" && len(a.VMs) != 2:
			t.Errorf("cluster %s has %d VMs, want 2", a.Name, len(a.VMs))
		}
		seen[cid] = true
		names := map[string]bool{}
		for _, vm := range a.VMs {
			if names[vm.Name] {
				t.Errorf("vApp %s has two VMs named %s", a.Name, vm.Name)
			}
			names[vm.Name] = true
		}
	}
	for id, phase := range final {
		if phase == "CREATE:SUCCEEDED" && !seen[id] {
			t.Errorf("cluster %s succeeded but has no vApp", id)
		}
	}
}
