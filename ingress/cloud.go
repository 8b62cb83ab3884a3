package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

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

// HistoryReader answers from the recorded history: a cluster's events and past states,
// the audit across clusters and the check of the hash chains.
type HistoryReader interface {
	// History returns the recorded events of a cluster the principal may see.
	History(ctx context.Context, p cluster.Principal, id string) ([]cse.Event, error)
	// ClusterAsOf returns a cluster as it was at a past moment; an error wrapping ErrNotYet
	// when it did not exist then.
	ClusterAsOf(ctx context.Context, p cluster.Principal, id string, at time.Time) (cse.DefEntity, error)
	// Audit returns the records across clusters and orgs a provider asked for.
	Audit(ctx context.Context, q cse.AuditQuery) (cse.AuditResult, error)
	// Verify checks every cluster's hash chain in the stored history.
	Verify(ctx context.Context) (cse.Verification, error)
}

// disabledMessage is CSE's answer to every route but system while the service is disabled.
const disabledMessage = "CSE service is disabled. Contact the System Administrator."

// providerOnly refuses tenants a route that only providers may use.
func providerOnly(c *call, what string) *reply {
	if c.p.Provider {
		return nil
	}
	r := forbidden(c, "%s is for providers (System org users) only", what)
	return &r
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

// decodeStrict reads a small JSON body into v, refusing unknown fields.
func decodeStrict(c *call, v any) *reply {
	b, err := readBody(c.r)
	if err == nil && len(b) > cse.MaxBody {
		err = fmt.Errorf("body is larger than %d bytes", cse.MaxBody)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil && dec.More() {
			err = fmt.Errorf("trailing data after the JSON object")
		}
	}
	if err != nil {
		r := fail(http.StatusBadRequest, cse.MinorDefault, "invalid request body: %v", err)
		return &r
	}
	return nil
}

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
		if a.cfg.OnStop == nil {
			return fail(http.StatusBadRequest, cse.MinorDefault, "this kaas cannot be stopped through the API")
		}
		c.log().Warn("graceful stop requested through the API", "user", c.caller.User)
		go a.cfg.OnStop()
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
	if a.cfg.RunningConfig == nil {
		return ok(http.StatusOK, map[string]any{})
	}
	return ok(http.StatusOK, a.cfg.RunningConfig())
}

// getTKGmTemplates answers CSE's GET /api/cse/templates/tkgm: kaas provisions native
// clusters only, so there are none.
func (a *API) getTKGmTemplates(c *call) reply { return ok(http.StatusOK, []cse.Template{}) }

// getTemplates answers CSE's GET /api/cse/templates.
func (a *API) getTemplates(c *call) reply { return ok(http.StatusOK, a.templates.Templates(c.ctx)) }

// reloadTemplates answers CSE's POST /api/cse/templates/action/reload: VCD's catalog (and
// org VDCs) are read again.
func (a *API) reloadTemplates(c *call) reply {
	if bad := providerOnly(c, "reloading templates"); bad != nil {
		return *bad
	}
	return a.acceptCloud(c, events.SyncCloud{}, http.StatusAccepted, nil)
}

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

// usableTemplate refuses a template the provider's catalog does not hold, or deprecated,
// once the catalog was read: the tenant learns now, not when the operation fails.
func (a *API) usableTemplate(c *call, ref events.TemplateRef) *reply {
	if !a.cloud.CloudSynced(c.ctx) {
		return nil
	}
	t, found := a.templates.Template(c.ctx, ref)
	var r reply
	switch {
	case !found:
		r = fail(http.StatusBadRequest, cse.MinorDefault, "spec.distribution.templateName: template %s revision %d is not in the provider's catalog (GET /api/cse/templates lists them)", ref.Name, ref.Revision)
	case t.Deprecated:
		r = fail(http.StatusBadRequest, cse.MinorDefault, "spec.distribution.templateName: template %s revision %d is deprecated: choose another (GET /api/cse/templates)", ref.Name, ref.Revision)
	default:
		return nil
	}
	return &r
}

// clusterEvents answers kaas's GET cluster/{id}/events: the cluster's recorded history,
// paged, oldest first.
func (a *API) clusterEvents(c *call) reply {
	id, _, bad := a.target(c, cluster.LevelRead, "read the history of")
	if bad != nil {
		return *bad
	}
	p, bad := a.pageParams(c) // before reading the history: a bad page costs nothing
	if bad != nil {
		return *bad
	}
	evs, err := a.history.History(c.ctx, c.p, id)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the history could not be read; try again: %v", err)
	}
	return ok(http.StatusOK, cse.Paginate(evs, p))
}

// audit answers kaas's GET /api/cse/3.0/audit, for providers: events (or, with
// kind=commands, commands) across clusters and orgs, filtered by org (URN or name), cluster,
// actor, type (repeatable or comma separated), since and until (RFC 3339), oldest first or
// with order=newest newest first, paged; or, with after=<seq>, a window of the records after
// that sequence (see auditWindow).
func (a *API) audit(c *call) reply {
	if bad := providerOnly(c, "the audit"); bad != nil {
		return *bad
	}
	p, bad := a.pageParams(c)
	if bad != nil {
		return *bad
	}
	q := p.Filters
	var err error
	aq := cse.AuditQuery{Actor: q.Get("actor"), NewestFirst: q.Get("order") == "newest"}
	if actor, ok := CanonicalURN("user", aq.Actor); ok {
		aq.Actor = actor // as recorded; kaas's own actors ("kaasd") are not URNs
	}
	switch q.Get("order") {
	case "", "oldest", "newest":
	default:
		return fail(http.StatusBadRequest, cse.MinorDefault, "order %q: use oldest or newest", q.Get("order"))
	}
	switch q.Get("kind") {
	case "", "events":
	case "commands":
		aq.Commands = true
	default:
		return fail(http.StatusBadRequest, cse.MinorDefault, "kind %q: use events or commands", q.Get("kind"))
	}
	if org := q.Get("org"); org != "" {
		var ok bool
		if aq.OrgID, ok = CanonicalURN("org", org); !ok {
			if aq.OrgID = a.cloud.OrgID(c.ctx, org); aq.OrgID == "" {
				return fail(http.StatusBadRequest, cse.MinorOrgNameInvalid, "org %q is not one kaas knows of", org)
			}
		}
	}
	if cl := q.Get("cluster"); cl != "" {
		id, valid := a.clusterID(c, cl)
		if !valid {
			return fail(http.StatusBadRequest, cse.MinorDefault, "cluster %q is not a cluster id", cl)
		}
		aq.ClusterID = id
	}
	for _, t := range q["type"] {
		for part := range strings.SplitSeq(t, ",") {
			if part = strings.TrimSpace(part); part != "" {
				aq.Types = append(aq.Types, part)
			}
		}
	}
	for name, dst := range map[string]*time.Time{"since": &aq.Since, "until": &aq.Until} {
		if v := q.Get(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return fail(http.StatusBadRequest, cse.MinorDefault, "%s %q is not an RFC 3339 time such as 2026-11-24T10:00:00Z", name, v)
			}
		}
	}
	aq.Page, aq.PageSize = p.Page, p.PageSize
	if v := q.Get("after"); v != "" {
		// A cursor reads one window from a sequence on, however long the history is: the
		// way to export it. Counting every match would mean reading it all, so it does not.
		if aq.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fail(http.StatusBadRequest, cse.MinorDefault, "after %q is not a sequence number", v)
		}
		if aq.NewestFirst || q.Has("page") {
			return fail(http.StatusBadRequest, cse.MinorDefault, "after reads oldest first, a window at a time: it takes neither page nor order=newest")
		}
		aq.Cursor = true
	}
	res, err := a.history.Audit(c.ctx, aq)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the history could not be read; try again: %v", err)
	}
	if aq.Cursor {
		return ok(http.StatusOK, auditWindow(res.Records, p))
	}
	return ok(http.StatusOK, cse.PageOf(res.Records, res.Total, p))
}

// auditWindow is the answer to a cursor read: up to a page of records and, when more
// remain, the link to the next window. resultTotal and pageCount are -1: not counted.
func auditWindow(recs []cse.Event, p cse.PageParams) cse.Page[cse.Event] {
	res := cse.Page[cse.Event]{ResultTotal: -1, PageCount: -1, Page: 1, PageSize: p.PageSize, Values: recs[:min(len(recs), p.PageSize)]}
	if len(recs) > p.PageSize {
		v := url.Values{}
		maps.Copy(v, p.Filters)
		v.Set("after", strconv.FormatUint(res.Values[len(res.Values)-1].Seq, 10))
		v.Set("pageSize", strconv.Itoa(p.PageSize))
		res.NextPageURI = p.Base + "?" + v.Encode()
	}
	return res
}

// verify answers kaas's GET /api/cse/3.0/audit/verify, for providers: every cluster's hash
// chain walked, and every place where the stored history is not what kaas wrote.
func (a *API) verify(c *call) reply {
	if bad := providerOnly(c, "verifying the history"); bad != nil {
		return *bad
	}
	res, err := a.history.Verify(c.ctx)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the history could not be read; try again: %v", err)
	}
	if !res.OK {
		c.log().Error("stored history does not match what kaas wrote", "problems", len(res.Problems))
	}
	return ok(http.StatusOK, res)
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
