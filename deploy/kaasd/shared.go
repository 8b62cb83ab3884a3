package kaasd

import (
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/ingress"
)

// sharedStreams is the ingress's view of the streams' end when other instances may append
// to them: a standalone NATS (KAAS_NATS_URL), or an embedded one others reach
// (KAAS_NATS_LISTEN). A kaasd alone on its embedded JetStream needs none.
func sharedStreams(cfg Config, store *jsstore.Store) ingress.CommandEnd {
	if cfg.NATSURL == "" && cfg.NATSListen == "" {
		return nil
	}
	return store
}
