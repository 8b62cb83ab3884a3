package kaasd_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// TestTemplateBuildSurvivesKills SIGKILLs kaasd at each stage of a build: once the build is
// accepted (its base image uploading), and after each of its steps was recorded (so that
// the kill lands in the next step's VCD work). Each build is then carried on by the next
// kaasd to its end. Afterwards there is exactly one catalog item per revision and one base
// image, no temporary vApp, no half-made item, and every history verifies.
func TestTemplateBuildSurvivesKills(t *testing.T) {
	bin, err := buildKaasd()
	if err != nil {
		t.Fatal(err)
	}
	simCfg := kaasdtest.FastSim()
	// Boots and tasks long enough that a kill lands inside a step, not only between them.
	simCfg.TaskDelay, simCfg.BootDelay = vcdsim.Duration(150*time.Millisecond), vcdsim.Duration(2*time.Second)
	sys := kaasdtest.StartSim(t, simCfg)
	cfg := sys.Config
	if _, err := kaasd.Install(t.Context(), cfg.VCDConfig(nil), kaasd.DefaultExtension(cfg.AMQPExchange, cfg.AMQPRoutingKey)); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "kaasd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	admin := freePort(t)
	p := &proc{t: t, bin: bin, admin: admin, log: logf, env: []string{
		"KAAS_DATA_DIR=" + cfg.DataDir, "KAAS_AMQP_URL=" + cfg.AMQPURL, "KAAS_AMQP_EXCHANGE=" + cfg.AMQPExchange,
		"KAAS_AMQP_ROUTING_KEY=" + cfg.AMQPRoutingKey, "KAAS_ADMIN_ADDR=" + admin,
		"KAAS_VCD_URL=" + cfg.VCDURL, "KAAS_VCD_USER=" + cfg.VCDUser, "KAAS_VCD_PASSWORD=" + cfg.VCDPassword, "KAAS_VCD_INSECURE=true",
		"KAAS_BUILD_ORG=acme", "KAAS_BUILD_VDC=acme-vdc", "KAAS_BUILD_NETWORK=acme-net",
		"KAAS_POLL_INTERVAL=50ms", "KAAS_LOG_LEVEL=info", "KAAS_EXECUTOR_ACK_WAIT=2s",
	}}
	p.start()
	t.Cleanup(p.stop)
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("kaasd's log (last 8 KB):\n%s", b[max(0, len(b)-8192):])
			time.Sleep(3 * time.Second)
			b, _ = os.ReadFile(logf.Name())
			t.Logf("kaasd's log later:\n%s", b[max(0, len(b)-8192):])
		}
	}()
	token := sys.Login(t, "administrator@System", "kaas-admin")
	provider := func(method, path string, body any) (int, []byte) {
		t.Helper()
		code, b, err := httpCall(sys, token, "", method, path, body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return code, b
	}
	r := loadRecipe(t, "ubuntu-22.04_k8s-1.29_antrea-1.14")
	r.Name = "killed-build"

	// last returns the type of the last record of an aggregate's history.
	last := func(id string) string {
		code, body := provider("GET", "/api/cse/3.0/audit?cluster="+id+"&order=newest&pageSize=1", nil)
		if code != http.StatusOK {
			return ""
		}
		if page := decode[cse.Page[cse.Event]](t, body); len(page.Values) > 0 {
			return page.Values[0].Type
		}
		return ""
	}
	stages := []string{events.TypeTemplateBuildStarted, events.TypeBaseImageReady, events.TypeBuildVAppCreated, events.TypeBuildVMCreated,
		events.TypeBuildVMStarted, events.TypeTemplateBuildProgressed, events.TypeBuildCustomized, events.TypeBuildVMStopped,
		events.TypeTemplateCaptured, events.TypeBuildVAppDeleted}
	position := func(typ string) int {
		if typ == events.TypeTemplateBuilt {
			return len(stages)
		}
		return slices.Index(stages, typ) // -1 for records that are no stage (a retry)
	}
	for i, stage := range stages {
		rev := i + 1
		code, body := provider("POST", "/api/cse/3.0/templates/action/build", r)
		if code != http.StatusAccepted {
			t.Fatalf("build %d: %d %s", rev, code, body)
		}
		acc := decode[cse.TemplateAccepted](t, body)
		if acc.Revision != rev {
			t.Fatalf("build %d made revision %d", rev, acc.Revision)
		}
		// The kill comes once the stage was recorded; a stage that passed between two looks
		// (the last steps follow each other quickly) is killed at the first look after it.
		kaasdtest.Eventually(t, 60*time.Second, 5*time.Millisecond, func() error {
			if at := last(acc.TemplateID); position(at) < i {
				return fmt.Errorf("revision %d has not reached %s (last: %s)", rev, stage, at)
			}
			return nil
		})
		p.kill()
		p.start()
		var got cse.ProviderTemplate
		kaasdtest.Eventually(t, 90*time.Second, 50*time.Millisecond, func() error {
			code, body := provider("GET", "/api/cse/3.0/template/"+r.Name+"/"+strconv.Itoa(rev), nil)
			if code != http.StatusOK {
				return fmt.Errorf("revision %d, killed after %s: %d %s", rev, stage, code, body)
			}
			if got = decode[cse.ProviderTemplate](t, body); got.Status == "BUILDING" {
				return fmt.Errorf("revision %d, killed after %s, is still %s at %q", rev, stage, got.Status, got.Step)
			}
			return nil
		})
		if got.Status != "READY" {
			t.Fatalf("revision %d, killed after %s, ended %s: %+v", rev, stage, got.Status, got.Failure)
		}
		inv := sys.Sim.Inventory()
		if l := leftovers(inv); len(l) > 0 {
			t.Fatalf("killed after %s, the build left %v", stage, l)
		}
		n := items(inv)
		for j := 1; j <= rev; j++ {
			if n[events.TemplateItemName(r.Name, j)] != 1 {
				t.Fatalf("killed after %s: %d items for revision %d (%v)", stage, n[events.TemplateItemName(r.Name, j)], j, n)
			}
		}
		if n[r.Base.Name] != 1 {
			t.Fatalf("killed after %s: %d base images %q", stage, n[r.Base.Name], r.Base.Name)
		}
	}
	verifyHistory(t, provider)
}
