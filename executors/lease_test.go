package executors_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

// overlap watches VCD calls for steps of one cluster made by two executors at once.
type overlap struct {
	mu       sync.Mutex
	inFlight map[string]int
	worst    int
}

func (o *overlap) enter(clusterID string) func() {
	o.mu.Lock()
	o.inFlight[clusterID]++
	o.worst = max(o.worst, o.inFlight[clusterID])
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		o.inFlight[clusterID]--
		o.mu.Unlock()
	}
}

// watchedVCD reports each cluster step's VCD call to the overlap; slow, when set, holds
// the first VM creation it sees for that long.
type watchedVCD struct {
	executors.VCD
	o       *overlap
	slow    time.Duration
	done    atomic.Bool
	stalled chan struct{} // closed when the slow call begins
}

func (w *watchedVCD) EnsureVApp(ctx context.Context, s executors.VAppSpec) (executors.Status, error) {
	defer w.o.enter(s.ClusterID)()
	return w.VCD.EnsureVApp(ctx, s)
}

func (w *watchedVCD) EnsureVM(ctx context.Context, s executors.VMSpec) (executors.Status, error) {
	defer w.o.enter(s.VApp.ClusterID)()
	if w.slow > 0 && !w.done.Swap(true) {
		close(w.stalled)
		time.Sleep(w.slow) // a sync.Once would block the others on a mutex, which synctest cannot wait out
	}
	return w.VCD.EnsureVM(ctx, s)
}

func (w *watchedVCD) PowerOn(ctx context.Context, vm executors.VMRef) (executors.Status, error) {
	defer w.o.enter(vm.VApp.ClusterID)()
	return w.VCD.PowerOn(ctx, vm)
}

func (w *watchedVCD) GuestInfo(ctx context.Context, vm executors.VMRef) (map[string]string, error) {
	defer w.o.enter(vm.VApp.ClusterID)()
	return w.VCD.GuestInfo(ctx, vm)
}

func (w *watchedVCD) SetGuestInfo(ctx context.Context, vm executors.VMRef, v map[string]string) (executors.Status, error) {
	defer w.o.enter(vm.VApp.ClusterID)()
	return w.VCD.SetGuestInfo(ctx, vm, v)
}

// deafStore is an executor's view of a store whose progress signals never arrive (its link
// to NATS drops them), and which takes no command once stalled is closed: the command it
// runs is then delivered again, to the other executor, while it still runs it.
type deafStore struct {
	*memstore.Store
	stalled <-chan struct{}
}

func (s deafStore) ConsumeCommands(ctx context.Context, cfg store.ConsumerConfig) (store.Deliveries, error) {
	d, err := s.Store.ConsumeCommands(ctx, cfg)
	return &stallingDeliveries{Deliveries: d, ctx: ctx, stalled: s.stalled}, err
}

type stallingDeliveries struct {
	store.Deliveries
	ctx     context.Context
	stalled <-chan struct{}
}

func (d *stallingDeliveries) Next() (store.Delivery, error) {
	m, err := d.Deliveries.Next()
	select {
	case <-d.stalled:
		if err == nil {
			_ = m.Nak() // back to the consumer, for the other executor
		}
		<-d.ctx.Done()
		return nil, store.ErrStopped
	default:
	}
	if err != nil {
		return nil, err
	}
	return deafDelivery{m}, nil
}

type deafDelivery struct{ store.Delivery }

func (deafDelivery) InProgress() error { return nil }

// A command delivered again to a second executor while the first still runs its step (the
// first's progress signals lost) does not run twice at once when the executors share
// leases; without them it does, which is what the leases are for.
func TestLeasesKeepOneExecutorPerCluster(t *testing.T) {
	for _, tc := range []struct {
		name        string
		leases      bool
		wantOverlap bool
	}{
		{"without leases, two executors run one cluster at once", false, true},
		{"with leases, never", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := memstore.New(memstore.Config{})
				v, err := vcdmem.New(fastCloud())
				if err != nil {
					t.Fatal(err)
				}
				o := &overlap{inFlight: map[string]int{}}
				var kv store.KV
				if tc.leases {
					if kv, err = st.KeyValue(t.Context(), store.KVConfig{Bucket: "LEASES"}); err != nil {
						t.Fatal(err)
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				stalled := make(chan struct{})
				run := func(name string, s executors.Store, slow time.Duration) {
					cfg := fastConfig()
					cfg.AckWait, cfg.Leases, cfg.Instance = time.Second, kv, name
					cfg.Logger = slog.New(slog.DiscardHandler)
					ex, err := executors.New(cfg, s, &watchedVCD{VCD: v, o: o, slow: slow, stalled: stalled})
					if err != nil {
						t.Fatal(err)
					}
					wg.Go(func() { _ = ex.Run(ctx) })
				}
				// The first executor holds its first VM creation for 5 ack waits.
				run("first", deafStore{st, stalled}, 5*time.Second)
				synctest.Wait()
				h := &harness{t: t, store: st, vcd: v}
				id := events.DeriveID("cluster", t.Name())
				h.send(id, events.CreateCluster{Spec: spec("lease", good, 2, false)})
				// The second starts once the first holds the command.
				<-stalled
				run("second", st, 0)
				final := h.waitIdle(id, 1)
				cancel()
				wg.Wait()

				o.mu.Lock()
				worst := o.worst
				o.mu.Unlock()
				if got := worst > 1; got != tc.wantOverlap {
					t.Fatalf("at most %d VCD calls for one cluster at once; want overlap %v", worst, tc.wantOverlap)
				}
				if !tc.leases {
					return
				}
				if final.Phase != events.PhaseCreateSucceeded {
					t.Fatalf("cluster ended %s", final.Phase)
				}
				a := h.vapp(id)
				if a == nil || len(a.VMs) != 3 {
					t.Fatalf("vApp %+v, want 3 VMs", a)
				}
				names := map[string]bool{}
				for _, vm := range a.VMs {
					if names[vm.Name] {
						t.Fatalf("VM %s twice", vm.Name)
					}
					names[vm.Name] = true
				}
			})
		})
	}
}

// A lease left by an executor that died is taken over once it went a whole TTL without
// renewal, and the cluster's command runs to its end.
func TestDeadHoldersLeaseIsTakenOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, fastCloud(), fastConfig())
		h.halt()
		kv, err := h.store.KeyValue(t.Context(), store.KVConfig{Bucket: "LEASES"})
		if err != nil {
			t.Fatal(err)
		}
		id := events.DeriveID("cluster", t.Name())
		if _, err := kv.Create(t.Context(), "c."+id, []byte(`{"executor":"dead"}`)); err != nil {
			t.Fatal(err)
		}
		h.cfg.Leases, h.cfg.AckWait = kv, time.Second
		h.start()
		start := time.Now()
		h.send(id, events.CreateCluster{Spec: spec("orphaned", good, 1, false)})
		if st := h.waitIdle(id, 1); st.Phase != events.PhaseCreateSucceeded {
			t.Fatalf("cluster ended %s", st.Phase)
		}
		// The default TTL is three ack waits.
		if took := time.Since(start); took < 3*time.Second {
			t.Fatalf("the dead holder's lease was taken after %s, before its TTL", took)
		}
		synctest.Wait() // the command's last append, then its ack and the release
		if _, err := kv.Get(t.Context(), "c."+id); !errors.Is(err, store.ErrNoKey) {
			t.Fatalf("lease not released after the command: %v", err)
		}
	})
}
