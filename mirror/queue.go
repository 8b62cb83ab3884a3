package mirror

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events/store"
)

// Item kinds, as they prefix an item's key.
const (
	kindCluster = "c"
	kindOp      = "o"
	dirtyPrefix = "dirty."
)

// mark is what a stored dirty key holds: the records that touched the item, which the views
// must have reached before it is reconciled.
type mark struct {
	Commands uint64 `json:"commands,omitempty"`
	Events   uint64 `json:"events,omitempty"`
}

// item is one cluster or operation to reconcile.
type item struct {
	key       string // "c.<cluster id>" or "o.<operation id>"
	mark      mark
	gen       uint64 // bumped by every mark: a reconcile counts only if none came meanwhile
	rev       uint64 // revision of its stored dirty key; 0: none stored
	full      bool   // a resync: also look in VCD for what kaas did not make
	running   bool
	queued    bool
	notBefore time.Time
	attempt   int
	since     time.Time // when it was first marked, for the lag
	index     int       // in the heap
}

func (it *item) kind() string { return it.key[:1] }
func (it *item) id() string   { return it.key[2:] }

// work is what a worker reconciles: an item as it was when taken.
type work struct {
	key  string
	mark mark
	gen  uint64
	full bool
}

func (w work) kind() string { return w.key[:1] }
func (w work) id() string   { return w.key[2:] }

// queue holds the items to reconcile, ready first, operations before clusters (an
// operation's task is what a cluster's entity and a waiting reply show).
type queue []*item

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if !a.notBefore.Equal(b.notBefore) {
		return a.notBefore.Before(b.notBefore)
	}
	if a.kind() != b.kind() {
		return a.kind() == kindOp
	}
	return a.since.Before(b.since)
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *queue) Push(x any)   { it := x.(*item); it.index = len(*q); *q = append(*q, it) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	it.index = -1
	return it
}

// dirty is the set of items to reconcile, in memory and, for those marked by records, in
// the bucket: a mark is stored before the position moves past the record that made it, and
// removed only after the item matched VCD, so that a restart loses none.
type dirty struct {
	kv store.KV

	mu    sync.Mutex
	items map[string]*item
	q     queue
	wake  chan struct{} // signalled when an item may have become ready
}

func newDirty(kv store.KV) *dirty {
	return &dirty{kv: kv, items: map[string]*item{}, wake: make(chan struct{}, 1)}
}

// load reads the marks stored by an earlier run.
func (d *dirty) load(ctx context.Context) error {
	keys, err := d.kv.Keys(ctx, dirtyPrefix)
	if err != nil {
		return fmt.Errorf("list marks: %w", err)
	}
	for _, k := range keys {
		e, err := d.kv.Get(ctx, k)
		if errors.Is(err, store.ErrNoKey) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read mark %s: %w", k, err)
		}
		var m mark
		_ = json.Unmarshal(e.Value, &m) // an unreadable mark still names an item
		key := strings.TrimPrefix(k, dirtyPrefix)
		if len(key) < 3 || (key[:1] != kindCluster && key[:1] != kindOp) {
			continue
		}
		d.mu.Lock()
		it := d.get(key)
		it.mark, it.rev = m, e.Revision
		d.push(it)
		d.mu.Unlock()
	}
	return nil
}

// get returns the item of key, made when new; mu held.
func (d *dirty) get(key string) *item {
	it := d.items[key]
	if it == nil {
		it = &item{key: key, since: time.Now(), index: -1}
		d.items[key] = it
	}
	return it
}

// push queues an item that is not running; mu held.
func (d *dirty) push(it *item) {
	if it.running {
		return
	}
	if it.queued {
		heap.Fix(&d.q, it.index)
	} else {
		it.queued = true
		heap.Push(&d.q, it)
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// store marks items durably: their marks, merged with what memory holds, are written to the
// bucket, and then they are queued. It returns once every mark is stored.
func (d *dirty) store(ctx context.Context, marks map[string]mark) error {
	for key, m := range marks {
		d.mu.Lock()
		if it := d.items[key]; it != nil {
			m.Commands, m.Events = max(m.Commands, it.mark.Commands), max(m.Events, it.mark.Events)
		}
		d.mu.Unlock()
		b, _ := json.Marshal(m)
		rev, err := d.kv.Put(ctx, dirtyPrefix+key, b)
		if err != nil {
			return fmt.Errorf("store mark %s: %w", key, err)
		}
		d.mu.Lock()
		it := d.get(key)
		it.mark.Commands, it.mark.Events = max(m.Commands, it.mark.Commands), max(m.Events, it.mark.Events)
		it.gen++
		it.rev = max(it.rev, rev)
		it.notBefore, it.attempt = time.Time{}, 0 // new records: try at once
		d.push(it)
		d.mu.Unlock()
	}
	return nil
}

// touch marks an item in memory only: a resync, which the next resync repeats should this
// run end first.
func (d *dirty) touch(key string, full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	it := d.get(key)
	it.gen++
	it.full = it.full || full
	if it.attempt == 0 {
		it.notBefore = time.Time{}
	}
	d.push(it)
}

// next waits for an item that is ready and not running, and takes it.
func (d *dirty) next(ctx context.Context) (work, bool) {
	for {
		d.mu.Lock()
		var wait time.Duration = -1
		if len(d.q) > 0 {
			it := d.q[0]
			if w := time.Until(it.notBefore); w > 0 {
				wait = w
			} else {
				heap.Pop(&d.q)
				it.queued, it.running = false, true
				w := work{key: it.key, mark: it.mark, gen: it.gen, full: it.full}
				it.full = false
				if len(d.q) > 0 && !d.q[0].notBefore.After(time.Now()) {
					select { // another worker may take the next one
					case d.wake <- struct{}{}:
					default:
					}
				}
				d.mu.Unlock()
				return w, true
			}
		}
		d.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return work{}, false
		case <-d.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// done records the end of a reconcile: on failure the item waits backoff(attempt) and is
// tried again; on success its stored mark is removed, unless it was marked again meanwhile.
func (d *dirty) done(ctx context.Context, w work, failed bool, backoff func(attempt int) time.Duration) error {
	d.mu.Lock()
	it := d.items[w.key]
	it.running = false
	if failed {
		it.attempt++
		it.notBefore = time.Now().Add(backoff(it.attempt))
		it.full = it.full || w.full
		d.push(it)
		d.mu.Unlock()
		return nil
	}
	it.attempt = 0
	if it.gen != w.gen {
		d.push(it)
		d.mu.Unlock()
		return nil
	}
	rev := it.rev
	it.running = true // no one else takes it while its mark is removed
	d.mu.Unlock()
	var err error
	if rev != 0 {
		err = d.kv.Delete(ctx, dirtyPrefix+w.key, rev)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	it.running = false
	switch {
	case err == nil && it.gen == w.gen && it.rev == rev:
		delete(d.items, w.key)
		return nil
	case err != nil && it.gen == w.gen && it.rev == rev:
		// The bucket failed, not the item: it is reconciled again later, which does no harm.
		it.notBefore = time.Now().Add(backoff(1))
		d.push(it)
		return fmt.Errorf("remove mark %s: %w", w.key, err)
	}
	if err == nil && it.rev == rev {
		it.rev = 0 // marked in memory only meanwhile (a resync): nothing stored is left
	}
	d.push(it)
	return nil
}

// describe lists the items that wait, for a person reading why the mirror is behind.
func (d *dirty) describe() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, it := range d.items {
		out = append(out, fmt.Sprintf("%s (attempt %d, running %v, not before %s)", it.key, it.attempt, it.running, time.Until(it.notBefore).Round(time.Millisecond)))
	}
	return out
}

// stats returns how many items wait and since when the oldest does.
func (d *dirty) stats() (n int, oldest time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, it := range d.items {
		if oldest.IsZero() || it.since.Before(oldest) {
			oldest = it.since
		}
	}
	return len(d.items), oldest
}
