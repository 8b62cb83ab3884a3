package projector_test

import "github.com/kaasproject/kaas/projector/projectortest"

// Short names for the shared stream fixtures.
const (
	orgA  = projectortest.OrgA
	orgB  = projectortest.OrgB
	alice = projectortest.Alice
	bob   = projectortest.Bob
)

var (
	t0        = projectortest.T0
	newStream = projectortest.New
	feed      = projectortest.Feed
	spec      = projectortest.Spec
	clusterID = projectortest.ClusterID
)

type (
	record = projectortest.Record
	stream = projectortest.Stream
)
