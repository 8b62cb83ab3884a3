package vcdext_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// benchRequestBody is about the size of kaas's create entity.
var benchRequestBody = bytes.Repeat([]byte(`{"k":"0123456789abcdef0123456789abcdef0123456789"},`), 16)

// benchReplyBody is about the size of the entity kaas renders in its 202.
var benchReplyBody = vcdexttest.EchoBody(1900)

// benchEnvelope is a create as VCD forwards it, with the headers VCD typically sends.
func benchEnvelope(b *testing.B) []byte {
	body, err := vcdexttest.EncodeRequest(vcdexttest.Req{
		Method: http.MethodPost, Path: "/api/cse/3.0/clusters", Body: benchRequestBody,
		RequestID: "6f0c9a4e-1111-4b7d-9a51-000000000001",
		Headers: map[string]string{
			"Accept": "application/json;version=36.0", "Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
			"Content-Type": "application/json", "Host": "vcd.example.com", "User-Agent": "go-vcloud-director",
			"X-Vmware-Vcloud-Tenant-Context": "a93c9db9-7471-3192-8d09-a8f7eeda85f9",
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkDecodeRequest measures what the consumer does to every message body before the
// handler runs: DecodeRequest and HTTPRequest.
func BenchmarkDecodeRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"create", benchEnvelope(b)},
		{"vcdExample", []byte(vcdExample)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := vcdext.DecodeRequest(bc.body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.HTTPRequest(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConsumerRoundTrip measures VCD → consumer → trivial handler → reply, to compare
// with vcdexttest's BenchmarkEchoRoundTrip, the same protocol with no handler work.
func BenchmarkConsumerRoundTrip(b *testing.B) {
	url := vcdexttest.RequireBroker(b)
	ex, rk := vcdexttest.UniqueNames(b)
	cons, err := vcdext.New(vcdext.Config{URL: url, Exchange: ex, RoutingKey: rk}, http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(`{"message":"accepted"}`))
		}))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	eventually(b, 10*time.Second, cons.Ready)
	c, err := vcdexttest.NewClient(context.Background(), url, ex, rk)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(context.Background(), vcdexttest.Req{Path: "/api/cse/system"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVersusEcho runs the consumer with a handler that answers a canned 202 of kaas's
// size, and vcdexttest's echo with a reply of the same size, at 64 in flight (GOMAXPROCS 2)
// with the same client and requests. On a box where the broker, the client and the server
// share the cores, CPU per request is throughput: besides ns/op it reports this process's
// CPU per request (client and server) and, when RabbitMQ runs locally, the broker's.
func BenchmarkVersusEcho(b *testing.B) {
	url := vcdexttest.RequireBroker(b)
	par := max(1, 64/runtime.GOMAXPROCS(0)) // RunParallel starts par×GOMAXPROCS callers
	run := func(b *testing.B, ex, rk string) {
		c, err := vcdexttest.NewClient(context.Background(), url, ex, rk)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		req := vcdexttest.Req{Method: http.MethodPost, Path: "/api/cse/3.0/clusters", Body: benchRequestBody}
		waitAnswer(b, c, req)
		// Warm up the pipeline, then measure.
		warmCtx, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
		vcdexttest.Load(warmCtx, 64, time.Second, func(ctx context.Context) error { _, err := c.Do(ctx, req); return err })
		stop()
		cpu := startCPU()
		b.SetParallelism(par)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Do(context.Background(), req)
				if err != nil {
					b.Error(err)
					return
				}
				if resp.StatusCode != http.StatusAccepted || len(resp.Body) != len(benchReplyBody) {
					b.Errorf("reply %d with %d bytes", resp.StatusCode, len(resp.Body))
					return
				}
			}
		})
		b.StopTimer()
		cpu.report(b)
	}
	b.Run("echo", func(b *testing.B) {
		ex, rk := vcdexttest.UniqueNames(b)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- vcdexttest.RunEchoSize(ctx, url, ex, rk, vcdext.DefaultPrefetch, len(benchReplyBody)) }()
		b.Cleanup(func() { cancel(); <-done })
		run(b, ex, rk)
	})
	b.Run("consumer", func(b *testing.B) {
		ex, rk := vcdexttest.UniqueNames(b)
		cons, err := vcdext.New(vcdext.Config{URL: url, Exchange: ex, RoutingKey: rk}, http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json;version=36.0")
				w.Header().Set("Location", "/api/task/0b7f3c1e-8d2a-4c55-9e61-3f0a2b4c5d6e")
				w.WriteHeader(http.StatusAccepted)
				w.Write(benchReplyBody)
			}))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- cons.Run(ctx) }()
		b.Cleanup(func() { cancel(); <-done })
		eventually(b, 10*time.Second, cons.Ready)
		run(b, ex, rk)
	})
}

func waitAnswer(b *testing.B, c *vcdexttest.Client, req vcdexttest.Req) {
	b.Helper()
	eventually(b, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.Do(ctx, req); err != nil {
			return fmt.Errorf("no answer: %w", err)
		}
		return nil
	})
}

// cpuMeter reads this process's and the local broker's CPU time from /proc (Linux); where
// it cannot, it reports nothing.
type cpuMeter struct {
	broker           int
	self0, broker0   time.Duration
	selfOK, brokerOK bool
}

func startCPU() *cpuMeter {
	m := &cpuMeter{broker: findBeam()}
	m.self0, m.selfOK = procCPU("self")
	if m.broker != 0 {
		m.broker0, m.brokerOK = procCPU(strconv.Itoa(m.broker))
	}
	return m
}

func (m *cpuMeter) report(b *testing.B) {
	if m.selfOK {
		if t, ok := procCPU("self"); ok {
			b.ReportMetric(float64((t-m.self0).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	}
	if m.brokerOK {
		if t, ok := procCPU(strconv.Itoa(m.broker)); ok {
			b.ReportMetric(float64((t-m.broker0).Microseconds())/float64(b.N), "broker-µs/op")
		}
	}
}

// procCPU is utime+stime of /proc/<pid>/stat, assuming the usual 100 ticks per second.
func procCPU(pid string) (time.Duration, bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * 10 * time.Millisecond, true
}

// findBeam returns the pid of a local RabbitMQ (beam.smp), or 0.
func findBeam() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "beam.smp" {
			return pid
		}
	}
	return 0
}
