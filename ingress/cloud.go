package ingress

import (
	"context"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

// CloudReader answers about the cloud kaas serves: the org VDCs and orgs it read from VCD,
// and the service's state.
type CloudReader interface {
	// VDCs lists the org VDCs the principal may see; VDC returns one.
	VDCs(ctx context.Context, p cluster.Principal) []cse.Ovdc
	VDC(ctx context.Context, p cluster.Principal, id string) (cse.Ovdc, error)
	// VDCEnabled reports whether the org VDC is enabled for Kubernetes.
	VDCEnabled(ctx context.Context, orgName, vdcName string) bool
	// VDCNetworks returns the org VDC's networks as VCD last listed them; known is false
	// when kaas has not read them.
	VDCNetworks(ctx context.Context, orgName, vdcName string) (nets []events.Network, known bool)
	// VDCOffers returns the storage profiles and sizing policies the org VDC offers VMs, as
	// VCD last listed them.
	VDCOffers(ctx context.Context, orgName, vdcName string) cluster.Offers
	// OrgID returns the URN of the org of that name, from VCD's org VDCs; "" if unknown.
	OrgID(ctx context.Context, orgName string) string
	// ServiceEnabled reports whether the service takes requests.
	ServiceEnabled(ctx context.Context) bool
	// CloudSynced reports whether VCD's templates and VDCs were read at least once.
	CloudSynced(ctx context.Context) bool
}

// acceptCloud appends a command to the cloud aggregate and answers 202 with where its
// progress is served, as CSE answers with a task.
func (a *API) acceptCloud(c *call, p events.Payload, status int, body any) reply {
	cmdID, again := a.redelivered(c)
	if !again {
		if _, err := a.accept(c, events.CloudID, p); err != nil {
			return unrecorded(err)
		}
	}
	if body == nil {
		// CSE's client GETs task_href as it is and polls it as a VCD task: it must be
		// absolute, and is the operation's VCD task once the mirror made it.
		href := a.absolute(c, OperationHref(cmdID))
		if _, ok := p.(events.SetVDCRuntimes); ok { // an operation with a VCD task, as CSE's
			if h := a.taskHref(c, cmdID); h != OperationHref(cmdID) {
				href = h
			}
		}
		body = map[string]string{"task_href": href}
	}
	return reply{status: status, body: body, location: OperationHref(cmdID)}
}
