package jsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events/store"
)

// KeyValue declares the JetStream key-value bucket cfg.Bucket (creating it, or updating its
// description) and returns it. It keeps one revision per key, on file, with the streams'
// replicas.
func (s *Store) KeyValue(ctx context.Context, cfg store.KVConfig) (store.KV, error) {
	kv, err := declareBucket(ctx, s.js, jetstream.KeyValueConfig{
		Bucket: cfg.Bucket, Description: cfg.Description,
		History: 1, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("declare bucket %s: %w", cfg.Bucket, err)
	}
	return bucket{kv: kv, timeout: s.cfg.Timeout}, nil
}

// declareBucket declares a key-value bucket (creating it, or updating its config) and opens
// it. nats.go declares every bucket for direct gets, which any replica answers; on several
// replicas a follower a few milliseconds behind could then answer a Get made right after a
// write without it, and a compare-and-set built on that read would fail for no reason, or
// a claim look free that is not. So there a bucket's gets go to its stream's leader.
// (The streams keep direct gets: their batched loads need them, and an append after a
// stale load is refused by its expected sequence, then retried.)
func declareBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil || cfg.Replicas <= 1 {
		return kv, err
	}
	st, err := js.Stream(ctx, "KV_"+cfg.Bucket)
	if err != nil {
		return nil, err
	}
	if sc := st.CachedInfo().Config; sc.AllowDirect {
		sc.AllowDirect = false
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return nil, err
		}
	}
	return js.KeyValue(ctx, cfg.Bucket)
}

// bucket is a store.KV on a JetStream key-value bucket.
type bucket struct {
	kv      jetstream.KeyValue
	timeout time.Duration // of a call whose context has no deadline
}

// kvErr maps JetStream's key-value errors onto the store's, keeping JetStream's in the chain.
func kvErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return fmt.Errorf("%w: %w", store.ErrNoKey, err)
	// A replicated stream reports a lost compare-and-set with another code than a single
	// replica does (10164, not 10071); ErrKeyRevisionMismatch covers both for Update and
	// Delete, ErrKeyExists for Create.
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("%w: %w", store.ErrKeyExists, err)
	}
	return err
}

func (b bucket) Get(ctx context.Context, key string) (store.KVEntry, error) {
	e, err := b.kv.Get(ctx, key)
	if err != nil {
		return store.KVEntry{}, kvErr(err)
	}
	return entry(e), nil
}

func entry(e jetstream.KeyValueEntry) store.KVEntry {
	return store.KVEntry{Key: e.Key(), Value: e.Value(), Revision: e.Revision(), Deleted: e.Operation() != jetstream.KeyValuePut}
}

// The writes try again while a replicated bucket elects its leader (untilAnswered): a
// conditional write that landed unanswered then fails as having lost, and its caller, which
// reads the key to see who won, finds its own write.

func (b bucket) Create(ctx context.Context, key string, value []byte) (rev uint64, err error) {
	err = untilAnswered(ctx, b.timeout, func(ctx context.Context) error {
		rev, err = b.kv.Create(ctx, key, value)
		return err
	})
	return rev, kvErr(err)
}

func (b bucket) Update(ctx context.Context, key string, value []byte, last uint64) (rev uint64, err error) {
	err = untilAnswered(ctx, b.timeout, func(ctx context.Context) error {
		rev, err = b.kv.Update(ctx, key, value, last)
		return err
	})
	return rev, kvErr(err)
}

func (b bucket) Put(ctx context.Context, key string, value []byte) (rev uint64, err error) {
	err = untilAnswered(ctx, b.timeout, func(ctx context.Context) error {
		rev, err = b.kv.Put(ctx, key, value)
		return err
	})
	return rev, kvErr(err)
}

func (b bucket) Delete(ctx context.Context, key string, lastRev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if lastRev != 0 {
		opts = append(opts, jetstream.LastRevision(lastRev))
	}
	return kvErr(untilAnswered(ctx, b.timeout, func(ctx context.Context) error { return b.kv.Delete(ctx, key, opts...) }))
}

func (b bucket) Keys(ctx context.Context, prefix string) ([]string, error) {
	l, err := b.kv.ListKeysFiltered(ctx, filters([]string{prefix})...)
	if err != nil {
		return nil, kvErr(err)
	}
	var keys []string
	for k := range l.Keys() {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func (b bucket) Watch(ctx context.Context, prefixes ...string) (<-chan *store.KVEntry, error) {
	w, err := b.kv.WatchFiltered(ctx, filters(prefixes))
	if err != nil {
		return nil, kvErr(err)
	}
	out := make(chan *store.KVEntry)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case e, ok = <-w.Updates():
				if !ok {
					return
				}
			}
			var send *store.KVEntry
			if e != nil {
				if !hasPrefix(e.Key(), prefixes) {
					continue
				}
				v := entry(e)
				send = &v
			}
			select {
			case out <- send:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// filters turns key prefixes into the subject filters of a bucket's keys. A prefix that ends
// at a token's end ("dirty.") is a filter ("dirty.>"); any other (a part of a token, or
// none) is read from every key and matched here. Filters of one consumer may not overlap,
// so a prefix within another is dropped.
func filters(prefixes []string) []string {
	ps := slices.Clone(prefixes)
	if len(ps) == 0 {
		return []string{jetstream.AllKeys}
	}
	for _, p := range ps {
		if !strings.HasSuffix(p, ".") {
			return []string{jetstream.AllKeys}
		}
	}
	slices.Sort(ps) // a prefix sorts before what it covers
	var out []string
	for _, p := range ps {
		if len(out) > 0 && strings.HasPrefix(p, strings.TrimSuffix(out[len(out)-1], jetstream.AllKeys)) {
			continue
		}
		out = append(out, p+jetstream.AllKeys)
	}
	return out
}

func hasPrefix(key string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
