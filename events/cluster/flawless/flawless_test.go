package flawless_test

import (
	"fmt"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cluster/flawless"
)

// A flawless executor carries each operation to its success, whatever the aggregate plans:
// its outcomes are events the aggregate accepts, and the plan ends.
func TestOperationsSucceed(t *testing.T) {
	spec := events.ClusterSpec{Name: "c1", OrgName: "acme", VDC: "vdc1", Network: "net1",
		Template: events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1}, ControlPlane: events.NodePool{Count: 1},
		Workers: events.NodePool{Count: 2}, NFS: events.NodePool{Count: 1}, RollbackOnFailure: true}
	st := &cluster.State{}
	var seq uint64
	for i, tc := range []struct {
		cmd   events.Payload
		phase events.Phase
		nodes int
	}{
		{events.CreateCluster{Spec: spec}, events.PhaseCreateSucceeded, 4},
		{events.ScaleWorkers{Workers: 3}, events.PhaseUpdateSucceeded, 5},
		{events.DeleteCluster{}, events.PhaseDeleteSucceeded, 0},
	} {
		cmd := events.Envelope{ID: fmt.Sprint("cmd-", i), ClusterID: "cluster-1", Payload: tc.cmd}
		first, err := cluster.Decide(st, cmd)
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd.Type(), err)
		}
		next := []events.Payload{first}
		for steps := 0; len(next) > 0; steps++ {
			if steps > 100 {
				t.Fatalf("%s does not end", tc.cmd.Type())
			}
			for _, p := range next {
				seq++
				st.Apply(events.Envelope{ClusterID: "cluster-1", CausationID: cmd.ID, Payload: p}, seq, fmt.Sprint("h", seq))
			}
			next = nil
			if step := cluster.Plan(st); step.Kind != cluster.StepNone {
				if next = flawless.Outcome(st, step); len(next) == 0 {
					t.Fatalf("%s: no outcome for step %s", tc.cmd.Type(), step)
				}
			}
		}
		if st.Op != nil || st.LastFailure != nil {
			t.Fatalf("%s: operation %+v, failure %+v", tc.cmd.Type(), st.Op, st.LastFailure)
		}
		if st.Phase != tc.phase {
			t.Errorf("%s: phase %s, want %s", tc.cmd.Type(), st.Phase, tc.phase)
		}
		if len(st.Nodes) != tc.nodes {
			t.Errorf("%s: %d nodes, want %d", tc.cmd.Type(), len(st.Nodes), tc.nodes)
		}
	}
	if !st.Deleted {
		t.Error("the deleted cluster is not Deleted")
	}
}
