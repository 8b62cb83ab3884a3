package kaasd_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
)

// vcdCLI plays the genuine CSE client: vcd-cli 24.1.0 with container-service-extension
// 3.1.4's `cse` plugin, on pyvcloud 23.0.4 (cse-rde.md §2). Each exported method is one
// command. It sends the requests that command sends, in its order and with its headers,
// and reads the answers as that client does: XML by namespace and local name, JSON into the
// Python models, whose required keys (and, for some, closed key sets) make the real client
// fail; so a test fails where the real client would. The requests of each command are kept
// (Script) for the tests to compare with what the genuine client sent to kaas.
type vcdCLI struct {
	t    testing.TB
	base string // VCD's address, https://host:port
	hc   *http.Client
	// poll is how often `task wait` reads a running task (vcd-cli: every 5s).
	poll time.Duration

	// The profile `vcd login` writes: the org typed (also the org in use), the token, the
	// API version negotiated, the VDC in use; and the API version the cse plugin
	// negotiates with CSE's server on its first command.
	org, user, token, apiVersion, vdc string
	cseVersion                        string

	// The session of the command running, as its client restored it.
	sysadmin bool
	links    []cliLink

	script []cliRequest // the requests of the command running
}

// Client-side constants of CSE 3.1.4's client and pyvcloud 23.0.4.
const (
	cliXML         = "application/*+xml"
	cliJSON        = "application/json"
	cliRecordsMIME = "application/vnd.vmware.vcloud.query.records+xml"
	cliNativeType  = "urn:vcloud:type:cse:nativeCluster:"
	cliUserPrefix  = "urn:vcloud:user:"
	cliPageSize    = 25 // CSE_PAGINATION_DEFAULT_PAGE_SIZE
	cliCLIPage     = 10 // CLI_ENTRIES_PER_PAGE
	cliMaxPages    = 50 // a server that ignores page would make the real client loop forever
)

// The access levels `--acl` names (shared_constants.ACCESS_LEVEL_TYPE_TO_ID).
const (
	cliReadOnly    = "urn:vcloud:accessLevel:ReadOnly"
	cliReadWrite   = "urn:vcloud:accessLevel:ReadWrite"
	cliFullControl = "urn:vcloud:accessLevel:FullControl"
)

// pyvcloud's API versions (VCD_API_CURRENT_VERSIONS), and those CSE's client speaks
// (SUPPORTED_VCD_API_VERSIONS).
var (
	cliPyvcloudVersions = []string{"29.0", "30.0", "31.0", "32.0", "33.0", "34.0", "35.0", "36.0", "37.0.0-alpha"}
	cliCSEVersions      = []string{"33.0", "34.0", "35.0", "36.0"}
)

func newVCDCLI(t testing.TB, sys *kaasdtest.System) *vcdCLI {
	return &vcdCLI{t: t, base: sys.URL, hc: kaasdtest.HTTPClient(), poll: 50 * time.Millisecond}
}

// ---- the wire ----

// cliRequest is one request a command sent, and the status it got.
type cliRequest struct {
	Method, URL                 string
	Accept, Auth, Tenant, CType string
	Body                        []byte
	Status                      int
}

// cliCall is a request to send: auth is "basic" (with basic as user@org:password), "" for
// none, else the session's bearer token.
type cliCall struct {
	method, href, accept string
	auth, basic          string
	tenant, ctype        string
	body                 []byte
}

const (
	cliBearer = "bearer"
	cliBasic  = "basic"
)

// do sends a request as Python's requests does: the URL as given, the headers named.
func (c *vcdCLI) do(r cliCall) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), r.method, r.href, bytes.NewReader(r.body))
	if err != nil {
		c.t.Fatalf("%s %s: %v", r.method, r.href, err)
	}
	if r.body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Accept", r.accept)
	rec := cliRequest{Method: r.method, URL: r.href, Accept: r.accept, Tenant: r.tenant, CType: r.ctype, Body: r.body}
	switch r.auth {
	case cliBasic:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(r.basic)))
		rec.Auth = "Basic"
	case cliBearer:
		req.Header.Set("Authorization", "Bearer "+c.token)
		rec.Auth = "Bearer"
	}
	if r.tenant != "" {
		req.Header.Set("x-vmware-vcloud-tenant-context", r.tenant)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", r.method, r.href, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rec.Status = resp.StatusCode
	c.script = append(c.script, rec)
	return resp.StatusCode, resp.Header, b
}

func cli2xx(code int) bool { return code >= 200 && code < 300 }

func cliAccept(mime, version string) string {
	if version == "" {
		return mime
	}
	return mime + ";version=" + version
}

func (c *vcdCLI) api(path string) string      { return c.base + "/api/" + path }
func (c *vcdCLI) cloudapi(path string) string { return c.base + "/cloudapi/1.0.0/" + path }

// vcdErr is how pyvcloud reports a VCD error document.
func cliVCDError(code int, body []byte) error {
	var e struct {
		Minor   string `xml:"minorErrorCode,attr"`
		Message string `xml:"message,attr"`
	}
	if xml.Unmarshal(body, &e) != nil {
		return fmt.Errorf("status code: %d, and the body is not a VCD Error: %.200s", code, body)
	}
	if code == http.StatusForbidden {
		return errors.New("Access to the resource is forbidden, please login with the required credentials and access level.")
	}
	return fmt.Errorf("Status code: %d/%s, %s (request id: None)", code, e.Minor, e.Message)
}

// getXML is pyvcloud's Client.get_resource at a version: a 2xx answer's XML, else the
// error pyvcloud raises.
func (c *vcdCLI) getXML(href, version string, v any) error {
	code, _, b := c.do(cliCall{method: http.MethodGet, href: href, accept: cliAccept(cliXML, version), auth: cliBearer})
	if !cli2xx(code) {
		return cliVCDError(code, b)
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: lxml cannot read the answer as it expects it: %v: %.200s", href, err, b)
	}
	return nil
}

// cse is CseClient.do_request and process_response: a JSON call to /api/cse at CSE's API
// version, the body (if any) as JSON; a 2xx answer's JSON, or the error the client shows.
func (c *vcdCLI) cse(method, href string, body any) (any, error) {
	call := cliCall{method: method, href: href, accept: cliAccept(cliJSON, c.cseVersion), auth: cliBearer}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		call.body, call.ctype = b, cliJSON
	}
	code, h, b := c.do(call)
	var out any = map[string]any{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			if cli2xx(code) {
				return nil, fmt.Errorf("%s %s: json.loads: %v: %.200s", method, href, err, b)
			}
			out = nil
		}
	}
	switch {
	case code == 200 || code == 201 || code == 202 || code == 204:
		return out, nil
	case code == http.StatusUnauthorized:
		return nil, errors.New("Session has expired or user not logged in. Please re-login.")
	case code == http.StatusTooManyRequests:
		return nil, errors.New("Server is busy. Please try again later.")
	case h.Get("Content-Type") == "":
		return nil, fmt.Errorf("%s %s: %d without a Content-Type: KeyError 'Content-Type'", method, href, code)
	}
	msg := "Unknown error. Please contact your System Administrator"
	if strings.Contains(h.Get("Content-Type"), "json") {
		if m, ok := out.(map[string]any); ok {
			switch v := m["message"].(type) {
			case string:
				msg = v
			case map[string]any:
				if d, ok := v["error_description"].(string); ok {
					msg = d
				}
			}
		}
	}
	return nil, fmt.Errorf("%s %s: %d: %s", method, href, code, msg)
}

// cloud is CSE's CloudApiClient.do_request (its GETs): Bearer, Accept and Content-Type
// JSON on every request. A non-2xx answer's body must be VCD's JSON error: the client's
// error decorators json.loads it.
func (c *vcdCLI) cloud(path string) (map[string]any, error) {
	code, _, b := c.do(cliCall{method: http.MethodGet, href: c.cloudapi(path), accept: cliAccept(cliJSON, c.cseVersion), auth: cliBearer, ctype: cliJSON})
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("GET %s: %d: Expecting value: line 1 column 1 (char 0) (%v: %.200s)", path, code, err, b)
	}
	if !cli2xx(code) {
		return nil, fmt.Errorf("GET %s: %d: %v", path, code, out["message"])
	}
	return out, nil
}

// ---- what the client reads: pyvcloud's XML, CSE's models ----

type cliLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr"`
	Name string `xml:"name,attr"`
	HREF string `xml:"href,attr"`
}

type cliSessionDoc struct {
	XMLName xml.Name  `xml:"http://www.vmware.com/vcloud/v1.5 Session"`
	User    string    `xml:"user,attr"`
	Org     string    `xml:"org,attr"`
	Links   []cliLink `xml:"http://www.vmware.com/vcloud/v1.5 Link"`
}

type cliOrgDoc struct {
	XMLName xml.Name  `xml:"http://www.vmware.com/vcloud/v1.5 Org"`
	Name    string    `xml:"name,attr"`
	HREF    string    `xml:"href,attr"`
	Links   []cliLink `xml:"http://www.vmware.com/vcloud/v1.5 Link"`
}

type cliOrgList struct {
	XMLName xml.Name  `xml:"http://www.vmware.com/vcloud/v1.5 OrgList"`
	Orgs    []cliLink `xml:"http://www.vmware.com/vcloud/v1.5 Org"`
}

type cliQueryList struct {
	XMLName xml.Name  `xml:"http://www.vmware.com/vcloud/v1.5 QueryList"`
	Links   []cliLink `xml:"http://www.vmware.com/vcloud/v1.5 Link"`
}

// cliRecords is a query result page as pyvcloud walks it: every child that is not a Link is
// a record, a Link rel=nextPage is the next page.
type cliRecords struct {
	Children []struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
	} `xml:",any"`
}

func (rs cliRecords) split() (records []map[string]string, next string) {
	for _, ch := range rs.Children {
		m := map[string]string{}
		for _, a := range ch.Attrs {
			m[a.Name.Local] = a.Value
		}
		if ch.XMLName.Local == "Link" {
			if m["rel"] == "nextPage" {
				next = m["href"]
			}
			continue
		}
		records = append(records, m)
	}
	return records, next
}

// cliTask is a task as pyvcloud's task monitor and vcd-cli read it; the root must be a
// v1.5 Task.
type cliTask struct {
	XMLName       xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Task"`
	HREF          string   `xml:"href,attr"`
	ID            string   `xml:"id,attr"`
	Status        string   `xml:"status,attr"`
	Operation     string   `xml:"operation,attr"`
	OperationName string   `xml:"operationName,attr"`
	Progress      *int     `xml:"http://www.vmware.com/vcloud/v1.5 Progress"`
	Error         *struct {
		Message string `xml:"message,attr"`
	} `xml:"http://www.vmware.com/vcloud/v1.5 Error"`
}

// findLink is pyvcloud's find_link: the one link of a rel and type; two are an error.
func cliFindLink(links []cliLink, rel, typ string) (string, error) {
	var found []string
	for _, l := range links {
		if l.Rel == rel && l.Type == typ {
			found = append(found, l.HREF)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("MultipleLinksException: %d links rel=%s type=%s", len(found), rel, typ)
}

// The well-known endpoints pyvcloud maps from the Session (_WellKnownEndpoint).
var cliWellKnown = [][2]string{
	{"down", "application/vnd.vmware.vcloud.org+xml"},
	{"down", "application/vnd.vmware.vcloud.vdc+xml"},
	{"down", "application/vnd.vmware.vcloud.orgNetwork+xml"},
	{"down", "application/vnd.vmware.vcloud.catalog+xml"},
	{"down", "application/vnd.vmware.vcloud.query.queryList+xml"},
	{"down", "application/vnd.vmware.admin.vcloud+xml"},
	{"down:extensibility", "application/vnd.vmware.vcloud.apiextensibility+xml"},
	{"down", "application/vnd.vmware.admin.vmwExtension+xml"},
	{"down", "application/vnd.vmware.vcloud.orgList+xml"},
	{"snapshot:create", "application/vnd.vmware.vcloud.createSnapshotParams+xml"},
	// OPENAPI too, but pyvcloud compares its type with an Enum member, never equal.
}

func (c *vcdCLI) wellKnown(typ string) (string, error) {
	href, err := cliFindLink(c.links, "down", typ)
	if err == nil && href == "" {
		err = fmt.Errorf("ClientException: The current user does not have access to the resource (%s)", typ)
	}
	return href, err
}

// jsonObj is a JSON value that must be an object for the client.
func cliJSONObj(v any, what string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is %T, not an object", what, v)
	}
	return m, nil
}

// needKeys fails as a dataclass does on a missing required field.
func cliNeed(m map[string]any, what string, keys ...string) error {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("%s: KeyError '%s' (the client's model requires it)", what, k)
		}
	}
	return nil
}

// onlyKeys fails as a plain dataclass constructor does on an unknown key.
func cliOnly(m map[string]any, what string, keys ...string) error {
	for k := range m {
		if !slices.Contains(keys, k) {
			return fmt.Errorf("%s: TypeError: unexpected keyword argument '%s'", what, k)
		}
	}
	return nil
}

// str reads a dotted path of a JSON object as a string ("" when absent or not a string).
func cliStr(m map[string]any, path string) string {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = o[k]
	}
	s, _ := cur.(string)
	return s
}

// obj reads a dotted path of a JSON object as an object (nil when absent).
func cliObj(m map[string]any, path string) map[string]any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = o[k]
	}
	o, _ := cur.(map[string]any)
	return o
}

// checkRef is Owner(**owner) / Org(**org): name and id only.
func cliRef(v any, what string) (map[string]any, error) {
	m, err := cliJSONObj(v, what)
	if err != nil {
		return nil, err
	}
	return m, cliOnly(m, what, "name", "id")
}

// cliNativeModel is what one version's NativeEntity.from_dict requires: top-level keys,
// metadata's names, spec.settings' network key, and the key of the control plane among
// the status's nodes (each node needs name and ip).
type cliNativeModel struct {
	top, metadata         []string
	network, controlPlane string
}

var (
	// rde_2_1_0.NativeEntity
	cliNative21 = cliNativeModel{top: []string{"apiVersion", "metadata", "spec"},
		metadata: []string{"name", "orgName", "virtualDataCenterName", "site"}, network: "ovdcNetwork", controlPlane: "controlPlane"}
	// rde_1_0_0.NativeEntity
	cliNative10 = cliNativeModel{top: []string{"metadata", "spec"},
		metadata: []string{"cluster_name", "org_name", "ovdc_name"}, network: "network", controlPlane: "control_plane"}
)

// parse reads an entity as the model's from_dict does, failing where it would.
func (mdl cliNativeModel) parse(v any) error {
	e, err := cliJSONObj(v, "entity")
	if err != nil {
		return err
	}
	if err := cliNeed(e, "entity", mdl.top...); err != nil {
		return err
	}
	md, err := cliJSONObj(e["metadata"], "entity.metadata")
	if err != nil {
		return err
	}
	if err := cliNeed(md, "entity.metadata", mdl.metadata...); err != nil {
		return err
	}
	spec, err := cliJSONObj(e["spec"], "entity.spec")
	if err != nil {
		return err
	}
	if err := cliNeed(spec, "entity.spec", "settings"); err != nil {
		return err
	}
	settings, err := cliJSONObj(spec["settings"], "entity.spec.settings")
	if err != nil {
		return err
	}
	if err := cliNeed(settings, "entity.spec.settings", mdl.network); err != nil {
		return err
	}
	nodes := cliObj(e, "status.nodes")
	if nodes == nil {
		return nil
	}
	check := func(n any, what string) error {
		m, err := cliJSONObj(n, what)
		if err != nil {
			return err
		}
		return cliNeed(m, what, "name", "ip")
	}
	if cp, ok := nodes[mdl.controlPlane]; ok && cp != nil {
		if err := check(cp, "entity.status.nodes."+mdl.controlPlane); err != nil {
			return err
		}
	}
	for _, pool := range []string{"workers", "nfs"} {
		list, _ := nodes[pool].([]any)
		for i, n := range list {
			if err := check(n, fmt.Sprintf("entity.status.nodes.%s[%d]", pool, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNativeByType parses an entity by the version its entity type names, as DefEntity
// and GenericClusterEntity do: rde_1_0_0 or rde_2_1_0 (kaas writes no other).
func cliNativeByType(entityType string, entity any) error {
	switch version := entityType[strings.LastIndex(entityType, ":")+1:]; version {
	case "2.1.0":
		return cliNative21.parse(entity)
	case "1.0.0":
		return cliNative10.parse(entity)
	default:
		return fmt.Errorf("entity type %q: kaas's entities are %s1.0.0 or 2.1.0", entityType, cliNativeType)
	}
}

// cliV1 reports whether an RDE version's model is rde_1_0_0 (snake_case keys).
func cliV1(rde string) bool { return rde == "1.0.0" }

// cliOrgKey is construct_filters' org key: ClusterEntityFilterKey1X up to RDE 1.0.0.
func cliOrgKey(rde string) string {
	if cliV1(rde) {
		return "entity.metadata.org_name"
	}
	return "entity.metadata.orgName"
}

// cliDefEntity is DefEntity(**body): entityType and entity required, the entity parsed
// by its type's model, owner and org (when given) closed {name, id}. Unknown keys are
// ignored.
func cliDefEntity(v any) (map[string]any, error) {
	m, err := cliJSONObj(v, "defined entity")
	if err != nil {
		return nil, err
	}
	if err := cliNeed(m, "DefEntity", "entity", "entityType"); err != nil {
		return nil, err
	}
	et, _ := m["entityType"].(string)
	if err := cliNativeByType(et, m["entity"]); err != nil {
		return nil, err
	}
	for _, k := range []string{"owner", "org"} {
		if r, ok := m[k]; ok && r != nil {
			if _, err := cliRef(r, "DefEntity."+k); err != nil {
				return nil, err
			}
		}
	}
	if cliStr(m, "name") == "" && cliStr(m, "entity.metadata.name") == "" && cliStr(m, "entity.metadata.cluster_name") == "" {
		return nil, errors.New("DefEntity: no name, and none in entity.metadata")
	}
	return m, nil
}

// cliGeneric is GenericClusterEntity(**value), what `cluster list` builds from each value:
// name, org, entityType, entity and owner required; org and owner closed {name, id}.
func cliGeneric(v any) (map[string]any, error) {
	m, err := cliJSONObj(v, "entity list value")
	if err != nil {
		return nil, err
	}
	if err := cliNeed(m, "GenericClusterEntity", "name", "org", "entityType", "entity", "owner"); err != nil {
		return nil, err
	}
	for _, k := range []string{"org", "owner"} {
		if _, err := cliRef(m[k], "GenericClusterEntity."+k); err != nil {
			return nil, err
		}
	}
	switch kind := cliStr(m, "entity.kind"); kind {
	case "native", "TKG+", "TKGm":
		et, _ := m["entityType"].(string)
		return m, cliNativeByType(et, m["entity"])
	default:
		return nil, fmt.Errorf("GenericClusterEntity: Invalid cluster kind %q", kind)
	}
}

// cliOvdc is Ovdc(**body): k8s_runtime required, and no key the dataclass lacks.
func cliOvdc(v any) (map[string]any, error) {
	m, err := cliJSONObj(v, "ovdc")
	if err != nil {
		return nil, err
	}
	if err := cliOnly(m, "Ovdc", "k8s_runtime", "ovdc_name", "ovdc_id", "org_name", "remove_cp_from_vms_on_disable"); err != nil {
		return nil, err
	}
	return m, cliNeed(m, "Ovdc", "k8s_runtime")
}

func cliRuntimes(m map[string]any) []string {
	var out []string
	list, _ := m["k8s_runtime"].([]any)
	for _, r := range list {
		s, _ := r.(string)
		out = append(out, s)
	}
	return out
}

// cliInt is Python's int() of a JSON number.
func cliInt(m map[string]any, k string) (int, error) {
	f, ok := m[k].(float64)
	if !ok {
		return 0, fmt.Errorf("int(%s): %v is not a number", k, m[k])
	}
	return int(f), nil
}

func cliValues(m map[string]any) []any {
	v, _ := m["values"].([]any)
	return v
}

// ---- login and the prefix of every cse command ----

// Login is `vcd login HOST ORG USER -p PASSWORD -i -w [-V version]` (cse-rde.md §2.1): it
// returns what vcd-cli prints.
func (c *vcdCLI) Login(org, user, password, version string) (string, error) {
	c.script = nil
	c.org, c.user, c.token, c.apiVersion, c.vdc, c.cseVersion = "", "", "", "", "", ""
	if version == "" { // Client._negotiate_api_version
		code, _, b := c.do(cliCall{method: http.MethodGet, href: c.api("versions"), accept: cliXML})
		if code != http.StatusOK {
			return "", errors.New("Unable to get supported API versions.")
		}
		var vs struct {
			XMLName xml.Name `xml:"http://www.vmware.com/vcloud/versions SupportedVersions"`
			Infos   []struct {
				Version string `xml:"http://www.vmware.com/vcloud/versions Version"`
			} `xml:"http://www.vmware.com/vcloud/versions VersionInfo"`
		}
		if err := xml.Unmarshal(b, &vs); err != nil {
			return "", fmt.Errorf("GET /api/versions: %v", err)
		}
		var listed []string
		for _, i := range vs.Infos {
			listed = append(listed, i.Version)
		}
		for i := len(listed) - 1; i >= 0 && version == ""; i-- {
			if slices.Contains(cliPyvcloudVersions, listed[i]) {
				version = listed[i]
			}
		}
		if version == "" {
			return "", fmt.Errorf("Unable to find a supported API version in available server versions: %v", listed)
		}
	}
	path := "sessions"
	if strings.EqualFold(org, "system") {
		path += "/provider"
	}
	code, h, b := c.do(cliCall{method: http.MethodPost, href: c.cloudapi(path), accept: cliAccept(cliJSON, version), auth: cliBasic, basic: user + "@" + org + ":" + password})
	if code != http.StatusOK { // pyvcloud takes only 200
		return "", fmt.Errorf("login %s@%s: %d: %.200s", user, org, code, b)
	}
	c.token = h.Get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
	if c.token == "" {
		return "", errors.New("login: no X-VMWARE-VCLOUD-ACCESS-TOKEN: KeyError")
	}
	if err := c.Session(version); err != nil {
		return "", err
	}
	orgHref, err := c.wellKnown("application/vnd.vmware.vcloud.org+xml")
	if err != nil {
		return "", err
	}
	var logged cliOrgDoc
	if err := c.getXML(orgHref, version, &logged); err != nil {
		return "", err
	}
	vdc := ""
	if logged.Name != "System" { // get_resource_link_from_query_object(type='vdc')
		links, err := c.vdcLinks(logged, version)
		if err != nil {
			return "", err
		}
		if len(links) > 0 {
			vdc = links[0].Name
		}
	}
	c.org, c.user, c.apiVersion, c.vdc = org, user, version, vdc
	return fmt.Sprintf("%s logged in, org: '%s', vdc: '%s'", user, org, vdc), nil
}

// vdcLinks is Client.get_resource_link_from_query_object(org, records, 'vdc'): the first
// records link whose href has "vdc" in it, GET as given (unquoted), every page.
func (c *vcdCLI) vdcLinks(o cliOrgDoc, version string) ([]cliLink, error) {
	for _, l := range o.Links {
		if l.Rel != "down" || l.Type != cliRecordsMIME || !strings.Contains(strings.ToLower(l.HREF), "vdc") {
			continue
		}
		next, err := url.PathUnescape(l.HREF)
		if err != nil {
			return nil, err
		}
		var out []cliLink
		for pages := 0; next != ""; pages++ {
			if pages == cliMaxPages {
				return nil, fmt.Errorf("%s: still a next page after %d", l.HREF, pages)
			}
			var rs cliRecords
			if err := c.getXML(next, version, &rs); err != nil {
				return nil, err
			}
			var recs []map[string]string
			recs, next = rs.split()
			for _, r := range recs {
				out = append(out, cliLink{Name: r["name"], HREF: r["href"]})
			}
		}
		return out, nil
	}
	return nil, errors.New("no VDC records link in the Org: pyvcloud returns None and login fails")
}

// Session is Client.rehydrate_from_token at a version: GET /api/session, the Session read
// as pyvcloud reads it.
func (c *vcdCLI) Session(version string) error {
	if c.token == "" {
		return errors.New("Can't restore session, please login again.")
	}
	var s cliSessionDoc
	if err := c.getXML(c.api("session"), version, &s); err != nil {
		return err
	}
	for _, wk := range cliWellKnown {
		if _, err := cliFindLink(s.Links, wk[0], wk[1]); err != nil {
			return err
		}
	}
	c.sysadmin, c.links = strings.EqualFold(s.Org, "system"), s.Links
	return nil
}

// prefix is what a `vcd cse` command does before its own work (cse-rde.md §2.2): the
// command filter restores the session at the profile's version and, the first time, asks
// CSE's server which API version to speak (GET /api/cse/system) and restores it at that
// one; most commands then restore it once more themselves.
func (c *vcdCLI) prefix(command string, restoreAgain bool) error {
	c.script = nil
	if err := c.Session(c.apiVersion); err != nil {
		return err
	}
	if c.cseVersion == "" {
		saved := c.cseVersion
		c.cseVersion = c.apiVersion
		info, err := c.cse(http.MethodGet, c.api("cse/system"), nil)
		c.cseVersion = saved
		if err != nil {
			return fmt.Errorf("%s: the client takes CSE's server as not running and allows TKG-S commands only: %w", command, err)
		}
		m, err := cliJSONObj(info, "system info")
		if err != nil {
			return err
		}
		c.cseVersion, err = cliNegotiate(m)
		if err != nil {
			return err
		}
	}
	if err := c.Session(c.cseVersion); err != nil {
		return err
	}
	if restoreAgain {
		return c.Session(c.cseVersion)
	}
	return nil
}

// negotiateCSE is client/utils.py _override_client: the highest version common to CSE's
// server and client (≥ 35 unless legacy), or the server's cse_server_api_version for a
// server older than 3.1.
func cliNegotiate(info map[string]any) (string, error) {
	legacy, hasLegacy := info["cse_server_running_in_legacy_mode"]
	supported, hasSupported := info["cse_server_supported_api_versions"].([]any)
	if !hasLegacy || !hasSupported {
		v, _ := info["cse_server_api_version"].(string)
		if v == "" {
			return "", errors.New("system info: no cse_server_api_version")
		}
		return v, nil
	}
	best := ""
	for _, sv := range supported {
		s, _ := sv.(string)
		if !slices.Contains(cliCSEVersions, s) {
			continue
		}
		f, _ := strconv.ParseFloat(s, 64)
		if (legacy == true) != (f < 35) {
			continue
		}
		if b, _ := strconv.ParseFloat(best, 64); best == "" || f > b {
			best = s
		}
	}
	if best == "" {
		return "", fmt.Errorf("system info: no API version in common with the client: max() arg is an empty sequence (%v)", supported)
	}
	return best, nil
}

// Script returns the requests of the last command.
func (c *vcdCLI) Script() []cliRequest { return c.script }

// SystemInfo is `vcd cse system info`: every key of GET /api/cse/system.
func (c *vcdCLI) SystemInfo() (map[string]any, error) {
	if err := c.prefix("system info", true); err != nil {
		return nil, err
	}
	v, err := c.cse(http.MethodGet, c.api("cse/system"), nil)
	if err != nil {
		return nil, err
	}
	return cliJSONObj(v, "system info")
}

// ---- the VCD lookups of cluster commands (cse-rde.md §2.3) ----

// EntityTypes is DefSchemaService.get_latest_registered_schema_version: entity types of
// nss nativeCluster, page by page until a page is empty; the highest version, which must
// be one CSE's client has a model for.
func (c *vcdCLI) EntityTypes() (string, error) {
	best := ""
	for page := 1; ; page++ {
		if page > cliMaxPages {
			return "", fmt.Errorf("entityTypes: page %d is still not empty", page)
		}
		m, err := c.cloud(fmt.Sprintf("entityTypes?filter=nss==nativeCluster&page=%d", page))
		if err != nil {
			return "", err
		}
		vals := cliValues(m)
		if len(vals) == 0 {
			break
		}
		for i, v := range vals {
			t, err := cliJSONObj(v, "entity type")
			if err != nil {
				return "", err
			}
			if err := cliNeed(t, fmt.Sprintf("DefEntityType (page %d value %d)", page, i), "name", "description", "schema", "interfaces", "version"); err != nil {
				return "", err
			}
			if v := cliStr(t, "version"); best == "" || cliSemverLess(best, v) {
				best = v
			}
		}
	}
	if best != "1.0.0" && best != "2.1.0" {
		return "", fmt.Errorf("the highest nativeCluster entity type is %q: the client has no model for it (KeyError)", best)
	}
	return best, nil
}

func cliSemverLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// deCluster is DECluster.__init__: DEClusterNative's RDE version, DEClusterTKGS's
// /api/versions (for alpha versions), its own RDE version.
func (c *vcdCLI) deCluster() (string, error) {
	if _, err := c.EntityTypes(); err != nil {
		return "", err
	}
	if code, _, _ := c.do(cliCall{method: http.MethodGet, href: c.api("versions"), accept: cliAccept(cliXML, c.cseVersion)}); code != http.StatusOK {
		return "", errors.New("Unable to get supported API versions.")
	}
	return c.EntityTypes()
}

// pyQuote is Python's urllib.parse.quote (safe "/").
func cliQuote(s string) string {
	var b strings.Builder
	for _, ch := range []byte(s) {
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', strings.IndexByte("_.-~/", ch) >= 0:
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// filterString is core_utils.construct_filter_string: key==quote(escaped value), joined by ;.
func cliFilter(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		v := strings.NewReplacer("(", `\(`, ")", `\)`, ";", `\;`, ",", `\,`).Replace(kv[i+1])
		parts = append(parts, kv[i]+"=="+cliQuote(v))
	}
	return strings.Join(parts, ";")
}

// nativeByName is DefEntityService.get_native_rde_by_name_and_rde_version: the first entity
// of the RDE version's type with that name (and org, when given); nil when none.
func (c *vcdCLI) nativeByName(rde, name, org string) (map[string]any, error) {
	q := "filter=" + cliFilter(cliOrgKey(rde), org, "name", name) + "&page=1&sortAsc=name"
	m, err := c.cloud("entities/types/cse/nativeCluster/" + rde + "?" + q)
	if err != nil {
		return nil, err
	}
	vals := cliValues(m)
	if len(vals) == 0 {
		return nil, nil
	}
	return cliDefEntity(vals[0])
}

// orgByName is pyvcloud's Client.get_org_by_name: the org list, then the org named.
func (c *vcdCLI) orgByName(name string) (cliOrgDoc, error) {
	var o cliOrgDoc
	href, err := c.wellKnown("application/vnd.vmware.vcloud.orgList+xml")
	if err != nil {
		return o, err
	}
	var list cliOrgList
	if err := c.getXML(href, c.cseVersion, &list); err != nil {
		return o, err
	}
	for _, l := range list.Orgs {
		if strings.EqualFold(l.Name, name) {
			return o, c.getXML(l.HREF, c.cseVersion, &o)
		}
	}
	return o, fmt.Errorf("org '%s' not found", name)
}

// tkgByName is DEClusterTKGS.get_tkg_s_clusters_by_name: the org's uuid as tenant context,
// then TKG-S clusters by name through VCD's own TKG type. A 401 or 403 means no TKG
// rights and is tolerated; any other error ends the command.
func (c *vcdCLI) tkgByName(name, org string) error {
	o, err := c.orgByName(org)
	if err != nil {
		return err
	}
	uuid := o.HREF[strings.LastIndex(o.HREF, "/")+1:]
	q := url.Values{"filter": {cliFilter("entity.metadata.name", name)}}.Encode()
	code, _, b := c.do(cliCall{method: http.MethodGet, href: c.cloudapi("entities/types/vmware/tkgcluster/1.0.0?" + q),
		accept: cliAccept(cliJSON, c.cseVersion), auth: cliBearer, tenant: uuid, ctype: cliJSON})
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nil
	case !cli2xx(code):
		return fmt.Errorf("TKG-S lookup: %d: %.200s", code, b)
	}
	var page map[string]any
	if err := json.Unmarshal(b, &page); err != nil {
		return fmt.Errorf("TKG-S lookup: %v", err)
	}
	for _, k := range []string{"page", "pageSize", "resultTotal", "pageCount"} {
		if _, err := cliInt(page, k); err != nil {
			return fmt.Errorf("TKG-S lookup: %w", err)
		}
	}
	if len(cliValues(page)) != 0 {
		return fmt.Errorf("TKG-S lookup found %d TKG clusters named %s", len(cliValues(page)), name)
	}
	return nil
}

// byName is DECluster._get_tkg_s_and_native_clusters_by_name: the native cluster of that
// name in the org, then the TKG-S ones; none is "not found".
func (c *vcdCLI) byName(rde, name, org string) (map[string]any, error) {
	ent, err := c.nativeByName(rde, name, org)
	if err != nil {
		return nil, err
	}
	if err := c.tkgByName(name, org); err != nil {
		return nil, err
	}
	if ent == nil {
		return nil, fmt.Errorf("Cluster '%s' not found.", name)
	}
	return ent, nil
}

// orgInUse is the org a cluster command names: the profile's for a tenant; a provider
// names it (--org) or none.
func (c *vcdCLI) orgInUse(org string) string {
	if org == "" && !c.sysadmin {
		return c.org
	}
	return org
}

// find runs the prefix, DECluster and the by-name lookup of a cluster command.
func (c *vcdCLI) find(command, name, org string) (rde string, ent map[string]any, err error) {
	if err := c.prefix(command, true); err != nil {
		return "", nil, err
	}
	if rde, err = c.deCluster(); err != nil {
		return "", nil, err
	}
	ent, err = c.byName(rde, name, c.orgInUse(org))
	return rde, ent, err
}

// ---- cluster commands (cse-rde.md §2.4) ----

// cliRow is a row of `vcd cse cluster list`.
type cliRow struct{ Name, Org, Owner, VDC, Runtime, Version, Status string }

// ListClusters is `vcd cse cluster list [-o org]`: the clusters of every type the client
// knows, by VCD's k8s interface, 25 a page while page*25 < resultTotal.
func (c *vcdCLI) ListClusters(org string) ([]cliRow, error) {
	if err := c.prefix("cluster list", true); err != nil {
		return nil, err
	}
	rde, err := c.deCluster()
	if err != nil {
		return nil, err
	}
	types := "(entityType==urn:vcloud:type:cse:nativeCluster:1.0.0,entityType==urn:vcloud:type:cse:nativeCluster:2.0.0," +
		"entityType==urn:vcloud:type:cse:nativeCluster:2.1.0,entityType==urn:vcloud:type:vmware:tkgcluster:1.0.0)"
	filter := types
	if f := cliFilter(cliOrgKey(rde), c.orgInUse(org)); f != "" {
		filter = f + ";" + types
	}
	var rows []cliRow
	for page := 1; ; page++ {
		if page > cliMaxPages {
			return nil, fmt.Errorf("cluster list: still more at page %d", page)
		}
		m, err := c.cloud(fmt.Sprintf("entities/interfaces/vmware/k8s/1.0.0?filter=%s&page=%d&pageSize=%d", filter, page, cliPageSize))
		if err != nil {
			return nil, err
		}
		total, err := cliInt(m, "resultTotal")
		if err != nil {
			return nil, err
		}
		if _, err := cliInt(m, "pageCount"); err != nil {
			return nil, err
		}
		for _, v := range cliValues(m) {
			g, err := cliGeneric(v)
			if err != nil {
				return nil, err
			}
			// The VDC is metadata.ovdc_name in a 1.0 entity (hasattr), else virtualDataCenterName.
			vdc := cliStr(g, "entity.metadata.virtualDataCenterName")
			if _, ok := cliObj(g, "entity.metadata")["ovdc_name"]; ok {
				vdc = cliStr(g, "entity.metadata.ovdc_name")
			}
			rows = append(rows, cliRow{Name: cliStr(g, "name"), Org: cliStr(g, "org.name"), Owner: cliStr(g, "owner.name"),
				VDC: vdc, Runtime: cliStr(g, "entity.kind"),
				Version: cliStr(g, "entity.status.kubernetes"), Status: cliStr(g, "entity.status.phase")})
		}
		if page*cliPageSize >= total {
			return rows, nil
		}
	}
}

// Info is `vcd cse cluster info NAME`: the entity (from VCD) the client dumps as YAML.
func (c *vcdCLI) Info(name string) (map[string]any, error) {
	_, ent, err := c.find("cluster info", name, "")
	if err != nil {
		return nil, err
	}
	return cliObj(ent, "entity"), nil
}

// FindCluster is the by-name lookup alone: the cluster's defined entity as the client
// finds it (what `cluster info` and every command on a cluster start with).
func (c *vcdCLI) FindCluster(name string) (map[string]any, error) {
	_, ent, err := c.find("cluster info", name, "")
	return ent, err
}

// Config is `vcd cse cluster config NAME`: the kubeconfig, CSE's message.
func (c *vcdCLI) Config(name string) (string, error) {
	_, ent, err := c.find("cluster config", name, "")
	if err != nil {
		return "", err
	}
	v, err := c.cse(http.MethodGet, c.api("cse/3.0/cluster/"+cliStr(ent, "id")+"/config"), nil)
	if err != nil {
		return "", err
	}
	m, err := cliJSONObj(v, "config")
	if err != nil {
		return "", err
	}
	msg, ok := m["message"].(string)
	if !ok {
		return "", fmt.Errorf("config: message is %T", m["message"])
	}
	return msg, nil
}

// UpgradePlan is `vcd cse cluster upgrade-plan NAME`: the templates it may move to, with
// the keys the client prints.
func (c *vcdCLI) UpgradePlan(name string) ([]map[string]any, error) {
	_, ent, err := c.find("cluster upgrade-plan", name, "")
	if err != nil {
		return nil, err
	}
	v, err := c.cse(http.MethodGet, c.api("cse/3.0/cluster/"+cliStr(ent, "id")+"/upgrade-plan"), nil)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("upgrade-plan: %T, not a list", v)
	}
	var out []map[string]any
	for i, t := range list {
		m, err := cliJSONObj(t, "upgrade-plan entry")
		if err != nil {
			return nil, err
		}
		if err := cliNeed(m, fmt.Sprintf("upgrade-plan[%d]", i), "name", "revision", "kubernetes_version", "docker_version", "cni", "cni_version"); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// taskID is construct_task_console_message: the last path segment of status.task_href
// (taskHref in a 2.x entity), which the client tells its user to `vcd task wait`.
func cliTaskOf(ent map[string]any) (string, error) {
	key := "entity.status.taskHref"
	if et := cliStr(ent, "entityType"); strings.HasSuffix(et, ":1.0.0") {
		key = "entity.status.task_href"
	}
	href := cliStr(ent, key)
	if href == "" {
		return "", fmt.Errorf("no %s: 'NoneType' object has no attribute 'split'", key)
	}
	return href[strings.LastIndex(href, "/")+1:], nil
}

// Apply is `vcd cse cluster apply FILE`: a cluster of that name (found by name alone, in
// any org) is changed with PUT, else created with POST; the spec goes as the YAML read. It
// returns the task id the client prints.
func (c *vcdCLI) Apply(spec map[string]any) (string, error) {
	if err := c.prefix("cluster apply", false); err != nil {
		return "", err
	}
	rde, err := c.EntityTypes() // DEClusterNative
	if err != nil {
		return "", err
	}
	// _get_cluster_name_from_cluster_apply_specification: metadata.cluster_name up to RDE
	// 1.0.0, metadata.name after.
	name := cliStr(spec, "metadata.name")
	if cliV1(rde) {
		name = cliStr(spec, "metadata.cluster_name")
	}
	if name == "" {
		return "", errors.New("Cluster name missing in the cluster apply specification")
	}
	cur, err := c.nativeByName(rde, name, "")
	if err != nil {
		return "", err
	}
	var v any
	if cur == nil {
		v, err = c.cse(http.MethodPost, c.api("cse/3.0/clusters"), spec)
	} else {
		v, err = c.cse(http.MethodPut, c.api("cse/3.0/cluster/"+cliStr(cur, "id")), spec)
	}
	if err != nil {
		return "", err
	}
	ent, err := cliDefEntity(v)
	if err != nil {
		return "", err
	}
	return cliTaskOf(ent)
}

// Delete is `vcd cse cluster delete NAME --yes`; it returns the task id the client prints.
func (c *vcdCLI) Delete(name string) (string, error) {
	_, ent, err := c.find("cluster delete", name, "")
	if err != nil {
		return "", err
	}
	v, err := c.cse(http.MethodDelete, c.api("cse/3.0/cluster/"+cliStr(ent, "id")), nil)
	if err != nil {
		return "", err
	}
	if ent, err = cliDefEntity(v); err != nil {
		return "", err
	}
	return cliTaskOf(ent)
}

// cliACL is an entry of a cluster's ACL as the client keeps it.
type cliACL struct{ AccessLevelID, MemberID, Username string }

func (a cliACL) update() map[string]any {
	return map[string]any{"accessLevelId": a.AccessLevelID, "memberId": a.MemberID, "username": a.Username}
}

// aclPages is NativeClusterApi.list_native_cluster_acl_entries: pages of 25 until one is
// empty; ClusterAclEntry ignores unknown keys.
func (c *vcdCLI) aclPages(id string) ([]cliACL, error) {
	var out []cliACL
	for page := 1; ; page++ {
		if page > cliMaxPages {
			return nil, fmt.Errorf("acl: page %d is still not empty", page)
		}
		m, err := c.aclPage(id, page, cliPageSize)
		if err != nil {
			return nil, err
		}
		if len(cliValues(m)) == 0 {
			return out, nil
		}
		for _, v := range cliValues(m) {
			e, err := cliJSONObj(v, "acl entry")
			if err != nil {
				return nil, err
			}
			out = append(out, cliACL{AccessLevelID: cliStr(e, "accessLevelId"), MemberID: cliStr(e, "memberId"), Username: cliStr(e, "username")})
		}
	}
}

func (c *vcdCLI) aclPage(id string, page, size int) (map[string]any, error) {
	v, err := c.cse(http.MethodGet, c.api(fmt.Sprintf("cse/3.0/cluster/%s/acl?page=%d&pageSize=%d", id, page, size)), nil)
	if err != nil {
		return nil, err
	}
	m, err := cliJSONObj(v, "acl page")
	if err != nil {
		return nil, err
	}
	return m, cliNeed(m, "acl page", "values", "resultTotal")
}

// userIDs is client/utils.py create_user_name_to_id_dict: the org's users through the
// `user` typed query (found in the query list), each id made from the last segment of its
// record's href; the pages are read only until every name is found.
func (c *vcdCLI) userIDs(orgHref string, names []string) (map[string]string, error) {
	var o cliOrgDoc
	if err := c.getXML(orgHref, c.cseVersion, &o); err != nil { // Org.reload
		return nil, err
	}
	qlHref, err := c.wellKnown("application/vnd.vmware.vcloud.query.queryList+xml")
	if err != nil {
		return nil, err
	}
	var ql cliQueryList
	if err := c.getXML(qlHref, c.cseVersion, &ql); err != nil {
		return nil, err
	}
	qtype := "user"
	if c.sysadmin {
		return nil, errors.New("the provider's share (adminUser with an org filter) is not played here")
	}
	href := ""
	for _, l := range ql.Links {
		if l.Type == cliRecordsMIME && l.Name == qtype {
			href = l.HREF
		}
	}
	if href == "" {
		return nil, errors.New("Unable to execute query.")
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]string{}
	next := href + "&page=1"
	for pages := 0; next != "" && len(want) > 0; pages++ {
		if pages == cliMaxPages {
			return nil, errors.New("user query: too many pages")
		}
		var rs cliRecords
		if err := c.getXML(next, c.cseVersion, &rs); err != nil {
			return nil, err
		}
		var recs []map[string]string
		recs, next = rs.split()
		for _, r := range recs {
			if want[r["name"]] {
				out[r["name"]] = cliUserPrefix + r["href"][strings.LastIndex(r["href"], "/")+1:]
				delete(want, r["name"])
			}
			if len(want) == 0 {
				break
			}
		}
	}
	if len(want) > 0 {
		var missing []string
		for n := range want {
			missing = append(missing, n)
		}
		slices.Sort(missing)
		return nil, fmt.Errorf("No user ids found for: %v", missing)
	}
	return out, nil
}

// Share is `vcd cse cluster share --name NAME --acl LEVEL USER...` as a tenant.
func (c *vcdCLI) Share(name, level string, users ...string) error {
	rde, _, err := c.find("cluster share", name, "")
	if err != nil {
		return err
	}
	org := c.orgInUse("")
	ent, err := c.nativeByName(rde, name, org) // DEClusterNative.get_cluster_id_by_name
	if err != nil {
		return err
	}
	if ent == nil {
		return fmt.Errorf("Cluster '%s' not found.", name)
	}
	o, err := c.orgByName(org)
	if err != nil {
		return err
	}
	ids, err := c.userIDs(o.HREF, users)
	if err != nil {
		return err
	}
	var entries []map[string]any
	for _, u := range users {
		entries = append(entries, cliACL{AccessLevelID: level, MemberID: ids[u], Username: u}.update())
	}
	cur, err := c.aclPages(cliStr(ent, "id"))
	if err != nil {
		return err
	}
	for _, a := range cur {
		if _, named := ids[a.Username]; named {
			if a.AccessLevelID == cliFullControl && level != cliFullControl || a.AccessLevelID == cliReadWrite && level == cliReadOnly {
				return fmt.Errorf("%s currently has higher access level: %s", a.Username, a.AccessLevelID)
			}
			continue
		}
		entries = append(entries, a.update())
	}
	_, err = c.cse(http.MethodPut, c.api("cse/3.0/cluster/"+cliStr(ent, "id")+"/acl"), map[string]any{"accessSetting": entries})
	return err
}

// ShareList is `vcd cse cluster share-list --name NAME -A`: the entries, 10 a page, while
// fewer than resultTotal were shown.
func (c *vcdCLI) ShareList(name string) ([]map[string]any, error) {
	rde, _, err := c.find("cluster share-list", name, "")
	if err != nil {
		return nil, err
	}
	ent, err := c.nativeByName(rde, name, c.orgInUse(""))
	if err != nil {
		return nil, err
	}
	if ent == nil {
		return nil, fmt.Errorf("Cluster '%s' not found.", name)
	}
	var out []map[string]any
	for page := 1; page <= cliMaxPages; page++ {
		m, err := c.aclPage(cliStr(ent, "id"), page, cliCLIPage)
		if err != nil {
			return nil, err
		}
		total, err := cliInt(m, "resultTotal")
		if err != nil {
			return nil, err
		}
		vals := cliValues(m)
		if len(vals) == 0 {
			return out, nil
		}
		for _, v := range vals {
			e, err := cliJSONObj(v, "acl entry")
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if len(out) >= total {
			return out, nil
		}
	}
	return nil, errors.New("share-list: too many pages")
}

// Unshare is `vcd cse cluster unshare --name NAME USER...`.
func (c *vcdCLI) Unshare(name string, users ...string) error {
	rde, _, err := c.find("cluster unshare", name, "")
	if err != nil {
		return err
	}
	ent, err := c.nativeByName(rde, name, c.orgInUse(""))
	if err != nil {
		return err
	}
	if ent == nil {
		return fmt.Errorf("Cluster '%s' not found.", name)
	}
	cur, err := c.aclPages(cliStr(ent, "id"))
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, u := range users {
		gone[u] = true
	}
	entries := []map[string]any{}
	for _, a := range cur {
		if gone[a.Username] {
			delete(gone, a.Username)
			continue
		}
		entries = append(entries, a.update())
	}
	if len(gone) > 0 {
		return fmt.Errorf("Cluster %s is not currently shared with: %v", name, gone)
	}
	_, err = c.cse(http.MethodPut, c.api("cse/3.0/cluster/"+cliStr(ent, "id")+"/acl"), map[string]any{"accessSetting": entries})
	return err
}

// ---- tasks (cse-rde.md §2.5) ----

// TaskWait is `vcd task wait ID`: the session restored at the profile's version, the task
// read, then polled at its href until it ends. It returns the task as it ended and what
// vcd-cli prints.
func (c *vcdCLI) TaskWait(id string) (cliTask, string, error) {
	c.script = nil
	if err := c.Session(c.apiVersion); err != nil {
		return cliTask{}, "", err
	}
	var t cliTask
	if err := c.getXML(c.api("task/"+id), c.apiVersion, &t); err != nil {
		return t, "", err
	}
	return c.waitTask(t, c.apiVersion)
}

// waitTask is _TaskMonitor.wait_for_status as vcd-cli's stdout runs it: GET the task's
// href until its status is success, error, aborted or canceled.
func (c *vcdCLI) waitTask(t cliTask, version string) (cliTask, string, error) {
	href := t.HREF
	if href == "" {
		return t, "", errors.New("the task has no href")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := c.getXML(href, version, &t); err != nil {
			return t, "", err
		}
		switch strings.ToLower(t.Status) {
		case "success", "aborted", "canceled":
			return t, fmt.Sprintf("task: %s, %s, result: %s", t.ID[strings.LastIndex(t.ID, ":")+1:], t.Operation, t.Status), nil
		case "error":
			if t.Error == nil {
				return t, "", errors.New("task error without an Error element: AttributeError")
			}
			return t, fmt.Sprintf("task: %s, result: %s, message: %s", t.ID[strings.LastIndex(t.ID, ":")+1:], t.Status, t.Error.Message), nil
		}
		if time.Now().After(deadline) {
			return t, "", fmt.Errorf("task %s still %s", t.ID, t.Status)
		}
		time.Sleep(c.poll)
	}
}

// ---- org VDCs ----

// adminHref is pyvcloud's get_admin_href.
func cliAdminHref(href string) string {
	switch {
	case strings.Contains(href, "/api/admin/extension/"):
		return strings.ReplaceAll(href, "/api/admin/extension", "/api/admin/")
	case strings.Contains(href, "/api/admin/"):
		return href
	}
	return strings.ReplaceAll(href, "/api/", "/api/admin/")
}

// OvdcList is `vcd cse ovdc list -A`: the org VDCs, 10 a page, following nextPageUri.
func (c *vcdCLI) OvdcList() ([]map[string]any, error) {
	if err := c.prefix("ovdc list", true); err != nil {
		return nil, err
	}
	var out []map[string]any
	next := c.api("cse/3.0/orgvdcs?pageSize=10")
	for pages := 0; next != ""; pages++ {
		if pages == cliMaxPages {
			return nil, errors.New("orgvdcs: too many pages")
		}
		v, err := c.cse(http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		m, err := cliJSONObj(v, "orgvdcs page")
		if err != nil {
			return nil, err
		}
		if err := cliNeed(m, "orgvdcs page", "values"); err != nil {
			return nil, err
		}
		for _, e := range cliValues(m) {
			row, err := cliJSONObj(e, "orgvdcs entry")
			if err != nil {
				return nil, err
			}
			if err := cliNeed(row, "orgvdcs entry", "ovdc_name", "ovdc_id", "k8s_runtime"); err != nil {
				return nil, err
			}
			out = append(out, row)
		}
		next, _ = m["nextPageUri"].(string)
	}
	return out, nil
}

// OvdcUpdate is `vcd cse ovdc enable|disable VDC -o ORG --native` (a provider's): the VDC
// found through the org's records query and read in its admin view for its id, CSE's view
// of it read and written back with native added or removed, and the task_href answered
// followed as a VCD task until it ends. It returns what vcd-cli prints.
func (c *vcdCLI) OvdcUpdate(vdcName, org string, enable bool) (string, error) {
	command := map[bool]string{true: "ovdc enable", false: "ovdc disable"}[enable]
	if err := c.prefix(command, true); err != nil {
		return "", err
	}
	if !c.sysadmin {
		return "", errors.New("Insufficient permission to perform operation.")
	}
	if org == "" {
		org = c.org
	}
	o, err := c.orgByName(org)
	if err != nil {
		return "", err
	}
	links, err := c.vdcLinks(o, c.cseVersion)
	if err != nil {
		return "", err
	}
	vdcHref := ""
	for _, l := range links {
		if l.Name == vdcName {
			vdcHref = cliAdminHref(l.HREF)
		}
	}
	if vdcHref == "" {
		return "", fmt.Errorf("VDC '%s' not found in ORG '%s'", vdcName, org)
	}
	var vdc struct {
		ID string `xml:"id,attr"`
	}
	if err := c.getXML(vdcHref, c.cseVersion, &vdc); err != nil {
		return "", err
	}
	if vdc.ID == "" {
		return "", errors.New("the admin VDC has no id")
	}
	id := vdc.ID[strings.LastIndex(vdc.ID, ":")+1:]
	v, err := c.cse(http.MethodGet, c.api("cse/3.0/ovdc/"+id), nil)
	if err != nil {
		return "", err
	}
	cur, err := cliOvdc(v)
	if err != nil {
		return "", err
	}
	rts := cliRuntimes(cur)
	switch has := slices.Contains(rts, "native"); {
	case enable && has:
		return "", fmt.Errorf("OVDC %s already enabled for native", vdcName)
	case !enable && !has:
		return "", fmt.Errorf("OVDC %s already disabled for native", vdcName)
	case enable:
		rts = append(rts, "native")
	default:
		rts = slices.DeleteFunc(rts, func(r string) bool { return r == "native" })
	}
	if rts == nil {
		rts = []string{}
	}
	body := map[string]any{"k8s_runtime": rts, "ovdc_name": nil, "ovdc_id": nil, "org_name": org, "remove_cp_from_vms_on_disable": false}
	v, err = c.cse(http.MethodPut, c.api("cse/3.0/ovdc/"+id), body)
	if err != nil {
		return "", err
	}
	res, err := cliJSONObj(v, "ovdc update")
	if err != nil {
		return "", err
	}
	href, ok := res["task_href"].(string)
	if !ok {
		return "", fmt.Errorf("ovdc update answered %v: no task_href", res)
	}
	var t cliTask
	if err := c.getXML(href, c.cseVersion, &t); err != nil {
		return "", err
	}
	_, out, err := c.waitTask(t, c.cseVersion)
	return out, err
}
