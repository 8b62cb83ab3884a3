package jsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// MinServerVersion is the oldest nats-server kaas runs against (architecture.md §3.6).
const MinServerVersion = "2.12.0"

// Config sets up the streams.
type Config struct {
	// Replicas of each stream: 1 on one machine, 3 on a NATS cluster.
	Replicas int
	// Duplicates is the dedupe window for Nats-Msg-Id. It should cover the time a request
	// can spend being redelivered; past it, the aggregate's own command memory takes over.
	Duplicates time.Duration
	// CommandMaxAge and EventMaxAge bound retention; zero keeps history forever, which is
	// the default because history is the product (audit, replay).
	CommandMaxAge, EventMaxAge time.Duration
	// SecretsKey seals secrets at rest (32 bytes for AES-256). Required. Every instance on
	// the same streams must have it, so that what one seals another opens.
	SecretsKey []byte
	// OldSecretsKeys still open secrets sealed before a rotation; they never seal. A
	// rotation puts the new key in SecretsKey and the previous one here, on every instance.
	OldSecretsKeys [][]byte
	// Timeout bounds each JetStream call whose context has no deadline.
	Timeout time.Duration
	// Mutable leaves the streams' messages deletable. kaas itself never deletes; by default
	// the streams refuse deletes and purges (and JetStream never lets that be undone), so
	// that history cannot be edited through the API. Set it only where a law demands
	// erasure, or to test that tampering is detected.
	Mutable bool
	// NoAuditStream leaves out the KAAS_AUDIT archive; AuditMaxAge bounds its retention
	// (zero: forever).
	NoAuditStream bool
	AuditMaxAge   time.Duration
}

func (c *Config) setDefaults() {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = 10 * time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		errs = append(errs, fmt.Errorf("replicas must be 1, 3 or 5, not %d", c.Replicas))
	}
	if c.Duplicates < time.Second {
		errs = append(errs, fmt.Errorf("duplicates window %s is too short", c.Duplicates))
	}
	if len(c.SecretsKey) != 32 {
		errs = append(errs, fmt.Errorf("secrets key must be 32 bytes, not %d", len(c.SecretsKey)))
	}
	for i, k := range c.OldSecretsKeys {
		if len(k) != 32 {
			errs = append(errs, fmt.Errorf("old secrets key %d must be 32 bytes, not %d", i+1, len(k)))
		}
	}
	return errors.Join(errs...)
}

// Errors of the store.
var (
	// ErrConflict is store.ErrConflict.
	ErrConflict = store.ErrConflict
	// ErrServerTooOld means the nats-server lacks features kaas needs.
	ErrServerTooOld = errors.New("nats-server too old")
)

// Store is the command and event store. It is safe for concurrent use.
type Store struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	cmds    jetstream.Stream
	evts    jetstream.Stream
	dlq     jetstream.Stream
	snaps   jetstream.KeyValue
	secrets *Secrets
	cfg     Config
	// cmdBatch groups concurrent command appends into atomic batches; nil when the
	// server did not keep the stream's allow_atomic (see batch.go).
	cmdBatch *batcher
	// evtBatch does the same for event appends, one append per subject in a batch.
	evtBatch *batcher
}

// New checks the server, declares the streams and the secrets bucket, and returns the store.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("jsstore config: %w", err)
	}
	if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s := &Store{nc: nc, js: js, cfg: cfg}
	if s.cmds, err = s.declare(ctx, events.CommandStream, events.CommandSubjects, cfg.CommandMaxAge,
		"kaas commands: what tenants and providers asked for, one subject per cluster"); err != nil {
		return nil, err
	}

	if s.evts, err = s.declare(ctx, events.EventStream, events.EventSubjects, cfg.EventMaxAge,
		"kaas events: the source of truth, one subject per cluster"); err != nil {
		return nil, err
	}
	s.cmdBatch, s.evtBatch = s.batcher(s.cmds, false), s.batcher(s.evts, true)
	if s.dlq, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: events.DeadLetterStream, Description: "kaas dead letters: commands that could not be carried out, with why",
		Subjects: []string{events.DeadLetterSubjects}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
		Replicas: cfg.Replicas, Duplicates: cfg.Duplicates, AllowDirect: true,
	}); err != nil {
		return nil, fmt.Errorf("declare stream %s: %w", events.DeadLetterStream, err)
	}
	if err := s.declareSnapshots(ctx); err != nil {
		return nil, err
	}
	if !cfg.NoAuditStream {
		if err := s.declareAudit(ctx); err != nil {
			return nil, err
		}
	}
	if s.secrets, err = newSecrets(ctx, js, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// declareAudit declares KAAS_AUDIT, which sources every command and event: an archive for
// providers' readers and tools (jetstream.md §1.11), which may live on other storage and keep
// history longer than the operational streams, and never slows kaas's own reads.
func (s *Store) declareAudit(ctx context.Context) error {
	want := jetstream.StreamConfig{
		Name:        events.AuditStream,
		Description: "kaas audit archive: every command and event, sourced from KAAS_COMMANDS and KAAS_EVENTS",
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
		MaxAge:      s.cfg.AuditMaxAge,
		// Not compressed: a node killed in a drill came back with its compressed copy of
		// this stream unreadable (nats-server 2.15.2: "s2: corrupt input" at catch-up),
		// where the uncompressed streams recovered. Disk is cheaper than an audit gap.
		Compression: jetstream.NoCompression,
		Sources:     []*jetstream.StreamSource{{Name: events.CommandStream}, {Name: events.EventStream}},
		DenyDelete:  !s.cfg.Mutable,
		DenyPurge:   !s.cfg.Mutable,
		AllowDirect: true,
		Metadata:    map[string]string{"kaas.schema": "1"},
	}
	if s.cfg.Replicas == 1 {
		// A copy need not be synced before JetStream acknowledges it: sourcing resumes
		// after the last message the archive holds, so a tail lost in a crash is copied
		// again from the streams, which are synced. Syncing it too doubled the fsyncs of
		// every append on one node (the replicated streams of a cluster take no async mode,
		// and need none: they sync their log once for many writes).
		want.PersistMode = jetstream.AsyncPersistMode
	}
	if st, err := s.js.Stream(ctx, events.AuditStream); err == nil {
		// JetStream cannot change a stream's persist mode: an archive declared before
		// keeps its own.
		want.PersistMode = st.CachedInfo().Config.PersistMode
	}
	if _, err := s.js.CreateOrUpdateStream(ctx, want); err != nil {
		return fmt.Errorf("declare stream %s: %w", events.AuditStream, err)
	}
	return nil
}

func (s *Store) declare(ctx context.Context, name, subjects string, maxAge time.Duration, desc string) (jetstream.Stream, error) {
	want := jetstream.StreamConfig{
		Name:        name,
		Description: desc,
		Subjects:    []string{subjects},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
		MaxAge:      maxAge,
		Duplicates:  s.cfg.Duplicates,
		Discard:     jetstream.DiscardNew,
		DenyDelete:  !s.cfg.Mutable,
		DenyPurge:   !s.cfg.Mutable,
		AllowDirect: true,
		// Appends that queue up behind one another are stored as one batch (batch.go).
		AllowAtomicPublish: true,
		Metadata:           map[string]string{"kaas.schema": "1"},
	}
	st, err := s.js.CreateOrUpdateStream(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("declare stream %s: %w", name, err)
	}
	// A server that accepted the config but dropped a flag would silently break our
	// guarantees (jetstream.md §2): check that it echoed what we asked for.
	got := st.CachedInfo().Config
	if got.DenyDelete != want.DenyDelete || got.DenyPurge != want.DenyPurge || !got.AllowDirect || got.Duplicates != want.Duplicates {
		return nil, fmt.Errorf("stream %s: the server did not keep deny_delete, deny_purge, allow_direct or the duplicates window", name)
	}
	return st, nil
}

// CheckServerVersion refuses servers older than MinServerVersion, naming both versions.
func CheckServerVersion(version string) error {
	if !versionAtLeast(version, MinServerVersion) {
		return fmt.Errorf("%w: connected to nats-server %s, but kaas needs %s or newer (older servers silently ignore per-subject "+
			"concurrency headers and atomic publishes that kaas relies on); upgrade the server, or leave KAAS_NATS_URL empty to "+
			"use the embedded one", ErrServerTooOld, version, MinServerVersion)
	}
	return nil
}

func versionAtLeast(have, want string) bool {
	h, w := semver(have), semver(want)
	for i := range 3 {
		if h[i] != w[i] {
			return h[i] > w[i]
		}
	}
	return true
}

func semver(v string) [3]int {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

// Secrets returns the secret store.
func (s *Store) Secrets() store.Secrets { return s.secrets }

// JetStream returns the JetStream context, for tools and tests that reach past the store:
// kaas-bench writes a history straight into the streams and reads it back bare, and tests
// forge or inspect stored messages. No component uses it: each reaches the store through
// the small interface it declares (a key-value bucket of its own, too, through KeyValue).
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Record is one stored command or event.
type Record = store.Record

const headerType = "Kaas-Type"

// AppendCommand appends a command to its cluster's command subject. msgID is the dedupe key
// (the ingress passes the command id): a second append with the same id within the dedupe
// window stores nothing and reports duplicate, with the sequence of the first.
func (s *Store) AppendCommand(ctx context.Context, env events.Envelope, msgID string) (seq uint64, duplicate bool, err error) {
	data, err := store.Encode(env, events.KindCommand)
	if err != nil {
		return 0, false, err
	}
	msg := nats.NewMsg(events.CommandSubject(env.ClusterID))
	msg.Data = data
	msg.Header.Set(headerType, env.Payload.Type())
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(jetstream.ExpectedStreamHeader, events.CommandStream)
	var ack *jetstream.PubAck
	if s.cmdBatch != nil {
		ack, err = s.cmdBatch.append(ctx, msg)
	} else {
		ack, err = s.publish(ctx, msg)
	}
	if err != nil {
		return 0, false, fmt.Errorf("append command %s: %w", env.Payload.Type(), err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// Append appends one event to its cluster's subject if the subject's last sequence is
// still expectedSeq (0 for a cluster with no events). msgID makes the append idempotent:
// when our own earlier attempt already landed, Append returns its record instead of an
// error. Any other mismatch is ErrConflict.
func (s *Store) Append(ctx context.Context, env events.Envelope, expectedSeq uint64, msgID string) (Record, error) {
	data, err := store.Encode(env, events.KindEvent)
	if err != nil {
		return Record{}, err
	}
	subject := events.EventSubject(env.ClusterID)
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(headerType, env.Payload.Type())
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(jetstream.ExpectedStreamHeader, events.EventStream)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expectedSeq, 10))
	var ack *jetstream.PubAck
	if s.evtBatch != nil {
		ack, err = s.evtBatch.append(ctx, msg)
	} else {
		ack, err = s.publish(ctx, msg)
	}
	if err == nil {
		if ack.Duplicate {
			return s.landed(ctx, subject, ack.Sequence, expectedSeq)
		}
		return Record{Seq: ack.Sequence, Subject: subject, MsgID: msgID, Time: env.Time, Raw: data, Envelope: env}, nil
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || (apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence &&
		apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return Record{}, fmt.Errorf("append %s: %w", env.Payload.Type(), err)
	}
	// A conflict, or our own earlier append whose ack was lost: the last message tells.
	last, lerr := s.evts.GetLastMsgForSubject(ctx, subject)
	if lerr == nil && last.Header.Get(jetstream.MsgIDHeader) == msgID {
		return s.decode(last.Sequence, last.Subject, last.Header, last.Data, last.Time)
	}
	return Record{}, fmt.Errorf("%w (expected sequence %d): %v", ErrConflict, expectedSeq, err)
}

// errMsgIDInProcess is nats-server's JSStreamDuplicateMessageConflict (nats.go names no
// constant for it): a replicated stream still proposing to its replicas an earlier publish
// with the same Nats-Msg-Id refuses another until that one is stored.
const errMsgIDInProcess jetstream.ErrorCode = 10158

// publish publishes msg, which carries a message id, until the stream answers (see
// untilAnswered), and again while a replicated stream answers that a publish with the same
// message id is in process (a redelivered request racing its first delivery, on another
// kaasd). Each try after the first is a duplicate if an earlier one landed, so a publish
// lands once.
func (s *Store) publish(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (ack *jetstream.PubAck, err error) {
	err = untilAnswered(ctx, s.cfg.Timeout, func(ctx context.Context) error {
		ack, err = s.js.PublishMsg(ctx, msg, opts...)
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == errMsgIDInProcess {
			return errUnanswered{err}
		}
		return err
	})
	return ack, err
}

// tryTimeout bounds one try of a write. A replicated stream electing a new leader (its
// leader's node stopped) answers nothing for a few seconds, and a write sent meanwhile is
// never answered; the next try lands once it has one.
const tryTimeout = 2 * time.Second

// errUnanswered marks an error that a try of untilAnswered may make again.
type errUnanswered struct{ error }

func (e errUnanswered) Unwrap() error { return e.error }

// untilAnswered runs try, each time within tryTimeout, again while the server does not
// answer it (a timeout, no responders, no stream response, or an errUnanswered), until ctx
// ends or, without a deadline, timeout has passed. Only idempotent writes go through it: a
// message with its id, a compare-and-set (a try that landed unanswered makes the next one
// find its own write).
func untilAnswered(ctx context.Context, timeout time.Duration, try func(ctx context.Context) error) error {
	if _, has := ctx.Deadline(); !has {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for attempt := 1; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, tryTimeout)
		err := try(tctx)
		cancel()
		var again errUnanswered
		if errors.As(err, &again) {
			err = again.error
		} else if err == nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) ||
			errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrTimeout)) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(time.Duration(attempt)*5*time.Millisecond, 250*time.Millisecond)):
		}
	}
}

// landed answers a retry whose message id a replicated stream found already stored. Such a
// stream checks the id before the expected sequence (nats-server checks ids before it
// proposes a message to the replicas), a single-replica one the sequence first, so that a
// retry whose expectation went stale there is a conflict. landed answers as the latter,
// so that the store behaves the same on one replica as on three: the stored record while
// the expectation still holds or the record is still the subject's last, ErrConflict once
// other events followed it.
func (s *Store) landed(ctx context.Context, subject string, seq, expectedSeq uint64) (Record, error) {
	last, err := s.evts.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return Record{}, fmt.Errorf("last event of %s: %w", subject, err)
	}
	if last.Sequence != expectedSeq && last.Sequence != seq {
		return Record{}, fmt.Errorf("%w (expected sequence %d): this append landed as %d, and %d followed it", ErrConflict, expectedSeq,
			seq, last.Sequence)
	}
	return s.recordAt(ctx, seq)
}

func (s *Store) recordAt(ctx context.Context, seq uint64) (Record, error) {
	m, err := s.evts.GetMsg(ctx, seq)
	if err != nil {
		return Record{}, fmt.Errorf("read event %d: %w", seq, err)
	}
	return s.decode(m.Sequence, m.Subject, m.Header, m.Data, m.Time)
}

func (s *Store) decode(seq uint64, subject string, h nats.Header, data []byte, t time.Time) (Record, error) {
	env, err := events.Unmarshal(data)
	if err != nil {
		return Record{}, fmt.Errorf("decode %s #%d: %w", subject, seq, err)
	}
	return Record{Seq: seq, Subject: subject, MsgID: h.Get(jetstream.MsgIDHeader), Time: t, Raw: data, Envelope: env}, nil
}

// LastSeq returns the stream sequence of a cluster's last event, 0 if it has none.
func (s *Store) LastSeq(ctx context.Context, clusterID string) (uint64, error) {
	m, err := s.evts.GetLastMsgForSubject(ctx, events.EventSubject(clusterID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last event of %s: %w", clusterID, err)
	}
	return m.Sequence, nil
}

// Load returns a cluster's events with a stream sequence above afterSeq, in order. It uses
// batched direct gets (one round trip per 256 events) rather than a consumer, because most
// loads are a few events appended since the executor last looked.
func (s *Store) Load(ctx context.Context, clusterID string, afterSeq uint64) ([]Record, error) {
	return s.loadSubject(ctx, events.EventStream, events.EventSubject(clusterID), afterSeq)
}

// LoadCommands returns a cluster's commands with a stream sequence above afterSeq.
func (s *Store) LoadCommands(ctx context.Context, clusterID string, afterSeq uint64) ([]Record, error) {
	return s.loadSubject(ctx, events.CommandStream, events.CommandSubject(clusterID), afterSeq)
}

const batchSize = 256

// LoadRange returns a cluster's events after afterSeq up to lastSeq, its last one (as the
// views know it), in order. Unlike Load, which asks in batches and so has the server count
// what remains of the subject to the stream's end (a read of every block's index after the
// cluster's events), it asks for one event at a time and stops at lastSeq.
func (s *Store) LoadRange(ctx context.Context, clusterID string, afterSeq, lastSeq uint64) ([]Record, error) {
	subject := events.EventSubject(clusterID)
	var out []Record
	for next := afterSeq + 1; next <= lastSeq; {
		req := fmt.Sprintf(`{"seq":%d,"next_by_subj":%q}`, next, subject)
		m, err := s.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+events.EventStream, []byte(req))
		if err != nil {
			return nil, fmt.Errorf("load %s after %d: %w", subject, next-1, err)
		}
		switch m.Header.Get("Status") {
		case "404":
			return out, nil
		case "":
		default:
			return nil, fmt.Errorf("load %s: status %s %s", subject, m.Header.Get("Status"), m.Header.Get("Description"))
		}
		rec, err := s.directRecord(subject, m)
		if err != nil {
			return nil, err
		}
		if rec.Seq > lastSeq {
			return out, nil
		}
		out = append(out, rec)
		next = rec.Seq + 1
	}
	return out, nil
}

func (s *Store) loadSubject(ctx context.Context, stream, subject string, afterSeq uint64) ([]Record, error) {
	if _, has := ctx.Deadline(); !has {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
	}
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", subject, err)
	}
	defer sub.Unsubscribe()

	var out []Record
	next := afterSeq + 1
	for {
		req := fmt.Sprintf(`{"seq":%d,"next_by_subj":%q,"batch":%d}`, next, subject, batchSize)
		if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, []byte(req)); err != nil {
			return nil, fmt.Errorf("load %s: %w", subject, err)
		}
		pending := uint64(0)
	batch:
		for {
			m, err := sub.NextMsgWithContext(ctx)
			if err != nil {
				return nil, fmt.Errorf("load %s after %d: %w", subject, next-1, err)
			}
			switch m.Header.Get("Status") {
			case "404":
				return out, nil
			case "204": // end of batch
				pending, _ = strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
				break batch
			case "":
			default:
				return nil, fmt.Errorf("load %s: status %s %s", subject, m.Header.Get("Status"), m.Header.Get("Description"))
			}
			rec, err := s.directRecord(subject, m)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
			next = rec.Seq + 1
		}
		if pending == 0 {
			return out, nil
		}
	}
}

// directRecord decodes a record a direct get returned for subject.
func (s *Store) directRecord(subject string, m *nats.Msg) (Record, error) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("load %s: bad sequence header: %w", subject, err)
	}
	t, _ := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
	return s.decode(seq, m.Header.Get(jetstream.SubjectHeader), m.Header, m.Data, t)
}

// stream returns the handle of the command or event stream.
func (s *Store) stream(name string) (jetstream.Stream, error) {
	switch name {
	case events.EventStream:
		return s.evts, nil
	case events.CommandStream:
		return s.cmds, nil
	}
	return nil, fmt.Errorf("no stream %q", name)
}

// Extent returns the first sequence of the command or event stream and how many records it
// holds: the streams deny deletes, so the n-th record is at first+n.
func (s *Store) Extent(ctx context.Context, stream string) (first, count uint64, err error) {
	st, err := s.stream(stream)
	if err != nil {
		return 0, 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return info.State.FirstSeq, info.State.Msgs, nil
}

// RecordsAt returns the records of the command or event stream at these sequences, read
// with a direct get each (no consumer: a page of the audit reads its records only).
func (s *Store) RecordsAt(ctx context.Context, stream string, seqs []uint64) ([]Record, error) {
	st, err := s.stream(stream)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(seqs))
	for _, seq := range seqs {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, fmt.Errorf("read %s #%d: %w", stream, seq, err)
		}
		rec, err := s.decode(m.Sequence, m.Subject, m.Header, m.Data, m.Time)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// LastSequences returns the last sequence of the command and event streams.
func (s *Store) LastSequences(ctx context.Context) (commands, events uint64, err error) {
	ci, err := s.cmds.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	ei, err := s.evts.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return ci.State.LastSeq, ei.State.LastSeq, nil
}

// scanUnreachable is how many times in a row a scan fetches again when its consumer cannot be
// reached yet: with a pause growing by 5 ms each time, about 8 s in all.
const scanUnreachable = 56

// ScanFilter narrows a Scan.
type ScanFilter = store.ScanFilter

// Scan reads a stream in order, from the start (or Since) to the last record stored when
// the scan began, calling fn for each record until fn returns false. It reads with an
// ordered consumer, the cheapest way to read many records in order (jetstream.md §1.11).
func (s *Store) Scan(ctx context.Context, f ScanFilter, fn func(Record) bool) error {
	return s.scan(ctx, f, func(r Record, _ nats.Header) bool { return fn(r) })
}

// scan is Scan that also hands over each record's headers (a dead letter's reason).
func (s *Store) scan(ctx context.Context, f ScanFilter, fn func(Record, nats.Header) bool) error {
	stream, subject := s.evts, events.EventSubjects
	if f.ClusterID != "" {
		subject = events.EventSubject(f.ClusterID)
	}
	switch f.Stream {
	case events.CommandStream:
		stream, subject = s.cmds, events.CommandSubjects
		if f.ClusterID != "" {
			subject = events.CommandSubject(f.ClusterID)
		}
	case events.DeadLetterStream:
		stream, subject = s.dlq, events.DeadLetterSubjects
		if f.ClusterID != "" {
			subject = deadLetterSubject(f.ClusterID)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("scan %s: %w", f.Stream, err)
	}
	last := info.State.LastSeq
	if f.ClusterID != "" {
		m, err := stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scan %s: %w", subject, err)
		}
		last = m.Sequence
	}
	if last == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case f.After >= last:
		return nil
	case f.After > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f.After+1
	case !f.Since.IsZero():
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := s.js.OrderedConsumer(ctx, info.Config.Name, cfg)
	if err != nil {
		return fmt.Errorf("scan %s: %w", subject, err)
	}
	unreachable := 0
	for {
		batch, err := cons.Fetch(512, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("scan %s: %w", subject, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("scan %s: %w", subject, err)
			}
			rec, err := s.decode(md.Sequence.Stream, m.Subject(), m.Headers(), m.Data(), md.Timestamp)
			if err != nil && f.Stream == events.DeadLetterStream {
				// An undecodable command is dead-lettered as it came: list it as it is.
				rec, err = Record{Seq: md.Sequence.Stream, Subject: m.Subject(), Time: md.Timestamp, Raw: m.Data()}, nil
			}
			if err != nil {
				return err
			}
			if !fn(rec, m.Headers()) || md.Sequence.Stream >= last {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			// On a cluster, each fetch of an ordered consumer creates a consumer, which may
			// live on another node than ours; until that node's interest in its pull requests
			// reaches ours over the routes (a millisecond or so), a pull request finds no
			// responder. Fetch again from where the scan stands; anything else is an error.
			if errors.Is(err, nats.ErrNoResponders) && n == 0 && unreachable < scanUnreachable {
				unreachable++
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(unreachable) * 5 * time.Millisecond):
				}
				continue
			}
			return fmt.Errorf("scan %s: %w", subject, err)
		}
		unreachable = 0
		if n == 0 {
			return nil // nothing at or after Since
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
