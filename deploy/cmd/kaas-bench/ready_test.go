package main

import (
	"slices"
	"testing"
	"time"
)

func TestCreateFloor(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name        string
		task, boot  time.Duration
		workers     int
		want        time.Duration
		chainEnding []string
	}{
		{name: "the bench's delays: the workers are added while the control plane boots",
			task: 2 * s, boot: 5 * s, workers: 2, want: 20 * s,
			chainEnding: []string{"compose vApp with network and control plane VM", "write control plane user data", "power on control plane",
				"control plane boots (kubeadm init, join command published)", "write worker 2 user data (join command)", "power on worker 2",
				"worker 2 boots (kubeadm join)"}},
		{name: "instant boots: the vApp's one recompose at a time is the critical path",
			task: 2 * s, boot: 0, workers: 4, want: 14 * s,
			chainEnding: []string{"compose vApp with network and control plane VM", "recompose adds worker 1", "recompose adds worker 2",
				"recompose adds worker 3", "recompose adds worker 4", "write worker 4 user data (join command)", "power on worker 4",
				"worker 4 boots (kubeadm join)"}},
		{name: "no workers", task: time.Second, boot: 3 * s, workers: 0, want: 6 * s,
			chainEnding: []string{"compose vApp with network and control plane VM", "write control plane user data", "power on control plane",
				"control plane boots (kubeadm init, join command published)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, chain := createFloor(tc.task, tc.boot, tc.workers)
			if got != tc.want {
				t.Errorf("floor = %v, want %v", got, tc.want)
			}
			var ops []string
			var sum float64
			for _, l := range chain {
				ops = append(ops, l.Op)
				sum += l.Seconds
			}
			if !slices.Equal(ops, tc.chainEnding) {
				t.Errorf("chain = %q, want %q", ops, tc.chainEnding)
			}
			// The chain is the critical path: its links add up to the floor, end to end.
			if sum != got.Seconds() || chain[len(chain)-1].EndS != got.Seconds() {
				t.Errorf("chain adds up to %.1fs and ends at %.1fs, floor %v", sum, chain[len(chain)-1].EndS, got)
			}
		})
	}
}
