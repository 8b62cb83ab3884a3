package projector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// SnapshotConfig has the projector write snapshots of its views to a blob bucket, and
// start from the newest one that fits the streams, folding only the records after it.
// A snapshot is an optimisation, never a source of truth: one that is missing, corrupt, of
// another schema or build, beyond the streams' ends, or of another history is ignored (with
// a log line) and the views are rebuilt from sequence 1.
type SnapshotConfig struct {
	// Store keeps the snapshots; nil (or Off) writes and reads none. Several projectors on
	// the same streams may share it: snapshots are named by the sequences they reflect,
	// the newest one that fits wins, and two taken at the same sequences are equal.
	Store store.Blobs
	Off   bool
	// Interval is the most time between snapshots while records are folded; Records is
	// how many records folded (commands and events) make one due sooner. A snapshot is
	// also written at a clean shutdown, if anything was folded since the last one.
	Interval time.Duration
	Records  uint64
	// Keep is how many snapshots stay in the bucket: older ones are removed after a write.
	Keep int
	// Build names the kaas build (kaasd's version): snapshots another build wrote are
	// ignored, since its fold may differ. Empty accepts any build of the same schema.
	Build string
	// Timeout bounds one write and the load at start; the write at shutdown gets at most
	// 30 s.
	Timeout time.Duration
	// Metrics, when set, is where snapshot writes and loads are counted.
	Metrics *SnapshotMetrics
}

// Defaults of SnapshotConfig.
const (
	DefaultSnapshotInterval = 10 * time.Minute
	DefaultSnapshotRecords  = 200_000
	DefaultSnapshotKeep     = 2
	DefaultSnapshotTimeout  = 2 * time.Minute
)

func (c *SnapshotConfig) setDefaults() {
	c.Interval = cmp.Or(c.Interval, DefaultSnapshotInterval)
	c.Records = cmp.Or(c.Records, DefaultSnapshotRecords)
	c.Keep = cmp.Or(c.Keep, DefaultSnapshotKeep)
	c.Timeout = cmp.Or(c.Timeout, DefaultSnapshotTimeout)
}

// Validate reports every problem with the configuration; zero values take the defaults.
func (c *SnapshotConfig) Validate() error {
	var errs []error
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Second) {
		errs = append(errs, fmt.Errorf("snapshot interval %s: want at least 1s (0: %s)", c.Interval, DefaultSnapshotInterval))
	}
	if c.Keep < 0 || c.Keep > 100 {
		errs = append(errs, fmt.Errorf("snapshots kept %d: want 1..100 (0: %d)", c.Keep, DefaultSnapshotKeep))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("snapshot timeout %s is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

func (c *SnapshotConfig) on() bool { return c.Store != nil && !c.Off }

// RecordReader reads one stored record by sequence; a Source that is one lets snapshots
// be checked against the history they were taken of (events/jsstore and events/memstore are).
type RecordReader interface {
	RawAt(ctx context.Context, stream string, seq uint64) (store.Raw, error)
}

// SnapshotInfo describes a snapshot written or loaded.
type SnapshotInfo struct {
	Name string
	Meta SnapshotMeta
	// Bytes is its size; Took how long writing it (copy, encode, check, store) or loading
	// it (read, decode) took.
	Bytes int
	Took  time.Duration
	// Copy is how long the views were held (read-locked) to copy them: folding waits that
	// long, reads do not.
	Copy time.Duration
}

// snapshotName names a snapshot by the sequences it reflects, events first: the same name
// for the same content, whoever writes it.
func snapshotName(evt, cmd uint64) string { return fmt.Sprintf("views-e%020d-c%020d", evt, cmd) }

func parseSnapshotName(name string) (evt, cmd uint64, ok bool) {
	if !strings.HasPrefix(name, "views-e") {
		return 0, 0, false
	}
	_, err := fmt.Sscanf(name, "views-e%020d-c%020d", &evt, &cmd)
	return evt, cmd, err == nil && snapshotName(evt, cmd) == name
}

// recordHash is the hash of the record of stream at seq, empty for seq 0.
func recordHash(ctx context.Context, src Source, stream string, seq uint64) (string, error) {
	rr, ok := src.(RecordReader)
	if !ok || seq == 0 {
		return "", nil
	}
	r, err := rr.RawAt(ctx, stream, seq)
	if err != nil {
		return "", err
	}
	return events.Hash(r.Data), nil
}

// WriteSnapshot copies the views, encodes them, checks that the encoding gives back the
// same views, and stores them in blobs. Folding pauses while the views are copied; reads
// go on.
func WriteSnapshot(ctx context.Context, blobs store.Blobs, src Source, v *Views, build string) (SnapshotInfo, error) {
	start := time.Now()
	v.folding.Lock() // the fold waits here, readers do not
	c := v.Clone()
	v.folding.Unlock()
	info := SnapshotInfo{Copy: time.Since(start)}
	meta := SnapshotMeta{Build: build, Taken: start.UTC()}
	var err error
	if meta.CommandHash, err = recordHash(ctx, src, events.CommandStream, c.cmdSeq); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	if meta.EventHash, err = recordHash(ctx, src, events.EventStream, c.evtSeq); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	b, meta, err := encodeSnapshot(c, meta)
	if err != nil {
		return info, err
	}
	// What cannot give back the views it was taken of must not be stored: a start from it
	// would serve other views than a rebuild.
	back, _, err := decodeSnapshot(b)
	if err != nil {
		return info, fmt.Errorf("snapshot: the encoding does not decode: %w", err)
	}
	if !c.Equal(back) {
		return info, fmt.Errorf("snapshot: the encoding gives back other views (%s)", strings.Join(c.Diff(back), "; "))
	}
	info.Name, info.Meta, info.Bytes = snapshotName(meta.EventSeq, meta.CommandSeq), meta, len(b)
	if err := blobs.Put(ctx, info.Name, b); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	info.Took = time.Since(start)
	return info, nil
}

// Load outcomes, as counted in kaas_projector_snapshot_loads_total.
const (
	LoadLoaded   = "loaded"   // the views started from a snapshot
	LoadNone     = "none"     // there was none
	LoadRejected = "rejected" // there were some, none fit: corrupt, another schema or build, beyond the streams, another history
	LoadError    = "error"    // the bucket could not be read
	LoadOff      = "off"      // snapshots are off
)

// LoadSnapshot finds the newest snapshot in blobs that fits the streams as ends says, and
// decodes it into new views. It returns the outcome (one of the Load* values) and, with
// LoadLoaded, the views; every snapshot passed over is logged with why.
func LoadSnapshot(ctx context.Context, blobs store.Blobs, src Source, ends store.Ends, build string, log *slog.Logger) (*Views, SnapshotInfo, string) {
	start := time.Now()
	list, err := blobs.List(ctx)
	if err != nil {
		log.Warn("views snapshots could not be listed; rebuilding the views from sequence 1", "err", err)
		return nil, SnapshotInfo{}, LoadError
	}
	type cand struct {
		name     string
		evt, cmd uint64
	}
	var cands []cand
	for _, b := range list {
		if e, c, ok := parseSnapshotName(b.Name); ok {
			cands = append(cands, cand{b.Name, e, c})
		}
	}
	if len(cands) == 0 {
		log.Info("no views snapshot; rebuilding the views from sequence 1")
		return nil, SnapshotInfo{}, LoadNone
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Or(cmp.Compare(b.evt, a.evt), cmp.Compare(b.cmd, a.cmd)) })
	outcome := LoadRejected
	for _, c := range cands {
		skip := func(why string, args ...any) {
			log.Warn("views snapshot ignored: "+why, append([]any{"snapshot", c.name}, args...)...)
		}
		if c.evt > ends.Events || c.cmd > ends.Commands {
			skip("it is beyond the streams' ends (were they restored from a backup?)", "commands_end", ends.Commands, "events_end", ends.Events)
			continue
		}
		b, err := blobs.Get(ctx, c.name)
		if err != nil {
			if !errors.Is(err, store.ErrNoBlob) { // one removed since listed is no news
				skip("it could not be read", "err", err)
				outcome = LoadError
			}
			continue
		}
		v, meta, err := decodeSnapshot(b)
		switch {
		case err != nil:
			skip("it does not decode", "err", err)
			continue
		case build != "" && meta.Build != build:
			skip("another build wrote it", "build", meta.Build, "this_build", build)
			continue
		case meta.EventSeq != c.evt || meta.CommandSeq != c.cmd:
			skip("its name and content disagree", "events_seq", meta.EventSeq, "commands_seq", meta.CommandSeq)
			continue
		}
		if err := checkHistory(ctx, src, meta); err != nil {
			skip("it is not of this history", "err", err)
			continue
		}
		info := SnapshotInfo{Name: c.name, Meta: meta, Bytes: len(b), Took: time.Since(start)}
		log.Info("views loaded from a snapshot", "snapshot", c.name, "taken", meta.Taken, "build", meta.Build, "bytes", len(b),
			"took", info.Took, "tail_commands", ends.Commands-meta.CommandSeq, "tail_events", ends.Events-meta.EventSeq)
		return v, info, LoadLoaded
	}
	log.Warn("no views snapshot fits the streams; rebuilding the views from sequence 1", "snapshots", len(cands))
	return nil, SnapshotInfo{}, outcome
}

// checkHistory checks that the records at the snapshot's sequences are those it was taken
// after.
func checkHistory(ctx context.Context, src Source, meta SnapshotMeta) error {
	if _, ok := src.(RecordReader); !ok {
		return nil
	}
	for _, s := range []struct {
		stream, want string
		seq          uint64
	}{{events.CommandStream, meta.CommandHash, meta.CommandSeq}, {events.EventStream, meta.EventHash, meta.EventSeq}} {
		got, err := recordHash(ctx, src, s.stream, s.seq)
		if err != nil {
			return err
		}
		if got != s.want {
			return fmt.Errorf("%s #%d has hash %q, the snapshot was taken after %q", s.stream, s.seq, got, s.want)
		}
	}
	return nil
}

// pruneSnapshots removes all but the newest keep snapshots.
func pruneSnapshots(ctx context.Context, blobs store.Blobs, keep int) error {
	list, err := blobs.List(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, b := range list {
		if _, _, ok := parseSnapshotName(b.Name); ok {
			names = append(names, b.Name)
		}
	}
	// Names sort as their sequences do (zero-padded, events first).
	slices.Sort(names)
	var errs []error
	for _, n := range names[:max(0, len(names)-keep)] {
		errs = append(errs, blobs.Delete(ctx, n))
	}
	return errors.Join(errs...)
}

// newestSnapshot is the sequences and time of the newest snapshot in blobs; ok false when
// there is none.
func newestSnapshot(ctx context.Context, blobs store.Blobs) (evt, cmd uint64, at time.Time, ok bool, err error) {
	list, err := blobs.List(ctx)
	if err != nil {
		return 0, 0, time.Time{}, false, err
	}
	for _, b := range list {
		if e, c, good := parseSnapshotName(b.Name); good && (!ok || e > evt || (e == evt && c > cmd)) {
			evt, cmd, at, ok = e, c, b.Modified, true
		}
	}
	return evt, cmd, at, ok, nil
}

// shutdownWriteMax bounds the snapshot written at shutdown, whatever Timeout says: a stop
// must not wait long on a store that is gone (systemd gives kaasd 60 s to stop).
const shutdownWriteMax = 30 * time.Second

// snapshotter writes the projector's snapshots while it runs.
type snapshotter struct {
	cfg   SnapshotConfig
	src   Source
	views *Views
	log   *slog.Logger

	// The newest snapshot known (written by anyone, or loaded): its sequences and time.
	lastCmd, lastEvt uint64
	lastAt           time.Time
}

// known notes a snapshot.
func (s *snapshotter) known(cmd, evt uint64, at time.Time) {
	if evt > s.lastEvt || (evt == s.lastEvt && cmd >= s.lastCmd) {
		s.lastCmd, s.lastEvt, s.lastAt = cmd, evt, at
		s.cfg.Metrics.taken(at)
	}
}

// folded is how many records the views folded since the newest snapshot known.
func (s *snapshotter) folded() uint64 {
	c, e := s.views.Seqs()
	return c + e - min(c+e, s.lastCmd+s.lastEvt)
}

// due reports whether a snapshot is due now.
func (s *snapshotter) due() bool {
	n := s.folded()
	return n >= s.cfg.Records || (n > 0 && time.Since(s.lastAt) >= s.cfg.Interval)
}

// run writes snapshots as they fall due until ctx ends, then one more if anything was
// folded since the last.
func (s *snapshotter) run(ctx context.Context) {
	check := min(s.cfg.Interval, 10*time.Second)
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if s.folded() > 0 {
				wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.cfg.Timeout, shutdownWriteMax))
				s.write(wctx, "shutdown")
				cancel()
			}
			return
		case <-t.C:
			if !s.due() {
				continue
			}
			// Another instance on the same streams may have written one meanwhile.
			if e, c, at, ok, err := newestSnapshot(ctx, s.cfg.Store); err == nil && ok {
				s.known(c, e, at)
			}
			if s.due() {
				wctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
				s.write(wctx, "due")
				cancel()
			}
		}
	}
}

func (s *snapshotter) write(ctx context.Context, why string) {
	info, err := WriteSnapshot(ctx, s.cfg.Store, s.src, s.views, s.cfg.Build)
	s.cfg.Metrics.wrote(info, err)
	if err != nil {
		s.log.Error("views snapshot not written", "why", why, "err", err)
		return
	}
	s.known(info.Meta.CommandSeq, info.Meta.EventSeq, info.Meta.Taken)
	if err := pruneSnapshots(ctx, s.cfg.Store, s.cfg.Keep); err != nil {
		s.log.Warn("old views snapshots not removed", "err", err)
	}
	s.log.Info("views snapshot written", "why", why, "snapshot", info.Name, "bytes", info.Bytes, "took", info.Took, "copy", info.Copy)
}

// startFromSnapshot gives the views the newest snapshot that fits the streams, if
// snapshots are on, and returns the snapshotter to run once caught up (nil when off).
func (p *Projector) startFromSnapshot(ctx context.Context, ends store.Ends) *snapshotter {
	if !p.snaps.on() {
		p.snaps.Metrics.loaded(SnapshotInfo{}, LoadOff, 0)
		return nil
	}
	s := &snapshotter{cfg: p.snaps, src: p.src, views: p.views, log: p.log}
	lctx, cancel := context.WithTimeout(ctx, p.snaps.Timeout)
	v, info, outcome := LoadSnapshot(lctx, p.snaps.Store, p.src, ends, p.snaps.Build, p.log)
	cancel()
	var tail uint64
	if v != nil {
		p.views.adopt(v)
		s.known(info.Meta.CommandSeq, info.Meta.EventSeq, info.Meta.Taken)
		tail = ends.Commands - info.Meta.CommandSeq + ends.Events - info.Meta.EventSeq
	}
	p.snaps.Metrics.loaded(info, outcome, tail)
	return s
}
