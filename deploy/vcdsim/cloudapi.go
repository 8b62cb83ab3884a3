package vcdsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The cloudapi (/cloudapi/1.0.0/…) other than sessions: defined-entity interfaces, types,
// behaviors and entities (rde.go), rights and rights bundles (rights.go), VDCs, and VDC
// compute policies (sizing.go; also under /cloudapi/2.0.0/, as govcd reads them). It speaks
// JSON, and its errors are VCD's {"minorErrorCode","message","stackTrace":null}
// (cse-rde.md §3.8): CSE's client json-decodes every error body.

const cloudapiPrefix = "/cloudapi/1.0.0/"

// cloudapiPrefix2 is the cloudapi's version 2.0.0, where the simulator serves only VDC
// compute policies.
const cloudapiPrefix2 = "/cloudapi/2.0.0/"

// headerTenantContext names the org a System-org caller acts in.
const headerTenantContext = "X-Vmware-Vcloud-Tenant-Context"

// apiCall is one authenticated cloudapi request: t is its path below /cloudapi/1.0.0/, q
// its query parameters read by hand (cloudParams).
type apiCall struct {
	w    http.ResponseWriter
	r    *http.Request
	sess *session
	t    []string
	q    map[string]string
	// version is the cloudapi version in the path: 1.0.0 or 2.0.0.
	version string
}

func (c *apiCall) at(i int) string {
	if i < len(c.t) {
		return c.t[i]
	}
	return ""
}

func (c *apiCall) is(method string, n int) bool { return c.r.Method == method && len(c.t) == n }

// apiRef is a cloudapi reference: {name, id}.
type apiRef struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

var acceptVersionRE = regexp.MustCompile(`version=([0-9]+)`)

// acceptedVersion reports whether the Accept header asks for an API version the simulator
// speaks: 31.0 (where the cloudapi starts) up to the 38.x it lists, alpha versions
// (37.0.0-alpha, which pyvcloud's TKG-S client sends) included. No version is taken as the
// current one.
func acceptedVersion(accept string) bool {
	m := acceptVersionRE.FindStringSubmatch(accept)
	if m == nil {
		return true
	}
	major, err := strconv.Atoi(m[1])
	return err == nil && major >= 31 && major <= 38
}

// cloudapi serves every /cloudapi/ path but the sessions.
func (s *Server) cloudapi(w http.ResponseWriter, r *http.Request) {
	if !acceptedVersion(r.Header.Get("Accept")) {
		writeJSONError(w, errf(http.StatusNotAcceptable, "NOT_ACCEPTABLE", "The API version in %q is not supported.", r.Header.Get("Accept")))
		return
	}
	sess := s.auth(r)
	if sess == nil {
		writeJSONError(w, errf(http.StatusUnauthorized, "UNAUTHORIZED", "This operation is denied: no valid session."))
		return
	}
	version := "1.0.0"
	rest, ok := strings.CutPrefix(r.URL.Path, cloudapiPrefix)
	if !ok {
		version = "2.0.0"
		rest, ok = strings.CutPrefix(r.URL.Path, cloudapiPrefix2)
	}
	if !ok {
		writeJSONError(w, errf(http.StatusNotFound, "RESOURCE_NOT_FOUND", "%s %s not found", r.Method, r.URL.Path))
		return
	}
	rest = strings.Trim(rest, "/")
	c := &apiCall{w: w, r: r, sess: sess, t: strings.Split(rest, "/"), q: cloudParams(r.URL.RawQuery), version: version}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["cloudapi"]++
	var err *vcdError
	if c.version == "2.0.0" {
		switch {
		case c.at(0) == "vdcComputePolicies":
			err = s.computePoliciesRoute(c)
		case c.at(0) == "vdcs" && len(c.t) == 3:
			err = s.vdcsRoute(c)
		default:
			err = notFoundPath(c)
		}
		if err != nil {
			writeJSONError(w, err)
		}
		return
	}
	switch c.at(0) {
	case "interfaces":
		err = s.interfacesRoute(c)
	case "entityTypes":
		err = s.entityTypesRoute(c)
	case "entities":
		err = s.entitiesRoute(c)
	case "rights":
		err = s.rightsRoute(c)
	case "rightsBundles":
		err = s.bundlesRoute(c)
	case "vdcs":
		err = s.vdcsRoute(c)
	case "vdcComputePolicies":
		err = s.computePoliciesRoute(c)
	default:
		err = notFoundPath(c)
	}
	if err != nil {
		writeJSONError(w, err)
	}
}

func notFoundPath(c *apiCall) *vcdError {
	return errf(http.StatusNotFound, "RESOURCE_NOT_FOUND", "%s %s not found", c.r.Method, c.r.URL.Path)
}

// writeJSON writes a cloudapi answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, errf(500, "INTERNAL_SERVER_ERROR", "vcdsim: encode the answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSONError writes a cloudapi error as VCD does.
func writeJSONError(w http.ResponseWriter, e *vcdError) {
	b, _ := json.Marshal(struct {
		MinorErrorCode string  `json:"minorErrorCode"`
		Message        string  `json:"message"`
		StackTrace     *string `json:"stackTrace"`
	}{e.minor, e.msg, nil})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// readJSON decodes a request body; numbers stay as written.
func readJSON(r *http.Request, v any) *vcdError {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<22))
	if err != nil {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "read body: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// generic is a value as its JSON reads, for filters and sorts.
func generic(v any) any {
	b, _ := json.Marshal(v)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	_ = dec.Decode(&out)
	return out
}

// listPage is a page of a cloudapi list.
type listPage struct {
	ResultTotal  int   `json:"resultTotal"`
	PageCount    int   `json:"pageCount"`
	Page         int   `json:"page"`
	PageSize     int   `json:"pageSize"`
	Associations any   `json:"associations"`
	Values       []any `json:"values"`
}

// pageOf filters (filter), sorts (sortAsc, sortDesc) and pages (page, pageSize) a list as
// VCD does: a page past the end is empty, which is how CSE's client knows it is done.
func pageOf[T any](c *apiCall, items []T) (*listPage, *vcdError) {
	page, size := 1, 25
	if v, ok := c.q["page"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "page %q is not a page number", v)
		}
		page = n
	}
	if v, ok := c.q["pageSize"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "pageSize %q is not a page size", v)
		}
		size = min(n, maxPageSize)
	}
	filter, err := parseFIQL(c.q["filter"])
	if err != nil {
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "Cannot parse the supplied filter: %v", err)
	}
	type row struct {
		v T
		g any
	}
	var rows []row
	for _, it := range items {
		g := generic(it)
		if filter == nil || filter.match(g) {
			rows = append(rows, row{it, g})
		}
	}
	key, desc := c.q["sortAsc"], false
	if key == "" {
		key, desc = c.q["sortDesc"], c.q["sortDesc"] != ""
	}
	if key != "" {
		slices.SortStableFunc(rows, func(a, b row) int {
			if desc {
				return compareAt(b.g, a.g, key)
			}
			return compareAt(a.g, b.g, key)
		})
	}
	out := &listPage{ResultTotal: len(rows), PageCount: (len(rows) + size - 1) / size, Page: page, PageSize: size, Values: []any{}}
	from := min((page-1)*size, len(rows))
	for _, r := range rows[from:min(from+size, len(rows))] {
		out.Values = append(out.Values, r.v)
	}
	return out, nil
}

func writePage[T any](c *apiCall, items []T) *vcdError {
	p, err := pageOf(c, items)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, p)
	return nil
}

// orgByID finds an org by its URN or bare uuid.
func (s *Server) orgByID(id string) *org {
	id = strings.TrimPrefix(strings.ToLower(id), "urn:vcloud:org:")
	for _, o := range s.orgs {
		if o.id == id {
			return o
		}
	}
	return nil
}

// userByURN finds a user and its org by the user's URN.
func (s *Server) userByURN(id string) (*org, *UserConfig) {
	uid, ok := strings.CutPrefix(strings.ToLower(id), "urn:vcloud:user:")
	if !ok {
		return nil, nil
	}
	return s.userByID(uid)
}

// actingOrg is the org a call acts in: the caller's, or for a System-org caller the one
// its tenant-context header names. A tenant may name only its own.
func (s *Server) actingOrg(c *apiCall) (*org, *vcdError) {
	h := c.r.Header.Get(headerTenantContext)
	if h == "" {
		return c.sess.org, nil
	}
	o := s.orgByID(h)
	if o == nil || (!c.sess.org.system() && o != c.sess.org) {
		return nil, errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "The tenant context %q is not an organization you may act in.", h)
	}
	return o, nil
}

// scope is the org a list is limited to: nil for a System-org caller without a tenant
// context (it sees every org), else the acting org.
func (s *Server) scope(c *apiCall) (*org, *vcdError) {
	if c.sess.org.system() && c.r.Header.Get(headerTenantContext) == "" {
		return nil, nil
	}
	return s.actingOrg(c)
}

func systemOnly(c *apiCall) *vcdError {
	if c.sess.org.system() {
		return nil
	}
	return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Only a provider may %s %s.", strings.ToLower(c.r.Method), c.r.URL.Path)
}

// vdcJSON is an org VDC as /cloudapi/1.0.0/vdcs lists it.
type vdcJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	AllocationType string `json:"allocationType"`
	IsEnabled      bool   `json:"isEnabled"`
	Org            apiRef `json:"org"`
}

// vdcsRoute lists the VDCs the caller may see, and the compute policies of one.
func (s *Server) vdcsRoute(c *apiCall) *vcdError {
	if len(c.t) == 3 && c.at(2) == "computePolicies" {
		return s.vdcPolicies(c)
	}
	if !c.is(http.MethodGet, 1) {
		return notFoundPath(c)
	}
	scope, err := s.scope(c)
	if err != nil {
		return err
	}
	var out []vdcJSON
	for _, o := range s.orgs {
		if !s.visible(c.sess, o) || scope != nil && o != scope {
			continue
		}
		for _, d := range o.vdcs {
			out = append(out, vdcJSON{ID: "urn:vcloud:vdc:" + d.id, Name: d.name, AllocationType: "Flex", IsEnabled: true,
				Org: apiRef{Name: o.name, ID: orgURN(o)}})
		}
	}
	return writePage(c, out)
}

// forbiddenRights is VCD's refusal for a caller that lacks the rights for an operation.
func forbiddenRights(what string) *vcdError {
	return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "%s", fmt.Sprintf("Either you need some or all of the following rights [%s] to perform this operation or the target entity is invalid.", what))
}
