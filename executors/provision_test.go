package executors_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

// calls records, in order, what the executor asks of VCD about workers' VMs.
type calls struct {
	executors.VCD
	mu  sync.Mutex
	log []string
}

func (c *calls) note(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, s)
}

func (c *calls) EnsureVM(ctx context.Context, spec executors.VMSpec) (executors.Status, error) {
	if spec.Role == events.RoleWorker {
		what := "bare"
		if spec.GuestInfo[executors.GuestUserData] != "" {
			what = "user-data"
		}
		c.note(what + " " + spec.Name)
	}
	return c.VCD.EnsureVM(ctx, spec)
}

func (c *calls) PowerOn(ctx context.Context, vm executors.VMRef) (executors.Status, error) {
	if strings.HasPrefix(vm.Name, "node-") {
		c.note("power " + vm.Name)
	}
	return c.VCD.PowerOn(ctx, vm)
}

// first returns where the first call of a kind (bare, user-data, power) on name is in the
// log, -1 when there is none.
func (c *calls) first(kind, name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Index(c.log, kind+" "+name)
}

// newHarnessWith is newHarness on the fast cloud with wrap between the executor and VCD.
func newHarnessWith(t *testing.T, wrap func(executors.VCD) executors.VCD) *harness {
	t.Helper()
	v, err := vcdmem.New(fastCloud())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: memstore.New(memstore.Config{}), vcd: v, cfg: fastConfig(), wrap: wrap}
	h.start()
	t.Cleanup(h.halt)
	return h
}

// A create's workers are made at once: both VMs are made, without user data, while the
// control plane boots, and both get their user data before either is powered on, where
// a worker at a time would power the first on before the second is asked for.
func TestWorkersAreMadeAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &calls{}
		h := newHarnessWith(t, func(v executors.VCD) executors.VCD { rec.VCD = v; return rec })
		id := events.DeriveID("cluster", "at-once")
		h.send(id, events.CreateCluster{Spec: spec("at-once", good, 2, true)})
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateSucceeded || len(h.vapp(id).VMs) != 3 {
			t.Fatalf("%s %+v", st.Phase, h.vapp(id))
		}
		var workers []string
		for _, n := range st.NodesOf(events.RoleWorker) {
			workers = append(workers, n.Name)
		}
		for _, w := range workers {
			for _, other := range workers {
				if rec.first("bare", w) < 0 || rec.first("bare", w) > rec.first("user-data", other) {
					t.Errorf("%s was not made ahead of the workers' user data: %q", w, rec.log)
				}
				if rec.first("user-data", w) > rec.first("power", other) {
					t.Errorf("%s got its user data after %s was powered on: %q", w, other, rec.log)
				}
			}
		}
	})
}

// An executor stopped while workers are made ahead, and again while they are provisioned,
// leaves nothing twice: the next finds the VMs made and carries on.
func TestRestartWhileWorkersProvision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, fastCloud(), fastConfig())
		var ids []string
		for i := range 4 {
			id := events.DeriveID("cluster", fmt.Sprint("p", i))
			ids = append(ids, id)
			h.send(id, events.CreateCluster{Spec: spec(fmt.Sprint("p", i), good, 3, true)})
		}
		// some says whether a cluster has, in VCD, more VMs than its history records
		// (workers made ahead), or fewer workers recorded started than made.
		some := func(is func(recorded, started, inVCD int) bool) func() bool {
			return func() bool {
				for _, id := range ids {
					st, a := h.state(id), h.vapp(id)
					started := 0
					for _, n := range st.Nodes {
						if n.Started {
							started++
						}
					}
					if a != nil && is(len(st.Nodes), started, len(a.VMs)) {
						return true
					}
				}
				return false
			}
		}
		h.until(some(func(recorded, _, inVCD int) bool { return recorded == 1 && inVCD > 1 }),
			func() string { return "no worker was made ahead" })
		h.halt()
		h.start()
		h.until(some(func(recorded, started, _ int) bool { return recorded > 1 && started < recorded }),
			func() string { return "no worker was seen being provisioned" })
		h.halt()
		h.start()
		for _, id := range ids {
			st := h.waitIdle(id, 2)
			if a := h.vapp(id); st.Phase != events.PhaseCreateSucceeded || len(a.VMs) != 4 || len(st.Nodes) != 4 {
				t.Fatalf("%s: %s, %d nodes recorded, VCD has %+v", id, st.Phase, len(st.Nodes), a)
			}
		}
	})
}
