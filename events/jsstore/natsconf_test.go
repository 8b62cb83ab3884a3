package jsstore_test

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
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
}
