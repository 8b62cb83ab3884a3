package jsstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/natstest"
)

// BenchmarkAppendCommand appends commands from 64 goroutines, as the ingress does.
func BenchmarkAppendCommand(b *testing.B) {
	st, _ := natstest.Store(b)
	var n atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := events.DeriveID("cluster", fmt.Sprint(i))
			env := events.Envelope{ID: id, ClusterID: id, Time: time.Now(), Payload: events.ScaleWorkers{Workers: 3}}
			if _, _, err := st.AppendCommand(b.Context(), env, fmt.Sprint("m", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
