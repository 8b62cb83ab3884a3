package projector

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
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
	// VDC is the org VDC a SetVDCRuntimes command changes; nil for other commands.
	VDC *events.VDC
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
//
// The views are a function of the two streams' records alone, whatever the order in which a
// projector happens to interleave them: each stream is followed by its own consumer, so a
// rebuild may fold a command long after the events it caused, or long before. Whatever both
// folds know of one thing is therefore kept in two parts, each written by one fold only (which
// sees its own stream in order), and merged when read with a fixed precedence.
type Views struct {
	mu        sync.RWMutex
	clusters  map[string]*cluster.State
	orgs      map[string]map[string]bool // org id → ids of the clusters created in it
	ops       map[string]*opRecord
	byCluster map[string][]*opRecord // cluster id → its operations, in opOrder
	names     map[string][]string    // org/vdc/lower(name) → cluster ids ever given that name, sorted (usually one: no map each)
	// The cluster lists in order, kept by the folds (listing.go): a page costs the page.
	listed    map[string]listing  // cluster id → its orgs, and its name while it exists
	byName    *ordered            // every existing cluster filed under an org, by name then id
	orgByName map[string]*ordered // org id → its existing clusters, by name then id
	cloud     *cloud
	strs      strs // strings many records carry, one copy each (intern.go)
	// The audit's index (audit.go): org id → stream sequences of its events, its commands.
	auditEvts, auditCmds map[string][]uint64
	firstEvt             map[string]uint64 // cluster id → the sequence of its first event
	// Template revisions are aggregates beside the clusters: templates is their events'
	// fold, tmplCmds the aggregates template commands named (each written by one fold).
	templates map[string]*tmplFold
	tmplCmds  map[string]bool
	cmdSeq    uint64
	evtSeq    uint64
	evtTime   time.Time     // of the last event folded, for the lag
	changed   chan struct{} // closed and replaced when a sequence moves and someone waits
	watched   atomic.Bool   // someone waits on changed
	// cloudView is Cloud's answer until the cloud or the templates change (nil: build it
	// anew). A create reads it several times, and building it copies every org VDC.
	cloudView atomic.Pointer[CloudView]
	cloudGen  atomic.Uint64 // moves with every change of cloudView (CloudVersion)
	// folding is held by the fold while it applies a batch of records; a snapshot's copy
	// holds it, so that the fold waits there rather than on mu, where readers would queue
	// behind it.
	folding sync.Mutex
}

// opRecord is one operation as the two folds know it: cmd is written by ApplyCommand only,
// evt by ApplyEvent only, and operation merges them.
type opRecord struct {
	id, clusterID string
	cmd           fromCommand
	evt           fromEvents
}

// fromCommand is what an operation's command record says. Stream sequences start at 1:
// seq is 0 until the command is folded.
type fromCommand struct {
	seq                          uint64
	orgID, actor, requestID, typ string
	accepted                     time.Time
	spec                         *events.ClusterSpec
	target                       string
	acl                          *[]events.ACLEntry
	vdc                          *events.VDC
	tmpl                         *tmplCommand // what a template command says of its revision
}

// fromEvents is what the events naming an operation say of it; seq is the first such
// event's, 0 before.
type fromEvents struct {
	seq                          uint64
	orgID, actor, requestID, typ string
	acl                          *[]events.ACLEntry
	vdc                          *events.VDC
	status                       string
	phase                        events.Phase
	step                         string
	percent                      int
	started, ended               time.Time
	failure, retrying            *events.Failure
}

// progressed notes an event of the operation in progress: its command type, phase (none
// for a template's), step and rough percentage, why it failed while it is rolled back, why
// its step is retried. The failures are copied.
func (o *fromEvents) progressed(at time.Time, typ string, phase events.Phase, step string, percent int, failed, retry *events.Failure) {
	if o.status == "" {
		o.started = at
	}
	o.status, o.phase, o.typ, o.step, o.percent = OpRunning, phase, cmp.Or(typ, o.typ), step, percent
	o.retrying = nil
	if retry != nil {
		f := *retry
		o.retrying = &f
	}
	if failed != nil {
		f := *failed
		o.failure = &f
	}
}

// finished notes the event that ended the operation, in phase (none for a template's),
// and why it failed (copied) when it did.
func (o *fromEvents) finished(env events.Envelope, phase events.Phase, failed bool, failure *events.Failure) {
	o.phase, o.ended, o.step, o.retrying = phase, env.Time, env.Type, nil
	if !failed {
		o.status, o.percent = OpSucceeded, 100
		return
	}
	o.status = OpFailed
	if failure != nil {
		f := *failure
		o.failure = &f
	}
}

// command is the operation's command type: the command record's, else what its events said.
func (r *opRecord) command() string { return cmp.Or(r.cmd.typ, r.evt.typ) }

// acl is what a sharing change asked for: the command record's, else what its event
// recorded; nil for other operations.
func (r *opRecord) acl() *[]events.ACLEntry {
	if r.cmd.seq != 0 {
		return r.cmd.acl
	}
	return r.evt.acl
}

// vdc is the org VDC a SetVDCRuntimes changes: the command record's, else its event's.
func (r *opRecord) vdc() *events.VDC {
	if r.cmd.seq != 0 {
		return r.cmd.vdc
	}
	return r.evt.vdc
}

// known reports whether the folds know anything of the operation to show: its command, or
// what became of it.
func (r *opRecord) known() bool { return r.command() != "" || r.evt.status != "" }

// operation merges the two parts: the command record is authoritative for what it carries
// (type, actor, org, request id, spec, target, ACL); the events' values stand in until it
// is folded. Pointers are shared: readers must not change what they point to.
func (r *opRecord) operation() Operation {
	c, e := &r.cmd, &r.evt
	return Operation{ID: r.id, ClusterID: r.clusterID,
		OrgID: cmp.Or(c.orgID, e.orgID), Actor: cmp.Or(c.actor, e.actor), RequestID: cmp.Or(c.requestID, e.requestID), Command: r.command(),
		Accepted: c.accepted, CommandSeq: c.seq, EventSeq: e.seq, Spec: c.spec, Target: c.target, ACL: r.acl(), VDC: r.vdc(),
		Status: e.status, Phase: e.phase, Step: e.step, Percent: e.percent, Started: e.started, Ended: e.ended,
		Failure: e.failure, Retrying: e.retrying}
}

// opOrder orders a cluster's operations by when their commands were accepted, then (for
// those whose command is not folded yet, which came after every folded one) by their first
// event, then by id: a function of what was folded, not of the order it was folded in.
func opOrder(a, b *opRecord) int {
	return cmp.Or(cmp.Compare(orderSeq(a.cmd.seq), orderSeq(b.cmd.seq)), cmp.Compare(a.evt.seq, b.evt.seq), strings.Compare(a.id, b.id))
}

func orderSeq(s uint64) uint64 {
	if s == 0 {
		return math.MaxUint64
	}
	return s
}

// NewViews returns empty views.
func NewViews() *Views {
	return &Views{clusters: map[string]*cluster.State{}, orgs: map[string]map[string]bool{}, ops: map[string]*opRecord{},
		byCluster: map[string][]*opRecord{}, names: map[string][]string{}, cloud: newCloud(), changed: make(chan struct{}),
		listed: map[string]listing{}, byName: &ordered{}, orgByName: map[string]*ordered{}, strs: strs{},
		auditEvts: map[string][]uint64{}, auditCmds: map[string][]uint64{}, firstEvt: map[string]uint64{},
		templates: map[string]*tmplFold{}, tmplCmds: map[string]bool{}}
}

// op returns the operation's record, made and placed in its cluster's list when new.
func (v *Views) op(id, clusterID string) *opRecord {
	r := v.ops[id]
	if r == nil {
		r = &opRecord{id: id, clusterID: clusterID}
		v.ops[id] = r
		v.place(r)
	}
	return r
}

// place puts r in its cluster's list where opOrder says.
func (v *Views) place(r *opRecord) {
	list := v.byCluster[r.clusterID]
	if n := len(list); n == 0 || opOrder(list[n-1], r) < 0 { // the usual case: the newest
		v.byCluster[r.clusterID] = append(list, r)
		return
	}
	i, _ := slices.BinarySearchFunc(list, r, opOrder)
	v.byCluster[r.clusterID] = slices.Insert(list, i, r)
}

// rekey changes what r is ordered by (or its cluster), keeping the lists in order.
func (v *Views) rekey(r *opRecord, change func()) {
	list := v.byCluster[r.clusterID]
	if i, found := slices.BinarySearchFunc(list, r, opOrder); found {
		if list = slices.Delete(list, i, i+1); len(list) == 0 {
			delete(v.byCluster, r.clusterID)
		} else {
			v.byCluster[r.clusterID] = list
		}
	}
	change()
	v.place(r)
}

// commandSeq is the sequence of a folded command, 0 if it is not folded (yet).
func (v *Views) commandSeq(id string) uint64 {
	if r := v.ops[id]; r != nil {
		return r.cmd.seq
	}
	return 0
}

func (v *Views) index(org, clusterID string) {
	if org == "" {
		return
	}
	if v.orgs[org] == nil {
		v.orgs[org] = map[string]bool{}
	}
	if !v.orgs[org][clusterID] {
		v.orgs[org][clusterID] = true
		v.fileUnder(org, clusterID)
	}
}

func nameKey(org, vdc, name string) string { return org + "/" + vdc + "/" + strings.ToLower(name) }

func (v *Views) name(org string, s events.ClusterSpec, clusterID string) {
	k := nameKey(org, s.VDC, s.Name)
	ids := v.names[k]
	if i, found := slices.BinarySearch(ids, clusterID); !found {
		v.names[k] = slices.Insert(ids, i, clusterID)
	}
}

// Named returns the existing clusters of an org VDC with that name (compared without case,
// as VCD compares vApp names).
func (v *Views) Named(org, vdc, name string) []ClusterView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []ClusterView
	for _, id := range v.names[nameKey(org, vdc, name)] {
		if cv, ok := v.clusterLocked(id); ok && cv.Exists() {
			out = append(out, cv)
		}
	}
	slices.SortFunc(out, func(a, b ClusterView) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ApplyCommand folds one command record.
func (v *Views) ApplyCommand(seq uint64, env events.Envelope) {
	v.mu.Lock()
	defer v.mu.Unlock()
	noteOrg(v.auditCmds, env.OrgID, seq)
	if env.ClusterID != events.CloudID {
		env = v.interned(env)
	}
	c := fromCommand{seq: seq, orgID: env.OrgID, actor: env.Actor, requestID: env.CorrelationID, typ: env.Type, accepted: env.Time}
	if env.ClusterID == events.CloudID {
		v.cloud.command(seq, env.Payload)
		v.cloudChanged()
	}
	switch p := env.Payload.(type) {
	case events.CreateCluster:
		s := p.Spec
		c.spec = &s
		// A cluster is filed under the org it is created in, whoever acts on it later: a
		// provider's change command carried the provider's org in older histories.
		v.name(env.OrgID, s, env.ClusterID)
		v.index(env.OrgID, env.ClusterID)
	case events.ScaleWorkers:
		c.target = strconv.Itoa(p.Workers)
	case events.UpgradeTemplate:
		c.target = p.Template.Name + " revision " + strconv.Itoa(p.Template.Revision)
	case events.DeleteNFSNode:
		c.target = p.Node
	case events.SetClusterACL:
		acl := slices.Clone(p.Entries)
		c.acl = &acl
	case events.SetVDCRuntimes:
		vdc := p.VDC
		c.vdc = &vdc
	}
	if c.tmpl = templateCommand(env.Payload); c.tmpl != nil {
		v.cloudChanged() // a pending deprecation or delete changes the templates offered
		c.target = templateTarget(c.tmpl.ref)
		v.tmplCmds[env.ClusterID] = true
	}
	switch r := v.ops[env.ID]; {
	case r == nil:
		r = &opRecord{id: env.ID, clusterID: env.ClusterID, cmd: c}
		v.ops[env.ID] = r
		v.place(r)
	case r.cmd.seq == seq && r.clusterID == env.ClusterID:
		r.cmd = c
	default: // its events came first (and the command says which cluster), or it was stored twice
		was := r.clusterID
		v.rekey(r, func() { r.cmd, r.clusterID = c, env.ClusterID })
		if was != env.ClusterID {
			v.relist(was)
		}
	}
	if env.ClusterID != events.CloudID {
		v.relist(env.ClusterID)
	}
	v.advance(&v.cmdSeq, seq)
}

// ApplyEvent folds one event record. It reads and writes only what events made: the
// cluster's state and the events' part of operations.
func (v *Views) ApplyEvent(seq uint64, hash string, env events.Envelope) {
	v.mu.Lock()
	defer v.mu.Unlock()
	noteOrg(v.auditEvts, env.OrgID, seq)
	if env.ClusterID == events.CloudID {
		v.applyCloudEvent(seq, env)
		v.cloudChanged()
		return
	}
	if v.templateFold(env) {
		v.applyTemplateEvent(seq, hash, env)
		v.cloudChanged()
		return
	}
	env = v.interned(env)
	st := v.clusters[env.ClusterID]
	if st == nil {
		st = &cluster.State{}
		v.clusters[env.ClusterID] = st
		v.firstEvt[env.ClusterID] = seq
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

	defer v.relist(env.ClusterID)
	if env.CausationID != "" {
		r := v.named(seq, env)
		if r.clusterID != env.ClusterID {
			defer v.relist(r.clusterID) // its command named another cluster, whose pending work this changes
		}
		o := &r.evt
		switch p := env.Payload.(type) {
		case events.CommandRejected:
			f := p.Failure
			o.status, o.failure, o.ended = OpRejected, &f, env.Time
			o.typ = cmp.Or(p.CommandType, o.typ)
		case events.ClusterACLChanged:
			// Sharing is done when recorded: no VCD work, no phase.
			o.status, o.started, o.ended, o.percent, o.step = OpSucceeded, env.Time, env.Time, 100, env.Type
			o.typ = events.TypeSetClusterACL
			acl := slices.Clone(p.Entries)
			o.acl = &acl
		case events.ClusterDeletionStarted:
			if p.Superseded != "" {
				sup := v.op(p.Superseded, env.ClusterID)
				defer v.relist(sup.clusterID)
				prev := &sup.evt
				prev.status, prev.ended = OpSuperseded, env.Time
				if prev.phase != "" {
					prev.phase = events.MakePhase(prev.phase.Op(), events.StatusFailed)
				}
				prev.failure = &events.Failure{Code: events.CodeSuperseded, Message: "cancelled by a forced delete"}
			}
		}
		if st.Op != nil && st.Op.CommandID == env.CausationID {
			var retry *events.Failure
			if r := st.Op.Retry; r != nil {
				retry = &r.Failure
			}
			step, percent := cluster.Progress(st)
			o.progressed(env.Time, st.Op.CommandType, st.Phase, step, percent, st.Op.Failed, retry)
		} else if before == env.CausationID {
			o.finished(env, st.Phase, st.Phase.Status() == events.StatusFailed, st.LastFailure)
		}
	}
	v.evtTime = env.Time
	v.advance(&v.evtSeq, seq)
}

// named returns the record of the operation an event names, noting the event when it is
// the first to name it.
func (v *Views) named(seq uint64, env events.Envelope) *opRecord {
	r := v.ops[env.CausationID]
	switch {
	case r == nil:
		r = &opRecord{id: env.CausationID, clusterID: env.ClusterID, evt: fromEvents{seq: seq}}
		v.ops[r.id] = r
		v.place(r)
	case r.evt.seq == 0:
		v.rekey(r, func() { r.evt.seq = seq })
	}
	o := &r.evt
	if o.orgID == "" {
		o.orgID, o.actor, o.requestID = env.OrgID, env.Actor, env.CorrelationID
	}
	return r
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

// EventTime returns the time of the newest event folded.
func (v *Views) EventTime() time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.evtTime
}

// CloudVersion changes whenever Cloud's answer may: a cache of something made from it is
// current while the version it was made at is.
func (v *Views) CloudVersion() uint64 { return v.cloudGen.Load() }

// cloudChanged drops Cloud's shared answer after a fold changed what it is made of.
func (v *Views) cloudChanged() {
	v.cloudView.Store(nil)
	v.cloudGen.Add(1)
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

// Level is what the principal may do with the cluster, by its org, owner and ACL as the
// views show them (pending changes included).
func (c ClusterView) Level(p cluster.Principal) cluster.Level {
	return p.On(c.Org(), c.Owner(), c.ACL())
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

func (v *Views) clusterLocked(id string) (ClusterView, bool) { return v.viewLocked(id, true) }

// peekLocked is the cluster's view as the views hold it, without copying its state or
// merging its current operation: for deciding, under the lock, whether to list it.
func (v *Views) peekLocked(id string) ClusterView {
	cv, _ := v.viewLocked(id, false)
	return cv
}

// viewLocked builds a cluster's view: a copy of everything when deep, else the state as
// held and no Current.
func (v *Views) viewLocked(id string, deep bool) (ClusterView, bool) {
	cv := ClusterView{ID: id}
	if v.isTemplate(id) {
		return cv, false // a template revision's aggregate is no cluster
	}
	if st := v.clusters[id]; st != nil {
		cv.State = st
		if deep {
			cv.State = st.Clone()
		}
	}
	// The list is in opOrder and every choice below breaks ties by it: what a reader sees
	// does not depend on the order records were folded in.
	var last, acl *opRecord // the operation that ran last, for its outcome; the newest pending sharing change
	for _, r := range v.byCluster[id] {
		status := r.evt.status
		if a := r.acl(); a != nil {
			if status == "" {
				acl = r // the list is in command order
			}
			continue // sharing is not the cluster's operation
		}
		if status == "" && r.command() != "" {
			o := r.operation()
			cv.Pending = append(cv.Pending, &o)
		}
		if status != "" && status != OpRejected && (last == nil || r.evt.seq > last.evt.seq) {
			last = r
		}
	}
	if acl != nil {
		a := slices.Clone(*acl.acl())
		cv.PendingACL = &a
	}
	if last != nil && deep {
		o := last.operation()
		cv.Current = &o
	}
	return cv, cv.State != nil || len(cv.Pending) > 0
}

// OrgClusters returns the clusters of an org (every org when org is empty) that exist,
// sorted by name then id. A cluster is filed under the org it was created in only, but
// should its create and its events ever disagree, it is still listed once in every org's.
func (v *Views) OrgClusters(org string) []ClusterView {
	out, _ := v.ClusterPage(org, 0, math.MaxInt, nil)
	return out
}

// Spec returns the spec the cluster is shown with: its state's once it exists, else its
// pending create's.
func (c ClusterView) Spec() events.ClusterSpec {
	if c.State != nil && c.State.Exists {
		return c.State.Spec
	}
	if o := c.PendingCreate(); o != nil {
		return *o.Spec
	}
	return events.ClusterSpec{}
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
	r, ok := v.ops[id]
	if !ok || !r.known() {
		return Operation{}, false
	}
	return r.operation(), true
}

// Equal reports whether two views hold the same clusters and operations. The sequences
// reached are compared too: views that saw different amounts of history are not equal.
func (v *Views) Equal(o *Views) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o.mu.RLock()
	defer o.mu.RUnlock()
	return v.cmdSeq == o.cmdSeq && v.evtSeq == o.evtSeq && reflect.DeepEqual(v.clusters, o.clusters) &&
		reflect.DeepEqual(v.ops, o.ops) && reflect.DeepEqual(v.orgs, o.orgs) && reflect.DeepEqual(v.names, o.names) && sameOrder(v.byCluster, o.byCluster) &&
		reflect.DeepEqual(v.cloud.view(v.commandSeq), o.cloud.view(o.commandSeq)) && maps.Equal(v.cloud.users, o.cloud.users) &&
		reflect.DeepEqual(v.templates, o.templates) && maps.Equal(v.tmplCmds, o.tmplCmds) && listsEqual(v, o) &&
		indexEqual(v.auditEvts, o.auditEvts) && indexEqual(v.auditCmds, o.auditCmds) && maps.Equal(v.firstEvt, o.firstEvt)
}

// sameOrder compares the per-cluster operation lists by id (the records are compared with
// the operations).
func sameOrder(a, b map[string][]*opRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !slices.EqualFunc(x, y, func(p, q *opRecord) bool { return p.id == q.id }) {
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
	for id, f := range v.templates {
		out[id] = Head{f.st.Seq, f.st.Hash}
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
	for id, r := range v.ops {
		cp := *r
		c.ops[id] = &cp
	}
	for id, list := range v.byCluster {
		cl := make([]*opRecord, len(list))
		for i, r := range list {
			cl[i] = c.ops[r.id]
		}
		c.byCluster[id] = cl
	}
	for k, ids := range v.names {
		c.names[k] = slices.Clone(ids)
	}
	c.cloud = v.cloud.clone()
	for id, f := range v.templates {
		c.templates[id] = &tmplFold{st: f.st.Clone(), op: f.op}
	}
	c.tmplCmds = maps.Clone(v.tmplCmds)
	c.relistAll() // from what was copied: a clone checks the live lists
	c.auditEvts, c.auditCmds, c.firstEvt = cloneIndex(v.auditEvts), cloneIndex(v.auditCmds), maps.Clone(v.firstEvt)
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
	if !sameOrder(v.byCluster, o.byCluster) {
		out = append(out, "operations by cluster")
	}
	if !listsEqual(v, o) {
		out = append(out, "cluster lists")
	}
	if !indexEqual(v.auditEvts, o.auditEvts) || !indexEqual(v.auditCmds, o.auditCmds) {
		out = append(out, "audit index of orgs")
	}
	if !maps.Equal(v.firstEvt, o.firstEvt) {
		out = append(out, "clusters' first events")
	}
	if !reflect.DeepEqual(v.cloud.view(v.commandSeq), o.cloud.view(o.commandSeq)) {
		out = append(out, "cloud (templates, org VDCs, service state)")
	}
	if !maps.Equal(v.cloud.users, o.cloud.users) {
		out = append(out, "VCD users")
	}
	for _, id := range slices.Sorted(maps.Keys(union(v.templates, o.templates))) {
		if !reflect.DeepEqual(v.templates[id], o.templates[id]) {
			out = append(out, "template "+id)
		}
	}
	if !maps.Equal(v.tmplCmds, o.tmplCmds) {
		out = append(out, "template commands")
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
	for _, r := range v.ops {
		if r.known() {
			out = append(out, r.operation())
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
	v.listed, v.byName, v.orgByName = c.listed, c.byName, c.orgByName
	v.auditEvts, v.auditCmds, v.firstEvt = c.auditEvts, c.auditCmds, c.firstEvt
	v.templates, v.tmplCmds = c.templates, c.tmplCmds
	v.cloudChanged()
	v.cmdSeq, v.evtSeq, v.evtTime = c.cmdSeq, c.evtSeq, c.evtTime
	if v.watched.Swap(false) {
		close(v.changed)
		v.changed = make(chan struct{})
	}
}
