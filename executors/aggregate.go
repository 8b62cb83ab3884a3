package executors

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/template"
)

// aggregate is the state of one aggregate, a cluster's or a template revision's, as the
// command loop sees it: the same delivery, retry, timeout, dead-letter and append machinery
// drives both, and only deciding and the steps themselves differ.
type aggregate interface {
	Apply(e events.Envelope, seq uint64, hash string)
	// head is where the history stands: the expected sequence and PrevHash of the next
	// append, and the org its first record was filed under.
	head() (seq uint64, hash, orgID string)
	// running is the operation in progress, nil when idle.
	running() *running
	seen(commandID string) bool
	// failed reports whether the last operation ended failed.
	failed() bool
	// finished reports that nothing more will happen to it: it need not stay cached.
	finished() bool
	phase() events.Phase
}

// running is the operation in progress, whichever aggregate's.
type running struct {
	commandID, op     string
	started, failedAt time.Time
	// failed is set while a failed operation is rolled back.
	failed *events.Failure
	retry  *retryState
}

// retryState is a step waiting to be tried again after a retryable error.
type retryState struct {
	step     string
	attempt  int
	notUntil time.Time
}

type clusterAgg struct{ *cluster.State }

func (a clusterAgg) head() (uint64, string, string) { return a.Seq, a.Hash, a.OrgID }
func (a clusterAgg) seen(id string) bool            { return a.Seen(id) }
func (a clusterAgg) finished() bool                 { return a.Deleted && a.Op == nil }
func (a clusterAgg) phase() events.Phase            { return a.Phase }
func (a clusterAgg) failed() bool {
	return a.LastFailure != nil && a.Phase.Status() == events.StatusFailed
}

func (a clusterAgg) running() *running {
	op := a.Op
	if op == nil {
		return nil
	}
	r := &running{commandID: op.CommandID, op: op.Op, started: op.Started, failedAt: op.FailedAt, failed: op.Failed}
	if op.Retry != nil {
		r.retry = &retryState{step: op.Retry.Step, attempt: op.Retry.Attempt, notUntil: op.Retry.NotUntil}
	}
	return r
}

type templateAgg struct{ *template.State }

func (a templateAgg) head() (uint64, string, string) { return a.Seq, a.Hash, a.OrgID }
func (a templateAgg) seen(id string) bool            { return a.Seen(id) }
func (a templateAgg) finished() bool                 { return a.Deleted && a.Op == nil }
func (a templateAgg) phase() events.Phase            { return a.Phase }
func (a templateAgg) failed() bool {
	return a.LastFailure != nil && a.Phase.Status() == events.StatusFailed
}

func (a templateAgg) running() *running {
	op := a.Op
	if op == nil {
		return nil
	}
	r := &running{commandID: op.CommandID, op: op.Op, started: op.Started, failedAt: op.FailedAt, failed: op.Failed}
	if op.Retry != nil {
		r.retry = &retryState{step: op.Retry.Step, attempt: op.Retry.Attempt, notUntil: op.Retry.NotUntil}
	}
	return r
}

// rejection returns the failure of a command either aggregate refused.
func rejection(err error) (events.Failure, bool) {
	var cr *cluster.Rejection
	if errors.As(err, &cr) {
		return cr.Failure, true
	}
	var tr *template.Rejection
	if errors.As(err, &tr) {
		return tr.Failure, true
	}
	return events.Failure{}, false
}

func duplicate(err error) bool {
	return errors.Is(err, cluster.ErrDuplicate) || errors.Is(err, template.ErrDuplicate)
}

// planned is an operation's next step, whichever aggregate's.
type planned struct {
	kind string // the step kind: the metrics' label
	// step is what a failure of it names: its kind, or the step a planned failure (Fail)
	// says could not go on.
	step string
	name string // for logs
	run  func(context.Context) (stepResult, error)
}

// plan returns the next step of the delivery's aggregate.
func (e *Executor) plan(d *delivery) planned {
	if d.tpl != nil {
		s := template.Plan(d.tpl)
		return planned{kind: string(s.Kind), step: cmp.Or(s.Failure.Step, string(s.Kind)), name: s.String(),
			run: func(ctx context.Context) (stepResult, error) { return e.templateStep(ctx, d, s) }}
	}
	s := cluster.Plan(d.st)
	return planned{kind: string(s.Kind), step: cmp.Or(s.Failure.Step, string(s.Kind)), name: s.String(),
		run: func(ctx context.Context) (stepResult, error) { return e.step(ctx, d, s) }}
}

// rollsBack says whether a failure of the delivery's operation now is undone: a failed
// cluster create (or scale up) when the tenant asked for it, and every failed template
// build or import.
func (d *delivery) rollsBack() bool {
	if d.tpl != nil {
		op := d.tpl.Op
		return op.Op == template.OpBuild || op.Op == template.OpImport
	}
	op := d.st.Op
	switch op.Op {
	case events.OpCreate:
		return d.st.Spec.RollbackOnFailure
	case events.OpUpdate:
		return d.st.Spec.RollbackOnFailure && op.Workers > op.FromWorkers
	}
	return false
}

// use sets the delivery's aggregate.
func (d *delivery) use(a aggregate) {
	d.agg, d.st, d.tpl = a, nil, nil
	switch a := a.(type) {
	case clusterAgg:
		d.st = a.State
	case templateAgg:
		d.tpl = a.State
	}
}
