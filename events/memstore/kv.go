package memstore

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/kaasproject/kaas/events/store"
)

// KeyValue returns the bucket cfg.Bucket, made empty the first time it is asked for: the
// same bucket to every caller of this store, as JetStream's.
func (s *Store) KeyValue(ctx context.Context, cfg store.KVConfig) (store.KV, error) {
	if !validBucket.MatchString(cfg.Bucket) {
		return nil, fmt.Errorf("declare bucket %q: invalid name", cfg.Bucket)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets == nil {
		s.buckets = map[string]*bucket{}
	}
	b := s.buckets[cfg.Bucket]
	if b == nil {
		b = &bucket{last: map[string]store.KVEntry{}, changed: make(chan struct{})}
		s.buckets[cfg.Bucket] = b
	}
	return b, nil
}

// JetStream's rules for bucket names and keys, so that what runs here runs there.
var (
	validBucket = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	validKey    = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)
)

// bucket is a key-value bucket that keeps, as JetStream's with a history of one, the last
// change of every key, a deletion included, at a revision counted across the bucket.
type bucket struct {
	mu      sync.Mutex
	rev     uint64
	last    map[string]store.KVEntry
	changed chan struct{} // closed and replaced on every change: watchers wait on it
}

// check refuses what JetStream refuses before a change.
func check(ctx context.Context, key string) error {
	if !validKey.MatchString(key) {
		return fmt.Errorf("invalid key %q", key)
	}
	return ctx.Err()
}

// set records a change of key; mu held.
func (b *bucket) set(key string, value []byte, deleted bool) uint64 {
	b.rev++
	b.last[key] = store.KVEntry{Key: key, Value: slices.Clone(value), Revision: b.rev, Deleted: deleted}
	close(b.changed)
	b.changed = make(chan struct{})
	return b.rev
}

func (b *bucket) Get(ctx context.Context, key string) (store.KVEntry, error) {
	if err := check(ctx, key); err != nil {
		return store.KVEntry{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.last[key]
	if !ok || e.Deleted {
		return store.KVEntry{}, fmt.Errorf("get %s: %w", key, store.ErrNoKey)
	}
	e.Value = slices.Clone(e.Value)
	return e, nil
}

func (b *bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := check(ctx, key); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.last[key]; ok && !e.Deleted {
		return 0, fmt.Errorf("create %s: %w", key, store.ErrKeyExists)
	}
	return b.set(key, value, false), nil
}

func (b *bucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := check(ctx, key); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if last := b.last[key].Revision; last != rev {
		return 0, fmt.Errorf("update %s at revision %d (its last is %d): %w", key, rev, last, store.ErrKeyExists)
	}
	return b.set(key, value, false), nil
}

func (b *bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := check(ctx, key); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.set(key, value, false), nil
}

func (b *bucket) Delete(ctx context.Context, key string, lastRev uint64) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if last := b.last[key].Revision; lastRev != 0 && last != lastRev {
		return fmt.Errorf("delete %s at revision %d (its last is %d): %w", key, lastRev, last, store.ErrKeyExists)
	}
	b.set(key, nil, true) // a deletion is a change too, as JetStream's marker
	return nil
}

func (b *bucket) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var keys []string
	for k, e := range b.last {
		if !e.Deleted && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func (b *bucket) Watch(ctx context.Context, prefixes ...string) (<-chan *store.KVEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prefixes = slices.Clone(prefixes)
	out := make(chan *store.KVEntry)
	send := func(e *store.KVEntry) bool {
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// The first changes are read here, not in the goroutine: the watch starts from the
	// bucket as it is when Watch returns.
	initial, seen, changed := b.since(0, prefixes)
	go func() {
		defer close(out)
		for _, e := range initial {
			if !send(&e) {
				return
			}
		}
		if !send(nil) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			var next []store.KVEntry
			next, seen, changed = b.since(seen, prefixes)
			// A key changed twice since the last look is sent once, at its last change: the
			// bucket keeps no other, as a JetStream watcher that fell behind sees it.
			for _, e := range next {
				if !send(&e) {
					return
				}
			}
		}
	}()
	return out, nil
}

// since returns the last changes after revision rev of the keys under the prefixes, oldest
// first, the bucket's revision, and the channel closed at its next change.
func (b *bucket) since(rev uint64, prefixes []string) ([]store.KVEntry, uint64, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []store.KVEntry
	for k, e := range b.last {
		if e.Revision <= rev {
			continue
		}
		if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		e.Value = slices.Clone(e.Value)
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y store.KVEntry) int { return cmp.Compare(x.Revision, y.Revision) })
	return out, b.rev, b.changed
}
