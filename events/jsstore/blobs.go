package jsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// Blobs declares the JetStream object store cfg.Bucket (creating it, or updating its
// description) and returns it: on file, with the streams' replicas. It is not compressed,
// for the reason KAAS_AUDIT is not (see declareAudit); what is put in it may be.
func (s *Store) Blobs(ctx context.Context, cfg store.BlobConfig) (store.Blobs, error) {
	obs, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: cfg.Bucket, Description: cfg.Description, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("declare object store %s: %w", cfg.Bucket, err)
	}
	// Chunks as large as a message may be: reading a blob costs per chunk (128 KB by
	// default made reading 91 MB take seconds where 1 MB chunks take a fraction of one).
	chunk := uint32(max(64<<10, min(s.nc.MaxPayload(), 1<<20)-blobChunkHeadroom))
	return blobs{obs: obs, timeout: s.cfg.Timeout, chunk: chunk}, nil
}

// blobChunkHeadroom is left in a message beside a chunk, for its subject and headers.
const blobChunkHeadroom = 8 << 10

// blobs is a store.Blobs on a JetStream object store.
type blobs struct {
	obs     jetstream.ObjectStore
	timeout time.Duration // of a call whose context has no deadline
	chunk   uint32
}

// blobTimeout bounds moving a whole blob when the caller's context has no deadline: the
// store's default for a call (5 s) would cut short a large blob on a busy server, and
// nats.go applies that default to an object's whole read.
const blobTimeout = 5 * time.Minute

func (b blobs) ctx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func (b blobs) Put(ctx context.Context, name string, data []byte) error {
	ctx, cancel := b.ctx(ctx, blobTimeout)
	defer cancel()
	meta := jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: b.chunk}}
	if _, err := b.obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("put blob %s: %w", name, err)
	}
	return nil
}

func (b blobs) Get(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := b.ctx(ctx, blobTimeout)
	defer cancel()
	// The object store checks the digest it stored with the object as it reads it back.
	data, err := b.obs.GetBytes(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return nil, fmt.Errorf("get blob %s: %w: %w", name, store.ErrNoBlob, err)
	case err != nil:
		return nil, fmt.Errorf("get blob %s: %w", name, err)
	}
	return data, nil
}

func (b blobs) List(ctx context.Context) ([]store.BlobInfo, error) {
	ctx, cancel := b.ctx(ctx, b.timeout)
	defer cancel()
	infos, err := b.obs.List(ctx)
	switch {
	case errors.Is(err, jetstream.ErrNoObjectsFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	out := make([]store.BlobInfo, 0, len(infos))
	for _, i := range infos {
		out = append(out, store.BlobInfo{Name: i.Name, Size: i.Size, Modified: i.ModTime})
	}
	return out, nil
}

func (b blobs) Delete(ctx context.Context, name string) error {
	ctx, cancel := b.ctx(ctx, b.timeout)
	defer cancel()
	if err := b.obs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("delete blob %s: %w", name, err)
	}
	return nil
}

// RawAt returns the record of the command or event stream at seq, as stored.
func (s *Store) RawAt(ctx context.Context, stream string, seq uint64) (store.Raw, error) {
	st := s.evts
	switch stream {
	case events.EventStream:
	case events.CommandStream:
		st = s.cmds
	default:
		return store.Raw{}, fmt.Errorf("read %s #%d: not a command or event stream", stream, seq)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return store.Raw{}, fmt.Errorf("read %s #%d: %w", stream, seq, err)
	}
	return store.Raw{Seq: m.Sequence, Time: m.Time, Data: m.Data}, nil
}
