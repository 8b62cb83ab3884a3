package vcdext

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// ackState is where a delivery is on its way to being settled.
type ackState uint8

const (
	ackOpen     ackState = iota // being handled, or left for redelivery
	ackAcked                    // to be acked
	ackRejected                 // to be rejected without requeue
	ackSent                     // acked or rejected on its own, above an open delivery
)

// pendingAck is one delivery of the generation, from its arrival until it is settled.
type pendingAck struct {
	tag   uint64
	state ackState   // guarded by acks.mu
	res   chan error // the acker's answer: the ack or reject was sent, or why not
	since time.Time  // when the acker first saw it acked above an open delivery; acker's
}

// acks are the generation's deliveries in delivery-tag order, from the loop's receipt of
// each to its settlement. Workers mark theirs acked or rejected and wake the acker, which
// settles them in batches: everything below the lowest open delivery with one
// Ack(tag, multiple=true), anything above it one by one. Tags are those of the
// generation's consuming channel, which the acker alone uses, and only deliveries it
// received, in order, are ever in the queue; so a multiple ack covers nothing but
// deliveries that are all finished and answered.
type acks struct {
	mu   sync.Mutex
	q    []*pendingAck // ascending tags; settled entries leave from the front
	wake chan struct{} // cap 1: something was marked
}

// track records a delivery the loop received. Deliveries arrive in tag order.
func (a *acks) track(tag uint64) *pendingAck {
	p := &pendingAck{tag: tag, res: make(chan error, 1)}
	a.mu.Lock()
	a.q = append(a.q, p)
	a.mu.Unlock()
	return p
}

// settle hands the delivery of p to the acker to be acked or rejected, waits until the
// acker has sent it, and records the outcome. An ack that cannot be sent (the generation is
// gone) is dropped: the broker has requeued the message already.
func (g *generation) settle(p *pendingAck, how ackState, log *msgLog, start time.Time, outcome string) {
	if err := g.finish(p, how); err != nil {
		log.log(slog.LevelWarn, "ack dropped; the broker will redeliver", "err", err)
		outcome = outcomeError
	}
	g.c.cfg.Metrics.outcome(outcome, time.Since(start))
	if log.enabled(slog.LevelDebug) {
		log.log(slog.LevelDebug, "VCD message settled", "outcome", outcome, "duration", time.Since(start))
	}
}

// finish marks p to be acked or rejected and waits until the acker has sent it, or has
// exited without sending it.
func (g *generation) finish(p *pendingAck, how ackState) error {
	g.acks.mu.Lock()
	p.state = how
	g.acks.mu.Unlock()
	select {
	case g.acks.wake <- struct{}{}:
	default: // a wake-up is pending already; the acker will see p
	}
	select {
	case err := <-p.res:
		return err
	case <-g.ackerDone:
		select {
		case err := <-p.res: // sent just before the acker exited
			return err
		default:
			return errGenerationClosed
		}
	}
}

type ackOp int

const (
	opCancel ackOp = iota
)

type ackReq struct {
	op  ackOp
	res chan error
}

// ackerCall asks the acker to do something other than settling deliveries.
func (g *generation) ackerCall(ctx context.Context, r ackReq) error {
	r.res = make(chan error, 1)
	select {
	case g.ctl <- r:
	case <-g.done:
		return errGenerationClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acker owns the consuming channel after setup, as amqp091-go asks: one goroutine per
// channel. Acking multiple from the one ordered acker, and only below the lowest delivery
// still open, is the safe way to do it (amqp.md B.3); from concurrent workers it would ack
// messages others are still handling.
func (g *generation) acker() {
	defer g.owners.Done()
	defer close(g.ackerDone)
	var r ackRound // scratch space, reused
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-g.done:
			return
		case req := <-g.ctl:
			switch req.op {
			case opCancel:
				req.res <- g.consCh.Cancel(g.tag, false)
			}
			continue
		case <-g.acks.wake:
		case <-timer.C:
		}
		wait := r.collect(&g.acks, time.Now())
		r.send(g.consCh)
		if wait > 0 {
			timer.Reset(wait)
		}
	}
}

// ackDelay is how long an ack above an open delivery waits for the deliveries below it to
// finish, so that one multiple ack can take them all, before it is sent on its own. At 64
// in flight it halves the ack frames, which cost the broker as much as us. Longer saves
// little more and holds a slot of the prefetch window longer.
const ackDelay = 500 * time.Microsecond

// ackRound is what one round of the acker sends.
type ackRound struct {
	front   []*pendingAck // acked, below the lowest open delivery: one multiple ack
	singles []ackSingle   // the rest, each on its own
}

type ackSingle struct {
	p      *pendingAck
	reject bool
}

// collect takes what workers have marked since the last round and is due, and returns
// how long until the next deferred ack is due, or 0 if none is waiting.
func (r *ackRound) collect(a *acks, now time.Time) (wait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// The settled front: everything below the lowest open delivery. It leaves the queue.
	n := 0
	for ; n < len(a.q) && a.q[n].state != ackOpen; n++ {
		switch p := a.q[n]; p.state {
		case ackAcked:
			r.front = append(r.front, p)
		case ackRejected: // a rejected tag must not end a multiple ack; it goes first, alone
			r.singles = append(r.singles, ackSingle{p: p, reject: true})
		}
	}
	// Above it, marked entries go on their own and stay, as sent, until the front reaches
	// them: a later multiple ack may cover them harmlessly, but must not end on them. An
	// ack waits up to ackDelay for the front to reach it first; a reject has no reason to.
	for _, p := range a.q[n:] {
		switch p.state {
		case ackAcked:
			if p.since.IsZero() {
				p.since = now
			}
			if left := ackDelay - now.Sub(p.since); left > 0 {
				if wait == 0 || left < wait {
					wait = left
				}
				continue
			}
		case ackRejected:
		default:
			continue
		}
		r.singles = append(r.singles, ackSingle{p: p, reject: p.state == ackRejected})
		p.state = ackSent
	}
	rest := copy(a.q, a.q[n:])
	clear(a.q[rest:])
	a.q = a.q[:rest]
	return wait
}

// ackSender is what the acker uses of the consuming *amqp.Channel.
type ackSender interface {
	Ack(tag uint64, multiple bool) error
	Reject(tag uint64, requeue bool) error
}

// send sends the round on ch and tells each worker how it went. The singles go first, so
// that a reject in the front precedes the multiple ack that passes over it.
func (r *ackRound) send(ch ackSender) {
	for _, s := range r.singles {
		var err error
		if s.reject {
			// No requeue: a provider's dead-letter policy can catch it; requeueing would spin.
			err = ch.Reject(s.p.tag, false)
		} else {
			err = ch.Ack(s.p.tag, false)
		}
		s.p.res <- err
	}
	if n := len(r.front); n > 0 {
		err := ch.Ack(r.front[n-1].tag, n > 1)
		for _, p := range r.front {
			p.res <- err
		}
	}
	clear(r.front)
	clear(r.singles)
	r.front, r.singles = r.front[:0], r.singles[:0]
}
