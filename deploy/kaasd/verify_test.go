package kaasd_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// TestVerifyCatchesTampering alters history directly in JetStream (on streams left mutable
// for the purpose) and checks that verify names each case's cluster and sequence, and that
// clean history passes.
func TestVerifyCatchesTampering(t *testing.T) {
	e := startWith(t, func(c *kaasd.Config) { c.MutableHistory = true })
	asProvider := providerDo(t, e.client)
	verify := func() cse.Verification {
		t.Helper()
		code, body := asProvider("GET", "/api/cse/3.0/audit/verify", nil)
		if code != http.StatusOK {
			t.Fatalf("verify: %d %s", code, body)
		}
		return decode[cse.Verification](t, body)
	}
	var ids []string
	for _, name := range []string{"removed", "changed", "truncated"} {
		code, body := e.do("POST", "/api/cse/3.0/clusters", entity(name, good, 1, true))
		if code != http.StatusAccepted {
			t.Fatalf("create: %d %s", code, body)
		}
		ent := decode[cse.DefEntity](t, body)
		e.waitPhase(ent.ID)
		id, _ := cse.ParseClusterID(ent.ID)
		ids = append(ids, id)
	}
	if v := verify(); !v.OK || v.Clusters < 3 || v.Events < 15 {
		t.Fatalf("clean history: %+v", v)
	}

	ctx := t.Context()
	stream, err := e.srv.Store().JetStream().Stream(ctx, events.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	load := func(id string) []uint64 {
		recs, err := e.srv.Store().Load(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, r := range recs {
			seqs = append(seqs, r.Seq)
		}
		return seqs
	}
	removed, changed, truncated := load(ids[0]), load(ids[1]), load(ids[2])

	// 1. An event in the middle of a cluster's history is removed.
	if err := stream.DeleteMsg(ctx, removed[2]); err != nil {
		t.Fatal(err)
	}
	// 2. An event is changed: JetStream has no update, so the original is removed and an
	// altered copy (another actor) appended on the same subject.
	orig, err := stream.GetMsg(ctx, changed[1])
	if err != nil {
		t.Fatal(err)
	}
	var env events.Envelope
	if env, err = events.Unmarshal(orig.Data); err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(orig.Data, []byte(env.Actor), []byte("urn:vcloud:user:00000000-0000-0000-0000-00000000beef"), 1)
	if bytes.Equal(forged, orig.Data) {
		t.Fatal("the forgery changed nothing")
	}
	if err := stream.DeleteMsg(ctx, changed[1]); err != nil {
		t.Fatal(err)
	}
	ack, err := e.srv.Store().JetStream().PublishMsg(ctx, &nats.Msg{Subject: orig.Subject, Data: forged, Header: nats.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	// 3. A cluster's newest event is removed.
	if err := stream.DeleteMsg(ctx, truncated[len(truncated)-1]); err != nil {
		t.Fatal(err)
	}

	v := verify()
	want := []cse.ChainProblem{
		{ClusterID: cse.EntityID(ids[0]), Seq: removed[3], Kind: "broken"},
		{ClusterID: cse.EntityID(ids[1]), Seq: changed[2], Kind: "broken"},
		{ClusterID: cse.EntityID(ids[1]), Seq: ack.Sequence, Kind: "reordered"},
		{ClusterID: cse.EntityID(ids[2]), Seq: truncated[len(truncated)-1], Kind: "head"},
	}
	if v.OK {
		t.Fatalf("tampered history passed: %+v", v)
	}
	for _, p := range v.Problems {
		t.Logf("%s #%d %s: %s", p.ClusterID, p.Seq, p.Kind, p.Detail)
	}
	for _, w := range want {
		found := false
		for _, p := range v.Problems {
			if p.ClusterID == w.ClusterID && p.Seq == w.Seq && p.Kind == w.Kind && p.Detail != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("verify missed %+v; it found %+v", w, v.Problems)
		}
	}
	if len(v.Problems) != len(want) {
		t.Errorf("%d problems for %d tamperings: %+v", len(v.Problems), len(want), v.Problems)
	}
}
