package projector_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/projector/projectortest"
)

// fullHistory is mixedHistory (clusters in every state, sharing, a provider's changes, the
// cloud, templates) plus a sync that names users, networks and what VDCs offer VMs: every
// part of the views a snapshot keeps.
func fullHistory(t *testing.T) *stream {
	s, _, _ := mixedHistory(t)
	sync := s.Command("sync-all", events.CloudID, systemOrg, "kaasd", events.SyncCloud{})
	s.Event(sync, events.CloudSynced{VDCs: []events.VDC{vdcX},
		Networks:        []events.VDCNetworks{{VDC: vdcX.ID, Networks: []events.Network{{Name: "net1", CIDRs: []string{"10.1.0.0/16"}}, {Name: "net2"}}}},
		Users:           []events.User{{ID: alice, Name: "alice", OrgID: orgA}, {ID: bob, Name: "bob"}},
		StorageProfiles: []events.VDCStorageProfiles{{VDC: vdcX.ID, Profiles: []events.StorageProfile{{Name: "gold"}}}},
		SizingPolicies:  []events.VDCSizingPolicies{{VDC: vdcX.ID}},
	})
	return s
}

// stored is a new in-memory store holding recs, and the views they fold to.
func stored(t *testing.T, recs []record) (*memstore.Store, *projector.Views) {
	t.Helper()
	ms := memstore.New(memstore.Config{})
	want := projector.NewViews()
	projectortest.Append(t, ms, want, recs)
	return ms, want
}

func blobsOf(t *testing.T, ms *memstore.Store) store.Blobs {
	t.Helper()
	b, err := ms.Blobs(t.Context(), store.BlobConfig{Bucket: "KAAS_VIEW_SNAPSHOTS"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// snapshotOf writes a snapshot of the views rebuilt from what ms holds into blobs.
func snapshotOf(t *testing.T, ms *memstore.Store, blobs store.Blobs, build string) projector.SnapshotInfo {
	t.Helper()
	v, err := projector.Rebuild(t.Context(), ms)
	if err != nil {
		t.Fatal(err)
	}
	info, err := projector.WriteSnapshot(t.Context(), blobs, ms, v, build)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// A snapshot gives back the views it was taken of, hash chain heads included.
func TestSnapshotRoundTrip(t *testing.T) {
	s := fullHistory(t)
	ms, want := stored(t, s.All)
	blobs := blobsOf(t, ms)
	info := snapshotOf(t, ms, blobs, "test")
	c, e := want.Seqs()
	if m := info.Meta; m.CommandSeq != c || m.EventSeq != e || m.CommandHash == "" || m.EventHash == "" || info.Bytes == 0 ||
		m.Clusters == 0 || m.Templates == 0 || m.Operations != want.OperationCount() {
		t.Fatalf("snapshot: %+v", info)
	}
	ends, err := ms.Ends(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got, loaded, outcome := projector.LoadSnapshot(t.Context(), blobs, ms, ends, "test", slog.New(slog.DiscardHandler))
	if outcome != projector.LoadLoaded || loaded.Name != info.Name {
		t.Fatalf("load: %s %+v", outcome, loaded)
	}
	sameViews(t, want, got, s)
	if !reflect.DeepEqual(want.Heads(), got.Heads()) {
		t.Fatal("the hash chain heads differ")
	}
	if x, y := want.Templates(), got.Templates(); !reflect.DeepEqual(x, y) {
		t.Fatalf("templates:\n%+v\n%+v", x, y)
	}
	if x, y := want.Users(), got.Users(); !reflect.DeepEqual(x, y) || len(x) == 0 {
		t.Fatalf("users:\n%+v\n%+v", x, y)
	}

	// Snapshots of the same views are named alike, whoever takes them.
	again := snapshotOf(t, ms, blobsOf(t, memstore.New(memstore.Config{})), "test")
	if again.Name != info.Name {
		t.Fatalf("a second snapshot of the same views: %+v, first %+v", again, info)
	}
}

// runProjector runs a projector on ms with snapshots in blobs until it has caught up, and
// returns it, its snapshot metrics' registry, and what it logged.
func runProjector(t *testing.T, ms *memstore.Store, blobs store.Blobs, build string) (*projector.Projector, *prometheus.Registry, *logBuffer, context.CancelFunc, <-chan error) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	logs := &logBuffer{}
	p := projector.New(ms, projector.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Snapshots: projector.SnapshotConfig{Store: blobs, Build: build, Interval: time.Minute, Metrics: projector.NewSnapshotMetrics(reg)}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	synctest.Wait()
	if err := p.Ready(); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	return p, reg, logs, cancel, done
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// loads returns the snapshot loads counted by outcome.
func loads(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "kaas_projector_snapshot_loads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				out[label(m, "outcome")] = v
			}
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// A projector starts from the newest snapshot and folds only the records after it: its
// views equal a rebuild from sequence 1, wherever the snapshot was taken, and a replay
// finds no difference.
func TestSnapshotTailReplay(t *testing.T) {
	s := fullHistory(t)
	for _, cut := range []int{0, 1, len(s.All) / 3, len(s.All) / 2, len(s.All) - 1, len(s.All)} {
		t.Run(strconv.Itoa(cut), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ms, _ := stored(t, s.All[:cut])
				blobs := blobsOf(t, ms)
				info := snapshotOf(t, ms, blobs, "test")
				projectortest.Append(t, ms, nil, s.All[cut:])

				p, reg, _, cancel, done := runProjector(t, ms, blobs, "test")
				defer func() { cancel(); <-done }()
				if got := loads(t, reg); !maps.Equal(got, map[string]float64{projector.LoadLoaded: 1}) {
					t.Fatalf("loads: %v", got)
				}
				rebuilt, err := projector.Rebuild(t.Context(), ms)
				if err != nil {
					t.Fatal(err)
				}
				sameViews(t, rebuilt, p.Views(), s)
				rep, err := p.Replay(t.Context(), false)
				if err != nil || len(rep.Differences) > 0 {
					t.Fatalf("replay after a start from %s: %+v %v", info.Name, rep, err)
				}
			})
		})
	}
}

// A snapshot that does not fit is ignored with a log line, and the views are rebuilt from
// sequence 1 (or from an older snapshot that fits).
func TestSnapshotIgnored(t *testing.T) {
	s := fullHistory(t)
	half := len(s.All) / 2
	// Another history: the same clusters created in another order, so that the records at
	// the snapshot's sequences are others.
	other := newStream(t)
	other.Run(other.Create("zulu", orgB, bob))
	other.Run(other.Create("yankee", orgA, alice))

	for _, tc := range []struct {
		name string
		// prepare stores a snapshot (or several) into blobs; ms holds the whole history.
		prepare func(t *testing.T, ms *memstore.Store, blobs store.Blobs)
		outcome string
		log     string
	}{
		{"none", func(*testing.T, *memstore.Store, store.Blobs) {}, projector.LoadNone, "no views snapshot"},
		{"corrupt", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			info := snapshotOf(t, ms, blobs, "test")
			b := get(t, blobs, info.Name)
			b[len(b)/2] ^= 0xff
			put(t, blobs, info.Name, b)
		}, projector.LoadRejected, "does not decode"},
		{"truncated", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			info := snapshotOf(t, ms, blobs, "test")
			b := get(t, blobs, info.Name)
			put(t, blobs, info.Name, b[:len(b)-3])
		}, projector.LoadRejected, "does not decode"},
		{"not a snapshot", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			put(t, blobs, "views-e00000000000000000001-c00000000000000000001", []byte("hello"))
		}, projector.LoadRejected, "does not decode"},
		{"old schema", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			info := snapshotOf(t, ms, blobs, "test")
			// The meta frame, first, rewritten with another schema and its checksum redone.
			b := get(t, blobs, info.Name)
			i := bytes.Index(b, []byte(info.Meta.Schema))
			copy(b[i:], strings.Repeat("0", len(info.Meta.Schema)))
			start := len("kaas-views-snapshot\n") + 1
			n, k := binary.Uvarint(b[start:])
			meta := b[start+k : start+k+int(n)]
			binary.LittleEndian.PutUint32(b[start+k+int(n):], crc32.Checksum(meta, crc32.MakeTable(crc32.Castagnoli)))
			put(t, blobs, info.Name, b)
		}, projector.LoadRejected, "another schema"},
		{"another build", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			snapshotOf(t, ms, blobs, "v0.9")
		}, projector.LoadRejected, "another build"},
		{"beyond the streams", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			// The streams were restored from a backup older than the snapshot.
			longer, _ := stored(t, append(slices.Clone(s.All), other.All...))
			snapshotOf(t, longer, blobs, "test")
		}, projector.LoadRejected, "beyond the streams"},
		{"another history", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			shorter, _ := stored(t, other.All)
			snapshotOf(t, shorter, blobs, "test")
		}, projector.LoadRejected, "not of this history"},
		{"newest corrupt, an older one fits", func(t *testing.T, ms *memstore.Store, blobs store.Blobs) {
			older, _ := stored(t, s.All[:half])
			snapshotOf(t, older, blobs, "test")
			info := snapshotOf(t, ms, blobs, "test")
			b := get(t, blobs, info.Name)
			put(t, blobs, info.Name, b[:len(b)/2])
		}, projector.LoadLoaded, "views loaded from a snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ms, want := stored(t, s.All)
				blobs := blobsOf(t, ms)
				tc.prepare(t, ms, blobs)
				p, reg, logs, cancel, done := runProjector(t, ms, blobs, "test")
				defer func() { cancel(); <-done }()
				if got := loads(t, reg); !maps.Equal(got, map[string]float64{tc.outcome: 1}) {
					t.Fatalf("loads: %v", got)
				}
				if !strings.Contains(logs.String(), tc.log) {
					t.Fatalf("no %q in the log:\n%s", tc.log, logs)
				}
				sameViews(t, want, p.Views(), s)
			})
		})
	}
}

func get(t *testing.T, blobs store.Blobs, name string) []byte {
	t.Helper()
	b, err := blobs.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, blobs store.Blobs, name string, b []byte) {
	t.Helper()
	if err := blobs.Put(t.Context(), name, b); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, blobs store.Blobs) []string {
	t.Helper()
	list, err := blobs.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range list {
		out = append(out, b.Name)
	}
	slices.Sort(out)
	return out
}

// A running projector writes a snapshot once one is due, and one more at shutdown when it
// folded anything since; it keeps the newest two. A projector started next loads the last.
func TestProjectorWritesSnapshots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := fullHistory(t)
		third := len(s.All) / 3
		ms, _ := stored(t, s.All[:third])
		blobs := blobsOf(t, ms)
		p, _, logs, cancel, done := runProjector(t, ms, blobs, "test")
		if got := names(t, blobs); len(got) != 0 {
			t.Fatalf("snapshots before one was due: %v", got)
		}
		time.Sleep(11 * time.Second) // the first check: nothing was written yet, so one is due
		synctest.Wait()
		first := names(t, blobs)
		if len(first) != 1 {
			t.Fatalf("snapshots after the first check: %v\n%s", first, logs)
		}

		projectortest.Append(t, ms, nil, s.All[third:2*third])
		time.Sleep(11 * time.Second) // folded since, but neither Records nor Interval reached
		synctest.Wait()
		if got := names(t, blobs); !slices.Equal(got, first) {
			t.Fatalf("a snapshot before it was due: %v", got)
		}
		time.Sleep(time.Minute) // Interval
		synctest.Wait()
		second := names(t, blobs)
		if len(second) != 2 {
			t.Fatalf("snapshots after an interval: %v", second)
		}

		projectortest.Append(t, ms, nil, s.All[2*third:])
		ends, err := ms.Ends(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Views().WaitFor(t.Context(), ends.Commands, ends.Events); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		last := names(t, blobs)
		want := []string{second[1], fmt.Sprintf("views-e%020d-c%020d", ends.Events, ends.Commands)}
		if !slices.Equal(last, want) {
			t.Fatalf("after shutdown: %v, want %v", last, want)
		}

		p2, reg, _, cancel2, done2 := runProjector(t, ms, blobs, "test")
		defer func() { cancel2(); <-done2 }()
		if got := loads(t, reg); got[projector.LoadLoaded] != 1 {
			t.Fatalf("loads: %v", got)
		}
		rebuilt, err := projector.Rebuild(t.Context(), ms)
		if err != nil {
			t.Fatal(err)
		}
		sameViews(t, rebuilt, p2.Views(), s)
	})
}

// Snapshots need a sane configuration.
func TestSnapshotConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  projector.SnapshotConfig
		ok   bool
	}{
		{"defaults", projector.SnapshotConfig{}, true},
		{"set", projector.SnapshotConfig{Interval: time.Minute, Records: 10, Keep: 3, Timeout: time.Minute}, true},
		{"interval too short", projector.SnapshotConfig{Interval: time.Millisecond}, false},
		{"negative interval", projector.SnapshotConfig{Interval: -time.Second}, false},
		{"keep none", projector.SnapshotConfig{Keep: -1}, false},
		{"negative timeout", projector.SnapshotConfig{Timeout: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// writes returns the snapshot writes counted with result ok.
func writes(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kaas_projector_snapshot_writes_total" {
			for _, m := range mf.GetMetric() {
				if label(m, "result") == "ok" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Projectors of several kaasd share the bucket: one that finds a snapshot as new as its
// views, written by another, writes none of its own; a start takes the newest.
func TestSnapshotsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := fullHistory(t)
		third := len(s.All) / 3
		ms, _ := stored(t, s.All[:third])
		blobs := blobsOf(t, ms)
		_, regA, _, cancelA, doneA := runProjector(t, ms, blobs, "test")
		defer func() { cancelA(); <-doneA }()
		time.Sleep(11 * time.Second) // A's first check: it writes one
		synctest.Wait()
		time.Sleep(5 * time.Second)
		_, regB, _, cancelB, doneB := runProjector(t, ms, blobs, "test") // loads A's
		defer func() { cancelB(); <-doneB }()
		if got := loads(t, regB); got[projector.LoadLoaded] != 1 {
			t.Fatalf("B's loads: %v", got)
		}

		projectortest.Append(t, ms, nil, s.All[third:])
		time.Sleep(time.Minute) // both due; A checks first and writes, B then finds it
		synctest.Wait()
		if a, b := writes(t, regA), writes(t, regB); a != 2 || b != 0 {
			t.Fatalf("writes: A %v, B %v", a, b)
		}
		ends, err := ms.Ends(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := names(t, blobs); len(got) != 2 || got[1] != fmt.Sprintf("views-e%020d-c%020d", ends.Events, ends.Commands) {
			t.Fatalf("snapshots: %v", got)
		}
	})
}
