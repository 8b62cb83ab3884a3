package kaasctl_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
)

// TestAdmin is a provider's audit story through kaasctl, over VCD's API and kaas's
// provider routes: a tenant's cluster is created, scaled and deleted; the provider reads
// who did what (filters, pages, order, export), reads the cluster as it was at several
// moments, replays the views, verifies the history before and after someone deletes an
// event in JetStream, and retries and discards dead letters.
func TestAdmin(t *testing.T) {
	e := startEnv(t, func(c *kaasd.Config) {
		c.MutableHistory = true // this test tampers with the history
		c.RetryBase, c.MaxDeliveryErrors = 10*time.Millisecond, 3
	})
	e.login("alice", "acme", "alice-pass")
	e.login("administrator", "System", "kaas-admin")
	dir := t.TempDir()
	const admin, wait = "administrator", "--poll=50ms"

	// The tenant's story, with the moments between its steps.
	beforeCreate := time.Now().UTC()
	e.runSteps(t, dir, []step{
		{name: "sample", args: []string{"cluster", "apply", "--sample"}, check: func(t *testing.T, r result) {
			if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(r.out), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "create", args: []string{"cluster", "apply", "-f", "{spec}", "--wait", wait}, out: []string{`CREATE:SUCCEEDED`}},
	})
	afterCreate := time.Now().UTC()
	e.runSteps(t, dir, []step{
		{name: "scale", args: []string{"cluster", "scale", "my-cluster", "--workers", "3", "--wait", wait}, out: []string{`UPDATE:SUCCEEDED.*\s3\s`}},
	})
	afterScale := time.Now().UTC()
	id := strings.TrimSpace(e.as("alice", "cluster", "list", "-o", "wide").out)
	id = regexp.MustCompile(`urn:vcloud:entity:cse:nativeCluster:\S+`).FindString(id)
	if id == "" {
		t.Fatal("no cluster id")
	}
	// kaas's own id of it (the list shows VCD's entity id once the mirror made the entity).
	var shown struct {
		Entity struct {
			Status struct {
				Kaas struct {
					ClusterID string `json:"clusterId"`
				} `json:"kaas"`
			} `json:"status"`
		} `json:"entity"`
	}
	if r := e.as("alice", "cluster", "get", "my-cluster", "-o", "json"); json.Unmarshal([]byte(r.out), &shown) != nil || shown.Entity.Status.Kaas.ClusterID == "" {
		t.Fatalf("cluster get -o json: %s", r)
	}
	clusterID := shown.Entity.Status.Kaas.ClusterID
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }

	e.runSteps(t, dir, []step{
		// Time travel: the cluster at several moments of its life, by name and by id.
		{name: "as of before it existed", args: []string{"cluster", "get", "my-cluster", "--as-of", rfc(beforeCreate.Add(-time.Minute))}, code: 1,
			err: []string{`did not exist yet|before|created at`}},
		{name: "as of after create", args: []string{"cluster", "get", "my-cluster", "--as-of", rfc(afterCreate)},
			out: []string{`my-cluster\s+acme\s+acme-vdc\s+CREATE:SUCCEEDED\s+upstream v1.29.8\s+2\n`}},
		{name: "as of after scale", args: []string{"cluster", "get", id, "--as-of", rfc(afterScale), "-o", "json"},
			out: []string{`"count": 3`}},
		{name: "as of now, as a time ago", args: []string{"cluster", "get", "my-cluster", "--as-of", "0s"}, out: []string{`UPDATE:SUCCEEDED\s+upstream v1.29.8\s+3\n`}},
		{name: "as of nonsense", args: []string{"cluster", "get", "my-cluster", "--as-of", "yesterday"}, code: 2, err: []string{`--as-of: "yesterday" is neither`}},
	})

	e.runSteps(t, dir, []step{
		{name: "delete", args: []string{"cluster", "delete", "my-cluster", "--wait", wait}, out: []string{`DeleteCluster\s+SUCCEEDED`}},
		// A deleted cluster's past is still there for those who may read it.
		{name: "as of, deleted", user: admin, args: []string{"cluster", "get", id, "--as-of", rfc(afterScale)}, out: []string{`UPDATE:SUCCEEDED`}},

		// Audit: filters, pages, order.
		{name: "audit", user: admin, args: []string{"admin", "audit", "--all"},
			out: []string{`TIME\s+CLUSTER\s+TYPE\s+ACTOR\s+SUMMARY`, `ClusterCreationStarted\s+urn:vcloud:user:`, `ClusterScaled`, `ClusterDeleted`}},
		{name: "audit by cluster name is refused once it is gone", user: admin, args: []string{"admin", "audit", "--cluster", "my-cluster"}, code: 1,
			err: []string{`cluster my-cluster not found`}},
		{name: "audit by cluster id, wide", user: admin, args: []string{"admin", "audit", "--cluster", id, "--type", "ClusterCreated,ClusterScaled", "-o", "wide"},
			out:    []string{`SEQ\s+TIME\s+ORG\s+CLUSTER\s+TYPE\s+ACTOR\s+REQUEST\s+OPERATION`, `urn:vcloud:org:\S+\s+\S+\s+ClusterCreated\s`, `ClusterScaled`},
			golden: "audit.wide"},
		{name: "audit json", user: admin, args: []string{"admin", "audit", "--cluster", id, "--type", "ClusterCreated", "-o", "json"}, golden: "audit.json"},
		{name: "audit by actor name and org", user: admin, args: []string{"admin", "audit", "--actor", "alice", "--org", "acme", "--commands", "-o", "json"},
			out: []string{`"type": "CreateCluster"`, `"type": "ScaleWorkers"`, `"type": "DeleteCluster"`, `"kind": "command"`, `"requestId": "\S+"`}},
		{name: "audit by someone who did nothing", user: admin, args: []string{"admin", "audit", "--actor", "bob"}, out: []string{`No resources found`}},
		{name: "audit by a user VCD does not know", user: admin, args: []string{"admin", "audit", "--actor", "mallory"}, code: 1, err: []string{`VCD knows no user mallory`}},
		{name: "audit of an unknown org", user: admin, args: []string{"admin", "audit", "--org", "initech"}, code: 1, err: []string{`org "initech" is not one kaas knows of \(HTTP 400`}},
		{name: "audit since", user: admin, args: []string{"admin", "audit", "--since", rfc(afterCreate), "--type", "ClusterCreated,ClusterScaled,ClusterDeleted", "-o", "name"},
			check: func(t *testing.T, r result) {
				if n := len(strings.Fields(r.out)); n != 2 {
					t.Errorf("since the create: want the scale and the delete, got %d:\n%s", n, r)
				}
			}},
		{name: "audit window", user: admin, args: []string{"admin", "audit", "--since", rfc(beforeCreate), "--until", rfc(afterCreate), "--type", "ClusterScaled"},
			out: []string{`No resources found`}},
		{name: "audit an hour ago", user: admin, args: []string{"admin", "audit", "--until", "1h"}, out: []string{`No resources found`}},
		{name: "audit newest first, a page", user: admin, args: []string{"admin", "audit", "--newest-first", "--page-size", "1"},
			out: []string{`ClusterDeleted`}, err: []string{`Page 1 of \d+ \(\d+ records\): --page N for another`}},
		{name: "audit page 2", user: admin, args: []string{"admin", "audit", "--page", "2", "--page-size", "3", "-o", "json"},
			out: []string{`"page": 2`, `"pageSize": 3`}},
		{name: "audit bad time", user: admin, args: []string{"admin", "audit", "--since", "yesterday"}, code: 2, err: []string{`--since: "yesterday" is neither`}},
		{name: "audit export and order", user: admin, args: []string{"admin", "audit", "--export", "x", "--newest-first"}, code: 2,
			err: []string{`--export writes every record oldest first`}},
		{name: "a tenant may not audit", args: []string{"admin", "audit"}, code: 1, err: []string{`HTTP 403`}},
	})

	// Export: every record, oldest first, one JSON object a line, the same as --all.
	all := e.as(admin, "admin", "audit", "--all", "-o", "json")
	var page struct {
		ResultTotal int               `json:"resultTotal"`
		Values      []json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal([]byte(all.out), &page); err != nil || page.ResultTotal < 20 || len(page.Values) != page.ResultTotal {
		t.Fatalf("audit --all: %v %s", err, all)
	}
	file := filepath.Join(dir, "audit.jsonl")
	if r := e.as(admin, "admin", "audit", "--export", file); r.code != 0 || r.out != "" || !strings.Contains(r.err, "Exported "+strconv.Itoa(page.ResultTotal)+" records") {
		t.Fatalf("export: %s", r)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	lines := 0
	var prev uint64
	for sc.Scan() {
		var got, want map[string]any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines+1, err)
		}
		_ = json.Unmarshal(page.Values[lines], &want)
		if got["id"] != want["id"] || got["hash"] != want["hash"] || got["actor"] != want["actor"] {
			t.Errorf("line %d: %v, --all says %v", lines+1, got, want)
		}
		if seq := uint64(got["seq"].(float64)); seq <= prev {
			t.Errorf("line %d: seq %d after %d", lines+1, seq, prev)
		} else {
			prev = seq
		}
		lines++
	}
	f.Close()
	if lines != page.ResultTotal {
		t.Errorf("export has %d lines, --all %d records", lines, page.ResultTotal)
	}
	if r := e.as(admin, "admin", "audit", "--export", "-", "--type", "ClusterCreated"); r.code != 0 || strings.Count(r.out, "\n") != 1 || !strings.HasPrefix(r.out, `{"id":`) {
		t.Errorf("export to stdout: %s", r)
	}
	// An export that fails leaves nothing behind: no file, no temporary one.
	if r := e.as("alice", "admin", "audit", "--export", filepath.Join(dir, "denied.jsonl")); r.code != 1 || !strings.Contains(r.err, "HTTP 403") {
		t.Errorf("a tenant's export: %s", r)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 { // spec.yaml and audit.jsonl: no temporary file left
		t.Errorf("export left files behind: %v", entries)
	}

	// Replay, and the history verified before and after an event disappears.
	e.runSteps(t, dir, []step{
		{name: "replay", user: admin, args: []string{"admin", "replay"},
			out: []string{`Rebuilt from:\s+commands 1–\d+, events 1–\d+`, `Differences:\s+0\n`, `Swapped in:\s+no`}},
		{name: "replay and swap", user: admin, args: []string{"admin", "replay", "--swap", "-o", "json"}, out: []string{`"swapped": true`, `"differences": \[\]`}},
		{name: "still served", user: admin, args: []string{"cluster", "get", id, "--as-of", rfc(afterCreate), "-o", "name"}, out: []string{`^my-cluster\n$`}},
		{name: "a tenant may not replay", args: []string{"admin", "replay"}, code: 1, err: []string{`HTTP 403`}},
		{name: "verify clean history", user: admin, args: []string{"admin", "audit", "verify"}, out: []string{`History verified: \d+ events of \d+ clusters`}},
	})
	recs, err := e.srv.Store().Load(t.Context(), clusterID, 0)
	if err != nil || len(recs) < 5 {
		t.Fatalf("history: %d records, %v", len(recs), err)
	}
	stream, err := e.srv.Store().JetStream().Stream(t.Context(), events.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	gone := recs[3].Seq
	if err := stream.DeleteMsg(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	e.runSteps(t, dir, []step{
		{name: "verify tampered history", user: admin, args: []string{"admin", "audit", "verify"}, code: 1,
			out: []string{`History NOT verified`, `CLUSTER\s+SEQ\s+PROBLEM\s+DETAIL`, regexp.QuoteMeta(clusterID) + `\s+\d+\s+broken`},
			err: []string{`the history is not what kaas wrote: \d+ problem`}},
		{name: "verify tampered history, json", user: admin, args: []string{"admin", "audit", "verify", "-o", "json"}, code: 1,
			out: []string{`"ok": false`, `"clusterId": "urn:vcloud:entity:cse:nativeCluster:` + clusterID + `"`, `"kind": "broken"`}},
	})

	// Dead letters: VCD refuses every read, so the provider's template reload exhausts its
	// retries and lands in the queue; retried once VCD is back, discarded the second time.
	faulty := vcdsim.Faults{Errors: map[string]float64{"get": 1, "query": 1}}
	reload := func() {
		t.Helper()
		if r := e.as(admin, "template", "reload"); r.code != 0 {
			t.Fatalf("reload: %s", r)
		}
	}
	waitDead := func(n int) string {
		t.Helper()
		var r result
		kaasdtest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
			if r = e.as(admin, "admin", "dlq", "list", "-o", "name"); r.code != 0 || len(strings.Fields(r.out)) != n {
				return fmt.Errorf("not %d dead letters: %s", n, r)
			}
			return nil
		})
		return strings.TrimSpace(r.out)
	}
	e.sim.SetFaults(faulty)
	reload()
	seq := waitDead(1)
	e.sim.SetFaults(vcdsim.Faults{})
	e.runSteps(t, dir, []step{
		{name: "dlq list", user: admin, args: []string{"admin", "dlq", "list"},
			out: []string{`SEQ\s+AT\s+COMMAND\s+CLUSTER\s+ERROR`, `(?m)^` + seq + `\s+\S+\s+SyncCloud\s+\S+\s+.*3 deliveries in a row failed`}},
		{name: "dlq list wide", user: admin, args: []string{"admin", "dlq", "list", "-o", "wide"}, out: []string{`ORG\s+ACTOR\s+REQUEST\s+COMMAND ID`}},
		{name: "a tenant may not see them", args: []string{"admin", "dlq", "list"}, code: 1, err: []string{`HTTP 403`}},
		{name: "dlq retry", user: admin, args: []string{"admin", "dlq", "retry", seq, "--wait", wait}, out: []string{`SyncCloud\s+SUCCEEDED`}},
		{name: "dlq empty", user: admin, args: []string{"admin", "dlq", "list"}, out: []string{`No resources found`}},
		{name: "dlq retry again", user: admin, args: []string{"admin", "dlq", "retry", seq}, code: 1, err: []string{`dead letter ` + seq + ` not found \(HTTP 404`}},
		{name: "dlq bad seq", user: admin, args: []string{"admin", "dlq", "discard", "x"}, code: 2, err: []string{`"x" is not a dead letter's SEQ`}},
	})
	e.sim.SetFaults(faulty)
	reload()
	seq = waitDead(1)
	e.sim.SetFaults(vcdsim.Faults{})
	e.runSteps(t, dir, []step{
		{name: "dlq discard", user: admin, args: []string{"admin", "dlq", "discard", seq}, out: []string{`Dead letter ` + seq + ` discarded.`}},
		{name: "dlq empty again", user: admin, args: []string{"admin", "dlq", "list", "-o", "json"}, out: []string{`"values": \[\]`}},
	})
}
