package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Group commit. A stream that syncs before it acknowledges spends most of an append on the
// fsync (about half a millisecond here), one append at a time: alone, a stream stops near
// 2,000 appends a second however many callers wait. When many appends are in flight at
// once, those that arrive meanwhile are therefore sent together as one atomic batch
// (ADR-50), which one node stores with one sync and a cluster with one proposal. Nothing
// waits for a batch to fill: while fewer than minBatch appends are in flight each goes on
// its own, at once, and batches form only from the appends that queue up behind a batch
// being written.
//
// A batch is all or nothing, so an append never depends on its neighbours: when a batch is
// refused (a duplicate message id, a limit, too many batches in flight) or its answer is
// lost, each of its appends is published again on its own, with its own message id, and
// gets the answer it would have got alone; a batch that did land makes those publishes
// duplicates, which return the sequences it stored.

// Batch headers (ADR-50).
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

const (
	// maxBatch bounds the appends of one batch: nats-server takes up to 1,000, and a batch
	// of more than a hundred commands saves nothing more on the sync.
	maxBatch = 100
	// batchWriters is how many batches one kaasd has in flight to a stream. A stream
	// stores one batch at a time, so a second writer would only split the queue into
	// smaller batches, and each batch costs one node a staging store of its own; the next
	// batch forms while one is stored. nats-server allows 50 per stream across all clients.
	batchWriters = 1
	// minBatch is the fewest appends worth a batch. On one node a batch costs a staging
	// store of its own, made and removed with several synchronous file writes: about 8 ms
	// on the bench's disk, what some 16 separate syncs cost. Fewer appends than this go
	// each on its own, all at once.
	minBatch = 16
)

// BatchStats counts a store's group commits, for metrics.
type BatchStats struct {
	// Batches and Batched count the batches stored and the appends they held.
	Batches, Batched uint64
	// Alone counts appends that went on their own: too few waited to be worth a batch.
	Alone uint64
	// Retried counts appends whose batch was refused or unanswered and that were then
	// published on their own.
	Retried uint64
}

// batcher groups the appends to one stream.
type batcher struct {
	nc      *nats.Conn
	stream  string
	publish func(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error)

	// oneEach keeps two appends to one subject out of one batch: the server checks an
	// append's expected subject sequence against the stream before its batch, so the
	// second would fail and take the whole batch with it.
	oneEach bool

	mu      sync.Mutex
	queue   []*pending
	writers int
	alone   int // appends being published on their own, outside any batch
	stats   BatchStats
}

type pending struct {
	ctx  context.Context
	msg  *nats.Msg
	done chan batchResult
}

type batchResult struct {
	ack *jetstream.PubAck
	err error
}

// append publishes msg, which carries its Nats-Msg-Id and expected stream headers, alone or
// in a batch with appends of other callers, and returns its ack.
func (b *batcher) append(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	b.mu.Lock()
	if b.writers == 0 && b.alone < minBatch {
		// No batch is forming and few appends are in flight: this one goes at once.
		b.alone++
		b.stats.Alone++
		b.mu.Unlock()
		ack, err := b.publish(ctx, msg)
		b.mu.Lock()
		b.alone--
		b.mu.Unlock()
		return ack, err
	}
	p := &pending{ctx: ctx, msg: msg, done: make(chan batchResult, 1)}
	b.queue = append(b.queue, p)
	start := b.writers < batchWriters
	if start {
		b.writers++
	}
	b.mu.Unlock()
	if start {
		go b.write()
	}
	select {
	case r := <-p.done:
		return r.ack, r.err
	case <-ctx.Done():
		// The append may still land: its message id makes a retry of the request find it.
		return nil, ctx.Err()
	}
}

// write sends what is queued until the queue is empty. It runs only while there is work,
// so no goroutine outlives the store's callers.
func (b *batcher) write() {
	for {
		b.mu.Lock()
		next := b.take()
		if len(next) == 0 {
			b.writers--
			b.mu.Unlock()
			return
		}
		few := len(next) < minBatch
		if few {
			b.stats.Alone += uint64(len(next))
		}
		b.mu.Unlock()
		if few {
			b.each(next)
			continue
		}
		b.send(next)
	}
}

// each publishes ps each on its own, all at once, and answers each.
func (b *batcher) each(ps []*pending) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			ack, err := b.publish(p.ctx, p.msg)
			p.done <- batchResult{ack, err}
		})
	}
	wg.Wait()
}

// take removes the next batch from the queue, in order, and answers the appends given up
// on before they were sent (they never land). Locked.
func (b *batcher) take() []*pending {
	var next, left []*pending
	var subjects map[string]bool
	for i, p := range b.queue {
		switch {
		case p.ctx.Err() != nil:
			p.done <- batchResult{err: p.ctx.Err()}
		case len(next) == maxBatch:
			left = append(left, b.queue[i:]...)
			b.queue = left
			return next
		case b.oneEach && subjects[p.msg.Subject]:
			left = append(left, p)
		default:
			if b.oneEach {
				if subjects == nil {
					subjects = map[string]bool{}
				}
				subjects[p.msg.Subject] = true
			}
			next = append(next, p)
		}
	}
	b.queue = left
	return next
}

// send stores ps as one atomic batch, or each alone when the batch is not stored.
func (b *batcher) send(ps []*pending) {
	acks, err := b.commit(ps)
	b.mu.Lock()
	if err == nil {
		b.stats.Batches++
		b.stats.Batched += uint64(len(ps))
	} else {
		b.stats.Retried += uint64(len(ps))
	}
	b.mu.Unlock()
	if err == nil {
		for i, p := range ps {
			p.done <- batchResult{ack: acks[i]}
		}
		return
	}
	b.each(ps)
}

// batchAck is nats-server's answer to a batch's commit.
type batchAck struct {
	Error    *jetstream.APIError `json:"error,omitempty"`
	Stream   string              `json:"stream"`
	Sequence uint64              `json:"seq"`
	Batch    string              `json:"batch"`
	Count    int                 `json:"count"`
}

// commit publishes ps as one batch and returns each one's ack. The batch's messages go
// in order on one connection; the last carries the commit and the request for the answer.
func (b *batcher) commit(ps []*pending) ([]*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tryTimeout)
	defer cancel()
	id := nuid.Next()
	for i, p := range ps {
		m := &nats.Msg{Subject: p.msg.Subject, Data: p.msg.Data, Header: maps.Clone(p.msg.Header)}
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if i < len(ps)-1 {
			if err := b.nc.PublishMsg(m); err != nil {
				return nil, err
			}
			continue
		}
		m.Header.Set(headerBatchCommit, "1")
		resp, err := b.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return nil, err
		}
		var a batchAck
		if err := json.Unmarshal(resp.Data, &a); err != nil {
			return nil, fmt.Errorf("batch answer %q: %w", resp.Data, err)
		}
		if a.Error != nil {
			return nil, a.Error
		}
		if a.Batch != id || a.Count != len(ps) || a.Stream != b.stream || a.Sequence < uint64(len(ps)) {
			return nil, fmt.Errorf("batch answer %q does not match batch %s of %d on %s", resp.Data, id, len(ps), b.stream)
		}
		// A batch is stored in order with nothing between its messages.
		acks := make([]*jetstream.PubAck, len(ps))
		first := a.Sequence - uint64(len(ps)) + 1
		for j := range ps {
			acks[j] = &jetstream.PubAck{Stream: a.Stream, Sequence: first + uint64(j)}
		}
		return acks, nil
	}
	return nil, errors.New("empty batch")
}

func (b *batcher) statsNow() BatchStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// BatchStats returns the group commits of command and of event appends so far (zero
// when the server does not batch).
func (s *Store) BatchStats() (commands, evts BatchStats) {
	if s.cmdBatch != nil {
		commands = s.cmdBatch.statsNow()
	}
	if s.evtBatch != nil {
		evts = s.evtBatch.statsNow()
	}
	return commands, evts
}

// batchMsgIDVersion is the first nats-server that dedupes by Nats-Msg-Id inside atomic
// batches (jetstream.md §1.10); on an older one a redelivered request could be stored twice.
const batchMsgIDVersion = "2.12.1"

// batcher returns a group commit for st, or nil when the server did not keep the stream's
// allow_atomic or does not dedupe inside batches.
func (s *Store) batcher(st jetstream.Stream, oneEach bool) *batcher {
	cfg := st.CachedInfo().Config
	if !cfg.AllowAtomicPublish || !versionAtLeast(s.nc.ConnectedServerVersion(), batchMsgIDVersion) {
		return nil
	}
	return &batcher{nc: s.nc, stream: cfg.Name, oneEach: oneEach, publish: func(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
		return s.publish(ctx, m)
	}}
}
