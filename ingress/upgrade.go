package ingress

import (
	"net/http"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

// upgradePlan answers CSE's GET cluster/{id}/upgrade-plan: the templates it may move to.
func (a *API) upgradePlan(c *call) reply {
	id, _, bad := a.target(c, cluster.LevelRead, "plan an upgrade of")
	if bad != nil {
		return *bad
	}
	plan, err := a.templates.UpgradePlan(c.ctx, c.p, id)
	if err != nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	}
	return ok(http.StatusOK, plan)
}

// upgradeAction answers API 35's POST cluster/{id}/action/upgrade, the way CSE 3.0 upgraded
// (36 upgrades through PUT of the whole entity).
func (a *API) upgradeAction(c *call) reply {
	var in struct {
		TemplateName      string `json:"template_name"`
		TemplateRevision  int    `json:"template_revision"`
		TemplateName2     string `json:"templateName"`
		TemplateRevision2 int    `json:"templateRevision"`
	}
	if bad := decodeStrict(c, &in); bad != nil {
		return *bad
	}
	ref := events.TemplateRef{Name: cmpOr(in.TemplateName, in.TemplateName2), Revision: max(in.TemplateRevision, in.TemplateRevision2)}
	if ref.Name == "" || ref.Revision < 1 {
		return fail(http.StatusBadRequest, cse.MinorDefault, "template_name and template_revision (1 or more) are required")
	}
	id, snap, bad := a.target(c, cluster.LevelWrite, "upgrade")
	if bad != nil {
		return *bad
	}
	if bad := a.upgradable(c, snap, ref); bad != nil {
		return *bad
	}
	unlock := a.locks.lock("cluster/" + id)
	defer unlock()
	return a.change(c, id, snap, events.UpgradeTemplate{Template: ref})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// upgradable refuses, before anything is appended, an upgrade the executor would only
// fail: to a template the catalog does not hold or has deprecated, or to Kubernetes that
// kubeadm cannot move the cluster to from the version it runs.
func (a *API) upgradable(c *call, snap cluster.Snapshot, ref events.TemplateRef) *reply {
	if bad := a.usableTemplate(c, ref); bad != nil {
		return bad
	}
	if snap.State == nil || snap.State.Template.KubernetesVersion == "" || !a.cloud.CloudSynced(c.ctx) {
		return nil
	}
	t, found := a.templates.Template(c.ctx, ref)
	if !found {
		return nil
	}
	if err := cluster.CanUpgrade(snap.State.Template.KubernetesVersion, t.KubernetesVersion); err != nil {
		r := fail(http.StatusBadRequest, cse.MinorDefault, "spec.distribution.templateName: %v (GET /api/cse/3.0/cluster/{id}/upgrade-plan lists the templates it can move to)", err)
		return &r
	}
	return nil
}
