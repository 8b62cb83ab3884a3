package jsstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// SnapshotBucket holds the latest snapshot of each cluster's folded state, so that loading a
// cluster with a long history reads the snapshot and only the events after it.
const SnapshotBucket = "KAAS_SNAPSHOTS"

func (s *Store) declareSnapshots(ctx context.Context) (err error) {
	s.snaps, err = declareBucket(ctx, s.js, jetstream.KeyValueConfig{
		Bucket: SnapshotBucket, Description: "kaas: each cluster's folded state at some sequence; a cache, the events are the truth",
		History: 1, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("declare snapshot bucket: %w", err)
	}
	return nil
}

// SaveSnapshot stores a cluster's snapshot, replacing the previous one.
func (s *Store) SaveSnapshot(ctx context.Context, clusterID string, b []byte) error {
	if _, err := s.snaps.Put(ctx, clusterID, b); err != nil {
		return fmt.Errorf("save snapshot of %s: %w", clusterID, err)
	}
	return nil
}

// LoadSnapshot returns a cluster's snapshot, or nil when it has none.
func (s *Store) LoadSnapshot(ctx context.Context, clusterID string) ([]byte, error) {
	e, err := s.snaps.Get(ctx, clusterID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("load snapshot of %s: %w", clusterID, err)
	}
	return e.Value(), nil
}
