package vcdext_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
	"github.com/kaasproject/kaas/internal/waittest"
)

// harness is one consumer on its own exchange and queue, and a client playing VCD.
type harness struct {
	url, exchange, routingKey string
	cons                      *vcdext.Consumer
	client                    *vcdexttest.Client
	metrics                   *vcdext.Metrics
	stop                      func() // ends Run and waits for it; idempotent
}

func start(t *testing.T, h http.Handler, tweak ...func(*vcdext.Config)) *harness {
	t.Helper()
	log := testLogger(t)
	url := vcdexttest.RequireBroker(t)
	ex, rk := vcdexttest.UniqueNames(t)
	hs := &harness{url: url, exchange: ex, routingKey: rk, metrics: vcdext.NewMetrics(prometheus.NewRegistry())}
	hs.cons = hs.startConsumer(t, h, log, tweak...)
	client, err := vcdexttest.NewClient(t.Context(), url, ex, rk)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	hs.client = client
	return hs
}

// startConsumer runs a consumer until the test ends (or stop is called) and waits until it
// is consuming.
func (hs *harness) startConsumer(t *testing.T, h http.Handler, log *slog.Logger, tweak ...func(*vcdext.Config)) *vcdext.Consumer {
	t.Helper()
	cfg := vcdext.Config{
		URL: hs.url, Exchange: hs.exchange, RoutingKey: hs.routingKey,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		HandlerTimeout: 3 * time.Second, PublishTimeout: 3 * time.Second,
		Logger: log, Metrics: hs.metrics,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	cons, err := vcdext.New(cfg, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := cons.Ready(); err == nil {
		t.Error("Ready before Run = nil")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	var once sync.Once
	hs.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(hs.stop)
	eventually(t, 10*time.Second, func() error { return cons.Ready() })
	return cons
}

// eventually waits for a condition, looking every 10 ms (waittest.Eventually).
func eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	waittest.Eventually(t, within, 10*time.Millisecond, cond)
}

// outcomes is a condition for eventually: the consumer counted want messages of outcome.
func (hs *harness) outcomes(outcome string, want float64) func() error {
	return func() error {
		if n := hs.count(outcome); n != want {
			return fmt.Errorf("%v messages %s, want %v", n, outcome, want)
		}
		return nil
	}
}

// testLogger logs to the test's output until the test ends; stray goroutines of an old
// connection generation may log later, and t.Output must not be used then.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(w.close) // registered first, so it runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

func (hs *harness) count(outcome string) float64 {
	return hs.metrics.Messages(outcome)
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// echo is what echoHandler reports about the request it got.
type echo struct {
	Method, Path, Query, Body, Host, RemoteAddr, Accept, RequestURI string
	Caller                                                          ingress.Caller
	HasCaller, HasDeadline                                          bool
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	caller, ok := ingress.CallerFrom(r.Context())
	_, hasDeadline := r.Context().Deadline()
	w.Header().Set("Content-Type", "application/json;version=36.0")
	w.Header().Set("Location", "/api/task/"+r.URL.Query().Get("task"))
	w.Header().Add("X-Multi", "first")
	w.Header().Add("X-Multi", "second")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(echo{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Host: r.Host,
		RemoteAddr: r.RemoteAddr, Accept: r.Header.Get("Accept"), RequestURI: r.RequestURI,
		Caller: caller, HasCaller: ok, HasDeadline: hasDeadline,
	})
}

func TestEchoRoundTrip(t *testing.T) {
	hs := start(t, http.HandlerFunc(echoHandler))
	caller := ingress.Caller{User: "urn:vcloud:user:a11ce000-0000-4000-8000-00000000000a", Org: "urn:vcloud:org:ac3e0000-0000-4000-8000-000000000001", Rights: []string{"urn:vcloud:right:a"}}
	req := vcdexttest.Req{
		Method: http.MethodPost, Path: "/api/cse/3.0/clusters", Query: "task=42&x=a%20b",
		Headers: map[string]string{"Accept": "application/json;version=36.0", "Host": "vcd.example.com", "Content-Type": "application/json"},
		Body:    []byte(`{"name":"c1"}`), RequestID: "req-echo-1", Caller: caller,
	}
	resp, err := hs.client.Do(ctxTimeout(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.StatusCode != http.StatusAccepted || resp.RequestID != "req-echo-1" || resp.MessageType != "ProcessHttpResponse" {
		t.Errorf("reply status %d id %q messageType %q", resp.StatusCode, resp.RequestID, resp.MessageType)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json;version=36.0", "Location": "/api/task/42", "X-Multi": "first",
		"Content-Length": fmt.Sprint(len(resp.Body)),
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("reply header %s = %q, want %q", k, got, want)
		}
	}
	// On the wire, Content-Length is a JSON number and the reply says request:false.
	var raw struct {
		Headers map[string]any `json:"headers"`
		Request *bool          `json:"request"`
	}
	if err := json.Unmarshal(resp.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.Headers["Content-Length"].(float64); !ok || raw.Request == nil || *raw.Request {
		t.Errorf("raw reply %s: want numeric Content-Length and request:false", resp.Raw)
	}
	var got echo
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		t.Fatalf("reply body %q: %v", resp.Body, err)
	}
	want := echo{
		Method: "POST", Path: "/api/cse/3.0/clusters", Query: "task=42&x=a%20b", Body: `{"name":"c1"}`,
		Host: "vcd.example.com", RemoteAddr: "10.1.2.3:53211", Accept: "application/json;version=36.0",
		RequestURI: "/api/cse/3.0/clusters?task=42&x=a%20b",
		Caller:     caller, HasCaller: true, HasDeadline: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("handler saw\n %+v\nwant\n %+v", got, want)
	}
	// The ack (and the count) follows the reply's confirm, so it may trail the reply.
	eventually(t, 5*time.Second, hs.outcomes("replied", 1))

	// The topology is what the docs promise: re-declaring it durable and direct succeeds.
	conn, err := amqp.Dial(hs.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if err := ch.ExchangeDeclare(hs.exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		t.Errorf("exchange is not durable direct: %v", err)
	}
	if _, err := ch.QueueDeclare(hs.routingKey, true, false, false, false, nil); err != nil {
		t.Errorf("queue is not durable: %v", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	hs := start(t, http.HandlerFunc(echoHandler), func(c *vcdext.Config) { c.Prefetch = 16 })
	ctx := ctxTimeout(t, 20*time.Second)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("req-%d", i)
			resp, err := hs.client.Do(ctx, vcdexttest.Req{Path: "/api/cse/system", Query: "i=" + fmt.Sprint(i), RequestID: id})
			if err != nil {
				errs <- err
				return
			}
			var e echo
			if err := json.Unmarshal(resp.Body, &e); err != nil || resp.RequestID != id || e.Query != "i="+fmt.Sprint(i) {
				errs <- fmt.Errorf("request %s got reply id %q query %q (%v)", id, resp.RequestID, e.Query, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if u := hs.client.Unmatched(); u != 0 {
		t.Errorf("%d unmatched replies", u)
	}
}

func TestBadMessages(t *testing.T) {
	hs := start(t, http.HandlerFunc(echoHandler))
	good := func(t *testing.T) {
		t.Helper()
		resp, err := hs.client.Do(ctxTimeout(t, 10*time.Second), vcdexttest.Req{Path: "/api/cse/system"})
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("good request after a bad one: %+v, %v", resp, err)
		}
	}
	sc := `{"user":"urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11","org":"urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22","rights":[]}`
	tests := []struct {
		name   string
		body   string
		props  vcdexttest.RawProps
		wantID string // "" means the correlation id
		want   string // in the 400's message
	}{
		{name: "not JSON", body: `this is not json`, want: "not a JSON array"},
		{name: "one-element array", body: `[{"id":"bad-1","method":"GET","requestUri":"/x"}]`, wantID: "bad-1", want: "1 elements"},
		{name: "missing id", body: `[{"method":"GET","requestUri":"/x"},` + sc + `]`, want: "id missing"},
		{name: "bad base64", body: `[{"id":"bad-2","method":"POST","requestUri":"/x","body":"%%%"},` + sc + `]`, wantID: "bad-2", want: "base64"},
		{name: "bad method", body: `[{"id":"bad-3","method":"GET /x HTTP/1.1","requestUri":"/x"},` + sc + `]`, wantID: "bad-3", want: "method"},
		{name: "no caller", body: `[{"id":"bad-4","method":"GET","requestUri":"/x"},{}]`, wantID: "bad-4", want: "securityContext.user"},
		{
			name: "wrong messageType", body: `[{"id":"bad-5","method":"GET","requestUri":"/x"},` + sc + `]`,
			props: vcdexttest.RawProps{MessageType: "ProcessHttpResponse"}, want: "messageType",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := hs.client.PublishRaw(t.Context(), []byte(tt.body), tt.props)
			if err != nil {
				t.Fatalf("PublishRaw: %v", err)
			}
			resp, err := call.Wait(ctxTimeout(t, 10*time.Second))
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			wantID := tt.wantID
			if wantID == "" {
				wantID = call.CorrelationID
			}
			minor, desc := cseError(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.RequestID != wantID || minor != -1 || !strings.Contains(desc, tt.want) {
				t.Errorf("reply %d id %q (%d, %q); want 400, id %q, minor -1, description containing %q",
					resp.StatusCode, resp.RequestID, minor, desc, wantID, tt.want)
			}
			good(t)
		})
	}

	valid := []byte(`[{"id":"noreply","method":"GET","requestUri":"/x"},` + sc + `]`)
	rejects := []struct {
		name  string
		props vcdexttest.RawProps
	}{
		{"no reply_to", vcdexttest.RawProps{OmitReplyTo: true}},
		{"no replyToExchange", vcdexttest.RawProps{OmitReplyToExchange: true}},
		{"no correlation_id", vcdexttest.RawProps{OmitCorrelationID: true}},
		// Publishing to a missing exchange would close the reply channel; it must be caught
		// before, or the message would loop through redeliveries.
		{"reply exchange does not exist", vcdexttest.RawProps{ReplyToExchange: "kaas-test-no-such-exchange"}},
	}
	for i, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := hs.client.PublishRaw(t.Context(), valid, tt.props); err != nil {
				t.Fatalf("PublishRaw: %v", err)
			}
			eventually(t, 10*time.Second, hs.outcomes("rejected", float64(i+1)))
			good(t)
		})
	}

	t.Run("unroutable reply", func(t *testing.T) {
		// VCD's reply queue is gone: the reply comes back as a basic.return.
		if _, err := hs.client.PublishRaw(t.Context(), valid, vcdexttest.RawProps{ReplyTo: "kaas-test-nobody-home"}); err != nil {
			t.Fatalf("PublishRaw: %v", err)
		}
		eventually(t, 10*time.Second, hs.outcomes("unroutable_reply", 1))
		good(t)
	})

	if n := hs.count("error"); n != 0 {
		t.Errorf("error outcomes = %v, want 0", n)
	}
	if err := hs.cons.Ready(); err != nil {
		t.Errorf("Ready after bad messages: %v", err)
	}
}

// cseError checks that a reply is CSE's error body, {"message": {"minor error code": N,
// "error description": "…"}} and nothing else, as JSON, and returns its two values.
func cseError(t *testing.T, resp *vcdexttest.Resp) (minor int, description string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error reply Content-Type %q, want application/json", ct)
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(resp.Body, &body); err != nil || len(body) != 1 || len(body["message"]) != 2 {
		t.Fatalf("reply body %s is not CSE's error body (%v)", resp.Body, err)
	}
	code, ok1 := body["message"]["minor error code"].(float64)
	desc, ok2 := body["message"]["error description"].(string)
	if !ok1 || !ok2 {
		t.Fatalf("reply body %s is not CSE's error body", resp.Body)
	}
	return int(code), desc
}

func TestHandlerPanic(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			w.WriteHeader(http.StatusAccepted) // a partial response must not leak out
			panic("boom")
		}
		echoHandler(w, r)
	}))
	ctx := ctxTimeout(t, 10*time.Second)
	resp, err := hs.client.Do(ctx, vcdexttest.Req{Path: "/panic", RequestID: "p-1"})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if minor, desc := cseError(t, resp); resp.StatusCode != http.StatusInternalServerError || minor != -1 || desc != "internal error" || resp.RequestID != "p-1" {
		t.Errorf("reply %d %q id %q; want 500 internal error", resp.StatusCode, resp.Body, resp.RequestID)
	}
	resp, err = hs.client.Do(ctx, vcdexttest.Req{Path: "/after"})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("request after panic: %+v, %v", resp, err)
	}
}

// TestRedeliveryAfterConnectionLoss drops the consuming connection while a handler runs: the
// delivery must not be acked, the consumer must reconnect, and the broker must redeliver.
func TestRedeliveryAfterConnectionLoss(t *testing.T) {
	var calls atomic.Int32
	entered := make(chan struct{})
	release := make(chan struct{})
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.URL.Path == "/slow" && n == 1 {
			close(entered)
			<-release
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"call":%d}`, n)
	}))
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := hs.client.Publish(ctx, vcdexttest.Req{Method: http.MethodPost, Path: "/slow", RequestID: "slow-1"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("handler never ran")
	}
	if !hs.cons.DropConsumingConnection() {
		t.Fatal("no consuming connection to drop")
	}

	// The first handler is still blocked, so only a redelivery can answer.
	resp, err := hs.client.Wait(ctx, "slow-1")
	if err != nil {
		t.Fatalf("no reply after reconnect: %v", err)
	}
	if resp.StatusCode != http.StatusAccepted || string(resp.Body) != `{"call":2}` {
		t.Errorf("reply %d %q; want 202 from the second call", resp.StatusCode, resp.Body)
	}
	if r := hs.metrics.Reconnects(); r < 1 {
		t.Errorf("reconnects = %v, want ≥ 1", r)
	}

	// The first call now finishes; its generation is gone, so its reply and ack go nowhere.
	close(release)
	eventually(t, 10*time.Second, hs.outcomes("error", 1)) // the old generation's
	if u := hs.client.Unmatched(); u != 0 {
		t.Errorf("%d unmatched replies; the old generation must not answer", u)
	}

	// The new generation serves normally.
	resp, err = hs.client.Do(ctx, vcdexttest.Req{Path: "/after"})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("request after reconnect: %+v, %v", resp, err)
	}
	if err := hs.cons.Ready(); err != nil {
		t.Errorf("Ready after reconnect: %v", err)
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("handler calls = %d, want 3", c)
	}
}

// TestGracefulShutdown ends Run while a request is in flight: it must be answered and acked,
// so a consumer started afterwards finds the queue empty.
func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			select { // until the shutdown has begun
			case <-release:
			case <-r.Context().Done(): // the handler's time is up: no 202
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	ctx := ctxTimeout(t, 20*time.Second)
	call, err := hs.client.Publish(ctx, vcdexttest.Req{Path: "/slow", RequestID: "graceful-1"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	stopped := make(chan struct{})
	go func() { defer close(stopped); hs.stop() }()
	// The consumer stops consuming (not ready) before it waits for what is in flight.
	eventually(t, 10*time.Second, func() error {
		if hs.cons.Ready() == nil {
			return errors.New("the consumer is still consuming")
		}
		return nil
	})
	close(release)
	<-stopped
	if err := hs.cons.Ready(); err == nil {
		t.Error("Ready after Run returned = nil")
	}
	resp, err := call.Wait(ctx)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight request at shutdown: %+v, %v", resp, err)
	}
	if hs.metrics.Connected() != 0 {
		t.Error("connected gauge still 1 after shutdown")
	}

	var calls atomic.Int32
	hs.startConsumer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}), testLogger(t))
	resp, err = hs.client.Do(ctx, vcdexttest.Req{Path: "/next"})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("second consumer: %+v, %v", resp, err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("second consumer handled %d requests, want 1 (the first was redelivered?)", n)
	}
}

func TestRunRetriesUnreachableBroker(t *testing.T) {
	// Nothing listens on port 1; Run must keep retrying, stay not ready, and stop on cancel.
	reg := prometheus.NewRegistry()
	m := vcdext.NewMetrics(reg)
	cons, err := vcdext.New(vcdext.Config{
		URL: "amqp://guest:guest@127.0.0.1:1/", ReconnectMin: time.Millisecond, ReconnectMax: 20 * time.Millisecond,
		Logger: testLogger(t), Metrics: m,
	}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	eventually(t, 10*time.Second, func() error {
		if r := m.Reconnects(); r < 3 {
			return fmt.Errorf("%v reconnect attempts, want 3", r)
		}
		return nil
	})
	if err := cons.Ready(); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Ready = %v, want the dial error", err)
	}
	if err := cons.Run(ctx); err == nil {
		t.Error("second concurrent Run = nil, want an error")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestQueueDeleted deletes the queue under a running consumer: the broker cancels the
// consumer, and the consumer must reconnect, declare the queue again, and serve.
func TestQueueDeleted(t *testing.T) {
	hs := start(t, http.HandlerFunc(echoHandler))
	conn, err := amqp.Dial(hs.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(hs.routingKey, false, false, false); err != nil {
		t.Fatalf("delete queue: %v", err)
	}
	eventually(t, 10*time.Second, func() error {
		if r := hs.metrics.Reconnects(); r < 1 {
			return errors.New("no reconnect")
		}
		return hs.cons.Ready()
	})
	// The client may race the re-declaration; retry while the request is unroutable.
	eventually(t, 10*time.Second, func() error {
		resp, err := hs.client.Do(ctxTimeout(t, 5*time.Second), vcdexttest.Req{Path: "/again"})
		if err == nil && resp.StatusCode != http.StatusAccepted {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	})
}
