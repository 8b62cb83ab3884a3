package vcdsim

import (
	"encoding/xml"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Task statuses VCD knows, and those after which a task no longer changes.
var (
	taskStatuses = []string{"queued", "preRunning", "running", "success", "error", "canceled", "aborted"}
	taskFinished = []string{"success", "error", "canceled", "aborted"}
)

// stamp records what a task of VCD's own is about (its Owner's URN), whom it is by and
// whose org's task list shows it: the org of the vApp it works on, else the caller's.
func (s *Server) stamp(t *task, sub subject) {
	t.ownerID = urnOfHREF(t.ownerHREF)
	if sub.vapp != nil {
		t.org = sub.vapp.vdc.org
	}
	if c := sub.caller; c != nil {
		t.userName, t.userID, t.userHREF = c.user.Name, c.userID, s.userHREF(c.org, c.user.Name)
		if t.org == nil {
			t.org = c.org
		}
	}
}

// taskParties adds what every task shows whoever made it: User, Organization, the
// service namespace and details.
func (s *Server) taskParties(out *types.Task, t *task) {
	if t.userHREF != "" {
		out.User = &types.Reference{HREF: t.userHREF, ID: t.userID, Name: t.userName, Type: mimeUser}
	}
	if t.org != nil {
		out.Organization = &types.Reference{HREF: s.href("org/" + t.org.id), ID: orgURN(t.org), Name: t.org.name, Type: mimeOrg}
	}
	if t.namespace != "" {
		out.ServiceNamespace = t.namespace
	}
	out.Details = t.details
}

// writtenTask shows a task made through a tasks list as its maker last wrote it.
func (s *Server) writtenTask(out *types.Task, t *task) {
	out.Progress = t.progress
	if slices.Contains(taskFinished, t.state) {
		out.EndTime = t.end.UTC().Format(time.RFC3339Nano)
	}
	if t.state == "error" && t.fail != nil {
		out.Error = t.fail
	}
}

// canSeeTask: the provider sees every task, a user the tasks it started, an organization
// administrator every task of its org.
func canSeeTask(sess *session, t *task) bool {
	switch {
	case sess.org.system():
		return true
	case t.userID != "" && t.userID == sess.userID:
		return true
	}
	return t.org == sess.org && sess.orgAdmin()
}

// taskRoute serves /api/task/{uuid}: GET to whoever may see the task, PUT to the provider
// for a task made through a tasks list that has not finished.
func (s *Server) taskRoute(w http.ResponseWriter, r *http.Request, sess *session, id string) *vcdError {
	t := s.tasks[id]
	if t == nil || !canSeeTask(sess, t) {
		return forbidden("Task", id)
	}
	switch r.Method {
	case http.MethodGet:
		writeXML(w, 200, mimeTask, "Task", s.taskXML(t))
	case http.MethodPut:
		if !sess.org.system() {
			return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Only a provider may update task %s.", id)
		}
		if t.state == "" {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "Task %s is the system's own and cannot be updated.", id)
		}
		if slices.Contains(taskFinished, t.state) {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "Task %s has already completed (%s) and cannot be updated.", id, t.state)
		}
		var in types.Task
		if err := readXML(r, &in); err != nil {
			return err
		}
		// What a PUT leaves out stays as it was; Details and Progress are replaced.
		in.Status, in.ServiceNamespace = cmpOr(in.Status, t.state), cmpOr(in.ServiceNamespace, t.namespace)
		in.Operation = cmpOr(in.Operation, t.operation)
		if err := checkTaskDoc(&in); err != nil {
			return err
		}
		s.writeTaskDoc(t, &in)
		writeXML(w, 200, mimeTask, "Task", s.taskXML(t))
	default:
		return errf(405, "METHOD_NOT_ALLOWED", "%s not allowed on a task", r.Method)
	}
	return nil
}

// tasksListDoc is an org's TasksList.
type tasksListDoc struct {
	XMLName xml.Name      `xml:"TasksList"`
	Xmlns   string        `xml:"xmlns,attr"`
	HREF    string        `xml:"href,attr"`
	Type    string        `xml:"type,attr"`
	Name    string        `xml:"name,attr"`
	Task    []*types.Task `xml:"Task"`
}

// tasksListRoute serves /api/tasksList/{org uuid}: GET lists the org's tasks the caller may
// see, oldest first; POST (providers only, as pyvcloud's Task.update does for CSE) makes a
// task from a Task document.
func (s *Server) tasksListRoute(w http.ResponseWriter, r *http.Request, sess *session, id string) *vcdError {
	var o *org
	for _, x := range s.orgs {
		if x.id == id && s.visible(sess, x) {
			o = x
		}
	}
	if o == nil {
		return forbidden("TasksList", id)
	}
	switch r.Method {
	case http.MethodGet:
		var ts []*task
		for _, t := range s.tasks {
			if t.org == o && canSeeTask(sess, t) {
				ts = append(ts, t)
			}
		}
		slices.SortFunc(ts, func(a, b *task) int {
			if c := a.start.Compare(b.start); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		out := &tasksListDoc{Xmlns: nsVCloud, HREF: s.href("tasksList/" + o.id), Type: mimeTasksList, Name: "Tasks Lists"}
		for _, t := range ts {
			out.Task = append(out.Task, s.taskXML(t))
		}
		writeXML(w, 200, mimeTasksList, "", out)
	case http.MethodPost:
		if !sess.org.system() {
			return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Only a provider may create tasks.")
		}
		var in types.Task
		if err := readXML(r, &in); err != nil {
			return err
		}
		if in.Status == "" {
			in.Status = "queued"
		}
		if err := checkTaskDoc(&in); err != nil {
			return err
		}
		if in.Owner == nil || in.Owner.HREF == "" {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "A task needs an Owner with an href.")
		}
		t := &task{id: uuid.NewString(), start: time.Now(), org: o, namespace: in.ServiceNamespace, ownerHREF: in.Owner.HREF,
			ownerName: in.Owner.Name, ownerType: in.Owner.Type, ownerID: cmpOr(in.Owner.ID, urnOfHREF(in.Owner.HREF))}
		if u := in.User; u != nil && (u.HREF != "" || u.ID != "") {
			uo, uc := s.userByID(cmpOr(lastSegment(u.HREF), strings.TrimPrefix(u.ID, "urn:vcloud:user:")))
			if uc == nil {
				return errf(http.StatusBadRequest, "BAD_REQUEST", "The task's User %q is not a user of this cloud.", cmpOr(u.HREF, u.ID))
			}
			t.userName, t.userID, t.userHREF = uc.Name, userURN(uo, uc.Name), s.userHREF(uo, uc.Name)
		} else {
			t.userName, t.userID, t.userHREF = sess.user.Name, sess.userID, s.userHREF(sess.org, sess.user.Name)
		}
		s.writeTaskDoc(t, &in)
		s.tasks[t.id] = t
		writeXML(w, 200, mimeTask, "Task", s.taskXML(t))
	default:
		return errf(405, "METHOD_NOT_ALLOWED", "%s not allowed on a tasks list", r.Method)
	}
	return nil
}

// checkTaskDoc applies VCD's rules to a Task document a client writes.
func checkTaskDoc(in *types.Task) *vcdError {
	switch {
	case !slices.Contains(taskStatuses, in.Status):
		return errf(http.StatusBadRequest, "BAD_REQUEST", "Task status %q is not one of %s.", in.Status, strings.Join(taskStatuses, ", "))
	case in.ServiceNamespace == "" || len(in.ServiceNamespace) > 128:
		return errf(http.StatusBadRequest, "BAD_REQUEST", "A task's serviceNamespace must be 1 to 128 characters long.")
	case strings.HasPrefix(strings.ToLower(in.ServiceNamespace), "com.vmware.vcloud"):
		return errf(http.StatusBadRequest, "BAD_REQUEST", "A task's serviceNamespace must not start with com.vmware.vcloud.")
	case in.Progress < 0 || in.Progress > 100:
		return errf(http.StatusBadRequest, "BAD_REQUEST", "Task progress %d is not a percentage.", in.Progress)
	}
	return nil
}

// writeTaskDoc stores what a POST or PUT of a Task document may change: status,
// operation, operationName (when given), details, progress and error. Owner, User,
// Organization and serviceNamespace are set once, at creation.
func (s *Server) writeTaskDoc(t *task, in *types.Task) {
	t.state, t.operation, t.details, t.progress = in.Status, in.Operation, in.Details, in.Progress
	if in.OperationName != "" {
		t.op = in.OperationName
	}
	switch {
	case in.Error != nil:
		e := *in.Error
		t.fail = &e
	case in.Status != "error":
		t.fail = nil
	}
	if slices.Contains(taskFinished, t.state) {
		t.end = time.Now()
	}
}

// ownerHREFs are the hrefs whose URN the simulator can tell, to show in a task's Owner.
var ownerHREFs = regexp.MustCompile(`/api/(?:admin/)?(org|vdc)/([0-9a-f-]{36})$|/api/(?:vApp|vAppTemplate)/(vapp|vm|vappTemplate)-([0-9a-f-]{36})$|/cloudapi/1\.0\.0/entities/(urn:vcloud:entity:[^/]+)$`)

// urnOfHREF is the URN of the object an href names, "" when it cannot tell.
func urnOfHREF(href string) string {
	m := ownerHREFs.FindStringSubmatch(href)
	switch {
	case m == nil:
		return ""
	case m[1] != "":
		return "urn:vcloud:" + m[1] + ":" + m[2]
	case m[3] != "":
		return "urn:vcloud:" + strings.ToLower(m[3]) + ":" + m[4]
	}
	return m[5]
}

func lastSegment(href string) string {
	href = strings.TrimSuffix(href, "/")
	return href[strings.LastIndex(href, "/")+1:]
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
