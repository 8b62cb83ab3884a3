package kaasd_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// TestInstallDeclaresQueue: `kaasd install` on a broker that never saw kaas declares the
// queue kaasd reads, so a call VCD relays before kaasd first starts waits in it instead of
// being dropped as unroutable (make run's first-run failure, issue 10), and kaasd answers it
// once it starts. Installing again changes nothing and keeps the waiting call.
func TestInstallDeclaresQueue(t *testing.T) {
	simCfg := kaasdtest.FastSim()
	// VCD holds the tenant's call until kaasd answers: long enough for kaasd to start.
	simCfg.ExtensionTimeout = vcdsim.Duration(25 * time.Second)
	sys := kaasdtest.StartSim(t, simCfg)
	cfg := sys.Config
	amqpURL, exchange, key := cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey

	if n, ok := queueMessages(t, amqpURL, key); ok {
		t.Fatalf("queue %s exists before install, with %d messages", key, n)
	}
	// What `kaasd install` does.
	install := func() (vcdext.Topology, kaasd.Installed) {
		t.Helper()
		q, err := kaasd.DeclareQueue(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := kaasd.Install(t.Context(), cfg.VCDConfig(nil), kaasd.DefaultExtension(cfg.AMQPExchange, cfg.AMQPRoutingKey))
		if err != nil {
			t.Fatal(err)
		}
		return q, res
	}
	q, res := install()
	want := vcdext.Topology{Exchange: exchange, Queue: key, RoutingKey: key}
	if q != want || !res.Created {
		t.Fatalf("first install: queue %+v, want %+v; extension %+v", q, want, res)
	}

	// A tenant's call while no kaasd runs.
	token := sys.Login(t, "alice@acme", "alice-pass")
	type answer struct {
		code int
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, sys.URL+"/api/cse/3.0/clusters", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json;version=36.0")
		resp, err := sys.HTTP.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{code: resp.StatusCode, body: string(b)}
	}()
	notAnswered := func(when string) {
		t.Helper()
		select {
		case a := <-answered:
			t.Fatalf("%s, the call was answered with no kaasd running: %d %s %v", when, a.code, a.body, a.err)
		default:
		}
	}
	kaasdtest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n, ok := queueMessages(t, amqpURL, key); n != 1 {
			notAnswered("before it reached the queue")
			return fmt.Errorf("the call does not wait in the queue: %d messages (queue exists: %t)", n, ok)
		}
		return nil
	})

	// Installing again changes nothing and leaves the call waiting.
	q, res = install()
	want.QueueExisted, want.Messages = true, 1
	if q != want || res.Created || res.Updated || len(res.FiltersAdded) != 0 || len(res.FiltersPresent) != 2 {
		t.Fatalf("second install: queue %+v, want %+v; extension %+v", q, want, res)
	}
	if n, _ := queueMessages(t, amqpURL, key); n != 1 {
		t.Fatalf("after the second install the queue holds %d messages, want 1", n)
	}
	notAnswered("after the second install")

	// kaasd starts, consumes the call and answers it through VCD.
	srv, err := kaasd.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	select {
	case a := <-answered:
		if a.err != nil || a.code != http.StatusOK || strings.TrimSpace(a.body) != "[]" {
			t.Fatalf("the waiting call was answered %d %q %v, want 200 and alice's clusters (none)", a.code, a.body, a.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("kaasd started but the waiting call was never answered")
	}
	kaasdtest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n, _ := queueMessages(t, amqpURL, key); n != 0 {
			return fmt.Errorf("the answered call is still in the queue (%d messages)", n)
		}
		return nil
	})
}

// TestInstallRefusesCSEQueue: a queue of kaasd's name declared as CSE declared it (not
// durable) cannot be redeclared durable; install fails and says how to fix it.
func TestInstallRefusesCSEQueue(t *testing.T) {
	amqpURL := vcdexttest.RequireBroker(t)
	exchange, key := vcdexttest.UniqueNames(t)
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(key, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	cfg := kaasd.Defaults()
	cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = amqpURL, exchange, key
	_, err = kaasd.DeclareQueue(t.Context(), cfg)
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed || !strings.Contains(err.Error(), "rabbitmqctl delete_queue "+key) {
		t.Fatalf("DeclareQueue over a non-durable queue = %v, want PRECONDITION_FAILED and how to fix it", err)
	}
}

// queueMessages reports how many messages wait in the queue, and whether it exists, by a
// passive declare on a connection of its own.
func queueMessages(t *testing.T, url, queue string) (int, bool) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	var ae *amqp.Error
	switch {
	case err == nil:
		return q.Messages, true
	case errors.As(err, &ae) && ae.Code == amqp.NotFound:
		return 0, false
	}
	t.Fatalf("look at queue %s: %v", queue, err)
	return 0, false
}
