package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// Source is what the projector needs of the store: where the streams end, and each stream's
// records in order from a sequence on. events/jsstore implements it on JetStream,
// events/memstore in memory.
type Source interface {
	Ends(ctx context.Context) (store.Ends, error)
	// Follow calls fn with every record of stream from sequence from on, in order and from
	// one goroutine, until stop is called; stop returns once fn no longer runs.
	Follow(ctx context.Context, stream string, from uint64, fn func(store.Raw)) (stop func(), err error)
}

// Config tunes a Projector.
type Config struct {
	Logger *slog.Logger
	// Snapshots has the projector start from a snapshot of its views and write them
	// (snapshots.go); without a store it folds from sequence 1 at every start.
	Snapshots SnapshotConfig
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error { return c.Snapshots.Validate() }

// Projector keeps Views up to date with the streams.
type Projector struct {
	src   Source
	log   *slog.Logger
	views *Views
	snaps SnapshotConfig

	mu     sync.Mutex
	caught bool // reached the streams' ends as they were at start
	err    error

	// swap serializes Replay's swaps; runCtx and stopFollow are the live following, which
	// a swap stops and restarts.
	swap       sync.Mutex
	runCtx     context.Context
	stopFollow func()
}

// New returns a projector feeding fresh views.
func New(src Source, cfg Config) *Projector {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Snapshots.setDefaults()
	return &Projector{src: src, log: cfg.Logger, views: NewViews(), snaps: cfg.Snapshots}
}

// Views returns the live views.
func (p *Projector) Views() *Views { return p.views }

// Ready reports whether the views have caught up with the history that existed at start,
// so that answers are not served from half-built views.
func (p *Projector) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return p.err
	case !p.caught:
		return errors.New("projector is catching up")
	}
	return nil
}

// Run follows both streams until ctx ends.
func (p *Projector) Run(ctx context.Context) error {
	if err := p.snaps.Validate(); err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	ends, err := p.src.Ends(ctx)
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	cmdEnd, evtEnd := ends.Commands, ends.Events
	snaps := p.startFromSnapshot(ctx, ends)
	p.swap.Lock()
	stop, err := follow(ctx, p.src, p.views, p.log, 0, 0)
	p.runCtx, p.stopFollow = ctx, stop
	p.swap.Unlock()
	if err != nil {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		return err
	}
	defer func() {
		p.swap.Lock()
		defer p.swap.Unlock()
		p.stopFollow()
	}()
	start := time.Now()
	if err := p.views.WaitFor(ctx, cmdEnd, evtEnd); err != nil {
		return nil
	}
	p.mu.Lock()
	p.caught = true
	p.mu.Unlock()
	c, e := p.views.Seqs()
	p.log.Info("projector caught up", "commands_seq", c, "events_seq", e, "took", time.Since(start))
	if snaps != nil {
		snaps.run(ctx) // until ctx ends, with a last snapshot then
		return nil
	}
	<-ctx.Done()
	return nil
}

// Rebuild builds new views from sequence 1 up to the streams' ends as they are now. The
// live views keep serving meanwhile.
func Rebuild(ctx context.Context, src Source) (*Views, error) {
	cmdEnd, evtEnd, err := lastSeqs(ctx, src)
	if err != nil {
		return nil, err
	}
	return RebuildTo(ctx, src, cmdEnd, evtEnd)
}

// RebuildTo builds new views from sequence 1 up to exactly the given sequences of the
// command and event streams, to compare them with views that reached the same ones.
func RebuildTo(ctx context.Context, src Source, cmdEnd, evtEnd uint64) (*Views, error) {
	v := NewViews()
	stop, err := follow(ctx, src, v, slog.New(slog.DiscardHandler), cmdEnd, evtEnd)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := v.WaitFor(ctx, cmdEnd, evtEnd); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	return v, nil
}

func lastSeqs(ctx context.Context, src Source) (commands, evts uint64, err error) {
	e, err := src.Ends(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("projector: %w", err)
	}
	return e.Commands, e.Events, nil
}

// follow starts ordered consumers on both streams, from the first sequence the views have
// not seen, and folds every message into v.
func follow(ctx context.Context, src Source, v *Views, log *slog.Logger, cmdMax, evtMax uint64) (stop func(), err error) {
	cmdSeq, evtSeq := v.Seqs()
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	for _, f := range []struct {
		stream string
		from   uint64
		max    uint64 // 0: no end
		hash   bool   // events chain by hash; the views keep each cluster's head
		apply  func(seq uint64, hash string, env events.Envelope)
	}{
		{events.CommandStream, cmdSeq + 1, cmdMax, false, func(seq uint64, _ string, env events.Envelope) { v.ApplyCommand(seq, env) }},
		{events.EventStream, evtSeq + 1, evtMax, true, func(seq uint64, h string, env events.Envelope) { v.ApplyEvent(seq, h, env) }},
	} {
		// Records are decoded in parallel, in batches, and folded in order: decoding is
		// most of a rebuild's cost, and the fold must see records in stream order.
		in := make(chan store.Raw, 4*decodeBatch)
		done := make(chan struct{})
		go func() {
			defer close(done)
			decodeAndFold(in, f.stream, f.max, f.hash, f.apply, v, log)
		}()
		stopFollow, err := src.Follow(ctx, f.stream, f.from, func(r store.Raw) { in <- r })
		if err != nil {
			close(in)
			<-done
			stopAll()
			return nil, fmt.Errorf("projector: follow %s: %w", f.stream, err)
		}
		var once sync.Once
		stops = append(stops, func() {
			once.Do(func() {
				stopFollow()
				close(in)
				<-done
			})
		})
	}
	return stopAll, nil
}

// decodeBatch is how many records are decoded together at most.
const decodeBatch = 512

type decoded struct {
	seq  uint64
	hash string
	env  events.Envelope
	err  error
	skip bool
}

// decodeAndFold takes records from in until it is closed: each batch already there is
// decoded on every core, then folded in order.
func decodeAndFold(in <-chan store.Raw, stream string, last uint64, hash bool, apply func(uint64, string, events.Envelope), v *Views, log *slog.Logger) {
	batch := make([]store.Raw, 0, decodeBatch)
	out := make([]decoded, decodeBatch)
	workers := max(1, runtime.GOMAXPROCS(0))
	for m := range in {
		batch = append(batch[:0], m)
	fill:
		for len(batch) < decodeBatch {
			select {
			case m, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		decode := func(i int) {
			m := batch[i]
			d := decoded{seq: m.Seq}
			if last > 0 && d.seq > last {
				d.skip = true
				out[i] = d
				return
			}
			d.env, d.err = events.Unmarshal(m.Data)
			if hash && d.err == nil {
				d.hash = events.Hash(m.Data)
			}
			out[i] = d
		}
		if len(batch) < 16 || workers == 1 {
			for i := range batch {
				decode(i)
			}
		} else {
			var wg sync.WaitGroup
			per := (len(batch) + workers - 1) / workers
			for w := 0; w < len(batch); w += per {
				wg.Go(func() {
					for i := w; i < min(w+per, len(batch)); i++ {
						decode(i)
					}
				})
			}
			wg.Wait()
		}
		v.folding.Lock()
		for i := range batch {
			d := out[i]
			switch {
			case d.skip:
			case d.err != nil:
				// History that cannot be read is skipped, loudly: the views must still
				// move on, and the audit tools report the bad record.
				log.Error("projector: unreadable record skipped", "stream", stream, "seq", d.seq, "err", d.err)
				v.skip(stream, d.seq)
			default:
				apply(d.seq, d.hash, d.env)
			}
		}
		v.folding.Unlock()
	}
}

// ReplayReport is what a replay found: the views rebuilt from sequence 1 up to the live
// ones' sequences, and how they compare. The ingress renders it on the wire.
type ReplayReport struct {
	// CommandSeq and EventSeq are the sequences the rebuilt views were compared at.
	CommandSeq, EventSeq uint64
	// Clusters and Operations count what the rebuilt views hold.
	Clusters, Operations int
	// Differences lists where the rebuilt views differ from the live ones.
	Differences []string
	// Swapped is set when the rebuilt views replaced the live ones.
	Swapped bool
	// Took is how long the replay took.
	Took time.Duration
}

// Replay rebuilds the views from sequence 1 beside the live ones, up to the sequences the
// live views had reached when it began, and compares the two. The live views keep serving
// (and moving on) meanwhile; a copy of them taken at the start is what is compared.
func (p *Projector) Replay(ctx context.Context, swap bool) (ReplayReport, error) {
	start := time.Now()
	live := p.views.Clone()
	c, e := live.Seqs()
	rebuilt, err := RebuildTo(ctx, p.src, c, e)
	if err != nil {
		return ReplayReport{}, err
	}
	s := rebuilt.Stats()
	n := 0
	for _, k := range s.Clusters {
		n += k
	}
	diff := live.Diff(rebuilt)
	rep := ReplayReport{CommandSeq: c, EventSeq: e, Clusters: n, Operations: rebuilt.OperationCount(), Differences: diff}
	if swap {
		if err := p.swapIn(ctx, rebuilt); err != nil {
			return rep, err
		}
		rep.Swapped = true
		p.log.Warn("views replaced by ones rebuilt from sequence 1", "differences", len(diff))
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// swapIn makes the rebuilt views the live ones: live following pauses, the rebuilt views
// catch up to where the live ones are, take their place (the same *Views, so readers need
// nothing new), and following resumes. Reads meanwhile are served from the old views.
func (p *Projector) swapIn(ctx context.Context, rebuilt *Views) error {
	p.swap.Lock()
	defer p.swap.Unlock()
	if p.stopFollow == nil || p.runCtx == nil || p.runCtx.Err() != nil {
		return errors.New("the projector is not running")
	}
	p.stopFollow()
	resume := func() error {
		stop, err := follow(p.runCtx, p.src, p.views, p.log, 0, 0)
		if err != nil {
			return fmt.Errorf("projector: resume after a swap: %w", err)
		}
		p.stopFollow = stop
		return nil
	}
	c, e := p.views.Seqs()
	stop, err := follow(ctx, p.src, rebuilt, slog.New(slog.DiscardHandler), c, e)
	if err == nil {
		err = rebuilt.WaitFor(ctx, c, e)
		stop()
	}
	if err != nil {
		return errors.Join(fmt.Errorf("projector: catch the rebuilt views up: %w", err), resume())
	}
	p.views.replaceWith(rebuilt)
	return resume()
}
