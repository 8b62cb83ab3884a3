package store

import (
	"context"
	"errors"
)

// Errors every key-value bucket reports alike.
var (
	// ErrNoKey means the key holds no value: it was never written, or it was deleted.
	ErrNoKey = errors.New("no such key")
	// ErrKeyExists means a conditional write lost: Create found the key holding a value, or
	// Update or Delete found its last change at another revision than the one given.
	ErrKeyExists = errors.New("key exists or changed")
)

// KVConfig names a key-value bucket. Opening a bucket that exists opens it as it is.
type KVConfig struct {
	Bucket      string
	Description string
}

// KVEntry is one change of a key: its value, or its deletion.
type KVEntry struct {
	Key   string
	Value []byte
	// Revision orders every change of the bucket: each one has a revision greater than
	// every earlier one's, whatever its key.
	Revision uint64
	// Deleted is set on a deletion; Value is then empty.
	Deleted bool
}

// KV is a key-value bucket: a component's small durable state, kept beside its history. Keys
// are dot-separated tokens of letters, digits, '-', '_', '=' and '/' ("dirty.c.<id>"); a
// bucket keeps only the last change of each key. A KV is safe for concurrent use.
type KV interface {
	// Get returns the value of key; ErrNoKey (wrapped) when it holds none.
	Get(ctx context.Context, key string) (KVEntry, error)
	// Create stores value under key unless the key holds a value (ErrKeyExists); a deleted
	// key holds none. It returns the change's revision.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update stores value under key if the key's last change, a deletion included, has
	// revision rev, and fails with ErrKeyExists otherwise: a compare-and-set.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Put stores value under key, whatever it held.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Delete deletes key. With lastRev 0 it deletes whatever the key holds (deleting a key
	// that holds nothing is no error); otherwise only if the key's last change has revision
	// lastRev, and it fails with ErrKeyExists if not.
	Delete(ctx context.Context, key string, lastRev uint64) error
	// Keys returns the keys that start with prefix and hold a value, in no particular order.
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Watch sends on the channel it returns the last change of every key that starts with
	// one of the prefixes (every key, given none), oldest first, deletions included; then
	// nil, once those are sent; then every such change as it is made, until ctx ends or the
	// watch fails, when it closes the channel.
	Watch(ctx context.Context, prefixes ...string) (<-chan *KVEntry, error)
}
