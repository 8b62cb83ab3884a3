package vcdmem_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

// The in-memory VCD passes the same suite as the govcd adapter, so that executor tests
// against it mean something.
func TestConformance(t *testing.T) {
	cloud := vcdmem.Default()
	cloud.TaskDelay, cloud.BootDelay = 10*time.Millisecond, 50*time.Millisecond
	cloud.Orgs[0].ID = vcdmem.AcmeOrgID
	const alice = "urn:vcloud:user:a11ce000-0000-4000-8000-000000000001"
	cloud.Orgs[0].Users = []vcdmem.User{{ID: alice, Name: "alice"}}
	v, err := vcdmem.New(cloud)
	if err != nil {
		t.Fatal(err)
	}
	vcdtest.Run(t, vcdtest.Target{VCD: v, Org: executors.Org{Name: "acme", ID: vcdmem.AcmeOrgID}, OtherOrgID: "urn:vcloud:org:other",
		VDC: "acme-vdc", Network: "acme-net", Template: events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1},
		StorageProfile: "Gold", SizingPolicy: "medium", Hardware: v.Hardware,
		User: "alice", UserID: alice, Poll: 10 * time.Millisecond, Timeout: 10 * time.Second})
}

// Cloud reports each VDC's networks with their subnets; a configuration that names
// networks bare, as configurations did before networks had subnets, still reads.
func TestCloudNetworks(t *testing.T) {
	var cfg vcdmem.Config
	err := json.Unmarshal([]byte(`{"orgs":[{"name":"acme","vdcs":[
		{"name":"vdc1","networks":["old-style",{"name":"new-style","cidr":"192.168.10.0/24"}]},
		{"name":"vdc2","networks":[]}]}]}`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vcdmem.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := v.Cloud(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []events.VDCNetworks{
		{VDC: cloud.VDCs[0].ID, Networks: []events.Network{{Name: "old-style"}, {Name: "new-style", CIDRs: []string{"192.168.10.0/24"}}}},
		{VDC: cloud.VDCs[1].ID, Networks: []events.Network{}},
	}
	if !reflect.DeepEqual(cloud.Networks, want) {
		t.Fatalf("networks %+v, want %+v", cloud.Networks, want)
	}
	// VMs on a network with a subnet get their addresses in it.
	ref := executors.VAppRef{Org: "acme", VDC: "vdc1", Name: "c1", ClusterID: "c1"}
	if _, err := v.EnsureVApp(t.Context(), executors.VAppSpec{VAppRef: ref, Network: "new-style", Metadata: map[string]string{executors.MetaClusterID: "c1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.EnsureVM(t.Context(), executors.VMSpec{VMRef: executors.VMRef{VApp: ref, Name: "n1"}, Network: "new-style"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range v.VApps() {
		for _, m := range a.VMs {
			if !strings.HasPrefix(m.IP, "192.168.10.") {
				t.Fatalf("VM %s got %s", m.Name, m.IP)
			}
		}
	}
}
