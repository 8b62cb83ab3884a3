package kaasd

import (
	"context"

	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/ingress"
)

// commandEnd tells the ingress where the command stream ends (ingress.CommandEnd).
type commandEnd struct{ store *jsstore.Store }

func (c commandEnd) CommandEnd(ctx context.Context) (uint64, error) {
	e, err := c.store.Ends(ctx)
	return e.Commands, err
}

// sharedStreams is the ingress's view of the streams' end when other instances may append
// to them: a standalone NATS (KAAS_NATS_URL), or an embedded one others reach
// (KAAS_NATS_LISTEN). A kaasd alone on its embedded JetStream needs none.
func sharedStreams(cfg Config, store *jsstore.Store) ingress.CommandEnd {
	if cfg.NATSURL == "" && cfg.NATSListen == "" {
		return nil
	}
	return commandEnd{store}
}
