package projector

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
)

// Operation statuses.
const (
	OpPending    = "PENDING"    // accepted, not yet started by an executor
	OpRunning    = "RUNNING"    // in progress
	OpSucceeded  = "SUCCEEDED"  // ended well
	OpFailed     = "FAILED"     // ended badly; Failure says why
	OpRejected   = "REJECTED"   // refused when an executor reached it
	OpSuperseded = "SUPERSEDED" // cancelled by a forced delete
)

// Operation is the view of one command and what it led to.
type Operation struct {
	ID        string
	ClusterID string
	OrgID     string
	Actor     string
	RequestID string
	Command   string
	// From the command: when it was accepted, and what a create asked for.
	Accepted   time.Time
	CommandSeq uint64
	// EventSeq is the sequence of the first event that named the command.
	EventSeq uint64
	Spec     *events.ClusterSpec
	Target   string // scale: worker count; upgrade: template
	// ACL is what a SetClusterACL command asked for; nil for other commands.
	ACL *[]events.ACLEntry
	// From the events.
	Status   string // empty until an event names the command
	Phase    events.Phase
	Step     string
	Percent  int
	Started  time.Time
	Ended    time.Time
	Failure  *events.Failure
	Retrying *events.Failure
}

// EffectiveStatus is the operation's status, PENDING until an executor recorded anything.
func (o *Operation) EffectiveStatus() string {
	if o.Status == "" {
		return OpPending
	}
	return o.Status
}

// Views is the read model. It is safe for concurrent use.
type Views struct {
	mu        sync.RWMutex
	clusters  map[string]*cluster.State
	orgs      map[string]map[string]bool // org id → cluster ids with events or a pending command
	ops       map[string]*Operation
	byCluster map[string][]string        // cluster id → its operation ids, in the order seen
	names     map[string]map[string]bool // org/vdc/lower(name) → cluster ids ever given that name
	cloud     *cloud
	cmdSeq    uint64
	evtSeq    uint64
	evtTime   time.Time     // of the last event folded, for the lag
	changed   chan struct{} // closed and replaced when a sequence moves and someone waits
	watched   atomic.Bool   // someone waits on changed
}

// NewViews returns empty views.
func NewViews() *Views {
	return &Views{clusters: map[string]*cluster.State{}, orgs: map[string]map[string]bool{}, ops: map[string]*Operation{},
		byCluster: map[string][]string{}, names: map[string]map[string]bool{}, cloud: newCloud(), changed: make(chan struct{})}
}

func (v *Views) op(id, clusterID string) *Operation {
	o := v.ops[id]
	if o == nil {
		o = &Operation{ID: id, ClusterID: clusterID}
		v.ops[id] = o
		v.byCluster[clusterID] = append(v.byCluster[clusterID], id)
	}
	return o
}

func (v *Views) index(org, clusterID string) {
	if org == "" {
		return
	}
	if v.orgs[org] == nil {
		v.orgs[org] = map[string]bool{}
	}
	v.orgs[org][clusterID] = true
}

func nameKey(org, vdc, name string) string { return org + "/" + vdc + "/" + strings.ToLower(name) }

func (v *Views) name(org string, s events.ClusterSpec, clusterID string) {
	k := nameKey(org, s.VDC, s.Name)
	if v.names[k] == nil {
		v.names[k] = map[string]bool{}
	}
	v.names[k][clusterID] = true
}

// Named returns the existing clusters of an org VDC with that name (compared without case,
// as VCD compares vApp names).
func (v *Views) Named(org, vdc, name string) []ClusterView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []ClusterView
	for id := range v.names[nameKey(org, vdc, name)] {
		if cv, ok := v.clusterLocked(id); ok && cv.Exists() {
			out = append(out, cv)
		}
	}
	return out
}

// ApplyCommand folds one command record.
func (v *Views) ApplyCommand(seq uint64, env events.Envelope) {
	v.mu.Lock()
	defer v.mu.Unlock()
	o := v.op(env.ID, env.ClusterID)
	o.OrgID, o.Actor, o.RequestID, o.Command, o.Accepted, o.CommandSeq = env.OrgID, env.Actor, env.CorrelationID, env.Type, env.Time, seq
	if env.ClusterID == events.CloudID {
		v.cloud.command(seq, env.Payload)
		v.advance(&v.cmdSeq, seq)
		return
	}
	switch c := env.Payload.(type) {
	case events.CreateCluster:
		s := c.Spec
		o.Spec = &s
		v.name(env.OrgID, s, env.ClusterID)
	case events.ScaleWorkers:
		o.Target = strconv.Itoa(c.Workers)
	case events.UpgradeTemplate:
		o.Target = c.Template.Name + " revision " + strconv.Itoa(c.Template.Revision)
	case events.DeleteNFSNode:
		o.Target = c.Node
	case events.SetClusterACL:
		acl := slices.Clone(c.Entries)
		o.ACL = &acl
	}
	v.index(env.OrgID, env.ClusterID)
	v.advance(&v.cmdSeq, seq)
}

// ApplyEvent folds one event record.
func (v *Views) ApplyEvent(seq uint64, hash string, env events.Envelope) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if env.ClusterID == events.CloudID {
		v.applyCloudEvent(seq, env)
		return
	}
	st := v.clusters[env.ClusterID]
	if st == nil {
		st = &cluster.State{}
		v.clusters[env.ClusterID] = st
	}
	var before string
	if st.Op != nil {
		before = st.Op.CommandID
	}
	st.Apply(env, seq, hash)
	v.index(st.OrgID, env.ClusterID)
	if c, ok := env.Payload.(events.ClusterCreationStarted); ok {
		v.name(env.OrgID, c.Spec, env.ClusterID)
	}

	if env.CausationID != "" {
		o := v.op(env.CausationID, env.ClusterID)
		if o.EventSeq == 0 {
			o.EventSeq = seq
		}
		if o.OrgID == "" {
			o.OrgID, o.Actor, o.RequestID = env.OrgID, env.Actor, env.CorrelationID
		}
		switch p := env.Payload.(type) {
		case events.CommandRejected:
			f := p.Failure
			o.Status, o.Failure, o.Ended = OpRejected, &f, env.Time
		case events.ClusterACLChanged:
			// Sharing is done when recorded: no VCD work, no phase.
			o.Status, o.Started, o.Ended, o.Percent, o.Step = OpSucceeded, env.Time, env.Time, 100, env.Type
			if o.ACL == nil { // the event folded before its command
				acl := slices.Clone(p.Entries)
				o.ACL = &acl
			}
		case events.ClusterDeletionStarted:
			if p.Superseded != "" {
				prev := v.op(p.Superseded, env.ClusterID)
				prev.Status, prev.Ended = OpSuperseded, env.Time
				if prev.Phase != "" {
					prev.Phase = events.MakePhase(prev.Phase.Op(), events.StatusFailed)
				}
				prev.Failure = &events.Failure{Code: events.CodeSuperseded, Message: "cancelled by a forced delete"}
			}
		}
		if st.Op != nil && st.Op.CommandID == env.CausationID {
			if o.Status == "" {
				o.Started = env.Time
			}
			o.Status, o.Phase = OpRunning, st.Phase
			o.Step, o.Percent = cluster.Progress(st)
			o.Command = st.Op.CommandType
			o.Retrying = nil
			if r := st.Op.Retry; r != nil {
				f := r.Failure
				o.Retrying = &f
			}
			if o.Status == OpRunning && st.Op.Failed != nil {
				f := *st.Op.Failed
				o.Failure = &f
			}
		} else if before == env.CausationID {
			// The event ended the operation.
			o.Phase, o.Ended, o.Step, o.Retrying = st.Phase, env.Time, env.Type, nil
			if st.Phase.Status() == events.StatusFailed {
				o.Status = OpFailed
				if st.LastFailure != nil {
					f := *st.LastFailure
					o.Failure = &f
				}
			} else {
				o.Status, o.Percent = OpSucceeded, 100
			}
		}
	}
	v.evtTime = env.Time
	v.advance(&v.evtSeq, seq)
}

func (v *Views) advance(seq *uint64, to uint64) {
	if to > *seq {
		*seq = to
	}
	// A new channel only when someone waits on the current one: a rebuild folds a million
	// records with nobody watching most of them.
	if v.watched.Swap(false) {
		close(v.changed)
		v.changed = make(chan struct{})
	}
}

// Seqs returns the command and event stream sequences the views have reached.
func (v *Views) Seqs() (commands, evts uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.cmdSeq, v.evtSeq
}

// WaitFor blocks until the views have reached both sequences, or ctx ends.
func (v *Views) WaitFor(ctx context.Context, commands, evts uint64) error {
	for {
		v.mu.RLock()
		ok, ch := v.cmdSeq >= commands && v.evtSeq >= evts, v.changed
		if !ok {
			v.watched.Store(true) // under the read lock: the next advance sees it
		}
		v.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ClusterView is one cluster as the views know it: its folded state (nil before its first
// event) and the operations accepted but not yet started.
type ClusterView struct {
	ID      string
	State   *cluster.State
	Pending []*Operation
	// Current is the operation in progress or the last one.
	Current *Operation
	// PendingACL is the ACL of the newest sharing change not yet recorded, if any: sharing
	// shows at once, as other accepted changes do.
	PendingACL *[]events.ACLEntry
}

// Org returns the cluster's org URN.
func (c ClusterView) Org() string {
	if c.State != nil && c.State.OrgID != "" {
		return c.State.OrgID
	}
	if o := c.PendingCreate(); o != nil {
		return o.OrgID
	}
	return ""
}

// Owner returns the URN of the user who created the cluster.
func (c ClusterView) Owner() string {
	if c.State != nil && c.State.Exists {
		return c.State.Owner
	}
	if o := c.PendingCreate(); o != nil {
		return o.Actor
	}
	return ""
}

// ACL returns the users the cluster is shared with, pending changes included.
func (c ClusterView) ACL() []events.ACLEntry {
	if c.PendingACL != nil {
		return *c.PendingACL
	}
	if c.State != nil {
		return c.State.ACL
	}
	return nil
}

// Exists reports whether the cluster exists for a tenant: created (or about to be) and not
// deleted.
func (c ClusterView) Exists() bool {
	if c.State != nil && c.State.Exists {
		return !c.State.Deleted
	}
	return c.PendingCreate() != nil
}

// PendingCreate returns the create waiting to start, if the cluster has no events yet.
func (c ClusterView) PendingCreate() *Operation {
	for _, o := range c.Pending {
		if o.Spec != nil && (c.State == nil || !c.State.Exists) {
			return o
		}
	}
	return nil
}

// Cluster returns a copy of one cluster's view.
func (v *Views) Cluster(id string) (ClusterView, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.clusterLocked(id)
}

func (v *Views) clusterLocked(id string) (ClusterView, bool) {
	cv := ClusterView{ID: id}
	if st := v.clusters[id]; st != nil {
		cv.State = st.Clone()
	}
	var last *Operation // the operation that ran last, for its outcome
	var aclSeq uint64
	for _, opID := range v.byCluster[id] {
		o := v.ops[opID]
		if o.Status == "" && o.ACL != nil {
			if cv.PendingACL == nil || o.CommandSeq > aclSeq {
				acl := slices.Clone(*o.ACL)
				cv.PendingACL, aclSeq = &acl, o.CommandSeq
			}
			continue
		}
		if o.Status == "" && o.Command != "" {
			c := *o
			cv.Pending = append(cv.Pending, &c)
		}
		if o.ACL != nil {
			continue // sharing is not the cluster's operation
		}
		if o.Status != "" && o.Status != OpRejected && (last == nil || o.EventSeq > last.EventSeq) {
			last = o
		}
	}
	slices.SortFunc(cv.Pending, func(a, b *Operation) int { return cmp.Compare(a.CommandSeq, b.CommandSeq) })
	if last != nil {
		c := *last
		cv.Current = &c
	}
	return cv, cv.State != nil || len(cv.Pending) > 0
}

// OrgClusters returns the clusters of an org (every org when org is empty) that exist,
// sorted by name then id.
func (v *Views) OrgClusters(org string) []ClusterView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var ids []string
	if org == "" {
		for _, m := range v.orgs {
			for id := range m {
				ids = append(ids, id)
			}
		}
	} else {
		for id := range v.orgs[org] {
			ids = append(ids, id)
		}
	}
	var out []ClusterView
	for _, id := range ids {
		if cv, ok := v.clusterLocked(id); ok && cv.Exists() {
			out = append(out, cv)
		}
	}
	slices.SortFunc(out, func(a, b ClusterView) int { return cmp.Or(cmp.Compare(a.Name(), b.Name()), cmp.Compare(a.ID, b.ID)) })
	return out
}

// Name returns the cluster's name.
func (c ClusterView) Name() string {
	if c.State != nil && c.State.Exists {
		return c.State.Spec.Name
	}
	if o := c.PendingCreate(); o != nil {
		return o.Spec.Name
	}
	return ""
}

// Operation returns a copy of one operation.
func (v *Views) Operation(id string) (Operation, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o, ok := v.ops[id]
	if !ok || (o.Command == "" && o.Status == "") {
		return Operation{}, false
	}
	return *o, true
}

// Equal reports whether two views hold the same clusters and operations. The sequences
// reached are compared too: views that saw different amounts of history are not equal.
func (v *Views) Equal(o *Views) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o.mu.RLock()
	defer o.mu.RUnlock()
	return v.cmdSeq == o.cmdSeq && v.evtSeq == o.evtSeq && reflect.DeepEqual(v.clusters, o.clusters) &&
		reflect.DeepEqual(v.ops, o.ops) && reflect.DeepEqual(v.orgs, o.orgs) && reflect.DeepEqual(v.names, o.names) && sameSets(v.byCluster, o.byCluster) &&
		reflect.DeepEqual(v.cloud.view(), o.cloud.view())
}

// sameSets compares the per-cluster operation lists as sets: their order reflects how the
// two streams interleaved, which a rebuild is free to do differently.
func sameSets(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y := b[k]
		if len(x) != len(y) {
			return false
		}
		xs, ys := slices.Clone(x), slices.Clone(y)
		slices.Sort(xs)
		slices.Sort(ys)
		if !slices.Equal(xs, ys) {
			return false
		}
	}
	return true
}

// skip moves a stream's sequence past a record that could not be read.
func (v *Views) skip(stream string, seq uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if stream == events.CommandStream {
		v.advance(&v.cmdSeq, seq)
	} else {
		v.advance(&v.evtSeq, seq)
	}
}

// Head is the newest event the views folded for a cluster: its sequence and hash.
type Head struct {
	Seq  uint64
	Hash string
}

// Heads returns every cluster's head, for checking the stored history against what was read.
func (v *Views) Heads() map[string]Head {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string]Head, len(v.clusters))
	for id, st := range v.clusters {
		if st.Seq > 0 {
			out[id] = Head{st.Seq, st.Hash}
		}
	}
	return out
}

// Clone returns a deep copy of the views as they are now, for comparing with a rebuild
// while these keep serving and moving on.
func (v *Views) Clone() *Views {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := NewViews()
	for id, st := range v.clusters {
		c.clusters[id] = st.Clone()
	}
	for org, ids := range v.orgs {
		c.orgs[org] = maps.Clone(ids)
	}
	for id, o := range v.ops {
		cp := *o
		c.ops[id] = &cp
	}
	for id, ops := range v.byCluster {
		c.byCluster[id] = slices.Clone(ops)
	}
	for k, ids := range v.names {
		c.names[k] = maps.Clone(ids)
	}
	c.cloud = v.cloud.clone()
	c.cmdSeq, c.evtSeq, c.evtTime = v.cmdSeq, v.evtSeq, v.evtTime
	return c
}

// Diff lists how o differs from v: each cluster, operation or other part that is not the
// same, by id. Equal views have none.
func (v *Views) Diff(o *Views) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []string
	if v.cmdSeq != o.cmdSeq || v.evtSeq != o.evtSeq {
		out = append(out, fmt.Sprintf("sequences: commands %d vs %d, events %d vs %d", v.cmdSeq, o.cmdSeq, v.evtSeq, o.evtSeq))
	}
	for _, id := range slices.Sorted(maps.Keys(union(v.clusters, o.clusters))) {
		if !reflect.DeepEqual(v.clusters[id], o.clusters[id]) {
			out = append(out, "cluster "+id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(union(v.ops, o.ops))) {
		if !reflect.DeepEqual(v.ops[id], o.ops[id]) {
			out = append(out, "operation "+id)
		}
	}
	if !reflect.DeepEqual(v.orgs, o.orgs) {
		out = append(out, "clusters by org")
	}
	if !reflect.DeepEqual(v.names, o.names) {
		out = append(out, "cluster names")
	}
	if !sameSets(v.byCluster, o.byCluster) {
		out = append(out, "operations by cluster")
	}
	if !reflect.DeepEqual(v.cloud.view(), o.cloud.view()) {
		out = append(out, "cloud (templates, org VDCs, service state)")
	}
	return out
}

func union[V any](a, b map[string]V) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// OperationCount is how many operations (accepted commands) the views know.
func (v *Views) OperationCount() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.ops)
}

// Operations returns a copy of every operation, in the order their commands were accepted.
func (v *Views) Operations() []Operation {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]Operation, 0, len(v.ops))
	for _, o := range v.ops {
		if o.Command != "" || o.Status != "" {
			out = append(out, *o)
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		return cmp.Or(cmp.Compare(a.CommandSeq, b.CommandSeq), cmp.Compare(a.EventSeq, b.EventSeq), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// replaceWith gives v the contents of o, in place, so that everyone holding v reads o's.
func (v *Views) replaceWith(o *Views) {
	c := o.Clone()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clusters, v.orgs, v.ops, v.byCluster, v.names, v.cloud = c.clusters, c.orgs, c.ops, c.byCluster, c.names, c.cloud
	v.cmdSeq, v.evtSeq, v.evtTime = c.cmdSeq, c.evtSeq, c.evtTime
	if v.watched.Swap(false) {
		close(v.changed)
		v.changed = make(chan struct{})
	}
}
