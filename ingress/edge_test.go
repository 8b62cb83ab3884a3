package ingress_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/queries"
)

// provider is a System org user, who sees and manages every org.
func provider() opt { return as(ingress.SystemOrg, root) }

// setVDC records, as an executor would, that an org VDC exists with or without native
// Kubernetes.
func (h *harness) setVDC(orgID, orgName, vdc string, enabled bool) {
	runtimes := []string{}
	if enabled {
		runtimes = []string{events.RuntimeNative}
	}
	seq := uint64(1000 + h.n.Add(1))
	h.views.ApplyEvent(seq, "", events.Envelope{ID: fmt.Sprintf("vdc-%d", seq), ClusterID: events.CloudID, Type: events.TypeVDCRuntimesChanged,
		Time: t0, Payload: events.VDCRuntimesChanged{VDC: events.VDC{ID: vdcID(orgName, vdc), Name: vdc, OrgName: orgName, OrgID: orgID},
			Runtimes: runtimes}})
}

// TestCallerURNCase: VCD's URNs do not depend on case, and neither does who a caller is.
func TestCallerURNCase(t *testing.T) {
	h := newHarness(t)
	id, _ := h.running("c1")
	upper := as(strings.ToUpper(orgA), strings.ToUpper(alice))

	list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", "", upper))
	if len(list) != 1 || list[0].ID != cse.EntityID(id) {
		t.Errorf("upper-case caller's list: %+v", list)
	}
	if rec := h.do(http.MethodGet, clusterPath(id), "", upper); rec.Code != 200 {
		t.Errorf("upper-case caller's GET of its cluster: %d %s", rec.Code, rec.Body)
	}
	// What it changes is filed under the canonical URNs.
	id2, _ := h.create("c2", upper)
	cmds := h.cmds.commands()
	if last := cmds[len(cmds)-1]; last.ClusterID != id2 || last.OrgID != orgA || last.Actor != alice {
		t.Errorf("upper-case caller's create filed as org %s actor %s", last.OrgID, last.Actor)
	}
	if ent := decode[cse.DefEntity](t, h.do(http.MethodGet, clusterPath(id2), "")); ent.Owner.ID != alice || ent.Org.ID != orgA {
		t.Errorf("owner %+v org %+v", ent.Owner, ent.Org)
	}
	// Another org is another org in any case.
	wantError(t, h.do(http.MethodGet, clusterPath(id), "", as(strings.ToUpper(orgB), bob)), 404, cse.MinorDefault, "not found")

	// The System org is the provider's in any case, and only the System org is.
	for _, org := range []string{ingress.SystemOrg, strings.ToUpper(ingress.SystemOrg), "URN:VCLOUD:ORG:" + strings.TrimPrefix(ingress.SystemOrg, "urn:vcloud:org:")} {
		if rec := h.do(http.MethodGet, "/api/cse/system/config", "", as(org, root)); rec.Code != 200 {
			t.Errorf("provider %s: GET system/config %d %s", org, rec.Code, rec.Body)
		}
		list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", "", as(org, root)))
		if len(list) != 2 {
			t.Errorf("provider %s lists %d clusters, want 2", org, len(list))
		}
	}
	wantError(t, h.do(http.MethodGet, "/api/cse/system/config", "", upper), 403, cse.MinorDefault, "providers")

	// A provider org given in upper case in the configuration is the same org.
	api, err := ingress.New(ingress.Config{ProviderOrg: strings.ToUpper(ingress.SystemOrg)}, h.cmds, queries.New(h.views, nil))
	if err != nil {
		t.Fatal(err)
	}
	h.api = api
	if rec := h.do(http.MethodGet, "/api/cse/system/config", "", provider()); rec.Code != 200 {
		t.Errorf("provider with an upper-case ProviderOrg: %d %s", rec.Code, rec.Body)
	}
	if _, err := ingress.New(ingress.Config{ProviderOrg: "urn:vcloud:org:system"}, h.cmds, queries.New(h.views, nil)); err == nil ||
		!strings.Contains(err.Error(), "is not an org URN") {
		t.Errorf("ProviderOrg without a UUID: %v", err)
	}
}

// TestMalformedCaller: a security context whose user or org is not a URN of its kind is
// refused, and changes nothing.
func TestMalformedCaller(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct{ org, user string }{
		{"urn:vcloud:org:acme", alice},
		{orgA, "urn:vcloud:user:alice"},
		{alice, alice},
		{orgA, orgA},
		{"urn:vcloud:org:" + strings.ReplaceAll(strings.TrimPrefix(orgA, "urn:vcloud:org:"), "-", ""), alice},
		{ingress.SystemOrg + " ", root},
	} {
		for _, r := range []struct{ method, path, body string }{
			{http.MethodGet, base + "/clusters", ""},
			{http.MethodPost, base + "/clusters", createBody("c1", "vdc1", 1)},
			{http.MethodGet, "/api/cse/system/config", ""},
		} {
			wantError(t, h.do(r.method, r.path, r.body, as(c.org, c.user)), http.StatusUnauthorized, cse.MinorDefault, "security context")
		}
	}
	if n := len(h.cmds.commands()); n != 0 {
		t.Errorf("%d commands appended", n)
	}
}

// TestCreateInAnotherOrg: a tenant creates only in an enabled org VDC of its own org, and is
// told the same whether another org, or its VDC, exists, is enabled, or not.
func TestCreateInAnotherOrg(t *testing.T) {
	h := newHarness(t)
	bobs := as(orgB, bob)
	const orgC = "urn:vcloud:org:c0000000-0000-4000-8000-000000000003"
	type answer struct {
		code int
		body string
	}
	ask := func(org, vdc string) answer {
		t.Helper()
		rec := h.do(http.MethodPost, base+"/clusters", createBodyIn(org, "c1", vdc, 1), bobs)
		wantError(t, rec, 400, cse.MinorOvdcNameInvalid, "it is not enabled for native Kubernetes, or it is not an org VDC of your organization")
		return answer{rec.Code, rec.Body.String()}
	}

	// Another org's VDC: enabled, disabled, and an org that kaas does not know, then knows
	// with a disabled VDC, then with an enabled one.
	enabled := ask("acme", "vdc1")
	h.setVDC(orgA, "acme", "vdc1", false)
	if disabled := ask("acme", "vdc1"); disabled != enabled {
		t.Errorf("another org's enabled and disabled VDC answer differently:\n%v\n%v", enabled, disabled)
	}
	if other := ask("ACME", "vdc1"); other.code != enabled.code || !strings.EqualFold(other.body, enabled.body) {
		t.Errorf("the org named in other case answers differently:\n%v\n%v", enabled, other)
	}
	unknown := ask("gamma", "vdc1")
	h.setVDC(orgC, "gamma", "vdc1", false)
	disabled := ask("gamma", "vdc1")
	h.setVDC(orgC, "gamma", "vdc1", true)
	on := ask("gamma", "vdc1")
	if unknown != disabled || unknown != on {
		t.Errorf("an unknown org, its disabled and its enabled VDC answer differently:\n%v\n%v\n%v", unknown, disabled, on)
	}
	// Its own org's VDC that is not there, or not enabled: the same answer again.
	missing := ask("beta", "nope")
	off := ask("beta", "vdc3")
	names := func(a answer, org, vdc string) answer {
		a.body = strings.ReplaceAll(strings.ReplaceAll(a.body, "'"+org+"'", "'<org>'"), "'"+vdc+"'", "'<vdc>'")
		return a
	}
	for _, a := range []answer{names(missing, "beta", "nope"), names(off, "beta", "vdc3"), names(unknown, "gamma", "vdc1")} {
		if want := names(enabled, "acme", "vdc1"); a != want {
			t.Errorf("answers differ:\n%v\n%v", a, want)
		}
	}
	if n := len(h.cmds.commands()); n != 0 {
		t.Fatalf("%d commands appended by refused creates", n)
	}

	// Its own org's enabled VDC, the org named in any case: accepted, filed under its org.
	rec := h.do(http.MethodPost, base+"/clusters", createBodyIn("BETA", "c1", "vdc1", 1), bobs)
	if rec.Code != 202 {
		t.Fatalf("create in its own org: %d %s", rec.Code, rec.Body)
	}
	// A provider creates in any org's enabled VDC, for that org.
	rec = h.do(http.MethodPost, base+"/clusters", createBodyIn("acme", "c1", "vdc2", 1), provider())
	if rec.Code != 202 {
		t.Fatalf("provider's create in acme: %d %s", rec.Code, rec.Body)
	}
	wantError(t, h.do(http.MethodPost, base+"/clusters", createBodyIn("acme", "c2", "vdc1", 1), provider()), 400, cse.MinorOvdcNameInvalid,
		"it is not enabled for native Kubernetes")
	cmds := h.cmds.commands()
	if len(cmds) != 2 || cmds[0].OrgID != orgB || cmds[0].Actor != bob || cmds[1].OrgID != orgA || cmds[1].Actor != root {
		t.Errorf("commands %+v", cmds)
	}
}

// TestRequestIDScopedToCaller: VCD's request id identifies a request only with who sent it
// and what it asked for. A second caller who reuses it gets an answer of its own; the same
// request delivered again gets the first answer and appends nothing.
func TestRequestIDScopedToCaller(t *testing.T) {
	h := newHarness(t)
	first := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1), reqID("shared"))
	if first.Code != 202 {
		t.Fatalf("%d %s", first.Code, first.Body)
	}
	firstID := decode[cse.DefEntity](t, first).ID
	for _, c := range []struct {
		name string
		opts []opt
		body string
	}{
		{"another org", []opt{as(orgB, bob)}, createBodyIn("beta", "c1", "vdc1", 1)},
		{"another user of the org", []opt{as(orgA, carol)}, createBody("c2", "vdc1", 1)},
		{"a provider", []opt{provider()}, createBody("c3", "vdc1", 1)},
	} {
		n := len(h.cmds.commands())
		rec := h.do(http.MethodPost, base+"/clusters", c.body, append(c.opts, reqID("shared"))...)
		if rec.Code != 202 {
			t.Fatalf("%s: %d %s", c.name, rec.Code, rec.Body)
		}
		if id := decode[cse.DefEntity](t, rec).ID; id == firstID || rec.Header().Get("Location") == first.Header().Get("Location") {
			t.Errorf("%s reusing the request id got the first caller's cluster %s or operation %s", c.name, id, rec.Header().Get("Location"))
		}
		if got := len(h.cmds.commands()); got != n+1 {
			t.Errorf("%s: %d commands appended, want 1", c.name, got-n)
		}
	}
	// The first request again, as VCD or RabbitMQ redelivers it.
	n := len(h.cmds.commands())
	again := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1), reqID("shared"))
	if again.Code != 202 || again.Body.String() != first.Body.String() || again.Header().Get("Location") != first.Header().Get("Location") {
		t.Errorf("redelivery: %d %s", again.Code, again.Body)
	}
	if got := len(h.cmds.commands()); got != n {
		t.Errorf("redelivery appended %d commands", got-n)
	}
	// The same caller, the same id, another route: not a redelivery of the create.
	h.exec.runAll()
	id, _ := cse.ParseClusterID(firstID)
	del := h.do(http.MethodDelete, clusterPath(id), "", reqID("shared"))
	if del.Code != 202 || del.Header().Get("Location") == first.Header().Get("Location") {
		t.Fatalf("delete with the create's request id: %d %s %s", del.Code, del.Header().Get("Location"), del.Body)
	}
	cmds := h.cmds.commands()
	if last := cmds[len(cmds)-1]; len(cmds) != n+1 || last.Payload != (events.DeleteCluster{}) || last.CorrelationID != "shared" {
		t.Errorf("delete appended %d commands, last %+v", len(cmds)-n, last)
	}
	// Every command keeps VCD's request id as its correlation id, for the audit.
	for _, c := range cmds {
		if c.CorrelationID != "shared" {
			t.Errorf("command %s correlation id %q", c.ID, c.CorrelationID)
		}
	}
}

// TestProviderChangesFiledUnderClusterOrg: a provider's change to a tenant's cluster is a
// command of the cluster's org, done by the provider.
func TestProviderChangesFiledUnderClusterOrg(t *testing.T) {
	h := newHarness(t)
	id1, _ := h.running("c1")
	id2, _ := h.running("c2")
	n := len(h.cmds.commands())
	acl := decode[cse.Page[map[string]any]](t, h.do(http.MethodGet, clusterPath(id1)+"/acl", "", provider()))
	body := fmt.Sprintf(`{"accessSetting":%s}`, must(json.Marshal(acl.Values)))
	if rec := h.do(http.MethodPut, clusterPath(id1)+"/acl", body, provider()); rec.Code != 204 {
		t.Fatalf("provider's ACL: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do(http.MethodPost, clusterPath(id2)+"/action/force-delete", "", provider()); rec.Code != 202 {
		t.Fatalf("provider's force delete: %d %s", rec.Code, rec.Body)
	}
	cmds := h.cmds.commands()[n:]
	if len(cmds) != 2 {
		t.Fatalf("%d commands", len(cmds))
	}
	for _, c := range cmds {
		if c.OrgID != orgA || c.Actor != root {
			t.Errorf("%s filed as org %s actor %s; want %s and %s", c.Type, c.OrgID, c.Actor, orgA, root)
		}
	}
	h.exec.runAll()
	list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", "", provider()))
	if len(list) != 1 || list[0].ID != cse.EntityID(id1) {
		t.Errorf("provider's list: %d clusters %+v", len(list), list)
	}
	sys := decode[cse.SystemInfo](t, h.do(http.MethodGet, "/api/cse/system", "", provider()))
	if sys.Clusters == nil || *sys.Clusters != 1 {
		t.Errorf("system counts %v clusters, want 1", sys.Clusters)
	}
	if list := decode[[]cse.DefEntity](t, h.do(http.MethodGet, base+"/clusters", "")); len(list) != 1 {
		t.Errorf("tenant's list: %d clusters", len(list))
	}
}

// TestACLMemberCase: a cluster shared with a user URN in any case is shared with that user.
func TestACLMemberCase(t *testing.T) {
	h := newHarness(t)
	id, _ := h.running("c1")
	carols := []opt{as(orgA, carol), withRights(cluster.RightView)}
	wantError(t, h.do(http.MethodGet, clusterPath(id), "", carols...), 404, cse.MinorDefault, "not found")
	share := func(members ...string) *httptest.ResponseRecorder {
		var entries []string
		for _, m := range members {
			entries = append(entries, fmt.Sprintf(`{"memberId":%q,"accessLevelId":"urn:vcloud:accessLevel:ReadOnly"}`, m))
		}
		return h.do(http.MethodPut, clusterPath(id)+"/acl", `{"accessSetting":[`+strings.Join(entries, ",")+`]}`)
	}
	if rec := share(strings.ToUpper(carol)); rec.Code != 204 {
		t.Fatalf("share: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do(http.MethodGet, clusterPath(id), "", carols...); rec.Code != 200 {
		t.Errorf("shared with in upper case, carol: %d %s", rec.Code, rec.Body)
	}
	acl := decode[cse.Page[map[string]any]](t, h.do(http.MethodGet, clusterPath(id)+"/acl", ""))
	if len(acl.Values) != 1 || acl.Values[0]["memberId"] != carol {
		t.Errorf("ACL %+v, want carol's canonical URN", acl.Values)
	}
	n := len(h.cmds.commands())
	wantError(t, share(carol, strings.ToUpper(carol)), 400, cse.MinorDefault, "appears twice")
	wantError(t, share("urn:vcloud:user:carol"), 400, cse.MinorDefault, `memberId "urn:vcloud:user:carol" is not a user URN`)
	if got := len(h.cmds.commands()); got != n {
		t.Errorf("%d commands appended by refused ACLs", got-n)
	}
}
