package ingress_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cluster/clustertest"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/history"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

const (
	orgA  = "urn:vcloud:org:a0000000-0000-4000-8000-000000000001"
	orgB  = "urn:vcloud:org:b0000000-0000-4000-8000-000000000002"
	alice = "urn:vcloud:user:a0000000-0000-4000-8000-00000000000a"
	bob   = "urn:vcloud:user:b0000000-0000-4000-8000-00000000000b"
	carol = "urn:vcloud:user:c0000000-0000-4000-8000-00000000000c" // of orgA, like alice
	root  = "urn:vcloud:user:9d1c7c3e-0000-4000-8000-00000000aaaa" // a provider, of the System org

	base = "/api/cse/3.0"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fakeCommands is the command stream: it dedupes by msgID as JetStream does, hands out
// increasing sequences, and folds every command into the views the way the projector
// would (through the codec, so Type is filled as on the real stream). With lag set, the
// views see a command only lag after it was appended, in order.
type fakeCommands struct {
	views *projector.Views
	lag   time.Duration

	mu      sync.Mutex
	seq     uint64
	byMsgID map[string]uint64
	log     []events.Envelope // as the projector reads them back
	calls   int
	err     error // returned (and nothing stored) while set

	queue chan applyReq
	done  chan struct{}
}

type applyReq struct {
	seq uint64
	env events.Envelope
	due time.Time
}

func newFakeCommands(t testing.TB, views *projector.Views, lag time.Duration) *fakeCommands {
	f := &fakeCommands{views: views, lag: lag, byMsgID: map[string]uint64{}}
	if lag > 0 {
		f.queue, f.done = make(chan applyReq, 1024), make(chan struct{})
		go func() {
			defer close(f.done)
			for r := range f.queue {
				time.Sleep(time.Until(r.due))
				views.ApplyCommand(r.seq, r.env)
			}
		}()
		t.Cleanup(func() { close(f.queue); <-f.done })
	}
	return f
}

func (f *fakeCommands) AppendCommand(ctx context.Context, env events.Envelope, msgID string) (uint64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return 0, false, f.err
	}
	if seq, ok := f.byMsgID[msgID]; ok {
		return seq, true, nil
	}
	if events.KindOf(env.Payload.Type()) != events.KindCommand {
		return 0, false, fmt.Errorf("%s is not a command", env.Payload.Type())
	}
	data, err := events.Marshal(env)
	if err != nil {
		return 0, false, err
	}
	stored, err := events.Unmarshal(data)
	if err != nil {
		return 0, false, err
	}
	f.seq++
	f.byMsgID[msgID] = f.seq
	f.log = append(f.log, stored)
	if f.lag > 0 {
		f.queue <- applyReq{f.seq, stored, time.Now().Add(f.lag)}
	} else {
		f.views.ApplyCommand(f.seq, stored)
	}
	return f.seq, false, nil
}

func (f *fakeCommands) commands() []events.Envelope {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.Envelope(nil), f.log...)
}

func (f *fakeCommands) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// harness is the API over real views and queries, fed by the fake command stream and by a
// simulated executor.
type harness struct {
	t     testing.TB
	api   *ingress.API
	views *projector.Views
	cmds  *fakeCommands
	exec  *executor
	n     atomic.Int64 // request ids
}

// unrecorded is a history source with nothing recorded: the harness's executor folds its
// events into the views only (deploy/kaasd's tests read real histories).
type unrecorded struct{}

func (unrecorded) Load(context.Context, string, uint64) ([]history.Record, error) { return nil, nil }
func (unrecorded) Scan(context.Context, history.Filter, func(history.Record) bool) error {
	return nil
}

func newHarness(t testing.TB) *harness { return newHarnessLag(t, 0) }

func newHarnessLag(t testing.TB, lag time.Duration) *harness { return newHarnessWith(t, lag, nil) }

// newHarnessWith is newHarnessLag with the API's configuration changed by edit.
func newHarnessWith(t testing.TB, lag time.Duration, edit func(*ingress.Config)) *harness {
	t.Helper()
	views := projector.NewViews()
	cmds := newFakeCommands(t, views, lag)
	q := queries.New(views, nil)
	cfg := ingress.Config{History: history.New(views, unrecorded{}, q)}
	if edit != nil {
		edit(&cfg)
	}
	api, err := ingress.New(cfg, cmds, q)
	if err != nil {
		t.Fatal(err)
	}
	enableVDC(views)
	h := &harness{t: t, api: api, views: views, cmds: cmds}
	h.exec = &executor{h: h, states: map[string]*cluster.State{}, handled: map[string]bool{}}
	return h
}

// request describes one API call; the zero value is alice of orgA with a fresh request id.
type request struct {
	org, user string
	reqID     string
	accept    *string
	anonymous bool
	header    http.Header
	rights    []string
}

type opt func(*request)

func as(org, user string) opt { return func(r *request) { r.org, r.user = org, user } }

// withRights replaces the caller's rights (by default an org administrator's, who may do
// anything to the clusters of its org).
func withRights(rights ...string) opt { return func(r *request) { r.rights = rights } }
func reqID(id string) opt             { return func(r *request) { r.reqID = id } }
func accept(a string) opt             { return func(r *request) { r.accept = &a } }
func anonymous() opt                  { return func(r *request) { r.anonymous = true } }
func header(k, v string) opt          { return func(r *request) { r.header.Set(k, v) } }

// do serves one request, as the AMQP adapter would hand it over. It is safe for
// concurrent use.
func (h *harness) do(method, path, body string, opts ...opt) *httptest.ResponseRecorder {
	h.t.Helper()
	r := request{org: orgA, user: alice, reqID: fmt.Sprintf("vcd-req-%d", h.n.Add(1)), header: http.Header{},
		rights: []string{cluster.RightAdminFull}}
	for _, o := range opts {
		o(&r)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	ctx := req.Context()
	if !r.anonymous {
		ctx = ingress.WithCaller(ctx, ingress.Caller{User: r.user, Org: r.org, Rights: r.rights})
	}
	if r.reqID != "" {
		ctx = ingress.WithRequestID(ctx, r.reqID)
	}
	req = req.WithContext(ctx)
	if r.accept == nil {
		req.Header.Set("Accept", "application/json;version=36.0")
	} else if *r.accept != "" {
		req.Header.Set("Accept", *r.accept)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	return rec
}

// tenantKey is an SSH public key (from a fixed seed; not a secret).
const tenantKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdtjf9EcNxSlHq3C5k71f4WnUh67+tSuF2IAG7ZiLNO tenant@acme"

// createBody is a v2.1 create request in acme, orgA.
func createBody(name, vdc string, workers int) string {
	return createBodyIn("acme", name, vdc, workers)
}

// orgNames are the names of the harness's orgs, whose org VDCs vdc1 and vdc2 are enabled.
var orgNames = map[string]string{orgA: "acme", orgB: "beta"}

// createBodyIn is a v2.1 create request in the named org.
func createBodyIn(org, name, vdc string, workers int) string {
	return fmt.Sprintf(`{"apiVersion":"cse.vmware.com/v2.1","kind":"native",
	  "metadata":{"name":%q,"orgName":%q,"virtualDataCenterName":%q,"site":"vcd.example.com"},
	  "spec":{"distribution":{"templateName":"ubuntu-k8s-1.29","templateRevision":1},
	    "topology":{"controlPlane":{"count":1},"workers":{"count":%d,"sizingClass":"Medium"}},
	    "settings":{"ovdcNetwork":"net1","sshKey":%q,"network":{"pods":{"cidrBlocks":[]},"services":{"cidrBlocks":[]}}}}}`,
		name, org, vdc, workers, tenantKey)
}

// create asks for a cluster in vdc1 of the caller's org and returns its id and the command
// id.
func (h *harness) create(name string, opts ...opt) (clusterID, cmdID string) {
	h.t.Helper()
	r := request{org: orgA}
	for _, o := range opts {
		o(&r)
	}
	rec := h.do(http.MethodPost, base+"/clusters", createBodyIn(orgNames[strings.ToLower(r.org)], name, "vdc1", 2), opts...)
	if rec.Code != http.StatusAccepted {
		h.t.Fatalf("create %s: %d %s", name, rec.Code, rec.Body)
	}
	ent := decode[cse.DefEntity](h.t, rec)
	id, ok := cse.ParseClusterID(ent.ID)
	if !ok {
		h.t.Fatalf("create answered id %q", ent.ID)
	}
	return id, strings.TrimPrefix(rec.Header().Get("Location"), base+"/operations/")
}

// running creates a cluster and runs the create to its end.
func (h *harness) running(name string, opts ...opt) (clusterID, cmdID string) {
	h.t.Helper()
	id, cmd := h.create(name, opts...)
	h.exec.run(cmd)
	return id, cmd
}

func clusterPath(id string) string { return base + "/cluster/" + cse.EntityID(id) }

// derivedID is the id a request derives for purpose ("cluster", "command"): from VCD's
// request id scoped to the caller (org, user) and the route (method, path). It is written
// out here so that a change to it, which would make a redelivery across the change
// append again, is a change the tests see.
func derivedID(purpose, org, user, method, path, requestID string) string {
	return events.DeriveID(purpose, org+"\x00"+user+"\x00"+method+"\x00"+path+"\x00"+requestID)
}

// decode reads a JSON body strictly into T.
func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %s does not decode as %T: %v", rec.Body, v, err)
	}
	return v
}

// cseError checks that a body is exactly CSE's error body and returns its two values.
func cseError(t testing.TB, rec *httptest.ResponseRecorder) (minor int, description string) {
	t.Helper()
	var raw map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || len(raw) != 1 || raw["message"] == nil {
		t.Fatalf("%d body %s is not CSE's error body", rec.Code, rec.Body)
	}
	m := raw["message"]
	code, ok1 := m["minor error code"].(float64)
	desc, ok2 := m["error description"].(string)
	if len(m) != 2 || !ok1 || !ok2 {
		t.Fatalf("%d body %s is not CSE's error body", rec.Code, rec.Body)
	}
	return int(code), desc
}

// wantError checks a refusal: its status, CSE's body, the minor code and a part of the text.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status, minor int, text string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	m, d := cseError(t, rec)
	if m != minor || !strings.Contains(d, text) {
		t.Errorf("error (%d, %q), want minor %d and text containing %q", m, d, minor, text)
	}
}

// executor plays kaas's executor against the views: it decides each command on the folded
// history, records the events every step would record, and succeeds at every step.
type executor struct {
	h       *harness
	states  map[string]*cluster.State
	handled map[string]bool
	seq     uint64
}

func (x *executor) command(id string) events.Envelope {
	for _, c := range x.h.cmds.commands() {
		if c.ID == id {
			return c
		}
	}
	x.h.t.Fatalf("no command %s", id)
	return events.Envelope{}
}

func (x *executor) state(clusterID string) *cluster.State {
	st := x.states[clusterID]
	if st == nil {
		st = &cluster.State{}
		x.states[clusterID] = st
	}
	return st
}

// record appends one event caused by cmd.
func (x *executor) record(cmd events.Envelope, p events.Payload) {
	x.h.t.Helper()
	st := x.state(cmd.ClusterID)
	x.seq++
	env := events.Envelope{ID: events.DeriveID("event", fmt.Sprint(cmd.ID, x.seq)), ClusterID: cmd.ClusterID, OrgID: cmd.OrgID,
		Actor: cmd.Actor, Time: t0.Add(time.Duration(x.seq) * time.Second), CausationID: cmd.ID,
		CorrelationID: cmd.CorrelationID, PrevHash: st.Hash, Payload: p}
	if st.OrgID != "" {
		env.OrgID = st.OrgID
	}
	data, err := events.Marshal(env)
	if err != nil {
		x.h.t.Fatal(err)
	}
	stored, err := events.Unmarshal(data)
	if err != nil {
		x.h.t.Fatal(err)
	}
	st.Apply(stored, x.seq, events.Hash(data))
	x.h.views.ApplyEvent(x.seq, events.Hash(data), stored)
}

// start decides a command and records its first event (or its refusal).
func (x *executor) start(cmdID string) {
	x.h.t.Helper()
	cmd := x.command(cmdID)
	x.handled[cmdID] = true
	p, err := cluster.Decide(x.state(cmd.ClusterID), cmd)
	var rej *cluster.Rejection
	switch {
	case errors.Is(err, cluster.ErrDuplicate):
	case errors.As(err, &rej):
		x.record(cmd, events.CommandRejected{CommandType: cmd.Type, Failure: rej.Failure})
	case err != nil:
		x.h.t.Fatal(err)
	default:
		x.record(cmd, p)
	}
}

// run starts a command and carries its operation to the end.
func (x *executor) run(cmdID string) {
	x.h.t.Helper()
	x.start(cmdID)
	x.finish(x.command(cmdID).ClusterID)
}

// runAll runs every command not yet handled, in stream order, and carries every operation
// to its end. An operation in progress ends before the next command of its cluster starts,
// unless that command is a forced delete, which supersedes it.
func (x *executor) runAll() {
	x.h.t.Helper()
	for _, c := range x.h.cmds.commands() {
		if x.handled[c.ID] {
			continue
		}
		if _, force := c.Payload.(events.ForceDeleteCluster); !force {
			x.finish(c.ClusterID)
		}
		x.run(c.ID)
	}
	for id := range x.states {
		x.finish(id)
	}
}

// finish plays the steps of the operation in progress until it ends.
func (x *executor) finish(clusterID string) {
	x.h.t.Helper()
	st := x.state(clusterID)
	for range 200 {
		if st.Op == nil {
			return
		}
		cmd := x.command(st.Op.CommandID)
		step := cluster.Plan(st)
		evs := clustertest.Outcome(st, step)
		if len(evs) == 0 {
			x.h.t.Fatalf("unexpected step %s", step)
		}
		for _, p := range evs {
			x.record(cmd, p)
		}
	}
	x.h.t.Fatalf("operation on %s did not end", clusterID)
}

// sameJSON reports whether two bodies hold the same JSON value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// vdcID is the URN of the org VDC of that name of the org of that name.
func vdcID(orgName, vdc string) string {
	if orgName == "acme" {
		return "urn:vcloud:vdc:" + vdc
	}
	return "urn:vcloud:vdc:" + orgName + "-" + vdc
}

// enableVDC does what the provider does first: the VDCs vdc1 and vdc2 of acme (orgA) and
// of beta (orgB) are enabled, and vdc3 of beta is known but not enabled; creates elsewhere
// are refused.
func enableVDC(views *projector.Views) {
	seq := uint64(0)
	for _, org := range []string{orgA, orgB} {
		for _, vdc := range []string{"vdc1", "vdc2", "vdc3"} {
			runtimes := []string{events.RuntimeNative}
			if vdc == "vdc3" {
				if org == orgA {
					continue
				}
				runtimes = []string{}
			}
			id := vdcID(orgNames[org], vdc)
			seq++
			views.ApplyEvent(seq, "", events.Envelope{ID: fmt.Sprintf("enable-%d", seq), ClusterID: events.CloudID, Type: events.TypeVDCRuntimesChanged,
				Time: t0, Payload: events.VDCRuntimesChanged{VDC: events.VDC{ID: id, Name: vdc,
					OrgName: orgNames[org], OrgID: org}, Runtimes: runtimes}})
		}
	}
}
