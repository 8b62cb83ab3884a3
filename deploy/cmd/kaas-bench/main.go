// Command kaas-bench is `make bench`: it measures kaas's request path against the bare
// ceilings it is built on, on this machine, in one run.
//
// For each in-flight level (-levels, default 1, 16 and 64 concurrent callers) it measures,
// back to back in one process:
//
//   - echo: the bare AMQP request-reply ceiling. [vcdextclient.RunEcho] is an extension with
//     vcdext's topology and reply protocol (persistent requests, publisher confirms on the
//     reply, ack after the confirm) and no handler work. It is the fastest any AMQP
//     extension can answer VCD here. Its 202 carries a 22-byte body, where kaas's carries
//     the rendered entity (about 1.9 KB), so part of the gap is the size of the answer.
//   - echo, kaas-size reply: the same echo answering with a body exactly as large as kaas's
//     202 (measured at start): the ceiling for an extension that must send what kaas sends.
//     The aim is stated against the bare echo; the second ratio shows what kaas's own work
//     costs once the size of the answer is set aside.
//   - kaas: the create path of a real kaasd started in-process with [kaasd.Start]:
//     POST /api/cse/3.0/clusters with a valid v2.1 native entity and a cluster name unique to
//     each request, expecting 202. The request goes AMQP in, envelope decode, entity decode
//     and validation, name check against the views, durable JetStream append of the
//     CreateCluster command, 202 rendered, reply published and confirmed, request acked.
//     kaasd runs the ingress and projector roles only, with no executor: the bench measures
//     the request path, not provisioning. An executor would pick up every accepted command
//     and drive a VCD, burning the same two cores on work that happens after the 202 and
//     that no tenant waits for.
//   - jetstream: the bare JetStream ceiling, for context: N goroutines each doing a
//     synchronous PublishMsg with a unique Nats-Msg-Id (and the expected-stream header, as
//     kaas's AppendCommand does) of a real encoded CreateCluster command to a file-backed
//     R1 stream, one subject per message, on an embedded nats-server reached in-process,
//     as kaasd reaches its own.
//   - kaas-r3 and jetstream-r3: the same two on three replicas: a NATS cluster of three
//     nodes in the bench process, routed to each other on loopback, each syncing every write
//     before it acknowledges it (as kaasd's embedded server does by default), a kaasd
//     (KAAS_NATS_URL naming the three nodes, KAAS_REPLICAS=3) and bare publishes to a
//     stream of three replicas. Both reach the cluster over loopback TCP (the R1 paths
//     connect in-process), to whichever node the client picked, which need not lead the
//     stream: an append is acknowledged once two of the three nodes have it on disk.
//
// Both AMQP paths use the same prefetch (kaasd.Defaults().AMQPPrefetch), the same client
// ([vcdextclient.Client], which publishes exactly as VCD does), the same request bodies and
// the same load driver ([vcdextclient.Load]).
//
// Why ratios: absolute figures on a 2-core box that also runs the broker, the client and
// the server mostly measure the box, and vary 10-30% from run to run (docs/amqp.md, Part A).
// What kaas controls is how much of the AMQP ceiling its own work gives away, so the figure
// that matters is kaas/echo throughput at the same in-flight level, measured seconds apart
// in the same process. The aim is kaas ≥ 0.8 × echo at 64 in flight. An unmet aim is
// reported, not a failure.
//
// The bench collects garbage as kaasd's main does (GOGC 200 unless GOGC is set), since the
// kaasd it measures runs in its process.
//
// kaasd logs at warn level, so the per-request info lines a default kaasd writes are not
// part of the cost measured. Its state is kept for the whole run: every create of every
// cell (warm-ups included) stays in its views and its command stream, as in a long-lived
// kaasd.
//
// Each cell first runs -warmup of unmeasured load at its level, then vcdextclient.Load for
// -duration (Load itself discards a further duration/5 at the start). The table also shows
// the CPU this process (client, server and, for kaas and jetstream, the embedded
// nats-server) and, when it runs on this machine, the RabbitMQ broker spent per completed
// request: on two shared cores, CPU per request is what bounds throughput. The last column
// is the CPU, in cores, that every other process used meanwhile; above 0.15 the table
// warns that the machine was not quiet and the figures are skewed.
//
// Then it measures provisioning concurrency, after the request path's servers are
// stopped: a VCD simulator (deploy/vcdsim, tasks of -task-delay, boots of -boot-delay) and
// a kaasd with every role provisioning on it through go-vcloud-director, driven as a
// tenant drives them (HTTPS to the simulator's /api/cse, relayed over AMQP). One create
// warms up; one more is timed alone, from its POST until the tenant sees CREATE:SUCCEEDED;
// then -provision creates (1 control plane, 2 workers each) are posted at once and timed
// until the last is final. The aim is all ≤ 1.5 × one: the ceiling here is VCD's own pace,
// and the figure says how much queueing kaas adds when many tenants ask at once. The
// simulator counts the VCD API calls each create costs, by operation.
//
// Then time to a ready cluster (-ready): on a simulator and kaasd of their own, one create
// (after one to warm up) from its POST until the tenant sees CREATE:SUCCEEDED, against the
// floor the simulator's task and boot times allow: the shortest chain of VCD tasks and boots
// that can make such a cluster (ready.go's createFloor), printed link by link. The aim is
// at most 1.5 × the floor. It prints the create's VCD calls by operation, how many start
// work and how many only read or poll, and the timeline of its VCD tasks.
//
// Then failover (-failover, per phase): two kaasd processes (the real binary, built from
// this module unless -kaasd names one) on the same three-node cluster and the same AMQP
// queue, ingress and projector, under a steady load of creates from 16 callers. The same
// load runs twice: both instances up, then one killed with SIGKILL a third of the way in
// (RabbitMQ hands its unacknowledged requests to the other, whose command append dedupes
// any the killed one had stored). It reports each run's longest wait for a reply and its
// p99, failed and timed-out requests counted at the time they waited.
//
// Last, replay speed: a history of -replay events (cluster lifecycles as the executors write
// them, hash-chained) is written to an embedded JetStream; bare ordered consumers read it
// (the ceiling: records received, nothing decoded), then the projector rebuilds the views
// from it (decode and fold), and the rates are compared. The aim is at least 0.5. Then
// (-startup) a snapshot of those views is written and a kaasd is started on the same history
// with snapshots off and on, beside one on an empty history: start to /readyz ready from the
// snapshot aims at 10 s or less.
//
// Then reads over a fleet (-fleet, fleet.go): one kaasd's store is seeded with completed
// creates of clusters over 1,000 orgs, written straight into the streams, growing to each
// size; at each, tenants' reads (a page of their org's clusters, one cluster) and, at the
// biggest, providers' lists and audit pages are measured at 64 in flight beside an echo
// whose reply is as large as kaas's, with the process's memory. Aims: each read ≥ 0.9 of its
// echo, the biggest fleet's reads ≥ 0.9 of the smallest's, and RSS ≤ 500 MB.
//
// Flags:
//
//	-duration          measured time per cell (default 3s)
//	-warmup            unmeasured load before each cell (default 500ms)
//	-levels            in-flight levels, comma separated (default 1,16,64)
//	-requests          measure the request path (default true)
//	-paths             request paths to measure, comma separated (default all: echo, echo-sized,
//	                   kaas, kaas-relaxed, jetstream, jetstream-relaxed, kaas-r3, jetstream-r3)
//	-failover          load time of each failover run; 0 skips it (default 6s)
//	-kaasd             kaasd binary the failover runs (default: built from this module)
//	-provision         concurrent creates of the provisioning measurement; 0 skips it (default 100)
//	-task-delay        simulated VCD task time (default 2s)
//	-boot-delay        simulated node boot time (default 5s)
//	-poll              kaasd's poll interval while VCD works (default 500ms)
//	-executor-workers  kaasd's executor workers (default 8)
//	-appends           measured time per cell of the executor appends, P3 (default 3s; 0 skips them)
//	-ready             measure one create's time to a ready cluster against its floor (default true)
//	-provision-cpuprofile  write a CPU profile of that timed create to this file
//	-replay            events in the history the replay measurement rebuilds from; 0 skips it (default 1000000)
//	-startup           also time kaasd's start on the replay's history, with and without a snapshot of the views (default true)
//	-fleet             fleets (cluster counts over 1,000 orgs) whose reads are measured; "" or 0 skips it
//	                   (default 100,10000,100000)
//	-fleet-cpuprofile  write a CPU profile of each kaas read of -fleet to <this>-<read>-<clusters>.pprof,
//	                   and a heap profile at each fleet size to <this>-heap-<clusters>.pprof
//	-out               also write the results as JSON to this file
//	-cpuprofile        write a CPU profile of the kaas cell at the highest level to this file
//
// RabbitMQ is $KAAS_AMQP_URL or amqp://guest:guest@127.0.0.1:5672/. Every exchange and
// queue the bench declares has a name unique to the run and is deleted at the end. The
// exit status is non-zero on a setup failure, when more than 1% of a cell's requests
// fail, or when a provisioning create does not succeed. An unmet aim is reported, not a
// failure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
)

// aimLevel and aimRatio are the goal: kaas keeps 80% of the echo ceiling at 64 in flight.
const (
	aimLevel = 64
	aimRatio = 0.8
	// maxErrorRate fails the run: more failed requests than this is a broken path, not a
	// slow one.
	maxErrorRate = 0.01
	// requestTimeout is VCD's default extensibility timeout.
	requestTimeout = 10 * time.Second
	// busyCores is how much CPU other processes may use during a cell before the table
	// warns that its figures are skewed.
	busyCores = 0.15
)

// Paths measured, in the order they run at each level.
const (
	pathEcho      = "echo"
	pathEchoSized = "echo-sized"
	pathKaas      = "kaas"
	pathJetStream = "jetstream"
	// The same with JetStream acknowledging before it syncs to disk (KAAS_NATS_RELAXED_SYNC):
	// what syncing before each ack costs.
	pathKaasRelaxed      = "kaas-relaxed"
	pathJetStreamRelaxed = "jetstream-relaxed"
	// The same on a three-node NATS cluster with three replicas of each stream, syncing
	// before each ack.
	pathKaasR3      = "kaas-r3"
	pathJetStreamR3 = "jetstream-r3"
)

// paths run at each level, in this order.
var paths = []string{pathEcho, pathEchoSized, pathKaas, pathKaasRelaxed, pathJetStream, pathJetStreamRelaxed, pathKaasR3, pathJetStreamR3}

var pathLabel = map[string]string{
	pathEcho:             "AMQP echo (ceiling)",
	pathEchoSized:        "AMQP echo, kaas-size reply",
	pathKaas:             "kaas create, 202 (synced)",
	pathKaasRelaxed:      "kaas create, 202 (relaxed sync)",
	pathJetStream:        "JetStream publish (synced)",
	pathJetStreamRelaxed: "JetStream publish (relaxed sync)",
	pathKaasR3:           "kaas create, 202 (R3, synced)",
	pathJetStreamR3:      "JetStream publish (R3, synced)",
}

// Cell is one measured path at one in-flight level.
type Cell struct {
	Path       string  `json:"path"`
	InFlight   int     `json:"in_flight"`
	Requests   int     `json:"requests"` // completed in the measured window, failed included
	Errors     int     `json:"errors"`
	Throughput float64 `json:"throughput_per_s"` // successful requests per second
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	// CPUPerReqUs is this process's CPU (user+system) per completed request, µs.
	CPUPerReqUs float64 `json:"process_cpu_us_per_req"`
	// BrokerCPUPerReqUs is the local RabbitMQ's CPU per completed request, µs; absent when
	// the broker is not a local process we can read.
	BrokerCPUPerReqUs *float64 `json:"broker_cpu_us_per_req,omitempty"`
	// OtherCores is the CPU, in cores, that every other process on the machine used during
	// the cell: the bench shares the machine, and a busy neighbour skews the figures.
	OtherCores   *float64 `json:"other_processes_cores,omitempty"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// AppendsPerSync is, for kaas's paths, the command appends stored per write to the
	// stream (a batch, or an append alone) during the cell: jsstore's group commit.
	AppendsPerSync *float64 `json:"appends_per_sync,omitempty"`
}

func (c Cell) errorRate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// Ratio is kaas/echo throughput at one level, against the bare echo (the aim) and against
// the echo whose reply is as large as kaas's.
type Ratio struct {
	InFlight int     `json:"in_flight"`
	Ratio    float64 `json:"kaas_over_echo"`
	Sized    float64 `json:"kaas_over_sized_echo"`
	// Relaxed is the relaxed-sync kaas over the echo; Synced the synced kaas over the
	// relaxed one (what syncing before each ack keeps of the throughput), and BareSynced
	// the same for bare JetStream publishes.
	Relaxed    float64 `json:"kaas_relaxed_over_echo"`
	Synced     float64 `json:"kaas_synced_over_relaxed"`
	BareSynced float64 `json:"jetstream_synced_over_relaxed"`
	// On three replicas: kaas and bare publishes over the echo, and over the same on one
	// replica (what the second and third copy cost).
	KaasR3     float64 `json:"kaas_r3_over_echo"`
	BareR3     float64 `json:"jetstream_r3_over_echo"`
	KaasR3OnR1 float64 `json:"kaas_r3_over_r1"`
	BareR3OnR1 float64 `json:"jetstream_r3_over_r1"`
}

// Results is what -out writes.
type Results struct {
	Time       time.Time `json:"time"`
	GoVersion  string    `json:"go_version"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	NumCPU     int       `json:"num_cpu"`
	Broker     string    `json:"broker"`
	Prefetch   int       `json:"prefetch"`
	Duration   string    `json:"duration"`
	Warmup     string    `json:"warmup"`
	Cells      []Cell    `json:"cells"`
	Ratios     []Ratio   `json:"ratios"`
	// AimMet is nil when the aim's level was not measured.
	AimMet *bool `json:"aim_met,omitempty"`
	// Failover is nil when it was not measured (-failover 0).
	Failover *Failover `json:"failover,omitempty"`
	// Provisioning is nil when it was not measured (-provision 0).
	Provisioning *Provisioning `json:"provisioning,omitempty"`
	// Replay is nil when it was not measured (-replay 0).
	Replay *Replay `json:"replay,omitempty"`
	// Appends (P3) is nil when it was not measured (-appends 0).
	Appends *Appends `json:"appends,omitempty"`
	// Fleet is nil when it was not measured (-fleet 0).
	Fleet *Fleet `json:"fleet,omitempty"`
	// Ready is nil when it was not measured (-ready=false).
	Ready *Ready `json:"ready,omitempty"`
}

type options struct {
	duration, warmup time.Duration
	levels           []int
	out, cpuprofile  string
	requests         bool
	paths            []string
	failover         time.Duration
	kaasdBin         string
	prov             provOptions
	replay           int
	replayProfile    string
	appends          time.Duration
	startup          bool
	fleet            string
	ready            bool
}

func main() {
	var o options
	var levels, pathList string
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured time per cell")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured load before each cell")
	flag.StringVar(&levels, "levels", "1,16,64", "in-flight levels, comma separated")
	flag.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the kaas cell at the highest level to this file")
	flag.BoolVar(&o.requests, "requests", true, "measure the request path (set false to measure provisioning only)")
	flag.StringVar(&pathList, "paths", strings.Join(paths, ","), "request paths to measure, comma separated")
	flag.DurationVar(&o.failover, "failover", 6*time.Second, "load time of each failover run (0 skips it)")
	flag.StringVar(&o.kaasdBin, "kaasd", "", "kaasd binary the failover runs (default: go build of deploy/cmd/kaasd)")
	flag.IntVar(&o.prov.clusters, "provision", 100, "concurrent creates of the provisioning measurement (0 skips it)")
	flag.DurationVar(&o.prov.taskDelay, "task-delay", 2*time.Second, "how long each simulated VCD task takes")
	flag.DurationVar(&o.prov.bootDelay, "boot-delay", 5*time.Second, "how long each simulated node takes to boot")
	flag.DurationVar(&o.prov.poll, "poll", 500*time.Millisecond, "kaasd's poll interval (KAAS_POLL_INTERVAL) while VCD works")
	flag.IntVar(&o.prov.workers, "executor-workers", 8, "kaasd's executor workers (KAAS_EXECUTOR_WORKERS), kaasd's default")
	flag.StringVar(&o.replayProfile, "replay-cpuprofile", "", "write a CPU profile of the views' rebuild to this file")
	flag.DurationVar(&o.appends, "appends", 3*time.Second, "measured time per cell of the executor appends (P3); 0 skips them")
	flag.BoolVar(&o.startup, "startup", true, "also time kaasd's start on the replay's history, with and without a snapshot of the views")
	flag.BoolVar(&o.ready, "ready", true, "measure one create's time to a ready cluster against the floor VCD's task and boot times allow")
	flag.IntVar(&o.replay, "replay", 1_000_000, "events in the history the replay measurement rebuilds the views from (0 skips it)")
	flag.StringVar(&o.fleet, "fleet", "100,10000,100000", "fleets (cluster counts over 1,000 orgs) whose reads are measured (\"\" or 0 skips it)")
	flag.Parse()
	var err error
	if o.levels, err = parseLevels(levels); err != nil {
		fmt.Fprintf(os.Stderr, "kaas-bench: -levels: %v\n", err)
		os.Exit(2)
	}
	if o.paths, err = parsePaths(pathList); err != nil {
		fmt.Fprintf(os.Stderr, "kaas-bench: -paths: %v\n", err)
		os.Exit(2)
	}
	if o.failover < 0 {
		fmt.Fprintln(os.Stderr, "kaas-bench: -failover must not be negative")
		os.Exit(2)
	}
	if o.prov.clusters < 0 || o.prov.taskDelay < 0 || o.prov.bootDelay < 0 || o.prov.poll <= 0 || o.prov.workers < 1 {
		fmt.Fprintln(os.Stderr, "kaas-bench: -provision, -task-delay and -boot-delay must not be negative, -poll and -executor-workers must be positive")
		os.Exit(2)
	}
	if o.duration <= 0 || o.warmup < 0 {
		fmt.Fprintln(os.Stderr, "kaas-bench: -duration must be positive and -warmup not negative")
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		// As deployed: kaasd's main collects at twice the live heap over it (GOGC 200). The
		// kaasd measured runs in this process, beside the ceilings, which share the setting.
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func parseLevels(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no levels")
	}
	return out, nil
}

// parsePaths returns the paths named, in the order they run.
func parsePaths(s string) ([]string, error) {
	var named []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(paths, f) {
			return nil, fmt.Errorf("%q is not a path (%s)", f, strings.Join(paths, ", "))
		}
		named = append(named, f)
	}
	return slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return !slices.Contains(named, p) }), nil
}

// run measures what o asks for, prints the tables and tears down. It returns the exit
// status.
func run(ctx context.Context, o options, stdout, stderr io.Writer) int {
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "kaas-bench: "+format+"\n", args...) }
	url := vcdextclient.AMQPURL()
	res := Results{
		Time: time.Now().UTC(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		Broker: redact(url), Prefetch: kaasd.Defaults().AMQPPrefetch, Duration: o.duration.String(), Warmup: o.warmup.String(),
	}
	if o.requests {
		// The request path's servers are stopped before provisioning starts, so that they
		// do not share the two cores with it.
		if code := runRequests(ctx, o, url, &res, logf); code != 0 {
			return code
		}
		if err := printTable(stdout, res); err != nil {
			logf("write table: %v", err)
			return 2
		}
	}
	// The fleet's memory is read in this process: measured before the sections that leave
	// large heaps behind them (the replay's million events) have run.
	if f, err := runFleet(ctx, url, o, logf); err != nil {
		logf("fleet: %v", err)
		return 2
	} else if f != nil {
		res.Fleet = f
		if err := printFleet(stdout, f); err != nil {
			logf("write table: %v", err)
			return 2
		}
	}
	if o.failover > 0 {
		f, err := runFailover(ctx, url, o, logf)
		if err != nil {
			logf("failover: %v", err)
			return 2
		}
		res.Failover = f
		if err := printFailover(stdout, f); err != nil {
			logf("write table: %v", err)
			return 2
		}
	}
	if o.appends > 0 {
		a, err := runAppends(ctx, o.levels, o.appends, o.warmup, logf)
		if err != nil {
			logf("appends: %v", err)
			return 2
		}
		res.Appends = a
		if err := printAppends(stdout, a); err != nil {
			logf("write table: %v", err)
			return 2
		}
	}
	if o.prov.clusters > 0 {
		if err := probeBroker(url); err != nil {
			logf("RabbitMQ is not reachable at %s (set KAAS_AMQP_URL, or run `make rabbitmq`): %v", redact(url), err)
			return 2
		}
		p, err := runProvision(ctx, url, o.prov, logf)
		if err != nil {
			logf("provisioning: %v", err)
			return 2
		}
		res.Provisioning = p
		if err := printProvision(stdout, p); err != nil {
			logf("write table: %v", err)
			return 2
		}
	}
	if o.ready {
		r, err := runReady(ctx, url, o.prov, logf)
		if err != nil {
			logf("ready: %v", err)
			return 2
		}
		res.Ready = r
		if err := printReady(stdout, r); err != nil {
			logf("write table: %v", err)
			return 2
		}
	}
	if o.replay > 0 {
		r, err := runReplay(ctx, o.replay, o.replayProfile, o.startup, logf)
		if err != nil {
			logf("replay: %v", err)
			return 2
		}
		res.Replay = r
		if err := errors.Join(printReplay(stdout, r), printStartup(stdout, r.Startup)); err != nil {
			logf("write table: %v", err)
			return 2
		}
	}
	if o.out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			logf("write %s: %v", o.out, err)
			return 2
		}
		logf("results written to %s", o.out)
	}
	failed := false
	for _, c := range res.Cells {
		if c.errorRate() > maxErrorRate {
			logf("%s at %d in flight: %d of %d requests failed (more than %.0f%%)", c.Path, c.InFlight, c.Errors, c.Requests, maxErrorRate*100)
			failed = true
		}
	}
	if f := res.Failover; f != nil {
		for _, r := range []FailoverRun{f.Steady, f.Killed} {
			if r.Requests > 0 && float64(r.Errors)/float64(r.Requests) > maxErrorRate {
				logf("failover: %d of %d requests failed (more than %.0f%%)", r.Errors, r.Requests, maxErrorRate*100)
				failed = true
			}
		}
	}
	if p := res.Provisioning; p != nil && p.Phases["CREATE:SUCCEEDED"] != p.Clusters {
		logf("provisioning: not every create succeeded: %v", p.Phases)
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

// runRequests measures the request path at every level into res. It returns the exit
// status.
func runRequests(ctx context.Context, o options, url string, res *Results, logf func(string, ...any)) int {
	env, err := setup(ctx, url, res.Prefetch, o.paths, logf)
	if env != nil {
		defer env.close(logf)
	}
	if err != nil {
		logf("setup failed: %v", err)
		return 2
	}
	broker := findBroker(url)
	if broker == 0 {
		logf("RabbitMQ is not a local process this user can read: broker CPU is not shown")
	}
	top := slices.Max(o.levels)
	for _, n := range o.levels {
		for _, path := range o.paths {
			if ctx.Err() != nil {
				logf("interrupted")
				return 2
			}
			var profile string
			if path == pathKaas && n == top {
				profile = o.cpuprofile
			}
			logf("%-9s %3d in flight: warm-up %v, measure %v", path, n, o.warmup, o.duration)
			b0, batched := env.batchStats(path)
			c, err := measure(ctx, path, n, o, env.do(path), broker, profile)
			if err != nil {
				logf("%v", err)
				return 2
			}
			if b1, _ := env.batchStats(path); batched {
				c.AppendsPerSync = appendsPerSync(b0, b1)
			}
			logf("%-9s %3d in flight: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors of %d",
				path, n, c.Throughput, c.P50Ms, c.P99Ms, c.Errors, c.Requests)
			if c.OtherCores != nil && *c.OtherCores > busyCores {
				logf("  other processes used %.2f cores meanwhile: this cell is skewed", *c.OtherCores)
			}
			for _, s := range c.ErrorSamples {
				logf("  error: %s", s)
			}
			res.Cells = append(res.Cells, c)
		}
	}
	res.Ratios = ratios(res.Cells)
	for _, r := range res.Ratios {
		if r.InFlight == aimLevel && slices.Contains(o.paths, pathKaas) {
			met := r.Ratio >= aimRatio
			res.AimMet = &met
		}
	}
	return 0
}

// errorLog keeps the first few distinct errors of a cell.
type errorLog struct {
	mu      sync.Mutex
	samples []string
}

func (l *errorLog) add(err error) {
	msg := err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) < 5 && !slices.Contains(l.samples, msg) {
		l.samples = append(l.samples, msg)
	}
}

// measure runs one cell: warm-up, then vcdextclient.Load, with the CPU spent meanwhile.
func measure(ctx context.Context, path string, n int, o options, do func(context.Context) error, broker int, profile string) (Cell, error) {
	var errs errorLog
	var completed atomic.Int64
	call := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		err := do(ctx)
		if err != nil {
			errs.add(err)
		}
		completed.Add(1)
		return err
	}
	warm(ctx, n, o.warmup, call)
	errs = errorLog{} // warm-up errors do not count

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return Cell{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return Cell{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	completed.Store(0)
	cpu0 := processCPU()
	b0, bok0 := brokerCPU(broker)
	s0, sok0 := systemBusy()
	t0 := time.Now()
	r := vcdextclient.Load(ctx, n, o.duration, call)
	wall := time.Since(t0)
	cpu1 := processCPU()
	b1, bok1 := brokerCPU(broker)
	s1, sok1 := systemBusy()
	done := completed.Load()

	c := Cell{
		Path: path, InFlight: n, Requests: r.Requests, Errors: r.Errors, Throughput: r.Throughput,
		P50Ms: ms(r.P50), P99Ms: ms(r.P99), ErrorSamples: errs.samples,
	}
	if done > 0 {
		c.CPUPerReqUs = float64((cpu1 - cpu0).Microseconds()) / float64(done)
		if bok0 && bok1 {
			v := float64((b1 - b0).Microseconds()) / float64(done)
			c.BrokerCPUPerReqUs = &v
		}
	}
	if sok0 && sok1 && wall > 0 {
		other := s1 - s0 - (cpu1 - cpu0)
		if bok0 && bok1 {
			other -= b1 - b0
		}
		v := max(0, other.Seconds()/wall.Seconds())
		c.OtherCores = &v
	}
	return c, nil
}

// warm runs n callers for d and discards what they measure.
func warm(ctx context.Context, n int, d time.Duration, do func(context.Context) error) {
	if d <= 0 {
		return
	}
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				_ = do(ctx)
			}
		})
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratios(cells []Cell) []Ratio {
	at := func(path string, n int) float64 {
		for _, c := range cells {
			if c.Path == path && c.InFlight == n {
				return c.Throughput
			}
		}
		return 0
	}
	var out []Ratio
	for _, e := range cells {
		if e.Path != pathEcho || e.Throughput == 0 {
			continue
		}
		r := Ratio{InFlight: e.InFlight, Ratio: at(pathKaas, e.InFlight) / e.Throughput,
			Relaxed: at(pathKaasRelaxed, e.InFlight) / e.Throughput}
		if s := at(pathEchoSized, e.InFlight); s > 0 {
			r.Sized = at(pathKaas, e.InFlight) / s
		}
		if k := at(pathKaasRelaxed, e.InFlight); k > 0 {
			r.Synced = at(pathKaas, e.InFlight) / k
		}
		if j := at(pathJetStreamRelaxed, e.InFlight); j > 0 {
			r.BareSynced = at(pathJetStream, e.InFlight) / j
		}
		r.KaasR3, r.BareR3 = at(pathKaasR3, e.InFlight)/e.Throughput, at(pathJetStreamR3, e.InFlight)/e.Throughput
		if k := at(pathKaas, e.InFlight); k > 0 {
			r.KaasR3OnR1 = at(pathKaasR3, e.InFlight) / k
		}
		if j := at(pathJetStream, e.InFlight); j > 0 {
			r.BareR3OnR1 = at(pathJetStreamR3, e.InFlight) / j
		}
		out = append(out, r)
	}
	return out
}

func printTable(w io.Writer, res Results) error {
	fmt.Fprintf(w, "kaas bench: %s, GOMAXPROCS %d, %d CPUs, broker %s, prefetch %d, %s per cell after %s warm-up\n\n",
		res.GoVersion, res.GOMAXPROCS, res.NumCPU, res.Broker, res.Prefetch, res.Duration, res.Warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "in flight\tpath\treq/s\tp50 ms\tp99 ms\terrors\tCPU µs/req (bench)\tCPU µs/req (broker)\tothers' CPU\tappends/sync\t")
	busy := false
	for _, c := range res.Cells {
		broker, other := "-", "-"
		if c.BrokerCPUPerReqUs != nil {
			broker = fmt.Sprintf("%.0f", *c.BrokerCPUPerReqUs)
		}
		if c.OtherCores != nil {
			other = fmt.Sprintf("%.2f", *c.OtherCores)
			busy = busy || *c.OtherCores > busyCores
		}
		perSync := "-"
		if c.AppendsPerSync != nil {
			perSync = fmt.Sprintf("%.1f", *c.AppendsPerSync)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.2f\t%.2f\t%d/%d\t%.0f\t%s\t%s\t%s\t\n",
			c.InFlight, pathLabel[c.Path], c.Throughput, c.P50Ms, c.P99Ms, c.Errors, c.Requests, c.CPUPerReqUs, broker, other, perSync)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if busy {
		fmt.Fprintf(w, "\nWARNING: other processes used more than %.2f cores during some cells (others' CPU, in cores): those figures are skewed; run again on a quiet machine.\n", busyCores)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "in flight\techo req/s\tsame-size echo req/s\tkaas req/s\tkaas/echo\tkaas/same-size echo\t"+
		"relaxed kaas/echo\tsynced/relaxed kaas\tsynced/relaxed JetStream\t")
	for _, r := range res.Ratios {
		var e, z, k float64
		for _, c := range res.Cells {
			if c.InFlight != r.InFlight {
				continue
			}
			switch c.Path {
			case pathEcho:
				e = c.Throughput
			case pathEchoSized:
				z = c.Throughput
			case pathKaas:
				k = c.Throughput
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.InFlight, num(e, 0), num(z, 0), num(k, 0), num(r.Ratio, 2),
			num(r.Sized, 2), num(r.Relaxed, 2), num(r.Synced, 2), num(r.BareSynced, 2))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := printR3(w, res); err != nil {
		return err
	}
	var at float64
	for _, r := range res.Ratios {
		if r.InFlight == aimLevel {
			at = r.Ratio
		}
	}
	switch {
	case res.AimMet == nil:
		fmt.Fprintf(w, "aim kaas/echo ≥ %.1f at %d in flight: not measured (not in -levels or -paths)\n", aimRatio, aimLevel)
	case *res.AimMet:
		fmt.Fprintf(w, "aim kaas/echo ≥ %.1f at %d in flight: MET (%.2f)\n", aimRatio, aimLevel, at)
	default:
		fmt.Fprintf(w, "aim kaas/echo ≥ %.1f at %d in flight: NOT MET (%.2f)\n", aimRatio, aimLevel, at)
	}
	return nil
}

// printR3 prints the three-replica paths beside the one-replica ones, when they ran.
func printR3(w io.Writer, res Results) error {
	thr := func(path string, n int) float64 {
		for _, c := range res.Cells {
			if c.Path == path && c.InFlight == n {
				return c.Throughput
			}
		}
		return 0
	}
	measured := false
	for _, c := range res.Cells {
		measured = measured || c.Path == pathKaasR3 || c.Path == pathJetStreamR3
	}
	if !measured {
		return nil
	}
	fmt.Fprintln(w, "three replicas (a cluster of three nodes, each syncing before it acknowledges):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "in flight\techo req/s\tkaas R1 req/s\tkaas R3 req/s\tkaas R1/echo\tkaas R3/echo\tkaas R3/R1\t"+
		"JetStream R1 pub/s\tJetStream R3 pub/s\tJetStream R3/echo\tJetStream R3/R1\t")
	for _, r := range res.Ratios {
		n := r.InFlight
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", n, num(thr(pathEcho, n), 0), num(thr(pathKaas, n), 0),
			num(thr(pathKaasR3, n), 0), num(r.Ratio, 2), num(r.KaasR3, 2), num(r.KaasR3OnR1, 2), num(thr(pathJetStream, n), 0),
			num(thr(pathJetStreamR3, n), 0), num(r.BareR3, 2), num(r.BareR3OnR1, 2))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}

// num renders a figure with prec decimals, or "-" for a path -paths left out.
func num(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}
