package vcdclient

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/mirror"
)

const (
	nsVCloud  = "http://www.vmware.com/vcloud/v1.5"
	mimeTask  = "application/vnd.vmware.vcloud.task+xml"
	mimeOrg   = "application/vnd.vmware.vcloud.org+xml"
	mimeVDC   = "application/vnd.vmware.vcloud.vdc+xml"
	mimeUser  = "application/vnd.vmware.admin.user+xml"
	mimeACL   = "application/vnd.vmware.vcloud.controlAccess+xml"
	userURN   = "urn:vcloud:user:"
	orgURN    = "urn:vcloud:org:"
	vdcURN    = "urn:vcloud:vdc:"
	taskURN   = "urn:vcloud:task:"
	entityURN = "urn:vcloud:entity:"
)

// taskXML is a Task document, its elements in the order of VCD's TaskType.
type taskXML struct {
	XMLName          xml.Name  `xml:"Task"`
	Xmlns            string    `xml:"xmlns,attr,omitempty"`
	HREF             string    `xml:"href,attr,omitempty"`
	ID               string    `xml:"id,attr,omitempty"`
	Name             string    `xml:"name,attr,omitempty"`
	Type             string    `xml:"type,attr,omitempty"`
	Status           string    `xml:"status,attr"`
	ServiceNamespace string    `xml:"serviceNamespace,attr,omitempty"`
	OperationName    string    `xml:"operationName,attr,omitempty"`
	Operation        string    `xml:"operation,attr,omitempty"`
	Owner            *refXML   `xml:"Owner,omitempty"`
	Error            *errorXML `xml:"Error,omitempty"`
	User             *refXML   `xml:"User,omitempty"`
	Progress         int       `xml:"Progress"`
	Details          string    `xml:"Details,omitempty"`
}

type refXML struct {
	HREF string `xml:"href,attr"`
	ID   string `xml:"id,attr,omitempty"`
	Name string `xml:"name,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type errorXML struct {
	MajorErrorCode int    `xml:"majorErrorCode,attr"`
	MinorErrorCode string `xml:"minorErrorCode,attr"`
	Message        string `xml:"message,attr"`
}

// taskDoc is the document kaas sends for a task; base is VCD's address, for the hrefs of
// the objects it names.
func taskDoc(base string, t mirror.Task) taskXML {
	d := taskXML{Xmlns: nsVCloud, Name: "task", Type: mimeTask, Status: t.Status, ServiceNamespace: t.ServiceNamespace,
		OperationName: t.OperationName, Operation: t.Operation, Owner: refOf(base, t.Owner), User: refOf(base, t.User),
		Progress: t.Progress, Details: t.Details}
	if t.Error != nil {
		d.Error = &errorXML{MajorErrorCode: t.Error.MajorErrorCode, MinorErrorCode: t.Error.MinorErrorCode, Message: t.Error.Message}
	}
	return d
}

// refOf is the XML API's reference to an object kaas knows by URN.
func refOf(base string, r mirror.Ref) *refXML {
	id := r.ID
	switch {
	case strings.HasPrefix(id, orgURN):
		return &refXML{HREF: base + "/api/org/" + uuidOf(id), Name: r.Name, Type: mimeOrg}
	case strings.HasPrefix(id, vdcURN):
		return &refXML{HREF: base + "/api/vdc/" + uuidOf(id), Name: r.Name, Type: mimeVDC}
	case strings.HasPrefix(id, userURN):
		return &refXML{HREF: base + "/api/admin/user/" + uuidOf(id), Name: r.Name, Type: mimeUser}
	case strings.HasPrefix(id, entityURN):
		return &refXML{HREF: base + "/cloudapi/1.0.0/entities/" + id, ID: id, Name: r.Name, Type: "application/json"}
	}
	return nil
}

// urnOf is the URN of an object the XML API references.
func urnOf(r *refXML) mirror.Ref {
	if r == nil {
		return mirror.Ref{}
	}
	out := mirror.Ref{ID: r.ID, Name: r.Name}
	if out.ID != "" {
		return out
	}
	last := r.HREF[strings.LastIndex(r.HREF, "/")+1:]
	switch {
	case strings.Contains(r.HREF, "/api/org/"):
		out.ID = orgURN + last
	case strings.Contains(r.HREF, "/api/vdc/"):
		out.ID = vdcURN + last
	case strings.Contains(r.HREF, "/api/admin/user/"):
		out.ID = userURN + last
	case strings.Contains(r.HREF, "/entities/"):
		out.ID = last
	}
	return out
}

func fromTaskXML(d taskXML) mirror.Task {
	t := mirror.Task{ID: d.ID, Href: d.HREF, Status: d.Status, Operation: d.Operation, OperationName: d.OperationName,
		ServiceNamespace: d.ServiceNamespace, Details: d.Details, Progress: d.Progress, Owner: urnOf(d.Owner), User: urnOf(d.User)}
	if t.ID == "" && d.HREF != "" {
		t.ID = taskURN + d.HREF[strings.LastIndex(d.HREF, "/")+1:]
	}
	if d.Error != nil {
		t.Error = &mirror.TaskError{MajorErrorCode: d.Error.MajorErrorCode, MinorErrorCode: d.Error.MinorErrorCode, Message: d.Error.Message}
	}
	return t
}

// taskAt reads the task at an href VCD gave.
func (c *Client) taskAt(ctx context.Context, op, href string) (mirror.Task, error) {
	u, err := url.Parse(href)
	if err != nil {
		return mirror.Task{}, &mirror.Error{Op: op, Message: "VCD gave an unreadable task href " + href}
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: u.Path, want: []int{http.StatusOK}})
	if err != nil {
		return mirror.Task{}, err
	}
	var d taskXML
	if err := xml.Unmarshal(resp.body, &d); err != nil {
		return mirror.Task{}, &mirror.Error{Op: op, Status: resp.status, Message: "unreadable task: " + err.Error()}
	}
	return fromTaskXML(d), nil
}

// CreateTask posts the task to the org's task list, as pyvcloud's Task.update does.
func (c *Client) CreateTask(ctx context.Context, orgID string, t mirror.Task) (mirror.Task, error) {
	vc, err := c.client(ctx, false)
	if err != nil {
		return mirror.Task{}, err
	}
	op := "create the task of " + t.Operation
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/api/tasksList/" + uuidOf(orgID), body: taskDoc(base(vc), t), ctype: mimeTask,
		want: []int{http.StatusOK, http.StatusCreated, http.StatusAccepted}})
	if err != nil {
		return mirror.Task{}, err
	}
	var d taskXML
	if err := xml.Unmarshal(resp.body, &d); err != nil || (d.ID == "" && d.HREF == "") {
		return mirror.Task{}, &mirror.Error{Op: op, Status: resp.status, Message: "VCD's answer names no task"}
	}
	return fromTaskXML(d), nil
}

// Task reads a task. VCD answers 403 for a task that does not exist.
func (c *Client) Task(ctx context.Context, id string) (mirror.Task, error) {
	resp, err := c.do(ctx, request{op: "read task " + id, method: http.MethodGet, path: "/api/task/" + uuidOf(id), want: []int{http.StatusOK},
		gone: []int{http.StatusNotFound, http.StatusForbidden}})
	if err != nil {
		return mirror.Task{}, err
	}
	var d taskXML
	if err := xml.Unmarshal(resp.body, &d); err != nil {
		return mirror.Task{}, &mirror.Error{Op: "read task " + id, Status: resp.status, Message: "unreadable task: " + err.Error()}
	}
	return fromTaskXML(d), nil
}

// UpdateTask puts the task; VCD refuses (400) to change one that ended.
func (c *Client) UpdateTask(ctx context.Context, t mirror.Task) (mirror.Task, error) {
	vc, err := c.client(ctx, false)
	if err != nil {
		return mirror.Task{}, err
	}
	op := "update task " + t.ID
	resp, err := c.do(ctx, request{op: op, method: http.MethodPut, path: "/api/task/" + uuidOf(t.ID), body: taskDoc(base(vc), t), ctype: mimeTask,
		want: []int{http.StatusOK, http.StatusAccepted}, gone: []int{http.StatusNotFound, http.StatusForbidden}})
	var me *mirror.Error
	if errors.As(err, &me) && me.Status == http.StatusBadRequest {
		if cur, rerr := c.Task(ctx, t.ID); rerr == nil && mirror.Finished(cur.Status) {
			return cur, fmt.Errorf("%s: %w", op, mirror.ErrFinished)
		}
	}
	if err != nil {
		return mirror.Task{}, err
	}
	var d taskXML
	if xml.Unmarshal(resp.body, &d) != nil || d.Status == "" {
		return c.Task(ctx, t.ID)
	}
	return fromTaskXML(d), nil
}

// taskRecords is a task query's answer.
type taskRecords struct {
	Total   int `xml:"total,attr"`
	Records []struct {
		HREF      string `xml:"href,attr"`
		Operation string `xml:"operationFull,attr"`
	} `xml:"TaskRecord"`
}

// FindTask queries the tasks whose operation text names the operation id (the mirror puts it
// there), as the System org sees every org's.
func (c *Client) FindTask(ctx context.Context, operationID string) (mirror.Task, bool, error) {
	op := "find the task of operation " + operationID
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/api/query",
		query: map[string]string{"type": "task", "format": "records", "filter": "operationFull==*" + operationID + "*"}, want: []int{http.StatusOK}})
	if err != nil {
		return mirror.Task{}, false, err
	}
	var recs taskRecords
	if err := xml.Unmarshal(resp.body, &recs); err != nil {
		return mirror.Task{}, false, &mirror.Error{Op: op, Status: resp.status, Message: "unreadable query answer: " + err.Error()}
	}
	for _, r := range recs.Records {
		if r.HREF == "" || (r.Operation != "" && !strings.Contains(r.Operation, operationID)) {
			continue
		}
		t, err := c.Task(ctx, taskURN+r.HREF[strings.LastIndex(r.HREF, "/")+1:])
		if err != nil {
			return mirror.Task{}, false, err
		}
		if strings.Contains(t.Operation, operationID) {
			return t, true, nil
		}
	}
	return mirror.Task{}, false, nil
}

// userRecords is a user query's answer.
type userRecords struct {
	Total   int `xml:"total,attr"`
	Records []struct {
		HREF string `xml:"href,attr"`
		ID   string `xml:"id,attr"`
		Name string `xml:"name,attr"`
	} `xml:"AdminUserRecord"`
}

// UserName names a user from VCD's list of users (every org's, as the System org sees
// them), listed again at most every UserCacheFor when asked for one it does not know.
func (c *Client) UserName(ctx context.Context, userID string) (string, error) {
	key := strings.ToLower(userID)
	c.users.Lock()
	defer c.users.Unlock()
	if name, ok := c.names[key]; ok || time.Since(c.listedAt) < c.cfg.UserCacheFor {
		return name, nil
	}
	c.listedAt = time.Now()
	for n := 1; n <= 100; n++ {
		resp, err := c.do(ctx, request{op: "list users", method: http.MethodGet, path: "/api/query",
			query: map[string]string{"type": "adminUser", "format": "records", "page": strconv.Itoa(n), "pageSize": "128"}, want: []int{http.StatusOK}})
		if err != nil {
			return "", err
		}
		var recs userRecords
		if err := xml.Unmarshal(resp.body, &recs); err != nil {
			return "", &mirror.Error{Op: "list users", Status: resp.status, Message: "unreadable query answer: " + err.Error()}
		}
		for _, r := range recs.Records {
			id := r.ID
			if !strings.HasPrefix(id, userURN) && r.HREF != "" {
				id = userURN + r.HREF[strings.LastIndex(r.HREF, "/")+1:]
			}
			c.names[strings.ToLower(id)] = r.Name
		}
		if len(recs.Records) == 0 || n*128 >= recs.Total {
			break
		}
	}
	return c.names[key], nil
}

// vappAccessLevel is the vApp access level of a cluster access level (CSE's mapping).
var vappAccessLevel = map[string]string{events.AccessReadOnly: "ReadOnly", events.AccessReadWrite: "Change", events.AccessFullControl: "FullControl"}

// SetVAppAccess shares the vApp with exactly the users of acl, as CSE's share does, when it
// is not so already.
func (c *Client) SetVAppAccess(ctx context.Context, t mirror.Tenant, vappID string, acl []events.ACLEntry) (bool, error) {
	vc, err := c.client(ctx, false)
	if err != nil {
		return false, err
	}
	b := base(vc)
	path := "/api/vApp/vapp-" + uuidOf(vappID)
	op := "read the sharing of vApp " + vappID
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path + "/controlAccess/", header: tenantHeader(t),
		want: []int{http.StatusOK}, gone: []int{http.StatusNotFound, http.StatusForbidden, http.StatusMethodNotAllowed}})
	if err != nil {
		return false, err
	}
	var cur types.ControlAccessParams
	if err := xml.Unmarshal(resp.body, &cur); err != nil {
		return false, &mirror.Error{Op: op, Status: resp.status, Message: "unreadable sharing: " + err.Error()}
	}
	want := types.ControlAccessParams{Xmlns: nsVCloud}
	var have, wanted []string
	if cur.AccessSettings != nil && !cur.IsSharedToEveryone {
		for _, s := range cur.AccessSettings.AccessSetting {
			if s.Subject != nil {
				have = append(have, strings.ToLower(s.Subject.HREF[strings.LastIndex(s.Subject.HREF, "/")+1:])+"="+s.AccessLevel)
			}
		}
	}
	for _, e := range acl {
		lvl := vappAccessLevel[e.AccessLevel]
		if lvl == "" {
			continue
		}
		if want.AccessSettings == nil {
			want.AccessSettings = &types.AccessSettingList{}
		}
		want.AccessSettings.AccessSetting = append(want.AccessSettings.AccessSetting, &types.AccessSetting{
			Subject: &types.LocalSubject{HREF: b + "/api/admin/user/" + uuidOf(e.MemberID), Name: e.Username, Type: mimeUser}, AccessLevel: lvl})
		wanted = append(wanted, strings.ToLower(uuidOf(e.MemberID))+"="+lvl)
	}
	slices.Sort(have)
	slices.Sort(wanted)
	if slices.Equal(have, wanted) {
		return false, nil
	}
	_, err = c.do(ctx, request{op: "share vApp " + vappID, method: http.MethodPost, path: path + "/action/controlAccess/", header: tenantHeader(t),
		body: want, ctype: mimeACL, want: []int{http.StatusOK}, gone: []int{http.StatusNotFound, http.StatusForbidden, http.StatusMethodNotAllowed}})
	return err == nil, err
}
