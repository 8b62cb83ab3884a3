package jsstore_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/kaasproject/kaas/events/jsstore"
)

// The nats.conf shipped for a standalone server must be one nats-server accepts.
func TestNATSConfParses(t *testing.T) {
	opts, err := server.ProcessConfigFile("../../nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.JetStream || opts.Port != 4223 {
		t.Fatalf("nats.conf: jetstream %v, port %d", opts.JetStream, opts.Port)
	}
	if !opts.SyncAlways {
		t.Fatal("nats.conf lets JetStream acknowledge writes before they are on disk")
	}
}

// The embedded server syncs every write before acknowledging it, unless told to relax.
func TestEmbeddedSyncsBeforeAck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		relaxed time.Duration
		always  bool
	}{
		{"default", 0, true},
		{"relaxed", time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := jsstore.StartEmbedded(jsstore.EmbeddedConfig{StoreDir: t.TempDir(), RelaxedSync: tc.relaxed})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Shutdown)
			if got := e.SyncAlways(); got != tc.always {
				t.Fatalf("sync always: %v, want %v", got, tc.always)
			}
		})
	}
}
