package ingress_test

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkCreateHandler is the API's share of a create, in process, with the command
// store faked: decode, validate, views, render. Its allocations are what the request path's
// garbage collector pays for per create.
func BenchmarkCreateHandler(b *testing.B) {
	h := newHarness(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		rec := h.do("POST", "/api/cse/3.0/clusters", createBody(fmt.Sprintf("b%d", i), "vdc1", 2))
		if rec.Code != http.StatusAccepted {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
