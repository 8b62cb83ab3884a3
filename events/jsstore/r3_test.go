package jsstore_test

import (
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/events/store/storetest"
)

var r3Full = flag.Bool("r3-full", false, "run the whole store conformance suite on a three-node cluster, "+
	"not only the cases replication could change (each case starts its own cluster: half a minute or more)")

// r3Cases are the conformance cases whose outcome replication could change: dedupe and the
// expected-sequence check (which a replicated stream runs in another order), stream ends,
// scans (an ordered consumer that may live on another node), follows, durable consumers,
// key-value buckets and the dead-letter stream.
var r3Cases = []string{
	"append_command_dedupes", "concurrent_appends_of_one_request_store_it_once", "append_expects_the_last_sequence", "concurrent_appends_one_wins",
	"append_retry_returns_the_landed_record", "ends", "scan_filters", "follow_existing_then_new_in_order",
	"each_durable_gets_every_command", "snapshots", "secrets", "dead_letters",
}

// The JetStream store passes the store conformance suite on a three-node cluster with three
// replicas of each stream (one cluster per case), the cases replication could change by
// default and all of them with -r3-full.
//
// Reads on three replicas may be served by a follower a few milliseconds behind the leader:
// direct gets (Load, LastSeq, a bucket's Get) by any replica, and the consumer of a scan or
// of a bucket's Keys and Watch by whichever replica nats-server places it on. A read right
// after an append can then miss it. The cases here read after appends with other calls in
// between, and pass; the key-value suite (storetest.RunKV) does not run here because its
// Keys and Watch cases read at once what was just put, and on three replicas fail about
// every other run.
func TestConformanceR3(t *testing.T) {
	var opts []storetest.Option
	if !*r3Full {
		opts = append(opts, storetest.Only(r3Cases...))
	}
	// Three clusters at once at most: each case's nine servers' worth of raft groups would
	// otherwise starve each other on a small machine, and the consumer cases time what they
	// see.
	clusters := make(chan struct{}, 3)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		clusters <- struct{}{}
		t.Cleanup(func() { <-clusters })
		st, _ := natstest.ClusterStore(t, 3)
		return st
	}, opts...)
}

// A store on three replicas keeps taking appends and serving reads while one node is down:
// first a follower (neither the meta leader nor the event stream's leader), then the event
// stream's leader. Each node, restarted, catches up with what was stored while it was away.
func TestR3KeepsServingWithANodeDown(t *testing.T) {
	st, c := natstest.ClusterStore(t, 3)
	ctx := t.Context()
	cluster := events.DeriveID("r3", "a")
	var want []store.Record
	// appendEvents appends n events to the cluster, each after the last, and one command.
	// The first append after a node stopped may land in an election: it is retried, as an
	// executor retries, with its message id and expectation, until it lands (once).
	appendEvents := func(n int, retryFirst bool) {
		t.Helper()
		for range n {
			i := len(want) + 1
			env := events.Envelope{ID: fmt.Sprint("evt-", i), ClusterID: cluster, Time: time.Now().UTC(), CausationID: "cmd",
				Payload: events.NodeStarted{Name: fmt.Sprint(i)}}
			var after uint64
			if len(want) > 0 {
				after = want[len(want)-1].Seq
			}
			var r store.Record
			var err error
			if retryFirst {
				eventually(t, "the first append with a node down", func() error {
					r, err = st.Append(ctx, env, after, fmt.Sprint("m", i))
					return err
				})
				retryFirst = false
			} else if r, err = st.Append(ctx, env, after, fmt.Sprint("m", i)); err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			want = append(want, r)
		}
		if _, dup, err := st.AppendCommand(ctx, events.Envelope{ID: fmt.Sprint("cmd-", len(want)), ClusterID: cluster,
			Time: time.Now().UTC(), CorrelationID: "req", Payload: events.ScaleWorkers{Workers: len(want)}}, fmt.Sprint("c", len(want))); err != nil || dup {
			t.Fatalf("append a command: duplicate %v, %v", dup, err)
		}
	}
	// reads checks every way of reading the events back.
	reads := func(when string) {
		t.Helper()
		got, err := st.Load(ctx, cluster, 0)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: load: %d events, %v, want %d", when, len(got), err, len(want))
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].MsgID != want[i].MsgID {
				t.Fatalf("%s: event %d is %d %s, want %d %s", when, i, got[i].Seq, got[i].MsgID, want[i].Seq, want[i].MsgID)
			}
		}
		var scanned int
		if err := st.Scan(ctx, store.ScanFilter{Stream: events.EventStream}, func(store.Record) bool { scanned++; return true }); err != nil ||
			scanned != len(want) {
			t.Fatalf("%s: scan: %d events, %v, want %d", when, scanned, err, len(want))
		}
		last := want[len(want)-1].Seq
		if n, err := st.LastSeq(ctx, cluster); err != nil || n != last {
			t.Fatalf("%s: last sequence %d, %v, want %d", when, n, err, last)
		}
		if e, err := st.Ends(ctx); err != nil || e.Events != last {
			t.Fatalf("%s: ends %+v, %v, want events at %d", when, e, err, last)
		}
		if cmds, err := st.LoadCommands(ctx, cluster, 0); err != nil || len(cmds) == 0 {
			t.Fatalf("%s: commands: %d, %v", when, len(cmds), err)
		}
	}
	// caughtUp waits until node i's own replica of the event stream holds every event.
	caughtUp := func(i int) {
		t.Helper()
		last := want[len(want)-1].Seq
		eventually(t, fmt.Sprintf("node %d catching up", i), func() error {
			if s, ok := c.StreamState(i, events.EventStream); !ok || s.LastSeq != last || s.Msgs != uint64(len(want)) {
				return fmt.Errorf("node %d holds %+v, want %d events up to %d", i, s, len(want), last)
			}
			return nil
		})
	}

	appendEvents(3, false)
	reads("with every node up")

	leader, meta := c.WaitStreamLeader(events.EventStream), c.MetaLeader()
	follower := 0
	for follower == leader || follower == meta {
		follower++
	}
	t.Logf("stopping node %d (the meta leader is %d, the event stream's leader %d)", follower, meta, leader)
	c.Stop(follower)
	appendEvents(3, true)
	reads("with a follower down")
	c.Restart(follower)
	caughtUp(follower)

	leader = c.WaitStreamLeader(events.EventStream)
	t.Logf("stopping node %d, the event stream's leader", leader)
	c.Stop(leader)
	appendEvents(3, true)
	reads("with the stream's leader down")
	if now := c.StreamLeader(events.EventStream); now == leader || now < 0 {
		t.Fatalf("the event stream's leader is node %d", now)
	}
	c.Restart(leader)
	caughtUp(leader)
	reads("with every node back")
}

// eventually calls cond until it returns nil, failing the test after 30 s (a few raft
// elections) with what it last saw.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for tries := 1; ; tries++ {
		err := cond()
		if err == nil {
			if tries > 1 {
				t.Logf("%s: %d tries, %v", what, tries, time.Since(start).Round(time.Millisecond))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after 30s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// On three replicas, a store connected to a follower of a bucket reads back at once what
// it just wrote, as the ingress's name claims and the executors' leases need: each Get
// after a Create or Update sees it, and each compare-and-set at the revision just read
// lands. (This run did not catch a stale direct get before buckets read from their leader:
// the lag it guards against is a few milliseconds, and was seen on the streams' loads.)
func TestR3BucketReadsItsOwnWrites(t *testing.T) {
	st0, c := natstest.ClusterStore(t, 3)
	ctx := t.Context()
	if _, err := st0.KeyValue(ctx, store.KVConfig{Bucket: "R3_READS"}); err != nil {
		t.Fatal(err)
	}
	leader := c.WaitStreamLeader("KV_R3_READS")
	nc, err := nats.Connect(c.Node((leader + 1) % c.Size()).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, err := jsstore.New(ctx, nc, jsstore.Config{SecretsKey: natstest.Key(), Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := st.KeyValue(ctx, store.KVConfig{Bucket: "R3_READS"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		key := fmt.Sprint("k", i%7)
		var rev uint64
		switch e, err := kv.Get(ctx, key); {
		case errors.Is(err, store.ErrNoKey):
			rev, err = kv.Create(ctx, key, []byte(fmt.Sprint(i)))
			if err != nil {
				t.Fatalf("create %s after a get found none: %v", key, err)
			}
		case err != nil:
			t.Fatal(err)
		default:
			if rev, err = kv.Update(ctx, key, []byte(fmt.Sprint(i)), e.Revision); err != nil {
				t.Fatalf("update %s at the revision just read, %d: %v", key, e.Revision, err)
			}
		}
		if e, err := kv.Get(ctx, key); err != nil || e.Revision != rev {
			t.Fatalf("get %s right after writing it: %+v, %v, want revision %d", key, e, err, rev)
		}
	}
}
