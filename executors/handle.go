package executors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/events/template"
)

// delivery is one command being handled, and the aggregate it is for: agg, and as what it
// is, st for a cluster's or tpl for a template revision's.
type delivery struct {
	msg store.Delivery
	cmd events.Envelope
	agg aggregate
	st  *cluster.State
	tpl *template.State
	log *slog.Logger
}

// handle runs one delivery of a command: decide if it is new, then drive its operation
// until it ends (ack), must wait for VCD (nak with a delay), or hits an error it cannot
// record (nak, so that the next delivery tries again from the recorded history).
func (e *Executor) handle(ctx context.Context, msg store.Delivery) {
	m := e.cfg.Metrics
	m.delivery(1)
	defer m.delivery(-1)

	cmd, err := events.Unmarshal(msg.Data())
	if err != nil || events.KindOf(cmd.Type) != events.KindCommand {
		// Only kaas writes commands, so this is corruption or a newer kaas's command: park
		// it for a person instead of retrying forever.
		if err == nil {
			err = fmt.Errorf("%s is not a command", cmd.Type)
		}
		e.cfg.Logger.Error("undecodable command dead-lettered", "subject", msg.Subject(), "err", err)
		e.deadLetter(ctx, msg, cmd, nil, fmt.Errorf("undecodable command: %w", err))
		return
	}
	d := &delivery{msg: msg, cmd: cmd, log: e.cfg.Logger.With("cluster_id", cmd.ClusterID, "command", cmd.Type,
		"command_id", cmd.ID, "request_id", cmd.CorrelationID)}

	stop := e.keepAlive(msg)
	defer stop()
	result, err := e.run(ctx, d)
	if err != nil {
		// Nothing unrecorded happened: the history is intact, so the next delivery picks up
		// from it. Back off so that a broken NATS or VCD is not hammered, and give up on the
		// command after MaxDeliveryErrors failures in a row.
		m.command(cmd.Type, "error")
		if n := e.failedDelivery(cmd.ID, true); n >= e.cfg.MaxDeliveryErrors && ctx.Err() == nil {
			d.log.Error("command dead-lettered after failing every delivery", "deliveries", n, "err", err)
			e.deadLetter(ctx, msg, cmd, d.agg, fmt.Errorf("%d deliveries in a row failed; the last: %w", n, err))
			return
		}
		d.log.Warn("command delivery failed; will retry", "err", err)
		_ = msg.NakWithDelay(e.cfg.RetryBase)
		return
	}
	e.failedDelivery(cmd.ID, false)
	m.command(cmd.Type, result.label)
	if result.wait > 0 {
		_ = msg.NakWithDelay(result.wait)
		return
	}
	if err := msg.Ack(ctx); err != nil {
		// The outcome is recorded; a redelivery will find the operation over and ack then.
		d.log.Warn("ack failed", "err", err)
	}
}

// keepAlive tells JetStream the command is still being worked on while a slow step runs,
// so that it is not delivered to a second executor meanwhile.
func (e *Executor) keepAlive(msg store.Delivery) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(e.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

type outcome struct {
	wait  time.Duration // > 0: come back later
	label string        // for metrics
}

func (e *Executor) run(ctx context.Context, d *delivery) (outcome, error) {
	agg, err := e.load(ctx, d.cmd.ClusterID, events.IsTemplateType(d.cmd.Type))
	if err != nil {
		return outcome{}, err
	}
	d.use(agg)

	switch op := agg.running(); {
	case op != nil && op.commandID == d.cmd.ID:
		// Our operation, in progress: carry on.
	case agg.seen(d.cmd.ID):
		// Started or refused before (a redelivery, or superseded by a forced delete).
		return outcome{label: "done"}, nil
	default:
		ev, err := e.decide(ctx, d)
		if f, rejected := rejection(err); rejected {
			d.log.Info("command rejected", "code", f.Code, "reason", f.Message)
			if err := e.append(ctx, d, events.CommandRejected{CommandType: d.cmd.Type, Failure: f}); err != nil {
				return outcome{}, err
			}
			return outcome{label: "rejected"}, nil
		}
		switch {
		case duplicate(err):
			return outcome{label: "done"}, nil
		case errors.Is(err, errPending):
			return outcome{wait: e.cfg.PollInterval, label: "waiting"}, nil
		case err != nil:
			return outcome{}, err
		}
		if err := e.append(ctx, d, ev); err != nil {
			return outcome{}, err
		}
		if cs, ok := ev.(events.CloudSynced); ok {
			e.recordedUsers(cs.Users)
		}
		d.log.Info("operation started", "phase", agg.phase())
	}
	return e.drive(ctx, d)
}

// errPending is what deciding a command that calls VCD (a deprecation) returns while VCD
// still works on the call: nothing is recorded, and the command comes back to look again.
var errPending = errors.New("VCD has not finished the request yet")

// decide says whether the command may run on its aggregate as it is; see cluster.Decide
// and template.Decide. Commands on the cloud aggregate and template deprecations call VCD
// here, since each is one event recorded once VCD did it.
func (e *Executor) decide(ctx context.Context, d *delivery) (events.Payload, error) {
	switch {
	case d.cmd.ClusterID == events.CloudID:
		return e.decideCloud(ctx, d.cmd)
	case d.tpl != nil:
		return e.decideTemplate(ctx, d)
	}
	return cluster.Decide(d.st, d.cmd)
}

// drive runs the operation's steps until it ends or must wait.
func (e *Executor) drive(ctx context.Context, d *delivery) (outcome, error) {
	for range e.cfg.StepsPerDelivery {
		op := d.agg.running()
		if op == nil || op.commandID != d.cmd.ID {
			// The operation ended (or a forced delete took over).
			if d.agg.failed() {
				return outcome{label: "failed"}, nil
			}
			return outcome{label: "done"}, nil
		}
		now := time.Now()
		if r := op.retry; r != nil && now.Before(r.notUntil) {
			return outcome{wait: r.notUntil.Sub(now), label: "retry"}, nil
		}
		// Every operation, and then its rollback, has a time budget: nothing waits forever
		// on a VCD task that never ends.
		since, what := op.started, op.op
		if op.failed != nil {
			since, what = op.failedAt, "the rollback of "+op.op
		}
		if now.Sub(since) > e.cfg.OperationTimeout {
			if err := e.fail(ctx, d, events.Failure{Code: events.CodeTimeout,
				Message: fmt.Sprintf("%s did not finish within %s", what, e.cfg.OperationTimeout)}); err != nil {
				return outcome{}, err
			}
			continue
		}

		step := e.plan(d)
		start := time.Now()
		res, err := step.run(ctx)
		e.cfg.Metrics.stepDone(step.kind, res, err, time.Since(start))
		if err != nil && len(res.events) > 0 {
			// What the step found before it failed (a node that joined) is recorded: it is
			// true, and progress, so the failure that follows starts its own streak.
			for _, ev := range res.events {
				if err := e.append(ctx, d, ev); err != nil {
					return outcome{}, err
				}
			}
		}
		switch {
		case err != nil:
			retry, f := classify(err)
			if ctx.Err() != nil {
				return outcome{}, ctx.Err()
			}
			if f.Step == "" {
				f.Step = step.step
			}
			if retry {
				wait, err := e.retry(ctx, d, step, f)
				if err != nil {
					return outcome{}, err
				}
				if wait > 0 {
					return outcome{wait: wait, label: "retry"}, nil
				}
				continue
			}
			d.log.Warn("step failed", "step", step.name, "code", f.Code, "reason", f.Message, "vcd_code", f.VCDCode)
			if err := e.fail(ctx, d, f); err != nil {
				return outcome{}, err
			}
		case len(res.events) > 0:
			if d.log.Enabled(ctx, slog.LevelDebug) {
				names := make([]string, len(res.events))
				for i, ev := range res.events {
					names[i] = ev.Type()
				}
				d.log.Debug("step done", "step", step.name, "events", names, "took", time.Since(start))
			}
			for _, ev := range res.events {
				if err := e.append(ctx, d, ev); err != nil {
					return outcome{}, err
				}
			}
		default:
			if res.timeout != nil {
				f := *res.timeout
				if f.Step == "" {
					f.Step = step.step
				}
				if err := e.fail(ctx, d, f); err != nil {
					return outcome{}, err
				}
				continue
			}
			if r := op.retry; r != nil {
				e.polledFine(d.cmd.ID, r)
			}
			return outcome{wait: e.cfg.PollInterval, label: "waiting"}, nil
		}
	}
	// Let other clusters have a turn; this command comes straight back.
	return outcome{wait: time.Millisecond, label: "waiting"}, nil
}

// retry records a retryable failure and says how long to wait, or fails the operation
// once the step used up its attempts (then wait is 0 and the operation goes on failing).
func (e *Executor) retry(ctx context.Context, d *delivery, step planned, f events.Failure) (time.Duration, error) {
	attempt := 1
	if r := d.agg.running().retry; r != nil && r.step == f.Step && !e.streakEnded(d.cmd.ID, r) {
		attempt = r.attempt + 1
	}
	if attempt > e.cfg.MaxAttempts {
		f.Code, f.Message = events.CodeRetriesExhausted, fmt.Sprintf("%s failed %d times: %s", step.kind, e.cfg.MaxAttempts, f.Message)
		d.log.Warn("step gave up", "step", step.name, "reason", f.Message)
		return 0, e.fail(ctx, d, f)
	}
	wait := backoff(e.cfg.RetryBase, e.cfg.RetryMax, attempt)
	d.log.Info("step will be retried", "step", step.name, "attempt", attempt, "in", wait, "reason", f.Message, "vcd_code", f.VCDCode)
	return wait, e.append(ctx, d, events.StepRetrying{Step: f.Step, Attempt: attempt, Failure: f, NotUntil: time.Now().Add(wait).UTC()})
}

// fail records that the operation failed, rolling back when there is something to undo
// (and, for a cluster, the tenant asked for it). A failure while rolling back ends the
// operation as failed.
func (e *Executor) fail(ctx context.Context, d *delivery, f events.Failure) error {
	rollback := false
	if failed := d.agg.running().failed; failed != nil {
		f.Message = "rollback failed: " + f.Message + " (after: " + failed.Message + ")"
	} else {
		rollback = d.rollsBack()
	}
	return e.append(ctx, d, events.OperationFailed{Failure: f, Rollback: rollback})
}

func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 20)
	if d > max || d <= 0 {
		d = max
	}
	// Jitter keeps clusters that failed together from retrying together.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// load returns the aggregate's state (a template revision's, or a cluster's), bringing the
// cached copy up to date with the stream.
func (e *Executor) load(ctx context.Context, id string, isTemplate bool) (aggregate, error) {
	e.mu.Lock()
	st := e.states[id]
	e.mu.Unlock()
	if _, cached := st.(templateAgg); st != nil && cached != isTemplate {
		st = nil // a command of the other kind: it is refused from a state of its own kind
	}
	if st == nil {
		if isTemplate {
			st = templateAgg{&template.State{}} // short histories: no snapshots
		} else {
			st = clusterAgg{e.snapshot(ctx, id)}
		}
	}
	seq, _, _ := st.head()
	recs, err := e.store.Load(ctx, id, seq)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		st.Apply(r.Envelope, r.Seq, r.Hash())
	}
	e.cfg.Metrics.loaded(len(recs))
	if c, ok := st.(clusterAgg); ok {
		e.saveSnapshot(ctx, id, c.State)
	}
	e.mu.Lock()
	if st.finished() {
		delete(e.states, id) // nothing more will happen to it
	} else {
		if len(e.states) > 10000 {
			clear(e.states) // a cache, not the truth: reloading is cheap
		}
		e.states[id] = st
	}
	e.mu.Unlock()
	return st, nil
}

// append records one event caused by the delivery's command and folds it into the state.
// On a conflict (another executor moved the history on) it reloads and reports an error,
// so that the delivery is retried against the new history.
func (e *Executor) append(ctx context.Context, d *delivery, p events.Payload) error {
	st := d.agg
	seq, hash, orgID := st.head()
	msgID := fmt.Sprintf("%s:%d", d.cmd.ID, seq)
	env := events.Envelope{
		ID: events.DeriveID("event", msgID), ClusterID: d.cmd.ClusterID, OrgID: d.cmd.OrgID, Actor: d.cmd.Actor,
		Time: time.Now().UTC(), CausationID: d.cmd.ID, CorrelationID: d.cmd.CorrelationID, PrevHash: hash, Payload: p,
	}
	if orgID != "" {
		env.OrgID = orgID
	}
	rec, err := e.store.Append(ctx, env, seq, msgID)
	if errors.Is(err, store.ErrConflict) {
		e.cfg.Metrics.conflict()
		e.mu.Lock()
		delete(e.states, d.cmd.ClusterID)
		e.mu.Unlock()
		return err
	}
	if err != nil {
		return err
	}
	st.Apply(rec.Envelope, rec.Seq, rec.Hash())
	e.cfg.Metrics.appendedEvent(p.Type())
	if st.running() == nil {
		d.log.Info("operation ended", "phase", st.phase(), "event", p.Type())
	}
	return nil
}

// decideCloud carries out a command on the cloud aggregate. None starts an operation: each
// is one event, recorded at once.
func (e *Executor) decideCloud(ctx context.Context, cmd events.Envelope) (events.Payload, error) {
	switch c := cmd.Payload.(type) {
	case events.SyncCloud:
		cloud, err := e.vcd.Cloud(ctx)
		if err != nil {
			if retry, f := classify(err); !retry {
				return nil, &cluster.Rejection{Failure: f}
			}
			return nil, err // nothing recorded: the next delivery asks VCD again
		}
		cloud.Users = e.unrecordedUsers(cloud.Users)
		return cloud, nil
	case events.SetVDCRuntimes:
		return events.VDCRuntimesChanged(c), nil
	case events.SetServiceState:
		return events.ServiceStateChanged(c), nil
	}
	return nil, &cluster.Rejection{Failure: events.Failure{Code: events.CodeInternal, Message: cmd.Type + " is not a cloud command"}}
}

// unrecordedUsers returns the users this process has not recorded as they are: new ones,
// and ones whose name or org changed. None is nil, so that the record has no users key.
func (e *Executor) unrecordedUsers(users []events.User) []events.User {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []events.User
	for _, u := range users {
		if e.users[u.ID] != u {
			out = append(out, u)
		}
	}
	return out
}

// recordedUsers remembers users a CloudSynced recorded.
func (e *Executor) recordedUsers(users []events.User) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range users {
		e.users[u.ID] = u
	}
}

// failedDelivery counts the command's failed deliveries in a row, and forgets them after a
// good one; it returns the count.
func (e *Executor) failedDelivery(cmdID string, failed bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !failed {
		delete(e.errs, cmdID)
		return 0
	}
	if len(e.errs) > 100_000 {
		clear(e.errs)
	}
	e.errs[cmdID]++
	return e.errs[cmdID]
}

// deadLetter moves a command that cannot be carried out to KAAS_DLQ with why, records the
// failure on its cluster where it can (so that the tenant sees a failed phase with the
// reason), and stops its deliveries. If the dead letter cannot be written, the command is
// delivered again later: nothing accepted is dropped.
func (e *Executor) deadLetter(ctx context.Context, msg store.Delivery, cmd events.Envelope, st aggregate, cause error) {
	cmdSeq := msg.Seq()
	if err := e.store.DeadLetter(ctx, cmdSeq, cmd, msg.Data(), cause.Error()); err != nil {
		e.cfg.Logger.Error("could not dead-letter a command; it will be delivered again", "command_id", cmd.ID, "err", err)
		_ = msg.NakWithDelay(e.cfg.RetryMax)
		return
	}
	e.cfg.Metrics.deadLettered(cmd.Type)
	if st != nil && cmd.ID != "" && cmd.ClusterID != events.CloudID {
		f := events.Failure{Code: events.CodeDeadLettered, Message: "kaas could not carry this out and set it aside for an operator: " + cause.Error()}
		var p events.Payload = events.CommandRejected{CommandType: cmd.Type, Failure: f}
		if op := st.running(); op != nil && op.commandID == cmd.ID {
			p = events.OperationFailed{Failure: f}
		}
		d := &delivery{msg: msg, cmd: cmd, log: e.cfg.Logger}
		d.use(st)
		if err := e.append(ctx, d, p); err != nil {
			e.cfg.Logger.Warn("dead-lettered command's failure not recorded on its cluster", "command_id", cmd.ID, "err", err)
		}
	}
	e.failedDelivery(cmd.ID, false)
	_ = msg.Term("dead-lettered: " + cause.Error())
}

// snapshot returns the cluster's last snapshot, or an empty state: a snapshot that cannot
// be read only costs loading the whole history.
func (e *Executor) snapshot(ctx context.Context, id string) *cluster.State {
	b, err := e.store.LoadSnapshot(ctx, id)
	if err != nil || b == nil {
		if err != nil {
			e.cfg.Logger.Warn("snapshot unreadable; loading the whole history", "cluster_id", id, "err", err)
		}
		return &cluster.State{}
	}
	st, err := cluster.UnmarshalSnapshot(b)
	if err != nil {
		e.cfg.Logger.Warn("snapshot unusable; loading the whole history", "cluster_id", id, "err", err)
		return &cluster.State{}
	}
	e.mu.Lock()
	e.snaps[id] = st.Events
	e.mu.Unlock()
	e.cfg.Metrics.snapshotLoaded()
	return st
}

// saveSnapshot stores the state once the cluster gained SnapshotEvery events since its last
// snapshot. A failure is only logged: snapshots are a cache.
func (e *Executor) saveSnapshot(ctx context.Context, id string, st *cluster.State) {
	e.mu.Lock()
	last := e.snaps[id]
	due := st.Seq > 0 && st.Events-last >= e.cfg.SnapshotEvery
	if due {
		if len(e.snaps) > 100_000 {
			clear(e.snaps)
		}
		e.snaps[id] = st.Events
	}
	e.mu.Unlock()
	if !due {
		return
	}
	b, err := st.MarshalSnapshot()
	if err == nil {
		err = e.store.SaveSnapshot(ctx, id, b)
	}
	if err != nil {
		e.cfg.Logger.Warn("snapshot not saved", "cluster_id", id, "err", err)
	}
}
