package kaasd_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
)

// TestRebuiltViewsEqualLive runs a mixed workload through the real path, then rebuilds the
// views from sequence 1 and compares them with the live ones: views are disposable.
func TestRebuiltViewsEqualLive(t *testing.T) {
	e := start(t)
	var ids []string
	for i := range 12 {
		tmpl := good
		if i%4 == 3 {
			tmpl = "ubuntu-22.04_k8s-1.30_broken" // fails, half with rollback
		}
		code, body := e.do("POST", "/api/cse/3.0/clusters", entity(fmt.Sprintf("mix-%02d", i), tmpl, i%3, i%2 == 0))
		if code != http.StatusAccepted {
			t.Fatalf("create %d: %d %s", i, code, body)
		}
		ids = append(ids, decode[cse.DefEntity](t, body).ID)
	}
	// Changes refused at once, while the creates run.
	e.do("DELETE", "/api/cse/3.0/cluster/"+ids[0], nil)
	// A forced delete in the middle of a create.
	e.do("POST", "/api/cse/3.0/cluster/"+ids[1]+"/action/force-delete", nil)
	for i, id := range ids {
		if i == 1 {
			e.waitGone(id)
			continue
		}
		ent := e.waitPhase(id)
		switch {
		case ent.Entity.Status.Phase != "CREATE:SUCCEEDED":
		case i%3 == 0:
			e.do("DELETE", "/api/cse/3.0/cluster/"+id, nil)
		case i%3 == 1:
			up := ent.Entity
			n := 2
			up.Spec.Topology.Workers.Count = &n
			up.Status = nil
			e.do("PUT", "/api/cse/3.0/cluster/"+id, up)
		}
	}
	// Wait for the dust to settle: no operation in progress anywhere.
	kaasdtest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, body := e.do("GET", "/api/cse/3.0/clusters", nil)
		busy := 0
		for _, c := range decode[[]cse.DefEntity](t, body) {
			if c.Entity.Status.Phase == "" || c.Entity.Status.Phase[len(c.Entity.Status.Phase)-len("IN_PROGRESS"):] == "IN_PROGRESS" {
				busy++
			}
		}
		if busy > 0 {
			return fmt.Errorf("%d clusters still busy", busy)
		}
		return nil
	})
	live := e.srv.Views()
	cmds, evts, err := e.srv.Store().LastSequences(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := live.WaitFor(t.Context(), cmds, evts); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := projector.Rebuild(t.Context(), e.srv.Store())
	if err != nil {
		t.Fatal(err)
	}
	if !rebuilt.Equal(live) {
		t.Fatal("the rebuilt views differ from the live ones")
	}
	c, ev := rebuilt.Seqs()
	t.Logf("rebuilt views equal the live ones after %d commands and %d events", c, ev)
	if ev < 100 {
		t.Fatalf("the workload was too small to prove much: %d events", ev)
	}
	// The comparison has teeth: one more event makes them differ.
	id, _ := cse.ParseClusterID(ids[2])
	rebuilt.ApplyEvent(ev+1, "h", events.Envelope{ID: "x", ClusterID: id, CausationID: "y", Payload: events.ClusterScaled{Workers: 9}})
	if rebuilt.Equal(live) {
		t.Fatal("views that saw different histories compare equal")
	}
}
