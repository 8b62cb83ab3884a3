package ingress_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

// rightURNs are the URNs a VCD gave CSE's five rights.
var rightURNs = map[string]string{
	"urn:vcloud:right:00000000-0000-4000-8000-000000000001": cluster.RightView,
	"urn:vcloud:right:00000000-0000-4000-8000-000000000002": cluster.RightModify,
	"urn:vcloud:right:00000000-0000-4000-8000-000000000003": cluster.RightFullAccess,
	"urn:vcloud:right:00000000-0000-4000-8000-000000000004": cluster.RightAdminView,
	"urn:vcloud:right:00000000-0000-4000-8000-000000000005": cluster.RightAdminFull,
}

func urnOf(name string) string {
	for urn, n := range rightURNs {
		if n == name {
			return urn
		}
	}
	panic(name)
}

// A call whose security context carries only URNs is authorised exactly as the same rights
// by name, once the URNs are learned.
func TestLearnedRightIDs(t *testing.T) {
	h := newHarness(t)
	h.api.SetRightIDs(rightURNs)
	// alice's cluster, which carol (of the same org) may or may not see.
	if rec := h.do(http.MethodPost, base+"/clusters", createBody("alices", "vdc1", 1)); rec.Code != http.StatusAccepted {
		t.Fatalf("alice's create: %d %s", rec.Code, rec.Body)
	}
	var shared string
	for _, c := range decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", "")) {
		shared = c.ID
	}
	sets := [][]string{nil, {cluster.RightView}, {cluster.RightModify}, {cluster.RightFullAccess},
		{cluster.RightAdminView}, {cluster.RightAdminFull}, {cluster.RightView, cluster.RightFullAccess}}
	for i, names := range sets {
		t.Run(fmt.Sprint(names), func(t *testing.T) {
			urns := make([]string, len(names))
			for j, n := range names {
				urns[j] = urnOf(n)
			}
			type result struct{ list, get, create, seen int }
			try := func(rights []string, name string) result {
				who := []opt{as(orgA, carol), withRights(rights...)}
				var r result
				rec := h.do(http.MethodGet, base+"/clusters", "", who...)
				r.list = rec.Code
				if rec.Code == http.StatusOK {
					r.seen = len(decode[[]cse.DefEntity](t, rec))
				}
				r.get = h.do(http.MethodGet, base+"/cluster/"+shared, "", who...).Code
				r.create = h.do(http.MethodPost, base+"/clusters", createBody(name, "vdc1", 1), who...).Code
				return r
			}
			byName := try(names, fmt.Sprintf("n%d", i))
			// What carol created by name, she sees by URN too: count it out.
			if byName.create == http.StatusAccepted {
				byName.seen++
			}
			byURN := try(urns, fmt.Sprintf("u%d", i))
			if byURN != byName {
				t.Errorf("by URN %+v, by name %+v", byURN, byName)
			}
		})
	}
}

// KAAS_RIGHT_IDS wins over what was learned; a refresh replaces the learned map, so a URN
// VCD no longer has stops counting; refreshing while calls are served is safe.
func TestRightIDsOverrideAndRefresh(t *testing.T) {
	views := projector.NewViews()
	cmds := newFakeCommands(t, views, 0)
	adminView, full := urnOf(cluster.RightAdminView), urnOf(cluster.RightFullAccess)
	api, err := ingress.New(ingress.Config{RightIDs: map[string]string{full: cluster.RightView}}, cmds, queries.New(views, nil))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, api: api, views: views, cmds: cmds}
	enableVDC(views)
	if rec := h.do(http.MethodPost, base+"/clusters", createBody("alices", "vdc1", 1)); rec.Code != http.StatusAccepted {
		t.Fatalf("alice's create: %d %s", rec.Code, rec.Body)
	}
	// seen is how many clusters carol sees with one right: alice's only with Administrator View.
	seen := func(right string) int {
		rec := h.do(http.MethodGet, base+"/clusters", "", as(orgA, carol), withRights(right))
		if rec.Code != http.StatusOK {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
		return len(decode[[]cse.DefEntity](t, rec))
	}
	create := func(name, right string) int {
		return h.do(http.MethodPost, base+"/clusters", createBody(name, "vdc1", 1), as(orgA, carol), withRights(right)).Code
	}

	if n := seen(adminView); n != 0 {
		t.Fatalf("before learning, %s shows %d clusters", adminView, n)
	}
	api.SetRightIDs(rightURNs)
	if n := seen(adminView); n != 1 {
		t.Fatalf("once learned, %s shows %d clusters, want alice's", adminView, n)
	}
	// The override names full's URN View: carol may not create with it.
	if code := create("o1", full); code != http.StatusForbidden {
		t.Errorf("create with an overridden URN: %d, want 403", code)
	}
	api.SetRightIDs(map[string]string{})
	if n := seen(adminView); n != 0 {
		t.Errorf("after a refresh without it, %s shows %d clusters", adminView, n)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				api.SetRightIDs(rightURNs)
			} else {
				api.SetRightIDs(nil)
			}
		}
	})
	for range 50 {
		if n := seen(adminView); n > 1 {
			t.Fatalf("list during refreshes shows %d clusters", n)
		}
	}
	wg.Wait()
}
