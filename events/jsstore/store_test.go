package jsstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/events/store"
)

func ev(cluster string, p events.Payload, i int) events.Envelope {
	return events.Envelope{ID: fmt.Sprintf("ev-%d", i), ClusterID: cluster, Time: time.Now(), CausationID: "cmd", Payload: p}
}

func TestCheckServerVersion(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"2.9.10", false}, {"2.11.9", false}, {"2.12.0", true}, {"2.15.2", true}, {"v2.12.1-beta", true}, {"3.0.0", true}, {"", false},
	}
	for _, tt := range tests {
		err := jsstore.CheckServerVersion(tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v", tt.version, err)
		}
		if err != nil && (!errors.Is(err, jsstore.ErrServerTooOld) || !strings.Contains(err.Error(), tt.version) || !strings.Contains(err.Error(), jsstore.MinServerVersion)) {
			t.Errorf("%q: message must name both versions: %v", tt.version, err)
		}
	}
}

func TestDeclareIsIdempotentAndDeniesDelete(t *testing.T) {
	st, srv := natstest.Store(t)
	// A second start against the same server declares nothing new.
	if _, err := jsstore.New(t.Context(), srv.Connect(t), jsstore.Config{SecretsKey: natstest.Key()}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(t.Context(), ev("c1", events.ClusterCreated{}, 1), 0, "m1"); err != nil {
		t.Fatal(err)
	}
	s, err := st.JetStream().Stream(t.Context(), events.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(t.Context(), 1); err == nil {
		t.Fatal("deleting an event succeeded")
	}
	if err := s.Purge(t.Context()); err == nil {
		t.Fatal("purging the event stream succeeded")
	}
}

func TestAppendCommandDedupes(t *testing.T) {
	st, _ := natstest.Store(t)
	cmd := events.Envelope{ID: "c", ClusterID: "c1", Payload: events.ScaleWorkers{Workers: 3}}
	seq1, dup1, err := st.AppendCommand(t.Context(), cmd, "vcd-req-1")
	if err != nil || dup1 {
		t.Fatal(err, dup1)
	}
	seq2, dup2, err := st.AppendCommand(t.Context(), cmd, "vcd-req-1")
	if err != nil || !dup2 || seq2 != seq1 {
		t.Fatalf("second append: seq %d dup %v err %v", seq2, dup2, err)
	}
	recs, err := st.LoadCommands(t.Context(), "c1", 0)
	if err != nil || len(recs) != 1 || recs[0].MsgID != "vcd-req-1" {
		t.Fatalf("commands %v %v", recs, err)
	}
	if _, _, err := st.AppendCommand(t.Context(), ev("c1", events.ClusterCreated{}, 1), "x"); err == nil {
		t.Fatal("an event was accepted as a command")
	}
}

func TestAppendConcurrencyAndRetry(t *testing.T) {
	st, _ := natstest.Store(t)
	ctx := t.Context()
	r1, err := st.Append(ctx, ev("c1", events.ClusterCreated{}, 1), 0, "m1")
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's append with a stale expectation is a conflict.
	if _, err := st.Append(ctx, ev("c1", events.ClusterScaled{}, 2), 0, "other"); !errors.Is(err, jsstore.ErrConflict) {
		t.Fatalf("stale append: %v", err)
	}
	// Our own append retried after a lost ack (same Msg-Id, same stale expectation) is
	// success with the original record, not a conflict (jetstream.md §1.3, R1 ordering).
	again, err := st.Append(ctx, ev("c1", events.ClusterCreated{}, 1), 0, "m1")
	if err != nil || again.Seq != r1.Seq || again.Hash() != r1.Hash() {
		t.Fatalf("retry: %+v %v", again, err)
	}
	// The next append chains on.
	e2 := ev("c1", events.ClusterScaled{Workers: 3}, 2)
	e2.PrevHash = r1.Hash()
	r2, err := st.Append(ctx, e2, r1.Seq, "m2")
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.LastSeq(ctx, "c1")
	if err != nil || last != r2.Seq {
		t.Fatalf("last %d %v", last, err)
	}
	if n, err := st.LastSeq(ctx, "nobody"); err != nil || n != 0 {
		t.Fatalf("empty cluster: %d %v", n, err)
	}
}

func TestConcurrentAppendsOneWins(t *testing.T) {
	st, _ := natstest.Store(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Append(t.Context(), ev("c1", events.ClusterCreated{}, i), 0, fmt.Sprintf("m%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, jsstore.ErrConflict):
				conflicts++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 19 {
		t.Fatalf("wins %d conflicts %d", wins, conflicts)
	}
}

func TestLoadAcrossBatches(t *testing.T) {
	st, _ := natstest.Store(t)
	ctx := t.Context()
	seqs := map[string]uint64{}
	// Interleave three clusters so each one's events are spread through the stream.
	for i := range 700 {
		c := fmt.Sprintf("c%d", i%3)
		r, err := st.Append(ctx, ev(c, events.NodeStarted{Name: fmt.Sprint(i)}, i), seqs[c], fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		seqs[c] = r.Seq
	}
	recs, err := st.Load(ctx, "c1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 233 {
		t.Fatalf("loaded %d events, want 233", len(recs))
	}
	for i, r := range recs {
		if want := fmt.Sprint(3*i + 1); r.Envelope.Payload.(events.NodeStarted).Name != want || r.Subject != events.EventSubject("c1") {
			t.Fatalf("event %d is %+v, want name %s", i, r.Envelope.Payload, want)
		}
	}
	tail, err := st.Load(ctx, "c1", recs[229].Seq)
	if err != nil || len(tail) != 3 || tail[0].Seq != recs[230].Seq {
		t.Fatalf("tail: %d records, %v", len(tail), err)
	}
	none, err := st.Load(ctx, "c1", recs[232].Seq)
	if err != nil || len(none) != 0 {
		t.Fatalf("after the last: %d %v", len(none), err)
	}
}

// LoadRange reads what Load reads, up to the sequence given as the cluster's last.
func TestLoadRange(t *testing.T) {
	st, _ := natstest.Store(t)
	ctx := t.Context()
	seqs := map[string]uint64{}
	for i := range 30 {
		c := fmt.Sprintf("c%d", i%3)
		r, err := st.Append(ctx, ev(c, events.NodeStarted{Name: fmt.Sprint(i)}, i), seqs[c], fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		seqs[c] = r.Seq
	}
	all, err := st.Load(ctx, "c1", 0)
	if err != nil || len(all) != 10 {
		t.Fatalf("load: %d %v", len(all), err)
	}
	for _, tt := range []struct {
		name        string
		after, last uint64
		want        []jsstore.Record
	}{
		{"all", 0, seqs["c1"], all},
		{"from the third", all[1].Seq, seqs["c1"], all[2:]},
		{"up to the fifth", 0, all[4].Seq, all[:5]},
		{"between two of its events", all[0].Seq, all[1].Seq + 1, all[1:2]},
		{"past the stream's end", 0, seqs["c1"] + 100, all},
		{"none", seqs["c1"], seqs["c1"], nil},
	} {
		got, err := st.LoadRange(ctx, "c1", tt.after, tt.last)
		if err != nil || len(got) != len(tt.want) {
			t.Fatalf("%s: %d records (%v), want %d", tt.name, len(got), err, len(tt.want))
		}
		for i := range got {
			if got[i].Seq != tt.want[i].Seq || string(got[i].Raw) != string(tt.want[i].Raw) {
				t.Fatalf("%s: record %d is #%d, want #%d", tt.name, i, got[i].Seq, tt.want[i].Seq)
			}
		}
	}
}

func TestSecrets(t *testing.T) {
	st, srv := natstest.Store(t)
	ctx := t.Context()
	sec := st.Secrets()
	if err := sec.Put(ctx, "cluster.c1.kubeconfig", []byte("apiVersion: v1")); err != nil {
		t.Fatal(err)
	}
	got, err := sec.Get(ctx, "cluster.c1.kubeconfig")
	if err != nil || string(got) != "apiVersion: v1" {
		t.Fatalf("%q %v", got, err)
	}
	// At rest the value is sealed.
	js, _ := jetstream.New(srv.Connect(t))
	kv, _ := js.KeyValue(ctx, jsstore.SecretsBucket)
	raw, _ := kv.Get(ctx, "cluster.c1.kubeconfig")
	if strings.Contains(string(raw.Value()), "apiVersion") {
		t.Fatal("secret stored in clear text")
	}
	// A sealed value moved to another reference does not open.
	if _, err := kv.Put(ctx, "cluster.c2.kubeconfig", raw.Value()); err != nil {
		t.Fatal(err)
	}
	if _, err := sec.Get(ctx, "cluster.c2.kubeconfig"); err == nil {
		t.Fatal("a secret opened under another reference")
	}
	if err := sec.Delete(ctx, "cluster.c1.kubeconfig"); err != nil {
		t.Fatal(err)
	}
	if _, err := sec.Get(ctx, "cluster.c1.kubeconfig"); !errors.Is(err, jsstore.ErrNoSecret) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestEmbedded(t *testing.T) {
	e, err := jsstore.StartEmbedded(jsstore.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	nc, err := e.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if e.ClientURL() != "" {
		t.Fatal("an embedded server without Listen listens")
	}
	if _, err := jsstore.New(t.Context(), nc, jsstore.Config{SecretsKey: natstest.Key()}); err != nil {
		t.Fatal(err)
	}
}

// KAAS_AUDIT holds every command and every event, and refuses deletes as they do.
func TestAuditStreamSourcesBoth(t *testing.T) {
	st, _ := natstest.Store(t)
	ctx := t.Context()
	if _, _, err := st.AppendCommand(ctx, events.Envelope{ID: "c", ClusterID: "c1", Payload: events.ScaleWorkers{Workers: 3}}, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, ev("c1", events.ClusterCreated{}, 1), 0, "m1"); err != nil {
		t.Fatal(err)
	}
	audit, err := st.JetStream().Stream(ctx, events.AuditStream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := audit.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit stream holds %d messages, want 2", info.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := audit.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("deleting from the audit stream succeeded")
	}
}

// Instances on the same streams with the same key open what each other sealed; after a
// rotation (the new key seals, the old one only opens) secrets sealed before and after both
// open, while an instance that lacks the key a secret was sealed with says so.
func TestSecretsSharedAndRotated(t *testing.T) {
	srv := natstest.Start(t)
	ctx := t.Context()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	open := func(seal []byte, old ...[]byte) store.Secrets {
		t.Helper()
		st, err := jsstore.New(ctx, srv.Connect(t), jsstore.Config{SecretsKey: seal, OldSecretsKeys: old})
		if err != nil {
			t.Fatal(err)
		}
		return st.Secrets()
	}
	a, b := open(k1), open(k1)
	if err := a.Put(ctx, "cluster.c1.kubeconfig", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "cluster.c1.kubeconfig"); err != nil || string(got) != "before" {
		t.Fatalf("another instance read %q, %v", got, err)
	}
	rotated, alsoRotated := open(k2, k1), open(k2, k1)
	if err := rotated.Put(ctx, "cluster.c2.kubeconfig", []byte("after")); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"cluster.c1.kubeconfig": "before", "cluster.c2.kubeconfig": "after"} {
		if got, err := alsoRotated.Get(ctx, ref); err != nil || string(got) != want {
			t.Fatalf("%s after the rotation: %q, %v", ref, got, err)
		}
	}
	// Sealed with the new key: an instance still on the old one alone cannot open it, nor
	// can one that dropped the old key open what the old key sealed.
	if _, err := a.Get(ctx, "cluster.c2.kubeconfig"); err == nil || !strings.Contains(err.Error(), "sealed with another key") {
		t.Fatalf("the old key opened the new key's secret: %v", err)
	}
	if _, err := open(k2).Get(ctx, "cluster.c1.kubeconfig"); err == nil {
		t.Fatal("the new key alone opened the old key's secret")
	}
	if _, err := jsstore.New(ctx, srv.Connect(t), jsstore.Config{SecretsKey: k2, OldSecretsKeys: [][]byte{k1[:16]}}); err == nil ||
		!strings.Contains(err.Error(), "old secrets key 1 must be 32 bytes") {
		t.Fatalf("a short old key: %v", err)
	}
}
