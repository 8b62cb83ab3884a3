package projector

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/template"
)

// A snapshot of the views is their minimal folded state: the clusters' and template
// revisions' states, the operations' two parts, the cloud's fold, and what the folds
// recorded of history (which org each cluster was filed under, the names each was given).
// What is derived from those (each cluster's list of operations, and any index kept beside
// them) is rebuilt on load by the functions the fold itself maintains it with (see
// fromSnapshot), so that an index added to the fold comes along.
//
// The bytes are snapshotMagic, then frames: a kind byte, a uvarint length, the payload, its
// CRC-32C.
// The first frame is the meta (JSON), the last one frameEnd with the number of frames
// before it, so that a truncated snapshot is told from a whole one. The frames between
// are encoded and decoded on every core: that is most of a snapshot's cost.

const snapshotMagic = "kaas-views-snapshot\n"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// foldVersion is bumped by hand whenever the fold changes what it makes of records without
// its types changing (those changes the schema fingerprint catches by itself): snapshots of
// an older fold are then ignored and the views rebuilt from sequence 1.
const foldVersion = 1

// Frame kinds.
const (
	frameMeta      = 'M'
	frameGlobals   = 'G'
	frameClusters  = 'C'
	frameTemplates = 'T'
	frameOps       = 'O'
	frameEnd       = 'E'
)

// Items per frame: enough to keep the framing cheap, few enough to spread on every core.
const (
	clustersPerFrame = 2048
	opsPerFrame      = 4096
)

// SnapshotMeta is what a snapshot says of itself.
type SnapshotMeta struct {
	// Schema is the fingerprint of the fold's version and of every type stored: a snapshot
	// of another schema is ignored.
	Schema string `json:"schema"`
	// Build is the kaas build that wrote it (kaasd's version).
	Build string `json:"build"`
	// CommandSeq and EventSeq are the stream sequences the views had reached;
	// CommandHash and EventHash the hashes of the records stored there, so that a
	// snapshot of another history (streams restored from a backup, then grown past it) is
	// told from one of this history. Empty for a stream with no records.
	CommandSeq  uint64 `json:"commandSeq"`
	EventSeq    uint64 `json:"eventSeq"`
	CommandHash string `json:"commandHash,omitempty"`
	EventHash   string `json:"eventHash,omitempty"`
	// Taken is when the views were copied.
	Taken time.Time `json:"taken"`
	// Counts of what it holds.
	Clusters   int `json:"clusters"`
	Templates  int `json:"templates"`
	Operations int `json:"operations"`
}

// Errors of a snapshot that cannot be used.
var (
	ErrSnapshotCorrupt = errors.New("snapshot corrupt")
	ErrSnapshotSchema  = errors.New("snapshot of another schema")
)

// schema is the fingerprint of what a snapshot stores: the fold's version and the shape of
// every type in it, unexported memory included.
var schema = sync.OnceValue(func() string {
	h := sha256.New()
	fmt.Fprintf(h, "fold %d\n", foldVersion)
	seen := map[reflect.Type]bool{}
	for _, t := range []reflect.Type{reflect.TypeFor[globalsSnap](), reflect.TypeFor[opSnap](), reflect.TypeFor[tmplSnap](), reflect.TypeFor[clusterSnap](),
		reflect.TypeFor[cluster.State](), reflect.TypeFor[template.State](), reflect.TypeFor[SnapshotMeta]()} {
		describeType(h, t, seen)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
})

func describeType(w interface{ Write([]byte) (int, error) }, t reflect.Type, seen map[reflect.Type]bool) {
	fmt.Fprintf(w, "%s.%s:%s", t.PkgPath(), t.Name(), t.Kind())
	if seen[t] {
		return
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(w, "{%s %q ", f.Name, f.Tag)
			describeType(w, f.Type, seen)
			fmt.Fprint(w, "}")
		}
	case reflect.Pointer, reflect.Slice, reflect.Array:
		describeType(w, t.Elem(), seen)
	case reflect.Map:
		describeType(w, t.Key(), seen)
		describeType(w, t.Elem(), seen)
	}
}

// The snapshot's own forms of the folds' unexported records, carried by the binary codec
// (snapshot_codec.go), which keeps a nil slice or map apart from an empty one, as the
// views' Equal does.

type globalsSnap struct {
	Orgs      map[string][]string // org → the clusters filed under it
	Names     map[string][]string // name key → the clusters ever given it, sorted
	TmplCmds  []string
	Cloud     cloudSnap
	EventTime time.Time
	// The audit's indexes: no fold state tells them again (org → sequences of its
	// commands and events; cluster → its first event).
	AuditEvts, AuditCmds map[string][]uint64
	FirstEvt             map[string]uint64
}

type cloudSnap struct {
	Templates   []events.Template
	VDCs        []events.VDC
	Networks    map[string][]events.Network
	Users       map[string]userSnap
	Synced      time.Time
	SyncSeq     uint64
	Profiles    map[string][]events.StorageProfile
	Policies    map[string][]events.SizingPolicy
	CmdRuntimes map[string]runtimesSnap
	EvtRuntimes map[string]runtimesSnap
	CmdService  serviceSnap
	EvtService  serviceSnap
}

type userSnap struct {
	Name  string
	OrgID string
	Seq   uint64
}

type originSnap struct {
	Seq   uint64
	Cause string
}

func toOriginSnap(o origin) originSnap { return originSnap{Seq: o.seq, Cause: o.cause} }

func (o originSnap) origin() origin { return origin{seq: o.Seq, cause: o.Cause} }

type runtimesSnap struct {
	VDC   events.VDC
	Names []string
	From  originSnap
}

type serviceSnap struct {
	Set     bool
	Enabled bool
	From    originSnap
}

// clusterSnap is a cluster's state as the binary codec carries it: its exported fields, and
// its memory beside them.
type clusterSnap struct {
	ID     string
	State  *cluster.State
	Memory cluster.Memory
}

type tmplSnap struct {
	ID    string          `json:"id"`
	State json.RawMessage `json:"state"` // template.State.MarshalSnapshot
	Op    string          `json:"op,omitzero"`
}

type opSnap struct {
	ID      string
	Cluster string
	Cmd     cmdSnap
	Evt     evtSnap
}

// aclSnap keeps a sharing change's ACL apart from no ACL: an ACL of nobody is a nil list.
type aclSnap struct {
	Entries []events.ACLEntry
}

type cmdSnap struct {
	Seq       uint64
	OrgID     string
	Actor     string
	RequestID string
	Type      string
	Accepted  time.Time
	Spec      *events.ClusterSpec
	Target    string
	ACL       *aclSnap
	VDC       *events.VDC
	Tmpl      *tmplCmdSnap
}

type tmplCmdSnap struct {
	Ref        events.TemplateRef
	Template   events.Template
	Deprecated bool
}

type evtSnap struct {
	Seq       uint64
	OrgID     string
	Actor     string
	RequestID string
	Type      string
	ACL       *aclSnap
	VDC       *events.VDC
	Status    string
	Phase     events.Phase
	Step      string
	Percent   int
	Started   time.Time
	Ended     time.Time
	Failure   *events.Failure
	Retrying  *events.Failure
}

func toACLSnap(a *[]events.ACLEntry) *aclSnap {
	if a == nil {
		return nil
	}
	return &aclSnap{Entries: *a}
}

func (a *aclSnap) acl() *[]events.ACLEntry {
	if a == nil {
		return nil
	}
	e := a.Entries
	return &e
}

func toOpSnap(r *opRecord) opSnap {
	c, e := r.cmd, r.evt
	s := opSnap{ID: r.id, Cluster: r.clusterID,
		Cmd: cmdSnap{Seq: c.seq, OrgID: c.orgID, Actor: c.actor, RequestID: c.requestID, Type: c.typ, Accepted: c.accepted, Spec: c.spec,
			Target: c.target, ACL: toACLSnap(c.acl), VDC: c.vdc},
		Evt: evtSnap{Seq: e.seq, OrgID: e.orgID, Actor: e.actor, RequestID: e.requestID, Type: e.typ, ACL: toACLSnap(e.acl), VDC: e.vdc,
			Status: e.status, Phase: e.phase, Step: e.step, Percent: e.percent, Started: e.started, Ended: e.ended, Failure: e.failure, Retrying: e.retrying}}
	if t := c.tmpl; t != nil {
		s.Cmd.Tmpl = &tmplCmdSnap{Ref: t.ref, Template: t.template, Deprecated: t.deprecated}
	}
	return s
}

func (s *opSnap) record() *opRecord {
	c, e := s.Cmd, s.Evt
	r := &opRecord{id: s.ID, clusterID: s.Cluster,
		cmd: fromCommand{seq: c.Seq, orgID: c.OrgID, actor: c.Actor, requestID: c.RequestID, typ: c.Type, accepted: c.Accepted, spec: c.Spec,
			target: c.Target, acl: c.ACL.acl(), vdc: c.VDC},
		evt: fromEvents{seq: e.Seq, orgID: e.OrgID, actor: e.Actor, requestID: e.RequestID, typ: e.Type, acl: e.ACL.acl(), vdc: e.VDC,
			status: e.Status, phase: e.Phase, step: e.Step, percent: e.Percent, started: e.Started, ended: e.Ended, failure: e.Failure, retrying: e.Retrying}}
	if t := c.Tmpl; t != nil {
		r.cmd.tmpl = &tmplCommand{ref: t.Ref, template: t.Template, deprecated: t.Deprecated}
	}
	return r
}

func toCloudSnap(c *cloud) cloudSnap {
	s := cloudSnap{Templates: c.templates, VDCs: c.vdcs, Networks: c.networks, Synced: c.synced, SyncSeq: c.syncSeq,
		Profiles: c.profiles, Policies: c.policies,
		CmdService: serviceSnap{Set: c.cmdService.set, Enabled: c.cmdService.enabled, From: toOriginSnap(c.cmdService.from)},
		EvtService: serviceSnap{Set: c.evtService.set, Enabled: c.evtService.enabled, From: toOriginSnap(c.evtService.from)}}
	if c.users != nil {
		s.Users = make(map[string]userSnap, len(c.users))
		for id, u := range c.users {
			s.Users[id] = userSnap{Name: u.Name, OrgID: u.OrgID, Seq: u.seq}
		}
	}
	rt := func(m map[string]runtimes) map[string]runtimesSnap {
		if m == nil {
			return nil
		}
		out := make(map[string]runtimesSnap, len(m))
		for id, r := range m {
			out[id] = runtimesSnap{VDC: r.vdc, Names: r.names, From: toOriginSnap(r.from)}
		}
		return out
	}
	s.CmdRuntimes, s.EvtRuntimes = rt(c.cmdRuntimes), rt(c.evtRuntimes)
	return s
}

func (s *cloudSnap) cloud() *cloud {
	c := &cloud{templates: s.Templates, vdcs: s.VDCs, networks: s.Networks, synced: s.Synced, syncSeq: s.SyncSeq,
		profiles: s.Profiles, policies: s.Policies,
		cmdService: service{set: s.CmdService.Set, enabled: s.CmdService.Enabled, from: s.CmdService.From.origin()},
		evtService: service{set: s.EvtService.Set, enabled: s.EvtService.Enabled, from: s.EvtService.From.origin()}}
	if s.Users != nil {
		c.users = make(map[string]knownUser, len(s.Users))
		for id, u := range s.Users {
			c.users[id] = knownUser{UserView{Name: u.Name, OrgID: u.OrgID}, u.Seq}
		}
	}
	rt := func(m map[string]runtimesSnap) map[string]runtimes {
		if m == nil {
			return nil
		}
		out := make(map[string]runtimes, len(m))
		for id, r := range m {
			out[id] = runtimes{vdc: r.VDC, names: r.Names, from: r.From.origin()}
		}
		return out
	}
	c.cmdRuntimes, c.evtRuntimes = rt(s.CmdRuntimes), rt(s.EvtRuntimes)
	return c
}

// encodeSnapshot encodes views no one else holds (a Clone), with meta's sequences and
// hashes; it fills in meta's schema and counts.
func encodeSnapshot(v *Views, meta SnapshotMeta) ([]byte, SnapshotMeta, error) {
	meta.Schema, meta.CommandSeq, meta.EventSeq = schema(), v.cmdSeq, v.evtSeq
	meta.Clusters, meta.Templates, meta.Operations = len(v.clusters), len(v.templates), len(v.ops)

	// Sorted, so that equal views make equal snapshots.
	clusterIDs := slices.Sorted(maps.Keys(v.clusters))
	opIDs := slices.Sorted(maps.Keys(v.ops))
	type job struct {
		kind byte
		enc  func() ([]byte, error)
	}
	jobs := []job{
		{frameMeta, func() ([]byte, error) { return json.Marshal(meta) }},
		{frameGlobals, func() ([]byte, error) {
			g := globalsSnap{Orgs: setsToLists(v.orgs), Names: v.names, TmplCmds: slices.Sorted(maps.Keys(v.tmplCmds)),
				Cloud: toCloudSnap(v.cloud), EventTime: v.evtTime,
				AuditEvts: v.auditEvts, AuditCmds: v.auditCmds, FirstEvt: v.firstEvt}
			e := &binEncoder{}
			err := writeBin(e, &g)
			return e.b, err
		}},
		{frameTemplates, func() ([]byte, error) {
			out := make([]tmplSnap, 0, len(v.templates))
			for _, id := range slices.Sorted(maps.Keys(v.templates)) {
				f := v.templates[id]
				b, err := f.st.MarshalSnapshot()
				if err != nil {
					return nil, fmt.Errorf("template %s: %w", id, err)
				}
				out = append(out, tmplSnap{ID: id, State: b, Op: f.op})
			}
			return json.Marshal(out)
		}},
	}
	for ids := range slices.Chunk(clusterIDs, clustersPerFrame) {
		jobs = append(jobs, job{frameClusters, func() ([]byte, error) {
			e := newBinEncoder(len(ids) * 1024) // about what a cluster takes
			e.uvarint(uint64(len(ids)))
			for _, id := range ids {
				st := v.clusters[id]
				if err := writeBin(e, &clusterSnap{ID: id, State: st, Memory: st.Memory()}); err != nil {
					return nil, fmt.Errorf("cluster %s: %w", id, err)
				}
			}
			return e.b, nil
		}})
	}
	for ids := range slices.Chunk(opIDs, opsPerFrame) {
		jobs = append(jobs, job{frameOps, func() ([]byte, error) {
			e := newBinEncoder(len(ids) * 256) // about what an operation takes
			e.uvarint(uint64(len(ids)))
			for _, id := range ids {
				s := toOpSnap(v.ops[id])
				if err := writeBin(e, &s); err != nil {
					return nil, fmt.Errorf("operation %s: %w", id, err)
				}
			}
			return e.b, nil
		}})
	}
	payloads := make([][]byte, len(jobs))
	if err := onEveryCore(len(jobs), func(i int) (err error) {
		payloads[i], err = jobs[i].enc()
		return err
	}); err != nil {
		return nil, meta, fmt.Errorf("encode snapshot: %w", err)
	}
	size := len(snapshotMagic) + 32
	for _, p := range payloads {
		size += len(p) + 1 + binary.MaxVarintLen64
	}
	out := make([]byte, 0, size)
	out = append(out, snapshotMagic...)
	for i, p := range payloads {
		out = append(out, jobs[i].kind)
		out = appendBytes(out, p)
		out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(p, castagnoli))
	}
	out = append(out, frameEnd)
	out = appendBytes(out, strconv.AppendInt(nil, int64(len(jobs)), 10))
	return out, meta, nil
}

func setsToLists(m map[string]map[string]bool) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, ids := range m {
		out[k] = slices.Sorted(maps.Keys(ids))
	}
	return out
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// readBytes reads what appendBytes wrote at the start of b, and the rest.
func readBytes(b []byte) (p, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

type frame struct {
	kind    byte
	payload []byte
}

// frames splits a snapshot into its frames, checking that it is whole.
func frames(b []byte) ([]frame, error) {
	rest, ok := bytes.CutPrefix(b, []byte(snapshotMagic))
	if !ok {
		return nil, fmt.Errorf("%w: not a snapshot of the views", ErrSnapshotCorrupt)
	}
	var out []frame
	for len(rest) > 0 {
		kind := rest[0]
		p, r, ok := readBytes(rest[1:])
		if !ok {
			return nil, fmt.Errorf("%w: frame %d is cut short", ErrSnapshotCorrupt, len(out))
		}
		rest = r
		if kind == frameEnd {
			if n, err := strconv.Atoi(string(p)); err != nil || n != len(out) || len(rest) > 0 {
				return nil, fmt.Errorf("%w: its end does not match its %d frames", ErrSnapshotCorrupt, len(out))
			}
			if len(out) == 0 || out[0].kind != frameMeta {
				return nil, fmt.Errorf("%w: no meta", ErrSnapshotCorrupt)
			}
			return out, nil
		}
		if len(rest) < 4 || binary.LittleEndian.Uint32(rest) != crc32.Checksum(p, castagnoli) {
			return nil, fmt.Errorf("%w: frame %d fails its checksum", ErrSnapshotCorrupt, len(out))
		}
		rest = rest[4:]
		out = append(out, frame{kind, p})
	}
	return nil, fmt.Errorf("%w: cut short after %d frames", ErrSnapshotCorrupt, len(out))
}

// readSnapshotMeta reads what a snapshot says of itself, checking its schema.
func readSnapshotMeta(fs []frame) (SnapshotMeta, error) {
	var meta SnapshotMeta
	if err := json.Unmarshal(fs[0].payload, &meta); err != nil {
		return meta, fmt.Errorf("%w: meta: %w", ErrSnapshotCorrupt, err)
	}
	if meta.Schema != schema() {
		return meta, fmt.Errorf("%w: written as %q, this kaas reads %q", ErrSnapshotSchema, meta.Schema, schema())
	}
	return meta, nil
}

// decodeSnapshot decodes a snapshot into new views.
func decodeSnapshot(b []byte) (*Views, SnapshotMeta, error) {
	fs, err := frames(b)
	if err != nil {
		return nil, SnapshotMeta{}, err
	}
	meta, err := readSnapshotMeta(fs)
	if err != nil {
		return nil, meta, err
	}
	// Each frame decodes on its own core into its own part; the parts are put together in
	// order after.
	type part struct {
		globals   *globalsSnap
		templates []tmplSnap
		tmplState []*template.State
		ids       []string
		states    []*cluster.State
		ops       []opSnap
	}
	parts := make([]part, len(fs))
	err = onEveryCore(len(fs)-1, func(i int) error {
		f, p := fs[i+1], &parts[i+1]
		switch f.kind {
		case frameGlobals:
			p.globals = new(globalsSnap)
			d := &binDecoder{b: f.payload, strs: make([]string, 0, 1<<12)}
			if err := readBin(d, p.globals); err != nil || len(d.b) > 0 {
				return fmt.Errorf("globals frame: %w", cmp.Or(err, errTruncated))
			}
		case frameTemplates:
			if err := json.Unmarshal(f.payload, &p.templates); err != nil {
				return err
			}
			for _, t := range p.templates {
				st, err := template.UnmarshalSnapshot(t.State)
				if err != nil {
					return fmt.Errorf("%w: template %s: %w", ErrSnapshotSchema, t.ID, err)
				}
				p.tmplState = append(p.tmplState, st)
			}
		case frameClusters:
			d := &binDecoder{b: f.payload, strs: make([]string, 0, 1<<12)}
			n := d.count()
			p.ids, p.states = make([]string, 0, n), make([]*cluster.State, 0, n)
			for range n {
				var c clusterSnap
				if err := readBin(d, &c); err != nil {
					return fmt.Errorf("cluster frame: %w", err)
				}
				if c.State == nil {
					return errors.New("cluster frame: a cluster without a state")
				}
				c.State.Restore(c.Memory)
				p.ids, p.states = append(p.ids, c.ID), append(p.states, c.State)
			}
			if d.err != nil || len(d.b) > 0 {
				return errors.New("cluster frame: trailing bytes")
			}
		case frameOps:
			d := &binDecoder{b: f.payload, strs: make([]string, 0, 1<<12)}
			p.ops = make([]opSnap, d.count())
			for i := range p.ops {
				if err := readBin(d, &p.ops[i]); err != nil {
					return fmt.Errorf("operation frame: %w", err)
				}
			}
			if d.err != nil || len(d.b) > 0 {
				return errors.New("operation frame: trailing bytes")
			}
		default:
			return fmt.Errorf("unknown frame %q", f.kind)
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrSnapshotSchema) {
			err = fmt.Errorf("%w: %w", ErrSnapshotCorrupt, err)
		}
		return nil, meta, err
	}

	v := NewViews()
	v.clusters = make(map[string]*cluster.State, meta.Clusters)
	v.ops = make(map[string]*opRecord, meta.Operations)
	var globals *globalsSnap
	for _, p := range parts {
		if p.globals != nil {
			globals = p.globals
		}
		for i, t := range p.templates {
			v.templates[t.ID] = &tmplFold{st: p.tmplState[i], op: t.Op}
		}
		for i, id := range p.ids {
			v.clusters[id] = p.states[i]
		}
		for i := range p.ops {
			r := p.ops[i].record()
			v.ops[r.id] = r
		}
	}
	if globals == nil || len(v.clusters) != meta.Clusters || len(v.ops) != meta.Operations || len(v.templates) != meta.Templates {
		return nil, meta, fmt.Errorf("%w: it holds other counts than its meta says", ErrSnapshotCorrupt)
	}
	v.fromSnapshot(globals)
	v.cmdSeq, v.evtSeq = meta.CommandSeq, meta.EventSeq
	return v, meta, nil
}

// fromSnapshot rebuilds what the fold derives from its records, through the functions the
// fold maintains it with: each cluster's list of operations (place), the clusters by org
// (index). Any index kept beside them belongs here too.
func (v *Views) fromSnapshot(g *globalsSnap) {
	for _, id := range slices.Sorted(maps.Keys(v.ops)) {
		v.place(v.ops[id])
	}
	for org, ids := range g.Orgs {
		for _, id := range ids {
			v.index(org, id)
		}
	}
	for k, ids := range g.Names {
		v.names[k] = ids
	}
	for org, seqs := range g.AuditEvts {
		v.auditEvts[org] = seqs
	}
	for org, seqs := range g.AuditCmds {
		v.auditCmds[org] = seqs
	}
	maps.Copy(v.firstEvt, g.FirstEvt)
	for _, id := range g.TmplCmds {
		v.tmplCmds[id] = true
	}
	v.cloud = g.Cloud.cloud()
	v.evtTime = g.EventTime
	// The ordered cluster lists follow from the orgs, names and clusters restored above.
	v.relistAll()
}

// adopt makes o's contents v's, in place, so that everyone holding v reads them: o must be
// views no one else holds (decoded from a snapshot).
func (v *Views) adopt(o *Views) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clusters, v.orgs, v.ops, v.byCluster, v.names, v.cloud = o.clusters, o.orgs, o.ops, o.byCluster, o.names, o.cloud
	v.templates, v.tmplCmds = o.templates, o.tmplCmds
	v.listed, v.byName, v.orgByName = o.listed, o.byName, o.orgByName
	v.auditEvts, v.auditCmds, v.firstEvt = o.auditEvts, o.auditCmds, o.firstEvt
	v.cloudChanged()
	v.cmdSeq, v.evtSeq, v.evtTime = o.cmdSeq, o.evtSeq, o.evtTime
	if v.watched.Swap(false) {
		close(v.changed)
		v.changed = make(chan struct{})
	}
}

// onEveryCore calls fn(0..n-1) on as many goroutines as there are cores, and returns the
// first error.
func onEveryCore(n int, fn func(i int) error) error {
	workers := min(n, max(1, runtime.GOMAXPROCS(0)))
	errs := make([]error, workers)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= n || errs[w] != nil {
					return
				}
				errs[w] = fn(j)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
