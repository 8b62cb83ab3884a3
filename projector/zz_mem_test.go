package projector_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/projector/projectortest"
)

func TestZZMem(t *testing.T) {
	n := 20000
	runtime.MemProfileRate = 4096
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := projectortest.New(t)
	for i := range n {
		org := "urn:vcloud:org:" + events.DeriveID("o", fmt.Sprint(i%1000))
		s.Run(s.Create(fmt.Sprintf("c%d", i), org, "urn:vcloud:user:"+events.DeriveID("u", fmt.Sprint(i%1000))))
	}
	recs := s.All
	for i := range recs {
		b, err := events.Marshal(recs[i].Env)
		if err != nil {
			t.Fatal(err)
		}
		recs[i].Env = events.Envelope{}
		b2 := append([]byte(nil), b...)
		recs[i].Env, err = events.Unmarshal(b2)
		if err != nil {
			t.Fatal(err)
		}
		recs[i].Hash = string(append([]byte(nil), recs[i].Hash...))
	}
	s = nil
	v := projector.NewViews()
	for i := range recs {
		projectortest.Feed(v, recs[i:i+1])
		recs[i] = projectortest.Record{}
	}
	recs = nil
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("%d clusters: heap in use %.1f MB more: %.0f bytes per cluster", n, (float64(m1.HeapAlloc)-float64(m0.HeapAlloc))/1e6, (float64(m1.HeapAlloc)-float64(m0.HeapAlloc))/float64(n))
	f, _ := os.Create("/tmp/views-heap.pprof")
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	runtime.KeepAlive(v)
}
