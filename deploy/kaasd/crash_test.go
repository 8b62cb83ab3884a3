package kaasd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
	"github.com/kaasproject/kaas/internal/gobuild"
)

// buildKaasd compiles the real binary once per test run.
var buildKaasd = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kaasd-bin")
	if err != nil {
		return "", err
	}
	bins, err := gobuild.Build(context.Background(), dir, "github.com/kaasproject/kaas/deploy/cmd/kaasd")
	if err != nil {
		return "", err
	}
	return bins[0], nil
})

// proc is kaasd running as a separate process, so that it can be SIGKILLed.
type proc struct {
	t     *testing.T
	bin   string
	env   []string
	admin string
	cmd   *exec.Cmd
	log   *os.File
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("kaasd not ready; see %s", p.log.Name())
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// startKillable runs the kaasd binary against a simulated VCD of cloud, as startLogged's
// kaasd (no mirror into VCD, answers that name kaas's operation at once), with an ack wait
// short enough that commands a killed process held come back soon.
func startKillable(t *testing.T, cloud vcdsim.Config) (*proc, *kaasdtest.System, *vcdexttest.Client) {
	t.Helper()
	bin, err := buildKaasd()
	if err != nil {
		t.Fatal(err)
	}
	sys := kaasdtest.StartBare(t, cloud)
	cfg := sys.Config
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "kaasd.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	admin := freePort(t)
	p := &proc{t: t, bin: bin, admin: admin, log: logf, env: []string{
		"KAAS_DATA_DIR=" + filepath.Join(dir, "data"), "KAAS_AMQP_URL=" + cfg.AMQPURL, "KAAS_AMQP_EXCHANGE=" + cfg.AMQPExchange,
		"KAAS_AMQP_ROUTING_KEY=" + cfg.AMQPRoutingKey, "KAAS_ADMIN_ADDR=" + admin,
		"KAAS_VCD_URL=" + cfg.VCDURL, "KAAS_VCD_USER=" + cfg.VCDUser, "KAAS_VCD_PASSWORD=" + cfg.VCDPassword, "KAAS_VCD_INSECURE=true",
		"KAAS_ROLES=ingress,executor,projector", "KAAS_TASK_WAIT=-1s",
		"KAAS_POLL_INTERVAL=50ms", "KAAS_LOG_LEVEL=info", "KAAS_EXECUTOR_ACK_WAIT=2s",
	}}
	p.start()
	t.Cleanup(p.stop)
	client, err := vcdexttest.NewClient(t.Context(), cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	kaasdtest.EnableVDCs(t, providerDo(t, client))
	return p, sys, client
}

// TestCrashDuringBurst kills kaasd with SIGKILL in the middle of a burst of 100 creates and
// again while they provision. Every request must end with a 202, every accepted cluster
// must exist exactly once and reach CREATE:SUCCEEDED, and VCD must hold exactly one vApp
// per cluster with its VMs: nothing lost, nothing done twice, nothing stuck.
//
// VCD is vcdsim in this test's process, so it lives on, its tasks running, while kaasd is
// killed, as a real VCD does.
func TestCrashDuringBurst(t *testing.T) {
	cloud := testCloud()
	cloud.TaskDelay, cloud.BootDelay = vcdsim.Duration(30*time.Millisecond), vcdsim.Duration(300*time.Millisecond)
	p, sys, client := startKillable(t, cloud)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	const n = 100
	type result struct {
		id   string
		code int
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	replied := 0
	firstReplies := make(chan struct{})
	// The burst is spread over about half a second, so that the kill lands in its middle.
	killed := make(chan struct{})
	go func() {
		<-firstReplies
		p.kill()
		close(killed)
	}()
	for i := range n {
		time.Sleep(5 * time.Millisecond) // pacing the burst, not waiting for anything: the kill waits for replies
		body, _ := json.Marshal(entity(fmt.Sprintf("burst-%03d", i), good, 1, true))
		call, err := client.Publish(ctx, vcdexttest.Req{Method: "POST", Path: "/api/cse/3.0/clusters", Body: body,
			RequestID: fmt.Sprintf("burst-req-%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			resp, err := call.Wait(ctx)
			if err != nil {
				t.Errorf("request %d: no reply: %v", i, err)
				return
			}
			var ent cse.DefEntity
			_ = json.Unmarshal(resp.Body, &ent)
			mu.Lock()
			results[i] = result{ent.ID, resp.StatusCode}
			if replied++; replied == 25 {
				close(firstReplies)
			}
			mu.Unlock()
		})
	}
	// Kill kaasd once a quarter of the burst is answered: the rest is queued, in flight,
	// or appended without its reply sent.
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatal("no replies")
	}
	mu.Lock()
	t.Logf("killed kaasd after %d of %d replies", replied, n)
	mu.Unlock()
	restart := time.Now()
	p.start()
	wg.Wait()
	t.Logf("restarted in %s; all %d requests answered", time.Since(restart).Round(time.Millisecond), n)

	// Kill it again while the clusters provision: once VCD holds vApps for a quarter of
	// them, and some has a task running.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		inv, running := sys.Sim.Inventory(), 0
		for _, a := range inv.VApps {
			if a.Task != "" {
				running++
			}
		}
		if len(inv.VApps) >= n/4 && running > 0 {
			t.Logf("killed kaasd again with %d vApps in VCD, %d of them with a task running", len(inv.VApps), running)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("VCD never got busy provisioning: %d vApps, %d with a task running", len(inv.VApps), running)
		}
	}
	p.kill()
	p.start()
	second := time.Now()

	ids := map[string]bool{}
	for i, r := range results {
		if r.code != 202 || r.id == "" {
			t.Fatalf("request %d answered %d", i, r.code)
		}
		if ids[r.id] {
			t.Fatalf("two requests got cluster %s", r.id)
		}
		ids[r.id] = true
	}
	// Every accepted cluster exists exactly once and reaches a final phase.
	deadline := time.Now().Add(2 * time.Minute)
	var list []cse.DefEntity
	for {
		resp, err := client.Do(ctx, vcdexttest.Req{Path: "/api/cse/3.0/clusters"})
		if err != nil {
			t.Fatal(err)
		}
		list = nil
		_ = json.Unmarshal(resp.Body, &list)
		busy := 0
		for _, c := range list {
			if strings.HasSuffix(c.Entity.Status.Phase, "IN_PROGRESS") {
				busy++
			}
		}
		if busy == 0 && len(list) == n {
			t.Logf("all %d clusters provisioned %s after the second restart", n, time.Since(second).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clusters, %d still in progress", len(list), busy)
		}
		time.Sleep(200 * time.Millisecond)
	}
	names := map[string]bool{}
	for _, c := range list {
		if !ids[c.ID] {
			t.Fatalf("cluster %s exists but no request was told about it", c.ID)
		}
		if names[c.Name] {
			t.Fatalf("cluster name %s twice", c.Name)
		}
		names[c.Name] = true
		if c.Entity.Status.Phase != "CREATE:SUCCEEDED" {
			t.Fatalf("cluster %s ended %s: %+v", c.Name, c.Entity.Status.Phase, c.Entity.Status.Kaas)
		}
	}
	// VCD holds exactly one vApp per cluster, each with its two VMs: no duplicate, no orphan.
	p.stop()
	perCluster := map[string]int{}
	for _, a := range sys.Sim.Inventory().VApps {
		perCluster[a.Metadata["kaas.cluster.id"]]++
		if len(a.VMs) != 2 {
			t.Errorf("vApp %s has %d VMs", a.Name, len(a.VMs))
		}
	}
	if len(perCluster) != n {
		t.Fatalf("VCD has vApps for %d clusters, want %d", len(perCluster), n)
	}
	for id, count := range perCluster {
		if count != 1 || !ids[cse.EntityID(id)] {
			t.Fatalf("cluster %s has %d vApps (known: %v)", id, count, ids[cse.EntityID(id)])
		}
	}
}
