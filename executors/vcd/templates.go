package vcd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// Template builds and imports: catalog items kaas uploads (base images, imported templates)
// or captures (built templates). An item kaas makes carries its owner, the template
// aggregate's id, twice: in its description from the moment VCD creates it (ownerMark), and
// in its kaas.build.id metadata once VCD has finished it. A retried call recognizes its own
// half-made item by the first, a finished one by either.

// vAppTemplateResolved is VCD's status of a vApp template that is ready to instantiate.
const vAppTemplateResolved = 8

var ownerMarkRE = regexp.MustCompile(` ?\[kaas build ([^\]\s]+)\]$`)

// ownerMark is the description of an item owner makes: the given description with the
// owner appended.
func ownerMark(description, owner string) string {
	mark := "[kaas build " + owner + "]"
	if description == "" {
		return mark
	}
	return description + " " + mark
}

// shownDescription is an item's description without kaas's owner mark.
func shownDescription(description string) string {
	return ownerMarkRE.ReplaceAllString(description, "")
}

// ownerOf is the template aggregate that made an item, or "" for one kaas did not make.
func ownerOf(description string, meta map[string]string) string {
	if o := meta[executors.MetaBuildID]; o != "" {
		return o
	}
	if m := ownerMarkRE.FindStringSubmatch(description); m != nil {
		return m[1]
	}
	return ""
}

// xmlText encodes a value for govcd's upload requests, which paste the item's name,
// description and source URL into XML as given.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// catalog finds the provider's catalog (Config.Catalog) as the org sees it.
func (c *Client) catalog(ctx context.Context, orgName, orgID string) (*govcd.Catalog, error) {
	org, err := c.org(ctx, orgName, orgID)
	if err != nil {
		return nil, err
	}
	cat, err := org.GetCatalogByName(c.cfg.Catalog, false)
	if notFound(err) {
		return nil, executors.Terminal(events.CodeTemplateNotFound, fmt.Sprintf("catalog %q is not visible to org %q", c.cfg.Catalog, orgName), "", "")
	}
	if err != nil {
		return nil, classify(err)
	}
	return cat, nil
}

// item is a catalog item as kaas reads it: the item, its metadata and its vApp template.
type item struct {
	item *govcd.CatalogItem
	meta map[string]string
	tmpl *types.VAppTemplate
}

func (it item) owner() string { return ownerOf(it.item.CatalogItem.Description, it.meta) }

func (it item) ready() bool { return it.tmpl.Status == vAppTemplateResolved && !busy(it.tmpl.Tasks) }

// findItem reads the item of that name, nil when there is none.
func findItem(cat *govcd.Catalog, name string) (*item, error) {
	ci, err := cat.GetCatalogItemByName(name, false)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	md, err := ci.GetMetadata()
	if err != nil {
		return nil, classify(err)
	}
	tmpl, err := ci.GetVAppTemplate()
	if notFound(err) {
		return nil, nil // deleted meanwhile
	}
	if err != nil {
		return nil, classify(err)
	}
	return &item{item: ci, meta: metadataMap(md), tmpl: tmpl.VAppTemplate}, nil
}

// findTemplate finds a template revision's item: <name>_rev<N> (CSE's naming, which kaas
// builds and imports as), else an item named after the template alone (put in the catalog
// by hand before), each only when its metadata names that template (or no template: the
// item's name is then its name) and that revision. nil, with why, when there is none.
func findTemplate(cat *govcd.Catalog, ref events.TemplateRef) (*item, string, error) {
	why := fmt.Sprintf("template %q revision %d is not in catalog %q", ref.Name, ref.Revision, cat.Catalog.Name)
	for _, name := range []string{events.TemplateItemName(ref.Name, ref.Revision), ref.Name} {
		it, err := findItem(cat, name)
		if err != nil {
			return nil, "", err
		}
		if it == nil {
			continue
		}
		if n := it.meta[MetaTemplateName]; n != "" && n != ref.Name {
			continue
		}
		if rev := it.meta[MetaTemplateRevision]; rev != strconv.Itoa(ref.Revision) {
			why = fmt.Sprintf("template %q is at revision %s in catalog %q, not %d", ref.Name, rev, cat.Catalog.Name, ref.Revision)
			continue
		}
		return it, "", nil
	}
	return nil, why, nil
}

// templateOf is what an item's metadata says of the template it holds.
func templateOf(name string, rev int, catalog string, ci *types.CatalogItem, meta map[string]string) events.Template {
	if n := meta[MetaTemplateName]; n != "" {
		name = n
	}
	atoi := func(k string) int { n, _ := strconv.Atoi(meta[k]); return max(n, 0) }
	return events.Template{Name: name, Revision: rev, Catalog: catalog, CatalogItemID: ci.ID,
		KubernetesVersion: meta[MetaTemplateKubernetes], OS: meta[MetaTemplateOS],
		CNI:               events.Component{Name: meta[MetaTemplateCNI], Version: meta[MetaTemplateCNIVersion]},
		ContainerdVersion: meta[MetaTemplateContainerd],
		Rules:             events.TemplateRules{CPU: atoi(MetaTemplateCPU), MemoryMB: atoi(MetaTemplateMemoryMB), SizingPolicy: meta[MetaTemplateSizingPolicy]},
		Source:            meta[MetaTemplateSource],
		Deprecated:        meta[MetaTemplateDeprecated] == "true", Description: shownDescription(ci.Description)}
}

// deleteItem deletes a catalog item, and with it its vApp template. VCD answers with a task
// or with nothing (older versions delete at once); a task is remembered.
func (c *Client) deleteItem(ctx context.Context, key string, it *item) error {
	var task types.Task
	if _, err := call(ctx, c, func(vc *govcd.VCDClient) (*http.Response, error) {
		return vc.Client.ExecuteRequest(it.item.CatalogItem.HREF, http.MethodDelete, "", "delete catalog item: %s", nil, &task)
	}); err != nil && !notFound(err) {
		return classify(err)
	}
	if task.HREF != "" {
		c.remember(key, govcd.Task{Task: &task})
	}
	return nil
}

// cancelTasks cancels what runs on an item's vApp template, an upload whose bytes will
// never come: VCD then drops or fails the item, which a later call deletes.
func (c *Client) cancelTasks(ctx context.Context, it *item) error {
	if it.tmpl.Tasks == nil {
		return nil
	}
	for _, t := range it.tmpl.Tasks.Task {
		if t == nil || !busy(&types.TasksInProgress{Task: []*types.Task{t}}) {
			continue
		}
		if _, err := call(ctx, c, func(vc *govcd.VCDClient) (*http.Response, error) {
			return vc.Client.ExecuteRequest(t.HREF+"/action/cancel", http.MethodPost, "", "cancel task: %s", nil, nil)
		}); err != nil && !notFound(err) {
			return classify(err)
		}
	}
	return nil
}

// bytesMissing reports whether VCD still waits for some of an upload's files.
func bytesMissing(tmpl *types.VAppTemplate) bool {
	if tmpl.Files == nil {
		return false
	}
	for _, f := range tmpl.Files.File {
		if f != nil && (f.Size <= 0 || f.BytesTransferred < f.Size) {
			return true
		}
	}
	return false
}

// upload is a file upload this process runs: govcd sends the bytes from a goroutine of its
// own once the call that started it has returned.
type upload struct {
	task     *govcd.UploadTask
	progress float64
	moved    time.Time // when progress last moved
}

// EnsureImage implements executors.VCD. An http(s) OVA is imported by VCD itself
// (UploadOvfByLink); a file is uploaded from here (UploadOvf), which the call waits for:
// only this process can send its bytes. VCD's import that follows is remembered and polled.
func (c *Client) EnsureImage(ctx context.Context, spec executors.ImageSpec) (executors.Status, error) {
	key := "image:" + spec.Org + "/" + spec.Item
	remote, err := ovaSource(spec.OVA)
	if err != nil {
		return executors.Status{}, err
	}
	if err := c.awaitUpload(ctx, key); err != nil {
		return executors.Status{}, err
	}
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	cat, err := c.catalog(ctx, spec.Org, "")
	if err != nil {
		return executors.Status{}, err
	}
	it, err := findItem(cat, spec.Item)
	if err != nil {
		return executors.Status{}, err
	}
	if it == nil {
		return executors.Status{}, c.startUpload(ctx, key, cat, spec, remote)
	}
	owner := it.owner()
	switch {
	case it.ready() && owner == spec.Owner:
		want := maps.Clone(spec.Metadata)
		if want == nil {
			want = map[string]string{}
		}
		want[executors.MetaBuildID] = spec.Owner
		done, err := c.ensureMetadata(key, it.item.GetMetadata, it.item.MergeMetadataWithMetadataValuesAsync, want)
		return executors.Status{ID: it.tmpl.ID, Done: done}, err
	case it.ready():
		// A base image the provider put there, or another build uploaded: used as it is.
		return executors.Status{ID: it.tmpl.ID, Done: true}, nil
	case owner != spec.Owner && (owner != "" || busy(it.tmpl.Tasks)):
		// Another build's upload, which it finishes or replaces; or one running by hand.
		return executors.Status{}, nil
	case owner != spec.Owner:
		return executors.Status{}, executors.Terminal(events.CodeBaseImageNotFound,
			fmt.Sprintf("catalog item %q in catalog %q is not usable (vApp template status %d) and kaas did not make it: delete it or name another image",
				spec.Item, c.cfg.Catalog, it.tmpl.Status), "", "")
	case busy(it.tmpl.Tasks) && !remote && bytesMissing(it.tmpl):
		// This owner's upload, interrupted: nobody sends its bytes any more.
		c.cfg.Logger.Info("cancelling an interrupted upload", "item", spec.Item, "owner", spec.Owner)
		return executors.Status{}, c.cancelTasks(ctx, it)
	case busy(it.tmpl.Tasks):
		return executors.Status{}, nil
	default:
		// This owner's item that VCD failed to import, or whose upload was cancelled.
		c.cfg.Logger.Info("deleting a half-uploaded catalog item to upload it again", "item", spec.Item, "status", it.tmpl.Status)
		return executors.Status{}, c.deleteItem(ctx, key, it)
	}
}

// ovaSource checks an OVA's location: an http(s) URL (remote), or an absolute file path.
func ovaSource(ova string) (remote bool, err error) {
	if u, err := url.Parse(ova); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		if u.Host == "" {
			return false, executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA URL %q has no host", ova), "", "")
		}
		return true, nil
	}
	if !filepath.IsAbs(ova) {
		return false, executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %q is neither an http(s) URL nor an absolute file path", ova), "", "")
	}
	return false, nil
}

func (c *Client) startUpload(ctx context.Context, key string, cat *govcd.Catalog, spec executors.ImageSpec, remote bool) error {
	name, desc := xmlText(spec.Item), xmlText(ownerMark(spec.Description, spec.Owner))
	if remote {
		task, err := cat.UploadOvfByLink(xmlText(spec.OVA), name, desc)
		if err != nil {
			return c.uploadError(spec, err)
		}
		c.remember(key, task)
		return nil
	}
	if err := checkOVA(spec.OVA, spec.SHA256); err != nil {
		return err
	}
	// govcd creates the item, sends the descriptor, waits for VCD's upload links (at least
	// five seconds), then sends the disks from a goroutine.
	task, err := cat.UploadOvf(spec.OVA, name, desc, uploadPiece)
	if err != nil {
		return c.uploadError(spec, err)
	}
	c.mu.Lock()
	c.uploads[key] = &upload{task: &task, moved: time.Now()}
	c.mu.Unlock()
	return c.awaitUpload(ctx, key)
}

// uploadError classifies what govcd's uploads return besides VCD's errors: the OVA's own
// faults, found before anything is sent, and a catalog that offers no upload (the org may
// not write to it); both terminal.
func (c *Client) uploadError(spec executors.ImageSpec, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Unpacked files for checking are accessible"), strings.Contains(msg, "file is empty"):
		return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %s is not a valid OVA: %v", spec.OVA, err), "", "")
	case strings.Contains(msg, "catalog upload URL not found"):
		return executors.Terminal(events.CodeVCDError, fmt.Sprintf("catalog %q takes no uploads from org %q", c.cfg.Catalog, spec.Org), "", "")
	}
	return classify(err)
}

// uploadPiece is the size of each PUT of a disk's bytes.
const uploadPiece = 16 << 20

// checkOVA checks that a file OVA is there and, when a digest is given, that it is the one.
func checkOVA(path, digest string) error {
	f, err := os.Open(path)
	if err != nil {
		return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %s cannot be read: %v", path, err), "", "")
	}
	defer f.Close()
	if digest == "" {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %s cannot be read: %v", path, err), "", "")
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, digest) {
		return executors.Terminal(events.CodeBaseImageNotFound, fmt.Sprintf("OVA %s has SHA-256 %s, not %s", path, got, digest), "", "")
	}
	return nil
}

// awaitUpload waits while this process sends an upload's bytes, then remembers VCD's import
// task. An upload whose progress stops for the HTTP timeout failed (govcd keeps its error
// to itself): its task is cancelled, and the next call deletes the item and starts again.
func (c *Client) awaitUpload(ctx context.Context, key string) error {
	c.mu.Lock()
	up := c.uploads[key]
	c.mu.Unlock()
	if up == nil {
		return nil
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		p, _ := strconv.ParseFloat(up.task.GetUploadProgress(), 64)
		switch {
		case p >= 100:
			c.endUpload(key)
			c.remember(key, *up.task.Task)
			return nil
		case p > up.progress:
			up.progress, up.moved = p, time.Now()
		case time.Since(up.moved) > c.cfg.Timeout:
			c.endUpload(key)
			c.cfg.Logger.Warn("an upload stopped; cancelling it", "key", key, "progress", p)
			if up.task.Task != nil && up.task.Task.Task != nil && up.task.Task.Task.HREF != "" {
				href := up.task.Task.Task.HREF
				_, _ = call(ctx, c, func(vc *govcd.VCDClient) (*http.Response, error) {
					return vc.Client.ExecuteRequest(href+"/action/cancel", http.MethodPost, "", "cancel task: %s", nil, nil)
				})
			}
			return executors.Retryable("", "", fmt.Errorf("the upload of %s stopped at %.0f%%", key, p))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (c *Client) endUpload(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.uploads, key)
}

// PowerOff implements executors.VCD: the guest shut down through VMware Tools, so that
// what it last wrote is on disk when the VM is captured, else (no tools, or a shutdown VCD
// failed) powered off; either undeploys the VM, as a capture needs.
func (c *Client) PowerOff(ctx context.Context, ref executors.VMRef) (executors.Status, error) {
	key := "vm:" + ref.VApp.ClusterID + ":" + ref.Name
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	running, shutdownErr := c.pending(ctx, key+":shutdown")
	if running {
		return executors.Status{}, nil
	}
	vm, err := c.vmOf(ctx, ref)
	if err != nil {
		return executors.Status{}, err
	}
	if vm == nil {
		return executors.Status{}, executors.Terminal(events.CodeInternal, fmt.Sprintf("VM %q is gone", ref.Name), "", "")
	}
	switch {
	case busy(vm.VM.Tasks):
		return executors.Status{ID: vm.VM.ID}, nil
	case vm.VM.Status == 8 && !vm.VM.Deployed: // POWERED_OFF
		return executors.Status{ID: vm.VM.ID, Done: true}, nil
	case vm.VM.Status == 4 && shutdownErr == nil: // POWERED_ON
		task, err := vm.Shutdown()
		if err != nil {
			c.cfg.Logger.Info("VCD refused to shut the guest down; powering off", "vm", ref.Name, "err", err)
			break
		}
		c.remember(key+":shutdown", task)
		return executors.Status{ID: vm.VM.ID}, nil
	}
	if shutdownErr != nil {
		c.cfg.Logger.Info("the guest did not shut down; powering off", "vm", ref.Name, "err", shutdownErr)
	}
	task, err := vm.Undeploy() // powerOff
	if err != nil {
		return executors.Status{ID: vm.VM.ID}, classify(err)
	}
	c.remember(key, task)
	return executors.Status{ID: vm.VM.ID}, nil
}

// CaptureVApp implements executors.VCD: the vApp captured (CaptureVappTemplateAsync) as
// the item, marked as the owner's from the start, then its metadata completed. An item of
// that name the owner made is the earlier capture; one that failed is deleted and captured
// again.
func (c *Client) CaptureVApp(ctx context.Context, spec executors.CaptureSpec) (executors.Status, error) {
	key := "capture:" + spec.VApp.Org + "/" + spec.Item
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	cat, err := c.catalog(ctx, spec.VApp.Org, spec.VApp.OrgID)
	if err != nil {
		return executors.Status{}, err
	}
	it, err := findItem(cat, spec.Item)
	if err != nil {
		return executors.Status{}, err
	}
	if it == nil {
		vapp, err := c.vapp(ctx, spec.VApp)
		if err != nil {
			return executors.Status{}, err
		}
		if busy(vapp.VApp.Tasks) {
			return executors.Status{}, nil
		}
		task, err := cat.CaptureVappTemplateAsync(&types.CaptureVAppParams{
			Name: spec.Item, Description: ownerMark(spec.Description, spec.Owner),
			Source: &types.Reference{HREF: vapp.VApp.HREF},
			// Clusters' VMs get their own names and identity from guest customization.
			CustomizationSection: types.CaptureVAppParamsCustomizationSection{Info: "CustomizeOnInstantiate Settings", CustomizeOnInstantiate: true},
		})
		if err != nil {
			return executors.Status{}, classify(err)
		}
		c.remember(key, task)
		return executors.Status{}, nil
	}
	if owner := it.owner(); owner != spec.Owner {
		return executors.Status{}, executors.Terminal(events.CodeTemplateExists,
			fmt.Sprintf("catalog item %q already exists in catalog %q and is not this build's", spec.Item, c.cfg.Catalog), "DUPLICATE_NAME", "")
	}
	id := it.item.CatalogItem.ID
	switch {
	case busy(it.tmpl.Tasks):
		return executors.Status{ID: id}, nil
	case !it.ready():
		c.cfg.Logger.Info("deleting a failed capture to capture again", "item", spec.Item, "status", it.tmpl.Status)
		return executors.Status{}, c.deleteItem(ctx, key, it)
	}
	want := maps.Clone(spec.Metadata)
	if want == nil {
		want = map[string]string{}
	}
	want[executors.MetaBuildID] = spec.Owner
	done, err := c.ensureMetadata(key, it.item.GetMetadata, it.item.MergeMetadataWithMetadataValuesAsync, want)
	return executors.Status{ID: id, Done: done}, err
}

func templateKey(org string, ref events.TemplateRef) string {
	return "template:" + org + "/" + events.TemplateItemName(ref.Name, ref.Revision)
}

// SetTemplateMetadata implements executors.VCD.
func (c *Client) SetTemplateMetadata(ctx context.Context, org string, ref events.TemplateRef, metadata map[string]string) (executors.Status, error) {
	key := templateKey(org, ref)
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	cat, err := c.catalog(ctx, org, "")
	if err != nil {
		return executors.Status{}, err
	}
	it, why, err := findTemplate(cat, ref)
	if err != nil {
		return executors.Status{}, err
	}
	if it == nil {
		return executors.Status{}, executors.Terminal(events.CodeTemplateNotFound, why, "", "")
	}
	done, err := c.ensureMetadata(key, it.item.GetMetadata, it.item.MergeMetadataWithMetadataValuesAsync, metadata)
	return executors.Status{ID: it.item.CatalogItem.ID, Done: done}, err
}

// DeleteTemplate implements executors.VCD: the revision's item as ResolveTemplate finds it,
// or the item kaas made for it (<name>_rev<N>, its owner the revision's aggregate) before
// its metadata was written. What runs on the item's vApp template is cancelled first.
func (c *Client) DeleteTemplate(ctx context.Context, org string, ref events.TemplateRef) (executors.Status, error) {
	key := deleteKey(templateKey(org, ref))
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	cat, err := c.catalog(ctx, org, "")
	if err != nil {
		return executors.Status{}, err
	}
	it, _, err := findTemplate(cat, ref)
	if err != nil {
		return executors.Status{}, err
	}
	if it == nil {
		it, err = findItem(cat, events.TemplateItemName(ref.Name, ref.Revision))
		if err != nil {
			return executors.Status{}, err
		}
		if it != nil && it.owner() != events.TemplateID(ref.Name, ref.Revision) {
			it = nil
		}
	}
	if it == nil {
		return executors.Status{Done: true}, nil
	}
	id := it.item.CatalogItem.ID
	if busy(it.tmpl.Tasks) {
		if it.owner() == events.TemplateID(ref.Name, ref.Revision) {
			return executors.Status{ID: id}, c.cancelTasks(ctx, it)
		}
		return executors.Status{ID: id}, nil
	}
	return executors.Status{ID: id}, c.deleteItem(ctx, key, it)
}

// deleteOwnItem deletes the catalog item name if owner made it and, with unfinished, only
// if VCD never finished it: what a failed build or import leaves behind. An item that is
// not there, another's, or (with unfinished) complete is left alone, and the call is done.
// What still runs on the item is cancelled first.
func (c *Client) deleteOwnItem(ctx context.Context, org, name, owner string, unfinished bool) (executors.Status, error) {
	key := deleteKey("item:" + org + "/" + name)
	if running, err := c.pending(ctx, key); running || err != nil {
		return executors.Status{}, err
	}
	cat, err := c.catalog(ctx, org, "")
	if err != nil {
		return executors.Status{}, err
	}
	it, err := findItem(cat, name)
	if err != nil {
		return executors.Status{}, err
	}
	if it == nil || owner == "" || it.owner() != owner || (unfinished && it.tmpl.Status == vAppTemplateResolved) {
		return executors.Status{Done: true}, nil
	}
	c.endUpload("image:" + org + "/" + name) // no longer waited for: its task is cancelled
	id := it.item.CatalogItem.ID
	if busy(it.tmpl.Tasks) {
		return executors.Status{ID: id}, c.cancelTasks(ctx, it)
	}
	return executors.Status{ID: id}, c.deleteItem(ctx, key, it)
}
