package kaasd_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/natstest"
)

// kaasd on a three-node NATS cluster with three replicas of each stream provisions a
// cluster through the loss of the node that leads the event stream: the node stops while
// the cluster's VMs boot, and the create still ends CREATE:SUCCEEDED, as a read shows.
func TestCreateSurvivesTheEventStreamLeaderStopping(t *testing.T) {
	nats := natstest.StartCluster(t, 3)
	cloud := testCloud()
	// Boots slow enough that the stop lands while the executor still has steps to record.
	cloud.BootDelay = vcdsim.Duration(1500 * time.Millisecond)
	e := startOn(t, cloud, func(c *kaasd.Config) {
		c.NATSURL, c.Replicas = nats.ClientURLs(), 3
		// When the stopped node also leads the executors' consumer, the command in hand
		// comes back only after the ack wait: a delayed nak lives on the consumer's leader
		// alone, and the new leader redelivers after the ack wait from the delivery (10 s by
		// default). A shorter one keeps the test short; the path is the same.
		c.AckWait = 3 * time.Second
	}, slog.New(slog.DiscardHandler))
	kaasdtest.EnableVDCs(t, providerDo(t, e.client))

	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("r3", good, 1, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	kaasdtest.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		if e.vapp(id) == nil {
			return fmt.Errorf("no vApp for %s in VCD yet", id)
		}
		return nil
	})
	leader := nats.WaitStreamLeader(events.EventStream)
	code, body = e.do("GET", "/api/cse/3.0/cluster/"+id, nil)
	if phase := decode[cse.DefEntity](t, body).Entity.Status.Phase; code != http.StatusOK || !strings.HasSuffix(phase, "IN_PROGRESS") {
		t.Fatalf("before the stop: %d %s, want the create in progress (the simulator boots too fast for this test)", code, phase)
	}
	t.Logf("stopping node %d, the leader of %s (the meta leader is %d, %s's %d, the executors' consumer's %d)", leader,
		events.EventStream, nats.MetaLeader(), events.CommandStream, nats.StreamLeader(events.CommandStream),
		nats.ConsumerLeader(events.CommandStream, "executor"))
	stopped := time.Now()
	nats.Stop(leader)

	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("the create ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas)
	}
	t.Logf("CREATE:SUCCEEDED seen %v after the stop", time.Since(stopped).Round(time.Millisecond))
	code, body = e.do("GET", "/api/cse/3.0/cluster/"+id, nil)
	if ent := decode[cse.DefEntity](t, body); code != http.StatusOK || ent.Name != "r3" || ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("read after the create: %d %s", code, body)
	}
	if now := nats.StreamLeader(events.EventStream); now < 0 || now == leader {
		t.Fatalf("the event stream's leader is node %d after node %d stopped", now, leader)
	}
}
