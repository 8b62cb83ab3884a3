package kaasd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/ingress"
)

// Buckets that only instances sharing the streams need.
const (
	// NamesBucket holds the claims on cluster names (ingress.NameClaims).
	NamesBucket = "KAAS_NAMES"
	// LeasesBucket holds the executors' leases on clusters (executors.Config.Leases).
	LeasesBucket = "KAAS_LEASES"
)

// shared reports whether other instances may append to the streams: a standalone NATS
// (KAAS_NATS_URL), or an embedded one others reach (KAAS_NATS_LISTEN). A kaasd alone on its
// embedded JetStream orders everything itself.
func (c Config) shared() bool { return c.NATSURL != "" || c.NATSListen != "" }

// sharedStreams is the ingress's view of the streams' end when other instances may append
// to them.
func sharedStreams(cfg Config, store *jsstore.Store) ingress.StreamEnds {
	if !cfg.shared() {
		return nil
	}
	return ingress.CoalesceEnds(store, 5*time.Second)
}

// instanceName names this process in the leases it holds, for a person reading them.
func instanceName() string {
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(os.Getpid())
}

// nameClaims backs the ingress's claims on cluster names with a key-value bucket.
type nameClaims struct{ kv store.KV }

type claimValue struct {
	Cluster string    `json:"cluster"`
	Since   time.Time `json:"since"`
}

func (n nameClaims) Claim(ctx context.Context, key, clusterID string, replace uint64) (ingress.NameClaim, error) {
	v, err := json.Marshal(claimValue{Cluster: clusterID, Since: time.Now().UTC()})
	if err != nil {
		return ingress.NameClaim{}, err
	}
	var rev uint64
	if replace == 0 {
		rev, err = n.kv.Create(ctx, key, v)
	} else {
		rev, err = n.kv.Update(ctx, key, v, replace)
	}
	switch {
	case err == nil:
		return ingress.NameClaim{ClusterID: clusterID, Since: time.Now(), Rev: rev}, nil
	case !errors.Is(err, store.ErrKeyExists):
		return ingress.NameClaim{}, err
	}
	// Somebody else's claim won: say whose.
	e, err := n.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNoKey) {
		// Released just now: no holder, at the deletion's revision.
		return ingress.NameClaim{}, nil
	}
	if err != nil {
		return ingress.NameClaim{}, err
	}
	var held claimValue
	if err := json.Unmarshal(e.Value, &held); err != nil {
		return ingress.NameClaim{}, fmt.Errorf("name claim %s: %w", key, err)
	}
	return ingress.NameClaim{ClusterID: held.Cluster, Since: held.Since, Rev: e.Revision}, nil
}

func (n nameClaims) Release(ctx context.Context, key string, rev uint64) error {
	return n.kv.Delete(ctx, key, rev)
}

// storeStartWait bounds how long kaasd waits at start for JetStream to declare its streams.
const storeStartWait = time.Minute

// openStore declares the streams and buckets, again while JetStream does not answer: a NATS
// cluster started with its kaasd (three at once on a fresh cluster, a rolling restart of
// both) may still be electing its leaders, and gives up on the declarations in the meantime.
func openStore(ctx context.Context, nc *nats.Conn, cfg jsstore.Config, log *slog.Logger) (*jsstore.Store, error) {
	deadline := time.Now().Add(storeStartWait)
	for {
		st, err := jsstore.New(ctx, nc, cfg)
		var apiErr *jetstream.APIError
		unanswered := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
			errors.As(err, &apiErr) && apiErr.Code == 503
		if err == nil || !unanswered || ctx.Err() != nil || time.Now().After(deadline) {
			return st, err
		}
		log.Warn("JetStream did not answer the streams' declarations yet (a NATS cluster electing its leaders?); trying again", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
