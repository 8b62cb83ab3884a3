package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kaasproject/kaas/deploy/kaasd"
)

// installCmd declares the AMQP queue kaasd reads, bound to the exchange, registers kaas
// with VCD as the API extension that serves /api/cse, and registers CSE's interfaces and
// cse:nativeCluster entity types (VCD then makes CSE's rights bundle, which it publishes to
// the tenant orgs --publish-rights names), the way CSE's installer does, with the same
// KAAS_* settings kaasd runs with. It is idempotent. The queue comes first: once VCD relays
// to the exchange, every call has a queue to wait in, whether kaasd runs or not.
func installCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, _, err := parse(args, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kaasd install:", err)
		return 2
	}
	if cfg.VCDURL == "" {
		fmt.Fprintln(stderr, "kaasd install: set KAAS_VCD_URL and the VCD service account (KAAS_VCD_USER, KAAS_VCD_PASSWORD or KAAS_VCD_TOKEN)")
		return 2
	}
	q, err := kaasd.DeclareQueue(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "kaasd install:", err)
		return 1
	}
	state := "declared"
	if q.QueueExisted {
		state = "already declared"
	}
	fmt.Fprintf(stdout, "queue %q %s (durable), bound to exchange %q (durable, direct) with routing key %q; %d message(s) waiting\n",
		q.Queue, state, q.Exchange, q.RoutingKey, q.Messages)
	ext := kaasd.DefaultExtension(cfg.AMQPExchange, cfg.AMQPRoutingKey)
	res, err := kaasd.Install(ctx, cfg.VCDConfig(nil), ext)
	if err != nil {
		fmt.Fprintln(stderr, "kaasd install:", err)
		return 1
	}
	what := "already registered"
	switch {
	case res.Created:
		what = "registered"
	case res.Updated:
		what = "updated"
	}
	fmt.Fprintf(stdout, "extension %q %s (%s): exchange %s, routing key %s\n", ext.Name, what, res.HREF, ext.Exchange, ext.RoutingKey)
	if len(res.FiltersAdded) > 0 {
		fmt.Fprintf(stdout, "API filters added: %s\n", strings.Join(res.FiltersAdded, " "))
	}
	rep, err := kaasd.InstallRDE(ctx, cfg.VCDConfig(nil), cfg.PublishRights)
	if err != nil {
		fmt.Fprintln(stderr, "kaasd install:", err)
		return 1
	}
	rep.Print(stdout)
	return 0
}
