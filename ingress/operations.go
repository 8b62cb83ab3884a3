package ingress

import (
	"context"
	"net/http"
	"sync"

	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

// OperationReader answers about the commands accepted and their progress.
type OperationReader interface {
	// Sync waits until the views reflect every command up to commandSeq.
	Sync(ctx context.Context, commandSeq, eventSeq uint64) error
	// Operation returns an operation the principal may see, or an error wrapping ErrNotFound.
	Operation(ctx context.Context, p cluster.Principal, id string) (cse.Operation, error)
	// OperationExists reports whether a command id was already accepted.
	OperationExists(ctx context.Context, id string) bool
	// WaitTask waits, until ctx ends, for the VCD task of an operation and returns its
	// href; false when there is none (yet), or no VCD mirror.
	WaitTask(ctx context.Context, opID string) (href string, ok bool)
}

// OperationHref is where an accepted change's progress is served.
func OperationHref(id string) string { return "/api/cse/3.0/operations/" + id }

func (a *API) getOperation(c *call) reply {
	a.sync(c, "op/"+c.args[0])
	op, err := a.ops.Operation(c.ctx, c.p, c.args[0])
	if err != nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "operation %s not found", c.args[0])
	}
	return ok(http.StatusOK, op)
}

// redelivered reports whether this request's command was already accepted: VCD (or
// RabbitMQ) delivered it again, and it gets the same answer without a second command.
func (a *API) redelivered(c *call) (string, bool) {
	cmdID := c.commandID()
	return cmdID, a.ops.OperationExists(c.ctx, cmdID)
}

// sync waits for the views to reflect this process's own commands on the given keys
// (read your writes). A timeout is not fatal: the answer is served from views that are a
// little behind, and says so in the log.
func (a *API) sync(c *call, keys ...string) {
	seq, evts := a.recent.get(keys...), uint64(0)
	if a.cfg.Shared != nil {
		// Another instance may have answered 202 for a command this one has not folded, or
		// recorded what its executor did.
		if cmds, e, err := a.cfg.Shared.LastSequences(c.ctx); err == nil {
			seq, evts = max(seq, cmds), e
		} else {
			c.log().Warn("streams' ends unknown; answering from the views as they are", "err", err)
		}
	}
	a.syncTo(c, seq, evts)
}

// taskHref is where the answer to a change shows its operation's progress: the operation's
// VCD task, waited for at most TaskWait, else kaas's own operation href. A redelivered
// request waits alike, and once the task is made, every answer names it.
func (a *API) taskHref(c *call, opID string) string {
	if a.cfg.TaskWait > 0 {
		ctx, cancel := context.WithTimeout(c.ctx, a.cfg.TaskWait)
		defer cancel()
		if href, ok := a.ops.WaitTask(ctx, opID); ok {
			return href
		}
		if ctx.Err() != nil && c.ctx.Err() == nil {
			c.log().Debug("no VCD task for the operation yet; answering with kaas's operation href", "command_id", opID)
		}
	}
	return OperationHref(opID)
}

func (a *API) syncTo(c *call, seq, evts uint64) {
	if seq == 0 && evts == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, a.cfg.SyncTimeout)
	defer cancel()
	if err := a.ops.Sync(ctx, seq, evts); err != nil {
		c.log().Warn("views behind the commands; answering from older views", "err", err)
	}
}

// recentSeqs remembers, per key (a cluster, an org, an operation, a cluster name), the
// sequence of the last command this process appended for it, so that a request waits only
// for the views to show the commands it depends on, not every command in flight. Two
// generations rotate: an entry is forgotten only after tens of thousands of newer ones,
// long after the views showed it.
type recentSeqs struct {
	mu       sync.Mutex
	cur, old map[string]uint64
}

const recentGeneration = 50_000

func (r *recentSeqs) get(keys ...string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var seq uint64
	for _, k := range keys {
		seq = max(seq, r.cur[k], r.old[k])
	}
	return seq
}

func (r *recentSeqs) set(seq uint64, keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil || len(r.cur) >= recentGeneration {
		r.old, r.cur = r.cur, make(map[string]uint64, 1024)
	}
	for _, k := range keys {
		r.cur[k] = max(r.cur[k], seq)
	}
}
