package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// Blobs returns the blob bucket cfg.Bucket, made empty the first time it is asked for: the
// same bucket to every caller of this store, as JetStream's.
func (s *Store) Blobs(ctx context.Context, cfg store.BlobConfig) (store.Blobs, error) {
	if !validBucket.MatchString(cfg.Bucket) {
		return nil, fmt.Errorf("declare blob bucket %q: invalid name", cfg.Bucket)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blobs == nil {
		s.blobs = map[string]*blobBucket{}
	}
	b := s.blobs[cfg.Bucket]
	if b == nil {
		b = &blobBucket{data: map[string]blob{}}
		s.blobs[cfg.Bucket] = b
	}
	return b, nil
}

type blob struct {
	data     []byte
	modified time.Time
}

// blobBucket is a store.Blobs in memory.
type blobBucket struct {
	mu   sync.Mutex
	data map[string]blob
}

func (b *blobBucket) Put(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data[name] = blob{data: slices.Clone(data), modified: time.Now()}
	return nil
}

func (b *blobBucket) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	x, ok := b.data[name]
	if !ok {
		return nil, fmt.Errorf("get blob %s: %w", name, store.ErrNoBlob)
	}
	return slices.Clone(x.data), nil
}

func (b *blobBucket) List(ctx context.Context) ([]store.BlobInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]store.BlobInfo, 0, len(b.data))
	for name, x := range b.data {
		out = append(out, store.BlobInfo{Name: name, Size: uint64(len(x.data)), Modified: x.modified})
	}
	return out, nil
}

func (b *blobBucket) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.data, name)
	return nil
}

// RawAt returns the record of the command or event stream at seq, as stored.
func (s *Store) RawAt(ctx context.Context, stream string, seq uint64) (store.Raw, error) {
	if stream != events.CommandStream && stream != events.EventStream {
		return store.Raw{}, fmt.Errorf("read %s #%d: not a command or event stream", stream, seq)
	}
	if err := ctx.Err(); err != nil {
		return store.Raw{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := s.streams[stream].entries
	if seq == 0 || seq > uint64(len(entries)) || entries[seq-1].gone {
		return store.Raw{}, fmt.Errorf("read %s #%d: no such record", stream, seq)
	}
	r := entries[seq-1].rec
	return store.Raw{Seq: r.Seq, Time: r.Time, Data: r.Raw}, nil
}
