package mirror

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/kaasproject/kaas/events"
)

// fakeVCD is an in-memory VCD for the mirror's logic: entities with ETags, access controls,
// vApp sharing and tasks, as the VCD interface promises them. fail, when set, is asked
// before every call and fails it with the error it returns.
type fakeVCD struct {
	mu       sync.Mutex
	entities map[string]*Entity
	acls     map[string][]AccessControl
	vapps    map[string][]events.ACLEntry
	tasks    map[string]*Task
	taskOrg  map[string]string
	users    map[string]string
	calls    map[string]int
	etag     int
	fail     func(call, arg string) error
	// afterCreate, when set, runs once an entity is made, before its id is returned: a
	// test's crash between VCD's create and the link.
	afterCreate func(id string) error
}

func newFakeVCD() *fakeVCD {
	return &fakeVCD{entities: map[string]*Entity{}, acls: map[string][]AccessControl{}, vapps: map[string][]events.ACLEntry{},
		tasks: map[string]*Task{}, taskOrg: map[string]string{}, users: map[string]string{}, calls: map[string]int{}}
}

// call counts a call and asks fail; arg names what it is about (an entity's name or id).
func (f *fakeVCD) call(name string, arg ...string) error {
	f.calls[name]++
	if f.fail != nil {
		return f.fail(name, strings.Join(arg, ""))
	}
	return nil
}

func (f *fakeVCD) nextETag() string { f.etag++; return fmt.Sprint(f.etag) }

func copyEntity(e *Entity) Entity {
	c := *e
	c.Content = normalize(e.Content).(map[string]any)
	return c
}

func (f *fakeVCD) CreateEntity(ctx context.Context, t Tenant, e Entity) (string, error) {
	f.mu.Lock()
	if err := f.call("CreateEntity", e.Name); err != nil {
		f.mu.Unlock()
		return "", err
	}
	e.ID = "urn:vcloud:entity:cse:nativeCluster:" + uuid.NewString()
	e.Org, e.State, e.ETag = t.ID, StatePreCreated, f.nextETag()
	c := copyEntity(&e)
	f.entities[e.ID] = &c
	after := f.afterCreate
	f.afterCreate = nil
	f.mu.Unlock()
	if after != nil {
		if err := after(e.ID); err != nil {
			return "", err
		}
	}
	return e.ID, nil
}

func (f *fakeVCD) Entity(ctx context.Context, id string) (Entity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Entity"); err != nil {
		return Entity{}, err
	}
	e := f.entities[id]
	if e == nil {
		return Entity{}, fmt.Errorf("entity %s: %w", id, ErrNotFound)
	}
	return copyEntity(e), nil
}

func (f *fakeVCD) FindEntities(ctx context.Context, clusterID string) ([]Entity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("FindEntities"); err != nil {
		return nil, err
	}
	var out []Entity
	for _, e := range f.entities {
		if clusterIDOf(e.Content) == clusterID {
			out = append(out, copyEntity(e))
		}
	}
	return out, nil
}

func (f *fakeVCD) Entities(ctx context.Context, fn func(Entity) bool) error {
	f.mu.Lock()
	if err := f.call("Entities"); err != nil {
		f.mu.Unlock()
		return err
	}
	var all []Entity
	for _, id := range slices.Sorted(maps.Keys(f.entities)) {
		all = append(all, copyEntity(f.entities[id]))
	}
	f.mu.Unlock()
	for _, e := range all {
		if !fn(e) {
			break
		}
	}
	return nil
}

func (f *fakeVCD) UpdateEntity(ctx context.Context, e Entity) (Entity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("UpdateEntity"); err != nil {
		return Entity{}, err
	}
	cur := f.entities[e.ID]
	switch {
	case cur == nil:
		return Entity{}, fmt.Errorf("entity %s: %w", e.ID, ErrNotFound)
	case e.ETag != cur.ETag:
		return Entity{}, fmt.Errorf("entity %s: %w", e.ID, ErrConflict)
	}
	cur.Name, cur.ExternalID, cur.Owner, cur.Content = e.Name, e.ExternalID, e.Owner, normalize(e.Content).(map[string]any)
	cur.ETag = f.nextETag()
	return copyEntity(cur), nil
}

// edit changes an entity behind kaas's back, as another VCD client would.
func (f *fakeVCD) edit(id string, change func(e *Entity)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.entities[id])
	f.entities[id].ETag = f.nextETag()
}

func (f *fakeVCD) ResolveEntity(ctx context.Context, id string) (Entity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ResolveEntity"); err != nil {
		return Entity{}, err
	}
	e := f.entities[id]
	if e == nil {
		return Entity{}, fmt.Errorf("entity %s: %w", id, ErrNotFound)
	}
	e.State = StateResolved
	required := []string{"kind", "spec", "metadata", "apiVersion"} // type 2.1.0's schema
	if _, v1 := e.Content["api_version"]; v1 {
		required = []string{"kind", "spec", "metadata", "api_version"} // type 1.0.0's
	}
	for _, k := range required {
		if _, ok := e.Content[k]; !ok {
			e.State = StateResolutionError
		}
	}
	e.ETag = f.nextETag()
	return copyEntity(e), nil
}

func (f *fakeVCD) DeleteEntity(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("DeleteEntity"); err != nil {
		return err
	}
	if f.entities[id] == nil {
		return fmt.Errorf("entity %s: %w", id, ErrNotFound)
	}
	if f.entities[id].State == StatePreCreated { // as VCD: resolve before delete
		return &Error{Op: "delete entity " + id, Status: 400, Code: "RDE_ENTITY_NOT_RESOLVED", Message: "resolve it first"}
	}
	delete(f.entities, id)
	delete(f.acls, id)
	return nil
}

func (f *fakeVCD) AccessControls(ctx context.Context, entityID string) ([]AccessControl, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("AccessControls"); err != nil {
		return nil, err
	}
	return slices.Clone(f.acls[entityID]), nil
}

func (f *fakeVCD) AddAccessControl(ctx context.Context, t Tenant, entityID string, ac AccessControl) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("AddAccessControl"); err != nil {
		return err
	}
	ac.ID = "urn:vcloud:accessControl:" + uuid.NewString()
	f.acls[entityID] = append(f.acls[entityID], ac)
	return nil
}

func (f *fakeVCD) RemoveAccessControl(ctx context.Context, entityID, aclID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("RemoveAccessControl"); err != nil {
		return err
	}
	f.acls[entityID] = slices.DeleteFunc(f.acls[entityID], func(a AccessControl) bool { return a.ID == aclID })
	return nil
}

func (f *fakeVCD) SetVAppAccess(ctx context.Context, t Tenant, vappID string, acl []events.ACLEntry) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("SetVAppAccess"); err != nil {
		return false, err
	}
	if slices.Equal(f.vapps[vappID], acl) {
		return false, nil
	}
	f.vapps[vappID] = slices.Clone(acl)
	return true, nil
}

func (f *fakeVCD) CreateTask(ctx context.Context, orgID string, t Task) (Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateTask"); err != nil {
		return Task{}, err
	}
	id := uuid.NewString()
	t.ID, t.Href = "urn:vcloud:task:"+id, "https://vcd.test/api/task/"+id
	c := t
	f.tasks[t.ID], f.taskOrg[t.ID] = &c, orgID
	return t, nil
}

func (f *fakeVCD) Task(ctx context.Context, id string) (Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Task"); err != nil {
		return Task{}, err
	}
	t := f.tasks[id]
	if t == nil {
		return Task{}, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	return *t, nil
}

func (f *fakeVCD) UpdateTask(ctx context.Context, t Task) (Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("UpdateTask"); err != nil {
		return Task{}, err
	}
	cur := f.tasks[t.ID]
	switch {
	case cur == nil:
		return Task{}, fmt.Errorf("task %s: %w", t.ID, ErrNotFound)
	case Finished(cur.Status):
		return Task{}, fmt.Errorf("task %s: %w", t.ID, ErrFinished)
	}
	cur.Status, cur.Progress, cur.Operation, cur.Details, cur.Error = t.Status, t.Progress, t.Operation, t.Details, t.Error
	return *cur, nil
}

func (f *fakeVCD) FindTask(ctx context.Context, operationID string) (Task, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("FindTask"); err != nil {
		return Task{}, false, err
	}
	for _, t := range f.tasks {
		if strings.Contains(t.Operation, operationID) {
			return *t, true, nil
		}
	}
	return Task{}, false, nil
}

func (f *fakeVCD) UserName(ctx context.Context, userID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("UserName"); err != nil {
		return "", err
	}
	return f.users[userID], nil
}

// entitiesOf returns the entities whose content names the cluster.
func (f *fakeVCD) entitiesOf(clusterID string) []Entity {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Entity
	for _, e := range f.entities {
		if clusterIDOf(e.Content) == clusterID {
			out = append(out, copyEntity(e))
		}
	}
	return out
}

func (f *fakeVCD) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[call]
}

func (f *fakeVCD) task(id string) (Task, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tasks[id]; t != nil {
		return *t, f.taskOrg[id]
	}
	return Task{}, ""
}

func (f *fakeVCD) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entities)
}
