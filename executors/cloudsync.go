package executors

import (
	"time"

	"github.com/kaasproject/kaas/events"
)

// CloudSyncActor is who asks for the periodic syncs of the cloud, in their commands.
const CloudSyncActor = "kaasd"

// CloudSyncCommand is the command that asks an executor to read VCD's templates and org
// VDCs again, as kaasd appends it at start and then every interval (0: at start only), in
// the name of org (VCD's System org). It is keyed by the time slot it falls in (the minute
// when every is 0), and msgID is the store's deduplication id: several kaasd instances
// starting or ticking together ask once.
func CloudSyncCommand(now time.Time, every time.Duration, org string) (env events.Envelope, msgID string) {
	slot := now.UTC().Truncate(time.Minute)
	if every > 0 {
		slot = now.UTC().Truncate(every)
	}
	msgID = "kaas-sync-cloud-" + slot.Format(time.RFC3339)
	return events.Envelope{ID: events.DeriveID("command", msgID), ClusterID: events.CloudID, OrgID: org, Actor: CloudSyncActor,
		Time: now.UTC(), CorrelationID: msgID, Payload: events.SyncCloud{}}, msgID
}
