package ingress

import (
	"net/http"

	"github.com/kaasproject/kaas/events/cse"
)

// replay answers kaas's POST /api/cse/3.0/admin/replay, for providers: the views rebuilt
// from sequence 1 beside the live ones, which keep serving, and the differences listed;
// with swap=true the rebuilt views then replace the live ones.
func (a *API) replay(c *call) reply {
	if bad := providerOnly(c, "replay"); bad != nil {
		return *bad
	}
	if a.cfg.Replay == nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "this kaasd does not run the projector")
	}
	swap := c.r.URL.Query().Get("swap") == "true"
	if swap {
		c.log().Warn("replay with swap asked for", "user", c.caller.User)
	}
	rep, err := a.cfg.Replay(c.ctx, swap)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "replay failed; try again: %v", err)
	}
	if len(rep.Differences) > 0 {
		c.log().Error("rebuilt views differ from the live ones", "differences", len(rep.Differences))
	}
	return ok(http.StatusOK, rep)
}
