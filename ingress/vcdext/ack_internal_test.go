package vcdext

import (
	"math/rand/v2"
	"testing"
	"time"
)

// modelBroker keeps a channel's unacked deliveries as RabbitMQ does and fails the test on
// what RabbitMQ would answer with 406 "unknown delivery tag", or on an ack or reject that
// settles a delivery other than as its worker asked.
type modelBroker struct {
	t       *testing.T
	unacked map[uint64]bool
	asked   map[uint64]ackState // what each delivery's worker asked for; absent: still open
	settled map[uint64]ackState
	frames  int
}

func newModelBroker(t *testing.T) *modelBroker {
	return &modelBroker{t: t, unacked: map[uint64]bool{}, asked: map[uint64]ackState{}, settled: map[uint64]ackState{}}
}

func (b *modelBroker) Ack(tag uint64, multiple bool) error {
	b.frames++
	if !b.unacked[tag] {
		b.t.Fatalf("Ack(%d, %v): unknown delivery tag", tag, multiple)
	}
	for t := range b.unacked {
		if t == tag || multiple && t < tag {
			if b.asked[t] != ackAcked {
				b.t.Fatalf("Ack(%d, %v) settles %d, whose worker asked for %v", tag, multiple, t, b.asked[t])
			}
			delete(b.unacked, t)
			b.settled[t] = ackAcked
		}
	}
	return nil
}

func (b *modelBroker) Reject(tag uint64, requeue bool) error {
	b.frames++
	if !b.unacked[tag] {
		b.t.Fatalf("Reject(%d): unknown delivery tag", tag)
	}
	if b.asked[tag] != ackRejected || requeue {
		b.t.Fatalf("Reject(%d, %v), whose worker asked for %v", tag, requeue, b.asked[tag])
	}
	delete(b.unacked, tag)
	b.settled[tag] = ackRejected
	return nil
}

// TestAckerBatchesSafely drives the acker's rounds with workers finishing in random order,
// some rejecting, some never finishing (left for redelivery), at random times.
func TestAckerBatchesSafely(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		b := newModelBroker(t)
		var a acks
		var r ackRound
		now := time.Unix(0, 0)
		var pending []*pendingAck // tracked, not yet finished by their worker
		answers := map[uint64]int{}
		round := func() time.Duration {
			wait := r.collect(&a, now)
			r.send(b)
			return wait
		}
		drain := func(ps []*pendingAck) {
			for _, p := range ps {
				select {
				case err := <-p.res:
					if err != nil {
						t.Fatal(err)
					}
					answers[p.tag]++
				default:
				}
			}
		}
		var all []*pendingAck
		next := uint64(1)
		n := 20 + rng.IntN(200)
		for step := 0; next <= uint64(n) || len(pending) > 0; step++ {
			switch k := rng.IntN(10); {
			case k < 4 && next <= uint64(n): // a delivery arrives
				p := a.track(next)
				b.unacked[next] = true
				pending = append(pending, p)
				all = append(all, p)
				next++
			case k < 8 && len(pending) > 0: // a worker finishes
				i := rng.IntN(len(pending))
				p := pending[i]
				pending = append(pending[:i], pending[i+1:]...)
				how := ackAcked
				switch rng.IntN(20) {
				case 0:
					how = ackRejected
				case 1:
					continue // left for redelivery: never settled
				}
				b.asked[p.tag] = how
				a.mu.Lock()
				p.state = how
				a.mu.Unlock()
			default: // the acker runs a round, some time later
				now = now.Add(time.Duration(rng.IntN(300)) * time.Microsecond)
				round()
				drain(all)
			}
		}
		// Everything finished: rounds until nothing waits.
		for range 10 {
			now = now.Add(ackDelay)
			if round() == 0 {
				break
			}
		}
		drain(all)
		for _, p := range all {
			asked, finished := b.asked[p.tag]
			switch {
			case !finished && (!b.unacked[p.tag] || answers[p.tag] != 0):
				t.Fatalf("seed %d: open delivery %d was settled", seed, p.tag)
			case finished && b.settled[p.tag] != asked:
				t.Fatalf("seed %d: delivery %d settled as %v, asked %v", seed, p.tag, b.settled[p.tag], asked)
			case finished && answers[p.tag] != 1:
				t.Fatalf("seed %d: delivery %d answered %d times", seed, p.tag, answers[p.tag])
			}
		}
		if seed == 0 {
			t.Logf("%d deliveries, %d frames", n, b.frames)
		}
	}
}

// TestAckerDefersAboveOpen pins the batching: an ack above an open delivery waits up to
// ackDelay for it, and goes in one multiple ack if it comes in time.
func TestAckerDefersAboveOpen(t *testing.T) {
	b := newModelBroker(t)
	var a acks
	var r ackRound
	now := time.Unix(0, 0)
	var ps []*pendingAck
	for tag := uint64(1); tag <= 4; tag++ {
		ps = append(ps, a.track(tag))
		b.unacked[tag] = true
	}
	finish := func(p *pendingAck, how ackState) {
		b.asked[p.tag] = how
		p.state = how
	}
	finish(ps[1], ackAcked)
	finish(ps[2], ackAcked)
	if wait := r.collect(&a, now); wait != ackDelay {
		t.Errorf("wait = %v, want %v", wait, ackDelay)
	}
	r.send(b)
	if b.frames != 0 {
		t.Fatalf("%d frames sent while 1 is open and 2, 3 are young", b.frames)
	}
	now = now.Add(ackDelay / 2)
	finish(ps[0], ackAcked)
	if wait := r.collect(&a, now); wait != 0 {
		t.Errorf("wait = %v, want 0", wait)
	}
	r.send(b)
	if b.frames != 1 || len(b.unacked) != 1 || !b.unacked[4] {
		t.Fatalf("frames %d, unacked %v; want one multiple ack of 1-3", b.frames, b.unacked)
	}
	// 4 stays open. A reject above it goes at once; an ack above it waits ackDelay, then
	// goes alone.
	ps = append(ps, a.track(5), a.track(6))
	b.unacked[5], b.unacked[6] = true, true
	finish(ps[5], ackRejected)
	r.collect(&a, now)
	r.send(b)
	if b.settled[6] != ackRejected || b.frames != 2 {
		t.Fatalf("reject above an open delivery: settled %v after %d frames", b.settled, b.frames)
	}
	finish(ps[4], ackAcked)
	if wait := r.collect(&a, now); wait != ackDelay {
		t.Errorf("wait = %v, want %v", wait, ackDelay)
	}
	r.send(b)
	if b.settled[5] != 0 {
		t.Fatal("5 sent before its delay")
	}
	now = now.Add(ackDelay)
	r.collect(&a, now)
	r.send(b)
	if b.settled[5] != ackAcked || b.frames != 3 || !b.unacked[4] {
		t.Fatalf("after the delay: settled %v, unacked %v, %d frames", b.settled, b.unacked, b.frames)
	}
	// When 4 finishes, the front passes the settled 5 and 6 and acks 4 alone.
	finish(ps[3], ackAcked)
	r.collect(&a, now)
	r.send(b)
	if len(b.unacked) != 0 || b.frames != 4 || len(a.q) != 0 {
		t.Fatalf("unacked %v, queue %d, %d frames; want all settled in 4 frames", b.unacked, len(a.q), b.frames)
	}
}
