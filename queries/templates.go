package queries

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
)

// ProviderTemplates returns every template revision the provider has, with its state:
// those in the catalog, those kaas built, imported or retired, and those accepted and not
// started yet. Sorted by name, then revision.
func (q *Queries) ProviderTemplates(ctx context.Context) []cse.ProviderTemplate {
	tvs := q.views.Templates()
	out := make([]cse.ProviderTemplate, 0, len(tvs))
	for _, tv := range tvs {
		out = append(out, RenderProviderTemplate(tv))
	}
	return out
}

// RenderProviderTemplate turns a template revision's view into the provider's shape.
func RenderProviderTemplate(tv projector.TemplateView) cse.ProviderTemplate {
	t := tv.Template
	return cse.ProviderTemplate{Name: t.Name, Revision: t.Revision, KubernetesVersion: t.KubernetesVersion, OS: t.OS, CNI: t.CNI.Name,
		CNIVersion: t.CNI.Version, ContainerdVersion: t.ContainerdVersion, Description: t.Description, Deprecated: t.Deprecated,
		Source: t.Source, Rules: cse.TemplateRules{CPU: t.Rules.CPU, MemoryMB: t.Rules.MemoryMB, SizingPolicy: t.Rules.SizingPolicy},
		Catalog: t.Catalog, CatalogItem: tv.CatalogItem, Status: tv.Status, Step: tv.Step, GuestStep: tv.GuestStep,
		OperationID: tv.OperationID, TemplateID: tv.ID, Failure: kaasError(tv.Failure), Retrying: kaasError(tv.Retrying)}
}

// TemplateCommand returns the revision an accepted template command is for: what a
// redelivered build or import answers again.
func (q *Queries) TemplateCommand(ctx context.Context, opID string) (events.TemplateRef, bool) {
	return q.views.TemplateCommand(opID)
}

// ClustersUsing returns the clusters that exist (or whose create was accepted) and run,
// were asked on, or are being upgraded to the template revision, each as "<name> (org
// <org>)", sorted: what a delete of the revision would leave without their template.
func (q *Queries) ClustersUsing(ctx context.Context, ref events.TemplateRef) []string {
	var out []string
	for _, cv := range q.views.OrgClusters("") {
		var spec events.ClusterSpec
		uses := false
		if st := cv.State; st != nil && st.Exists {
			spec = st.Spec
			uses = (st.Template.Name == ref.Name && st.Template.Revision == ref.Revision) ||
				(st.Op != nil && st.Op.Target != nil && st.Op.Target.Name == ref.Name && st.Op.Target.Revision == ref.Revision)
		} else if o := cv.PendingCreate(); o != nil {
			spec = *o.Spec
		}
		if uses || spec.Template == ref {
			out = append(out, spec.Name+" (org "+spec.OrgName+")")
		}
	}
	slices.Sort(out)
	return out
}

// Templates returns the provider's templates in CSE's shape, sorted by name and revision.
func (q *Queries) Templates(ctx context.Context) []cse.Template {
	ts := q.views.Cloud().Templates
	out := make([]cse.Template, 0, len(ts))
	for _, t := range ts {
		out = append(out, cse.RenderTemplate(t))
	}
	slices.SortFunc(out, func(a, b cse.Template) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Revision - b.Revision
	})
	return out
}

// Template returns one template by name and revision.
func (q *Queries) Template(ctx context.Context, ref events.TemplateRef) (events.Template, bool) {
	for _, t := range q.views.Cloud().Templates {
		if t.Name == ref.Name && t.Revision == ref.Revision {
			return t, true
		}
	}
	return events.Template{}, false
}

// UpgradePlan returns the templates a cluster of the principal's may be upgraded to:
// kubeadm's rule, one minor version forward (or a newer patch), never a deprecated one.
func (q *Queries) UpgradePlan(ctx context.Context, p cluster.Principal, id string) ([]cse.Template, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || cv.Level(p) == cluster.LevelNone {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	from := ""
	if cv.State != nil {
		from = cv.State.Template.KubernetesVersion
	}
	out := []cse.Template{}
	if from == "" {
		return out, nil // not created yet: nothing to upgrade
	}
	for _, t := range q.views.Cloud().Templates {
		if t.Deprecated || t.KubernetesVersion == from || cluster.CanUpgrade(from, t.KubernetesVersion) != nil {
			continue
		}
		out = append(out, cse.RenderTemplate(t))
	}
	return out, nil
}
