package jsstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/events/natstest"
)

// Command appends that arrive together are stored in batches, and each caller still gets
// exactly the answer it would have got alone: its own sequence, holding its own message,
// and a duplicate's original sequence, also when the duplicate sat in a batch (which the
// server then refuses whole, so that its appends go again one by one).
func TestConcurrentCommandAppendsBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *jsstore.Store
	}{
		{"one node", func(t *testing.T) *jsstore.Store { st, _ := natstest.Store(t); return st }},
		{"three replicas", func(t *testing.T) *jsstore.Store { st, _ := natstest.ClusterStore(t, 3); return st }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.open(t)
			ctx := t.Context()
			cmd := func(i int) events.Envelope {
				return events.Envelope{ID: fmt.Sprintf("c%d", i), ClusterID: fmt.Sprintf("cl-%d", i%7), Payload: events.ScaleWorkers{Workers: i%5 + 1}}
			}
			// One append stored before: its id comes again in the first burst, and the
			// batch that holds it is refused whole.
			dupSeq, _, err := st.AppendCommand(ctx, cmd(5), "req-5")
			if err != nil {
				t.Fatal(err)
			}
			const n = 60
			for round := 0; round == 0 || cmdStats(st).Batches == 0; round++ {
				if round == 5 {
					t.Fatalf("no batch formed in %d rounds of %d concurrent appends: %+v", round, n, cmdStats(st))
				}
				type res struct {
					seq uint64
					dup bool
					err error
				}
				got := make([]res, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						id := fmt.Sprintf("req-%d-%d", round, i)
						if i == 5 && round == 0 {
							id = "req-5"
						}
						s, d, err := st.AppendCommand(ctx, cmd(i), id)
						got[i] = res{s, d, err}
					})
				}
				close(start)
				wg.Wait()
				seen := map[uint64]int{}
				for i, r := range got {
					if r.err != nil {
						t.Fatalf("append %d: %v", i, r.err)
					}
					if i == 5 && round == 0 {
						if !r.dup || r.seq != dupSeq {
							t.Fatalf("the duplicate got sequence %d (dup %v), want %d", r.seq, r.dup, dupSeq)
						}
						continue
					}
					if r.dup {
						t.Fatalf("append %d reported a duplicate", i)
					}
					if j, ok := seen[r.seq]; ok {
						t.Fatalf("appends %d and %d both got sequence %d", j, i, r.seq)
					}
					seen[r.seq] = i
				}
				// Every sequence holds the message of the append it was given to.
				for i := range n {
					if i == 5 && round == 0 {
						continue
					}
					recs, err := st.LoadCommands(ctx, fmt.Sprintf("cl-%d", i%7), 0)
					if err != nil {
						t.Fatal(err)
					}
					found := false
					for _, r := range recs {
						if r.Seq == got[i].seq {
							found = r.MsgID == fmt.Sprintf("req-%d-%d", round, i) && r.Envelope.ID == cmd(i).ID
						}
					}
					if !found {
						t.Fatalf("sequence %d does not hold append %d", got[i].seq, i)
					}
				}
			}
			s := cmdStats(st)
			t.Logf("%+v", s)
			if s.Batched < 2*s.Batches {
				t.Fatalf("batches hold fewer than two appends each: %+v", s)
			}
		})
	}
}

func cmdStats(st *jsstore.Store) jsstore.BatchStats { c, _ := st.BatchStats(); return c }

// Event appends of many clusters at once are batched too, and each keeps its own
// optimistic concurrency: of two appends to one cluster at the same expected sequence one
// wins and the other conflicts, an append that already landed returns its record, and
// neither takes another cluster's append down with it.
func TestConcurrentEventAppendsBatch(t *testing.T) {
	st, _ := natstest.Store(t)
	ctx := t.Context()
	// Landed before the burst; the burst repeats it.
	first, err := st.Append(ctx, ev("landed", events.ClusterCreated{}, 0), 0, "landed-0")
	if err != nil {
		t.Fatal(err)
	}
	const clusters, chain = 30, 4
	for round := 0; round == 0 || evtStats(st).Batches == 0; round++ {
		if round == 5 {
			t.Fatalf("no batch formed in %d rounds: %+v", round, evtStats(st))
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 3*clusters)
		var mu sync.Mutex
		wins := map[string]int{}
		for c := range clusters {
			id := fmt.Sprintf("r%d-c%d", round, c)
			// A chain of appends, each expecting the one before.
			wg.Go(func() {
				<-start
				var seq uint64
				for i := range chain {
					rec, err := st.Append(ctx, ev(id, events.ClusterCreated{}, i), seq, fmt.Sprintf("%s-%d", id, i))
					if err != nil {
						errs <- fmt.Errorf("%s append %d: %w", id, i, err)
						return
					}
					seq = rec.Seq
				}
			})
			// Two appends racing for the first event of another cluster.
			race := "race-" + id
			for w := range 2 {
				wg.Go(func() {
					<-start
					_, err := st.Append(ctx, ev(race, events.ClusterCreated{}, w), 0, fmt.Sprintf("%s-%d", race, w))
					switch {
					case err == nil:
						mu.Lock()
						wins[race]++
						mu.Unlock()
					case !errors.Is(err, jsstore.ErrConflict):
						errs <- fmt.Errorf("%s: %w", race, err)
					}
				})
			}
		}
		var again jsstore.Record
		wg.Go(func() {
			<-start
			var err error
			if again, err = st.Append(ctx, ev("landed", events.ClusterCreated{}, 0), 0, "landed-0"); err != nil {
				errs <- fmt.Errorf("repeated append: %w", err)
			}
		})
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if again.Seq != first.Seq {
			t.Fatalf("the repeated append returned sequence %d, want %d", again.Seq, first.Seq)
		}
		for c := range clusters {
			id := fmt.Sprintf("r%d-c%d", round, c)
			if n := wins["race-"+id]; n != 1 {
				t.Fatalf("%d appends won the race for race-%s", n, id)
			}
			recs, err := st.Load(ctx, id, 0)
			if err != nil || len(recs) != chain {
				t.Fatalf("%s holds %d events (%v), want %d", id, len(recs), err, chain)
			}
			for i, r := range recs {
				if r.MsgID != fmt.Sprintf("%s-%d", id, i) {
					t.Fatalf("%s event %d is %s", id, i, r.MsgID)
				}
			}
		}
	}
	t.Logf("%+v", evtStats(st))
}

func evtStats(st *jsstore.Store) jsstore.BatchStats { _, e := st.BatchStats(); return e }
