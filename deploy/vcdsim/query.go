package vcdsim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// The query service (vcd-api.md E5, cse-rde.md §3.5): GET /api/query lists the typed
// queries; GET /api/query?type=… answers one in the format asked for (records, idrecords,
// references), filtered (FIQL: ; and , with parentheses, ==, !=, =lt= =le= =gt= =ge=, *
// wildcards, backslash escapes, values URL-escaped or the whole filter escaped once more),
// sorted (sortAsc, sortDesc) and paged (page, pageSize up to 128, with nextPage links). A
// filter on an attribute a record type does not have narrows nothing.

const maxPageSize = 128

// Query result formats: the format parameter and the type of the result.
var queryFormats = []struct{ name, mime string }{
	{"records", mimeRecords},
	{"idrecords", "application/vnd.vmware.vcloud.query.idrecords+xml"},
	{"references", "application/vnd.vmware.vcloud.query.references+xml"},
}

// queryType is a typed query the simulator answers.
type queryType struct {
	name   string // the type parameter
	record string // the record element; its reference element ends in Reference instead
	mime   string // the type of the objects its references point at
	admin  bool   // listed for providers only
	rows   func(s *Server, sess *session, admin bool) []row
}

var queryTypes = []queryType{
	{"orgVdc", "OrgVdcRecord", "application/vnd.vmware.vcloud.vdc+xml", false, (*Server).vdcRows},
	{"adminOrgVdc", "AdminVdcRecord", mimeAdminVdc, true, (*Server).vdcRows},
	{"catalog", "CatalogRecord", "application/vnd.vmware.vcloud.catalog+xml", false, (*Server).catalogRows},
	{"adminCatalog", "AdminCatalogRecord", "application/vnd.vmware.admin.catalog+xml", true, (*Server).catalogRows},
	{"vAppTemplate", "VAppTemplateRecord", "application/vnd.vmware.vcloud.vAppTemplate+xml", false, (*Server).templateRows},
	{"adminVAppTemplate", "AdminVAppTemplateRecord", "application/vnd.vmware.vcloud.vAppTemplate+xml", true, (*Server).templateRows},
	{"catalogItem", "CatalogItemRecord", mimeCatalogItem, false, (*Server).itemRows},
	{"adminCatalogItem", "AdminCatalogItemRecord", mimeCatalogItem, true, (*Server).itemRows},
	{"user", "UserRecord", mimeUser, false, (*Server).userRows},
	{"adminUser", "AdminUserRecord", mimeUser, true, (*Server).userRows},
	{"task", "TaskRecord", mimeTask, false, (*Server).taskRows},
	{"adminTask", "AdminTaskRecord", mimeTask, true, (*Server).taskRows},
	{"adminService", "AdminServiceRecord", "application/vnd.vmware.admin.service+xml", true, (*Server).serviceRows},
}

// field is one attribute of a record.
type field struct {
	key, value string
	urn        string // for a reference: what idrecords shows instead of the href
	hidden     bool   // matched by filters but not shown
}

// row is one object as the query service sees it.
type row []field

func attr(key, value string) field    { return field{key: key, value: value} }
func ref(key, href, urn string) field { return field{key: key, value: href, urn: urn} }
func hidden(key, value string) field  { return field{key: key, value: value, hidden: true} }
func (r row) with(fs ...field) row    { return append(r, fs...) }

func (r row) value(key string) string {
	for _, f := range r {
		if f.key == key {
			return f.value
		}
	}
	return ""
}

// candidates are the values a filter on key may match: a reference matches by href, URN or
// UUID. known is false when the row has no such attribute.
func (r row) candidates(key string) (vals []string, known bool) {
	for _, f := range r {
		if !strings.EqualFold(f.key, key) {
			continue
		}
		known = true
		vals = append(vals, f.value)
		if f.urn != "" {
			vals = append(vals, f.urn, f.urn[strings.LastIndex(f.urn, ":")+1:])
		}
	}
	return vals, known
}

func (s *Server) vdcRows(sess *session, _ bool) []row {
	var out []row
	for _, o := range s.orgs {
		if !s.visible(sess, o) {
			continue
		}
		for _, d := range o.vdcs {
			out = append(out, row{ref("href", s.href("vdc/"+d.id), "urn:vcloud:vdc:"+d.id), attr("id", "urn:vcloud:vdc:"+d.id),
				attr("name", d.name), attr("orgName", o.name), ref("org", s.href("org/"+o.id), orgURN(o)),
				attr("isEnabled", "true"), attr("status", "READY")})
		}
	}
	return out
}

func (s *Server) catalogRows(_ *session, admin bool) []row {
	href := s.href("catalog/" + s.catalog.id)
	if admin {
		href = s.href("admin/catalog/" + s.catalog.id)
	}
	urn := "urn:vcloud:catalog:" + s.catalog.id
	return []row{{ref("href", href, urn), attr("id", urn), attr("name", s.catalog.name), attr("orgName", s.system.name),
		attr("isPublished", "true"), attr("isShared", "true")}}
}

func (s *Server) templateRows(*session, bool) []row {
	var out []row
	now := time.Now()
	for _, t := range s.items() {
		urn := "urn:vcloud:vapptemplate:" + t.tmplID
		status := templateStatus[t.status(now)]
		out = append(out, row{ref("href", s.tmplHREF(t), urn), attr("id", urn), attr("name", t.name),
			attr("catalogName", s.catalog.name), ref("catalogItem", s.itemHREF(t), "urn:vcloud:catalogitem:"+t.itemID),
			attr("status", status)})
	}
	return out
}

// templateStatus is how template records show a vApp template's status.
var templateStatus = map[int]string{0: "UNRESOLVED", 8: "RESOLVED", -1: "FAILED_CREATION"}

// itemRows are the catalog's items: an item's entity is its vApp template.
func (s *Server) itemRows(*session, bool) []row {
	var out []row
	now := time.Now()
	for _, t := range s.items() {
		urn := "urn:vcloud:catalogitem:" + t.itemID
		out = append(out, row{ref("href", s.itemHREF(t), urn), attr("id", urn), attr("name", t.name),
			ref("catalog", s.href("catalog/"+s.catalog.id), "urn:vcloud:catalog:"+s.catalog.id), attr("catalogName", s.catalog.name),
			ref("entity", s.tmplHREF(t), "urn:vcloud:vapptemplate:"+t.tmplID), attr("entityName", t.name), attr("entityType", "vapptemplate"),
			attr("status", templateStatus[t.status(now)]), attr("isPublished", "true"), attr("ownerName", "system"),
			attr("creationDate", queryDate(t.created))})
	}
	return out
}

// userRows: a tenant sees its org's users (to share clusters with them by name), a provider
// every org's. A UserRecord's href ends in the UUID of the user's URN: clients make the
// URN from it.
func (s *Server) userRows(sess *session, _ bool) []row {
	var out []row
	for _, o := range s.orgs {
		if !s.visible(sess, o) {
			continue
		}
		for _, u := range o.users {
			urn := userURN(o, u.Name)
			out = append(out, row{ref("href", s.userHREF(o, u.Name), urn), attr("id", urn), attr("name", u.Name), attr("fullName", u.Name),
				attr("orgName", o.name), ref("org", s.href("org/"+o.id), orgURN(o)), attr("isEnabled", "true"), attr("roleNames", roleOf(o, u))})
		}
	}
	return out
}

// taskRows are the tasks the caller may see. A record's name is the task's operationName
// (also filterable under that key), object its Owner and ownerName its User.
func (s *Server) taskRows(sess *session, _ bool) []row {
	var ts []*task
	for _, t := range s.tasks {
		if canSeeTask(sess, t) {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b *task) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	now := time.Now()
	out := make([]row, 0, len(ts))
	for _, t := range ts {
		doc := s.taskXML(t)
		r := row{ref("href", doc.HREF, doc.ID), attr("id", doc.ID), attr("name", doc.OperationName), hidden("operationName", doc.OperationName),
			attr("operationFull", doc.Operation), attr("status", t.status(now)), attr("serviceNamespace", doc.ServiceNamespace),
			attr("startDate", queryDate(t.start))}
		if doc.EndTime != "" {
			r = r.with(attr("endDate", queryDate(t.end)))
		}
		if t.org != nil {
			r = r.with(ref("org", s.href("org/"+t.org.id), orgURN(t.org)), attr("orgName", t.org.name))
		}
		if t.userName != "" {
			r = r.with(attr("ownerName", t.userName))
		}
		r = r.with(ref("object", t.ownerHREF, t.ownerID), attr("objectName", t.ownerName), attr("objectType", objectType(t.ownerType)))
		if doc.Progress > 0 {
			r = r.with(attr("progress", strconv.Itoa(doc.Progress)))
		}
		if doc.Details != "" {
			r = r.with(attr("details", doc.Details))
		}
		out = append(out, r)
	}
	return out
}

func (s *Server) serviceRows(*session, bool) []row {
	var out []row
	for _, svc := range s.services {
		out = append(out, row{attr("href", s.serviceHREF(svc)), attr("name", svc.Name), attr("namespace", svc.Namespace),
			attr("routingKey", svc.RoutingKey), attr("exchange", svc.Exchange), attr("enabled", strconv.FormatBool(svc.Enabled))})
	}
	slices.SortFunc(out, func(a, b row) int { return strings.Compare(a.value("name"), b.value("name")) })
	return out
}

// queryDate is how the query service writes a time.
func queryDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

var mimeObject = regexp.MustCompile(`^application/vnd\.vmware\.(?:vcloud|admin)\.([A-Za-z]+)\+xml$`)

// objectType is the short object type a task record names: vApp, org, vdc…
func objectType(mime string) string {
	if m := mimeObject.FindStringSubmatch(mime); m != nil {
		return m[1]
	}
	return mime
}

// queryParam is one key=value of a query string, the value as sent.
type queryParam struct{ key, value string }

// rawParams splits a query string by hand: govcd sends filters with unescaped semicolons,
// which Go's parser drops (vcd-api.md §1.5).
func rawParams(raw string) []queryParam {
	var out []queryParam
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" {
			out = append(out, queryParam{k, v})
		}
	}
	return out
}

func param(ps []queryParam, key string) string {
	for _, p := range ps {
		if p.key == key {
			v, err := url.QueryUnescape(p.value)
			if err != nil {
				return p.value
			}
			return v
		}
	}
	return ""
}

// query answers /api/query.
func (s *Server) query(w http.ResponseWriter, r *http.Request, sess *session) *vcdError {
	ps := rawParams(r.URL.RawQuery)
	typ := param(ps, "type")
	if typ == "" {
		s.queryList(w, sess)
		return nil
	}
	i := slices.IndexFunc(queryTypes, func(q queryType) bool { return q.name == typ })
	if i < 0 {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "query type %q is not supported by vcdsim", typ)
	}
	qt := queryTypes[i]
	if qt.name == "adminService" && !sess.org.system() {
		return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "only a provider may query API extensions")
	}
	format := cmpOr(param(ps, "format"), "records")
	fi := slices.IndexFunc(queryFormats, func(f struct{ name, mime string }) bool { return f.name == format })
	if fi < 0 {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "query format %q is not one of records, idrecords, references", format)
	}
	var raw string
	for _, p := range ps {
		if p.key == "filter" {
			raw = p.value
		}
	}
	match, ferr := parseFilter(raw)
	if ferr != nil {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "Bad filter %q: %v", raw, ferr)
	}
	var rows []row
	for _, rw := range qt.rows(s, sess, qt.admin) {
		if match == nil || match.match(rw) {
			rows = append(rows, rw)
		}
	}
	if key, desc := cmpOr(param(ps, "sortAsc"), param(ps, "sortDesc")), param(ps, "sortAsc") == ""; key != "" {
		slices.SortStableFunc(rows, func(a, b row) int {
			c := compareValues(a.value(key), b.value(key))
			if desc {
				return -c
			}
			return c
		})
	}
	page, size := 1, 25
	if v, err := strconv.Atoi(param(ps, "page")); err == nil && v > 0 {
		page = v
	}
	if v, err := strconv.Atoi(param(ps, "pageSize")); err == nil && v > 0 {
		size = min(v, maxPageSize)
	}
	from := min((page-1)*size, len(rows))
	to := min(from+size, len(rows))
	root, elem := "QueryResultRecords", qt.record
	if format == "references" {
		root, elem = "References", strings.TrimSuffix(qt.record, "Record")+"Reference"
	}
	out := queryResult{XMLName: xml.Name{Local: root}, Xmlns: nsVCloud, HREF: s.pageHREF(ps, page, size), Name: typ, Page: page, PageSize: size,
		Total: len(rows), Type: queryFormats[fi].mime}
	last := max(1, (len(rows)+size-1)/size)
	if page < last {
		out.Link = append(out.Link, &types.Link{Rel: "nextPage", Type: out.Type, HREF: s.pageHREF(ps, page+1, size)})
	}
	if page > 1 {
		out.Link = append(out.Link, &types.Link{Rel: "previousPage", Type: out.Type, HREF: s.pageHREF(ps, min(page-1, last), size)})
	}
	if last > 1 {
		out.Link = append(out.Link, &types.Link{Rel: "firstPage", Type: out.Type, HREF: s.pageHREF(ps, 1, size)},
			&types.Link{Rel: "lastPage", Type: out.Type, HREF: s.pageHREF(ps, last, size)})
	}
	for _, rw := range rows[from:to] {
		rec := record{XMLName: xml.Name{Local: elem}}
		if format == "references" {
			for _, k := range []string{"href", "id", "name"} {
				if v := rw.value(k); v != "" {
					rec.Attrs = append(rec.Attrs, xml.Attr{Name: xml.Name{Local: k}, Value: v})
				}
			}
			rec.Attrs = append(rec.Attrs, xml.Attr{Name: xml.Name{Local: "type"}, Value: qt.mime})
		} else {
			for _, f := range rw {
				v := f.value
				if format == "idrecords" && f.urn != "" && f.key != "href" {
					v = f.urn // idrecords name what records link to by id
				}
				if !f.hidden {
					rec.Attrs = append(rec.Attrs, xml.Attr{Name: xml.Name{Local: f.key}, Value: v})
				}
			}
		}
		out.Records = append(out.Records, rec)
	}
	writeXML(w, 200, queryFormats[fi].mime, "", out)
	return nil
}

// record is one query result record or reference: an element name and its attributes.
type record struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
}

type queryResult struct {
	XMLName  xml.Name
	Xmlns    string        `xml:"xmlns,attr"`
	HREF     string        `xml:"href,attr"`
	Name     string        `xml:"name,attr"`
	Page     int           `xml:"page,attr"`
	PageSize int           `xml:"pageSize,attr"`
	Total    int           `xml:"total,attr"`
	Type     string        `xml:"type,attr"`
	Link     []*types.Link `xml:"Link"`
	Records  []record
}

// pageHREF is the href of a page of the same query: the query string as the client sent
// it (its filter untouched), with page and pageSize set.
func (s *Server) pageHREF(ps []queryParam, page, size int) string {
	var b strings.Builder
	for _, p := range ps {
		if p.key == "page" || p.key == "pageSize" {
			continue
		}
		fmt.Fprintf(&b, "%s=%s&", p.key, p.value)
	}
	fmt.Fprintf(&b, "page=%d&pageSize=%d", page, size)
	return s.href("query?" + b.String())
}

// queryList answers GET /api/query: one link per query type and format the caller may use,
// each href with a "?" so that clients can append "&page=…".
func (s *Server) queryList(w http.ResponseWriter, sess *session) {
	out := struct {
		XMLName xml.Name      `xml:"QueryList"`
		Xmlns   string        `xml:"xmlns,attr"`
		HREF    string        `xml:"href,attr"`
		Type    string        `xml:"type,attr"`
		Link    []*types.Link `xml:"Link"`
	}{Xmlns: nsVCloud, HREF: s.href("query"), Type: mimeQueryList}
	for _, qt := range queryTypes {
		if qt.admin && !sess.org.system() {
			continue
		}
		for _, f := range queryFormats {
			out.Link = append(out.Link, &types.Link{Rel: "down", Name: qt.name, Type: f.mime, HREF: s.href("query?type=" + qt.name + "&format=" + f.name)})
		}
	}
	writeXML(w, 200, mimeQueryList, "", out)
}

// compareValues orders numbers as numbers, anything else as text.
func compareValues(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

// filterExpr matches query records against a filter.
type filterExpr interface{ match(row) bool }

type rowMatcher struct{ n filterNode }

func (m rowMatcher) match(r row) bool { return m.n.eval(r) }

// values makes a row a filter source: an attribute the record type lacks narrows nothing.
func (r row) values(key string) ([]string, bool) { return r.candidates(key) }

// parseFilter parses a filter as it came in the query string, nil for none. A filter
// escaped as a whole (no "=" left in it) is unescaped once first; then its structure is
// read, and each key and value unescaped on its own.
func parseFilter(raw string) (filterExpr, error) {
	if raw == "" {
		return nil, nil
	}
	if !strings.Contains(raw, "=") {
		if u, err := url.QueryUnescape(raw); err == nil {
			raw = u
		}
	}
	n, err := parseFilterText(raw, true)
	if n == nil || err != nil {
		return nil, err
	}
	return rowMatcher{n}, nil
}
