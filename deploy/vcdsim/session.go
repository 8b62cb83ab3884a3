package vcdsim

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// The roles a user gets when its configuration names none.
const (
	roleSystemAdmin = "System Administrator"
	roleOrgAdmin    = "Organization Administrator"
)

// MIME types of the documents a session points at (cse-rde.md §3.3).
const (
	mimeSession   = "application/vnd.vmware.vcloud.session+xml"
	mimeOrg       = "application/vnd.vmware.vcloud.org+xml"
	mimeOrgList   = "application/vnd.vmware.vcloud.orgList+xml"
	mimeQueryList = "application/vnd.vmware.vcloud.query.queryList+xml"
	mimeUser      = "application/vnd.vmware.admin.user+xml"
	mimeRole      = "application/vnd.vmware.admin.role+xml"
	mimeAdminVdc  = "application/vnd.vmware.admin.vdc+xml"
	mimeTasksList = "application/vnd.vmware.vcloud.tasksList+xml"
	mimeRecords   = "application/vnd.vmware.vcloud.query.records+xml"
)

func roleOf(o *org, u UserConfig) string {
	switch {
	case u.Role != "":
		return u.Role
	case o.system():
		return roleSystemAdmin
	}
	return roleOrgAdmin
}

func (sess *session) role() string { return roleOf(sess.org, sess.user) }

// orgAdmin reports whether the session may act for its whole org: a provider, or a tenant
// with the Organization Administrator role.
func (sess *session) orgAdmin() bool { return sess.org.system() || sess.role() == roleOrgAdmin }

// token is the session token of a request, from any header VCD reads one from.
func token(r *http.Request) string {
	if tok := r.Header.Get("X-Vmware-Vcloud-Access-Token"); tok != "" {
		return tok
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return a[7:]
	}
	return r.Header.Get("x-vcloud-authorization")
}

// logout ends the session of a request: its token is refused from then on.
func (s *Server) logout(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, token(r))
}

// sessionDoc is VCD's Session document.
type sessionDoc struct {
	XMLName xml.Name      `xml:"Session"`
	Xmlns   string        `xml:"xmlns,attr"`
	HREF    string        `xml:"href,attr"`
	Type    string        `xml:"type,attr"`
	User    string        `xml:"user,attr"`
	Org     string        `xml:"org,attr"`
	UserID  string        `xml:"userId,attr"`
	Roles   string        `xml:"roles,attr"`
	Link    []*types.Link `xml:"Link"`
}

// sessionRoute serves /api/session: GET describes the caller's session, DELETE ends it.
func (s *Server) sessionRoute(w http.ResponseWriter, r *http.Request, sess *session) *vcdError {
	switch r.Method {
	case http.MethodGet:
		writeXML(w, 200, mimeSession, "", s.sessionXML(sess))
	case http.MethodDelete:
		// route holds mu; logout takes it itself.
		delete(s.sessions, token(r))
		w.WriteHeader(http.StatusNoContent)
	default:
		return errf(405, "METHOD_NOT_ALLOWED", "%s not allowed on the session", r.Method)
	}
	return nil
}

// sessionXML lists each well-known link once: pyvcloud refuses a session where one
// (rel, type) appears twice.
func (s *Server) sessionXML(sess *session) *sessionDoc {
	out := &sessionDoc{Xmlns: nsVCloud, HREF: s.href("session/"), Type: mimeSession, User: sess.user.Name, Org: sess.org.name,
		UserID: sess.userID, Roles: sess.role(),
		Link: []*types.Link{
			{Rel: "down", Type: mimeOrgList, HREF: s.href("org/")},
			{Rel: "down", Type: mimeOrg, Name: sess.org.name, HREF: s.href("org/" + sess.org.id)},
			{Rel: "down", Type: mimeQueryList, HREF: s.href("query")},
			{Rel: "entityResolver", Type: "application/vnd.vmware.vcloud.entity+xml", HREF: s.href("entity/")},
			{Rel: "openapi", Type: "application/json", HREF: s.base + "/cloudapi"},
		}}
	if sess.org.system() {
		out.Link = append(out.Link,
			&types.Link{Rel: "down", Type: "application/vnd.vmware.admin.vcloud+xml", HREF: s.href("admin")},
			&types.Link{Rel: "down", Type: "application/vnd.vmware.admin.vmwExtension+xml", HREF: s.href("admin/extension")})
	}
	return out
}

// orgLinks are the links of an Org document beyond its VDCs and catalogs: the VDC records
// query pyvcloud finds VDCs through at API ≥ 33 (its href must contain "vdc" and "?"), and
// the org's task list.
func (s *Server) orgLinks(o *org) []*types.Link {
	return []*types.Link{
		{Rel: "down", Type: mimeRecords, HREF: s.href("query?type=orgVdc&format=records&filter=orgName==" + url.QueryEscape(o.name))},
		{Rel: "down", Type: mimeTasksList, HREF: s.href("tasksList/" + o.id)},
	}
}

// userByID finds a user by the UUID of its URN.
func (s *Server) userByID(id string) (*org, *UserConfig) {
	for _, o := range s.orgs {
		for i := range o.users {
			if strings.TrimPrefix(userURN(o, o.users[i].Name), "urn:vcloud:user:") == id {
				return o, &o.users[i]
			}
		}
	}
	return nil, nil
}

func (s *Server) userHREF(o *org, name string) string {
	return s.href("admin/user/" + strings.TrimPrefix(userURN(o, name), "urn:vcloud:user:"))
}

// userDoc is the admin view of a user, as much of it as the clients read.
type userDoc struct {
	XMLName   xml.Name         `xml:"User"`
	Xmlns     string           `xml:"xmlns,attr"`
	HREF      string           `xml:"href,attr"`
	Type      string           `xml:"type,attr"`
	ID        string           `xml:"id,attr"`
	Name      string           `xml:"name,attr"`
	Link      []*types.Link    `xml:"Link"`
	FullName  string           `xml:"FullName"`
	IsEnabled bool             `xml:"IsEnabled"`
	Role      *types.Reference `xml:"Role"`
}

// adminUserGet serves /api/admin/user/{uuid} (CSE reads a user's href through it) to the
// provider, the user and its org's administrators.
func (s *Server) adminUserGet(w http.ResponseWriter, sess *session, id string) *vcdError {
	o, u := s.userByID(id)
	if u == nil || !(sess.org.system() || sess.org == o && (sess.orgAdmin() || sess.user.Name == u.Name)) {
		return forbidden("User", id)
	}
	role := roleOf(o, *u)
	writeXML(w, 200, mimeUser, "", &userDoc{Xmlns: nsVCloud, HREF: s.userHREF(o, u.Name), Type: mimeUser, ID: userURN(o, u.Name), Name: u.Name,
		Link:     []*types.Link{{Rel: "up", Type: mimeOrg, HREF: s.href("admin/org/" + o.id)}},
		FullName: u.Name, IsEnabled: true,
		Role: &types.Reference{HREF: s.href("admin/role/" + stableID("role", role)), Name: role, Type: mimeRole}})
	return nil
}

// adminVdcGet serves /api/admin/vdc/{uuid}: the VDC as its admin view (ovdc enable reads
// its id).
func (s *Server) adminVdcGet(w http.ResponseWriter, sess *session, id string) *vcdError {
	d, err := s.vdcOf(sess, id)
	if err != nil {
		return err
	}
	v := s.vdcXML(d)
	v.HREF, v.Type = s.href("admin/vdc/"+d.id), mimeAdminVdc
	writeXML(w, 200, mimeAdminVdc, "", &types.AdminVdc{Xmlns: nsVCloud, Vdc: *v})
	return nil
}
