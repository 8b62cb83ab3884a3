package kaasd_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/events/cse"
)

// A kaasd stopped cleanly leaves a snapshot of its views; the next one starts from it,
// folds only the records stored since, and its views equal a rebuild from sequence 1.
func TestRestartFromViewSnapshot(t *testing.T) {
	e := start(t)
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("snapview", good, 1, true))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("create: %s", ent.Entity.Status.Phase)
	}
	if code, body := e.do("PUT", "/api/cse/3.0/cluster/"+id+"/acl", map[string]any{"accessSetting": []map[string]string{}}); code != http.StatusNoContent && code != http.StatusAccepted {
		t.Fatalf("share with nobody: %d %s", code, body)
	}
	if err := e.srv.Close(); err != nil { // writes a snapshot of what it folded
		t.Fatal(err)
	}

	var logs bytes.Buffer
	srv, err := kaasd.Start(t.Context(), e.cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv = srv
	resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric := func(name string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(scrape)
		if m == nil {
			t.Fatalf("no %s in %s", name, scrape)
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	if n := metric(`kaas_projector_snapshot_loads_total{outcome="loaded"}`); n != 1 {
		t.Fatalf("the restarted projector did not start from a snapshot (%v):\n%s", n, logs.String())
	}
	if metric("kaas_projector_snapshot_bytes") == 0 {
		t.Fatal("no snapshot size")
	}
	if !bytes.Contains(logs.Bytes(), []byte("views loaded from a snapshot")) {
		t.Fatalf("no log line of the snapshot loaded:\n%s", logs.String())
	}

	if ent := e.waitPhase(id); ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("after the restart: %s", ent.Entity.Status.Phase)
	}
	code, body = providerDo(t, e.client)("POST", "/api/cse/3.0/admin/replay", nil)
	if code != http.StatusOK {
		t.Fatalf("replay: %d %s", code, body)
	}
	if rep := decode[cse.ReplayReport](t, body); len(rep.Differences) != 0 || rep.Operations == 0 {
		t.Fatalf("views started from a snapshot differ from a rebuild: %+v", rep)
	}
	// The hash chain heads came with the snapshot: the history checks against them.
	code, body = providerDo(t, e.client)("GET", "/api/cse/3.0/audit/verify", nil)
	if v := decode[cse.Verification](t, body); code != http.StatusOK || !v.OK || v.Clusters == 0 {
		t.Fatalf("verify after a start from a snapshot: %d %s", code, body)
	}
}
