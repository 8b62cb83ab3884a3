package rde_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/rde"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/executors/vcd"
)

// bare starts vcdsim with nothing of kaas's registered, with a second tenant org, and logs
// in as its provider.
func bare(t *testing.T) *govcd.VCDClient {
	t.Helper()
	cfg := kaasdtest.FastSim()
	cfg.Orgs = append(cfg.Orgs, vcdsim.OrgConfig{Name: "beta",
		VDCs:  []vcdsim.VDCConfig{{Name: "beta-vdc", Networks: []vcdsim.NetworkConfig{{Name: "beta-net", Gateway: "10.2.0.1", Pool: "10.2"}}}},
		Users: []vcdsim.UserConfig{{Name: "barb", Password: "barb-pass", Rights: []string{"cse:nativeCluster: View"}}}})
	sys := kaasdtest.StartBare(t, cfg)
	vc, err := vcd.Login(t.Context(), sys.Config.VCDConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	return vc
}

func register(t *testing.T, vc *govcd.VCDClient, p rde.Publish) rde.Report {
	t.Helper()
	r, err := rde.Register(t.Context(), vc, rde.Config{Publish: p})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func actions(items []rde.Item) string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID+" "+string(it.Action))
	}
	return strings.Join(out, "; ")
}

// typeACL lists the access controls VCD keeps on an entity type.
func typeACL(t *testing.T, vc *govcd.VCDClient, typeID string) []types.DefinedEntityAccess {
	t.Helper()
	u, err := vc.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + fmt.Sprintf(types.OpenApiEndpointRdeEntityAccessControls, typeID))
	if err != nil {
		t.Fatal(err)
	}
	var out []types.DefinedEntityAccess
	if err := vc.Client.OpenApiGetAllItems(vc.Client.APIVersion, u, nil, &out, nil); err != nil {
		t.Fatalf("access controls of %s: %v", typeID, err)
	}
	return out
}

func sameSchema(t *testing.T, a, b map[string]any) bool {
	t.Helper()
	return reflect.DeepEqual(asJSON(t, a), asJSON(t, b))
}

// A VCD that never saw kaas gets what CSE's installer registers; a second run changes
// nothing; VCD shows the types, the bundle and its rights as registered.
func TestRegisterIsIdempotent(t *testing.T) {
	vc := bare(t)
	if ids, missing, err := rde.RightIDs(t.Context(), vc); err != nil || len(ids) != 0 || len(missing) != 5 {
		t.Fatalf("before registering: rights %v, missing %v, err %v", ids, missing, err)
	}

	first := register(t, vc, rde.Publish{})
	want := rde.InterfaceK8s + " found; " + rde.InterfaceCSE + " created"
	if got := actions(first.Interfaces); got != want {
		t.Errorf("interfaces: %s, want %s", got, want)
	}
	if got := actions(first.Types); got != "urn:vcloud:type:cse:nativeCluster:1.0.0 created; urn:vcloud:type:cse:nativeCluster:2.1.0 created" {
		t.Errorf("types: %s", got)
	}
	if first.BundleName != rde.Bundle || !strings.HasPrefix(first.BundleID, "urn:vcloud:rightsBundle:") {
		t.Errorf("bundle %q %q", first.BundleName, first.BundleID)
	}
	names := slices.Sorted(maps.Values(first.Rights))
	if !slices.Equal(names, slices.Sorted(slices.Values(rde.RightNames))) {
		t.Errorf("bundle rights %v, want %v", names, rde.RightNames)
	}
	for urn := range first.Rights {
		if !strings.HasPrefix(urn, "urn:vcloud:right:") {
			t.Errorf("right id %q is not a right URN", urn)
		}
	}
	if len(first.Published) != 0 || len(first.AlreadyPublished) != 0 || !first.Changed() {
		t.Errorf("first run: %+v", first)
	}

	second := register(t, vc, rde.Publish{})
	if second.Changed() || !maps.Equal(second.Rights, first.Rights) || second.BundleID != first.BundleID {
		t.Errorf("second run changed something: %+v", second)
	}
	ids, missing, err := rde.RightIDs(t.Context(), vc)
	if err != nil || len(missing) != 0 || !maps.Equal(ids, first.Rights) {
		t.Errorf("rights by name: %v, missing %v, err %v; want the bundle's %v", ids, missing, err, first.Rights)
	}

	// What VCD shows, as CSE's clients read it.
	got, err := vc.GetAllRdeTypes(url.Values{"filter": {"nss==nativeCluster"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d nativeCluster types, want 2", len(got))
	}
	for i, et := range rde.EntityTypes(rde.API36) {
		var g *types.DefinedEntityType
		for _, x := range got {
			if x.DefinedEntityType.ID == et.ID {
				g = x.DefinedEntityType
			}
		}
		if g == nil {
			t.Fatalf("type %s not listed", et.ID)
		}
		if g.Name != rde.TypeName || g.Vendor != "cse" || g.Nss != "nativeCluster" || g.Version != et.Version ||
			!slices.Equal(g.Interfaces, et.Interfaces) || len(g.Hooks) != 0 || !sameSchema(t, g.Schema, et.Schema) {
			t.Errorf("type %d as VCD shows it: %+v", i, g)
		}
		acl := typeACL(t, vc, et.ID)
		if len(acl) != 1 || acl[0].MemberID != rde.SystemOrg || acl[0].AccessLevelID != "urn:vcloud:accessLevel:ReadWrite" ||
			acl[0].GrantType != "MembershipAccessControlGrant" {
			t.Errorf("access controls of %s: %+v, want one: the System org, ReadWrite", et.ID, acl)
		}
	}
	bundle, err := vc.Client.GetRightsBundleByName(rde.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	if tenants, err := bundle.GetTenants(nil); err != nil || len(tenants) != 0 {
		t.Errorf("published to %v (%v) with --publish-rights none", tenants, err)
	}
}

// The bundle goes to the orgs named, then to all; each org once.
func TestRegisterPublishes(t *testing.T) {
	vc := bare(t)
	tenants := func() []string {
		t.Helper()
		b, err := vc.Client.GetRightsBundleByName(rde.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := b.GetTenants(nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range refs {
			out = append(out, r.Name)
		}
		slices.Sort(out)
		return out
	}

	if _, err := rde.Register(t.Context(), vc, rde.Config{Publish: rde.Publish{Orgs: []string{"acme", "gamma"}}}); err == nil ||
		!strings.Contains(err.Error(), "no tenant org gamma") {
		t.Errorf("publishing to an org VCD does not have: %v", err)
	}
	if got := tenants(); len(got) != 0 {
		t.Errorf("a refused publish published to %v", got)
	}
	r := register(t, vc, rde.Publish{Orgs: []string{"ACME"}})
	if !slices.Equal(r.Published, []string{"acme"}) || len(r.AlreadyPublished) != 0 || !slices.Equal(tenants(), []string{"acme"}) {
		t.Errorf("publish to acme: %+v, tenants %v", r, tenants())
	}
	r = register(t, vc, rde.Publish{All: true})
	if !slices.Equal(r.Published, []string{"beta"}) || !slices.Equal(r.AlreadyPublished, []string{"acme"}) ||
		!slices.Equal(tenants(), []string{"acme", "beta"}) {
		t.Errorf("publish to all: %+v, tenants %v", r, tenants())
	}
	if r = register(t, vc, rde.Publish{All: true}); r.Changed() || len(r.AlreadyPublished) != 2 {
		t.Errorf("publishing to all again: %+v", r)
	}
}

// A type registered with another schema gets kaas's (cse upgrade's update path) and keeps
// what was set on it; one with kaas's schema is left alone.
func TestRegisterUpdatesSchema(t *testing.T) {
	vc := bare(t)
	old := map[string]any{"type": "object", "required": []any{"kind"}, "properties": map[string]any{"kind": map[string]any{"type": "string"}}}
	id := "urn:vcloud:type:cse:nativeCluster:2.1.0"
	if _, err := vc.CreateRdeType(&types.DefinedEntityType{ID: id, Name: "CSE's own", Description: "by CSE", Vendor: "cse", Nss: "nativeCluster",
		Version: "2.1.0", Interfaces: []string{rde.InterfaceK8s}, Schema: old}); err != nil {
		t.Fatal(err)
	}
	r := register(t, vc, rde.Publish{})
	if got := actions(r.Types); got != "urn:vcloud:type:cse:nativeCluster:1.0.0 created; "+id+" updated" {
		t.Errorf("types: %s", got)
	}
	cur, err := vc.GetRdeTypeById(id)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	for _, et := range rde.EntityTypes(rde.API36) {
		if et.ID == id {
			want = et.Schema
		}
	}
	g := cur.DefinedEntityType
	if !sameSchema(t, g.Schema, want) || g.Name != "CSE's own" || g.Description != "by CSE" || !slices.Equal(g.Interfaces, []string{rde.InterfaceK8s}) {
		t.Errorf("after the update: %+v", g)
	}
	if acl := typeACL(t, vc, id); len(acl) != 0 {
		t.Errorf("an existing type got access controls %+v (CSE gives them only to a type it creates)", acl)
	}
	if r = register(t, vc, rde.Publish{}); r.Changed() {
		t.Errorf("a second run changed %s", actions(r.Types))
	}
}

// Without VCD's own Kubernetes interface (a VCD before 10.2) there is nothing to
// implement: install says so and registers nothing. That VCD is vcdsim behind a proxy that
// answers for the interface as VCD answers for a missing one.
func TestRegisterNeedsVCDInterface(t *testing.T) {
	sys := kaasdtest.StartBare(t, kaasdtest.FastSim())
	target, err := url.Parse(sys.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = sys.HTTP.Transport
	old := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/interfaces/"+rde.InterfaceK8s) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"minorErrorCode":"ACCESS_TO_RESOURCE_IS_FORBIDDEN","message":"[ 1 ] Either you need some or all of the following rights [Base] to perform operations [Type: View] for ` + rde.InterfaceK8s + ` or the target entity is invalid.","stackTrace":null}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(old.Close)
	cfg := sys.Config.VCDConfig(nil)
	cfg.URL = old.URL + "/api"
	vc, err := vcd.Login(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rde.Register(t.Context(), vc, rde.Config{})
	if err == nil || !strings.Contains(err.Error(), "VCD has no interface "+rde.InterfaceK8s) {
		t.Fatalf("Register without %s: %v", rde.InterfaceK8s, err)
	}
	direct, err := vcd.Login(t.Context(), sys.Config.VCDConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.GetDefinedInterfaceById(rde.InterfaceCSE); err == nil {
		t.Error("CSE's interface was created although the install failed first")
	}
}

func TestReportPrint(t *testing.T) {
	r := rde.Report{
		Interfaces: []rde.Item{{ID: rde.InterfaceK8s, Name: "Kubernetes", Action: rde.Found}, {ID: rde.InterfaceCSE, Name: "CSE_K8s_interface", Action: rde.Created}},
		Types: []rde.Item{{ID: "urn:vcloud:type:cse:nativeCluster:1.0.0", Name: rde.TypeName, Action: rde.Created, Note: "ReadWrite for " + rde.SystemOrg},
			{ID: "urn:vcloud:type:cse:nativeCluster:2.1.0", Name: rde.TypeName, Action: rde.Updated}},
		BundleID: "urn:vcloud:rightsBundle:1", BundleName: rde.Bundle,
		Rights:    map[string]string{"urn:vcloud:right:2": rde.RightNames[1], "urn:vcloud:right:1": rde.RightNames[0]},
		Published: []string{"beta"}, AlreadyPublished: []string{"acme"},
	}
	var b strings.Builder
	r.Print(&b)
	want := `interface urn:vcloud:interface:vmware:k8s:1.0.0 (Kubernetes) found
interface urn:vcloud:interface:cse:k8s:1.0.0 (CSE_K8s_interface) created
entity type urn:vcloud:type:cse:nativeCluster:1.0.0 (nativeClusterEntityType) created; ReadWrite for urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9
entity type urn:vcloud:type:cse:nativeCluster:2.1.0 (nativeClusterEntityType) schema updated
no behaviors or hooks registered: kaas writes the entities itself
rights bundle "cse:nativeCluster Entitlement" (urn:vcloud:rightsBundle:1) holds 2 rights:
  urn:vcloud:right:1 = cse:nativeCluster: View
  urn:vcloud:right:2 = cse:nativeCluster: Modify
rights bundle published to beta
rights bundle already published to acme
`
	if b.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", b.String(), want)
	}
}

// APIVersion is CSE's choice among the versions VCD lists: 36.0 when listed, else 35.0.
func TestAPIVersion(t *testing.T) {
	for _, tc := range []struct {
		listed []string
		want   string
	}{
		{[]string{"33.0", "34.0", "35.0", "36.0", "37.0", "38.1"}, "36.0"},
		{[]string{"33.0", "34.0", "35.0", "37.0"}, "35.0"}, // vcdsim at 35.0, govcd's 37.0 kept
		{[]string{"35.0"}, "35.0"},
		{[]string{"33.0", "34.0"}, ""},
		{nil, ""},
	} {
		got, err := rde.APIVersion(tc.listed)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("APIVersion(%v) = %q, %v; want %q", tc.listed, got, err, tc.want)
		}
	}
	if rde.TypeID(rde.API35) != "urn:vcloud:type:cse:nativeCluster:1.0.0" || rde.TypeID(rde.API36) != "urn:vcloud:type:cse:nativeCluster:2.1.0" {
		t.Errorf("TypeID: %s, %s", rde.TypeID(rde.API35), rde.TypeID(rde.API36))
	}
}

// On a VCD whose highest API is 35.0 (VCD 10.2) Register registers what CSE registers there:
// type 1.0.0 implementing VCD's interface alone, no interface of CSE's; the client then
// finds 1.0.0 as the highest nativeCluster type.
func TestRegisterAt35(t *testing.T) {
	cfg := kaasdtest.FastSim()
	cfg.MaxAPIVersion = "35.0"
	sys := kaasdtest.StartBare(t, cfg)
	vc, err := vcd.Login(t.Context(), sys.Config.VCDConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	listed, err := rde.VCDVersions(t.Context(), vc)
	if err != nil {
		t.Fatal(err)
	}
	api, err := rde.APIVersion(listed)
	if err != nil || api != rde.API35 {
		t.Fatalf("VCD lists %v: API %q, %v", listed, api, err)
	}
	r, err := rde.Register(t.Context(), vc, rde.Config{APIVersion: api})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(r.Interfaces); got != rde.InterfaceK8s+" found" {
		t.Errorf("interfaces: %s", got)
	}
	if got := actions(r.Types); got != "urn:vcloud:type:cse:nativeCluster:1.0.0 created" {
		t.Errorf("types: %s", got)
	}
	if len(r.Rights) != 5 || r.APIVersion != rde.API35 {
		t.Errorf("report: %+v", r)
	}
	if _, err := vc.GetDefinedInterfaceById(rde.InterfaceCSE); err == nil {
		t.Errorf("interface %s made at API 35", rde.InterfaceCSE)
	}
	got, err := vc.GetAllRdeTypes(url.Values{"filter": {"nss==nativeCluster"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DefinedEntityType.Version != "1.0.0" || !slices.Equal(got[0].DefinedEntityType.Interfaces, []string{rde.InterfaceK8s}) {
		t.Fatalf("nativeCluster types in VCD: %d %+v", len(got), got)
	}
	var b strings.Builder
	r.Print(&b)
	if !strings.HasPrefix(b.String(), "VCD API 35.0: CSE's entity type urn:vcloud:type:cse:nativeCluster:1.0.0\n") {
		t.Errorf("report printed:\n%s", b.String())
	}
	if again, err := rde.Register(t.Context(), vc, rde.Config{APIVersion: api}); err != nil || again.Changed() {
		t.Errorf("second run: %+v, %v", again, err)
	}
}
