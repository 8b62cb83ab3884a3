package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/events/jsstore"
)

// benchStore is an embedded nats-server in a directory of its own with kaas's streams
// declared on it, for a section that measures the store without a kaasd.
type benchStore struct {
	dir   string
	emb   *jsstore.Embedded
	nc    *nats.Conn
	store *jsstore.Store
}

// openBenchStore starts it: relaxed > 0 lets JetStream acknowledge before it syncs (see
// jsstore.EmbeddedConfig), and audit declares the KAAS_AUDIT archive as kaasd does.
func openBenchStore(ctx context.Context, name string, relaxed time.Duration, audit bool) (_ *benchStore, err error) {
	b := &benchStore{}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.dir, err = os.MkdirTemp("", "kaas-bench-"+name+"-"); err != nil {
		return nil, err
	}
	if b.emb, err = jsstore.StartEmbedded(jsstore.EmbeddedConfig{StoreDir: filepath.Join(b.dir, "jetstream"), Name: "kaas-bench-" + name,
		RelaxedSync: relaxed}); err != nil {
		return nil, err
	}
	if b.nc, err = b.emb.Connect(nats.Name("kaas-bench-" + name)); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if b.store, err = jsstore.New(ctx, b.nc, jsstore.Config{SecretsKey: key, NoAuditStream: !audit}); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *benchStore) close() {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.emb != nil {
		b.emb.Shutdown()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
