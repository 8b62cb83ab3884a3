package kaasd_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
)

// TestAudit: a provider reads events and commands across clusters and orgs, filtered by
// org, cluster, actor, type and time, paged, oldest or newest first.
func TestAudit(t *testing.T) {
	e := start(t)
	asProvider := providerDo(t, e.client)
	acme := ingress.Caller{User: "urn:vcloud:user:a11ce000-0000-4000-8000-00000000a11c", Org: acmeOrg, Rights: []string{"cse:nativeCluster: Full Access"}}
	globex := ingress.Caller{User: "urn:vcloud:user:e4e00000-0000-4000-8000-000000000e4e", Org: globexOrg, Rights: []string{"cse:nativeCluster: Full Access"}}
	orgOf := map[string]string{acmeOrg: "acme", globexOrg: "globex"}

	create := func(who ingress.Caller, name string) string {
		code, body := e.do("POST", "/api/cse/3.0/clusters", inOrg(entity(name, good, 0, true), orgOf[who.Org]), withCaller(who))
		if code != http.StatusAccepted {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
		id := decode[cse.DefEntity](t, body).ID
		e.waitPhaseAs(id, who)
		return id
	}
	start := time.Now().UTC()
	a1 := create(acme, "a1")
	middle := time.Now().UTC()
	a2 := create(acme, "a2")
	g1 := create(globex, "g1")

	audit := func(query string) cse.Page[cse.Event] {
		t.Helper()
		code, body := asProvider("GET", "/api/cse/3.0/audit?pageSize=128&"+query, nil)
		if code != http.StatusOK {
			t.Fatalf("audit %s: %d %s", query, code, body)
		}
		return decode[cse.Page[cse.Event]](t, body)
	}
	types := func(p cse.Page[cse.Event]) (ts []string) {
		for _, v := range p.Values {
			ts = append(ts, v.Type)
		}
		return ts
	}
	created := "type=ClusterCreated"
	if got := audit(created); got.ResultTotal != 3 {
		t.Fatalf("ClusterCreated across orgs: %d", got.ResultTotal)
	}
	for _, v := range audit("").Values {
		if v.Actor == "" || v.RequestID == "" || v.ClusterID == "" || v.OrgID == "" || v.Kind != "event" || v.Hash == "" {
			t.Fatalf("an event does not say who, why and where: %+v", v)
		}
	}
	for _, org := range []string{globex.Org, strings.ToUpper(globex.Org), "globex"} { // URNs compare without case
		if got := audit(created + "&org=" + url.QueryEscape(org)); got.ResultTotal != 1 || got.Values[0].ClusterID == a1 {
			t.Errorf("org filter %s: %+v", org, got.Values)
		}
	}
	if got := audit("cluster=" + url.QueryEscape(a1)); got.ResultTotal == 0 || slices.ContainsFunc(got.Values, func(v cse.Event) bool { return v.ClusterID != a1 }) {
		t.Errorf("cluster filter: %v", types(got))
	}
	// An event's actor is who asked for the change it is part of.
	for _, actor := range []string{globex.User, strings.ToUpper(globex.User)} {
		if got := audit(created + "&actor=" + url.QueryEscape(actor)); got.ResultTotal != 1 || got.Values[0].OrgID != globex.Org {
			t.Errorf("actor filter %s: %+v", actor, got.Values)
		}
	}
	if got := audit("kind=commands&type=CreateCluster&actor=" + url.QueryEscape(acme.User)); got.ResultTotal != 2 || got.Values[0].Kind != "command" {
		t.Errorf("commands by actor: %d %v", got.ResultTotal, types(got))
	}
	if got := audit(created + "&since=" + middle.Format(time.RFC3339Nano)); got.ResultTotal != 2 {
		t.Errorf("since: %d", got.ResultTotal)
	}
	if got := audit(created + "&since=" + start.Format(time.RFC3339Nano) + "&until=" + middle.Format(time.RFC3339Nano)); got.ResultTotal != 1 || got.Values[0].ClusterID != a1 {
		t.Errorf("window: %+v", got.Values)
	}
	oldest, newest := audit(created), audit(created+"&order=newest")
	if oldest.Values[0].ID != newest.Values[2].ID || !newest.Values[0].Time.After(newest.Values[2].Time) {
		t.Errorf("order: %v vs %v", oldest.Values, newest.Values)
	}
	if code, body := asProvider("GET", "/api/cse/3.0/audit?type=ClusterCreated&page=2&pageSize=2", nil); code != 200 ||
		decode[cse.Page[cse.Event]](t, body).ResultTotal != 3 || len(decode[cse.Page[cse.Event]](t, body).Values) != 1 {
		t.Errorf("paging: %d %s", code, body)
	}
	// A cursor walks the whole history a window at a time and sees what one page shows.
	all := audit("")
	var walked []string
	for next := "/api/cse/3.0/audit?pageSize=4&after=0"; next != ""; {
		code, body := asProvider("GET", next, nil)
		if code != http.StatusOK {
			t.Fatalf("window %s: %d %s", next, code, body)
		}
		w := decode[cse.Page[cse.Event]](t, body)
		if w.ResultTotal != -1 || len(w.Values) > 4 || (w.NextPageURI != "" && len(w.Values) != 4) {
			t.Fatalf("window %s: total %d, %d values, next %q", next, w.ResultTotal, len(w.Values), w.NextPageURI)
		}
		for _, v := range w.Values {
			walked = append(walked, v.ID)
		}
		next = ""
		if w.NextPageURI != "" {
			u, _ := url.Parse(w.NextPageURI)
			next = u.RequestURI()
		}
	}
	var paged []string
	for _, v := range all.Values {
		paged = append(paged, v.ID)
	}
	if all.ResultTotal > 128 || !slices.Equal(walked, paged) {
		t.Errorf("cursor walk (%d) differs from the one page (%d of %d)", len(walked), len(paged), all.ResultTotal)
	}
	// Every page size, both orders: the pages put together are the whole list.
	for _, size := range []int{1, 3, 7} {
		for _, order := range []string{"oldest", "newest"} {
			var ids []string
			for page := 1; ; page++ {
				code, body := asProvider("GET", fmt.Sprintf("/api/cse/3.0/audit?order=%s&page=%d&pageSize=%d", order, page, size), nil)
				if code != http.StatusOK {
					t.Fatalf("%d %s", code, body)
				}
				got := decode[cse.Page[cse.Event]](t, body)
				if got.ResultTotal != all.ResultTotal || got.PageCount != (all.ResultTotal+size-1)/size {
					t.Fatalf("%s page %d of %d: total %d, %d pages", order, page, size, got.ResultTotal, got.PageCount)
				}
				if len(got.Values) == 0 {
					break
				}
				for _, v := range got.Values {
					ids = append(ids, v.ID)
				}
			}
			want := slices.Clone(paged)
			if order == "newest" {
				slices.Reverse(want)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("%s first, pages of %d: %d records, not the %d of the whole list in order", order, size, len(ids), len(want))
			}
		}
	}
	if got := audit(created + "&after=" + strconv.FormatUint(oldest.Values[0].Seq, 10)); got.ResultTotal != -1 || len(got.Values) != 2 || got.Values[0].ID != oldest.Values[1].ID {
		t.Errorf("after the first ClusterCreated: %+v", got)
	}
	for _, bad := range []string{"after=x", "after=1&order=newest", "after=1&page=2", "since=yesterday", "order=sideways", "kind=secrets", "cluster=nope", "org=initech"} {
		if code, _ := asProvider("GET", "/api/cse/3.0/audit?"+bad, nil); code != http.StatusBadRequest {
			t.Errorf("audit?%s: %d", bad, code)
		}
	}
	if code, _ := e.do("GET", "/api/cse/3.0/audit", nil, withCaller(acme)); code != http.StatusForbidden {
		t.Errorf("a tenant read the audit: %d", code)
	}
	_, _ = a2, g1
}
