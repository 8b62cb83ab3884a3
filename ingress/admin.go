package ingress

import (
	"context"
	"net/http"
	"time"

	"github.com/kaasproject/kaas/events/cse"
)

// Admin is what the API asks of the process that runs it, beyond the views: the provider's
// operations on kaasd itself. Deploy implements it.
type Admin interface {
	// Replay rebuilds the views beside the live ones and compares them; with swap, the
	// rebuilt views then replace the live ones.
	Replay(ctx context.Context, swap bool) (ReplayReport, error)
	// Stop stops this process gracefully: PUT /api/cse/system {"server_action": "stop"}
	// calls it.
	Stop()
	// RunningConfig returns the process's configuration with secrets removed, for GET
	// /api/cse/system/config.
	RunningConfig() any
}

// ReplayReport is what a replay found (deploy adapts the projector's report to it).
type ReplayReport struct {
	// CommandSeq and EventSeq are the sequences the rebuilt views were compared at.
	CommandSeq, EventSeq uint64
	// Clusters and Operations count what the rebuilt views hold.
	Clusters, Operations int
	// Differences lists where the rebuilt views differ from the live ones.
	Differences []string
	// Swapped is set when the rebuilt views replaced the live ones.
	Swapped bool
	// Took is how long the replay took.
	Took time.Duration
}

// replay answers kaas's POST /api/cse/3.0/admin/replay, for providers: the views rebuilt
// from sequence 1 beside the live ones, which keep serving, and the differences listed;
// with swap=true the rebuilt views then replace the live ones.
func (a *API) replay(c *call) reply {
	if bad := providerOnly(c, "replay"); bad != nil {
		return *bad
	}
	if a.cfg.Admin == nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "this kaasd does not run the projector")
	}
	swap := c.r.URL.Query().Get("swap") == "true"
	if swap {
		c.log().Warn("replay with swap asked for", "user", c.caller.User)
	}
	rep, err := a.cfg.Admin.Replay(c.ctx, swap)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "replay failed; try again: %v", err)
	}
	if len(rep.Differences) > 0 {
		c.log().Error("rebuilt views differ from the live ones", "differences", len(rep.Differences))
	}
	diff := rep.Differences
	if diff == nil {
		diff = []string{} // "differences": [], never null
	}
	return ok(http.StatusOK, cse.ReplayReport{CommandSeq: rep.CommandSeq, EventSeq: rep.EventSeq, Clusters: rep.Clusters,
		Operations: rep.Operations, Differences: diff, Swapped: rep.Swapped, Seconds: rep.Took.Seconds()})
}
