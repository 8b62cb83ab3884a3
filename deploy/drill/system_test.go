package drill_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// system is kaas as a provider runs it: three kaasd on a three-node NATS cluster with
// every stream replicated three times and one key file, one AMQP queue they share,
// registered with VCD (vcdsim, in this process, over HTTPS) as `kaasd install` registers it.
type system struct {
	dir    string
	nats   []*natsNode
	kaasds []*kaasdProc
	broker *broker // nil: the machine's RabbitMQ
	sim    *vcdsim.Server
	url    string // VCD's, https://127.0.0.1:<port>
	https  *http.Client
	tenant string // alice@acme's session
	admin  string // the provider's session
}

// kaasdProc is one kaasd instance, its admin listener at admin.
type kaasdProc struct {
	*proc
	admin string
}

const readyWithin = 90 * time.Second // a busy machine with three kaasd starting at once

// startSystem starts the system and enables the tenant's VDC, as make run-ha does. With
// ownBroker, RabbitMQ is a node of the test's own (see broker), else the machine's.
func startSystem(t *testing.T, ownBroker bool) *system {
	t.Helper()
	b, err := buildBins()
	if err != nil {
		t.Fatal(err)
	}
	// The processes' logs and stores: kept when the test fails, or when KAAS_DRILL_LOGS
	// names a directory to keep them in.
	keep := os.Getenv("KAAS_DRILL_LOGS")
	if keep != "" {
		if err := os.MkdirAll(keep, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp(keep, "kaas-drill-")
	if err != nil {
		t.Fatal(err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || keep != "" {
			t.Logf("logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	s := &system{dir: dir, https: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 200}}} //nolint:gosec // vcdsim's own certificate

	var amqpURL, exchange, key string
	if ownBroker {
		s.broker = startBroker(t, dir)
		amqpURL, exchange, key = s.broker.url, "kaas-drill", "kaas-drill"
	} else {
		amqpURL = vcdexttest.RequireBroker(t)
		exchange, key = vcdexttest.UniqueNames(t)
	}

	// VCD: vcdsim over HTTPS, with tasks and boots short enough for hundreds of VMs.
	simCfg := kaasdtest.FastSim()
	simCfg.AMQPURL = amqpURL
	simCfg.TaskDelay, simCfg.BootDelay = vcdsim.Duration(30*time.Millisecond), vcdsim.Duration(300*time.Millisecond)
	simCfg.ExtensionTimeout = vcdsim.Duration(10 * time.Second)
	simLog, err := os.Create(filepath.Join(dir, "vcdsim.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simLog.Close() })
	if s.sim, err = vcdsim.New(simCfg, slog.New(slog.NewJSONHandler(simLog, &slog.HandlerOptions{Level: slog.LevelDebug}))); err != nil {
		t.Fatal(err)
	}
	s.url = kaasdtest.Serve(t, s.sim)

	// NATS: the three nodes at once, then a cluster that has elected its meta leader.
	s.nats = newNATSCluster(t, b.nats, dir)
	var wg sync.WaitGroup
	errs := make([]error, len(s.nats))
	for i, n := range s.nats {
		t.Cleanup(n.close)
		wg.Go(func() { errs[i] = n.start(time.Minute) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.natsHealthy(time.Minute); err != nil {
		t.Fatal(err)
	}

	// What `kaasd install` does: the queue, the extension, CSE's entity types and rights.
	cfg := kaasd.Defaults()
	cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = amqpURL, exchange, key
	cfg.VCDURL, cfg.VCDUser, cfg.VCDPassword, cfg.VCDInsecure = s.url+"/api", "administrator", "kaas-admin", true
	if _, err := kaasd.DeclareQueue(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := kaasd.Install(t.Context(), cfg.VCDConfig(nil), kaasd.DefaultExtension(exchange, key)); err != nil {
		t.Fatal(err)
	}
	if _, err := kaasd.InstallRDE(t.Context(), cfg.VCDConfig(nil), "all"); err != nil {
		t.Fatal(err)
	}

	// One key file for every instance, as make run-ha makes it.
	keyFile := filepath.Join(dir, "secrets.key")
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, n := range s.nats {
		urls = append(urls, n.url())
	}
	admins := freePorts(t, 3)
	for i := range 3 {
		kp := &kaasdProc{admin: "127.0.0.1:" + strconv.Itoa(admins[i])}
		name := fmt.Sprintf("kaasd-%d", i+1)
		kp.proc = &proc{name: name, path: b.kaasd, log: filepath.Join(dir, name+".log"), supervise: true, env: []string{
			"KAAS_DATA_DIR=" + filepath.Join(dir, name), "KAAS_ADMIN_ADDR=" + kp.admin,
			"KAAS_NATS_URL=" + strings.Join(urls, ","), "KAAS_REPLICAS=3", "KAAS_SECRETS_KEY_FILE=" + keyFile,
			"KAAS_AMQP_URL=" + amqpURL, "KAAS_AMQP_EXCHANGE=" + exchange, "KAAS_AMQP_ROUTING_KEY=" + key,
			"KAAS_VCD_URL=" + cfg.VCDURL, "KAAS_VCD_USER=" + cfg.VCDUser, "KAAS_VCD_PASSWORD=" + cfg.VCDPassword, "KAAS_VCD_INSECURE=true",
			// As the crash tests' kaasd: no mirror into VCD, and answers that name kaas's
			// operation at once.
			"KAAS_ROLES=ingress,executor,projector", "KAAS_TASK_WAIT=-1s", "KAAS_POLL_INTERVAL=50ms", "KAAS_LOG_LEVEL=info",
			// Commands a killed instance held come back to the others after the ack wait, and
			// VCD's refusals are retried soon: the drills want outcomes, not realistic waits.
			"KAAS_EXECUTOR_ACK_WAIT=2s", "KAAS_EXECUTOR_RETRY_BASE=100ms",
		}, ready: func() error {
			code, body, err := get("http://" + kp.admin + "/readyz?verbose")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("%d %s", code, strings.TrimSpace(body))
			}
			return err
		}}
		s.kaasds = append(s.kaasds, kp)
	}
	// The first instance declares the streams; the other two then find them. (Three
	// declaring replicated streams at once on a fresh cluster may time out, exit, and be
	// restarted: that works too, but slowly.)
	for _, kp := range s.kaasds {
		t.Cleanup(kp.close) // before the NATS nodes and vcdsim: cleanups run last first
	}
	if err := s.kaasds[0].start(readyWithin); err != nil {
		t.Fatal(err)
	}
	clear(errs)
	for i, kp := range s.kaasds[1:] {
		wg.Go(func() { errs[i] = kp.start(readyWithin) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	s.admin = s.login(t, "administrator@System", "kaas-admin")
	kaasdtest.EnableVDCs(t, func(method, path string, body any) (int, []byte) {
		code, b, err := s.call(s.admin, method, path, body)
		if err != nil {
			return 0, []byte(err.Error())
		}
		return code, b
	})
	s.tenant = s.login(t, "alice@acme", "alice-pass")
	return s
}

// natsHealthy waits until every node is current with the cluster.
func (s *system) natsHealthy(within time.Duration) error {
	return waitFor(within, 100*time.Millisecond, func() error {
		for _, n := range s.nats {
			if err := n.healthy(); err != nil {
				return err
			}
		}
		return nil
	})
}

// login opens a session at VCD and returns its bearer token, as kaasd's tests do.
func (s *system) login(t *testing.T, userAtOrg, password string) string {
	t.Helper()
	return (&kaasdtest.System{URL: s.url, HTTP: s.https}).Login(t, userAtOrg, password)
}

// call makes one HTTPS call to VCD's API in a session: CSE's API, relayed to kaas over
// AMQP, or VCD's own (a task). A failure to get any answer is an error; every status is an
// answer.
func (s *system) call(token, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	accept := "application/json;version=36.0"
	if !strings.HasPrefix(path, "/api/cse") {
		accept = "application/*+xml;version=37.0"
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", accept)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.https.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// served is how many requests for an operation of the API each instance answered, from
// its /metrics: which instance answered a call VCD relayed shows in whose count grew.
func (s *system) served(operation string) []float64 {
	prefix := `kaas_ingress_requests_total{operation="` + operation + `",outcome="ok"} `
	out := make([]float64, len(s.kaasds))
	for i, k := range s.kaasds {
		_, body, err := get("http://" + k.admin + "/metrics")
		if err != nil {
			out[i] = -1 // down: it answers nothing
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				out[i], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}

// onEveryInstance makes a provider's call until each instance has answered it once, and
// returns each instance's answer. The instances share one queue, so a call goes to
// whichever RabbitMQ hands it; the instance's request count says which one it was.
func (s *system) onEveryInstance(method, path, operation string) ([][]byte, error) {
	answers := make([][]byte, len(s.kaasds))
	missing := func() []string {
		var m []string
		for i, a := range answers {
			if a == nil {
				m = append(m, s.kaasds[i].name)
			}
		}
		return m
	}
	for try := 0; try < 12*len(s.kaasds) && len(missing()) > 0; try++ {
		before := s.served(operation)
		code, body, err := s.call(s.admin, method, path, nil)
		if err != nil || code != http.StatusOK {
			continue // not answered: no count to read
		}
		var who []int
		// The count grows just after the reply is sent.
		_ = waitFor(5*time.Second, 20*time.Millisecond, func() error {
			who = who[:0]
			for i, n := range s.served(operation) {
				if n > before[i] {
					who = append(who, i)
				}
			}
			if len(who) == 0 {
				return fmt.Errorf("no instance counts the %s", operation)
			}
			return nil
		})
		if len(who) == 1 && answers[who[0]] == nil {
			answers[who[0]] = body
		}
	}
	if m := missing(); len(m) > 0 {
		return answers, fmt.Errorf("%s %s: never answered by %s", method, path, strings.Join(m, ", "))
	}
	return answers, nil
}
