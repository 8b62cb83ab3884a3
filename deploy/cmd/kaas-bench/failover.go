package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
	"github.com/kaasproject/kaas/internal/gobuild"
)

// failoverInFlight is the failover runs' load: callers each sending one create after
// another.
const failoverInFlight = 16

// Failover is the failover measurement: two kaasd processes on one NATS cluster of three
// nodes and one AMQP queue, under the same load twice, the second time with one of them
// killed.
type Failover struct {
	InFlight int    `json:"in_flight"`
	Duration string `json:"duration"` // the load time of each run
	// Steady is the load with both instances up; Killed the same with one SIGKILLed at
	// KilledAfterMs into it.
	Steady        FailoverRun `json:"steady"`
	Killed        FailoverRun `json:"killed"`
	KilledAfterMs float64     `json:"killed_after_ms"`
}

// FailoverRun is one run's requests, each timed from its publish to its reply, or to its
// failure (a request without a reply fails after VCD's 10 s timeout).
type FailoverRun struct {
	Requests     int      `json:"requests"`
	Errors       int      `json:"errors"`
	Throughput   float64  `json:"throughput_per_s"` // successful requests per second
	P50Ms        float64  `json:"p50_ms"`
	P99Ms        float64  `json:"p99_ms"`
	MaxMs        float64  `json:"max_ms"` // the longest any request waited
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// runFailover starts the cluster and the two kaasd processes, runs the load twice and
// tears everything down.
func runFailover(ctx context.Context, url string, o options, logf func(string, ...any)) (*Failover, error) {
	if err := probeBroker(url); err != nil {
		return nil, fmt.Errorf("RabbitMQ is not reachable at %s (set KAAS_AMQP_URL, or run `make rabbitmq`): %w", redact(url), err)
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	fe := &env{runID: hex.EncodeToString(id), url: url}
	fe.names.prefix = "f" + fe.runID + "-"
	dir, err := os.MkdirTemp("", "kaas-bench-failover-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			logf("remove %s: %v", dir, err)
		}
	}()

	bin := o.kaasdBin
	if bin == "" {
		logf("building kaasd for the failover runs")
		if bin, err = buildKaasd(ctx, dir); err != nil {
			return nil, err
		}
	}
	logf("starting a NATS cluster of %d nodes for the failover runs (sync before ack)", clusterNodes)
	cluster, err := startCluster(filepath.Join(dir, "cluster"), "kaas-bench-failover-"+fe.runID)
	defer cluster.shutdown()
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(dir, "secrets.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return nil, err
	}
	exchange, queue := "kaas-bench-x-failover-"+fe.runID, "kaas-bench-q-failover-"+fe.runID
	defer deleteTopology(url, logf, [2]string{exchange, queue})

	// Two instances on the same streams and the same queue, as several kaasd behind one VCD
	// run (issue 14): ingress and projector, no executor (see kaas, above).
	var procs []*kaasdProc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for _, name := range []string{"a", "b"} {
		p := &kaasdProc{name: "kaasd-" + name, bin: bin, log: filepath.Join(dir, "kaasd-"+name+".log"), env: []string{
			"KAAS_NATS_URL=" + cluster.URLs(), "KAAS_REPLICAS=3", "KAAS_DATA_DIR=" + filepath.Join(dir, name),
			"KAAS_SECRETS_KEY_FILE=" + keyFile, "KAAS_AMQP_URL=" + url, "KAAS_AMQP_EXCHANGE=" + exchange,
			"KAAS_AMQP_ROUTING_KEY=" + queue, "KAAS_ROLES=ingress,projector", "KAAS_LOG_LEVEL=warn",
		}}
		logf("starting %s (a process on the cluster, %d replicas, queue %s)", p.name, clusterNodes, queue)
		if err := p.start(ctx); err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}

	nc, err := nats.Connect(cluster.URLs(), nats.Name("kaas-bench"))
	if err != nil {
		return nil, fmt.Errorf("connect to the NATS cluster: %w", err)
	}
	defer nc.Close()
	st, err := jsstore.New(ctx, nc, jsstore.Config{SecretsKey: key, Replicas: clusterNodes})
	if err != nil {
		return nil, err
	}
	if err := enableVDC(ctx, st, fe.runID); err != nil {
		return nil, err
	}
	client, err := vcdextclient.NewClient(ctx, url, exchange, queue)
	if err != nil {
		return nil, fmt.Errorf("failover client: %w", err)
	}
	defer client.Close()
	if err := fe.firstAnswer(ctx, client, nil); err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	warm(ctx, failoverInFlight, o.warmup, func(ctx context.Context) error { return fe.create(ctx, client) })

	f := &Failover{InFlight: failoverInFlight, Duration: o.failover.String()}
	logf("failover: %d in flight for %v, both instances up", failoverInFlight, o.failover)
	f.Steady, _ = failoverLoad(ctx, fe, client, o.failover, nil)
	logf("failover: %d in flight for %v, %s killed with SIGKILL a third of the way in", failoverInFlight, o.failover, procs[0].name)
	var killed time.Duration
	f.Killed, killed = failoverLoad(ctx, fe, client, o.failover, procs[0].kill)
	f.KilledAfterMs = ms(killed)
	for _, r := range []FailoverRun{f.Steady, f.Killed} {
		for _, s := range r.ErrorSamples {
			logf("  error: %s", s)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return f, nil
}

// failoverLoad runs failoverInFlight callers for d and times every request, failed ones
// included. When kill is not nil it is called a third of the way in; failoverLoad then
// returns when, after the start, it was called.
func failoverLoad(ctx context.Context, fe *env, client *vcdextclient.Client, d time.Duration, kill func()) (FailoverRun, time.Duration) {
	var (
		mu     sync.Mutex
		waits  []time.Duration
		failed int
		errs   errorLog
		killed time.Duration
		wg     sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	if kill != nil {
		wg.Go(func() {
			select {
			case <-time.After(d / 3):
			case <-ctx.Done():
				return
			}
			killed = time.Since(start)
			kill()
		})
	}
	for range failoverInFlight {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				err := fe.create(ctx, client)
				wait := time.Since(t0)
				mu.Lock()
				waits = append(waits, wait)
				if err != nil {
					failed++
					errs.add(err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	r := FailoverRun{Requests: len(waits), Errors: failed, ErrorSamples: errs.samples}
	if len(waits) > 0 {
		slices.Sort(waits)
		r.P50Ms, r.P99Ms, r.MaxMs = ms(waits[len(waits)/2]), ms(waits[min(len(waits)*99/100, len(waits)-1)]), ms(waits[len(waits)-1])
		r.Throughput = float64(len(waits)-failed) / wall.Seconds()
	}
	return r, killed
}

// buildKaasd builds deploy/cmd/kaasd into dir with the go command that runs the bench.
func buildKaasd(ctx context.Context, dir string) (string, error) {
	bins, err := gobuild.Build(ctx, dir, "github.com/kaasproject/kaas/deploy/cmd/kaasd")
	if err != nil {
		return "", fmt.Errorf("%w (or name a binary with -kaasd)", err)
	}
	return bins[0], nil
}

// kaasdProc is kaasd running as a process of its own, so that it can be killed as a crash
// kills it.
type kaasdProc struct {
	name, bin, log string
	env            []string
	cmd            *exec.Cmd
	logFile        *os.File
}

// start runs the binary and waits until its /readyz answers 200.
func (p *kaasdProc) start(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	admin := ln.Addr().String()
	ln.Close()
	if p.logFile, err = os.Create(p.log); err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin)
	// Nothing of the caller's kaasd configuration leaks in: only what the bench sets.
	env := slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, "KAAS_") })
	p.cmd.Env = append(env, append(p.env, "KAAS_ADMIN_ADDR="+admin)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logFile, p.logFile
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30s: %s", p.name, p.tail())
}

// kill ends the process with SIGKILL, as a crash or the OOM killer does.
func (p *kaasdProc) kill() {
	if p.cmd == nil || p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// stop ends the process with SIGTERM, killing it if it is still there after 10 s.
func (p *kaasdProc) stop() {
	if p.cmd != nil && p.cmd.Process != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
	if p.logFile != nil {
		p.logFile.Close()
	}
}

// tail is the end of the process's log, for an error.
func (p *kaasdProc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func printFailover(w io.Writer, f *Failover) error {
	if f == nil {
		return errors.New("no failover results")
	}
	fmt.Fprintf(w, "failover: two kaasd processes on a NATS cluster of three nodes (3 replicas) and one AMQP queue, %d in flight for %s;\n"+
		"the second run SIGKILLs one of them %.1f s in\n\n", f.InFlight, f.Duration, f.KilledAfterMs/1000)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\trequests\terrors\treq/s\tp50 ms\tp99 ms\tlongest wait ms\t")
	for _, r := range []struct {
		name string
		FailoverRun
	}{{"both up", f.Steady}, {"one killed", f.Killed}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t\n", r.name, r.Requests, r.Errors, r.Throughput, r.P50Ms, r.P99Ms, r.MaxMs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}
