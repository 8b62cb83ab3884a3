package ingress

import (
	"net/http"
	"slices"
	"strings"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

func (a *API) listOvdcs(c *call) reply { return ok(http.StatusOK, a.cloud.VDCs(c.ctx, c.p)) }

func (a *API) getOvdc(c *call) reply {
	d, err := a.cloud.VDC(c.ctx, c.p, c.args[0])
	if err != nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "org VDC %s not found", c.args[0])
	}
	return ok(http.StatusOK, d)
}

// putOvdc answers CSE's PUT /api/cse/3.0/ovdc/{id}: a provider enables (or disables) an
// org VDC for Kubernetes. kaas provisions the native runtime only.
func (a *API) putOvdc(c *call) reply {
	if bad := providerOnly(c, "enabling an org VDC"); bad != nil {
		return *bad
	}
	var in cse.OvdcUpdate
	if bad := decodeStrict(c, &in); bad != nil {
		return *bad
	}
	if in.K8sRuntime == nil {
		return fail(http.StatusBadRequest, cse.MinorDefault, "k8s_runtime: missing: give the runtimes to enable, [] to disable")
	}
	for _, r := range in.K8sRuntime {
		if r != events.RuntimeNative {
			return fail(http.StatusBadRequest, cse.MinorDefault, "k8s_runtime %q: kaas provisions %q clusters only", r, events.RuntimeNative)
		}
	}
	d, err := a.cloud.VDC(c.ctx, c.p, c.args[0])
	if err != nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "org VDC %s not found (POST /api/cse/templates/action/reload reads VCD's VDCs again)", c.args[0])
	}
	// CSE's client sends its whole model, the names null; names given must be the VDC's.
	if (in.OrgName != "" && !strings.EqualFold(in.OrgName, d.OrgName)) || (in.OvdcName != "" && in.OvdcName != d.Name) ||
		(in.OvdcID != "" && !strings.EqualFold(cse.OvdcID(in.OvdcID), d.ID)) {
		return fail(http.StatusBadRequest, cse.MinorOvdcNameInvalid, "org VDC %s is %s of org %s, not %s", d.ID, d.Name, d.OrgName, named(in))
	}
	runtimes := slices.Compact(slices.Sorted(slices.Values(in.K8sRuntime)))
	return a.acceptCloud(c, events.SetVDCRuntimes{VDC: events.VDC{ID: cse.VDCURN(d.ID), Name: d.Name, OrgName: d.OrgName}, Runtimes: runtimes},
		http.StatusAccepted, nil)
}

// named says which org VDC a PUT ovdc/{id} body names, for a refusal.
func named(in cse.OvdcUpdate) string {
	var parts []string
	if in.OvdcName != "" {
		parts = append(parts, in.OvdcName)
	}
	if in.OrgName != "" {
		parts = append(parts, "of org "+in.OrgName)
	}
	if in.OvdcID != "" {
		parts = append(parts, "("+in.OvdcID+")")
	}
	return strings.Join(parts, " ")
}

// listOrgVdcs answers CSE's paged GET /api/cse/3.0/orgvdcs, whose entries are the same
// objects as GET ovdcs' (CSE 3.1.4's _get_cse_ovdc_list serves both).
func (a *API) listOrgVdcs(c *call) reply { return paged(a, c, a.cloud.VDCs(c.ctx, c.p)) }
