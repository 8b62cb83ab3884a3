package kaasd_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/kaasproject/kaas/events/cse"
)

// TestReplayAfterMixedWorkload runs hundreds of operations (creates that succeed and fail,
// scales, shares, deletes, forced deletes), then asks for a replay while kaasd serves: the
// views rebuilt from sequence 1 equal the live ones.
func TestReplayAfterMixedWorkload(t *testing.T) {
	e := start(t)
	const n = 48
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	count := func(code int, what string, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		if code != http.StatusAccepted && code != http.StatusNoContent {
			t.Errorf("%s: %d %.200s", what, code, body)
			return
		}
		accepted++
	}
	for i := range n {
		wg.Go(func() {
			template := good
			if i%8 == 7 {
				template = "ubuntu-22.04_k8s-1.30_broken" // fails, rolls back
			}
			code, body := e.do("POST", "/api/cse/3.0/clusters", entity(fmt.Sprintf("mix-%02d", i), template, 1, true))
			count(code, "create", body)
			if code != http.StatusAccepted {
				return
			}
			created := decode[cse.DefEntity](t, body)
			id := created.ID
			if template != good { // rolled back, it leaves no cluster to change
				e.waitOperation(created.Entity.Status.Kaas.OperationHref)
				return
			}
			ent := e.waitPhase(id)
			if ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
				return
			}
			acl := map[string]any{"accessSetting": []map[string]string{{"memberId": fmt.Sprintf("urn:vcloud:user:00000000-0000-4000-8000-%012d", i), "accessLevelId": "urn:vcloud:accessLevel:ReadOnly"}}}
			code, body = e.do("PUT", "/api/cse/3.0/cluster/"+id+"/acl", acl)
			count(code, "share", body)
			for _, workers := range []int{2, 0} {
				up := ent.Entity
				up.Spec.Topology.Workers.Count, up.Status = &workers, nil
				code, body = e.do("PUT", "/api/cse/3.0/cluster/"+id, up)
				count(code, "scale", body)
				e.waitPhase(id)
			}
			switch i % 3 {
			case 0:
				code, body = e.do("DELETE", "/api/cse/3.0/cluster/"+id, nil)
				count(code, "delete", body)
				e.waitGone(id)
			case 1:
				code, body = e.do("POST", "/api/cse/3.0/cluster/"+id+"/action/force-delete", nil)
				count(code, "force delete", body)
				e.waitGone(id)
			}
		})
	}
	wg.Wait()
	if accepted < 200 {
		t.Fatalf("only %d operations accepted", accepted)
	}
	code, body := providerDo(t, e.client)("POST", "/api/cse/3.0/admin/replay", nil)
	if code != http.StatusOK {
		t.Fatalf("replay: %d %s", code, body)
	}
	rep := decode[cse.ReplayReport](t, body)
	if len(rep.Differences) != 0 || rep.Operations < accepted || rep.EventSeq == 0 {
		t.Fatalf("replay after %d operations: %+v", accepted, rep)
	}
	t.Logf("replayed %d operations (%d events) in %.2fs: no difference", rep.Operations, rep.EventSeq, rep.Seconds)

	// Swapped in while serving: the rebuilt views answer, and go on following the streams.
	code, body = providerDo(t, e.client)("POST", "/api/cse/3.0/admin/replay?swap=true", nil)
	if rep := decode[cse.ReplayReport](t, body); code != http.StatusOK || !rep.Swapped || len(rep.Differences) != 0 {
		t.Fatalf("replay with swap: %d %s", code, body)
	}
	code, body = e.do("POST", "/api/cse/3.0/clusters", entity("after-swap", good, 0, true))
	if code != http.StatusAccepted {
		t.Fatalf("create after the swap: %d %s", code, body)
	}
	if ent := e.waitPhase(decode[cse.DefEntity](t, body).ID); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("after the swap the views did not follow: %s", ent.Entity.Status.Phase)
	}
	if code, _ := e.do("POST", "/api/cse/3.0/admin/replay", nil); code != http.StatusForbidden {
		t.Errorf("a tenant replayed: %d", code)
	}
}
