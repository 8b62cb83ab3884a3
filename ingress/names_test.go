package ingress_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
)

// claims is a bucket of name claims in memory, with the compare-and-set the real one has.
type claims struct {
	mu   sync.Mutex
	held map[string]ingress.NameClaim
	rev  uint64
}

func (c *claims) Claim(_ context.Context, key, clusterID string, replace uint64) (ingress.NameClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.held[key]
	if ok && cur.Rev != replace || !ok && replace != 0 {
		return cur, nil
	}
	c.rev++
	c.held[key] = ingress.NameClaim{ClusterID: clusterID, Since: time.Now(), Rev: c.rev}
	return c.held[key], nil
}

func (c *claims) Release(_ context.Context, key string, rev uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[key].Rev != rev {
		return errors.New("claim changed")
	}
	delete(c.held, key)
	return nil
}

// holders returns the cluster each claim is held by.
func (c *claims) holders() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, h := range c.held {
		out = append(out, h.ClusterID)
	}
	return out
}

// set makes every claim held by cluster other since the given time, as another instance's.
func (c *claims) set(other string, since time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, h := range c.held {
		c.rev++
		h.ClusterID, h.Since, h.Rev = other, since, c.rev
		c.held[k] = h
	}
}

// What the claim on a name decides when the views let a create through: another instance's
// create of the name in flight refuses it; a claim abandoned for longer than the grace, or
// left by a deleted cluster, goes to the new create; a create that is not recorded gives
// its claim back.
func TestNameClaims(t *testing.T) {
	const elsewhere = "0b1e2c3d-0000-4000-8000-00000000e15e" // a cluster these views never saw
	for _, tc := range []struct {
		name  string
		setup func(h *harness, c *claims)
		want  int
	}{
		{"another instance is accepting the name", func(h *harness, c *claims) {
			c.set(elsewhere, time.Now())
		}, http.StatusBadRequest},
		{"its claim was abandoned long ago", func(h *harness, c *claims) {
			c.set(elsewhere, time.Now().Add(-2*time.Minute))
		}, http.StatusAccepted},
		{"its cluster was deleted", func(h *harness, c *claims) {}, http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &claims{held: map[string]ingress.NameClaim{}}
			h := newHarnessWith(t, 0, func(cfg *ingress.Config) { cfg.Names = c })
			// A first create claims the name; the setup says what became of that claim.
			id, _ := h.create("c1")
			if got := c.holders(); len(got) != 1 || got[0] != id {
				t.Fatalf("claims after a create: %v, want [%s]", got, id)
			}
			h.exec.runAll()
			if rec := h.do(http.MethodDelete, clusterPath(id), ""); rec.Code != 202 {
				t.Fatalf("delete: %d %s", rec.Code, rec.Body)
			}
			h.exec.runAll()
			tc.setup(h, c)
			before := len(h.cmds.commands())
			rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1))
			if rec.Code != tc.want {
				t.Fatalf("create: %d %s, want %d", rec.Code, rec.Body, tc.want)
			}
			if tc.want != http.StatusAccepted {
				wantError(t, rec, tc.want, cse.MinorClusterNameInvalid, "already exists")
				if n := len(h.cmds.commands()); n != before {
					t.Fatalf("a refused create appended %d commands", n-before)
				}
				return
			}
			newID := decode[cse.DefEntity](t, rec).ID
			if got := c.holders(); len(got) != 1 || cse.EntityID(got[0]) != newID {
				t.Fatalf("claims: %v, want the new cluster %s", got, newID)
			}
		})
	}

	t.Run("a create not recorded gives its claim back", func(t *testing.T) {
		c := &claims{held: map[string]ingress.NameClaim{}}
		h := newHarnessWith(t, 0, func(cfg *ingress.Config) { cfg.Names = c })
		h.cmds.setErr(errors.New("JetStream unavailable"))
		if rec := h.do(http.MethodPost, base+"/clusters", createBody("c1", "vdc1", 1)); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("create: %d %s, want 503", rec.Code, rec.Body)
		}
		if got := c.holders(); len(got) != 0 {
			t.Fatalf("claims left: %v", got)
		}
	})
}
