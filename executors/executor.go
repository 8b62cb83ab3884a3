package executors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// Store is what the executors need of the command and event store: their share of the
// commands, each cluster's history to load and append to, snapshots, dead letters and
// secrets. events/jsstore implements it on JetStream, events/memstore in memory.
type Store interface {
	ConsumeCommands(ctx context.Context, cfg store.ConsumerConfig) (store.Deliveries, error)
	Load(ctx context.Context, clusterID string, afterSeq uint64) ([]store.Record, error)
	Append(ctx context.Context, env events.Envelope, expectedSeq uint64, msgID string) (store.Record, error)
	LoadSnapshot(ctx context.Context, clusterID string) ([]byte, error)
	SaveSnapshot(ctx context.Context, clusterID string, b []byte) error
	DeadLetter(ctx context.Context, cmdSeq uint64, cmd events.Envelope, raw []byte, reason string) error
	Secrets() store.Secrets
}

// Executor runs cluster commands against VCD.
type Executor struct {
	cfg   Config
	store Store
	vcd   VCD

	mu     sync.Mutex
	states map[string]aggregate // cached aggregates; each is only touched by the worker that holds it
	ready  bool
	errs   map[string]int // deliveries in a row that failed, by command id
	snaps  map[string]int // events each cluster had at its last snapshot
	// polled holds, by command id, the retry a waiting step's successful poll has since
	// ended: transient errors spread over a long wait are not one failing streak.
	polled map[string]retryState
	// users are VCD's users as this process last recorded them in a CloudSynced, by URN: a
	// sync records only the users that are new or renamed since, so that a periodic sync of
	// a large VCD does not write every user into the history each time.
	users map[string]events.User
	// uploads are the builds (by command id) whose base image this process saw uploading.
	uploads map[string]bool
	// prepared are the nodes (cluster id/name) whose VMs were made while their control
	// plane booted (prepareNodes): hints, so that later polls do not ask VCD again.
	prepared map[string]bool
	// refusals are VCD's refusals to make a node ahead (prepareNodes), kept for
	// ProvisionNodes to fail with.
	refusals map[string]error
	// boots is, by node role, the shortest over the nodes seen of how long after its
	// power-on a node was last read still booting; booting is when each node booting now
	// (cluster id/name) was last read so (sawBoot).
	boots   map[string]time.Duration
	booting map[string]time.Time
	leases  *leases // nil: this executor is alone
}

// New returns an executor. Run starts it.
func New(cfg Config, store Store, vcd VCD) (*Executor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("executor config: %w", err)
	}
	if cfg.Metrics != nil {
		vcd = instrumentedVCD{VCD: vcd, m: cfg.Metrics.vcd}
	}
	e := &Executor{cfg: cfg, store: store, vcd: vcd, states: map[string]aggregate{}, errs: map[string]int{},
		snaps: map[string]int{}, polled: map[string]retryState{}, users: map[string]events.User{}, uploads: map[string]bool{},
		prepared: map[string]bool{}, refusals: map[string]error{}, boots: map[string]time.Duration{}, booting: map[string]time.Time{}}
	if cfg.Leases != nil {
		e.leases = newLeases(cfg.Leases, cfg.Instance, cfg.LeaseTTL, cfg.Logger)
	}
	return e, nil
}

// Ready reports whether the consumer is bound, for /readyz.
func (e *Executor) Ready() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ready {
		return errors.New("executor consumer not bound")
	}
	return nil
}

// consumerConfig is the durable consumer on every cluster's commands that every executor
// shares.
func (e *Executor) consumerConfig() store.ConsumerConfig {
	return store.ConsumerConfig{
		Name:        e.cfg.Consumer,
		Description: "kaas executors: run each cluster command until its operation ends",
		AckWait:     e.cfg.AckWait,
		Prefetch:    4 * e.cfg.Workers,
	}
}

// Run consumes commands until ctx ends. In-flight steps finish (bounded by their own
// timeouts) before Run returns; unfinished commands are redelivered to the next executor.
func (e *Executor) Run(ctx context.Context) error {
	it, err := e.store.ConsumeCommands(ctx, e.consumerConfig())
	if err != nil {
		return fmt.Errorf("executor consumer: %w", err)
	}
	e.mu.Lock()
	e.ready = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.ready = false
		e.mu.Unlock()
	}()
	e.cfg.Logger.Info("executor started", "consumer", e.cfg.Consumer, "workers", e.cfg.Workers)

	q := newKeyedQueue()
	var wg sync.WaitGroup
	// Steps run on a context that outlives ctx by a little, so that a shutdown lets the
	// step in flight record its outcome instead of leaving VCD work unrecorded.
	stepCtx, cancelSteps := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSteps()
	for range e.cfg.Workers {
		wg.Go(func() {
			for {
				key, msgs, ok := q.take()
				if !ok {
					return
				}
				e.handleHeld(stepCtx, key, msgs)
				q.done(key)
			}
		})
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, store.ErrStopped) || ctx.Err() != nil {
				break
			}
			e.cfg.Logger.Warn("executor fetch failed", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		id, _ := events.ClusterIDFromSubject(m.Subject())
		q.put(id, m)
	}
	// Commands fetched but never started go back at once, not after AckWait.
	for _, m := range q.close() {
		_ = m.Nak()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cancelSteps()
		<-done
	}
	e.cfg.Logger.Info("executor stopped")
	return nil
}

// handleHeld handles one cluster's messages under its lease, when executors share the
// commands with other processes' (Config.Leases); while another holds the lease, they come
// back after a poll interval.
func (e *Executor) handleHeld(ctx context.Context, key string, msgs []store.Delivery) {
	if e.leases == nil {
		for _, m := range msgs {
			e.handle(ctx, m)
		}
		return
	}
	l, took, err := e.leases.acquire(ctx, key)
	switch {
	case err != nil:
		e.cfg.Metrics.lease("error")
		e.cfg.Logger.Warn("could not take a cluster's lease; its commands come back later", "cluster_id", key, "err", err)
	case l == nil:
		e.cfg.Metrics.lease("busy")
	case took:
		e.cfg.Metrics.lease("taken_over")
	default:
		e.cfg.Metrics.lease("held")
	}
	if l == nil {
		for _, m := range msgs {
			_ = m.NakWithDelay(e.cfg.PollInterval)
		}
		return
	}
	// Steps stop when the lease is lost: another executor may run them from then on.
	hctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.lost:
			e.cfg.Metrics.lease("lost")
			cancel()
		case <-hctx.Done():
		}
	}()
	for _, m := range msgs {
		if hctx.Err() != nil {
			_ = m.NakWithDelay(e.cfg.PollInterval)
			continue
		}
		e.handle(hctx, m)
	}
	cancel()
	l.release(context.WithoutCancel(ctx))
}

// keyedQueue runs one cluster's messages in order on one worker at a time, and different
// clusters in parallel.
type keyedQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending map[string][]store.Delivery
	busy    map[string]bool
	order   []string // clusters with pending messages and no worker, oldest first
	closed  bool
}

func newKeyedQueue() *keyedQueue {
	q := &keyedQueue{pending: map[string][]store.Delivery{}, busy: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *keyedQueue) put(key string, m store.Delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending[key]) == 0 && !q.busy[key] {
		q.order = append(q.order, key)
		q.cond.Signal()
	}
	q.pending[key] = append(q.pending[key], m)
}

// take waits for a cluster with pending messages that no worker holds, and hands them over.
func (q *keyedQueue) take() (string, []store.Delivery, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", nil, false
	}
	key := q.order[0]
	q.order = q.order[1:]
	msgs := q.pending[key]
	delete(q.pending, key)
	q.busy[key] = true
	return key, msgs, true
}

// done releases a cluster; messages that arrived meanwhile are queued again.
func (q *keyedQueue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.busy, key)
	if len(q.pending[key]) > 0 {
		q.order = append(q.order, key)
		q.cond.Signal()
	}
}

// close stops handing out work and returns what was never handed out.
func (q *keyedQueue) close() []store.Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
	var left []store.Delivery
	for _, msgs := range q.pending {
		left = append(left, msgs...)
	}
	q.pending = map[string][]store.Delivery{}
	return left
}

// polledFine notes that the operation's step, which had failed before, has just called VCD
// successfully: its next failure starts a new streak.
func (e *Executor) polledFine(cmdID string, r *retryState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.polled) > 100_000 {
		clear(e.polled) // a hint: forgetting it only counts a streak from the history
	}
	e.polled[cmdID] = *r
}

// streakEnded reports whether a successful call came after the retry r was recorded.
func (e *Executor) streakEnded(cmdID string, r *retryState) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.polled[cmdID]
	if ok && (p.step != r.step || p.attempt != r.attempt || !p.notUntil.Equal(r.notUntil)) {
		delete(e.polled, cmdID) // another streak's
		return false
	}
	return ok
}
