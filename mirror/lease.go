package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kaasproject/kaas/events/store"
)

const leaseKey = "lease"

// lease says which instance mirrors, until when. Several kaasd share one bucket; two
// mirroring at once could each make an entity for one cluster.
type lease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// acquire waits until this instance holds the lease: none holds it, its holder let it
// expire, or the holder is this instance (restarted). It returns the lease's revision.
func (m *Mirror) acquire(ctx context.Context) (uint64, error) {
	for {
		rev, held, err := m.tryAcquire(ctx)
		if held || ctx.Err() != nil {
			return rev, err
		}
		if err != nil {
			m.log.Warn("mirror: could not read the lease; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(m.cfg.LeaseTTL / 3):
		}
	}
}

func (m *Mirror) tryAcquire(ctx context.Context) (rev uint64, held bool, err error) {
	kv := m.links.kv
	mine, _ := json.Marshal(lease{Holder: m.cfg.Instance, Until: time.Now().Add(m.cfg.LeaseTTL)})
	e, err := kv.Get(ctx, leaseKey)
	switch {
	case errors.Is(err, store.ErrNoKey):
		rev, err = kv.Create(ctx, leaseKey, mine)
	case err != nil:
		return 0, false, err
	default:
		var l lease
		if json.Unmarshal(e.Value, &l) == nil && l.Holder != m.cfg.Instance && time.Now().Before(l.Until) {
			return 0, false, nil // another instance mirrors
		}
		rev, err = kv.Update(ctx, leaseKey, mine, e.Revision)
	}
	if errors.Is(err, store.ErrKeyExists) {
		return 0, false, nil // another instance took it first
	}
	if err != nil {
		return 0, false, err
	}
	return rev, true, nil
}

// renew extends the lease, which this instance held at revision rev.
func (m *Mirror) renew(ctx context.Context, rev uint64) (uint64, error) {
	b, _ := json.Marshal(lease{Holder: m.cfg.Instance, Until: time.Now().Add(m.cfg.LeaseTTL)})
	rev, err := m.links.kv.Update(ctx, leaseKey, b, rev)
	if err != nil {
		return 0, fmt.Errorf("renew the mirror's lease: %w", err)
	}
	return rev, nil
}

// release lets another instance take the lease at once.
func (m *Mirror) release(ctx context.Context, rev uint64) {
	b, _ := json.Marshal(lease{Holder: m.cfg.Instance})
	_, _ = m.links.kv.Update(ctx, leaseKey, b, rev)
}
