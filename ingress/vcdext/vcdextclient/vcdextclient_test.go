package vcdextclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
	"github.com/kaasproject/kaas/internal/waittest"
)

// startEcho runs RunEcho until the test ends and returns a client for it.
func startEcho(t testing.TB, prefetch int) *vcdextclient.Client {
	t.Helper()
	url := vcdexttest.RequireBroker(t)
	ex, rk := vcdexttest.UniqueNames(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- vcdextclient.RunEcho(ctx, url, ex, rk, prefetch) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunEcho: %v", err)
		}
	})
	c, err := vcdextclient.NewClient(context.Background(), url, ex, rk)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	// RunEcho declares the exchange and queue asynchronously; until then requests fail.
	eventually(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.Do(ctx, vcdextclient.Req{Path: "/ping"}); err != nil {
			return fmt.Errorf("echo server not answering: %w", err)
		}
		return nil
	})
	return c
}

// eventually waits for a condition, looking every 20 ms (waittest.Eventually).
func eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	waittest.Eventually(t, within, 20*time.Millisecond, cond)
}

func TestEncodeRequestDecodesInVCDExt(t *testing.T) {
	caller := ingress.Caller{User: "urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11", Org: "urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22", Rights: []string{"r"}}
	body, err := vcdextclient.EncodeRequest(vcdextclient.Req{
		Method: "PUT", Path: "/api/cse/3.0/cluster/c1", Query: "force=true",
		Headers: map[string]string{"Accept": "application/json"}, Body: []byte("{}"), RequestID: "id-1", Caller: caller,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := vcdext.DecodeRequest(body)
	if err != nil {
		t.Fatalf("vcdext cannot decode the client's envelope %s: %v", body, err)
	}
	if r.ID != "id-1" || r.Method != "PUT" || r.RequestURI != "/api/cse/3.0/cluster/c1" || r.QueryString != "force=true" ||
		string(r.Body) != "{}" || !reflect.DeepEqual(r.Caller, caller) || r.RemotePort != 53211 {
		t.Errorf("decoded %+v", r)
	}
	// Zero fields get VCD-like defaults, including a caller.
	body, _ = vcdextclient.EncodeRequest(vcdextclient.Req{Path: "/x", RequestID: "id-2"})
	if r, err = vcdext.DecodeRequest(body); err != nil || r.Method != http.MethodGet || r.Caller.User == "" {
		t.Errorf("defaults: %+v, %v", r, err)
	}
	if _, err := vcdextclient.EncodeRequest(vcdextclient.Req{}); err == nil {
		t.Error("EncodeRequest without a request id succeeded")
	}
}

func TestClientAgainstEcho(t *testing.T) {
	c := startEcho(t, 32)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	resp, err := c.Do(ctx, vcdextclient.Req{Method: "POST", Path: "/api/cse/3.0/clusters", RequestID: "echo-1"})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.StatusCode != 202 || resp.RequestID != "echo-1" || string(resp.Body) != `{"message":"accepted"}` ||
		resp.Header.Get("Content-Length") != "22" || resp.MessageType != vcdextclient.MessageTypeResponse {
		t.Errorf("reply %+v", resp)
	}

	// Publish now, wait later, by request id.
	if _, err := c.Publish(ctx, vcdextclient.Req{Path: "/later", RequestID: "later-1"}); err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Wait(ctx, "later-1"); err != nil || resp.RequestID != "later-1" {
		t.Errorf("Wait: %+v, %v", resp, err)
	}
	if _, err := c.Wait(ctx, "later-1"); err == nil {
		t.Error("second Wait for the same id succeeded")
	}

	// Raw messages are matched by correlation id.
	call, err := c.PublishRaw(ctx, []byte(`not json`), vcdextclient.RawProps{CorrelationID: "corr-raw"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := call.Wait(ctx); err != nil || resp.CorrelationID != "corr-raw" || resp.RequestID != "corr-raw" {
		t.Errorf("raw reply %+v, %v", resp, err)
	}

	// Calls fail, rather than hang, once the client is closed.
	call, err = c.PublishRaw(ctx, []byte(`[]`), vcdextclient.RawProps{OmitReplyTo: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := call.Wait(ctx); !errors.Is(err, vcdextclient.ErrClosed) {
		t.Errorf("Wait after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Do(ctx, vcdextclient.Req{Path: "/x"}); err == nil {
		t.Error("Do after Close succeeded")
	}
}

func TestClientUnroutable(t *testing.T) {
	url := vcdexttest.RequireBroker(t)
	ex, rk := vcdexttest.UniqueNames(t)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := vcdextclient.NewClient(t.Context(), url, ex, rk)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// No exchange: the broker closes the publishing channel with 404.
	var ae *amqp.Error
	if _, err := c.Do(ctx, vcdextclient.Req{Path: "/x"}); !errors.As(err, &ae) || ae.Code != amqp.NotFound {
		t.Errorf("Do with no exchange = %v, want a 404", err)
	}
	ch, _ := conn.Channel()
	if err := ch.ExchangeDeclare(ex, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	// The client recovers its channel; with nothing bound, the request comes back.
	if _, err := c.Do(ctx, vcdextclient.Req{Path: "/x"}); !errors.Is(err, vcdextclient.ErrUnroutable) {
		t.Errorf("Do with no queue bound = %v, want ErrUnroutable", err)
	}
}

func TestLoad(t *testing.T) {
	c := startEcho(t, 32)
	r := vcdextclient.Load(t.Context(), 8, 300*time.Millisecond, func(ctx context.Context) error {
		_, err := c.Do(ctx, vcdextclient.Req{Path: "/api/cse/system"})
		return err
	})
	t.Logf("echo ceiling, 8 callers: %.0f req/s, p50 %v, p99 %v, %d requests", r.Throughput, r.P50, r.P99, r.Requests)
	if r.Requests == 0 || r.Errors != 0 || r.Throughput <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
		t.Errorf("Load = %+v", r)
	}
}

// Load counts failed calls, but not in its throughput or latencies, and only the calls of
// its window (after 20 ms of warm-up, 100 ms long). On synctest's clock each call takes
// exactly its millisecond, so the figures are exact: calls 21 to 120 are counted, the even
// ones failed.
func TestLoadCountsFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls int
		r := vcdextclient.Load(t.Context(), 1, 100*time.Millisecond, func(ctx context.Context) error {
			calls++
			time.Sleep(time.Millisecond)
			if calls%2 == 0 {
				return errors.New("every other call fails")
			}
			return nil
		})
		want := vcdextclient.Result{Requests: 100, Errors: 50, Throughput: 500, P50: time.Millisecond, P99: time.Millisecond}
		if r != want {
			t.Errorf("Load with failures = %+v, want %+v", r, want)
		}
	})
}

func BenchmarkEchoRoundTrip(b *testing.B) {
	c := startEcho(b, 64)
	b.SetParallelism(8) // 8×GOMAXPROCS concurrent callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(context.Background(), vcdextclient.Req{Path: "/api/cse/system"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
