package vcdsim

import (
	"encoding/json"
	"strings"
	"testing"
)

// cluster is an entity as the cloudapi lists it, decoded as filters see it.
func fiqlObject(t *testing.T) any {
	t.Helper()
	doc := `{"id":"urn:vcloud:entity:cse:nativeCluster:1","name":"gc-1","entityType":"urn:vcloud:type:cse:nativeCluster:2.1.0",
	  "state":"RESOLVED","externalId":null,"owner":{"name":"alice","id":"urn:vcloud:user:a"},"org":{"name":"acme","id":"urn:vcloud:org:o"},
	  "entity":{"kind":"native","metadata":{"name":"gc-1","orgName":"acme","virtualDataCenterName":"acme vdc;(1),x*y\\z"},
	    "spec":{"topology":{"workers":{"count":2}},"settings":{"network":{"expose":true}}},
	    "status":{"nodes":{"workers":[{"name":"node-a1"},{"name":"node-b2"}]}}}}`
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFIQL(t *testing.T) {
	obj := fiqlObject(t)
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{"name==gc-1", true},
		{"name==gc-2", false},
		{"name==GC-1", true}, // without case, as VCD's queries
		{"name!=gc-1", false},
		{"name!=gc-2", true},
		{"owner.name==alice", true},
		{"org.name==acme;name==gc-1", true},
		{"org.name==acme;name==gc-2", false},
		{"name==gc-2,org.name==acme", true},
		// ; binds tighter than ,: (false;…),true
		{"name==nope;org.name==acme,state==RESOLVED", true},
		{"name==nope;(org.name==acme,state==RESOLVED)", false},
		{"((name==gc-1))", true},
		// CSE's list filter (cse-rde.md §2.3).
		{"entity.metadata.orgName==acme;(entityType==urn:vcloud:type:cse:nativeCluster:1.0.0,entityType==urn:vcloud:type:cse:nativeCluster:2.0.0," +
			"entityType==urn:vcloud:type:cse:nativeCluster:2.1.0,entityType==urn:vcloud:type:vmware:tkgcluster:1.0.0)", true},
		{"entity.metadata.orgName==globex;(entityType==urn:vcloud:type:cse:nativeCluster:2.1.0)", false},
		{"entity.metadata.orgName==acme;name==gc-1", true},
		// Wildcards.
		{"name==gc*", true},
		{"name==*-1", true},
		{"name==g*-*", true},
		{"name==*", true},
		{"name==*x*", false},
		{"name==gc-1*", true},
		{"name==*gc-1", true},
		{"name==g**1", true},
		{"name==gc\\*", false}, // an escaped * is a star
		// Escapes: CSE backslash-escapes ( ) ; , in values.
		{`entity.metadata.virtualDataCenterName==acme vdc\;\(1\)\,x\*y\\z`, true},
		{`entity.metadata.virtualDataCenterName==acme vdc\;\(1\)\,x*z`, true},
		{`entity.metadata.virtualDataCenterName==acme vdc`, false},
		// Numbers and booleans compare as written; arrays fan out.
		{"entity.spec.topology.workers.count==2", true},
		{"entity.spec.topology.workers.count==3", false},
		{"entity.spec.settings.network.expose==true", true},
		{"entity.status.nodes.workers.name==node-b2", true},
		{"entity.status.nodes.workers.name==node-c*", false},
		{"entity.status.nodes.workers.name!=node-a1", false},
		// A missing value equals nothing and differs from everything; null is missing.
		{"entity.spec.nope==x", false},
		{"entity.spec.nope!=x", true},
		{"externalId==null", false},
		{"entity.spec==x", false}, // an object is no value
		{"name==", false},
		// Ordering: numbers as numbers, text without case; a missing value is never in order.
		{"entity.spec.topology.workers.count=gt=1", true},
		{"entity.spec.topology.workers.count=gt=10", false},
		{"entity.spec.topology.workers.count=le=2", true},
		{"name=ge=GC-0", true},
		{"name=lt=gc-0", false},
		{"entity.spec.nope=lt=z", false},
	} {
		f, err := parseFIQL(tc.filter)
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		if got := f.match(obj); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestFIQLErrors(t *testing.T) {
	for _, filter := range []string{
		"name", "name=like=x", "name=gt", "(name==a", "name==a)", "==a", `name==a\`, "()", "name==a;", ";name==a", "name==a,",
		"na me==a", "name==a;(b==c",
	} {
		if _, err := parseFIQL(filter); err == nil {
			t.Errorf("%q parsed", filter)
		}
	}
	if f, err := parseFIQL(""); err != nil || f != nil {
		t.Errorf("an empty filter: %v %v", f, err)
	}
}

// The raw query is split by hand and each value URL-decoded once, the way each client
// sends it.
func TestRawParams(t *testing.T) {
	obj := fiqlObject(t)
	for _, tc := range []struct {
		name, raw, filter string
	}{
		// pyvcloud: ; ( , and == bare.
		{"pyvcloud", "filter=entity.metadata.orgName==acme;name==gc-1&page=1&sortAsc=name", "entity.metadata.orgName==acme;name==gc-1"},
		// CSE: values quoted after escaping (construct_filter_string).
		{"cse quoted", "filter=entity.metadata.virtualDataCenterName==acme%20vdc%5C%3B%5C%281%5C%29%5C%2Cx%5C%2Ay%5C%5Cz&page=1",
			`entity.metadata.virtualDataCenterName==acme vdc\;\(1\)\,x\*y\\z`},
		// govcd: the whole value encoded, spaces as +.
		{"govcd", "filter=vendor%3D%3Dcse%3Bnss%3D%3DnativeCluster%3Bversion%3D%3D2.1.0&pageSize=128", "vendor==cse;nss==nativeCluster;version==2.1.0"},
		{"govcd space", "filter=name%3D%3Dcse%3AnativeCluster+Entitlement", "name==cse:nativeCluster Entitlement"},
		{"leading &", "&filter=name==x&&page=2", "name==x"},
	} {
		p := cloudParams(tc.raw)
		if p["filter"] != tc.filter {
			t.Errorf("%s: filter %q, want %q", tc.name, p["filter"], tc.filter)
		}
		if tc.name == "cse quoted" {
			f, err := parseFIQL(p["filter"])
			if err != nil || !f.match(obj) {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	}
	if p := cloudParams("page=2&pageSize=5&bad=%zz"); p["page"] != "2" || p["pageSize"] != "5" || p["bad"] != "%zz" {
		t.Errorf("params %v", p)
	}
}

func TestMissingRequired(t *testing.T) {
	schema := map[string]any{}
	if err := json.Unmarshal([]byte(`{"type":"object","required":["kind","metadata","spec"],
	  "definitions":{"node":{"type":"object","required":["name"]}},
	  "properties":{"metadata":{"type":"object","required":["name","orgName"]},
	    "status":{"type":"object","properties":{"nodes":{"type":"object","required":["controlPlane"],
	      "properties":{"controlPlane":{"$ref":"#/definitions/node"},"workers":{"type":"array","items":{"$ref":"#/definitions/node"}}}}}}}}`), &schema); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		doc  string
		want string
	}{
		{`{"kind":"native","metadata":{"name":"a","orgName":"acme"},"spec":{}}`, ""},
		{`{"metadata":{"name":"a"}}`, "kind,spec,metadata.orgName"},
		{`{"kind":"native","metadata":{"name":"a","orgName":"acme"},"spec":{},"status":{"nodes":{"workers":[{"name":"w1"},{"ip":"x"}]}}}`,
			"status.nodes.controlPlane,status.nodes.workers.1.name"},
		{`{"kind":"native","metadata":{"name":"a","orgName":"acme"},"spec":{},"status":{"nodes":{"controlPlane":{}}}}`,
			"status.nodes.controlPlane.name"},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.doc), &v); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(missingRequired(schema, v), ","); got != tc.want {
			t.Errorf("%s: missing %q, want %q", tc.doc, got, tc.want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	for _, tc := range []struct {
		h    string
		want bool
	}{
		{`"abc"`, true}, {`abc`, true}, {`W/"abc"`, true}, {`*`, true}, {`"x", "abc"`, true}, {`"abd"`, false}, {`""`, false},
	} {
		if got := etagMatches(tc.h, `"abc"`); got != tc.want {
			t.Errorf("If-Match %s: %v", tc.h, got)
		}
	}
}

func TestAcceptedVersion(t *testing.T) {
	for accept, want := range map[string]bool{
		"": true, "application/json": true, "application/json;version=36.0": true, "application/json;version=35.0": true,
		"application/json;version=38.1": true, "application/json;version=37.0.0-alpha": true, "application/*;version=31.0": true,
		"application/json;version=30.0": false, "application/json;version=39.0": false, "application/json;version=12": false,
	} {
		if got := acceptedVersion(accept); got != want {
			t.Errorf("Accept %q: %v", accept, got)
		}
	}
}
