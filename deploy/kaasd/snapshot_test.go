package kaasd_test

import (
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/events/cse"
)

// After a restart, a cluster's state is loaded from its snapshot and the events after it,
// not from its first event.
func TestSnapshotsShortenLoads(t *testing.T) {
	e := startWith(t, func(c *kaasd.Config) { c.SnapshotEvery = 5 })
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("snap", good, 2, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	ent := e.waitPhase(id)

	// A new kaasd on the same data: its executor knows nothing of the cluster yet.
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err := kaasd.Start(t.Context(), e.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv = srv
	three := 3
	up := ent.Entity
	up.Spec.Topology.Workers.Count, up.Status = &three, nil
	if code, body := e.do("PUT", "/api/cse/3.0/cluster/"+id, up); code != http.StatusAccepted {
		t.Fatalf("scale: %d %s", code, body)
	}
	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "UPDATE:SUCCEEDED" {
		t.Fatalf("scale after restart: %s", ent.Entity.Status.Phase)
	}
	_, history := e.do("GET", "/api/cse/3.0/cluster/"+id+"/events?pageSize=128", nil)
	events := decode[cse.Page[cse.Event]](t, history).ResultTotal

	resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric := func(name string) int {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(scrape)
		if m == nil {
			t.Fatalf("no %s in %s", name, scrape)
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return int(f)
	}
	snaps, loaded := metric("kaas_executor_snapshots_loaded_total"), metric("kaas_executor_history_events_loaded_total")
	if snaps < 1 || loaded >= events-5 {
		t.Fatalf("after a restart: %d snapshots loaded, %d of the cluster's %d events read", snaps, loaded, events)
	}
}
