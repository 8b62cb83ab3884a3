package kaasd_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
)

// shape checks an answer's body against the shape CSE (or kaas, for its own routes) gives it.
type shape func(t *testing.T, body []byte) error

func object(keys ...string) shape {
	return func(t *testing.T, body []byte) error {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("not a JSON object: %v", err)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				return fmt.Errorf("no %q", k)
			}
		}
		return nil
	}
}

// exactly is a JSON object with these keys and no other: the shape of a CSE model its
// client builds with Model(**body), which raises on any other key.
func exactly(keys ...string) shape {
	return func(t *testing.T, body []byte) error {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("not a JSON object: %v", err)
		}
		got := slices.Sorted(maps.Keys(m))
		if want := slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
			return fmt.Errorf("keys %v, want exactly %v", got, want)
		}
		return nil
	}
}

// each is a JSON array whose items all have the shape, at least minLen of them.
func each(minLen int, item shape) shape {
	return func(t *testing.T, body []byte) error {
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return fmt.Errorf("not a JSON array: %v", err)
		}
		if len(items) < minLen {
			return fmt.Errorf("%d items, want at least %d", len(items), minLen)
		}
		for _, it := range items {
			if err := item(t, it); err != nil {
				return err
			}
		}
		return nil
	}
}

// pageOf is CSE's paged result whose values all have the shape.
func pageOf(minLen int, item shape) shape {
	return func(t *testing.T, body []byte) error {
		if err := object("resultTotal", "pageCount", "page", "pageSize", "values")(t, body); err != nil {
			return err
		}
		var p struct{ Values json.RawMessage }
		_ = json.Unmarshal(body, &p)
		return each(minLen, item)(t, p.Values)
	}
}

// list is a JSON array whose items (if any) are objects with the keys.
func list(minLen int, keys ...string) shape {
	return func(t *testing.T, body []byte) error {
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return fmt.Errorf("not a JSON array: %v", err)
		}
		if len(items) < minLen {
			return fmt.Errorf("%d items, want at least %d", len(items), minLen)
		}
		for _, it := range items {
			if err := object(keys...)(t, it); err != nil {
				return err
			}
		}
		return nil
	}
}

// page is CSE's paged result whose values are objects with the keys.
func page(minLen int, keys ...string) shape {
	return func(t *testing.T, body []byte) error {
		if err := object("resultTotal", "pageCount", "page", "pageSize", "values")(t, body); err != nil {
			return err
		}
		var p struct{ Values json.RawMessage }
		_ = json.Unmarshal(body, &p)
		return list(minLen, keys...)(t, p.Values)
	}
}

// defEntity is CSE's DefEntity of a native cluster.
func defEntity(t *testing.T, body []byte) error {
	if err := object("id", "entityType", "name", "state", "owner", "org", "entity")(t, body); err != nil {
		return err
	}
	var d cse.DefEntity
	if err := json.Unmarshal(body, &d); err != nil {
		return err
	}
	if !strings.HasPrefix(d.ID, "urn:vcloud:entity:cse:nativeCluster:") || d.EntityType != "urn:vcloud:type:cse:nativeCluster:2.1.0" ||
		d.Entity.Status == nil || d.Entity.Status.Phase == "" {
		return fmt.Errorf("not a native cluster DefEntity: %.200s", body)
	}
	return nil
}

// defEntityV1 is the DefEntity of a v1.0 entity, API 35.0's.
func defEntityV1(t *testing.T, body []byte) error {
	var d cse.DefEntityV1
	if err := json.Unmarshal(body, &d); err != nil {
		return err
	}
	if d.EntityType != cse.EntityTypeV1 || d.Entity.Metadata.ClusterName == "" || d.Entity.Status == nil || d.Entity.Status.Phase == "" {
		return fmt.Errorf("not a v1.0 DefEntity: %.200s", body)
	}
	return nil
}

// cseError is CSE's error body, whose keys have spaces.
func cseError(t *testing.T, body []byte) error {
	var e struct {
		Message struct {
			Minor *int   `json:"minor error code"`
			Text  string `json:"error description"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Message.Minor == nil || e.Message.Text == "" {
		return fmt.Errorf("not CSE's error body: %.200s", body)
	}
	return nil
}

func noBody(t *testing.T, body []byte) error {
	if len(body) != 0 {
		return fmt.Errorf("a body: %.200s", body)
	}
	return nil
}

// TestRouteTable calls every route of CSE's API that kaas serves (cse-protocol.md §2.1 and
// §2.3), and kaas's own, through the whole path: HTTPS to the simulated VCD, which relays
// each call over AMQP as its API extension, to kaasd. Each answer's status and body shape are
// checked, refusals (404, 405, 406, 403, 400) included.
func TestRouteTable(t *testing.T) {
	e := startSimEnv(t, kaasdtest.FastSim())
	alice := e.token
	provider := e.login("administrator@System", "kaas-admin")

	// A cluster with an NFS node, and one to delete.
	spec := entity("routes", good, 1, true)
	spec["spec"].(map[string]any)["topology"].(map[string]any)["nfs"] = map[string]any{"count": 1}
	code, body := e.call("POST", "/api/cse/3.0/clusters", spec)
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	opID := decode[cse.DefEntity](t, body).Entity.Status.Kaas.OperationID
	_, body = e.call("POST", "/api/cse/3.0/clusters", entity("doomed", good, 0, true))
	doomed := decode[cse.DefEntity](t, body).ID
	ent := e.waitPhase(id)
	e.waitPhase(doomed)
	if ent.Entity.Status.Phase != "CREATE:SUCCEEDED" || len(ent.Entity.Status.Nodes.NFS) != 1 {
		t.Fatalf("create: %s %+v", ent.Entity.Status.Phase, ent.Entity.Status.Nodes)
	}
	// The owner by name, as kaas read VCD's users (CSE's cluster list shows it).
	if ent.Owner.Name != "alice" || ent.Owner.ID != vcdsim.UserURN("acme", "alice") {
		t.Errorf("owner %+v", ent.Owner)
	}
	nfs := ent.Entity.Status.Nodes.NFS[0].Name
	_, body = e.callAs(provider, "GET", "/api/cse/3.0/ovdcs", nil)
	vdc := decode[[]cse.Ovdc](t, body)[0]

	scaled := ent.Entity
	two := 2
	scaled.Spec.Topology.Workers.Count = &two
	// Shared with bob, whom the sharer names otherwise: the ACL names him as VCD does.
	acl := map[string]any{"accessSetting": []map[string]string{{"memberId": vcdsim.UserURN("acme", "bob"),
		"username": "robert", "accessLevelId": "urn:vcloud:accessLevel:ReadOnly", "grantType": "MembershipAccessControlGrant"}}}
	aclPage := func(t *testing.T, body []byte) error {
		if err := pageOf(1, exactly("memberId", "username", "accessLevelId"))(t, body); err != nil {
			return err
		}
		if p := decode[cse.Page[map[string]string]](t, body); p.ResultTotal != 1 || p.Values[0]["username"] != "bob" {
			return fmt.Errorf("ACL %+v: want bob, by VCD's name", p)
		}
		return nil
	}
	const v36, v35 = "application/json;version=36.0", "application/json;version=35.0"
	// A task_href CSE's client GETs as it is: absolute, on VCD's public address.
	task := func(t *testing.T, body []byte) error {
		if err := exactly("task_href")(t, body); err != nil {
			return err
		}
		if h := decode[map[string]string](t, body)["task_href"]; !strings.HasPrefix(h, e.url+"/api/") {
			return fmt.Errorf("task_href %q is not on VCD's address %s", h, e.url)
		}
		return nil
	}
	c := "/api/cse/3.0/cluster/" + id
	rows := []struct {
		who, accept, method, path string
		body                      any
		want                      int
		shape                     shape
		wait                      bool // for the cluster's operation to end
	}{
		// §2.1 system and templates.
		{provider, v36, "GET", "/api/cse/system", nil, 200, object("product", "version", "cse_server_api_version", "cse_server_supported_api_versions", "status", "clusters"), false},
		{alice, v35, "GET", "/api/cse/system", nil, 200, object("product", "version", "status"), false},
		{provider, v36, "GET", "/api/cse/system/config", nil, 200, object("amqp_url", "vcd_url", "vcd_password"), false},
		{alice, v36, "GET", "/api/cse/system/config", nil, 403, cseError, false},
		{alice, v36, "PUT", "/api/cse/system", map[string]string{"server_action": "disable"}, 403, cseError, false},
		{provider, v36, "PUT", "/api/cse/system", map[string]string{"server_action": "pause"}, 400, cseError, false},
		{provider, v36, "PUT", "/api/cse/system", map[string]string{"server_action": "disable"}, 200, object("message"), false},
		{alice, v36, "GET", "/api/cse/3.0/clusters", nil, 400, cseError, false}, // disabled
		{provider, v36, "GET", "/api/cse/system", nil, 200, object("status"), false},
		{provider, v36, "PUT", "/api/cse/system", map[string]string{"server_action": "enable"}, 200, object("message"), false},
		{alice, v36, "GET", "/api/cse/templates", nil, 200, list(3, "name", "revision", "kubernetes_version", "os", "cni", "cni_version", "deprecated", "catalog", "catalog_item", "is_default", "kind"), false},
		{alice, v36, "GET", "/api/cse/templates/tkgm", nil, 200, list(0), false},
		{alice, v36, "POST", "/api/cse/templates/action/reload", nil, 403, cseError, false},
		{provider, v36, "POST", "/api/cse/templates/action/reload", nil, 202, task, false},

		// §2.3 clusters.
		{alice, v36, "GET", "/api/cse/3.0/clusters", nil, 200, list(2, "id", "entityType", "entity"), false},
		{alice, v35, "GET", "/api/cse/3.0/clusters?page=1&pageSize=1", nil, 200, page(1, "id", "entity"), false},
		{alice, v36, "GET", "/api/cse/3.0/nativeclusters?pageSize=10", nil, 200, page(2, "id", "entity"), false},
		{alice, v36, "GET", c, nil, 200, defEntity, false},
		{alice, v36, "PUT", c, scaled, 202, defEntity, true},
		{alice, v36, "GET", c + "/config", nil, 200, object("message"), false},
		{alice, v36, "GET", c + "/upgrade-plan", nil, 200, list(1, "name", "revision", "kubernetes_version"), false},
		{alice, v35, "POST", c + "/action/upgrade", map[string]any{"template_name": "ubuntu-22.04_k8s-1.30_antrea-1.15", "template_revision": 1}, 202, defEntityV1, true},
		{alice, v35, "GET", c, nil, 200, defEntityV1, false},
		{alice, v36, "DELETE", c + "/nfs/" + nfs, nil, 202, defEntity, true},
		{alice, v36, "DELETE", c + "/nfs/nfsd-nope", nil, 404, cseError, false},
		{alice, v36, "GET", c + "/acl", nil, 200, page(0), false},
		{alice, v36, "PUT", c + "/acl", acl, 204, noBody, false},
		{alice, v36, "GET", c + "/acl?page=1&pageSize=5", nil, 200, aclPage, false},
		{alice, v36, "GET", c + "/events?pageSize=100", nil, 200, page(10, "id", "seq", "type", "time", "hash", "data"), false},
		{alice, v36, "GET", "/api/cse/3.0/operations/" + opID, nil, 200, object("id", "clusterId", "operation", "status", "phase", "percent"), false},
		{alice, v36, "DELETE", "/api/cse/3.0/cluster/" + doomed, nil, 202, defEntity, false},

		// §2.3 org VDCs.
		{alice, v36, "GET", "/api/cse/3.0/ovdcs", nil, 200, each(1, exactly("ovdc_name", "ovdc_id", "org_name", "k8s_runtime")), false},
		{alice, v36, "GET", "/api/cse/3.0/ovdc/" + vdc.ID, nil, 200, exactly("ovdc_name", "ovdc_id", "org_name", "k8s_runtime"), false},
		{alice, v36, "GET", "/api/cse/3.0/ovdc/urn:vcloud:vdc:" + vdc.ID, nil, 200, exactly("ovdc_name", "ovdc_id", "org_name", "k8s_runtime"), false},
		{alice, v36, "PUT", "/api/cse/3.0/ovdc/" + vdc.ID, cse.OvdcUpdate{K8sRuntime: []string{"native"}, OrgName: vdc.OrgName, OvdcName: vdc.Name}, 403, cseError, false},
		{provider, v36, "PUT", "/api/cse/3.0/ovdc/" + vdc.ID, cse.OvdcUpdate{K8sRuntime: []string{"TKGm"}, OrgName: vdc.OrgName, OvdcName: vdc.Name}, 400, cseError, false},
		{provider, v36, "PUT", "/api/cse/3.0/ovdc/" + vdc.ID, cse.OvdcUpdate{K8sRuntime: []string{"native"}, OrgName: vdc.OrgName, OvdcName: vdc.Name}, 202, task, false},
		// As CSE 3.1.4's client sends it: its whole Ovdc model, the names null.
		{provider, v36, "PUT", "/api/cse/3.0/ovdc/" + vdc.ID, json.RawMessage(`{"k8s_runtime":["native"],"ovdc_name":null,"ovdc_id":null,"org_name":"acme","remove_cp_from_vms_on_disable":false}`),
			202, task, false},
		{alice, v36, "GET", "/api/cse/3.0/orgvdcs?pageSize=10", nil, 200, pageOf(1, exactly("ovdc_name", "ovdc_id", "org_name", "k8s_runtime")), false},

		// Refusals.
		{alice, v36, "GET", "/api/cse/3.0/nothing", nil, 404, cseError, false},
		{alice, v36, "GET", "/api/cse/3.0/cluster/urn:vcloud:entity:cse:nativeCluster:7c9e6679-7425-40de-944b-e07fc1f90ae7", nil, 404, cseError, false},
		{alice, v36, "PATCH", c, nil, 405, cseError, false},
		{alice, v36, "POST", c + "/acl", nil, 405, cseError, false},
		{alice, "application/xml", "GET", c, nil, 406, cseError, false},
		{alice, "application/json;version=30.0", "GET", c, nil, 406, cseError, false},
		{alice, v36, "POST", "/api/cse/3.0/clusters", map[string]any{"apiVersion": "cse.vmware.com/v2.1"}, 400, cseError, false},

		// Last: the forced delete of the cluster every row above used.
		{alice, v36, "POST", c + "/action/force-delete", nil, 202, defEntity, false},
	}
	for _, r := range rows {
		code, body := e.callAccept(r.who, r.accept, r.method, r.path, r.body)
		if code != r.want {
			t.Errorf("%s %s: %d, want %d: %.300s", r.method, r.path, code, r.want, body)
			continue
		}
		if err := r.shape(t, body); err != nil {
			t.Errorf("%s %s: %v", r.method, r.path, err)
		}
		if r.wait {
			if ent := e.waitPhase(id); !strings.HasSuffix(ent.Entity.Status.Phase, ":SUCCEEDED") {
				t.Fatalf("%s %s ended %s: %+v", r.method, r.path, ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
			}
		}
	}
	e.waitGone(id)
	e.waitGone(doomed)
	if inv := e.sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("VCD still holds %+v", inv.VApps)
	}
}
