package storetest

import (
	"bytes"
	"errors"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// keepCases keep things beside the streams: snapshots, secrets, dead letters.
var keepCases = []testCase{
	{"snapshots", func(h *harness) {
		if b, err := h.s.LoadSnapshot(h.ctx, clusterA); err != nil || b != nil {
			h.Fatalf("no snapshot yet: %q, %v, want nil", b, err)
		}
		for _, v := range []string{"state at 3", "state at 7"} {
			if err := h.s.SaveSnapshot(h.ctx, clusterA, []byte(v)); err != nil {
				h.Fatal(err)
			}
			if b, err := h.s.LoadSnapshot(h.ctx, clusterA); err != nil || string(b) != v {
				h.Fatalf("snapshot: %q, %v, want %q", b, err, v)
			}
		}
		if b, err := h.s.LoadSnapshot(h.ctx, clusterB); err != nil || b != nil {
			h.Fatalf("another cluster's snapshot: %q, %v, want nil", b, err)
		}
	}},

	{"secrets", func(h *harness) {
		sec := h.s.Secrets()
		ref := "cluster." + clusterA + ".kubeconfig"
		missing := func(when string) {
			h.Helper()
			if v, err := sec.Get(h.ctx, ref); !errors.Is(err, store.ErrNoSecret) {
				h.Fatalf("get %s: %q, %v, want ErrNoSecret", when, v, err)
			}
		}
		missing("before any put")
		if err := sec.Delete(h.ctx, ref); err != nil {
			h.Fatalf("delete of a missing secret: %v", err)
		}
		for _, v := range []string{"apiVersion: v1", "apiVersion: v2"} {
			value := []byte(v)
			if err := sec.Put(h.ctx, ref, value); err != nil {
				h.Fatal(err)
			}
			value[0] = 'X' // the store keeps what was put, not the caller's slice
			if got, err := sec.Get(h.ctx, ref); err != nil || string(got) != v {
				h.Fatalf("get: %q, %v, want %q", got, err, v)
			}
		}
		other := "cluster." + clusterB + ".kubeconfig"
		if err := sec.Put(h.ctx, other, []byte("b")); err != nil {
			h.Fatal(err)
		}
		for range 2 {
			if err := sec.Delete(h.ctx, ref); err != nil {
				h.Fatalf("delete: %v", err)
			}
			missing("after delete")
		}
		if got, err := sec.Get(h.ctx, other); err != nil || string(got) != "b" {
			h.Fatalf("another secret after delete: %q, %v", got, err)
		}
		if err := sec.Put(h.ctx, ref, []byte("again")); err != nil {
			h.Fatal(err)
		}
		if got, err := sec.Get(h.ctx, ref); err != nil || string(got) != "again" {
			h.Fatalf("put after delete: %q, %v", got, err)
		}
	}},

	{"dead_letters", func(h *harness) {
		if dl, err := h.s.DeadLetters(h.ctx); err != nil || len(dl) != 0 {
			h.Fatalf("no dead letters yet: %+v, %v", dl, err)
		}
		seq1, seq2 := h.appendCommand(clusterA, 1), h.appendCommand(clusterB, 2)
		cmds := h.loadAll(events.CommandStream, clusterA, clusterB)
		before := time.Now()
		for _, c := range []struct {
			seq    uint64
			rec    store.Record
			reason string
		}{
			{seq1, cmds[0], "boom"},
			{seq2, cmds[1], "bang"},
			{seq1, cmds[0], "boom again"}, // twice keeps the first
		} {
			if err := h.s.DeadLetter(h.ctx, c.seq, c.rec.Envelope, c.rec.Raw, c.reason); err != nil {
				h.Fatal(err)
			}
		}
		after := time.Now()
		dl, err := h.s.DeadLetters(h.ctx)
		if err != nil || len(dl) != 2 {
			h.Fatalf("dead letters: %+v, %v", dl, err)
		}
		for i, want := range []struct {
			cmd    store.Record
			reason string
		}{{cmds[0], "boom"}, {cmds[1], "bang"}} {
			d := dl[i]
			if d.CommandSeq != want.cmd.Seq || d.Error != want.reason || d.Command.ID != want.cmd.Envelope.ID ||
				d.Command.Payload != want.cmd.Envelope.Payload || !within(d.At, before, after) {
				h.Errorf("dead letter %d: %+v, want command %d with %q", i, d, want.cmd.Seq, want.reason)
			}
		}
		if dl[0].Seq == 0 || dl[1].Seq <= dl[0].Seq {
			h.Errorf("dead letters out of order: %d, %d", dl[0].Seq, dl[1].Seq)
		}
		// The dead-letter stream scans like the others, by cluster too.
		all := h.scan(store.ScanFilter{Stream: events.DeadLetterStream}, 0)
		if len(all) != 2 || all[0].Seq != dl[0].Seq || !bytes.Equal(all[0].Raw, cmds[0].Raw) || all[1].Envelope.ID != cmds[1].Envelope.ID {
			h.Errorf("scanned dead letters: %+v", all)
		}
		if b := h.scan(store.ScanFilter{Stream: events.DeadLetterStream, ClusterID: clusterB}, 0); len(b) != 1 || b[0].Seq != dl[1].Seq {
			h.Errorf("scanned dead letters of b: %s, want [%d]", seqs(b), dl[1].Seq)
		}

		if err := h.s.RemoveDeadLetter(h.ctx, dl[0].Seq); err != nil {
			h.Fatal(err)
		}
		if rest, err := h.s.DeadLetters(h.ctx); err != nil || len(rest) != 1 || rest[0].Seq != dl[1].Seq {
			h.Fatalf("after remove: %+v, %v", rest, err)
		}
		if rest := h.scan(store.ScanFilter{Stream: events.DeadLetterStream}, 0); len(rest) != 1 || rest[0].Seq != dl[1].Seq {
			h.Errorf("scan after remove: %s", seqs(rest))
		}
		for _, seq := range []uint64{dl[0].Seq, dl[1].Seq + 100} {
			if err := h.s.RemoveDeadLetter(h.ctx, seq); !errors.Is(err, store.ErrNoDeadLetter) {
				h.Errorf("remove missing dead letter %d: %v, want ErrNoDeadLetter", seq, err)
			}
		}
	}},

	{"dead_letter_of_an_undecodable_command", func(h *harness) {
		// A command that does not decode is kept as it came, with why.
		raw := []byte("not a command")
		if err := h.s.DeadLetter(h.ctx, 7, events.Envelope{}, raw, "undecodable"); err != nil {
			h.Fatal(err)
		}
		dl, err := h.s.DeadLetters(h.ctx)
		if err != nil || len(dl) != 1 || dl[0].CommandSeq != 7 || dl[0].Error != "undecodable" || dl[0].Command.ID != "" {
			h.Fatalf("dead letters: %+v, %v", dl, err)
		}
		if got := h.scan(store.ScanFilter{Stream: events.DeadLetterStream}, 0); len(got) != 1 || !bytes.Equal(got[0].Raw, raw) {
			h.Fatalf("scanned: %+v", got)
		}
	}},
}
