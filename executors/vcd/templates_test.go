package vcd_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcd"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

// PowerOff shuts the guest down through VMware Tools; when VCD fails that, it powers the VM
// off, and either way the VM ends off and undeployed.
func TestPowerOffFallsBackToPowerOff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault *vcdsim.Targeted
	}{
		{name: "shutdown"},
		{name: "shutdown fails", fault: &vcdsim.Targeted{VApp: "kaas-build-poweroff", Op: "vappUndeploy", FailStatus: 400, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, url := startSim(t, fastSim())
			c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
			if err != nil {
				t.Fatal(err)
			}
			ref := executors.VAppRef{Org: "acme", OrgID: sim.OrgID("acme"), VDC: "acme-vdc", Name: "kaas-build-poweroff", ClusterID: "0f0f0f0f-0000-4000-8000-000000000001"}
			vm := executors.VMRef{VApp: ref, Name: "build"}
			tmpl, err := c.ResolveTemplate(t.Context(), executors.Org{Name: "acme", ID: sim.OrgID("acme")},
				events.TemplateRef{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1})
			if err != nil {
				t.Fatal(err)
			}
			until(t, func() (executors.Status, error) {
				return c.EnsureVApp(t.Context(), executors.VAppSpec{VAppRef: ref, Network: "acme-net"})
			})
			until(t, func() (executors.Status, error) {
				return c.EnsureVM(t.Context(), executors.VMSpec{VMRef: vm, Template: tmpl, Network: "acme-net"})
			})
			until(t, func() (executors.Status, error) { return c.PowerOn(t.Context(), vm) })
			if tc.fault != nil {
				sim.AddTargeted(*tc.fault)
			}
			until(t, func() (executors.Status, error) { return c.PowerOff(t.Context(), vm) })
			for _, a := range sim.Inventory().VApps {
				for _, m := range a.VMs {
					if a.Name == ref.Name && m.Name == vm.Name && m.Status != 8 {
						t.Errorf("VM %s is in status %d after PowerOff", m.Name, m.Status)
					}
				}
			}
			if st, err := c.PowerOff(t.Context(), vm); err != nil || !st.Done {
				t.Fatalf("PowerOff again: %+v %v", st, err)
			}
			until(t, func() (executors.Status, error) { return c.DeleteVApp(t.Context(), ref) })
		})
	}
}

const ubuntuOVA = "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"

// An OVA at a URL is VCD's own download (UploadOvfByLink): a URL VCD cannot fetch fails
// the import for good; an import VCD failed for a passing reason is deleted and made again
// by the next call of its owner.
func TestEnsureImageByURL(t *testing.T) {
	sim, url := startSim(t, fastSim())
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	owner := events.TemplateID("by-url", 1)
	spec := executors.ImageSpec{Org: "acme", Item: "ubuntu-22.04-server-cloudimg-amd64", OVA: ubuntuOVA, Owner: owner}
	sim.AddTargeted(vcdsim.Targeted{Op: "upload", FailStatus: 500, Count: 1})
	st := untilRetried(t, func() (executors.Status, error) { return c.EnsureImage(t.Context(), spec) })
	if st.ID == "" {
		t.Fatal("no vApp template id")
	}
	if n := items(sim, spec.Item); n != 1 {
		t.Fatalf("the catalog holds %d items %s, want the one", n, spec.Item)
	}

	// No org is the service account's own.
	own := executors.ImageSpec{Item: "in-system", OVA: ubuntuOVA, Owner: owner}
	untilRetried(t, func() (executors.Status, error) { return c.EnsureImage(t.Context(), own) })
	if n := items(sim, own.Item); n != 1 {
		t.Fatalf("the catalog holds %d items %s, want the one", n, own.Item)
	}

	missing := executors.ImageSpec{Org: "acme", Item: "missing", OVA: "https://images.example.com/missing.ova", Owner: owner}
	vcdtest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		st, err := c.EnsureImage(t.Context(), missing)
		var ee *executors.Error
		switch {
		case err != nil && (!errors.As(err, &ee) || ee.Retryable || !strings.Contains(ee.VCDMessage, "404")):
			t.Fatalf("an OVA VCD cannot download: %v, want a terminal error with VCD's reason (404)", err)
		case err != nil:
			return nil
		case st.Done:
			t.Fatal("an OVA VCD cannot download was imported")
		}
		return fmt.Errorf("the download has not failed yet: %+v", st)
	})
}

// untilRetried is until, retrying retryable errors.
func untilRetried(t *testing.T, f func() (executors.Status, error)) executors.Status {
	t.Helper()
	var st executors.Status
	vcdtest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		var err error
		st, err = f()
		var ee *executors.Error
		switch {
		case err != nil && (!errors.As(err, &ee) || !ee.Retryable):
			t.Fatal(err)
		case err != nil:
			return err
		case !st.Done:
			return fmt.Errorf("not done: %+v", st)
		}
		return nil
	})
	return st
}

// Templates are found as CSE names them, <name>_rev<N>, then by the template's name alone
// (items put in the catalog by hand before), each only with metadata of that template and
// revision; Cloud names each by its kaas.template.name, else by the item's name, and lists
// no item without a Kubernetes version.
func TestTemplateNaming(t *testing.T) {
	sim, url := startSim(t, fastSim())
	c, err := vcd.New(t.Context(), vcd.Config{URL: url + "/api", User: "administrator", Password: "kaas-admin", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	acme := executors.Org{Name: "acme", ID: sim.OrgID("acme")}
	md := func(name string, rev int) map[string]string {
		m := map[string]string{vcd.MetaTemplateRevision: strconv.Itoa(rev), vcd.MetaTemplateKubernetes: "v1.30.4"}
		if name != "" {
			m[vcd.MetaTemplateName] = name
		}
		return m
	}
	for item, meta := range map[string]map[string]string{
		"alpha_rev2": md("alpha", 2),
		"beta":       md("", 1),
		"gamma_rev1": md("gamma", 1),
		"gamma":      md("", 1),
		"delta_rev1": md("not-delta", 1),
		"epsilon":    md("", 3),
		"base-image": nil,
	} {
		untilRetried(t, func() (executors.Status, error) {
			return c.EnsureImage(t.Context(), executors.ImageSpec{Org: "acme", Item: item, OVA: ubuntuOVA, Owner: events.TemplateID(item, 1), Metadata: meta})
		})
	}
	cloud, err := c.Cloud(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, x := range cloud.Templates {
		listed[x.Name+"/"+strconv.Itoa(x.Revision)]++
	}
	for _, want := range []string{"alpha/2", "beta/1", "not-delta/1", "epsilon/3"} {
		if listed[want] != 1 {
			t.Errorf("Cloud lists %s %d times, want once: %v", want, listed[want], listed)
		}
	}
	if listed["gamma/1"] != 2 || listed["base-image/0"] != 0 || listed["alpha_rev2/2"] != 0 {
		t.Errorf("Cloud lists %v: want gamma/1 twice (two items), no base image, alpha by its name", listed)
	}

	for _, tc := range []struct {
		ref  events.TemplateRef
		item string // the item found; empty: none
	}{
		{events.TemplateRef{Name: "alpha", Revision: 2}, "alpha_rev2"},
		{events.TemplateRef{Name: "alpha", Revision: 1}, ""},
		{events.TemplateRef{Name: "beta", Revision: 1}, "beta"},
		{events.TemplateRef{Name: "gamma", Revision: 1}, "gamma_rev1"},
		{events.TemplateRef{Name: "delta", Revision: 1}, ""},
		{events.TemplateRef{Name: "epsilon", Revision: 1}, ""},
		{events.TemplateRef{Name: "base-image", Revision: 0}, ""},
	} {
		got, err := c.ResolveTemplate(t.Context(), acme, tc.ref)
		if tc.item == "" {
			var ee *executors.Error
			if !errors.As(err, &ee) || ee.Retryable || ee.Code != events.CodeTemplateNotFound {
				t.Errorf("ResolveTemplate(%+v) = %+v %v, want %s", tc.ref, got, err, events.CodeTemplateNotFound)
			}
			continue
		}
		if err != nil || got.Name != tc.ref.Name || got.Revision != tc.ref.Revision || got.KubernetesVersion != "v1.30.4" {
			t.Errorf("ResolveTemplate(%+v) = %+v %v", tc.ref, got, err)
			continue
		}
		if want := itemID(t, sim, tc.item); !strings.HasSuffix(got.CatalogItemID, want) {
			t.Errorf("ResolveTemplate(%+v) found %s, want item %s (%s)", tc.ref, got.CatalogItemID, tc.item, want)
		}
	}
}

// itemID is the id of the simulator's catalog item of that name.
func itemID(t *testing.T, sim *vcdsim.Server, name string) string {
	t.Helper()
	for _, it := range sim.Inventory().Catalog {
		if it.Name == name {
			return strings.TrimPrefix(it.ID, "urn:vcloud:catalogitem:")
		}
	}
	t.Fatalf("no catalog item %s", name)
	return ""
}

// items counts the simulator's catalog items of that name.
func items(sim *vcdsim.Server, name string) int {
	n := 0
	for _, it := range sim.Inventory().Catalog {
		if it.Name == name {
			n++
		}
	}
	return n
}
