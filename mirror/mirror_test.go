package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/internal/waittest"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/projector/projectortest"
)

// system is the mirror as kaasd runs it, on the in-memory store: a projector following it,
// the links, and mirrors started and stopped at will into one fake VCD. Its tests run in a
// synctest bubble, so the leases, retries and polls run on fake time.
type system struct {
	t     *testing.T
	store *memstore.Store
	views *projector.Views
	links *Links
	vcd   *fakeVCD
	st    *projectortest.Stream
	sent  int
	heads map[string]uint64
}

func newSystem(t *testing.T) *system {
	t.Helper()
	store := memstore.New(memstore.Config{})
	p := projector.New(store, projector.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	links, err := OpenLinks(ctx, store, LinksConfig{PublicURL: "https://vcd.test"})
	if err != nil {
		t.Fatal(err)
	}
	return &system{t: t, store: store, views: p.Views(), links: links, vcd: newFakeVCD(), st: projectortest.New(t), heads: map[string]uint64{}}
}

// send appends what the stream gained since the last send to the store, as the ingress and
// the executors would have.
func (s *system) send() {
	s.t.Helper()
	ctx := s.t.Context()
	for _, r := range s.st.All[s.sent:] {
		if r.Command {
			if _, _, err := s.store.AppendCommand(ctx, r.Env, r.Env.ID); err != nil {
				s.t.Fatal(err)
			}
			continue
		}
		rec, err := s.store.Append(ctx, r.Env, s.heads[r.Env.ClusterID], r.Env.ID)
		if err != nil {
			s.t.Fatal(err)
		}
		s.heads[r.Env.ClusterID] = rec.Seq
	}
	s.sent = len(s.st.All)
}

// running is one mirror running until stop.
type running struct {
	m    *Mirror
	stop func()
}

func (s *system) start(instance string) *running {
	s.t.Helper()
	m, err := New(Config{Instance: instance, Workers: 3, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, Resync: -1,
		LeaseTTL: 2 * time.Second}, s.store, s.views, s.links, s.vcd)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	var once sync.Once
	r := &running{m: m, stop: func() { once.Do(func() { cancel(); <-done }) }}
	s.t.Cleanup(r.stop)
	return r
}

// eventually waits for a condition, looking every 10 ms of the bubble's fake time (waittest.Eventually).
func eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	waittest.Eventually(t, within, 10*time.Millisecond, cond)
}

// caughtUp waits until the mirror matched every record stored.
func (s *system) caughtUp(r *running) {
	s.t.Helper()
	eventually(s.t, 15*time.Second, func() error {
		ok, err := r.m.CaughtUp(s.t.Context())
		if err != nil {
			s.t.Fatal(err)
		}
		if ok {
			return nil
		}
		n, _ := r.m.stats()
		var left []string
		r.m.mu.Lock()
		if d := r.m.dirty; d != nil {
			r.m.mu.Unlock()
			left = d.describe()
		} else {
			r.m.mu.Unlock()
		}
		return fmt.Errorf("the mirror has not caught up: %d items left: %v", n, left)
	})
}

// check fails unless VCD shows exactly what the views hold: one matching entity per live
// cluster, none for the others, and every task of an ended operation ended.
func (s *system) check() {
	s.t.Helper()
	h := &harness{t: s.t, views: s.views, vcd: s.vcd, links: s.links}
	for _, id := range s.st.ClusterIDs() {
		if cv, ok := s.views.Cluster(id); ok && cv.Exists() {
			h.matches(id)
		} else if es := s.vcd.entitiesOf(id); len(es) != 0 {
			s.t.Fatalf("cluster %s is gone but has %d entities", id, len(es))
		}
	}
	for _, op := range s.views.Operations() {
		if !taskCommands[op.Command] {
			continue
		}
		task := h.taskOf(op.ID)
		if ended := op.Status != "" && op.Status != projector.OpRunning; ended != Finished(task.Status) {
			s.t.Fatalf("operation %s is %s, its task %s", op.ID, op.EffectiveStatus(), task.Status)
		}
	}
}

// TestFollowsAndResumes: the mirror follows the streams, stops, and a new one resumes from
// the recorded position and the marks left: nothing done twice, nothing lost.
func TestFollowsAndResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSystem(t)
		var creates []events.Envelope
		for i := range 5 {
			c := s.st.Create(fmt.Sprintf("c%d", i), orgA, alice)
			creates = append(creates, c)
			s.st.Run(c)
		}
		s.send()
		r := s.start("one")
		s.caughtUp(r)
		s.check()
		r.stop()
		made := s.vcd.count("CreateEntity")

		// While no mirror runs: one cluster deleted, one created, one shared.
		s.st.Run(s.st.Command("delete-c0", creates[0].ClusterID, orgA, alice, events.DeleteCluster{}))
		s.st.Run(s.st.Create("c5", orgA, alice))
		s.st.Run(s.st.Command("share-c1", creates[1].ClusterID, orgA, alice, events.SetClusterACL{Entries: []events.ACLEntry{{MemberID: bob, AccessLevel: events.AccessReadOnly}}}))
		s.send()
		r = s.start("one")
		s.caughtUp(r)
		s.check()
		if n := s.vcd.count("CreateEntity") - made; n != 1 {
			t.Fatalf("%d entities made after the restart, want 1", n)
		}
	})
}

// TestMarksSurviveRestart: records read while VCD failed leave marks; a mirror stopped then
// (the position already past those records) leaves them to the next, which makes VCD match.
func TestMarksSurviveRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSystem(t)
		var mu sync.Mutex
		down := true
		s.vcd.fail = func(string, string) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return &Error{Op: "call VCD", Status: 503, Message: "unavailable", Retryable: true}
			}
			return nil
		}
		for i := range 3 {
			s.st.Run(s.st.Create(fmt.Sprintf("m%d", i), orgA, alice))
		}
		s.send()
		r := s.start("one")
		eventually(t, 10*time.Second, func() error {
			pos, err := r.m.position(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// The store's ends, not the views': the views may not have folded every record
			// yet, and a position short of the ends would leave records to the next mirror.
			ends, err := s.store.Ends(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if pos.Commands != ends.Commands || pos.Events != ends.Events {
				return fmt.Errorf("the position %+v is not at the streams' ends %+v", pos, ends)
			}
			return nil
		})
		r.stop()
		if n := s.vcd.size(); n != 0 {
			t.Fatal("VCD was down, yet has entities")
		}
		mu.Lock()
		down = false
		mu.Unlock()
		r = s.start("one")
		s.caughtUp(r)
		s.check()
	})
}

// TestFailingClusterDoesNotBlockOthers: a cluster VCD keeps refusing waits, the others are
// mirrored; once VCD takes it, it is mirrored too.
func TestFailingClusterDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSystem(t)
		var mu sync.Mutex
		refuse := true
		// VCD refuses the bad cluster's entity (say, a quota on entities in its org).
		s.vcd.fail = func(call, arg string) error {
			mu.Lock()
			defer mu.Unlock()
			if refuse && call == "CreateEntity" && arg == "bad" {
				return &Error{Op: "create entity", Status: 400, Code: "BAD_REQUEST", Message: "no"}
			}
			return nil
		}
		bad := s.st.Create("bad", orgA, alice)
		s.st.Run(bad)
		for i := range 4 {
			s.st.Run(s.st.Create(fmt.Sprintf("ok%d", i), orgA, alice))
		}
		s.send()
		r := s.start("one")
		eventually(t, 10*time.Second, func() error {
			done := 0
			for i := range 4 {
				if len(s.vcd.entitiesOf(projectortest.ClusterID(fmt.Sprintf("ok%d", i)+orgA))) == 1 {
					done++
				}
			}
			if done != 4 {
				return fmt.Errorf("%d of the 4 good clusters mirrored", done)
			}
			return nil
		})
		if len(s.vcd.entitiesOf(bad.ClusterID)) != 0 {
			t.Fatal("the refused cluster has an entity")
		}
		if ok, _ := r.m.CaughtUp(t.Context()); ok {
			t.Fatal("caught up with a cluster VCD refuses")
		}
		mu.Lock()
		refuse = false
		mu.Unlock()
		s.caughtUp(r)
		s.check()
	})
}

// TestOneMirrorAtATime: a second instance waits while the first holds the lease, and takes
// over when it stops.
func TestOneMirrorAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSystem(t)
		a := s.start("a")
		eventually(t, 5*time.Second, func() error {
			if !a.m.Leading() {
				return errors.New("a does not lead")
			}
			return nil
		})
		b := s.start("b")
		s.st.Run(s.st.Create("x", orgA, alice))
		s.send()
		s.caughtUp(a)
		if b.m.Leading() {
			t.Fatal("two instances mirror at once")
		}
		a.stop()
		s.st.Run(s.st.Create("y", orgA, alice))
		s.send()
		s.caughtUp(b)
		s.check()
		if n := s.vcd.count("CreateEntity"); n != 2 {
			t.Fatalf("%d entities made, want 2", n)
		}
	})
}
