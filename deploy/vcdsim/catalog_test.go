package vcdsim_test

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"sigs.k8s.io/yaml"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

const (
	jammyURL   = "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"
	jammyVM    = "ubuntu-jammy-22.04-cloudimg"
	antreaURL  = "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"
	fastPoll   = 20 * time.Millisecond
	buildSteps = "prepare containerd kubernetes images cni script:motd cleanup"
)

// providerCatalog logs the provider in and returns the template catalog.
func providerCatalog(t *testing.T, base string) (*govcd.VCDClient, *govcd.Catalog) {
	t.Helper()
	vc := client(t, base, "administrator", "kaas-admin", "System")
	org, err := vc.GetOrgByName("System")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := org.GetCatalogByName("kaas-templates", false)
	if err != nil {
		t.Fatal(err)
	}
	return vc, cat
}

func writeOVA(t *testing.T, img vcdsim.BaseImage) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.ova")
	var b bytes.Buffer
	if err := vcdsim.WriteOVA(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func wait(t *testing.T, task govcd.Task) error {
	t.Helper()
	return task.WaitInspectTaskCompletion(nil, fastPoll)
}

func item(t *testing.T, cat *govcd.Catalog, name string) (*govcd.CatalogItem, *govcd.VAppTemplate) {
	t.Helper()
	it, err := cat.GetCatalogItemByName(name, true)
	if err != nil {
		t.Fatalf("catalog item %s: %v", name, err)
	}
	tmpl, err := it.GetVAppTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return it, &tmpl
}

func metadata(t *testing.T, get func() (*types.Metadata, error)) map[string]string {
	t.Helper()
	md, err := get()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range md.MetadataEntry {
		out[e.Key] = e.TypedValue.Value
	}
	return out
}

// An OVA file goes into the catalog as govcd uploads it: the item exists at once, its vApp
// template is ready (8) only once every piece is in and VCD's import is over.
func TestUploadOvf(t *testing.T) {
	t.Parallel()
	sim, base := start(t)
	// The import takes a second after the last byte: long enough to see it run.
	sim.AddTargeted(vcdsim.Targeted{Op: "upload", Delay: vcdsim.Duration(time.Second), Count: 1})
	vc, cat := providerCatalog(t, base)
	ova := writeOVA(t, vcdsim.BaseImage{OS: "ubuntu-22.04"})

	// Pieces of 16 KiB: the 64 KiB disk goes in four PUTs.
	task, err := cat.UploadOvf(ova, "ubuntu-22.04-server-cloudimg-amd64", "Ubuntu 22.04 cloud image", 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	it, tmpl := item(t, cat, "ubuntu-22.04-server-cloudimg-amd64")
	if tmpl.VAppTemplate.Status == 8 || tmpl.VAppTemplate.Children != nil {
		t.Fatalf("the template is ready before its import ended: status %d", tmpl.VAppTemplate.Status)
	}
	if err := wait(t, *task.Task); err != nil {
		t.Fatal(err)
	}
	if p := task.GetUploadProgress(); p != "100.00" {
		t.Fatalf("upload progress %s", p)
	}
	_, tmpl = item(t, cat, "ubuntu-22.04-server-cloudimg-amd64")
	if tmpl.VAppTemplate.Status != 8 || tmpl.VAppTemplate.Files != nil || tmpl.VAppTemplate.Children == nil ||
		tmpl.VAppTemplate.Children.VM[0].Name != jammyVM || tmpl.VAppTemplate.Description != "Ubuntu 22.04 cloud image" {
		t.Fatalf("imported template %+v", tmpl.VAppTemplate)
	}
	if it.CatalogItem.Description != "Ubuntu 22.04 cloud image" {
		t.Fatalf("item %+v", it.CatalogItem)
	}
	// The template is listed by the query kaas and govcd use.
	recs, err := vc.Client.QueryWithNotEncodedParams(nil, map[string]string{"type": "adminVAppTemplate", "filter": "name==ubuntu-22.04-server-cloudimg-amd64"})
	if err != nil || len(recs.Results.AdminVappTemplateRecord) != 1 || recs.Results.AdminVappTemplateRecord[0].Status != "RESOLVED" {
		t.Fatalf("template query: %+v %v", recs, err)
	}
	items, err := cat.QueryCatalogItemList()
	if err != nil || !slices.ContainsFunc(items, func(r *types.QueryResultCatalogItemType) bool {
		return r.Name == "ubuntu-22.04-server-cloudimg-amd64" && r.Status == "RESOLVED" && r.Entity == tmpl.VAppTemplate.HREF
	}) {
		t.Fatalf("catalog item query: %+v %v", items, err)
	}
	// A second item of the name is refused, by govcd and by VCD.
	if _, err := cat.UploadOvf(ova, "ubuntu-22.04-server-cloudimg-amd64", "", 0); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second upload of the name: %v", err)
	}
	var inv vcdsim.CatalogItemInfo
	for _, ci := range sim.Inventory().Catalog {
		if ci.Name == "ubuntu-22.04-server-cloudimg-amd64" {
			inv = ci
		}
	}
	if inv.Status != 8 || inv.VM != jammyVM || inv.Kubernetes != "" {
		t.Fatalf("inventory %+v", inv)
	}
}

// VCD downloads an OVA by URL from the simulated internet: a known URL imports Ubuntu's
// cloud image, an unknown one fails the import with the reason, leaving a failed item that
// can be deleted.
func TestUploadOvfByLink(t *testing.T) {
	t.Parallel()
	const tkg = "https://downloads.example.com/ubuntu-2204-kube-v1.30.4.ova"
	sim, base := start(t, func(c *vcdsim.Config) {
		c.Downloads = append(vcdsim.DefaultDownloads(), vcdsim.DownloadConfig{URL: tkg,
			Image: vcdsim.BaseImage{OS: "ubuntu-22.04", KubernetesVersion: "v1.30.4", ContainerdVersion: "1.7.20", CNI: "antrea", CNIVersion: "1.15.1"}})
	})
	_, cat := providerCatalog(t, base)
	task, err := cat.UploadOvfByLink(jammyURL, "jammy", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, task); err != nil {
		t.Fatal(err)
	}
	_, tmpl := item(t, cat, "jammy")
	if tmpl.VAppTemplate.Status != 8 || tmpl.VAppTemplate.Children.VM[0].Name != jammyVM {
		t.Fatalf("downloaded template %+v", tmpl.VAppTemplate)
	}

	// A ready-made template (as TKGm's) comes with Kubernetes installed.
	task, err = cat.UploadOvfByLink(tkg, "ubuntu-2204-kube-v1.30.4", "")
	if err != nil || wait(t, task) != nil {
		t.Fatalf("ready-made template: %v", err)
	}
	inv := sim.Inventory().Catalog
	if i := slices.IndexFunc(inv, func(ci vcdsim.CatalogItemInfo) bool { return ci.Name == "ubuntu-2204-kube-v1.30.4" }); i < 0 ||
		inv[i].Status != 8 || inv[i].Kubernetes != "v1.30.4" || inv[i].Containerd != "1.7.20" || inv[i].CNI != "antrea" {
		t.Fatalf("ready-made template in %+v", inv)
	}

	task, err = cat.UploadOvfByLink("https://example.com/nothing-here.ova", "nothing", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, task); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("an unknown URL: %v", err)
	}
	it, tmpl := item(t, cat, "nothing")
	if tmpl.VAppTemplate.Status != -1 || tmpl.VAppTemplate.Tasks == nil || tmpl.VAppTemplate.Tasks.Task[0].Status != "error" {
		t.Fatalf("failed template %+v", tmpl.VAppTemplate)
	}
	if err := it.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.GetCatalogItemByName("nothing", true); err == nil {
		t.Fatal("the failed item survived its deletion")
	}
}

// An upload that stops after its descriptor leaves an unresolved item: VCD refuses to
// delete it while the import waits (busy), cancelling its task removes it, and one left
// alone fails when the upload times out.
func TestInterruptedUpload(t *testing.T) {
	t.Parallel()
	_, base := start(t, func(c *vcdsim.Config) { c.UploadTimeout = vcdsim.Duration(time.Second) })
	vc, cat := providerCatalog(t, base)
	create := func(name string) {
		t.Helper()
		var created types.CatalogItem
		if _, err := vc.Client.ExecuteRequest(cat.Catalog.HREF+"/action/upload", http.MethodPost, "application/vnd.vmware.vcloud.uploadVAppTemplateParams+xml",
			"upload: %s", &uploadParams{Xmlns: types.XMLNamespaceVCloud, Name: name}, &created); err != nil {
			t.Fatal(err)
		}
	}
	create("cancelled")
	it, tmpl := item(t, cat, "cancelled")
	if tmpl.VAppTemplate.Status != 0 || tmpl.VAppTemplate.Files == nil || len(tmpl.VAppTemplate.Files.File) != 1 {
		t.Fatalf("template waiting for its descriptor %+v", tmpl.VAppTemplate)
	}
	if err := it.Delete(); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("deleting an item whose upload runs: %v", err)
	}
	task := govcd.NewTask(&vc.Client)
	task.Task = tmpl.VAppTemplate.Tasks.Task[0]
	if err := task.CancelTask(); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.GetCatalogItemByName("cancelled", true); err == nil {
		t.Fatal("a cancelled upload left its item")
	}
	if err := task.Refresh(); err != nil || task.Task.Status != "canceled" {
		t.Fatalf("cancelled task %s %v", task.Task.Status, err)
	}

	create("stalled")
	if _, tmpl = item(t, cat, "stalled"); tmpl.VAppTemplate.Status != 0 {
		t.Fatalf("template waiting for its descriptor %+v", tmpl.VAppTemplate)
	}
	// It waits until the upload timeout passes, then fails.
	eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if it, tmpl = item(t, cat, "stalled"); tmpl.VAppTemplate.Status == 0 {
			return fmt.Errorf("the stalled upload still waits: %+v", tmpl.VAppTemplate)
		}
		return nil
	})
	if tmpl.VAppTemplate.Status != -1 || !strings.Contains(tmpl.VAppTemplate.Tasks.Task[0].Error.Message, "timed out") {
		t.Fatalf("stalled template %+v", tmpl.VAppTemplate)
	}
	if err := it.Delete(); err != nil {
		t.Fatal(err)
	}
}

type uploadParams struct {
	XMLName     struct{} `xml:"UploadVAppTemplateParams"`
	Xmlns       string   `xml:"xmlns,attr"`
	Name        string   `xml:"name,attr"`
	Description string   `xml:"Description"`
}

var (
	anyUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	anyDate = regexp.MustCompile(`>\d{4}-\d\d-\d\dT[0-9:.]+Z<`)
)

// The wire of an upload: the item VCD answers with, the vApp template with its descriptor's
// transfer link, then with the files the descriptor names.
func TestUploadWireGolden(t *testing.T) {
	t.Parallel()
	_, base := start(t)
	vc, cat := providerCatalog(t, base)
	raw := func(method, href, ctype string, body []byte) []byte {
		t.Helper()
		req := vc.Client.NewRequest(nil, method, *mustURL(t, href), bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := vc.Client.Http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, href, resp.StatusCode, out.String())
		}
		return anyDate.ReplaceAll(anyUUID.ReplaceAll(out.Bytes(), []byte("UUID")), []byte(">DATE<"))
	}
	item := raw(http.MethodPost, cat.Catalog.HREF+"/action/upload", "application/vnd.vmware.vcloud.uploadVAppTemplateParams+xml",
		[]byte(`<UploadVAppTemplateParams xmlns="http://www.vmware.com/vcloud/v1.5" name="golden"><Description>d</Description></UploadVAppTemplateParams>`))
	goldenXML(t, "upload-item.golden.xml", base, item)
	_, tmpl := itemOf(t, cat, "golden")
	goldenXML(t, "upload-template-descriptor.golden.xml", base, raw(http.MethodGet, tmpl.HREF, "", nil))
	ovf := ovfOf(t, vcdsim.BaseImage{OS: "ubuntu-22.04"})
	raw(http.MethodPut, tmpl.Files.File[0].Link[0].HREF, "text/xml", ovf)
	goldenXML(t, "upload-template-files.golden.xml", base, raw(http.MethodGet, tmpl.HREF, "", nil))
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// untar reads a tar's members.
func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

func itemOf(t *testing.T, cat *govcd.Catalog, name string) (*govcd.CatalogItem, *types.VAppTemplate) {
	it, tmpl := item(t, cat, name)
	return it, tmpl.VAppTemplate
}

// ovfOf is the descriptor of the OVA WriteOVA makes.
func ovfOf(t *testing.T, img vcdsim.BaseImage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := vcdsim.WriteOVA(&b, img); err != nil {
		t.Fatal(err)
	}
	members := untar(t, b.Bytes())
	for name, data := range members {
		if strings.HasSuffix(name, ".ovf") {
			return data
		}
	}
	t.Fatal("no descriptor")
	return nil
}

// buildUserData is a template build's user data as the build's guest contract has it: the
// report script, build.env, the provider scripts and the build script, run by runcmd.
func buildUserData(t *testing.T, env [][2]string, scripts map[string]string) string {
	t.Helper()
	type file struct {
		Path        string `json:"path"`
		Permissions string `json:"permissions"`
		Content     string `json:"content"`
	}
	var envFile strings.Builder
	for _, kv := range env {
		envFile.WriteString(kv[0] + "='" + strings.ReplaceAll(kv[1], "'", `'\''`) + "'\n")
	}
	files := []file{
		{"/usr/local/sbin/kaas-report", "0755", "#!/bin/sh\nexec vmtoolsd --cmd \"info-set guestinfo.kaas.$1 $2\"\n"},
		{"/etc/kaas/build.env", "0600", envFile.String()},
	}
	names := make([]string, 0, len(scripts))
	for name := range scripts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		files = append(files, file{"/etc/kaas/build.d/" + name, "0755", scripts[name]})
	}
	files = append(files, file{"/usr/local/sbin/kaas-build", "0755", "#!/bin/sh\nset -eu\n. /etc/kaas/build.env\n# kaas's steps\n"})
	doc, err := yaml.Marshal(map[string]any{"write_files": files, "runcmd": [][]string{{"/usr/local/sbin/kaas-build"}}})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(append([]byte("#cloud-config\n"), doc...))
}

// recipe is build.env for Kubernetes v1.30.4 with Antrea 1.15.1 and one provider script.
func recipe(kubernetes string) [][2]string {
	return [][2]string{{"KAAS_OS", "ubuntu-22.04"}, {"KAAS_KUBERNETES_VERSION", kubernetes}, {"KAAS_CONTAINERD_VERSION", "1.7.20"},
		{"KAAS_CNI_NAME", "antrea"}, {"KAAS_CNI_VERSION", "1.15.1"}, {"KAAS_CNI_MANIFEST", antreaURL}, {"KAAS_SCRIPTS", "10-motd.sh"}}
}

const motd = "#!/bin/sh\necho 'Built by kaas' > /etc/motd\n"

// buildVM makes the build's vApp and VM from a catalog item the way executors/vcd makes a
// cluster's (a raw vApp on the network, a recompose adding the template's VM), sets its
// user data and powers it on.
func buildVM(t *testing.T, vc *govcd.VCDClient, vappName, itemName, userData string) (*govcd.VApp, *govcd.VM) {
	t.Helper()
	vapp := composeVApp(t, vc, vappName)
	_, cat := providerCatalog(t, vc.Client.VCDHREF.Scheme+"://"+vc.Client.VCDHREF.Host)
	_, tmpl := item(t, cat, itemName)
	params := addVM("build", tmpl.VAppTemplate.Children.VM[0].HREF)
	enabled := true
	params.SourcedItem.InstantiationParams.GuestCustomizationSection = &types.GuestCustomizationSection{Enabled: &enabled, ComputerName: "build"}
	task, err := vc.Client.ExecuteTaskRequest(vapp.VApp.HREF+"/action/recomposeVApp", http.MethodPost, types.MimeRecomposeVappParams, "add VM: %s", params)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, task); err != nil {
		t.Fatal(err)
	}
	vm, err := vapp.GetVMByName("build", true)
	if err != nil {
		t.Fatal(err)
	}
	// What govcd's UpdateExtraConfig sends, without its 3 s poll.
	task, err = vc.Client.ExecuteTaskRequest(vm.VM.HREF+"/virtualHardwareSection/", http.MethodPut, types.MimeVirtualHardwareSection, "guestinfo: %s",
		&types.RequestVirtualHardwareSection{Info: "Virtual hardware requirements", Ovf: types.XMLNamespaceOVF, Rasd: types.XMLNamespaceRASD,
			Vssd: types.XMLNamespaceVSSD, Vmw: types.XMLNamespaceVMW, Xmlns: types.XMLNamespaceVCloud,
			ExtraConfigs: []*types.ExtraConfigMarshal{{Key: "guestinfo.userdata", Value: userData}, {Key: "guestinfo.userdata.encoding", Value: "base64"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, task); err != nil {
		t.Fatal(err)
	}
	task, err = vm.PowerOn()
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, task); err != nil {
		t.Fatal(err)
	}
	return vapp, vm
}

// composeVApp makes an empty vApp on acme-net in one compose, as govcd's CreateRawVApp
// and AddOrgNetwork do in two, without their 3 s polls.
func composeVApp(t *testing.T, vc *govcd.VCDClient, name string) *govcd.VApp {
	t.Helper()
	org, err := vc.GetOrgByName("acme")
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := org.GetVDCByName("acme-vdc", false)
	if err != nil {
		t.Fatal(err)
	}
	net, err := vdc.GetOrgVdcNetworkByName("acme-net", false)
	if err != nil {
		t.Fatal(err)
	}
	params := &types.ComposeVAppParams{Ovf: types.XMLNamespaceOVF, Xsi: types.XMLNamespaceXSI, Xmlns: types.XMLNamespaceVCloud, Name: name,
		InstantiationParams: &types.InstantiationParams{NetworkConfigSection: &types.NetworkConfigSection{Info: "Configuration parameters for logical networks",
			NetworkConfig: []types.VAppNetworkConfiguration{{NetworkName: "acme-net", Configuration: &types.NetworkConfiguration{
				FenceMode: types.FenceModeBridged, ParentNetwork: &types.Reference{HREF: net.OrgVDCNetwork.HREF}}}}}}}
	vapp := govcd.NewVApp(&vc.Client)
	if _, err := vc.Client.ExecuteRequest(vdc.Vdc.HREF+"/action/composeVApp", http.MethodPost, types.MimeComposeVappParams, "compose: %s", params, vapp.VApp); err != nil {
		t.Fatal(err)
	}
	if vapp.VApp.Tasks != nil { // the compose still runs
		task := govcd.NewTask(&vc.Client)
		task.Task = vapp.VApp.Tasks.Task[0]
		if err := wait(t, *task); err != nil {
			t.Fatal(err)
		}
	}
	if err := vapp.Refresh(); err != nil {
		t.Fatal(err)
	}
	return vapp
}

// follow reads the VM's guestinfo until its status ends (done or failed:…), and returns the
// statuses seen, each once, in order, with the last guestinfo.
func follow(t *testing.T, vm *govcd.VM) ([]string, map[string]string) {
	t.Helper()
	var seen []string
	var info map[string]string
	eventually(t, 20*time.Second, 5*time.Millisecond, func() error {
		ec, err := vm.GetExtraConfig()
		if err != nil {
			t.Fatal(err)
		}
		info = map[string]string{}
		for _, e := range ec {
			info[e.Key] = e.Value
		}
		st := info["guestinfo.kaas.status"]
		if st != "" && (len(seen) == 0 || seen[len(seen)-1] != st) {
			seen = append(seen, st)
		}
		if st != "done" && !strings.HasPrefix(st, "failed:") {
			return fmt.Errorf("the build has not ended: %v", seen)
		}
		return nil
	})
	return seen, info
}

// inOrder checks that the statuses seen are running:<step> of the steps, in their order,
// then the end.
func inOrder(t *testing.T, seen []string, steps, end string) {
	t.Helper()
	want := strings.Fields(steps)
	i := 0
	for _, st := range seen[:len(seen)-1] {
		step, ok := strings.CutPrefix(st, "running:")
		j := slices.Index(want[i:], step)
		if !ok || j < 0 {
			t.Fatalf("status %q out of order in %v", st, seen)
		}
		i += j + 1
	}
	if seen[len(seen)-1] != end {
		t.Fatalf("ended %v, want %s", seen, end)
	}
}

// The whole of a template build through govcd: a base image uploaded from an OVA file,
// a vApp and VM made from it, the build's user data, its steps to done, power off,
// capture into the catalog, the item's metadata written and read, a node made from the
// captured template (it has Kubernetes) and one from the base image (it has not), and
// both items deleted.
func TestTemplateBuild(t *testing.T) {
	t.Parallel()
	// Instant tasks: govcd's synchronous helpers poll every 3 s.
	sim, base := start(t, func(c *vcdsim.Config) { c.BootDelay, c.TaskDelay = vcdsim.Duration(1400*time.Millisecond), 0 })
	vc, cat := providerCatalog(t, base)
	task, err := cat.UploadOvf(writeOVA(t, vcdsim.BaseImage{OS: "ubuntu-22.04"}), "ubuntu-22.04-server-cloudimg-amd64", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, *task.Task); err != nil {
		t.Fatal(err)
	}
	baseItem, _ := item(t, cat, "ubuntu-22.04-server-cloudimg-amd64")
	if err := baseItem.AddMetadataEntryWithVisibility("kaas.build.id", "tmpl-1", types.MetadataStringValue, types.MetadataReadWriteVisibility, false); err != nil {
		t.Fatal(err)
	}

	vapp, vm := buildVM(t, vc, "kaas-build-0123abcd", "ubuntu-22.04-server-cloudimg-amd64", buildUserData(t, recipe("v1.30.4"), map[string]string{"10-motd.sh": motd}))
	// A running vApp is not captured.
	_, err = cat.CaptureVappTemplateAsync(&types.CaptureVAppParams{Name: "early", Source: &types.Reference{HREF: vapp.VApp.HREF}})
	if err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("capture of a running vApp: %v", err)
	}
	seen, _ := follow(t, vm)
	inOrder(t, seen, buildSteps, "done")

	task2, err := vm.PowerOff()
	if err != nil || wait(t, task2) != nil {
		t.Fatalf("power off: %v", err)
	}
	const name = "ubuntu-22.04_k8s-1.30_antrea-1.15_rev1"
	ctask, err := cat.CaptureVappTemplateAsync(&types.CaptureVAppParams{Name: name, Description: "Kubernetes v1.30.4",
		Source:               &types.Reference{HREF: vapp.VApp.HREF},
		CustomizationSection: types.CaptureVAppParamsCustomizationSection{Info: "CustomizeOnInstantiate Settings", CustomizeOnInstantiate: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, ctask); err != nil {
		t.Fatal(err)
	}
	captured, err := cat.GetVappTemplateByHref(ctask.Task.Owner.HREF)
	if err != nil || captured.VAppTemplate.Status != 8 || captured.VAppTemplate.Children.VM[0].Name != "build" {
		t.Fatalf("captured template %+v %v", captured, err)
	}
	it, _ := item(t, cat, name)
	str := func(v string) types.MetadataValue {
		return types.MetadataValue{Domain: &types.MetadataDomainTag{Visibility: types.MetadataReadWriteVisibility, Domain: "GENERAL"},
			TypedValue: &types.MetadataTypedValue{XsiType: types.MetadataStringValue, Value: v}}
	}
	if err := it.MergeMetadataWithMetadataValues(map[string]types.MetadataValue{"kaas.template.name": str("ubuntu-22.04_k8s-1.30_antrea-1.15"),
		"kaas.template.revision": str("1"), "kaas.template.kubernetes_version": str("v1.30.4"), "kaas.build.id": str("tmpl-2")}); err != nil {
		t.Fatal(err)
	}
	if err := it.AddMetadataEntryWithVisibility("kaas.template.deprecated", "false", types.MetadataStringValue, types.MetadataReadWriteVisibility, false); err != nil {
		t.Fatal(err)
	}
	if err := it.DeleteMetadataEntry("kaas.build.id"); err != nil {
		t.Fatal(err)
	}
	md := metadata(t, it.GetMetadata)
	if len(md) != 4 || md["kaas.template.kubernetes_version"] != "v1.30.4" || md["kaas.template.deprecated"] != "false" {
		t.Fatalf("item metadata %v", md)
	}
	// The vApp template's own metadata is apart from its item's.
	if err := captured.AddMetadataEntryWithVisibility("origin", "kaas", types.MetadataStringValue, types.MetadataReadWriteVisibility, false); err != nil {
		t.Fatal(err)
	}
	if tm := metadata(t, captured.GetMetadata); len(tm) != 1 || tm["origin"] != "kaas" {
		t.Fatalf("template metadata %v", tm)
	}
	if md := metadata(t, baseItem.GetMetadata); md["kaas.build.id"] != "tmpl-1" || len(md) != 1 {
		t.Fatalf("base image metadata %v", md)
	}

	// A node made from the captured template runs what the build installed; one made from
	// the base image finds no kubeadm.
	buildVM(t, vc, "from-template", name, nodeUserData())
	_, bare := buildVM(t, vc, "from-base", "ubuntu-22.04-server-cloudimg-amd64", nodeUserData())
	for _, a := range sim.Inventory().VApps {
		if a.Name == "from-template" && a.VMs[0].Kubernetes != "v1.30.4" || a.Name == "from-base" && a.VMs[0].Kubernetes != "" {
			t.Fatalf("vApp %s: VM has %q installed", a.Name, a.VMs[0].Kubernetes)
		}
	}
	seen, info := follow(t, bare)
	if seen[len(seen)-1] != "failed:kubeadm-join" {
		t.Fatalf("a node of the base image: %v", seen)
	}
	if why, _ := base64.StdEncoding.DecodeString(info["guestinfo.kaas.error"]); !strings.Contains(string(why), "kubeadm: not found") {
		t.Fatalf("why: %q", why)
	}

	// Items go, by the catalog item and by the vApp template.
	if err := it.Delete(); err != nil {
		t.Fatal(err)
	}
	_, baseTmpl := item(t, cat, "ubuntu-22.04-server-cloudimg-amd64")
	if err := baseTmpl.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{name, "ubuntu-22.04-server-cloudimg-amd64"} {
		if _, err := cat.GetCatalogItemByName(n, true); err == nil {
			t.Fatalf("%s survived its deletion", n)
		}
	}
}

// nodeUserData is a worker's user data: a script that runs kubeadm join.
func nodeUserData() string {
	doc := "#cloud-config\nwrite_files:\n- path: /root/join.sh\n  permissions: '0755'\n  content: |\n    #!/bin/sh\n    kubeadm join --config /root/join.yaml\n" +
		"- path: /root/join.yaml\n  content: 'kind: JoinConfiguration'\nruncmd:\n- [/root/join.sh]\n"
	return base64.StdEncoding.EncodeToString([]byte(doc))
}

// A build fails as the recipe makes it fail (an unknown Kubernetes version, a script sh
// refuses) or as a fault makes it, with failed:<step> and the reason in guestinfo.
func TestFailingBuild(t *testing.T) {
	t.Parallel()
	sim, base := start(t, func(c *vcdsim.Config) { c.BootDelay = vcdsim.Duration(350 * time.Millisecond) })
	sim.AddTargeted(vcdsim.Targeted{VApp: "kaas-build-fault", Op: "boot", FailAt: "images", Count: 1})
	vc, cat := providerCatalog(t, base)
	task, err := cat.UploadOvfByLink(jammyURL, "jammy", "")
	if err != nil || wait(t, task) != nil {
		t.Fatalf("base image: %v", err)
	}
	for _, tc := range []struct {
		name, kubernetes, script, status, why string
	}{
		{"kaas-build-version", "v1.30.99", motd, "failed:kubernetes", "E: Version '1.30.99-1.1' for 'kubeadm' was not found"},
		{"kaas-build-script", "v1.30.4", "#!/bin/sh\nif true; then\n  echo unfinished\n", "failed:script:motd", "Syntax error"},
		{"kaas-build-fault", "v1.30.4", motd, "failed:images", "a fault the simulator was told to inject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, vm := buildVM(t, vc, tc.name, "jammy", buildUserData(t, recipe(tc.kubernetes), map[string]string{"10-motd.sh": tc.script}))
			seen, info := follow(t, vm)
			inOrder(t, seen, buildSteps, tc.status)
			why, _ := base64.StdEncoding.DecodeString(info["guestinfo.kaas.error"])
			if !strings.Contains(string(why), tc.why) {
				t.Fatalf("guestinfo.kaas.error %q, want %q", why, tc.why)
			}
		})
	}
}
