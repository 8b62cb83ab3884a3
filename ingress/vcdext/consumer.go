package vcdext

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Fixed timings. They are not in Config because nobody has needed to tune them yet.
const (
	heartbeat    = 10 * time.Second // RabbitMQ proposes 60 s; the lower value wins
	dialTimeout  = 10 * time.Second // TCP connect plus AMQP handshake, per connection
	setupTimeout = 30 * time.Second // both dials plus declarations; some calls take no deadline (amqp091-go #225, #253)
	cancelWait   = 2 * time.Second  // basic.cancel on shutdown
	closeWait    = time.Second      // connection.close handshake
	// A generation that consumed for this long resets the backoff; one that dies sooner
	// (a flapping broker) keeps backing off.
	stableAfter = 10 * time.Second
)

// Message-type header values of VCD's protocol.
const (
	msgTypeRequest  = "ProcessHttpRequest"
	msgTypeResponse = "ProcessHttpResponse"
)

var errGenerationClosed = errors.New("connection generation closed")

// errNoReplyExchange means the broker refused the reply exchange: it does not exist, or we
// may not use it. The message cannot be answered, so it is rejected rather than retried.
var errNoReplyExchange = errors.New("reply exchange unusable")

// Consumer consumes VCD API-extension requests and answers them with an [http.Handler].
// Create it with [New] and call [Consumer.Run].
type Consumer struct {
	cfg   Config
	h     http.Handler
	log   *slog.Logger
	slots chan struct{} // one per running handler, shared by all generations

	running atomic.Bool

	mu      sync.Mutex
	cur     *generation // the consuming generation, nil while (re)connecting
	lastErr error
}

// New checks cfg and returns a consumer that serves h. It does not connect; [Consumer.Run]
// does.
func New(cfg Config, h http.Handler) (*Consumer, error) {
	if h == nil {
		return nil, errors.New("vcdext: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Consumer{cfg: cfg, h: h, log: cfg.Logger, slots: make(chan struct{}, cfg.Workers)}, nil
}

// Ready returns nil while the consumer is connected and consuming, for /readyz.
func (c *Consumer) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		return nil
	}
	if c.lastErr != nil {
		return fmt.Errorf("vcdext: not consuming: %w", c.lastErr)
	}
	return errors.New("vcdext: not consuming")
}

// Run connects, consumes and serves until ctx ends, reconnecting with exponential backoff and
// full jitter whenever RabbitMQ goes away. When ctx ends it stops consuming, lets in-flight
// requests finish and be answered (up to HandlerTimeout+PublishTimeout), and returns nil. Run
// must not be called again until it has returned.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("vcdext: Run is already running")
	}
	defer c.running.Store(false)
	c.log.Info("VCD extension consumer starting",
		"exchange", c.cfg.Exchange, "queue", c.cfg.Queue, "routing_key", c.cfg.RoutingKey)
	attempt := 0
	for gen := uint64(1); ; gen++ {
		if gen > 1 {
			c.cfg.Metrics.reconnect()
		}
		c.log.Info("connecting to RabbitMQ", "generation", gen, "attempt", attempt+1)
		start := time.Now()
		consumed, err := c.runGeneration(ctx, gen)
		if ctx.Err() != nil {
			c.log.Info("VCD extension consumer stopped", "generation", gen)
			return nil
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		if consumed && time.Since(start) >= stableAfter {
			attempt = 0
		}
		delay := backoff(attempt, c.cfg.ReconnectMin, c.cfg.ReconnectMax)
		attempt++
		msg := "cannot connect to RabbitMQ; retrying"
		if consumed {
			msg = "lost RabbitMQ connection; reconnecting"
		}
		c.log.Warn(msg, "generation", gen, "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			c.log.Info("VCD extension consumer stopped", "generation", gen)
			return nil
		case <-t.C:
		}
	}
}

// backoff returns a full-jitter delay in [0, min(max, base·2^attempt)].
func backoff(attempt int, base, max time.Duration) time.Duration {
	d := min(base, max)
	for range attempt {
		if d > max/2 { // doubling would pass max, or overflow
			d = max
			break
		}
		d *= 2
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

func (c *Consumer) setCurrent(g *generation) {
	c.mu.Lock()
	c.cur = g
	if g != nil {
		c.lastErr = nil
	}
	c.mu.Unlock()
	c.cfg.Metrics.setConnected(g != nil)
}

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

	// Notification chans: buffered, and all drained (by loop, publisher, watchBlocked).
	consConnClosed, pubConnClosed chan *amqp.Error
	consChClosed, pubChClosed     chan *amqp.Error
	cancelled                     chan string
	returns                       chan amqp.Return
	blocked                       chan amqp.Blocking

	acks chan ackReq // to the acker, which owns consCh after setup
	pubs chan pubReq // to the publisher, which owns pubCh
	seq  atomic.Uint64

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
		// the backlog; the publisher drains it continuously anyway.
		returns: make(chan amqp.Return, c.cfg.Workers+1),
		blocked: make(chan amqp.Blocking, 4),
		acks:    make(chan ackReq),
		pubs:    make(chan pubReq),
		done:    make(chan struct{}),
		failed:  make(chan struct{}),
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
	return amqp.DialConfig(g.c.cfg.URL, amqp.Config{
		Heartbeat:  heartbeat,
		Properties: props,
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
}

// setup dials both connections and declares the topology. Declarations are idempotent: the
// exchange is durable and direct as CSE's installer made it, the queue durable.
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
	if err := g.consCh.ExchangeDeclare(cfg.Exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", cfg.Exchange, err)
	}
	if _, err := g.consCh.QueueDeclare(cfg.Queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", cfg.Queue, err)
	}
	if err := g.consCh.QueueBind(cfg.Queue, cfg.RoutingKey, cfg.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s: %w", cfg.Queue, cfg.Exchange, err)
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
			g.workers.Add(1)
			go g.handle(ctx, d)
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
		if err := g.settleOp(ctx, ackReq{op: opCancel}); err != nil {
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

// handle serves one delivery and settles it. It never returns before the delivery is
// acked, rejected, or deliberately left for redelivery.
func (g *generation) handle(runCtx context.Context, d amqp.Delivery) {
	c := g.c
	start := time.Now()
	defer g.workers.Done()
	defer func() { <-c.slots }()
	// In-flight requests finish even when Run's ctx ends; shutdown waits for them.
	ctx := context.WithoutCancel(runCtx)
	log := g.log.With("correlation_id", d.CorrelationId)

	exchange, key, err := replyAddress(d)
	if err != nil {
		log.Warn("rejecting VCD message without a usable reply address", "reason", err.Error())
		g.settle(ctx, d, opReject, log, start, outcomeRejected)
		return
	}
	switch err := g.checkExchange(ctx, exchange); {
	case errors.Is(err, errNoReplyExchange):
		log.Warn("rejecting VCD message: reply exchange unusable", "reply_exchange", exchange, "reason", err.Error())
		g.settle(ctx, d, opReject, log, start, outcomeRejected)
		return
	case err != nil:
		log.Warn("cannot check reply exchange; leaving message for redelivery", "err", err)
		g.fail(fmt.Errorf("check reply exchange: %w", err))
		c.cfg.Metrics.outcome(outcomeError, time.Since(start))
		return
	}

	rep := c.serve(ctx, d, log)
	log = log.With("request_id", rep.ID)
	body, err := rep.marshal()
	if err != nil { // cannot happen with the types in reply; be safe anyway
		log.Error("encode reply", "err", err)
		body, _ = errorReply(rep.ID, http.StatusInternalServerError, "internal error").marshal()
	}
	returned, err := g.publish(ctx, exchange, key, amqp.Publishing{
		ContentType:   "application/json",
		CorrelationId: d.CorrelationId,
		Headers:       amqp.Table{"messageType": msgTypeResponse},
		Body:          body,
	})
	if err != nil {
		log.Warn("reply not confirmed; leaving request for redelivery", "err", err)
		g.fail(fmt.Errorf("publish reply: %w", err))
		c.cfg.Metrics.outcome(outcomeError, time.Since(start))
		return
	}
	outcome := outcomeReplied
	if returned {
		// VCD's reply queue is gone (VCD restarted or gave up). Retrying cannot help.
		log.Warn("reply returned unroutable", "reply_exchange", exchange, "reply_to", key)
		outcome = outcomeUnroutable
	}
	g.settle(ctx, d, opAck, log, start, outcome)
}

// serve turns a delivery into a reply: 400 for a bad envelope, 500 for a handler panic,
// otherwise whatever the handler wrote.
func (c *Consumer) serve(ctx context.Context, d amqp.Delivery, log *slog.Logger) *reply {
	if mt := headerString(d.Headers, "messageType"); mt != "" && mt != msgTypeRequest {
		log.Warn("bad VCD message", "reason", "unsupported messageType", "message_type", mt)
		return errorReply(d.CorrelationId, http.StatusBadRequest, fmt.Sprintf("unsupported messageType %q", truncate(mt)))
	}
	req, err := DecodeRequest(d.Body)
	var hr *http.Request
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	defer cancel()
	if err == nil {
		hr, err = req.HTTPRequest(hctx)
	}
	if err != nil {
		id := d.CorrelationId
		var ee *EnvelopeError
		if errors.As(err, &ee) && ee.RequestID != "" {
			id = ee.RequestID
		}
		log.Warn("bad VCD message", "request_id", id, "reason", err.Error(), "redelivered", d.Redelivered)
		return errorReply(id, http.StatusBadRequest, err.Error())
	}
	rec := newRecorder()
	if p, stack := c.callHandler(rec, hr); p != nil {
		log.Error("handler panicked", "request_id", req.ID, "method", hr.Method, "path", hr.URL.Path,
			"panic", fmt.Sprint(p), "stack", string(stack))
		return errorReply(req.ID, http.StatusInternalServerError, "internal error")
	}
	rep := rec.reply(req.ID)
	log.Debug("request served", "request_id", req.ID, "method", hr.Method, "path", hr.URL.Path,
		"status", rep.StatusCode, "redelivered", d.Redelivered)
	return rep
}

func (c *Consumer) callHandler(w http.ResponseWriter, r *http.Request) (panicked any, stack []byte) {
	defer func() {
		if p := recover(); p != nil {
			panicked, stack = p, debug.Stack()
		}
	}()
	c.h.ServeHTTP(w, r)
	return nil, nil
}

// replyAddress returns where VCD wants the reply: the replyToExchange header and reply_to.
// Without a correlation_id VCD could not match the reply, so that counts as unusable too.
func replyAddress(d amqp.Delivery) (exchange, key string, err error) {
	exchange = headerString(d.Headers, "replyToExchange")
	switch {
	case d.CorrelationId == "":
		return "", "", errors.New("correlation_id missing")
	case d.ReplyTo == "":
		return "", "", errors.New("reply_to missing")
	case exchange == "":
		return "", "", errors.New("replyToExchange header missing")
	case len(exchange) > maxShortStr:
		return "", "", errors.New("replyToExchange longer than 255 bytes")
	}
	return exchange, d.ReplyTo, nil
}

func headerString(t amqp.Table, name string) string {
	switch v := t[name].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// settle acks or rejects d through the acker and records the outcome. An ack that cannot be
// sent (the generation is gone) is dropped: the broker has requeued the message already.
func (g *generation) settle(ctx context.Context, d amqp.Delivery, op ackOp, log *slog.Logger, start time.Time, outcome string) {
	if err := g.settleOp(ctx, ackReq{op: op, d: d}); err != nil {
		log.Warn("ack dropped; the broker will redeliver", "err", err)
		outcome = outcomeError
	}
	g.c.cfg.Metrics.outcome(outcome, time.Since(start))
	log.Debug("VCD message settled", "outcome", outcome, "duration", time.Since(start))
}

type ackOp int

const (
	opAck ackOp = iota
	opReject
	opCancel
)

type ackReq struct {
	op  ackOp
	d   amqp.Delivery
	res chan error
}

func (g *generation) settleOp(ctx context.Context, r ackReq) error {
	r.res = make(chan error, 1)
	select {
	case g.acks <- r:
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
// channel. It acks singly; Ack(multiple) from concurrent workers would ack others' messages.
func (g *generation) acker() {
	defer g.owners.Done()
	for {
		select {
		case <-g.done:
			return
		case r := <-g.acks:
			var err error
			switch r.op {
			case opAck:
				err = r.d.Ack(false)
			case opReject:
				// No requeue: a provider's dead-letter policy can catch it; requeueing would spin.
				err = r.d.Reject(false)
			case opCancel:
				err = g.consCh.Cancel(g.tag, false)
			}
			r.res <- err
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
