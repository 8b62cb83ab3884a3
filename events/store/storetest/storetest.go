// Package storetest is the conformance suite of kaas's command and event stores: what
// events/store documents, as tests that events/jsstore (on a real nats-server) and
// events/memstore (in memory, on synctest's fake clock) both pass, so that a test on the
// memory store tells the truth about the JetStream one. Where the two stores once differed,
// the case says which behaviour is the contract. Test support: production code never
// imports it.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// Store is the whole contract a command and event store offers; components declare the
// part they need (executors.Store, projector.Source).
type Store interface {
	// AppendCommand appends a command to its cluster's command subject; a second append of
	// msgID within the dedupe window stores nothing and reports duplicate and the first's
	// sequence. A payload that is not a command is refused.
	AppendCommand(ctx context.Context, env events.Envelope, msgID string) (seq uint64, duplicate bool, err error)
	// Append appends one event if the cluster's last event is still expectedSeq (0: none);
	// an append whose msgID already landed returns that record; any other mismatch is
	// store.ErrConflict. A payload that is not an event is refused.
	Append(ctx context.Context, env events.Envelope, expectedSeq uint64, msgID string) (store.Record, error)
	// LastSeq is the sequence of a cluster's last event, 0 if it has none.
	LastSeq(ctx context.Context, clusterID string) (uint64, error)
	// Load and LoadCommands return a cluster's events or commands after afterSeq, in order.
	Load(ctx context.Context, clusterID string, afterSeq uint64) ([]store.Record, error)
	LoadCommands(ctx context.Context, clusterID string, afterSeq uint64) ([]store.Record, error)
	// Ends and LastSequences say where the command and event streams end.
	Ends(ctx context.Context) (store.Ends, error)
	CommandEnd(ctx context.Context) (uint64, error)
	LastSequences(ctx context.Context) (commands, events uint64, err error)
	// Scan reads a stream as filtered, up to its end when the scan began, until fn says stop.
	Scan(ctx context.Context, f store.ScanFilter, fn func(store.Record) bool) error
	// Follow calls fn with every record of a stream from a sequence on, in order, until stop;
	// stop returns once fn no longer runs.
	Follow(ctx context.Context, stream string, from uint64, fn func(store.Raw)) (stop func(), err error)
	// SaveSnapshot replaces a cluster's snapshot; LoadSnapshot returns it, nil when none.
	SaveSnapshot(ctx context.Context, clusterID string, b []byte) error
	LoadSnapshot(ctx context.Context, clusterID string) ([]byte, error)
	Secrets() store.Secrets
	// DeadLetter sets a command aside with why (twice keeps one); DeadLetters lists them,
	// oldest first; RemoveDeadLetter deletes one, store.ErrNoDeadLetter when there is none.
	DeadLetter(ctx context.Context, cmdSeq uint64, cmd events.Envelope, raw []byte, reason string) error
	DeadLetters(ctx context.Context) ([]store.DeadLetter, error)
	RemoveDeadLetter(ctx context.Context, seq uint64) error
	// ConsumeCommands binds a durable consumer of every cluster's commands.
	ConsumeCommands(ctx context.Context, cfg store.ConsumerConfig) (store.Deliveries, error)
}

// Option tunes Run.
type Option func(*options)

type options struct {
	bubble bool
	only   []string
}

// ackWait is the consumers' ack wait: the timed cases take a few times it, so it is short,
// and long enough that an ack on a busy machine comes well within it.
const ackWait = time.Second

// Synctest runs each case inside a testing/synctest bubble (open included), on the bubble's
// fake clock: waits take no real time, and the consumer's timings are checked exactly
// rather than within a margin. The store must then wait only on channels (or what else
// synctest counts as durably blocking).
func Synctest() Option { return func(o *options) { o.bubble = true } }

// Only runs the named cases alone, for a store whose every case is costly to open (a
// cluster of servers): a name the suite lacks fails the run, so that a renamed case cannot
// drop out unseen.
func Only(names ...string) Option { return func(o *options) { o.only = append(o.only, names...) } }

// Run runs the suite. open returns a new, empty store for one case; it may register its own
// cleanup on t. The cases run in parallel with each other.
func Run(t *testing.T, open func(t *testing.T) Store, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var all []testCase
	for _, cs := range [][]testCase{recordCases, readCases, keepCases, consumeCases} {
		all = append(all, cs...)
	}
	if o.only != nil {
		var some []testCase
		for _, name := range o.only {
			i := slices.IndexFunc(all, func(c testCase) bool { return c.name == name })
			if i < 0 {
				t.Fatalf("storetest has no case %q", name)
			}
			some = append(some, all[i])
		}
		all = some
	}
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			run := func(t *testing.T) { c.run(&harness{T: t, s: open(t), ctx: t.Context(), o: o}) }
			if o.bubble {
				synctest.Test(t, run)
				return
			}
			run(t)
		})
	}
}

type testCase struct {
	name string
	run  func(h *harness)
}

// harness is one case's store and test.
type harness struct {
	*testing.T
	s   Store
	ctx context.Context
	o   options
}

// Clusters the cases use: cluster ids are UUIDs, which the stores rely on (subject tokens,
// key names).
var (
	clusterA = events.DeriveID("storetest", "a")
	clusterB = events.DeriveID("storetest", "b")
	clusterC = events.DeriveID("storetest", "c")
)

// cmd is the i-th command of a cluster.
func cmd(cluster string, i int) events.Envelope {
	return events.Envelope{ID: fmt.Sprintf("cmd-%s-%d", cluster[:8], i), ClusterID: cluster, Time: time.Now().UTC(),
		CorrelationID: "req", Payload: events.ScaleWorkers{Workers: i}}
}

// evt is the i-th event of a cluster.
func evt(cluster string, i int) events.Envelope {
	return events.Envelope{ID: fmt.Sprintf("evt-%s-%d", cluster[:8], i), ClusterID: cluster, Time: time.Now().UTC(),
		CausationID: "cmd", Payload: events.NodeStarted{Name: fmt.Sprint(i)}}
}

// appendCommand appends the i-th command of a cluster under msgID "m-<cluster>-<i>" and
// returns its sequence.
func (h *harness) appendCommand(cluster string, i int) uint64 {
	h.Helper()
	seq, dup, err := h.s.AppendCommand(h.ctx, cmd(cluster, i), fmt.Sprintf("m-%s-%d", cluster[:8], i))
	if err != nil || dup {
		h.Fatalf("append command %d of %s: duplicate %v, %v", i, cluster[:8], dup, err)
	}
	return seq
}

// appendEvent appends the i-th event of a cluster after its last one and returns the record.
func (h *harness) appendEvent(cluster string, i int) store.Record {
	h.Helper()
	last, err := h.s.LastSeq(h.ctx, cluster)
	if err != nil {
		h.Fatal(err)
	}
	r, err := h.s.Append(h.ctx, evt(cluster, i), last, fmt.Sprintf("m-%s-%d", cluster[:8], i))
	if err != nil {
		h.Fatalf("append event %d of %s: %v", i, cluster[:8], err)
	}
	return r
}

// took checks that what was due want after its cause came got after it: never much sooner,
// and on a busy machine within a generous margin later; on synctest's clock, exactly then.
func (h *harness) took(what string, got, want time.Duration) {
	h.Helper()
	lo, hi := want*3/4, h.patience(want)
	if h.o.bubble {
		lo, hi = want, want
	}
	h.Logf("%s after %v (want %v)", what, got, want)
	if got < lo || got > hi {
		h.Errorf("%s after %v, want %v (between %v and %v)", what, got, want, lo, hi)
	}
}

// quiesce lets the store's goroutines act on what just happened before the case looks: in a
// bubble until all of them wait; otherwise for a moment, which no outcome depends on (a
// store that behaves passes either way; one that does not is more likely caught).
func (h *harness) quiesce() {
	if h.o.bubble {
		synctest.Wait()
		return
	}
	time.Sleep(50 * time.Millisecond)
}

// patience is how long to wait for something due after d before calling it missing.
func (h *harness) patience(d time.Duration) time.Duration { return 2*d + 5*time.Second }

// within checks that t lies between before and after, as a stored time must that was taken
// while the call ran (a second of slack each way for clocks that step).
func within(t, before, after time.Time) bool {
	return !t.Before(before.Add(-time.Second)) && !t.After(after.Add(time.Second))
}
