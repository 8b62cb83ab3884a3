package queries_test

import (
	"math"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

func TestClustersPage(t *testing.T) {
	const carol = "urn:vcloud:user:c0000000-0000-4000-8000-00000000000c"
	s := newStream(t)
	for _, n := range []string{"delta", "alpha", "charlie"} {
		s.Run(s.Create(n, orgA, alice))
	}
	s.Create("bravo", orgA, alice) // pending
	inVDC2 := spec("foxtrot")
	inVDC2.VDC = "vdc2"
	s.Run(s.Command("create-foxtrot", clusterID("foxtrot"), orgA, carol, events.CreateCluster{Spec: inVDC2}))
	ofBeta := spec("aardvark")
	ofBeta.OrgName = "beta"
	s.Run(s.Command("create-aardvark", clusterID("aardvark"), orgB, bob, events.CreateCluster{Spec: ofBeta}))
	gone := s.Create("echo", orgA, alice)
	s.Run(gone)
	s.Run(s.Command("delete-echo", gone.ClusterID, orgA, alice, events.DeleteCluster{}))
	q := queriesOf(s)

	author := func(user string) cluster.Principal {
		return cluster.Principal{User: user, Org: orgA, Rights: []string{cluster.RightFullAccess}}
	}
	tests := []struct {
		name         string
		p            cluster.Principal
		orgName, vdc string
		page, size   int
		want         string
		wantTotal    int
	}{
		{"org admin, first page", admin(orgA), "", "", 1, 2, "alpha,bravo", 5},
		{"org admin, last page", admin(orgA), "", "", 3, 2, "foxtrot", 5},
		{"org admin, past the end", admin(orgA), "", "", 4, 2, "", 5},
		{"org admin, a page past any list", admin(orgA), "", "", math.MaxInt, 2, "", 5},
		{"org admin, one org VDC", admin(orgA), "", "vdc1", 2, 2, "charlie,delta", 4},
		{"author sees its own", author(alice), "", "", 1, 3, "alpha,bravo,charlie", 4},
		{"author, second page", author(alice), "", "", 2, 3, "delta", 4},
		{"another author", author(carol), "", "", 1, 25, "foxtrot", 1},
		{"another author, narrowed to what it cannot see", author(carol), "", "vdc1", 1, 25, "", 0},
		{"provider, every org", provider, "", "", 1, 2, "aardvark,alpha", 6},
		{"provider, by org name", provider, "beta", "", 1, 25, "aardvark", 1},
		{"provider, by org VDC", provider, "", "vdc2", 1, 25, "foxtrot", 1},
		{"provider, both", provider, "acme", "vdc1", 2, 3, "delta", 4},
		{"other org's admin", admin(orgB), "", "", 1, 25, "aardvark", 1},
		{"no such org", admin("urn:vcloud:org:none"), "", "", 1, 25, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, total := q.ClustersPage(t.Context(), tt.p, tt.orgName, tt.vdc, tt.page, tt.size)
			var got []string
			for _, e := range page {
				got = append(got, e.Name)
			}
			if strings.Join(got, ",") != tt.want || total != tt.wantTotal || page == nil {
				t.Errorf("page %q (nil %v), total %d; want %q, %d", strings.Join(got, ","), page == nil, total, tt.want, tt.wantTotal)
			}
		})
	}
	// The pages of a list, one after the other, are the list.
	for _, p := range []cluster.Principal{admin(orgA), author(alice), provider} {
		var pages []cse.DefEntity
		for n := 1; ; n++ {
			page, _ := q.ClustersPage(t.Context(), p, "", "", n, 2)
			if len(page) == 0 {
				break
			}
			pages = append(pages, page...)
		}
		all := q.Clusters(t.Context(), p)
		if len(pages) != len(all) {
			t.Fatalf("%s: %d clusters in pages, %d in the list", p.User, len(pages), len(all))
		}
		for i := range all {
			if pages[i].ID != all[i].ID {
				t.Errorf("%s: page item %d is %s, the list's %s", p.User, i, pages[i].Name, all[i].Name)
			}
		}
	}
}
