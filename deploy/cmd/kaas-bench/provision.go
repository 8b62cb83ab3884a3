package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/svc"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
)

// provisionAim is the goal: N concurrent creates finish within 1.5 times one create's wall
// time, i.e. kaas adds at most half a create of queueing however many tenants ask at once.
const provisionAim = 1.5

// provOptions are the provisioning measurement's settings.
type provOptions struct {
	clusters             int
	taskDelay, bootDelay time.Duration
	poll                 time.Duration
	workers              int
}

// Provisioning is the provisioning-concurrency measurement: one create alone, then
// Clusters creates at once, each of 1 control plane and 2 workers, through the whole path
// (HTTPS to the simulated VCD's /api/cse, AMQP, kaasd, JetStream, executors, go-vcloud-director,
// the simulator's tasks and guests).
type Provisioning struct {
	Clusters        int    `json:"clusters"`
	TaskDelay       string `json:"task_delay"`
	BootDelay       string `json:"boot_delay"`
	PollInterval    string `json:"poll_interval"`
	ExecutorWorkers int    `json:"executor_workers"`
	// OneSeconds is one create's wall time, POST to CREATE:SUCCEEDED seen by the tenant.
	OneSeconds float64 `json:"one_create_s"`
	// AllSeconds is the wall time from the first of the concurrent POSTs until the last
	// cluster was seen final; P50Seconds and MaxSeconds are per-cluster times within it.
	AllSeconds float64 `json:"all_creates_s"`
	P50Seconds float64 `json:"per_cluster_p50_s"`
	MaxSeconds float64 `json:"per_cluster_max_s"`
	Ratio      float64 `json:"ratio"`
	AimMet     bool    `json:"aim_met"`
	// Phases counts the concurrent creates' final phases.
	Phases map[string]int `json:"phases"`
	// CallsOne is the VCD API calls of the single create, by operation; CallsPerCluster is
	// the concurrent run's calls divided by its clusters.
	CallsOne        map[string]int     `json:"vcd_calls_one_create"`
	CallsPerCluster map[string]float64 `json:"vcd_calls_per_cluster"`
	// CPUSeconds is what this process (kaasd, its JetStream, the simulator, the client)
	// spent during the concurrent run.
	CPUSeconds float64 `json:"process_cpu_s"`
}

// provEnv is the simulator and a kaasd provisioning on it.
type provEnv struct {
	sim *vcdsim.Server
	// simSrv serves sim over TLS at simURL, as deploy/cmd/vcdsim does.
	simSrv *http.Server
	simURL string
	srv    *kaasd.Server
	dir    string
	client *http.Client
	token  string
	prefix string
	n      atomic.Int64
	// exchange and queue are the run's AMQP topology, deleted at the end.
	exchange, queue string
}

// runProvision measures provisioning concurrency. It tears down what it set up.
func runProvision(ctx context.Context, url string, o provOptions, logf func(string, ...any)) (*Provisioning, error) {
	e, err := startProvEnv(ctx, url, o, logf)
	if e != nil {
		defer e.close(url, logf)
	}
	if err != nil {
		return nil, err
	}
	p := &Provisioning{Clusters: o.clusters, TaskDelay: o.taskDelay.String(), BootDelay: o.bootDelay.String(),
		PollInterval: o.poll.String(), ExecutorWorkers: o.workers}

	// The first create pays for kaasd's VCD login and lookups that later ones find cached;
	// it is not measured.
	logf("provisioning: one create to warm up (tasks %v, boot %v)", o.taskDelay, o.bootDelay)
	if _, _, err := e.createOne(ctx); err != nil {
		return nil, fmt.Errorf("warm-up create: %w", err)
	}
	before := e.sim.Calls()
	one, phase, err := e.createOne(ctx)
	if err != nil {
		return nil, fmt.Errorf("single create: %w", err)
	}
	if phase != "CREATE:SUCCEEDED" {
		return nil, fmt.Errorf("single create ended %s", phase)
	}
	p.OneSeconds = one.Seconds()
	p.CallsOne = diffCalls(before, e.sim.Calls())
	logf("provisioning: one create took %.1fs and %d VCD calls", p.OneSeconds, sum(p.CallsOne))

	logf("provisioning: %d creates at once", o.clusters)
	before = e.sim.Calls()
	cpu0 := processCPU()
	times, phases, all, err := e.createMany(ctx, o.clusters)
	if err != nil {
		return nil, err
	}
	p.CPUSeconds = (processCPU() - cpu0).Seconds()
	p.AllSeconds, p.Phases = all.Seconds(), phases
	sort.Float64s(times)
	p.P50Seconds, p.MaxSeconds = times[len(times)/2], times[len(times)-1]
	p.CallsPerCluster = map[string]float64{}
	for op, n := range diffCalls(before, e.sim.Calls()) {
		p.CallsPerCluster[op] = float64(n) / float64(o.clusters)
	}
	p.Ratio = p.AllSeconds / p.OneSeconds
	p.AimMet = p.Ratio <= provisionAim && phases["CREATE:SUCCEEDED"] == o.clusters
	logf("provisioning: %d creates took %.1fs (%.2f × one)", o.clusters, p.AllSeconds, p.Ratio)
	return p, nil
}

func startProvEnv(ctx context.Context, url string, o provOptions, logf func(string, ...any)) (*provEnv, error) {
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	runID := hex.EncodeToString(id)
	e := &provEnv{prefix: "p" + runID + "-"}
	var err error
	if e.dir, err = os.MkdirTemp("", "kaas-bench-prov-"); err != nil {
		return nil, err
	}
	simCfg := vcdsim.Default()
	simCfg.TaskDelay, simCfg.BootDelay = vcdsim.Duration(o.taskDelay), vcdsim.Duration(o.bootDelay)
	simCfg.AMQPURL = url
	simCfg.ExtensionTimeout = vcdsim.Duration(30 * time.Second)
	simLog, err := svc.NewLogger(os.Stderr, "warn")
	if err != nil {
		return e, err
	}
	if e.sim, err = vcdsim.New(simCfg, simLog); err != nil {
		return e, fmt.Errorf("vcdsim: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e, fmt.Errorf("vcdsim: %w", err)
	}
	if ln, err = vcdsim.SelfSignedTLS(ln, "vcdsim"); err != nil {
		return e, err
	}
	e.simURL = "https://" + ln.Addr().String()
	e.simSrv = &http.Server{Handler: e.sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.simSrv.Serve(ln) }() // returns http.ErrServerClosed at close
	e.sim.SetBase(e.simURL)
	e.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 256}}

	cfg := kaasd.Defaults()
	cfg.DataDir = filepath.Join(e.dir, "kaasd")
	e.exchange, e.queue = "kaas-bench-x-prov-"+runID, "kaas-bench-q-prov-"+runID
	cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = url, e.exchange, e.queue
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.VCDURL, cfg.VCDUser, cfg.VCDPassword, cfg.VCDInsecure = e.simURL+"/api", "administrator", "kaas-admin", true
	cfg.PollInterval, cfg.ExecutorWorkers = o.poll, o.workers
	log, err := svc.NewLogger(os.Stderr, "warn")
	if err != nil {
		return e, err
	}
	if _, err := kaasd.Install(ctx, cfg.VCDConfig(log), kaasd.DefaultExtension(cfg.AMQPExchange, cfg.AMQPRoutingKey)); err != nil {
		return e, fmt.Errorf("kaasd install: %w", err)
	}
	if _, err := kaasd.InstallRDE(ctx, cfg.VCDConfig(log), "all"); err != nil {
		return e, fmt.Errorf("kaasd install: %w", err)
	}
	logf("provisioning: starting vcdsim at %s and kaasd (executor workers %d, poll %v)", e.simURL, cfg.ExecutorWorkers, cfg.PollInterval)
	if e.srv, err = kaasd.Start(ctx, cfg, log); err != nil {
		return e, fmt.Errorf("start kaasd: %w", err)
	}
	if e.token, err = e.login(ctx, "administrator@System", "kaas-admin"); err != nil {
		return e, err
	}
	if err := e.enableVDCs(ctx); err != nil {
		return e, err
	}
	if e.token, err = e.login(ctx, "alice@acme", "alice-pass"); err != nil {
		return e, err
	}
	return e, nil
}

// enableVDCs does, as a provider, what tenants need before they create: once kaasd has read
// VCD's org VDCs, it enables each for native Kubernetes.
func (e *provEnv) enableVDCs(ctx context.Context) error {
	var vdcs []cse.Ovdc
	for deadline := time.Now().Add(30 * time.Second); len(vdcs) == 0; time.Sleep(100 * time.Millisecond) {
		code, b, err := e.call(ctx, "GET", "/api/cse/3.0/ovdcs", nil)
		if err == nil && code == http.StatusOK {
			_ = json.Unmarshal(b, &vdcs)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kaasd never listed VCD's org VDCs (last answer %d %.200s, %v)", code, b, err)
		}
	}
	for _, d := range vdcs {
		body, _ := json.Marshal(cse.OvdcUpdate{K8sRuntime: []string{"native"}, OrgName: d.OrgName, OvdcName: d.Name})
		if code, b, err := e.call(ctx, "PUT", "/api/cse/3.0/ovdc/"+d.ID, body); err != nil || code != http.StatusAccepted {
			return fmt.Errorf("enable %s: %d %.200s %v", d.Name, code, b, err)
		}
	}
	return nil
}

func (e *provEnv) close(url string, logf func(string, ...any)) {
	if e.srv != nil {
		if err := e.srv.Close(); err != nil {
			logf("kaasd: %v", err)
		}
	}
	if e.exchange != "" {
		deleteTopology(url, logf, [2]string{e.exchange, e.queue})
	}
	if e.simSrv != nil {
		_ = e.simSrv.Close()
	}
	if e.sim != nil {
		e.sim.Close()
	}
	if e.dir != "" {
		if err := os.RemoveAll(e.dir); err != nil {
			logf("remove %s: %v", e.dir, err)
		}
	}
}

// login opens a tenant session on the simulated VCD, as CSE's clients do.
func (e *provEnv) login(ctx context.Context, user, pass string) (string, error) {
	path := "/cloudapi/1.0.0/sessions"
	if strings.HasSuffix(user, "@System") {
		path += "/provider"
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", e.simURL+path, nil)
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/json;version=37.0")
	resp, err := e.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("tenant login: %w", err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-Vmware-Vcloud-Access-Token")
	if resp.StatusCode != 200 || tok == "" {
		return "", fmt.Errorf("tenant login: status %d", resp.StatusCode)
	}
	return tok, nil
}

// call is a tenant's call to VCD's /api/cse, relayed to kaasd over AMQP.
func (e *provEnv) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, e.simURL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Accept", "application/json;version=36.0")
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// post creates a cluster and returns its id.
func (e *provEnv) post(ctx context.Context) (string, error) {
	body, _ := json.Marshal(entity(fmt.Sprintf("%s%d", e.prefix, e.n.Add(1))))
	code, b, err := e.call(ctx, "POST", createPath, body)
	if err != nil {
		return "", err
	}
	if code != http.StatusAccepted {
		return "", fmt.Errorf("create: status %d: %.300s", code, b)
	}
	var ent cse.DefEntity
	if err := json.Unmarshal(b, &ent); err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	return clusterKey(ent), nil
}

// clusterKey is kaas's id of a cluster: answers show VCD's entity id once the mirror linked
// it, and kaas's own in status.kaas.clusterId; every route takes either.
func clusterKey(ent cse.DefEntity) string {
	if st := ent.Entity.Status; st != nil && st.Kaas != nil && st.Kaas.ClusterID != "" {
		return st.Kaas.ClusterID
	}
	return strings.TrimPrefix(ent.ID, cse.EntityIDPrefix)
}

// createOne creates a cluster and waits until the tenant sees it final.
func (e *provEnv) createOne(ctx context.Context) (time.Duration, string, error) {
	start := time.Now()
	id, err := e.post(ctx)
	if err != nil {
		return 0, "", err
	}
	for {
		code, b, err := e.call(ctx, "GET", "/api/cse/3.0/cluster/"+id, nil)
		if err != nil {
			return 0, "", err
		}
		var ent cse.DefEntity
		if code != 200 || json.Unmarshal(b, &ent) != nil || ent.Entity.Status == nil {
			return 0, "", fmt.Errorf("GET %s: status %d: %.300s", id, code, b)
		}
		if ph := ent.Entity.Status.Phase; !strings.HasSuffix(ph, "IN_PROGRESS") {
			return time.Since(start), ph, nil
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createMany posts n creates at once and watches the tenant's cluster list until every
// one is final. It returns each cluster's time to final, the final phases and the wall time.
func (e *provEnv) createMany(ctx context.Context, n int) ([]float64, map[string]int, time.Duration, error) {
	start := time.Now()
	ids := make([]string, n)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for i := range ids {
		g.Go(func() error {
			id, err := e.post(gctx)
			mu.Lock()
			ids[i] = id
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, 0, err
	}
	pending := map[string]bool{}
	for _, id := range ids {
		pending[id] = true
	}
	var times []float64
	phases := map[string]int{}
	deadline := time.Now().Add(10 * time.Minute)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			return nil, nil, 0, fmt.Errorf("%d of %d clusters still in progress after 10 minutes", len(pending), n)
		}
		select {
		case <-ctx.Done():
			return nil, nil, 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		code, b, err := e.call(ctx, "GET", createPath, nil)
		if err != nil {
			return nil, nil, 0, err
		}
		var list []cse.DefEntity
		if code != 200 || json.Unmarshal(b, &list) != nil {
			return nil, nil, 0, fmt.Errorf("list clusters: status %d: %.300s", code, b)
		}
		now := time.Since(start)
		for _, ent := range list {
			key := clusterKey(ent)
			if !pending[key] || ent.Entity.Status == nil || strings.HasSuffix(ent.Entity.Status.Phase, "IN_PROGRESS") {
				continue
			}
			delete(pending, key)
			phases[ent.Entity.Status.Phase]++
			times = append(times, now.Seconds())
		}
	}
	return times, phases, time.Since(start), nil
}

func diffCalls(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range after {
		if d := n - before[op]; d > 0 {
			out[op] = d
		}
	}
	return out
}

func sum[V int | float64](m map[string]V) V {
	var t V
	for _, v := range m {
		t += v
	}
	return t
}

func printProvision(w io.Writer, p *Provisioning) error {
	fmt.Fprintf(w, "\nprovisioning: %d concurrent creates of 1 control plane + 2 workers; VCD tasks %s, boot %s; kaasd polls every %s with %d executor workers\n\n",
		p.Clusters, p.TaskDelay, p.BootDelay, p.PollInterval, p.ExecutorWorkers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "one create s\tall creates s\tper cluster p50 s\tper cluster max s\tall/one\tfinal phases\tCPU s\t")
	var ph []string
	for _, k := range slices.Sorted(maps.Keys(p.Phases)) {
		ph = append(ph, fmt.Sprintf("%s %d", k, p.Phases[k]))
	}
	fmt.Fprintf(tw, "%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%s\t%.1f\t\n", p.OneSeconds, p.AllSeconds, p.P50Seconds, p.MaxSeconds, p.Ratio, strings.Join(ph, ", "), p.CPUSeconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "VCD calls\tone create\tper cluster, all at once\t")
	ops := slices.Sorted(maps.Keys(p.CallsPerCluster))
	for op := range maps.Keys(p.CallsOne) {
		if !slices.Contains(ops, op) {
			ops = append(ops, op)
		}
	}
	for _, op := range ops {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t\n", op, p.CallsOne[op], p.CallsPerCluster[op])
	}
	fmt.Fprintf(tw, "total\t%d\t%.1f\t\n", sum(p.CallsOne), sum(p.CallsPerCluster))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	verdict := "NOT MET"
	if p.AimMet {
		verdict = "MET"
	}
	fmt.Fprintf(w, "aim %d creates at once ≤ %.1f × one create, all CREATE:SUCCEEDED: %s (%.2f)\n", p.Clusters, provisionAim, verdict, p.Ratio)
	return nil
}
