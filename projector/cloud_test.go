package projector_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/projector"
)

// The cloud view carries each VDC's networks from the newest sync, and knows when it does not
// know them: a sync recorded before kaas read networks, or a VDC the sync could not read.
func TestCloudViewNetworks(t *testing.T) {
	v := projector.NewViews()
	vdc1 := events.VDC{ID: "urn:vcloud:vdc:1", Name: "vdc1", OrgName: "acme", OrgID: orgA}
	vdc2 := events.VDC{ID: "urn:vcloud:vdc:2", Name: "vdc2", OrgName: "acme", OrgID: orgA}
	sync := func(seq uint64, p events.CloudSynced) {
		v.ApplyEvent(seq, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0, Payload: p})
	}
	view := func() map[string]projector.VDCView {
		out := map[string]projector.VDCView{}
		for _, d := range v.Cloud().VDCs {
			out[d.Name] = d
		}
		return out
	}

	sync(1, events.CloudSynced{VDCs: []events.VDC{vdc1, vdc2}}) // as recorded before networks were read
	if d := view(); d["vdc1"].NetworksKnown || d["vdc1"].Networks != nil || d["vdc2"].NetworksKnown {
		t.Fatalf("an old sync made networks known: %+v", d)
	}

	net1 := []events.Network{{Name: "net1", CIDRs: []string{"10.1.0.0/16"}}}
	p := events.CloudSynced{VDCs: []events.VDC{vdc1, vdc2}, Networks: []events.VDCNetworks{{VDC: vdc1.ID, Networks: net1}}}
	sync(2, p)
	d := view()
	if !d["vdc1"].NetworksKnown || !reflect.DeepEqual(d["vdc1"].Networks, net1) || d["vdc2"].NetworksKnown {
		t.Fatalf("after a sync with networks: %+v", d)
	}
	// The view keeps its own copy: changing the event changes nothing. (Views are shared
	// by every reader until the cloud changes, and readers never change them.)
	p.Networks[0].Networks[0].CIDRs[0] = "changed"
	if got := view()["vdc1"].Networks[0].CIDRs[0]; got != "10.1.0.0/16" {
		t.Fatalf("the view shares its networks: %s", got)
	}

	// A newer sync replaces them all; an older one, folded late, changes nothing.
	sync(4, events.CloudSynced{VDCs: []events.VDC{vdc1, vdc2}, Networks: []events.VDCNetworks{{VDC: vdc1.ID, Networks: []events.Network{}}, {VDC: vdc2.ID, Networks: net1}}})
	sync(3, events.CloudSynced{VDCs: []events.VDC{vdc1}, Networks: []events.VDCNetworks{{VDC: vdc1.ID, Networks: net1}}})
	d = view()
	if !d["vdc1"].NetworksKnown || len(d["vdc1"].Networks) != 0 || !d["vdc2"].NetworksKnown || d["vdc2"].Networks[0].Name != "net1" {
		t.Fatalf("after a newer sync: %+v", d)
	}
}

// The cloud view carries what each VDC offers VMs from the newest sync, storage profiles and
// sizing policies each known or not on its own, as copies.
func TestCloudViewOffers(t *testing.T) {
	v := projector.NewViews()
	vdc1 := events.VDC{ID: "urn:vcloud:vdc:1", Name: "vdc1", OrgName: "acme", OrgID: orgA}
	vdc2 := events.VDC{ID: "urn:vcloud:vdc:2", Name: "vdc2", OrgName: "acme", OrgID: orgA}
	sync := func(seq uint64, p events.CloudSynced) {
		v.ApplyEvent(seq, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0, Payload: p})
	}
	view := func() map[string]projector.VDCView {
		out := map[string]projector.VDCView{}
		for _, d := range v.Cloud().VDCs {
			out[d.Name] = d
		}
		return out
	}
	sync(1, events.CloudSynced{VDCs: []events.VDC{vdc1, vdc2}}) // as recorded before offers were read
	if d := view()["vdc1"]; d.StorageProfilesKnown || d.SizingPoliciesKnown || d.StorageProfiles != nil || d.SizingPolicies != nil {
		t.Fatalf("an old sync made offers known: %+v", d)
	}
	profiles := []events.StorageProfile{{Name: "Silver", Default: true}, {Name: "Gold"}}
	policies := []events.SizingPolicy{{Name: "small", ID: "urn:vcloud:vdcComputePolicy:1", CPU: 2, MemoryMB: 2048}}
	p := events.CloudSynced{VDCs: []events.VDC{vdc1, vdc2},
		StorageProfiles: []events.VDCStorageProfiles{{VDC: vdc1.ID, Profiles: profiles}},
		SizingPolicies:  []events.VDCSizingPolicies{{VDC: vdc1.ID, Policies: policies}, {VDC: vdc2.ID, Policies: []events.SizingPolicy{}}}}
	sync(2, p)
	d := view()
	if !d["vdc1"].StorageProfilesKnown || !reflect.DeepEqual(d["vdc1"].StorageProfiles, profiles) ||
		!d["vdc1"].SizingPoliciesKnown || !reflect.DeepEqual(d["vdc1"].SizingPolicies, policies) {
		t.Fatalf("vdc1 after a sync with offers: %+v", d["vdc1"])
	}
	if d["vdc2"].StorageProfilesKnown || !d["vdc2"].SizingPoliciesKnown || len(d["vdc2"].SizingPolicies) != 0 {
		t.Fatalf("vdc2: a sync that read its policies (none) but not its profiles: %+v", d["vdc2"])
	}
	p.StorageProfiles[0].Profiles[0].Name = "changed"
	p.SizingPolicies[0].Policies[0].Name = "changed"
	if got := view()["vdc1"]; got.StorageProfiles[0].Name != "Silver" || got.SizingPolicies[0].Name != "small" {
		t.Fatalf("the view shares its offers: %+v", got)
	}
}

// The views learn VCD's users from syncs, each of which lists only the users it had not
// recorded: a name once learnt is kept, a newer sync's name wins, and an older sync folded
// late changes nothing. A rebuild in another order of syncs gives the same users.
func TestCloudViewUsers(t *testing.T) {
	const alice, bob = "urn:vcloud:user:a", "urn:vcloud:user:b"
	sync := func(v *projector.Views, seq uint64, users ...events.User) {
		v.ApplyEvent(seq, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
			Payload: events.CloudSynced{Users: users}})
	}
	v := projector.NewViews()
	if _, ok := v.User(alice); ok {
		t.Fatal("a user known before any sync")
	}
	sync(v, 1, events.User{ID: alice, Name: "alice", OrgID: orgA}, events.User{ID: bob, Name: "bob", OrgID: orgA})
	sync(v, 2) // nothing new
	sync(v, 4, events.User{ID: alice, Name: "alice2", OrgID: orgA})
	sync(v, 3, events.User{ID: alice, Name: "stale", OrgID: orgA})
	want := map[string]projector.UserView{alice: {Name: "alice2", OrgID: orgA}, bob: {Name: "bob", OrgID: orgA}}
	if got := v.Users(); !reflect.DeepEqual(got, want) {
		t.Fatalf("users %+v, want %+v", got, want)
	}
	if u, ok := v.User(bob); !ok || u.Name != "bob" {
		t.Errorf("bob: %+v %v", u, ok)
	}

	c := v.Clone()
	if !c.Equal(v) || len(v.Diff(c)) != 0 {
		t.Fatalf("a clone differs: %v", v.Diff(c))
	}
	sync(c, 5, events.User{ID: bob, Name: "robert", OrgID: orgA})
	if u, _ := v.User(bob); u.Name != "bob" {
		t.Fatalf("the clone shares its users: %+v", u)
	}
	if d := v.Diff(c); c.Equal(v) || !slices.Contains(d, "VCD users") {
		t.Fatalf("views with other users: equal %v, differences %v", c.Equal(v), d)
	}
}

// VDCNamed finds an org VDC by org name as strings.EqualFold compares it (a tenant's spec
// may spell the org in any case) and by exact VDC name, like a scan of Cloud().VDCs.
func TestVDCNamed(t *testing.T) {
	v := projector.NewViews()
	vdcs := []events.VDC{
		{ID: "urn:vcloud:vdc:1", Name: "vdc1", OrgName: "Acme", OrgID: "urn:vcloud:org:1"},
		{ID: "urn:vcloud:vdc:2", Name: "vdc1", OrgName: "Kelvin", OrgID: "urn:vcloud:org:2"},
	}
	v.ApplyEvent(1, "", events.Envelope{ID: "e1", ClusterID: events.CloudID, Payload: events.CloudSynced{VDCs: vdcs}})
	cv := v.Cloud()
	for _, tc := range []struct {
		org, name, want string
	}{
		{"acme", "vdc1", "urn:vcloud:vdc:1"},
		{"ACME", "vdc1", "urn:vcloud:vdc:1"},
		{"acme", "VDC1", ""},
		{"\u212aelvin", "vdc1", "urn:vcloud:vdc:2"}, // KELVIN SIGN folds to k, as EqualFold says
		{"acm", "vdc1", ""},
	} {
		d, ok := cv.VDCNamed(tc.org, tc.name)
		if got := map[bool]string{true: d.ID}[ok]; got != tc.want {
			t.Errorf("VDCNamed(%q, %q) = %q, want %q", tc.org, tc.name, got, tc.want)
		}
		var scan string
		for _, d := range cv.VDCs {
			if strings.EqualFold(d.OrgName, tc.org) && d.Name == tc.name {
				scan = d.ID
				break
			}
		}
		if scan != tc.want {
			t.Errorf("a scan finds %q for (%q, %q), VDCNamed %q", scan, tc.org, tc.name, tc.want)
		}
	}
	// A later sync is seen at once: the shared view is rebuilt.
	vdcs[0].Name = "renamed"
	v.ApplyEvent(2, "", events.Envelope{ID: "e2", ClusterID: events.CloudID, Payload: events.CloudSynced{VDCs: vdcs}})
	if _, ok := v.Cloud().VDCNamed("acme", "renamed"); !ok {
		t.Error("the view did not follow a sync")
	}
}
