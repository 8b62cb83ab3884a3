package kaasd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

// Recorded histories: testdata/history/<release>/ holds the command and event streams a
// kaasd of that release wrote during a workload that touches every kind of change, and the
// views they fold into. A history once recorded is never rewritten: a new schema version
// means a new directory, and every older one must still replay to its views (through the
// upcasters) in every `make test`.
var (
	recordHistory = flag.String("record-history", "", "run the workload and record its history into testdata/history/<this name>")
	updateViews   = flag.Bool("update-history-views", false, "rewrite the recorded histories' views.json (when how views render changed on purpose; the streams stay)")
)

// historyLine is one stored message of a recorded stream.
type historyLine struct {
	Subject string          `json:"subject"`
	Data    json.RawMessage `json:"data"`
}

// recordedViews is what a history folds into, as the API renders it.
type recordedViews struct {
	Clusters   []cse.DefEntity           `json:"clusters"`
	Operations []projector.Operation     `json:"operations"`
	Cloud      projector.CloudView       `json:"cloud"`
	Heads      map[string]projector.Head `json:"heads"`
}

// TestRecordedHistoriesReplay loads every recorded history into an empty JetStream,
// rebuilds the views from it and compares them with the views recorded with it.
func TestRecordedHistoriesReplay(t *testing.T) {
	if *recordHistory != "" {
		record(t, filepath.Join("testdata", "history", *recordHistory))
	}
	dirs, _ := filepath.Glob(filepath.Join("testdata", "history", "*"))
	if len(dirs) == 0 {
		t.Fatal("no recorded history in testdata/history")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			store, _ := natstest.Store(t)
			js := store.JetStream()
			seen := map[string]bool{}
			for _, stream := range []string{"commands", "events"} {
				for i, l := range readHistory(t, filepath.Join(dir, stream+".jsonl")) {
					env, err := events.Unmarshal(l.Data)
					if err != nil {
						t.Fatalf("%s line %d no longer decodes: %v", stream, i+1, err)
					}
					seen[env.Type] = true
					if _, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: l.Subject, Data: l.Data, Header: nats.Header{}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			views, err := projector.Rebuild(t.Context(), store)
			if err != nil {
				t.Fatal(err)
			}
			got := render(views)
			if *updateViews {
				if err := os.WriteFile(filepath.Join(dir, "views.json"), got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(filepath.Join(dir, "views.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the history of %s no longer folds into the views recorded with it (if only how views render changed, on purpose: -args -update-history-views):\n%s",
					dir, firstDifference(want, got))
			}
			var missing []string
			for _, kind := range []events.Kind{events.KindCommand, events.KindEvent} {
				for _, name := range events.TypeNames(kind) {
					if !seen[name] {
						missing = append(missing, name)
					}
				}
			}
			t.Logf("%s: %d types recorded; not in it: %v", dir, len(seen), missing)
		})
	}
}

// TestRecordedHistoriesInterleavings folds every recorded history's two streams directly,
// in many interleavings (as two independent consumers may deliver them, live or in a
// rebuild): all must give Equal views that render as the recorded ones, and any two
// interleavings of the same command and event prefixes must give Equal views.
func TestRecordedHistoriesInterleavings(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "history", "*"))
	if len(dirs) == 0 {
		t.Fatal("no recorded history in testdata/history")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "views.json"))
			if err != nil {
				t.Fatal(err)
			}
			cmds, evts := decodeHistory(t, dir, "commands", false), decodeHistory(t, dir, "events", true)
			ref := foldRecords(cmds, evts, func(int) bool { return true })
			if got := render(ref); !bytes.Equal(got, want) {
				t.Fatalf("commands first: not the recorded views:\n%s", firstDifference(want, got))
			}
			orders := map[string]func(int) bool{"events first": func(int) bool { return false }}
			for seed := range uint64(300) {
				r := rand.New(rand.NewPCG(seed, 10))
				// Commands well ahead, level, or well behind.
				bias := []int{2, 3, 10}[seed%3]
				lead := seed%2 == 0
				orders[fmt.Sprint("random ", seed)] = func(int) bool { return (r.IntN(bias) == 0) != lead }
			}
			for name, pick := range orders {
				v := foldRecords(cmds, evts, pick)
				if !v.Equal(ref) || !ref.Equal(v) {
					t.Fatalf("%s: views differ from commands first: %v", name, ref.Diff(v))
				}
				if got := render(v); !bytes.Equal(got, want) {
					t.Fatalf("%s: not the recorded views:\n%s", name, firstDifference(want, got))
				}
			}
			r := rand.New(rand.NewPCG(1, 10))
			for range 300 {
				c, e := cmds[:r.IntN(len(cmds)+1)], evts[:r.IntN(len(evts)+1)]
				a := foldRecords(c, e, func(int) bool { return r.IntN(2) == 0 })
				b := foldRecords(c, e, func(int) bool { return r.IntN(5) == 0 })
				if !a.Equal(b) || !b.Equal(a) {
					t.Fatalf("commands to %d, events to %d: two interleavings differ: %v", len(c), len(e), a.Diff(b))
				}
				if ra, rb := render(a), render(b); !bytes.Equal(ra, rb) {
					t.Fatalf("commands to %d, events to %d: Equal views render differently:\n%s", len(c), len(e), firstDifference(ra, rb))
				}
			}
		})
	}
}

// historyRecord is one decoded record of a recorded stream, with its stream sequence (the
// streams are loaded into empty ones, in order) and, for events, its hash.
type historyRecord struct {
	seq  uint64
	hash string
	env  events.Envelope
}

func decodeHistory(t *testing.T, dir, stream string, hash bool) []historyRecord {
	t.Helper()
	var out []historyRecord
	for i, l := range readHistory(t, filepath.Join(dir, stream+".jsonl")) {
		env, err := events.Unmarshal(l.Data)
		if err != nil {
			t.Fatalf("%s line %d no longer decodes: %v", stream, i+1, err)
		}
		rec := historyRecord{seq: uint64(i + 1), env: env}
		if hash {
			rec.hash = events.Hash(l.Data) // as the projector hashes what it reads
		}
		out = append(out, rec)
	}
	return out
}

// foldRecords folds both streams, each in its order, into new views, taking the next
// command (while there is one) at the nth record when pick(n) says so.
func foldRecords(cmds, evts []historyRecord, pick func(n int) bool) *projector.Views {
	v := projector.NewViews()
	i, j := 0, 0
	for n := 0; i < len(cmds) || j < len(evts); n++ {
		if j == len(evts) || (i < len(cmds) && pick(n)) {
			v.ApplyCommand(cmds[i].seq, cmds[i].env)
			i++
		} else {
			v.ApplyEvent(evts[j].seq, evts[j].hash, evts[j].env)
			j++
		}
	}
	return v
}

func readHistory(t *testing.T, path string) []historyLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []historyLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var l historyLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s line %d: %v", path, len(out)+1, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// render is the views as the golden file holds them: indented JSON, in a fixed order.
func render(v *projector.Views) []byte {
	rv := recordedViews{Cloud: v.Cloud(), Heads: v.Heads()}
	for _, cv := range v.OrgClusters("") {
		rv.Clusters = append(rv.Clusters, queries.Render(cv))
	}
	rv.Operations = v.Operations()
	b, err := json.MarshalIndent(rv, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func firstDifference(want, got []byte) string {
	w, g := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := range max(len(w), len(g)) {
		var wl, gl []byte
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if !bytes.Equal(wl, gl) {
			return fmt.Sprintf("line %d\n--- recorded\n%s\n--- now\n%s", i+1, wl, gl)
		}
	}
	return "(same lines)"
}

// record runs a workload that touches every kind of change through the real path and
// writes the streams it left, and the views they fold into, to dir.
func record(t *testing.T, dir string) {
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists: a recorded history is never rewritten; record a new one", dir)
	}
	e := start(t)
	asProvider := providerDo(t, e.client)
	mustAccept := func(what string, code int, body []byte) {
		t.Helper()
		if code != http.StatusAccepted && code != http.StatusNoContent {
			t.Fatalf("%s: %d %s", what, code, body)
		}
	}
	create := func(name, template string, workers int, rollback bool, nfs int) string {
		ent := entity(name, template, workers, rollback)
		if nfs > 0 {
			ent["spec"].(map[string]any)["topology"].(map[string]any)["nfs"] = map[string]any{"count": nfs}
		}
		code, body := e.do("POST", "/api/cse/3.0/clusters", ent)
		mustAccept("create "+name, code, body)
		created := decode[cse.DefEntity](t, body)
		// The operation, not the cluster: a create rolled back leaves no cluster to look at.
		e.waitOperation(created.Entity.Status.Kaas.OperationHref)
		return created.ID
	}
	put := func(id string, change func(*cse.DefEntity)) {
		ent := e.waitPhase(id)
		change(&ent)
		ent.Entity.Status = nil
		code, body := e.do("PUT", "/api/cse/3.0/cluster/"+id, ent.Entity)
		mustAccept("change "+id, code, body)
		e.waitPhase(id)
	}
	workers := func(n int) func(*cse.DefEntity) {
		return func(d *cse.DefEntity) { d.Entity.Spec.Topology.Workers.Count = &n }
	}

	keep := create("keep", good, 1, true, 1)
	put(keep, workers(2))
	// VCD is busy for a while: a step is retried, then the change goes through.
	e.sim.SetFaults(vcdsim.Faults{ErrorRate: 1})
	ent := e.waitPhase(keep)
	one := 1
	ent.Entity.Spec.Topology.Workers.Count, ent.Entity.Status = &one, nil
	code, body := e.do("PUT", "/api/cse/3.0/cluster/"+keep, ent.Entity)
	mustAccept("scale while VCD is busy", code, body)
	for deadline := time.Now().Add(10 * time.Second); !bytes.Contains(body, []byte(`"StepRetrying"`)); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no step was retried")
		}
		_, body = e.do("GET", "/api/cse/3.0/cluster/"+keep+"/events?pageSize=128", nil)
	}
	e.sim.SetFaults(vcdsim.Faults{})
	e.waitPhase(keep)
	put(keep, func(d *cse.DefEntity) {
		next := "ubuntu-22.04_k8s-1.30_antrea-1.15"
		d.Entity.Spec.Distribution.TemplateName = &next
	})
	acl := map[string]any{"accessSetting": []map[string]string{{"memberId": "urn:vcloud:user:00000000-0000-0000-0000-0000000000b0", "accessLevelId": "urn:vcloud:accessLevel:ReadOnly"}}}
	code, body = e.do("PUT", "/api/cse/3.0/cluster/"+keep+"/acl", acl)
	mustAccept("share", code, body)
	nfsNode := e.waitPhase(keep).Entity.Status.Nodes.NFS[0].Name
	code, body = e.do("DELETE", "/api/cse/3.0/cluster/"+keep+"/nfs/"+nfsNode, nil)
	mustAccept("delete the NFS node", code, body)
	e.waitPhase(keep)

	create("rolled-back", "ubuntu-22.04_k8s-1.30_broken", 1, true, 0)
	kept := create("kept-broken", "ubuntu-22.04_k8s-1.30_broken", 1, false, 0)
	code, body = e.do("POST", "/api/cse/3.0/cluster/"+kept+"/action/force-delete", nil)
	mustAccept("force delete", code, body)
	e.waitGone(kept)
	gone := create("gone", good, 0, true, 0)
	code, body = e.do("DELETE", "/api/cse/3.0/cluster/"+gone, nil)
	mustAccept("delete", code, body)
	e.waitGone(gone)

	code, body = asProvider("POST", "/api/cse/templates/action/reload", nil)
	mustAccept("reload", code, body)
	code, body = asProvider("PUT", "/api/cse/system", map[string]string{"server_action": "disable"})
	if code != http.StatusOK {
		t.Fatalf("disable: %d %s", code, body)
	}
	code, body = asProvider("PUT", "/api/cse/system", map[string]string{"server_action": "enable"})
	if code != http.StatusOK {
		t.Fatalf("enable: %d %s", code, body)
	}

	// Everything settled: the live views and a rebuild agree, then the streams are copied.
	var rep cse.ReplayReport
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body = asProvider("POST", "/api/cse/3.0/admin/replay", nil)
		if code != http.StatusOK {
			t.Fatalf("replay: %d %s", code, body)
		}
		if rep = decode[cse.ReplayReport](t, body); len(rep.Differences) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the views never settled: %v", rep.Differences)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	js := e.srv.Store().JetStream()
	for stream, name := range map[string]string{events.CommandStream: "commands", events.EventStream: "events"} {
		writeStream(t, js, stream, filepath.Join(dir, name+".jsonl"))
	}
	views, err := projector.Rebuild(t.Context(), e.srv.Store())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "views.json"), render(views), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s: commands to %d, events to %d", dir, rep.CommandSeq, rep.EventSeq)
}

// writeStream copies a stream's messages, in order, as JSON Lines.
func writeStream(t *testing.T, js jetstream.JetStream, stream, path string) {
	ctx := t.Context()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(m.Data) {
			t.Fatalf("%s #%d is not JSON", stream, seq)
		}
		b, _ := json.Marshal(historyLine{Subject: m.Subject, Data: m.Data})
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
