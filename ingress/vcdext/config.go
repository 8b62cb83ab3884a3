package vcdext

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Config configures a [Consumer]. Zero fields take the defaults documented on each field.
type Config struct {
	// URL is the AMQP URL, amqp:// or amqps://. Default amqp://guest:guest@127.0.0.1:5672/.
	// It carries credentials, so it is never logged.
	URL string
	// TLS is how an amqps:// URL's broker is checked, and how the consumer proves who it
	// is to a broker that asks. It must be zero for an amqp:// URL.
	TLS TLS
	// Exchange is the exchange VCD publishes requests to. It is declared durable and direct,
	// as CSE's installer does. Default "cse-ext".
	Exchange string
	// RoutingKey is the routing key registered with VCD for the extension. Default "cse".
	RoutingKey string
	// Queue is the queue the consumer reads. It is declared durable, unlike CSE's, so that
	// requests survive a broker or kaas restart, and bound to Exchange with RoutingKey.
	// Default: RoutingKey.
	Queue string
	// Prefetch is the basic.qos prefetch count: how many unacked requests the broker hands
	// this consumer at once. Default 64.
	Prefetch int
	// Workers bounds how many handlers run at once, across reconnects. Default Prefetch.
	Workers int
	// HandlerTimeout is the deadline of each request's context. VCD gives up after its
	// extensibility.timeout (10 s by default), so the default is 8 s.
	HandlerTimeout time.Duration
	// PublishTimeout bounds publishing one reply and waiting for its confirm. A reply that is
	// not confirmed in time leaves its request unacked and restarts the connection, so the
	// broker redelivers it. Default 5 s.
	PublishTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential reconnect backoff, which uses full
	// jitter. Defaults 100 ms and 30 s.
	ReconnectMin, ReconnectMax time.Duration
	// ConnectionName names the connections in the RabbitMQ management UI; the consuming and
	// publishing connections get the suffixes "-consume" and "-publish". Default "kaasd".
	ConnectionName string
	// Logger receives lifecycle logs (Info), bad messages (Warn) and per-message detail
	// (Debug). Default: discard.
	Logger *slog.Logger
	// Metrics is optional; see [NewMetrics].
	Metrics *Metrics
}

// Defaults. VCD's own timeout is 10 s; the handler deadline leaves room for the reply.
const (
	DefaultURL            = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultExchange       = "cse-ext"
	DefaultRoutingKey     = "cse"
	DefaultPrefetch       = 64
	DefaultHandlerTimeout = 8 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	DefaultReconnectMin   = 100 * time.Millisecond
	DefaultReconnectMax   = 30 * time.Second
	DefaultConnectionName = "kaasd"
)

// maxShortStr is AMQP's limit for exchange, queue and routing-key names.
const maxShortStr = 255

func (c *Config) setDefaults() {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Exchange == "" {
		c.Exchange = DefaultExchange
	}
	if c.RoutingKey == "" {
		c.RoutingKey = DefaultRoutingKey
	}
	if c.Queue == "" {
		c.Queue = c.RoutingKey
	}
	if c.Prefetch == 0 {
		c.Prefetch = DefaultPrefetch
	}
	if c.Workers == 0 {
		c.Workers = c.Prefetch
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = DefaultHandlerTimeout
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.ConnectionName == "" {
		c.ConnectionName = DefaultConnectionName
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Validate reports every problem with the configuration, as if the defaults had been
// applied to zero fields. It does not modify c.
func (c *Config) Validate() error {
	d := *c
	d.setDefaults()
	var errs []error
	if uri, err := amqp.ParseURI(d.URL); err != nil {
		// The parse error may quote the URL, which may hold a password.
		errs = append(errs, errors.New("URL: not a valid amqp:// or amqps:// URL"))
	} else if uri.Scheme == "amqps" {
		if _, err := d.TLS.ClientConfig(); err != nil {
			errs = append(errs, err)
		}
	} else if d.TLS != (TLS{}) {
		errs = append(errs, errors.New("TLS: set for an amqp:// URL, which never uses it: make the URL amqps://"))
	}
	for _, n := range []struct{ field, v string }{
		{"Exchange", d.Exchange}, {"RoutingKey", d.RoutingKey}, {"Queue", d.Queue}, {"ConnectionName", d.ConnectionName},
	} {
		if len(n.v) > maxShortStr {
			errs = append(errs, fmt.Errorf("%s: longer than %d bytes", n.field, maxShortStr))
		}
	}
	if d.Prefetch < 1 || d.Prefetch > 65535 {
		errs = append(errs, fmt.Errorf("Prefetch: %d is not in 1..65535", d.Prefetch))
	}
	if d.Workers < 1 {
		errs = append(errs, fmt.Errorf("Workers: %d is not positive", d.Workers))
	}
	for _, t := range []struct {
		field string
		v     time.Duration
	}{
		{"HandlerTimeout", d.HandlerTimeout}, {"PublishTimeout", d.PublishTimeout},
		{"ReconnectMin", d.ReconnectMin}, {"ReconnectMax", d.ReconnectMax},
	} {
		if t.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", t.field, t.v))
		}
	}
	if d.ReconnectMax < d.ReconnectMin {
		errs = append(errs, fmt.Errorf("ReconnectMax: %v is less than ReconnectMin %v", d.ReconnectMax, d.ReconnectMin))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vcdext config: %w", err)
	}
	return nil
}
