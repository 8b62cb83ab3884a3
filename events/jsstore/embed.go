package jsstore

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedConfig runs nats-server inside the kaas process: the default for one machine.
type EmbeddedConfig struct {
	// StoreDir holds JetStream's files. Required.
	StoreDir string
	// Listen is host:port for other processes (the nats CLI, a second kaasd); empty means
	// in-process connections only, so nothing can clash with another server's port.
	Listen string
	// Name is the server name shown in monitoring; default "kaas".
	Name string
	// MaxStore caps JetStream's disk use in bytes; zero lets the server choose.
	MaxStore int64
	// RelaxedSync, when above zero, lets JetStream acknowledge writes before they are on
	// disk and sync them in the background every RelaxedSync (nats-server's default is two
	// minutes). Zero, the default, syncs every write before it is acknowledged: kaas answers
	// 202 only for a request whose command is on disk, so that a kernel crash or a power loss
	// loses nothing VCD was told was accepted (a process kill never did: the page cache
	// survives it). Relaxing it trades that for speed (make bench measures both).
	RelaxedSync time.Duration
}

// syncOptions sets how JetStream syncs its writes to disk.
func (c EmbeddedConfig) syncOptions(opts *server.Options) {
	if c.RelaxedSync > 0 {
		opts.SyncInterval, opts.SyncAlways = c.RelaxedSync, false
		return
	}
	opts.SyncAlways = true
	opts.SyncInterval = 2 * time.Minute // what sync_interval: always sets beside it
}

// Embedded is a running in-process nats-server.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts nats-server with JetStream and waits until it takes connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded nats: a store directory is required")
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxStore:  cfg.MaxStore,
		JetStreamMaxMemory: 256 << 20,
		NoSigs:             true,
		NoLog:              true,
		DontListen:         cfg.Listen == "",
	}
	if opts.ServerName == "" {
		opts.ServerName = "kaas"
	}
	cfg.syncOptions(opts)
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s")
	}
	return &Embedded{srv: srv}, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("embedded nats: bad listen address %q: %w", hp, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("embedded nats: bad listen port %q", p)
	}
	return host, port, nil
}

// Connect opens a client connection to the embedded server.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(e.srv), nats.Name("kaasd")}, opts...)
	return nats.Connect("", opts...)
}

// ClientURL returns the URL other processes can use, or "" when it does not listen.
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// SyncAlways reports whether JetStream syncs every write to disk before acknowledging it,
// as the running server has it.
func (e *Embedded) SyncAlways() bool {
	c := e.srv.JetStreamConfig()
	return c != nil && c.SyncAlways
}

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
