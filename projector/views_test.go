package projector_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/projector"
)

func TestPendingCreate(t *testing.T) {
	s := newStream(t)
	cmd := s.Create("c1", orgA, alice)
	v := s.Views()

	cv, ok := v.Cluster(cmd.ClusterID)
	if !ok || !cv.Exists() || cv.State != nil || len(cv.Pending) != 1 || cv.Current != nil {
		t.Fatalf("cluster view %+v (ok %v)", cv, ok)
	}
	if o := cv.PendingCreate(); o == nil || o.ID != cmd.ID || o.Spec == nil || o.Spec.Name != "c1" {
		t.Errorf("pending create %+v", o)
	}
	if cv.Name() != "c1" {
		t.Errorf("name %q", cv.Name())
	}
	o, ok := v.Operation(cmd.ID)
	if !ok || o.EffectiveStatus() != projector.OpPending || o.Status != "" || o.Command != events.TypeCreateCluster ||
		o.OrgID != orgA || o.Actor != alice || o.RequestID != cmd.CorrelationID || o.CommandSeq != 1 || !o.Accepted.Equal(cmd.Time) {
		t.Errorf("operation %+v (ok %v)", o, ok)
	}
	if cs := v.OrgClusters(orgA); len(cs) != 1 || cs[0].ID != cmd.ClusterID {
		t.Errorf("org clusters %+v", cs)
	}
	if named := v.Named(orgA, "vdc1", "C1"); len(named) != 1 || named[0].ID != cmd.ClusterID {
		t.Errorf("named (without case) %+v", named)
	}
	if c, e := v.Seqs(); c != 1 || e != 0 {
		t.Errorf("seqs %d %d", c, e)
	}
	if _, ok := v.Cluster(clusterID("nope")); ok {
		t.Error("a cluster nobody asked for is known")
	}
	if _, ok := v.Operation("nope"); ok {
		t.Error("an operation nobody asked for is known")
	}
}

func TestRunningCluster(t *testing.T) {
	s := newStream(t)
	cmd := s.Create("c1", orgA, alice)
	s.Run(cmd)
	v := s.Views()
	cv, _ := v.Cluster(cmd.ClusterID)
	st := cv.State
	if st == nil || !cv.Exists() || st.Phase != events.PhaseCreateSucceeded || st.Busy() || len(st.Nodes) != 3 || st.VAppID == "" {
		t.Fatalf("state %+v", st)
	}
	if len(cv.Pending) != 0 || cv.Current == nil || cv.Current.ID != cmd.ID || cv.Current.Status != projector.OpSucceeded {
		t.Errorf("pending %v current %+v", cv.Pending, cv.Current)
	}
	// The view is a copy: changing it changes nothing in the views.
	st.Nodes[0].IP, st.Spec.Name = "changed", "changed"
	again, _ := v.Cluster(cmd.ClusterID)
	if again.State.Nodes[0].IP == "changed" || again.State.Spec.Name == "changed" {
		t.Error("Cluster returned shared state")
	}
}

func TestOperationStatuses(t *testing.T) {
	type check func(t *testing.T, v *projector.Views, s *stream)
	op := func(t *testing.T, v *projector.Views, id string) projector.Operation {
		t.Helper()
		o, ok := v.Operation(id)
		if !ok {
			t.Fatalf("operation %s unknown", id)
		}
		return o
	}
	var create, scale, force events.Envelope
	tests := []struct {
		name  string
		build func(s *stream)
		check check
	}{
		{"pending", func(s *stream) { create = s.Create("c1", orgA, alice) }, func(t *testing.T, v *projector.Views, s *stream) {
			if o := op(t, v, create.ID); o.EffectiveStatus() != projector.OpPending || o.EventSeq != 0 || !o.Started.IsZero() {
				t.Errorf("%+v", o)
			}
		}},
		{"running", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Start(create)
			s.Steps(create.ClusterID, 3)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			o := op(t, v, create.ID)
			if o.Status != projector.OpRunning || o.Phase != events.PhaseCreateInProgress || o.Started.IsZero() || !o.Ended.IsZero() ||
				o.EventSeq != 1 || o.Step == "" || o.Percent <= 0 || o.Percent >= 100 {
				t.Errorf("%+v", o)
			}
		}},
		{"retrying", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Start(create)
			s.Event(create, events.StepRetrying{Step: "CreateVApp", Attempt: 2, Failure: events.Failure{Code: events.CodeVCDError, Message: "busy"}})
		}, func(t *testing.T, v *projector.Views, s *stream) {
			if o := op(t, v, create.ID); o.Status != projector.OpRunning || o.Retrying == nil || o.Retrying.Code != events.CodeVCDError {
				t.Errorf("%+v", o)
			}
		}},
		{"retry cleared by progress", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Start(create)
			s.Event(create, events.StepRetrying{Step: "ResolveTemplate", Attempt: 1, Failure: events.Failure{Code: events.CodeVCDError, Message: "busy"}})
			s.Steps(create.ClusterID, 1)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			if o := op(t, v, create.ID); o.Status != projector.OpRunning || o.Retrying != nil {
				t.Errorf("%+v", o)
			}
		}},
		{"succeeded", func(s *stream) { create = s.Create("c1", orgA, alice); s.Run(create) }, func(t *testing.T, v *projector.Views, s *stream) {
			o := op(t, v, create.ID)
			if o.Status != projector.OpSucceeded || o.Percent != 100 || o.Phase != events.PhaseCreateSucceeded || o.Ended.IsZero() ||
				o.Step != events.TypeClusterCreated || o.Failure != nil {
				t.Errorf("%+v", o)
			}
		}},
		{"failed", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Start(create)
			s.Steps(create.ClusterID, 2)
			s.Fail(create.ClusterID, false)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			o := op(t, v, create.ID)
			if o.Status != projector.OpFailed || o.Phase != events.PhaseCreateFailed || o.Failure == nil || o.Failure.Code != events.CodeQuotaExceeded || o.Ended.IsZero() {
				t.Errorf("%+v", o)
			}
			// Kept on failure: it stays, listed, until deleted.
			if cv, _ := v.Cluster(create.ClusterID); !cv.Exists() || cv.State.RolledBack || len(v.OrgClusters(orgA)) != 1 {
				t.Errorf("cluster kept on failure %+v", cv.State)
			}
		}},
		{"rolling back", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Start(create)
			s.Steps(create.ClusterID, 4)
			s.Fail(create.ClusterID, true)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			o := op(t, v, create.ID)
			if o.Status != projector.OpRunning || o.Failure == nil || o.Failure.Code != events.CodeQuotaExceeded || !o.Ended.IsZero() {
				t.Errorf("%+v", o)
			}
		}},
		{"failed and rolled back", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Start(create)
			s.Steps(create.ClusterID, 4)
			s.Fail(create.ClusterID, true)
			s.Finish(create.ClusterID)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			o := op(t, v, create.ID)
			if o.Status != projector.OpFailed || o.Phase != events.PhaseCreateFailed || o.Failure == nil || o.Failure.Code != events.CodeQuotaExceeded ||
				o.Step != events.TypeOperationRolledBack {
				t.Errorf("%+v", o)
			}
			// A rolled-back create leaves no cluster: not listed, its name free; its
			// operation and folded history stay.
			cv, _ := v.Cluster(create.ClusterID)
			if !cv.State.RolledBack || cv.Exists() || len(cv.State.Nodes) != 0 {
				t.Errorf("cluster after rollback %+v", cv.State)
			}
			if l := v.OrgClusters(orgA); len(l) != 0 {
				t.Errorf("listed after rollback: %+v", l)
			}
			if n := v.Named(orgA, create.Payload.(events.CreateCluster).Spec.VDC, "C1"); len(n) != 0 {
				t.Errorf("name still taken after rollback: %+v", n)
			}
			if st := v.Stats(); st.Clusters[events.PhaseCreateFailed] != 0 {
				t.Errorf("counted after rollback: %+v", st.Clusters)
			}
		}},
		{"rejected", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Run(create)
			scale = s.Command("scale", create.ClusterID, orgA, bob, events.ScaleWorkers{Workers: 2}) // already 2
			s.Start(scale)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			o := op(t, v, scale.ID)
			if o.Status != projector.OpRejected || o.Failure == nil || o.Failure.Code != events.CodeInvalidChange || o.Actor != bob || o.Target != "2" {
				t.Errorf("%+v", o)
			}
			// A refusal is not the cluster's current operation, nor pending.
			cv, _ := v.Cluster(create.ClusterID)
			if cv.Current == nil || cv.Current.ID != create.ID || len(cv.Pending) != 0 {
				t.Errorf("current %+v pending %v", cv.Current, cv.Pending)
			}
		}},
		{"superseded", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Run(create)
			scale = s.Command("scale", create.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 5})
			s.Start(scale)
			s.Steps(create.ClusterID, 2)
			force = s.Command("force", create.ClusterID, orgA, alice, events.ForceDeleteCluster{})
			s.Start(force)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			o := op(t, v, scale.ID)
			if o.Status != projector.OpSuperseded || o.Failure == nil || o.Failure.Code != events.CodeSuperseded || o.Ended.IsZero() {
				t.Errorf("scale %+v", o)
			}
			f := op(t, v, force.ID)
			if f.Status != projector.OpRunning || f.Command != events.TypeForceDeleteCluster || f.Phase != events.PhaseDeleteInProgress {
				t.Errorf("force delete %+v", f)
			}
			cv, _ := v.Cluster(create.ClusterID)
			if cv.Current == nil || cv.Current.ID != force.ID {
				t.Errorf("current %+v", cv.Current)
			}
		}},
		{"superseding delete ends", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Run(create)
			scale = s.Command("scale", create.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 5})
			s.Start(scale)
			force = s.Command("force", create.ClusterID, orgA, alice, events.ForceDeleteCluster{})
			s.Run(force)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			if o := op(t, v, scale.ID); o.Status != projector.OpSuperseded {
				t.Errorf("scale %+v", o)
			}
			if f := op(t, v, force.ID); f.Status != projector.OpSucceeded || f.Phase != events.PhaseDeleteSucceeded {
				t.Errorf("force delete %+v", f)
			}
		}},
		{"scale and upgrade", func(s *stream) {
			create = s.Create("c1", orgA, alice)
			s.Run(create)
			scale = s.Command("scale", create.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 1})
			s.Run(scale)
			force = s.Command("upgrade", create.ClusterID, orgA, alice, events.UpgradeTemplate{Template: events.TemplateRef{Name: "ubuntu-k8s-1.30", Revision: 1}})
			s.Run(force)
		}, func(t *testing.T, v *projector.Views, s *stream) {
			if o := op(t, v, scale.ID); o.Status != projector.OpSucceeded || o.Phase != events.PhaseUpdateSucceeded || o.Target != "1" {
				t.Errorf("scale %+v", o)
			}
			if o := op(t, v, force.ID); o.Status != projector.OpSucceeded || o.Phase != events.PhaseUpgradeSucceeded || o.Target != "ubuntu-k8s-1.30 revision 1" {
				t.Errorf("upgrade %+v", o)
			}
			cv, _ := v.Cluster(create.ClusterID)
			if cv.State.Spec.Workers.Count != 1 || len(cv.State.NodesOf(events.RoleWorker)) != 1 || cv.State.Template.KubernetesVersion != "v1.30.1" {
				t.Errorf("state %+v", cv.State)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStream(t)
			tt.build(s)
			tt.check(t, s.Views(), s)
		})
	}
}

func TestOrgClusters(t *testing.T) {
	s := newStream(t)
	for _, n := range []string{"delta", "alpha", "charlie"} {
		s.Run(s.Create(n, orgA, alice))
	}
	s.Create("bravo", orgA, alice) // pending
	s.Run(s.Create("aardvark", orgB, bob))
	gone := s.Create("echo", orgA, alice)
	s.Run(gone)
	s.Run(s.Command("del-echo", gone.ClusterID, orgA, alice, events.DeleteCluster{}))
	v := s.Views()

	names := func(cs []projector.ClusterView) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name())
		}
		return strings.Join(out, ",")
	}
	if got := names(v.OrgClusters(orgA)); got != "alpha,bravo,charlie,delta" {
		t.Errorf("orgA: %s", got)
	}
	if got := names(v.OrgClusters(orgB)); got != "aardvark" {
		t.Errorf("orgB: %s", got)
	}
	if got := names(v.OrgClusters("")); got != "aardvark,alpha,bravo,charlie,delta" {
		t.Errorf("all orgs: %s", got)
	}
	if got := v.OrgClusters("urn:vcloud:org:none"); len(got) != 0 {
		t.Errorf("unknown org: %v", got)
	}
}

func TestDeletedClusterDisappears(t *testing.T) {
	s := newStream(t)
	create := s.Create("c1", orgA, alice)
	s.Run(create)
	del := s.Command("del", create.ClusterID, orgA, alice, events.DeleteCluster{})
	s.Start(del)

	v := s.Views()
	if cs := v.OrgClusters(orgA); len(cs) != 1 || cs[0].State.Phase != events.PhaseDeleteInProgress {
		t.Fatalf("while deleting: %+v", cs)
	}
	s.Finish(create.ClusterID)
	v = s.Views()
	cv, ok := v.Cluster(create.ClusterID)
	if !ok || cv.Exists() || !cv.State.Deleted {
		t.Errorf("deleted cluster: ok %v exists %v", ok, cv.Exists())
	}
	if cs := v.OrgClusters(orgA); len(cs) != 0 {
		t.Errorf("deleted cluster listed: %+v", cs)
	}
	if n := v.Named(orgA, "vdc1", "c1"); len(n) != 0 {
		t.Errorf("deleted cluster still holds its name: %+v", n)
	}
	if o, _ := v.Operation(del.ID); o.Status != projector.OpSucceeded {
		t.Errorf("delete %+v", o)
	}
	// The name can be used again, and the new cluster is the only one of that name.
	again := s.Command("create-c1-again", clusterID("c1-again"), orgA, alice, events.CreateCluster{Spec: spec("c1")})
	s.Run(again)
	if n := s.Views().Named(orgA, "vdc1", "c1"); len(n) != 1 || n[0].ID != again.ClusterID {
		t.Errorf("named after re-create: %+v", n)
	}
}

func TestWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := projector.NewViews()
		s := newStream(t)
		cmd := s.Create("c1", orgA, alice)
		s.Run(cmd)

		done := make(chan error, 1)
		go func() { done <- v.WaitFor(t.Context(), 1, 3) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitFor returned %v before anything was applied", err)
		default:
		}
		feed(v, s.Cmds)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitFor returned %v with only the commands applied", err)
		default:
		}
		feed(v, s.Evts[:2])
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitFor returned %v at event 2 of 3", err)
		default:
		}
		feed(v, s.Evts[2:3])
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("WaitFor still blocked with both sequences reached")
		}

		// Already reached: no wait.
		if err := v.WaitFor(t.Context(), 1, 1); err != nil {
			t.Fatal(err)
		}
		// Never reached: the context decides.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := v.WaitFor(ctx, 2, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitFor past the end: %v", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("waited %s", d)
		}
		ctx, cancel = context.WithCancel(t.Context())
		go func() { done <- v.WaitFor(ctx, 0, 1000) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WaitFor after cancel: %v", err)
		}
	})
}

// history builds a history that exercises every kind of operation on several clusters of
// two orgs, with commands still pending at the end.
func history(t *testing.T) *stream {
	s := newStream(t)
	a := s.Create("alpha", orgA, alice)
	b := s.Create("bravo", orgA, alice)
	c := s.Create("charlie", orgB, bob)
	s.Run(a)
	s.Start(b)
	s.Steps(b.ClusterID, 3)
	s.Run(c)
	s.Finish(b.ClusterID)

	s.Run(s.Command("scale-a-up", a.ClusterID, orgA, bob, events.ScaleWorkers{Workers: 4}))
	s.Start(s.Command("scale-a-same", a.ClusterID, orgA, bob, events.ScaleWorkers{Workers: 4})) // rejected
	s.Run(s.Command("scale-a-down", a.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 1}))
	s.Run(s.Command("upgrade-a", a.ClusterID, orgA, alice, events.UpgradeTemplate{Template: events.TemplateRef{Name: "ubuntu-k8s-1.30", Revision: 1}}))

	d := s.Create("delta", orgA, alice)
	s.Start(d)
	s.Steps(d.ClusterID, 5)
	s.Fail(d.ClusterID, true)
	s.Finish(d.ClusterID)

	e := s.Create("echo", orgB, bob)
	s.Start(e)
	s.Fail(e.ClusterID, false)

	scale := s.Command("scale-c", c.ClusterID, orgB, bob, events.ScaleWorkers{Workers: 6})
	s.Start(scale)
	s.Event(scale, events.StepRetrying{Step: "CreateNode", Attempt: 1, Failure: events.Failure{Code: events.CodeVCDError, Message: "busy"}})
	s.Steps(c.ClusterID, 2)
	s.Run(s.Command("force-c", c.ClusterID, orgB, bob, events.ForceDeleteCluster{}))

	s.Run(s.Command("delete-b", b.ClusterID, orgA, alice, events.DeleteCluster{}))
	s.Create("foxtrot", orgA, alice)                                                        // pending create
	s.Command("scale-a-pending", a.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 3}) // pending change
	g := s.Create("golf", orgB, bob)
	s.Start(g)
	s.Steps(g.ClusterID, 4) // in progress
	return s
}

// interleave merges the two streams, each kept in its own order, taking from the command
// stream when pick says so.
func interleave(cmds, evts []record, pick func(i int) bool) []record {
	var out []record
	i, j := 0, 0
	for n := 0; i < len(cmds) || j < len(evts); n++ {
		if j == len(evts) || (i < len(cmds) && pick(n)) {
			out = append(out, cmds[i])
			i++
		} else {
			out = append(out, evts[j])
			j++
		}
	}
	return out
}

// TestOrderIndependence: the views depend on what the two streams hold, not on how a
// projector happened to interleave them.
func TestOrderIndependence(t *testing.T) {
	s := history(t)
	want := s.Views()
	seen := map[string]bool{}
	for _, r := range s.Cmds {
		o, _ := want.Operation(r.Env.ID)
		seen[o.EffectiveStatus()] = true
	}
	for _, st := range []string{projector.OpPending, projector.OpRunning, projector.OpSucceeded, projector.OpFailed, projector.OpRejected, projector.OpSuperseded} {
		if !seen[st] {
			t.Errorf("the history has no %s operation", st)
		}
	}
	t.Logf("%d commands, %d events", len(s.Cmds), len(s.Evts))
	orders := map[string][]record{
		"live":                     s.All,
		"commands before events":   append(append([]record(nil), s.Cmds...), s.Evts...),
		"events before commands":   append(append([]record(nil), s.Evts...), s.Cmds...),
		"alternating":              interleave(s.Cmds, s.Evts, func(n int) bool { return n%2 == 0 }),
		"alternating events first": interleave(s.Cmds, s.Evts, func(n int) bool { return n%2 == 1 }),
		"one command per 5 events": interleave(s.Cmds, s.Evts, func(n int) bool { return n%6 == 0 }),
	}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		orders["random "+string(rune('a'+seed))] = interleave(s.Cmds, s.Evts, func(int) bool { return r.IntN(2) == 0 })
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			got := projector.NewViews()
			feed(got, order)
			if !got.Equal(want) || !want.Equal(got) {
				t.Fatal("views differ")
			}
			// What readers see is the same too.
			for _, id := range s.ClusterIDs() {
				a, okA := got.Cluster(id)
				b, okB := want.Cluster(id)
				if okA != okB || !reflect.DeepEqual(a, b) {
					t.Errorf("cluster %s:\n got %+v\nwant %+v", id, a, b)
				}
			}
			for _, r := range s.Cmds {
				a, _ := got.Operation(r.Env.ID)
				b, _ := want.Operation(r.Env.ID)
				if !reflect.DeepEqual(a, b) {
					t.Errorf("operation %s:\n got %+v\nwant %+v", r.Env.ID, a, b)
				}
			}
			for _, org := range []string{orgA, orgB, ""} {
				if a, b := got.OrgClusters(org), want.OrgClusters(org); !reflect.DeepEqual(a, b) {
					t.Errorf("org %q clusters differ", org)
				}
			}
		})
	}
}

// TestEqualSeesDifferences keeps TestOrderIndependence honest: views that saw different
// history are not Equal.
func TestEqualSeesDifferences(t *testing.T) {
	s := history(t)
	full := s.Views()
	if !full.Equal(s.Views()) {
		t.Fatal("the same history in the same order gives unequal views")
	}
	tests := map[string][]record{
		"one event less":   append(append([]record(nil), s.Cmds...), s.Evts[:len(s.Evts)-1]...),
		"one command less": append(append([]record(nil), s.Cmds[:len(s.Cmds)-1]...), s.Evts...),
		"an event skipped": append(append(append([]record(nil), s.Cmds...), s.Evts[:10]...), s.Evts[11:]...),
	}
	for name, recs := range tests {
		t.Run(name, func(t *testing.T) {
			v := projector.NewViews()
			feed(v, recs)
			if v.Equal(full) || full.Equal(v) {
				t.Error("Equal")
			}
		})
	}
	t.Run("same sequences, different content", func(t *testing.T) {
		v := projector.NewViews()
		recs := append([]record(nil), s.All...)
		var changed string
		for i, r := range recs {
			if r.Command && r.Env.Type == events.TypeScaleWorkers {
				r.Env.Payload = events.ScaleWorkers{Workers: 42}
				recs[i], changed = r, r.Env.ID
				break
			}
		}
		feed(v, recs)
		if v.Equal(full) {
			t.Error("Equal")
		}
		if d := full.Diff(v); !reflect.DeepEqual(d, []string{"operation " + changed}) {
			t.Errorf("Diff %v, want the operation %s only", d, changed)
		}
	})
}
