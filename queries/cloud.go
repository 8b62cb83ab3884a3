package queries

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
)

// VDCs returns the org VDCs the principal may see: its org's, or every org's for a provider.
func (q *Queries) VDCs(ctx context.Context, p cluster.Principal) []cse.Ovdc {
	all, orgs := q.vdcs()
	if p.Provider {
		return slices.Clone(all)
	}
	out := []cse.Ovdc{}
	for i, d := range all {
		if orgs[i] == p.Org {
			out = append(out, d)
		}
	}
	return out
}

// vdcCache is the org VDCs as last rendered, and the version of the views' cloud they
// were made from: while it stays, so do they. Rendering every org VDC on each provider's
// page of a thousand would otherwise be most of the request.
type vdcCache struct {
	mu      sync.Mutex
	version uint64
	ok      bool
	list    []cse.Ovdc // never nil
	orgs    []string   // the org of each of list
}

// vdcs returns every org VDC, rendered, in the views' order, and the org of each; callers
// must not change them.
func (q *Queries) vdcs() ([]cse.Ovdc, []string) {
	c := &q.vdcCache
	c.mu.Lock()
	defer c.mu.Unlock()
	version := q.views.CloudVersion()
	if c.ok && c.version == version {
		return c.list, c.orgs
	}
	all := q.views.Cloud().VDCs
	list, orgs := make([]cse.Ovdc, len(all)), make([]string, len(all))
	for i, d := range all {
		list[i], orgs[i] = ovdc(d), d.OrgID
	}
	// Kept only if the cloud did not change meanwhile: then list is what it was at version.
	if q.views.CloudVersion() == version {
		c.version, c.ok, c.list, c.orgs = version, true, list, orgs
	}
	return list, orgs
}

// VDC returns one org VDC the principal may see, named by its URN or, as CSE's routes
// name it, its bare UUID.
func (q *Queries) VDC(ctx context.Context, p cluster.Principal, id string) (cse.Ovdc, error) {
	urn := cse.VDCURN(id)
	for _, d := range q.views.Cloud().VDCs {
		if strings.EqualFold(d.ID, urn) && (p.Provider || d.OrgID == p.Org) {
			return ovdc(d), nil
		}
	}
	return cse.Ovdc{}, fmt.Errorf("org VDC %s: %w", id, ErrNotFound)
}

func ovdc(d projector.VDCView) cse.Ovdc {
	rt := d.Runtimes
	if rt == nil {
		rt = []string{}
	}
	return cse.Ovdc{Name: d.Name, ID: cse.OvdcID(d.ID), OrgName: d.OrgName, K8sRuntime: rt}
}

// VDCEnabled reports whether an org VDC, named as a tenant names it in a cluster spec, is
// enabled for Kubernetes.
func (q *Queries) VDCEnabled(ctx context.Context, orgName, vdcName string) bool {
	d, ok := q.views.Cloud().VDCNamed(orgName, vdcName)
	return ok && d.Enabled()
}

// VDCNetworks returns the networks of an org VDC, named as a tenant names it in a cluster
// spec, as VCD last listed them; known is false when kaas has not read them (no sync since
// kaas reads networks, or the VDC is not one it knows).
func (q *Queries) VDCNetworks(ctx context.Context, orgName, vdcName string) (nets []events.Network, known bool) {
	if d, ok := q.views.Cloud().VDCNamed(orgName, vdcName); ok {
		return d.Networks, d.NetworksKnown
	}
	return nil, false
}

// VDCOffers returns what an org VDC, named as a tenant names it in a cluster spec, offers
// VMs (storage profiles, sizing policies) as VCD last listed it; each list is known only
// once a sync read it.
func (q *Queries) VDCOffers(ctx context.Context, orgName, vdcName string) cluster.Offers {
	if d, ok := q.views.Cloud().VDCNamed(orgName, vdcName); ok {
		return cluster.Offers{StorageProfiles: d.StorageProfiles, StorageProfilesKnown: d.StorageProfilesKnown,
			SizingPolicies: d.SizingPolicies, SizingPoliciesKnown: d.SizingPoliciesKnown}
	}
	return cluster.Offers{}
}

// ServiceEnabled reports whether the service takes requests.
func (q *Queries) ServiceEnabled(ctx context.Context) bool { return q.views.ServiceEnabled() }

// CloudSynced reports whether VCD's templates and VDCs were read at least once.
func (q *Queries) CloudSynced(ctx context.Context) bool { return q.views.CloudSynced() }

// OrgID returns the URN of the org of that name, as VCD listed it with its VDCs.
func (q *Queries) OrgID(ctx context.Context, orgName string) string {
	for _, d := range q.views.Cloud().VDCs {
		if strings.EqualFold(d.OrgName, orgName) && d.OrgID != "" {
			return d.OrgID
		}
	}
	return ""
}
