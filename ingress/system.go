package ingress

import (
	"net/http"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// disabledMessage is CSE's answer to every route but system while the service is disabled.
const disabledMessage = "CSE service is disabled. Contact the System Administrator."

// getSystem answers CSE's GET /api/cse/system; providers also see what the service holds.
func (a *API) getSystem(c *call) reply {
	info := cse.SystemInfo{Product: "kaas", Version: a.cfg.Version, APIVersion: a.cfg.Versions[len(a.cfg.Versions)-1], SupportedVersion: a.cfg.Versions,
		Description: "Kubernetes as a Service for VMware Cloud Director, compatible with Container Service Extension 3.1", Status: "Running"}
	if !a.cloud.ServiceEnabled(c.ctx) {
		info.Status = "Disabled"
	}
	if c.p.Provider {
		n := len(a.clusters.Clusters(c.ctx, c.p))
		info.Clusters = &n
		inFlight := int(a.inFlight.Load())
		info.RequestsInFlight = &inFlight
		synced := "never"
		if a.cloud.CloudSynced(c.ctx) {
			synced = "yes"
		}
		info.TemplatesSynced = &synced
	}
	return ok(http.StatusOK, info)
}

// putSystem answers CSE's PUT /api/cse/system: {"server_action": "enable"|"disable"|"stop"}.
// Stop is graceful: requests in flight are answered and running steps recorded first.
func (a *API) putSystem(c *call) reply {
	if bad := providerOnly(c, "changing the service state"); bad != nil {
		return *bad
	}
	var in struct {
		Action string `json:"server_action"`
	}
	if bad := decodeStrict(c, &in); bad != nil {
		return *bad
	}
	switch in.Action {
	case "enable", "disable":
		enabled := in.Action == "enable"
		r := a.acceptCloud(c, events.SetServiceState{Enabled: enabled}, http.StatusOK,
			map[string]string{"message": "CSE service is " + in.Action + "d."})
		a.sync(c, "op/"+c.commandID())
		return r
	case "stop":
		if a.cfg.Admin == nil {
			return fail(http.StatusBadRequest, cse.MinorDefault, "this kaas cannot be stopped through the API")
		}
		c.log().Warn("graceful stop requested through the API", "user", c.caller.User)
		go a.cfg.Admin.Stop()
		return ok(http.StatusOK, map[string]string{"message": "CSE graceful shutdown started. Requests in flight are answered; operations carry on at the next start."})
	}
	return fail(http.StatusBadRequest, cse.MinorDefault, "server_action %q: use enable, disable or stop", in.Action)
}

// getSystemConfig answers CSE's GET /api/cse/system/config, for providers only (CSE meant
// it so, but its check never ran): the running configuration, secrets left out.
func (a *API) getSystemConfig(c *call) reply {
	if bad := providerOnly(c, "reading the service configuration"); bad != nil {
		return *bad
	}
	if a.cfg.Admin == nil {
		return ok(http.StatusOK, map[string]any{})
	}
	return ok(http.StatusOK, a.cfg.Admin.RunningConfig())
}
