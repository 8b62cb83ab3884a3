package queries_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

var tmplRecipe = events.Recipe{Name: "ubuntu-k8s-1.29", OS: "ubuntu-22.04", KubernetesVersion: "v1.29.8", ContainerdVersion: "1.7.20",
	CNI: events.RecipeCNI{Name: "antrea", Version: "1.14.0"}, Rules: events.TemplateRules{CPU: 2, SizingPolicy: "medium"}}

// TestProviderTemplates: a build in progress is shown with its step and its guest's, in
// the provider's keys; its operation is the provider's alone and names no cluster.
func TestProviderTemplates(t *testing.T) {
	s := newStream(t)
	id := events.TemplateID(tmplRecipe.Name, 2)
	b := s.Command("build-2", id, "urn:vcloud:org:system", provider.User, events.BuildTemplate{Recipe: tmplRecipe, Revision: 2})
	s.Event(b, events.TemplateBuildStarted{Recipe: tmplRecipe, Revision: 2, CatalogItem: "ubuntu-k8s-1.29_rev2"})
	s.Event(b, events.BuildVMStarted{})
	s.Event(b, events.TemplateBuildProgressed{Step: "containerd"})
	q := queriesOf(s)

	ts := q.ProviderTemplates(t.Context())
	if len(ts) != 1 {
		t.Fatalf("templates %+v", ts)
	}
	got, _ := json.Marshal(ts[0])
	want := `{"name":"ubuntu-k8s-1.29","revision":2,"kubernetes_version":"v1.29.8","os":"ubuntu-22.04","cni":"antrea","cni_version":"1.14.0",` +
		`"containerd_version":"1.7.20","description":"","deprecated":false,"source":"built","rules":{"cpu":2,"sizing_policy":"medium"},` +
		`"catalog":"","catalog_item":"ubuntu-k8s-1.29_rev2","status":"BUILDING","step":"customize: containerd","guest_step":"containerd",` +
		`"operation_id":"` + b.ID + `","template_id":"` + id + `"}`
	if string(got) != want {
		t.Errorf("provider template\n got %s\nwant %s", got, want)
	}

	o, err := q.Operation(t.Context(), provider, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Operation != events.TypeBuildTemplate || o.Status != projector.OpRunning || o.Step != "customize: containerd" || o.Percent == 0 ||
		o.ClusterID != id || o.ClusterURI != "" || o.Phase != "" || o.Target != "ubuntu-k8s-1.29 revision 2" {
		t.Errorf("operation %+v", o)
	}
	if _, err := q.Operation(t.Context(), admin(orgA), b.ID); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("a tenant reads a template operation: %v", err)
	}
	if _, err := q.Cluster(t.Context(), provider, id); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("a template revision read as a cluster: %v", err)
	}
	if r, ok := q.TemplateCommand(t.Context(), b.ID); !ok || r != (events.TemplateRef{Name: tmplRecipe.Name, Revision: 2}) {
		t.Errorf("TemplateCommand = %v, %v", r, ok)
	}
	if len(q.Templates(t.Context())) != 0 {
		t.Errorf("tenants see a revision being built")
	}
}

// TestClustersUsing: the clusters on a revision, created, being created, or being
// upgraded to it; not those deleted, nor those on another revision.
func TestClustersUsing(t *testing.T) {
	s := newStream(t)
	on1 := events.TemplateRef{Name: "ubuntu-k8s-1.29", Revision: 1} // projectortest.Spec's
	a := s.Create("alpha", orgA, alice)
	s.Run(a)
	s.Create("bravo", orgB, bob) // pending
	c := s.Create("charlie", orgA, alice)
	s.Run(c)
	s.Run(s.Command("delete-charlie", c.ClusterID, orgA, alice, events.DeleteCluster{}))
	other := spec("delta")
	other.Template.Revision = 2
	s.Run(s.Command("create-delta", clusterID("delta"), orgA, alice, events.CreateCluster{Spec: other}))
	q := queriesOf(s)
	if got := q.ClustersUsing(t.Context(), on1); !slices.Equal(got, []string{"alpha (org acme)", "bravo (org acme)"}) {
		t.Errorf("on revision 1: %v", got)
	}
	if got := q.ClustersUsing(t.Context(), events.TemplateRef{Name: "ubuntu-k8s-1.29", Revision: 2}); !slices.Equal(got, []string{"delta (org acme)"}) {
		t.Errorf("on revision 2: %v", got)
	}
	if got := q.ClustersUsing(t.Context(), events.TemplateRef{Name: "other", Revision: 1}); len(got) != 0 {
		t.Errorf("on another template: %v", got)
	}
}

// TestProviderTemplatesJSONKeys: every key the contract names is in the provider's shape.
func TestProviderTemplatesJSONKeys(t *testing.T) {
	b, _ := json.Marshal(cse.ProviderTemplate{})
	for _, k := range []string{"name", "revision", "kubernetes_version", "os", "cni", "cni_version", "containerd_version", "deprecated",
		"source", "rules", "catalog_item", "status", "template_id"} {
		if !strings.Contains(string(b), `"`+k+`":`) {
			t.Errorf("no key %q in %s", k, b)
		}
	}
}
