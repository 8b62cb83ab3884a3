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

// VDCOffers finds a VDC as VDCNetworks does and says what it offers VMs.
func TestVDCOffers(t *testing.T) {
	v := projector.NewViews()
	q := queries.New(v, nil)
	ctx := t.Context()
	if o := q.VDCOffers(ctx, "acme", "vdc1"); o.StorageProfilesKnown || o.SizingPoliciesKnown {
		t.Fatal("offers known before any sync")
	}
	profiles := []events.StorageProfile{{Name: "Gold", Default: true}}
	policies := []events.SizingPolicy{{Name: "small", CPU: 2, MemoryMB: 2048}}
	v.ApplyEvent(1, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
		Payload: events.CloudSynced{VDCs: []events.VDC{{ID: "urn:vcloud:vdc:1", Name: "vdc1", OrgName: "acme", OrgID: orgA}},
			StorageProfiles: []events.VDCStorageProfiles{{VDC: "urn:vcloud:vdc:1", Profiles: profiles}},
			SizingPolicies:  []events.VDCSizingPolicies{{VDC: "urn:vcloud:vdc:1", Policies: policies}}}})
	o := q.VDCOffers(ctx, "ACME", "vdc1")
	if !o.StorageProfilesKnown || !o.SizingPoliciesKnown || !reflect.DeepEqual(o.StorageProfiles, profiles) || !reflect.DeepEqual(o.SizingPolicies, policies) {
		t.Fatalf("offers %+v", o)
	}
	if o := q.VDCOffers(ctx, "acme", "VDC1"); o.StorageProfilesKnown || o.SizingPoliciesKnown {
		t.Fatalf("a VDC named otherwise: %+v", o)
	}
}
