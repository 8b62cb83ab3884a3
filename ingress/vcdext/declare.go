package vcdext

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Topology is what [Declare] declared: the exchange VCD publishes to, the queue the
// consumer reads, and the routing key that binds them.
type Topology struct {
	Exchange, Queue, RoutingKey string
	// QueueExisted says the queue was there before: Declare found it and left it as it was.
	QueueExisted bool
	// Messages is how many requests wait in the queue, not counting those a consumer holds.
	Messages int
}

// Declare declares on RabbitMQ, idempotently, the exchange, the queue and the binding that
// a [Consumer] with cfg declares when it starts, with the same arguments. An installer runs
// it so that requests VCD relays before the first consumer starts, or while none runs, wait
// in the durable queue instead of being dropped as unroutable. Messages already waiting are
// left alone. ctx bounds the whole exchange with the broker.
func Declare(ctx context.Context, cfg Config) (Topology, error) {
	if err := cfg.Validate(); err != nil {
		return Topology{}, err
	}
	cfg.setDefaults()
	t := Topology{Exchange: cfg.Exchange, Queue: cfg.Queue, RoutingKey: cfg.RoutingKey}

	// amqp091-go takes no context: closing the raw socket when ctx ends fails whatever call
	// is blocked on it.
	var (
		mu   sync.Mutex
		sock net.Conn
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if sock != nil {
			sock.Close()
		}
	})
	defer stop()
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(cfg.ConnectionName + "-declare")
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return t, err
	}
	conn, err := amqp.DialConfig(cfg.URL, amqp.Config{
		Heartbeat:       heartbeat,
		Properties:      props,
		TLSClientConfig: tlsCfg,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// As amqp.DefaultDial does: a deadline for the handshake, which the library
			// clears once the connection is open.
			if err := c.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
				c.Close()
				return nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			if err := ctx.Err(); err != nil {
				c.Close()
				return nil, err
			}
			sock = c
			return c, nil
		},
	})
	if err != nil {
		return t, fmt.Errorf("connect to RabbitMQ: %w", cfg.explain(orCause(ctx, err)))
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(closeWait)) }()

	ch, err := conn.Channel()
	if err != nil {
		return t, fmt.Errorf("open a channel: %w", orCause(ctx, err))
	}
	// Whether the queue was there, for the installer's report. A passive declare of a
	// missing queue closes its channel, so the declarations get a new one.
	if q, err := ch.QueueDeclarePassive(cfg.Queue, true, false, false, false, nil); err == nil {
		t.QueueExisted, t.Messages = true, q.Messages
	} else {
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
			return t, fmt.Errorf("look for queue %s: %w", cfg.Queue, orCause(ctx, err))
		}
		if ch, err = conn.Channel(); err != nil {
			return t, fmt.Errorf("open a channel: %w", orCause(ctx, err))
		}
	}
	q, err := declare(ch, cfg)
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			// CSE declared its queue non-durable; the broker refuses to redeclare it.
			return t, fmt.Errorf("%w: delete the old one (rabbitmqctl delete_queue %s) and run this again", err, cfg.Queue)
		}
		return t, orCause(ctx, err)
	}
	t.Messages = q.Messages
	return t, nil
}

// declare declares the exchange (durable and direct, as CSE's installer made it), the
// queue (durable, unlike CSE's, so that requests survive a broker or kaas restart) and
// their binding. Each declaration is idempotent.
func declare(ch *amqp.Channel, cfg Config) (amqp.Queue, error) {
	if err := ch.ExchangeDeclare(cfg.Exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return amqp.Queue{}, fmt.Errorf("declare exchange %s: %w", cfg.Exchange, err)
	}
	q, err := ch.QueueDeclare(cfg.Queue, true, false, false, false, nil)
	if err != nil {
		return q, fmt.Errorf("declare queue %s: %w", cfg.Queue, err)
	}
	if err := ch.QueueBind(cfg.Queue, cfg.RoutingKey, cfg.Exchange, false, nil); err != nil {
		return q, fmt.Errorf("bind queue %s to %s: %w", cfg.Queue, cfg.Exchange, err)
	}
	return q, nil
}

// orCause names ctx's end rather than the closed socket it caused.
func orCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}
