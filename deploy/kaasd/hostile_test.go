package kaasd_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// hostileCase is one bad request. It goes to kaas both ways VCD's calls arrive in these
// tests: as a tenant's HTTPS call that vcdsim relays over AMQP, and as an AMQP message
// published straight to kaasd's exchange (with the same caller's security context).
type hostileCase struct {
	name   string
	as     string // "alice" (default: may create), "bob" (may only look), "carol" (another org)
	method string
	path   string // "{victim}" is replaced by the victim cluster's id
	query  string
	accept string // "" is application/json;version=36.0
	body   []byte
	want   string // what the error description must mention (without case); "" for anything
	status int    // 0: any 4xx
	amqp   bool   // AMQP only (the HTTPS side cannot express it)
}

// TestHostileInputHarmsNothing sends hundreds of malformed and hostile requests through the
// whole path and checks the promise of the README: no 5xx, no 202 for invalid input, every
// refusal in CSE's error body naming the problem; and afterwards kaas is healthy, nothing
// was appended, no VM was made, and every cluster can still be deleted.
func TestHostileInputHarmsNothing(t *testing.T) {
	simCfg := kaasdtest.FastSim()
	simCfg.Orgs = append(simCfg.Orgs, vcdsim.OrgConfig{
		Name: "globex",
		VDCs: []vcdsim.VDCConfig{{Name: "globex-vdc", Networks: []vcdsim.NetworkConfig{{Name: "globex-net", Gateway: "10.2.0.1", Pool: "10.2"}}}},
		Users: []vcdsim.UserConfig{{Name: "carol", Password: "carol-pass",
			Rights: []string{"cse:nativeCluster: Full Access", "cse:nativeCluster: View"}}},
	})
	sys := kaasdtest.Start(t, simCfg)
	asProvider := sys.AsProvider(t)
	kaasdtest.EnableVDCs(t, asProvider)

	tokens := map[string]string{
		"alice": sys.Login(t, "alice@acme", "alice-pass"),
		"bob":   sys.Login(t, "bob@acme", "bob-pass"),
		"carol": sys.Login(t, "carol@globex", "carol-pass"),
	}
	callers := map[string]ingress.Caller{}
	for who, org := range map[string]string{"alice": "acme", "bob": "acme", "carol": "globex"} {
		for _, oc := range simCfg.Orgs {
			for _, u := range oc.Users {
				if oc.Name == org && u.Name == who {
					callers[who] = ingress.Caller{User: vcdsim.UserURN(org, who), Org: vcdsim.OrgURN(org), Rights: u.Rights}
				}
			}
		}
	}
	cfg := sys.Config
	client, err := vcdexttest.NewClient(t.Context(), cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })

	// The victim: a cluster that hostile changes are aimed at, settled before the baseline.
	code, body, _ := sys.Call(t, tokens["alice"], "", "POST", "/api/cse/3.0/clusters", entity("victim", good, 1, true))
	if code != http.StatusAccepted {
		t.Fatalf("create the victim: %d %s", code, body)
	}
	victim := decode[cse.DefEntity](t, body).ID
	settled := waitSettled(t, sys, tokens["alice"], victim)
	if settled.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("victim ended %s", settled.Entity.Status.Phase)
	}
	baseCmds, baseEvts, err := sys.Server.Store().LastSequences(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	vappsBefore := len(sys.Sim.Inventory().VApps)

	cases := hostileCases(settled)
	sent := 0
	for _, tc := range cases {
		who := cmpOr(tc.as, "alice")
		path := strings.ReplaceAll(tc.path, "{victim}", victim)
		check := func(t *testing.T, via string, code int, ctype string, body []byte) {
			t.Helper()
			sent++
			switch {
			case code >= 500:
				t.Fatalf("%s: %d: %s", via, code, body)
			case code == http.StatusAccepted || (code < 300 && tc.method != http.MethodGet):
				t.Fatalf("%s: invalid input accepted: %d %s", via, code, body)
			case tc.status != 0 && code != tc.status:
				t.Fatalf("%s: status %d, want %d: %s", via, code, tc.status, body)
			case code < 400:
				t.Fatalf("%s: status %d, want a refusal: %s", via, code, body)
			}
			var e cse.Error
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil || e.Message.ErrorDescription == "" || e.Message.MinorErrorCode == 0 {
				t.Fatalf("%s: %d refusal is not CSE's error body (%v): %s", via, code, err, body)
			}
			if !strings.HasPrefix(ctype, "application/json") {
				t.Fatalf("%s: Content-Type %q", via, ctype)
			}
			if tc.want != "" && !strings.Contains(strings.ToLower(e.Message.ErrorDescription), strings.ToLower(tc.want)) {
				t.Fatalf("%s: %d %q does not mention %q", via, code, e.Message.ErrorDescription, tc.want)
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			if !tc.amqp {
				code, ctype, body := httpsRaw(t, sys, tokens[who], tc.method, path, tc.query, tc.accept, tc.body)
				check(t, "https", code, ctype, body)
			}
			req := vcdexttest.Req{Method: tc.method, Path: path, Query: tc.query, Body: tc.body, Caller: callers[who],
				Headers: map[string]string{"Accept": cmpOr(tc.accept, "application/json;version=36.0"), "Content-Type": "application/json"}}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			resp, err := client.Do(ctx, req)
			if err != nil {
				t.Fatalf("amqp: %v", err)
			}
			check(t, "amqp", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Body)
		})
	}

	// Envelopes VCD would never send: refused whole, in CSE's error body.
	for _, ec := range hostileEnvelopes(callers["alice"], callers["carol"]) {
		t.Run("envelope/"+ec.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			call, err := client.PublishRaw(ctx, ec.body, vcdexttest.RawProps{MessageType: ec.messageType})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := call.Wait(ctx)
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			sent++
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, resp.Body)
			}
			var e cse.Error
			if err := json.Unmarshal(resp.Body, &e); err != nil || e.Message.ErrorDescription == "" || e.Message.MinorErrorCode == 0 {
				t.Fatalf("not CSE's error body (%v): %s", err, resp.Body)
			}
			if !strings.Contains(strings.ToLower(e.Message.ErrorDescription), strings.ToLower(ec.want)) {
				t.Fatalf("%q does not mention %q", e.Message.ErrorDescription, ec.want)
			}
		})
	}
	if sent < 200 {
		t.Fatalf("only %d bad requests were sent; the suite promises at least 200", sent)
	}
	t.Logf("%d bad requests refused (%d cases over HTTPS and AMQP, the rest envelopes)", sent, len(cases))

	// Nothing was appended and nothing was made in VCD.
	cmds, evts, err := sys.Server.Store().LastSequences(t.Context())
	if err != nil || cmds != baseCmds || evts != baseEvts {
		t.Fatalf("bad input appended %d commands and %d events (%v)", cmds-baseCmds, evts-baseEvts, err)
	}
	if n := len(sys.Sim.Inventory().VApps); n != vappsBefore {
		t.Fatalf("bad input changed VCD: %d vApps, was %d", n, vappsBefore)
	}

	// kaas is healthy: ready, and serving a tenant's good requests.
	resp, err := http.Get("http://" + sys.Server.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
	code, body, _ = sys.Call(t, tokens["alice"], "", "POST", "/api/cse/3.0/clusters", entity("after", good, 0, true))
	if code != http.StatusAccepted {
		t.Fatalf("a good create after the bad ones: %d %s", code, body)
	}
	waitSettled(t, sys, tokens["alice"], decode[cse.DefEntity](t, body).ID)

	// And every cluster can be deleted, leaving nothing in VCD.
	code, body, _ = sys.Call(t, tokens["alice"], "", "GET", "/api/cse/3.0/clusters", nil)
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	all := decode[[]cse.DefEntity](t, body)
	if len(all) != 2 {
		t.Fatalf("alice sees %d clusters, want the victim and the good one: %s", len(all), body)
	}
	for _, d := range all {
		if code, body, _ := sys.Call(t, tokens["alice"], "", "DELETE", "/api/cse/3.0/cluster/"+d.ID, nil); code != http.StatusAccepted {
			t.Fatalf("delete %s: %d %s", d.Entity.Metadata.Name, code, body)
		}
	}
	for _, d := range all {
		waitDeleted(t, sys, tokens["alice"], d.ID)
	}
	if inv := sys.Sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("deletes left %+v", inv.VApps)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// httpsRaw is a tenant's HTTPS call to VCD with a raw body.
func httpsRaw(t *testing.T, sys *kaasdtest.System, token, method, path, query, accept string, body []byte) (int, string, []byte) {
	t.Helper()
	u := sys.URL + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", cmpOr(accept, "application/json;version=36.0"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := sys.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func waitSettled(t *testing.T, sys *kaasdtest.System, token, id string) cse.DefEntity {
	t.Helper()
	var d cse.DefEntity
	kaasdtest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		code, body, _ := sys.Call(t, token, "", "GET", "/api/cse/3.0/cluster/"+id, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", id, code, body)
		}
		if d = decode[cse.DefEntity](t, body); strings.HasSuffix(d.Entity.Status.Phase, "IN_PROGRESS") {
			return fmt.Errorf("cluster %s is %s", id, d.Entity.Status.Phase)
		}
		return nil
	})
	return d
}

func waitDeleted(t *testing.T, sys *kaasdtest.System, token, id string) {
	t.Helper()
	kaasdtest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if code, body, _ := sys.Call(t, token, "", "GET", "/api/cse/3.0/cluster/"+id, nil); code != http.StatusNotFound {
			return fmt.Errorf("cluster %s is still there: %d %s", id, code, body)
		}
		return nil
	})
}

// createBody is a good create request changed by f, with a name of its own: a hostile
// create that got through must not make the next ones fail for its name.
func createBody(f func(m map[string]any)) []byte {
	createSeq++
	m := entity(fmt.Sprintf("hostile%d", createSeq), good, 1, true)
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// at walks a create request to the object at a dotted path, making objects on the way.
func at(m map[string]any, path string) map[string]any {
	for _, k := range strings.Split(path, ".") {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m
}

func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		i := strings.LastIndexByte(path, '.')
		at(m, path[:i])[path[i+1:]] = v
	}
}

func hostileCases(victim cse.DefEntity) []hostileCase {
	const clusters = "/api/cse/3.0/clusters"
	var cs []hostileCase
	add := func(c hostileCase) {
		if c.method == "" {
			c.method = http.MethodPost
		}
		if c.path == "" {
			c.path = clusters
		}
		cs = append(cs, c)
	}
	create := func(name, want string, f func(map[string]any)) {
		add(hostileCase{name: "create/" + name, body: createBody(f), want: want, status: http.StatusBadRequest})
	}

	// Values that would reach the nodes' user data.
	for i, key := range []string{
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b\nruncmd:\n  - touch /x",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b\r\n- ssh-rsa AAAA",
		"command=\"touch /x\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
		"ssh-rsa not-base64!!",
		"not a key at all",
		"$(touch /x)",
		"ssh-ed25519 AAAA\x00",
		"ssh-ed25519 " + strings.Repeat("A", 20000),
		"'; touch /x; echo '",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b\u2028runcmd:",
		"{\"runcmd\": [\"touch /x\"]}",
	} {
		create(fmt.Sprintf("sshKey/%d", i), "sshKey", set("spec.settings.sshKey", key))
	}
	for i, cidr := range []string{
		"10.0.0.0/16; touch /x #", "$(touch /x)", "`touch /x`", "10.0.0.0/16\nruncmd: [touch /x]", "10.0.0.0/33",
		"10.0.0.1/16", "8.8.8.0/24", "10.0.0.0", "", "10.0.0.0/-1", "fe80::/10", "1.2.3.4/8", "10.0.0.0/16 ", "0.0.0.0/0",
		"10.1.0.0/24", // the node network's
	} {
		create(fmt.Sprintf("pods/%d", i), "cidr", set("spec.settings.network.pods.cidrBlocks", []string{cidr}))
		create(fmt.Sprintf("services/%d", i), "cidr", set("spec.settings.network.services.cidrBlocks", []string{cidr}))
	}
	create("pods/two-blocks", "cidr", set("spec.settings.network.pods.cidrBlocks", []string{"10.96.0.0/16", "10.97.0.0/16"}))
	create("pods/overlap-services", "cidr", func(m map[string]any) {
		at(m, "spec.settings.network.pods")["cidrBlocks"] = []string{"172.16.0.0/16"}
		at(m, "spec.settings.network.services")["cidrBlocks"] = []string{"172.16.128.0/20"}
	})
	create("pods/not-a-list", "", set("spec.settings.network.pods.cidrBlocks", "10.0.0.0/16"))

	// Sizes.
	for _, pool := range []string{"controlPlane", "workers"} {
		for i, v := range []any{-1, 0, 1 << 40, 1e12, 1.5, "2"} {
			create(fmt.Sprintf("%s/cpu/%d", pool, i), "cpu", set("spec.topology."+pool+".cpu", v))
			create(fmt.Sprintf("%s/memory/%d", pool, i), "memory", set("spec.topology."+pool+".memory", v))
		}
		create(pool+"/sizing-and-cpu", pool, func(m map[string]any) {
			at(m, "spec.topology."+pool)["sizingClass"] = "small"
			at(m, "spec.topology."+pool)["cpu"] = 2
		})
	}
	for i, v := range []any{-1, 101, 1 << 40, "3", 2.5, true} {
		create(fmt.Sprintf("workers/count/%d", i), "workers", set("spec.topology.workers.count", v))
	}
	for i, v := range []any{0, 2, 3, -1} {
		create(fmt.Sprintf("controlPlane/count/%d", i), "control", set("spec.topology.controlPlane.count", v))
	}
	for i, v := range []any{-1, 101, "x"} {
		create(fmt.Sprintf("nfs/count/%d", i), "nfs", set("spec.topology.nfs.count", v))
	}
	create("nfs/cpu", "nfs", set("spec.topology.nfs.cpu", 2))

	// Names that reach VCD.
	for i, name := range []string{"9lives", strings.Repeat("a", 26), "a b", "a;b", "$(id)", "-x", "x_y", "é", "a\nb", "a/b", "a.b"} {
		create(fmt.Sprintf("name/%d", i), "name", set("metadata.name", name))
	}
	for i, v := range []string{"acme-vdc\n", "acme-vdc'", strings.Repeat("v", 300), "nope", "globex-vdc", "acme-vdc\x00"} {
		create(fmt.Sprintf("vdc/%d", i), "", set("metadata.virtualDataCenterName", v))
	}
	for i, v := range []string{"acme-net\nx", "no-such-net", "globex-net", strings.Repeat("n", 300), "$(id)"} {
		create(fmt.Sprintf("network/%d", i), "ovdcNetwork", set("spec.settings.ovdcNetwork", v))
	}
	for i, v := range []any{"no-such-template", "ubuntu\n22.04", strings.Repeat("t", 300), 7} {
		create(fmt.Sprintf("template/%d", i), "template", set("spec.distribution.templateName", v))
	}
	for i, v := range []any{0, -1, 1 << 40, "1", 1.5} {
		create(fmt.Sprintf("revision/%d", i), "revision", set("spec.distribution.templateRevision", v))
	}
	for i, v := range []any{"antrea\n", "$(id)", strings.Repeat("c", 300)} {
		create(fmt.Sprintf("cni/%d", i), "cni", set("spec.settings.cni.name", v))
	}
	create("storageProfile", "storageProfile", set("spec.topology.workers.storageProfile", "gold\nx"))
	create("sizingClass", "sizingClass", set("spec.topology.workers.sizingClass", strings.Repeat("s", 300)))
	create("rollback/type", "rollbackOnFailure", set("spec.settings.rollbackOnFailure", "yes"))

	// Another org, and orgs that do not exist: one answer, whatever exists.
	for i, org := range []string{"globex", "GLOBEX", "no-such-org", "System", "acme\n", strings.Repeat("o", 300)} {
		create(fmt.Sprintf("org/%d", i), "", set("metadata.orgName", org))
	}
	add(hostileCase{name: "create/as-another-org", as: "carol", body: createBody(func(map[string]any) {}), status: http.StatusBadRequest})
	add(hostileCase{name: "create/without-the-right", as: "bob", body: createBody(func(map[string]any) {}), status: http.StatusForbidden})

	// The payload itself.
	for i, raw := range []string{
		"{nope", "[1]", "", "null", "42", `"a string"`, "{}", `{"apiVersion": "cse.vmware.com/v2.1"}`,
		strings.Repeat("[", 100000), `{"apiVersion": "cse.vmware.com/v2.1", "apiVersion": "cse.vmware.com/v2.1"}`,
		"\xef\xbb\xbf{}", "{} trailing", "\xff\xfe{}", `{"metadata": {"name": "a\ud800"}}`,
		`{"apiVersion": "cse.vmware.com/v1.0"}`, `{"apiVersion": "cse.vmware.com/v2.1", "kind": "TKGm"}`,
		`{"apiVersion": "cse.vmware.com/v2.1", "wrokers": 1}`, strings.Repeat(" ", 1<<20+10) + "{}",
	} {
		add(hostileCase{name: fmt.Sprintf("payload/%d", i), body: []byte(raw), status: http.StatusBadRequest})
	}
	dup := createBody(func(map[string]any) {})
	dup = bytes.Replace(dup, []byte(`"count":1`), []byte(`"count":1,"count":50`), 1)
	add(hostileCase{name: "payload/repeated-count", body: dup, want: "twice", status: http.StatusBadRequest})

	// Changes aimed at the victim.
	put := func(name, want string, f func(*cse.NativeEntity)) {
		e := victim.Entity
		b, _ := json.Marshal(e)
		var copyOf cse.NativeEntity
		_ = json.Unmarshal(b, &copyOf)
		copyOf.Status = nil
		f(&copyOf)
		b, _ = json.Marshal(copyOf)
		add(hostileCase{name: "update/" + name, method: http.MethodPut, path: "/api/cse/3.0/cluster/{victim}", body: b, want: want, status: http.StatusBadRequest})
	}
	ptr := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	put("sshKey", "sshKey", func(e *cse.NativeEntity) { e.Spec.Settings.SSHKey = ptr("ssh-rsa AAAA\nruncmd: [touch /x]") })
	put("workers/negative", "workers", func(e *cse.NativeEntity) { e.Spec.Topology.Workers.Count = num(-1) })
	put("workers/too-many", "workers", func(e *cse.NativeEntity) { e.Spec.Topology.Workers.Count = num(101) })
	put("template", "template", func(e *cse.NativeEntity) { e.Spec.Distribution.TemplateName = ptr("no-such-template") })
	put("org", "orgName", func(e *cse.NativeEntity) { e.Metadata.OrgName = "globex" })
	put("vdc", "virtualDataCenterName", func(e *cse.NativeEntity) { e.Metadata.VirtualDataCenterName = "globex-vdc" })
	put("pods", "cidr", func(e *cse.NativeEntity) {
		e.Spec.Settings.Network = &cse.Network{Pods: &cse.CIDRs{CIDRBlocks: []string{"10.0.0.0/16; touch /x"}}}
	})
	put("nothing", "nothing to change", func(*cse.NativeEntity) {})
	put("cpu", "cpu", func(e *cse.NativeEntity) { e.Spec.Topology.ControlPlane.CPU = num(-1) })
	add(hostileCase{name: "update/not-json", method: http.MethodPut, path: "/api/cse/3.0/cluster/{victim}", body: []byte("{"), status: http.StatusBadRequest})
	// bob may look at clusters shared with him; the victim is not: it does not exist for him.
	add(hostileCase{name: "update/by-a-viewer", as: "bob", method: http.MethodPut, path: "/api/cse/3.0/cluster/{victim}", body: []byte("{}")})
	add(hostileCase{name: "update/by-another-org", as: "carol", method: http.MethodPut, path: "/api/cse/3.0/cluster/{victim}",
		body: createBody(func(map[string]any) {}), status: http.StatusNotFound})
	add(hostileCase{name: "delete/by-a-viewer", as: "bob", method: http.MethodDelete, path: "/api/cse/3.0/cluster/{victim}"})
	add(hostileCase{name: "delete/by-another-org", as: "carol", method: http.MethodDelete, path: "/api/cse/3.0/cluster/{victim}", status: http.StatusNotFound})
	add(hostileCase{name: "force-delete/by-another-org", as: "carol", path: "/api/cse/3.0/cluster/{victim}/action/force-delete", status: http.StatusNotFound})
	add(hostileCase{name: "config/by-another-org", as: "carol", method: http.MethodGet, path: "/api/cse/3.0/cluster/{victim}/config", status: http.StatusNotFound})
	add(hostileCase{name: "nfs/unknown-node", method: http.MethodDelete, path: "/api/cse/3.0/cluster/{victim}/nfs/nfsd-none", status: http.StatusNotFound})
	add(hostileCase{name: "nfs/control-plane", method: http.MethodDelete, path: "/api/cse/3.0/cluster/{victim}/nfs/" + victim.Entity.Status.Nodes.ControlPlane.Name, status: http.StatusNotFound})

	// Sharing.
	acl := func(name, want string, status int, entries any) {
		b, _ := json.Marshal(map[string]any{"accessSetting": entries})
		add(hostileCase{name: "acl/" + name, method: http.MethodPut, path: "/api/cse/3.0/cluster/{victim}/acl", body: b, want: want, status: status})
	}
	member := func(id, level string) map[string]string {
		return map[string]string{"memberId": id, "accessLevelId": level}
	}
	okUser := "urn:vcloud:user:" + strings.TrimPrefix(vcdsim.UserURN("acme", "bob"), "urn:vcloud:user:")
	acl("not-a-user", "memberId", 400, []any{member("bob", "urn:vcloud:accessLevel:ReadOnly")})
	acl("an-org", "memberId", 400, []any{member("urn:vcloud:org:"+strings.Repeat("0", 8), "urn:vcloud:accessLevel:ReadOnly")})
	acl("bad-level", "accessLevelId", 400, []any{member(okUser, "urn:vcloud:accessLevel:Owner")})
	acl("twice", "twice", 400, []any{member(okUser, "urn:vcloud:accessLevel:ReadOnly"), member(okUser, "urn:vcloud:accessLevel:FullControl")})
	acl("injection", "memberId", 400, []any{member("urn:vcloud:user:x\"; touch /x", "urn:vcloud:accessLevel:ReadOnly")})
	acl("not-a-list", "", 400, "everyone")
	many := make([]any, 101)
	for i := range many {
		many[i] = member(fmt.Sprintf("urn:vcloud:user:00000000-0000-4000-8000-%012d", i), "urn:vcloud:accessLevel:ReadOnly")
	}
	acl("too-many", "100", 400, many)
	add(hostileCase{name: "acl/by-a-viewer", as: "bob", method: http.MethodPut, path: "/api/cse/3.0/cluster/{victim}/acl",
		body: []byte(`{"accessSetting": []}`)})

	// Routes, ids, versions, queries.
	for i, p := range []string{
		"/api/cse/3.0/cluster/not-a-uuid", "/api/cse/3.0/cluster/urn:vcloud:entity:cse:nativeCluster:zz",
		"/api/cse/3.0/cluster/urn:vcloud:vapp:6f0c2a1e-9b8d-4c7f-a6e5-d4c3b2a19087",
		"/api/cse/3.0/cluster/6f0c2a1e-9b8d-4c7f-a6e5-d4c3b2a19087", "/api/cse/3.0/cluster/" + strings.Repeat("a", 4000),
		"/api/cse/3.0/cluster/..%2F..%2Fsystem", "/api/cse/3.0/operation/not-an-operation", "/api/cse/3.0/ovdc/urn:vcloud:vdc:nope",
		"/api/cse/3.0/nothing", "/api/cse/9.9/clusters",
	} {
		add(hostileCase{name: fmt.Sprintf("route/get/%d", i), method: http.MethodGet, path: p})
	}
	for i, q := range []string{"page=0", "page=-1", "pageSize=1000000", "page=abc", "pageSize=0", "page=99999999999999999999"} {
		add(hostileCase{name: fmt.Sprintf("query/nativeclusters/%d", i), method: http.MethodGet, path: "/api/cse/3.0/nativeclusters", query: q, status: http.StatusBadRequest})
	}
	for i, q := range []string{"asOf=yesterday", "asOf=2026-13-01T00:00:00Z", "asOf=%00"} {
		add(hostileCase{name: fmt.Sprintf("query/asOf/%d", i), method: http.MethodGet, path: "/api/cse/3.0/cluster/{victim}", query: q, status: http.StatusBadRequest})
	}
	for i, accept := range []string{"application/xml", "application/json;version=33.0", "application/json;version=abc", "text/html"} {
		add(hostileCase{name: fmt.Sprintf("accept/%d", i), method: http.MethodGet, path: clusters, accept: accept, status: http.StatusNotAcceptable})
	}
	add(hostileCase{name: "method/patch", method: http.MethodPatch, path: clusters, status: http.StatusMethodNotAllowed})
	add(hostileCase{name: "method/delete-all", method: http.MethodDelete, path: clusters, status: http.StatusMethodNotAllowed})

	// What only providers may do.
	for i, r := range []struct{ method, path, body string }{
		{"PUT", "/api/cse/system", `{"server_action": "disable"}`},
		{"PUT", "/api/cse/system", `{"server_action": "stop"}`},
		{"GET", "/api/cse/system/config", ""},
		{"POST", "/api/cse/templates/action/reload", ""},
		{"GET", "/api/cse/3.0/audit", ""},
		{"GET", "/api/cse/3.0/audit/verify", ""},
		{"POST", "/api/cse/3.0/admin/replay", ""},
		{"GET", "/api/cse/3.0/admin/dlq", ""},
	} {
		add(hostileCase{name: fmt.Sprintf("provider-only/%d", i), method: r.method, path: r.path, body: []byte(r.body), status: http.StatusForbidden})
	}
	return cs
}

type envelopeCase struct {
	name, want  string
	messageType string
	body        []byte
}

// hostileEnvelopes are AMQP messages whose envelope is wrong: refused before any route.
func hostileEnvelopes(alice, carol ingress.Caller) []envelopeCase {
	req := func(extra string) string {
		return `{"id":"` + newID() + `","method":"GET","requestUri":"/api/cse/3.0/clusters","queryString":null,` +
			`"headers":{"Accept":"application/json;version=36.0"},"body":""` + extra + `}`
	}
	sc := func(user, org string, extra string) string {
		return `{"user":"` + user + `","org":"` + org + `","rights":["cse:nativeCluster: Full Access"]` + extra + `}`
	}
	good := sc(alice.User, alice.Org, "")
	upper := strings.ToUpper(ingress.SystemOrg[len("urn:vcloud:org:"):])
	return []envelopeCase{
		{name: "not-json", want: "envelope", body: []byte("{nope")},
		{name: "object", want: "array", body: []byte(`{"id": "x"}`)},
		{name: "empty-array", want: "array", body: []byte(`[]`)},
		{name: "one-element", want: "elements", body: []byte("[" + req("") + "]")},
		{name: "three-elements", want: "elements", body: []byte("[" + req("") + "," + good + ",{}]")},
		{name: "org-twice", want: "org", body: []byte("[" + req("") + "," + sc(alice.User, alice.Org, `,"org":"`+ingress.SystemOrg+`"`) + "]")},
		{name: "org-twice-upper", want: "org", body: []byte("[" + req("") + "," + sc(alice.User, alice.Org, `,"org":"urn:vcloud:org:`+upper+`"`) + "]")},
		{name: "user-twice", want: "user", body: []byte("[" + req("") + "," + sc(alice.User, alice.Org, `,"user":"`+carol.User+`"`) + "]")},
		{name: "rights-twice", want: "rights", body: []byte("[" + req("") + "," + sc(alice.User, alice.Org, `,"rights":["cse:nativeCluster: Administrator Full access"]`) + "]")},
		{name: "requestUri-twice", want: "requestUri", body: []byte("[" + req(`,"requestUri":"/api/cse/system/config"`) + "," + good + "]")},
		{name: "method-twice", want: "method", body: []byte("[" + req(`,"method":"DELETE"`) + "," + good + "]")},
		{name: "id-twice", want: "id", body: []byte("[" + req(`,"id":"`+newID()+`"`) + "," + good + "]")},
		{name: "body-twice", want: "body", body: []byte("[" + req(`,"body":"e30="`) + "," + good + "]")},
		{name: "header-twice", want: "accept", body: []byte("[" + strings.Replace(req(""), `"headers":{`, `"headers":{"accept":"application/xml",`, 1) + "," + good + "]")},
		{name: "org-not-urn", want: "org", body: []byte("[" + req("") + "," + sc(alice.User, "acme", "") + "]")},
		{name: "org-another-kind", want: "org", body: []byte("[" + req("") + "," + sc(alice.User, "urn:vcloud:user:"+alice.Org[len("urn:vcloud:org:"):], "") + "]")},
		{name: "org-not-uuid", want: "org", body: []byte("[" + req("") + "," + sc(alice.User, "urn:vcloud:org:acme", "") + "]")},
		{name: "org-with-suffix", want: "org", body: []byte("[" + req("") + "," + sc(alice.User, alice.Org+":x", "") + "]")},
		{name: "user-not-urn", want: "user", body: []byte("[" + req("") + "," + sc("alice", alice.Org, "") + "]")},
		{name: "user-missing", want: "user", body: []byte("[" + req("") + `,{"org":"` + alice.Org + `"}]`)},
		{name: "org-missing", want: "org", body: []byte("[" + req("") + `,{"user":"` + alice.User + `"}]`)},
		{name: "org-number", want: "org", body: []byte("[" + req("") + `,{"user":"` + alice.User + `","org":7}]`)},
		{name: "rights-not-list", want: "rights", body: []byte("[" + req("") + `,{"user":"` + alice.User + `","org":"` + alice.Org + `","rights":"all"}]`)},
		{name: "id-missing", want: "id", body: []byte(`[{"method":"GET","requestUri":"/api/cse/3.0/clusters"},` + good + "]")},
		{name: "uri-relative", want: "requestUri", body: []byte(strings.Replace("["+req("")+","+good+"]", `"/api/cse/3.0/clusters"`, `"api/cse"`, 1))},
		{name: "uri-space", want: "requestUri", body: []byte(strings.Replace("["+req("")+","+good+"]", `"/api/cse/3.0/clusters"`, `"/api/cse/3.0/clusters /x"`, 1))},
		{name: "method-bad", want: "method", body: []byte(strings.Replace("["+req("")+","+good+"]", `"GET"`, `"GE T"`, 1))},
		{name: "body-not-base64", want: "base64", body: []byte(strings.Replace("["+req("")+","+good+"]", `"body":""`, `"body":"!!"`, 1))},
		{name: "headers-not-object", want: "headers", body: []byte(strings.Replace("["+req("")+","+good+"]", `{"Accept":"application/json;version=36.0"}`, `"Accept"`, 1))},
		{name: "header-control", want: "header", body: []byte(strings.Replace("["+req("")+","+good+"]", `version=36.0"`, `version=36.0\r\nX: y"`, 1))},
		{name: "message-type", want: "messageType", messageType: "ProcessHttpResponse", body: []byte("[" + req("") + "," + good + "]")},
		{name: "base64-body", want: "envelope", body: []byte(base64.StdEncoding.EncodeToString([]byte("[" + req("") + "," + good + "]")))},
	}
}

var idSeq, createSeq = time.Now().UnixNano(), 0

// newID is a fresh request id.
func newID() string {
	idSeq++
	return fmt.Sprintf("hostile-%x", idSeq)
}
