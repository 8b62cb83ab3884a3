package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/store"
)

// Bucket is the store's key-value bucket the mirror keeps its links, marks and position in.
// Its keys:
//
//	cluster.<cluster id>  the cluster's entity (clusterLink)
//	op.<operation id>     the operation's task (opLink)
//	dirty.c.<cluster id>  a cluster to reconcile, and the records that touched it (mark)
//	dirty.o.<op id>       an operation to reconcile
//	position              the records read and marked (position)
//	lease                 the instance that mirrors (lease)
const Bucket = "KAAS_VCD_MIRROR"

const (
	clusterPrefix = "cluster."
	opPrefix      = "op."
)

// clusterLink is what the mirror knows of a cluster's entity. An empty link is none.
type clusterLink struct {
	// Entity is the VCD entity URN.
	Entity string `json:"entity,omitempty"`
	// Creating is set before VCD is asked to make the entity: one may then exist in VCD
	// without its link, to be found by its status.kaas.clusterId.
	Creating bool `json:"creating,omitempty"`
	// Gone is set once the entity was deleted with its cluster. The link stays: the
	// cluster's past is still read by the id clients knew it by.
	Gone bool `json:"gone,omitempty"`
}

// opLink is what the mirror knows of an operation's task.
type opLink struct {
	// Task is the VCD task URN (urn:vcloud:task:<uuid>).
	Task string `json:"task,omitempty"`
	// Creating is set before VCD is asked to make the task: one may then exist in VCD
	// without its link, to be found by the operation id in its operation text.
	Creating bool `json:"creating,omitempty"`
	// Done is set once the task ended in VCD: it is never changed again.
	Done bool `json:"done,omitempty"`
}

// LinksConfig configures the links' reader.
type LinksConfig struct {
	// PublicURL is VCD's address as clients reach it (https://vcd.example.com): the task
	// and vApp hrefs shown start with it.
	PublicURL string
	Logger    *slog.Logger
}

func (c *LinksConfig) setDefaults() {
	c.PublicURL = strings.TrimSuffix(strings.TrimSuffix(c.PublicURL, "/"), "/api")
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c *LinksConfig) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
		errs = append(errs, fmt.Errorf("VCD public URL %q must be like https://vcd.example.com", c.PublicURL))
	}
	return errors.Join(errs...)
}

// Links are the mirror's links between kaas's ids and VCD's, read from memory: the bucket
// is watched, so every instance sees every link the mirror records. The queries and the
// ingress read them through the small interfaces they declare. Links is safe for
// concurrent use.
type Links struct {
	kv  store.KV
	cfg LinksConfig

	mu       sync.RWMutex
	clusters map[string]clusterLink
	entities map[string]string // entity URN → cluster id
	ops      map[string]opLink
	rev      uint64        // the bucket revision the maps reflect
	changed  chan struct{} // closed and replaced on every change
	err      error         // why the watch stopped
}

// OpenLinks declares the bucket in st and returns its links once every link recorded so far
// is read; they are kept current until ctx ends.
func OpenLinks(ctx context.Context, st Store, cfg LinksConfig) (*Links, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mirror links: %w", err)
	}
	kv, err := st.KeyValue(ctx, store.KVConfig{
		Bucket: Bucket, Description: "kaas's VCD mirror: links between kaas's ids and VCD's, what is left to mirror, how far it read",
	})
	if err != nil {
		return nil, fmt.Errorf("mirror links: %w", err)
	}
	l := &Links{kv: kv, cfg: cfg, clusters: map[string]clusterLink{}, entities: map[string]string{}, ops: map[string]opLink{},
		changed: make(chan struct{})}
	w, err := kv.Watch(ctx, clusterPrefix, opPrefix)
	if err != nil {
		return nil, fmt.Errorf("watch bucket %s: %w", Bucket, err)
	}
	loaded := make(chan struct{})
	go l.watch(ctx, w, loaded)
	select {
	case <-loaded:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.err != nil {
		return nil, l.err
	}
	return l, nil
}

// watch applies the bucket's changes until ctx ends; loaded is closed once the values
// recorded before the watch began are in.
func (l *Links) watch(ctx context.Context, w <-chan *store.KVEntry, loaded chan struct{}) {
	var once sync.Once
	for {
		select {
		case <-ctx.Done():
			once.Do(func() { close(loaded) })
			return
		case e, ok := <-w:
			if !ok {
				l.mu.Lock()
				l.err = errors.New("the watch of the links stopped")
				l.mu.Unlock()
				once.Do(func() { close(loaded) })
				return
			}
			if e == nil {
				once.Do(func() { close(loaded) })
				continue
			}
			l.apply(e)
		}
	}
}

func (l *Links) apply(e *store.KVEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	del := e.Deleted
	switch key := e.Key; {
	case strings.HasPrefix(key, clusterPrefix):
		id := strings.TrimPrefix(key, clusterPrefix)
		if old, ok := l.clusters[id]; ok && old.Entity != "" {
			delete(l.entities, old.Entity)
		}
		var c clusterLink
		if !del && json.Unmarshal(e.Value, &c) == nil && c != (clusterLink{}) {
			l.clusters[id] = c
			if c.Entity != "" {
				l.entities[c.Entity] = id
			}
		} else {
			delete(l.clusters, id)
		}
	case strings.HasPrefix(key, opPrefix):
		id := strings.TrimPrefix(key, opPrefix)
		var o opLink
		if !del && json.Unmarshal(e.Value, &o) == nil && o != (opLink{}) {
			l.ops[id] = o
		} else {
			delete(l.ops, id)
		}
	}
	l.rev = max(l.rev, e.Revision)
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitRev waits until the watch has applied the bucket's revision rev: what this process
// recorded, it then reads.
func (l *Links) waitRev(ctx context.Context, rev uint64) error {
	for {
		l.mu.RLock()
		done, ch, err := l.rev >= rev, l.changed, l.err
		l.mu.RUnlock()
		switch {
		case done:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// EntityID returns the URN of a cluster's VCD entity, once the mirror made it.
func (l *Links) EntityID(clusterID string) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	c := l.clusters[clusterID]
	return c.Entity, c.Entity != ""
}

// ClusterOf returns the cluster whose VCD entity has this URN (or bare uuid).
func (l *Links) ClusterOf(entity string) (string, bool) {
	if !strings.HasPrefix(entity, cse.EntityIDPrefix) {
		entity = cse.EntityIDPrefix + entity
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	id, ok := l.entities[entity]
	return id, ok
}

// TaskHref returns the href of an operation's VCD task, once the mirror made it.
func (l *Links) TaskHref(opID string) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	o := l.ops[opID]
	if o.Task == "" {
		return "", false
	}
	return l.taskHref(o.Task), true
}

func (l *Links) taskHref(taskURN string) string {
	return l.cfg.PublicURL + "/api/task/" + strings.TrimPrefix(taskURN, "urn:vcloud:task:")
}

// WaitTask waits until an operation's VCD task is linked, or ctx ends, and returns its href.
func (l *Links) WaitTask(ctx context.Context, opID string) (string, bool) {
	for {
		l.mu.RLock()
		o, ch := l.ops[opID], l.changed
		l.mu.RUnlock()
		if o.Task != "" {
			return l.taskHref(o.Task), true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", false
		}
	}
}

// VAppHref returns the href of a vApp kaas knows by its URN (urn:vcloud:vapp:<uuid>), as
// CSE shows it in an entity's externalId.
func (l *Links) VAppHref(vappURN string) string {
	if vappURN == "" || strings.HasPrefix(vappURN, "http") {
		return vappURN
	}
	return l.cfg.PublicURL + "/api/vApp/vapp-" + strings.TrimPrefix(vappURN, "urn:vcloud:vapp:")
}

func (l *Links) cluster(id string) clusterLink {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.clusters[id]
}

func (l *Links) op(id string) opLink {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.ops[id]
}

// putCluster records a cluster's link (none, for the zero link) and returns once the
// links read it.
func (l *Links) putCluster(ctx context.Context, id string, c clusterLink) error {
	return l.put(ctx, clusterPrefix+id, c)
}

// putOp records an operation's link and returns once the links read it.
func (l *Links) putOp(ctx context.Context, id string, o opLink) error {
	return l.put(ctx, opPrefix+id, o)
}

// put writes a link. A link removed is written empty rather than deleted, so that the
// write has a revision to wait for.
func (l *Links) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rev, err := l.kv.Put(ctx, key, b)
	if err != nil {
		return fmt.Errorf("record link %s: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.waitRev(ctx, rev); err != nil {
		return fmt.Errorf("read back link %s: %w", key, err)
	}
	return nil
}
