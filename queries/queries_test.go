package queries_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

func queriesOf(s *stream) *queries.Queries { return queries.New(s.Views(), nil) }

func TestClusterPendingCreate(t *testing.T) {
	s := newStream(t)
	cmd := s.Create("c1", orgA, alice)
	ent, err := queriesOf(s).Cluster(t.Context(), admin(orgA), cmd.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	st := ent.Entity.Status
	switch {
	case ent.ID != cse.EntityID(cmd.ClusterID), ent.Name != "c1", ent.EntityType != cse.EntityType:
		t.Errorf("wrapper %+v", ent)
	case ent.State != cse.StatePreCreated, st.Phase != string(events.PhaseCreateInProgress):
		t.Errorf("state %s phase %s", ent.State, st.Phase)
	case ent.Owner.ID != alice, ent.Org.ID != orgA, ent.ExternalID != nil, st.Nodes != nil:
		t.Errorf("owner %+v org %+v external %v nodes %+v", ent.Owner, ent.Org, ent.ExternalID, st.Nodes)
	case st.Kaas == nil || st.Kaas.OperationID != cmd.ID || st.Kaas.OperationHref != queries.OperationHref(cmd.ID) || st.Kaas.Percent != 0:
		t.Errorf("kaas %+v", st.Kaas)
	case st.TaskHref == nil || *st.TaskHref != queries.OperationHref(cmd.ID):
		t.Errorf("taskHref %v", st.TaskHref)
	}
	if *ent.Entity.Spec.Topology.Workers.Count != 2 || *ent.Entity.Spec.Distribution.TemplateName != "ubuntu-k8s-1.29" {
		t.Errorf("spec %+v", ent.Entity.Spec)
	}
}

func TestClusterRunning(t *testing.T) {
	s := newStream(t)
	cmd := s.Create("c1", orgA, alice)
	s.Run(cmd)
	ent, err := queriesOf(s).Cluster(t.Context(), admin(orgA), cmd.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	st := ent.Entity.Status
	if ent.State != cse.StateResolved || st.Phase != string(events.PhaseCreateSucceeded) {
		t.Errorf("state %s phase %s", ent.State, st.Phase)
	}
	if ent.ExternalID == nil || *ent.ExternalID != "urn:vcloud:vapp:"+cmd.ClusterID {
		t.Errorf("externalId %v", ent.ExternalID)
	}
	n := st.Nodes
	if n == nil || n.ControlPlane == nil || n.ControlPlane.IP != "10.0.0.10" || !strings.HasPrefix(n.ControlPlane.Name, "mstr-") ||
		len(n.Workers) != 2 || n.Workers[0].IP == "" || !strings.HasPrefix(n.Workers[0].Name, "node-") || len(n.NFS) != 0 {
		t.Errorf("nodes %+v", n)
	}
	if st.Kubernetes == nil || *st.Kubernetes != "upstream v1.29.3" || st.CNI == nil || *st.CNI != "antrea 1.14" || st.OS == nil {
		t.Errorf("template facts kubernetes %v cni %v os %v", st.Kubernetes, st.CNI, st.OS)
	}
	if k := st.Kaas; k == nil || k.OperationID != cmd.ID || k.Percent != 100 || k.Error != nil {
		t.Errorf("kaas %+v", k)
	}
}

func TestClusterShowsChanges(t *testing.T) {
	s := newStream(t)
	create := s.Create("c1", orgA, alice)
	s.Run(create)
	scale := s.Command("scale", create.ClusterID, orgA, bob, events.ScaleWorkers{Workers: 4})
	phase := func() (events.Phase, *cse.KaasStatus) {
		t.Helper()
		ent, err := queriesOf(s).Cluster(t.Context(), admin(orgA), create.ClusterID)
		if err != nil {
			t.Fatal(err)
		}
		return events.Phase(ent.Entity.Status.Phase), ent.Entity.Status.Kaas
	}
	// Accepted, not started: already shown in progress (read your writes).
	if p, k := phase(); p != events.PhaseUpdateInProgress || k.OperationID != scale.ID || k.Percent != 0 {
		t.Errorf("pending: %s %+v", p, k)
	}
	s.Start(scale)
	s.Steps(create.ClusterID, 2)
	if p, k := phase(); p != events.PhaseUpdateInProgress || k.OperationID != scale.ID || k.Percent <= 0 || k.Percent >= 100 || k.Step == "" {
		t.Errorf("running: %s %+v", p, k)
	}
	s.Event(scale, events.StepRetrying{Step: "StartNode", Attempt: 3, Failure: events.Failure{Code: events.CodeVCDError, Message: "VCD is busy"}})
	if _, k := phase(); k.Retrying == nil || k.Retrying.Message != "VCD is busy" {
		t.Errorf("retrying: %+v", k)
	}
	s.Finish(create.ClusterID)
	if p, k := phase(); p != events.PhaseUpdateSucceeded || k.OperationID != scale.ID || k.Percent != 100 || k.Retrying != nil {
		t.Errorf("done: %s %+v", p, k)
	}
	// A pending command behind a running one shows the running one.
	up := s.Command("upgrade", create.ClusterID, orgA, bob, events.UpgradeTemplate{Template: events.TemplateRef{Name: "ubuntu-k8s-1.30", Revision: 1}})
	s.Start(up)
	s.Command("delete", create.ClusterID, orgA, bob, events.DeleteCluster{})
	if p, k := phase(); p != events.PhaseUpgradeInProgress || k.OperationID != up.ID {
		t.Errorf("running with one pending: %s %+v", p, k)
	}
}

func TestClusterFailed(t *testing.T) {
	s := newStream(t)
	cmd := s.Create("c1", orgA, alice)
	s.Start(cmd)
	s.Steps(cmd.ClusterID, 5)
	f := s.Fail(cmd.ClusterID, true)
	q := queriesOf(s)
	ent, err := q.Cluster(t.Context(), admin(orgA), cmd.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	if k := ent.Entity.Status.Kaas; ent.Entity.Status.Phase != string(events.PhaseCreateInProgress) || k.Error == nil || k.Error.Code != f.Code {
		t.Errorf("rolling back: %s %+v", ent.Entity.Status.Phase, k)
	}
	s.Finish(cmd.ClusterID)
	// Rolled back, the create leaves no cluster, as CSE leaves neither vApp nor entity: not
	// found, not listed, its name free; its operation still tells what happened and why.
	q = queriesOf(s)
	ctx := t.Context()
	if _, err := q.Cluster(ctx, admin(orgA), cmd.ClusterID); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("rolled-back cluster: %v", err)
	}
	if snap := q.Snapshot(ctx, admin(orgA), cmd.ClusterID); snap.Exists {
		t.Error("rolled-back cluster has a snapshot")
	}
	if l := q.Clusters(ctx, admin(orgA)); len(l) != 0 {
		t.Errorf("rolled-back cluster listed: %+v", l)
	}
	if id := q.NameTaken(ctx, orgA, "vdc1", "c1"); id != "" {
		t.Errorf("rolled-back cluster holds its name: %s", id)
	}
	for _, p := range []cluster.Principal{admin(orgA), {User: alice, Org: orgA}, provider} {
		o, err := q.Operation(ctx, p, cmd.ID)
		if err != nil {
			t.Fatalf("operation for %s: %v", p.User, err)
		}
		if o.Status != projector.OpFailed || o.Phase != string(events.PhaseCreateFailed) || o.Step != events.TypeOperationRolledBack ||
			o.Ended == nil || o.Error == nil || *o.Error != (cse.KaasError{Code: f.Code, Message: f.Message, Step: f.Step, VCDCode: f.VCDCode, VCDMessage: f.VCDMessage}) {
			t.Errorf("operation for %s: %+v %+v", p.User, o, o.Error)
		}
	}
	if _, err := q.Operation(ctx, admin(orgB), cmd.ID); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("another org reads the rolled-back create: %v", err)
	}
}

// A create kept on failure (rollbackOnFailure false) stays, CREATE:FAILED with its nodes,
// until it is deleted.
func TestClusterFailedKept(t *testing.T) {
	s := newStream(t)
	cmd := s.Create("c1", orgA, alice)
	s.Start(cmd)
	s.Steps(cmd.ClusterID, 5)
	f := s.Fail(cmd.ClusterID, false)
	q := queriesOf(s)
	ent, err := q.Cluster(t.Context(), admin(orgA), cmd.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	k := ent.Entity.Status.Kaas
	if ent.Entity.Status.Phase != string(events.PhaseCreateFailed) || k.RolledBack || k.Error == nil || k.Error.Code != f.Code ||
		ent.Entity.Status.Nodes == nil {
		t.Errorf("kept: %s %+v nodes %+v", ent.Entity.Status.Phase, k, ent.Entity.Status.Nodes)
	}
	if q.NameTaken(t.Context(), orgA, "vdc1", "c1") != cmd.ClusterID || len(q.Clusters(t.Context(), admin(orgA))) != 1 {
		t.Error("a cluster kept on failure is not listed by name")
	}
	if snap := q.Snapshot(t.Context(), admin(orgA), cmd.ClusterID); !snap.Exists {
		t.Error("a cluster kept on failure cannot be deleted")
	}
}

func TestOperation(t *testing.T) {
	s := newStream(t)
	create := s.Create("c1", orgA, alice)
	get := func(id string) cse.Operation {
		t.Helper()
		o, err := queriesOf(s).Operation(t.Context(), admin(orgA), id)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := get(create.ID)
	if o.Status != projector.OpPending || o.Phase != string(events.PhaseCreateInProgress) || o.Operation != events.TypeCreateCluster ||
		o.ClusterID != cse.EntityID(create.ClusterID) || o.ClusterURI != queries.ClusterHref(create.ClusterID) || o.RequestID != create.CorrelationID ||
		o.Actor != alice || o.Accepted == nil || !o.Accepted.Equal(create.Time) || o.Started != nil || o.Ended != nil {
		t.Errorf("pending %+v", o)
	}
	s.Start(create)
	s.Event(create, events.StepRetrying{Step: "ResolveTemplate", Attempt: 1, Failure: events.Failure{Code: events.CodeVCDError, Message: "busy"}})
	if o := get(create.ID); o.Status != projector.OpRunning || o.Started == nil || o.Ended != nil || o.Retrying == nil || o.Error != nil {
		t.Errorf("running %+v", o)
	}
	s.Finish(create.ClusterID)
	if o := get(create.ID); o.Status != projector.OpSucceeded || o.Percent != 100 || o.Ended == nil || o.Retrying != nil || o.Error != nil {
		t.Errorf("succeeded %+v", o)
	}

	rejected := s.Command("same", create.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 2})
	s.Start(rejected)
	if o := get(rejected.ID); o.Status != projector.OpRejected || o.Error == nil || o.Error.Code != events.CodeInvalidChange || o.Target != "2" {
		t.Errorf("rejected %+v", o)
	}

	scale := s.Command("scale", create.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 5})
	s.Start(scale)
	s.Event(scale, events.StepRetrying{Step: "CreateNode", Attempt: 1, Failure: events.Failure{Code: events.CodeVCDError, Message: "busy"}})
	force := s.Command("force", create.ClusterID, orgA, alice, events.ForceDeleteCluster{})
	s.Start(force)
	if o := get(scale.ID); o.Status != projector.OpSuperseded || o.Error == nil || o.Error.Code != events.CodeSuperseded || o.Retrying != nil || o.Ended == nil {
		t.Errorf("superseded %+v", o)
	}
	if o := get(force.ID); o.Status != projector.OpRunning || o.Operation != events.TypeForceDeleteCluster || o.Phase != string(events.PhaseDeleteInProgress) {
		t.Errorf("force delete %+v", o)
	}

	s2 := newStream(t)
	failed := s2.Create("c2", orgA, alice)
	s2.Start(failed)
	f := s2.Fail(failed.ClusterID, false)
	o, err := queries.New(s2.Views(), nil).Operation(t.Context(), admin(orgA), failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != projector.OpFailed || o.Phase != string(events.PhaseCreateFailed) || o.Error == nil || o.Error.Message != f.Message {
		t.Errorf("failed %+v", o)
	}

	if _, err := queriesOf(s).Operation(t.Context(), admin(orgA), "nope"); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("unknown operation: %v", err)
	}
}

func TestVisibility(t *testing.T) {
	s := newStream(t)
	running := s.Create("c1", orgA, alice)
	s.Run(running)
	pending := s.Create("c2", orgA, alice)
	q := queriesOf(s)
	ctx := t.Context()
	for _, id := range []string{running.ClusterID, pending.ClusterID} {
		if _, err := q.Cluster(ctx, admin(orgB), id); !errors.Is(err, queries.ErrNotFound) {
			t.Errorf("orgB reads orgA's cluster %s: %v", id, err)
		}
		if _, err := q.Cluster(ctx, admin(orgA), id); err != nil {
			t.Errorf("orgA: %v", err)
		}
		if _, err := q.Cluster(ctx, provider, id); err != nil {
			t.Errorf("no org (all): %v", err)
		}
		if snap := q.Snapshot(ctx, admin(orgB), id); snap.Exists {
			t.Errorf("orgB's snapshot of %s exists", id)
		}
	}
	for _, id := range []string{running.ID, pending.ID} {
		if _, err := q.Operation(ctx, admin(orgB), id); !errors.Is(err, queries.ErrNotFound) {
			t.Errorf("orgB reads orgA's operation: %v", err)
		}
		if _, err := q.Operation(ctx, provider, id); err != nil {
			t.Errorf("no org (all): %v", err)
		}
		if !q.OperationExists(ctx, id) {
			t.Errorf("operation %s does not exist", id)
		}
	}
	if got := q.Clusters(ctx, admin(orgB)); len(got) != 0 {
		t.Errorf("orgB lists %d clusters", len(got))
	}
	if got := q.NameTaken(ctx, orgB, "vdc1", "c1"); got != "" {
		t.Errorf("orgB sees orgA's name: %s", got)
	}
	if got := q.NameTaken(ctx, orgA, "vdc1", "C1"); got != running.ClusterID {
		t.Errorf("NameTaken(C1) = %q", got)
	}
	if got := q.NameTaken(ctx, orgA, "vdc1", "c2"); got != pending.ClusterID {
		t.Errorf("NameTaken(c2, pending) = %q", got)
	}
	if got := q.NameTaken(ctx, orgA, "vdc2", "c1"); got != "" {
		t.Errorf("NameTaken in another VDC = %q", got)
	}
	if q.OperationExists(ctx, "nope") {
		t.Error("unknown operation exists")
	}
	if _, err := q.Cluster(ctx, admin(orgA), "7c9e6679-7425-40de-944b-e07fc1f90ae7"); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("missing cluster: %v", err)
	}
}

func TestClusters(t *testing.T) {
	s := newStream(t)
	for _, n := range []string{"delta", "alpha", "charlie"} {
		s.Run(s.Create(n, orgA, alice))
	}
	s.Create("bravo", orgA, alice)
	s.Run(s.Create("aardvark", orgB, bob))
	gone := s.Create("echo", orgA, alice)
	s.Run(gone)
	s.Run(s.Command("delete-echo", gone.ClusterID, orgA, alice, events.DeleteCluster{}))
	q := queriesOf(s)
	names := func(es []cse.DefEntity) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(q.Clusters(t.Context(), admin(orgA))); got != "alpha,bravo,charlie,delta" {
		t.Errorf("orgA: %s", got)
	}
	if got := names(q.Clusters(t.Context(), provider)); got != "aardvark,alpha,bravo,charlie,delta" {
		t.Errorf("all: %s", got)
	}
	empty := q.Clusters(t.Context(), admin("urn:vcloud:org:none"))
	if b, _ := json.Marshal(empty); string(b) != "[]" {
		t.Errorf("no clusters render as %s, want []", b)
	}
	if _, err := q.Cluster(t.Context(), admin(orgA), gone.ClusterID); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("deleted cluster: %v", err)
	}
	if snap := q.Snapshot(t.Context(), admin(orgA), gone.ClusterID); snap.Exists {
		t.Error("deleted cluster has a snapshot")
	}
	if q.NameTaken(t.Context(), orgA, "vdc1", "echo") != "" {
		t.Error("deleted cluster holds its name")
	}
}

func TestSnapshot(t *testing.T) {
	s := newStream(t)
	create := s.Create("c1", orgA, alice)
	q := queriesOf(s)
	snap := q.Snapshot(t.Context(), admin(orgA), create.ClusterID)
	if !snap.Exists || snap.State != nil || snap.Spec.Name != "c1" || snap.Busy() != events.PhaseCreateInProgress ||
		!reflect.DeepEqual(snap.Pending, []string{events.TypeCreateCluster}) {
		t.Errorf("pending create %+v", snap)
	}
	s.Run(create)
	if snap := queriesOf(s).Snapshot(t.Context(), admin(orgA), create.ClusterID); !snap.Exists || snap.State == nil || snap.Busy() != "" || len(snap.Pending) != 0 {
		t.Errorf("idle %+v", snap)
	}
	s.Command("scale", create.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 3})
	s.Command("delete", create.ClusterID, orgA, alice, events.DeleteCluster{})
	snap = queriesOf(s).Snapshot(t.Context(), admin(orgA), create.ClusterID)
	if snap.Busy() != events.PhaseUpdateInProgress || !reflect.DeepEqual(snap.Pending, []string{events.TypeScaleWorkers, events.TypeDeleteCluster}) {
		t.Errorf("two pending %+v", snap)
	}
	if snap.Spec.Workers.Count != 2 {
		t.Errorf("a pending change is not the spec yet: %+v", snap.Spec.Workers)
	}
}

func TestSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := projector.NewViews()
		q := queries.New(v, nil)
		s := newStream(t)
		s.Create("c1", orgA, alice)
		s.Create("c2", orgA, alice)

		done := make(chan error, 1)
		go func() { done <- q.Sync(t.Context(), 2, 0) }()
		feed(v, s.Cmds[:1])
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Sync(2) returned %v at command 1", err)
		default:
		}
		feed(v, s.Cmds[1:])
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("Sync(2) blocked at command 2")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := q.Sync(ctx, 3, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sync past the end: %v", err)
		}
		if err := q.Sync(t.Context(), 0, 0); err != nil {
			t.Error(err)
		}
	})
}

// TestRenderOrderIndependent: what tenants read does not depend on how the two streams
// interleaved.
func TestRenderOrderIndependent(t *testing.T) {
	s := newStream(t)
	a := s.Create("alpha", orgA, alice)
	s.Run(a)
	s.Start(s.Command("same", a.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 2}))
	scale := s.Command("scale", a.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 3})
	s.Start(scale)
	s.Steps(a.ClusterID, 2)
	b := s.Create("bravo", orgB, bob)
	s.Start(b)
	s.Fail(b.ClusterID, true)
	s.Finish(b.ClusterID)
	s.Create("charlie", orgA, alice)
	s.Run(s.Command("force", a.ClusterID, orgA, alice, events.ForceDeleteCluster{}))
	d := s.Create("delta", orgA, alice)
	s.Run(d)
	s.Command("scale-d", d.ClusterID, orgA, alice, events.ScaleWorkers{Workers: 0})

	render := func(recs []record) string {
		v := projector.NewViews()
		feed(v, recs)
		q := queries.New(v, nil)
		out := map[string]any{"clusters": q.Clusters(t.Context(), provider)}
		for _, r := range s.Cmds {
			o, err := q.Operation(t.Context(), provider, r.Env.ID)
			if err != nil {
				t.Fatal(err)
			}
			out[r.Env.ID] = o
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := render(s.All)
	for name, order := range map[string][]record{
		"commands first": append(append([]record(nil), s.Cmds...), s.Evts...),
		"events first":   append(append([]record(nil), s.Evts...), s.Cmds...),
	} {
		if got := render(order); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestParsePage(t *testing.T) {
	tests := []struct {
		query      string
		page, size int
		bad        bool
	}{
		{"", 1, cse.DefaultPageSize, false},
		{"page=3", 3, cse.DefaultPageSize, false},
		{"pageSize=128", 1, 128, false},
		{"page=2&pageSize=1", 2, 1, false},
		{"page=0", 0, 0, true},
		{"page=-2", 0, 0, true},
		{"page=one", 0, 0, true},
		{"pageSize=0", 0, 0, true},
		{"pageSize=129", 0, 0, true},
		{"pageSize=1e2", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			page, size, err := cse.ParsePage(q)
			if (err != nil) != tt.bad || page != tt.page || size != tt.size {
				t.Errorf("ParsePage(%q) = %d, %d, %v", tt.query, page, size, err)
			}
		})
	}
}

func TestPaginate(t *testing.T) {
	all := []string{"a", "b", "c", "d", "e"}
	base := "https://vcd.example.com/api/cse/3.0/nativeclusters"
	filters := url.Values{"ovdc_name": {"vdc1"}, "page": {"9"}, "pageSize": {"9"}}
	tests := []struct {
		page, size int
		values     string
		count      int
		next, prev string
	}{
		{1, 2, "a,b", 3, base + "?ovdc_name=vdc1&page=2&pageSize=2", ""},
		{2, 2, "c,d", 3, base + "?ovdc_name=vdc1&page=3&pageSize=2", base + "?ovdc_name=vdc1&page=1&pageSize=2"},
		{3, 2, "e", 3, "", base + "?ovdc_name=vdc1&page=2&pageSize=2"},
		{4, 2, "", 3, "", ""},
		{1, 25, "a,b,c,d,e", 1, "", ""},
		// Past the end however large the page: no overflow, no panic, no next link.
		{math.MaxInt, 2, "", 3, "", ""},
		{math.MaxInt/2 + 1, 2, "", 3, "", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("page %d size %d", tt.page, tt.size), func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Paginate panicked: %v", r)
				}
			}()
			p := cse.Paginate(all, cse.PageParams{Page: tt.page, PageSize: tt.size, Base: base, Filters: filters})
			if got := strings.Join(p.Values, ","); got != tt.values || p.ResultTotal != 5 || p.PageCount != tt.count || p.Page != tt.page || p.PageSize != tt.size {
				t.Errorf("page %d size %d: values %q total %d pages %d", tt.page, tt.size, got, p.ResultTotal, p.PageCount)
			}
			if p.NextPageURI != tt.next || p.PreviousPageURI != tt.prev {
				t.Errorf("page %d size %d links:\n next %q want %q\n prev %q want %q", tt.page, tt.size, p.NextPageURI, tt.next, p.PreviousPageURI, tt.prev)
			}
			if p.Values == nil {
				t.Errorf("page %d: values is nil (renders as null)", tt.page)
			}
		})
	}
	if p := cse.Paginate([]string{}, cse.PageParams{Page: 1, PageSize: 25, Base: base}); p.PageCount != 0 || p.NextPageURI != "" || p.Values == nil {
		t.Errorf("empty: %+v", p)
	}
}

// admin is an org administrator of org: it sees every cluster of its org.
func admin(org string) cluster.Principal {
	return cluster.Principal{User: "urn:vcloud:user:org-admin", Org: org, Rights: []string{cluster.RightAdminFull}}
}

// provider is a System org user: it sees every org.
var provider = cluster.Principal{User: "urn:vcloud:user:root", Org: "urn:vcloud:org:system", Provider: true}

// A provider's change to a tenant's cluster is the tenant's to follow, also in histories
// written when such commands carried the provider's org: the cluster's org decides.
func TestTenantSeesProvidersOperationOnItsCluster(t *testing.T) {
	s := newStream(t)
	create := s.Create("c1", orgA, alice)
	s.Run(create)
	acl := s.Command("provider-acl", create.ClusterID, provider.Org, provider.User, events.SetClusterACL{Entries: []events.ACLEntry{}})
	s.Run(acl)
	q := queriesOf(s)
	o, err := q.Operation(t.Context(), admin(orgA), acl.ID)
	if err != nil {
		t.Fatalf("the tenant cannot follow the provider's change to its cluster: %v", err)
	}
	if o.Actor != provider.User {
		t.Errorf("actor %q, want the provider", o.Actor)
	}
	if _, err := q.Operation(t.Context(), admin(orgB), acl.ID); !errors.Is(err, queries.ErrNotFound) {
		t.Errorf("another org reads it: %v", err)
	}
}

// Names come from what kaas read from VCD, in memory: a cluster's owner by name, and the
// users it is shared with as VCD names them, but only users of the cluster's org or the
// caller's own; another org's user keeps the name the sharer gave, so that no caller
// learns the names of an org it does not see.
func TestNamesFromVCD(t *testing.T) {
	const (
		eve   = "urn:vcloud:user:e0000000-0000-4000-8000-00000000000e" // of orgB
		ghost = "urn:vcloud:user:f0000000-0000-4000-8000-00000000000f" // VCD never listed it
	)
	s := newStream(t)
	create := s.Create("c1", orgA, alice)
	s.Run(create)
	s.Run(s.Command("share-c1", create.ClusterID, orgA, alice, events.SetClusterACL{Entries: []events.ACLEntry{
		{MemberID: bob, Username: "robert", AccessLevel: events.AccessReadOnly},
		{MemberID: eve, Username: "eve as alice typed it", AccessLevel: events.AccessReadOnly},
		{MemberID: provider.User, AccessLevel: events.AccessFullControl},
		{MemberID: ghost, AccessLevel: events.AccessReadOnly},
	}}))
	v := s.Views()
	q := queries.New(v, nil)
	ctx := t.Context()
	if ent, _ := q.Cluster(ctx, admin(orgA), create.ClusterID); ent.Owner.Name != "" {
		t.Fatalf("owner named %q before kaas read VCD's users", ent.Owner.Name)
	}
	v.ApplyEvent(uint64(len(s.Evts)+1), "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
		Payload: events.CloudSynced{Users: []events.User{{ID: alice, Name: "alice", OrgID: orgA}, {ID: bob, Name: "bob", OrgID: orgA},
			{ID: eve, Name: "eve", OrgID: orgB}, {ID: provider.User, Name: "administrator", OrgID: provider.Org}}}})

	ent, err := q.Cluster(ctx, admin(orgA), create.ClusterID)
	if err != nil || ent.Owner != (cse.Ref{Name: "alice", ID: alice}) {
		t.Fatalf("owner %+v (%v)", ent.Owner, err)
	}
	if list := q.Clusters(ctx, provider); len(list) != 1 || list[0].Owner.Name != "alice" {
		t.Errorf("listed %+v", list)
	}
	names := func(p cluster.Principal) map[string]string {
		acl, err := q.ACL(ctx, p, create.ClusterID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, e := range acl {
			out[e.MemberID] = e.Username
		}
		return out
	}
	tenant := map[string]string{bob: "bob", eve: "eve as alice typed it", provider.User: "", ghost: ""}
	if got := names(admin(orgA)); !reflect.DeepEqual(got, tenant) {
		t.Errorf("alice's ACL names %v, want %v", got, tenant)
	}
	prov := map[string]string{bob: "bob", eve: "eve as alice typed it", provider.User: "administrator", ghost: ""}
	if got := names(provider); !reflect.DeepEqual(got, prov) {
		t.Errorf("a provider's ACL names %v, want %v", got, prov)
	}
	// The view keeps the names the sharer gave.
	if acl := v.Users(); acl[bob].Name != "bob" {
		t.Fatalf("users %+v", acl)
	}
	if cv, _ := v.Cluster(create.ClusterID); cv.ACL()[0].Username != "robert" {
		t.Errorf("the view's ACL was changed: %+v", cv.ACL())
	}
}
