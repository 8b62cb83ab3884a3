package vcdextclient

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Result summarises a [Load] run. Latencies are of successful calls only.
type Result struct {
	Requests   int           // calls completed in the measured window, failed ones included
	Errors     int           // of those, how many returned an error
	Throughput float64       // successful calls per second over the window
	P50, P99   time.Duration // latency percentiles of successful calls
}

// Load runs concurrency goroutines that call do in a loop: first for a short warm-up
// (duration/5, at most 1 s) that is not measured, then for duration. A call counts if it
// completes inside the measured window; calls still running at its end are awaited but not
// counted. It returns early, with what it measured, if ctx ends.
func Load(ctx context.Context, concurrency int, duration time.Duration, do func(ctx context.Context) error) Result {
	concurrency = max(concurrency, 1)
	warm := min(duration/5, time.Second)
	begin := time.Now()
	start := begin.Add(warm)
	end := start.Add(duration)

	type tally struct {
		lat    []time.Duration
		errors int
	}
	tallies := make([]tally, concurrency)
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			t := &tallies[i]
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				err := do(ctx)
				t1 := time.Now()
				if t0.Before(start) || t1.After(end) {
					continue
				}
				if err != nil {
					t.errors++
				} else {
					t.lat = append(t.lat, t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()

	var r Result
	var all []time.Duration
	for _, t := range tallies {
		all = append(all, t.lat...)
		r.Errors += t.errors
	}
	r.Requests = len(all) + r.Errors
	window := min(duration, time.Since(start))
	if window > 0 {
		r.Throughput = float64(len(all)) / window.Seconds()
	}
	if len(all) > 0 {
		slices.Sort(all)
		r.P50 = all[len(all)*50/100]
		r.P99 = all[min(len(all)*99/100, len(all)-1)]
	}
	return r
}
