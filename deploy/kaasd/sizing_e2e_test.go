package kaasd_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events/cse"
)

// What CSE's clients send is honoured, end to end (HTTPS to VCD, AMQP, kaasd,
// go-vcloud-director, VCD): the control plane of a sizing class on a storage profile, workers
// of the CPUs and memory asked for (a scale-up's new worker too), an NFS node of its own
// class and profile, and the tenant's SSH key on every node; VCD's inventory shows each VM
// got them. A sizing class or storage profile the org VDC does not offer, and CPUs or memory
// out of bounds, are refused with CSE's 400 naming the field.
func TestSizingEndToEnd(t *testing.T) {
	e := startSimEnv(t, kaasdtest.FastSim())

	topology := func(m map[string]any) map[string]any { return sub(m["spec"].(map[string]any), "topology") }
	for _, tt := range []struct {
		name string
		edit func(topo map[string]any)
		text string
	}{
		{"a sizing class the VDC is not assigned", func(topo map[string]any) { sub(topo, "controlPlane")["sizingClass"] = "large" },
			`spec.topology.controlPlane.sizingClass: org VDC 'acme-vdc' has no VM sizing policy "large" (it has: "System Default", "small", "medium")`},
		{"a storage profile the VDC lacks", func(topo map[string]any) { sub(topo, "workers")["storageProfile"] = "Platinum" },
			`spec.topology.workers.storageProfile: org VDC 'acme-vdc' has no storage profile "Platinum" (it has: "Silver", "Gold")`},
		{"an NFS node's sizing class", func(topo map[string]any) { sub(topo, "nfs")["count"], sub(topo, "nfs")["sizingClass"] = 1, "huge" },
			`spec.topology.nfs.sizingClass: org VDC 'acme-vdc' has no VM sizing policy "huge"`},
		{"too many CPUs", func(topo map[string]any) { sub(topo, "workers")["cpu"] = 200 }, "spec.topology.workers.cpu: cpu must be between 1 and 128, not 200"},
		{"too little memory", func(topo map[string]any) { sub(topo, "workers")["memory"] = 512 },
			"spec.topology.workers.memory: memory must be between 1024 and 1048576 MB, not 512"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := entity("refused", good, 1, true)
			tt.edit(topology(m))
			code, body := e.call("POST", "/api/cse/3.0/clusters", m)
			refused(t, code, body, cse.MinorDefault, tt.text)
		})
	}
	if inv := e.sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("refused creates made %+v", inv.VApps)
	}

	m := entity("sized", good, 1, true)
	topo := topology(m)
	sub(topo, "controlPlane")["sizingClass"], sub(topo, "controlPlane")["storageProfile"] = "medium", "Gold"
	sub(topo, "workers")["cpu"], sub(topo, "workers")["memory"] = 3, 3072
	topo["nfs"] = map[string]any{"count": 1, "sizingClass": "small", "storageProfile": "Gold"}
	sub(m["spec"].(map[string]any), "settings")["sshKey"] = tenantKey
	code, body := e.call("POST", "/api/cse/3.0/clusters", m)
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	ent := e.waitPhase(id)
	if ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("create ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}

	type sized struct {
		SizingPolicy, StorageProfile string
		CPU, MemoryMB                int
	}
	want := map[string]sized{ // by role: what each VM must have got
		"control-plane": {"medium", "Gold", 2, 4096},
		"worker":        {"System Default", "Silver", 3, 3072},
		"nfs":           {"small", "Gold", 2, 2048},
	}
	check := func(vms int) {
		t.Helper()
		a := e.vapp(id)
		if a == nil || len(a.VMs) != vms {
			t.Fatalf("VCD has %+v, want %d VMs", a, vms)
		}
		for _, vm := range a.VMs {
			w, ok := want[vm.Metadata["kaas.node.role"]]
			if got := (sized{vm.SizingPolicy, vm.StorageProfile, vm.CPU, vm.MemoryMB}); !ok || got != w {
				t.Errorf("VM %s (%s) got %+v, want %+v", vm.Name, vm.Metadata["kaas.node.role"], got, w)
			}
			if !slices.Equal(vm.AuthorizedKeys, []string{tenantKey}) {
				t.Errorf("VM %s has SSH keys %q", vm.Name, vm.AuthorizedKeys)
			}
		}
	}
	check(3)

	// A scale-up's new worker is made as the pool says.
	up := ent.Entity
	n := 2
	up.Spec.Topology.Workers.Count = &n
	up.Status = nil
	if code, body = e.call("PUT", "/api/cse/3.0/cluster/"+id, up); code != http.StatusAccepted {
		t.Fatalf("scale up: %d %s", code, body)
	}
	if ent = e.waitPhase(id); ent.Entity.Status.Phase != "UPDATE:SUCCEEDED" {
		t.Fatalf("scale up ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}
	check(4)

	// The entity shows what was asked for.
	tp := ent.Entity.Spec.Topology
	if tp.ControlPlane.SizingClass == nil || *tp.ControlPlane.SizingClass != "medium" || tp.Workers.CPU == nil || *tp.Workers.CPU != 3 ||
		tp.NFS == nil || tp.NFS.StorageProfile == nil || *tp.NFS.StorageProfile != "Gold" {
		t.Fatalf("topology %+v", tp)
	}
}
