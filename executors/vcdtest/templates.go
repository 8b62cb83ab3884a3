package vcdtest

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// Catalog item metadata keys of a template (the contract's table; the adapter's
// MetaTemplate* constants name the same strings).
const (
	metaName       = "kaas.template.name"
	metaRevision   = "kaas.template.revision"
	metaKubernetes = "kaas.template.kubernetes_version"
	metaOS         = "kaas.template.os"
	metaCNI        = "kaas.template.cni"
	metaCNIVersion = "kaas.template.cni_version"
	metaContainerd = "kaas.template.containerd_version"
	metaCPU        = "kaas.template.cpu"
	metaMemoryMB   = "kaas.template.memory_mb"
	metaSizing     = "kaas.template.sizing_policy"
	metaSource     = "kaas.template.source"
	metaDeprecated = "kaas.template.deprecated"
)

// TemplateMetadata is the catalog item metadata kaas writes for a template revision.
func TemplateMetadata(t events.Template) map[string]string {
	md := map[string]string{
		metaName: t.Name, metaRevision: strconv.Itoa(t.Revision), metaKubernetes: t.KubernetesVersion, metaOS: t.OS,
		metaCNI: t.CNI.Name, metaCNIVersion: t.CNI.Version, metaContainerd: t.ContainerdVersion, metaSource: t.Source,
		metaDeprecated: strconv.FormatBool(t.Deprecated),
	}
	if t.Rules.CPU > 0 {
		md[metaCPU] = strconv.Itoa(t.Rules.CPU)
	}
	if t.Rules.MemoryMB > 0 {
		md[metaMemoryMB] = strconv.Itoa(t.Rules.MemoryMB)
	}
	if t.Rules.SizingPolicy != "" {
		md[metaSizing] = t.Rules.SizingPolicy
	}
	return md
}

// RunTemplates runs the template calls of the suite: an OVA file uploaded as a base image
// and as an imported template, a build's vApp made from the image, powered off and
// captured, metadata set, revisions deleted; and calls that an interrupted one precedes
// (tg.Fresh: a restarted kaasd) find what it made and make nothing twice.
func RunTemplates(t *testing.T, tg Target) {
	tg.setDefaults()
	ctx := t.Context()
	v := tg.VCD
	fresh := func() executors.VCD {
		if tg.Fresh == nil {
			return v
		}
		return tg.Fresh(t)
	}
	org, vdc, network := tg.BuildOrg, tg.BuildVDC, tg.BuildNetwork
	if org.Name == "" {
		org, vdc, network = tg.Org, tg.VDC, tg.Network
	}
	short := uuid.NewString()[:8]
	name := "conf-tmpl-" + short // the template the suite builds and imports revisions of
	base := "conf-base-" + short // the base image, uploaded as the revision 1 of its own name so that DeleteTemplate removes it
	baseItem, baseOwner := events.TemplateItemName(base, 1), events.TemplateID(base, 1)
	built := events.Template{Name: name, Revision: 1, KubernetesVersion: "v1.30.4", OS: "ubuntu-22.04",
		CNI: events.Component{Name: "antrea", Version: "1.15.1"}, ContainerdVersion: "1.7.20",
		Rules: events.TemplateRules{CPU: 2, MemoryMB: 4096, SizingPolicy: tg.SizingPolicy}, Source: events.SourceBuilt}
	imported := built
	imported.Revision, imported.Source, imported.Rules = 2, events.SourceImported, events.TemplateRules{}
	builtOwner, importOwner := events.TemplateID(name, 1), events.TemplateID(name, 2)
	build := executors.VAppRef{Org: org.Name, OrgID: org.ID, VDC: vdc, Name: "kaas-build-" + builtOwner[:8], ClusterID: builtOwner}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), tg.Timeout)
		defer cancel()
		_, _ = wait(ctx, tg, func() (executors.Status, error) { return v.DeleteVApp(ctx, build) })
		for _, ref := range []events.TemplateRef{{Name: name, Revision: 1}, {Name: name, Revision: 2}, {Name: base, Revision: 1}} {
			_, _ = wait(ctx, tg, func() (executors.Status, error) { return v.DeleteTemplate(ctx, org.Name, ref) })
		}
	})
	ova, digest := WriteOVA(t, t.TempDir())

	t.Run("EnsureImage refuses what it cannot upload", func(t *testing.T) {
		for what, spec := range map[string]executors.ImageSpec{
			"a file of another digest": {OVA: ova, SHA256: "00" + digest[2:]},
			"a missing file":           {OVA: filepath.Join(filepath.Dir(ova), "missing.ova")},
			"a relative path":          {OVA: "images/x.ova"},
		} {
			spec.Org, spec.Item, spec.Owner = org.Name, baseItem, baseOwner
			_, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureImage(ctx, spec) })
			if !isTerminal(err, events.CodeBaseImageNotFound) {
				t.Errorf("%s: want a terminal %s error, got %v", what, events.CodeBaseImageNotFound, err)
			}
		}
	})

	image := executors.ImageSpec{Org: org.Name, Item: baseItem, Description: "kaas conformance base image", OVA: ova, SHA256: digest, Owner: baseOwner}
	var imageID string
	t.Run("EnsureImage uploads a file", func(t *testing.T) {
		st, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureImage(ctx, image) })
		if err != nil {
			t.Fatal(err)
		}
		if imageID = st.ID; imageID == "" {
			t.Fatal("no vApp template id")
		}
		again, err := fresh().EnsureImage(ctx, image)
		if err != nil || !again.Done || again.ID != imageID {
			t.Fatalf("EnsureImage again: %+v %v, want done at once with %s", again, err, imageID)
		}
		// Another build naming the same base image uses it as it is.
		other := image
		other.Owner = builtOwner
		if again, err := v.EnsureImage(ctx, other); err != nil || !again.Done || again.ID != imageID {
			t.Fatalf("EnsureImage by another build: %+v %v, want done at once with %s", again, err, imageID)
		}
	})
	if imageID == "" {
		t.Fatal("no base image: the rest cannot run")
	}

	t.Run("a base image is no template", func(t *testing.T) {
		cloud, err := retry(ctx, tg, func() (events.CloudSynced, error) { return v.Cloud(ctx) })
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(cloud.Templates, func(x events.Template) bool { return x.Name == base || x.Name == baseItem }) {
			t.Errorf("Cloud lists the base image %s as a template: %+v", baseItem, cloud.Templates)
		}
	})

	// An import: the same OVA as revision 2, its metadata given. The first client's call
	// is followed by a client that remembers nothing of it, which finds the upload and
	// completes it rather than starting another.
	t.Run("EnsureImage imports a template and resumes", func(t *testing.T) {
		spec := executors.ImageSpec{Org: org.Name, Item: events.TemplateItemName(name, 2), OVA: ova, SHA256: digest, Owner: importOwner,
			Description: importDescription, Metadata: TemplateMetadata(imported)}
		first, err := retry(ctx, tg, func() (executors.Status, error) { return v.EnsureImage(ctx, spec) })
		if err != nil {
			t.Fatal(err)
		}
		st, err := wait(ctx, tg, func() (executors.Status, error) { return fresh().EnsureImage(ctx, spec) })
		if err != nil {
			t.Fatal(err)
		}
		if first.ID != "" && first.ID != st.ID {
			t.Errorf("the resumed upload made %s, the first call %s", st.ID, first.ID)
		}
		if again, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureImage(ctx, spec) }); err != nil || again.ID != st.ID {
			t.Errorf("the first client after the resumption: %+v %v, want %s", again, err, st.ID)
		}
		got, err := retry(ctx, tg, func() (events.Template, error) {
			return v.ResolveTemplate(ctx, tg.Org, events.TemplateRef{Name: name, Revision: 2})
		})
		if err != nil {
			t.Fatal(err)
		}
		checkTemplate(t, got, imported, importDescription)
		countTemplates(ctx, t, tg, name, 2, 1)
	})

	vm := executors.VMRef{VApp: build, Name: "build"}
	t.Run("PowerOff", func(t *testing.T) {
		if _, err := wait(ctx, tg, func() (executors.Status, error) {
			return v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: build, Network: network, Metadata: map[string]string{executors.MetaClusterID: builtOwner}})
		}); err != nil {
			t.Fatal(err)
		}
		// A build's VM is made from the base image: a template of revision 0 is the catalog
		// item of that name.
		spec := executors.VMSpec{VMRef: vm, Template: events.Template{Name: baseItem}, Network: network,
			Metadata: map[string]string{executors.MetaClusterID: builtOwner}}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureVM(ctx, spec) }); err != nil {
			t.Fatal(err)
		}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.PowerOn(ctx, vm) }); err != nil {
			t.Fatal(err)
		}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.PowerOff(ctx, vm) }); err != nil {
			t.Fatal(err)
		}
		if st, err := fresh().PowerOff(ctx, vm); err != nil || !st.Done {
			t.Fatalf("PowerOff of a VM that is off: %+v %v, want done at once", st, err)
		}
	})

	capture := executors.CaptureSpec{VApp: build, Item: events.TemplateItemName(name, 1), Description: "built by the conformance suite",
		Owner: builtOwner, Metadata: TemplateMetadata(built)}
	t.Run("CaptureVApp resumes", func(t *testing.T) {
		first, err := retry(ctx, tg, func() (executors.Status, error) { return v.CaptureVApp(ctx, capture) })
		if err != nil {
			t.Fatal(err)
		}
		// A restarted kaasd finds the capture it started and completes it.
		st, err := wait(ctx, tg, func() (executors.Status, error) { return fresh().CaptureVApp(ctx, capture) })
		if err != nil {
			t.Fatal(err)
		}
		if st.ID == "" || (first.ID != "" && first.ID != st.ID) {
			t.Errorf("the resumed capture made %q, the first call %q", st.ID, first.ID)
		}
		again, err := v.CaptureVApp(ctx, capture)
		if err != nil || !again.Done || again.ID != st.ID {
			t.Errorf("CaptureVApp again: %+v %v, want done at once with %s", again, err, st.ID)
		}
		got, err := retry(ctx, tg, func() (events.Template, error) {
			return v.ResolveTemplate(ctx, tg.Org, events.TemplateRef{Name: name, Revision: 1})
		})
		if err != nil {
			t.Fatal(err)
		}
		checkTemplate(t, got, built, "built by the conformance suite")
		if got.CatalogItemID != st.ID {
			t.Errorf("resolved catalog item %s, captured %s", got.CatalogItemID, st.ID)
		}
		countTemplates(ctx, t, tg, name, 1, 1)
	})

	t.Run("CaptureVApp refuses another's item", func(t *testing.T) {
		other := capture
		other.Owner = uuid.NewString()
		_, err := wait(ctx, tg, func() (executors.Status, error) { return fresh().CaptureVApp(ctx, other) })
		if !isTerminal(err, events.CodeTemplateExists) {
			t.Fatalf("want a terminal %s error, got %v", events.CodeTemplateExists, err)
		}
		// The base image, uploaded by kaas for another aggregate, is another's item too.
		other = capture
		other.Item = baseItem
		_, err = wait(ctx, tg, func() (executors.Status, error) { return v.CaptureVApp(ctx, other) })
		if !isTerminal(err, events.CodeTemplateExists) {
			t.Fatalf("capture onto the base image: want a terminal %s error, got %v", events.CodeTemplateExists, err)
		}
	})

	t.Run("SetTemplateMetadata", func(t *testing.T) {
		ref := events.TemplateRef{Name: name, Revision: 1}
		if _, err := wait(ctx, tg, func() (executors.Status, error) {
			return v.SetTemplateMetadata(ctx, org.Name, ref, map[string]string{metaDeprecated: "true"})
		}); err != nil {
			t.Fatal(err)
		}
		got, err := retry(ctx, tg, func() (events.Template, error) { return v.ResolveTemplate(ctx, tg.Org, ref) })
		want := built
		want.Deprecated = true
		if err != nil {
			t.Fatal(err)
		}
		checkTemplate(t, got, want, "built by the conformance suite")
		_, err = wait(ctx, tg, func() (executors.Status, error) {
			return v.SetTemplateMetadata(ctx, org.Name, events.TemplateRef{Name: name, Revision: 9}, map[string]string{metaDeprecated: "true"})
		})
		if !isTerminal(err, events.CodeTemplateNotFound) {
			t.Fatalf("metadata of a revision that is not there: want a terminal %s error, got %v", events.CodeTemplateNotFound, err)
		}
	})

	// A failed build's or import's sweep removes only what its owner made and, when asked
	// for what VCD never finished, leaves a finished item alone.
	t.Run("DeleteCatalogItem sweeps only the owner's", func(t *testing.T) {
		rev1, rev2 := events.TemplateItemName(name, 1), events.TemplateItemName(name, 2)
		for what, item := range map[string]executors.ItemRef{
			"another's item":                  {Org: org.Name, Name: rev1, Owner: importOwner},
			"a finished item, for unfinished": {Org: org.Name, Name: rev1, Owner: builtOwner, Unfinished: true},
			"an item that is not there":       {Org: org.Name, Name: "conf-none-" + short, Owner: builtOwner},
		} {
			st, err := retry(ctx, tg, func() (executors.Status, error) { return fresh().DeleteCatalogItem(ctx, item) })
			if err != nil || !st.Done {
				t.Errorf("sweep of %s: %+v %v, want done at once", what, st, err)
			}
		}
		if _, err := retry(ctx, tg, func() (events.Template, error) {
			return v.ResolveTemplate(ctx, tg.Org, events.TemplateRef{Name: name, Revision: 1})
		}); err != nil {
			t.Fatalf("revision 1 after sweeps that must leave it: %v", err)
		}
		item := executors.ItemRef{Org: org.Name, Name: rev2, Owner: importOwner}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.DeleteCatalogItem(ctx, item) }); err != nil {
			t.Fatal(err)
		}
		if st, err := fresh().DeleteCatalogItem(ctx, item); err != nil || !st.Done {
			t.Fatalf("sweeping the swept: %+v %v, want done at once", st, err)
		}
		_, err := retry(ctx, tg, func() (events.Template, error) {
			return v.ResolveTemplate(ctx, tg.Org, events.TemplateRef{Name: name, Revision: 2})
		})
		if !isTerminal(err, events.CodeTemplateNotFound) {
			t.Fatalf("revision 2 after its sweep: want a terminal %s error, got %v", events.CodeTemplateNotFound, err)
		}
	})

	t.Run("DeleteTemplate", func(t *testing.T) {
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.DeleteVApp(ctx, build) }); err != nil {
			t.Fatal(err)
		}
		for _, ref := range []events.TemplateRef{{Name: name, Revision: 1}, {Name: name, Revision: 2}, {Name: base, Revision: 1}} {
			if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.DeleteTemplate(ctx, org.Name, ref) }); err != nil {
				t.Fatalf("delete %+v: %v", ref, err)
			}
			if st, err := fresh().DeleteTemplate(ctx, org.Name, ref); err != nil || !st.Done {
				t.Fatalf("deleting the deleted %+v: %+v %v, want done at once", ref, st, err)
			}
		}
		for rev := 1; rev <= 2; rev++ {
			_, err := retry(ctx, tg, func() (events.Template, error) {
				return v.ResolveTemplate(ctx, tg.Org, events.TemplateRef{Name: name, Revision: rev})
			})
			if !isTerminal(err, events.CodeTemplateNotFound) {
				t.Errorf("revision %d after its delete: want a terminal %s error, got %v", rev, events.CodeTemplateNotFound, err)
			}
			countTemplates(ctx, t, tg, name, rev, 0)
		}
		// The base image is gone too: a build's VM cannot be made from it.
		_, err := wait(ctx, tg, func() (executors.Status, error) {
			return v.EnsureImage(ctx, executors.ImageSpec{Org: org.Name, Item: baseItem, OVA: filepath.Join(filepath.Dir(ova), "missing.ova"), Owner: baseOwner})
		})
		if !isTerminal(err, events.CodeBaseImageNotFound) {
			t.Fatalf("the base image after its delete: want a terminal %s error (its file is missing), got %v", events.CodeBaseImageNotFound, err)
		}
	})
}

// importDescription has what XML must encode: it reaches VCD intact only if it is encoded.
const importDescription = `imported by the conformance suite: <a href="x">&amp;</a> & 'y'`

// checkTemplate compares what a template's metadata says with what kaas wrote.
func checkTemplate(t *testing.T, got, want events.Template, description string) {
	t.Helper()
	want.Catalog, want.CatalogItemID, want.Description = got.Catalog, got.CatalogItemID, description
	if got != want || got.CatalogItemID == "" {
		t.Errorf("resolved %+v, want %+v", got, want)
	}
}

// countTemplates checks that Cloud lists a revision n times.
func countTemplates(ctx context.Context, t *testing.T, tg Target, name string, rev, n int) {
	t.Helper()
	cloud, err := retry(ctx, tg, func() (events.CloudSynced, error) { return tg.VCD.Cloud(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, x := range cloud.Templates {
		if x.Name == name && x.Revision == rev {
			got++
		}
	}
	if got != n {
		t.Errorf("Cloud lists %s revision %d %d times, want %d: %+v", name, rev, got, n, cloud.Templates)
	}
}
