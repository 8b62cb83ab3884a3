package drill_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events/cse"
)

// drill is one fault done during a burst of creates.
type drill struct {
	name, fault string
	// full: only in the full form (KAAS_DRILL=full).
	full bool
	// ownBroker: the drill restarts RabbitMQ, so the system runs a broker of its own.
	ownBroker bool
	// do does the fault while the burst runs, and says what it did.
	do func(s *system, b *burst) (string, error)
}

var drills = []drill{
	{name: "a", fault: "SIGKILL one kaasd", do: killKaasd},
	{name: "b", fault: "SIGKILL one NATS node, bring it back", do: killNATSNode},
	{name: "c", fault: "restart RabbitMQ", full: true, ownBroker: true, do: restartBroker},
	{name: "d", fault: "stop and restart all three NATS nodes", full: true, do: restartNATS},
	{name: "e", fault: "rolling restart of every kaasd", full: true, do: rollKaasds},
}

// TestDrills runs kaas as a provider does (see system) and, during a burst of creates
// posted over HTTPS, does each drill's fault. After each: every create was accepted (a
// 202, or, after an answer lost to the fault, "already exists" on the tenant's retry) and
// has its cluster exactly once, which reached CREATE:SUCCEEDED; VCD has one vApp per
// cluster with its two VMs and nothing else; no operation is stuck; every instance's
// replay equals its live views and verifies the history.
//
// The short form (go test) runs drills a and b with 20 creates; KAAS_DRILL=full runs all
// five with 100 creates each (make drill) and writes the table to KAAS_DRILL_TABLE.
func TestDrills(t *testing.T) {
	full := os.Getenv("KAAS_DRILL") == "full"
	n, pace := 20, 30*time.Millisecond
	if full {
		n, pace = 100, 20*time.Millisecond
	}
	var run []drill
	ownBroker := false
	for _, d := range drills {
		if !d.full || full {
			run = append(run, d)
			ownBroker = ownBroker || d.ownBroker
		}
	}
	start := time.Now()
	s := startSystem(t, ownBroker)
	t.Logf("3 NATS nodes, 3 kaasd, vcdsim and RabbitMQ up in %s", time.Since(start).Round(time.Millisecond))

	var rows []row
	all := map[string]bool{} // every cluster accepted so far, by id
	for _, d := range run {
		t.Run(d.name, func(t *testing.T) {
			r := runDrill(t, s, d, n, pace, all)
			rows = append(rows, r)
			t.Logf("%s: %s", d.fault, r.Note)
		})
	}
	table := renderTable(rows)
	if path := os.Getenv("KAAS_DRILL_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil { //nolint:gosec // a report for people
			t.Error(err)
		}
	} else {
		t.Logf("drills (%d creates each):\n%s", n, table)
	}
}

// row is what a drill did and counted.
type row struct {
	Drill, Fault string
	Note         string
	Posted       int // creates posted, each with a name of its own
	Accepted     int // answered 202
	Late         int // answered "already exists" on a retry: the first try's 202 was lost to the fault
	Retries      int // tries answered otherwise (504 while RabbitMQ or NATS was away) and tried again
	RetriedWhy   map[string]int
	Clusters     int // clusters with the drill's names
	VApps, VMs   int // in VCD, of those clusters
	Duplicates   int // a second cluster for a name, a second vApp for a cluster, a VM beyond a vApp's two
	Orphans      int // vApps in VCD for no accepted cluster, and 202s without their cluster
	Failed       int // creates that ended other than CREATE:SUCCEEDED (and were rolled back)
	Stuck        int // clusters or operations still running when the drill gave up waiting
	ReplayEqual  int // instances whose replay equals their live views
	Verified     int // instances that verified the history
	Exits        int // kaasd or NATS exits nobody asked for (each restarted, as systemd does)
	LongestWait  time.Duration
	AllDone      time.Duration
}

// finalStatuses are an operation's statuses once it has ended.
var finalStatuses = []string{"SUCCEEDED", "FAILED", "REJECTED", "SUPERSEDED"}

// create is one create's outcome.
type create struct {
	name      string
	id        string // the 202's cluster
	operation string // the 202's operation href
	late      bool
	retries   int
	why       []string // each retried answer's status
	wait      time.Duration
	err       error
}

// burst is n creates posted over HTTPS, one every pace, each retried as a tenant retries
// an answer that is not one (a 504 while the extension cannot be reached).
type burst struct {
	creates []create
	mu      sync.Mutex
	posted  int
	answers int
	done    chan struct{}
	start   time.Time
}

// progress says how far the burst is.
func (b *burst) progress() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("%d/%d posted, %d answered", b.posted, len(b.creates), b.answers)
}

func (b *burst) answered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.answers
}

// waitUnderWay waits until the burst is well under way: a quarter of the creates answered,
// or half of them posted (answers come in bunches on a busy machine, and the fault must
// land while creates are still coming).
func (b *burst) waitUnderWay() error {
	n := len(b.creates)
	return waitFor(5*time.Minute, 5*time.Millisecond, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.answers < n/4 && b.posted < n/2 {
			return fmt.Errorf("%d of %d creates posted, %d answered", b.posted, n, b.answers)
		}
		return nil
	})
}

// waitAnswered waits until k creates are answered.
func (b *burst) waitAnswered(k int) error {
	return waitFor(5*time.Minute, 10*time.Millisecond, func() error {
		if a := b.answered(); a < k {
			return fmt.Errorf("%d of %d creates answered", a, k)
		}
		return nil
	})
}

// postBurst starts posting the burst and returns at once; done is closed once every
// create is answered.
func postBurst(s *system, prefix string, n int, pace time.Duration) *burst {
	b := &burst{creates: make([]create, n), done: make(chan struct{}), start: time.Now()}
	go func() {
		var wg sync.WaitGroup
		for i := range n {
			b.mu.Lock()
			b.posted++
			b.mu.Unlock()
			wg.Go(func() {
				c := s.create(fmt.Sprintf("%s-%03d", prefix, i))
				b.mu.Lock()
				b.creates[i] = c
				b.answers++
				b.mu.Unlock()
			})
			time.Sleep(pace) // spreading the burst, not waiting for anything: the faults wait for answers
		}
		wg.Wait()
		close(b.done)
	}()
	return b
}

// create posts one create and retries it until kaas answers it.
func (s *system) create(name string) (c create) {
	c.name = name
	start := time.Now()
	defer func() { c.wait = time.Since(start) }()
	backoff := 200 * time.Millisecond
	for try := 0; time.Since(start) < 5*time.Minute; try++ {
		code, body, err := s.call(s.tenant, "POST", "/api/cse/3.0/clusters", entity(name))
		switch {
		case err == nil && code == http.StatusAccepted:
			var ent cse.DefEntity
			if err := json.Unmarshal(body, &ent); err != nil || ent.ID == "" || ent.Entity.Status.Kaas == nil {
				c.err = fmt.Errorf("a 202 without a cluster: %s", body)
				return c
			}
			c.id, c.operation = ent.ID, ent.Entity.Status.Kaas.OperationHref
			return c
		case err == nil && code == http.StatusBadRequest && try > 0 && strings.Contains(string(body), "already"):
			c.late = true
			return c
		case err != nil || code >= 500:
			c.retries++
			why := strconv.Itoa(code)
			if err != nil {
				why = "no answer"
			}
			c.why = append(c.why, why)
			time.Sleep(backoff) // the tenant's backoff
			backoff = min(2*backoff, 2*time.Second)
		default:
			c.err = fmt.Errorf("answered %d: %.300s", code, body)
			return c
		}
	}
	c.err = fmt.Errorf("no answer in 5 minutes, %d tries", c.retries+1)
	return c
}

func entity(name string) map[string]any {
	return map[string]any{
		"apiVersion": "cse.vmware.com/v2.1", "kind": "native",
		"metadata": map[string]any{"name": name, "orgName": "acme", "virtualDataCenterName": "acme-vdc", "site": "https://vcd.example.com"},
		"spec": map[string]any{
			"distribution": map[string]any{"templateName": "ubuntu-22.04_k8s-1.29_antrea-1.14", "templateRevision": 1},
			"topology":     map[string]any{"controlPlane": map[string]any{"count": 1}, "workers": map[string]any{"count": 1}},
			"settings":     map[string]any{"ovdcNetwork": "acme-net", "rollbackOnFailure": true},
		},
	}
}

func runDrill(t *testing.T, s *system, d drill, n int, pace time.Duration, all map[string]bool) row {
	r := row{Drill: d.name, Fault: d.fault, Posted: n}
	exitsBefore := s.exits()
	b := postBurst(s, "drill-"+d.name, n, pace)
	var faultErr error
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		r.Note, faultErr = d.do(s, b)
	}()
	<-b.done
	<-faultDone
	if faultErr != nil {
		t.Fatalf("the fault: %v", faultErr)
	}
	byName := map[string]create{}
	for _, c := range b.creates {
		r.LongestWait = max(r.LongestWait, c.wait)
		r.Retries += c.retries
		for _, w := range c.why {
			if r.RetriedWhy == nil {
				r.RetriedWhy = map[string]int{}
			}
			r.RetriedWhy[w]++
		}
		switch {
		case c.err != nil:
			t.Errorf("create %s: %v", c.name, c.err)
		case c.late:
			r.Late++
		default:
			r.Accepted++
		}
		byName[c.name] = c
	}

	// Everything settles: the NATS cluster current again, every instance serving, every
	// cluster of the burst in a final phase.
	if err := s.natsHealthy(2 * time.Minute); err != nil {
		t.Errorf("the NATS cluster after the drill: %v", err)
	}
	for _, k := range s.kaasds {
		if err := k.waitReady(readyWithin); err != nil {
			t.Errorf("after the drill: %v", err)
		}
	}
	mine := func(c cse.DefEntity) bool { _, ok := byName[c.Name]; return ok }
	var list []cse.DefEntity
	err := waitFor(5*time.Minute, 250*time.Millisecond, func() error {
		code, body, err := s.call(s.tenant, "GET", "/api/cse/3.0/clusters", nil)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("list: %d %v %.200s", code, err, body)
		}
		var got []cse.DefEntity
		if err := json.Unmarshal(body, &got); err != nil {
			return err
		}
		list = got
		names, busy := map[string]bool{}, 0
		for _, c := range got {
			if mine(c) {
				names[c.Name] = true
				if strings.HasSuffix(c.Entity.Status.Phase, "IN_PROGRESS") {
					busy++
				}
			}
		}
		if busy > 0 {
			return fmt.Errorf("%d of %d clusters listed, %d in progress", len(names), n, busy)
		}
		// A create that failed leaves no cluster (rollbackOnFailure): done once its
		// operation ended.
		for _, c := range b.creates {
			if names[c.name] || c.operation == "" {
				continue
			}
			code, body, err := s.call(s.tenant, "GET", c.operation, nil)
			var op cse.Operation
			if err != nil || code != http.StatusOK || json.Unmarshal(body, &op) != nil || !slices.Contains(finalStatuses, op.Status) {
				return fmt.Errorf("%d of %d clusters listed; %s's is not, and its operation has not ended: %d %.200s", len(names), n, c.name, code, body)
			}
		}
		return nil
	})
	r.AllDone = time.Since(b.start)
	if err != nil {
		t.Errorf("waiting for the clusters: %v", err)
	}

	// The clusters: one per name, each from its 202, each finished.
	clusterOf, perName := map[string]string{}, map[string]int{}
	for _, c := range list {
		all[c.ID] = true
		if !mine(c) {
			continue
		}
		r.Clusters++
		perName[c.Name]++
		clusterOf[c.Name] = c.ID
		switch {
		case strings.HasSuffix(c.Entity.Status.Phase, "IN_PROGRESS"):
			r.Stuck++
		case c.Entity.Status.Phase != "CREATE:SUCCEEDED":
			r.Failed++
			t.Errorf("cluster %s ended %s", c.Name, c.Entity.Status.Phase)
		}
	}
	for name, k := range perName {
		if k > 1 {
			r.Duplicates += k - 1
			t.Errorf("%d clusters named %s", k, name)
		}
	}
	// Their operations ended; a 202 whose cluster is gone failed and was rolled back
	// (rollbackOnFailure), or was lost.
	for _, c := range b.creates {
		if c.operation == "" {
			continue
		}
		code, body, err := s.call(s.tenant, "GET", c.operation, nil)
		var op cse.Operation
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &op) != nil {
			t.Errorf("operation of %s: %d %v %.200s", c.name, code, err, body)
			continue
		}
		if !slices.Contains(finalStatuses, op.Status) {
			r.Stuck++
			t.Errorf("operation of %s is %s", c.name, op.Status)
		}
		if clusterOf[c.name] == c.id {
			continue
		}
		if op.Status == "FAILED" {
			r.Failed++
			t.Errorf("create %s (%s) failed and was rolled back: %s", c.name, c.id, body)
			continue
		}
		r.Orphans++
		t.Errorf("create %s was answered 202 with cluster %s, which is not there (listed: %q); its operation: %s", c.name, c.id, clusterOf[c.name], body)
	}

	// VCD: one vApp per cluster, each with its two VMs (a third is a node made twice);
	// nothing for a cluster kaas does not have.
	vapps, nameOf := map[string]int{}, map[string]string{}
	for _, c := range list {
		nameOf[c.ID] = c.Name
	}
	for _, a := range s.sim.Inventory().VApps {
		id := a.Metadata["kaas.cluster.id"]
		if !all[cse.EntityID(id)] {
			r.Orphans++
			t.Errorf("vApp %s in VCD belongs to no accepted cluster (%q)", a.Name, id)
			continue
		}
		if _, ok := byName[nameOf[cse.EntityID(id)]]; !ok {
			continue // an earlier drill's
		}
		r.VApps++
		r.VMs += len(a.VMs)
		if vapps[id]++; vapps[id] > 1 {
			r.Duplicates++
			t.Errorf("cluster %s has %d vApps", id, vapps[id])
		}
		if len(a.VMs) != 2 {
			r.Duplicates += max(0, len(a.VMs)-2)
			t.Errorf("vApp %s has %d VMs, want 2", a.Name, len(a.VMs))
		}
	}

	// Every instance: replay equals live, and the history verifies.
	answers, err := s.onEveryInstance("POST", "/api/cse/3.0/admin/replay", "replay")
	if err != nil {
		t.Error(err)
	}
	for i, a := range answers {
		var rep cse.ReplayReport
		if a == nil {
			continue
		}
		if err := json.Unmarshal(a, &rep); err != nil || len(rep.Differences) != 0 || rep.EventSeq == 0 {
			t.Errorf("replay on %s: %v %.500s", s.kaasds[i].name, err, a)
			continue
		}
		r.ReplayEqual++
	}
	answers, err = s.onEveryInstance("GET", "/api/cse/3.0/audit/verify", "audit_verify")
	if err != nil {
		t.Error(err)
	}
	for i, a := range answers {
		var v cse.Verification
		if a == nil {
			continue
		}
		if err := json.Unmarshal(a, &v); err != nil || !v.OK || v.Clusters < len(all) {
			t.Errorf("verify on %s (%d clusters accepted so far): %v %.500s", s.kaasds[i].name, len(all), err, a)
			continue
		}
		r.Verified++
	}
	r.Exits = s.exits() - exitsBefore

	// The counts the table shows, asserted.
	want := row{Drill: r.Drill, Fault: r.Fault, Note: r.Note, Posted: n, Accepted: n - r.Late, Late: r.Late, Retries: r.Retries,
		Clusters: n, VApps: n, VMs: 2 * n, ReplayEqual: len(s.kaasds), Verified: len(s.kaasds), Exits: r.Exits,
		LongestWait: r.LongestWait, AllDone: r.AllDone, RetriedWhy: r.RetriedWhy}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("counted %+v\nwant    %+v", r, want)
	}
	return r
}

// exits counts the exits of every process nobody asked for.
func (s *system) exits() int {
	n := 0
	for _, k := range s.kaasds {
		n += k.exits()
	}
	for _, nn := range s.nats {
		n += nn.exits()
	}
	return n
}

// killKaasd kills an instance once a quarter of the creates is answered, leaves it down
// until the other two have answered all of them, then starts it again.
func killKaasd(s *system, b *burst) (string, error) {
	n := len(b.creates)
	if err := b.waitUnderWay(); err != nil {
		return "", err
	}
	k := s.kaasds[1]
	at := b.progress()
	k.kill()
	if err := b.waitAnswered(n); err != nil {
		return "", fmt.Errorf("with %s killed: %w", k.name, err)
	}
	restart := time.Now()
	if err := k.start(readyWithin); err != nil {
		return "", err
	}
	return fmt.Sprintf("killed %s at %s; the other two answered the rest; it was ready again %s after its restart",
		k.name, at, time.Since(restart).Round(time.Millisecond)), nil
}

// killNATSNode kills the node that leads KAAS_COMMANDS once a quarter of the creates is
// answered, and starts it again once another quarter is answered without it.
func killNATSNode(s *system, b *burst) (string, error) {
	n := len(b.creates)
	if err := b.waitUnderWay(); err != nil {
		return "", err
	}
	node, err := s.streamLeader("KAAS_COMMANDS")
	if err != nil {
		return "", err
	}
	at, answered := b.progress(), b.answered()
	node.kill()
	down := time.Now()
	if err := b.waitAnswered(min(n, answered+n/4)); err != nil {
		return "", fmt.Errorf("with %s killed: %w", node.name, err)
	}
	if err := node.start(time.Minute); err != nil {
		return "", err
	}
	gone := time.Since(down)
	if err := waitFor(2*time.Minute, 100*time.Millisecond, node.healthy); err != nil {
		return "", fmt.Errorf("%s back: %w", node.name, err)
	}
	return fmt.Sprintf("killed %s (leader of KAAS_COMMANDS) at %s, restarted it %s later; current again %s after",
		node.name, at, gone.Round(time.Millisecond), (time.Since(down) - gone).Round(time.Millisecond)), nil
}

// streamLeader is the NATS node that leads a stream, as the cluster's monitoring says.
func (s *system) streamLeader(stream string) (*natsNode, error) {
	var leader string
	for _, nn := range s.nats {
		_, body, err := get(nn.monitor() + "/jsz?streams=true")
		if err != nil {
			continue
		}
		var jsz struct {
			Accounts []struct {
				Streams []struct {
					Name    string `json:"name"`
					Cluster struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		if json.Unmarshal([]byte(body), &jsz) != nil {
			continue
		}
		for _, a := range jsz.Accounts {
			for _, st := range a.Streams {
				if st.Name == stream && st.Cluster.Leader != "" {
					leader = st.Cluster.Leader
				}
			}
		}
		if leader != "" {
			break
		}
	}
	for _, nn := range s.nats {
		if "kaas-"+nn.name == leader {
			return nn, nil
		}
	}
	return nil, fmt.Errorf("no node leads %s (%q)", stream, leader)
}

// restartBroker stops RabbitMQ once a quarter of the creates is answered, and starts it
// again on the same files: what was in the durable queue is still there, what was in
// flight is lost with its connection and retried by the tenant.
func restartBroker(s *system, b *burst) (string, error) {
	if s.broker == nil {
		return "", errors.New("the system runs on the machine's RabbitMQ, which the drills do not restart")
	}
	if err := b.waitUnderWay(); err != nil {
		return "", err
	}
	at := b.progress()
	down := time.Now()
	s.broker.stop()
	stopped := time.Since(down)
	if err := s.broker.start(3 * time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf("stopped RabbitMQ at %s (%s to stop), answering again %s after the stop began",
		at, stopped.Round(time.Millisecond), time.Since(down).Round(time.Millisecond)), nil
}

// restartNATS stops all three NATS nodes once a quarter of the creates is answered, and
// starts them again.
func restartNATS(s *system, b *burst) (string, error) {
	if err := b.waitUnderWay(); err != nil {
		return "", err
	}
	at := b.progress()
	down := time.Now()
	var wg sync.WaitGroup
	for _, nn := range s.nats {
		wg.Go(func() { nn.signal(syscall.SIGTERM) })
	}
	wg.Wait()
	stopped := time.Since(down)
	errs := make([]error, len(s.nats))
	for i, nn := range s.nats {
		wg.Go(func() { errs[i] = nn.start(time.Minute) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	if err := s.natsHealthy(2 * time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf("stopped the three nodes at %s (%s), the cluster was current again %s after the stop began",
		at, stopped.Round(time.Millisecond), time.Since(down).Round(time.Millisecond)), nil
}

// rollKaasds restarts every instance in turn, once a quarter of the creates is answered:
// SIGTERM, wait for it to exit, start it, wait until it is ready, next.
func rollKaasds(s *system, b *burst) (string, error) {
	if err := b.waitUnderWay(); err != nil {
		return "", err
	}
	at := b.progress()
	start := time.Now()
	var took []string
	for _, k := range s.kaasds {
		t0 := time.Now()
		k.stop()
		if err := k.start(readyWithin); err != nil {
			return "", err
		}
		took = append(took, fmt.Sprintf("%s %s", k.name, time.Since(t0).Round(time.Millisecond)))
	}
	return fmt.Sprintf("restarted the three in turn from %s, in %s (%s)",
		at, time.Since(start).Round(time.Millisecond), strings.Join(took, ", ")), nil
}

// renderTable is the rows as a Markdown table.
func renderTable(rows []row) string {
	var sb strings.Builder
	sb.WriteString("| drill | fault | creates | 202 | late 202 | retried | clusters | vApps | VMs | duplicates | orphans | failed | stuck | replay = live | verified | unplanned exits | longest wait | all done |\n")
	sb.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d/3 | %d/3 | %d | %.1fs | %.1fs |\n",
			r.Drill, r.Fault, r.Posted, r.Accepted, r.Late, r.Retries, r.Clusters, r.VApps, r.VMs, r.Duplicates, r.Orphans,
			r.Failed, r.Stuck, r.ReplayEqual, r.Verified, r.Exits, r.LongestWait.Seconds(), r.AllDone.Seconds())
	}
	for _, r := range rows {
		fmt.Fprintf(&sb, "\n%s: %s.", r.Drill, r.Note)
		if len(r.RetriedWhy) > 0 {
			var why []string
			for w, k := range r.RetriedWhy {
				why = append(why, fmt.Sprintf("%d× %s", k, w))
			}
			slices.Sort(why)
			fmt.Fprintf(&sb, " Retried answers: %s.", strings.Join(why, ", "))
		}
	}
	sb.WriteString("\n")
	return sb.String()
}
