package ingress

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// DeadLetterQueue is where commands that could not be carried out wait for an operator.
// Deploy adapts the store to it.
type DeadLetterQueue interface {
	// DeadLetters lists the queue, oldest first.
	DeadLetters(ctx context.Context) ([]DeadLetter, error)
	// RemoveDeadLetter deletes one dead letter; for a seq the queue does not hold, the
	// error wraps ErrNoDeadLetter.
	RemoveDeadLetter(ctx context.Context, seq uint64) error
}

// DeadLetter is a command that could not be carried out, kept with why.
type DeadLetter struct {
	// Seq is its place in the queue; CommandSeq the command's in the command stream.
	Seq, CommandSeq uint64
	Command         events.Envelope
	Error           string
	At              time.Time
}

// ErrNoDeadLetter is what a DeadLetterQueue's RemoveDeadLetter wraps for a seq it does
// not hold: a retry that raced a discard is no failure.
var ErrNoDeadLetter = errors.New("no such dead letter")

// deadLetter is one entry of GET /api/cse/3.0/admin/dlq.
type deadLetter struct {
	Seq        uint64    `json:"seq"`
	CommandSeq uint64    `json:"commandSeq"`
	ClusterID  string    `json:"clusterId,omitempty"`
	CommandID  string    `json:"commandId,omitempty"`
	Command    string    `json:"command"`
	OrgID      string    `json:"orgId,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	RequestID  string    `json:"requestId,omitempty"`
	Error      string    `json:"error"`
	At         time.Time `json:"at"`
}

func (a *API) dlq(c *call) (DeadLetterQueue, *reply) {
	if bad := providerOnly(c, "the dead-letter queue"); bad != nil {
		return nil, bad
	}
	if a.cfg.DeadLetters == nil {
		r := fail(http.StatusNotFound, cse.MinorDefault, "this kaasd keeps no dead-letter queue")
		return nil, &r
	}
	return a.cfg.DeadLetters, nil
}

// listDeadLetters answers kaas's GET /api/cse/3.0/admin/dlq, for providers, paged.
func (a *API) listDeadLetters(c *call) reply {
	q, bad := a.dlq(c)
	if bad != nil {
		return *bad
	}
	all, err := q.DeadLetters(c.ctx)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the dead-letter queue could not be read; try again: %v", err)
	}
	out := make([]deadLetter, 0, len(all))
	for _, d := range all {
		e := d.Command
		clusterID := e.ClusterID
		if clusterID != "" && clusterID != events.CloudID {
			clusterID = cse.EntityID(clusterID) // the id the API knows a cluster by
		}
		out = append(out, deadLetter{Seq: d.Seq, CommandSeq: d.CommandSeq, ClusterID: clusterID, CommandID: e.ID, Command: e.Type,
			OrgID: e.OrgID, Actor: e.Actor, RequestID: e.CorrelationID, Error: d.Error, At: d.At})
	}
	return paged(a, c, out)
}

// find returns the dead letter at the {seq} of the route.
func (a *API) find(c *call, q DeadLetterQueue) (DeadLetter, *reply) {
	seq, err := strconv.ParseUint(c.args[0], 10, 64)
	if err != nil {
		r := fail(http.StatusNotFound, cse.MinorDefault, "dead letter %s not found", c.args[0])
		return DeadLetter{}, &r
	}
	all, err := q.DeadLetters(c.ctx)
	if err != nil {
		r := fail(http.StatusServiceUnavailable, cse.MinorDefault, "the dead-letter queue could not be read; try again: %v", err)
		return DeadLetter{}, &r
	}
	for _, d := range all {
		if d.Seq == seq {
			return d, nil
		}
	}
	r := fail(http.StatusNotFound, cse.MinorDefault, "dead letter %d not found", seq)
	return DeadLetter{}, &r
}

// retryDeadLetter answers POST /api/cse/3.0/admin/dlq/{seq}/action/retry: the command is
// accepted again, as a new command on behalf of the provider, and leaves the queue.
func (a *API) retryDeadLetter(c *call) reply {
	q, bad := a.dlq(c)
	if bad != nil {
		return *bad
	}
	d, bad := a.find(c, q)
	if bad != nil {
		return *bad
	}
	if d.Command.Payload == nil || events.KindOf(d.Command.Type) != events.KindCommand {
		return fail(http.StatusBadRequest, cse.MinorDefault, "dead letter %d is not a command kaas can read: discard it", d.Seq)
	}
	c.orgID = d.Command.OrgID // the command stays its org's
	cmdID, again := a.redelivered(c)
	if !again {
		if _, err := a.accept(c, d.Command.ClusterID, d.Command.Payload); err != nil {
			return unrecorded(err)
		}
	}
	if err := q.RemoveDeadLetter(c.ctx, d.Seq); err != nil && !errors.Is(err, ErrNoDeadLetter) {
		c.log().Warn("retried dead letter not removed; remove it with DELETE", "seq", d.Seq, "err", err)
	}
	return reply{status: http.StatusAccepted, body: map[string]string{"task_href": OperationHref(cmdID)}, location: OperationHref(cmdID)}
}

// discardDeadLetter answers DELETE /api/cse/3.0/admin/dlq/{seq}: the command is dropped,
// on purpose, by an operator.
func (a *API) discardDeadLetter(c *call) reply {
	q, bad := a.dlq(c)
	if bad != nil {
		return *bad
	}
	d, bad := a.find(c, q)
	if bad != nil {
		return *bad
	}
	if err := q.RemoveDeadLetter(c.ctx, d.Seq); err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the dead letter could not be removed; try again: %v", err)
	}
	c.log().Warn("dead letter discarded", "seq", d.Seq, "command", d.Command.Type, "command_id", d.Command.ID, "cluster_id", d.Command.ClusterID)
	return reply{status: http.StatusNoContent}
}
