// Package projectortest builds command and event streams for tests of the views and the
// queries: commands as the ingress appends them, and the events a flawless executor
// records for them, in the order a live projector would see them.
package projectortest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cluster/clustertest"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/projector"
)

const (
	OrgA  = "urn:vcloud:org:a0000000-0000-4000-8000-000000000001"
	OrgB  = "urn:vcloud:org:b0000000-0000-4000-8000-000000000002"
	Alice = "urn:vcloud:user:a0000000-0000-4000-8000-00000000000a"
	Bob   = "urn:vcloud:user:b0000000-0000-4000-8000-00000000000b"
)

var T0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// Record is one message of a Stream, as the projector reads it.
type Record struct {
	Command bool
	Seq     uint64
	Hash    string
	Env     events.Envelope
}

// Stream builds the two streams of a history: commands as the ingress appends them, and
// the events an executor that succeeds at every step (unless told to fail) records for
// them. all keeps the order in which they were made, as a live projector would see them.
type Stream struct {
	t          testing.TB
	Cmds, Evts []Record
	All        []Record
	states     map[string]*cluster.State
	byID       map[string]events.Envelope
	clock      int
}

func New(t testing.TB) *Stream {
	return &Stream{t: t, states: map[string]*cluster.State{}, byID: map[string]events.Envelope{}}
}

func (s *Stream) now() time.Time { s.clock++; return T0.Add(time.Duration(s.clock) * time.Second) }

func ClusterID(name string) string { return events.DeriveID("cluster", name) }

// command appends a command for the request req.
func (s *Stream) Command(req, clusterID, org, actor string, p events.Payload) events.Envelope {
	s.t.Helper()
	env := events.Envelope{ID: events.DeriveID("command", req), Type: p.Type(), SchemaVersion: 1, ClusterID: clusterID, OrgID: org, Actor: actor,
		Time: s.now(), CorrelationID: req, Payload: p}
	r := Record{Command: true, Seq: uint64(len(s.Cmds) + 1), Env: env}
	s.Cmds, s.All = append(s.Cmds, r), append(s.All, r)
	s.byID[env.ID] = env
	return env
}

// create appends a CreateCluster for a cluster named name.
func (s *Stream) Create(name, org, actor string) events.Envelope {
	return s.Command("create-"+name+"-"+org, ClusterID(name+org), org, actor, events.CreateCluster{Spec: Spec(name)})
}

func Spec(name string) events.ClusterSpec {
	return events.ClusterSpec{Name: name, OrgName: "acme", VDC: "vdc1", Network: "net1",
		Template: events.TemplateRef{Name: "ubuntu-k8s-1.29", Revision: 1}, ControlPlane: events.NodePool{Count: 1},
		Workers: events.NodePool{Count: 2}, RollbackOnFailure: true}
}

func (s *Stream) State(id string) *cluster.State {
	st := s.states[id]
	if st == nil {
		st = &cluster.State{}
		s.states[id] = st
	}
	return st
}

// event appends one event caused by cmd, as the executor does.
func (s *Stream) Event(cmd events.Envelope, p events.Payload) {
	s.t.Helper()
	st := s.State(cmd.ClusterID)
	seq := uint64(len(s.Evts) + 1)
	env := events.Envelope{ID: events.DeriveID("event", fmt.Sprint(cmd.ID, seq)), Type: p.Type(), SchemaVersion: 1, ClusterID: cmd.ClusterID,
		OrgID: cmd.OrgID, Actor: cmd.Actor, Time: s.now(), CausationID: cmd.ID, CorrelationID: cmd.CorrelationID, PrevHash: st.Hash, Payload: p}
	if st.OrgID != "" {
		env.OrgID = st.OrgID
	}
	hash := fmt.Sprintf("hash-%d", seq)
	st.Apply(env, seq, hash)
	r := Record{Seq: seq, Hash: hash, Env: env}
	s.Evts, s.All = append(s.Evts, r), append(s.All, r)
}

// start decides cmd on the history and records its first event or its refusal.
func (s *Stream) Start(cmd events.Envelope) {
	s.t.Helper()
	p, err := cluster.Decide(s.State(cmd.ClusterID), cmd)
	var rej *cluster.Rejection
	switch {
	case errors.As(err, &rej):
		s.Event(cmd, events.CommandRejected{CommandType: cmd.Type, Failure: rej.Failure})
	case err != nil:
		s.t.Fatal(err)
	default:
		s.Event(cmd, p)
	}
}

// run starts cmd and carries its operation to the end.
func (s *Stream) Run(cmd events.Envelope) {
	s.t.Helper()
	s.Start(cmd)
	s.Finish(cmd.ClusterID)
}

// steps plays up to n steps of the operation in progress (all of them when n < 0).
func (s *Stream) Steps(clusterID string, n int) {
	s.t.Helper()
	st := s.State(clusterID)
	for i := 0; n < 0 || i < n; i++ {
		if st.Op == nil {
			return
		}
		if i > 500 {
			s.t.Fatalf("operation on %s does not end", clusterID)
		}
		cmd := s.byID[st.Op.CommandID]
		step := cluster.Plan(st)
		evs := clustertest.Outcome(st, step)
		if len(evs) == 0 {
			s.t.Fatalf("unexpected step %s", step)
		}
		for _, p := range evs {
			s.Event(cmd, p)
		}
	}
}

func (s *Stream) Finish(clusterID string) { s.t.Helper(); s.Steps(clusterID, -1) }

// fail records that the operation in progress on the cluster failed.
func (s *Stream) Fail(clusterID string, rollback bool) events.Failure {
	s.t.Helper()
	st := s.State(clusterID)
	f := events.Failure{Code: events.CodeQuotaExceeded, Message: "VDC vdc1 has reached its quota", Step: "CreateNode", VCDCode: "400", VCDMessage: "quota"}
	s.Event(s.byID[st.Op.CommandID], events.OperationFailed{Failure: f, Rollback: rollback})
	return f
}

// Feed applies records to views in the given order.
func Feed(v *projector.Views, recs []Record) {
	for _, r := range recs {
		if r.Command {
			v.ApplyCommand(r.Seq, r.Env)
		} else {
			v.ApplyEvent(r.Seq, r.Hash, r.Env)
		}
	}
}

// views returns views fed with the whole history in the order it was made.
func (s *Stream) Views() *projector.Views {
	v := projector.NewViews()
	Feed(v, s.All)
	return v
}

// ClusterIDs returns the id of every cluster the stream touched.
func (s *Stream) ClusterIDs() []string {
	ids := make([]string, 0, len(s.states))
	for id := range s.states {
		ids = append(ids, id)
	}
	return ids
}

// Store is what Append needs of a store (events/memstore has it).
type Store interface {
	AppendCommand(ctx context.Context, env events.Envelope, msgID string) (seq uint64, duplicate bool, err error)
	LoadCommands(ctx context.Context, clusterID string, afterSeq uint64) ([]store.Record, error)
	LastSeq(ctx context.Context, clusterID string) (uint64, error)
	Load(ctx context.Context, clusterID string, afterSeq uint64) ([]store.Record, error)
	Append(ctx context.Context, env events.Envelope, expectedSeq uint64, msgID string) (store.Record, error)
}

// Append writes records into the store as the ingress and the executors would (each event
// chained to its cluster's head, appended at its cluster's last sequence), and folds what
// the store kept into want (when not nil): the views a projector must arrive at.
func Append(t testing.TB, ms Store, want *projector.Views, recs []Record) {
	t.Helper()
	ctx := t.Context()
	for _, r := range recs {
		env := r.Env
		if r.Command {
			seq, _, err := ms.AppendCommand(ctx, env, env.ID)
			if err != nil {
				t.Fatal(err)
			}
			cmds, err := ms.LoadCommands(ctx, env.ClusterID, seq-1)
			if err != nil || len(cmds) == 0 {
				t.Fatalf("command %d not stored: %v", seq, err)
			}
			if want != nil {
				want.ApplyCommand(seq, cmds[0].Envelope)
			}
			continue
		}
		last, err := ms.LastSeq(ctx, env.ClusterID)
		if err != nil {
			t.Fatal(err)
		}
		env.PrevHash = ""
		if last > 0 {
			prev, err := ms.Load(ctx, env.ClusterID, last-1)
			if err != nil || len(prev) != 1 {
				t.Fatalf("head of %s: %v", env.ClusterID, err)
			}
			env.PrevHash = prev[0].Hash()
		}
		rec, err := ms.Append(ctx, env, last, env.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want != nil {
			want.ApplyEvent(rec.Seq, rec.Hash(), rec.Envelope)
		}
	}
}
