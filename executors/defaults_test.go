package executors_test

import (
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/executors/bootstrap"
)

// The aggregate checks a tenant's blocks against the defaults for the one not given
// (cluster.DefaultPodCIDR and DefaultServiceCIDR): they must be the blocks the bootstrap
// writes when none is given.
func TestBootstrapDefaultsAreTheAggregates(t *testing.T) {
	ud, err := bootstrap.Render("control-plane", bootstrap.Params{ClusterName: "c1", ClusterID: "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30", NodeName: "mstr-abcd",
		KubernetesVersion: "v1.29.8", CNI: "antrea", CNIVersion: "1.14.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, cidr := range []string{cluster.DefaultPodCIDR, cluster.DefaultServiceCIDR} {
		if !strings.Contains(ud, cidr) {
			t.Errorf("the control plane's bootstrap does not use %s by default", cidr)
		}
	}
}
