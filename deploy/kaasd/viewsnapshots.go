package kaasd

import (
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/projector"
)

// ViewSnapshotsBucket holds the projector's snapshots of its views (an object store):
// a start loads the newest that fits the streams and folds only the records after it.
// Every instance on the same streams shares it.
const ViewSnapshotsBucket = "KAAS_VIEW_SNAPSHOTS"

// viewSnapshots is the projector's snapshot configuration, on blobs (nil: off).
func (c *Config) viewSnapshots(blobs store.Blobs, m *projector.SnapshotMetrics) projector.SnapshotConfig {
	return projector.SnapshotConfig{Store: blobs, Off: c.NoViewSnapshots, Interval: c.ViewSnapshotInterval, Records: c.ViewSnapshotRecords,
		Build: Version, Metrics: m}
}
