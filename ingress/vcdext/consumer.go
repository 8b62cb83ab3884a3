package vcdext

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
