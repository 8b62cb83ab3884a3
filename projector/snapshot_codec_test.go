package projector

import (
	"reflect"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
)

// The binary codec gives back what it was given, nil apart from empty, and fails on (never
// panics at) input it did not write.
func FuzzBinDecode(f *testing.F) {
	acl := []events.ACLEntry(nil)
	seeds := []opSnap{
		{},
		{ID: "op", Cluster: "c", Cmd: cmdSnap{Seq: 3, Type: events.TypeSetClusterACL, ACL: &aclSnap{Entries: acl}, Accepted: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
			Evt: evtSnap{Seq: 9, Status: OpFailed, Failure: &events.Failure{Code: "X", Message: "m"}, Percent: -1}},
		{ID: "op2", Cmd: cmdSnap{Spec: &events.ClusterSpec{Name: "n", PodCIDRs: []string{}}, Tmpl: &tmplCmdSnap{Deprecated: true}}},
	}
	for _, s := range seeds {
		e := &binEncoder{}
		if err := writeBin(e, &s); err != nil {
			f.Fatal(err)
		}
		var back opSnap
		if err := readBin(&binDecoder{b: e.b}, &back); err != nil || !reflect.DeepEqual(back, s) {
			f.Fatalf("round trip: %v\n%+v\n%+v", err, back, s)
		}
		f.Add(e.b)
	}
	e := &binEncoder{}
	st := &cluster.State{ID: "c", Nodes: []*cluster.Node{{Name: "n"}}, ACL: []events.ACLEntry{}}
	if err := writeBin(e, &clusterSnap{ID: "c", State: st, Memory: cluster.Memory{Commands: []string{}, NextOrdinal: map[string]int{"w": 2}}}); err != nil {
		f.Fatal(err)
	}
	f.Add(e.b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var o opSnap
		_ = readBin(&binDecoder{b: b}, &o)
		var c clusterSnap
		_ = readBin(&binDecoder{b: b}, &c)
	})
}
