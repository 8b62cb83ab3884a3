package vcdexttest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
)

// RequireBroker dials [AMQPURL] once and returns it. If RabbitMQ cannot be reached it fails
// the test, never skips it: a silently skipped integration test is a test nobody runs.
func RequireBroker(t testing.TB) string {
	t.Helper()
	url := AMQPURL()
	conn, err := vcdextclient.Dial(url, "vcdexttest-probe")
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
func UniqueNames(t testing.TB) (exchange, routingKey string) {
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
		conn, err := vcdextclient.Dial(url, "vcdexttest-cleanup")
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
