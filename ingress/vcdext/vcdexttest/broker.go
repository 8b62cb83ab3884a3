package vcdexttest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultURL is the broker that `make test` starts.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// AMQPURL returns $KAAS_AMQP_URL, or DefaultURL when it is unset.
func AMQPURL() string {
	if u := os.Getenv("KAAS_AMQP_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// dial connects with a short handshake deadline so that a missing broker fails fast.
func dial(url, name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	return amqp.DialConfig(url, amqp.Config{
		Properties: props,
		Heartbeat:  10 * time.Second,
		Dial:       amqp.DefaultDial(5 * time.Second),
	})
}

// TB is the part of testing.TB the broker helpers use: kaasd's `call` command links this
// package, and a shipped binary must not link package testing.
type TB interface {
	Helper()
	Name() string
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// RequireBroker dials [AMQPURL] once and returns it. If RabbitMQ cannot be reached it fails
// the test, never skips it: a silently skipped integration test is a test nobody runs.
func RequireBroker(t TB) string {
	t.Helper()
	url := AMQPURL()
	conn, err := dial(url, "vcdexttest-probe")
	if err != nil {
		t.Fatalf("RabbitMQ is not reachable (KAAS_AMQP_URL or %s): %v\n"+
			"Start it with `make test` (which starts RabbitMQ) or `rabbitmq-server -detached`, "+
			"or point KAAS_AMQP_URL at a broker.", DefaultURL, err)
	}
	conn.Close()
	return url
}

// UniqueNames returns an exchange and a routing key (also the queue name, as vcdext defaults
// it) unique to this test run, and deletes both when the test ends.
func UniqueNames(t TB) (exchange, routingKey string) {
	t.Helper()
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, t.Name())
	if len(base) > 80 {
		base = base[:80]
	}
	suffix := fmt.Sprintf("%08x", rand.Uint32())
	exchange = "kaas-test-x-" + base + "-" + suffix
	routingKey = "kaas-test-q-" + base + "-" + suffix
	url := AMQPURL()
	t.Cleanup(func() {
		conn, err := dial(url, "vcdexttest-cleanup")
		if err != nil {
			t.Logf("cleanup: dial RabbitMQ: %v", err)
			return
		}
		defer conn.Close()
		// One channel per delete: an error closes the channel it happened on.
		if ch, err := conn.Channel(); err == nil {
			if _, err := ch.QueueDelete(routingKey, false, false, false); err != nil {
				t.Logf("cleanup: delete queue %s: %v", routingKey, err)
			}
		}
		if ch, err := conn.Channel(); err == nil {
			if err := ch.ExchangeDelete(exchange, false, false); err != nil {
				t.Logf("cleanup: delete exchange %s: %v", exchange, err)
			}
		}
	})
	return exchange, routingKey
}
