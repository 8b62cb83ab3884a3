package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cluster/flawless"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
)

// appendsAim is P3's goal: the executors' appends keep at least 0.8 of the pace of bare
// optimistic-concurrency publishes to the same stream, at the highest level measured.
const appendsAim = 0.8

// Appends is P3: events appended per second by the executors' append path against bare
// optimistic-concurrency publishes, on the same synced stream, at each in-flight level.
type Appends struct {
	Cells []AppendCell `json:"cells"`
	// Ratio is kaas over bare at AimLevel, the highest level measured.
	AimLevel int     `json:"aim_level"`
	Ratio    float64 `json:"kaas_over_bare"`
	AimMet   bool    `json:"aim_met"`
}

// AppendCell is one path at one level: Clusters appending at once, each its own history.
type AppendCell struct {
	Path       string  `json:"path"` // "kaas" or "bare"
	Clusters   int     `json:"clusters"`
	Appends    int     `json:"appends"`
	Errors     int     `json:"errors"`
	Throughput float64 `json:"appends_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	// PerSync is the events stored per write to the stream (jsstore's group commit); only
	// for kaas.
	PerSync *float64 `json:"appends_per_sync,omitempty"`
}

// runAppends measures P3 on an embedded nats-server that syncs every write before it
// acknowledges it, as kaasd's does by default, and on the streams jsstore declares:
//
//   - kaas: each of n callers plays the executor of one cluster. It appends the events of a
//     whole create, as the executors record them (cluster.Decide, then each step's outcome),
//     through jsstore's Store.Append: the envelope encoded, hash-chained to the one before,
//     with its Nats-Msg-Id and the expected last sequence of the cluster's subject. Then the
//     next cluster.
//   - bare: n callers publishing the same encoded events with the same three headers,
//     each to a subject of its own in the same stream, awaiting each ack: the ceiling of
//     an optimistic-concurrency append on this stream.
func runAppends(ctx context.Context, levels []int, d, warmup time.Duration, logf func(string, ...any)) (*Appends, error) {
	// Synced, as kaasd's embedded server is by default, with the archive kaasd declares.
	bs, err := openBenchStore(ctx, "appends", 0, true)
	if err != nil {
		return nil, err
	}
	defer bs.close()
	st := bs.store
	lifecycle, err := createLifecycle()
	if err != nil {
		return nil, err
	}
	var run atomic.Uint64 // makes every cluster and subject of the run new
	res := &Appends{}
	for _, n := range levels {
		for _, path := range []string{"kaas", "bare"} {
			var do func(context.Context) error
			if path == "kaas" {
				do = kaasAppender(st, lifecycle, &run)
			} else {
				do = bareAppender(st.JetStream(), lifecycle, &run)
			}
			logf("appends %-4s %3d clusters at once: warm-up %v, measure %v", path, n, warmup, d)
			warm(ctx, n, warmup, do)
			_, e0 := st.BatchStats()
			r := vcdextclient.Load(ctx, n, d, do)
			_, e1 := st.BatchStats()
			c := AppendCell{Path: path, Clusters: n, Appends: r.Requests, Errors: r.Errors, Throughput: r.Throughput,
				P50Ms: ms(r.P50), P99Ms: ms(r.P99)}
			if path == "kaas" {
				c.PerSync = appendsPerSync(e0, e1)
			}
			logf("appends %-4s %3d clusters at once: %.0f/s, p50 %.2f ms, %d errors of %d", path, n, c.Throughput, c.P50Ms, c.Errors, c.Appends)
			if c.Appends > 0 && float64(c.Errors)/float64(c.Appends) > maxErrorRate {
				return nil, fmt.Errorf("appends %s at %d: %d of %d failed", path, n, c.Errors, c.Appends)
			}
			res.Cells = append(res.Cells, c)
		}
	}
	top := levels[len(levels)-1]
	for _, l := range levels {
		top = max(top, l)
	}
	res.AimLevel = top
	var k, b float64
	for _, c := range res.Cells {
		if c.Clusters == top && c.Path == "kaas" {
			k = c.Throughput
		}
		if c.Clusters == top && c.Path == "bare" {
			b = c.Throughput
		}
	}
	if b > 0 {
		res.Ratio = k / b
	}
	res.AimMet = res.Ratio >= appendsAim
	return res, nil
}

// createLifecycle is the events of one create as the executors record them, in order.
func createLifecycle() ([]events.Payload, error) {
	spec := events.ClusterSpec{Name: "c1", OrgName: "org", VDC: "vdc", Network: "net",
		Template:     events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1},
		ControlPlane: events.NodePool{Count: 1}, Workers: events.NodePool{Count: 2}, RollbackOnFailure: true}
	st := &cluster.State{}
	first, err := cluster.Decide(st, events.Envelope{ID: "cmd", ClusterID: "c", Payload: events.CreateCluster{Spec: spec}})
	if err != nil {
		return nil, err
	}
	var out []events.Payload
	for next := []events.Payload{first}; len(next) > 0; {
		for _, p := range next {
			env := events.Envelope{ID: fmt.Sprint("e", len(out)), ClusterID: "c", CausationID: "cmd", Payload: p}
			st.Apply(env, uint64(len(out)+1), "")
			out = append(out, p)
		}
		next = nil
		if step := cluster.Plan(st); step.Kind != cluster.StepNone {
			next = flawless.Outcome(st, step)
		}
	}
	return out, nil
}

// kaasAppender returns an append for Load's callers: the next event of a cluster, through
// Store.Append, chained to the one before. Each call takes a cluster no other call holds,
// so each cluster's appends follow one another as one executor's do.
func kaasAppender(st *jsstore.Store, lifecycle []events.Payload, run *atomic.Uint64) func(context.Context) error {
	type caller struct {
		id   string
		next int
		seq  uint64
		hash string
	}
	var callers histories[caller]
	return func(ctx context.Context) error {
		c := callers.take()
		defer callers.give(c)
		if c.id == "" || c.next == len(lifecycle) {
			*c = caller{id: "bench-append-" + strconv.FormatUint(run.Add(1), 36)}
		}
		env := events.Envelope{ID: events.DeriveID("event", c.id+"/"+strconv.Itoa(c.next)), ClusterID: c.id, Actor: "urn:vcloud:user:bench",
			OrgID: "urn:vcloud:org:bench", Time: time.Now().UTC(), CausationID: "cmd-" + c.id, CorrelationID: "cmd-" + c.id,
			PrevHash: c.hash, Payload: lifecycle[c.next]}
		rec, err := st.Append(ctx, env, c.seq, "cmd-"+c.id+":"+strconv.FormatUint(c.seq, 10))
		if err != nil {
			c.id = "" // start over on a new cluster
			return err
		}
		c.next, c.seq, c.hash = c.next+1, rec.Seq, rec.Hash()
		return nil
	}
}

// bareAppender returns a caller's bare append: the same encoded events, published with the
// same headers to a subject of the caller's own, each awaited.
func bareAppender(js jetstream.JetStream, lifecycle []events.Payload, run *atomic.Uint64) func(context.Context) error {
	bodies := make([][]byte, len(lifecycle))
	for i, p := range lifecycle {
		b, err := events.Marshal(events.Envelope{ID: events.DeriveID("event", "bare/"+strconv.Itoa(i)), ClusterID: "bare",
			Actor: "urn:vcloud:user:bench", OrgID: "urn:vcloud:org:bench", Time: time.Now().UTC(), CausationID: "cmd-bare",
			CorrelationID: "cmd-bare", PrevHash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Payload: p})
		if err != nil {
			panic(err) // the lifecycle was just made by the cluster package
		}
		bodies[i] = b
	}
	type caller struct {
		subject string
		next    int
		seq     uint64
	}
	var callers histories[caller]
	return func(ctx context.Context) error {
		c := callers.take()
		defer callers.give(c)
		if c.subject == "" || c.next == len(bodies) {
			*c = caller{subject: events.EventSubject("bench-bare-" + strconv.FormatUint(run.Add(1), 36))}
		}
		m := nats.NewMsg(c.subject)
		m.Data = bodies[c.next]
		m.Header.Set(jetstream.MsgIDHeader, c.subject+":"+strconv.FormatUint(c.seq, 10))
		m.Header.Set(jetstream.ExpectedStreamHeader, events.EventStream)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(c.seq, 10))
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			c.subject = ""
			return err
		}
		c.next, c.seq = c.next+1, ack.Sequence
		return nil
	}
}

// histories hands each concurrent call a history no other call holds (a new one when
// all are taken), so that each history's appends follow one another.
type histories[T any] struct {
	mu   sync.Mutex
	free []*T
}

func (h *histories[T]) take() *T {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.free); n > 0 {
		c := h.free[n-1]
		h.free = h.free[:n-1]
		return c
	}
	return new(T)
}

func (h *histories[T]) give(c *T) {
	h.mu.Lock()
	h.free = append(h.free, c)
	h.mu.Unlock()
}

func printAppends(w io.Writer, a *Appends) error {
	fmt.Fprintln(w, "Executor appends (P3): events appended by jsstore's Store.Append (encoded, hash-chained, Nats-Msg-Id, expected subject sequence),")
	fmt.Fprintln(w, "one create's events per cluster, against bare publishes of the same events with the same headers, on one synced stream:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clusters at once\tkaas appends/s\tp50 ms\tevents/sync\tbare appends/s\tp50 ms\tkaas/bare\t")
	for _, k := range a.Cells {
		if k.Path != "kaas" {
			continue
		}
		for _, b := range a.Cells {
			if b.Path != "bare" || b.Clusters != k.Clusters {
				continue
			}
			per := "-"
			if k.PerSync != nil {
				per = fmt.Sprintf("%.1f", *k.PerSync)
			}
			fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%s\t%.0f\t%.2f\t%s\t\n", k.Clusters, k.Throughput, k.P50Ms, per, b.Throughput, b.P50Ms,
				num(k.Throughput/b.Throughput, 2))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "NOT MET"
	if a.AimMet {
		verdict = "MET"
	}
	_, err := fmt.Fprintf(w, "aim kaas/bare ≥ %.1f at %d clusters at once: %s (%.2f)\n\n", appendsAim, a.AimLevel, verdict, a.Ratio)
	return err
}
