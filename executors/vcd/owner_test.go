package vcd

import (
	"testing"

	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// An item kaas makes carries its owner in its description until its metadata names it;
// the description kaas shows is the one it was given.
func TestOwnerMark(t *testing.T) {
	const owner = "6f1c2d3e-0000-5000-8000-000000000001"
	for _, tc := range []struct {
		description, want string
		meta              map[string]string
		owner             string
	}{
		{description: ownerMark("", owner), want: "", owner: owner},
		{description: ownerMark("Ubuntu 22.04 [base]", owner), want: "Ubuntu 22.04 [base]", owner: owner},
		{description: ownerMark("x", "other"), meta: map[string]string{executors.MetaBuildID: owner}, want: "x", owner: owner},
		{description: "by hand [kaas build]", want: "by hand [kaas build]", owner: ""},
		{description: "by hand", want: "by hand", owner: ""},
	} {
		if got := shownDescription(tc.description); got != tc.want {
			t.Errorf("shownDescription(%q) = %q, want %q", tc.description, got, tc.want)
		}
		if got := ownerOf(tc.description, tc.meta); got != tc.owner {
			t.Errorf("ownerOf(%q, %v) = %q, want %q", tc.description, tc.meta, got, tc.owner)
		}
	}
}

// A template's facts come from its item's metadata; its name from kaas.template.name when
// the item has one, else from the item's name.
func TestTemplateOf(t *testing.T) {
	ci := &types.CatalogItem{ID: "urn:vcloud:catalogitem:1", Description: ownerMark("Kubernetes v1.30.4", "o")}
	meta := map[string]string{MetaTemplateName: "ubuntu", MetaTemplateRevision: "2", MetaTemplateKubernetes: "v1.30.4",
		MetaTemplateOS: "ubuntu-22.04", MetaTemplateCNI: "antrea", MetaTemplateCNIVersion: "1.15.1", MetaTemplateContainerd: "1.7.20",
		MetaTemplateCPU: "2", MetaTemplateMemoryMB: "4096", MetaTemplateSizingPolicy: "medium", MetaTemplateSource: events.SourceBuilt,
		MetaTemplateDeprecated: "true"}
	want := events.Template{Name: "ubuntu", Revision: 2, Catalog: "cat", CatalogItemID: ci.ID, KubernetesVersion: "v1.30.4",
		OS: "ubuntu-22.04", CNI: events.Component{Name: "antrea", Version: "1.15.1"}, ContainerdVersion: "1.7.20",
		Rules: events.TemplateRules{CPU: 2, MemoryMB: 4096, SizingPolicy: "medium"}, Source: events.SourceBuilt, Deprecated: true,
		Description: "Kubernetes v1.30.4"}
	if got := templateOf("ubuntu_rev2", 2, "cat", ci, meta); got != want {
		t.Errorf("templateOf = %+v, want %+v", got, want)
	}
	delete(meta, MetaTemplateName)
	meta[MetaTemplateCPU] = "-1"
	want.Name, want.Rules.CPU = "legacy", 0
	if got := templateOf("legacy", 2, "cat", ci, meta); got != want {
		t.Errorf("templateOf without a name = %+v, want %+v", got, want)
	}
}

// govcd pastes an upload's name, description and URL into XML: kaas encodes them first.
func TestXMLText(t *testing.T) {
	if got, want := xmlText(`a <b> & "c" 'd'`), "a &lt;b&gt; &amp; &#34;c&#34; &#39;d&#39;"; got != want {
		t.Errorf("xmlText = %q, want %q", got, want)
	}
}
