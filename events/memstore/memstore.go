// Package memstore is the command and event store in memory: the same contract as
// events/jsstore (the conformance suite events/store/storetest runs against both), with no
// server, so that the executors', the projector's and the aggregates' tests run fast and,
// inside a testing/synctest bubble, on fake time. Every wait in it is on a channel, which
// synctest counts as durably blocked. It keeps nothing across processes: it is for tests.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// Config tunes a Store.
type Config struct {
	// Duplicates is the dedupe window for message ids, as JetStream's (default 10 minutes).
	Duplicates time.Duration
}

// Store is an in-memory store. It is safe for concurrent use.
type Store struct {
	cfg Config

	mu        sync.Mutex
	streams   map[string]*stream
	changed   chan struct{} // closed and replaced on every append: followers wait on it
	snapshots map[string][]byte
	secrets   map[string][]byte
	consumers map[string]*consumer
	buckets   map[string]*bucket     // key-value buckets by name (kv.go)
	blobs     map[string]*blobBucket // blob buckets by name (blobs.go)
}

type entry struct {
	rec   store.Record
	dlq   *store.DeadLetter // a dead letter's own fields
	msgID string
	gone  bool // a removed dead letter
}

type stream struct {
	name    string
	entries []entry // entries[i] has sequence i+1
	last    map[string]uint64
	ids     map[string]uint64 // message id → sequence, within the dedupe window
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.Duplicates == 0 {
		cfg.Duplicates = 10 * time.Minute
	}
	s := &Store{cfg: cfg, streams: map[string]*stream{}, changed: make(chan struct{}),
		snapshots: map[string][]byte{}, secrets: map[string][]byte{}, consumers: map[string]*consumer{}}
	for _, n := range []string{events.CommandStream, events.EventStream, events.DeadLetterStream} {
		s.streams[n] = &stream{name: n, last: map[string]uint64{}, ids: map[string]uint64{}}
	}
	return s
}

// append stores a record; mu must be held. The record's envelope is decoded from data, as
// a JetStream store reads it back (type and schema version filled, upcast); data that does
// not decode (a dead letter's) leaves it empty.
func (s *Store) append(st *stream, subject, msgID string, data []byte) store.Record {
	seq := uint64(len(st.entries)) + 1
	env, _ := events.Unmarshal(data)
	rec := store.Record{Seq: seq, Subject: subject, MsgID: msgID, Time: time.Now().UTC(), Raw: data, Envelope: env}
	st.entries = append(st.entries, entry{rec: rec, msgID: msgID})
	st.last[subject] = seq
	if msgID != "" {
		st.ids[msgID] = seq
	}
	close(s.changed)
	s.changed = make(chan struct{})
	if st.name == events.CommandStream {
		for _, c := range s.consumers {
			c.wake()
		}
	}
	return rec
}

// duplicate returns the sequence msgID was stored at, if within the dedupe window.
func (s *Store) duplicate(st *stream, msgID string) (uint64, bool) {
	seq, ok := st.ids[msgID]
	if !ok || msgID == "" {
		return 0, false
	}
	if time.Since(st.entries[seq-1].rec.Time) > s.cfg.Duplicates {
		delete(st.ids, msgID)
		return 0, false
	}
	return seq, true
}

// AppendCommand appends a command to its cluster's command subject; a second append with
// the same msgID within the dedupe window stores nothing and reports duplicate.
func (s *Store) AppendCommand(ctx context.Context, env events.Envelope, msgID string) (seq uint64, duplicate bool, err error) {
	data, err := store.Encode(env, events.KindCommand)
	if err != nil {
		return 0, false, err
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[events.CommandStream]
	if seq, dup := s.duplicate(st, msgID); dup {
		return seq, true, nil
	}
	rec := s.append(st, events.CommandSubject(env.ClusterID), msgID, data)
	return rec.Seq, false, nil
}

// Append appends one event if the cluster's last event is still expectedSeq; an append
// whose msgID already landed returns that record; any other mismatch is store.ErrConflict.
func (s *Store) Append(ctx context.Context, env events.Envelope, expectedSeq uint64, msgID string) (store.Record, error) {
	data, err := store.Encode(env, events.KindEvent)
	if err != nil {
		return store.Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[events.EventStream]
	subject := events.EventSubject(env.ClusterID)
	// The expected sequence is checked before the message id, as a single-replica
	// JetStream stream does: a retry whose event is no longer the cluster's last is a
	// conflict, whose reload finds the event.
	if last := st.last[subject]; last != expectedSeq {
		if last > 0 && msgID != "" && st.entries[last-1].msgID == msgID {
			return st.entries[last-1].rec, nil
		}
		return store.Record{}, fmt.Errorf("%w (expected sequence %d, last is %d)", store.ErrConflict, expectedSeq, last)
	}
	if seq, dup := s.duplicate(st, msgID); dup {
		return st.entries[seq-1].rec, nil
	}
	return s.append(st, subject, msgID, data), nil
}

// Changed returns a channel closed at the next append to any stream: a test takes it, checks
// its condition, and waits on it if the condition does not hold yet, missing no append.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// LastSeq returns the sequence of a cluster's last event, 0 if it has none.
func (s *Store) LastSeq(ctx context.Context, clusterID string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[events.EventStream].last[events.EventSubject(clusterID)], ctx.Err()
}

// Load returns a cluster's events after afterSeq, in order.
func (s *Store) Load(ctx context.Context, clusterID string, afterSeq uint64) ([]store.Record, error) {
	return s.load(ctx, events.EventStream, events.EventSubject(clusterID), afterSeq)
}

// LoadCommands returns a cluster's commands after afterSeq, in order.
func (s *Store) LoadCommands(ctx context.Context, clusterID string, afterSeq uint64) ([]store.Record, error) {
	return s.load(ctx, events.CommandStream, events.CommandSubject(clusterID), afterSeq)
}

func (s *Store) load(ctx context.Context, name, subject string, afterSeq uint64) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Record
	for _, e := range s.streams[name].entries[min(afterSeq, uint64(len(s.streams[name].entries))):] {
		if e.rec.Subject == subject {
			out = append(out, e.rec)
		}
	}
	return out, nil
}

// Ends returns the streams' last sequences and the last event's time.
func (s *Store) Ends(ctx context.Context) (store.Ends, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := store.Ends{Commands: uint64(len(s.streams[events.CommandStream].entries))}
	if ev := s.streams[events.EventStream].entries; len(ev) > 0 {
		e.Events, e.EventTime = uint64(len(ev)), ev[len(ev)-1].rec.Time
	}
	return e, ctx.Err()
}

// CommandEnd returns the command stream's last sequence.
func (s *Store) CommandEnd(ctx context.Context) (uint64, error) {
	e, err := s.Ends(ctx)
	return e.Commands, err
}

// LastSequences returns the last sequences of the command and event streams.
func (s *Store) LastSequences(ctx context.Context) (commands, evts uint64, err error) {
	e, err := s.Ends(ctx)
	return e.Commands, e.Events, err
}

// Scan reads a stream in order, as filtered, up to the last record stored when the scan
// began, calling fn until it returns false.
func (s *Store) Scan(ctx context.Context, f store.ScanFilter, fn func(store.Record) bool) error {
	name := f.Stream
	if name == "" {
		name = events.EventStream
	}
	s.mu.Lock()
	st, ok := s.streams[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("scan: no stream %q", f.Stream)
	}
	entries := st.entries // appends never change what is there
	s.mu.Unlock()
	subject := ""
	if f.ClusterID != "" {
		switch name {
		case events.CommandStream:
			subject = events.CommandSubject(f.ClusterID)
		case events.EventStream:
			subject = events.EventSubject(f.ClusterID)
		default:
			subject = "kaas.dlq.cluster." + f.ClusterID
		}
	}
	for _, e := range entries[min(f.After, uint64(len(entries))):] {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case e.gone, subject != "" && e.rec.Subject != subject:
			continue
		case f.After == 0 && !f.Since.IsZero() && e.rec.Time.Before(f.Since):
			continue
		}
		if !fn(e.rec) {
			return nil
		}
	}
	return nil
}

// Follow calls fn with every record of stream from sequence from on, in order and from one
// goroutine, until stop is called; stop returns once fn no longer runs. ctx bounds setting
// up only, as with JetStream's ordered consumer: the following ends with stop, never unseen.
func (s *Store) Follow(ctx context.Context, name string, from uint64, fn func(store.Raw)) (stop func(), err error) {
	if name != events.CommandStream && name != events.EventStream {
		return nil, fmt.Errorf("follow: no stream %q", name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		next := max(1, from)
		for {
			s.mu.Lock()
			entries, changed := s.streams[name].entries, s.changed
			s.mu.Unlock()
			for ; next <= uint64(len(entries)); next++ {
				select {
				case <-quit:
					return
				default:
				}
				e := entries[next-1].rec
				fn(store.Raw{Seq: e.Seq, Time: e.Time, Data: e.Raw})
			}
			select {
			case <-quit:
				return
			case <-changed:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}, nil
}

// SaveSnapshot stores a cluster's snapshot, replacing the previous one.
func (s *Store) SaveSnapshot(ctx context.Context, clusterID string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshots[clusterID] = slices.Clone(b)
	return ctx.Err()
}

// LoadSnapshot returns a cluster's snapshot, or nil when it has none.
func (s *Store) LoadSnapshot(ctx context.Context, clusterID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.snapshots[clusterID]), ctx.Err()
}

// Secrets returns the secret store (in memory, unsealed: it is for tests).
func (s *Store) Secrets() store.Secrets { return secrets{s} }

type secrets struct{ s *Store }

func (x secrets) Put(ctx context.Context, ref string, value []byte) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.secrets[ref] = slices.Clone(value)
	return ctx.Err()
}

func (x secrets) Get(ctx context.Context, ref string) ([]byte, error) {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	v, ok := x.s.secrets[ref]
	if !ok {
		return nil, fmt.Errorf("%w: %s", store.ErrNoSecret, ref)
	}
	return slices.Clone(v), ctx.Err()
}

func (x secrets) Delete(ctx context.Context, ref string) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	delete(x.s.secrets, ref)
	return ctx.Err()
}

// DeadLetter sets a command (as stored, at cmdSeq) aside with the error that stopped it.
// Doing it twice keeps one copy.
func (s *Store) DeadLetter(ctx context.Context, cmdSeq uint64, cmd events.Envelope, raw []byte, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := cmd.ClusterID
	if !events.ValidClusterID(id) {
		id = "unknown"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[events.DeadLetterStream]
	msgID := fmt.Sprintf("dlq-%d", cmdSeq)
	if _, dup := s.duplicate(st, msgID); dup {
		return nil
	}
	rec := s.append(st, "kaas.dlq.cluster."+id, msgID, slices.Clone(raw))
	// The command is listed as stored (raw), as the JetStream store lists it.
	st.entries[rec.Seq-1].dlq = &store.DeadLetter{Seq: rec.Seq, CommandSeq: cmdSeq, Command: rec.Envelope, Error: reason, At: rec.Time}
	return nil
}

// DeadLetters lists the dead letters, oldest first.
func (s *Store) DeadLetters(ctx context.Context) ([]store.DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.DeadLetter
	for _, e := range s.streams[events.DeadLetterStream].entries {
		if !e.gone {
			out = append(out, *e.dlq)
		}
	}
	return out, ctx.Err()
}

// RemoveDeadLetter deletes one dead letter.
func (s *Store) RemoveDeadLetter(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[events.DeadLetterStream]
	if seq == 0 || seq > uint64(len(st.entries)) || st.entries[seq-1].gone {
		return fmt.Errorf("dead letter %d: %w", seq, store.ErrNoDeadLetter)
	}
	st.entries[seq-1].gone = true
	return ctx.Err()
}

// ConsumeCommands binds the durable consumer cfg.Name on every cluster's commands (its
// state outlives its holders, as a JetStream durable's does) and returns this holder's
// deliveries.
func (s *Store) ConsumeCommands(ctx context.Context, cfg store.ConsumerConfig) (store.Deliveries, error) {
	if cfg.Name == "" || cfg.AckWait <= 0 {
		return nil, errors.New("consume commands: a name and an ack wait are required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consumers[cfg.Name]
	if !ok {
		c = &consumer{s: s, pending: map[uint64]*pending{}, ready: map[uint64]bool{}, count: map[uint64]int{}, signal: make(chan struct{})}
		s.consumers[cfg.Name] = c
	}
	c.ackWait = cfg.AckWait
	return &holder{c: c, stop: make(chan struct{})}, nil
}

// consumer is a durable consumer's state; its fields are guarded by the store's mu.
type consumer struct {
	s       *Store
	ackWait time.Duration
	next    uint64              // the last sequence ever handed out for the first time
	pending map[uint64]*pending // handed out, not yet acked or terminated
	ready   map[uint64]bool     // to hand out again (nak'd, or its ack wait ran out)
	count   map[uint64]int      // deliveries so far, by sequence
	signal  chan struct{}       // closed and replaced when there may be work
}

type pending struct {
	n     int // delivery number: a stale delivery's nak or timeout changes nothing
	timer *time.Timer
}

func (c *consumer) wake() {
	close(c.signal)
	c.signal = make(chan struct{})
}

// take hands out the lowest ready sequence, else the next new one; mu must be held.
func (c *consumer) take() (uint64, bool) {
	if len(c.ready) > 0 {
		seq := slices.Min(slices.Collect(maps.Keys(c.ready)))
		delete(c.ready, seq)
		return seq, true
	}
	cmds := c.s.streams[events.CommandStream].entries
	if c.next < uint64(len(cmds)) {
		c.next++
		return c.next, true
	}
	return 0, false
}

// expire makes a delivery's command ready again unless it moved on; mu must be held.
func (c *consumer) expire(seq uint64, n int) {
	if p, ok := c.pending[seq]; ok && p.n == n {
		p.timer.Stop()
		delete(c.pending, seq)
		c.ready[seq] = true
		c.wake()
	}
}

type holder struct {
	c    *consumer
	stop chan struct{}
	once sync.Once
}

func (h *holder) Next() (store.Delivery, error) {
	s := h.c.s
	for {
		s.mu.Lock()
		select {
		case <-h.stop:
			s.mu.Unlock()
			return nil, store.ErrStopped
		default:
		}
		seq, ok := h.c.take()
		if ok {
			h.c.count[seq]++
			n := h.c.count[seq]
			p := &pending{n: n}
			h.c.pending[seq] = p
			p.timer = time.AfterFunc(h.c.ackWait, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				h.c.expire(seq, n)
			})
			rec := s.streams[events.CommandStream].entries[seq-1].rec
			s.mu.Unlock()
			return &delivery{c: h.c, rec: rec, n: n}, nil
		}
		signal := h.c.signal
		s.mu.Unlock()
		select {
		case <-h.stop:
			return nil, store.ErrStopped
		case <-signal:
		}
	}
}

func (h *holder) Stop() { h.once.Do(func() { close(h.stop) }) }

type delivery struct {
	c   *consumer
	rec store.Record
	n   int
}

func (d *delivery) Seq() uint64     { return d.rec.Seq }
func (d *delivery) Subject() string { return d.rec.Subject }
func (d *delivery) Data() []byte    { return d.rec.Raw }

// settle ends the command's deliveries (ack, term).
func (d *delivery) settle() error {
	s := d.c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := d.c.pending[d.rec.Seq]; ok {
		p.timer.Stop()
		delete(d.c.pending, d.rec.Seq)
	}
	delete(d.c.ready, d.rec.Seq)
	delete(d.c.count, d.rec.Seq)
	return nil
}

func (d *delivery) Ack(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.settle()
}

func (d *delivery) Term(string) error { return d.settle() }

func (d *delivery) Nak() error { return d.NakWithDelay(0) }

func (d *delivery) NakWithDelay(wait time.Duration) error {
	s := d.c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := d.c.pending[d.rec.Seq]
	if !ok || p.n != d.n {
		return nil // stale: the command moved on
	}
	p.timer.Stop()
	if wait <= 0 {
		d.c.expire(d.rec.Seq, d.n)
		return nil
	}
	n := d.n
	p.timer = time.AfterFunc(wait, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		d.c.expire(d.rec.Seq, n)
	})
	return nil
}

func (d *delivery) InProgress() error {
	s := d.c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := d.c.pending[d.rec.Seq]
	if !ok || p.n != d.n {
		return nil
	}
	p.timer.Reset(d.c.ackWait)
	return nil
}

// String says where a delivery's command is, for test failures.
func (d *delivery) String() string {
	return fmt.Sprintf("%s #%d (delivery %d)", d.rec.Subject, d.rec.Seq, d.n)
}
