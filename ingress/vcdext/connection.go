package vcdext

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// generation is one pair of connections and everything that depends on them. Its acks never
// outlive it: each Delivery's Acknowledger is this generation's channel.
type generation struct {
	c   *Consumer
	id  uint64
	log *slog.Logger
	tag string // consumer tag, shown in the management UI

	mu      sync.Mutex
	socks   map[string]net.Conn // raw sockets by role, closed to abandon a hung connection
	aborted bool

	// Set by setup, then read-only.
	consConn, pubConn *amqp.Connection
	consCh, pubCh     *amqp.Channel
	deliveries        <-chan amqp.Delivery

	// Notification chans: buffered, and all drained (by loop, workers, watchBlocked).
	consConnClosed, pubConnClosed chan *amqp.Error
	consChClosed, pubChClosed     chan *amqp.Error
	cancelled                     chan string
	returns                       chan amqp.Return
	blocked                       chan amqp.Blocking

	idle chan work   // workers between deliveries wait here for the next
	acks acks        // settled deliveries, for the acker, which owns consCh after setup
	ctl  chan ackReq // other requests for the acker (basic.cancel)
	pubs chan pubReq // to the publisher, which owns pubCh
	seq  atomic.Uint64

	// Reply exchanges known to exist, added by the publisher, read by workers so that a
	// known one costs no trip to the publisher.
	knownMu sync.RWMutex
	known   map[string]struct{}

	// retMu guards reading g.returns and the returned map; see wasReturned.
	retMu    sync.Mutex
	returned map[string]bool // tokens of returned replies not yet asked about

	ackerDone chan struct{} // closed when the acker has exited

	done     chan struct{} // closed at teardown: owners exit, stragglers give up
	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	workers sync.WaitGroup
	owners  sync.WaitGroup
}

func newGeneration(c *Consumer, id uint64) *generation {
	return &generation{
		c:              c,
		id:             id,
		log:            c.log.With("generation", id),
		tag:            fmt.Sprintf("%s-%d-%08x", c.cfg.ConnectionName, id, rand.Uint32()),
		socks:          map[string]net.Conn{},
		consConnClosed: make(chan *amqp.Error, 1),
		pubConnClosed:  make(chan *amqp.Error, 1),
		consChClosed:   make(chan *amqp.Error, 1),
		pubChClosed:    make(chan *amqp.Error, 1),
		cancelled:      make(chan string, 1),
		// Each return is matched to a reply that a worker is waiting on, so Workers bounds
		// the backlog (see wasReturned).
		returns:   make(chan amqp.Return, c.cfg.Workers+1),
		blocked:   make(chan amqp.Blocking, 4),
		idle:      make(chan work),
		acks:      acks{wake: make(chan struct{}, 1)},
		ctl:       make(chan ackReq),
		pubs:      make(chan pubReq),
		known:     map[string]struct{}{},
		returned:  map[string]bool{},
		ackerDone: make(chan struct{}),
		done:      make(chan struct{}),
		failed:    make(chan struct{}),
	}
}

// runGeneration connects, consumes until something breaks or ctx ends, and tears down.
// consumed reports whether it got as far as consuming.
func (c *Consumer) runGeneration(ctx context.Context, id uint64) (consumed bool, err error) {
	g := newGeneration(c, id)
	setupErr := make(chan error, 1)
	go func() { setupErr <- g.setup() }()
	timer := time.NewTimer(setupTimeout)
	defer timer.Stop()
	select {
	case err := <-setupErr:
		if err != nil {
			g.closeConns()
			return false, err
		}
	case <-ctx.Done():
		g.abandon(setupErr)
		return false, ctx.Err()
	case <-timer.C:
		g.abandon(setupErr)
		return false, fmt.Errorf("connect and declare: no answer within %v", setupTimeout)
	}

	g.owners.Add(3)
	go g.acker()
	go g.publisher()
	go g.watchBlocked()
	c.setCurrent(g)
	g.log.Info("consuming VCD extension requests", "queue", c.cfg.Queue, "consumer_tag", g.tag)

	err = g.loop(ctx)
	c.setCurrent(nil)
	g.teardown(ctx.Err() != nil)
	return true, err
}

func (g *generation) dial(role string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(g.c.cfg.ConnectionName + "-" + role)
	tlsCfg, err := g.c.cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	conn, err := amqp.DialConfig(g.c.cfg.URL, amqp.Config{
		Heartbeat:       heartbeat,
		Properties:      props,
		TLSClientConfig: tlsCfg,
		Dial: func(network, addr string) (net.Conn, error) {
			conn, err := amqp.DefaultDial(dialTimeout)(network, addr)
			if err != nil {
				return nil, err
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.aborted {
				conn.Close()
				return nil, errGenerationClosed
			}
			g.socks[role] = conn
			return conn, nil
		},
	})
	if err != nil {
		return nil, g.c.cfg.explain(err)
	}
	return conn, nil
}

// setup dials both connections and declares the topology, as [Declare] does.
func (g *generation) setup() error {
	cfg := g.c.cfg
	var err error
	if g.consConn, err = g.dial("consume"); err != nil {
		return fmt.Errorf("dial consuming connection: %w", err)
	}
	g.consConn.NotifyClose(g.consConnClosed)
	if g.pubConn, err = g.dial("publish"); err != nil {
		return fmt.Errorf("dial publishing connection: %w", err)
	}
	g.pubConn.NotifyClose(g.pubConnClosed)
	g.pubConn.NotifyBlocked(g.blocked)

	if g.consCh, err = g.consConn.Channel(); err != nil {
		return fmt.Errorf("open consuming channel: %w", err)
	}
	g.consCh.NotifyClose(g.consChClosed)
	g.consCh.NotifyCancel(g.cancelled)
	if _, err := declare(g.consCh, cfg); err != nil {
		return err
	}
	if err := g.consCh.Qos(cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}

	if g.pubCh, err = g.pubConn.Channel(); err != nil {
		return fmt.Errorf("open publishing channel: %w", err)
	}
	g.pubCh.NotifyClose(g.pubChClosed)
	g.pubCh.NotifyReturn(g.returns)
	if err := g.pubCh.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// Consume last, so that no delivery arrives before replies can be sent.
	if g.deliveries, err = g.consCh.Consume(cfg.Queue, g.tag, false, false, false, false, nil); err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Queue, err)
	}
	return nil
}

// abort closes the raw sockets, which fails any call blocked on them.
func (g *generation) abort() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.aborted = true
	for _, s := range g.socks {
		s.Close()
	}
}

// abandon gives up on a setup that is stuck or no longer wanted, without waiting for it.
func (g *generation) abandon(setupErr <-chan error) {
	g.abort()
	go func() {
		<-setupErr
		g.closeConns()
	}()
}

// closeConns closes both connections; it must run after setup has returned.
func (g *generation) closeConns() {
	for _, conn := range []*amqp.Connection{g.consConn, g.pubConn} {
		if conn != nil {
			_ = conn.CloseDeadline(time.Now().Add(closeWait))
		}
	}
	g.abort()
}

// fail ends the generation from a worker: the loop returns err and the connections close,
// so the broker requeues everything unacked.
func (g *generation) fail(err error) {
	g.failOnce.Do(func() {
		g.failErr = err
		close(g.failed)
	})
}

// loop hands deliveries to workers until the generation breaks (returns why) or ctx ends
// (returns nil). It takes a delivery only when a worker slot is free, so a slow handler
// holds back the prefetched messages in the broker's accounting rather than in memory here.
func (g *generation) loop(ctx context.Context) error {
	c := g.c
	slots := c.slots
	var deliveries <-chan amqp.Delivery
	held := false
	nworkers := 0 // worker goroutines started; they leave when g.done is closed
	defer func() {
		if held {
			<-c.slots
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case slots <- struct{}{}:
			held, slots, deliveries = true, nil, g.deliveries
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("deliveries closed")
			}
			held, slots, deliveries = false, c.slots, nil
			w := work{d: d, p: g.acks.track(d.DeliveryTag)}
			g.workers.Add(1)
			select {
			case g.idle <- w:
			default:
				if nworkers < c.cfg.Workers {
					nworkers++
					go g.worker(ctx, w)
				} else {
					// All are running: we hold a slot, so at least one has given its slot
					// back and is about to wait on idle.
					g.idle <- w
				}
			}
		case e := <-g.consConnClosed:
			return closeErr("consuming connection", e)
		case e := <-g.pubConnClosed:
			return closeErr("publishing connection", e)
		case e := <-g.consChClosed:
			return closeErr("consuming channel", e)
		case e := <-g.pubChClosed:
			return closeErr("publishing channel", e)
		case tag, ok := <-g.cancelled:
			if !ok {
				return errors.New("consuming channel closed")
			}
			return fmt.Errorf("broker cancelled consumer %s (queue deleted?)", tag)
		case <-g.failed:
			return g.failErr
		}
	}
}

func closeErr(what string, e *amqp.Error) error {
	if e == nil {
		// A nil receive is a closed chan: a graceful close, not "no error" (amqp091-go #263).
		return fmt.Errorf("%s closed", what)
	}
	return fmt.Errorf("%s closed: %w", what, e)
}

// teardown ends the generation. On shutdown (graceful) it first stops intake and gives
// in-flight requests time to be answered and acked; otherwise in-flight work finishes on its
// own and its acks are dropped.
func (g *generation) teardown(graceful bool) {
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
		if err := g.ackerCall(ctx, ackReq{op: opCancel}); err != nil {
			g.log.Warn("cancel consumer", "err", err)
		}
		cancel()
		wait := g.c.cfg.HandlerTimeout + g.c.cfg.PublishTimeout + time.Second
		if !waitTimeout(&g.workers, wait) {
			g.log.Warn("in-flight requests still running at shutdown; the broker will redeliver them", "waited", wait)
		}
	}
	close(g.done)
	g.closeConns()
	g.owners.Wait()
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// watchBlocked logs resource alarms: while blocked, replies cannot be published, so
// requests pile up unacked until the alarm clears or PublishTimeout restarts the connection.
func (g *generation) watchBlocked() {
	defer g.owners.Done()
	for {
		select {
		case <-g.done:
			return
		case b, ok := <-g.blocked:
			switch {
			case !ok:
				return
			case b.Active:
				g.log.Warn("RabbitMQ blocked the publishing connection", "reason", b.Reason)
			default:
				g.log.Info("RabbitMQ unblocked the publishing connection")
			}
		}
	}
}

// dropConsumingConnection closes the socket under the current consuming connection, as a
// network failure would. Tests use it; it reports whether there was a connection to drop.
func (c *Consumer) dropConsumingConnection() bool {
	c.mu.Lock()
	g := c.cur
	c.mu.Unlock()
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.socks["consume"]
	if ok {
		s.Close()
	}
	return ok
}
