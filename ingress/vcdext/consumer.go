package vcdext

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
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

// work is a delivery for a worker.
type work struct {
	d amqp.Delivery
	p *pendingAck
}

// worker handles w, then waits for more until the generation ends, so that deliveries
// mostly run on a goroutine whose stack has already grown to what handling takes, rather
// than on a new one that grows it again. Only handle counts in g.workers: an idle worker
// does not hold up shutdown, and leaves when g.done is closed. The loop starts at most
// Workers of them.
func (g *generation) worker(ctx context.Context, w work) {
	for {
		g.handle(ctx, w.d, w.p)
		w = work{} // hold no message while idle
		select {
		case w = <-g.idle:
		case <-g.done:
			return
		}
	}
}

// handle serves one delivery and settles it. It never returns before the delivery is
// acked, rejected, or deliberately left for redelivery.
func (g *generation) handle(runCtx context.Context, d amqp.Delivery, p *pendingAck) {
	c := g.c
	start := time.Now()
	defer g.workers.Done()
	defer func() { <-c.slots }()
	// In-flight requests finish even when Run's ctx ends; shutdown waits for them.
	ctx := context.WithoutCancel(runCtx)
	log := msgLog{l: g.log, corr: d.CorrelationId}

	exchange, key, err := replyAddress(d)
	if err != nil {
		log.log(slog.LevelWarn, "rejecting VCD message without a usable reply address", "reason", err.Error())
		g.settle(p, ackRejected, &log, start, outcomeRejected)
		return
	}
	if !g.knownExchange(exchange) {
		switch err := g.checkExchange(ctx, exchange); {
		case errors.Is(err, errNoReplyExchange):
			log.log(slog.LevelWarn, "rejecting VCD message: reply exchange unusable", "reply_exchange", exchange, "reason", err.Error())
			g.settle(p, ackRejected, &log, start, outcomeRejected)
			return
		case err != nil:
			log.log(slog.LevelWarn, "cannot check reply exchange; leaving message for redelivery", "err", err)
			g.fail(fmt.Errorf("check reply exchange: %w", err))
			c.cfg.Metrics.outcome(outcomeError, time.Since(start))
			return
		}
	}

	rep := c.serve(ctx, d, &log)
	log.req, log.hasReq = rep.ID, true
	buf := replyBufs.Get().(*[]byte)
	body, err := rep.appendJSON((*buf)[:0])
	if err != nil { // cannot happen with the types in reply; be safe anyway
		log.log(slog.LevelError, "encode reply", "err", err)
		body, _ = errorReply(rep.ID, http.StatusInternalServerError, "internal error").appendJSON((*buf)[:0])
	}
	returned, bodyFree, err := g.publish(ctx, exchange, key, amqp.Publishing{
		ContentType:   "application/json",
		CorrelationId: d.CorrelationId,
		Headers:       amqp.Table{"messageType": msgTypeResponse},
		Body:          body,
	})
	if bodyFree && cap(body) <= maxPooledReply {
		*buf = body
		replyBufs.Put(buf)
	}
	if err != nil {
		log.log(slog.LevelWarn, "reply not confirmed; leaving request for redelivery", "err", err)
		g.fail(fmt.Errorf("publish reply: %w", err))
		c.cfg.Metrics.outcome(outcomeError, time.Since(start))
		return
	}
	outcome := outcomeReplied
	if returned {
		// VCD's reply queue is gone (VCD restarted or gave up). Retrying cannot help.
		log.log(slog.LevelWarn, "reply returned unroutable", "reply_exchange", exchange, "reply_to", key)
		outcome = outcomeUnroutable
	}
	g.settle(p, ackAcked, &log, start, outcome)
}

// serve turns a delivery into a reply: 400 for a bad envelope, 500 for a handler panic,
// otherwise whatever the handler wrote.
func (c *Consumer) serve(ctx context.Context, d amqp.Delivery, log *msgLog) *reply {
	if mt := headerString(d.Headers, "messageType"); mt != "" && mt != msgTypeRequest {
		log.log(slog.LevelWarn, "bad VCD message", "reason", "unsupported messageType", "message_type", mt)
		return errorReply(d.CorrelationId, http.StatusBadRequest, fmt.Sprintf("unsupported messageType %q", truncate(mt)))
	}
	req, target, err := decode(d.Body)
	if err != nil {
		id := d.CorrelationId
		var ee *EnvelopeError
		if errors.As(err, &ee) && ee.RequestID != "" {
			id = ee.RequestID
		}
		log.log(slog.LevelWarn, "bad VCD message", "request_id", id, "reason", err.Error(), "redelivered", d.Redelivered)
		return errorReply(id, http.StatusBadRequest, err.Error())
	}
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	defer cancel()
	hr := req.httpRequest(hctx, target, false)
	rec := newRecorder()
	if p, stack := c.callHandler(rec, hr); p != nil {
		log.log(slog.LevelError, "handler panicked", "request_id", req.ID, "method", hr.Method, "path", hr.URL.Path,
			"panic", fmt.Sprint(p), "stack", string(stack))
		return errorReply(req.ID, http.StatusInternalServerError, "internal error")
	}
	rep := rec.reply(req.ID)
	if log.enabled(slog.LevelDebug) {
		log.log(slog.LevelDebug, "request served", "request_id", req.ID, "method", hr.Method, "path", hr.URL.Path,
			"status", rep.StatusCode, "redelivered", d.Redelivered)
	}
	return rep
}

// msgLog logs about one message: the generation's logger with the message's correlation id
// and, once known, its request id. Unlike Logger.With it builds nothing unless a line is
// logged, which on the happy path none is.
type msgLog struct {
	l      *slog.Logger
	corr   string
	req    string
	hasReq bool
}

func (m *msgLog) enabled(level slog.Level) bool { return m.l.Enabled(context.Background(), level) }

// log logs as m.l.Log would, with the message's attributes first, as With would put them,
// and the caller as the source.
func (m *msgLog) log(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !m.l.Enabled(ctx, level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // skip Callers and log
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	r.Add("correlation_id", m.corr)
	if m.hasReq {
		r.Add("request_id", m.req)
	}
	r.Add(args...)
	_ = m.l.Handler().Handle(ctx, r)
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
