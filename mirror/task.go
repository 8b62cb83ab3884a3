package mirror

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/projector"
)

// oldOperation is how long before the newest event an operation may have ended and still
// get a task: a mirror started on a long history makes tasks for what may still be
// followed, not for every operation ever.
const oldOperation = time.Hour

// Task operation names, as CSE named its tasks.
const (
	clusterOperationName = "cluster operation"
	ovdcOperationName    = "OVDC Update"
)

// reconcileOp makes the operation's VCD task say what the operation's view says: made when
// missing, moved on with its progress, ended with its outcome. An ended task is never
// changed again.
func (m *Mirror) reconcileOp(ctx context.Context, id string) error {
	op, ok := m.views.Operation(id)
	if !ok {
		return nil
	}
	orgID, want, ok := m.taskFor(ctx, op)
	if !ok {
		return nil
	}
	link := m.links.op(id)
	if link.Done {
		return nil
	}
	if link == (opLink{}) && !op.Ended.IsZero() && m.views.EventTime().Sub(op.Ended) > oldOperation {
		return nil // long over before the mirror reached it (it read a long history): nobody follows it
	}
	var cur Task
	if link.Task != "" {
		t, err := m.vcd.Task(ctx, link.Task)
		switch {
		case errors.Is(err, ErrNotFound): // VCD lost it: it is made again
			link.Creating = true
		case err != nil:
			return err
		default:
			cur = t
		}
	}
	if cur.ID == "" && link.Creating {
		t, found, err := m.vcd.FindTask(ctx, id)
		if err != nil {
			return err
		}
		if found {
			cur = t
		}
	}
	if cur.ID == "" {
		if err := m.links.putOp(ctx, id, opLink{Creating: true}); err != nil {
			return err
		}
		t, err := m.vcd.CreateTask(ctx, orgID, want)
		if err != nil {
			return err
		}
		m.m.wrote(writeTaskCreate)
		cur = t
	}
	linked := cur.ID != link.Task
	if Finished(want.Status) && !Finished(cur.Status) && op.ClusterID != events.CloudID {
		// CSE writes the entity before it ends the task, and scripts rely on it (`vcd task
		// wait X && vcd cse cluster info`): the task ends once the entity shows the outcome.
		behind, err := m.entityBehind(ctx, op)
		if err != nil {
			return err
		}
		if behind {
			if linked {
				if err := m.links.putOp(ctx, id, opLink{Task: cur.ID}); err != nil {
					return err
				}
			}
			if err := m.mustTouch(ctx, kindCluster+"."+op.ClusterID); err != nil {
				return err
			}
			return errEntityBehind
		}
	}
	if !Finished(cur.Status) && !sameTask(cur, want) {
		upd := want
		upd.ID, upd.Href = cur.ID, cur.Href
		t, err := m.vcd.UpdateTask(ctx, upd)
		switch {
		case errors.Is(err, ErrFinished): // ended behind kaas's back (a provider aborted it)
			if t, err = m.vcd.Task(ctx, cur.ID); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			m.m.wrote(writeTaskUpdate)
		}
		cur = t
	}
	if linked || Finished(cur.Status) {
		if err := m.links.putOp(ctx, id, opLink{Task: cur.ID, Done: Finished(cur.Status)}); err != nil {
			return err
		}
	}
	if linked && op.ClusterID != events.CloudID {
		// The cluster's entity shows the task of its operation: look at it again.
		return m.mustTouch(ctx, kindCluster+"."+op.ClusterID)
	}
	return nil
}

// errEntityBehind says an operation's task waits for its cluster's entity: the operation
// is looked at again shortly, which is no failure.
var errEntityBehind = errors.New("the cluster's entity does not show the operation's outcome yet")

// entityWait bounds how long an ended operation's task waits for the entity, from when the
// mirror first found it behind: an entity VCD keeps refusing must not leave the task
// running for ever.
const entityWait = 30 * time.Second

// entityBehind reports whether the cluster's entity in VCD does not yet show what the
// views say now that the operation ended: a live cluster's entity missing or with other
// content, or a deleted cluster's entity still there.
func (m *Mirror) entityBehind(ctx context.Context, op projector.Operation) (bool, error) {
	behind, err := m.entityDiffers(ctx, op)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil || !behind {
		delete(m.behind, op.ID)
		return false, err
	}
	since, ok := m.behind[op.ID]
	if !ok {
		m.behind[op.ID] = time.Now()
	} else if time.Since(since) > entityWait {
		delete(m.behind, op.ID)
		return false, nil // VCD keeps the entity from matching: the task ends anyway
	}
	return true, nil
}

// entityDiffers reports whether the cluster's entity in VCD differs from what the views
// say now.
func (m *Mirror) entityDiffers(ctx context.Context, op projector.Operation) (bool, error) {
	cv, ok := m.views.Cluster(op.ClusterID)
	live := ok && cv.Exists()
	link := m.links.cluster(op.ClusterID)
	if !live {
		return link.Creating || (link.Entity != "" && !link.Gone), nil
	}
	if link.Entity == "" || link.Gone {
		return true, nil
	}
	e, err := m.vcd.Entity(ctx, link.Entity)
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	want, err := m.desired(cv)
	if err != nil {
		return false, err
	}
	return !sameEntity(e, want.Entity), nil
}

// mustTouch marks an item durably from a reconcile, so that it is looked at again even if
// this run ends first.
func (m *Mirror) mustTouch(ctx context.Context, key string) error {
	m.mu.Lock()
	d := m.dirty
	m.mu.Unlock()
	if d == nil {
		return errors.New("this instance no longer mirrors")
	}
	return d.store(ctx, map[string]mark{key: {}})
}

// sameTask reports whether VCD's task says what kaas wants it to.
func sameTask(have, want Task) bool {
	if have.Status != want.Status || have.Progress != want.Progress || have.Operation != want.Operation || have.Details != want.Details {
		return false
	}
	if (have.Error == nil) != (want.Error == nil) {
		return false
	}
	return have.Error == nil || *have.Error == *want.Error
}

// taskFor returns the task an operation has in VCD and the org whose task list holds it
// (the org its command was filed under: the cluster's, or the provider's for an org VDC);
// false for an operation with no task.
func (m *Mirror) taskFor(ctx context.Context, op projector.Operation) (orgID string, t Task, ok bool) {
	if !taskCommands[op.Command] {
		return "", Task{}, false
	}
	t = Task{ServiceNamespace: m.cfg.TaskNamespace, OperationName: clusterOperationName, Details: op.Step, Progress: op.Percent}
	switch op.EffectiveStatus() {
	case projector.OpPending:
		t.Status, t.Progress = TaskQueued, 0
	case projector.OpRunning:
		t.Status = TaskRunning
	case projector.OpSucceeded:
		t.Status, t.Progress = TaskSucceeded, 100
	default: // failed, refused, superseded
		t.Status = TaskFailed
		t.Error = &TaskError{MajorErrorCode: 500, MinorErrorCode: events.CodeInternal, Message: "the operation failed"}
		if op.Status == projector.OpRejected {
			t.Error.MajorErrorCode = 400
		}
		if f := op.Failure; f != nil {
			t.Error.MinorErrorCode, t.Error.Message = f.Code, f.Message
			if f.VCDMessage != "" {
				t.Error.Message += " (VCD: " + f.VCDMessage + ")"
			}
		}
	}
	if strings.HasPrefix(op.Actor, "urn:vcloud:user:") {
		t.User = Ref{ID: op.Actor, Name: m.userName(ctx, op.Actor)}
	}
	orgID = op.OrgID
	suffix := " (kaas operation " + op.ID + ")"
	if op.Command == events.TypeSetVDCRuntimes {
		name, vdcID := "", ""
		if op.VDC != nil {
			name, vdcID = op.VDC.Name, op.VDC.ID
		}
		t.OperationName = ovdcOperationName
		t.Owner = Ref{ID: vdcID, Name: name}
		t.Operation = fmt.Sprintf("Updating the Kubernetes runtimes of org VDC '%s'", name) + suffix
		return orgID, t, orgID != ""
	}
	name, orgName := "", ""
	if cv, ok := m.views.Cluster(op.ClusterID); ok {
		name = cv.Name()
		if org := cv.Org(); org != "" {
			orgID = org
		}
		if cv.State != nil && cv.State.Exists {
			orgName = cv.State.Spec.OrgName
		}
	}
	if op.Spec != nil { // a create refused before its cluster existed
		name = cmpOr(name, op.Spec.Name)
		orgName = cmpOr(orgName, op.Spec.OrgName)
	}
	if pc := pendingSpec(m.views, op.ClusterID); orgName == "" && pc != nil {
		orgName = pc.OrgName
	}
	t.Owner = Ref{ID: orgID, Name: orgName}
	var what string
	switch op.Command {
	case events.TypeCreateCluster:
		what = fmt.Sprintf("Creating cluster '%s'", name)
	case events.TypeScaleWorkers:
		what = fmt.Sprintf("Resizing cluster '%s' to %s workers", name, op.Target)
	case events.TypeUpgradeTemplate:
		what = fmt.Sprintf("Upgrading cluster '%s' to %s", name, op.Target)
	case events.TypeDeleteCluster:
		what = fmt.Sprintf("Deleting cluster '%s'", name)
	case events.TypeForceDeleteCluster:
		what = fmt.Sprintf("Force-deleting cluster '%s'", name)
	case events.TypeDeleteNFSNode:
		what = fmt.Sprintf("Removing NFS node %s of cluster '%s'", op.Target, name)
	}
	t.Operation = what + suffix
	return orgID, t, orgID != ""
}

// pendingSpec is the spec of a cluster's create not started yet, if any.
func pendingSpec(v *projector.Views, clusterID string) *events.ClusterSpec {
	cv, ok := v.Cluster(clusterID)
	if !ok {
		return nil
	}
	if o := cv.PendingCreate(); o != nil {
		return o.Spec
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// userName is a user's name: as kaas's views know it (the cloud sync reads VCD's users),
// else as VCD says, remembered; "" when neither can say (the task then names the user by
// reference only).
func (m *Mirror) userName(ctx context.Context, userID string) string {
	if u, ok := m.views.User(userID); ok && u.Name != "" {
		return u.Name
	}
	m.mu.Lock()
	name, ok := m.users[userID]
	m.mu.Unlock()
	if ok {
		return name
	}
	name, err := m.vcd.UserName(ctx, userID)
	if err != nil {
		m.log.Debug("mirror: VCD could not name a user", "user", userID, "err", err)
		return ""
	}
	if name != "" {
		m.mu.Lock()
		m.users[userID] = name
		m.mu.Unlock()
	}
	return name
}
