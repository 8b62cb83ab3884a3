package natstest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/events/natstest"
)

// A cluster elects a meta leader, elects another when the leader stops, and takes the
// stopped node back on its own port; a client on the URLs of every node fails over.
func TestClusterStopAndRestart(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	if c.Size() != 3 || len(strings.Split(c.ClientURLs(), ",")) != 3 {
		t.Fatalf("%d nodes, URLs %s", c.Size(), c.ClientURLs())
	}
	leader := c.MetaLeader()
	if leader < 0 {
		t.Fatal("no meta leader after StartCluster")
	}
	url := c.Node(leader).ClientURL()
	reconnected := make(chan struct{}, 1)
	nc := c.Connect(t, nats.DontRandomize(), nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	for nc.ConnectedUrl() != url { // the client starts on the leader, to see it fail over
		if err := nc.ForceReconnect(); err != nil {
			t.Fatal(err)
		}
		<-reconnected
	}

	c.Stop(leader)
	if c.Node(leader) != nil {
		t.Fatal("a stopped node still has a server")
	}
	c.WaitReady()
	if now := c.MetaLeader(); now < 0 || now == leader {
		t.Fatalf("meta leader %d after node %d stopped", now, leader)
	}
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not reconnect to another node")
	}
	if nc.ConnectedUrl() == url {
		t.Fatalf("the client is still on %s", url)
	}

	c.Restart(leader)
	if got := c.Node(leader).ClientURL(); got != url {
		t.Fatalf("node %d came back on %s, not %s", leader, got, url)
	}
}
