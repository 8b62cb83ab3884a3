package ingress_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// keysOf returns the keys of a JSON object, sorted.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ovdcKeys are the keys of CSE 3.1.4's Ovdc objects; its client builds its Ovdc model from
// them, and any other key makes that raise.
var ovdcKeys = []string{"k8s_runtime", "org_name", "ovdc_id", "ovdc_name"}

// The org VDC routes answer in CSE 3.1.4's shapes: orgvdcs paged with absolute page links,
// ovdcs and ovdc/{id} with exactly the keys of CSE's Ovdc, the id a bare UUID that the
// routes take as well as the URN.
func TestOvdcShapes(t *testing.T) {
	h := newHarness(t)

	rec := h.do(http.MethodGet, base+"/orgvdcs?pageSize=2", "", provider())
	if rec.Code != http.StatusOK {
		t.Fatalf("orgvdcs: %d %s", rec.Code, rec.Body)
	}
	golden(t, "orgvdcs_page1", rec.Body.Bytes())
	p := decode[cse.Page[json.RawMessage]](t, rec)
	if p.ResultTotal != 5 || p.PageCount != 3 || len(p.Values) != 2 ||
		p.NextPageURI != "https://example.com/api/cse/3.0/orgvdcs?page=2&pageSize=2" {
		t.Fatalf("page %+v", p)
	}
	var seen []string
	for next := p.NextPageURI; ; {
		for _, v := range p.Values {
			if got := keysOf(t, v); !slices.Equal(got, ovdcKeys) {
				t.Errorf("entry keys %v, want %v", got, ovdcKeys)
			}
			var d cse.Ovdc
			_ = json.Unmarshal(v, &d)
			seen = append(seen, d.OrgName+"/"+d.Name)
		}
		if next == "" {
			break
		}
		// CSE's client GETs nextPageUri as it is.
		rec = h.do(http.MethodGet, strings.TrimPrefix(next, "https://example.com"), "", provider())
		p = decode[cse.Page[json.RawMessage]](t, rec)
		next = p.NextPageURI
	}
	if want := []string{"acme/vdc1", "acme/vdc2", "beta/vdc1", "beta/vdc2", "beta/vdc3"}; !slices.Equal(seen, want) {
		t.Errorf("pages held %v, want %v", seen, want)
	}

	// A tenant sees its org's.
	rec = h.do(http.MethodGet, base+"/ovdcs", "")
	list := decode[[]json.RawMessage](t, rec)
	if len(list) != 2 {
		t.Fatalf("alice's ovdcs: %s", rec.Body)
	}
	for _, v := range list {
		if got := keysOf(t, v); !slices.Equal(got, ovdcKeys) {
			t.Errorf("ovdcs entry keys %v, want %v", got, ovdcKeys)
		}
	}

	// One VDC, by its bare id (CSE's client's way) or its URN.
	byID := h.do(http.MethodGet, base+"/ovdc/vdc1", "")
	if byID.Code != http.StatusOK {
		t.Fatalf("ovdc by id: %d %s", byID.Code, byID.Body)
	}
	golden(t, "ovdc", byID.Body.Bytes())
	if got := keysOf(t, byID.Body.Bytes()); !slices.Equal(got, ovdcKeys) {
		t.Errorf("ovdc keys %v, want %v", got, ovdcKeys)
	}
	if byURN := h.do(http.MethodGet, base+"/ovdc/urn:vcloud:vdc:vdc1", ""); byURN.Code != 200 || byURN.Body.String() != byID.Body.String() {
		t.Errorf("ovdc by URN: %d %s", byURN.Code, byURN.Body)
	}
	// Another org's VDC is not found for a tenant.
	wantError(t, h.do(http.MethodGet, base+"/ovdc/beta-vdc1", ""), 404, cse.MinorDefault, "not found")
}

// PUT ovdc/{id} takes the body CSE 3.1.4's client sends, its whole Ovdc model with the names
// null, and answers a task_href the client can GET as it is.
func TestPutOvdcFromCSEClient(t *testing.T) {
	tests := []struct {
		name, id, body string
		status         int
		minor          int
		text           string
		runtimes       []string
	}{
		{"disable, as the client sends it", "vdc1",
			`{"k8s_runtime":[],"ovdc_name":null,"ovdc_id":null,"org_name":"acme","remove_cp_from_vms_on_disable":false}`,
			202, 0, "", []string{}},
		{"enable, no org named", "vdc1",
			`{"k8s_runtime":["native"],"ovdc_name":null,"ovdc_id":null,"org_name":null,"remove_cp_from_vms_on_disable":false}`,
			202, 0, "", []string{"native"}},
		{"by URN, every name given", "urn:vcloud:vdc:vdc2",
			`{"k8s_runtime":["native"],"ovdc_name":"vdc2","ovdc_id":"vdc2","org_name":"ACME","remove_cp_from_vms_on_disable":true}`,
			202, 0, "", []string{"native"}},
		{"another VDC's id", "vdc1",
			`{"k8s_runtime":["native"],"ovdc_name":null,"ovdc_id":"vdc2","org_name":null,"remove_cp_from_vms_on_disable":false}`,
			400, cse.MinorOvdcNameInvalid, "not (vdc2)", nil},
		{"another org", "vdc1",
			`{"k8s_runtime":["native"],"ovdc_name":null,"ovdc_id":null,"org_name":"beta","remove_cp_from_vms_on_disable":false}`,
			400, cse.MinorOvdcNameInvalid, "not of org beta", nil},
		{"a runtime kaas does not run", "vdc1",
			`{"k8s_runtime":["TKGm"],"ovdc_name":null,"ovdc_id":null,"org_name":"acme","remove_cp_from_vms_on_disable":false}`,
			400, cse.MinorDefault, `"TKGm"`, nil},
		{"an unknown key", "vdc1", `{"k8s_runtime":["native"],"name":"vdc1"}`, 400, cse.MinorDefault, `unknown field "name"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.do(http.MethodPut, base+"/ovdc/"+tt.id, tt.body, provider())
			if tt.status != http.StatusAccepted {
				wantError(t, rec, tt.status, tt.minor, tt.text)
				if n := len(h.cmds.commands()); n != 0 {
					t.Errorf("%d commands appended", n)
				}
				return
			}
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			cmds := h.cmds.commands()
			if len(cmds) != 1 {
				t.Fatalf("%d commands", len(cmds))
			}
			set, ok := cmds[0].Payload.(events.SetVDCRuntimes)
			if !ok || !strings.HasPrefix(set.VDC.ID, "urn:vcloud:vdc:") || set.VDC.OrgName != "acme" || !slices.Equal(set.Runtimes, tt.runtimes) {
				t.Errorf("command %+v", cmds[0].Payload)
			}
			got := decode[map[string]string](t, rec)
			if want := "https://example.com/api/cse/3.0/operations/" + cmds[0].ID; got["task_href"] != want || len(got) != 1 {
				t.Errorf("answer %v, want task_href %s", got, want)
			}
			d := decode[cse.Ovdc](t, h.do(http.MethodGet, base+"/ovdc/"+tt.id, "", provider()))
			if !slices.Equal(d.K8sRuntime, tt.runtimes) {
				t.Errorf("runtimes now %v, want %v", d.K8sRuntime, tt.runtimes)
			}
		})
	}
}

// GET system answers at any API version a client asks for (CSE serves it at every one: it
// is how a client learns which the server speaks), in CSE 3.1.4's keys, naming the newest
// version served and every one; other routes keep to the versions served.
func TestSystemInfoShape(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct {
		accept string
		status int
	}{
		{"application/json;version=34.0", 200}, {"application/json;version=36.0", 200}, {"application/json", 200},
		{"application/json;version=99.0", 200}, {"application/json;version=x", 406}, {"application/xml", 406},
	} {
		rec := h.do(http.MethodGet, "/api/cse/system", "", accept(tt.accept))
		if rec.Code != tt.status {
			t.Errorf("Accept %q: %d, want %d: %s", tt.accept, rec.Code, tt.status, rec.Body)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Accept %q: Content-Type %q", tt.accept, ct)
		}
		if tt.status != 200 {
			continue
		}
		var info map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
			t.Fatal(err)
		}
		want := []string{"cse_server_api_version", "cse_server_running_in_legacy_mode", "cse_server_supported_api_versions", "description",
			"product", "status", "version"}
		if got := keysOf(t, rec.Body.Bytes()); !slices.Equal(got, want) {
			t.Errorf("a tenant's keys %v, want %v", got, want)
		}
		if info["cse_server_api_version"] != "36.0" || info["cse_server_running_in_legacy_mode"] != false ||
			!slices.Equal(strings.Fields(fmt.Sprint(info["cse_server_supported_api_versions"])), []string{"[35.0", "36.0]"}) {
			t.Errorf("versions %v", info)
		}
	}
	wantError(t, h.do(http.MethodGet, base+"/clusters", "", accept("application/json;version=34.0")), 406, cse.MinorDefault, "Invalid api version")
	// Providers also see what the service holds.
	if got := keysOf(t, h.do(http.MethodGet, "/api/cse/system", "", provider()).Body.Bytes()); !slices.Contains(got, "clusters") {
		t.Errorf("a provider's keys %v", got)
	}
}

// templateKeys are the keys of CSE 3.1.4's template list entries; its client reads name,
// revision, catalog, catalog_item and description, and the upgrade plan's kubernetes_version,
// docker_version, cni and cni_version.
var templateKeys = []string{"catalog", "catalog_item", "cni", "cni_version", "deprecated", "description", "docker_version", "is_default",
	"kind", "kubernetes", "kubernetes_version", "name", "os", "revision"}

func TestTemplateAndUpgradePlanShapes(t *testing.T) {
	h := newHarness(t)
	tmpl := func(name, k8s string) events.Template {
		return events.Template{Name: name, Revision: 1, Catalog: "kaas-templates", KubernetesVersion: k8s, OS: "ubuntu-22.04",
			CNI: events.Component{Name: "antrea", Version: "1.14.0"}, DockerVersion: "containerd 1.7"}
	}
	h.views.ApplyEvent(6, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
		Payload: events.CloudSynced{Templates: []events.Template{tmpl("ubuntu-k8s-1.29", "v1.29.3"), tmpl("ubuntu-k8s-1.30", "v1.30.1")}}})

	rec := h.do(http.MethodGet, "/api/cse/templates", "")
	golden(t, "templates", rec.Body.Bytes())
	list := decode[[]json.RawMessage](t, rec)
	if len(list) != 2 {
		t.Fatalf("templates: %s", rec.Body)
	}
	for _, v := range list {
		if got := keysOf(t, v); !slices.Equal(got, templateKeys) {
			t.Errorf("template keys %v, want %v", got, templateKeys)
		}
	}

	id, _ := h.running("c1")
	rec = h.do(http.MethodGet, clusterPath(id)+"/upgrade-plan", "")
	plan := decode[[]json.RawMessage](t, rec)
	if len(plan) != 1 {
		t.Fatalf("upgrade plan: %s", rec.Body)
	}
	if got := keysOf(t, plan[0]); !slices.Equal(got, templateKeys) {
		t.Errorf("upgrade plan keys %v, want %v", got, templateKeys)
	}
	var to cse.Template
	_ = json.Unmarshal(plan[0], &to)
	if to.Name != "ubuntu-k8s-1.30" || to.KubernetesVersion != "1.30.1" || to.DockerVersion != "containerd 1.7" || to.CNI != "antrea" || to.CNIVersion != "1.14.0" {
		t.Errorf("upgrade plan %+v", to)
	}
}

// GET acl answers CSE's entries, {accessLevelId, memberId, username}, each user named as
// VCD names it (or as the sharer did, for a user kaas has not read), paged so that CSE's
// share path, which reads pages until one is empty, ends.
func TestACLListShape(t *testing.T) {
	const dave = "urn:vcloud:user:d0000000-0000-4000-8000-00000000000d" // VCD never listed him
	h := newHarness(t)
	id, _ := h.running("c1")
	body := fmt.Sprintf(`{"accessSetting":[{"memberId":%q,"username":"robert","accessLevelId":"urn:vcloud:accessLevel:ReadOnly"},
		{"memberId":%q,"accessLevelId":"urn:vcloud:accessLevel:ReadWrite","grantType":"MembershipAccessControlGrant"},
		{"memberId":%q,"username":"dave","accessLevelId":"urn:vcloud:accessLevel:FullControl"}]}`, bob, carol, dave)
	if rec := h.do(http.MethodPut, clusterPath(id)+"/acl", body); rec.Code != 204 {
		t.Fatalf("share: %d %s", rec.Code, rec.Body)
	}
	h.exec.runAll()
	h.views.ApplyEvent(6, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
		Payload: events.CloudSynced{Users: []events.User{{ID: bob, Name: "bob", OrgID: orgA}, {ID: carol, Name: "carol", OrgID: orgA}}}})

	rec := h.do(http.MethodGet, clusterPath(id)+"/acl?page=1&pageSize=2", "")
	golden(t, "acl_page1", rec.Body.Bytes())
	var names []string
	for page := 1; ; page++ {
		p := decode[cse.Page[json.RawMessage]](t, h.do(http.MethodGet, fmt.Sprintf("%s/acl?page=%d&pageSize=2", clusterPath(id), page), ""))
		if p.ResultTotal != 3 || p.Values == nil {
			t.Fatalf("page %d: %+v", page, p)
		}
		if len(p.Values) == 0 {
			break
		}
		if page > 3 {
			t.Fatal("pages never end")
		}
		for _, v := range p.Values {
			if got := keysOf(t, v); !slices.Equal(got, []string{"accessLevelId", "memberId", "username"}) {
				t.Errorf("entry keys %v", got)
			}
			var e map[string]string
			_ = json.Unmarshal(v, &e)
			names = append(names, e["username"])
		}
	}
	if want := []string{"bob", "carol", "dave"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
}
