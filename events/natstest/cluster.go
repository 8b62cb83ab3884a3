package natstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/events/jsstore"
)

// Cluster is a running cluster of test servers with JetStream, routed to each other on
// loopback. Each node keeps its ports and store directory for the whole test, so that a
// node stopped and restarted rejoins where it left: its peers' routes find it on the same
// port, and it recovers its streams from the same files.
type Cluster struct {
	t     testing.TB
	name  string
	nodes []*node
}

type node struct {
	name            string
	dir             string
	port, routePort int
	srv             *server.Server // nil while stopped
}

// account is the account every test client uses: nats-server's global one, as no
// accounts are configured.
const account = "$G"

// settle bounds every wait for the cluster to agree: a meta leader, a stream leader. Raft
// elections take 4 to 9 s after a leader is lost, so this is a few of them.
const settle = 45 * time.Second

// StartCluster starts n nodes (node-0 … node-<n-1>) in one cluster and returns once the
// JetStream meta leader is elected and every node is current with it, so that a stream
// of n replicas can be placed at once. Every node is shut down when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("a cluster of %d nodes", n)
	}
	c := &Cluster{t: t, name: "kaas-test"}
	// The ports are chosen up front, not -1, so that the routes can name them and a
	// restarted node comes back where its peers look for it.
	for i := range n {
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("node-%d", i), dir: t.TempDir(),
			port: freePort(t), routePort: freePort(t)})
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	for i := range c.nodes {
		c.start(i)
	}
	c.WaitReady()
	return c
}

// Ports are picked below 32768, where Linux (and macOS) never hand out the ephemeral ports
// of outgoing connections: a port picked in that range could be taken by one of the
// cluster's own route connections between the pick and a (re)start, and a node that cannot
// listen never becomes ready. taken keeps this process from picking a port twice.
const lowPort, highPort = 20000, 32768

var (
	portsMu sync.Mutex
	taken   = map[int]bool{}
)

// freePort returns a loopback port below the ephemeral range that nothing listens on now
// and that this process has not handed out before.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := lowPort + rand.IntN(highPort-lowPort)
		if taken[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		taken[p] = true
		return p
	}
	t.Fatal("no free port below 32768")
	return 0
}

// start starts node i on its ports and directory, routed to every other node.
func (c *Cluster) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	opts := options(nd.dir)
	opts.ServerName, opts.Port = nd.name, nd.port
	opts.Cluster = server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: nd.routePort}
	for j, other := range c.nodes {
		if j != i {
			opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", other.routePort)})
		}
	}
	nd.srv = run(c.t, opts)
}

// WaitReady waits until the running nodes have a meta leader that knows every running
// node as a current peer.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	c.wait("a JetStream meta leader with every running node current", func() bool {
		l := c.MetaLeader()
		if l < 0 {
			return false
		}
		running := 0
		for _, nd := range c.nodes {
			if nd.srv == nil {
				continue
			}
			running++
			if !nd.srv.JetStreamIsCurrent() {
				return false
			}
		}
		return len(c.nodes[l].srv.JetStreamClusterPeers()) == running
	})
}

// wait polls cond until it holds, failing the test after settle.
func (c *Cluster) wait(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(settle)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster: no %s after %v", what, settle)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// Node returns node i's server, nil while it is stopped.
func (c *Cluster) Node(i int) *server.Server { return c.nodes[i].srv }

// ClientURLs returns every node's client URL, comma separated, as nats.Connect takes them:
// a client fails over to another node when its own stops.
func (c *Cluster) ClientURLs() string {
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.port)
	}
	return strings.Join(urls, ",")
}

// Connect opens a connection to the cluster that reconnects to whichever node runs,
// closed when the test ends.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(c.ClientURLs(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Stop shuts node i down and waits for it; its files and ports stay its own. Stopping a
// stopped node does nothing.
func (c *Cluster) Stop(i int) {
	nd := c.nodes[i]
	if nd.srv == nil {
		return
	}
	nd.srv.Shutdown()
	nd.srv.WaitForShutdown()
	nd.srv = nil
}

// Restart starts a stopped node again on its ports and files, and waits until the cluster
// is ready with it.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.nodes[i].srv != nil {
		c.t.Fatalf("cluster: %s is running", c.nodes[i].name)
	}
	c.start(i)
	c.WaitReady()
}

// MetaLeader returns the index of the node that leads JetStream's meta group, -1 when no
// running node does.
func (c *Cluster) MetaLeader() int {
	return c.find(func(s *server.Server) bool { return s.JetStreamIsLeader() })
}

// StreamLeader returns the index of the node that leads a stream's replicas, -1 when no
// running node does.
func (c *Cluster) StreamLeader(stream string) int {
	return c.find(func(s *server.Server) bool { return s.JetStreamIsStreamLeader(account, stream) })
}

// ConsumerLeader returns the index of the node that leads a consumer's replicas, -1 when no
// running node does.
func (c *Cluster) ConsumerLeader(stream, consumer string) int {
	return c.find(func(s *server.Server) bool { return s.JetStreamIsConsumerLeader(account, stream, consumer) })
}

// WaitStreamLeader waits until a running node leads the stream and every other running
// node holds a current replica, and returns the leader's index.
func (c *Cluster) WaitStreamLeader(stream string) int {
	c.t.Helper()
	l := -1
	c.wait("leader of stream "+stream+" with current replicas", func() bool {
		if l = c.StreamLeader(stream); l < 0 {
			return false
		}
		for _, nd := range c.nodes {
			if nd.srv != nil && !nd.srv.JetStreamIsStreamCurrent(account, stream) {
				return false
			}
		}
		return true
	})
	return l
}

// StreamState returns a stream's state as node i holds it (its own replica, not the
// leader's), and false when the node is stopped or holds no replica.
func (c *Cluster) StreamState(i int, stream string) (server.StreamState, bool) {
	c.t.Helper()
	srv := c.nodes[i].srv
	if srv == nil {
		return server.StreamState{}, false
	}
	jsz, err := srv.Jsz(&server.JSzOptions{Account: account, Streams: true})
	if err != nil {
		c.t.Fatalf("jsz of %s: %v", c.nodes[i].name, err)
	}
	for _, a := range jsz.AccountDetails {
		for _, sd := range a.Streams {
			if sd.Name == stream {
				return sd.State, true
			}
		}
	}
	return server.StreamState{}, false
}

func (c *Cluster) find(is func(*server.Server) bool) int {
	for i, nd := range c.nodes {
		if nd.srv != nil && is(nd.srv) {
			return i
		}
	}
	return -1
}

// ClusterStore starts a cluster of n nodes and returns a store on it with n replicas of
// each stream.
func ClusterStore(t testing.TB, n int) (*jsstore.Store, *Cluster) {
	t.Helper()
	c := StartCluster(t, n)
	st, err := jsstore.New(t.Context(), c.Connect(t), jsstore.Config{SecretsKey: Key(), Replicas: n})
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}
