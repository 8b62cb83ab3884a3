package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// recordCases append commands and events, and read them back by cluster.
var recordCases = []testCase{
	{"append_command_dedupes", func(h *harness) {
		c := cmd(clusterA, 1)
		seq, dup, err := h.s.AppendCommand(h.ctx, c, "req-1")
		if err != nil || dup || seq == 0 {
			h.Fatalf("first append: seq %d, duplicate %v, %v", seq, dup, err)
		}
		// The same request again (a redelivered VCD request) stores nothing.
		again, dup, err := h.s.AppendCommand(h.ctx, c, "req-1")
		if err != nil || !dup || again != seq {
			h.Fatalf("second append: seq %d (first %d), duplicate %v, %v", again, seq, dup, err)
		}
		other, dup, err := h.s.AppendCommand(h.ctx, cmd(clusterA, 2), "req-2")
		if err != nil || dup || other <= seq {
			h.Fatalf("another request: seq %d after %d, duplicate %v, %v", other, seq, dup, err)
		}
		recs, err := h.s.LoadCommands(h.ctx, clusterA, 0)
		if err != nil {
			h.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Seq != seq || recs[0].MsgID != "req-1" || recs[1].Seq != other || recs[1].MsgID != "req-2" {
			h.Fatalf("stored commands: %s", seqs(recs))
		}
		want, _ := events.Marshal(c)
		r := recs[0]
		if r.Subject != events.CommandSubject(clusterA) || !bytes.Equal(r.Raw, want) || r.Envelope.ID != c.ID ||
			r.Envelope.Payload != c.Payload || r.Envelope.Type != c.Payload.Type() {
			h.Fatalf("stored command: %s %s %+v", r.Subject, r.Raw, r.Envelope)
		}
	}},

	// A redelivered request can race its first delivery (another instance took it over
	// while the first was still appending): every append of one message id stores it once
	// and reports its sequence, the first as stored and the rest as duplicates.
	{"concurrent_appends_of_one_request_store_it_once", func(h *harness) {
		const n = 16
		var wg sync.WaitGroup
		seqs, dups, errs := make([]uint64, n), make([]bool, n), make([]error, n)
		for i := range n {
			wg.Go(func() { seqs[i], dups[i], errs[i] = h.s.AppendCommand(h.ctx, cmd(clusterA, 1), "req-1") })
		}
		wg.Wait()
		stored := 0
		for i := range n {
			if errs[i] != nil {
				h.Fatalf("append %d of the same request: %v", i, errs[i])
			}
			if seqs[i] != seqs[0] {
				h.Errorf("append %d of the same request: sequence %d, another got %d", i, seqs[i], seqs[0])
			}
			if !dups[i] {
				stored++
			}
		}
		if recs, err := h.s.LoadCommands(h.ctx, clusterA, 0); err != nil || len(recs) != 1 || stored != 1 {
			h.Fatalf("%d appends reported storing it, %d stored (%v)", stored, len(recs), err)
		}
	}},

	{"append_refuses_the_wrong_kind", func(h *harness) {
		if _, _, err := h.s.AppendCommand(h.ctx, evt(clusterA, 1), "m1"); err == nil {
			h.Error("an event was appended as a command")
		}
		if _, err := h.s.Append(h.ctx, cmd(clusterA, 1), 0, "m2"); err == nil {
			h.Error("a command was appended as an event")
		}
		if e, err := h.s.Ends(h.ctx); err != nil || e != (store.Ends{}) {
			h.Errorf("something was stored: %+v, %v", e, err)
		}
	}},

	{"append_expects_the_last_sequence", func(h *harness) {
		e1 := evt(clusterA, 1)
		r1, err := h.s.Append(h.ctx, e1, 0, "m1")
		if err != nil {
			h.Fatal(err)
		}
		raw, _ := events.Marshal(e1)
		if r1.Seq == 0 || r1.Subject != events.EventSubject(clusterA) || r1.MsgID != "m1" || !bytes.Equal(r1.Raw, raw) ||
			r1.Envelope.ID != e1.ID || r1.Hash() != events.Hash(raw) {
			h.Fatalf("appended record: %+v", r1)
		}
		// Expectations are per cluster: another cluster's first event expects 0.
		rb, err := h.s.Append(h.ctx, evt(clusterB, 1), 0, "b1")
		if err != nil || rb.Seq <= r1.Seq {
			h.Fatalf("first event of another cluster: %+v, %v", rb, err)
		}
		for _, expected := range []uint64{0, rb.Seq, r1.Seq + 100} {
			if _, err := h.s.Append(h.ctx, evt(clusterA, 2), expected, fmt.Sprint("stale-", expected)); !errors.Is(err, store.ErrConflict) {
				h.Errorf("append expecting %d (last is %d): %v, want ErrConflict", expected, r1.Seq, err)
			}
		}
		e2 := evt(clusterA, 2)
		e2.PrevHash = r1.Hash()
		r2, err := h.s.Append(h.ctx, e2, r1.Seq, "m2")
		if err != nil || r2.Seq <= rb.Seq {
			h.Fatalf("append on the last: %+v, %v", r2, err)
		}
		recs, err := h.s.Load(h.ctx, clusterA, 0)
		if err != nil || len(recs) != 2 || recs[0].Seq != r1.Seq || recs[1].Seq != r2.Seq || recs[1].Envelope.PrevHash != r1.Hash() {
			h.Fatalf("history after conflicts: %s, %v", seqs(recs), err)
		}
	}},

	{"concurrent_appends_one_wins", func(h *harness) {
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = h.s.Append(h.ctx, evt(clusterA, i), 0, fmt.Sprint("m", i)) })
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				h.Errorf("a losing append: %v, want ErrConflict", err)
			}
		}
		if recs, err := h.s.Load(h.ctx, clusterA, 0); wins != 1 || err != nil || len(recs) != 1 {
			h.Fatalf("%d appends won, %d stored (%v)", wins, len(recs), err)
		}
	}},

	// An executor whose append landed but whose ack was lost retries with the same message
	// id and the same (now stale) expectation: while its event is the cluster's last, it
	// gets its record back, and nothing is stored twice. Once other events followed, the
	// retry is a conflict, as on a single-replica JetStream stream, which checks the
	// expected sequence before the message id (a replicated one dedupes first, and the
	// JetStream store then reads the subject's last to answer the same): the caller's
	// reload finds its event. Expecting the new last, the retry is a duplicate within the
	// dedupe window, and returns the first record.
	{"append_retry_returns_the_landed_record", func(h *harness) {
		e1 := evt(clusterA, 1)
		r1, err := h.s.Append(h.ctx, e1, 0, "m1")
		if err != nil {
			h.Fatal(err)
		}
		same := func(when string, r store.Record, err error) {
			h.Helper()
			if err != nil {
				h.Fatalf("retry %s: %v", when, err)
			}
			if r.Seq != r1.Seq || r.Subject != r1.Subject || r.MsgID != "m1" || !bytes.Equal(r.Raw, r1.Raw) || r.Envelope.ID != e1.ID {
				h.Fatalf("retry %s: got %+v, want the first record %+v", when, r, r1)
			}
		}
		r, err := h.s.Append(h.ctx, e1, 0, "m1")
		same("with the same expectation", r, err)
		r, err = h.s.Append(h.ctx, e1, r1.Seq, "m1")
		same("expecting itself", r, err)
		r2 := h.appendEvent(clusterA, 2)
		for _, stale := range []uint64{0, r1.Seq} {
			if r, err := h.s.Append(h.ctx, e1, stale, "m1"); !errors.Is(err, store.ErrConflict) {
				h.Errorf("retry expecting %d after the subject moved on: %+v, %v, want ErrConflict", stale, r.Seq, err)
			}
		}
		r, err = h.s.Append(h.ctx, e1, r2.Seq, "m1")
		same("expecting the new last", r, err)
		if recs, err := h.s.Load(h.ctx, clusterA, 0); err != nil || len(recs) != 2 {
			h.Fatalf("history: %s, %v", seqs(recs), err)
		}
		// Another message id with the stale expectation is a conflict.
		if _, err := h.s.Append(h.ctx, evt(clusterA, 3), r1.Seq, "m3"); !errors.Is(err, store.ErrConflict) {
			h.Fatalf("stale append with another id: %v", err)
		}
	}},

	{"load_reads_one_cluster_after_a_sequence", func(h *harness) {
		var a []store.Record
		for i := range 6 {
			cluster := []string{clusterA, clusterB}[i%2]
			r := h.appendEvent(cluster, i)
			if cluster == clusterA {
				a = append(a, r)
			}
			h.appendCommand(cluster, i)
		}
		tests := []struct {
			after uint64
			want  []store.Record
		}{
			{0, a}, {a[0].Seq, a[1:]}, {a[0].Seq + 1, a[1:]}, {a[2].Seq, nil}, {a[2].Seq + 100, nil},
		}
		for _, tt := range tests {
			got, err := h.s.Load(h.ctx, clusterA, tt.after)
			if err != nil {
				h.Fatal(err)
			}
			if seqs(got) != seqs(tt.want) {
				h.Errorf("load after %d: %s, want %s", tt.after, seqs(got), seqs(tt.want))
			}
			for i := range min(len(got), len(tt.want)) {
				sameRecord(h, "loaded", got[i], tt.want[i])
			}
		}
		if got, err := h.s.Load(h.ctx, clusterC, 0); err != nil || len(got) != 0 {
			h.Errorf("a cluster without events: %s, %v", seqs(got), err)
		}
		cmds, err := h.s.LoadCommands(h.ctx, clusterB, 0)
		if err != nil || len(cmds) != 3 {
			h.Fatalf("commands of b: %s, %v", seqs(cmds), err)
		}
		for i, r := range cmds {
			if r.Subject != events.CommandSubject(clusterB) || r.Envelope.Payload != (events.ScaleWorkers{Workers: 2*i + 1}) {
				h.Errorf("command %d of b: %+v", i, r)
			}
		}
		if tail, err := h.s.LoadCommands(h.ctx, clusterB, cmds[0].Seq); err != nil || seqs(tail) != seqs(cmds[1:]) {
			h.Errorf("commands of b after %d: %s, %v", cmds[0].Seq, seqs(tail), err)
		}
	}},

	{"last_seq", func(h *harness) {
		if n, err := h.s.LastSeq(h.ctx, clusterA); err != nil || n != 0 {
			h.Fatalf("empty: %d, %v", n, err)
		}
		a := h.appendEvent(clusterA, 1)
		b := h.appendEvent(clusterB, 1)
		h.appendCommand(clusterA, 1)
		for _, tt := range []struct {
			cluster string
			want    uint64
		}{{clusterA, a.Seq}, {clusterB, b.Seq}, {clusterC, 0}} {
			if n, err := h.s.LastSeq(h.ctx, tt.cluster); err != nil || n != tt.want {
				h.Errorf("last of %s: %d, %v, want %d", tt.cluster[:8], n, err, tt.want)
			}
		}
	}},

	{"ends", func(h *harness) {
		check := func(when string, want store.Ends) {
			h.Helper()
			e, err := h.s.Ends(h.ctx)
			if err != nil || e != want {
				h.Errorf("ends %s: %+v, %v, want %+v", when, e, err, want)
			}
			c, ev, err := h.s.LastSequences(h.ctx)
			if err != nil || c != want.Commands || ev != want.Events {
				h.Errorf("last sequences %s: %d %d, %v", when, c, ev, err)
			}
			if c, err := h.s.CommandEnd(h.ctx); err != nil || c != want.Commands {
				h.Errorf("command end %s: %d, %v", when, c, err)
			}
		}
		check("of an empty store", store.Ends{})
		c1 := h.appendCommand(clusterA, 1)
		check("with commands only", store.Ends{Commands: c1})
		before := time.Now()
		h.appendEvent(clusterA, 1)
		r := h.appendEvent(clusterB, 1)
		after := time.Now()
		recs, err := h.s.Load(h.ctx, clusterB, 0)
		if err != nil || len(recs) != 1 {
			h.Fatal(recs, err)
		}
		if !within(recs[0].Time, before, after) {
			h.Errorf("the last event is stored at %v, appended between %v and %v", recs[0].Time, before, after)
		}
		c2 := h.appendCommand(clusterB, 2)
		// The event time is when the last event was stored, as Load reports it.
		check("with both", store.Ends{Commands: c2, Events: r.Seq, EventTime: recs[0].Time})
	}},
}

// seqs renders records' sequences for failures and comparisons.
func seqs(rs []store.Record) string {
	s := "["
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprint(r.Seq)
	}
	return s + "]"
}

// sameRecord checks that two reads of a stored record agree (an Append's record is compared
// on what it knows: its time is when the event says it happened).
func sameRecord(h *harness, what string, got, want store.Record) {
	h.Helper()
	if got.Seq != want.Seq || got.Subject != want.Subject || got.MsgID != want.MsgID || !bytes.Equal(got.Raw, want.Raw) ||
		got.Envelope.ID != want.Envelope.ID {
		h.Errorf("%s record %d: %+v, want %+v", what, want.Seq, got, want)
	}
}
