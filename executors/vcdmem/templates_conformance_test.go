package vcdmem_test

import (
	"testing"
	"time"

	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

// The in-memory VCD passes the template calls of the suite too.
func TestTemplateConformance(t *testing.T) {
	cloud := vcdmem.Default()
	cloud.TaskDelay, cloud.BootDelay = 10*time.Millisecond, 50*time.Millisecond
	cloud.Orgs[0].ID = vcdmem.AcmeOrgID
	v, err := vcdmem.New(cloud)
	if err != nil {
		t.Fatal(err)
	}
	vcdtest.RunTemplates(t, vcdtest.Target{VCD: v, Org: executors.Org{Name: "acme", ID: vcdmem.AcmeOrgID},
		VDC: "acme-vdc", Network: "acme-net", StorageProfile: "Gold", SizingPolicy: "medium", Hardware: v.Hardware,
		Poll: 10 * time.Millisecond, Timeout: 10 * time.Second})
}
