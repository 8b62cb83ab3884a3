package jsstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// maxAckPending bounds the commands a consumer has out at once, across its holders: enough
// for every waiting operation of a large provider, each redelivered on purpose.
const maxAckPending = 20000

// ConsumeCommands binds the durable pull consumer cfg.Name on every cluster's commands
// (creating or updating it) and returns this holder's deliveries. MaxDeliver is unlimited
// because a waiting operation is redelivered on purpose (NakWithDelay) many times; the
// executor bounds retries itself, per step.
func (s *Store) ConsumeCommands(ctx context.Context, cfg store.ConsumerConfig) (store.Deliveries, error) {
	if cfg.Name == "" || cfg.AckWait <= 0 {
		return nil, errors.New("consume commands: a name and an ack wait are required")
	}
	cons, err := s.js.CreateOrUpdateConsumer(ctx, events.CommandStream, jetstream.ConsumerConfig{
		Durable:       cfg.Name,
		Description:   cfg.Description,
		FilterSubject: events.CommandSubjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("consume commands: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(max(1, cfg.Prefetch)), jetstream.PullHeartbeat(heartbeat))
	if err != nil {
		return nil, fmt.Errorf("consume commands: %w", err)
	}
	return deliveries{it}, nil
}

type deliveries struct{ it jetstream.MessagesContext }

// heartbeat is how often the server tells a waiting holder that its pull request is alive.
// Two missed heartbeats make nats.go ask again (a durable consumer) or recreate the consumer
// on a node that runs (a follow's ordered consumer): on a cluster, the node serving a
// consumer may stop, and with the default (5 s) the views stood still for 10 s.
// The iterator asks the server for more only when a Next call begins (or a message or a
// heartbeat comes in), and does not ask while it is still sending its previous pull
// request: when the server answers that request first, no request is left, no heartbeat
// comes, and a Next already waiting waits until two heartbeats are missed (nats.go v1.55.0,
// jetstream/pull.go: checkPending skips while fetchInProgress). Short heartbeats bound that
// wait; the default (15 s) left a command waiting 30 s.
const heartbeat = time.Second

func (d deliveries) Next() (store.Delivery, error) {
	for {
		m, err := d.it.Next()
		switch {
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			// The iterator has forgotten its lost pull request: the next call asks anew.
			continue
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return nil, store.ErrStopped
		case err != nil:
			return nil, err
		}
		return delivery{m}, nil
	}
}

func (d deliveries) Stop() { d.it.Stop() }

type delivery struct{ m jetstream.Msg }

func (d delivery) Seq() uint64 {
	md, err := d.m.Metadata()
	if err != nil {
		return 0
	}
	return md.Sequence.Stream
}

func (d delivery) Subject() string                       { return d.m.Subject() }
func (d delivery) Data() []byte                          { return d.m.Data() }
func (d delivery) Ack(ctx context.Context) error         { return d.m.DoubleAck(ctx) }
func (d delivery) Nak() error                            { return d.m.Nak() }
func (d delivery) NakWithDelay(wait time.Duration) error { return d.m.NakWithDelay(wait) }
func (d delivery) InProgress() error                     { return d.m.InProgress() }
func (d delivery) Term(reason string) error              { return d.m.TermWithReason(reason) }

// CommandEnd returns the command stream's last sequence: one call to the server, for what
// runs on every read (the ingress's wait for other instances' commands).
func (s *Store) CommandEnd(ctx context.Context) (uint64, error) {
	ci, err := s.cmds.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.CommandStream, err)
	}
	return ci.State.LastSeq, nil
}

// Ends returns the streams' last sequences and the last event's time.
func (s *Store) Ends(ctx context.Context) (store.Ends, error) {
	ci, err := s.cmds.Info(ctx)
	if err != nil {
		return store.Ends{}, fmt.Errorf("stream %s: %w", events.CommandStream, err)
	}
	ei, err := s.evts.Info(ctx)
	if err != nil {
		return store.Ends{}, fmt.Errorf("stream %s: %w", events.EventStream, err)
	}
	e := store.Ends{Commands: ci.State.LastSeq, Events: ei.State.LastSeq}
	if e.Events > 0 {
		e.EventTime = ei.State.LastTime
	}
	return e, nil
}

// Follow calls fn with every record of stream (events.CommandStream or events.EventStream)
// from sequence from on, in order and from one goroutine, as they are stored, until stop is
// called; stop returns once fn is no longer running. It reads with an ordered consumer, the
// cheapest way to read many records in order (jetstream.md §1.11).
func (s *Store) Follow(ctx context.Context, stream string, from uint64, fn func(store.Raw)) (stop func(), err error) {
	if stream != events.CommandStream && stream != events.EventStream {
		return nil, fmt.Errorf("follow: no stream %q", stream)
	}
	cons, err := s.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: max(1, from)})
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", stream, err)
	}
	// running is held while fn runs, and stopped is set under it: once stop has set it, fn
	// has returned and is not called again. Closed alone does not promise that: it can
	// close while the handler still runs (nats.go v1.55.0: a pull subscription counts as
	// closed once unsubscribed, before its delivery goroutine is done).
	var (
		running sync.Mutex
		stopped bool
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return // an ordered consumer's messages always carry it
		}
		running.Lock()
		defer running.Unlock()
		if !stopped {
			fn(store.Raw{Seq: md.Sequence.Stream, Time: md.Timestamp, Data: m.Data()})
		}
	}, jetstream.PullHeartbeat(heartbeat)) // on a cluster, the node serving the consumer can stop: two missed heartbeats tell
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", stream, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cc.Stop()
			running.Lock()
			stopped = true
			running.Unlock()
			<-cc.Closed()
		})
	}, nil
}
