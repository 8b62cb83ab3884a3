package projector_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/projector"
)

const (
	orgA  = "urn:vcloud:org:a0000000-0000-4000-8000-000000000001"
	orgB  = "urn:vcloud:org:b0000000-0000-4000-8000-000000000002"
	alice = "urn:vcloud:user:a0000000-0000-4000-8000-00000000000a"
	bob   = "urn:vcloud:user:b0000000-0000-4000-8000-00000000000b"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// record is one message of a stream, as the projector reads it.
type record struct {
	command bool
	seq     uint64
	hash    string
	env     events.Envelope
}

// stream builds the two streams of a history: commands as the ingress appends them, and
// the events an executor that succeeds at every step (unless told to fail) records for
// them. all keeps the order in which they were made, as a live projector would see them.
type stream struct {
	t          testing.TB
	cmds, evts []record
	all        []record
	states     map[string]*cluster.State
	byID       map[string]events.Envelope
	clock      int
}

func newStream(t testing.TB) *stream {
	return &stream{t: t, states: map[string]*cluster.State{}, byID: map[string]events.Envelope{}}
}

func (s *stream) now() time.Time { s.clock++; return t0.Add(time.Duration(s.clock) * time.Second) }

func clusterID(name string) string { return events.DeriveID("cluster", name) }

// command appends a command for the request req.
func (s *stream) command(req, clusterID, org, actor string, p events.Payload) events.Envelope {
	s.t.Helper()
	env := events.Envelope{ID: events.DeriveID("command", req), Type: p.Type(), SchemaVersion: 1, ClusterID: clusterID, OrgID: org, Actor: actor,
		Time: s.now(), CorrelationID: req, Payload: p}
	r := record{command: true, seq: uint64(len(s.cmds) + 1), env: env}
	s.cmds, s.all = append(s.cmds, r), append(s.all, r)
	s.byID[env.ID] = env
	return env
}

// create appends a CreateCluster for a cluster named name.
func (s *stream) create(name, org, actor string) events.Envelope {
	return s.command("create-"+name+"-"+org, clusterID(name+org), org, actor, events.CreateCluster{Spec: spec(name)})
}

func spec(name string) events.ClusterSpec {
	return events.ClusterSpec{Name: name, OrgName: "acme", VDC: "vdc1", Network: "net1",
		Template: events.TemplateRef{Name: "ubuntu-k8s-1.29", Revision: 1}, ControlPlane: events.NodePool{Count: 1},
		Workers: events.NodePool{Count: 2}, RollbackOnFailure: true}
}

func (s *stream) state(id string) *cluster.State {
	st := s.states[id]
	if st == nil {
		st = &cluster.State{}
		s.states[id] = st
	}
	return st
}

// event appends one event caused by cmd, as the executor does.
func (s *stream) event(cmd events.Envelope, p events.Payload) {
	s.t.Helper()
	st := s.state(cmd.ClusterID)
	seq := uint64(len(s.evts) + 1)
	env := events.Envelope{ID: events.DeriveID("event", fmt.Sprint(cmd.ID, seq)), Type: p.Type(), SchemaVersion: 1, ClusterID: cmd.ClusterID,
		OrgID: cmd.OrgID, Actor: cmd.Actor, Time: s.now(), CausationID: cmd.ID, CorrelationID: cmd.CorrelationID, PrevHash: st.Hash, Payload: p}
	if st.OrgID != "" {
		env.OrgID = st.OrgID
	}
	hash := fmt.Sprintf("hash-%d", seq)
	st.Apply(env, seq, hash)
	r := record{seq: seq, hash: hash, env: env}
	s.evts, s.all = append(s.evts, r), append(s.all, r)
}

// start decides cmd on the history and records its first event or its refusal.
func (s *stream) start(cmd events.Envelope) {
	s.t.Helper()
	p, err := cluster.Decide(s.state(cmd.ClusterID), cmd)
	var rej *cluster.Rejection
	switch {
	case errors.As(err, &rej):
		s.event(cmd, events.CommandRejected{CommandType: cmd.Type, Failure: rej.Failure})
	case err != nil:
		s.t.Fatal(err)
	default:
		s.event(cmd, p)
	}
}

// run starts cmd and carries its operation to the end.
func (s *stream) run(cmd events.Envelope) {
	s.t.Helper()
	s.start(cmd)
	s.finish(cmd.ClusterID)
}

// steps plays up to n steps of the operation in progress (all of them when n < 0).
func (s *stream) steps(clusterID string, n int) {
	s.t.Helper()
	st := s.state(clusterID)
	for i := 0; n < 0 || i < n; i++ {
		if st.Op == nil {
			return
		}
		if i > 500 {
			s.t.Fatalf("operation on %s does not end", clusterID)
		}
		cmd := s.byID[st.Op.CommandID]
		step := cluster.Plan(st)
		switch step.Kind {
		case cluster.StepResolveTemplate:
			v := "v1.29.3"
			if strings.Contains(step.Template.Name, "1.30") {
				v = "v1.30.1"
			}
			s.event(cmd, events.TemplateResolved{Template: events.Template{Name: step.Template.Name, Revision: step.Template.Revision,
				KubernetesVersion: v, OS: "ubuntu-22.04", CNI: events.Component{Name: "antrea", Version: "1.14"}}})
		case cluster.StepCreateVApp:
			s.event(cmd, events.VAppCreated{VAppID: "urn:vcloud:vapp:" + clusterID, Name: st.Spec.Name})
		case cluster.StepCreateNode:
			s.event(cmd, events.NodeCreated{Name: step.New.Name, Role: step.New.Role, Ordinal: step.New.Ordinal, VMID: "urn:vcloud:vm:" + step.New.Name})
		case cluster.StepStartNode:
			s.event(cmd, events.NodeStarted{Name: step.Node.Name})
		case cluster.StepAwaitControlPlane:
			s.event(cmd, events.ControlPlaneInitialized{Node: step.Node.Name, IP: "10.0.0.10", Endpoint: "https://10.0.0.10:6443",
				KubeconfigRef: "kubeconfig/" + clusterID, JoinCommandRef: "join/" + clusterID})
		case cluster.StepAwaitNodes:
			for j, n := range step.Nodes {
				if n.Role == events.RoleNFS {
					s.event(cmd, events.NodeReady{Name: n.Name, IP: fmt.Sprintf("10.0.1.%d", j)})
				} else {
					s.event(cmd, events.NodeJoined{Name: n.Name, IP: fmt.Sprintf("10.0.0.%d", 11+j)})
				}
			}
		case cluster.StepRequestUpgrade:
			s.event(cmd, events.NodeUpgradeRequested{Name: step.Node.Name, KubernetesVersion: step.Version})
		case cluster.StepAwaitUpgrade:
			s.event(cmd, events.NodeUpgraded{Name: step.Node.Name, KubernetesVersion: step.Version})
		case cluster.StepDeleteNode:
			s.event(cmd, events.NodeDeleted{Name: step.Node.Name})
		case cluster.StepDeleteVApp:
			s.event(cmd, events.VAppDeleted{VAppID: st.VAppID})
		case cluster.StepRecord:
			s.event(cmd, step.Event)
		case cluster.StepFail:
			s.event(cmd, events.OperationFailed{Failure: step.Failure})
		default:
			s.t.Fatalf("unexpected step %s", step)
		}
	}
}

func (s *stream) finish(clusterID string) { s.t.Helper(); s.steps(clusterID, -1) }

// fail records that the operation in progress on the cluster failed.
func (s *stream) fail(clusterID string, rollback bool) events.Failure {
	s.t.Helper()
	st := s.state(clusterID)
	f := events.Failure{Code: events.CodeQuotaExceeded, Message: "VDC vdc1 has reached its quota", Step: "CreateNode", VCDCode: "400", VCDMessage: "quota"}
	s.event(s.byID[st.Op.CommandID], events.OperationFailed{Failure: f, Rollback: rollback})
	return f
}

// feed applies records to views in the given order.
func feed(v *projector.Views, recs []record) {
	for _, r := range recs {
		if r.command {
			v.ApplyCommand(r.seq, r.env)
		} else {
			v.ApplyEvent(r.seq, r.hash, r.env)
		}
	}
}

// views returns views fed with the whole history in the order it was made.
func (s *stream) views() *projector.Views {
	v := projector.NewViews()
	feed(v, s.all)
	return v
}
