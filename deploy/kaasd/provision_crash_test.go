package kaasd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// TestCrashWhileNodesProvision kills kaasd with SIGKILL while creates make their workers
// all at once: first while workers' VMs are being made ahead, unrecorded, as their control
// planes boot, then while workers get their user data, power on and join. Every create must
// reach CREATE:SUCCEEDED with exactly its control plane and workers in VCD, each powered on
// and bootstrapped: the VMs made ahead are found and used, none is made twice.
func TestCrashWhileNodesProvision(t *testing.T) {
	cloud := testCloud()
	// Boots long enough that the workers of a cluster are made while its control plane
	// boots, and tasks short enough that the test is quick.
	cloud.TaskDelay, cloud.BootDelay = vcdsim.Duration(60*time.Millisecond), vcdsim.Duration(1200*time.Millisecond)
	p, sys, client := startKillable(t, cloud)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	const n, workers = 8, 3
	for i := range n {
		body, _ := json.Marshal(entity(fmt.Sprintf("prov-%d", i), good, workers, true))
		resp, err := client.Do(ctx, vcdexttest.Req{Method: "POST", Path: "/api/cse/3.0/clusters", Body: body})
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("create %d: %v %v", i, resp, err)
		}
		time.Sleep(150 * time.Millisecond) // clusters at different stages when kaasd is killed
	}

	// killWhen kills and restarts kaasd once some vApp is as what says.
	killWhen := func(what string, is func(cp vcdsim.VMInfo, workers []vcdsim.VMInfo) bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			for _, a := range sys.Sim.Inventory().VApps {
				var cp *vcdsim.VMInfo
				var ws []vcdsim.VMInfo
				for _, vm := range a.VMs {
					if strings.HasPrefix(vm.Name, "mstr-") {
						cp = &vm
					} else {
						ws = append(ws, vm)
					}
				}
				if cp != nil && is(*cp, ws) {
					t.Logf("killed kaasd with vApp %s %s", a.Name, what)
					p.kill()
					p.start()
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no vApp was ever %s", what)
			}
		}
	}
	const status = "guestinfo.kaas.status"
	killWhen("making its workers while its control plane boots", func(cp vcdsim.VMInfo, ws []vcdsim.VMInfo) bool {
		return cp.Status == 4 && cp.GuestInfo[status] != "done" && len(ws) > 0 && len(ws) < workers
	})
	killWhen("provisioning its workers", func(cp vcdsim.VMInfo, ws []vcdsim.VMInfo) bool {
		on := 0
		for _, w := range ws {
			if w.Status == 4 {
				on++
			}
		}
		return cp.GuestInfo[status] == "done" && len(ws) == workers && on < workers
	})

	var list []cse.DefEntity
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Do(ctx, vcdexttest.Req{Path: "/api/cse/3.0/clusters"})
		if err != nil {
			t.Fatal(err)
		}
		list = nil
		_ = json.Unmarshal(resp.Body, &list)
		busy := 0
		for _, c := range list {
			if strings.HasSuffix(c.Entity.Status.Phase, "IN_PROGRESS") {
				busy++
			}
		}
		if busy == 0 && len(list) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clusters, %d still in progress", len(list), busy)
		}
	}
	for _, c := range list {
		if c.Entity.Status.Phase != "CREATE:SUCCEEDED" {
			t.Errorf("cluster %s ended %s: %+v", c.Name, c.Entity.Status.Phase, c.Entity.Status.Kaas)
		}
	}
	p.stop()
	vapps := sys.Sim.Inventory().VApps
	if len(vapps) != n {
		t.Fatalf("VCD has %d vApps, want %d", len(vapps), n)
	}
	for _, a := range vapps {
		if len(a.VMs) != 1+workers {
			t.Errorf("vApp %s has %d VMs, want %d", a.Name, len(a.VMs), 1+workers)
		}
		for _, vm := range a.VMs {
			if vm.Status != 4 || vm.GuestInfo[status] != "done" {
				t.Errorf("vApp %s: VM %s is in state %d, bootstrap %q", a.Name, vm.Name, vm.Status, vm.GuestInfo[status])
			}
		}
	}
}
