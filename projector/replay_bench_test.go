package projector_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cluster/clustertest"
	"github.com/kaasproject/kaas/projector"
)

// foldHistory is n clusters' lifecycles as stored records, for folding benchmarks.
func foldHistory(n int) (cmds, evts [][]byte) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for c := range n {
		id := events.DeriveID("c", fmt.Sprint(c))
		spec := events.ClusterSpec{Name: fmt.Sprintf("c%d", c), OrgName: "org", VDC: "vdc", Network: "net",
			Template: events.TemplateRef{Name: "t-1.29", Revision: 1}, ControlPlane: events.NodePool{Count: 1}, Workers: events.NodePool{Count: 2}}
		st := &cluster.State{}
		prev, seq := "", uint64(0)
		for i, cmd := range []events.Payload{events.CreateCluster{Spec: spec}, events.ScaleWorkers{Workers: 3}} {
			cmdID := events.DeriveID("cmd", fmt.Sprint(c, i))
			b, _ := events.Marshal(events.Envelope{ID: cmdID, ClusterID: id, OrgID: "urn:vcloud:org:o", Actor: "urn:vcloud:user:u", Time: t0, CorrelationID: cmdID, Payload: cmd})
			cmds = append(cmds, b)
			first, _ := cluster.Decide(st, events.Envelope{ID: cmdID, ClusterID: id, Payload: cmd})
			next := []events.Payload{first}
			for len(next) > 0 {
				for _, p := range next {
					seq++
					env := events.Envelope{ID: events.DeriveID("e", fmt.Sprint(id, seq)), ClusterID: id, OrgID: "urn:vcloud:org:o", Actor: "urn:vcloud:user:u",
						Time: t0.Add(time.Duration(seq) * time.Millisecond), CausationID: cmdID, CorrelationID: cmdID, PrevHash: prev, Payload: p}
					b, _ := events.Marshal(env)
					evts = append(evts, b)
					st.Apply(env, seq, events.Hash(b))
					prev = events.Hash(b)
				}
				next = nil
				if step := cluster.Plan(st); step.Kind != cluster.StepNone {
					next = clustertest.Outcome(st, step)
				}
			}
		}
	}
	return cmds, evts
}

// BenchmarkFold is the projector's work per record in a rebuild: decode, hash, fold.
func BenchmarkFold(b *testing.B) {
	cmds, evts := foldHistory(2000)
	b.ResetTimer()
	for range b.N {
		v := projector.NewViews()
		for i, c := range cmds {
			env, _ := events.Unmarshal(c)
			v.ApplyCommand(uint64(i+1), env)
		}
		for i, e := range evts {
			env, _ := events.Unmarshal(e)
			v.ApplyEvent(uint64(i+1), events.Hash(e), env)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(len(cmds)+len(evts))), "ns/record")
}
