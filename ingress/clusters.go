package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

// ClusterReader answers about clusters and who may see them.
type ClusterReader interface {
	// Cluster returns a cluster the principal may see, or an error wrapping ErrNotFound.
	Cluster(ctx context.Context, p cluster.Principal, id string) (cse.DefEntity, error)
	// Clusters returns the clusters the principal may see, sorted by name.
	Clusters(ctx context.Context, p cluster.Principal) []cse.DefEntity
	// ClustersPage returns the page-th page (from 1) of size of the clusters the principal
	// may see, sorted by name, narrowed to those shown in the org and org VDC of these names
	// when given, and how many there are in all.
	ClustersPage(ctx context.Context, p cluster.Principal, orgName, vdc string, page, size int) ([]cse.DefEntity, int)
	// Snapshot returns what the ingress checks a change against, with the principal's
	// level on the cluster; it does not exist for a principal who may not see it.
	Snapshot(ctx context.Context, p cluster.Principal, id string) cluster.Snapshot
	// NameTaken returns the id of the org VDC's cluster with that name, or "".
	NameTaken(ctx context.Context, org, vdc, name string) string
	// ClusterKnown reports whether the views have a cluster: created, being created, or
	// deleted (not one whose create they have not seen yet).
	ClusterKnown(ctx context.Context, id string) bool
	// Kubeconfig returns a cluster's admin kubeconfig; ready is false while it has none.
	Kubeconfig(ctx context.Context, p cluster.Principal, id string) (kubeconfig []byte, ready bool, err error)
	// ACL returns the users a cluster the principal may see is shared with.
	ACL(ctx context.Context, p cluster.Principal, id string) ([]events.ACLEntry, error)
	// ResolveCluster returns the cluster a route's id (a UUID) names: the id itself, or the
	// cluster whose VCD defined entity has that id.
	ResolveCluster(ctx context.Context, id string) string
	// UserName returns a VCD user's name as kaas last read it from VCD; "" if unknown.
	UserName(ctx context.Context, userID string) string
}

// fieldFailure turns a payload problem into CSE's 400.
func fieldFailure(err error) reply {
	var fe *cse.FieldError
	if errors.As(err, &fe) {
		return fail(http.StatusBadRequest, fe.Minor, "%s", fe.Error())
	}
	return fail(http.StatusBadRequest, cse.MinorDefault, "%s", err.Error())
}

// rejection turns an aggregate's refusal into CSE's 400 (404 for a missing cluster).
func rejection(err error) reply {
	var rej *cluster.Rejection
	if !errors.As(err, &rej) {
		return fail(http.StatusInternalServerError, cse.MinorDefault, "%v", err)
	}
	status, minor, msg := http.StatusBadRequest, cse.MinorDefault, rej.Message
	if rej.Code == events.CodeNotFound {
		status = http.StatusNotFound
	}
	if rej.Field != "" {
		minor = cse.MinorInvalid(rej.Field)
		msg = cluster.CSEName(rej.Field) + ": " + msg
	}
	return fail(status, minor, "%s", msg)
}

func (a *API) decodeEntity(c *call) (cse.NativeEntity, *reply) {
	b, err := readBody(c.r)
	if err != nil {
		r := fail(http.StatusBadRequest, cse.MinorDefault, "%v", err)
		return cse.NativeEntity{}, &r
	}
	decode := cse.DecodeEntity
	if cse.IsV1(b) {
		decode = cse.DecodeEntityV1 // CSE 3.0's payload, read as the v2.1 it maps to
	}
	e, err := decode(b)
	if err != nil {
		r := fieldFailure(err)
		return e, &r
	}
	return e, nil
}

// accept appends a command for a cluster, filed under the cluster's org (c.org()) and
// done by the caller. It returns once the command is durable, with its stream sequence. The
// command id is the dedupe key: a redelivered request appends nothing.
func (a *API) accept(c *call, clusterID string, p events.Payload) (seq uint64, err error) {
	cmdID := c.commandID()
	env := events.Envelope{ID: cmdID, ClusterID: clusterID, OrgID: c.org(), Actor: c.caller.User,
		Time: time.Now().UTC(), CorrelationID: c.requestID, Payload: p}
	seq, dup, err := a.commands.AppendCommand(c.ctx, env, cmdID)
	if err != nil {
		return 0, err
	}
	a.recent.set(seq, "cluster/"+clusterID, "org/"+c.org(), "org/"+c.caller.Org, "op/"+cmdID)
	if a.cfg.Logger.Enabled(c.ctx, slog.LevelInfo) {
		c.log().Info("command accepted", "cluster_id", clusterID, "command", p.Type(), "command_id", cmdID, "stream_seq", seq, "duplicate", dup)
	}
	return seq, nil
}

func (a *API) createCluster(c *call) reply {
	if !c.p.CanCreate() {
		return forbidden(c, "creating a cluster needs the right %q", cluster.RightFullAccess)
	}
	e, bad := a.decodeEntity(c)
	if bad != nil {
		return *bad
	}
	spec, err := cse.ToSpec(e)
	if err != nil {
		return fieldFailure(err)
	}
	if err := cluster.ValidateSpec(spec); err != nil {
		return rejection(err)
	}
	// With other instances, what is checked below (the org VDC enabled, the template) may
	// have changed there: bring the views up to date first (alone, this waits for nothing).
	a.sync(c)
	if bad := a.createIn(c, spec); bad != nil {
		return *bad
	}
	if bad := a.checkNetwork(c, spec); bad != nil {
		return *bad
	}
	if bad := a.checkOffers(c, spec, "controlPlane", "workers", "nfs"); bad != nil {
		return *bad
	}
	if bad := a.usableTemplate(c, spec.Template); bad != nil {
		return *bad
	}
	clusterID := events.DeriveID("cluster", c.requestKey())
	cmdID := c.commandID()

	// One create per name at a time, so that two requests for the same name cannot both
	// pass the check below.
	// Names compare without case, as VCD compares vApp names.
	nameKey := c.org() + "/" + spec.VDC + "/" + strings.ToLower(spec.Name)
	unlock := a.locks.lock("name/" + nameKey)
	defer unlock()
	// This process's own creates of the name (the streams' ends were waited for above).
	a.syncTo(c, a.recent.get("name/"+nameKey), 0)
	if !a.ops.OperationExists(c.ctx, cmdID) { // else a redelivery: answer again, append nothing
		if other := a.clusters.NameTaken(c.ctx, c.org(), spec.VDC, spec.Name); other != "" && other != clusterID {
			return fail(http.StatusBadRequest, cse.MinorClusterNameInvalid, "Cluster '%s' already exists.", spec.Name)
		}
		// Another instance may be accepting the same name at this moment: its claim decides.
		var claim string
		var claimRev uint64
		if a.cfg.Names != nil {
			var refused *reply
			if claim, claimRev, refused = a.claimName(c, nameKey, clusterID, spec.VDC, spec.Name); refused != nil {
				return *refused
			}
		}
		seq, err := a.accept(c, clusterID, events.CreateCluster{Spec: spec})
		if err != nil {
			if claim != "" {
				a.releaseName(c, claim, claimRev)
			}
			return unrecorded(err)
		}
		a.recent.set(seq, "name/"+nameKey)
	}
	// The answer is built from the request and the operation's VCD task (once made, it is
	// the same for every delivery), so that a redelivered request gets the same one. The id
	// is kaas's: VCD's entity may not exist yet, and every route takes both.
	ent := cse.Render(cse.View{ClusterID: clusterID, OrgID: c.org(), Owner: c.caller.User, Spec: spec,
		Phase: events.PhaseCreateInProgress, State: cse.StatePreCreated, TaskHref: a.taskHref(c, cmdID),
		Kaas: &cse.KaasStatus{OperationID: cmdID, OperationHref: OperationHref(cmdID)}})
	ent.Owner.Name = a.clusters.UserName(c.ctx, ent.Owner.ID)
	return reply{status: http.StatusAccepted, body: ent, location: OperationHref(cmdID)}
}

// createIn checks the org VDC a create names, and sets the org the cluster is for. A
// tenant creates in an org VDC of its own org enabled for native Kubernetes, and gets one
// answer for every other: its own VDC missing or not enabled, and another org's VDC,
// enabled, disabled or missing, are refused alike, so that a create tells nothing about
// other orgs. A provider creates in any org's enabled VDC; the cluster is that org's.
func (a *API) createIn(c *call, spec events.ClusterSpec) *reply {
	enabled := a.cloud.VDCEnabled(c.ctx, spec.OrgName, spec.VDC)
	if !c.p.Provider {
		// Org names compare without case, as VCD's do (OrgID does); URNs exactly.
		org, _ := CanonicalURN("org", a.cloud.OrgID(c.ctx, spec.OrgName))
		if !enabled || org != c.caller.Org {
			// What the tenant is not told, the log says: a create aimed at another org.
			c.log().Warn("create refused: not an enabled org VDC of the caller's org", "org_name", spec.OrgName, "vdc", spec.VDC,
				"vdc_enabled", enabled, "vdc_org", org)
			r := fail(http.StatusBadRequest, cse.MinorOvdcNameInvalid,
				"Cluster cannot be deployed in org VDC '%s' of org '%s': it is not enabled for native Kubernetes, or it is not an org VDC of your organization. A provider enables an org VDC with PUT /api/cse/3.0/ovdc/{id}.",
				spec.VDC, spec.OrgName)
			return &r
		}
		return nil
	}
	if !enabled {
		r := fail(http.StatusBadRequest, cse.MinorOvdcNameInvalid,
			"Cluster cannot be deployed in org VDC '%s' of org '%s': it is not enabled for native Kubernetes. A provider enables it with PUT /api/cse/3.0/ovdc/{id}.", spec.VDC, spec.OrgName)
		return &r
	}
	if !strings.EqualFold(spec.OrgName, "System") {
		org, ok := CanonicalURN("org", a.cloud.OrgID(c.ctx, spec.OrgName))
		if !ok {
			r := fail(http.StatusBadRequest, cse.MinorOrgNameInvalid, "organization '%s' has no org VDC kaas knows of", spec.OrgName)
			return &r
		}
		c.orgID = org
	}
	return nil
}

// target resolves the {id} of a cluster route to a cluster the caller may act on at level
// need: one it may not see at all is not found, as one that does not exist.
func (a *API) target(c *call, need cluster.Level, what string) (string, cluster.Snapshot, *reply) {
	id, valid := a.clusterID(c, c.args[0])
	notFound := fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	if !valid {
		return "", cluster.Snapshot{}, &notFound
	}
	a.sync(c, "cluster/"+id)
	snap := a.clusters.Snapshot(c.ctx, c.p, id)
	if !snap.Exists {
		return id, snap, &notFound
	}
	if snap.Level < need {
		r := forbidden(c, "%s cluster %s: it needs %s access, and the caller has %s", what, snap.Spec.Name, need, snap.Level)
		return id, snap, &r
	}
	// A change is filed under the cluster's org, also when a provider makes it.
	c.orgID = snap.OrgID
	return id, snap, nil
}

// forbidden is CSE's 403, logged: a refusal a provider may want to find.
func forbidden(c *call, format string, args ...any) reply {
	msg := fmt.Sprintf(format, args...)
	c.log().Warn("access denied", "reason", msg)
	return fail(http.StatusForbidden, cse.MinorDefault, "Access denied: %s", msg)
}

func (a *API) getCluster(c *call) reply {
	id, valid := a.clusterID(c, c.args[0])
	if !valid {
		return fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	}
	a.sync(c, "cluster/"+id)
	if asOf := c.r.URL.Query().Get("asOf"); asOf != "" {
		return a.clusterAsOf(c, id, asOf)
	}
	ent, err := a.clusters.Cluster(c.ctx, c.p, id)
	if err != nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	}
	return ok(http.StatusOK, ent)
}

func unrecorded(err error) reply {
	if errors.Is(err, context.DeadlineExceeded) {
		// The store kept trying until the request's time ran out: its last try may have
		// landed unanswered, so "nothing was changed" would not be sure.
		return fail(http.StatusServiceUnavailable, cse.MinorDefault,
			"the request could not be confirmed as recorded in time (the event store is electing a leader or unreachable); try again: %v", err)
	}
	return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the request could not be recorded; nothing was changed, try again: %v", err)
}

// change runs the common path of every change to an existing cluster: the busy check, the
// aggregate's own check, the append, and the 202 with the cluster as it now reads.
func (a *API) change(c *call, id string, snap cluster.Snapshot, p events.Payload) reply {
	cmdID, again := a.redelivered(c)
	if !again {
		_, force := p.(events.ForceDeleteCluster)
		if busy := snap.Busy(); busy != "" && !force {
			return fail(http.StatusBadRequest, cse.MinorDefault, "Cluster %s with id %s is not in a valid state for this operation: it is %s. Try again when it ends.",
				snap.Spec.Name, cse.EntityID(id), busy)
		}
		if snap.State != nil {
			if _, err := cluster.Decide(snap.State, events.Envelope{ID: cmdID, ClusterID: id, Payload: p}); err != nil {
				return rejection(err)
			}
		}
		if _, err := a.accept(c, id, p); err != nil {
			return unrecorded(err)
		}
	}
	switch p.(type) {
	case events.DeleteCluster, events.ForceDeleteCluster:
		return a.accepted(c, id, cmdID, &snap)
	}
	return a.accepted(c, id, cmdID, nil)
}

// accepted answers 202 with the cluster as it reads now, the change included. A delete may
// already have run to its end (nothing was left in VCD to remove): the answer is then the
// cluster as it was, deleted.
func (a *API) accepted(c *call, id, cmdID string, before *cluster.Snapshot) reply {
	a.sync(c, "op/"+cmdID, "cluster/"+id)
	href := a.taskHref(c, cmdID) // the cluster as read below shows it too
	ent, err := a.clusters.Cluster(c.ctx, c.p, id)
	if errors.Is(err, ErrNotFound) && before != nil && before.Exists {
		// A create that had not started yet has no state: its spec and org are the snapshot's.
		v := cse.View{ClusterID: id, OrgID: before.OrgID, Spec: before.Spec,
			Phase: events.PhaseDeleteSucceeded, State: cse.StateResolved, TaskHref: href,
			Kaas: &cse.KaasStatus{OperationID: cmdID, OperationHref: OperationHref(cmdID), Percent: 100}}
		if st := before.State; st != nil {
			v.OrgID, v.Owner, v.Template = st.OrgID, st.Owner, st.Template
		}
		ent, err = cse.Render(v), nil
		ent.Owner.Name = a.clusters.UserName(c.ctx, ent.Owner.ID)
	}
	if err != nil {
		return fail(http.StatusInternalServerError, cse.MinorDefault, "cluster %s vanished: %v", id, err)
	}
	return reply{status: http.StatusAccepted, body: ent, location: OperationHref(cmdID)}
}

func (a *API) updateCluster(c *call) reply {
	e, bad := a.decodeEntity(c)
	if bad != nil {
		return *bad
	}
	id, snap, bad := a.target(c, cluster.LevelWrite, "change")
	if bad != nil {
		return *bad
	}
	unlock := a.locks.lock("cluster/" + id)
	defer unlock()
	if snap.State != nil {
		cse.DropEchoedCNI(&e, snap.Spec, snap.State.Template)
	}
	desired, err := cse.Merge(snap.Spec, e)
	if err != nil {
		return fieldFailure(err)
	}
	if cmdID, again := a.redelivered(c); again {
		return a.accepted(c, id, cmdID, nil)
	}
	if busy := snap.Busy(); busy != "" {
		return fail(http.StatusBadRequest, cse.MinorDefault, "Cluster %s with id %s is not in a valid state to be updated: it is %s. Try again when it ends.",
			snap.Spec.Name, cse.EntityID(id), busy)
	}
	p, err := cluster.Change(snap.Spec, desired)
	if err != nil {
		return rejection(err)
	}
	if up, ok := p.(events.UpgradeTemplate); ok {
		if bad := a.upgradable(c, snap, up.Template); bad != nil {
			return *bad
		}
	}
	// New workers are made as the pool says: on what the VDC still offers.
	if sc, ok := p.(events.ScaleWorkers); ok && sc.Workers > snap.Spec.Workers.Count {
		if bad := a.checkOffers(c, desired, "workers"); bad != nil {
			return *bad
		}
	}
	return a.change(c, id, snap, p)
}

func (a *API) deleteCluster(c *call) reply {
	id, snap, bad := a.target(c, cluster.LevelFull, "delete")
	if bad != nil {
		return *bad
	}
	unlock := a.locks.lock("cluster/" + id)
	defer unlock()
	return a.change(c, id, snap, events.DeleteCluster{})
}

// deleteNFSNode answers CSE's DELETE cluster/{id}/nfs/{node}: one NFS node removed.
func (a *API) deleteNFSNode(c *call) reply {
	id, snap, bad := a.target(c, cluster.LevelWrite, "remove an NFS node of")
	if bad != nil {
		return *bad
	}
	unlock := a.locks.lock("cluster/" + id)
	defer unlock()
	return a.change(c, id, snap, events.DeleteNFSNode{Node: c.args[1]})
}

func (a *API) forceDelete(c *call) reply {
	id, snap, bad := a.target(c, cluster.LevelFull, "force-delete")
	if bad != nil {
		return *bad
	}
	unlock := a.locks.lock("cluster/" + id)
	defer unlock()
	return a.change(c, id, snap, events.ForceDeleteCluster{})
}

func (a *API) listClusters(c *call) reply {
	q := c.r.URL.Query()
	if !q.Has("page") && !q.Has("pageSize") {
		a.sync(c, "org/"+c.caller.Org)
		// CSE's GET clusters answers a bare list.
		all, _ := a.clusters.ClustersPage(c.ctx, c.p, q.Get("org_name"), q.Get("ovdc_name"), 1, math.MaxInt)
		return ok(http.StatusOK, all)
	}
	return a.pageClusters(c)
}

// pageClusters answers a page of the clusters the caller may see, as CSE's list filters
// (org_name, ovdc_name) narrow them: only the page is rendered.
func (a *API) pageClusters(c *call) reply {
	p, bad := a.pageParams(c) // before reading: a bad page costs nothing
	if bad != nil {
		return *bad
	}
	a.sync(c, "org/"+c.caller.Org)
	vals, total := a.clusters.ClustersPage(c.ctx, c.p, p.Filters.Get("org_name"), p.Filters.Get("ovdc_name"), p.Page, p.PageSize)
	return ok(http.StatusOK, cse.PageOf(vals, total, p))
}

// pageParams reads CSE's page and pageSize, and what a page's links repeat.
func (a *API) pageParams(c *call) (cse.PageParams, *reply) {
	q := c.r.URL.Query()
	page, size, err := cse.ParsePage(q)
	if err != nil {
		r := fail(http.StatusBadRequest, cse.MinorDefault, "%v", err)
		return cse.PageParams{}, &r
	}
	return cse.PageParams{Page: page, PageSize: size, Base: a.base(c), Filters: q}, nil
}

// paged answers with the page of all the request asks for.
func paged[T any](a *API, c *call, all []T) reply {
	p, bad := a.pageParams(c)
	if bad != nil {
		return *bad
	}
	return ok(http.StatusOK, cse.Paginate(all, p))
}

// getKubeconfig answers CSE's GET cluster/{id}/config: {"message": "<kubeconfig>"}. Unlike
// CSE, which fetched the file from the control plane through guest operations on every
// call (and often timed out), kaas serves the copy it captured at bootstrap.
func (a *API) getKubeconfig(c *call) reply {
	id, valid := a.clusterID(c, c.args[0])
	if !valid {
		return fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	}
	a.sync(c, "cluster/"+id)
	kc, ready, err := a.clusters.Kubeconfig(c.ctx, c.p, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	case err != nil:
		// The secret is there but this instance cannot read it (another key sealed it, or
		// the store failed): the operator's problem, said in the log, not the tenant's.
		c.log().Error("kubeconfig unreadable", "cluster_id", id, "err", err)
		return fail(http.StatusInternalServerError, cse.MinorDefault, "the kubeconfig of cluster %s could not be read; the operator will find why in kaasd's log", c.args[0])
	case !ready:
		return fail(http.StatusBadRequest, cse.MinorDefault, "Cluster %s is not in a valid state for this operation: its control plane has not published a kubeconfig", c.args[0])
	}
	return ok(http.StatusOK, map[string]string{"message": string(kc)})
}
