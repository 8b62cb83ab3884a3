package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsCluster is a NATS cluster of nodes with JetStream inside this process, routed to each
// other on loopback and taking clients there too (a kaasd in another process reaches it).
// Each node syncs every write to disk before it acknowledges it, as kaasd's embedded server
// does by default (jsstore.EmbeddedConfig): a stream of three replicas answers once two
// nodes have it on disk.
type natsCluster struct {
	nodes []*server.Server
}

// clusterNodes is the size of the bench's cluster, and the replicas of its streams.
const clusterNodes = 3

// startCluster starts the nodes in dir/node-<i> and waits until JetStream's meta leader
// knows every node, so that a stream of three replicas can be placed at once. On error the
// cluster returned (if not nil) still needs shutdown.
func startCluster(dir, name string) (*natsCluster, error) {
	c := &natsCluster{}
	// Every node routes to every other (JetStream refuses to start clustered without
	// routes), so the route ports are chosen before any node starts.
	var routes []*url.URL
	for len(routes) < clusterNodes {
		p, err := freePort()
		if err != nil {
			return c, err
		}
		u := &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)}
		if !slices.ContainsFunc(routes, func(r *url.URL) bool { return r.Host == u.Host }) {
			routes = append(routes, u)
		}
	}
	for i := range clusterNodes {
		opts := &server.Options{
			ServerName:         fmt.Sprintf("%s-%d", name, i),
			Host:               "127.0.0.1",
			Port:               -1,
			JetStream:          true,
			StoreDir:           filepath.Join(dir, fmt.Sprintf("node-%d", i)),
			JetStreamMaxMemory: 256 << 20,
			Cluster:            server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: port(routes[i])},
			Routes:             slices.Delete(slices.Clone(routes), i, i+1),
			// Sync before each ack, as jsstore.EmbeddedConfig does by default.
			SyncAlways:   true,
			SyncInterval: 2 * time.Minute,
			NoSigs:       true,
			NoLog:        true,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			return c, fmt.Errorf("nats cluster: %w", err)
		}
		go s.Start()
		c.nodes = append(c.nodes, s)
		if !s.ReadyForConnections(30 * time.Second) {
			return c, fmt.Errorf("nats cluster: %s not ready after 30s", opts.ServerName)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !c.ready() {
		if time.Now().After(deadline) {
			return c, errors.New("nats cluster: no JetStream meta leader with every node after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, nil
}

// freePort returns a loopback port below 32768, where the system never hands out the
// ephemeral ports of outgoing connections (which could take a port between its pick and
// the node's start), that nothing listens on now.
func freePort() (int, error) {
	for range 1000 {
		p := 20000 + rand.IntN(12768)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		return p, nil
	}
	return 0, errors.New("nats cluster: no free port below 32768")
}

// ready reports whether a meta leader knows every node and every node is current with it.
func (c *natsCluster) ready() bool {
	leader := false
	for _, s := range c.nodes {
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			leader = len(s.JetStreamClusterPeers()) == len(c.nodes)
		}
	}
	return leader
}

// SyncAlways reports whether every node syncs each write before acknowledging it.
func (c *natsCluster) SyncAlways() bool {
	for _, s := range c.nodes {
		if jc := s.JetStreamConfig(); jc == nil || !jc.SyncAlways {
			return false
		}
	}
	return len(c.nodes) > 0
}

// URLs are the nodes' client URLs, comma separated, as nats.Connect and KAAS_NATS_URL take
// them.
func (c *natsCluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) shutdown() {
	if c == nil {
		return
	}
	for _, s := range c.nodes {
		s.Shutdown()
	}
	for _, s := range c.nodes {
		s.WaitForShutdown()
	}
}

func port(u *url.URL) int {
	p, _ := strconv.Atoi(u.Port())
	return p
}
