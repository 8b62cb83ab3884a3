package vcdsim_test

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

// The XML API as pyvcloud 23.0.4 (vcd-cli 24.1.0, CSE 3.1.4's client and server) uses it:
// cse-rde.md §2.1, §2.5, §3.1–3.6, §1.6.

const nsV15 = "http://www.vmware.com/vcloud/v1.5"

// Documents as the client reads them, by namespace: a Link outside v1.5 is not found.
type (
	xLink struct {
		Rel  string `xml:"rel,attr"`
		Type string `xml:"type,attr"`
		Name string `xml:"name,attr"`
		HREF string `xml:"href,attr"`
	}
	xSession struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Session"`
		User    string   `xml:"user,attr"`
		Org     string   `xml:"org,attr"`
		UserID  string   `xml:"userId,attr"`
		Roles   string   `xml:"roles,attr"`
		Links   []xLink  `xml:"http://www.vmware.com/vcloud/v1.5 Link"`
	}
	xOrg struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Org"`
		Name    string   `xml:"name,attr"`
		ID      string   `xml:"id,attr"`
		HREF    string   `xml:"href,attr"`
		Links   []xLink  `xml:"http://www.vmware.com/vcloud/v1.5 Link"`
	}
	xOrgList struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 OrgList"`
		Orgs    []xLink  `xml:"http://www.vmware.com/vcloud/v1.5 Org"`
	}
	xQueryList struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 QueryList"`
		Links   []xLink  `xml:"http://www.vmware.com/vcloud/v1.5 Link"`
	}
	xRecord struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
	}
	xRecords struct {
		XMLName  xml.Name
		Total    int       `xml:"total,attr"`
		Page     int       `xml:"page,attr"`
		PageSize int       `xml:"pageSize,attr"`
		Links    []xLink   `xml:"http://www.vmware.com/vcloud/v1.5 Link"`
		Records  []xRecord `xml:",any"`
	}
	xRef struct {
		HREF string `xml:"href,attr"`
		ID   string `xml:"id,attr"`
		Name string `xml:"name,attr"`
		Type string `xml:"type,attr"`
	}
	xTask struct {
		XMLName          xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Task"`
		HREF             string   `xml:"href,attr"`
		ID               string   `xml:"id,attr"`
		Status           string   `xml:"status,attr"`
		Operation        string   `xml:"operation,attr"`
		OperationName    string   `xml:"operationName,attr"`
		ServiceNamespace string   `xml:"serviceNamespace,attr"`
		EndTime          string   `xml:"endTime,attr"`
		Owner            *xRef    `xml:"http://www.vmware.com/vcloud/v1.5 Owner"`
		User             *xRef    `xml:"http://www.vmware.com/vcloud/v1.5 User"`
		Organization     *xRef    `xml:"http://www.vmware.com/vcloud/v1.5 Organization"`
		Progress         int      `xml:"http://www.vmware.com/vcloud/v1.5 Progress"`
		Details          string   `xml:"http://www.vmware.com/vcloud/v1.5 Details"`
		Error            *struct {
			Major   string `xml:"majorErrorCode,attr"`
			Minor   string `xml:"minorErrorCode,attr"`
			Message string `xml:"message,attr"`
		} `xml:"http://www.vmware.com/vcloud/v1.5 Error"`
	}
	xTasksList struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 TasksList"`
		Tasks   []xTask  `xml:"http://www.vmware.com/vcloud/v1.5 Task"`
	}
	xError struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Error"`
		Major   string   `xml:"majorErrorCode,attr"`
		Minor   string   `xml:"minorErrorCode,attr"`
		Message string   `xml:"message,attr"`
	}
)

func (r xRecord) get(k string) string {
	for _, a := range r.Attrs {
		if a.Name.Local == k {
			return a.Value
		}
	}
	return ""
}

func (rs xRecords) names() []string {
	var out []string
	for _, r := range rs.Records {
		out = append(out, r.get("name"))
	}
	return out
}

// link finds the one link of a rel and type, as pyvcloud's find_link does: two are an error.
func link(t *testing.T, links []xLink, rel, typ string) string {
	t.Helper()
	var found []string
	for _, l := range links {
		if l.Rel == rel && l.Type == typ {
			found = append(found, l.HREF)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d links rel=%s type=%s in %+v", len(found), rel, typ, links)
	}
	return found[0]
}

// py speaks to VCD as pyvcloud does: one API version in every Accept, the session token
// in Authorization: Bearer (a JWT) or x-vcloud-authorization, hrefs followed as given.
type py struct {
	t        *testing.T
	base     string
	version  string
	legacy   bool // the token goes in x-vcloud-authorization
	hc       *http.Client
	token    string
	org      string
	lastBody []byte
}

func newPy(t *testing.T, base, version string, legacy bool) *py {
	return &py{t: t, base: base, version: version, legacy: legacy,
		hc: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
}

// login is Client.set_credentials at API ≥ 33: the cloudapi session, then GET /api/session.
func (p *py) login(user, org, pass string) *xSession {
	p.t.Helper()
	path := "/cloudapi/1.0.0/sessions"
	if strings.EqualFold(org, "system") {
		path += "/provider"
	}
	req, _ := http.NewRequest(http.MethodPost, p.base+path, nil)
	req.Header.Set("Accept", "application/json;version="+p.version)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+"@"+org+":"+pass)))
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN") == "" {
		p.t.Fatalf("login %s@%s: %d, token %q", user, org, resp.StatusCode, resp.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN"))
	}
	p.token, p.org = resp.Header.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN"), org
	var s xSession
	p.want(http.MethodGet, p.base+"/api/session", "", 200, &s)
	return &s
}

// call sends a request and returns its status and body.
func (p *py) call(method, href, body string) (int, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(method, href, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/*+xml;version="+p.version)
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.vmware.vcloud.task+xml")
	}
	switch {
	case p.token == "":
	case p.legacy:
		req.Header.Set("x-vcloud-authorization", p.token)
	default:
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p.lastBody = b
	return resp.StatusCode, b
}

// want sends a request, requires a status and decodes the body into v (if not nil).
func (p *py) want(method, href, body string, status int, v any) []byte {
	p.t.Helper()
	code, b := p.call(method, href, body)
	if code != status {
		p.t.Fatalf("%s %s: %d, want %d: %s", method, href, code, status, b)
	}
	if v != nil {
		if err := xml.Unmarshal(b, v); err != nil {
			p.t.Fatalf("%s %s: %v in %s", method, href, err, b)
		}
	}
	return b
}

// refused requires a VCD Error document with the status.
func (p *py) refused(method, href, body string, status int) xError {
	p.t.Helper()
	var e xError
	p.want(method, href, body, status, &e)
	if e.Major != fmt.Sprint(status) || e.Message == "" {
		p.t.Fatalf("%s %s: error document %+v", method, href, e)
	}
	return e
}

// records follows a query href through its nextPage links, as pyvcloud's iterator does.
func (p *py) records(href string) []xRecord {
	p.t.Helper()
	var out []xRecord
	for href != "" {
		var rs xRecords
		p.want(http.MethodGet, href, "", 200, &rs)
		if rs.XMLName.Space != nsV15 {
			p.t.Fatalf("records in namespace %q", rs.XMLName.Space)
		}
		out = append(out, rs.Records...)
		href = ""
		for _, l := range rs.Links {
			if l.Rel == "nextPage" {
				href = l.HREF
			}
		}
	}
	return out
}

func (p *py) queryList() map[[2]string]string {
	p.t.Helper()
	var ql xQueryList
	p.want(http.MethodGet, p.base+"/api/query", "", 200, &ql)
	m := map[[2]string]string{}
	for _, l := range ql.Links {
		if !strings.Contains(l.HREF, "?") {
			p.t.Fatalf("query link without ?: %+v", l)
		}
		if _, dup := m[[2]string{l.Type, l.Name}]; dup {
			p.t.Fatalf("query link twice: %+v", l)
		}
		m[[2]string{l.Type, l.Name}] = l.HREF
	}
	return m
}

const (
	mRecords   = "application/vnd.vmware.vcloud.query.records+xml"
	mIDRecords = "application/vnd.vmware.vcloud.query.idrecords+xml"
	mRefs      = "application/vnd.vmware.vcloud.query.references+xml"
)

// pyTask is the Task document pyvcloud's Task.update sends (cse-rde.md §1.6).
func pyTask(status, operation, orgHREF, userHREF, user, extra string) string {
	return fmt.Sprintf(`<Task xmlns="%s" status="%s" serviceNamespace="vcloud.cse" type="application/vnd.vmware.vcloud.task+xml" `+
		`operation="%s" operationName="cluster operation" name="task">`+
		`<Owner href="%s" name="acme" type="application/vnd.vmware.vcloud.org+xml"/>%s`+
		`<User href="%s" name="%s" type="application/vnd.vmware.admin.user+xml"/><Details></Details></Task>`,
		nsV15, status, operation, orgHREF, extra, userHREF, user)
}

// withCarol adds a tenant user who is no organization administrator, and one whose name
// needs escaping in a filter.
func withCarol(c *vcdsim.Config) {
	c.Orgs[0].Users = append(c.Orgs[0].Users, vcdsim.UserConfig{Name: "carol", Password: "carol-pass", Role: "vApp User"},
		vcdsim.UserConfig{Name: "dave (ops)", Password: "dave-pass", Role: "vApp Author"})
}

func uuidOf(urn string) string { return urn[strings.LastIndex(urn, ":")+1:] }

// The conversation of vcd login, vcd cse cluster share (user lookup), CSE's own tasks
// (Task.update as the provider), vcd task wait and vcd logout, at both API versions CSE
// 3.1 uses and with both token headers.
func TestPyvcloudConversation(t *testing.T) {
	for _, tc := range []struct {
		version string
		legacy  bool
	}{{"36.0", false}, {"35.0", false}, {"36.0", true}} {
		t.Run(fmt.Sprintf("%s/legacy=%t", tc.version, tc.legacy), func(t *testing.T) {
			_, base := start(t, withCarol)
			pyConversation(t, base, tc.version, tc.legacy)
		})
	}
}

func pyConversation(t *testing.T, base, version string, legacy bool) {
	// vcd login: the versions list, unauthenticated.
	anon := newPy(t, base, version, legacy)
	var versions struct {
		Info []struct {
			Version string `xml:"Version"`
		} `xml:"http://www.vmware.com/vcloud/versions VersionInfo"`
	}
	anon.want(http.MethodGet, base+"/api/versions", "", 200, &versions)
	var listed []string
	for _, v := range versions.Info {
		listed = append(listed, v.Version)
	}
	for _, v := range []string{"33.0", "34.0", "35.0", "36.0", "37.0", "38.1"} {
		if !slices.Contains(listed, v) {
			t.Fatalf("/api/versions lists %v, not %s", listed, v)
		}
	}

	alice := newPy(t, base, version, legacy)
	sess := alice.login("alice", "acme", "alice-pass")
	if sess.User != "alice" || sess.Org != "acme" || sess.UserID != vcdsim.UserURN("acme", "alice") || sess.Roles != "Organization Administrator" {
		t.Fatalf("alice's session %+v", sess)
	}
	seen := map[[2]string]bool{}
	for _, l := range sess.Links {
		if k := [2]string{l.Rel, l.Type}; seen[k] {
			t.Fatalf("session link %v twice", k)
		} else {
			seen[k] = true
		}
	}
	if seen[[2]string{"down", "application/vnd.vmware.admin.vcloud+xml"}] || seen[[2]string{"down", "application/vnd.vmware.admin.vmwExtension+xml"}] {
		t.Fatal("a tenant's session has the provider's links")
	}
	orgHREF := link(t, sess.Links, "down", "application/vnd.vmware.vcloud.org+xml")
	link(t, sess.Links, "down", "application/vnd.vmware.vcloud.orgList+xml")

	// The profile's VDC: the Org's records link whose href has "vdc", GET as given (unquoted).
	var org xOrg
	alice.want(http.MethodGet, orgHREF, "", 200, &org)
	vdcQuery := vdcLink(t, org)
	vdcs := alice.records(vdcQuery)
	if len(vdcs) != 1 || vdcs[0].get("name") != "acme-vdc" || !regexp.MustCompile(`/api/vdc/[0-9a-f-]{36}$`).MatchString(vdcs[0].get("href")) {
		t.Fatalf("VDC records %+v", vdcs)
	}
	tasksList := link(t, org.Links, "down", "application/vnd.vmware.vcloud.tasksList+xml")
	if tasksList != base+"/api/tasksList/"+uuidOf(org.ID) {
		t.Fatalf("tasks list link %s", tasksList)
	}

	// cluster share: the query list, then user records by name.
	ql := alice.queryList()
	if _, ok := ql[[2]string{mRecords, "adminUser"}]; ok {
		t.Fatal("a tenant's query list has admin queries")
	}
	users := alice.records(ql[[2]string{mRecords, "user"}] + "&page=1&filter=name==bob")
	if len(users) != 1 || users[0].get("name") != "bob" || uuidOf(vcdsim.UserURN("acme", "bob")) != lastPath(users[0].get("href")) {
		t.Fatalf("bob's record %+v", users)
	}
	// Every user of the org, a page at a time.
	all := alice.records(ql[[2]string{mRecords, "user"}] + "&page=1&pageSize=1")
	if got := names(all); !slices.Equal(got, []string{"alice", "bob", "carol", "dave (ops)"}) {
		t.Fatalf("users page by page: %v", got)
	}
	// CSE's get_all_ovdcs: idrecords name the org by URN.
	ids := alice.records(ql[[2]string{mIDRecords, "orgVdc"}] + "&page=1")
	if len(ids) != 1 || ids[0].get("id") != "urn:vcloud:vdc:"+lastPath(vdcs[0].get("href")) || ids[0].get("org") != org.ID {
		t.Fatalf("VDC idrecords %+v", ids)
	}

	// The provider: its session has the admin links; it reads a tenant Org and its VDCs
	// (ovdc enable), and lists a tenant org's users with an org filter.
	admin := newPy(t, base, version, legacy)
	asess := admin.login("administrator", "System", "kaas-admin")
	if asess.Org != "System" || asess.Roles != "System Administrator" {
		t.Fatalf("the provider's session %+v", asess)
	}
	link(t, asess.Links, "down", "application/vnd.vmware.admin.vcloud+xml")
	link(t, asess.Links, "down", "application/vnd.vmware.admin.vmwExtension+xml")
	var orgs xOrgList
	admin.want(http.MethodGet, link(t, asess.Links, "down", "application/vnd.vmware.vcloud.orgList+xml"), "", 200, &orgs)
	i := slices.IndexFunc(orgs.Orgs, func(l xLink) bool { return strings.EqualFold(l.Name, "ACME") })
	if i < 0 || len(orgs.Orgs) != 2 {
		t.Fatalf("the provider's org list %+v", orgs)
	}
	var tenant xOrg
	admin.want(http.MethodGet, orgs.Orgs[i].HREF, "", 200, &tenant)
	avdcs := admin.records(vdcLink(t, tenant))
	if len(avdcs) != 1 || avdcs[0].get("name") != "acme-vdc" {
		t.Fatalf("the provider's view of acme's VDCs %+v", avdcs)
	}
	var adminVdc struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 AdminVdc"`
		ID      string   `xml:"id,attr"`
		Name    string   `xml:"name,attr"`
	}
	admin.want(http.MethodGet, strings.Replace(avdcs[0].get("href"), "/api/", "/api/admin/", 1), "", 200, &adminVdc)
	if adminVdc.ID != "urn:vcloud:vdc:"+lastPath(avdcs[0].get("href")) || adminVdc.Name != "acme-vdc" {
		t.Fatalf("admin VDC %+v", adminVdc)
	}
	aql := admin.queryList()
	orgFilter := "org==" + strings.ReplaceAll(url.QueryEscape(tenant.HREF), "%2F", "/") // urllib.parse.quote
	if got := names(admin.records(aql[[2]string{mRecords, "adminUser"}] + "&page=1&filter=" + orgFilter)); !slices.Equal(got, []string{"alice", "bob", "carol", "dave (ops)"}) {
		t.Fatalf("acme's users for the provider: %v", got)
	}
	aliceRec := admin.records(aql[[2]string{mRecords, "adminUser"}] + "&page=1&filter=" + orgFilter + ";name==alice")
	if len(aliceRec) != 1 {
		t.Fatalf("alice for the provider: %+v", aliceRec)
	}
	// Org.get_user then reads the user itself.
	var user struct {
		XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 User"`
		HREF    string   `xml:"href,attr"`
		Name    string   `xml:"name,attr"`
	}
	alice.want(http.MethodGet, aliceRec[0].get("href"), "", 200, &user)
	if user.HREF != aliceRec[0].get("href") || user.Name != "alice" {
		t.Fatalf("alice's user document %+v", user)
	}

	// CSE's Task.update: the provider POSTs to the tenant org's tasks list, then PUTs.
	carol := newPy(t, base, version, legacy)
	carol.login("carol", "acme", "carol-pass")
	carol.refused(http.MethodGet, aliceRec[0].get("href"), "", 403) // no org administrator
	var tk xTask
	admin.want(http.MethodPost, link(t, tenant.Links, "down", "application/vnd.vmware.vcloud.tasksList+xml"),
		pyTask("running", "Creating cluster vApp gc-1", tenant.HREF, user.HREF, "alice", ""), 200, &tk)
	if !regexp.MustCompile(`^urn:vcloud:task:[0-9a-f-]{36}$`).MatchString(tk.ID) || tk.HREF != base+"/api/task/"+uuidOf(tk.ID) ||
		tk.Status != "running" || tk.ServiceNamespace != "vcloud.cse" || tk.OperationName != "cluster operation" ||
		tk.Owner == nil || tk.Owner.HREF != tenant.HREF || tk.Owner.ID != tenant.ID ||
		tk.User == nil || tk.User.Name != "alice" || tk.User.ID != sess.UserID ||
		tk.Organization == nil || tk.Organization.Name != "acme" || tk.Organization.HREF != tenant.HREF {
		t.Fatalf("created task %+v", tk)
	}
	admin.want(http.MethodPut, tk.HREF, strings.Replace(pyTask("running", "Creating 2 worker nodes", tenant.HREF, user.HREF, "alice", "<Progress>40</Progress>"),
		"<Details></Details>", "<Details>worker-1, worker-2</Details>", 1), 200, &tk)
	if tk.Operation != "Creating 2 worker nodes" || tk.Progress != 40 || tk.Details != "worker-1, worker-2" || tk.EndTime != "" {
		t.Fatalf("updated task %+v", tk)
	}
	goldenXML(t, "task-running.golden.xml", base, admin.lastBody)

	// vcd task wait <id>: the user who started it, and the org's administrators, read it.
	taskID := lastPath(tk.HREF)
	for _, c := range []*py{alice, admin} {
		var got xTask
		c.want(http.MethodGet, base+"/api/task/"+taskID, "", 200, &got)
		if got.HREF != tk.HREF || got.Operation != tk.Operation || got.Organization == nil || got.User == nil {
			t.Fatalf("task as read %+v", got)
		}
	}
	bob := newPy(t, base, version, legacy)
	bob.login("bob", "acme", "bob-pass")
	bob.want(http.MethodGet, tk.HREF, "", 200, nil)
	carol.refused(http.MethodGet, tk.HREF, "", 403)
	var lists [2]xTasksList
	alice.want(http.MethodGet, tasksList, "", 200, &lists[0])
	carol.want(http.MethodGet, tasksList, "", 200, &lists[1])
	if len(lists[0].Tasks) != 1 || lists[0].Tasks[0].ID != tk.ID || len(lists[1].Tasks) != 0 {
		t.Fatalf("tasks lists: alice's %+v, carol's %+v", lists[0], lists[1])
	}
	// The task query, as vcd task list and the kaas side use it.
	for _, tc := range []struct {
		who    *py
		filter string
		want   int
	}{
		{alice, "serviceNamespace==vcloud.cse;status==running", 1},
		{alice, "status==success,status==error", 0},
		{alice, "operationName==cluster*;objectName==acme", 1},
		{alice, "object==" + url.QueryEscape(tenant.HREF), 1},
		{alice, "org==" + url.QueryEscape(tenant.HREF) + ";name==cluster%20operation", 1},
		{admin, "status==queued,status==preRunning,status==running&sortDesc=startDate", 1}, // vcd task list
		{alice, "operationFull==*worker*", 1},
		{carol, "serviceNamespace==vcloud.cse", 0},
	} {
		recs := tc.who.records(tc.who.queryList()[[2]string{mRecords, "task"}] + "&page=1&filter=" + tc.filter)
		if len(recs) != tc.want {
			t.Fatalf("task query %s: %d records, want %d: %+v", tc.filter, len(recs), tc.want, recs)
		}
		if tc.want == 1 && (recs[0].get("href") != tk.HREF || recs[0].get("name") != "cluster operation" || recs[0].get("orgName") != "acme" ||
			recs[0].get("ownerName") != "alice" || recs[0].get("status") != "running") {
			t.Fatalf("task record %+v", recs[0])
		}
	}

	// Only the provider writes tasks; a finished task no longer changes.
	alice.refused(http.MethodPost, tasksList, pyTask("running", "x", tenant.HREF, user.HREF, "alice", ""), 403)
	alice.refused(http.MethodPut, tk.HREF, pyTask("success", "x", tenant.HREF, user.HREF, "alice", ""), 403)
	admin.want(http.MethodPut, tk.HREF, pyTask("error", "Creating cluster vApp gc-1 failed", tenant.HREF, user.HREF, "alice",
		`<Error stackTrace="" majorErrorCode="500" message="no capacity" minorErrorCode="INTERNAL_SERVER_ERROR"/>`), 200, &tk)
	if tk.Status != "error" || tk.EndTime == "" || tk.Error == nil || tk.Error.Message != "no capacity" || tk.Error.Major != "500" {
		t.Fatalf("failed task %+v", tk)
	}
	e := admin.refused(http.MethodPut, tk.HREF, pyTask("running", "again", tenant.HREF, user.HREF, "alice", ""), 400)
	if e.Minor != "BAD_REQUEST" {
		t.Fatalf("updating a finished task: %+v", e)
	}
	alice.want(http.MethodGet, tk.HREF, "", 200, &tk)
	if tk.Status != "error" || tk.Operation != "Creating cluster vApp gc-1 failed" {
		t.Fatalf("a finished task changed: %+v", tk)
	}

	// vcd logout.
	alice.want(http.MethodDelete, base+"/api/session", "", 204, nil)
	alice.refused(http.MethodGet, base+"/api/session", "", 401)
}

func vdcLink(t *testing.T, org xOrg) string {
	t.Helper()
	for _, l := range org.Links {
		if l.Rel == "down" && l.Type == mRecords && strings.Contains(strings.ToLower(l.HREF), "vdc") {
			if !strings.Contains(l.HREF, "?") {
				t.Fatalf("VDC query link without ?: %s", l.HREF)
			}
			u, err := url.QueryUnescape(l.HREF)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
	}
	t.Fatalf("org %s has no VDC records link: %+v", org.Name, org.Links)
	return ""
}

func lastPath(href string) string { return href[strings.LastIndex(href, "/")+1:] }

func names(rs []xRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.get("name"))
	}
	return out
}

// Filters as govcd and pyvcloud send them (vcd-api.md §1.5, cse-rde.md §3.5), against the
// provider's view of users and VDCs.
func TestQueryFilters(t *testing.T) {
	_, base := start(t, withCarol)
	p := newPy(t, base, "36.0", false)
	p.login("administrator", "System", "kaas-admin")
	orgHREF := base + "/api/org/" + uuidOf(vcdsim.OrgURN("acme"))
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"plain", "type=user&format=records&filter=name==bob", []string{"bob"}},
		{"no format", "type=user&filter=name==bob", []string{"bob"}},
		{"escaped whole", "type=user&format=records&filter=name%3D%3Dbob", []string{"bob"}},
		{"govcd", "&type=orgVdc&filter=orgName==acme;name==acme-vdc&filterEncoded=true", []string{"acme-vdc"}},
		{"org href", "type=adminUser&format=records&filter=org==" + url.PathEscape(orgHREF) + ";name==alice", []string{"alice"}},
		{"org urn", "type=adminUser&format=records&filter=org==" + vcdsim.OrgURN("acme") + ";name==alice", []string{"alice"}},
		{"or group", "type=adminUser&filter=(name==alice,name==bob)", []string{"alice", "bob"}},
		{"and binds first", "type=adminUser&filter=name==alice,name==bob;orgName==System", []string{"alice"}},
		{"wildcard", "type=adminUser&filter=name==a*", []string{"administrator", "alice"}},
		{"not", "type=adminUser&filter=orgName==acme;name!=alice", []string{"bob", "carol", "dave (ops)"}},
		{"pyvcloud 35 escapes", "type=adminUser&filter=name==dave%20%5C%28ops%5C%29", []string{"dave (ops)"}},
		{"pyvcloud 34 escapes", "type=adminUser&filterEncoded=true&filter=" + url.QueryEscape("name=="+url.PathEscape("dave (ops)")), []string{"dave (ops)"}},
		{"govcd plus", "type=adminUser&filter=name==dave+%28ops%29&filterEncoded=true", []string{"dave (ops)"}},
		{"sorted", "type=adminUser&filter=orgName==acme&sortDesc=name", []string{"dave (ops)", "carol", "bob", "alice"}},
		{"unknown key narrows nothing", "type=orgVdc&filter=isEnabled==true;nonsense==1", []string{"acme-vdc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(p.records(base + "/api/query?" + tc.query)); !slices.Equal(got, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.query, got, tc.want)
			}
		})
	}
	for _, q := range []string{"type=user&filter=(name==bob", "type=user&filter=name", "type=nonsense", "type=user&format=nonsense"} {
		p.refused(http.MethodGet, base+"/api/query?"+q, "", 400)
	}
}

// Paging as vcd-api.md E5 has it, and every format of the query list.
func TestQueryPagingAndFormats(t *testing.T) {
	_, base := start(t, withCarol)
	p := newPy(t, base, "36.0", false)
	p.login("administrator", "System", "kaas-admin")
	var rs xRecords
	p.want(http.MethodGet, base+"/api/query?type=adminUser&format=records&filter=orgName==acme&page=2&pageSize=3", "", 200, &rs)
	if rs.Total != 4 || rs.Page != 2 || rs.PageSize != 3 || len(rs.Records) != 1 || rs.Records[0].get("name") != "dave (ops)" {
		t.Fatalf("page 2: %+v", rs)
	}
	rels := map[string]string{}
	for _, l := range rs.Links {
		rels[l.Rel] = l.HREF
	}
	if _, ok := rels["nextPage"]; ok || !strings.Contains(rels["previousPage"], "page=1&pageSize=3") || !strings.Contains(rels["previousPage"], "filter=orgName==acme") {
		t.Fatalf("page links %v", rels)
	}
	rs = xRecords{}
	p.want(http.MethodGet, base+"/api/query?type=adminUser&pageSize=500", "", 200, &rs)
	if rs.PageSize != 128 || rs.Total != 5 {
		t.Fatalf("page size over VCD's maximum: %+v", rs)
	}
	// One link per type and format; each answers in its format.
	ql := p.queryList()
	if len(ql) != 39 {
		t.Fatalf("the provider's query list has %d links", len(ql))
	}
	goldenXML(t, "querylist-provider.golden.xml", base, p.lastBody)
	for k, href := range ql {
		if k[1] == "adminService" {
			continue
		}
		var rs xRecords
		p.want(http.MethodGet, href+"&page=1", "", 200, &rs)
		root := map[string]string{mRecords: "QueryResultRecords", mIDRecords: "QueryResultRecords", mRefs: "References"}[k[0]]
		if rs.XMLName.Local != root || rs.XMLName.Space != nsV15 {
			t.Fatalf("%v answered %v", k, rs.XMLName)
		}
		for _, r := range rs.Records {
			suffix := "Record"
			if k[0] == mRefs {
				suffix = "Reference"
			}
			if !strings.HasSuffix(r.XMLName.Local, suffix) || r.get("href") == "" {
				t.Fatalf("%v: %+v", k, r)
			}
		}
	}
	tenant := newPy(t, base, "36.0", false)
	tenant.login("alice", "acme", "alice-pass")
	if got := len(tenant.queryList()); got != 18 {
		t.Fatalf("a tenant's query list has %d links", got)
	}
	goldenXML(t, "querylist-tenant.golden.xml", base, tenant.lastBody)
	tenant.refused(http.MethodGet, base+"/api/query?type=adminService", "", 403)
}

// The Session document, for a tenant and for the provider.
func TestSessionDocument(t *testing.T) {
	_, base := start(t)
	for _, tc := range []struct{ user, org, pass, file string }{
		{"alice", "acme", "alice-pass", "session-tenant.golden.xml"},
		{"administrator", "System", "kaas-admin", "session-provider.golden.xml"},
	} {
		p := newPy(t, base, "36.0", false)
		p.login(tc.user, tc.org, tc.pass)
		goldenXML(t, tc.file, base, p.lastBody)
	}
	// A session ended through cloudapi is over too (govcd's Disconnect).
	p := newPy(t, base, "37.0", false)
	p.login("bob", "acme", "bob-pass")
	p.want(http.MethodDelete, base+"/cloudapi/1.0.0/sessions", "", 204, nil)
	p.refused(http.MethodGet, base+"/api/session", "", 401)
}

// VCD's own tasks (govcd's) show their Organization and User, and are read by whom tasks
// made through a tasks list are.
func TestGovcdTasksHaveOrgAndUser(t *testing.T) {
	_, base := start(t, withCarol, func(c *vcdsim.Config) { c.TaskDelay = 0 })
	vc := client(t, base, "alice", "alice-pass", "acme")
	org, err := vc.GetOrgByName("acme")
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := org.GetVDCByName("acme-vdc", false)
	if err != nil {
		t.Fatal(err)
	}
	vapp, err := vdc.CreateRawVApp("mine", "")
	if err != nil {
		t.Fatal(err)
	}
	task, err := vapp.PowerOn()
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Refresh(); err != nil {
		t.Fatal(err)
	}
	tk := task.Task
	if tk.Organization == nil || tk.Organization.Name != "acme" || tk.User == nil || tk.User.Name != "alice" || tk.Owner.HREF != vapp.VApp.HREF ||
		tk.Owner.ID != vapp.VApp.ID || tk.Status != "success" {
		t.Fatalf("govcd's task %+v org %+v user %+v", tk, tk.Organization, tk.User)
	}
	carol := newPy(t, base, "37.0", false)
	carol.login("carol", "acme", "carol-pass")
	carol.refused(http.MethodGet, tk.HREF, "", 403)
	bob := newPy(t, base, "37.0", false)
	bob.login("bob", "acme", "bob-pass")
	bob.want(http.MethodGet, tk.HREF, "", 200, nil)
	admin := client(t, base, "administrator", "kaas-admin", "System")
	same := govcd.NewTask(&admin.Client)
	same.Task.HREF = tk.HREF
	if err := same.Refresh(); err != nil || same.Task.Organization.Name != "acme" {
		t.Fatalf("the provider reads alice's task: %v", err)
	}
}

var (
	taskUUID  = regexp.MustCompile(`task/[0-9a-f-]{36}|task:[0-9a-f-]{36}`)
	times     = regexp.MustCompile(`"\d{4}-\d\d-\d\dT[0-9:.]+Z"`)
	emptyElem = regexp.MustCompile(`<(\w+)([^<>]*)></(\w+)>`)
)

// goldenXML compares an XML document, hrefs on one base and per-run ids and times set
// aside, one element a line, with testdata/name, or writes it with -update.
func goldenXML(t *testing.T, name, base string, body []byte) {
	t.Helper()
	s := strings.ReplaceAll(string(body), base, "https://vcd.example")
	s = taskUUID.ReplaceAllStringFunc(s, func(m string) string { return m[:5] + "TASK-UUID" })
	s = times.ReplaceAllString(s, `"TIME"`)
	s = emptyElem.ReplaceAllStringFunc(s, func(m string) string {
		if sub := emptyElem.FindStringSubmatch(m); sub[1] == sub[3] {
			return "<" + sub[1] + sub[2] + "/>"
		}
		return m
	})
	got := []byte(strings.ReplaceAll(s, "><", ">\n<") + "\n")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs:\n got %s\nwant %s", path, got, want)
	}
}

// A Task document that breaks VCD's rules is refused, and VCD's own tasks are not written.
func TestTaskDocumentRefusals(t *testing.T) {
	_, base := start(t, func(c *vcdsim.Config) { c.TaskDelay = 0 })
	admin := newPy(t, base, "36.0", false)
	admin.login("administrator", "System", "kaas-admin")
	orgHREF := base + "/api/org/" + uuidOf(vcdsim.OrgURN("acme"))
	list := base + "/api/tasksList/" + uuidOf(vcdsim.OrgURN("acme"))
	alice := base + "/api/admin/user/" + uuidOf(vcdsim.UserURN("acme", "alice"))
	good := pyTask("running", "op", orgHREF, alice, "alice", "")
	for _, tc := range []struct{ name, body string }{
		{"status", strings.Replace(good, `status="running"`, `status="done"`, 1)},
		{"vmware namespace", strings.Replace(good, `serviceNamespace="vcloud.cse"`, `serviceNamespace="com.vmware.vcloud"`, 1)},
		{"no namespace", strings.Replace(good, `serviceNamespace="vcloud.cse"`, ``, 1)},
		{"no owner", regexp.MustCompile(`<Owner [^>]*/>`).ReplaceAllString(good, "")},
		{"unknown user", strings.Replace(good, uuidOf(vcdsim.UserURN("acme", "alice")), "00000000-0000-0000-0000-000000000000", 1)},
		{"progress", strings.Replace(good, "<Details>", "<Progress>101</Progress><Details>", 1)},
		{"not XML", "<Task"},
	} {
		t.Run(tc.name, func(t *testing.T) { admin.p(t).refused(http.MethodPost, list, tc.body, 400) })
	}
	// Without a User, the task is the provider's own.
	var tk xTask
	admin.want(http.MethodPost, list, regexp.MustCompile(`<User [^>]*/>`).ReplaceAllString(good, ""), 200, &tk)
	if tk.User == nil || tk.User.Name != "administrator" || tk.Organization.Name != "acme" {
		t.Fatalf("a task without a User: %+v", tk)
	}
	// Unknown orgs and tasks are 403, as every unknown id.
	admin.refused(http.MethodPost, base+"/api/tasksList/00000000-0000-0000-0000-000000000000", good, 403)
	admin.refused(http.MethodGet, base+"/api/task/00000000-0000-0000-0000-000000000000", "", 403)

	// VCD's own tasks are not written through the API.
	vc := client(t, base, "administrator", "kaas-admin", "System")
	org, _ := vc.GetOrgByName("acme")
	vdc, _ := org.GetVDCByName("acme-vdc", false)
	vapp, err := vdc.CreateRawVApp("own", "")
	if err != nil {
		t.Fatal(err)
	}
	task, err := vapp.PowerOn()
	if err != nil {
		t.Fatal(err)
	}
	admin.refused(http.MethodPut, task.Task.HREF, good, 400)
}

// p is the client for a subtest.
func (p *py) p(t *testing.T) *py { c := *p; c.t = t; return &c }
