package vcdext_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

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
	for cons.Ready() != nil {
		time.Sleep(5 * time.Millisecond)
	}
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
