package queries_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
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

// VDCs are read again once the views fold a change to the cloud: the list a provider pages through
// follows every change, and each principal sees its org's only.
func TestVDCsFollowTheViews(t *testing.T) {
	v := projector.NewViews()
	q := queries.New(v, nil)
	ctx := t.Context()
	names := func(p cluster.Principal) string {
		var out []string
		for _, d := range q.VDCs(ctx, p) {
			out = append(out, d.Name+"="+strings.Join(d.K8sRuntime, "+"))
		}
		return strings.Join(out, ",")
	}
	v.ApplyEvent(1, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
		Payload: events.CloudSynced{VDCs: []events.VDC{{ID: "urn:vcloud:vdc:1", Name: "vdc1", OrgName: "acme", OrgID: orgA},
			{ID: "urn:vcloud:vdc:2", Name: "vdc2", OrgName: "beta", OrgID: orgB}}}})
	if got := names(provider); got != "vdc1=,vdc2=" {
		t.Fatalf("after the sync: %s", got)
	}
	if got := names(provider); got != "vdc1=,vdc2=" { // as read before, nothing folded since
		t.Fatalf("read again: %s", got)
	}
	v.ApplyCommand(1, events.Envelope{ID: "enable", ClusterID: events.CloudID, OrgID: orgA, Type: events.TypeSetVDCRuntimes, Time: t0,
		Payload: events.SetVDCRuntimes{VDC: events.VDC{ID: "urn:vcloud:vdc:1", Name: "vdc1", OrgName: "acme", OrgID: orgA},
			Runtimes: []string{events.RuntimeNative}}})
	if got := names(provider); got != "vdc1=native,vdc2=" {
		t.Errorf("after enabling vdc1: %s", got)
	}
	if got := names(admin(orgB)); got != "vdc2=" {
		t.Errorf("orgB's: %s", got)
	}
}
