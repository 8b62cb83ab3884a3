package drill_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The three node configs of make run-ha are ones nats-server accepts, and they make one
// cluster that syncs every write before acknowledging it, each node on its own ports and
// store directory.
func TestHANodeConfs(t *testing.T) {
	t.Setenv("KAAS_NATS_STORE", "/var/lib/kaas/nats")
	routes := []string{"nats-route://127.0.0.1:6231", "nats-route://127.0.0.1:6232", "nats-route://127.0.0.1:6233"}
	for i := 1; i <= 3; i++ {
		t.Run(fmt.Sprint("node-", i), func(t *testing.T) {
			opts, err := server.ProcessConfigFile(fmt.Sprintf("../nats/node-%d.conf", i))
			if err != nil {
				t.Fatal(err)
			}
			if !opts.JetStream || !opts.SyncAlways {
				t.Fatalf("jetstream %v, sync always %v: the node must sync every write before acknowledging it", opts.JetStream, opts.SyncAlways)
			}
			if opts.StoreDir != "/var/lib/kaas/nats" {
				t.Errorf("store dir %q, not KAAS_NATS_STORE's", opts.StoreDir)
			}
			if want := fmt.Sprint("kaas-nats-", i); opts.ServerName != want {
				t.Errorf("server name %q, want %q", opts.ServerName, want)
			}
			if opts.Host != "127.0.0.1" || opts.Port != 4230+i || opts.HTTPPort != 8230+i {
				t.Errorf("client %s:%d, monitoring %d", opts.Host, opts.Port, opts.HTTPPort)
			}
			if opts.Cluster.Name != "kaas" || opts.Cluster.Port != 6230+i {
				t.Errorf("cluster %q on port %d", opts.Cluster.Name, opts.Cluster.Port)
			}
			var got []string
			for _, u := range opts.Routes {
				got = append(got, u.String())
			}
			if !slices.Equal(got, routes) {
				t.Errorf("routes %v, want all three nodes %v", got, routes)
			}
		})
	}
	// Without the store directory set, a node refuses to start rather than write somewhere
	// unexpected.
	if err := os.Unsetenv("KAAS_NATS_STORE"); err != nil { // t.Setenv above restores it
		t.Fatal(err)
	}
	if _, err := server.ProcessConfigFile("../nats/node-1.conf"); err == nil || !strings.Contains(err.Error(), "KAAS_NATS_STORE") {
		t.Fatalf("a node config without KAAS_NATS_STORE: %v", err)
	}
}
