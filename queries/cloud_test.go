package queries_test

import (
	"reflect"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

// VDCNetworks finds a VDC as a tenant names it (the org without case, the VDC exactly) and
// says whether its networks are known.
func TestVDCNetworks(t *testing.T) {
	v := projector.NewViews()
	q := queries.New(v, nil)
	ctx := t.Context()
	if _, known := q.VDCNetworks(ctx, "acme", "vdc1"); known {
		t.Fatal("networks known before any sync")
	}
	nets := []events.Network{{Name: "net1", CIDRs: []string{"10.1.0.0/16"}}}
	v.ApplyEvent(1, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
		Payload: events.CloudSynced{VDCs: []events.VDC{{ID: "urn:vcloud:vdc:1", Name: "vdc1", OrgName: "acme", OrgID: orgA},
			{ID: "urn:vcloud:vdc:2", Name: "vdc2", OrgName: "acme", OrgID: orgA}},
			Networks: []events.VDCNetworks{{VDC: "urn:vcloud:vdc:1", Networks: nets}}}})
	for _, tt := range []struct {
		org, vdc string
		want     []events.Network
		known    bool
	}{
		{"acme", "vdc1", nets, true},
		{"ACME", "vdc1", nets, true},
		{"acme", "VDC1", nil, false},
		{"acme", "vdc2", nil, false}, // the sync could not read it
		{"globex", "vdc1", nil, false},
	} {
		got, known := q.VDCNetworks(ctx, tt.org, tt.vdc)
		if known != tt.known || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("VDCNetworks(%s, %s) = %+v %v, want %+v %v", tt.org, tt.vdc, got, known, tt.want, tt.known)
		}
	}
}
