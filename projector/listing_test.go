package projector_test

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/projector"
)

// fleet is a history of 30 clusters of orgA (c00 to c29, created out of name order), 5 of
// orgB, one of orgA pending its create, one deleted and one being deleted.
func fleet(t *testing.T) *stream {
	s := newStream(t)
	for i := range 30 {
		s.Run(s.Create(fmt.Sprintf("c%02d", (i*7)%30), orgA, alice))
	}
	for i := range 5 {
		s.Run(s.Create(fmt.Sprintf("b%d", i), orgB, bob))
	}
	s.Create("a-pending", orgA, alice)
	gone := s.Create("zz-gone", orgA, alice)
	s.Run(gone)
	s.Run(s.Command("del-gone", gone.ClusterID, orgA, alice, events.DeleteCluster{}))
	going := s.Create("zz-going", orgA, alice)
	s.Run(going)
	s.Start(s.Command("del-going", going.ClusterID, orgA, alice, events.DeleteCluster{}))
	return s
}

func listNames(cs []projector.ClusterView) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name()
	}
	return strings.Join(out, ",")
}

// cNames is c<from> to c<to-1>.
func cNames(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("c%02d", i))
	}
	return out
}

func TestClusterPage(t *testing.T) {
	s := fleet(t)
	v := s.Views()
	even := func(cv projector.ClusterView) bool {
		return strings.HasSuffix(cv.Name(), "0") || strings.HasSuffix(cv.Name(), "2")
	}
	tests := []struct {
		name    string
		org     string
		from, n int
		keep    func(projector.ClusterView) bool
		want    []string
		wantTot int
	}{
		{"first page", orgA, 0, 25, nil, append([]string{"a-pending"}, cNames(0, 24)...), 32},
		{"second page", orgA, 25, 25, nil, append(cNames(24, 30), "zz-going"), 32},
		{"last key only", orgA, 31, 25, nil, []string{"zz-going"}, 32},
		{"past the end", orgA, 32, 25, nil, nil, 32},
		{"far past the end", orgA, 1 << 40, 25, nil, nil, 32},
		{"page across a block", orgA, 3, 2, nil, cNames(2, 4), 32},
		{"other org only", orgB, 0, 25, nil, []string{"b0", "b1", "b2", "b3", "b4"}, 5},
		{"unknown org", "urn:vcloud:org:none", 0, 25, nil, nil, 0},
		{"every org", "", 0, 3, nil, []string{"a-pending", "b0", "b1"}, 37},
		{"every org, last page", "", 35, 25, nil, []string{"c29", "zz-going"}, 37},
		{"kept only", orgA, 0, 4, even, []string{"c00", "c02", "c10", "c12"}, 6},
		{"kept, second page", orgA, 4, 4, even, []string{"c20", "c22"}, 6},
		{"kept, past the end", orgA, 6, 4, even, nil, 6},
		{"kept, other org", orgB, 0, 4, even, []string{"b0", "b2"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, total := v.ClusterPage(tt.org, tt.from, tt.n, tt.keep)
			if got, want := listNames(page), strings.Join(tt.want, ","); got != want || total != tt.wantTot {
				t.Errorf("page %q total %d, want %q total %d", got, total, want, tt.wantTot)
			}
			for _, cv := range page {
				if tt.org != "" && cv.Org() != tt.org {
					t.Errorf("%s of org %s listed in %s", cv.Name(), cv.Org(), tt.org)
				}
				if full, _ := v.Cluster(cv.ID); !reflect.DeepEqual(cv, full) {
					t.Errorf("%s: the page's view is not the cluster's", cv.Name())
				}
			}
		})
	}
}

// TestClusterListsFollowTheFolds checks the ordered lists against the clusters themselves
// after each record: a cluster is listed, under its org and in the list of every org,
// exactly while it exists, and a rebuilt or copied view lists the same.
func TestClusterListsFollowTheFolds(t *testing.T) {
	s := fleet(t)
	var ids []string
	for _, r := range s.All {
		if !slices.Contains(ids, r.Env.ClusterID) {
			ids = append(ids, r.Env.ClusterID)
		}
	}
	v := projector.NewViews()
	for i, r := range s.All {
		feed(v, s.All[i:i+1])
		for _, org := range []string{orgA, orgB, ""} {
			var want []projector.ClusterView
			for _, id := range ids {
				if cv, ok := v.Cluster(id); ok && cv.Exists() && (org == "" || cv.Org() == org) {
					want = append(want, cv)
				}
			}
			slices.SortFunc(want, func(a, b projector.ClusterView) int {
				return cmp.Or(cmp.Compare(a.Name(), b.Name()), cmp.Compare(a.ID, b.ID))
			})
			if got := v.OrgClusters(org); listNames(got) != listNames(want) {
				t.Fatalf("after %s (record %d), org %q lists %s, want %s", r.Env.Type, i, org, listNames(got), listNames(want))
			}
		}
	}
	if c := v.Clone(); !c.Equal(v) || !v.Equal(c) || len(v.Diff(c)) != 0 {
		t.Errorf("a copy differs: %v", v.Diff(c))
	}
	if rebuilt := s.Views(); !rebuilt.Equal(v) {
		t.Errorf("a rebuild differs: %v", v.Diff(rebuilt))
	}
}

func TestDeletedClusterLeavesTheLists(t *testing.T) {
	s := newStream(t)
	keep := s.Create("keep", orgA, alice)
	s.Run(keep)
	create := s.Create("gone", orgA, alice)
	s.Run(create)
	del := s.Command("del", create.ClusterID, orgA, alice, events.DeleteCluster{})
	s.Start(del)
	for _, org := range []string{orgA, ""} {
		if page, total := s.Views().ClusterPage(org, 0, 10, nil); listNames(page) != "gone,keep" || total != 2 {
			t.Errorf("org %q while deleting: %s (%d)", org, listNames(page), total)
		}
	}
	s.Finish(create.ClusterID)
	for _, org := range []string{orgA, ""} {
		if page, total := s.Views().ClusterPage(org, 0, 10, nil); listNames(page) != "keep" || total != 1 {
			t.Errorf("org %q once deleted: %s (%d)", org, listNames(page), total)
		}
	}
	// Views that missed the delete's end list it still: the lists are part of Equal.
	if v, done := projector.NewViews(), s.Views(); func() bool { feed(v, s.All[:len(s.All)-1]); return v.Equal(done) }() {
		t.Error("views listing a deleted cluster equal those that do not")
	}
}

// TestFoldsShareStrings checks that clusters folded from decoded records (each bringing its
// own copy of every string) hold one copy of what they share: org, owner, template.
func TestFoldsShareStrings(t *testing.T) {
	s := newStream(t)
	a, b := s.Create("a", orgA, alice), s.Create("b", orgA, alice)
	s.Run(a)
	s.Run(b)
	v := projector.NewViews()
	for _, r := range s.All {
		raw, err := events.Marshal(r.Env)
		if err != nil {
			t.Fatal(err)
		}
		if r.Env, err = events.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		feed(v, []record{r})
	}
	x, _ := v.Cluster(a.ClusterID)
	y, _ := v.Cluster(b.ClusterID)
	same := func(p, q string) bool { return p == q && unsafe.StringData(p) == unsafe.StringData(q) }
	if !same(x.State.OrgID, y.State.OrgID) || !same(x.State.Owner, y.State.Owner) || !same(x.State.Spec.VDC, y.State.Spec.VDC) ||
		!same(x.State.Template.Name, y.State.Template.Name) || !same(x.State.Template.KubernetesVersion, y.State.Template.KubernetesVersion) {
		t.Error("two clusters of one org and template keep copies of what they share")
	}
	if !v.Equal(s.Views()) {
		t.Error("views folded from decoded records differ from the same records never encoded")
	}
}

func TestOrgRecords(t *testing.T) {
	s := fleet(t)
	v := s.Views()
	want := map[string]map[bool][]uint64{}
	for _, r := range s.All {
		if want[r.Env.OrgID] == nil {
			want[r.Env.OrgID] = map[bool][]uint64{}
		}
		want[r.Env.OrgID][r.Command] = append(want[r.Env.OrgID][r.Command], r.Seq)
	}
	stream := map[bool]string{true: events.CommandStream, false: events.EventStream}
	for _, org := range []string{orgA, orgB, "urn:vcloud:org:none"} {
		for _, cmds := range []bool{true, false} {
			all := want[org][cmds]
			for _, b := range []struct{ from, to int }{{0, 0}, {0, 1}, {0, 25}, {3, 7}, {len(all) - 1, len(all) + 5}, {len(all), len(all) + 1}, {-1, 2}} {
				got, total := v.OrgRecords(stream[cmds], org, b.from, b.to)
				w := all[min(max(b.from, 0), len(all)):min(max(b.to, 0), len(all))]
				if !slices.Equal(got, w) || total != len(all) || (len(w) == 0) != (got == nil) {
					t.Errorf("%s, commands %v, [%d, %d): %v (%d), want %v (%d)", org, cmds, b.from, b.to, got, total, w, len(all))
				}
			}
		}
	}
	if c := v.Clone(); !c.Equal(v) {
		t.Errorf("a copy differs: %v", v.Diff(c))
	}
}

func TestFirstEventSeq(t *testing.T) {
	s := fleet(t)
	v := s.Views()
	first := map[string]uint64{}
	for _, r := range s.All {
		if _, seen := first[r.Env.ClusterID]; !r.Command && !seen {
			first[r.Env.ClusterID] = r.Seq
		}
	}
	for _, id := range s.ClusterIDs() {
		got, ok := v.FirstEventSeq(id)
		if want, has := first[id]; got != want || ok != has {
			t.Errorf("cluster %s: first event %d (%v), want %d (%v)", id, got, ok, want, has)
		}
	}
	if _, ok := v.FirstEventSeq(clusterID("a-pending")); ok {
		t.Error("a cluster with no event has a first one")
	}
}
