package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cluster/flawless"
	"github.com/kaasproject/kaas/projector"
)

// replayAim is the goal: rebuilding the views keeps at least half the pace of a bare ordered
// consumer that only receives the same records.
const replayAim = 0.5

// Replay is the replay-speed measurement.
type Replay struct {
	Events   uint64 `json:"events"`
	Commands uint64 `json:"commands"`
	Clusters int    `json:"clusters"`
	// BareSeconds is a bare ordered consumer per stream receiving every record, nothing
	// decoded; RebuildSeconds is projector.RebuildTo folding the same records into views.
	BareSeconds    float64 `json:"bare_s"`
	RebuildSeconds float64 `json:"rebuild_s"`
	BareRate       float64 `json:"bare_records_per_s"`
	RebuildRate    float64 `json:"rebuild_records_per_s"`
	Ratio          float64 `json:"ratio"`
	AimMet         bool    `json:"aim_met"`
	// MBytes is the event stream's size on disk.
	MBytes float64 `json:"event_stream_mb"`
	// Startup is kaasd's start on the same history (startup.go); nil when not measured.
	Startup *Startup `json:"startup,omitempty"`
}

// runReplay writes a history of about n events (real cluster lifecycles, hash-chained, as
// the executors write them) to an embedded JetStream, then times a bare read of it and a
// rebuild of the views from it, in the same run.
func runReplay(ctx context.Context, n int, profile string, startup bool, logf func(string, ...any)) (*Replay, error) {
	// The history is written relaxed: the replay measures reading it, and a million synced
	// appends would only make writing it slow.
	bs, err := openBenchStore(ctx, "replay", relaxedEvery, false)
	if err != nil {
		return nil, err
	}
	defer bs.close()
	dir, emb, nc, store := bs.dir, bs.emb, bs.nc, bs.store
	js := store.JetStream()

	logf("replay: writing a history of about %d events", n)
	start := time.Now()
	clusters, err := writeHistory(ctx, js, n)
	if err != nil {
		return nil, err
	}
	cmdEnd, evtEnd, err := store.LastSequences(ctx)
	if err != nil {
		return nil, err
	}
	r := &Replay{Events: evtEnd, Commands: cmdEnd, Clusters: clusters}
	if st, err := js.Stream(ctx, events.EventStream); err == nil {
		r.MBytes = float64(st.CachedInfo().State.Bytes) / 1e6
	}
	logf("replay: %d events and %d commands of %d clusters written in %.1fs", evtEnd, cmdEnd, clusters, time.Since(start).Seconds())

	start = time.Now()
	if err := bareRead(ctx, js, cmdEnd, evtEnd); err != nil {
		return nil, err
	}
	r.BareSeconds = time.Since(start).Seconds()
	logf("replay: bare ordered consumers read it in %.2fs", r.BareSeconds)

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	start = time.Now()
	views, err := projector.RebuildTo(ctx, store, cmdEnd, evtEnd)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	r.RebuildSeconds = time.Since(start).Seconds()
	if got := views.OperationCount(); got != int(cmdEnd) {
		return nil, fmt.Errorf("replay: rebuilt views know %d operations, want %d", got, cmdEnd)
	}
	logf("replay: views rebuilt in %.2fs", r.RebuildSeconds)
	total := float64(evtEnd + cmdEnd)
	r.BareRate, r.RebuildRate = total/r.BareSeconds, total/r.RebuildSeconds
	r.Ratio = r.RebuildRate / r.BareRate
	r.AimMet = r.Ratio >= replayAim
	if startup {
		if r.Startup, err = runStartup(ctx, dir, emb, nc, store, views, logf); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// writeHistory writes cluster lifecycles until about n events: a create to its end, then a
// scale up, as a flawless executor records them (clustertest), each event chained to the
// previous one of its cluster by hash. It returns the number of clusters.
func writeHistory(ctx context.Context, js jetstream.JetStream, n int) (int, error) {
	w := newLifecycles(js, 50, 500, events.ScaleWorkers{Workers: 3})
	for w.events < n {
		if err := w.next(ctx); err != nil {
			return w.clusters, err
		}
	}
	return w.clusters, w.flush(ctx)
}

// lifecycles writes the commands and events of one cluster after another straight into the
// streams, as ingress and a flawless executor write them: the replay's history and the
// fleet's seed. Cluster i (from 1) is in org i%orgs, created (and changed) by user i%users;
// users is a multiple of orgs, so that each user is of one org.
type lifecycles struct {
	js          jetstream.JetStream
	orgs, users int
	// after are the commands each cluster gets once its create has run to its end.
	after            []events.Payload
	t0               time.Time
	pending          []jetstream.PubAckFuture
	clusters, events int
}

func newLifecycles(js jetstream.JetStream, orgs, users int, after ...events.Payload) *lifecycles {
	return &lifecycles{js: js, orgs: orgs, users: users, after: after, t0: time.Now().UTC().Add(-24 * time.Hour)}
}

// benchClusterID, benchOrg and benchUser are cluster i's id, its org's URN and the URN of
// user u.
func benchClusterID(i int) string { return events.DeriveID("bench-cluster", fmt.Sprint(i)) }
func benchOrg(o int) string       { return "urn:vcloud:org:" + events.DeriveID("bench-org", fmt.Sprint(o)) }
func benchUser(u int) string {
	return "urn:vcloud:user:" + events.DeriveID("bench-user", fmt.Sprint(u))
}

// flush waits until every record published so far is stored.
func (w *lifecycles) flush(ctx context.Context) error {
	select {
	case <-w.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, f := range w.pending {
		select {
		case err := <-f.Err():
			return fmt.Errorf("history: write: %w", err)
		default:
		}
	}
	w.pending = w.pending[:0]
	return nil
}

// publish publishes one record without waiting for it, and returns its hash.
func (w *lifecycles) publish(ctx context.Context, subject string, env events.Envelope) (string, error) {
	b, err := events.Marshal(env)
	if err != nil {
		return "", err
	}
	f, err := w.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: b})
	if err != nil {
		return "", err
	}
	w.pending = append(w.pending, f)
	if len(w.pending) >= 4000 {
		if err := w.flush(ctx); err != nil {
			return "", err
		}
	}
	return events.Hash(b), nil
}

// next writes the next cluster's lifecycle: its create to its end, then each of after.
func (w *lifecycles) next(ctx context.Context) error {
	w.clusters++
	i := w.clusters
	id, org, actor := benchClusterID(i), benchOrg(i%w.orgs), benchUser(i%w.users)
	spec := events.ClusterSpec{Name: fmt.Sprintf("c%d", i), OrgName: fmt.Sprintf("org%d", i%w.orgs), VDC: "vdc", Network: "net",
		Template:     events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1},
		ControlPlane: events.NodePool{Count: 1}, Workers: events.NodePool{Count: 2}, RollbackOnFailure: true}
	st := &cluster.State{}
	var prev string
	seq := uint64(0)
	at := w.t0.Add(time.Duration(i) * time.Second)
	for n, cmd := range append([]events.Payload{events.CreateCluster{Spec: spec}}, w.after...) {
		cmdID := events.DeriveID("bench-command", fmt.Sprint(i, "/", n))
		if _, err := w.publish(ctx, events.CommandSubject(id), events.Envelope{ID: cmdID, ClusterID: id, OrgID: org, Actor: actor, Time: at,
			CorrelationID: cmdID, Payload: cmd}); err != nil {
			return err
		}
		first, err := cluster.Decide(st, events.Envelope{ID: cmdID, ClusterID: id, Payload: cmd})
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		next := []events.Payload{first}
		for len(next) > 0 {
			for _, p := range next {
				seq++
				env := events.Envelope{ID: events.DeriveID("bench-event", fmt.Sprint(id, "/", seq)), ClusterID: id, OrgID: org, Actor: actor,
					Time: at.Add(time.Duration(seq) * time.Millisecond), CausationID: cmdID, CorrelationID: cmdID, PrevHash: prev, Payload: p}
				h, err := w.publish(ctx, events.EventSubject(id), env)
				if err != nil {
					return err
				}
				st.Apply(env, seq, h)
				prev = h
				w.events++
			}
			next = nil
			if step := cluster.Plan(st); step.Kind != cluster.StepNone {
				next = flawless.Outcome(st, step)
			}
		}
	}
	return nil
}

// bareRead receives every record of both streams with an ordered consumer per stream, as
// the projector does, and nothing else.
func bareRead(ctx context.Context, js jetstream.JetStream, cmdEnd, evtEnd uint64) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, s := range []struct {
		name string
		end  uint64
	}{{events.CommandStream, cmdEnd}, {events.EventStream, evtEnd}} {
		wg.Go(func() {
			cons, err := js.OrderedConsumer(ctx, s.name, jetstream.OrderedConsumerConfig{})
			if err != nil {
				errs <- err
				return
			}
			done := make(chan struct{})
			var once sync.Once
			cc, err := cons.Consume(func(m jetstream.Msg) {
				if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= s.end {
					once.Do(func() { close(done) })
				}
			})
			if err != nil {
				errs <- err
				return
			}
			defer cc.Stop()
			select {
			case <-done:
			case <-ctx.Done():
				errs <- ctx.Err()
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func printReplay(w io.Writer, r *Replay) error {
	fmt.Fprintf(w, "\nreplay: %d events and %d commands of %d clusters (%.0f MB of events), rebuilt from sequence 1\n\n",
		r.Events, r.Commands, r.Clusters, r.MBytes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reader\tseconds\trecords/s\t")
	fmt.Fprintf(tw, "bare ordered consumers (ceiling)\t%.2f\t%.0f\t\n", r.BareSeconds, r.BareRate)
	fmt.Fprintf(tw, "views rebuilt (decode, fold)\t%.2f\t%.0f\t\n", r.RebuildSeconds, r.RebuildRate)
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "NOT MET"
	if r.AimMet {
		verdict = "MET"
	}
	fmt.Fprintf(w, "\naim rebuild ≥ %.1f × bare read: %s (%.2f)\n", replayAim, verdict, r.Ratio)
	return nil
}
