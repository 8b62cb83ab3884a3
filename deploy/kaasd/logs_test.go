package kaasd_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events/cse"
)

// lockedBuffer is a log sink for many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for l := range bytes.Lines(b.buf.Bytes()) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestOneGrepFollowsOneRequest: every log line a request leads to, from the AMQP consumer
// through the executor's steps, carries VCD's request id, and the executor's also name
// the cluster and the command (the operation: its id is the command's).
func TestOneGrepFollowsOneRequest(t *testing.T) {
	var logs lockedBuffer
	e := startLogged(t, nil, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	kaasdtest.EnableVDCs(t, providerDo(t, e.client))
	const requestID = "7f3e9a52-grep-4c1d-9b0e-5a6d7c8e9f10"
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("grep", good, 1, true), withRequestID(requestID))
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	ent := decode[cse.DefEntity](t, body)
	clusterID, _ := cse.ParseClusterID(ent.ID)
	if got := e.waitPhase(ent.ID); got.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("phase %s", got.Entity.Status.Phase)
	}

	var ingress, executor int
	var commandID string
	lines := logs.lines()
	for _, l := range lines {
		if l["request_id"] == requestID && l["msg"] == "command accepted" {
			ingress++
			commandID, _ = l["command_id"].(string)
			if l["cluster_id"] != clusterID {
				t.Errorf("accepted without the cluster: %v", l)
			}
		}
	}
	// The executor may start before the ingress wrote its line: lines are not in order.
	for _, l := range lines {
		if l["request_id"] != requestID {
			continue
		}
		switch l["msg"] {
		case "command accepted":
		default:
			if _, ok := l["command"]; ok {
				executor++
				if l["cluster_id"] != clusterID || l["command_id"] == nil || l["command_id"] != commandID {
					t.Errorf("an executor line without the cluster or the command: %v", l)
				}
			}
		}
	}
	for _, l := range lines {
		if l["msg"] == "request served" && l["path"] != nil && l["op"] == nil && l["generation"] == nil {
			t.Errorf("a served request's line does not name its operation: %v", l)
		}
	}
	if ingress != 1 || executor < 3 || commandID == "" {
		t.Fatalf("grep %s found %d ingress and %d executor lines:\n%s", requestID, ingress, executor, logs.buf.String())
	}
}
