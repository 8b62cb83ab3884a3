package history_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/history"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/projector/projectortest"
	"github.com/kaasproject/kaas/queries"
)

// source adapts the in-memory store to history.Source, as deploy adapts JetStream's.
type source struct{ ms *memstore.Store }

func (s source) Load(ctx context.Context, id string, after uint64) ([]history.Record, error) {
	recs, err := s.ms.Load(ctx, id, after)
	out := make([]history.Record, len(recs))
	for i, r := range recs {
		out[i] = history.Record{Seq: r.Seq, Time: r.Time, Raw: r.Raw, Envelope: r.Envelope}
	}
	return out, err
}

func (s source) Scan(ctx context.Context, f history.Filter, fn func(history.Record) bool) error {
	return s.ms.Scan(ctx, store.ScanFilter(f), func(r store.Record) bool {
		return fn(history.Record{Seq: r.Seq, Time: r.Time, Raw: r.Raw, Envelope: r.Envelope})
	})
}

func owner(org, user string) cluster.Principal {
	return cluster.Principal{Org: org, User: user, Rights: []string{cluster.RightView}}
}

// A history of two clusters of two orgs, stored, and the reader over it.
func setup(t *testing.T) (*history.Reader, *memstore.Store, string, string) {
	t.Helper()
	s := projectortest.New(t)
	a := s.Create("alpha", projectortest.OrgA, projectortest.Alice)
	s.Run(a)
	s.Run(s.Command("scale-alpha", a.ClusterID, projectortest.OrgA, projectortest.Alice, events.ScaleWorkers{Workers: 4}))
	b := s.Create("bravo", projectortest.OrgB, projectortest.Bob)
	s.Run(b)
	ms := memstore.New(memstore.Config{})
	views := projector.NewViews()
	projectortest.Append(t, ms, views, s.All)
	return history.New(views, source{ms}, queries.New(views, nil)), ms, a.ClusterID, b.ClusterID
}

func TestClusterHistory(t *testing.T) {
	h, ms, alpha, _ := setup(t)
	ctx := t.Context()
	evs, err := h.History(ctx, owner(projectortest.OrgA, projectortest.Alice), alpha)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := ms.Load(ctx, alpha, 0)
	if len(evs) != len(stored) || len(evs) < 4 {
		t.Fatalf("%d events, %d stored", len(evs), len(stored))
	}
	for i, e := range evs {
		if e.Seq != stored[i].Seq || e.Hash != stored[i].Hash() || e.Type != stored[i].Envelope.Type {
			t.Fatalf("event %d: %+v, stored %+v", i, e, stored[i])
		}
		if i > 0 && e.PrevHash != evs[i-1].Hash {
			t.Fatalf("event %d does not chain to the one before", i)
		}
	}
	// Another org's cluster is not found, exactly as a missing one is.
	for _, id := range []string{alpha, events.DeriveID("cluster", "missing")} {
		if _, err := h.History(ctx, owner(projectortest.OrgB, projectortest.Bob), id); !errors.Is(err, history.ErrNotFound) {
			t.Errorf("%s for another org: %v", id, err)
		}
	}
}

func TestClusterAsOf(t *testing.T) {
	h, ms, alpha, _ := setup(t)
	ctx := t.Context()
	p := owner(projectortest.OrgA, projectortest.Alice)
	stored, _ := ms.Load(ctx, alpha, 0)
	first, last := stored[0].Envelope.Time, stored[len(stored)-1].Envelope.Time // as-of reads by when things happened
	if _, err := h.ClusterAsOf(ctx, p, alpha, first.Add(-time.Hour)); !errors.Is(err, cluster.ErrNotYet) {
		t.Fatalf("before the create: %v", err)
	}
	now, err := h.ClusterAsOf(ctx, p, alpha, last)
	if err != nil {
		t.Fatal(err)
	}
	if w := now.Entity.Spec.Topology.Workers.Count; w == nil || *w != 4 {
		t.Fatalf("as of the last event: %v workers", w)
	}
	if _, err := h.ClusterAsOf(ctx, owner(projectortest.OrgB, projectortest.Bob), alpha, last); !errors.Is(err, history.ErrNotFound) {
		t.Fatalf("another org's as-of: %v", err)
	}
}

func TestAuditAndVerify(t *testing.T) {
	h, ms, _, _ := setup(t)
	ctx := t.Context()
	ends, _ := ms.Ends(ctx)
	all, err := h.Audit(ctx, cse.AuditQuery{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if all.Total != int(ends.Events) || len(all.Records) != all.Total {
		t.Fatalf("audit of everything: %d of %d records, %d events stored", len(all.Records), all.Total, ends.Events)
	}
	b, err := h.Audit(ctx, cse.AuditQuery{OrgID: projectortest.OrgB, PageSize: 2, Page: 1, NewestFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 2 || b.Total == 0 || b.Total >= all.Total || b.Records[0].Seq < b.Records[1].Seq {
		t.Fatalf("orgB's newest page: %+v", b)
	}
	for _, r := range b.Records {
		if r.OrgID != projectortest.OrgB {
			t.Fatalf("orgB's audit shows %+v", r)
		}
	}
	v, err := h.Verify(ctx)
	if err != nil || !v.OK || v.Clusters != 2 || v.Events != int(ends.Events) {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

// extentSource is source with history.Extent and history.Getter, as deploy's JetStream
// source has them; extentOnly has Extent only.
type (
	extentSource struct{ extentOnly }
	extentOnly   struct{ source }
)

func (s extentOnly) Extent(ctx context.Context, stream string) (first, count uint64, err error) {
	e, err := s.ms.Ends(ctx)
	if stream == events.CommandStream {
		return 1, e.Commands, err
	}
	return 1, e.Events, err
}

// LoadRange loads a cluster's events up to lastSeq, as deploy's source does.
func (s extentSource) LoadRange(ctx context.Context, id string, after, lastSeq uint64) ([]history.Record, error) {
	recs, err := s.Load(ctx, id, after)
	for i, r := range recs {
		if r.Seq > lastSeq {
			return recs[:i], err
		}
	}
	return recs, err
}

// Get reads records by sequence, as deploy's JetStream source does with direct gets.
func (s extentSource) Get(ctx context.Context, stream string, seqs []uint64) ([]history.Record, error) {
	var out []history.Record
	for _, seq := range seqs {
		err := s.Scan(ctx, history.Filter{Stream: stream, After: seq - 1}, func(r history.Record) bool {
			out = append(out, r)
			return false
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TestAuditByPosition checks that an audit that filters nothing, found by position, and one
// of an org, found through the views' index, cut every page as the scan of the whole
// history does.
func TestAuditByPosition(t *testing.T) {
	scanned, ms, alpha, bravo := setup(t)
	ctx := t.Context()
	views, err := projector.Rebuild(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	positioned := history.New(views, extentSource{extentOnly{source{ms}}}, queries.New(views, nil))
	scannedFrom := history.New(views, extentOnly{source{ms}}, queries.New(views, nil))
	ends, _ := ms.Ends(ctx)
	// A cluster's history, loaded from its first event to its last, is the same too.
	for _, id := range []string{alpha, bravo} {
		want, err := scanned.History(ctx, provider, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := positioned.History(ctx, provider, id)
		if err != nil || !reflect.DeepEqual(got, want) || len(got) == 0 {
			t.Fatalf("history of %s: %d events (%v), want %d", id, len(got), err, len(want))
		}
	}
	for _, size := range []int{1, 3, 25} {
		for _, commands := range []bool{false, true} {
			for _, newest := range []bool{false, true} {
				for page := 1; page <= int(ends.Events)/size+2; page++ {
					for _, org := range []string{"", projectortest.OrgA, projectortest.OrgB, "urn:vcloud:org:none"} {
						q := cse.AuditQuery{Commands: commands, NewestFirst: newest, Page: page, PageSize: size, OrgID: org}
						want, err := scanned.Audit(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range []*history.Reader{positioned, scannedFrom} {
							got, err := r.Audit(ctx, q)
							if err != nil {
								t.Fatal(err)
							}
							if !reflect.DeepEqual(got, want) {
								t.Fatalf("%+v:\n got %+v\nwant %+v", q, got, want)
							}
						}
					}
				}
			}
		}
	}
	// Past the pages kept newest first, both come out empty.
	q := cse.AuditQuery{NewestFirst: true, Page: 1 << 20, PageSize: 1}
	if got, _ := positioned.Audit(ctx, q); len(got.Records) != 0 || got.Total != int(ends.Events) {
		t.Fatalf("deep newest page: %+v", got)
	}
}

// provider is a System org user: it reads every cluster's history.
var provider = cluster.Principal{User: "urn:vcloud:user:root", Org: "urn:vcloud:org:system", Provider: true}
