package vcdext_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// TestAcksOutOfOrder has handlers finish in random order, with rejected messages mixed in,
// so that the acker's multiple acks and single acks interleave with open deliveries. A
// wrong multiple ack would show as a channel error (406, then a reconnect and
// redeliveries), an ack of an unfinished request as a lost message.
func TestAcksOutOfOrder(t *testing.T) {
	var calls atomic.Int32
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		w.WriteHeader(http.StatusAccepted)
	}), func(c *vcdext.Config) { c.Prefetch = 16 })
	ctx := ctxTimeout(t, 30*time.Second)
	const n, rejects = 400, 20
	var wg sync.WaitGroup
	errs := make(chan error, n+rejects)
	sc := `{"user":"urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11","org":"urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22","rights":[]}`
	for i := range n + rejects {
		wg.Go(func() {
			if i >= n { // no reply address: rejected
				body := fmt.Sprintf(`[{"id":"rej-%d","method":"GET","requestUri":"/x"},%s]`, i, sc)
				if _, err := hs.client.PublishRaw(ctx, []byte(body), vcdexttest.RawProps{OmitReplyTo: true}); err != nil {
					errs <- err
				}
				return
			}
			resp, err := hs.client.Do(ctx, vcdexttest.Req{Path: "/api/cse/system", RequestID: fmt.Sprintf("ooo-%d", i)})
			if err == nil && resp.StatusCode != http.StatusAccepted {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	eventually(t, 10*time.Second, func() error {
		if r, j := hs.count("replied"), hs.count("rejected"); r != n || j != rejects {
			return fmt.Errorf("%v replied and %v rejected, want %v and %v", r, j, n, rejects)
		}
		return nil
	})
	if r, e := hs.metrics.Reconnects(), hs.count("error"); r != 0 || e != 0 {
		t.Errorf("reconnects %v, error outcomes %v; want none", r, e)
	}
	if c := calls.Load(); c != n {
		t.Errorf("handler ran %d times for %d requests: redeliveries", c, n)
	}
	if u := hs.client.Unmatched(); u != 0 {
		t.Errorf("%d unmatched replies", u)
	}
	// Nothing is left unacked or ready: a passive declare counts ready messages, and after
	// stopping the consumer its unacked ones would be ready again.
	hs.stop()
	conn, err := amqp.Dial(hs.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(hs.routingKey, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 0 {
		t.Errorf("%d messages left in the queue after all were answered", q.Messages)
	}
}
