package ingress_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

// fakeAdmin records what the API asks of the process.
type fakeAdmin struct {
	stopped chan struct{}
	swaps   []bool
	rep     *ingress.ReplayReport // nil: one difference
	err     error
}

func (f *fakeAdmin) Replay(ctx context.Context, swap bool) (ingress.ReplayReport, error) {
	f.swaps = append(f.swaps, swap)
	if f.rep != nil {
		return *f.rep, f.err
	}
	return ingress.ReplayReport{Differences: []string{"cluster x differs"}}, f.err
}

func (f *fakeAdmin) Stop() { close(f.stopped) }

func (f *fakeAdmin) RunningConfig() any { return map[string]string{"KAAS_ROLES": "all"} }

func newAdminHarness(t *testing.T, admin ingress.Admin) *harness {
	t.Helper()
	views := projector.NewViews()
	cmds := newFakeCommands(t, views, 0)
	api, err := ingress.New(ingress.Config{Admin: admin}, cmds, queries.New(views, nil))
	if err != nil {
		t.Fatal(err)
	}
	enableVDC(views)
	return &harness{t: t, api: api, views: views, cmds: cmds}
}

// The provider's operations on the process reach it through Admin, for providers only;
// without one, each answers as before: replay 404, stop 400, the configuration empty.
func TestAdmin(t *testing.T) {
	f := &fakeAdmin{stopped: make(chan struct{})}
	h := newAdminHarness(t, f)

	rec := h.do(http.MethodPost, "/api/cse/3.0/admin/replay?swap=true", "", provider())
	var rep cse.ReplayReport
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &rep) != nil || len(rep.Differences) != 1 {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	if len(f.swaps) != 1 || !f.swaps[0] {
		t.Errorf("replay asked with swaps %v, want [true]", f.swaps)
	}
	f.err = errors.New("stream gone")
	wantError(t, h.do(http.MethodPost, "/api/cse/3.0/admin/replay", "", provider()), http.StatusServiceUnavailable, cse.MinorDefault, "stream gone")

	rec = h.do(http.MethodGet, "/api/cse/system/config", "", provider())
	if rec.Code != http.StatusOK || rec.Body.String() != `{"KAAS_ROLES":"all"}` {
		t.Errorf("config: %d %s", rec.Code, rec.Body)
	}

	for _, tt := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/cse/3.0/admin/replay", ""},
		{http.MethodPut, "/api/cse/system", `{"server_action": "stop"}`},
		{http.MethodGet, "/api/cse/system/config", ""},
	} {
		if rec := h.do(tt.method, tt.path, tt.body); rec.Code != http.StatusForbidden {
			t.Errorf("a tenant's %s %s: %d, want 403", tt.method, tt.path, rec.Code)
		}
	}
	select {
	case <-f.stopped:
		t.Fatal("a tenant stopped the process")
	default:
	}
	if rec := h.do(http.MethodPut, "/api/cse/system", `{"server_action": "stop"}`, provider()); rec.Code != http.StatusOK {
		t.Fatalf("stop: %d %s", rec.Code, rec.Body)
	}
	select {
	case <-f.stopped:
	case <-time.After(10 * time.Second): // a bound on a failure, not a wait that decides
		t.Fatal("stop never reached the process")
	}

	none := newAdminHarness(t, nil)
	wantError(t, none.do(http.MethodPost, "/api/cse/3.0/admin/replay", "", provider()), http.StatusNotFound, cse.MinorDefault, "does not run the projector")
	wantError(t, none.do(http.MethodPut, "/api/cse/system", `{"server_action": "stop"}`, provider()), http.StatusBadRequest, cse.MinorDefault, "cannot be stopped")
	if rec := none.do(http.MethodGet, "/api/cse/system/config", "", provider()); rec.Code != http.StatusOK || rec.Body.String() != `{}` {
		t.Errorf("config without admin: %d %s", rec.Code, rec.Body)
	}
}

// The replay's report is rendered as CSE's wire shape: seconds for its duration, and an
// empty list, never null, when the views agree.
func TestReplayReportWire(t *testing.T) {
	for _, tt := range []struct {
		name string
		rep  ingress.ReplayReport
		want string
	}{
		{"agree", ingress.ReplayReport{CommandSeq: 7, EventSeq: 9, Clusters: 2, Operations: 3, Took: 1500 * time.Millisecond},
			`{"commandSeq":7,"eventSeq":9,"clusters":2,"operations":3,"differences":[],"swapped":false,"seconds":1.5}`},
		{"differ, swapped", ingress.ReplayReport{CommandSeq: 1, EventSeq: 2, Differences: []string{"cluster x differs"}, Swapped: true},
			`{"commandSeq":1,"eventSeq":2,"clusters":0,"operations":0,"differences":["cluster x differs"],"swapped":true,"seconds":0}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newAdminHarness(t, &fakeAdmin{rep: &tt.rep})
			rec := h.do(http.MethodPost, "/api/cse/3.0/admin/replay", "", provider())
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != http.StatusOK || got != tt.want {
				t.Errorf("replay: %d %s, want 200 %s", rec.Code, got, tt.want)
			}
		})
	}
}
