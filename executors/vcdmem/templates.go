package vcdmem

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// The provider's catalog (KAAS_VCD_CATALOG), which every org sees: the templates
// configured (made by hand), and the catalog items kaas uploads or captures. An upload or
// a capture takes UploadPolls calls, as govcd's upload and VCD's import task take time.
// An https OVA whose host is under .invalid is one VCD cannot download: its import fails
// once its upload ran.

// catalogName is the catalog templates are read from, as the adapter names it by default.
const catalogName = "kaas-templates"

// The catalog item metadata of the contract, as VCD stores it: strings.
const (
	mdName       = "kaas.template.name"
	mdRevision   = "kaas.template.revision"
	mdKubernetes = "kaas.template.kubernetes_version"
	mdOS         = "kaas.template.os"
	mdCNI        = "kaas.template.cni"
	mdCNIVersion = "kaas.template.cni_version"
	mdContainerd = "kaas.template.containerd_version"
	mdCPU        = "kaas.template.cpu"
	mdMemory     = "kaas.template.memory_mb"
	mdSizing     = "kaas.template.sizing_policy"
	mdSource     = "kaas.template.source"
	mdDeprecated = "kaas.template.deprecated"
)

// Item is a catalog item kaas uploaded or captured: a vApp template with one VM.
type Item struct {
	ID             string            `json:"id"` // the catalog item's URN
	VAppTemplateID string            `json:"vappTemplateId"`
	Org            string            `json:"org,omitempty"`
	Name           string            `json:"name"`
	Description    string            `json:"description,omitempty"`
	Metadata       map[string]string `json:"metadata"`
	// PollsLeft counts the calls until VCD has it; its upload or capture runs until then.
	PollsLeft int `json:"pollsLeft,omitempty"`
	// Pending is the metadata set on it once its upload completes.
	Pending map[string]string `json:"pending,omitempty"`
	// Source is the OVA it is uploaded from, or the vApp it was captured from.
	Source string `json:"source"`
	// Failed is why VCD's import of its upload failed.
	Failed    string    `json:"failed,omitempty"`
	DeletedAt time.Time `json:"deletedAt,omitzero"`
	// Kubernetes is what a captured template's VM has installed.
	Kubernetes string `json:"kubernetes,omitempty"`
	// GuestInfo is what a captured template's VM carries in its guestinfo: what every VM
	// made from it starts with.
	GuestInfo map[string]string `json:"guestInfo,omitempty"`
}

func (it *Item) complete() bool { return it.PollsLeft == 0 && it.Failed == "" }
func (it *Item) owner() string  { return it.Metadata[executors.MetaBuildID] }

// isTemplate reports whether the item is a template revision (not a base image).
func (it *Item) isTemplate() bool { return it.Metadata[mdKubernetes] != "" }

// ref is the revision the item is: its name from its metadata, else its own.
func (it *Item) ref() (events.TemplateRef, bool) {
	rev, err := strconv.Atoi(it.Metadata[mdRevision])
	return events.TemplateRef{Name: cmp.Or(it.Metadata[mdName], it.Name), Revision: rev}, err == nil && it.isTemplate()
}

// template reads a template revision from the item's metadata, as the cloud sync does.
func (it *Item) template() events.Template {
	md := it.Metadata
	ref, _ := it.ref()
	cpu, _ := strconv.Atoi(md[mdCPU])
	mem, _ := strconv.Atoi(md[mdMemory])
	return events.Template{Name: ref.Name, Revision: ref.Revision, Catalog: catalogName, CatalogItemID: it.ID,
		KubernetesVersion: md[mdKubernetes], OS: md[mdOS], CNI: events.Component{Name: md[mdCNI], Version: md[mdCNIVersion]},
		ContainerdVersion: md[mdContainerd], Deprecated: md[mdDeprecated] == "true", Description: it.Description,
		Rules: events.TemplateRules{CPU: cpu, MemoryMB: mem, SizingPolicy: md[mdSizing]}, Source: md[mdSource]}
}

// configured is what was done to a configured template: metadata set, deletion.
type configured struct {
	Metadata map[string]string `json:"metadata,omitempty"`
	Deleted  bool              `json:"deleted,omitempty"`
}

func refKey(ref events.TemplateRef) string { return ref.Name + "/" + strconv.Itoa(ref.Revision) }

// configuredOf returns what was done to a configured template (nothing: a zero value).
func (v *VCD) configuredOf(ref events.TemplateRef) *configured {
	if c := v.st.Configured[refKey(ref)]; c != nil {
		return c
	}
	return &configured{}
}

func (c *configured) apply(t events.Template) events.Template {
	if d, ok := c.Metadata[mdDeprecated]; ok {
		t.Deprecated = d == "true"
	}
	return t
}

// configuredTemplate reports whether an org has the configured template.
func (v *VCD) configuredTemplate(ref events.TemplateRef) bool {
	for _, o := range v.cfg.Orgs {
		for _, t := range o.Templates {
			if t.Name == ref.Name && t.Revision == ref.Revision {
				return true
			}
		}
	}
	return false
}

// item finds a catalog item by name, ending the deletions whose task is over.
func (v *VCD) item(name string) *Item {
	now := time.Now()
	var found *Item
	for id, it := range v.st.Items {
		if !it.DeletedAt.IsZero() && !now.Before(it.DeletedAt) {
			delete(v.st.Items, id)
			continue
		}
		if it.Name == name {
			found = it
		}
	}
	return found
}

// templateItem finds a complete template revision's item: <name>_rev<N>, or one named in
// its metadata (a provider's, named <name>).
func (v *VCD) templateItem(ref events.TemplateRef) *Item {
	if it := v.item(events.TemplateItemName(ref.Name, ref.Revision)); it != nil && it.complete() && it.DeletedAt.IsZero() {
		if r, ok := it.ref(); ok && r == ref {
			return it
		}
	}
	for _, it := range v.st.Items {
		if r, ok := it.ref(); ok && r == ref && it.complete() && it.DeletedAt.IsZero() {
			return it
		}
	}
	return nil
}

// itemTemplates lists the complete template items not in seen, by name and revision.
func (v *VCD) itemTemplates(seen map[events.TemplateRef]bool) []events.Template {
	var out []events.Template
	for _, it := range v.st.Items {
		if r, ok := it.ref(); ok && !seen[r] && it.complete() && it.DeletedAt.IsZero() {
			seen[r] = true
			out = append(out, it.template())
		}
	}
	slices.SortFunc(out, func(a, b events.Template) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Revision, b.Revision))
	})
	return out
}

// image is the base image a VM of the template is made from: a template with no revision
// names a catalog item with no template metadata. "" for a template revision.
func (v *VCD) image(t events.Template) (string, error) {
	if t.Name == "" || t.Revision != 0 {
		return "", nil
	}
	it := v.item(t.Name)
	if it == nil || !it.complete() || !it.DeletedAt.IsZero() || it.isTemplate() {
		return "", executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("base image %q is not in catalog %q", t.Name, catalogName), "", "")
	}
	return t.Name, nil
}

func (m *VM) poweredOn(now time.Time) bool {
	return !m.OnAt.IsZero() && !now.Before(m.OnAt) && (m.OffAt.IsZero() || now.Before(m.OffAt))
}

func (v *VCD) polls() int { return cmp.Or(v.cfg.UploadPolls, 3) }

// catalogOrg checks the org whose catalog is meant: empty is the provider's own.
func (v *VCD) catalogOrg(org string) error {
	if org != "" && v.orgByName(org) == nil {
		return executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("organization %q does not exist", org), "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "")
	}
	return nil
}

// EnsureImage implements executors.VCD.
func (v *VCD) EnsureImage(ctx context.Context, spec executors.ImageSpec) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("upload OVF"); err != nil {
		return executors.Status{}, err
	}
	if err := v.catalogOrg(spec.Org); err != nil {
		return executors.Status{}, err
	}
	it := v.item(spec.Item)
	if it != nil && it.Failed != "" && it.owner() == spec.Owner {
		delete(v.st.Items, it.ID) // its own failed upload: uploaded again
		it = nil
	}
	if it == nil {
		if err := checkOVA(spec.OVA, spec.SHA256); err != nil {
			return executors.Status{}, err
		}
		it = &Item{ID: "urn:vcloud:catalogitem:" + uuid.NewString(), VAppTemplateID: "urn:vcloud:vapptemplate:" + uuid.NewString(),
			Org: spec.Org, Name: spec.Item, Description: spec.Description, Metadata: map[string]string{executors.MetaBuildID: spec.Owner},
			PollsLeft: v.polls(), Pending: maps.Clone(spec.Metadata), Source: spec.OVA}
		v.st.Items[it.ID] = it
		return executors.Status{}, v.save()
	}
	if !it.DeletedAt.IsZero() {
		return executors.Status{}, nil // being deleted: looked at again later
	}
	if it.PollsLeft > 0 && it.owner() == spec.Owner {
		// The upload goes on while its uploader drives it.
		it.PollsLeft--
		if it.PollsLeft == 0 {
			if u, err := url.Parse(it.Source); err == nil && strings.HasSuffix(u.Hostname(), ".invalid") {
				it.Failed = "Failed to download " + it.Source + ": unknown host " + u.Hostname()
			} else {
				maps.Copy(it.Metadata, it.Pending)
				it.Pending = nil
			}
		}
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	}
	if it.Failed != "" && it.owner() == spec.Owner {
		return executors.Status{}, executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("VCD could not import %s as %q", it.Source, it.Name),
			"INTERNAL_SERVER_ERROR", it.Failed)
	}
	if !it.complete() {
		return executors.Status{}, nil // uploading, or another owner's upload: waited for
	}
	return executors.Status{ID: it.VAppTemplateID, Done: true}, nil
}

// checkOVA checks what VCD is to import: a file (its checksum, when given) or an https URL.
func checkOVA(ova, sum string) error {
	switch {
	case strings.HasPrefix(ova, "/"):
		f, err := os.Open(ova)
		if err != nil {
			return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %s cannot be read: %v", ova, err), "", "")
		}
		defer f.Close()
		if sum == "" {
			return nil
		}
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %s cannot be read: %v", ova, err), "", "")
		}
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, sum) {
			return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %s has SHA-256 %s, not %s", ova, got, sum), "", "")
		}
		return nil
	case strings.HasPrefix(ova, "https://"):
		return nil
	}
	return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %q is neither a file nor an https URL", ova), "", "")
}

// PowerOff implements executors.VCD.
func (v *VCD) PowerOff(ctx context.Context, ref executors.VMRef) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("power off"); err != nil {
		return executors.Status{}, err
	}
	_, m, err := v.vm(ref)
	if err != nil {
		return executors.Status{}, err
	}
	if m == nil {
		return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	now := time.Now()
	switch {
	case m.OnAt.IsZero():
		return executors.Status{ID: m.ID, Done: true}, nil
	case now.Before(m.OnAt):
		return executors.Status{}, executors.Retryable("BUSY_ENTITY", "The VM is busy completing an operation.", nil)
	case m.OffAt.IsZero():
		m.OffAt = now.Add(v.cfg.TaskDelay)
		if err := v.save(); err != nil {
			return executors.Status{}, err
		}
	}
	return executors.Status{ID: m.ID, Done: !now.Before(m.OffAt)}, nil
}

// CaptureVApp implements executors.VCD: only a vApp whose VMs are all off is captured.
func (v *VCD) CaptureVApp(ctx context.Context, spec executors.CaptureSpec) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("capture vApp"); err != nil {
		return executors.Status{}, err
	}
	if _, _, err := v.vdc(spec.VApp); err != nil {
		return executors.Status{}, err
	}
	a, err := v.findVApp(spec.VApp)
	if err != nil {
		return executors.Status{}, err
	}
	it := v.item(spec.Item)
	switch {
	case it != nil && it.owner() != spec.Owner:
		return executors.Status{}, executors.Terminal(events.CodeTemplateExists,
			fmt.Sprintf("catalog %q already has an item %q that this build did not make", catalogName, spec.Item), "DUPLICATE_NAME", "")
	case it != nil && !it.DeletedAt.IsZero():
		return executors.Status{}, executors.Retryable("BUSY_ENTITY", "The catalog item is being deleted.", nil)
	case it == nil:
		if a == nil {
			return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("vApp %q is gone", spec.VApp.Name), "", "")
		}
		now := time.Now()
		var installed string
		carried := map[string]string{}
		for _, m := range a.VMs {
			for k, val := range m.GuestInfo {
				if val != "" {
					carried[k] = val
				}
			}
			if m.poweredOn(now) || !m.OnAt.IsZero() && m.OffAt.IsZero() || now.Before(m.OffAt) {
				return executors.Status{}, executors.Terminal(events.CodeVCDError, "VCD refused the request", "BAD_REQUEST",
					fmt.Sprintf("The vApp %q must be powered off to be captured.", a.Name))
			}
			if m.Build != nil && m.Build.Done {
				installed = m.Build.Kubernetes
			}
		}
		md := maps.Clone(spec.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		md[executors.MetaBuildID] = spec.Owner
		it = &Item{ID: "urn:vcloud:catalogitem:" + uuid.NewString(), VAppTemplateID: "urn:vcloud:vapptemplate:" + uuid.NewString(),
			Org: spec.VApp.Org, Name: spec.Item, Description: spec.Description, Metadata: md, PollsLeft: v.polls(),
			Source: a.ID, Kubernetes: installed, GuestInfo: carried}
		v.st.Items[it.ID] = it
		return executors.Status{}, v.save()
	}
	// The capture this build began: its task goes on, and its metadata is completed.
	maps.Copy(it.Metadata, spec.Metadata)
	if it.PollsLeft > 0 {
		it.PollsLeft--
	}
	if err := v.save(); err != nil {
		return executors.Status{}, err
	}
	return executors.Status{ID: it.ID, Done: it.PollsLeft == 0}, nil
}

// SetTemplateMetadata implements executors.VCD.
func (v *VCD) SetTemplateMetadata(ctx context.Context, org string, ref events.TemplateRef, md map[string]string) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("set metadata"); err != nil {
		return executors.Status{}, err
	}
	if err := v.catalogOrg(org); err != nil {
		return executors.Status{}, err
	}
	if it := v.templateItem(ref); it != nil {
		maps.Copy(it.Metadata, md)
		return executors.Status{ID: it.ID, Done: true}, v.save()
	}
	if v.configuredTemplate(ref) && !v.configuredOf(ref).Deleted {
		c := v.st.Configured[refKey(ref)]
		if c == nil {
			c = &configured{Metadata: map[string]string{}}
			v.st.Configured[refKey(ref)] = c
		}
		if c.Metadata == nil {
			c.Metadata = map[string]string{}
		}
		maps.Copy(c.Metadata, md)
		return executors.Status{Done: true}, v.save()
	}
	return executors.Status{}, executors.Terminal(events.CodeTemplateNotFound,
		fmt.Sprintf("template %q revision %d is not in catalog %q", ref.Name, ref.Revision, catalogName), "", "")
}

// DeleteTemplate implements executors.VCD: the revision's item, complete or not.
func (v *VCD) DeleteTemplate(ctx context.Context, org string, ref events.TemplateRef) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("delete catalog item"); err != nil {
		return executors.Status{}, err
	}
	if err := v.catalogOrg(org); err != nil {
		return executors.Status{}, err
	}
	it := v.templateItem(ref)
	if it == nil {
		it = v.item(events.TemplateItemName(ref.Name, ref.Revision))
	}
	if it == nil {
		if v.configuredTemplate(ref) && !v.configuredOf(ref).Deleted {
			c := v.configuredOf(ref)
			c.Deleted = true
			v.st.Configured[refKey(ref)] = c
			return executors.Status{Done: true}, v.save()
		}
		return executors.Status{Done: true}, nil
	}
	return v.deleteItem(it)
}

// DeleteCatalogItem implements executors.VCD.
func (v *VCD) DeleteCatalogItem(ctx context.Context, ref executors.ItemRef) (executors.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fault("delete catalog item"); err != nil {
		return executors.Status{}, err
	}
	if err := v.catalogOrg(ref.Org); err != nil {
		return executors.Status{}, err
	}
	it := v.item(ref.Name)
	if it == nil || it.owner() != ref.Owner || ref.Unfinished && it.complete() {
		return executors.Status{Done: true}, nil
	}
	return v.deleteItem(it)
}

// deleteItem deletes an item, which takes a task.
func (v *VCD) deleteItem(it *Item) (executors.Status, error) {
	now := time.Now()
	if it.DeletedAt.IsZero() {
		it.DeletedAt = now.Add(v.cfg.TaskDelay)
	}
	if now.Before(it.DeletedAt) {
		return executors.Status{ID: it.ID}, v.save()
	}
	delete(v.st.Items, it.ID)
	return executors.Status{ID: it.ID, Done: true}, v.save()
}

// ItemInfo describes a catalog item for inspection.
type ItemInfo struct {
	ID, Name, Owner string
	Complete        bool
	Metadata        map[string]string
	// Kubernetes is what a captured template's VM has installed; GuestInfo what it
	// carries in its guestinfo.
	Kubernetes string
	GuestInfo  map[string]string
}

// Items lists the catalog items kaas uploaded or captured and VCD has not deleted, by name.
func (v *VCD) Items() []ItemInfo {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []ItemInfo
	now := time.Now()
	for _, it := range v.st.Items {
		if it.DeletedAt.IsZero() || now.Before(it.DeletedAt) {
			out = append(out, ItemInfo{ID: it.ID, Name: it.Name, Owner: it.owner(), Complete: it.complete(), Metadata: maps.Clone(it.Metadata),
				Kubernetes: it.Kubernetes, GuestInfo: maps.Clone(it.GuestInfo)})
		}
	}
	slices.SortFunc(out, func(a, b ItemInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}
