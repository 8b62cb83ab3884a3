package ingress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/kaasproject/kaas/events/cse"
)

// NameClaims is where kaasd instances that share the streams reserve cluster names. Each
// instance checks a new name against its own views, which may not show yet a create that
// another instance is accepting at the same moment; a claim, made by a compare-and-set that
// every instance sees, lets only one of two such creates through. Deploy backs it with a
// key-value bucket; a kaasd alone needs none (its own lock orders its creates).
type NameClaims interface {
	// Claim makes clusterID the holder of key when nobody holds it (replace 0) or when the
	// claim is still at revision replace, and returns the claim as it is after the call:
	// clusterID's, or the holder's that won.
	Claim(ctx context.Context, key, clusterID string, replace uint64) (NameClaim, error)
	// Release gives up the claim at revision rev: its create was not accepted.
	Release(ctx context.Context, key string, rev uint64) error
}

// NameClaim is who holds a name, since when (by the claimer's clock), at which revision.
type NameClaim struct {
	ClusterID string
	Since     time.Time
	Rev       uint64
}

// claimGrace is how long a claim whose cluster the views have never seen stands: its
// create is being accepted by another instance, or that instance died before appending it
// (VCD then relays the request again, to the same cluster id, which takes the claim back).
// It is far longer than an append and far shorter than a tenant's patience.
const claimGrace = time.Minute

// nameClaimKey is a name's key: the org, the org VDC and the name without case, hashed so
// that any name makes a valid key.
func nameClaimKey(nameKey string) string {
	sum := sha256.Sum256([]byte(nameKey))
	return "n." + hex.EncodeToString(sum[:20])
}

// claimName reserves the name of a create that the views let through, across instances. It
// returns the claim's key and revision (to release it if the create is not accepted), or
// the refusal: the name is another cluster's, or another instance is accepting it.
func (a *API) claimName(c *call, nameKey, clusterID, vdc, name string) (key string, rev uint64, refused *reply) {
	key = nameClaimKey(nameKey)
	var replace uint64
	for range 3 {
		got, err := a.cfg.Names.Claim(c.ctx, key, clusterID, replace)
		if err != nil {
			r := unrecorded(fmt.Errorf("reserve the cluster name: %w", err))
			return "", 0, &r
		}
		if got.ClusterID == clusterID {
			return key, got.Rev, nil // ours: new, or a redelivery's
		}
		if got.ClusterID == "" {
			replace = 0 // released as we asked: ask again
			continue
		}
		// Another cluster holds it. It keeps it while it has the name in the views, or while
		// it is too young to be there yet; a deleted cluster's or an abandoned create's
		// claim goes to this create.
		holds := a.clusters.NameTaken(c.ctx, c.org(), vdc, name) == got.ClusterID
		known := a.clusters.ClusterKnown(c.ctx, got.ClusterID)
		if holds || (!known && time.Since(got.Since) < claimGrace) {
			c.log().Info("create refused: the name is claimed by another cluster", "name", name, "holder", got.ClusterID,
				"holder_in_views", known)
			r := fail(http.StatusBadRequest, cse.MinorClusterNameInvalid, "Cluster '%s' already exists.", name)
			return "", 0, &r
		}
		replace = got.Rev
	}
	r := fail(http.StatusServiceUnavailable, cse.MinorDefault, "cluster name %q is being claimed by several requests at once; try again", name)
	return "", 0, &r
}

// releaseName gives a claim back after its create failed to be accepted; one left behind
// is taken over after claimGrace.
func (a *API) releaseName(c *call, key string, rev uint64) {
	if err := a.cfg.Names.Release(context.WithoutCancel(c.ctx), key, rev); err != nil {
		c.log().Warn("could not release a cluster name's claim", "err", err)
	}
}
