package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

const positionKey = "position"

// position is how far the follower read both streams: every record up to it has its marks
// stored.
type position struct {
	Commands uint64 `json:"commands"`
	Events   uint64 `json:"events"`
}

func (m *Mirror) position(ctx context.Context) (position, error) {
	var p position
	e, err := m.links.kv.Get(ctx, positionKey)
	if errors.Is(err, store.ErrNoKey) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read the mirror's position: %w", err)
	}
	if err := json.Unmarshal(e.Value, &p); err != nil {
		return p, fmt.Errorf("read the mirror's position: %w", err)
	}
	return p, nil
}

// taskCommands are the commands that are operations with a VCD task: what CSE answered
// with a task. Sharing is answered at once (204), and template reloads and the service
// state are no operation on a cluster or an org VDC. Template commands (build, import,
// deprecate, delete) get no VCD task from kaas either: a provider follows them through
// kaas's operation routes, and VCD shows the tasks of its own catalog work (uploads,
// captures) as it does for any client.
var taskCommands = map[string]bool{
	events.TypeCreateCluster: true, events.TypeScaleWorkers: true, events.TypeUpgradeTemplate: true,
	events.TypeDeleteCluster: true, events.TypeForceDeleteCluster: true, events.TypeDeleteNFSNode: true,
	events.TypeSetVDCRuntimes: true,
}

// touched returns the items a record touches.
func touched(env events.Envelope, command bool) []string {
	// A template revision's aggregate has no VCD entity and its operations no VCD task:
	// records only template aggregates have touch nothing. (Their shared records, a retry
	// or a failure, name the aggregate and its operation: reconcile finds those are no
	// cluster's and no task's.)
	if r, ok := env.Payload.(events.CommandRejected); events.IsTemplateType(env.Type) || (ok && events.IsTemplateType(r.CommandType)) {
		return nil
	}
	var out []string
	cloud := env.ClusterID == events.CloudID
	if !cloud && env.ClusterID != "" {
		out = append(out, kindCluster+"."+env.ClusterID)
	}
	if command {
		if taskCommands[env.Type] {
			out = append(out, kindOp+"."+env.ID)
		}
		return out
	}
	switch p := env.Payload.(type) {
	case events.ClusterACLChanged, events.CloudSynced, events.ServiceStateChanged:
		return out // no task follows them
	case events.CommandRejected:
		if !taskCommands[p.CommandType] && p.CommandType != "" {
			return out
		}
	case events.ClusterDeletionStarted:
		if p.Superseded != "" {
			out = append(out, kindOp+"."+p.Superseded)
		}
	}
	if env.CausationID != "" {
		out = append(out, kindOp+"."+env.CausationID)
	}
	return out
}

// record is one message of either stream, decoded.
type record struct {
	command bool
	seq     uint64
	env     events.Envelope
	err     error
}

// follow reads both streams from the position on, stores the marks of each batch of
// records and then the position, until ctx ends.
func (m *Mirror) follow(ctx context.Context, d *dirty, from position) error {
	in := make(chan record, 1024)
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	// Deferred after the stops, so run before them: a reader blocked on a full channel
	// returns, and its stop with it.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, f := range []struct {
		stream  string
		from    uint64
		command bool
	}{{events.CommandStream, from.Commands + 1, true}, {events.EventStream, from.Events + 1, false}} {
		stop, err := m.store.Follow(fctx, f.stream, f.from, func(raw store.Raw) {
			r := record{command: f.command, seq: raw.Seq}
			r.env, r.err = events.Unmarshal(raw.Data)
			select {
			case in <- r:
			case <-fctx.Done():
			}
		})
		if err != nil {
			return fmt.Errorf("mirror: follow %s: %w", f.stream, err)
		}
		stops = append(stops, stop)
	}
	pos := from
	for {
		var batch []record
		select {
		case r := <-in:
			batch = append(batch, r)
		case <-ctx.Done():
			return nil
		}
	drain:
		for len(batch) < 512 {
			select {
			case r := <-in:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		marks := map[string]mark{}
		for _, r := range batch {
			if r.command {
				pos.Commands = max(pos.Commands, r.seq)
			} else {
				pos.Events = max(pos.Events, r.seq)
			}
			if r.err != nil {
				// The projector skips it too (loudly): it changes no view, so nothing to mirror.
				m.log.Warn("mirror: unreadable record skipped", "command", r.command, "seq", r.seq, "err", r.err)
				continue
			}
			for _, key := range touched(r.env, r.command) {
				mk := marks[key]
				if r.command {
					mk.Commands = max(mk.Commands, r.seq)
				} else {
					mk.Events = max(mk.Events, r.seq)
				}
				marks[key] = mk
			}
		}
		// Marks first, then the position: a crash between the two reads the records again,
		// which only marks again.
		for attempt := 1; ; attempt++ {
			err := d.store(ctx, marks)
			if err == nil {
				err = m.putPosition(ctx, pos)
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			m.log.Warn("mirror: could not record what to mirror; trying again", "attempt", attempt, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(m.backoff(attempt)):
			}
		}
	}
}

func (m *Mirror) putPosition(ctx context.Context, p position) error {
	b, _ := json.Marshal(p)
	if _, err := m.links.kv.Put(ctx, positionKey, b); err != nil {
		return fmt.Errorf("record the mirror's position: %w", err)
	}
	m.mu.Lock()
	m.pos = p
	m.mu.Unlock()
	return nil
}
