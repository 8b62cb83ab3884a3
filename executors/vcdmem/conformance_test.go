package vcdmem_test

import (
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

// The in-memory VCD passes the same suite as the govcd adapter, so that executor tests
// against it mean something.
func TestConformance(t *testing.T) {
	cloud := vcdmem.Default()
	cloud.TaskDelay, cloud.BootDelay = 10*time.Millisecond, 50*time.Millisecond
	cloud.Orgs[0].ID = "urn:vcloud:org:acme"
	v, err := vcdmem.New(cloud)
	if err != nil {
		t.Fatal(err)
	}
	vcdtest.Run(t, vcdtest.Target{VCD: v, Org: executors.Org{Name: "acme", ID: "urn:vcloud:org:acme"}, OtherOrgID: "urn:vcloud:org:other",
		VDC: "acme-vdc", Network: "acme-net", Template: events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1},
		Poll: 10 * time.Millisecond, Timeout: 10 * time.Second})
}
