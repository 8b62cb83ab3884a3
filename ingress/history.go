package ingress

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

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

// noHistory is the history of an API wired without one: every read of it fails (503).
type noHistory struct{}

var errNoHistory = errors.New("this kaasd reads no recorded history")

func (noHistory) History(context.Context, cluster.Principal, string) ([]cse.Event, error) {
	return nil, errNoHistory
}
func (noHistory) ClusterAsOf(context.Context, cluster.Principal, string, time.Time) (cse.DefEntity, error) {
	return cse.DefEntity{}, errNoHistory
}
func (noHistory) Audit(context.Context, cse.AuditQuery) (cse.AuditResult, error) {
	return cse.AuditResult{}, errNoHistory
}
func (noHistory) Verify(context.Context) (cse.Verification, error) {
	return cse.Verification{}, errNoHistory
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

// clusterAsOf answers GET cluster/{id}?asOf=<RFC 3339 time>: the cluster as it was then,
// folded from its history.
func (a *API) clusterAsOf(c *call, id, asOf string) reply {
	at, err := time.Parse(time.RFC3339Nano, asOf)
	if err != nil {
		return fail(http.StatusBadRequest, cse.MinorDefault, "asOf %q is not an RFC 3339 time such as 2026-11-24T10:00:00Z", asOf)
	}
	ent, err := a.history.ClusterAsOf(c.ctx, c.p, id, at)
	switch {
	case errors.Is(err, cluster.ErrNotYet):
		return fail(http.StatusNotFound, cse.MinorDefault, "%v", err)
	case errors.Is(err, ErrNotFound):
		return fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	case err != nil:
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the history could not be read; try again: %v", err)
	}
	return ok(http.StatusOK, ent)
}
