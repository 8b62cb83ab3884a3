package projector_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/projector/projectortest"
)

// halfStored stores the first half of a history in a new in-memory store, folding it into
// want, and returns the rest.
func halfStored(t *testing.T) (s *stream, ms *memstore.Store, want *projector.Views, rest []record) {
	s = history(t)
	ms = memstore.New(memstore.Config{})
	want = projector.NewViews()
	half := len(s.All) / 2
	projectortest.Append(t, ms, want, s.All[:half])
	return s, ms, want, s.All[half:]
}

// The projector folds the history stored before it started, says it is ready only once it
// has, then follows what is stored after; its views are the history's, folded in order.
func TestProjectorFollowsTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, ms, want, rest := halfStored(t)

		p := projector.New(ms, projector.Config{})
		if err := p.Ready(); err == nil {
			t.Fatal("ready before running")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		synctest.Wait()
		if err := p.Ready(); err != nil {
			t.Fatalf("not ready with the history folded: %v", err)
		}
		sameViews(t, want, p.Views(), s)

		projectortest.Append(t, ms, want, rest)
		c, e := want.Seqs()
		if err := p.Views().WaitFor(t.Context(), c, e); err != nil {
			t.Fatal(err)
		}
		sameViews(t, want, p.Views(), s)

		rebuilt, err := projector.Rebuild(t.Context(), ms)
		if err != nil {
			t.Fatal(err)
		}
		sameViews(t, want, rebuilt, s)

		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	})
}

// A replay rebuilds views equal to the live ones; swapped in, they go on following the store.
func TestReplayComparesAndSwaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, ms, want, rest := halfStored(t)
		p := projector.New(ms, projector.Config{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = p.Run(ctx) }()
		synctest.Wait()

		rep, err := p.Replay(t.Context(), false)
		if err != nil {
			t.Fatal(err)
		}
		c, e := want.Seqs()
		if len(rep.Differences) != 0 || rep.Swapped || rep.CommandSeq != c || rep.EventSeq != e || rep.Clusters == 0 {
			t.Fatalf("replay: %+v", rep)
		}
		if rep, err = p.Replay(t.Context(), true); err != nil || !rep.Swapped {
			t.Fatalf("swap: %+v %v", rep, err)
		}
		projectortest.Append(t, ms, want, rest)
		c, e = want.Seqs()
		if err := p.Views().WaitFor(t.Context(), c, e); err != nil {
			t.Fatal(err)
		}
		sameViews(t, want, p.Views(), s)
	})
}

// The collector's lag is how far the views are behind the store's streams.
func TestCollectorLag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := history(t)
		ms := memstore.New(memstore.Config{})
		projectortest.Append(t, ms, projector.NewViews(), s.All)
		ends, err := ms.Ends(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := projector.Rebuild(t.Context(), ms)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name       string
			views      *projector.Views
			cmds, evts uint64
		}{
			{"nothing folded", projector.NewViews(), ends.Commands, ends.Events},
			{"everything folded", rebuilt, 0, 0},
		} {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(projector.NewCollector(tc.views, ms))
			want := fmt.Sprintf("# HELP kaas_projector_lag_records Records in the stream not yet folded into the views.\n"+
				"# TYPE kaas_projector_lag_records gauge\n"+
				"kaas_projector_lag_records{stream=%q} %d\nkaas_projector_lag_records{stream=%q} %d\n",
				events.CommandStream, tc.cmds, events.EventStream, tc.evts)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kaas_projector_lag_records"); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	})
}
