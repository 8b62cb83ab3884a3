// Package natstest starts real nats-servers with JetStream inside a test: one (Start), or a
// cluster of several routed to each other (StartCluster), on free ports, with temporary
// store directories, shut down when the test ends.
package natstest

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/events/jsstore"
)

// Server is a running test server.
type Server struct {
	*server.Server
	Dir string
}

// Start runs nats-server with JetStream in t.TempDir() (or dir, when given, so that a test
// can restart a server on the same files).
func Start(t testing.TB, dir ...string) *Server {
	t.Helper()
	return StartWith(t, nil, dir...)
}

// StartWith is Start with the server's options changed by configure before it starts (TLS,
// users, accounts), when configure is not nil.
func StartWith(t testing.TB, configure func(*server.Options), dir ...string) *Server {
	t.Helper()
	d := t.TempDir()
	if len(dir) > 0 {
		d = dir[0]
	}
	opts := options(d)
	if configure != nil {
		configure(opts)
	}
	s := run(t, opts)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return &Server{Server: s, Dir: d}
}

// options are a test server's: loopback, a random client port unless the caller sets one,
// JetStream in dir, quiet, no signal handlers.
func options(dir string) *server.Options {
	return &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
}

// run starts a server and waits until it takes connections.
func run(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10e9) {
		s.Shutdown()
		t.Fatalf("nats-server %s not ready", opts.ServerName)
	}
	return s
}

// Connect opens a connection closed when the test ends, with opts (a server of StartWith
// may want TLS or a user).
func (s *Server) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Key returns a fixed secrets key for tests.
func Key() []byte { return bytes.Repeat([]byte{7}, 32) }

// Store starts a server and returns a store on it.
func Store(t testing.TB) (*jsstore.Store, *Server) {
	t.Helper()
	s := Start(t)
	st, err := jsstore.New(t.Context(), s.Connect(t), jsstore.Config{SecretsKey: Key()})
	if err != nil {
		t.Fatal(err)
	}
	return st, s
}
