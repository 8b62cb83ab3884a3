package queries

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/projector"
)

// Templates returns the provider's templates in CSE's shape, sorted by name and revision.
func (q *Queries) Templates(ctx context.Context) []cse.Template {
	ts := q.views.Cloud().Templates
	out := make([]cse.Template, 0, len(ts))
	for _, t := range ts {
		out = append(out, cse.RenderTemplate(t))
	}
	slices.SortFunc(out, func(a, b cse.Template) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Revision - b.Revision
	})
	return out
}

// Template returns one template by name and revision.
func (q *Queries) Template(ctx context.Context, ref events.TemplateRef) (events.Template, bool) {
	for _, t := range q.views.Cloud().Templates {
		if t.Name == ref.Name && t.Revision == ref.Revision {
			return t, true
		}
	}
	return events.Template{}, false
}

// UpgradePlan returns the templates a cluster of the principal's may be upgraded to:
// kubeadm's rule, one minor version forward (or a newer patch), never a deprecated one.
func (q *Queries) UpgradePlan(ctx context.Context, p cluster.Principal, id string) ([]cse.Template, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || level(p, cv) == cluster.LevelNone {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	from := ""
	if cv.State != nil {
		from = cv.State.Template.KubernetesVersion
	}
	out := []cse.Template{}
	if from == "" {
		return out, nil // not created yet: nothing to upgrade
	}
	for _, t := range q.views.Cloud().Templates {
		if t.Deprecated || t.KubernetesVersion == from || cluster.CanUpgrade(from, t.KubernetesVersion) != nil {
			continue
		}
		out = append(out, cse.RenderTemplate(t))
	}
	return out, nil
}

// VDCs returns the org VDCs the principal may see: its org's, or every org's for a provider.
func (q *Queries) VDCs(ctx context.Context, p cluster.Principal) []cse.Ovdc {
	out := []cse.Ovdc{}
	for _, d := range q.views.Cloud().VDCs {
		if p.Provider || d.OrgID == p.Org {
			out = append(out, ovdc(d))
		}
	}
	return out
}

// VDC returns one org VDC the principal may see, named by its URN or, as CSE's routes
// name it, its bare UUID.
func (q *Queries) VDC(ctx context.Context, p cluster.Principal, id string) (cse.Ovdc, error) {
	urn := cse.VDCURN(id)
	for _, d := range q.views.Cloud().VDCs {
		if strings.EqualFold(d.ID, urn) && (p.Provider || d.OrgID == p.Org) {
			return ovdc(d), nil
		}
	}
	return cse.Ovdc{}, fmt.Errorf("org VDC %s: %w", id, ErrNotFound)
}

func ovdc(d projector.VDCView) cse.Ovdc {
	rt := d.Runtimes
	if rt == nil {
		rt = []string{}
	}
	return cse.Ovdc{Name: d.Name, ID: cse.OvdcID(d.ID), OrgName: d.OrgName, K8sRuntime: rt}
}

// VDCEnabled reports whether an org VDC, named as a tenant names it in a cluster spec, is
// enabled for Kubernetes.
func (q *Queries) VDCEnabled(ctx context.Context, orgName, vdcName string) bool {
	for _, d := range q.views.Cloud().VDCs {
		if strings.EqualFold(d.OrgName, orgName) && d.Name == vdcName {
			return d.Enabled()
		}
	}
	return false
}

// VDCNetworks returns the networks of an org VDC, named as a tenant names it in a cluster
// spec, as VCD last listed them; known is false when kaas has not read them (no sync since
// kaas reads networks, or the VDC is not one it knows).
func (q *Queries) VDCNetworks(ctx context.Context, orgName, vdcName string) (nets []events.Network, known bool) {
	for _, d := range q.views.Cloud().VDCs {
		if strings.EqualFold(d.OrgName, orgName) && d.Name == vdcName {
			return d.Networks, d.NetworksKnown
		}
	}
	return nil, false
}

// VDCOffers returns what an org VDC, named as a tenant names it in a cluster spec, offers
// VMs (storage profiles, sizing policies) as VCD last listed it; each list is known only
// once a sync read it.
func (q *Queries) VDCOffers(ctx context.Context, orgName, vdcName string) cluster.Offers {
	for _, d := range q.views.Cloud().VDCs {
		if strings.EqualFold(d.OrgName, orgName) && d.Name == vdcName {
			return cluster.Offers{StorageProfiles: d.StorageProfiles, StorageProfilesKnown: d.StorageProfilesKnown,
				SizingPolicies: d.SizingPolicies, SizingPoliciesKnown: d.SizingPoliciesKnown}
		}
	}
	return cluster.Offers{}
}

// ServiceEnabled reports whether the service takes requests.
func (q *Queries) ServiceEnabled(ctx context.Context) bool { return q.views.Cloud().ServiceEnabled }

// CloudSynced reports whether VCD's templates and VDCs were read at least once.
func (q *Queries) CloudSynced(ctx context.Context) bool { return !q.views.Cloud().Synced.IsZero() }

// HistoryReader loads a cluster's recorded events; deploy wires it to the JetStream store.
type HistoryReader interface {
	Load(ctx context.Context, clusterID string, afterSeq uint64) ([]jsstore.Record, error)
	Scan(ctx context.Context, f jsstore.ScanFilter, fn func(jsstore.Record) bool) error
}

// WithHistory lets the queries serve clusters' histories.
func (q *Queries) WithHistory(h HistoryReader) *Queries {
	q.history = h
	return q
}

// History returns the recorded events of a cluster the principal may see, oldest first.
func (q *Queries) History(ctx context.Context, p cluster.Principal, id string) ([]cse.Event, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || !cv.Exists() || level(p, cv) == cluster.LevelNone {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	out := []cse.Event{}
	if q.history == nil || cv.State == nil {
		return out, nil // accepted, nothing recorded yet
	}
	recs, err := q.history.Load(ctx, id, 0)
	if err != nil {
		return nil, fmt.Errorf("history of cluster %s: %w", id, err)
	}
	for _, r := range recs {
		e, err := entry(r, "")
		if err != nil {
			return nil, fmt.Errorf("history of cluster %s: %w", id, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// entry renders a record for a reader of history; kind is set for audit, where events and
// commands mix.
func entry(r jsstore.Record, kind string) (cse.Event, error) {
	data, err := json.Marshal(r.Envelope.Payload)
	if err != nil {
		return cse.Event{}, fmt.Errorf("record %d: %w", r.Seq, err)
	}
	e := r.Envelope
	out := cse.Event{ID: e.ID, Seq: r.Seq, Kind: kind, Type: e.Type, Time: e.Time, Actor: e.Actor, OperationID: e.CausationID,
		RequestID: e.CorrelationID, Hash: r.Hash(), PrevHash: e.PrevHash, Data: data}
	if kind != "" {
		out.ClusterID, out.OrgID = e.ClusterID, e.OrgID
		if e.ClusterID != events.CloudID {
			out.ClusterID = cse.EntityID(e.ClusterID) // the id the API knows a cluster by
		}
	}
	if kind == "command" {
		out.OperationID, out.Hash, out.PrevHash = e.ID, "", "" // a command is an operation; only events chain
	}
	return out, nil
}

// maxNewestFirst bounds the records an audit keeps to answer newest first (decoded, about
// 1.5 KB each: some 100 MB at most); deeper pages come out empty (ask oldest first, or
// narrow by time).
const maxNewestFirst = 1 << 16

// Audit returns one page of the records across clusters and orgs that match, oldest first
// unless NewestFirst, and how many matched. It reads the stream from After or Since (or the
// start) in order and renders only the page's records, so that a page of a long history
// costs one read of it and little memory; a cursor read (After) stops after the page.
func (q *Queries) Audit(ctx context.Context, f cse.AuditQuery) (cse.AuditResult, error) {
	if q.history == nil {
		return cse.AuditResult{}, errors.New("no history reader")
	}
	size := max(f.PageSize, 1)
	page := max(f.Page, 1)
	sf := jsstore.ScanFilter{Stream: events.EventStream, ClusterID: f.ClusterID, Since: f.Since, After: f.After}
	kind := "event"
	if f.Commands {
		sf.Stream, kind = events.CommandStream, "command"
	}
	// Oldest first, the page is matches [from, from+size). Newest first it is matches
	// [total-page*size, total-(page-1)*size), reversed: a ring keeps the last page*size
	// matches, since the total is known only at the end.
	from := (page - 1) * size
	if page-1 > math.MaxInt/size {
		from = math.MaxInt // a page past any history
	}
	var (
		kept  []jsstore.Record
		ring  []jsstore.Record
		next  int // the ring's oldest slot, once it is full
		total int
	)
	keepLast := 0
	if f.NewestFirst && !f.Cursor && page <= maxNewestFirst/size {
		keepLast = page * size
	}
	err := q.history.Scan(ctx, sf, func(r jsstore.Record) bool {
		e := r.Envelope
		if !f.Until.IsZero() && e.Time.After(f.Until) {
			// Records are stored in about the order of their times (each process stamps its
			// own): a minute past Until in the store, nothing later can match.
			return !r.Time.After(f.Until.Add(time.Minute))
		}
		if (f.OrgID != "" && e.OrgID != f.OrgID) || (f.Actor != "" && e.Actor != f.Actor) ||
			(len(f.Types) > 0 && !slices.Contains(f.Types, e.Type)) || (!f.Since.IsZero() && e.Time.Before(f.Since)) {
			return true
		}
		total++
		switch {
		case f.Cursor:
			kept = append(kept, r)
			return len(kept) <= size
		case keepLast > 0 && len(ring) < keepLast:
			ring = append(ring, r)
		case keepLast > 0:
			ring[next] = r
			next = (next + 1) % keepLast
		case !f.NewestFirst && total > from && total <= from+size:
			kept = append(kept, r)
		}
		return true
	})
	if err != nil {
		return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
	}
	if keepLast > 0 {
		ordered := append(slices.Clone(ring[next:]), ring[:next]...) // matches [total-len(ring), total)
		lo, hi := max(total-page*size, 0), total-(page-1)*size
		if base := total - len(ordered); hi > lo {
			kept = ordered[lo-base : hi-base]
			slices.Reverse(kept)
		}
	}
	res := cse.AuditResult{Records: make([]cse.Event, 0, len(kept)), Total: total}
	if f.Cursor {
		res.Total = -1
	}
	for _, r := range kept {
		ent, err := entry(r, kind)
		if err != nil {
			return cse.AuditResult{}, fmt.Errorf("audit: %w", err)
		}
		res.Records = append(res.Records, ent)
	}
	return res, nil
}

// OrgID returns the URN of the org of that name, as VCD listed it with its VDCs.
func (q *Queries) OrgID(ctx context.Context, orgName string) string {
	for _, d := range q.views.Cloud().VDCs {
		if strings.EqualFold(d.OrgName, orgName) && d.OrgID != "" {
			return d.OrgID
		}
	}
	return ""
}

// ErrNotYet means an as-of read asked for a moment before the cluster was created.
var ErrNotYet = cluster.ErrNotYet

// ClusterAsOf returns a cluster as it was at a past moment, folded from its recorded events
// up to that moment. A deleted cluster can be read as it was: its owner, the users it was
// shared with and providers may still read its past.
func (q *Queries) ClusterAsOf(ctx context.Context, p cluster.Principal, id string, at time.Time) (cse.DefEntity, error) {
	cv, ok := q.views.Cluster(id)
	if !ok || cv.State == nil || q.history == nil {
		return cse.DefEntity{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	if st := cv.State; p.On(st.OrgID, st.Owner, st.ACL) == cluster.LevelNone {
		return cse.DefEntity{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	recs, err := q.history.Load(ctx, id, 0)
	if err != nil {
		return cse.DefEntity{}, fmt.Errorf("history of cluster %s: %w", id, err)
	}
	past := &cluster.State{}
	for _, r := range recs {
		if r.Envelope.Time.After(at) {
			break
		}
		past.Apply(r.Envelope, r.Seq, r.Hash())
	}
	if !past.Exists {
		return cse.DefEntity{}, fmt.Errorf("cluster %s %w at %s: it was created at %s", id, ErrNotYet,
			at.UTC().Format(time.RFC3339), cv.State.Created.UTC().Format(time.RFC3339))
	}
	return q.render(projector.ClusterView{ID: id, State: past}), nil
}

// Verify walks every cluster's hash chain in the event stream and checks each chain's head
// against the one the live views read: a removed, changed or reordered event is reported
// with its cluster and sequence.
func (q *Queries) Verify(ctx context.Context) (cse.Verification, error) {
	if q.history == nil {
		return cse.Verification{}, errors.New("no history reader")
	}
	heads := q.views.Heads() // before the scan: heads the scan will reach
	v := jsstore.NewVerifier()
	if err := q.history.Scan(ctx, jsstore.ScanFilter{Stream: events.EventStream}, func(r jsstore.Record) bool {
		v.Add(r)
		return true
	}); err != nil {
		return cse.Verification{}, fmt.Errorf("verify: %w", err)
	}
	ids := slices.Sorted(maps.Keys(heads))
	for _, id := range ids {
		v.Head(id, heads[id].Seq, heads[id].Hash)
	}
	clusters, n, problems := v.Result()
	out := cse.Verification{Clusters: clusters, Events: n, OK: len(problems) == 0, Problems: []cse.ChainProblem{}}
	for _, p := range problems {
		out.Problems = append(out.Problems, cse.ChainProblem{ClusterID: cse.EntityID(p.ClusterID), Seq: p.Seq, Kind: p.Kind, Detail: p.Detail})
	}
	return out, nil
}
