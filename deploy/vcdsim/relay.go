package vcdsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The extension protocol's message types, in the messageType header.
const (
	msgRequest  = "ProcessHttpRequest"
	msgResponse = "ProcessHttpResponse"
)

var (
	// errUnroutable: the broker returned the request, as nothing is bound to the
	// extension's exchange with its routing key.
	errUnroutable = errors.New("the request is unroutable: no queue is bound to the extension's exchange with its routing key")
	// errLinkDown: the connection to the broker was lost before the reply came.
	errLinkDown = errors.New("the connection to the broker is gone")
)

// extRequest is an API call as VCD relays it to an extension: the first element of the
// message body (cse-protocol.md §1.2), field for field.
type extRequest struct {
	ID          string            `json:"id"`
	Method      string            `json:"method"`
	Scheme      string            `json:"scheme"`
	Protocol    string            `json:"protocol"`
	RequestURI  string            `json:"requestUri"`
	QueryString *string           `json:"queryString"` // null when the URL has none
	Headers     map[string]string `json:"headers"`
	Body        string            `json:"body"` // base64 of the HTTP body; "" for none
	LocalAddr   string            `json:"localAddr"`
	LocalPort   int               `json:"localPort"`
	RemoteAddr  string            `json:"remoteAddr"`
	RemotePort  int               `json:"remotePort"`
	Request     bool              `json:"request"`    // always true
	StatusCode  int               `json:"statusCode"` // always 0 on a request
}

// securityContext is who VCD authenticated the caller as: the message body's second
// element.
type securityContext struct {
	User   string   `json:"user"`   // urn:vcloud:user:<uuid>
	Org    string   `json:"org"`    // urn:vcloud:org:<uuid>
	Rights []string `json:"rights"` // URNs of the rights VCD grants the user; never null
}

// extReply is an extension's answer, ready for the HTTP caller.
type extReply struct {
	Status int
	Header http.Header
	Body   []byte
}

// decodeReply reads a reply body: {"id", "statusCode", "headers", "body" (base64),
// "request": false}. Header values are strings or numbers (CSE sends Content-Length as a
// number).
func decodeReply(b []byte) (*extReply, error) {
	var w struct {
		ID         string         `json:"id"`
		StatusCode int            `json:"statusCode"`
		Headers    map[string]any `json:"headers"`
		Body       string         `json:"body"`
		Request    *bool          `json:"request"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("the reply is not the protocol's JSON: %w", err)
	}
	if w.Request == nil || *w.Request {
		return nil, errors.New(`the reply does not say "request": false`)
	}
	if w.StatusCode < 100 || w.StatusCode > 599 {
		return nil, fmt.Errorf("the reply's status code %d is no HTTP status", w.StatusCode)
	}
	body, err := base64.StdEncoding.DecodeString(w.Body)
	if err != nil {
		return nil, fmt.Errorf("the reply's body is not base64: %w", err)
	}
	h := http.Header{}
	for k, v := range w.Headers {
		switch v := v.(type) {
		case string:
			h.Set(k, v)
		case float64:
			h.Set(k, strconv.FormatFloat(v, 'f', -1, 64))
		default:
			return nil, fmt.Errorf("the reply's header %q is neither a string nor a number", k)
		}
	}
	return &extReply{Status: w.StatusCode, Header: h, Body: body}, nil
}

// relay plays VCD's side of the AMQP API-extension protocol (cse-protocol.md §1.2,
// amqp.md §C). Per extension exchange and routing key it keeps one connection with a
// reply exchange and an exclusive reply queue of its own; a call is published there in
// VCD's envelope and its reply matched by correlation id. A lost connection is replaced
// on the next call.
type relay struct {
	url string
	log *slog.Logger

	mu     sync.Mutex
	links  map[linkKey]*link
	closed bool
}

type linkKey struct{ exchange, routingKey string }

func newRelay(url string, log *slog.Logger) *relay {
	return &relay{url: url, log: log, links: map[linkKey]*link{}}
}

// do relays one call and waits for its reply until ctx ends.
func (r *relay) do(ctx context.Context, exchange, routingKey string, req extRequest, sc securityContext) (*extReply, error) {
	if sc.Rights == nil {
		sc.Rights = []string{}
	}
	body, err := json.Marshal([]any{req, sc})
	if err != nil {
		return nil, fmt.Errorf("encode the request: %w", err)
	}
	l, err := r.link(linkKey{exchange, routingKey})
	if err != nil {
		return nil, err
	}
	raw, err := l.call(ctx, body)
	if err != nil {
		return nil, err
	}
	return decodeReply(raw)
}

// link returns the live link for an exchange and routing key, connecting anew when there
// is none or the one there lost its connection.
func (r *relay) link(k linkKey) (*link, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("the relay is closed")
	}
	if l := r.links[k]; l != nil {
		if l.alive() {
			return l, nil
		}
		l.close()
		delete(r.links, k)
	}
	l, err := dialLink(r.url, k, r.log)
	if err != nil {
		return nil, err
	}
	r.links[k] = l
	return l, nil
}

func (r *relay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for k, l := range r.links {
		l.close()
		delete(r.links, k)
	}
}

// link is one connection to the broker for one extension: requests go out on a
// confirm-mode channel, replies come back on an exclusive, auto-deleted queue bound to an
// auto-deleted reply exchange, both gone with the connection.
type link struct {
	key                       linkKey
	log                       *slog.Logger
	conn                      *amqp.Connection
	replyExchange, replyQueue string

	pubMu sync.Mutex
	pub   *amqp.Channel // reopened when the broker closes it (a publish to a missing exchange)
	// pubClosed has the reason the broker closed pub, once it did.
	pubClosed chan *amqp.Error

	mu      sync.Mutex
	waiting map[string]chan outcome // by correlation id
	down    bool
}

// outcome is what ends a call: a reply's body, or why none will come.
type outcome struct {
	body []byte
	err  error
}

func dialLink(url string, k linkKey, log *slog.Logger) (*link, error) {
	if url == "" {
		return nil, errors.New("no AMQP broker is configured")
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("vcdsim")
	conn, err := amqp.DialConfig(url, amqp.Config{Properties: props, Heartbeat: 10 * time.Second, Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("connect to the extension's broker: %w", err)
	}
	l := &link{key: k, log: log, conn: conn, waiting: map[string]chan outcome{}}
	if err := l.setup(); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("set up the reply queue: %w", err)
	}
	return l, nil
}

func (l *link) setup() error {
	ch, err := l.conn.Channel()
	if err != nil {
		return err
	}
	l.replyExchange = "vcdsim-reply-" + uuid.NewString()
	if err := ch.ExchangeDeclare(l.replyExchange, amqp.ExchangeDirect, false, true, false, false, nil); err != nil {
		return err
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return err
	}
	l.replyQueue = q.Name
	if err := ch.QueueBind(q.Name, q.Name, l.replyExchange, false, nil); err != nil {
		return err
	}
	replies, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return err
	}
	go l.receive(replies)
	return nil
}

// receive hands each reply to the call waiting for its correlation id. When the
// deliveries end, the connection is gone and so are the replies of every waiting call.
func (l *link) receive(replies <-chan amqp.Delivery) {
	for d := range replies {
		if mt, _ := d.Headers["messageType"].(string); mt != "" && mt != msgResponse {
			l.log.Warn("extension reply of another message type", "messageType", mt)
		}
		if !l.resolve(d.CorrelationId, outcome{body: d.Body}) {
			l.log.Debug("a reply nobody waits for (late, or a duplicate)", "exchange", l.key.exchange)
		}
	}
	l.mu.Lock()
	l.down = true
	waiting := l.waiting
	l.waiting = map[string]chan outcome{}
	l.mu.Unlock()
	for _, w := range waiting {
		w <- outcome{err: errLinkDown}
	}
}

// resolve ends the call waiting for a correlation id; it reports whether one was.
func (l *link) resolve(corr string, o outcome) bool {
	l.mu.Lock()
	w := l.waiting[corr]
	delete(l.waiting, corr)
	l.mu.Unlock()
	if w != nil {
		w <- o
	}
	return w != nil
}

func (l *link) alive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down && !l.conn.IsClosed()
}

func (l *link) close() { _ = l.conn.Close() }

// call publishes a request body and waits for the reply's body.
func (l *link) call(ctx context.Context, body []byte) ([]byte, error) {
	corr := uuid.NewString()
	done := make(chan outcome, 1)
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return nil, errLinkDown
	}
	l.waiting[corr] = done
	l.mu.Unlock()
	if err := l.publish(ctx, corr, body); err != nil {
		l.resolve(corr, outcome{}) // forget it
		return nil, err
	}
	select {
	case o := <-done:
		return o.body, o.err
	case <-ctx.Done():
		l.resolve(corr, outcome{}) // a late reply finds nobody
		return nil, ctx.Err()
	}
}

// publish sends a request as VCD does: persistent, mandatory (a request nothing is bound
// to comes back, and fails its call), with the reply address in reply_to and the
// replyToExchange header, and confirmed by the broker before it counts as sent.
func (l *link) publish(ctx context.Context, corr string, body []byte) error {
	l.pubMu.Lock()
	if l.pub == nil || l.pub.IsClosed() {
		if err := l.openPub(); err != nil {
			l.pubMu.Unlock()
			return fmt.Errorf("open a channel: %w", err)
		}
	}
	pub, closed := l.pub, l.pubClosed
	dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, l.key.exchange, l.key.routingKey, true, false, amqp.Publishing{
		ContentType:   "application/json",
		DeliveryMode:  amqp.Persistent,
		CorrelationId: corr,
		ReplyTo:       l.replyQueue,
		Headers:       amqp.Table{"replyToExchange": l.replyExchange, "messageType": msgRequest},
		Body:          body,
	})
	l.pubMu.Unlock()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !acked {
		// The broker closes the channel on a publish to a missing exchange, and says why
		// before the confirm fails.
		select {
		case e, ok := <-closed:
			if ok && e != nil {
				return fmt.Errorf("the broker refused the request: %w", e)
			}
		default:
		}
		return errors.New("the broker refused the request")
	}
	return nil
}

// openPub opens the confirm-mode channel requests go out on. Call with pubMu held.
func (l *link) openPub() error {
	ch, err := l.conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 16))
	go func() {
		for ret := range returns {
			l.resolve(ret.CorrelationId, outcome{err: errUnroutable})
		}
	}()
	l.pub, l.pubClosed = ch, ch.NotifyClose(make(chan *amqp.Error, 1))
	return nil
}
