package storetest

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// readCases scan and follow whole streams.
var readCases = []testCase{
	{"scan_filters", func(h *harness) {
		var evts, cmds, a, ca []store.Record
		for i := range 6 {
			cluster := []string{clusterA, clusterB, clusterA}[i%3]
			h.appendEvent(cluster, i)
			h.appendCommand(cluster, i)
		}
		evts = h.loadAll(events.EventStream, clusterA, clusterB)
		cmds = h.loadAll(events.CommandStream, clusterA, clusterB)
		a = h.loadAll(events.EventStream, clusterA)
		ca = h.loadAll(events.CommandStream, clusterA)
		tests := []struct {
			name string
			f    store.ScanFilter
			want []store.Record
		}{
			{"events", store.ScanFilter{Stream: events.EventStream}, evts},
			{"commands", store.ScanFilter{Stream: events.CommandStream}, cmds},
			{"one cluster's events", store.ScanFilter{Stream: events.EventStream, ClusterID: clusterA}, a},
			{"one cluster's commands", store.ScanFilter{Stream: events.CommandStream, ClusterID: clusterA}, ca},
			{"a cluster with none", store.ScanFilter{Stream: events.EventStream, ClusterID: clusterC}, nil},
			{"after a sequence", store.ScanFilter{Stream: events.EventStream, After: evts[1].Seq}, evts[2:]},
			{"one cluster after a sequence", store.ScanFilter{Stream: events.EventStream, ClusterID: clusterA, After: a[1].Seq}, a[2:]},
			{"after a sequence of another cluster", store.ScanFilter{Stream: events.EventStream, ClusterID: clusterA, After: evts[1].Seq}, a[1:]},
			{"after the last", store.ScanFilter{Stream: events.EventStream, After: evts[len(evts)-1].Seq}, nil},
			{"after beyond the end", store.ScanFilter{Stream: events.CommandStream, After: cmds[len(cmds)-1].Seq + 10}, nil},
			// After is a cursor: it wins over Since, which the caller then compares itself.
			{"after wins over since", store.ScanFilter{Stream: events.EventStream, After: evts[3].Seq, Since: time.Now().Add(time.Hour)}, evts[4:]},
		}
		for _, tt := range tests {
			got := h.scan(tt.f, 0)
			if seqs(got) != seqs(tt.want) {
				h.Errorf("scan %s: %s, want %s", tt.name, seqs(got), seqs(tt.want))
				continue
			}
			for i := range got {
				sameStored(h, "scanned", got[i], tt.want[i])
			}
		}
	}},

	{"scan_since", func(h *harness) {
		h.appendEvent(clusterA, 1)
		h.appendCommand(clusterA, 1)
		// The pauses only set the records' times apart (on synctest's clock too).
		time.Sleep(5 * time.Millisecond)
		since := time.Now()
		time.Sleep(5 * time.Millisecond)
		h.appendEvent(clusterB, 2)
		h.appendEvent(clusterA, 3)
		h.appendCommand(clusterA, 2)
		evts := h.loadAll(events.EventStream, clusterA, clusterB)
		tests := []struct {
			name string
			f    store.ScanFilter
			want []store.Record
		}{
			{"events", store.ScanFilter{Stream: events.EventStream, Since: since}, evts[1:]},
			{"one cluster's events", store.ScanFilter{Stream: events.EventStream, ClusterID: clusterA, Since: since}, evts[2:]},
			{"commands", store.ScanFilter{Stream: events.CommandStream, Since: since}, h.loadAll(events.CommandStream, clusterA)[1:]},
			{"since the first's own time", store.ScanFilter{Stream: events.EventStream, Since: evts[0].Time}, evts},
			{"since after the last", store.ScanFilter{Stream: events.EventStream, Since: time.Now().Add(time.Minute)}, nil},
		}
		for _, tt := range tests {
			if got := h.scan(tt.f, 0); seqs(got) != seqs(tt.want) {
				h.Errorf("scan %s: %s, want %s", tt.name, seqs(got), seqs(tt.want))
			}
		}
	}},

	{"scan_stops_when_told_and_at_the_end_it_began_with", func(h *harness) {
		for i := range 5 {
			h.appendEvent(clusterA, i)
		}
		evts := h.loadAll(events.EventStream, clusterA)
		if got := h.scan(store.ScanFilter{Stream: events.EventStream}, 2); seqs(got) != seqs(evts[:2]) {
			h.Errorf("scan told to stop after two: %s", seqs(got))
		}
		// Records stored while the scan runs are not part of it.
		var got []store.Record
		err := h.s.Scan(h.ctx, store.ScanFilter{Stream: events.EventStream, ClusterID: clusterA}, func(r store.Record) bool {
			got = append(got, r)
			if len(got) == 1 {
				h.appendEvent(clusterA, 10)
				h.appendEvent(clusterB, 10)
			}
			return true
		})
		if err != nil || seqs(got) != seqs(evts) {
			h.Errorf("scan while appending: %s, %v, want %s", seqs(got), err, seqs(evts))
		}
	}},

	{"follow_existing_then_new_in_order", func(h *harness) {
		for i := range 4 {
			cluster := []string{clusterA, clusterB}[i%2]
			h.appendEvent(cluster, i)
			h.appendCommand(cluster, i)
		}
		for _, stream := range []string{events.EventStream, events.CommandStream} {
			old := h.loadAll(stream, clusterA, clusterB)
			end := old[len(old)-1].Seq
			tests := []struct {
				from uint64
				want []store.Record
			}{
				{0, old}, // 0: from the first
				{1, old},
				{old[2].Seq, old[2:]},
				{end + 1, nil}, // only what comes
			}
			var fs []*follower
			for _, tt := range tests {
				f := h.follow(h.ctx, stream, tt.from)
				f.expect(stream, tt.want)
				fs = append(fs, f)
			}
			for i := 10; i < 13; i++ {
				if stream == events.EventStream {
					h.appendEvent(clusterC, i)
				} else {
					h.appendCommand(clusterC, i)
				}
			}
			added := h.loadAll(stream, clusterC)
			for _, f := range fs {
				f.expect(stream, added)
				f.stop()
			}
		}
	}},

	{"follow_stop_ends_the_calls", func(h *harness) {
		h.appendEvent(clusterA, 1)
		f := h.follow(h.ctx, events.EventStream, 0)
		f.expect("events", h.loadAll(events.EventStream, clusterA))
		f.stop()
		f.stop() // a second stop is harmless
		r := h.appendEvent(clusterA, 2)
		h.quiesce()
		// Once a second follower has the new event, a first one still running would have
		// been handed it as well.
		g := h.follow(h.ctx, events.EventStream, r.Seq)
		g.expect("events", h.loadAll(events.EventStream, clusterA)[1:])
		if n := f.late.Load(); n > 0 || len(f.ch) > 0 {
			h.Errorf("fn called %d times after stop returned; %d records after stop", n, len(f.ch))
		}
	}},

	{"follow_stop_waits_for_fn", func(h *harness) {
		h.appendEvent(clusterA, 1)
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		stop, err := h.s.Follow(h.ctx, events.EventStream, 0, func(store.Raw) {
			once.Do(func() {
				close(entered)
				<-release
			})
		})
		if err != nil {
			h.Fatal(err)
		}
		var releaseOnce sync.Once
		defer releaseOnce.Do(func() { close(release) })
		select {
		case <-entered:
		case <-time.After(h.patience(0)):
			h.Fatal("fn never called")
		}
		stopped := make(chan struct{})
		go func() {
			stop()
			close(stopped)
		}()
		h.quiesce()
		select {
		case <-stopped:
			h.Error("stop returned while fn was running")
		default:
		}
		releaseOnce.Do(func() { close(release) })
		select {
		case <-stopped:
		case <-time.After(h.patience(0)):
			h.Fatal("stop did not return once fn did")
		}
	}},

	{"follow_outlives_its_context", func(h *harness) {
		// The context bounds setting the follower up; the following ends with stop only
		// (as JetStream's ordered consumer does), so a follower never stops unseen.
		ctx, cancel := context.WithCancel(h.ctx)
		f := h.follow(ctx, events.EventStream, 0)
		cancel()
		h.quiesce()
		h.appendEvent(clusterA, 1)
		f.expect("events", h.loadAll(events.EventStream, clusterA))
	}},

	{"follow_refuses_other_streams", func(h *harness) {
		for _, stream := range []string{events.DeadLetterStream, "KAAS_NOPE", ""} {
			if stop, err := h.s.Follow(h.ctx, stream, 0, func(store.Raw) {}); err == nil {
				stop()
				h.Errorf("followed %q", stream)
			}
		}
	}},
}

// follower collects what a Follow hands over.
type follower struct {
	h       *harness
	ch      chan store.Raw
	stopFn  func()
	stopped atomic.Bool
	late    atomic.Int32 // calls begun after stop returned
}

func (h *harness) follow(ctx context.Context, stream string, from uint64) *follower {
	h.Helper()
	f := &follower{h: h, ch: make(chan store.Raw, 1000)}
	stop, err := h.s.Follow(ctx, stream, from, func(r store.Raw) {
		if f.stopped.Load() {
			f.late.Add(1)
		}
		f.ch <- r
	})
	if err != nil {
		h.Fatalf("follow %s from %d: %v", stream, from, err)
	}
	f.stopFn = stop
	h.Cleanup(f.stop)
	return f
}

func (f *follower) stop() {
	f.stopFn()
	f.stopped.Store(true)
}

// expect checks that the follower is handed want next, in order, as Load reads it.
func (f *follower) expect(stream string, want []store.Record) {
	f.h.Helper()
	for _, w := range want {
		select {
		case r := <-f.ch:
			if r.Seq != w.Seq || !bytes.Equal(r.Data, w.Raw) || !r.Time.Equal(w.Time) {
				f.h.Fatalf("following %s: got #%d at %v, want #%d at %v", stream, r.Seq, r.Time, w.Seq, w.Time)
			}
		case <-time.After(f.h.patience(0)):
			f.h.Fatalf("following %s: #%d never came", stream, w.Seq)
		}
	}
}

// loadAll returns the records of clusters on stream, in stream order.
func (h *harness) loadAll(stream string, clusters ...string) []store.Record {
	h.Helper()
	var out []store.Record
	for _, c := range clusters {
		load := h.s.Load
		if stream == events.CommandStream {
			load = h.s.LoadCommands
		}
		recs, err := load(h.ctx, c, 0)
		if err != nil {
			h.Fatal(err)
		}
		out = append(out, recs...)
	}
	slices.SortFunc(out, func(a, b store.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// scan scans with f, stopping after n records when n > 0.
func (h *harness) scan(f store.ScanFilter, n int) []store.Record {
	h.Helper()
	var out []store.Record
	err := h.s.Scan(h.ctx, f, func(r store.Record) bool {
		out = append(out, r)
		return n == 0 || len(out) < n
	})
	if err != nil {
		h.Fatalf("scan %+v: %v", f, err)
	}
	return out
}

// sameStored checks that two reads of a stored record agree, its stored time included.
func sameStored(h *harness, what string, got, want store.Record) {
	h.Helper()
	sameRecord(h, what, got, want)
	if !got.Time.Equal(want.Time) {
		h.Errorf("%s record %d stored at %v, loaded as stored at %v", what, want.Seq, got.Time, want.Time)
	}
}
