package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/projector"
)

// Store is what the mirror needs of the store: where the streams end, each stream's records
// in order from a sequence on (as projector.Source), and a key-value bucket for its own
// state. events/jsstore implements it on JetStream, events/memstore in memory.
type Store interface {
	Ends(ctx context.Context) (store.Ends, error)
	// Follow calls fn with every record of stream from sequence from on, in order and from
	// one goroutine, until stop is called; stop returns once fn no longer runs.
	Follow(ctx context.Context, stream string, from uint64, fn func(store.Raw)) (stop func(), err error)
	// KeyValue opens the bucket cfg.Bucket, declaring it if need be.
	KeyValue(ctx context.Context, cfg store.KVConfig) (store.KV, error)
}

// Mirror keeps VCD showing what the views hold. See the package documentation.
type Mirror struct {
	cfg   Config
	store Store
	views *projector.Views
	links *Links
	vcd   VCD
	log   *slog.Logger
	m     *Metrics

	mu    sync.Mutex
	dirty *dirty            // while this instance mirrors
	pos   position          // how far the follower read and marked
	users map[string]string // user URN → name, as VCD named them
	// behind is when each ended operation's task began waiting for its cluster's entity.
	behind  map[string]time.Time
	skipped map[string]bool // calls this VCD does not offer, logged once
}

// New returns a mirror of the views into VCD, following st's streams and recording its
// links, marks and position in links' bucket.
func New(cfg Config, st Store, views *projector.Views, links *Links, vcd VCD) (*Mirror, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mirror config: %w", err)
	}
	m := &Mirror{cfg: cfg, store: st, views: views, links: links, vcd: vcd, log: cfg.Logger, m: cfg.Metrics,
		users: map[string]string{}, skipped: map[string]bool{}, behind: map[string]time.Time{}}
	m.m.stats = m.stats
	return m, nil
}

func (m *Mirror) stats() (int, time.Time) {
	m.mu.Lock()
	d := m.dirty
	m.mu.Unlock()
	if d == nil {
		return 0, time.Time{}
	}
	return d.stats()
}

// Run mirrors while this instance holds the lease, and waits for it while another does,
// until ctx ends.
func (m *Mirror) Run(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		rev, err := m.acquire(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		m.log.Info("mirror: mirroring the views into VCD", "instance", m.cfg.Instance)
		m.m.leader.Set(1)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.lead(lctx) }()
		renew := time.NewTicker(m.cfg.LeaseTTL / 3)
		var ended error
	hold:
		for {
			select {
			case <-ctx.Done():
				break hold
			case ended = <-done:
				done = nil
				break hold
			case <-renew.C:
				if rev, err = m.renew(ctx, rev); err != nil {
					if ctx.Err() == nil {
						m.log.Warn("mirror: lost the lease; another instance mirrors", "err", err)
					}
					break hold
				}
			}
		}
		renew.Stop()
		cancel()
		if done != nil {
			ended = <-done
		}
		m.m.leader.Set(0)
		m.mu.Lock()
		m.dirty = nil
		m.mu.Unlock()
		if ctx.Err() != nil {
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			m.release(rctx, rev)
			rcancel()
			return nil
		}
		if ended != nil {
			m.log.Error("mirror: stopped; starting again", "err", ended)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(m.backoff(attempt)):
			}
		}
	}
}

// lead mirrors: it loads the marks an earlier run left, follows the streams from the
// recorded position, and reconciles, until ctx ends.
func (m *Mirror) lead(ctx context.Context) error {
	d := newDirty(m.links.kv)
	if err := d.load(ctx); err != nil {
		return err
	}
	pos, err := m.position(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.dirty, m.pos = d, pos
	m.mu.Unlock()
	n, _ := d.stats()
	m.log.Info("mirror: resuming", "commands_seq", pos.Commands, "events_seq", pos.Events, "pending", n)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.follow(gctx, d, pos) })
	for range m.cfg.Workers {
		g.Go(func() error { m.work(gctx, d); return nil })
	}
	if m.cfg.Resync > 0 {
		g.Go(func() error { m.resyncEvery(gctx, d); return nil })
	}
	return g.Wait()
}

// work reconciles items until ctx ends.
func (m *Mirror) work(ctx context.Context, d *dirty) {
	for {
		w, ok := d.next(ctx)
		if !ok {
			return
		}
		err := m.reconcile(ctx, w)
		if ctx.Err() != nil {
			return // the lease or the process ended: the marks stay for the next run
		}
		kind := kindName(w.kind())
		if errors.Is(err, errEntityBehind) {
			m.log.Debug("mirror: a task waits for its cluster's entity", "id", w.id())
			if derr := d.done(ctx, w, true, func(int) time.Duration { return entityRetry }); derr != nil && ctx.Err() == nil {
				m.log.Warn("mirror: could not requeue an item", "id", w.id(), "err", derr)
			}
			continue
		}
		if err != nil {
			class := Classify(err)
			m.m.reconciles.WithLabelValues(kind, "error").Inc()
			m.m.errors.WithLabelValues(class).Inc()
			m.m.retries.WithLabelValues("backoff").Inc()
			m.log.Warn("mirror: VCD does not match yet; trying again later", "kind", kind, "id", w.id(), "class", class, "err", err)
		} else {
			m.m.reconciles.WithLabelValues(kind, "ok").Inc()
		}
		terminal := err != nil && Classify(err) == classTerminal
		if derr := d.done(ctx, w, err != nil, func(attempt int) time.Duration {
			if terminal {
				return m.cfg.RetryMax
			}
			return m.backoff(attempt)
		}); derr != nil && ctx.Err() == nil {
			m.log.Warn("mirror: could not remove a mark; the item is looked at again", "id", w.id(), "err", derr)
		}
	}
}

// entityRetry is how soon a task waiting for its cluster's entity is looked at again.
const entityRetry = 200 * time.Millisecond

// backoff is the wait before attempt n (from 1) after a retryable error.
func (m *Mirror) backoff(n int) time.Duration {
	d := m.cfg.RetryBase
	for i := 1; i < n && d < m.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, m.cfg.RetryMax)
}

// resyncEvery reads every live cluster's entity again each interval.
func (m *Mirror) resyncEvery(ctx context.Context, d *dirty) {
	t := time.NewTicker(m.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.resync(ctx, d); err != nil && ctx.Err() == nil {
				m.log.Warn("mirror: resync could not list VCD's entities; the next one will", "err", err)
			}
		}
	}
}

// resync marks every live cluster to be looked at again (its entity is read, and put back
// if changed), and every cluster an entity in VCD claims that is not its linked one (an
// entity of a deleted cluster, one made twice) to be looked for in full.
func (m *Mirror) resync(ctx context.Context, d *dirty) error {
	for _, cv := range m.views.OrgClusters("") {
		d.touch(kindCluster+"."+cv.ID, false)
	}
	return m.vcd.Entities(ctx, func(e Entity) bool {
		id := clusterIDOf(e.Content)
		if id == "" {
			return true // not kaas's
		}
		if linked, _ := m.links.EntityID(id); linked != e.ID {
			d.touch(kindCluster+"."+id, true)
		}
		return true
	})
}

// Resync looks at every cluster now, as the periodic resync does; false when this instance
// does not mirror.
func (m *Mirror) Resync(ctx context.Context) (bool, error) {
	m.mu.Lock()
	d := m.dirty
	m.mu.Unlock()
	if d == nil {
		return false, nil
	}
	return true, m.resync(ctx, d)
}

// CaughtUp reports whether this instance mirrors and VCD matches every record stored in
// the streams now: for tests and tools that wait for VCD to catch up.
func (m *Mirror) CaughtUp(ctx context.Context) (bool, error) {
	m.mu.Lock()
	d, pos := m.dirty, m.pos
	m.mu.Unlock()
	if d == nil {
		return false, nil
	}
	ends, err := m.store.Ends(ctx)
	if err != nil {
		return false, fmt.Errorf("mirror: %w", err)
	}
	if ends.Commands > pos.Commands || ends.Events > pos.Events {
		return false, nil
	}
	n, _ := d.stats()
	return n == 0, nil
}

// Leading reports whether this instance holds the lease.
func (m *Mirror) Leading() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dirty != nil
}
