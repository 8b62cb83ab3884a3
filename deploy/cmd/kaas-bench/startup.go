package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/projector"
)

// startupAim is the goal: a kaasd on a history of a million events answers /readyz ready
// within this many seconds of its start, from a snapshot of its views.
const startupAim = 10.0

// Startup is the start-up measurement, on the replay's history.
type Startup struct {
	// EmptySeconds is kaasd.Start to /readyz ready on an empty history: what every start
	// costs whatever the history (the ceiling). RebuildSeconds is the same on the replay's
	// history with snapshots off (the views folded from sequence 1); SnapshotSeconds with a
	// snapshot taken at the history's end.
	EmptySeconds    float64 `json:"empty_s"`
	RebuildSeconds  float64 `json:"rebuild_s"`
	SnapshotSeconds float64 `json:"snapshot_s"`
	// SnapshotMB is the snapshot's size; WriteSeconds how long writing it took (copy,
	// encode, check, store), CopySeconds the part the views were held for;
	// LoadSeconds how long the start spent reading and decoding it.
	SnapshotMB   float64 `json:"snapshot_mb"`
	WriteSeconds float64 `json:"snapshot_write_s"`
	CopySeconds  float64 `json:"snapshot_copy_s"`
	LoadSeconds  float64 `json:"snapshot_load_s"`
	// Ratio is SnapshotSeconds over EmptySeconds.
	Ratio  float64 `json:"ratio"`
	AimMet bool    `json:"aim_met"`
}

// runStartup measures kaasd's start on the replay's history: it writes a snapshot of the
// views the replay rebuilt, stops the replay's server, and starts a kaasd (projector role,
// in-process) on its data dir twice, with snapshots off and on, beside one on an empty
// data dir.
func runStartup(ctx context.Context, dir string, emb *jsstore.Embedded, nc *nats.Conn, st *jsstore.Store, views *projector.Views,
	logf func(string, ...any)) (*Startup, error) {
	blobs, err := st.Blobs(ctx, store.BlobConfig{Bucket: kaasd.ViewSnapshotsBucket})
	if err != nil {
		return nil, err
	}
	info, err := projector.WriteSnapshot(ctx, blobs, st, views, kaasd.Version)
	if err != nil {
		return nil, err
	}
	views = nil
	s := &Startup{SnapshotMB: float64(info.Bytes) / 1e6, WriteSeconds: info.Took.Seconds(), CopySeconds: info.Copy.Seconds()}
	logf("startup: snapshot of the views written: %.0f MB in %.2fs (views held %.3fs)", s.SnapshotMB, s.WriteSeconds, s.CopySeconds)

	// Every kaasd keeps the KAAS_AUDIT archive, which the replay's history was written
	// without: declared now and caught up, so that no start spends the cores filling it.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if _, err := jsstore.New(ctx, nc, jsstore.Config{SecretsKey: key}); err != nil {
		return nil, err
	}
	start := time.Now()
	ends, err := st.Ends(ctx)
	if err != nil {
		return nil, err
	}
	for {
		a, err := st.JetStream().Stream(ctx, events.AuditStream)
		if err != nil {
			return nil, err
		}
		if a.CachedInfo().State.Msgs >= ends.Commands+ends.Events {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	logf("startup: KAAS_AUDIT caught up in %.1fs", time.Since(start).Seconds())
	nc.Close()
	emb.Shutdown()
	runtime.GC()

	empty, err := os.MkdirTemp("", "kaas-bench-startup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(empty)
	if s.EmptySeconds, _, err = timeStart(ctx, empty, true, false); err != nil {
		return nil, err
	}
	if s.RebuildSeconds, _, err = timeStart(ctx, dir, false, false); err != nil {
		return nil, err
	}
	if s.SnapshotSeconds, s.LoadSeconds, err = timeStart(ctx, dir, true, true); err != nil {
		return nil, err
	}
	logf("startup: start to ready %.2fs empty, %.2fs folding from sequence 1, %.2fs from the snapshot", s.EmptySeconds, s.RebuildSeconds, s.SnapshotSeconds)
	s.Ratio = s.SnapshotSeconds / s.EmptySeconds
	s.AimMet = s.SnapshotSeconds <= startupAim
	return s, nil
}

// timeStart starts a kaasd playing the projector on dir and returns the seconds from
// kaasd.Start to /readyz answering 200, and how long it spent loading a snapshot (0 when it
// loaded none); with wantLoaded, it must have started from a snapshot.
func timeStart(ctx context.Context, dir string, snapshots, wantLoaded bool) (took, load float64, err error) {
	cfg := kaasd.Defaults()
	cfg.DataDir, cfg.AdminAddr, cfg.Roles = dir, "127.0.0.1:0", []string{kaasd.RoleProjector}
	cfg.NATSRelaxedSync = relaxedEvery // as the history was written
	cfg.NoViewSnapshots = !snapshots
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	srv, err := kaasd.Start(ctx, cfg, log)
	if err != nil {
		return 0, 0, fmt.Errorf("startup: %w", err)
	}
	defer srv.Close()
	for {
		resp, err := http.Get("http://" + srv.AdminAddr() + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	took = time.Since(start).Seconds()
	resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric := func(name string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(scrape)
		if m == nil {
			return 0
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	if wantLoaded && metric(`kaas_projector_snapshot_loads_total{outcome="loaded"}`) != 1 {
		return 0, 0, fmt.Errorf("startup: kaasd did not start from the snapshot (see its log)")
	}
	return took, metric("kaas_projector_snapshot_load_seconds"), nil
}

func printStartup(w io.Writer, s *Startup) error {
	if s == nil {
		return nil
	}
	fmt.Fprintf(w, "\nstartup: kaasd (projector role) from start to /readyz ready, on the replay's history\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "start\tseconds\t× empty\t")
	fmt.Fprintf(tw, "empty history (ceiling)\t%.2f\t1.00\t\n", s.EmptySeconds)
	fmt.Fprintf(tw, "views folded from sequence 1\t%.2f\t%.2f\t\n", s.RebuildSeconds, s.RebuildSeconds/s.EmptySeconds)
	fmt.Fprintf(tw, "views from a snapshot\t%.2f\t%.2f\t\n", s.SnapshotSeconds, s.Ratio)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nsnapshot: %.0f MB, written in %.2fs (views held %.3fs), loaded in %.2fs\n", s.SnapshotMB, s.WriteSeconds, s.CopySeconds, s.LoadSeconds)
	verdict := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "NOT MET"
	}
	fmt.Fprintf(w, "aim start from a snapshot ≤ %.0f s: %s (%.2f s, %.2f × empty)\n", startupAim, verdict(s.AimMet), s.SnapshotSeconds, s.Ratio)
	fmt.Fprintf(w, "   start folding from sequence 1 ≤ %.0f s: %s (%.2f s)\n", startupAim, verdict(s.RebuildSeconds <= startupAim), s.RebuildSeconds)
	return nil
}
