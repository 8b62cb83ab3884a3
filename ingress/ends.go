package ingress

import (
	"context"
	"sync"
	"time"
)

// CoalesceEnds shares reads of the streams' ends among the requests that need one at the
// same time. Every read the API serves in a shared deployment first asks where both
// streams end (two stream-info calls to their leaders), so under load the leaders answered
// the same question hundreds of times a second.
//
// A request still sees every write acknowledged before it arrived: it joins only a read
// that starts after it arrived. While one read is in flight, the requests that arrive
// wait for the next one, which starts when that read ends; so there is at most one read in
// flight and one waiting, however many requests wait.
func CoalesceEnds(ends StreamEnds, timeout time.Duration) StreamEnds {
	if ends == nil {
		return nil
	}
	return &coalescedEnds{read: ends, timeout: timeout}
}

type coalescedEnds struct {
	read    StreamEnds
	timeout time.Duration

	mu      sync.Mutex
	running bool
	next    *endsRead // the read the requests arriving now will get; nil: none yet
}

type endsRead struct {
	done           chan struct{}
	commands, evts uint64
	err            error
}

func (c *coalescedEnds) LastSequences(ctx context.Context) (commands, evts uint64, err error) {
	c.mu.Lock()
	if c.next == nil {
		c.next = &endsRead{done: make(chan struct{})}
	}
	r := c.next
	if !c.running {
		c.running, c.next = true, nil
		go c.run(r)
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.commands, r.evts, r.err
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// run reads the ends for r, then for whatever requests arrived meanwhile, until none wait.
func (c *coalescedEnds) run(r *endsRead) {
	for r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		r.commands, r.evts, r.err = c.read.LastSequences(ctx)
		cancel()
		close(r.done)
		c.mu.Lock()
		r, c.next = c.next, nil
		c.running = r != nil
		c.mu.Unlock()
	}
}
