package store

import (
	"context"
	"errors"
	"time"
)

// ErrNoBlob means a blob bucket holds nothing under the name.
var ErrNoBlob = errors.New("no such blob")

// BlobConfig names a blob bucket. Opening a bucket that exists opens it as it is.
type BlobConfig struct {
	Bucket      string
	Description string
}

// BlobInfo describes one stored blob.
type BlobInfo struct {
	Name     string
	Size     uint64
	Modified time.Time
}

// Blobs is a bucket of large values by name, too large for a key-value bucket (whose values
// a NATS message bounds): a component's own files kept beside the history, such as the
// projector's snapshots of its views. Blobs is safe for concurrent use.
type Blobs interface {
	// Put stores data under name, replacing what was there once it is all stored.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns what is stored under name; ErrNoBlob (wrapped) when nothing is.
	Get(ctx context.Context, name string) ([]byte, error)
	// List describes every blob stored, in no particular order.
	List(ctx context.Context) ([]BlobInfo, error)
	// Delete removes a blob; removing one that is not there is no error.
	Delete(ctx context.Context, name string) error
}
