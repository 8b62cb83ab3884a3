package kaasd

import (
	"context"

	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/projector"
)

// apiAdmin is what the API's provider operations on this process reach (ingress.Admin):
// the projector's replay, the server's graceful stop, its configuration.
type apiAdmin struct {
	s    *Server
	proj *projector.Projector
	cfg  Config
}

func (a apiAdmin) Replay(ctx context.Context, swap bool) (ingress.ReplayReport, error) {
	r, err := a.proj.Replay(ctx, swap)
	return ingress.ReplayReport(r), err // the same fields: a projector change fails to compile here
}

func (a apiAdmin) Stop() { a.s.stop() }

func (a apiAdmin) RunningConfig() any { return a.cfg.Redacted() }
