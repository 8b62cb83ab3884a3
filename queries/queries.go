package queries

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
)

// ErrNotFound means there is no such cluster or operation for the caller: one that exists
// in another org is not found either, so that tenants learn nothing of each other.
var ErrNotFound = cluster.ErrNotFound

// Queries answers reads.
type Queries struct {
	views    *projector.Views
	secrets  SecretReader
	links    Links
	vdcCache vdcCache
}

// Links are the VCD mirror's links between kaas's ids and VCD's (package mirror keeps them;
// deploy wires them in). They are read from memory.
type Links interface {
	// EntityID returns the URN of a cluster's VCD defined entity, once VCD made it.
	EntityID(clusterID string) (string, bool)
	// ClusterOf returns the cluster whose VCD entity has this URN (or bare UUID).
	ClusterOf(entity string) (string, bool)
	// TaskHref returns the href of an operation's VCD task, once VCD made it.
	TaskHref(opID string) (string, bool)
	// WaitTask waits until an operation's VCD task is made, or ctx ends.
	WaitTask(ctx context.Context, opID string) (string, bool)
	// VAppHref returns the href of a vApp kaas knows by its URN.
	VAppHref(vappURN string) string
}

// WithLinks makes the answers show VCD's ids once the mirror made the objects: a cluster's
// id is its VCD entity's URN, an operation's task href its VCD task; and clusters are found
// by either id.
func (q *Queries) WithLinks(l Links) *Queries {
	q.links = l
	return q
}

// ResolveCluster returns the cluster a route's id names: the id itself, or the cluster
// whose VCD entity the id is.
func (q *Queries) ResolveCluster(ctx context.Context, id string) string {
	if q.links != nil {
		if c, ok := q.links.ClusterOf(cse.EntityID(id)); ok {
			return c
		}
	}
	return id
}

// entityURN is the id a cluster is shown by: its VCD entity's URN once the mirror made it,
// else kaas's URN of it.
func entityURN(l Links, clusterID string) string {
	if l != nil {
		if id, ok := l.EntityID(clusterID); ok {
			return id
		}
	}
	return cse.EntityID(clusterID)
}

// WaitTask waits, until ctx ends, for an operation's VCD task and returns its href; false
// when the mirror made none (yet), or there is no mirror.
func (q *Queries) WaitTask(ctx context.Context, opID string) (string, bool) {
	if q.links == nil {
		return "", false
	}
	return q.links.WaitTask(ctx, opID)
}

// SecretReader reads the secrets events name (kubeconfigs), kept apart from the views.
type SecretReader interface {
	Get(ctx context.Context, ref string) ([]byte, error)
}

// New returns queries over the views; secrets may be nil when no kubeconfig is served.
func New(v *projector.Views, secrets SecretReader) *Queries {
	return &Queries{views: v, secrets: secrets}
}

// Sync waits until the views reflect every command up to commandSeq and every event up to
// eventSeq, so that a tenant reads its own writes (and, across instances, everyone's).
func (q *Queries) Sync(ctx context.Context, commandSeq, eventSeq uint64) error {
	return q.views.WaitFor(ctx, commandSeq, eventSeq)
}

// OperationHref is where an operation's progress is served.
func OperationHref(id string) string { return "/api/cse/3.0/operations/" + id }

// ClusterHref is where a cluster is served.
func ClusterHref(clusterID string) string { return "/api/cse/3.0/cluster/" + cse.EntityID(clusterID) }

// Cluster returns one cluster the principal may see, as a DefEntity.
func (q *Queries) Cluster(ctx context.Context, p cluster.Principal, id string) (cse.DefEntity, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || cv.Level(p) == cluster.LevelNone {
		return cse.DefEntity{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	return q.render(cv), nil
}

// UserName returns a VCD user's name, as the last sync read it; "" when kaas does not know
// it. It reads memory only: answers never wait for VCD.
func (q *Queries) UserName(ctx context.Context, id string) string {
	u, _ := q.views.User(id)
	return u.Name
}

// named fills in the names of a rendered cluster that kaas learns from VCD: its owner's.
func (q *Queries) named(e cse.DefEntity) cse.DefEntity {
	if e.Owner.Name == "" {
		e.Owner.Name = q.UserName(context.Background(), e.Owner.ID)
	}
	return e
}

// render is the cluster as the routes answer it: VCD's ids where the mirror linked them,
// the owner's name where kaas knows it.
func (q *Queries) render(cv projector.ClusterView) cse.DefEntity {
	return q.named(RenderLinked(cv, q.links))
}

// Entity renders a cluster view as these queries render a cluster (VCD's ids where the
// mirror's links know them, users by name): for history's as-of reads, which fold a past
// state of their own.
func (q *Queries) Entity(cv projector.ClusterView) cse.DefEntity { return q.render(cv) }

// Render turns a cluster view into CSE's DefEntity, showing an accepted change that has
// not started yet as already in progress.
func Render(cv projector.ClusterView) cse.DefEntity { return RenderLinked(cv, nil) }

// RenderLinked is Render with VCD's ids where the mirror's links (nil: none) know them:
// the entity's URN as the id, the VCD task of the operation shown as status.taskHref, the
// vApp's href as externalId. The mirror puts exactly this in the entity.
func RenderLinked(cv projector.ClusterView, l Links) cse.DefEntity {
	v := cse.View{ClusterID: cv.ID, State: cse.StateResolved}
	if st := cv.State; st != nil && st.Exists {
		v.OrgID, v.Owner, v.Spec, v.Template, v.Phase, v.RolledBack = st.OrgID, st.Owner, st.Spec, st.Template, st.Phase, st.RolledBack
		if st.VAppID != "" {
			v.VAppHref = st.VAppID
			if l != nil {
				v.VAppHref = l.VAppHref(st.VAppID)
			}
		}
		for _, n := range st.Nodes {
			v.Nodes = append(v.Nodes, cse.NodeView{Name: n.Name, Role: n.Role, IP: n.IP})
		}
	} else if o := cv.PendingCreate(); o != nil {
		v.OrgID, v.Owner, v.Spec, v.State, v.Phase = o.OrgID, o.Actor, *o.Spec, cse.StatePreCreated, events.PhaseCreateInProgress
	}
	ks := &cse.KaasStatus{}
	op := cv.Current
	if len(cv.Pending) > 0 && (cv.State == nil || !cv.State.Busy()) {
		// Read your writes: the change the tenant was just told was accepted shows now.
		op = cv.Pending[0]
		v.Phase = cluster.PendingPhase(op.Command)
	}
	if op != nil {
		ks.OperationID, ks.OperationHref = op.ID, OperationHref(op.ID)
		ks.Step, ks.Percent = op.Step, op.Percent
		if op.EffectiveStatus() == projector.OpSucceeded {
			ks.Percent = 100
		}
		ks.Retrying = kaasError(op.Retrying)
		v.TaskHref = ks.OperationHref
		if l != nil {
			if h, ok := l.TaskHref(op.ID); ok {
				v.TaskHref = h
			}
		}
	}
	if st := cv.State; st != nil && st.LastFailure != nil {
		ks.Error = kaasError(st.LastFailure)
	}
	ks.RolledBack = v.RolledBack
	v.Kaas = ks
	if l != nil {
		if id, ok := l.EntityID(cv.ID); ok {
			v.EntityID = id
		}
	}
	return cse.Render(v)
}

func kaasError(f *events.Failure) *cse.KaasError {
	if f == nil {
		return nil
	}
	return &cse.KaasError{Code: f.Code, Message: f.Message, Step: f.Step, VCDCode: f.VCDCode, VCDMessage: f.VCDMessage}
}

// Clusters returns the clusters the principal may see, sorted by name (CSE's order): a
// provider's are every org's.
func (q *Queries) Clusters(ctx context.Context, p cluster.Principal) []cse.DefEntity {
	out, _ := q.ClustersPage(ctx, p, "", "", 1, math.MaxInt)
	return out
}

// ClustersPage returns one page of what Clusters returns, narrowed to the clusters of the
// org and org VDC of these names when given (CSE's org_name and ovdc_name filters, which
// match the names the clusters are shown with), and how many match in all. Only the page is
// rendered; when the principal sees every cluster of its org (or of every org) and nothing
// narrows the list, only the page is read too.
func (q *Queries) ClustersPage(ctx context.Context, p cluster.Principal, orgName, vdc string, page, size int) ([]cse.DefEntity, int) {
	org := p.Org
	if p.Provider {
		org = ""
	}
	var keep func(projector.ClusterView) bool
	if seesAll := p.SeesAll(); !seesAll || orgName != "" || vdc != "" {
		keep = func(cv projector.ClusterView) bool {
			if !seesAll && cv.Level(p) == cluster.LevelNone {
				return false
			}
			s := cv.Spec()
			return (orgName == "" || s.OrgName == orgName) && (vdc == "" || s.VDC == vdc)
		}
	}
	size = max(size, 1)
	from := math.MaxInt // a page past any list; never multiply a huge page number
	if page >= 1 && page-1 <= math.MaxInt/size {
		from = (page - 1) * size
	}
	cvs, total := q.views.ClusterPage(org, from, size, keep)
	out := make([]cse.DefEntity, 0, len(cvs))
	for _, cv := range cvs {
		out = append(out, q.render(cv))
	}
	return out, total
}

// ACL returns the users a cluster the principal may see is shared with.
func (q *Queries) ACL(ctx context.Context, p cluster.Principal, id string) ([]events.ACLEntry, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || cv.Level(p) == cluster.LevelNone {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	acl := slices.Clone(cv.ACL()) // the view's own stays as recorded
	for i, e := range acl {
		// VCD's name of a user of the cluster's org or of the caller's (CSE names the users of
		// the entity's org, and a provider's own): a caller learns no other org's names.
		if u, ok := q.views.User(e.MemberID); ok && u.Name != "" && u.OrgID != "" && (u.OrgID == cv.Org() || u.OrgID == p.Org) {
			acl[i].Username = u.Name
		}
	}
	return acl, nil
}

// Operation returns the progress of an operation on a cluster the principal may see, or
// one the principal asked for.
func (q *Queries) Operation(ctx context.Context, p cluster.Principal, id string) (cse.Operation, error) {
	o, ok := q.views.Operation(id)
	if ok && !(p.Provider || (o.OrgID == p.Org && o.Actor == p.User)) {
		// The cluster's org decides, not the command's: a provider's change to a tenant's
		// cluster is the tenant's to see (histories written before changes were filed
		// under the cluster's org carry the provider's org).
		cv, _ := q.views.Cluster(o.ClusterID)
		ok = cv.Level(p) > cluster.LevelNone
	}
	if !ok {
		return cse.Operation{}, fmt.Errorf("operation %s: %w", id, ErrNotFound)
	}
	out := cse.Operation{ID: o.ID, ClusterID: entityURN(q.links, o.ClusterID), Operation: o.Command, Status: o.EffectiveStatus(),
		Phase: string(o.Phase), Step: o.Step, Percent: o.Percent, Target: o.Target, RequestID: o.RequestID, Actor: o.Actor,
		Error: kaasError(o.Failure), Retrying: kaasError(o.Retrying), ClusterURI: "/api/cse/3.0/cluster/" + entityURN(q.links, o.ClusterID)}
	if q.links != nil {
		out.TaskHref, _ = q.links.TaskHref(o.ID)
	}
	if q.views.IsTemplate(o.ClusterID) {
		// A template revision's operation: no cluster, and no entity to link; the id is the
		// revision's aggregate, as the audit knows it.
		out.ClusterID, out.ClusterURI = o.ClusterID, ""
	}
	if out.Status == projector.OpPending {
		out.Phase = string(cluster.PendingPhase(o.Command))
	}
	if o.Status != projector.OpRunning && o.Status != "" {
		out.Retrying = nil // an ended operation retries nothing; a running one may be rolling back after Error
	}
	out.Accepted, out.Started, out.Ended = tp(o.Accepted), tp(o.Started), tp(o.Ended)
	return out, nil
}

// Snapshot returns a cluster's state for the ingress's checks, with the principal's level
// on it; a cluster the principal may not see does not exist.
func (q *Queries) Snapshot(ctx context.Context, p cluster.Principal, id string) cluster.Snapshot {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() {
		return cluster.Snapshot{}
	}
	lvl := cv.Level(p)
	if lvl == cluster.LevelNone {
		return cluster.Snapshot{}
	}
	s := cluster.Snapshot{Exists: true, State: cv.State, OrgID: cv.Org(), Level: lvl, ACL: cv.ACL()}
	if cv.State != nil && cv.State.Exists {
		s.Spec = cv.State.Spec
	} else if o := cv.PendingCreate(); o != nil {
		s.Spec = *o.Spec
	}
	for _, o := range cv.Pending {
		s.Pending = append(s.Pending, o.Command)
	}
	return s
}

// NameTaken returns the id of an existing cluster with that name in the org VDC (CSE's
// vApp names are unique per VDC), or "".
func (q *Queries) NameTaken(ctx context.Context, org, vdc, name string) string {
	for _, cv := range q.views.Named(org, vdc, name) {
		if cv.Org() == org {
			return cv.ID
		}
	}
	return ""
}

// ClusterKnown reports whether the views have the cluster, deleted or not.
func (q *Queries) ClusterKnown(ctx context.Context, id string) bool {
	_, ok := q.views.Cluster(id)
	return ok
}

// OperationExists reports whether a command was already accepted (a redelivered request).
func (q *Queries) OperationExists(ctx context.Context, id string) bool {
	_, ok := q.views.Operation(id)
	return ok
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Kubeconfig returns a cluster's admin kubeconfig. ready is false while the cluster has
// none yet (its control plane is not up) or can no longer have one.
func (q *Queries) Kubeconfig(ctx context.Context, p cluster.Principal, id string) (kubeconfig []byte, ready bool, err error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || cv.Level(p) == cluster.LevelNone {
		return nil, false, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	st := cv.State
	if st == nil || st.ControlPlane.KubeconfigRef == "" || q.secrets == nil || st.Phase.Op() == events.OpDelete {
		return nil, false, nil
	}
	b, err := q.secrets.Get(ctx, st.ControlPlane.KubeconfigRef)
	if err != nil {
		return nil, false, fmt.Errorf("kubeconfig of cluster %s: %w", id, err)
	}
	return b, true, nil
}
