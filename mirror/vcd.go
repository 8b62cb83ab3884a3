package mirror

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaasproject/kaas/events"
)

// VCD is what the mirror needs of VCD. Calls are made as the provider's service account
// (System org), which sees every org's entities and tasks. Errors wrap ErrNotFound,
// ErrConflict or ErrFinished where those apply, and are an *Error otherwise, so that the
// mirror knows whether trying again can help.
type VCD interface {
	// CreateEntity makes an entity of e's content in the tenant's org, owned by e.Owner,
	// and returns its id.
	CreateEntity(ctx context.Context, t Tenant, e Entity) (id string, err error)
	// Entity reads an entity, with its ETag.
	Entity(ctx context.Context, id string) (Entity, error)
	// FindEntities returns the entities whose status.kaas.clusterId is the cluster's.
	FindEntities(ctx context.Context, clusterID string) ([]Entity, error)
	// Entities calls fn with every entity of CSE's type until it returns false.
	Entities(ctx context.Context, fn func(Entity) bool) error
	// UpdateEntity replaces an entity's name, externalId, owner and content, if its ETag
	// is still e.ETag (ErrConflict otherwise), and returns it as stored.
	UpdateEntity(ctx context.Context, e Entity) (Entity, error)
	// ResolveEntity validates an entity against its type, making it RESOLVED.
	ResolveEntity(ctx context.Context, id string) (Entity, error)
	// DeleteEntity removes an entity.
	DeleteEntity(ctx context.Context, id string) error
	// AccessControls lists an entity's access controls.
	AccessControls(ctx context.Context, entityID string) ([]AccessControl, error)
	// AddAccessControl grants a user access to an entity.
	AddAccessControl(ctx context.Context, t Tenant, entityID string, ac AccessControl) error
	// RemoveAccessControl removes one access control of an entity.
	RemoveAccessControl(ctx context.Context, entityID, aclID string) error
	// SetVAppAccess makes a vApp (by URN) shared with exactly the users of acl, and reports
	// whether it had to change anything (ErrUnsupported when this VCD cannot say or do it).
	SetVAppAccess(ctx context.Context, t Tenant, vappID string, acl []events.ACLEntry) (changed bool, err error)

	// CreateTask makes a task in the org's task list and returns it as stored.
	CreateTask(ctx context.Context, orgID string, t Task) (Task, error)
	// Task reads a task.
	Task(ctx context.Context, id string) (Task, error)
	// UpdateTask changes a task's status, progress, operation, details and error;
	// ErrFinished when the task had already ended.
	UpdateTask(ctx context.Context, t Task) (Task, error)
	// FindTask returns the task whose operation text names a kaas operation id.
	FindTask(ctx context.Context, operationID string) (Task, bool, error)
	// UserName returns a user's name, "" when VCD does not know the user.
	UserName(ctx context.Context, userID string) (string, error)
}

// Tenant is the org an object is made in: its URN and name.
type Tenant struct {
	ID, Name string
}

// Entity is a defined entity as VCD holds it.
type Entity struct {
	ID         string
	Name       string
	ExternalID string
	// Content is the entity's JSON ("entity"), decoded.
	Content map[string]any
	// State is PRE_CREATED, RESOLVED or RESOLUTION_ERROR.
	State string
	Owner string // user URN
	Org   string // org URN
	ETag  string
}

// Entity states.
const (
	StatePreCreated      = "PRE_CREATED"
	StateResolved        = "RESOLVED"
	StateResolutionError = "RESOLUTION_ERROR"
)

// AccessControl is one grant of an entity to a member.
type AccessControl struct {
	ID            string
	MemberID      string
	AccessLevelID string // urn:vcloud:accessLevel:ReadOnly|ReadWrite|FullControl
}

// Task is a VCD task, as the XML API holds it.
type Task struct {
	ID               string // urn:vcloud:task:<uuid>
	Href             string
	Status           string
	Operation        string
	OperationName    string
	ServiceNamespace string
	Details          string
	Progress         int
	Owner            Ref
	User             Ref
	Error            *TaskError
}

// Ref names a VCD object by URN (urn:vcloud:org:…, urn:vcloud:vdc:…, urn:vcloud:user:…):
// the implementation turns it into the XML API's href and type.
type Ref struct {
	ID, Name string
}

// TaskError is a failed task's error.
type TaskError struct {
	MajorErrorCode int
	MinorErrorCode string
	Message        string
}

// Task statuses.
const (
	TaskQueued    = "queued"
	TaskRunning   = "running"
	TaskSucceeded = "success"
	TaskFailed    = "error"
	TaskAborted   = "aborted"
	TaskCanceled  = "canceled"
)

// Finished reports whether a task status is final.
func Finished(status string) bool {
	switch status {
	case TaskSucceeded, TaskFailed, TaskAborted, TaskCanceled:
		return true
	}
	return false
}

// Errors the VCD implementation wraps.
var (
	// ErrNotFound: there is no such object (or the account may not see it).
	ErrNotFound = errors.New("not found in VCD")
	// ErrConflict: the entity changed since it was read (412): read it again.
	ErrConflict = errors.New("the entity changed in VCD since it was read")
	// ErrFinished: the task had ended; VCD changes an ended task no more.
	ErrFinished = errors.New("the VCD task has ended")
	// ErrUnsupported: this VCD does not offer the call.
	ErrUnsupported = errors.New("not supported by this VCD")
)

// Error is a VCD call that failed: retryable when trying again later may help (VCD or the
// network unavailable, VCD busy), terminal when VCD refused the request as such.
type Error struct {
	Op        string
	Status    int // HTTP status; 0 when VCD gave no answer
	Code      string
	Message   string
	Retryable bool
	Err       error
}

func (e *Error) Error() string {
	switch {
	case e.Status == 0 && e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	case e.Code != "":
		return fmt.Sprintf("%s: VCD answered %d %s: %s", e.Op, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: VCD answered %d: %s", e.Op, e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Classify says whether an error of a VCD call may go away by itself: "retryable" or
// "terminal", for the metrics and the backoff.
func Classify(err error) string {
	var e *Error
	switch {
	case errors.As(err, &e) && !e.Retryable:
		return classTerminal
	case errors.Is(err, ErrUnsupported):
		return classTerminal
	}
	return classRetryable
}

const (
	classRetryable = "retryable"
	classTerminal  = "terminal"
)
