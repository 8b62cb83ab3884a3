package ingress_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaasproject/kaas/ingress"
)

// slowEnds answers with the number of writes acknowledged when each read started.
type slowEnds struct {
	written atomic.Uint64
	reads   atomic.Int64
	delay   time.Duration
}

func (s *slowEnds) LastSequences(ctx context.Context) (uint64, uint64, error) {
	s.reads.Add(1)
	at := s.written.Load()
	time.Sleep(s.delay)
	return at, at, nil
}

// Many requests at once share a few reads of the ends, and each still sees every write
// acknowledged before it asked.
func TestCoalesceEnds(t *testing.T) {
	src := &slowEnds{delay: 5 * time.Millisecond}
	ends := ingress.CoalesceEnds(src, time.Second)
	const callers, rounds = 32, 10
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range rounds {
				before := src.written.Add(1) // a write acknowledged before the request asks
				cmds, evts, err := ends.LastSequences(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				if cmds < before || evts < before {
					t.Errorf("a request asked after write %d and was told the streams end at %d", before, cmds)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := src.reads.Load(); n >= callers*rounds/2 {
		t.Errorf("%d requests made %d reads: not shared", callers*rounds, n)
	}
	t.Logf("%d requests, %d reads", callers*rounds, src.reads.Load())

	// A request whose context ends stops waiting; the others still get their read.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := ends.LastSequences(ctx); err == nil {
		t.Error("a cancelled request got an answer")
	}
	if _, _, err := ends.LastSequences(t.Context()); err != nil {
		t.Error(err)
	}
}
