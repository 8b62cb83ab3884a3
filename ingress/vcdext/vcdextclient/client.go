package vcdextclient

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/ingress"
)

// VCD's message types, as the messageType header carries them.
const (
	MessageTypeRequest  = "ProcessHttpRequest"
	MessageTypeResponse = "ProcessHttpResponse"
)

var (
	// ErrUnroutable means the broker returned a request: nothing is bound to the extension's
	// exchange with its routing key (is the consumer running?).
	ErrUnroutable = errors.New("vcdextclient: request unroutable")
	// ErrClosed means the client was closed, or its connection was lost, before the reply.
	ErrClosed = errors.New("vcdextclient: client closed")
)

// Req is one API call as VCD would forward it. Zero fields get defaults.
type Req struct {
	Method string // default GET
	Path   string // requestUri, e.g. /api/cse/3.0/clusters
	Query  string // raw query without '?'; "" is sent as null, as VCD does
	// Headers default to Accept: application/json;version=36.0.
	Headers   map[string]string
	Body      []byte
	RequestID string         // default: a random UUID
	Caller    ingress.Caller // default: DefaultCaller()
}

// DefaultCaller is the security context of a request whose Caller is zero.
func DefaultCaller() ingress.Caller {
	return ingress.Caller{
		User:   "urn:vcloud:user:00000000-0000-0000-0000-000000000001",
		Org:    "urn:vcloud:org:00000000-0000-0000-0000-000000000002",
		Rights: []string{"cse:nativeCluster: Full Access"},
	}
}

// Resp is one reply as the extension sent it.
type Resp struct {
	RequestID  string // the reply's id
	StatusCode int
	// Header has the reply's headers; Content-Length, a JSON number on the wire, is
	// formatted as a decimal string.
	Header        http.Header
	Body          []byte // base64-decoded
	CorrelationID string
	MessageType   string // the AMQP messageType header
	Raw           []byte // the reply message body as received
}

// RawProps are the AMQP properties of a [Client.PublishRaw] message. By default the message
// carries a fresh correlation id and the client's reply address.
type RawProps struct {
	CorrelationID       string
	ReplyTo             string // default: the client's reply queue
	ReplyToExchange     string // default: the client's reply exchange
	OmitCorrelationID   bool
	OmitReplyTo         bool
	OmitReplyToExchange bool
	MessageType         string // default ProcessHttpRequest
}

// Call is a published request waiting for its reply.
type Call struct {
	RequestID     string // "" for raw messages
	CorrelationID string
	done          chan struct{}
	once          sync.Once
	resp          *Resp
	err           error
}

func (c *Call) resolve(r *Resp, err error) {
	c.once.Do(func() {
		c.resp, c.err = r, err
		close(c.done)
	})
}

// Done is closed when the reply has arrived or the call has failed.
func (c *Call) Done() <-chan struct{} { return c.done }

// Wait returns the reply, or an error if ctx ends first or the call failed.
func (c *Call) Wait(ctx context.Context) (*Resp, error) {
	select {
	case <-c.done:
		return c.resp, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Client plays VCD: it publishes API-extension requests and collects their replies. It is
// safe for concurrent use.
type Client struct {
	conn                      *amqp.Connection
	exchange, routingKey      string
	replyExchange, replyQueue string

	pubMu sync.Mutex // one publisher at a time; guards pub
	pub   *pubChan

	mu        sync.Mutex
	calls     map[string]*Call // by correlation id, until resolved
	byRequest map[string]*Call // by request id, for Wait; Publish adds, Wait removes
	unmatched int
	err       error // why the client stopped; nil while running

	wg sync.WaitGroup
}

// NewClient connects to url and declares the client's reply side: an auto-deleted direct
// exchange with a unique name and an exclusive queue bound to it, both gone when the client
// closes. Requests go to exchange with routingKey.
func NewClient(ctx context.Context, url, exchange, routingKey string) (*Client, error) {
	return NewClientTLS(ctx, url, exchange, routingKey, nil)
}

// NewClientTLS is NewClient for an amqps:// url whose broker is checked with tlsCfg (see
// DialTLS).
func NewClientTLS(ctx context.Context, url, exchange, routingKey string, tlsCfg *tls.Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := DialTLS(url, "vcdextclient-client", tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("vcdextclient: dial: %w", err)
	}
	c := &Client{
		conn: conn, exchange: exchange, routingKey: routingKey,
		calls: map[string]*Call{}, byRequest: map[string]*Call{},
	}
	if err := c.setup(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("vcdextclient: %w", err)
	}
	return c, nil
}

func (c *Client) setup() error {
	replyCh, err := c.conn.Channel()
	if err != nil {
		return err
	}
	c.replyExchange = "vcdextclient-reply-" + uuid.NewString()
	if err := replyCh.ExchangeDeclare(c.replyExchange, amqp.ExchangeDirect, false, true, false, false, nil); err != nil {
		return fmt.Errorf("declare reply exchange: %w", err)
	}
	q, err := replyCh.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return fmt.Errorf("declare reply queue: %w", err)
	}
	c.replyQueue = q.Name
	if err := replyCh.QueueBind(q.Name, q.Name, c.replyExchange, false, nil); err != nil {
		return fmt.Errorf("bind reply queue: %w", err)
	}
	replies, err := replyCh.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume replies: %w", err)
	}
	c.pubMu.Lock()
	_, err = c.pubChannel()
	c.pubMu.Unlock()
	if err != nil {
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for d := range replies {
			c.dispatch(d)
		}
		c.stop(ErrClosed)
	}()
	return nil
}

// pubChan is the confirm-mode channel requests go out on. A publish to a missing exchange
// makes the broker close it; the next publish opens a new one.
type pubChan struct {
	ch     *amqp.Channel
	closed chan *amqp.Error
	reason error // why it closed, once seen
}

// pubChannel returns an open publishing channel, opening one if needed. Call with pubMu held.
func (c *Client) pubChannel() (*pubChan, error) {
	if c.pub != nil && !c.pub.ch.IsClosed() {
		return c.pub, nil
	}
	ch, err := c.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return nil, fmt.Errorf("enable confirms: %w", err)
	}
	pc := &pubChan{ch: ch, closed: ch.NotifyClose(make(chan *amqp.Error, 1))}
	returns := ch.NotifyReturn(make(chan amqp.Return, 64))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for r := range returns {
			if call := c.take(r.CorrelationId); call != nil {
				call.resolve(nil, ErrUnroutable)
			}
		}
	}()
	c.pub = pc
	return pc, nil
}

// failure explains a negative confirm. The library reports the channel's close before it
// fails the pending confirms, so a closed channel's reason is already in pc.closed. Call
// with pubMu held.
func (pc *pubChan) failure() error {
	if pc.reason == nil {
		select {
		case e, ok := <-pc.closed:
			if ok && e != nil {
				pc.reason = e
			} else {
				pc.reason = amqp.ErrClosed
			}
		default:
			if pc.ch.IsClosed() {
				pc.reason = amqp.ErrClosed
			}
		}
	}
	if pc.reason != nil {
		return fmt.Errorf("channel closed: %w", pc.reason)
	}
	return errors.New("broker nacked the request")
}

// ReplyAddress returns the exchange and routing key the client's replies come back on.
func (c *Client) ReplyAddress() (exchange, routingKey string) { return c.replyExchange, c.replyQueue }

// Do publishes req and waits for its reply.
func (c *Client) Do(ctx context.Context, req Req) (*Resp, error) {
	call, err := c.publishRequest(ctx, req, false)
	if err != nil {
		return nil, err
	}
	resp, err := call.Wait(ctx)
	if err != nil {
		c.take(call.CorrelationID) // forget it; a late reply counts as unmatched
	}
	return resp, err
}

// Publish sends req without waiting. Collect the reply with [Call.Wait] or, later, with
// [Client.Wait] and the request id.
func (c *Client) Publish(ctx context.Context, req Req) (*Call, error) {
	return c.publishRequest(ctx, req, true)
}

// Wait waits for the reply to a request sent with [Client.Publish], by its request id.
func (c *Client) Wait(ctx context.Context, requestID string) (*Resp, error) {
	c.mu.Lock()
	call := c.byRequest[requestID]
	c.mu.Unlock()
	if call == nil {
		return nil, fmt.Errorf("vcdextclient: no published request %q", requestID)
	}
	resp, err := call.Wait(ctx)
	if err == nil || !errors.Is(err, ctx.Err()) {
		c.mu.Lock()
		delete(c.byRequest, requestID)
		c.mu.Unlock()
	}
	return resp, err
}

// Unmatched counts replies whose correlation id matched no waiting call: duplicates after a
// redelivery, or replies that arrived after their caller gave up.
func (c *Client) Unmatched() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unmatched
}

func (c *Client) publishRequest(ctx context.Context, req Req, keep bool) (*Call, error) {
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	}
	body, err := EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	call := &Call{RequestID: req.RequestID, CorrelationID: uuid.NewString(), done: make(chan struct{})}
	if keep {
		c.mu.Lock()
		c.byRequest[req.RequestID] = call
		c.mu.Unlock()
	}
	err = c.publish(ctx, call, body, amqp.Publishing{
		CorrelationId: call.CorrelationID,
		ReplyTo:       c.replyQueue,
		Headers:       amqp.Table{"replyToExchange": c.replyExchange, "messageType": MessageTypeRequest},
	})
	if err != nil && keep {
		c.mu.Lock()
		delete(c.byRequest, req.RequestID)
		c.mu.Unlock()
	}
	return call, err
}

// PublishRaw sends body as a request message with the given properties, for malformed or
// unusual messages. The reply, if any, is matched by correlation id.
func (c *Client) PublishRaw(ctx context.Context, body []byte, p RawProps) (*Call, error) {
	if p.CorrelationID == "" && !p.OmitCorrelationID {
		p.CorrelationID = uuid.NewString()
	}
	msg := amqp.Publishing{CorrelationId: p.CorrelationID, Headers: amqp.Table{}}
	if !p.OmitReplyTo {
		msg.ReplyTo = cmp.Or(p.ReplyTo, c.replyQueue)
	}
	if !p.OmitReplyToExchange {
		msg.Headers["replyToExchange"] = cmp.Or(p.ReplyToExchange, c.replyExchange)
	}
	msg.Headers["messageType"] = cmp.Or(p.MessageType, MessageTypeRequest)
	call := &Call{CorrelationID: p.CorrelationID, done: make(chan struct{})}
	return call, c.publish(ctx, call, body, msg)
}

// publish registers call and publishes msg persistently, mandatory, and confirmed: once it
// returns nil the broker has the request (or has returned it, which fails the call).
func (c *Client) publish(ctx context.Context, call *Call, body []byte, msg amqp.Publishing) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.calls[call.CorrelationID] = call
	c.mu.Unlock()

	msg.Body = body
	msg.ContentType = "application/json"
	msg.DeliveryMode = amqp.Persistent
	c.pubMu.Lock()
	var dc *amqp.DeferredConfirmation
	pc, err := c.pubChannel()
	if err == nil {
		dc, err = pc.ch.PublishWithDeferredConfirmWithContext(ctx, c.exchange, c.routingKey, true, false, msg)
	}
	c.pubMu.Unlock()
	if err == nil {
		var ok bool
		if ok, err = dc.WaitContext(ctx); err == nil && !ok {
			c.pubMu.Lock()
			err = pc.failure()
			c.pubMu.Unlock()
		}
	}
	if err != nil {
		c.take(call.CorrelationID)
		return fmt.Errorf("vcdextclient: publish: %w", err)
	}
	return nil
}

// take removes and returns the waiting call for a correlation id, or nil.
func (c *Client) take(corr string) *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := c.calls[corr]
	delete(c.calls, corr)
	return call
}

func (c *Client) dispatch(d amqp.Delivery) {
	call := c.take(d.CorrelationId)
	if call == nil {
		c.mu.Lock()
		c.unmatched++
		c.mu.Unlock()
		return
	}
	resp, err := DecodeResponse(d.Body)
	if err != nil {
		call.resolve(nil, err)
		return
	}
	resp.CorrelationID = d.CorrelationId
	if mt, ok := d.Headers["messageType"].(string); ok {
		resp.MessageType = mt
	}
	call.resolve(resp, nil)
}

// stop fails every waiting call; later publishes fail with err.
func (c *Client) stop(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	calls := c.calls
	c.calls = map[string]*Call{}
	c.mu.Unlock()
	for _, call := range calls {
		call.resolve(nil, err)
	}
}

// Close closes the connection, which deletes the reply queue and exchange, and fails every
// call still waiting.
func (c *Client) Close() error {
	c.stop(ErrClosed)
	err := c.conn.Close()
	c.wg.Wait()
	if errors.Is(err, amqp.ErrClosed) {
		err = nil
	}
	return err
}

// wireRequest is VCD's request object, field for field and in VCD's order.
type wireRequest struct {
	ID          string            `json:"id"`
	Method      string            `json:"method"`
	RequestURI  string            `json:"requestUri"`
	QueryString *string           `json:"queryString"`
	Headers     map[string]string `json:"headers"`
	Body        string            `json:"body"`
	Scheme      string            `json:"scheme"`
	Protocol    string            `json:"protocol"`
	LocalAddr   string            `json:"localAddr"`
	LocalPort   int               `json:"localPort"`
	RemoteAddr  string            `json:"remoteAddr"`
	RemotePort  int               `json:"remotePort"`
	Request     bool              `json:"request"`
	StatusCode  int               `json:"statusCode"`
}

// EncodeRequest returns the message body VCD would send for req: [request, securityContext].
// req.RequestID must be set.
func EncodeRequest(req Req) ([]byte, error) {
	if req.RequestID == "" {
		return nil, errors.New("vcdextclient: RequestID is empty")
	}
	w := wireRequest{
		ID: req.RequestID, Method: req.Method, RequestURI: req.Path, Headers: req.Headers,
		Body:   base64.StdEncoding.EncodeToString(req.Body),
		Scheme: "https", Protocol: "HTTP/1.1",
		LocalAddr: "10.0.0.5", LocalPort: 443, RemoteAddr: "10.1.2.3", RemotePort: 53211,
		Request: true,
	}
	if w.Method == "" {
		w.Method = http.MethodGet
	}
	if req.Query != "" {
		w.QueryString = &req.Query
	}
	if w.Headers == nil {
		w.Headers = map[string]string{"Accept": "application/json;version=36.0"}
	}
	caller := req.Caller
	if caller.User == "" && caller.Org == "" && caller.Rights == nil {
		caller = DefaultCaller()
	}
	if caller.Rights == nil {
		caller.Rights = []string{}
	}
	return json.Marshal([]any{w, caller})
}

// DecodeResponse parses a reply body: {"id", "statusCode", "headers", "body" (base64),
// "request": false}.
func DecodeResponse(body []byte) (*Resp, error) {
	if r := decodeResponseFast(body); r != nil {
		return r, nil
	}
	return decodeResponseJSON(body)
}

// decodeResponseJSON is DecodeResponse with encoding/json: the reference, and the way for
// anything decodeResponseFast leaves alone.
func decodeResponseJSON(body []byte) (*Resp, error) {
	var w struct {
		ID         string         `json:"id"`
		StatusCode int            `json:"statusCode"`
		Headers    map[string]any `json:"headers"`
		Body       string         `json:"body"`
		Request    *bool          `json:"request"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("vcdextclient: reply is not JSON: %w", err)
	}
	if w.Request == nil || *w.Request {
		return nil, errors.New(`vcdextclient: reply lacks "request": false`)
	}
	b, err := base64.StdEncoding.DecodeString(w.Body)
	if err != nil {
		return nil, fmt.Errorf("vcdextclient: reply body is not base64: %w", err)
	}
	h := http.Header{}
	for k, v := range w.Headers {
		switch v := v.(type) {
		case string:
			h.Set(k, v)
		case float64:
			h.Set(k, strconv.FormatFloat(v, 'f', -1, 64))
		default:
			h.Set(k, fmt.Sprint(v))
		}
	}
	return &Resp{RequestID: w.ID, StatusCode: w.StatusCode, Header: h, Body: b, Raw: body}, nil
}

// decodeResponseFast parses the replies vcdext and RunEcho write in one pass over the bytes,
// with no reflection and the body decoded from base64 straight out of the message: an
// object with each of the five fields exactly once, strings without escapes, integers, and
// "request": false. It returns nil for anything else, valid or not, and leaves it to
// decodeResponseJSON; what it returns is what decodeResponseJSON would.
func decodeResponseFast(body []byte) *Resp {
	p := respParser{b: body}
	r := &Resp{Raw: body}
	const (
		seenID = 1 << iota
		seenStatus
		seenHeaders
		seenBody
		seenRequest
		seenAll = 1<<iota - 1
	)
	seen := 0
	if !p.byte('{') {
		return nil
	}
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return nil
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return nil
		}
		var bit int
		switch string(key) {
		case "id":
			bit = seenID
			v, ok := p.str()
			if !ok {
				return nil
			}
			r.RequestID = string(v)
		case "statusCode":
			bit = seenStatus
			n, ok := p.int()
			if !ok {
				return nil
			}
			r.StatusCode = n
		case "headers":
			bit = seenHeaders
			if r.Header, ok = p.headers(); !ok {
				return nil
			}
		case "body":
			bit = seenBody
			v, ok := p.str()
			if !ok {
				return nil
			}
			r.Body = make([]byte, base64.StdEncoding.DecodedLen(len(v)))
			n, err := base64.StdEncoding.Decode(r.Body, v)
			if err != nil {
				return nil
			}
			r.Body = r.Body[:n]
		case "request":
			bit = seenRequest
			if !p.lit("false") {
				return nil
			}
		default:
			return nil
		}
		if seen&bit != 0 {
			return nil
		}
		seen |= bit
	}
	p.ws()
	if seen != seenAll || p.i != len(p.b) {
		return nil
	}
	return r
}

// respParser reads the subset of JSON decodeResponseFast takes. Each method skips leading
// whitespace and reports false when the input is not what it wants.
type respParser struct {
	b []byte
	i int
}

func (p *respParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *respParser) byte(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *respParser) lit(s string) bool {
	p.ws()
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str reads a string with no escapes and no control characters, in valid UTF-8 (which
// encoding/json would keep as is), and returns its contents.
func (p *respParser) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < ' ':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// int reads an integer as JSON writes one, of at most 15 digits, so that it is exact as a
// float64 too.
func (p *respParser) int() (int, bool) {
	p.ws()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 15 || n > 1 && p.b[digits] == '0' {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.Atoi(string(p.b[start:p.i]))
	return v, err == nil
}

// headers reads an object of strings and integers, whose names are distinct even when
// canonicalized (encoding/json's map would apply colliding ones in random order).
func (p *respParser) headers() (http.Header, bool) {
	if !p.byte('{') {
		return nil, false
	}
	h := make(http.Header, 4)
	for first := true; ; first = false {
		if p.byte('}') {
			return h, true
		}
		if !first && !p.byte(',') {
			return nil, false
		}
		k, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		var v string
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '"' {
			s, ok := p.str()
			if !ok {
				return nil, false
			}
			v = string(s)
		} else {
			start := p.i
			if _, ok := p.int(); !ok {
				return nil, false
			}
			v = string(p.b[start:p.i])
		}
		key := textproto.CanonicalMIMEHeaderKey(string(k))
		if _, dup := h[key]; dup {
			return nil, false
		}
		h[key] = []string{v}
	}
}
