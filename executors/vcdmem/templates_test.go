package vcdmem_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

func catalogCloud(t *testing.T) *vcdmem.VCD {
	t.Helper()
	c := vcdmem.Default()
	c.TaskDelay, c.BootDelay, c.UploadPolls = 5*time.Millisecond, 10*time.Millisecond, 2
	c.Orgs[0].ID = vcdmem.AcmeOrgID
	v, err := vcdmem.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// poll calls fn until it is done or fails. The tests run in a synctest bubble: the sleeps
// between calls pass on its fake clock, at once, and as long as they say.
func poll(t *testing.T, fn func() (executors.Status, error)) (executors.Status, int, error) {
	t.Helper()
	for calls := 1; calls < 200; calls++ {
		st, err := fn()
		if err != nil || st.Done {
			return st, calls, err
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("never done")
	return executors.Status{}, 0, nil
}

func code(err error) string {
	var ve *executors.Error
	if errors.As(err, &ve) {
		return ve.Code
	}
	return ""
}

func TestImageUploads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := catalogCloud(t)
		ctx := context.Background()
		spec := executors.ImageSpec{Item: "base", OVA: "https://images.example.com/base.ova", Owner: "build-1"}
		st, calls, err := poll(t, func() (executors.Status, error) { return v.EnsureImage(ctx, spec) })
		if err != nil || calls != 3 || st.ID == "" {
			t.Fatalf("upload: %+v after %d calls, %v", st, calls, err)
		}
		// Another build finds it complete at once; an upload another build runs is waited for.
		if again, err := v.EnsureImage(ctx, executors.ImageSpec{Item: "base", OVA: spec.OVA, Owner: "build-2"}); err != nil || !again.Done || again.ID != st.ID {
			t.Fatalf("found: %+v %v", again, err)
		}
		other := executors.ImageSpec{Item: "other", OVA: spec.OVA, Owner: "build-1"}
		if _, err := v.EnsureImage(ctx, other); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if s, err := v.EnsureImage(ctx, executors.ImageSpec{Item: "other", OVA: spec.OVA, Owner: "build-2"}); err != nil || s.Done {
				t.Fatalf("another's upload: %+v %v", s, err)
			}
		}
		// A half upload is swept by its owner only, and a complete image is kept when only
		// an unfinished one is to go.
		if s, err := v.DeleteCatalogItem(ctx, executors.ItemRef{Name: "other", Owner: "build-2"}); err != nil || !s.Done || len(v.Items()) != 2 {
			t.Fatalf("another's sweep: %+v %v %+v", s, err, v.Items())
		}
		if s, err := v.DeleteCatalogItem(ctx, executors.ItemRef{Name: "base", Owner: "build-1", Unfinished: true}); err != nil || !s.Done || len(v.Items()) != 2 {
			t.Fatalf("a complete image swept: %+v %v %+v", s, err, v.Items())
		}
		if _, _, err := poll(t, func() (executors.Status, error) {
			return v.DeleteCatalogItem(ctx, executors.ItemRef{Name: "other", Owner: "build-1", Unfinished: true})
		}); err != nil || len(v.Items()) != 1 {
			t.Fatalf("own half upload: %v %+v", err, v.Items())
		}

		for name, bad := range map[string]executors.ImageSpec{
			"missing file":     {Item: "f", OVA: "/no/such.ova", Owner: "b"},
			"not a URL":        {Item: "f", OVA: "ftp://x/y.ova", Owner: "b"},
			"VCD cannot fetch": {Item: "f", OVA: "https://host.invalid/y.ova", Owner: "b"},
		} {
			_, _, err := poll(t, func() (executors.Status, error) { return v.EnsureImage(ctx, bad) })
			if code(err) != events.CodeBaseImageNotFound {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// A build VM from a base image plays the build; its vApp is captured only once off, into
// an item with the metadata, which a retried capture finds and another build's is refused.
func TestCaptureAndTemplateItems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := catalogCloud(t)
		ctx := context.Background()
		if _, _, err := poll(t, func() (executors.Status, error) {
			return v.EnsureImage(ctx, executors.ImageSpec{Item: "base", OVA: "https://images.example.com/base.ova", Owner: "b1"})
		}); err != nil {
			t.Fatal(err)
		}
		ref := executors.VAppRef{Org: "acme", VDC: "acme-vdc", Name: "kaas-build-b1", ClusterID: "b1"}
		if _, _, err := poll(t, func() (executors.Status, error) {
			return v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: ref, Network: "acme-net", Metadata: map[string]string{executors.MetaClusterID: "b1"}})
		}); err != nil {
			t.Fatal(err)
		}
		vm := executors.VMRef{VApp: ref, Name: "build"}
		if _, err := v.EnsureVM(ctx, executors.VMSpec{VMRef: vm, Template: events.Template{Name: "no-such-base"}}); code(err) != events.CodeBaseImageNotFound {
			t.Fatalf("a VM from a missing image: %v", err)
		}
		if _, _, err := poll(t, func() (executors.Status, error) {
			return v.EnsureVM(ctx, executors.VMSpec{VMRef: vm, Template: events.Template{Name: "base"}})
		}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := poll(t, func() (executors.Status, error) { return v.PowerOn(ctx, vm) }); err != nil {
			t.Fatal(err)
		}
		capture := executors.CaptureSpec{VApp: ref, Item: "k8s_rev1", Owner: "b1", Metadata: map[string]string{
			"kaas.template.name": "k8s", "kaas.template.revision": "1", "kaas.template.kubernetes_version": "v1.30.4", "kaas.template.cpu": "4"}}
		if _, err := v.CaptureVApp(ctx, capture); code(err) != events.CodeVCDError {
			t.Fatalf("a running vApp captured: %v", err)
		}
		var gi map[string]string
		_, _, err := poll(t, func() (executors.Status, error) {
			var err error
			gi, err = v.GuestInfo(ctx, vm)
			return executors.Status{Done: gi[executors.GuestStatus] != "running:cloud-init"}, err
		})
		if err != nil || gi[executors.GuestStatus] != "failed:cloud-init" {
			t.Fatalf("a build VM without a build's user data: %v %v", gi, err)
		}
		if _, _, err := poll(t, func() (executors.Status, error) { return v.PowerOff(ctx, vm) }); err != nil {
			t.Fatal(err)
		}
		st, calls, err := poll(t, func() (executors.Status, error) { return v.CaptureVApp(ctx, capture) })
		if err != nil || calls != 3 {
			t.Fatalf("capture: %+v after %d calls, %v", st, calls, err)
		}
		other := capture
		other.Owner = "b2"
		if _, err := v.CaptureVApp(ctx, other); code(err) != events.CodeTemplateExists {
			t.Fatalf("another build's capture into the item: %v", err)
		}
		tref := events.TemplateRef{Name: "k8s", Revision: 1}
		tpl, err := v.ResolveTemplate(ctx, executors.Org{Name: "acme", ID: vcdmem.AcmeOrgID}, tref)
		if err != nil || tpl.CatalogItemID != st.ID || tpl.Rules.CPU != 4 || tpl.KubernetesVersion != "v1.30.4" {
			t.Fatalf("resolved %+v %v", tpl, err)
		}
		if _, err := v.SetTemplateMetadata(ctx, "", tref, map[string]string{"kaas.template.deprecated": "true"}); err != nil {
			t.Fatal(err)
		}
		if tpl, _ := v.ResolveTemplate(ctx, executors.Org{Name: "acme", ID: vcdmem.AcmeOrgID}, tref); !tpl.Deprecated {
			t.Fatal("not deprecated")
		}
		if _, _, err := poll(t, func() (executors.Status, error) { return v.DeleteTemplate(ctx, "", tref) }); err != nil {
			t.Fatal(err)
		}
		if _, err := v.ResolveTemplate(ctx, executors.Org{Name: "acme", ID: vcdmem.AcmeOrgID}, tref); code(err) != events.CodeTemplateNotFound {
			t.Fatalf("a deleted template resolved: %v", err)
		}
		if _, err := v.SetTemplateMetadata(ctx, "", tref, map[string]string{"kaas.template.deprecated": "true"}); code(err) != events.CodeTemplateNotFound {
			t.Fatalf("a deleted template deprecated: %v", err)
		}
	})
}

// The catalog outlives a restart, as VCD's does.
func TestCatalogIsKept(t *testing.T) {
	c := vcdmem.Default()
	c.StateFile = t.TempDir() + "/state.json"
	v, err := vcdmem.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.EnsureImage(context.Background(), executors.ImageSpec{Item: "base", OVA: "https://x.example.com/b.ova", Owner: "b"}); err != nil {
		t.Fatal(err)
	}
	v, err = vcdmem.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if items := v.Items(); len(items) != 1 || items[0].Name != "base" || items[0].Complete {
		t.Fatalf("%+v", items)
	}
}
