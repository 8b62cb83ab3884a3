package kaasd_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
)

// refusing are faults that make VCD refuse every call of its API but logging in: reads
// too, which vcdsim fails only when asked to by name.
var refusing = vcdsim.Faults{ErrorRate: 1, Errors: map[string]float64{"get": 1, "query": 1}}

// TestDeadLetters: a command that fails every delivery (here, reading VCD's catalog while
// VCD refuses every call) lands in the dead-letter queue with its error instead of retrying
// forever; an operator lists it, retries it once VCD is back, and discards another.
func TestDeadLetters(t *testing.T) {
	cloud := testCloud()
	cloud.Faults = refusing // from the start
	e := startOn(t, cloud, func(c *kaasd.Config) {
		c.RetryBase, c.MaxDeliveryErrors = 10*time.Millisecond, 5
	}, slog.New(slog.DiscardHandler))
	asProvider := providerDo(t, e.client)
	type entry struct {
		Seq     uint64 `json:"seq"`
		Command string `json:"command"`
		Error   string `json:"error"`
	}
	list := func() []entry {
		t.Helper()
		code, body := asProvider("GET", "/api/cse/3.0/admin/dlq", nil)
		if code != http.StatusOK {
			t.Fatalf("dlq: %d %s", code, body)
		}
		var p cse.Page[entry]
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p.Values
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
		}
	}
	waitFor("the sync is dead-lettered", func() bool { return len(list()) == 1 })
	dead := list()[0]
	if dead.Command != "SyncCloud" || !strings.Contains(dead.Error, "5 deliveries in a row failed") {
		t.Fatalf("dead letter: %+v", dead)
	}
	if code, _ := e.do("GET", "/api/cse/3.0/admin/dlq", nil); code != http.StatusForbidden {
		t.Fatalf("a tenant read the dead letters: %d", code)
	}

	// VCD is back: the operator retries, the sync runs, the queue empties.
	e.sim.SetFaults(vcdsim.Faults{})
	if code, body := asProvider("POST", "/api/cse/3.0/admin/dlq/"+strconv.FormatUint(dead.Seq, 10)+"/action/retry", nil); code != http.StatusAccepted {
		t.Fatalf("retry: %d %s", code, body)
	}
	waitFor("the retried sync lists the VDCs", func() bool {
		_, body := asProvider("GET", "/api/cse/3.0/ovdcs", nil)
		return strings.Contains(string(body), "acme-vdc")
	})
	if l := list(); len(l) != 0 {
		t.Fatalf("queue after retry: %+v", l)
	}

	// Another one is discarded on purpose.
	e.sim.SetFaults(refusing)
	if code, body := asProvider("POST", "/api/cse/templates/action/reload", nil); code != http.StatusAccepted {
		t.Fatalf("reload: %d %s", code, body)
	}
	waitFor("the reload is dead-lettered", func() bool { return len(list()) == 1 })
	seq := strconv.FormatUint(list()[0].Seq, 10)
	if code, body := asProvider("DELETE", "/api/cse/3.0/admin/dlq/"+seq, nil); code != http.StatusNoContent {
		t.Fatalf("discard: %d %s", code, body)
	}
	if l := list(); len(l) != 0 {
		t.Fatalf("queue after discard: %+v", l)
	}
	if code, _ := asProvider("DELETE", "/api/cse/3.0/admin/dlq/"+seq, nil); code != http.StatusNotFound {
		t.Fatalf("discarding twice: %d", code)
	}
}
