package vcd_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcd"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

// startSim runs the simulator on a TLS test server, as govcd expects VCD.
func startSim(t *testing.T, cfg vcdsim.Config) (*vcdsim.Server, string) {
	t.Helper()
	sim, err := vcdsim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(sim)
	sim.SetBase(ts.URL)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts.URL
}

func fastSim() vcdsim.Config {
	cfg := vcdsim.Default()
	cfg.TaskDelay, cfg.BootDelay = vcdsim.Duration(30*time.Millisecond), vcdsim.Duration(150*time.Millisecond)
	return cfg
}

// The govcd adapter passes the conformance suite against the simulator, which govcd
// cannot tell from VCD.
func TestConformanceSimulator(t *testing.T) {
	sim, url := startSim(t, fastSim())
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	vcdtest.Run(t, vcdtest.Target{VCD: c, Org: executors.Org{Name: "acme", ID: sim.OrgID("acme")}, OtherOrgID: "urn:vcloud:org:00000000-0000-0000-0000-000000000000",
		VDC: "acme-vdc", Network: "acme-net", Template: events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1},
		StorageProfile: "Gold", SizingPolicy: "medium", Hardware: simHardware(sim, c),
		User: "alice", UserID: vcdsim.UserURN("acme", "alice"), Poll: 20 * time.Millisecond, Timeout: 20 * time.Second})
	if inv := sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("the suite left %+v", inv.VApps)
	}
}

// The template calls pass the conformance suite against the simulator, each resumption by a
// client that logged in anew and remembers nothing.
func TestTemplateConformanceSimulator(t *testing.T) {
	sim, url := startSim(t, fastSim())
	cfg := vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true}
	c, err := vcd.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	vcdtest.RunTemplates(t, vcdtest.Target{VCD: c, Org: executors.Org{Name: "acme", ID: sim.OrgID("acme")},
		VDC: "acme-vdc", Network: "acme-net", StorageProfile: "Gold", SizingPolicy: "medium", Hardware: simHardware(sim, c),
		Fresh: func(t *testing.T) executors.VCD {
			fresh, err := vcd.New(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			return fresh
		},
		Poll: 20 * time.Millisecond, Timeout: 30 * time.Second})
	if inv := sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("the suite left %+v", inv.VApps)
	}
}

// The same suite against a real VCD, when one is configured: KAAS_VCD_URL,
// KAAS_VCD_ORG/USER/PASSWORD or KAAS_VCD_TOKEN, and KAAS_TEST_ORG, KAAS_TEST_ORG_ID,
// KAAS_TEST_VDC, KAAS_TEST_NETWORK, KAAS_TEST_TEMPLATE (name, revision 1),
// KAAS_TEST_STORAGE_PROFILE (not the VDC's default), KAAS_TEST_SIZING_POLICY (one assigned
// to the VDC that sets at least 2 CPUs and 2048 MB), and optionally KAAS_TEST_USER (a user
// of that org, by name). With KAAS_TEST_TEMPLATES=true the template calls run too, in
// KAAS_TEST_BUILD_ORG, KAAS_TEST_BUILD_VDC and KAAS_TEST_BUILD_NETWORK when set (an org
// that can write to the catalog).
func TestConformanceRealVCD(t *testing.T) {
	url := os.Getenv("KAAS_VCD_URL")
	if url == "" {
		t.Skip("KAAS_VCD_URL is not set: no real VCD to run against")
	}
	c, err := vcd.New(t.Context(), vcd.Config{URL: url, Org: os.Getenv("KAAS_VCD_ORG"), User: os.Getenv("KAAS_VCD_USER"),
		Password: os.Getenv("KAAS_VCD_PASSWORD"), Token: os.Getenv("KAAS_VCD_TOKEN"), Insecure: os.Getenv("KAAS_VCD_INSECURE") == "true",
		Catalog: os.Getenv("KAAS_VCD_CATALOG")})
	if err != nil {
		t.Fatal(err)
	}
	tg := vcdtest.Target{VCD: c, Org: executors.Org{Name: os.Getenv("KAAS_TEST_ORG"), ID: os.Getenv("KAAS_TEST_ORG_ID")},
		VDC: os.Getenv("KAAS_TEST_VDC"), Network: os.Getenv("KAAS_TEST_NETWORK"), User: os.Getenv("KAAS_TEST_USER"),
		Template:       events.TemplateRef{Name: os.Getenv("KAAS_TEST_TEMPLATE"), Revision: 1},
		StorageProfile: os.Getenv("KAAS_TEST_STORAGE_PROFILE"), SizingPolicy: os.Getenv("KAAS_TEST_SIZING_POLICY"), Hardware: c.Hardware,
		Timeout: 30 * time.Minute, Poll: 5 * time.Second}
	vcdtest.Run(t, tg)
	if os.Getenv("KAAS_TEST_TEMPLATES") == "true" {
		tg.BuildOrg = executors.Org{Name: os.Getenv("KAAS_TEST_BUILD_ORG")}
		tg.BuildVDC, tg.BuildNetwork = os.Getenv("KAAS_TEST_BUILD_VDC"), os.Getenv("KAAS_TEST_BUILD_NETWORK")
		tg.Fresh = func(t *testing.T) executors.VCD {
			fresh, err := vcd.New(t.Context(), vcd.Config{URL: url, Org: os.Getenv("KAAS_VCD_ORG"), User: os.Getenv("KAAS_VCD_USER"),
				Password: os.Getenv("KAAS_VCD_PASSWORD"), Token: os.Getenv("KAAS_VCD_TOKEN"), Insecure: os.Getenv("KAAS_VCD_INSECURE") == "true",
				Catalog: os.Getenv("KAAS_VCD_CATALOG")})
			if err != nil {
				t.Fatal(err)
			}
			return fresh
		}
		t.Run("templates", func(t *testing.T) { vcdtest.RunTemplates(t, tg) })
	}
}

// simHardware reads a VM's hardware from the simulator's inventory, what VCD holds, and
// checks that the adapter reads the same from the VM's document.
func simHardware(sim *vcdsim.Server, c *vcd.Client) func(ctx context.Context, ref executors.VMRef) (executors.VMHardware, error) {
	return func(ctx context.Context, ref executors.VMRef) (executors.VMHardware, error) {
		var held *executors.VMHardware
		for _, a := range sim.Inventory().VApps {
			for _, m := range a.VMs {
				if a.Name == ref.VApp.Name && m.Name == ref.Name {
					held = &executors.VMHardware{SizingPolicy: m.SizingPolicy, StorageProfile: m.StorageProfile, CPU: m.CPU, MemoryMB: m.MemoryMB}
				}
			}
		}
		if held == nil {
			return executors.VMHardware{}, fmt.Errorf("VCD holds no VM %s in vApp %s", ref.Name, ref.VApp.Name)
		}
		read, err := c.Hardware(ctx, ref)
		if err != nil {
			return *held, err
		}
		if read != *held {
			return *held, fmt.Errorf("the adapter reads %+v where VCD holds %+v", read, *held)
		}
		return *held, nil
	}
}

// A delete is not failed by a task of the create it follows: a compose that fails while a
// force delete looks for the vApp leaves nothing to delete, and the delete is done.
func TestDeleteIgnoresTheCreatesFailedTask(t *testing.T) {
	sim, url := startSim(t, fastSim())
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	sim.AddTargeted(vcdsim.Targeted{VApp: "doomed", Op: "compose", FailStatus: 400, Delay: vcdsim.Duration(200 * time.Millisecond), Count: 1})
	ref := executors.VAppRef{Org: "acme", OrgID: sim.OrgID("acme"), VDC: "acme-vdc", Name: "doomed", ClusterID: "4c1d9e1e-0000-4000-8000-000000000001"}
	st, err := c.EnsureVApp(t.Context(), executors.VAppSpec{VAppRef: ref, Network: "acme-net"})
	if err != nil || st.Done {
		t.Fatalf("compose: %+v %v", st, err)
	}
	// The delete comes once VCD has failed the compose's task.
	vc, err := vcd.Login(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	vcdtest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		tasks, err := vc.Client.QueryTaskList(map[string]string{"objectName": ref.Name})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, task := range tasks {
			if task.Name == "vdcComposeVapp" && task.Status == "error" {
				return nil
			}
			seen = append(seen, task.Name+" "+task.Status)
		}
		return fmt.Errorf("no failed compose among the vApp's tasks %v", seen)
	})
	st, err = c.DeleteVApp(t.Context(), ref)
	if err != nil || !st.Done {
		t.Fatalf("delete after a failed compose: %+v %v", st, err)
	}
	if inv := sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("VCD holds %+v", inv.VApps)
	}
}

// Cloud reads each org VDC's networks and their subnets as VCD reports them: the gateway
// masked by the netmask (vcdsim's networks are /16s).
func TestCloudReadsNetworks(t *testing.T) {
	cfg := fastSim()
	cfg.Orgs = append(cfg.Orgs, vcdsim.OrgConfig{Name: "globex", VDCs: []vcdsim.VDCConfig{
		{Name: "globex-vdc", Networks: []vcdsim.NetworkConfig{{Name: "front", Gateway: "192.168.7.1", Pool: "192.168"}, {Name: "back", Gateway: "172.20.3.254", Pool: "172.20"}}},
		{Name: "empty-vdc"},
	}})
	_, url := startSim(t, cfg)
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := c.Cloud(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]events.Network{}
	for _, n := range cloud.Networks {
		for _, d := range cloud.VDCs {
			if d.ID == n.VDC {
				got[d.OrgName+"/"+d.Name] = n.Networks
			}
		}
	}
	want := map[string][]events.Network{
		"acme/acme-vdc":     {{Name: "acme-net", CIDRs: []string{"10.1.0.0/16"}}},
		"globex/globex-vdc": {{Name: "front", CIDRs: []string{"192.168.0.0/16"}}, {Name: "back", CIDRs: []string{"172.20.0.0/16"}}},
		"globex/empty-vdc":  {},
	}
	if !reflect.DeepEqual(got, want) || len(cloud.Networks) != len(cloud.VDCs) {
		t.Fatalf("networks %+v, want %+v", got, want)
	}
}

// Cloud reads every org's users, the System org's included, each with its org, page after
// page (an org with more users than a page holds).
func TestCloudReadsUsers(t *testing.T) {
	cfg := fastSim()
	many := vcdsim.OrgConfig{Name: "globex"}
	for i := range 130 {
		many.Users = append(many.Users, vcdsim.UserConfig{Name: fmt.Sprintf("user%03d", i), Password: "x"})
	}
	cfg.Orgs = append(cfg.Orgs, many)
	sim, url := startSim(t, cfg)
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := c.Cloud(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]events.User{}
	for _, u := range cloud.Users {
		if _, twice := got[u.ID]; twice {
			t.Errorf("user %+v listed twice", u)
		}
		got[u.ID] = u
	}
	want := []events.User{
		{ID: vcdsim.UserURN("acme", "alice"), Name: "alice", OrgID: sim.OrgID("acme")},
		{ID: vcdsim.UserURN("acme", "bob"), Name: "bob", OrgID: sim.OrgID("acme")},
		{ID: vcdsim.UserURN("System", "administrator"), Name: "administrator", OrgID: sim.OrgID("System")},
		{ID: vcdsim.UserURN("globex", "user129"), Name: "user129", OrgID: sim.OrgID("globex")},
	}
	for _, w := range want {
		if got[w.ID] != w || w.OrgID == "" {
			t.Errorf("user %s read as %+v, want %+v", w.Name, got[w.ID], w)
		}
	}
	if n := len(got); n < 133 {
		t.Errorf("%d users read, want every one of the 133 or more", n)
	}
}
