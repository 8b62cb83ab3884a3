package executors_test

import (
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

const systemOrg = "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"

// Instances that ask within one slot ask with the same command (the store keeps one); the
// next slot asks again.
func TestCloudSyncCommand(t *testing.T) {
	base := time.Date(2026, 11, 23, 12, 10, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		every  time.Duration
		a, b   time.Time
		sameID bool
		msgID  string
	}{
		{"same slot", 10 * time.Minute, base.Add(time.Second), base.Add(9 * time.Minute), true, "kaas-sync-cloud-2026-11-23T12:10:00Z"},
		{"next slot", 10 * time.Minute, base.Add(9 * time.Minute), base.Add(10 * time.Minute), false, "kaas-sync-cloud-2026-11-23T12:10:00Z"},
		{"at start only: the minute", 0, base.Add(time.Second), base.Add(59 * time.Second), true, "kaas-sync-cloud-2026-11-23T12:10:00Z"},
		{"at start only: next minute", 0, base.Add(59 * time.Second), base.Add(61 * time.Second), false, "kaas-sync-cloud-2026-11-23T12:10:00Z"},
		{"local time", time.Hour, base.In(time.FixedZone("CET", 3600)), base.Add(time.Minute), true, "kaas-sync-cloud-2026-11-23T12:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, aID := executors.CloudSyncCommand(tc.a, tc.every, systemOrg)
			b, bID := executors.CloudSyncCommand(tc.b, tc.every, systemOrg)
			if aID != tc.msgID {
				t.Errorf("msgID %q, want %q", aID, tc.msgID)
			}
			if (aID == bID) != tc.sameID || (a.ID == b.ID) != tc.sameID {
				t.Errorf("ids %q/%q and %q/%q: same %v, want %v", aID, a.ID, bID, b.ID, aID == bID, tc.sameID)
			}
			if a.ID != events.DeriveID("command", aID) || a.CorrelationID != aID {
				t.Errorf("envelope id %q, correlation %q for msgID %q", a.ID, a.CorrelationID, aID)
			}
			if a.ClusterID != events.CloudID || a.OrgID != systemOrg || a.Actor != executors.CloudSyncActor || !a.Time.Equal(tc.a) || a.Time.Location() != time.UTC {
				t.Errorf("envelope %+v", a)
			}
			if _, ok := a.Payload.(events.SyncCloud); !ok {
				t.Errorf("payload %T, want SyncCloud", a.Payload)
			}
		})
	}
}
