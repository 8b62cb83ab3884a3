package queries

import (
	"context"
	"fmt"
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
	views   *projector.Views
	secrets SecretReader
	history HistoryReader
}

// SecretReader reads the secrets events name (kubeconfigs), kept apart from the views.
type SecretReader interface {
	Get(ctx context.Context, ref string) ([]byte, error)
}

// New returns queries over the views; secrets may be nil when no kubeconfig is served.
func New(v *projector.Views, secrets SecretReader) *Queries {
	return &Queries{views: v, secrets: secrets}
}

// Sync waits until the views reflect every command up to commandSeq, so that a tenant reads
// its own writes.
func (q *Queries) Sync(ctx context.Context, commandSeq uint64) error {
	return q.views.WaitFor(ctx, commandSeq, 0)
}

// level is what the principal may do with the cluster; LevelNone also for a cluster of
// another org, so that tenants learn nothing of each other.
func level(p cluster.Principal, cv projector.ClusterView) cluster.Level {
	return p.On(cv.Org(), cv.Owner(), cv.ACL())
}

// OperationHref is where an operation's progress is served.
func OperationHref(id string) string { return "/api/cse/3.0/operations/" + id }

// ClusterHref is where a cluster is served.
func ClusterHref(clusterID string) string { return "/api/cse/3.0/cluster/" + cse.EntityID(clusterID) }

// Cluster returns one cluster the principal may see, as a DefEntity.
func (q *Queries) Cluster(ctx context.Context, p cluster.Principal, id string) (cse.DefEntity, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || level(p, cv) == cluster.LevelNone {
		return cse.DefEntity{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	return q.named(Render(cv)), nil
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

// Render turns a cluster view into CSE's DefEntity, showing an accepted change that has
// not started yet as already in progress.
func Render(cv projector.ClusterView) cse.DefEntity {
	v := cse.View{ClusterID: cv.ID, State: cse.StateResolved}
	if st := cv.State; st != nil && st.Exists {
		v.OrgID, v.Owner, v.Spec, v.Template, v.Phase, v.RolledBack = st.OrgID, st.Owner, st.Spec, st.Template, st.Phase, st.RolledBack
		if st.VAppID != "" {
			v.VAppHref = st.VAppID
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
	}
	if st := cv.State; st != nil && st.LastFailure != nil {
		ks.Error = kaasError(st.LastFailure)
	}
	ks.RolledBack = v.RolledBack
	v.Kaas = ks
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
	org := p.Org
	if p.Provider {
		org = ""
	}
	cvs := q.views.OrgClusters(org)
	out := make([]cse.DefEntity, 0, len(cvs))
	for _, cv := range cvs {
		if p.SeesAll() || level(p, cv) > cluster.LevelNone {
			out = append(out, q.named(Render(cv)))
		}
	}
	return out
}

// ACL returns the users a cluster the principal may see is shared with.
func (q *Queries) ACL(ctx context.Context, p cluster.Principal, id string) ([]events.ACLEntry, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || level(p, cv) == cluster.LevelNone {
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
		ok = level(p, cv) > cluster.LevelNone
	}
	if !ok {
		return cse.Operation{}, fmt.Errorf("operation %s: %w", id, ErrNotFound)
	}
	out := cse.Operation{ID: o.ID, ClusterID: cse.EntityID(o.ClusterID), Operation: o.Command, Status: o.EffectiveStatus(),
		Phase: string(o.Phase), Step: o.Step, Percent: o.Percent, Target: o.Target, RequestID: o.RequestID, Actor: o.Actor,
		Error: kaasError(o.Failure), Retrying: kaasError(o.Retrying), ClusterURI: ClusterHref(o.ClusterID)}
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
	lvl := level(p, cv)
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
	if !ok || !cv.Exists() || level(p, cv) == cluster.LevelNone {
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
