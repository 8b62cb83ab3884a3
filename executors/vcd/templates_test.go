package vcd_test

import (
	"testing"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcd"
)

// PowerOff shuts the guest down through VMware Tools; when VCD fails that, it powers the VM
// off, and either way the VM ends off and undeployed.
func TestPowerOffFallsBackToPowerOff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault *vcdsim.Targeted
	}{
		{name: "shutdown"},
		{name: "shutdown fails", fault: &vcdsim.Targeted{VApp: "kaas-build-poweroff", Op: "vappUndeploy", FailStatus: 400, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, url := startSim(t, fastSim())
			c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
			if err != nil {
				t.Fatal(err)
			}
			ref := executors.VAppRef{Org: "acme", OrgID: sim.OrgID("acme"), VDC: "acme-vdc", Name: "kaas-build-poweroff", ClusterID: "0f0f0f0f-0000-4000-8000-000000000001"}
			vm := executors.VMRef{VApp: ref, Name: "build"}
			tmpl, err := c.ResolveTemplate(t.Context(), executors.Org{Name: "acme", ID: sim.OrgID("acme")},
				events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1})
			if err != nil {
				t.Fatal(err)
			}
			until(t, func() (executors.Status, error) {
				return c.EnsureVApp(t.Context(), executors.VAppSpec{VAppRef: ref, Network: "acme-net"})
			})
			until(t, func() (executors.Status, error) {
				return c.EnsureVM(t.Context(), executors.VMSpec{VMRef: vm, Template: tmpl, Network: "acme-net"})
			})
			until(t, func() (executors.Status, error) { return c.PowerOn(t.Context(), vm) })
			if tc.fault != nil {
				sim.AddTargeted(*tc.fault)
			}
			until(t, func() (executors.Status, error) { return c.PowerOff(t.Context(), vm) })
			for _, a := range sim.Inventory().VApps {
				for _, m := range a.VMs {
					if a.Name == ref.Name && m.Name == vm.Name && m.Status != 8 {
						t.Errorf("VM %s is in status %d after PowerOff", m.Name, m.Status)
					}
				}
			}
			if st, err := c.PowerOff(t.Context(), vm); err != nil || !st.Done {
				t.Fatalf("PowerOff again: %+v %v", st, err)
			}
			until(t, func() (executors.Status, error) { return c.DeleteVApp(t.Context(), ref) })
		})
	}
}
