package projector_test

import (
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/projector"
)

// systemOrg is VCD's System org, whose users are providers.
const (
	systemOrg = "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"
	provider  = "urn:vcloud:user:00000000-0000-4000-8000-0000000000ff"
)

var vdcX = events.VDC{ID: "urn:vcloud:vdc:00000000-0000-4000-8000-0000000000d1", Name: "vdc1", OrgName: "acme", OrgID: orgA}

// mixedHistory is history plus what writes the same fields from both streams: sharing, a
// provider's changes to tenants' clusters (filed, as in older histories, with the provider's
// org), and changes of the cloud aggregate.
func mixedHistory(t *testing.T) (s *stream, hotel, india events.Envelope) {
	s = history(t)
	hotel = s.Create("hotel", orgA, alice)
	s.Run(hotel)
	acl := []events.ACLEntry{{MemberID: bob, AccessLevel: events.AccessReadOnly}}
	s.Run(s.Command("share-hotel", hotel.ClusterID, orgA, alice, events.SetClusterACL{Entries: acl}))
	s.Run(s.Command("provider-share-hotel", hotel.ClusterID, systemOrg, provider, events.SetClusterACL{Entries: acl})) // unchanged
	s.Command("share-hotel-pending", hotel.ClusterID, orgA, alice, events.SetClusterACL{})
	india = s.Create("india", orgA, alice)
	s.Run(india)
	force := s.Command("provider-force-india", india.ClusterID, systemOrg, provider, events.ForceDeleteCluster{})
	s.Start(force)
	s.Steps(india.ClusterID, 1) // still being deleted: still listed

	// The events of an NFS node's removal do not name their command type: only the
	// command record does.
	nfs := spec("juliet")
	nfs.NFS.Count = 2
	juliet := s.Command("create-juliet", clusterID("juliet"), orgB, bob, events.CreateCluster{Spec: nfs})
	s.Run(juliet)
	nodes := s.State(juliet.ClusterID).NodesOf(events.RoleNFS)
	if len(nodes) != 2 {
		t.Fatalf("juliet has %d NFS nodes", len(nodes))
	}
	s.Run(s.Command("drop-nfs-0", juliet.ClusterID, orgB, bob, events.DeleteNFSNode{Node: nodes[0].Name}))
	s.Start(s.Command("drop-nfs-1", juliet.ClusterID, orgB, bob, events.DeleteNFSNode{Node: nodes[1].Name}))

	sync := s.Command("sync", events.CloudID, systemOrg, "kaasd", events.SyncCloud{})
	s.Event(sync, events.CloudSynced{VDCs: []events.VDC{vdcX}})
	on := s.Command("enable-x", events.CloudID, systemOrg, provider, events.SetVDCRuntimes{VDC: vdcX, Runtimes: []string{events.RuntimeNative}})
	off := s.Command("disable-x", events.CloudID, systemOrg, provider, events.SetVDCRuntimes{VDC: vdcX})
	s.Event(on, events.VDCRuntimesChanged{VDC: vdcX, Runtimes: []string{events.RuntimeNative}})
	s.Event(off, events.VDCRuntimesChanged{VDC: vdcX})
	stop := s.Command("stop", events.CloudID, systemOrg, provider, events.SetServiceState{Enabled: false})
	s.Event(stop, events.ServiceStateChanged{Enabled: false})
	templateHistory(s)
	return s, hotel, india
}

// fold folds records into new views in the given order.
func fold(recs []record) *projector.Views {
	v := projector.NewViews()
	feed(v, recs)
	return v
}

// sameViews fails unless a and b are Equal and everything a reader sees of them is the same.
func sameViews(t *testing.T, a, b *projector.Views, s *stream) {
	t.Helper()
	if !a.Equal(b) || !b.Equal(a) {
		t.Fatalf("views differ: %v", a.Diff(b))
	}
	if d := b.Diff(a); len(d) > 0 {
		t.Fatalf("Equal views differ: %v", d)
	}
	for _, id := range append(s.ClusterIDs(), events.CloudID) {
		x, okX := a.Cluster(id)
		y, okY := b.Cluster(id)
		if okX != okY || !reflect.DeepEqual(x, y) {
			t.Fatalf("cluster %s:\n%+v\n%+v", id, x, y)
		}
	}
	for _, r := range s.Cmds {
		x, okX := a.Operation(r.Env.ID)
		y, okY := b.Operation(r.Env.ID)
		if okX != okY || !reflect.DeepEqual(x, y) {
			t.Fatalf("operation %s:\n%+v\n%+v", r.Env.ID, x, y)
		}
	}
	for _, org := range []string{orgA, orgB, systemOrg, ""} {
		if x, y := a.OrgClusters(org), b.OrgClusters(org); !reflect.DeepEqual(x, y) {
			t.Fatalf("clusters of org %q differ", org)
		}
	}
	for name, f := range map[string]func(v *projector.Views) any{
		"operations": func(v *projector.Views) any { return v.Operations() },
		"cloud":      func(v *projector.Views) any { return v.Cloud() },
		"stats":      func(v *projector.Views) any { return v.Stats() },
		"heads":      func(v *projector.Views) any { return v.Heads() },
		"named":      func(v *projector.Views) any { return v.Named(orgA, "vdc1", "alpha") },
		"templates":  func(v *projector.Views) any { return v.Templates() },
	} {
		if x, y := f(a), f(b); !reflect.DeepEqual(x, y) {
			t.Fatalf("%s:\n%+v\n%+v", name, x, y)
		}
	}
}

// TestOrderIndependencePrefixes: at every point, the views are a function of the command
// prefix and the event prefix folded, whatever the interleaving that reached them; a clone
// is Equal to its original and stays so while the original moves on.
func TestOrderIndependencePrefixes(t *testing.T) {
	s, _, _ := mixedHistory(t)
	t.Logf("%d commands, %d events", len(s.Cmds), len(s.Evts))
	r := rand.New(rand.NewPCG(10, 2))
	for n := range 300 {
		c, e := r.IntN(len(s.Cmds)+1), r.IntN(len(s.Evts)+1)
		if n < 4 { // the ends
			c, e = n%2*len(s.Cmds), n/2*len(s.Evts)
		}
		cmds, evts := s.Cmds[:c], s.Evts[:e]
		bias := []int{2, 4, 10}[n%3] // commands lagging, as much as events, or leading
		orders := [][]record{
			append(slices.Clone(cmds), evts...),
			append(slices.Clone(evts), cmds...),
			interleave(cmds, evts, func(int) bool { return r.IntN(bias) == 0 }),
			interleave(cmds, evts, func(int) bool { return r.IntN(bias) != 0 }),
		}
		want := fold(orders[0])
		for _, o := range orders[1:] {
			sameViews(t, fold(o), want, s)
		}
		// A clone is what Replay compares: it must not share what the fold changes.
		live := fold(orders[2])
		snap := live.Clone()
		sameViews(t, snap, want, s)
		feed(live, append(slices.Clone(s.Cmds[c:]), s.Evts[e:]...))
		sameViews(t, snap, want, s)
		if t.Failed() {
			t.Fatalf("at commands %d, events %d", c, e)
		}
	}
}

// TestProviderActsOnTenantCluster: a provider's commands on a tenant's cluster, filed with the
// System org as older histories have them, keep the operation's actor but do not file the
// cluster under the System org, nor list it twice.
func TestProviderActsOnTenantCluster(t *testing.T) {
	s, hotel, india := mixedHistory(t)
	orders := map[string][]record{
		"live":            s.All,
		"commands first":  append(slices.Clone(s.Cmds), s.Evts...),
		"events first":    append(slices.Clone(s.Evts), s.Cmds...),
		"commands lagged": interleave(s.Cmds, s.Evts, func(n int) bool { return n%7 == 0 }),
	}
	for name, recs := range orders {
		t.Run(name, func(t *testing.T) {
			v := fold(recs)
			if cs := v.OrgClusters(systemOrg); len(cs) != 0 {
				t.Errorf("the System org lists %d clusters: %s", len(cs), cs[0].Name())
			}
			count := map[string]int{}
			for _, cv := range v.OrgClusters("") {
				count[cv.ID]++
			}
			for id := range count {
				if count[id] != 1 {
					t.Errorf("cluster %s listed %d times", id, count[id])
				}
			}
			inA := map[string]bool{}
			for _, cv := range v.OrgClusters(orgA) {
				inA[cv.ID] = true
			}
			for _, c := range []events.Envelope{hotel, india} {
				if count[c.ClusterID] != 1 || !inA[c.ClusterID] {
					t.Errorf("%s: listed %d times, in its org %v", c.ClusterID, count[c.ClusterID], inA[c.ClusterID])
				}
			}
			for _, id := range []string{events.DeriveID("command", "provider-share-hotel"), events.DeriveID("command", "provider-force-india")} {
				if o, ok := v.Operation(id); !ok || o.Actor != provider || o.OrgID != systemOrg || o.Status == "" {
					t.Errorf("provider's operation %+v (ok %v)", o, ok)
				}
			}
			cv, _ := v.Cluster(india.ClusterID)
			if cv.Current == nil || cv.Current.Command != events.TypeForceDeleteCluster || cv.Current.Actor != provider {
				t.Errorf("india's current operation %+v", cv.Current)
			}
		})
	}
}

// TestCloudUncausedEvent: an event naming no command (as tests and tools may record) sets
// what no command set, and yields to any command, in either order.
func TestCloudUncausedEvent(t *testing.T) {
	ev := events.Envelope{ID: "enable", ClusterID: events.CloudID, Type: events.TypeVDCRuntimesChanged, Time: t0,
		Payload: events.VDCRuntimesChanged{VDC: vdcX, Runtimes: []string{events.RuntimeNative}}}
	cmd := events.Envelope{ID: "disable", ClusterID: events.CloudID, Type: events.TypeSetVDCRuntimes, Time: t0,
		Payload: events.SetVDCRuntimes{VDC: vdcX}}
	v := projector.NewViews()
	v.ApplyEvent(1, "", ev)
	if c := v.Cloud(); len(c.VDCs) != 1 || !c.VDCs[0].Enabled() {
		t.Errorf("event alone: %+v", c.VDCs)
	}
	v.ApplyCommand(1, cmd)
	w := projector.NewViews()
	w.ApplyCommand(1, cmd)
	w.ApplyEvent(1, "", ev)
	for _, x := range []*projector.Views{v, w} {
		if c := x.Cloud(); len(c.VDCs) != 1 || c.VDCs[0].Enabled() {
			t.Errorf("with the command: %+v", c.VDCs)
		}
	}
}

// TestCloudMerge: a cloud setting is the newest command's; an event whose command is not
// folded yet confirms a newer one than every folded command. Every interleaving of the
// same prefixes agrees.
func TestCloudMerge(t *testing.T) {
	s := newStream(t)
	c1 := s.Command("on", events.CloudID, systemOrg, provider, events.SetVDCRuntimes{VDC: vdcX, Runtimes: []string{events.RuntimeNative}})
	c2 := s.Command("off", events.CloudID, systemOrg, provider, events.SetVDCRuntimes{VDC: vdcX})
	c3 := s.Command("stop", events.CloudID, systemOrg, provider, events.SetServiceState{Enabled: false})
	s.Event(c1, events.VDCRuntimesChanged{VDC: vdcX, Runtimes: []string{events.RuntimeNative}})
	s.Event(c2, events.VDCRuntimesChanged{VDC: vdcX})
	s.Event(c3, events.ServiceStateChanged{Enabled: false})
	const none, on, off = 0, 1, 2
	tests := []struct {
		cmds, evts int
		vdc        int // none: not listed
		service    bool
	}{
		{0, 0, none, true},
		{1, 0, on, true},
		{0, 1, on, true},
		{2, 0, off, true},
		{2, 1, off, true}, // the newer command stands until confirmed
		{1, 2, off, true}, // the event confirms a command newer than any folded
		{0, 2, off, true},
		{3, 0, off, false},
		{2, 3, off, false},
		{3, 3, off, false},
	}
	for _, tt := range tests {
		cmds, evts := s.Cmds[:tt.cmds], s.Evts[:tt.evts]
		// Every interleaving: choose which of the merged positions are commands.
		for mask := range 1 << (tt.cmds + tt.evts) {
			if bits.OnesCount(uint(mask)) != tt.cmds {
				continue
			}
			v := fold(interleave(cmds, evts, func(n int) bool { return mask>>n&1 == 1 }))
			cv := v.Cloud()
			got := none
			if len(cv.VDCs) == 1 {
				got = off
				if cv.VDCs[0].Enabled() {
					got = on
				}
			}
			if got != tt.vdc || cv.ServiceEnabled != tt.service || len(cv.VDCs) > 1 {
				t.Errorf("commands %d events %d, order %b: VDCs %+v, service %v; want %d, %v", tt.cmds, tt.evts, mask, cv.VDCs, cv.ServiceEnabled, tt.vdc, tt.service)
			}
		}
	}
}
