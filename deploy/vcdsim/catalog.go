package vcdsim

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim/guest"
)

// The catalog: items, each a vApp template of one VM. Configured templates are there from
// the start; uploads (govcd's UploadOvf, through transfer links, or UploadOvfByLink, from
// the simulated internet) and captures of vApps add others. An item exists from the
// moment its upload or capture starts; its vApp template is ready (status 8) once VCD's
// import or capture task succeeded, failed (-1) when it ended in error, and unresolved (0)
// until then.

const (
	mimeCatalogItem  = "application/vnd.vmware.vcloud.catalogItem+xml"
	mimeVAppTemplate = "application/vnd.vmware.vcloud.vAppTemplate+xml"
	mimeCatalog      = "application/vnd.vmware.vcloud.catalog+xml"
	mimeUploadParams = "application/vnd.vmware.vcloud.uploadVAppTemplateParams+xml"
	mimeCaptureVApp  = "application/vnd.vmware.vcloud.captureVAppParams+xml"
)

// template is a catalog item and its vApp template.
type template struct {
	cfg                  TemplateConfig // the configuration of a configured template, else zero
	name, description    string
	itemID, tmplID, vmID string
	vmName               string
	created              time.Time
	// itemMeta is the catalog item's metadata (kaas.template.* on a template), tmplMeta the
	// vApp template's.
	itemMeta, tmplMeta map[string]string
	// cpu and memoryMB are its VM's hardware, 0 for the simulator's default; disk is what
	// its VM holds, which a VM made from it starts with.
	cpu, memoryMB int
	disk          disk
	// task makes it (import or capture); nil for a configured one.
	task   *task
	upload *upload // an upload through transfer links, until its files are all in
}

// disk is what a VM's disk holds, as the guest behind it sees it: the OS it boots and what
// is installed. A VM starts with its template's; a template build installs on it; a
// capture copies it into the new template.
type disk struct {
	osType, product string
	// configured: a configured template's disk, whose guest bootstraps with the configured
	// Kubernetes version and fault.
	configured bool
	// cloudInit: cloud-init and VMware Tools run, so the guest reads its user data from
	// guestinfo and reports. A disk without them is silent.
	cloudInit bool
	installed guest.Installed
	failAt    string
}

// upload is a transfer session of govcd's UploadOvf: the descriptor first, then the files
// it names.
type upload struct {
	id    string
	files []*transferFile // descriptor.ovf first
	ovf   *ovfInfo        // once the descriptor is in
	// delay is how long VCD's import takes once the last byte arrived; last is when bytes
	// last arrived.
	delay time.Duration
	last  time.Time
}

type transferFile struct {
	name     string
	size     int64 // -1 while unknown
	received int64
}

func (f *transferFile) complete() bool { return f.size >= 0 && f.received >= f.size }

// farFuture ends a task that waits for a client (an upload's bytes).
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// minDownload is the least a by-URL import takes: govcd reads the new item's task right
// after creating it, and must find it running.
const minDownload = 200 * time.Millisecond

const descriptorFile = "descriptor.ovf"

// status is the vApp template's: 0 while its import or capture runs, 8 once it succeeded,
// -1 when it failed or was cancelled.
func (t *template) status(now time.Time) int {
	if t.task == nil {
		return 8
	}
	switch t.task.status(now) {
	case "success":
		return 8
	case "error", "canceled", "aborted":
		return -1
	}
	return 0
}

// configuredTemplate is a template of the configuration, its metadata what it says.
func configuredTemplate(tc TemplateConfig) *template {
	k := tc.Name + "/" + strconv.Itoa(tc.Revision)
	return &template{cfg: tc, name: tc.Name, itemID: stableID("catalogitem", k), tmplID: stableID("vapptemplate", k),
		vmID: stableID("templatevm", k), vmName: "template-vm", cpu: tc.CPU, memoryMB: tc.MemoryMB, tmplMeta: map[string]string{},
		itemMeta: map[string]string{
			"kaas.template.kubernetes_version": tc.KubernetesVersion, "kaas.template.os": tc.OS,
			"kaas.template.cni": tc.CNI, "kaas.template.cni_version": tc.CNIVersion,
			"kaas.template.revision": strconv.Itoa(tc.Revision), "kaas.template.deprecated": strconv.FormatBool(tc.Deprecated),
		},
		disk: disk{configured: true, cloudInit: true, installed: guest.Installed{OS: tc.OS, Kubernetes: tc.KubernetesVersion, CNI: tc.CNI, CNIVersion: tc.CNIVersion},
			failAt: tc.FailAt}}
}

// items are the catalog's templates, each settled first: an upload that stalled longer
// than the upload timeout fails, as VCD's transfer session expires.
func (s *Server) items() []*template {
	now := time.Now()
	timeout := s.cfg.UploadTimeout.D()
	if timeout <= 0 {
		timeout = DefaultUploadTimeout
	}
	for _, t := range s.catalog.templates {
		if u := t.upload; u != nil && t.task.end.Equal(farFuture) && t.task.state == "" && now.Sub(u.last) > timeout {
			t.task.end = u.last.Add(timeout)
			t.task.fail = &types.Error{MajorErrorCode: 500, MinorErrorCode: "INTERNAL_SERVER_ERROR",
				Message: fmt.Sprintf("The upload of vApp template %q timed out: no data was received for %s.", t.name, timeout)}
			t.upload = nil
		}
	}
	return s.catalog.templates
}

func (s *Server) templateBy(pred func(*template) bool) *template {
	for _, t := range s.items() {
		if pred(t) {
			return t
		}
	}
	return nil
}

func (s *Server) removeTemplate(t *template) {
	s.catalog.templates = slices.DeleteFunc(s.catalog.templates, func(x *template) bool { return x == t })
}

func (s *Server) itemHREF(t *template) string { return s.href("catalogItem/" + t.itemID) }
func (s *Server) tmplHREF(t *template) string { return s.href("vAppTemplate/vappTemplate-" + t.tmplID) }

// catalogRoute serves /api/catalog/{id}[/action/upload|captureVApp] and the admin view.
func (s *Server) catalogRoute(w http.ResponseWriter, r *http.Request, sess *session, id string, rest []string) *vcdError {
	if id != s.catalog.id {
		return forbidden("Catalog", id)
	}
	path := strings.Join(rest, "/")
	switch {
	case path == "" && r.Method == http.MethodGet:
		return s.catalogGet(w)
	case path == "action/upload" && r.Method == http.MethodPost:
		if !sess.org.system() {
			return forbidden("Catalog", id)
		}
		return s.uploadItem(w, r, sess)
	case path == "action/captureVApp" && r.Method == http.MethodPost:
		if !sess.org.system() {
			return forbidden("Catalog", id)
		}
		return s.capture(w, r, sess)
	}
	return errf(404, "RESOURCE_NOT_FOUND", "%s %s is not simulated", r.Method, r.URL.Path)
}

func (s *Server) catalogGet(w http.ResponseWriter) *vcdError {
	items := &types.CatalogItems{}
	for _, t := range s.items() {
		items.CatalogItem = append(items.CatalogItem, &types.Reference{HREF: s.itemHREF(t), ID: t.itemID, Name: t.name, Type: mimeCatalogItem})
	}
	href := s.href("catalog/" + s.catalog.id)
	out := &types.Catalog{HREF: href, ID: "urn:vcloud:catalog:" + s.catalog.id, Name: s.catalog.name,
		Type: mimeCatalog, IsPublished: true, CatalogItems: []*types.CatalogItems{items},
		Link: types.LinkList{
			{Rel: "add", HREF: href + "/catalogItems", Type: mimeCatalogItem},
			{Rel: "add", HREF: href + "/action/upload", Type: mimeUploadParams},
			{Rel: "add", HREF: href + "/action/captureVApp", Type: mimeCaptureVApp},
		}}
	writeXML(w, 200, mimeCatalog, "Catalog", out)
	return nil
}

// duplicateItem is VCD's refusal of a second item of a name in a catalog.
func (s *Server) duplicateItem(name string) *vcdError {
	if slices.ContainsFunc(s.items(), func(t *template) bool { return strings.EqualFold(t.name, name) }) {
		return errf(http.StatusBadRequest, "DUPLICATE_NAME", "An object of type catalog item named %s already exists in catalog %s.", name, s.catalog.name)
	}
	return nil
}

var itemNameRE = regexp.MustCompile(`^[^/\\]{1,128}$`)

// uploadItem serves POST …/catalog/{id}/action/upload (UploadVAppTemplateParams): a new
// item whose vApp template waits for its descriptor through a transfer link, or, with a
// sourceHref, is downloaded by VCD from there. 201 with the catalog item.
func (s *Server) uploadItem(w http.ResponseWriter, r *http.Request, sess *session) *vcdError {
	var in struct {
		Name        string `xml:"name,attr"`
		SourceHREF  string `xml:"sourceHref,attr"`
		Description string `xml:"Description"`
	}
	if err := readXML(r, &in); err != nil {
		return err
	}
	if !itemNameRE.MatchString(in.Name) {
		return errf(400, "BAD_REQUEST", "The name %q is not a valid catalog item name.", in.Name)
	}
	if err := s.duplicateItem(in.Name); err != nil {
		return err
	}
	now := time.Now()
	t := &template{name: in.Name, description: in.Description, itemID: uuid.NewString(), tmplID: uuid.NewString(), vmID: uuid.NewString(),
		created: now, itemMeta: map[string]string{}, tmplMeta: map[string]string{}}
	t.task = s.newTask(subject{caller: sess, class: "upload"}, "vdcUploadOvfContents", "Importing vApp template "+in.Name,
		s.tmplHREF(t), in.Name, mimeVAppTemplate)
	if in.SourceHREF != "" {
		s.download(t, in.SourceHREF)
	} else {
		t.upload = &upload{id: uuid.NewString(), files: []*transferFile{{name: descriptorFile, size: -1}}, delay: t.task.end.Sub(t.task.start), last: now}
		t.task.end = farFuture
	}
	s.catalog.templates = append(s.catalog.templates, t)
	writeXML(w, http.StatusCreated, mimeCatalogItem, "CatalogItem", s.itemXML(t))
	return nil
}

// download is VCD's import from a URL: the simulated internet has the OVA or answers 404.
func (s *Server) download(t *template, url string) {
	t.task.end = t.task.start.Add(max(t.task.end.Sub(t.task.start), minDownload))
	downloads := s.cfg.Downloads
	if len(downloads) == 0 {
		downloads = DefaultDownloads()
	}
	fail := func(msg string) {
		if t.task.fail == nil {
			t.task.fail = &types.Error{MajorErrorCode: 400, MinorErrorCode: "BAD_REQUEST", Message: msg}
		}
	}
	i := slices.IndexFunc(downloads, func(d DownloadConfig) bool { return d.URL == url })
	if i < 0 {
		fail(fmt.Sprintf("Unable to download the OVF package from %s: the server answered 404 Not Found.", url))
		return
	}
	var b bytes.Buffer
	if err := WriteOVA(&b, downloads[i].Image); err != nil {
		fail(fmt.Sprintf("Unable to download the OVF package from %s: %v", url, err))
		return
	}
	ovf, _, err := readOVA(b.Bytes())
	if err == nil {
		var info *ovfInfo
		if info, err = parseOVF(ovf); err == nil {
			s.imported(t, info)
			return
		}
	}
	fail(fmt.Sprintf("The OVF package at %s is invalid: %v", url, err))
}

// imported gives a template what its descriptor says of its VM.
func (s *Server) imported(t *template, info *ovfInfo) {
	t.vmName, t.cpu, t.memoryMB = info.vmName, info.cpu, info.memoryMB
	_, userData := info.properties["user-data"]
	t.disk = disk{osType: info.osType, product: info.product, cloudInit: userData || info.installed["kubernetes"] != "",
		installed: guest.Installed{Kubernetes: info.installed["kubernetes"], Containerd: info.installed["containerd"],
			CNI: info.installed["cni"], CNIVersion: info.installed["cni_version"]}}
}

// transfer serves PUT /transfer/{session}/{file}: the descriptor, then the files it names,
// in pieces (Content-Range) as govcd sends them.
func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	sess := s.auth(r)
	if sess == nil {
		writeError(w, errf(http.StatusUnauthorized, "UNAUTHORIZED", "This operation is denied: no valid session."))
		return
	}
	if r.Method != http.MethodPut {
		writeError(w, errf(405, "METHOD_NOT_ALLOWED", "%s not allowed on a transfer link", r.Method))
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/transfer/"), "/")
	if len(parts) != 2 {
		writeError(w, errf(404, "RESOURCE_NOT_FOUND", "%s not found", r.URL.Path))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeError(w, errf(400, "BAD_REQUEST", "read body: %v", err))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.templateBy(func(t *template) bool { return t.upload != nil && t.upload.id == parts[0] })
	if t == nil {
		writeError(w, errf(404, "RESOURCE_NOT_FOUND", "no transfer session %s", parts[0]))
		return
	}
	if e := s.receive(t, parts[1], r.Header.Get("Content-Range"), body); e != nil {
		writeError(w, e)
		return
	}
	w.WriteHeader(http.StatusOK)
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

func (s *Server) receive(t *template, name, contentRange string, body []byte) *vcdError {
	u := t.upload
	now := time.Now()
	i := slices.IndexFunc(u.files, func(f *transferFile) bool { return f.name == name })
	if i < 0 {
		return errf(404, "RESOURCE_NOT_FOUND", "file %q is not part of this upload", name)
	}
	f := u.files[i]
	if f.complete() {
		return errf(400, "BAD_REQUEST", "file %q was uploaded already", name)
	}
	u.last = now
	if name == descriptorFile {
		info, err := parseOVF(body)
		if err != nil {
			// VCD refuses the descriptor and fails the import with its reason.
			t.task.fail = &types.Error{MajorErrorCode: 400, MinorErrorCode: "BAD_REQUEST", Message: err.Error()}
			t.task.end, t.upload = now, nil
			return errf(400, "BAD_REQUEST", "%s", err.Error())
		}
		if len(info.files) == 0 {
			t.task.fail = &types.Error{MajorErrorCode: 400, MinorErrorCode: "BAD_REQUEST", Message: "The OVF descriptor names no disk file."}
			t.task.end, t.upload = now, nil
			return errf(400, "BAD_REQUEST", "The OVF descriptor names no disk file.")
		}
		f.size, f.received, u.ovf = int64(len(body)), int64(len(body)), info
		for _, ref := range info.files {
			u.files = append(u.files, &transferFile{name: ref.href, size: ref.size})
		}
		return nil
	}
	start := f.received
	if m := contentRangeRE.FindStringSubmatch(contentRange); m != nil {
		a, _ := strconv.ParseInt(m[1], 10, 64)
		b, _ := strconv.ParseInt(m[2], 10, 64)
		total, _ := strconv.ParseInt(m[3], 10, 64)
		if b-a+1 != int64(len(body)) || (f.size >= 0 && total != f.size) {
			return errf(400, "BAD_REQUEST", "Content-Range %q does not match the %d bytes sent of file %q (%d bytes)", contentRange, len(body), name, f.size)
		}
		start = a
		if f.size < 0 {
			f.size = total
		}
	} else if contentRange != "" {
		return errf(400, "BAD_REQUEST", "invalid Content-Range %q", contentRange)
	}
	if start != f.received {
		return errf(http.StatusRequestedRangeNotSatisfiable, "BAD_REQUEST", "file %q: expected bytes from %d, got from %d", name, f.received, start)
	}
	if f.size >= 0 && f.received+int64(len(body)) > f.size {
		return errf(400, "BAD_REQUEST", "file %q: more than its %d bytes", name, f.size)
	}
	f.received += int64(len(body))
	if contentRange == "" && f.size < 0 {
		f.size = f.received // a whole file in one PUT
	}
	if !slices.ContainsFunc(u.files, func(f *transferFile) bool { return !f.complete() }) {
		// Every byte is in: VCD imports it.
		s.imported(t, u.ovf)
		t.task.end, t.upload = now.Add(u.delay), nil
	}
	return nil
}

// itemXML is a catalog item.
func (s *Server) itemXML(t *template) *types.CatalogItem {
	return &types.CatalogItem{HREF: s.itemHREF(t), ID: "urn:vcloud:catalogitem:" + t.itemID, Name: t.name, Type: mimeCatalogItem,
		Description: t.description, DateCreated: dateOf(t.created),
		Entity: &types.Entity{HREF: s.tmplHREF(t), ID: "urn:vcloud:vapptemplate:" + t.tmplID, Name: t.name, Type: mimeVAppTemplate},
		Link: types.LinkList{{Rel: "up", HREF: s.href("catalog/" + s.catalog.id), Type: mimeCatalog},
			{Rel: "down", HREF: s.itemHREF(t) + "/metadata", Type: types.MimeMetaData}}}
}

func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// itemRoute serves /api/catalogItem/{id}[/metadata…]: read by all, written by providers.
func (s *Server) itemRoute(w http.ResponseWriter, r *http.Request, sess *session, id string, rest []string) *vcdError {
	t := s.templateBy(func(t *template) bool { return t.itemID == id })
	if t == nil {
		return forbidden("CatalogItem", id)
	}
	if r.Method != http.MethodGet && !sess.org.system() {
		return forbidden("CatalogItem", id)
	}
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		writeXML(w, 200, mimeCatalogItem, "CatalogItem", s.itemXML(t))
	case len(rest) == 0 && r.Method == http.MethodDelete:
		if err := s.deletable(t); err != nil {
			return err
		}
		s.removeTemplate(t)
		w.WriteHeader(http.StatusNoContent)
	case rest[0] == "metadata":
		return s.metadataRoute(w, r, subject{caller: sess, class: "metadata"}, s.itemHREF(t), t.name, mimeCatalogItem, t.itemMeta, rest, func(*task) {})
	default:
		return errf(404, "RESOURCE_NOT_FOUND", "%s %s is not simulated", r.Method, r.URL.Path)
	}
	return nil
}

// deletable is VCD's refusal to delete a template while its import or capture runs.
func (s *Server) deletable(t *template) *vcdError {
	if t.status(time.Now()) == 0 {
		return busyErr(t.name)
	}
	return nil
}

// templateRoute serves /api/vAppTemplate/vappTemplate-{id}[/metadata…] and
// /api/vAppTemplate/vm-{id}.
func (s *Server) templateRoute(w http.ResponseWriter, r *http.Request, sess *session, id string, rest []string) *vcdError {
	if vmID, ok := strings.CutPrefix(id, "vm-"); ok {
		t := s.templateBy(func(t *template) bool { return t.vmID == vmID })
		if t == nil || r.Method != http.MethodGet || len(rest) > 0 {
			return forbidden("VM", id)
		}
		writeXML(w, 200, mimeVM, "Vm", s.templateVMXML(t))
		return nil
	}
	t := s.templateBy(func(t *template) bool { return "vappTemplate-"+t.tmplID == id })
	if t == nil {
		return forbidden("VAppTemplate", id)
	}
	if r.Method != http.MethodGet && !sess.org.system() {
		return forbidden("VAppTemplate", id)
	}
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		writeXML(w, 200, mimeVAppTemplate, "VAppTemplate", s.templateXML(t))
	case len(rest) == 0 && r.Method == http.MethodDelete:
		if err := s.deletable(t); err != nil {
			return err
		}
		tk := s.newTask(subject{caller: sess, class: "delete"}, "vdcDeleteTemplate", "Deleting vApp template "+t.name, s.tmplHREF(t), t.name, mimeVAppTemplate)
		if tk.fail == nil {
			s.removeTemplate(t) // its catalog item goes with it
		}
		s.writeTask(w, tk)
	case rest[0] == "metadata":
		return s.metadataRoute(w, r, subject{caller: sess, class: "metadata"}, s.tmplHREF(t), t.name, mimeVAppTemplate, t.tmplMeta, rest, func(*task) {})
	default:
		return errf(404, "RESOURCE_NOT_FOUND", "%s %s is not simulated", r.Method, r.URL.Path)
	}
	return nil
}

func (s *Server) templateVMXML(t *template) *types.VAppTemplate {
	return &types.VAppTemplate{HREF: s.href("vAppTemplate/vm-" + t.vmID), ID: "urn:vcloud:vm:" + t.vmID, Name: t.vmName, Status: 8, Type: mimeVM,
		Link: types.LinkList{{Rel: "up", HREF: s.tmplHREF(t), Type: mimeVAppTemplate}}}
}

// templateXML is a vApp template as VCD shows it: its import or capture task while it
// runs (and once it failed), its transfer files during an upload, its VM once it is ready.
func (s *Server) templateXML(t *template) *types.VAppTemplate {
	now := time.Now()
	st := t.status(now)
	out := &types.VAppTemplate{HREF: s.tmplHREF(t), ID: "urn:vcloud:vapptemplate:" + t.tmplID, Name: t.name, Status: st, Type: mimeVAppTemplate,
		Description: t.description, DateCreated: dateOf(t.created), OvfDescriptorUploaded: "true",
		Link: types.LinkList{{Rel: "catalogItem", HREF: s.itemHREF(t), Type: mimeCatalogItem},
			{Rel: "down", HREF: s.tmplHREF(t) + "/metadata", Type: types.MimeMetaData}}}
	if t.task != nil && st != 8 {
		out.Tasks = &types.TasksInProgress{Task: []*types.Task{s.taskXML(t.task)}}
	}
	if u := t.upload; u != nil {
		if u.ovf == nil {
			out.OvfDescriptorUploaded = "false"
		}
		out.Files = &types.FilesList{}
		for _, f := range u.files {
			out.Files.File = append(out.Files.File, &types.File{Name: f.name, Size: f.size, BytesTransferred: f.received,
				HREF: s.base + "/transfer/" + u.id + "/" + f.name,
				Link: types.LinkList{{Rel: "upload:default", HREF: s.base + "/transfer/" + u.id + "/" + f.name}}})
		}
	}
	if st == 8 {
		out.Children = &types.VAppTemplateChildren{VM: []*types.VAppTemplate{s.templateVMXML(t)}}
	}
	return out
}

// capture serves POST …/catalog/{id}/action/captureVApp (CaptureVAppParams): a powered-off
// vApp of one VM becomes a vApp template in a new catalog item, with what its VM's disk
// holds; 202 with the capture task, owned by the new template.
func (s *Server) capture(w http.ResponseWriter, r *http.Request, sess *session) *vcdError {
	var in types.CaptureVAppParams
	if err := readXML(r, &in); err != nil {
		return err
	}
	if in.Source == nil || in.Source.HREF == "" {
		return errf(400, "BAD_REQUEST", "CaptureVAppParams needs a Source")
	}
	_, id, _ := strings.Cut(in.Source.HREF, "/vApp/vapp-")
	a, err := s.vappOf(sess, id)
	if err != nil {
		return err
	}
	if in.TargetCatalogItem != nil {
		return errf(400, "BAD_REQUEST", "the simulator does not overwrite catalog items (TargetCatalogItem)")
	}
	if !itemNameRE.MatchString(in.Name) {
		return errf(400, "BAD_REQUEST", "The name %q is not a valid catalog item name.", in.Name)
	}
	if s.busyVApp(a) {
		return busyErr(a.name)
	}
	now := time.Now()
	if a.deployed(now) {
		return errf(400, "BAD_REQUEST", "The requested operation could not be executed since vApp %q is running. Stop the vApp and try again.", a.name)
	}
	if len(a.vms) != 1 {
		return errf(400, "BAD_REQUEST", "vApp %q has %d VMs: the simulator captures vApps of one VM", a.name, len(a.vms))
	}
	if err := s.duplicateItem(in.Name); err != nil {
		return err
	}
	m := a.vms[0]
	t := &template{name: in.Name, description: in.Description, itemID: uuid.NewString(), tmplID: uuid.NewString(), vmID: uuid.NewString(),
		created: now, itemMeta: map[string]string{}, tmplMeta: map[string]string{}, vmName: m.name, cpu: m.cpu, memoryMB: m.memoryMB,
		disk: m.disk}
	t.disk.installed.Scripts = slices.Clone(t.disk.installed.Scripts)
	t.task = s.newTask(subject{caller: sess, class: "capture", vapp: a}, "vdcCaptureTemplate", "Capturing vApp "+a.name+" as "+in.Name,
		s.tmplHREF(t), in.Name, mimeVAppTemplate)
	a.busyTask, a.busyUntil = t.task, t.task.end
	s.catalog.templates = append(s.catalog.templates, t)
	s.writeTask(w, t.task)
	return nil
}

// cancelTask serves POST /api/task/{id}/action/cancel for the one task VCD lets govcd
// cancel here: an upload's import, which takes its catalog item with it.
func (s *Server) cancelTask(w http.ResponseWriter, sess *session, tk *task) *vcdError {
	t := s.templateBy(func(t *template) bool { return t.task == tk })
	if t == nil || !sess.org.system() {
		return errf(400, "BAD_REQUEST", "The task %s cannot be canceled.", tk.id)
	}
	if st := tk.status(time.Now()); slices.Contains(taskFinished, st) {
		return errf(400, "BAD_REQUEST", "Task %s has already completed (%s) and cannot be canceled.", tk.id, st)
	}
	tk.state, tk.end, t.upload = "canceled", time.Now(), nil
	s.removeTemplate(t)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
