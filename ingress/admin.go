package ingress

import (
	"context"
	"net/http"

	"github.com/kaasproject/kaas/events/cse"
)

// Admin is what the API asks of the process that runs it, beyond the views: the provider's
// operations on kaasd itself. Deploy implements it.
type Admin interface {
	// Replay rebuilds the views beside the live ones and compares them; with swap, the
	// rebuilt views then replace the live ones.
	Replay(ctx context.Context, swap bool) (cse.ReplayReport, error)
	// Stop stops this process gracefully: PUT /api/cse/system {"server_action": "stop"}
	// calls it.
	Stop()
	// RunningConfig returns the process's configuration with secrets removed, for GET
	// /api/cse/system/config.
	RunningConfig() any
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
	return ok(http.StatusOK, rep)
}
