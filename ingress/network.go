package ingress

import (
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
)

// checkNetwork refuses a create whose network the org VDC does not have, or whose pod or
// service block overlaps the subnet the nodes get their addresses in, when kaas knows the
// VDC's networks (from VCD's last cloud sync); when it does not, the executor finds out.
func (a *API) checkNetwork(c *call, spec events.ClusterSpec) *reply {
	nets, known := a.cloud.VDCNetworks(c.ctx, spec.OrgName, spec.VDC)
	if !known {
		return nil
	}
	if err := cluster.ValidateNetwork(spec, nets); err != nil {
		r := rejection(err)
		return &r
	}
	return nil
}

// checkOffers refuses a sizing class or storage profile the org VDC does not offer, for the
// pools named, when kaas knows what it offers (from VCD's last cloud sync); when it does
// not, the executor finds out.
func (a *API) checkOffers(c *call, spec events.ClusterSpec, pools ...string) *reply {
	if err := cluster.ValidateOffers(spec, a.cloud.VDCOffers(c.ctx, spec.OrgName, spec.VDC), pools...); err != nil {
		r := rejection(err)
		return &r
	}
	return nil
}
