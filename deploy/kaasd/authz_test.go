package kaasd_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
)

// principal is one kind of caller of the authorization matrix.
type principal struct {
	name, user, pass string
	// level is what it may do with alice's cluster: 0 none, 1 read, 2 write, 3 full.
	level     int
	canCreate bool
}

const (
	none = iota
	read
	write
	full
)

// TestAuthorizationMatrix calls every cluster route as every kind of principal, through the
// whole path (HTTPS to the simulated VCD, its security context over AMQP, kaasd), and checks
// each answer: the owner, an org administrator, users the cluster is shared with at each
// access level, a same-org user with the View right, one without rights, another org's
// administrator, and a provider.
func TestAuthorizationMatrix(t *testing.T) {
	cfg := kaasdtest.FastSim()
	fullAccess, view := "cse:nativeCluster: Full Access", "cse:nativeCluster: View"
	cfg.Orgs[0].Users = []vcdsim.UserConfig{
		{Name: "alice", Password: "alice-pass", Rights: []string{fullAccess}},
		{Name: "olga", Password: "p", Rights: []string{"cse:nativeCluster: Administrator Full access"}},
		{Name: "rita", Password: "p", Rights: []string{fullAccess}}, // shared ReadOnly
		{Name: "will", Password: "p", Rights: []string{fullAccess}}, // shared ReadWrite
		{Name: "fred", Password: "p", Rights: []string{fullAccess}}, // shared FullControl
		{Name: "vera", Password: "p", Rights: []string{view}},       // shared ReadWrite, but may only view
		{Name: "bob", Password: "p", Rights: []string{view}},        // not shared
		{Name: "carl", Password: "p"},                               // no rights at all
	}
	cfg.Orgs = append(cfg.Orgs, vcdsim.OrgConfig{Name: "globex",
		VDCs:  []vcdsim.VDCConfig{{Name: "globex-vdc", Networks: []vcdsim.NetworkConfig{{Name: "globex-net", Gateway: "10.2.0.1", Pool: "10.2"}}}},
		Users: []vcdsim.UserConfig{{Name: "eve", Password: "p", Rights: []string{"cse:nativeCluster: Administrator Full access"}}}})
	cfg.Catalog.Templates = append(cfg.Catalog.Templates, vcdsim.TemplateConfig{Name: "ubuntu-22.04_k8s-1.29_hang", Revision: 1,
		KubernetesVersion: "v1.29.8", OS: "ubuntu-22.04", CNI: "antrea", CNIVersion: "1.14.0", FailAt: "never"})
	e := startSimEnv(t, cfg)

	ps := []principal{
		{"owner", "alice@acme", "alice-pass", full, true},
		{"org administrator", "olga@acme", "p", full, true},
		{"shared ReadOnly", "rita@acme", "p", read, true},
		{"shared ReadWrite", "will@acme", "p", write, true},
		{"shared FullControl", "fred@acme", "p", full, true},
		{"shared ReadWrite, View right", "vera@acme", "p", read, false},
		{"same org, View right, not shared", "bob@acme", "p", none, false},
		{"same org, no rights", "carl@acme", "p", none, false},
		{"other org administrator", "eve@globex", "p", none, true},
		{"provider", "administrator@System", "kaas-admin", full, true},
	}
	tokens := map[string]string{}
	for _, p := range ps {
		tokens[p.user] = e.login(p.user, p.pass)
	}
	userID := func(login string) string { // the URN VCD's security context names the user by
		name, org, _ := strings.Cut(login, "@")
		return vcdsim.UserURN(org, name)
	}

	// alice's cluster, ready; and one that never finishes booting, busy for the whole test.
	e.token = tokens["alice@acme"]
	code, body := e.call("POST", "/api/cse/3.0/clusters", entity("shared", good, 1, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	opID := decode[cse.DefEntity](t, body).Entity.Status.Kaas.OperationID
	_, body = e.call("POST", "/api/cse/3.0/clusters", entity("stuck", "ubuntu-22.04_k8s-1.29_hang", 0, false))
	stuck := decode[cse.DefEntity](t, body).ID
	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("create ended %s", ent.Entity.Status.Phase)
	}
	acl := map[string]any{"accessSetting": []map[string]string{
		{"memberId": userID("rita@acme"), "username": "rita", "accessLevelId": "urn:vcloud:accessLevel:ReadOnly", "grantType": "MembershipAccessControlGrant"},
		{"memberId": userID("will@acme"), "username": "will", "accessLevelId": "urn:vcloud:accessLevel:ReadWrite"},
		{"memberId": userID("fred@acme"), "username": "fred", "accessLevelId": "urn:vcloud:accessLevel:FullControl"},
		{"memberId": userID("vera@acme"), "username": "vera", "accessLevelId": "urn:vcloud:accessLevel:ReadWrite"},
	}}
	for _, c := range []string{id, stuck} {
		if code, body := e.call("PUT", "/api/cse/3.0/cluster/"+c+"/acl", acl); code != http.StatusNoContent {
			t.Fatalf("share: %d %s", code, body)
		}
	}
	code, body = e.call("GET", "/api/cse/3.0/cluster/"+id+"/acl", nil)
	if page := decode[cse.Page[map[string]string]](t, body); code != 200 || page.ResultTotal != 4 || page.Values[0]["username"] != "rita" {
		t.Fatalf("acl: %d %s", code, body)
	}

	// What each level may do: the status of each route, by level.
	byLevel := func(p principal, n, r, w, f int) int { return []int{n, r, w, f}[p.level] }
	immutable := decode[cse.DefEntity](t, func() []byte { _, b := e.call("GET", "/api/cse/3.0/cluster/"+id, nil); return b }()).Entity
	immutable.Status = nil
	two := 2
	immutable.Spec.Topology.ControlPlane.Count = &two // refused as immutable by anyone allowed to change
	badCreate := map[string]any{"apiVersion": "cse.vmware.com/v2.1", "kind": "native", "metadata": map[string]any{"name": "Bad Name"}}
	type route struct {
		name, method, path string
		body               any
		want               func(principal) int
	}
	routes := []route{
		{"get", "GET", "/api/cse/3.0/cluster/" + id, nil, func(p principal) int { return byLevel(p, 404, 200, 200, 200) }},
		{"config", "GET", "/api/cse/3.0/cluster/" + id + "/config", nil, func(p principal) int { return byLevel(p, 404, 200, 200, 200) }},
		{"acl", "GET", "/api/cse/3.0/cluster/" + id + "/acl", nil, func(p principal) int { return byLevel(p, 404, 200, 200, 200) }},
		{"operation", "GET", "/api/cse/3.0/operations/" + opID, nil, func(p principal) int { return byLevel(p, 404, 200, 200, 200) }},
		{"change", "PUT", "/api/cse/3.0/cluster/" + id, immutable, func(p principal) int { return byLevel(p, 404, 403, 400, 400) }},
		{"share", "PUT", "/api/cse/3.0/cluster/" + id + "/acl", acl, func(p principal) int { return byLevel(p, 404, 403, 403, 204) }},
		// A busy cluster refuses a delete from anyone allowed to delete it, after the access check.
		{"delete busy", "DELETE", "/api/cse/3.0/cluster/" + stuck, nil, func(p principal) int { return byLevel(p, 404, 403, 403, 400) }},
		{"create", "POST", "/api/cse/3.0/clusters", badCreate, func(p principal) int {
			if p.canCreate {
				return 400
			}
			return 403
		}},
	}
	for _, p := range ps {
		for _, r := range routes {
			code, body := e.callAs(tokens[p.user], r.method, r.path, r.body)
			if want := r.want(p); code != want {
				t.Errorf("%s %s as %s (%s): %d, want %d: %.200s", r.method, r.name, p.name, p.user, code, want, body)
			}
			if p.level == none && (strings.Contains(string(body), "shared") || strings.Contains(string(body), strings.TrimPrefix(id, "urn:vcloud:entity:cse:nativeCluster:")) && code != 404) {
				t.Errorf("%s %s as %s leaks the cluster: %.300s", r.method, r.name, p.name, body)
			}
		}
		// Lists show the cluster to exactly those who may see it, and nothing of another org.
		for _, path := range []string{"/api/cse/3.0/clusters", "/api/cse/3.0/nativeclusters"} {
			code, body := e.callAs(tokens[p.user], "GET", path, nil)
			listed := strings.Contains(string(body), `"name":"shared"`)
			if code != 200 || listed != (p.level > none) {
				t.Errorf("GET %s as %s: %d, listed %v: %.300s", path, p.name, code, listed, body)
			}
		}
	}
	// The owner's last word: a forced delete by someone shared ReadWrite is refused, by the
	// owner done.
	if code, _ := e.callAs(tokens["will@acme"], "POST", "/api/cse/3.0/cluster/"+stuck+"/action/force-delete", nil); code != 403 {
		t.Errorf("force delete as ReadWrite: %d", code)
	}
	if code, body := e.call("POST", "/api/cse/3.0/cluster/"+stuck+"/action/force-delete", nil); code != http.StatusAccepted {
		t.Errorf("force delete as owner: %d %s", code, body)
	}
	if code, body := e.callAs(tokens["fred@acme"], "DELETE", "/api/cse/3.0/cluster/"+id, nil); code != http.StatusAccepted {
		t.Errorf("delete as FullControl: %d %s", code, body)
	}
	e.waitGone(id)
	e.waitGone(stuck)

	// A provider creates in a tenant's org: the cluster is that org's, owned by the provider,
	// seen by the org's administrator and not by its other users.
	e.token = tokens["administrator@System"]
	code, body = e.call("POST", "/api/cse/3.0/clusters", entity("by-provider", good, 0, true))
	if code != http.StatusAccepted {
		t.Fatalf("provider create: %d %s", code, body)
	}
	made := e.waitPhase(decode[cse.DefEntity](t, body).ID)
	if made.Entity.Status.Phase != "CREATE:SUCCEEDED" || made.Org.Name != "acme" || made.Org.ID != vcdsim.OrgURN("acme") {
		t.Fatalf("provider's cluster: %s in %+v", made.Entity.Status.Phase, made.Org)
	}
	for user, sees := range map[string]bool{"olga@acme": true, "alice@acme": false, "eve@globex": false} {
		_, body := e.callAs(tokens[user], "GET", "/api/cse/3.0/clusters", nil)
		if got := strings.Contains(string(body), "by-provider"); got != sees {
			t.Errorf("%s sees the provider's cluster: %v", user, got)
		}
	}
}
