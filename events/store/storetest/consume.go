package storetest

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// consumeCases run durable consumers of the commands: the order they deliver in, what
// settles a delivery and what brings it back when, and a durable's state across holders.
var consumeCases = append([]testCase{
	{"consume_needs_a_name_and_an_ack_wait", func(h *harness) {
		for _, cfg := range []store.ConsumerConfig{{AckWait: time.Second}, {Name: "x"}, {Name: "x", AckWait: -time.Second}} {
			if d, err := h.s.ConsumeCommands(h.ctx, cfg); err == nil {
				d.Stop()
				h.Errorf("consumer %+v accepted", cfg)
			}
		}
	}},

	{"consume_in_order", func(h *harness) {
		for i := range 5 {
			h.appendCommand([]string{clusterA, clusterB}[i%2], i)
		}
		c := h.consume("executors", ackWait)
		c.expect(h.loadAll(events.CommandStream, clusterA, clusterB))
		// Commands stored later follow, in order.
		for i := range 3 {
			h.appendCommand(clusterC, i)
		}
		c.expect(h.loadAll(events.CommandStream, clusterC))
	}},

	{"each_durable_gets_every_command", func(h *harness) {
		for i := range 3 {
			h.appendCommand(clusterA, i)
		}
		want := h.loadAll(events.CommandStream, clusterA)
		h.consume("one", ackWait).expect(want)
		h.consume("two", ackWait).expect(want)
	}},

	// While a holder reports progress, its delivery stays its own past the ack wait; once it
	// stops reporting, the command comes again an ack wait after the last report.
	{"in_progress_holds_off_redelivery", func(h *harness) {
		a := ackWait
		h.appendCommand(clusterA, 1)
		c := h.consume("executors", a)
		d := c.next(h.patience(0))
		start := time.Now()
		tick := time.NewTicker(a / 5)
		defer tick.Stop()
		last := start
		for last.Sub(start) < 2*a {
			select {
			case x := <-c.ch:
				h.Fatalf("#%d delivered again %v after the first delivery, despite progress reports every %v", x.d.Seq(), x.at.Sub(start), a/5)
			case <-tick.C:
				if err := d.d.InProgress(); err != nil {
					h.Fatal(err)
				}
				last = time.Now()
			}
		}
		again := c.next(h.patience(a))
		h.took("delivered again after the last progress report", again.at.Sub(last), a)
		if again.d.Seq() != d.d.Seq() {
			h.Fatalf("delivered #%d, want #%d again", again.d.Seq(), d.d.Seq())
		}
	}},

	{"stop_ends_next", func(h *harness) {
		c := h.consume("executors", ackWait)
		// Next is waiting (there is nothing to deliver) when Stop comes.
		if err := c.stop(); !errors.Is(err, store.ErrStopped) {
			h.Fatalf("Next after Stop: %v, want ErrStopped", err)
		}
		h.appendCommand(clusterA, 1)
		got := make(chan error, 1)
		go func() {
			_, err := c.d.Next()
			got <- err
		}()
		select {
		case err := <-got:
			if !errors.Is(err, store.ErrStopped) {
				h.Fatalf("Next called after Stop: %v, want ErrStopped", err)
			}
		case <-time.After(h.patience(0)):
			h.Fatal("Next called after Stop waits")
		}
	}},

	// A holder acks the first command, leaves the second unacked and stops: another holder of
	// the same durable gets the second (once its ack wait is over) and the third, never the
	// first.
	{"durable_outlives_its_holder", func(h *harness) {
		a := ackWait
		for i := range 3 {
			h.appendCommand(clusterA, i)
		}
		cmds := h.loadAll(events.CommandStream, clusterA)
		first := h.consume("executors", a)
		d1 := first.next(h.patience(0))
		if d1.d.Seq() != cmds[0].Seq {
			h.Fatalf("first delivery #%d, want #%d", d1.d.Seq(), cmds[0].Seq)
		}
		if err := d1.d.Ack(h.ctx); err != nil {
			h.Fatal(err)
		}
		if d2 := first.next(h.patience(0)); d2.d.Seq() != cmds[1].Seq {
			h.Fatalf("second delivery #%d, want #%d", d2.d.Seq(), cmds[1].Seq)
		}
		if err := first.stop(); !errors.Is(err, store.ErrStopped) {
			h.Fatalf("stop: %v", err)
		}
		second := h.consume("executors", a)
		left := map[uint64]bool{cmds[1].Seq: true, cmds[2].Seq: true}
		for len(left) > 0 {
			d := second.next(h.patience(a))
			if d.d.Seq() == cmds[0].Seq {
				h.Fatalf("the acked #%d delivered to the next holder", d.d.Seq())
			}
			delete(left, d.d.Seq())
			if err := d.d.Ack(h.ctx); err != nil {
				h.Fatal(err)
			}
		}
		second.none(a / 2)
	}},
}, settleCases()...)

// settleCases answer a delivery and watch whether, and when, it comes again.
func settleCases() []testCase {
	tests := []struct {
		name string
		// wait is the consumer's ack wait, again when the delivery comes again (< 0: never),
		// both in ack waits.
		wait, again float64
		settle      func(h *harness, d store.Delivery) error
	}{
		{"ack_ends_deliveries", 1, -1, func(h *harness, d store.Delivery) error { return d.Ack(h.ctx) }},
		{"term_ends_deliveries", 1, -1, func(_ *harness, d store.Delivery) error { return d.Term("no such cluster") }},
		// A long ack wait, so that a nak that does nothing cannot pass for one that works.
		{"nak_delivers_again_at_once", 60, 0, func(_ *harness, d store.Delivery) error { return d.Nak() }},
		{"nak_with_delay_delivers_again_after_it", 1, 1.5, func(_ *harness, d store.Delivery) error {
			return d.NakWithDelay(ackWait * 3 / 2)
		}},
		{"nak_with_a_delay_shorter_than_the_ack_wait", 60, 0.5, func(_ *harness, d store.Delivery) error {
			return d.NakWithDelay(ackWait / 2)
		}},
		{"unanswered_delivery_comes_again_after_the_ack_wait", 1, 1, nil},
	}
	out := make([]testCase, 0, len(tests))
	for _, tt := range tests {
		out = append(out, testCase{tt.name, func(h *harness) {
			inAckWaits := func(f float64) time.Duration { return time.Duration(f * float64(ackWait)) }
			seq := h.appendCommand(clusterA, 1)
			c := h.consume("executors", inAckWaits(tt.wait))
			d := c.next(h.patience(0))
			if d.d.Seq() != seq {
				h.Fatalf("first delivery #%d, want #%d", d.d.Seq(), seq)
			}
			start := d.at
			if tt.settle != nil {
				start = time.Now()
				if err := tt.settle(h, d.d); err != nil {
					h.Fatal(err)
				}
			}
			if tt.again < 0 {
				c.none(inAckWaits(1.5))
				return
			}
			want := inAckWaits(tt.again)
			again := c.next(h.patience(want))
			h.took("delivered again", again.at.Sub(start), want)
			if again.d.Seq() != d.d.Seq() || again.d.Subject() != d.d.Subject() || !bytes.Equal(again.d.Data(), d.d.Data()) {
				h.Fatalf("delivered %s #%d, want %s #%d again", again.d.Subject(), again.d.Seq(), d.d.Subject(), d.d.Seq())
			}
			if err := again.d.Ack(h.ctx); err != nil {
				h.Fatal(err)
			}
			c.none(inAckWaits(0.5))
		}})
	}
	return out
}

// holder is one holder of a durable consumer, whose deliveries a goroutine takes as they
// come (Next has no context: waiting for one with a deadline takes a goroutine).
type holder struct {
	h    *harness
	d    store.Deliveries
	ch   chan arrival
	done chan error // what Next returned last, when it failed
	once sync.Once
	err  error
}

type arrival struct {
	d  store.Delivery
	at time.Time
}

func (h *harness) consume(name string, ackWait time.Duration) *holder {
	h.Helper()
	d, err := h.s.ConsumeCommands(h.ctx, store.ConsumerConfig{Name: name, Description: "storetest", AckWait: ackWait, Prefetch: 1})
	if err != nil {
		h.Fatalf("consume %s: %v", name, err)
	}
	c := &holder{h: h, d: d, ch: make(chan arrival, 100), done: make(chan error, 1)}
	go func() {
		for {
			dl, err := d.Next()
			if err != nil {
				c.done <- err
				return
			}
			c.ch <- arrival{dl, time.Now()}
		}
	}()
	h.Cleanup(func() { _ = c.stop() })
	return c
}

// stop stops the holder and returns what its Next returned then.
func (c *holder) stop() error {
	c.once.Do(func() {
		c.d.Stop()
		select {
		case c.err = <-c.done:
		case <-time.After(c.h.patience(0)):
			c.err = errors.New("Next still waits after Stop")
		}
	})
	return c.err
}

// next waits up to within for the next delivery.
func (c *holder) next(within time.Duration) arrival {
	c.h.Helper()
	select {
	case a := <-c.ch:
		return a
	case err := <-c.done:
		c.h.Fatalf("Next: %v", err)
	case <-time.After(within):
		c.h.Fatalf("no delivery within %v", within)
	}
	panic("unreachable")
}

// none checks that nothing is delivered within d.
func (c *holder) none(d time.Duration) {
	c.h.Helper()
	select {
	case a := <-c.ch:
		c.h.Errorf("%s #%d delivered, want nothing within %v", a.d.Subject(), a.d.Seq(), d)
	case <-time.After(d):
	}
}

// expect takes deliveries of want, in order, acking each.
func (c *holder) expect(want []store.Record) {
	c.h.Helper()
	for _, w := range want {
		a := c.next(c.h.patience(0))
		if a.d.Seq() != w.Seq || a.d.Subject() != w.Subject || !bytes.Equal(a.d.Data(), w.Raw) {
			c.h.Fatalf("delivered %s #%d, want %s #%d", a.d.Subject(), a.d.Seq(), w.Subject, w.Seq)
		}
		if err := a.d.Ack(c.h.ctx); err != nil {
			c.h.Fatal(err)
		}
	}
}
