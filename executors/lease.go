package executors

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events/store"
)

// leases keep executors of several kaasd from running steps of one cluster at once. One
// process needs none: its keyed queue hands a cluster to one worker at a time. Across
// processes, JetStream delivers each command to one executor, but two commands of one
// cluster, or one command again after its holder missed its progress signals (a NATS
// blip), can reach two of them; a lease per cluster, taken before its commands run and
// renewed while they do, makes the second wait.
//
// A lease never compares clocks of different machines: its holder renews it by a
// compare-and-set, which gives it a new revision, and another executor takes it over only
// after seeing the same revision for a whole TTL by its own clock.
type leases struct {
	kv     store.KV
	holder []byte // what a lease's value says: this executor, for a person reading the bucket
	ttl    time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	seen map[string]seenLease // leases held elsewhere: the revision seen, and since when
}

type seenLease struct {
	rev   uint64
	since time.Time
}

func newLeases(kv store.KV, instance string, ttl time.Duration, log *slog.Logger) *leases {
	if instance == "" {
		instance = rand.Text()[:12]
	}
	holder, _ := json.Marshal(struct {
		Executor string `json:"executor"`
	}{instance})
	return &leases{kv: kv, holder: holder, ttl: ttl, log: log, seen: map[string]seenLease{}}
}

// leaseKey is a cluster's key in the bucket: its id when that is a valid key token (kaas's
// ids are), a digest of it otherwise.
func leaseKey(id string) string {
	valid := id != ""
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '=') {
			valid = false
			break
		}
	}
	if valid {
		return "c." + id
	}
	sum := sha256.Sum256([]byte(id))
	return "h." + hex.EncodeToString(sum[:16])
}

// lease is one held: renewed until released, lost closed if another executor took it over.
type lease struct {
	l    *leases
	key  string
	mu   sync.Mutex
	rev  uint64
	lost chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// acquire takes the lease on a cluster's commands; took says it was taken over from an
// executor that stopped renewing it. It returns nil while another executor holds it.
func (l *leases) acquire(ctx context.Context, id string) (h *lease, took bool, err error) {
	key := leaseKey(id)
	for range 3 {
		rev, err := l.kv.Create(ctx, key, l.holder)
		if err == nil {
			return l.held(key, rev), false, nil
		}
		if !errors.Is(err, store.ErrKeyExists) {
			return nil, false, fmt.Errorf("take lease %s: %w", key, err)
		}
		e, err := l.kv.Get(ctx, key)
		if errors.Is(err, store.ErrNoKey) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, false, fmt.Errorf("read lease %s: %w", key, err)
		}
		// Ours already: a Create that landed unanswered, or a release that failed. One
		// worker of this executor holds a cluster at a time, so it is this one's.
		mine := bytes.Equal(e.Value, l.holder)
		if !mine && !l.stale(key, e.Revision) {
			return nil, false, nil
		}
		rev, err = l.kv.Update(ctx, key, l.holder, e.Revision)
		if errors.Is(err, store.ErrKeyExists) {
			return nil, false, nil // renewed, or taken by a third, just now
		}
		if err != nil {
			return nil, false, fmt.Errorf("take over lease %s: %w", key, err)
		}
		if mine {
			return l.held(key, rev), false, nil
		}
		l.log.Warn("took over a cluster's lease its holder stopped renewing", "lease", key, "holder", string(e.Value), "unrenewed_for", l.ttl)
		return l.held(key, rev), true, nil
	}
	return nil, false, nil
}

// stale reports whether a lease held elsewhere has kept revision rev for a whole TTL.
func (l *leases) stale(key string, rev uint64) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.seen[key]
	if !ok || s.rev != rev {
		l.seen[key] = seenLease{rev: rev, since: now}
		return false
	}
	if now.Sub(s.since) < l.ttl {
		return false
	}
	delete(l.seen, key)
	return true
}

func (l *leases) held(key string, rev uint64) *lease {
	l.mu.Lock()
	delete(l.seen, key)
	l.mu.Unlock()
	h := &lease{l: l, key: key, rev: rev, lost: make(chan struct{}), done: make(chan struct{})}
	h.wg.Go(h.renew)
	return h
}

// renew keeps the lease while it is held. Losing it, to a compare-and-set that fails or to
// a TTL without one that succeeds (another executor may take it then), closes lost.
func (h *lease) renew() {
	t := time.NewTicker(h.l.ttl / 3)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		h.mu.Lock()
		rev := h.rev
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), h.l.ttl/3)
		next, err := h.l.kv.Update(ctx, h.key, h.l.holder, rev)
		cancel()
		switch {
		case err == nil:
			h.mu.Lock()
			h.rev = next
			h.mu.Unlock()
			renewed = time.Now()
			continue
		case errors.Is(err, store.ErrKeyExists):
			h.l.log.Error("lost a cluster's lease to another executor: its steps stop here", "lease", h.key)
		case time.Since(renewed) >= h.l.ttl:
			h.l.log.Error("could not renew a cluster's lease for a whole TTL: its steps stop here", "lease", h.key, "err", err)
		default:
			continue
		}
		h.mu.Lock()
		h.rev = 0
		h.mu.Unlock()
		close(h.lost)
		return
	}
}

// release stops renewing and frees the lease for the next executor, unless it was lost.
func (h *lease) release(ctx context.Context) {
	close(h.done)
	h.wg.Wait()
	h.mu.Lock()
	rev := h.rev
	h.mu.Unlock()
	if rev == 0 {
		return
	}
	if err := h.l.kv.Delete(ctx, h.key, rev); err != nil {
		// The next holder takes it over after a TTL.
		h.l.log.Warn("could not release a cluster's lease", "lease", h.key, "err", err)
	}
}
