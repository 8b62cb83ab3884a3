package ingress_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kaasproject/kaas/ingress"
)

// FuzzRequestBodies sends arbitrary bodies to every route that decodes one besides the
// cluster entity (which FuzzDecodeEntity covers): sharing, org VDC enablement, the service
// state, API 35's upgrade, and the provider's template build (a recipe), import and
// deprecation. Whatever the body, the answer is a success or a 4xx with CSE's
// error body, never a 5xx or a panic.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"accessSetting":[{"memberId":"urn:vcloud:user:1b2c0000-0000-4000-8000-000000000001","accessLevelId":"urn:vcloud:accessLevel:ReadOnly","grantType":"MembershipAccessControlGrant"}]}`,
		`{"accessSetting":[]}`, `{"accessSetting":null}`, `{"k8s_runtime":["native"],"org_name":"acme","ovdc_name":"vdc1"}`,
		`{"server_action":"disable"}`, `{"template_name":"t","template_revision":1}`, `[]`, `{}`, `null`, `{"a":1}{}`, "\xff",
		recipeJSON(nil), importJSON(nil), `{"deprecated":false}`, `{"deprecated":null}`, `{"name":"t","scripts":[{"name":"a"}]}`,
	} {
		f.Add([]byte(s))
	}
	h := newHarness(f)
	id, _ := h.create("fuzzed")
	provider := as(ingress.SystemOrg, root)
	routes := []struct {
		method, path string
		opts         []opt
	}{
		{http.MethodPut, clusterPath(id) + "/acl", nil},
		{http.MethodPost, clusterPath(id) + "/action/upgrade", nil},
		{http.MethodPut, base + "/ovdc/urn:vcloud:vdc:vdc1", []opt{provider}},
		{http.MethodPut, "/api/cse/system", []opt{provider}},
		{http.MethodPost, base + "/templates/action/build", []opt{provider}},
		{http.MethodPost, base + "/templates/action/import", []opt{provider}},
		{http.MethodPost, templatePath("ubuntu-k8s-1.29", 1) + "/action/deprecate", []opt{provider}},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h.t = t // the target runs one input at a time
		if containsAction(body) {
			return // disabling the service would refuse every later input: not what this fuzzes
		}
		for _, r := range routes {
			rec := h.do(r.method, r.path, string(body), r.opts...)
			switch {
			case rec.Code >= 500:
				t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, rec.Code, rec.Body)
			case rec.Code >= 400:
				var e struct {
					Message struct {
						Minor *int   `json:"minor error code"`
						Text  string `json:"error description"`
					} `json:"message"`
				}
				if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Message.Minor == nil || e.Message.Text == "" {
					t.Fatalf("%s %s %q: %d without CSE's error body: %s", r.method, r.path, body, rec.Code, rec.Body)
				}
			}
		}
	})
}

func containsAction(b []byte) bool {
	var m map[string]any
	return json.Unmarshal(b, &m) == nil && m["server_action"] != nil
}
