package vcdsim_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

func start(t *testing.T, mutate ...func(*vcdsim.Config)) (*vcdsim.Server, string) {
	t.Helper()
	cfg := vcdsim.Default()
	cfg.TaskDelay, cfg.BootDelay = vcdsim.Duration(30*time.Millisecond), vcdsim.Duration(100*time.Millisecond)
	for _, m := range mutate {
		m(&cfg)
	}
	sim, err := vcdsim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(sim)
	sim.SetBase(ts.URL)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts.URL
}

func client(t *testing.T, base, user, pass, org string) *govcd.VCDClient {
	t.Helper()
	u, _ := url.Parse(base + "/api")
	vc := govcd.NewVCDClient(*u, true)
	if err := vc.Authenticate(user, pass, org); err != nil {
		t.Fatal(err)
	}
	return vc
}

// vappWithNetwork makes a vApp attached to acme-net, the way govcd's own helpers do.
func vappWithNetwork(t *testing.T, vc *govcd.VCDClient, name string) (*govcd.Vdc, *govcd.VApp) {
	t.Helper()
	org, err := vc.GetOrgByName("acme")
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := org.GetVDCByName("acme-vdc", false)
	if err != nil {
		t.Fatal(err)
	}
	vapp, err := vdc.CreateRawVApp(name, "test")
	if err != nil {
		t.Fatal(err)
	}
	net, err := vdc.GetOrgVdcNetworkByName("acme-net", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vapp.AddOrgNetwork(&govcd.VappNetworkSettings{}, net.OrgVDCNetwork, false); err != nil {
		t.Fatal(err)
	}
	return vdc, vapp
}

func templateVM(t *testing.T, vc *govcd.VCDClient) string {
	t.Helper()
	org, _ := vc.GetOrgByName("acme")
	cat, err := org.GetCatalogByName("kaas-templates", false)
	if err != nil {
		t.Fatal(err)
	}
	item, err := cat.GetCatalogItemByName("ubuntu-22.04_k8s-1.29_antrea-1.14", false)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := item.GetVAppTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return tmpl.VAppTemplate.Children.VM[0].HREF
}

func addVM(name, src string) *types.ReComposeVAppParams {
	return &types.ReComposeVAppParams{Ovf: types.XMLNamespaceOVF, Xsi: types.XMLNamespaceXSI, Xmlns: types.XMLNamespaceVCloud,
		SourcedItem: &types.SourcedCompositionItemParam{Source: &types.Reference{HREF: src, Name: name},
			InstantiationParams: &types.InstantiationParams{NetworkConnectionSection: &types.NetworkConnectionSection{
				NetworkConnection: []*types.NetworkConnection{{Network: "acme-net", IsConnected: true, IPAddressAllocationMode: types.IPAllocationModePool}}}}}}
}

// govcd's own synchronous helpers, end to end: a vApp with a VM, powered on, deleted.
func TestGovcdFlow(t *testing.T) {
	// Instant tasks: govcd's synchronous helpers sleep 3 s per poll of a running task.
	sim, base := start(t, func(c *vcdsim.Config) { c.TaskDelay = 0 })
	vc := client(t, base, "administrator", "kaas-admin", "System")
	vdc, vapp := vappWithNetwork(t, vc, "flow")
	vm, err := vapp.AddRawVM(addVM("node-a", templateVM(t, vc)))
	if err != nil {
		t.Fatal(err)
	}
	nic, err := vm.GetNetworkConnectionSection()
	if err != nil || len(nic.NetworkConnection) != 1 || !strings.HasPrefix(nic.NetworkConnection[0].IPAddress, "10.1.") {
		t.Fatalf("NIC %+v %v", nic, err)
	}
	if _, err := vm.UpdateExtraConfig([]*types.ExtraConfigMarshal{{Key: "guestinfo.hello", Value: "world"}}); err != nil {
		t.Fatal(err)
	}
	ec, err := vm.GetExtraConfig()
	if err != nil || len(ec) != 1 || ec[0].Value != "world" {
		t.Fatalf("extraConfig %+v %v", ec, err)
	}
	if err := vm.AddMetadataEntryWithVisibility("kaas.node.role", "worker", types.MetadataStringValue, types.MetadataReadWriteVisibility, false); err != nil {
		t.Fatal(err)
	}
	// A merge sets what it names and keeps the rest.
	str := func(v string) types.MetadataValue {
		return types.MetadataValue{Domain: &types.MetadataDomainTag{Visibility: types.MetadataReadWriteVisibility, Domain: "GENERAL"},
			TypedValue: &types.MetadataTypedValue{XsiType: types.MetadataStringValue, Value: v}}
	}
	if err := vm.MergeMetadataWithMetadataValues(map[string]types.MetadataValue{"kaas.cluster.id": str("c1"), "kaas.org.id": str("o1")}); err != nil {
		t.Fatal(err)
	}
	md, err := vm.GetMetadata()
	if err != nil || len(md.MetadataEntry) != 3 {
		t.Fatalf("metadata after merge: %+v %v", md, err)
	}
	task, err := vapp.PowerOn()
	if err != nil || task.WaitTaskCompletion() != nil {
		t.Fatalf("power on: %v", err)
	}
	if st, _ := vm.GetStatus(); st != "POWERED_ON" {
		t.Fatalf("VM status %s", st)
	}
	// A running vApp cannot be deleted.
	if _, err := vapp.Delete(); err == nil {
		t.Fatal("deleted a running vApp")
	}
	task, _ = vapp.Undeploy()
	if err := task.WaitTaskCompletion(); err != nil {
		t.Fatal(err)
	}
	task, _ = vapp.Delete()
	if err := task.WaitTaskCompletion(); err != nil {
		t.Fatal(err)
	}
	if _, err := vdc.GetVAppByName("flow", true); err == nil {
		t.Fatal("the vApp survived its deletion")
	}
	if len(sim.Inventory().VApps) != 0 {
		t.Fatal("inventory not empty")
	}
	// Every call above was counted, by operation.
	calls := sim.Calls()
	for op, atLeast := range map[string]int{"login": 1, "compose": 1, "recompose": 1, "reconfigure": 1, "metadata": 2, "power": 2, "delete": 1, "get": 5} {
		if calls[op] < atLeast {
			t.Errorf("calls[%s] = %d, want at least %d (all: %v)", op, calls[op], atLeast, calls)
		}
	}
}

func TestRefusals(t *testing.T) {
	_, base := start(t, func(c *vcdsim.Config) { c.TaskDelay = vcdsim.Duration(time.Second) })
	vc := client(t, base, "administrator", "kaas-admin", "System")
	_, vapp := vappWithNetwork(t, vc, "busy")
	src := templateVM(t, vc)
	// One recompose runs for a second: a second one meanwhile is refused as VCD does.
	if _, err := vc.Client.ExecuteTaskRequest(vapp.VApp.HREF+"/action/recomposeVApp", http.MethodPost, types.MimeRecomposeVappParams,
		"add: %s", addVM("a", src)); err != nil {
		t.Fatal(err)
	}
	_, err := vc.Client.ExecuteTaskRequest(vapp.VApp.HREF+"/action/recomposeVApp", http.MethodPost, types.MimeRecomposeVappParams,
		"add: %s", addVM("b", src))
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("overlapping recompose: %v", err)
	}
	// An unknown id is 403, as on VCD.
	_, err = vc.Client.ExecuteRequest(strings.Replace(vapp.VApp.HREF, vapp.VApp.ID[len("urn:vcloud:vapp:"):], "00000000-0000-0000-0000-000000000000", 1),
		http.MethodGet, "", "get: %s", nil, &types.VApp{})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("unknown vApp: %v", err)
	}
	// A duplicate vApp name is refused.
	org, _ := vc.GetOrgByName("acme")
	vdc, _ := org.GetVDCByName("acme-vdc", false)
	if _, err := vdc.CreateRawVApp("busy", ""); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate name: %v", err)
	}
}

func TestAPITokenAndTenantView(t *testing.T) {
	_, base := start(t)
	u, _ := url.Parse(base + "/api")
	vc := govcd.NewVCDClient(*u, true)
	if _, err := vc.SetApiToken("acme", "alice-api-token"); err != nil {
		t.Fatal(err)
	}
	org, err := vc.GetOrgByName("acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := org.GetVDCByName("acme-vdc", false); err != nil {
		t.Fatal(err)
	}
	// A tenant sees its own org only.
	if _, err := vc.GetOrgByName("System"); err == nil {
		t.Fatal("a tenant found the System org")
	}
	u2, _ := url.Parse(base + "/api")
	if err := govcd.NewVCDClient(*u2, true).Authenticate("alice", "wrong", "acme"); err == nil {
		t.Fatal("a wrong password logged in")
	}
}

func TestFailingTasksAndFaultsEndpoint(t *testing.T) {
	sim, base := start(t, func(c *vcdsim.Config) { c.TaskDelay = 0 })
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	body, _ := json.Marshal(vcdsim.Faults{TaskFailureRate: 1})
	req, _ := http.NewRequest(http.MethodPut, base+"/sim/faults", bytes.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("set faults: %v %v", resp, err)
	}
	resp.Body.Close()
	if sim.Faults().TaskFailureRate != 1 {
		t.Fatal("faults not applied")
	}
	vc := client(t, base, "administrator", "kaas-admin", "System")
	org, _ := vc.GetOrgByName("acme")
	vdc, _ := org.GetVDCByName("acme-vdc", false)
	if _, err := vdc.CreateRawVApp("doomed", ""); err == nil || !strings.Contains(err.Error(), "simulated task failure") {
		t.Fatalf("a failing task: %v", err)
	}
	req, _ = http.NewRequest(http.MethodPut, base+"/sim/faults", strings.NewReader(`{"errorRate": 1, "nonsense": true}`))
	if resp, _ := hc.Do(req); resp.StatusCode != 400 {
		t.Fatalf("bad faults accepted: %d", resp.StatusCode)
	}
	resp, err = hc.Get(base + "/sim/inventory")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("inventory: %v", err)
	}
	resp.Body.Close()
}

func TestExtensionNeedsSessionAndMatch(t *testing.T) {
	_, base := start(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(base + "/api/cse/3.0/clusters")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session: %v %v", resp.StatusCode, err)
	}
	vc := client(t, base, "alice", "alice-pass", "acme")
	req, _ := http.NewRequest(http.MethodGet, base+"/api/cse/3.0/clusters", nil)
	req.Header.Set("X-Vmware-Vcloud-Access-Token", vc.Client.VCDToken)
	resp, err = hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("no extension registered: %v %v", resp.StatusCode, err)
	}
	// Tenants may not register extensions.
	req, _ = http.NewRequest(http.MethodPost, base+"/api/admin/extension/service", strings.NewReader(`<Service name="x"/>`))
	req.Header.Set("X-Vmware-Vcloud-Access-Token", vc.Client.VCDToken)
	if resp, _ = hc.Do(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tenant registration: %d", resp.StatusCode)
	}
}

// Targeted faults hit only the vApp and role they name, as many times as they say, and are
// used up.
func TestTargetedFaults(t *testing.T) {
	sim, base := start(t, func(c *vcdsim.Config) { c.TaskDelay = 0 })
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodPut, base+"/sim/faults", strings.NewReader(`{"targeted": [
		{"vapp": "doomed", "op": "compose", "failStatus": 403, "count": 1},
		{"vapp": "slow", "role": "worker", "op": "recompose", "delay": "5s", "count": 1},
		{"vapp": "slow", "role": "control-plane", "op": "boot", "failAt": "kubeadm-init"}]}`))
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("set faults: %v %v", resp, err)
	}
	resp.Body.Close()

	vc := client(t, base, "administrator", "kaas-admin", "System")
	org, _ := vc.GetOrgByName("acme")
	vdc, _ := org.GetVDCByName("acme-vdc", false)
	if _, err := vdc.CreateRawVApp("doomed", ""); err == nil || !strings.Contains(err.Error(), "simulated task failure") {
		t.Fatalf("the targeted compose: %v", err)
	}
	if f := sim.Faults().Targeted; len(f) != 2 || f[0].VApp != "slow" {
		t.Fatalf("a fault with one hit left after its hit: %+v", f)
	}
	if _, err := vdc.CreateRawVApp("doomed", ""); err != nil {
		t.Fatalf("the compose after the fault was used up: %v", err)
	}

	_, vapp := vappWithNetwork(t, vc, "slow")
	src := templateVM(t, vc)
	recompose := func(name string) {
		t.Helper()
		if _, err := vc.Client.ExecuteTaskRequest(vapp.VApp.HREF+"/action/recomposeVApp", http.MethodPost, types.MimeRecomposeVappParams,
			"add: %s", addVM(name, src)); err != nil {
			t.Fatal(err)
		}
	}
	recompose("mstr-a") // the control plane's recompose is not the worker's
	var a vcdsim.VAppInfo
	for _, x := range sim.Inventory().VApps {
		if x.Name == "slow" {
			a = x
		}
	}
	if len(a.VMs) != 1 || a.Task != "" {
		t.Fatalf("the control plane's recompose was held: %+v", a)
	}
	vm, err := vapp.GetVMByName("mstr-a", true)
	if err != nil {
		t.Fatal(err)
	}
	if task, err := vm.PowerOn(); err != nil || task.WaitTaskCompletion() != nil {
		t.Fatalf("power on: %v", err)
	}
	recompose("node-a")
	for _, x := range sim.Inventory().VApps {
		if x.Name == "slow" {
			a = x
		}
	}
	if len(a.VMs) != 2 || a.VMs[1].Name != "node-a" || a.VMs[1].Task != "vdcRecomposeVapp" || a.Task != "vdcRecomposeVapp" {
		t.Fatalf("the worker's recompose is not held: %+v", a)
	}
	// The boot fault has no count: it stays, and hit the control plane.
	eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		if gi := sim.Inventory().VApps[1].VMs[0].GuestInfo; gi["guestinfo.kaas.status"] != "failed:kubeadm-init" {
			return fmt.Errorf("the control plane's boot has not failed: %v", gi)
		}
		return nil
	})
	if f := sim.Faults().Targeted; len(f) != 1 || f[0].Op != "boot" {
		t.Fatalf("faults left: %+v", f)
	}
}

// An org's id may be configured, as a UUID or its URN; VCD shows the org by it.
func TestConfiguredOrgID(t *testing.T) {
	const id = "9b0e1c2d-3f4a-4b5c-8d6e-000000061b0e"
	tests := []struct {
		name, id, want, wantErr string
	}{
		{name: "derived from the name", want: vcdsim.OrgURN("acme")},
		{name: "a UUID", id: id, want: "urn:vcloud:org:" + id},
		{name: "a URN", id: "urn:vcloud:org:" + strings.ToUpper(id), want: "urn:vcloud:org:" + id},
		{name: "not a UUID", id: "acme-1", wantErr: `id "acme-1" is no UUID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := vcdsim.Default()
			cfg.Orgs[0].ID = tt.id
			if tt.wantErr != "" {
				if _, err := vcdsim.New(cfg, nil); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			sim, base := start(t, func(c *vcdsim.Config) { c.Orgs[0].ID = tt.id })
			if got := sim.OrgID("acme"); got != tt.want {
				t.Fatalf("OrgID = %s, want %s", got, tt.want)
			}
			org, err := client(t, base, "alice", "alice-pass", "acme").GetOrgByName("acme")
			if err != nil {
				t.Fatal(err)
			}
			if org.Org.ID != tt.want {
				t.Fatalf("VCD shows org %s, want %s", org.Org.ID, tt.want)
			}
		})
	}
}
