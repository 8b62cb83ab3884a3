package ingress_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events/cse"
)

// TestRoutes walks the route table: every route with every method, the dual-form and
// case-insensitive tokens, and paths that match nothing.
func TestRoutes(t *testing.T) {
	const scale = `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":3}}}}`
	tests := []struct {
		method string
		path   string // {urn}, {uuid} and {op} name the running cluster and its create
		body   string
		want   int
	}{
		{http.MethodGet, "/api/cse/3.0/clusters", "", 200},
		{http.MethodPost, "/api/cse/3.0/clusters", createBody("c2", "vdc1", 1), 202},
		{http.MethodPut, "/api/cse/3.0/clusters", scale, 405},
		{http.MethodDelete, "/api/cse/3.0/clusters", "", 405},
		{http.MethodPatch, "/api/cse/3.0/clusters", "", 405},
		{http.MethodGet, "/api/cse/3.0/cluster", "", 200}, // singular form of the list
		{http.MethodGet, "/api/cse/3.0/clusters/", "", 200},
		{http.MethodGet, "/api/cse/3.0/nativeclusters", "", 200},
		{http.MethodGet, "/api/cse/3.0/nativecluster", "", 200},
		{http.MethodPost, "/api/cse/3.0/nativeclusters", createBody("c2", "vdc1", 1), 405},

		{http.MethodGet, "/api/cse/3.0/cluster/{urn}", "", 200},
		{http.MethodGet, "/api/cse/3.0/clusters/{urn}", "", 200},
		{http.MethodGet, "/api/cse/3.0/cluster/{uuid}", "", 200},
		{http.MethodGet, "/api/cse/3.0/CLUSTER/{urn}", "", 200},
		{http.MethodGet, "/api/cse/3.0/Clusters/{urn}", "", 200},
		{http.MethodGet, "/api/CSE/3.0/cluster/{urn}", "", 200},
		{http.MethodGet, "/api/cse/3.0/cluster/{urn}/", "", 200},
		{http.MethodPut, "/api/cse/3.0/cluster/{urn}", scale, 202},
		{http.MethodPut, "/api/cse/3.0/clusters/{uuid}", scale, 202},
		{http.MethodDelete, "/api/cse/3.0/cluster/{urn}", "", 202},
		{http.MethodDelete, "/api/cse/3.0/Clusters/{urn}", "", 202},
		{http.MethodPost, "/api/cse/3.0/cluster/{urn}", "", 405},
		{http.MethodPatch, "/api/cse/3.0/cluster/{urn}", scale, 405},

		{http.MethodPost, "/api/cse/3.0/cluster/{urn}/action/force-delete", "", 202},
		{http.MethodPost, "/api/cse/3.0/clusters/{uuid}/ACTION/Force-Delete", "", 202},
		{http.MethodGet, "/api/cse/3.0/cluster/{urn}/action/force-delete", "", 405},
		{http.MethodDelete, "/api/cse/3.0/cluster/{urn}/action/force-delete", "", 405},

		{http.MethodGet, "/api/cse/3.0/operations/{op}", "", 200},
		{http.MethodGet, "/api/cse/3.0/operation/{op}", "", 200},
		{http.MethodGet, "/api/cse/3.0/Operations/{op}", "", 200},
		{http.MethodDelete, "/api/cse/3.0/operations/{op}", "", 405},
		{http.MethodPost, "/api/cse/3.0/operations/{op}", "", 405},

		// No such path: 404, whatever the method.
		{http.MethodGet, "/", "", 404},
		{http.MethodGet, "/api", "", 404},
		{http.MethodGet, "/api/cse/3.0", "", 404},
		{http.MethodGet, "/cse/3.0/clusters", "", 404},
		{http.MethodGet, "/api/cse/2.0/clusters", "", 404},
		{http.MethodGet, "/api/cse/3.0/clusterz", "", 404},
		{http.MethodGet, "/api/cse/3.0/templates", "", 403},                     // the provider's view of every revision
		{http.MethodGet, "/api/cse/3.0/cluster/{urn}/config", "", 400},          // the route exists; the cluster has no kubeconfig yet
		{http.MethodPost, "/api/cse/3.0/cluster/{urn}/action/upgrade", "", 400}, // API 35's upgrade: the route exists, the body is missing
		{http.MethodGet, "/api/cse/3.0/cluster/{urn}/action/upgrade", "", 405},
		{http.MethodGet, "/api/cse/3.0/cluster/{urn}/upgrade-plan", "", 200},
		{http.MethodGet, "/api/cse/3.0/cluster/{urn}/events", "", 200},
		{http.MethodGet, "/api/cse/3.0/cluster/{urn}/acl", "", 200},
		{http.MethodPost, "/api/cse/3.0/cluster/{urn}/acl", "", 405},
		{http.MethodGet, "/api/cse/system", "", 200},
		{http.MethodDelete, "/api/cse/system", "", 405},
		{http.MethodGet, "/api/cse/templates", "", 200},
		{http.MethodGet, "/api/cse/template", "", 200},
		{http.MethodPost, "/api/cse/templates/action/reload", "", 403}, // providers only
		{http.MethodGet, "/api/cse/3.0/ovdcs", "", 200},
		{http.MethodGet, "/api/cse/3.0/orgvdcs", "", 200},
		{http.MethodGet, "/api/cse/3.0/ovdc/urn:vcloud:vdc:vdc1", "", 200},
		{http.MethodPut, "/api/cse/3.0/ovdc/urn:vcloud:vdc:vdc1", "", 403}, // providers only
		{http.MethodGet, "/api/cse/3.0/ovdc/urn:vcloud:vdc:nope", "", 404},
		{http.MethodPost, "/api/cse/3.0/cluster/{urn}/action/force-delete/now", "", 404},
		{http.MethodDelete, "/api/cse/3.0/unknown", "", 404},
		{http.MethodGet, "/api/cse/3.0/operations", "", 404},
		// The path matches but names no cluster: the handler's 404.
		{http.MethodGet, "/api/cse/3.0/cluster/c1", "", 404},
		{http.MethodGet, "/api/cse/3.0/cluster/urn:vcloud:entity:cse:nativeCluster:not-a-uuid", "", 404},
		{http.MethodGet, "/api/cse/3.0/cluster/7c9e6679-7425-40de-944b-e07fc1f90ae7", "", 404},
		{http.MethodGet, "/api/cse/3.0/operations/7c9e6679-7425-40de-944b-e07fc1f90ae7", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			h := newHarness(t)
			id, op := h.running("c1")
			path := strings.NewReplacer("{urn}", cse.EntityID(id), "{uuid}", id, "{op}", op).Replace(tt.path)
			rec := h.do(tt.method, path, tt.body)
			if rec.Code != tt.want {
				t.Fatalf("%s %s: status %d, want %d: %s", tt.method, path, rec.Code, tt.want, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			switch {
			case rec.Code == 404 || rec.Code == 405:
				minor, desc := cseError(t, rec)
				if minor != cse.MinorDefault {
					t.Errorf("minor %d", minor)
				}
				if rec.Code == 405 && !strings.Contains(desc, "Method not allowed: "+tt.method) {
					t.Errorf("405 description %q", desc)
				}
			case rec.Code < 300:
				if !json200(rec.Body.Bytes()) {
					t.Errorf("body is not JSON: %s", rec.Body)
				}
			}
		})
	}
}

func json200(b []byte) bool {
	s := strings.TrimSpace(string(b))
	return strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")
}

func TestMethodNotAllowedNamesAllowedMethods(t *testing.T) {
	h := newHarness(t)
	for path, allowed := range map[string]string{
		base + "/clusters":       "GET, POST",
		base + "/nativeclusters": "GET",
		base + "/cluster/x":      "DELETE, GET, PUT",
	} {
		rec := h.do(http.MethodPatch, path, "")
		wantError(t, rec, http.StatusMethodNotAllowed, cse.MinorDefault, "(allowed: "+allowed+")")
	}
}

func TestAcceptNegotiation(t *testing.T) {
	tests := []struct {
		accept  string
		want    int
		version string // of the response's Content-Type
		text    string // of the error
	}{
		{"", 200, "36.0", ""},
		{"application/json", 200, "36.0", ""},
		{"application/json;version=36.0", 200, "36.0", ""},
		{"application/json;version=35.0", 200, "35.0", ""},
		{"application/json; version=35.0", 200, "35.0", ""},
		{"application/json ; version = 36.0", 200, "36.0", ""},
		{"Application/JSON;Version=36.0", 200, "36.0", ""},
		{"*/*;version=36.0", 200, "36.0", ""},
		{"*/*", 200, "36.0", ""},
		{"application/*+json;version=36.0", 200, "36.0", ""},
		{"application/json;charset=utf-8;version=35.0", 200, "35.0", ""},
		{"application/xml, application/json;version=35.0", 200, "35.0", ""},
		{"application/xml", 406, "", "CSE can only serve response as json."},
		{"application/*+xml;version=36.0", 406, "", "CSE can only serve response as json."},
		{"text/html", 406, "", "CSE can only serve response as json."},
		{"application/json;version=33.0", 406, "", "Invalid api version specified"},
		{"application/json;version=34.0", 406, "", "Invalid api version specified"},
		{"application/json;version=37.0", 406, "", "Invalid api version specified"},
		{"application/json;version=36", 406, "", "Invalid api version specified"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			h := newHarness(t)
			rec := h.do(http.MethodGet, base+"/clusters", "", accept(tt.accept))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == 406 {
				wantError(t, rec, 406, cse.MinorDefault, tt.text)
				return
			}
			if ct, want := rec.Header().Get("Content-Type"), "application/json;version="+tt.version; ct != want {
				t.Errorf("Content-Type %q, want %q", ct, want)
			}
		})
	}
	t.Run("a refused Accept appends nothing", func(t *testing.T) {
		h := newHarness(t)
		rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1), accept("application/xml"))
		wantError(t, rec, 406, cse.MinorDefault, "json")
		if n := len(h.cmds.commands()); n != 0 {
			t.Errorf("%d commands appended", n)
		}
	})
	t.Run("an unknown path is 404 before the Accept is judged", func(t *testing.T) {
		h := newHarness(t)
		wantError(t, h.do(http.MethodGet, base+"/nope", "", accept("application/xml")), 404, cse.MinorDefault, "not found")
	})
}

func TestSecurityContext(t *testing.T) {
	tests := []struct {
		name string
		opt  opt
	}{
		{"no caller", anonymous()},
		{"no org", as("", alice)},
		{"no user", as(orgA, "")},
	}
	for _, tt := range tests {
		for _, r := range []struct{ method, path, body string }{
			{http.MethodGet, base + "/clusters", ""},
			{http.MethodPost, base + "/clusters", createBody("c1", "vdc1", 1)},
			{http.MethodGet, base + "/nativeclusters", ""},
			{http.MethodDelete, base + "/cluster/7c9e6679-7425-40de-944b-e07fc1f90ae7", ""},
		} {
			t.Run(tt.name+" "+r.method+" "+r.path, func(t *testing.T) {
				h := newHarness(t)
				wantError(t, h.do(r.method, r.path, r.body, tt.opt), http.StatusUnauthorized, cse.MinorDefault, "security context")
				if n := len(h.cmds.commands()); n != 0 {
					t.Errorf("%d commands appended", n)
				}
			})
		}
	}
}
