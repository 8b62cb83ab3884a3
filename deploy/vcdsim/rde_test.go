package vcdsim_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

// cloud is a cloudapi caller with a user's session, speaking as CSE's client does.
type cloud struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

var insecure = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func login(t *testing.T, base, user, pass, org string) *cloud {
	t.Helper()
	return &cloud{t: t, base: base, token: client(t, base, user, pass, org).Client.VCDToken, hc: insecure}
}

// do sends a request; body is a string sent as is, or a value sent as JSON; hdr are
// header name and value pairs.
func (c *cloud) do(method, path string, body any, hdr ...string) (int, http.Header, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json;version=36.0")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// must sends a request and fails the test unless it gets the status.
func (c *cloud) must(want int, method, path string, body any, hdr ...string) []byte {
	c.t.Helper()
	code, _, b := c.do(method, path, body, hdr...)
	if code != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

type page struct {
	ResultTotal  int               `json:"resultTotal"`
	PageCount    int               `json:"pageCount"`
	Page         int               `json:"page"`
	PageSize     int               `json:"pageSize"`
	Associations any               `json:"associations"`
	Values       []json.RawMessage `json:"values"`
}

type entity struct {
	ID         string         `json:"id"`
	EntityType string         `json:"entityType"`
	Name       string         `json:"name"`
	ExternalID *string        `json:"externalId"`
	Entity     map[string]any `json:"entity"`
	State      string         `json:"state"`
	Owner      struct{ Name, ID string }
	Org        struct{ Name, ID string }
	Message    *string `json:"message"`
}

// entityNames lists the names of a page of entities.
func entityNames(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, v := range decode[page](t, b).Values {
		out = append(out, decode[entity](t, v).Name)
	}
	return out
}

// testSchema is a small schema in CSE's style: required properties, a $ref'd definition.
var testSchema = map[string]any{
	"type": "object", "required": []any{"kind", "metadata", "spec"},
	"definitions": map[string]any{"node": map[string]any{"type": "object", "required": []any{"name"}}},
	"properties": map[string]any{
		"metadata": map[string]any{"type": "object", "required": []any{"name", "orgName"}},
		"status": map[string]any{"type": "object", "properties": map[string]any{"nodes": map[string]any{"type": "object",
			"properties": map[string]any{"workers": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/definitions/node"}}}}}},
	},
}

const nativeType = "urn:vcloud:type:cse:nativeCluster:2.1.0"

// registerType registers cse:nativeCluster at a version as CSE does, and publishes its
// bundle to the named orgs.
func registerType(t *testing.T, admin *cloud, version string, publishTo ...string) {
	t.Helper()
	admin.must(http.StatusCreated, http.MethodPost, "/cloudapi/1.0.0/entityTypes", map[string]any{
		"name": "nativeClusterEntityType", "description": "", "schema": testSchema, "interfaces": []string{"urn:vcloud:interface:vmware:k8s:1.0.0"},
		"version": version, "id": "urn:vcloud:type:cse:nativeCluster:" + version, "externalId": nil, "readonly": false, "vendor": "cse",
		"nss": "nativeCluster"})
	publish(t, admin, publishTo...)
}

func publish(t *testing.T, admin *cloud, orgs ...string) {
	t.Helper()
	if len(orgs) == 0 {
		return
	}
	b := admin.must(200, http.MethodGet, "/cloudapi/1.0.0/rightsBundles?filter=name==cse%3AnativeCluster%20Entitlement", nil)
	p := decode[page](t, b)
	if len(p.Values) != 1 {
		t.Fatalf("bundles named cse:nativeCluster Entitlement: %s", b)
	}
	id := decode[struct{ ID string }](t, p.Values[0]).ID
	var vals []map[string]string
	for _, o := range orgs {
		vals = append(vals, map[string]string{"id": vcdsim.OrgURN(o)})
	}
	admin.must(200, http.MethodPost, "/cloudapi/1.0.0/rightsBundles/"+id+"/tenants/publish", map[string]any{"values": vals})
}

// content is an entity's content that satisfies testSchema.
func content(name, org string) map[string]any {
	return map[string]any{"kind": "native", "apiVersion": "cse.vmware.com/v2.1", "metadata": map[string]any{"name": name, "orgName": org,
		"virtualDataCenterName": org + "-vdc", "site": "https://vcd"}, "spec": map[string]any{"settings": map[string]any{"ovdcNetwork": "net"}}}
}

// create makes an entity as CSE does (202 and a task) and returns its id, read from the
// task's Owner.
func create(t *testing.T, as *cloud, name string, body map[string]any, hdr ...string) string {
	t.Helper()
	if body == nil {
		body = map[string]any{"name": name, "entity": content(name, "acme"), "entityType": nativeType, "id": nil, "externalId": nil,
			"state": nil, "owner": nil, "org": nil}
	}
	code, h, b := as.do(http.MethodPost, "/cloudapi/1.0.0/entityTypes/"+nativeType, body, hdr...)
	if code != http.StatusAccepted || len(b) != 0 {
		t.Fatalf("create %s: %d %s", name, code, b)
	}
	loc := h.Get("Location")
	if !strings.HasPrefix(loc, as.base+"/api/task/") {
		t.Fatalf("Location %q", loc)
	}
	req, _ := http.NewRequest(http.MethodGet, loc, nil)
	req.Header.Set("Authorization", "Bearer "+as.token)
	req.Header.Set("Accept", "application/*+xml;version=36.0")
	resp, err := as.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var task types.Task
	if err := xml.NewDecoder(resp.Body).Decode(&task); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the task %s: %d %v", loc, resp.StatusCode, err)
	}
	id := task.Owner.ID
	if !strings.HasPrefix(id, "urn:vcloud:entity:cse:nativeCluster:") || task.Owner.HREF != as.base+"/cloudapi/1.0.0/entities/"+id ||
		task.ID != "urn:vcloud:task:"+loc[strings.LastIndex(loc, "/")+1:] || task.Owner.Name != name {
		t.Fatalf("the task's owner: %+v (task %s)", task.Owner, task.ID)
	}
	// The task is the caller's, in the entity's org.
	if task.User == nil || task.Organization == nil || task.Organization.Name != "acme" && task.Organization.Name != "globex" {
		t.Fatalf("the task's user %+v and org %+v", task.User, task.Organization)
	}
	return id
}

func getEntity(t *testing.T, as *cloud, id string) (entity, string) {
	t.Helper()
	code, h, b := as.do(http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil)
	if code != 200 || h.Get("ETag") == "" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %v %s", id, code, h, b)
	}
	return decode[entity](t, b), h.Get("ETag")
}

// cloudapi errors are VCD's JSON, for every failure.
func TestCloudapiErrors(t *testing.T) {
	_, base := start(t)
	anon := &cloud{t: t, base: base, hc: insecure}
	alice := login(t, base, "alice", "alice-pass", "acme")
	for _, tc := range []struct {
		name string
		as   *cloud
		path string
		hdr  []string
		code int
		want string
	}{
		{"no session", anon, "/cloudapi/1.0.0/entityTypes", nil, 401, "UNAUTHORIZED"},
		{"unknown path", alice, "/cloudapi/1.0.0/nothing", nil, 404, "RESOURCE_NOT_FOUND"},
		{"other version", alice, "/cloudapi/2.0.0/entityTypes", nil, 404, "RESOURCE_NOT_FOUND"},
		{"unsupported version", alice, "/cloudapi/1.0.0/entityTypes", []string{"Accept", "application/json;version=12.0"}, 406, "NOT_ACCEPTABLE"},
		{"unknown type", alice, "/cloudapi/1.0.0/entityTypes/urn:vcloud:type:x:y:1.0.0", nil, 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
		{"unknown entity", alice, "/cloudapi/1.0.0/entities/urn:vcloud:entity:cse:nativeCluster:0", nil, 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
		{"bad filter", alice, "/cloudapi/1.0.0/entityTypes?filter=name=like=1", nil, 400, "BAD_REQUEST"},
		{"bad page", alice, "/cloudapi/1.0.0/entityTypes?page=0", nil, 400, "BAD_REQUEST"},
		{"tenant reads bundles", alice, "/cloudapi/1.0.0/rightsBundles", nil, 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
		{"tenant context of another org", alice, "/cloudapi/1.0.0/vdcs", []string{"X-VMWARE-VCLOUD-TENANT-CONTEXT", vcdsim.OrgURN("System")}, 403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, b := tc.as.do(http.MethodGet, tc.path, nil, tc.hdr...)
			var e map[string]any
			if code != tc.code || h.Get("Content-Type") != "application/json" || json.Unmarshal(b, &e) != nil ||
				e["minorErrorCode"] != tc.want || e["message"] == "" || e["stackTrace"] != nil || len(e) != 3 {
				t.Fatalf("%d %v %s", code, h, b)
			}
		})
	}
	// Writes to types and interfaces are the System org's.
	alice.must(403, http.MethodPost, "/cloudapi/1.0.0/interfaces", map[string]any{"name": "x", "vendor": "x", "nss": "y", "version": "1.0.0"})
	alice.must(403, http.MethodPost, "/cloudapi/1.0.0/entityTypes", map[string]any{"name": "x", "vendor": "x", "nss": "y", "version": "1.0.0", "schema": testSchema})
}

// CSE's install (cse-rde.md §1.2), call by call, then the client's type discovery.
func TestCSEInstall(t *testing.T) {
	_, base := start(t)
	admin := login(t, base, "administrator", "kaas-admin", "System")
	api := "/cloudapi/1.0.0/"
	// 1-2. The built-in interface is there, CSE's is made.
	k8s := decode[map[string]any](t, admin.must(200, http.MethodGet, api+"interfaces/urn:vcloud:interface:vmware:k8s:1.0.0", nil))
	if k8s["vendor"] != "vmware" || k8s["nss"] != "k8s" || k8s["version"] != "1.0.0" {
		t.Fatalf("the built-in interface: %v", k8s)
	}
	const cseK8s = "urn:vcloud:interface:cse:k8s:1.0.0"
	admin.must(403, http.MethodGet, api+"interfaces/"+cseK8s, nil)
	admin.must(201, http.MethodPost, api+"interfaces", map[string]any{"name": "CSE_K8s_interface", "id": cseK8s, "vendor": "cse", "nss": "k8s",
		"version": "1.0.0", "readonly": false})
	admin.must(400, http.MethodPost, api+"interfaces", map[string]any{"name": "CSE_K8s_interface", "id": cseK8s, "vendor": "cse", "nss": "k8s",
		"version": "1.0.0"})
	// 3. Behaviors on cse:k8s.
	for _, name := range []string{"createCluster", "updateCluster", "deleteCluster", "deleteNfsNode"} {
		id := "urn:vcloud:behavior-interface:" + name + ":cse:k8s:1.0.0"
		admin.must(403, http.MethodGet, api+"interfaces/"+cseK8s+"/behaviors/"+id, nil)
		b := decode[map[string]any](t, admin.must(201, http.MethodPost, api+"interfaces/"+cseK8s+"/behaviors", map[string]any{
			"name": name, "description": "d", "id": id, "ref": nil, "execution": map[string]any{"id": name, "type": "MQTT",
				"execution_properties": map[string]any{"serviceId": "urn:vcloud:extension-api:VMWare:cse:1.0.0", "invocation_timeout": 86400, "actAsToken": true}}}))
		if b["id"] != id || b["ref"] != id {
			t.Fatalf("behavior %v", b)
		}
		admin.must(200, http.MethodGet, api+"interfaces/"+cseK8s+"/behaviors/"+id, nil)
	}
	// 4. The type, with hooks, then its access control for the System org.
	admin.must(403, http.MethodGet, api+"entityTypes/"+nativeType, nil)
	hooks := map[string]any{"PostCreate": "urn:vcloud:behavior-interface:createCluster:cse:k8s:1.0.0",
		"PostUpdate": "urn:vcloud:behavior-interface:updateCluster:cse:k8s:1.0.0", "PreDelete": "urn:vcloud:behavior-interface:deleteCluster:cse:k8s:1.0.0"}
	typ := map[string]any{"name": "nativeClusterEntityType", "description": "", "schema": testSchema,
		"interfaces": []string{"urn:vcloud:interface:vmware:k8s:1.0.0", cseK8s}, "version": "2.1.0", "id": nativeType, "externalId": nil,
		"readonly": false, "vendor": "cse", "nss": "nativeCluster", "hooks": hooks}
	admin.must(201, http.MethodPost, api+"entityTypes", typ)
	admin.must(400, http.MethodPost, api+"entityTypes", typ)
	acl := decode[map[string]any](t, admin.must(201, http.MethodPost, api+"entities/"+nativeType+"/accessControls/", map[string]any{
		"grantType": "MembershipAccessControlGrant", "accessLevelId": "urn:vcloud:accessLevel:ReadWrite",
		"memberId": "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"}))
	if !strings.HasPrefix(acl["id"].(string), "urn:vcloud:accessControl:") || acl["objectId"] != nativeType {
		t.Fatalf("type ACL %v", acl)
	}
	// update_schema: PUT the type.
	typ["description"] = "new"
	if got := decode[map[string]any](t, admin.must(200, http.MethodPut, api+"entityTypes/"+nativeType, typ)); got["description"] != "new" {
		t.Fatalf("PUT type: %v", got)
	}
	// 5. The kubeconfig behavior override.
	kc := "urn:vcloud:behavior-interface:createKubeConfig:vmware:k8s:1.0.0"
	if b := decode[map[string]any](t, admin.must(200, http.MethodGet, api+"entityTypes/"+nativeType+"/behaviors/"+kc, nil)); b["id"] != kc {
		t.Fatalf("behavior %v", b)
	}
	over := decode[map[string]any](t, admin.must(200, http.MethodPut, api+"entityTypes/"+nativeType+"/behaviors/"+kc, map[string]any{
		"name": "createKubeConfig", "id": "urn:vcloud:behavior-type:createKubeConfig:cse:nativeCluster:2.0.0:vmware:k8s:1.0.0",
		"execution": map[string]any{"id": "createKubeConfig", "type": "MQTT"}}))
	if over["id"] != "urn:vcloud:behavior-type:createKubeConfig:cse:nativeCluster:2.1.0:vmware:k8s:1.0.0" || over["ref"] != kc {
		t.Fatalf("override %v", over)
	}
	bs := decode[page](t, admin.must(200, http.MethodGet, api+"entityTypes/"+nativeType+"/behaviors", nil))
	if bs.ResultTotal != 5 {
		t.Fatalf("the type's behaviors: %+v", bs)
	}
	admin.must(400, http.MethodGet, api+"entityTypes/"+nativeType+"/behaviors/urn:vcloud:behavior-type:nope:x:y:1.0.0", nil)
	// 6. Behavior ACLs.
	values := []map[string]string{}
	for b, l := range map[string]string{"createCluster": "ReadWrite", "updateCluster": "ReadWrite", "deleteNfsNode": "ReadWrite", "deleteCluster": "FullControl"} {
		values = append(values, map[string]string{"behaviorId": "urn:vcloud:behavior-interface:" + b + ":cse:k8s:1.0.0", "accessLevelId": "urn:vcloud:accessLevel:" + l})
	}
	values = append(values, map[string]string{"behaviorId": kc, "accessLevelId": "urn:vcloud:accessLevel:ReadOnly"})
	admin.must(200, http.MethodPut, api+"entityTypes/"+nativeType+"/behaviorAccessControls", map[string]any{"values": values})
	if p := decode[page](t, admin.must(200, http.MethodGet, api+"entityTypes/"+nativeType+"/behaviorAccessControls", nil)); p.ResultTotal != 5 {
		t.Fatalf("behavior ACLs %+v", p)
	}
	// 7. The bundle VCD made with the type, and its five rights.
	p := decode[page](t, admin.must(200, http.MethodGet, api+"rightsBundles?filter=name==cse%3AnativeCluster%20Entitlement", nil))
	if len(p.Values) != 1 {
		t.Fatalf("bundles %+v", p)
	}
	bundleID := decode[map[string]any](t, p.Values[0])["id"].(string)
	rights := decode[page](t, admin.must(200, http.MethodGet, api+"rightsBundles/"+bundleID+"/rights?page=1&pageSize=128", nil))
	var rnames []string
	for _, v := range rights.Values {
		r := decode[map[string]any](t, v)
		if r["id"] != vcdsim.RightURN(r["name"].(string)) {
			t.Errorf("right %v", r)
		}
		rnames = append(rnames, r["name"].(string))
	}
	want := []string{"cse:nativeCluster: View", "cse:nativeCluster: Modify", "cse:nativeCluster: Full Access",
		"cse:nativeCluster: Administrator View", "cse:nativeCluster: Administrator Full access"}
	if !slices.Equal(rnames, want) {
		t.Fatalf("rights %v", rnames)
	}
	// The API-35 type: no second bundle.
	typ["version"], typ["id"], typ["hooks"] = "1.0.0", "urn:vcloud:type:cse:nativeCluster:1.0.0", nil
	typ["interfaces"] = []string{"urn:vcloud:interface:vmware:k8s:1.0.0"}
	admin.must(201, http.MethodPost, api+"entityTypes", typ)
	if p := decode[page](t, admin.must(200, http.MethodGet, api+"rightsBundles?filter=name==cse*", nil)); p.ResultTotal != 1 {
		t.Fatalf("bundles after a second version: %+v", p)
	}
	// 8. cse upgrade publishes the bundle.
	publish(t, admin, "acme")
	ten := decode[page](t, admin.must(200, http.MethodGet, api+"rightsBundles/"+bundleID+"/tenants", nil))
	if len(ten.Values) != 1 || decode[map[string]any](t, ten.Values[0])["id"] != vcdsim.OrgURN("acme") {
		t.Fatalf("tenants %+v", ten)
	}

	// The client's discovery: every page until an empty one, as a tenant; the highest
	// version is 2.1.0 and each value has what DefEntityType.from_dict needs.
	alice := login(t, base, "alice", "alice-pass", "acme")
	var versions []string
	for n := 1; ; n++ {
		p := decode[page](t, alice.must(200, http.MethodGet, fmt.Sprintf("%sentityTypes?filter=nss==nativeCluster&page=%d&pageSize=1", api, n), nil))
		if len(p.Values) == 0 {
			if n != 3 || p.ResultTotal != 2 || p.PageCount != 2 {
				t.Fatalf("the empty page %d: %+v", n, p)
			}
			break
		}
		v := decode[map[string]any](t, p.Values[0])
		for _, k := range []string{"id", "name", "description", "schema", "interfaces", "version", "vendor", "nss", "readonly", "externalId"} {
			if _, ok := v[k]; !ok {
				t.Fatalf("an entity type without %s: %v", k, v)
			}
		}
		if _, ok := v["hooks"]; ok != (v["version"] == "2.1.0") {
			t.Fatalf("hooks: %v", v)
		}
		versions = append(versions, v["version"].(string))
	}
	if !slices.Equal(versions, []string{"2.1.0", "1.0.0"}) {
		t.Fatalf("versions %v", versions)
	}
	// govcd's way of finding a type: the whole filter encoded.
	p = decode[page](t, alice.must(200, http.MethodGet, api+"entityTypes/?filter=vendor%3D%3Dcse%3Bnss%3D%3DnativeCluster%3Bversion%3D%3D1.0.0&pageSize=128", nil))
	if p.ResultTotal != 1 {
		t.Fatalf("by vendor, nss and version: %+v", p)
	}
}

// Entities: a task owned by the entity, ETags and If-Match, resolution, deletion.
func TestEntityLifecycle(t *testing.T) {
	_, base := start(t)
	admin := login(t, base, "administrator", "kaas-admin", "System")
	alice := login(t, base, "alice", "alice-pass", "acme")
	registerType(t, admin, "2.1.0", "acme")

	body := map[string]any{"name": "gc-1", "entity": map[string]any{"kind": "native", "metadata": map[string]any{"name": "gc-1"},
		"status": map[string]any{"nodes": map[string]any{"workers": []any{map[string]any{"ip": "10.0.0.1"}}}}},
		"entityType": nativeType, "externalId": nil}
	id := create(t, alice, "gc-1", body)
	e, tag := getEntity(t, alice, id)
	if e.State != "PRE_CREATED" || e.Owner.Name != "alice" || e.Owner.ID != vcdsim.UserURN("acme", "alice") || e.Org.Name != "acme" ||
		e.Org.ID != vcdsim.OrgURN("acme") || e.EntityType != nativeType || e.ExternalID != nil || e.Entity["kind"] != "native" {
		t.Fatalf("the new entity: %+v", e)
	}
	// Not resolved: no deletion.
	if code, _, b := alice.do(http.MethodDelete, "/cloudapi/1.0.0/entities/"+id, nil); code != 400 || !strings.Contains(string(b), "RDE_ENTITY_NOT_RESOLVED") {
		t.Fatalf("delete before resolve: %d %s", code, b)
	}
	// Resolution fails on what the schema requires.
	r := decode[entity](t, alice.must(200, http.MethodPost, "/cloudapi/1.0.0/entities/"+id+"/resolve", nil))
	if r.State != "RESOLUTION_ERROR" || r.Message == nil || !strings.Contains(*r.Message, "spec, metadata.orgName, status.nodes.workers.0.name") {
		t.Fatalf("resolve: %+v", r)
	}
	// A stale ETag is refused; the current one and none are taken.
	e.Entity = content("gc-1", "acme")
	put := map[string]any{"name": e.Name, "entity": e.Entity, "externalId": "https://vcd/api/vApp/vapp-1", "owner": e.Owner, "org": e.Org}
	if code, _, b := alice.do(http.MethodPut, "/cloudapi/1.0.0/entities/"+id, put, "If-Match", tag); code != 412 || !strings.Contains(string(b), "PRECONDITION_FAILED") {
		t.Fatalf("stale If-Match: %d %s", code, b)
	}
	_, tag = getEntity(t, alice, id)
	code, h, b := alice.do(http.MethodPut, "/cloudapi/1.0.0/entities/"+id+"?invokeHooks=false", put, "If-Match", tag)
	if code != 200 || h.Get("ETag") == "" || h.Get("ETag") == tag {
		t.Fatalf("PUT: %d %v %s", code, h, b)
	}
	if e := decode[entity](t, b); e.State != "RESOLUTION_ERROR" || *e.ExternalID != "https://vcd/api/vApp/vapp-1" {
		t.Fatalf("after PUT: %+v", e)
	}
	alice.must(200, http.MethodPut, "/cloudapi/1.0.0/entities/"+id, put)
	r = decode[entity](t, alice.must(200, http.MethodPost, "/cloudapi/1.0.0/entities/"+id+"/resolve", nil))
	if r.State != "RESOLVED" || r.Message != nil {
		t.Fatalf("resolve: %+v", r)
	}
	// A resolved entity stays valid.
	put["entity"] = map[string]any{"kind": "native"}
	if code, _, b := alice.do(http.MethodPut, "/cloudapi/1.0.0/entities/"+id, put); code != 400 || !strings.Contains(string(b), "metadata") {
		t.Fatalf("an invalid PUT of a resolved entity: %d %s", code, b)
	}
	alice.must(204, http.MethodDelete, "/cloudapi/1.0.0/entities/"+id+"?invokeHooks=false", nil)
	alice.must(403, http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil)
}

// The provider makes entities in a tenant org through the tenant context and may name a
// tenant user as the owner; a tenant may not.
func TestEntityOwnerAndTenantContext(t *testing.T) {
	_, base := start(t)
	admin := login(t, base, "administrator", "kaas-admin", "System")
	alice := login(t, base, "alice", "alice-pass", "acme")
	bob := login(t, base, "bob", "bob-pass", "acme")
	registerType(t, admin, "2.1.0", "acme")
	acmeID := strings.TrimPrefix(vcdsim.OrgURN("acme"), "urn:vcloud:org:")
	body := func(owner string) map[string]any {
		return map[string]any{"name": "gc-2", "entity": content("gc-2", "acme"), "owner": map[string]any{"id": owner}}
	}
	id := create(t, admin, "gc-2", body(vcdsim.UserURN("acme", "alice")), "X-VMWARE-VCLOUD-TENANT-CONTEXT", acmeID)
	e, _ := getEntity(t, alice, id)
	if e.Owner.Name != "alice" || e.Org.Name != "acme" {
		t.Fatalf("made for alice: %+v", e)
	}
	// Without the tenant context the org is the System org, where alice is nobody.
	admin.must(400, http.MethodPost, "/cloudapi/1.0.0/entityTypes/"+nativeType, body(vcdsim.UserURN("acme", "alice")))
	// An owner from another org is refused.
	admin.must(400, http.MethodPost, "/cloudapi/1.0.0/entityTypes/"+nativeType, body(vcdsim.UserURN("System", "administrator")),
		"X-VMWARE-VCLOUD-TENANT-CONTEXT", "urn:vcloud:org:"+acmeID)
	// A tenant names only itself.
	alice.must(403, http.MethodPost, "/cloudapi/1.0.0/entityTypes/"+nativeType, body(vcdsim.UserURN("acme", "bob")))
	// bob has View only: no creation.
	bob.must(403, http.MethodPost, "/cloudapi/1.0.0/entityTypes/"+nativeType, body(""))
	// The provider hands the entity to bob with a PUT.
	put := map[string]any{"name": e.Name, "entity": e.Entity, "owner": map[string]any{"id": vcdsim.UserURN("acme", "bob")}}
	admin.must(200, http.MethodPut, "/cloudapi/1.0.0/entities/"+id, put)
	if e, _ := getEntity(t, bob, id); e.Owner.Name != "bob" {
		t.Fatalf("after the PUT: %+v", e)
	}
	alice.must(403, http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil)
}

// Lists: filters as CSE's client sends them, sorting, and paging to an empty page.
func TestEntityLists(t *testing.T) {
	_, base := start(t, func(c *vcdsim.Config) {
		c.Orgs = append(c.Orgs, vcdsim.OrgConfig{Name: "globex", Users: []vcdsim.UserConfig{{Name: "gina", Password: "pw", Rights: []string{"cse:nativeCluster: Full Access"}}}})
	})
	admin := login(t, base, "administrator", "kaas-admin", "System")
	alice := login(t, base, "alice", "alice-pass", "acme")
	gina := login(t, base, "gina", "pw", "globex")
	registerType(t, admin, "2.1.0", "acme", "globex")
	for _, n := range []string{"gc-c", "gc-a", "gc-e", "gc(1)", "gc-b"} {
		create(t, alice, n, map[string]any{"name": n, "entity": content(n, "acme")})
	}
	create(t, gina, "gx-1", map[string]any{"name": "gx-1", "entity": content("gx-1", "globex")})
	const types = "/cloudapi/1.0.0/entities/types/cse/nativeCluster/2.1.0"
	const ifaces = "/cloudapi/1.0.0/entities/interfaces/vmware/k8s/1.0.0"

	// Paging: every page, then an empty one.
	var all []string
	for n := 1; ; n++ {
		b := alice.must(200, http.MethodGet, fmt.Sprintf("%s?page=%d&pageSize=2&sortAsc=name", types, n), nil)
		p := decode[page](t, b)
		if p.ResultTotal != 5 || p.PageCount != 3 || p.Page != n || p.PageSize != 2 {
			t.Fatalf("page %d: %s", n, b)
		}
		if len(p.Values) == 0 {
			break
		}
		all = append(all, entityNames(t, b)...)
	}
	if !slices.Equal(all, []string{"gc(1)", "gc-a", "gc-b", "gc-c", "gc-e"}) {
		t.Fatalf("pages: %v", all)
	}
	for _, tc := range []struct {
		name, path string
		as         *cloud
		want       []string
	}{
		{"sortDesc", types + "?sortDesc=name", alice, []string{"gc-e", "gc-c", "gc-b", "gc-a", "gc(1)"}},
		{"creation order", types, alice, []string{"gc-c", "gc-a", "gc-e", "gc(1)", "gc-b"}},
		// cluster info: the org term, then the name, values quoted after escaping.
		{"native by name", types + "?filter=entity.metadata.orgName==acme;name==gc%5C%281%5C%29&page=1&sortAsc=name", alice, []string{"gc(1)"}},
		{"apply: no org term", types + "?filter=name==gc-a&page=1&sortAsc=name", alice, []string{"gc-a"}},
		{"wildcard", types + "?filter=name==gc-*&sortAsc=name", alice, []string{"gc-a", "gc-b", "gc-c", "gc-e"}},
		{"not", types + "?filter=name!=gc-*", alice, []string{"gc(1)"}},
		// cluster list (cse-rde.md §2.3).
		{"list", ifaces + "?filter=entity.metadata.orgName==acme;(entityType==urn:vcloud:type:cse:nativeCluster:1.0.0,entityType==urn:vcloud:type:cse:nativeCluster:2.0.0," +
			"entityType==urn:vcloud:type:cse:nativeCluster:2.1.0,entityType==urn:vcloud:type:vmware:tkgcluster:1.0.0)&page=1&pageSize=25&sortAsc=name", alice,
			[]string{"gc(1)", "gc-a", "gc-b", "gc-c", "gc-e"}},
		{"list as sysadmin", ifaces + "?filter=(entityType==urn:vcloud:type:cse:nativeCluster:2.1.0,entityType==urn:vcloud:type:vmware:tkgcluster:1.0.0)&page=1&pageSize=25&sortAsc=name",
			admin, []string{"gc(1)", "gc-a", "gc-b", "gc-c", "gc-e", "gx-1"}},
		{"sysadmin with --org", ifaces + "?filter=entity.metadata.orgName==globex&sortAsc=name", admin, []string{"gx-1"}},
		{"other org", ifaces + "?sortAsc=name", gina, []string{"gx-1"}},
		{"by owner", types + "?filter=owner.name==alice;org.name==acme&sortAsc=name&pageSize=1", alice, []string{"gc(1)"}},
		// TKG-S lookup: VCD's own type, never registered here: an empty page, not 404.
		{"tkgcluster", "/cloudapi/1.0.0/entities/types/vmware/tkgcluster/1.0.0?filter=entity.metadata.name==gc-a", alice, nil},
		{"unknown version", "/cloudapi/1.0.0/entities/types/cse/nativeCluster/9.9.9", alice, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.as.must(200, http.MethodGet, tc.path, nil)
			if got := entityNames(t, b); !slices.Equal(got, tc.want) {
				t.Fatalf("%v, want %v: %s", got, tc.want, b)
			}
			if p := decode[page](t, b); tc.want == nil && (p.ResultTotal != 0 || p.Page != 1 || p.Values == nil) {
				t.Fatalf("empty page: %s", b)
			}
		})
	}
	// A provider's tenant context limits its lists to that org.
	b := admin.must(200, http.MethodGet, ifaces+"?sortAsc=name", nil, "x-vmware-vcloud-tenant-context", strings.TrimPrefix(vcdsim.OrgURN("globex"), "urn:vcloud:org:"))
	if got := entityNames(t, b); !slices.Equal(got, []string{"gx-1"}) {
		t.Fatalf("in globex's context: %v", got)
	}
}

// Golden files for what CSE's client parses: a DefEntity and a list page.
func TestEntityGolden(t *testing.T) {
	_, base := start(t)
	admin := login(t, base, "administrator", "kaas-admin", "System")
	alice := login(t, base, "alice", "alice-pass", "acme")
	registerType(t, admin, "2.1.0", "acme")
	id := create(t, alice, "gc-1", nil)
	b := alice.must(200, http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil)
	golden(t, "entity.golden.json", json.RawMessage(strings.ReplaceAll(string(b), id, "(entity id)")))
	b = alice.must(200, http.MethodGet, "/cloudapi/1.0.0/entities/interfaces/vmware/k8s/1.0.0?filter=entity.metadata.orgName==acme&page=1&pageSize=25", nil)
	golden(t, "entity-page.golden.json", json.RawMessage(strings.ReplaceAll(string(b), id, "(entity id)")))
}

// Each principal sees and may change what kaas's matrix (events/cluster/access.go) gives
// it: the type's Administrator rights act on every entity of the org; otherwise ownership
// or an access control, capped by the View / Modify / Full Access right.
func TestEntityAccessMatrix(t *testing.T) {
	users := map[string][]string{
		"u-none": nil, "u-view": {"View"}, "u-modify": {"Modify"}, "u-full": {"Full Access"}, "u-aview": {"Administrator View"},
		"u-afull": {"Administrator Full access"}, "u-view-aview": {"View", "Administrator View"},
	}
	_, base := start(t, func(c *vcdsim.Config) {
		for name, rs := range users {
			u := vcdsim.UserConfig{Name: name, Password: "pw"}
			for _, r := range rs {
				u.Rights = append(u.Rights, "cse:nativeCluster: "+r)
			}
			c.Orgs[0].Users = append(c.Orgs[0].Users, u)
		}
		c.Orgs = append(c.Orgs, vcdsim.OrgConfig{Name: "globex", Users: []vcdsim.UserConfig{{Name: "u-full", Password: "pw",
			Rights: []string{"cse:nativeCluster: Administrator Full access"}}}})
	})
	admin := login(t, base, "administrator", "kaas-admin", "System")
	registerType(t, admin, "2.1.0", "acme", "globex")
	ctx := []string{"X-VMWARE-VCLOUD-TENANT-CONTEXT", strings.TrimPrefix(vcdsim.OrgURN("acme"), "urn:vcloud:org:")}
	// Expected levels by relation: owner, ReadOnly, ReadWrite and FullControl grants, none.
	relations := []string{"owner", "ReadOnly", "ReadWrite", "FullControl", "none"}
	want := map[string]string{
		"u-none": "-----", "u-view": "RRRR-", "u-modify": "WRWW-", "u-full": "FRWF-", "u-aview": "RRRRR", "u-afull": "FFFFF",
		"u-view-aview": "RRRRR",
	}
	for user, levels := range want {
		as := login(t, base, user, "pw", "acme")
		other := login(t, base, "u-full", "pw", "globex")
		for i, rel := range relations {
			t.Run(user+"/"+rel, func(t *testing.T) {
				name := user + "-" + rel
				body := map[string]any{"name": name, "entity": content(name, "acme")}
				if rel == "owner" {
					body["owner"] = map[string]any{"id": vcdsim.UserURN("acme", user)}
				}
				id := create(t, admin, name, body, ctx...)
				admin.must(200, http.MethodPost, "/cloudapi/1.0.0/entities/"+id+"/resolve", nil)
				if rel != "owner" && rel != "none" {
					admin.must(201, http.MethodPost, "/cloudapi/1.0.0/entities/"+id+"/accessControls", map[string]any{
						"grantType": "MembershipAccessControlGrant", "accessLevelId": "urn:vcloud:accessLevel:" + rel,
						"memberId": vcdsim.UserURN("acme", user)})
				}
				lvl := levels[i]
				listed := slices.Contains(entityNames(t, as.must(200, http.MethodGet,
					"/cloudapi/1.0.0/entities/types/cse/nativeCluster/2.1.0?filter=name=="+url.QueryEscape(name), nil)), name)
				if byIface := slices.Contains(entityNames(t, as.must(200, http.MethodGet,
					"/cloudapi/1.0.0/entities/interfaces/vmware/k8s/1.0.0?filter=name=="+url.QueryEscape(name), nil)), name); byIface != listed {
					t.Fatalf("listed by type %v, by interface %v", listed, byIface)
				}
				code, _, _ := as.do(http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil)
				if listed != (lvl != '-') || (code == 200) != (lvl != '-') {
					t.Fatalf("level %c: listed %v, GET %d", lvl, listed, code)
				}
				code, _, _ = as.do(http.MethodPut, "/cloudapi/1.0.0/entities/"+id, map[string]any{"name": name, "entity": content(name, "acme")})
				if (code == 200) != (lvl == 'W' || lvl == 'F') {
					t.Fatalf("level %c: PUT %d", lvl, code)
				}
				code, _, _ = as.do(http.MethodPost, "/cloudapi/1.0.0/entities/"+id+"/accessControls", map[string]any{
					"grantType": "MembershipAccessControlGrant", "accessLevelId": "urn:vcloud:accessLevel:ReadOnly", "memberId": vcdsim.UserURN("acme", "bob")})
				if (code == 201) != (lvl == 'F') {
					t.Fatalf("level %c: share %d", lvl, code)
				}
				// Another org's Administrator Full access sees nothing of acme's.
				if code, _, _ := other.do(http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil); code != 403 {
					t.Fatalf("globex GET %d", code)
				}
				code, _, _ = as.do(http.MethodDelete, "/cloudapi/1.0.0/entities/"+id, nil)
				if (code == 204) != (lvl == 'F') {
					t.Fatalf("level %c: DELETE %d", lvl, code)
				}
			})
		}
	}
}

// Access controls as CSE's share flow uses them (cse-rde.md §1.5).
func TestEntityAccessControls(t *testing.T) {
	_, base := start(t)
	admin := login(t, base, "administrator", "kaas-admin", "System")
	alice := login(t, base, "alice", "alice-pass", "acme")
	bob := login(t, base, "bob", "bob-pass", "acme")
	registerType(t, admin, "2.1.0", "acme")
	id := create(t, alice, "gc-1", nil)
	acls := "/cloudapi/1.0.0/entities/" + id + "/accessControls"
	bob.must(403, http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil)
	ctx := []string{"X-VMWARE-VCLOUD-TENANT-CONTEXT", strings.TrimPrefix(vcdsim.OrgURN("acme"), "urn:vcloud:org:")}
	grant := map[string]any{"grantType": "MembershipAccessControlGrant", "accessLevelId": "urn:vcloud:accessLevel:ReadOnly",
		"memberId": vcdsim.UserURN("acme", "bob")}
	a := decode[map[string]any](t, alice.must(201, http.MethodPost, acls, grant, ctx...))
	aclID, _ := a["id"].(string)
	if !strings.HasPrefix(aclID, "urn:vcloud:accessControl:") || a["objectId"] != id || a["memberId"] != grant["memberId"] ||
		a["tenant"].(map[string]any)["name"] != "acme" || a["grantType"] != "MembershipAccessControlGrant" {
		t.Fatalf("grant %v", a)
	}
	if e, _ := getEntity(t, bob, id); e.Name != "gc-1" {
		t.Fatal("bob does not see what is shared with him")
	}
	// bob may read the grants, not change them; CSE pages until an empty page.
	if p := decode[page](t, bob.must(200, http.MethodGet, acls+"?page=1&pageSize=25", nil)); p.ResultTotal != 1 || len(p.Values) != 1 {
		t.Fatalf("grants %+v", p)
	}
	if p := decode[page](t, bob.must(200, http.MethodGet, acls+"?page=2&pageSize=25", nil)); len(p.Values) != 0 {
		t.Fatalf("page 2 %+v", p)
	}
	bob.must(403, http.MethodDelete, acls+"/"+aclID, nil)
	// A second grant for the same member changes its level; a member of no org is refused.
	grant["accessLevelId"] = "urn:vcloud:accessLevel:FullControl"
	if a := decode[map[string]any](t, alice.must(201, http.MethodPost, acls, grant)); a["id"] != aclID {
		t.Fatalf("regrant %v", a)
	}
	alice.must(400, http.MethodPost, acls, map[string]any{"grantType": "MembershipAccessControlGrant", "accessLevelId": "urn:vcloud:accessLevel:ReadOnly",
		"memberId": "urn:vcloud:user:00000000-0000-0000-0000-000000000000"})
	alice.must(400, http.MethodPost, acls, map[string]any{"grantType": "MembershipAccessControlGrant", "accessLevelId": "urn:vcloud:accessLevel:Owner",
		"memberId": vcdsim.UserURN("acme", "bob")})
	alice.must(200, http.MethodGet, acls+"/"+aclID, nil)
	alice.must(200, http.MethodPut, acls+"/"+aclID, map[string]any{"grantType": "MembershipAccessControlGrant", "accessLevelId": "urn:vcloud:accessLevel:ReadOnly"})
	alice.must(204, http.MethodDelete, acls+"/"+aclID, nil)
	bob.must(403, http.MethodGet, "/cloudapi/1.0.0/entities/"+id, nil)
}

// Rights: the built-in ones, those a type brings once published, what a tenant may see.
func TestRightsAndBundles(t *testing.T) {
	_, base := start(t)
	admin := login(t, base, "administrator", "kaas-admin", "System")
	alice := login(t, base, "alice", "alice-pass", "acme")
	byName := func(as *cloud, name string) int {
		return decode[page](t, as.must(200, http.MethodGet, "/cloudapi/1.0.0/rights?filter=name=="+url.QueryEscape(name), nil)).ResultTotal
	}
	if byName(alice, "Organization vDC: View") != 1 || byName(admin, "cse:nativeCluster: Full Access") != 0 {
		t.Fatal("built-in rights")
	}
	registerType(t, admin, "2.1.0")
	if byName(admin, "cse:nativeCluster: Full Access") != 1 || byName(alice, "cse:nativeCluster: Full Access") != 0 {
		t.Fatal("a type's rights before publishing")
	}
	publish(t, admin, "acme")
	if byName(alice, "cse:nativeCluster: Full Access") != 1 {
		t.Fatal("a type's rights after publishing")
	}
	r := decode[map[string]any](t, alice.must(200, http.MethodGet, "/cloudapi/1.0.0/rights/"+vcdsim.RightURN("cse:nativeCluster: View"), nil))
	if r["name"] != "cse:nativeCluster: View" || r["rightType"] != "VIEW" {
		t.Fatalf("right %v", r)
	}
	// Paging over every right.
	p := decode[page](t, admin.must(200, http.MethodGet, "/cloudapi/1.0.0/rights?page=2&pageSize=5", nil))
	if p.ResultTotal < 15 || len(p.Values) != 5 || p.Page != 2 {
		t.Fatalf("rights page 2: %+v", p)
	}
	b := decode[page](t, admin.must(200, http.MethodGet, "/cloudapi/1.0.0/rightsBundles?filter=name==cse%3AnativeCluster%20Entitlement", nil))
	id := decode[map[string]any](t, b.Values[0])["id"].(string)
	admin.must(200, http.MethodPost, "/cloudapi/1.0.0/rightsBundles/"+id+"/tenants/unpublish", map[string]any{"values": []map[string]string{{"id": vcdsim.OrgURN("acme")}}})
	if byName(alice, "cse:nativeCluster: Full Access") != 0 {
		t.Fatal("a type's rights after unpublishing")
	}
	admin.must(400, http.MethodPost, "/cloudapi/1.0.0/rightsBundles/"+id+"/tenants/publish", map[string]any{"values": []map[string]string{{"id": "urn:vcloud:org:nope"}}})
}

func TestVDCs(t *testing.T) {
	_, base := start(t, func(c *vcdsim.Config) {
		c.Orgs = append(c.Orgs, vcdsim.OrgConfig{Name: "globex", VDCs: []vcdsim.VDCConfig{{Name: "globex-vdc"}, {Name: "globex-vdc2"}}})
	})
	admin := login(t, base, "administrator", "kaas-admin", "System")
	alice := login(t, base, "alice", "alice-pass", "acme")
	vdcNames := func(b []byte) []string {
		var out []string
		for _, v := range decode[page](t, b).Values {
			d := decode[map[string]any](t, v)
			if !strings.HasPrefix(d["id"].(string), "urn:vcloud:vdc:") {
				t.Fatalf("vdc %v", d)
			}
			out = append(out, d["org"].(map[string]any)["name"].(string)+"/"+d["name"].(string))
		}
		return out
	}
	if got := vdcNames(alice.must(200, http.MethodGet, "/cloudapi/1.0.0/vdcs?page=1&pageSize=10", nil)); !slices.Equal(got, []string{"acme/acme-vdc"}) {
		t.Fatalf("alice: %v", got)
	}
	if got := vdcNames(admin.must(200, http.MethodGet, "/cloudapi/1.0.0/vdcs?page=2&pageSize=2", nil)); !slices.Equal(got, []string{"globex/globex-vdc2"}) {
		t.Fatalf("admin page 2: %v", got)
	}
	got := vdcNames(admin.must(200, http.MethodGet, "/cloudapi/1.0.0/vdcs", nil, "X-VMWARE-VCLOUD-TENANT-CONTEXT", vcdsim.OrgURN("acme")))
	if !slices.Equal(got, []string{"acme/acme-vdc"}) {
		t.Fatalf("admin in acme's context: %v", got)
	}
}

// go-vcloud-director, unmodified, drives the defined-entity endpoints as kaas does.
func TestGovcdRDE(t *testing.T) {
	_, base := start(t, func(c *vcdsim.Config) { c.TaskDelay = 0 })
	admin := client(t, base, "administrator", "kaas-admin", "System")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Interfaces and behaviors.
	k8s, err := admin.GetDefinedInterface("vmware", "k8s", "1.0.0")
	must(err)
	di, err := admin.CreateDefinedInterface(&types.DefinedInterface{Name: "CSE_K8s_interface", Vendor: "cse", Nss: "k8s", Version: "1.0.0"})
	must(err)
	if di.DefinedInterface.ID != "urn:vcloud:interface:cse:k8s:1.0.0" {
		t.Fatalf("interface %+v", di.DefinedInterface)
	}
	create, err := di.AddBehavior(types.Behavior{Name: "createCluster", Execution: map[string]any{"id": "createCluster", "type": "MQTT"}})
	must(err)
	if _, err := admin.GetDefinedInterfaceById("urn:vcloud:interface:cse:nope:1.0.0"); !govcd.ContainsNotFound(err) {
		t.Fatalf("an unknown interface: %v", err)
	}
	// The type.
	rt, err := admin.CreateRdeType(&types.DefinedEntityType{Name: "nativeClusterEntityType", Vendor: "cse", Nss: "nativeCluster", Version: "2.1.0",
		Schema: testSchema, Interfaces: []string{k8s.DefinedInterface.ID, di.DefinedInterface.ID}, Hooks: map[string]string{"PostCreate": create.ID}})
	must(err)
	if rt.DefinedEntityType.ID != nativeType || rt.DefinedEntityType.Hooks["PostCreate"] != create.ID {
		t.Fatalf("type %+v", rt.DefinedEntityType)
	}
	must(rt.Update(types.DefinedEntityType{Description: "native clusters"}))
	got, err := admin.GetRdeType("cse", "nativeCluster", "2.1.0")
	must(err)
	if got.DefinedEntityType.Description != "native clusters" || len(got.DefinedEntityType.Interfaces) != 2 {
		t.Fatalf("type %+v", got.DefinedEntityType)
	}
	behaviors, err := rt.GetAllBehaviors(nil)
	must(err)
	if len(behaviors) != 2 {
		t.Fatalf("behaviors %+v", behaviors)
	}
	over, err := rt.UpdateBehaviorOverride(types.Behavior{ID: "urn:vcloud:behavior-interface:createKubeConfig:vmware:k8s:1.0.0",
		Execution: map[string]any{"id": "createKubeConfig", "type": "MQTT"}})
	must(err)
	if over.ID != "urn:vcloud:behavior-type:createKubeConfig:cse:nativeCluster:2.1.0:vmware:k8s:1.0.0" {
		t.Fatalf("override %+v", over)
	}
	must(rt.SetBehaviorAccessControls([]*types.BehaviorAccess{{BehaviorId: create.ID, AccessLevelId: "urn:vcloud:accessLevel:ReadWrite"}}))
	bacl, err := rt.GetAllBehaviorsAccessControls(nil)
	must(err)
	if len(bacl) != 1 || bacl[0].BehaviorId != create.ID {
		t.Fatalf("behavior ACLs %+v", bacl)
	}
	// Its rights bundle, published to acme.
	rb, err := admin.Client.GetRightsBundleByName("cse:nativeCluster Entitlement")
	must(err)
	rights, err := rb.GetRights(nil)
	must(err)
	if len(rights) != 5 {
		t.Fatalf("rights %+v", rights)
	}
	must(rb.PublishTenants([]types.OpenApiReference{{ID: vcdsim.OrgURN("acme"), Name: "acme"}}))
	tenants, err := rb.GetTenants(nil)
	must(err)
	if len(tenants) != 1 || tenants[0].Name != "acme" {
		t.Fatalf("tenants %+v", tenants)
	}
	full, err := admin.Client.GetRightByName("cse:nativeCluster: Full Access")
	must(err)
	if full.ID != vcdsim.RightURN("cse:nativeCluster: Full Access") {
		t.Fatalf("right %+v", full)
	}
	all, err := admin.Client.GetAllRights(nil)
	must(err)
	if len(all) < 17 {
		t.Fatalf("%d rights", len(all))
	}

	// An entity of a tenant, as govcd's own test plays it: PRE_CREATED, not deletable,
	// RESOLUTION_ERROR, amended, RESOLVED.
	alice := client(t, base, "alice", "alice-pass", "acme")
	rde, err := alice.CreateRde("cse", "nativeCluster", "2.1.0", types.DefinedEntity{Name: "gc-1", ExternalId: "123",
		Entity: map[string]any{"kind": "native", "metadata": map[string]any{"name": "gc-1", "orgName": "acme"}}}, nil)
	must(err)
	if rde.State() != "PRE_CREATED" || rde.DefinedEntity.Owner.Name != "alice" || rde.DefinedEntity.Org.Name != "acme" || rde.Etag == "" {
		t.Fatalf("created %+v", rde.DefinedEntity)
	}
	if err := rde.Delete(); err == nil || !strings.Contains(err.Error(), "RDE_ENTITY_NOT_RESOLVED") {
		t.Fatalf("delete before resolve: %v", err)
	}
	must(rde.Resolve())
	tag := rde.Etag
	if rde.State() != "RESOLUTION_ERROR" || tag == "" || !strings.Contains(rde.DefinedEntity.Message, "spec") {
		t.Fatalf("resolved %+v", rde.DefinedEntity)
	}
	must(rde.Update(types.DefinedEntity{Entity: content("gc-1", "acme")}))
	if rde.State() != "RESOLUTION_ERROR" || rde.Etag == tag || rde.Etag == "" {
		t.Fatalf("updated %+v %s", rde.DefinedEntity, rde.Etag)
	}
	must(rde.Resolve())
	if rde.State() != "RESOLVED" {
		t.Fatalf("resolved %+v", rde.DefinedEntity)
	}
	id := rde.DefinedEntity.ID
	byID, err := alice.GetRdeById(id)
	must(err)
	if byID.Etag != rde.Etag || byID.State() != "RESOLVED" {
		t.Fatalf("by id %+v %s", byID.DefinedEntity, byID.Etag)
	}
	list, err := alice.GetAllRdes("cse", "nativeCluster", "2.1.0", nil)
	must(err)
	byName, err := rt.GetRdesByName("gc-1")
	must(err)
	if len(list) != 1 || len(byName) != 1 {
		t.Fatalf("lists %d %d", len(list), len(byName))
	}
	// Two writers: the one with the stale ETag gets 412.
	h1, _ := alice.GetRdeById(id)
	h2, _ := alice.GetRdeById(id)
	must(h1.Update(types.DefinedEntity{Entity: content("gc-1", "acme"), ExternalId: "456"}))
	if h1.DefinedEntity.ExternalId != "456" || h1.State() != "RESOLVED" {
		t.Fatalf("updated %+v", h1.DefinedEntity)
	}
	if err := h2.Update(types.DefinedEntity{Entity: content("gc-1", "acme")}); err == nil || !strings.Contains(err.Error(), "PRECONDITION_FAILED") {
		t.Fatalf("a stale update: %v", err)
	}
	// Sharing.
	bob := client(t, base, "bob", "bob-pass", "acme")
	if _, err := bob.GetRdeById(id); !govcd.ContainsNotFound(err) {
		t.Fatalf("bob before the share: %v", err)
	}
	acl, err := h1.SetAccessControl(&types.DefinedEntityAccess{GrantType: "MembershipAccessControlGrant",
		AccessLevelID: "urn:vcloud:accessLevel:ReadOnly", MemberID: vcdsim.UserURN("acme", "bob")})
	must(err)
	acls, err := h1.GetAllAccessControls(nil)
	must(err)
	one, err := h1.GetAccessControlById(acl.Id)
	must(err)
	if len(acls) != 1 || one.MemberID != vcdsim.UserURN("acme", "bob") || one.Tenant.Name != "acme" {
		t.Fatalf("access controls %+v %+v", acls, one)
	}
	if _, err := bob.GetRdeById(id); err != nil {
		t.Fatalf("bob after the share: %v", err)
	}
	must(h1.DeleteAccessControl(acl))
	if _, err := bob.GetRdeById(id); !govcd.ContainsNotFound(err) {
		t.Fatalf("bob after the unshare: %v", err)
	}
	must(h1.Delete())
	if _, err := alice.GetRdeById(id); !govcd.ContainsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}

	// The provider makes an entity in acme for alice, through the tenant context.
	rde2, err := rt.CreateRde(types.DefinedEntity{Name: "gc-2", Entity: content("gc-2", "acme"),
		Owner: &types.OpenApiReference{ID: vcdsim.UserURN("acme", "alice")}}, &govcd.TenantContext{OrgId: vcdsim.OrgURN("acme"), OrgName: "acme"})
	must(err)
	if rde2.DefinedEntity.Org.Name != "acme" || rde2.DefinedEntity.Owner.Name != "alice" {
		t.Fatalf("made for alice %+v", rde2.DefinedEntity)
	}
	if _, err := alice.GetRdeById(rde2.DefinedEntity.ID); err != nil {
		t.Fatal(err)
	}
	// A type with entities is not deleted.
	if err := rt.Delete(); err == nil {
		t.Fatal("deleted a type with entities")
	}
}

// TestMaxAPIVersion plays VCDs of several releases: /api/versions lists up to the highest
// version (and 37.0, which go-vcloud-director needs to log in), and below 36.0 (VCD 10.2)
// there are no behaviors and no entity type hooks.
func TestMaxAPIVersion(t *testing.T) {
	hooks := map[string]any{"PostCreate": "urn:vcloud:behavior-interface:createKubeConfig:vmware:k8s:1.0.0"}
	for _, tc := range []struct {
		max       string
		listed    []string
		behaviors int // status of a behaviors route
		hooks     int // status of a type created with hooks
	}{
		{"", []string{"33.0", "34.0", "35.0", "36.0", "37.0", "37.1", "37.2", "38.0", "38.1"}, 200, 201},
		{"36.0", []string{"33.0", "34.0", "35.0", "36.0", "37.0"}, 200, 201},
		{"35.0", []string{"33.0", "34.0", "35.0", "37.0"}, 404, 400},
	} {
		t.Run("max "+tc.max, func(t *testing.T) {
			_, base := start(t, func(c *vcdsim.Config) { c.MaxAPIVersion = tc.max })
			anon := &cloud{t: t, base: base, hc: insecure}
			var versions struct {
				Infos []struct {
					Version string `xml:"Version"`
				} `xml:"VersionInfo"`
			}
			if err := xml.Unmarshal(anon.must(200, http.MethodGet, "/api/versions", nil), &versions); err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, v := range versions.Infos {
				listed = append(listed, v.Version)
			}
			if !slices.Equal(listed, tc.listed) {
				t.Fatalf("/api/versions lists %v, want %v", listed, tc.listed)
			}
			admin := login(t, base, "administrator", "kaas-admin", "System") // govcd logs in
			api := "/cloudapi/1.0.0/"
			admin.must(tc.behaviors, http.MethodGet, api+"interfaces/urn:vcloud:interface:vmware:k8s:1.0.0/behaviors", nil)
			typ := map[string]any{"name": "t", "description": "", "schema": testSchema, "interfaces": []string{"urn:vcloud:interface:vmware:k8s:1.0.0"},
				"version": "1.0.0", "vendor": "cse", "nss": "nativeCluster", "hooks": hooks}
			admin.must(tc.hooks, http.MethodPost, api+"entityTypes", typ)
			delete(typ, "hooks")
			if tc.hooks != 201 {
				admin.must(201, http.MethodPost, api+"entityTypes", typ)
			}
		})
	}
	if _, err := vcdsim.New(vcdsim.Config{MaxAPIVersion: "34.5"}, nil); err == nil {
		t.Fatal("maxApiVersion 34.5 was taken")
	}
}
