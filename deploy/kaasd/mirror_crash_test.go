package kaasd_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events/cse"
)

// httpCall is one call to VCD's HTTPS API in a session, safe from any goroutine.
func httpCall(sys *kaasdtest.System, token, accept, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, sys.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", cmpOr(accept, "application/json;version=36.0"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := sys.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestMirrorSurvivesCrashes kills kaasd (SIGKILL) during a burst of creates and again
// during a burst of forced deletes. At the end VCD shows exactly what kaas knows: every
// live cluster has exactly one entity, whose content is what /api/cse answers; no entity is
// left for a deleted cluster; every task kaas made has ended.
func TestMirrorSurvivesCrashes(t *testing.T) {
	bin, err := buildKaasd()
	if err != nil {
		t.Fatal(err)
	}
	sys := kaasdtest.StartSim(t, kaasdtest.FastSim())
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
		"KAAS_POLL_INTERVAL=50ms", "KAAS_LOG_LEVEL=info", "KAAS_EXECUTOR_ACK_WAIT=2s", "KAAS_MIRROR_RESYNC=3s",
	}}
	p.start()
	t.Cleanup(p.stop)
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("kaasd's log (last 8 KB):\n%s", b[max(0, len(b)-8192):])
		}
	}()
	kaasdtest.EnableVDCs(t, sys.AsProvider(t))
	alice := sys.Login(t, "alice@acme", "alice-pass")
	provider := sys.Login(t, "administrator@System", "kaas-admin")

	// burst sends n calls at 20ms intervals, kills kaasd once killAfter have been answered,
	// starts it again, and returns the answers (0 for a call VCD gave up on).
	burst := func(n, killAfter int, call func(i int) (int, []byte, error)) ([]int, [][]byte) {
		codes, bodies := make([]int, n), make([][]byte, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		answered := 0
		kill := make(chan struct{})
		for i := range n {
			time.Sleep(20 * time.Millisecond)
			wg.Go(func() {
				code, b, err := call(i)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					codes[i], bodies[i] = code, b
				}
				if answered++; answered == killAfter {
					close(kill)
				}
			})
		}
		<-kill
		p.kill()
		p.start()
		wg.Wait()
		return codes, bodies
	}

	const n = 24
	codes, bodies := burst(n, n/3, func(i int) (int, []byte, error) {
		return httpCall(sys, alice, "", "POST", "/api/cse/3.0/clusters", entity(fmt.Sprintf("crash-%02d", i), good, 1, true))
	})
	var ids []string
	for i := range n {
		if codes[i] == http.StatusAccepted {
			var ent cse.DefEntity
			_ = json.Unmarshal(bodies[i], &ent)
			ids = append(ids, ent.ID)
		}
	}
	if len(ids) < n/2 {
		t.Fatalf("only %d of %d creates answered 202 (%v)", len(ids), n, codes)
	}
	t.Logf("%d of %d creates answered; killed once", len(ids), n)

	// Half of them deleted, forced (whatever they are doing), with another kill.
	gone := ids[:len(ids)/2]
	burst(len(gone), len(gone)/2, func(i int) (int, []byte, error) {
		return httpCall(sys, alice, "", "POST", "/api/cse/3.0/cluster/"+gone[i]+"/action/force-delete", nil)
	})

	// Everything settles: no cluster in progress, and VCD shows exactly what kaas does.
	restarted := time.Now()
	kaasdtest.Eventually(t, 3*time.Minute, 500*time.Millisecond, func() error {
		if why := mirrored(sys, alice, provider); why != "" {
			return fmt.Errorf("VCD does not show what kaas knows: %s", why)
		}
		return nil
	})
	t.Logf("VCD matches kaas %s after the last restart", time.Since(restarted).Round(time.Second))
}

// mirrored says how VCD does not (yet) show what kaas knows, "" when it does.
func mirrored(sys *kaasdtest.System, alice, provider string) string {
	code, b, err := httpCall(sys, alice, "", "GET", "/api/cse/3.0/clusters", nil)
	if err != nil || code != http.StatusOK {
		return fmt.Sprintf("list clusters: %d %v", code, err)
	}
	var live []struct {
		ID     string         `json:"id"`
		Name   string         `json:"name"`
		Entity map[string]any `json:"entity"`
	}
	if err := json.Unmarshal(b, &live); err != nil {
		return err.Error()
	}
	type liveCluster struct {
		id, name, taskHref string
		content            map[string]any
	}
	byCluster := map[string]liveCluster{}
	for _, c := range live {
		st, _ := c.Entity["status"].(map[string]any)
		phase, _ := st["phase"].(string)
		if strings.HasSuffix(phase, "IN_PROGRESS") {
			return "cluster " + c.Name + " is " + phase
		}
		kaas, _ := st["kaas"].(map[string]any)
		id, _ := kaas["clusterId"].(string)
		href, _ := st["taskHref"].(string)
		byCluster[id] = liveCluster{id: c.ID, name: c.Name, taskHref: href, content: c.Entity}
	}
	entities := map[string][]vcdEntity{}
	for page := 1; ; page++ {
		code, b, err := httpCall(sys, provider, "application/json;version=37.0", "GET",
			"/cloudapi/1.0.0/entities/types/cse/nativeCluster/2.1.0?pageSize=25&page="+strconv.Itoa(page), nil)
		if err != nil || code != http.StatusOK {
			return fmt.Sprintf("list entities: %d %v", code, err)
		}
		var p struct {
			Values []vcdEntity `json:"values"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return err.Error()
		}
		if len(p.Values) == 0 {
			break
		}
		for _, e := range p.Values {
			kaas, _ := e.Entity["status"].(map[string]any)["kaas"].(map[string]any)
			id, _ := kaas["clusterId"].(string)
			entities[id] = append(entities[id], e)
		}
	}
	for id, es := range entities {
		c, ok := byCluster[id]
		switch {
		case !ok:
			return fmt.Sprintf("%d entities left for cluster %s, which kaas does not have", len(es), id)
		case len(es) != 1:
			return fmt.Sprintf("cluster %s has %d entities", c.name, len(es))
		}
		if e := es[0]; e.ID != c.id || e.State != "RESOLVED" || !reflect.DeepEqual(e.Entity, c.content) {
			return fmt.Sprintf("cluster %s: entity %s (%s) does not show what kaas does (id %s)", c.name, e.ID, e.State, c.id)
		}
	}
	for id, c := range byCluster {
		if len(entities[id]) == 0 {
			return "cluster " + c.name + " has no entity"
		}
		if !strings.HasPrefix(c.taskHref, sys.URL+"/api/task/") {
			return fmt.Sprintf("cluster %s shows task %q", c.name, c.taskHref)
		}
	}
	// Every task kaas made has ended.
	for page := 1; ; page++ {
		code, b, err := httpCall(sys, provider, "application/*+xml;version=37.0", "GET",
			"/api/query?type=task&format=records&pageSize=128&filter=serviceNamespace==vcloud.cse&page="+strconv.Itoa(page), nil)
		if err != nil || code != http.StatusOK {
			return fmt.Sprintf("query tasks: %d %v", code, err)
		}
		var recs struct {
			Records []struct {
				Status    string `xml:"status,attr"`
				Operation string `xml:"operationFull,attr"`
			} `xml:"TaskRecord"`
		}
		if err := xml.Unmarshal(b, &recs); err != nil {
			return err.Error()
		}
		if len(recs.Records) == 0 {
			break
		}
		for _, r := range recs.Records {
			if r.Status != "success" && r.Status != "error" {
				return fmt.Sprintf("task %q is %s", r.Operation, r.Status)
			}
		}
	}
	return ""
}
