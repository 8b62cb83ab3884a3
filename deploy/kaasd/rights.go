package kaasd

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/kaasproject/kaas/deploy/rde"
	"github.com/kaasproject/kaas/executors/vcd"
)

// How soon the rights learner tries again while VCD lacks some of CSE's rights (kaasd
// started before `kaasd install`) or cannot be read.
const (
	rightsRetryMin = time.Second
	rightsRetryMax = time.Minute
	// rightsFirstWait bounds how long Start waits for the first reading: calls VCD relays
	// right after start are then authorised by URN, and an unreachable VCD delays nothing
	// for long.
	rightsFirstWait = 10 * time.Second
)

// rightsLearner keeps the ingress's right URN → name map in step with VCD: real VCD names
// a caller's rights by URN in the security context it relays, and kaas checks them by
// name. It reads VCD in the background (at start, again soon while some right is missing,
// then every interval), never on a request's path.
type rightsLearner struct {
	cfg   vcd.Config
	set   func(map[string]string)
	log   *slog.Logger
	known atomic.Int64 // how many of CSE's rights have a known URN, for the gauge

	vc     *govcd.VCDClient
	ids    map[string]string
	status string // what was last logged, so that a state is logged once
}

func newRightsLearner(cfg vcd.Config, set func(map[string]string), reg prometheus.Registerer, log *slog.Logger) *rightsLearner {
	l := &rightsLearner{cfg: cfg, set: set, log: log}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kaas", Name: "vcd_rights_known",
		Help: "How many of CSE's five rights kaas knows the VCD URN of (learned from VCD); below 5, callers holding the others are refused."},
		func() float64 { return float64(l.known.Load()) }))
	return l
}

// learn reads the URNs once and hands a changed map to the ingress. complete is true when
// VCD has all of CSE's rights. A failed reading keeps the map already learned.
func (l *rightsLearner) learn(ctx context.Context) (complete bool) {
	if l.vc == nil {
		vc, err := vcd.Login(ctx, l.cfg)
		if err != nil {
			l.report("could not log in to VCD to read the URNs of CSE's rights; trying again", slog.LevelWarn, "err", err)
			return false
		}
		l.vc = vc
	}
	ids, missing, err := rde.RightIDs(ctx, l.vc)
	if err != nil {
		l.vc = nil // the session may have expired: log in afresh next time
		l.report("could not read the URNs of CSE's rights from VCD; trying again", slog.LevelWarn, "err", err)
		return false
	}
	if !maps.Equal(ids, l.ids) {
		l.ids = ids
		l.set(ids)
		l.known.Store(int64(len(ids)))
	}
	if len(missing) > 0 {
		l.report("VCD lacks some of CSE's rights (run kaasd install); callers holding them are refused until they exist",
			slog.LevelWarn, "missing", strings.Join(missing, ", "), "known", len(ids))
		return false
	}
	l.report("learned the URNs of CSE's rights from VCD", slog.LevelInfo, "rights", len(ids))
	return true
}

// report logs msg unless it was the last thing logged.
func (l *rightsLearner) report(msg string, level slog.Level, args ...any) {
	if msg == l.status {
		return
	}
	l.status = msg
	l.log.Log(context.Background(), level, msg, args...)
}

// run learns until ctx ends: soon again while incomplete, then every interval (never
// again when interval is 0). first is closed after the first reading.
func (l *rightsLearner) run(ctx context.Context, interval time.Duration, first chan<- struct{}) error {
	retry := rightsRetryMin
	for {
		complete := l.learn(ctx)
		if first != nil {
			close(first)
			first = nil
		}
		next := interval
		switch {
		case !complete:
			next, retry = retry, min(2*retry, rightsRetryMax)
		case interval <= 0:
			return nil
		default:
			retry = rightsRetryMin
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(next):
		}
	}
}
