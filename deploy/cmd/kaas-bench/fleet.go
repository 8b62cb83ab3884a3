package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/svc"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
)

// The fleet's aims: every read keeps 0.9 of an echo answering as much, the reads cost the
// same over the biggest fleet as over the smallest, and the views of the biggest fleet fit
// in 500 MB of resident memory.
const (
	fleetAim      = 0.9
	fleetFlatAim  = 0.9
	fleetMemAimMB = 500
	fleetOrgs     = 1000
	fleetPageSize = 25
	// fleetSamples is how many answers of a read set the size of its echo's reply.
	fleetSamples = 32
	// storeCacheExpiry is a little over how long nats-server's file store keeps a block it
	// read or wrote cached once unused (10 s).
	storeCacheExpiry = 11 * time.Second
)

var fleetProfile = flag.String("fleet-cpuprofile", "", "write a CPU profile of each kaas read of -fleet to <this>-<read>-<clusters>.pprof, "+
	"and a heap profile at each fleet size to <this>-heap-<clusters>.pprof")

// Fleet is the reads-over-a-big-fleet measurement (-fleet).
type Fleet struct {
	Orgs     int         `json:"orgs"`
	InFlight int         `json:"in_flight"`
	Sizes    []FleetSize `json:"sizes"`
	Cells    []FleetCell `json:"cells"`
	Flat     []FleetFlat `json:"flat"`
	// Memory is at the biggest fleet: the bench process's resident memory and Go heap in
	// use after a GC, kaasd's views (and its embedded nats-server) holding every cluster,
	// once the server's caches of the blocks the seed wrote expired.
	MemoryClusters int     `json:"memory_clusters"`
	RSSMB          float64 `json:"rss_mb"`
	HeapMB         float64 `json:"heap_inuse_mb"`
	LiveMB         float64 `json:"heap_live_mb"`
	MemoryAimMet   bool    `json:"memory_aim_met"`
}

// FleetSize is one fleet: how it was seeded and what the process held with it.
type FleetSize struct {
	Clusters int    `json:"clusters"`
	Commands uint64 `json:"commands"`
	Events   uint64 `json:"events"`
	// SeedSeconds is the writing of the records added for this size; CatchUpSeconds until
	// kaasd's views had folded them.
	SeedSeconds    float64 `json:"seed_s"`
	CatchUpSeconds float64 `json:"catch_up_s"`
	RSSMB          float64 `json:"rss_mb"`
	HeapMB         float64 `json:"heap_inuse_mb"`
	// LiveMB is what the heap's live objects take, without the free space between them.
	LiveMB float64 `json:"heap_live_mb"`
}

// FleetCell is one read at one fleet size, beside an echo whose reply is as large.
type FleetCell struct {
	Read       string  `json:"read"`
	Clusters   int     `json:"clusters"`
	ReplyBytes int     `json:"reply_bytes"`
	Kaas       Cell    `json:"kaas"`
	Echo       Cell    `json:"same_size_echo"`
	Ratio      float64 `json:"kaas_over_echo"`
	AimMet     bool    `json:"aim_met"`
}

// FleetFlat compares one read over the biggest fleet with the same over the smallest: raw
// throughput, and kaas/echo. The aim is judged on throughput when the replies are the same
// size (within 10%), else on kaas/echo: a page of a small fleet's org holds one cluster, of
// a big one's 25, and no server answers 60 KB as fast as 2.4 KB.
type FleetFlat struct {
	Read       string  `json:"read"`
	Small      int     `json:"small_clusters"`
	Big        int     `json:"big_clusters"`
	Ratio      float64 `json:"throughput_big_over_small"`
	RatioOfFit float64 `json:"kaas_over_echo_big_over_small"`
	// Basis is what the aim is judged on: "throughput" or "kaas/echo".
	Basis  string `json:"basis"`
	AimMet bool   `json:"aim_met"`
}

// fleetRead is one kind of request: a tenant's or a provider's, built at random for each
// call over the fleet of n clusters, so that no cache sees the same request twice.
type fleetRead struct {
	name string
	// wide reads run at the biggest fleet only: a provider's lists and the audit.
	wide bool
	req  func(n int) vcdextclient.Req
}

// tenantOf is the caller a tenant read of cluster i goes out as: the user of its org who
// created it, with the rights of CSE's cluster author.
func tenantOf(i int) ingress.Caller {
	o := i % fleetOrgs
	return ingress.Caller{User: benchUser(o), Org: benchOrg(o), Rights: vcdextclient.DefaultCaller().Rights}
}

// providerCaller is a system administrator.
func providerCaller() ingress.Caller {
	return ingress.Caller{User: "urn:vcloud:user:" + events.DeriveID("bench-user", "provider"), Org: ingress.SystemOrg,
		Rights: vcdextclient.DefaultCaller().Rights}
}

// orgClusters is how many of clusters 1..n are in org o (cluster i is in org i%fleetOrgs).
func orgClusters(n, o int) int {
	if o == 0 {
		return n / fleetOrgs
	}
	if o > n {
		return 0
	}
	return (n-o)/fleetOrgs + 1
}

func pages(total int) int { return max(1, (total+fleetPageSize-1)/fleetPageSize) }

func pageQuery(page int, extra ...string) string {
	return strings.Join(append(extra, "page="+strconv.Itoa(page), "pageSize="+strconv.Itoa(fleetPageSize)), "&")
}

var fleetReads = []fleetRead{
	{name: "tenant: clusters page", req: func(n int) vcdextclient.Req {
		i := 1 + mrand.IntN(n)
		return vcdextclient.Req{Path: "/api/cse/3.0/clusters", Query: pageQuery(1 + mrand.IntN(pages(orgClusters(n, i%fleetOrgs)))), Caller: tenantOf(i)}
	}},
	{name: "tenant: one cluster", req: func(n int) vcdextclient.Req {
		i := 1 + mrand.IntN(n)
		return vcdextclient.Req{Path: "/api/cse/3.0/cluster/" + benchClusterID(i), Caller: tenantOf(i)}
	}},
	{name: "tenant: a cluster's events page", wide: true, req: func(n int) vcdextclient.Req {
		i := 1 + mrand.IntN(n)
		return vcdextclient.Req{Path: "/api/cse/3.0/cluster/" + benchClusterID(i) + "/events", Query: pageQuery(1), Caller: tenantOf(i)}
	}},
	{name: "provider: clusters page", wide: true, req: func(n int) vcdextclient.Req {
		return vcdextclient.Req{Path: "/api/cse/3.0/clusters", Query: pageQuery(1 + mrand.IntN(pages(n))), Caller: providerCaller()}
	}},
	{name: "provider: org VDCs page", wide: true, req: func(n int) vcdextclient.Req {
		return vcdextclient.Req{Path: "/api/cse/3.0/orgvdcs", Query: pageQuery(1 + mrand.IntN(pages(fleetOrgs))), Caller: providerCaller()}
	}},
	{name: "provider: audit page", wide: true, req: func(n int) vcdextclient.Req {
		// About 12 events per cluster: the page is anywhere in the history.
		return vcdextclient.Req{Path: "/api/cse/3.0/audit", Query: pageQuery(1 + mrand.IntN(pages(n*12))), Caller: providerCaller()}
	}},
	{name: "provider: audit page of an org", wide: true, req: func(n int) vcdextclient.Req {
		o := 1 + mrand.IntN(min(n, fleetOrgs-1))
		return vcdextclient.Req{Path: "/api/cse/3.0/audit", Query: pageQuery(1+mrand.IntN(pages(orgClusters(n, o)*12)), "org="+benchOrg(o)),
			Caller: providerCaller()}
	}},
}

// parseFleet reads -fleet: cluster counts, ascending; none for "" or "0".
func parseFleet(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" || f == "0" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-fleet: %q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// runFleet seeds one kaasd's store with fleets of growing size (the commands and events of
// completed creates, written straight into the streams as ingress and the executors write
// them) and measures the reads at each, against echoes answering as much. It returns nil
// when -fleet names no size.
func runFleet(ctx context.Context, url string, o options, logf func(string, ...any)) (*Fleet, error) {
	sizes, err := parseFleet(o.fleet)
	if err != nil || len(sizes) == 0 {
		return nil, err
	}
	if err := probeBroker(url); err != nil {
		return nil, fmt.Errorf("RabbitMQ is not reachable at %s: %w", redact(url), err)
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	runID := hex.EncodeToString(id)
	dir, err := os.MkdirTemp("", "kaas-bench-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var topology [][2]string
	defer func() {
		if len(topology) > 0 {
			deleteTopology(url, logf, topology...)
		}
	}()

	exchange, key := "kaas-bench-x-fleet-"+runID, "kaas-bench-q-fleet-"+runID
	topology = append(topology, [2]string{exchange, key})
	cfg := kaasd.Defaults()
	cfg.DataDir = filepath.Join(dir, "kaasd")
	relaxedSync(relaxedEvery)(&cfg) // the seed is written fast; reads append nothing
	cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = url, exchange, key
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.Roles = []string{kaasd.RoleIngress, kaasd.RoleProjector}
	log, err := svc.NewLogger(os.Stderr, "warn")
	if err != nil {
		return nil, err
	}
	logf("fleet: starting kaasd (ingress, projector; exchange %s)", exchange)
	kctx, kstop := context.WithCancel(context.Background())
	defer kstop()
	srv, err := kaasd.Start(kctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("fleet: start kaasd: %w", err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			logf("fleet: kaasd: %v", err)
		}
	}()
	client, err := vcdextclient.NewClient(ctx, url, exchange, key)
	if err != nil {
		return nil, fmt.Errorf("fleet: client: %w", err)
	}
	defer client.Close()
	store := srv.Store()

	// Every org has an org VDC enabled for native clusters, as a provider sets them up.
	for org := range fleetOrgs {
		env := events.Envelope{ID: events.DeriveID("bench-vdc-command", fmt.Sprint(org)), ClusterID: events.CloudID, OrgID: ingress.SystemOrg,
			Actor: "kaas-bench", Time: time.Now().UTC(), CorrelationID: "kaas-bench-fleet-vdc-" + fmt.Sprint(org),
			Payload: events.SetVDCRuntimes{VDC: events.VDC{ID: "urn:vcloud:vdc:" + events.DeriveID("bench-vdc", fmt.Sprint(org)), Name: "vdc",
				OrgName: fmt.Sprintf("org%d", org), OrgID: benchOrg(org)}, Runtimes: []string{events.RuntimeNative}}}
		if _, _, err := store.AppendCommand(ctx, env, env.ID); err != nil {
			return nil, fmt.Errorf("fleet: enable org VDC: %w", err)
		}
	}
	if err := firstOK(ctx, client); err != nil {
		return nil, fmt.Errorf("fleet: kaasd: %w", err)
	}

	broker := findBroker(url)
	res := &Fleet{Orgs: fleetOrgs, InFlight: aimLevel}
	w := newLifecycles(store.JetStream(), fleetOrgs, fleetOrgs)
	echoN := 0
	for si, n := range sizes {
		start := time.Now()
		for w.clusters < n {
			if err := w.next(ctx); err != nil {
				return nil, fmt.Errorf("fleet: seed: %w", err)
			}
		}
		if err := w.flush(ctx); err != nil {
			return nil, fmt.Errorf("fleet: seed: %w", err)
		}
		sz := FleetSize{Clusters: n, SeedSeconds: time.Since(start).Seconds()}
		start = time.Now()
		if sz.Commands, sz.Events, err = store.LastSequences(ctx); err != nil {
			return nil, err
		}
		if err := srv.Views().WaitFor(ctx, sz.Commands, sz.Events); err != nil {
			return nil, fmt.Errorf("fleet: views catching up: %w", err)
		}
		sz.CatchUpSeconds = time.Since(start).Seconds()
		if si == len(sizes)-1 {
			// The aim is kaasd's memory as it serves, not while its embedded nats-server
			// still caches the blocks the seed just wrote: the server drops a block's cache
			// after 10 s unused, into pools a collection or two then empties.
			time.Sleep(storeCacheExpiry)
			runtime.GC()
		}
		sz.RSSMB, sz.HeapMB, sz.LiveMB = memoryMB()
		if *fleetProfile != "" {
			if err := writeHeapProfile(fmt.Sprintf("%s-heap-%d.pprof", *fleetProfile, n)); err != nil {
				return nil, err
			}
		}
		logf("fleet: %d clusters: %d commands and %d events; seeded in %.1fs, folded %.1fs later; RSS %.0f MB, heap in use %.0f MB, live %.0f MB",
			n, sz.Commands, sz.Events, sz.SeedSeconds, sz.CatchUpSeconds, sz.RSSMB, sz.HeapMB, sz.LiveMB)
		res.Sizes = append(res.Sizes, sz)
		if si == len(sizes)-1 {
			res.MemoryClusters, res.RSSMB, res.HeapMB, res.LiveMB = n, sz.RSSMB, sz.HeapMB, sz.LiveMB
			res.MemoryAimMet = sz.RSSMB <= fleetMemAimMB
		}

		for _, rd := range fleetReads {
			if rd.wide && si != len(sizes)-1 {
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			echoN++
			ex, q := fmt.Sprintf("kaas-bench-x-fleet-echo-%s-%d", runID, echoN), fmt.Sprintf("kaas-bench-q-fleet-echo-%s-%d", runID, echoN)
			topology = append(topology, [2]string{ex, q})
			c, err := fleetCell(ctx, url, o, rd, n, client, key, ex, q, broker, logf)
			if err != nil {
				return nil, err
			}
			res.Cells = append(res.Cells, c)
		}
	}
	small, big := sizes[0], sizes[len(sizes)-1]
	for _, rd := range fleetReads {
		if rd.wide || small == big {
			continue
		}
		var s, b FleetCell
		for _, c := range res.Cells {
			switch {
			case c.Read == rd.name && c.Clusters == small:
				s = c
			case c.Read == rd.name && c.Clusters == big:
				b = c
			}
		}
		f := FleetFlat{Read: rd.name, Small: small, Big: big}
		if s.Kaas.Throughput > 0 {
			f.Ratio = b.Kaas.Throughput / s.Kaas.Throughput
		}
		if s.Ratio > 0 {
			f.RatioOfFit = b.Ratio / s.Ratio
		}
		f.Basis, f.AimMet = "throughput", f.Ratio >= fleetFlatAim
		if b.ReplyBytes > s.ReplyBytes*11/10 || s.ReplyBytes > b.ReplyBytes*11/10 {
			f.Basis, f.AimMet = "kaas/echo", f.RatioOfFit >= fleetFlatAim
		}
		res.Flat = append(res.Flat, f)
	}
	return res, nil
}

// fleetCell sizes an echo after kaas's answers to the read, then measures kaas and the echo.
func fleetCell(ctx context.Context, url string, o options, rd fleetRead, n int, kaas *vcdextclient.Client, kaasQ, ex, q string, broker int,
	logf func(string, ...any)) (FleetCell, error) {
	// Requests a slower cell left queued (their callers gave up) would be served during this
	// one: wait until kaasd's queue is empty.
	if left, err := drain(ctx, url, kaasQ, time.Minute); err != nil || left > 0 {
		logf("fleet %d, %s: kaasd's queue still holds %d requests of the cell before (%v): this cell is skewed", n, rd.name, left, err)
	}
	total := 0
	for range fleetSamples {
		b, err := fleetDo(ctx, kaas, rd.req(n))
		if err != nil {
			return FleetCell{}, fmt.Errorf("fleet: %s at %d clusters: %w", rd.name, n, err)
		}
		total += b
	}
	c := FleetCell{Read: rd.name, Clusters: n, ReplyBytes: (total + fleetSamples/2) / fleetSamples}

	echoCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- vcdextclient.RunEchoSize(echoCtx, url, ex, q, kaasd.Defaults().AMQPPrefetch, c.ReplyBytes)
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			logf("fleet: echo: %v", err)
		}
	}()
	echo, err := vcdextclient.NewClient(ctx, url, ex, q)
	if err != nil {
		return c, fmt.Errorf("fleet: echo client: %w", err)
	}
	defer echo.Close()
	deadline := time.Now().Add(10 * time.Second)
	for { // RunEchoSize declares its queue asynchronously
		if _, err := echo.Do(ctx, rd.req(n)); err == nil {
			break
		} else if time.Now().After(deadline) {
			return c, fmt.Errorf("fleet: echo: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var profile string
	if *fleetProfile != "" {
		profile = fmt.Sprintf("%s-%s-%d.pprof", *fleetProfile, strings.NewReplacer(": ", "-", "'", "", " ", "-").Replace(rd.name), n)
		// What the cell allocates is the difference of the heap profiles around it
		// (go tool pprof -sample_index=alloc_space -base <before> <after>).
		if err := writeHeapProfile(strings.TrimSuffix(profile, ".pprof") + "-allocs-before.pprof"); err != nil {
			return c, err
		}
	}
	label := fmt.Sprintf("fleet %d, %s", n, rd.name)

	logf("%s: kaas, then an echo of %d-byte replies; %d in flight", label, c.ReplyBytes, aimLevel)
	// Each of the pair starts from a collected heap: with a fleet's views in it a cycle of
	// the collector costs a second of CPU or more, and whichever cell it fell in would pay
	// for the garbage of the cells before (amortized it is some tens of µs per request).
	runtime.GC()
	if c.Kaas, err = measure(ctx, "kaas "+rd.name, aimLevel, o, func(ctx context.Context) error {
		_, err := fleetDo(ctx, kaas, rd.req(n))
		return err
	}, broker, profile); err != nil {
		return c, err
	}
	if profile != "" {
		if err := writeHeapProfile(strings.TrimSuffix(profile, ".pprof") + "-allocs-after.pprof"); err != nil {
			return c, err
		}
	}
	runtime.GC()
	if c.Echo, err = measure(ctx, "echo "+rd.name, aimLevel, o, func(ctx context.Context) error {
		resp, err := echo.Do(ctx, rd.req(n))
		if err == nil && resp.StatusCode != 202 {
			err = fmt.Errorf("echo status %d", resp.StatusCode)
		}
		return err
	}, broker, ""); err != nil {
		return c, err
	}
	if c.Echo.Throughput > 0 {
		c.Ratio = c.Kaas.Throughput / c.Echo.Throughput
	}
	c.AimMet = c.Ratio >= fleetAim
	logf("%s: kaas %.0f req/s (p99 %.1f ms, %d errors), echo %.0f req/s: %.2f", label, c.Kaas.Throughput, c.Kaas.P99Ms, c.Kaas.Errors,
		c.Echo.Throughput, c.Ratio)
	for _, s := range c.Kaas.ErrorSamples {
		logf("  error: %s", s)
	}
	return c, nil
}

// drain waits, for at most d, until queue holds no message, and returns how many it holds.
func drain(ctx context.Context, url, queue string, d time.Duration) (int, error) {
	conn, err := dial(url)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	deadline := time.Now().Add(d)
	for {
		ch, err := conn.Channel()
		if err != nil {
			return -1, err
		}
		st, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		_ = ch.Close()
		if err != nil || st.Messages == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return st.Messages, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fleetDo sends one read and wants its 200; it returns the size of the answer's body.
func fleetDo(ctx context.Context, c *vcdextclient.Client, req vcdextclient.Req) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.Do(ctx, req)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		body := string(resp.Body)
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		return 0, fmt.Errorf("%s?%s: status %d, want 200: %s", req.Path, req.Query, resp.StatusCode, body)
	}
	return len(resp.Body), nil
}

// firstOK asks kaasd for a provider's list until it answers, for at most 10 s.
func firstOK(ctx context.Context, c *vcdextclient.Client) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := fleetDo(ctx, c, vcdextclient.Req{Path: "/api/cse/3.0/clusters", Caller: providerCaller()})
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// memoryMB returns the process's resident memory (VmRSS), the Go heap in use (its spans)
// and the live objects in it, after a GC that also returns what is free to the system.
func memoryMB() (rss, heap, live float64) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap = float64(ms.HeapInuse) / 1e6
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	if metrics.Read(sample); sample[0].Value.Kind() == metrics.KindUint64 {
		live = float64(sample[0].Value.Uint64()) / 1e6
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, heap, live
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 64)
			rss = kb * 1024 / 1e6
		}
	}
	return rss, heap, live
}

// writeHeapProfile writes what the heap holds now, to see what the views keep per cluster.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

func printFleet(w io.Writer, f *Fleet) error {
	fmt.Fprintf(w, "\nreads over a fleet: clusters over %d orgs, seeded as completed creates; %d in flight, each read beside an AMQP echo whose reply is as large as kaas's\n\n",
		f.Orgs, f.InFlight)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clusters\tcommands\tevents\tseed s\tcatch-up s\tRSS MB\theap in use MB\tlive objects MB\t")
	for _, s := range f.Sizes {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t\n", s.Clusters, s.Commands, s.Events, s.SeedSeconds, s.CatchUpSeconds,
			s.RSSMB, s.HeapMB, s.LiveMB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clusters\tread\treply bytes\tkaas req/s\tkaas p99 ms\terrors\techo req/s\tkaas/echo\taim\tothers' CPU\t")
	busy := false
	for _, c := range f.Cells {
		other := "-"
		if c.Kaas.OtherCores != nil && c.Echo.OtherCores != nil {
			o := max(*c.Kaas.OtherCores, *c.Echo.OtherCores)
			other, busy = fmt.Sprintf("%.2f", o), busy || o > busyCores
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%.1f\t%d/%d\t%.0f\t%.2f\t%s\t%s\t\n", c.Clusters, c.Read, c.ReplyBytes, c.Kaas.Throughput, c.Kaas.P99Ms,
			c.Kaas.Errors, c.Kaas.Requests, c.Echo.Throughput, c.Ratio, met(c.AimMet), other)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if busy {
		fmt.Fprintf(w, "\nWARNING: other processes used more than %.2f cores during some cells (others' CPU, the more of kaas's and the echo's): those figures are skewed.\n", busyCores)
	}
	fmt.Fprintf(w, "\naim: each read ≥ %.1f × its same-size echo\n", fleetAim)
	for _, fl := range f.Flat {
		fmt.Fprintf(w, "flat: %s, %d/%d clusters: throughput %.2f, kaas/echo %.2f; aim %s ≥ %.1f: %s\n", fl.Read, fl.Big, fl.Small, fl.Ratio,
			fl.RatioOfFit, fl.Basis, fleetFlatAim, met(fl.AimMet))
	}
	fmt.Fprintf(w, "memory at %d clusters, once the store's block caches expired: RSS %.0f MB (Go heap in use %.0f MB, its live objects %.0f MB); aim RSS ≤ %d MB: %s\n",
		f.MemoryClusters, f.RSSMB, f.HeapMB, f.LiveMB, fleetMemAimMB, met(f.MemoryAimMet))
	return nil
}

func met(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}
