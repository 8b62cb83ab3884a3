package kaasd_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
)

var updateConversation = flag.Bool("update-conversation", false, "rewrite testdata/cseclient/*.txt from this run")

// cliSpec is a cluster file as `vcd cse cluster apply --sample --native` writes it, filled
// in as a tenant fills it (the genuine run's cluster-create.yaml): every key the sample has,
// nulls included.
func cliSpec(name, org, site, template string, workers int) map[string]any {
	pool := func(n int) map[string]any {
		return map[string]any{"count": n, "cpu": nil, "memory": nil, "sizingClass": nil, "storageProfile": nil}
	}
	return map[string]any{
		"apiVersion": "cse.vmware.com/v2.1", "kind": "native",
		"metadata": map[string]any{"name": name, "orgName": org, "site": site, "virtualDataCenterName": org + "-vdc"},
		"spec": map[string]any{
			"distribution": map[string]any{"templateName": template, "templateRevision": 1},
			"settings": map[string]any{
				"cni": map[string]any{"name": nil, "version": nil}, "cpi": map[string]any{"name": nil, "version": nil}, "csi": nil,
				"network": map[string]any{"expose": false}, "ovdcNetwork": org + "-net", "rollbackOnFailure": true, "sshKey": nil,
			},
			"topology": map[string]any{
				"controlPlane": pool(1), "workers": pool(workers),
				"nfs": map[string]any{"count": 0, "sizingClass": nil, "storageProfile": nil},
			},
		},
	}
}

// cliTranscript writes the conversation as the genuine run's story did: each command, the
// requests it made (path, Accept, Authorization, other headers, status; short bodies), and
// what the client printed; ids that change from run to run are named.
type cliTranscript struct {
	t     *testing.T
	b     strings.Builder
	names [][2]string // value → placeholder
}

var (
	cliTaskRE = regexp.MustCompile(`task/[0-9a-f]{8}-[0-9a-f-]{27}`)
	cliUUIDRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	cliTaskID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// name makes a value show as a placeholder from now on.
func (tr *cliTranscript) name(value, placeholder string) {
	if value != "" {
		tr.names = append(tr.names, [2]string{value, placeholder})
	}
}

func (tr *cliTranscript) norm(s string) string {
	for _, n := range tr.names {
		s = strings.ReplaceAll(s, n[0], n[1])
	}
	s = cliTaskRE.ReplaceAllString(s, "task/{task}")
	return cliUUIDRE.ReplaceAllString(s, "{uuid}")
}

// cliPolled marks a task read again until it ended: how many times depends on timing.
const cliPolled = "  (read again until it ends)"

// command adds a command, its requests and its output. A task read again and again shows
// once, marked.
func (tr *cliTranscript) command(cmd string, c *vcdCLI, out ...string) {
	fmt.Fprintf(&tr.b, "\n$ %s\n", cmd)
	var prev string
	for _, r := range c.Script() {
		line := r.Method + " " + tr.norm(r.URL) + "  Accept: " + r.Accept
		if r.Auth != "" {
			line += "  Authorization: " + r.Auth
		}
		if r.Tenant != "" {
			line += "  x-vmware-vcloud-tenant-context: " + tr.norm(r.Tenant)
		}
		if r.CType != "" {
			line += "  Content-Type: " + r.CType
		}
		line += fmt.Sprintf("  -> %d", r.Status)
		if r.Body != nil {
			if len(r.Body) > 300 {
				line += fmt.Sprintf("\n      body: <%s>", "a cluster spec")
			} else {
				line += "\n      body: " + tr.norm(string(r.Body))
			}
		}
		if line == prev && strings.Contains(r.URL, "/api/task/") {
			if s := tr.b.String(); !strings.HasSuffix(s, cliPolled+"\n") {
				tr.b.Reset()
				tr.b.WriteString(strings.TrimSuffix(s, "\n") + cliPolled + "\n")
			}
			continue
		}
		prev = line
		tr.b.WriteString("  " + line + "\n")
	}
	for _, o := range out {
		for _, l := range strings.Split(tr.norm(o), "\n") {
			tr.b.WriteString("  > " + l + "\n")
		}
	}
}

// cliTranscriptHeader starts every transcript file.
const cliTranscriptHeader = `# The genuine CSE client's conversation with kaas, as TestCSEClientConversation plays it:
# each command, the requests it makes in order (Accept, Authorization, the other headers
# sent, the status answered; bodies but a cluster spec's) and what the client prints.
# {vcd} is VCD's address; the other {names} are ids that change from run to run. Checked
# against the requests vcd-cli 24.1.0 + CSE 3.1.4 + pyvcloud 23.0.4 sent to kaas
# (cse-rde.md §2); rewrite it with -args -update-conversation only after such a check.
`

// golden compares the transcript with testdata/cseclient/name, or writes it with
// -update-conversation.
func (tr *cliTranscript) golden(name string) {
	tr.t.Helper()
	path := filepath.Join("testdata", "cseclient", name)
	got := []byte(cliTranscriptHeader + tr.b.String())
	if *updateConversation {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tr.t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tr.t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tr.t.Fatalf("%v (go test ./deploy/kaasd -run %s -args -update-conversation writes it)", err, tr.t.Name())
	}
	if string(got) != string(want) {
		tr.t.Errorf("the conversation differs from %s (-args -update-conversation rewrites it, once checked against the genuine client's):\n%s", path, cliFirstDiff(string(want), string(got)))
	}
}

// firstLineDiff shows where two transcripts part, with some context.
func cliFirstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			from := max(0, i-6)
			return fmt.Sprintf("line %d\n--- want\n%s\n--- got\n%s", i+1, strings.Join(w[from:min(len(w), i+6)], "\n"), strings.Join(g[from:min(len(g), i+6)], "\n"))
		}
	}
	return ""
}

// cliEventually runs a command and its checks until they pass: what the client reads from
// VCD follows kaas's views a moment later (the mirror is never on the request path).
func cliEventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var first error
	tries := 0
	kaasdtest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		tries++
		err := f()
		if err != nil && first == nil {
			first = err
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
	if tries > 1 {
		t.Logf("%s: as expected after %d tries; the first showed: %v", what, tries, first)
	}
}

// cliAfterTask runs a command's checks once, right after a `vcd task wait`: a task ends only
// once the entity shows its outcome (as CSE orders them), so no retry is allowed here.
func cliAfterTask(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("%s, right after its task ended: %v", what, err)
	}
}

func cliMust[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// TestCSEClientConversation plays the genuine CSE client's conversation (cse-rde.md §2;
// the requests vcd-cli 24.1.0, CSE 3.1.4's cse plugin and pyvcloud 23.0.4 sent to kaas in
// the genuine run) against vcdsim and kaas, as a tenant and as a provider, and checks every
// field the client reads. The tenant logs in at API 36.0 (negotiated from /api/versions) or
// at 35.0 (-V 35.0); either way the client then speaks CSE's highest API version, 36.0,
// which kaas's /api/cse/system offers, and finds RDE 2.1.0 as the highest entity type. The
// requests are compared with testdata/cseclient/<version>.txt. The vcd-35.0 row plays a
// VCD whose highest API is 35.0 (VCD 10.2): there the client speaks 35.0 and RDE 1.0.0.
func TestCSEClientConversation(t *testing.T) {
	for _, tc := range []struct{ login, flag string }{{"36.0", ""}, {"35.0", "35.0"}, {"vcd-35.0", ""}} {
		t.Run(tc.login, func(t *testing.T) {
			if tc.login == "vcd-35.0" {
				cliConversationAt35(t)
				return
			}
			sys := kaasdtest.Start(t, kaasdtest.FastSim())
			kaasdtest.EnableVDCs(t, sys.AsProvider(t))
			tr := &cliTranscript{t: t}
			tr.name(sys.URL, "{vcd}")
			tr.name(strings.TrimPrefix(vcdsim.OrgURN("acme"), "urn:vcloud:org:"), "{acme}")
			tr.name(strings.TrimPrefix(vcdsim.UserURN("acme", "bob"), "urn:vcloud:user:"), "{bob}")
			tr.name(strings.TrimPrefix(vcdsim.OrgURN("System"), "urn:vcloud:org:"), "{System}")
			vflag := ""
			if tc.flag != "" {
				vflag = " -V " + tc.flag
			}
			c := newVCDCLI(t, sys)

			// Login (§2.1), then the first cse command negotiates CSE's API version (§2.2).
			out := cliMust[string](t, "login")(c.Login("acme", "alice", "alice-pass", tc.flag))
			if out != "alice logged in, org: 'acme', vdc: 'acme-vdc'" || c.apiVersion != tc.login {
				t.Fatalf("login printed %q at %s", out, c.apiVersion)
			}
			tr.command("vcd login HOST acme alice -p *** -i -w"+vflag, c, out)
			info := cliMust[map[string]any](t, "system info")(c.SystemInfo())
			if c.cseVersion != "36.0" || info["product"] != "kaas" {
				t.Fatalf("system info: the client speaks %q to %v", c.cseVersion, info)
			}
			tr.command("vcd cse system info", c)

			vdcs := cliMust[[]map[string]any](t, "ovdc list")(c.OvdcList())
			if len(vdcs) != 1 || vdcs[0]["ovdc_name"] != "acme-vdc" || !slices.Equal(cliRuntimes(vdcs[0]), []string{"native"}) {
				t.Fatalf("ovdc list: %v", vdcs)
			}
			vdcID, _ := vdcs[0]["ovdc_id"].(string)
			tr.name(vdcID, "{acme-vdc}")
			tr.command("vcd cse ovdc list", c, cliOvdcRows(vdcs)...)

			if rows := cliMust[[]cliRow](t, "cluster list")(c.ListClusters("")); len(rows) != 0 {
				t.Fatalf("cluster list before any create: %v", rows)
			}
			tr.command("vcd cse cluster list", c)

			// Create by apply, and follow its task.
			spec := cliSpec("story-1", "acme", sys.URL, good, 1)
			id := cliMust[string](t, "apply (create)")(c.Apply(spec))
			tr.command("vcd cse cluster apply cluster-create.yaml", c, "vcd task wait "+cliMark(tr, id))
			wait := func(what, id string) string {
				t.Helper()
				if !cliTaskID.MatchString(id) {
					t.Fatalf("%s: the client would wait for task %q: not a VCD task id", what, id)
				}
				tr.name(id, "{task}")
				task, out, err := c.TaskWait(id)
				if err != nil || task.Status != "success" {
					t.Fatalf("%s: task wait %s: %v %q (%+v)", what, id, err, out, task)
				}
				tr.command("vcd task wait {task}", c, out)
				return task.HREF
			}
			createTask := wait("create", id)

			want := []cliRow{{"story-1", "acme", "alice", "acme-vdc", "native", "upstream v1.29.8", "CREATE:SUCCEEDED"}}
			cliAfterTask(t, "cluster list after the create", func() error {
				rows, err := c.ListClusters("")
				if err != nil || !slices.Equal(rows, want) {
					return fmt.Errorf("%v, want %v (%v)", rows, want, err)
				}
				return nil
			})
			tr.command("vcd cse cluster list", c, cliListRows(want)...)

			ent := cliMust[map[string]any](t, "find story-1")(c.FindCluster("story-1"))
			tr.name(cliStr(ent, "id"), "{story-1}")
			checkInfo := func(what, phase, k8s string, workers int, task string) {
				t.Helper()
				cliAfterTask(t, what, func() error {
					e, err := c.Info("story-1")
					switch {
					case err != nil:
						return err
					case cliStr(e, "metadata.name") != "story-1" || cliStr(e, "metadata.orgName") != "acme" || cliStr(e, "metadata.virtualDataCenterName") != "acme-vdc":
						return fmt.Errorf("metadata %v", e["metadata"])
					case cliStr(e, "status.phase") != phase || !strings.Contains(cliStr(e, "status.kubernetes"), k8s):
						return fmt.Errorf("status %s, kubernetes %s", cliStr(e, "status.phase"), cliStr(e, "status.kubernetes"))
					case cliObj(e, "status.nodes.controlPlane") == nil || len(cliList(cliObj(e, "status.nodes")["workers"])) != workers:
						return fmt.Errorf("nodes %v", cliObj(e, "status.nodes"))
					case cliStr(e, "status.taskHref") != task:
						return fmt.Errorf("status.taskHref %q, not the VCD task %q", cliStr(e, "status.taskHref"), task)
					}
					return nil
				})
			}
			checkInfo("cluster info after the create", "CREATE:SUCCEEDED", "v1.29.8", 1, createTask)
			tr.command("vcd cse cluster info story-1", c)

			kc := cliMust[string](t, "config")(c.Config("story-1"))
			if !strings.Contains(kc, "kind: Config") || !strings.Contains(kc, "server: https://") {
				t.Fatalf("config: %.300s", kc)
			}
			tr.command("vcd cse cluster config story-1", c)

			plan := cliMust[[]map[string]any](t, "upgrade-plan")(c.UpgradePlan("story-1"))
			if !slices.ContainsFunc(plan, func(p map[string]any) bool {
				return p["name"] == "ubuntu-22.04_k8s-1.30_antrea-1.15" && p["revision"] == float64(1)
			}) || slices.ContainsFunc(plan, func(p map[string]any) bool { return p["name"] == good }) {
				t.Fatalf("upgrade-plan: %v", plan)
			}
			tr.command("vcd cse cluster upgrade-plan story-1", c, cliPlanRows(plan)...)

			// Resize, then upgrade: both are an apply of the changed file.
			spec = cliSpec("story-1", "acme", sys.URL, good, 2)
			id = cliMust[string](t, "apply (resize)")(c.Apply(spec))
			tr.command("vcd cse cluster apply cluster-resize.yaml", c, "vcd task wait "+cliMark(tr, id))
			resizeTask := wait("resize", id)
			checkInfo("cluster info after the resize", "UPDATE:SUCCEEDED", "v1.29.8", 2, resizeTask)
			tr.command("vcd cse cluster info story-1", c)

			spec = cliSpec("story-1", "acme", sys.URL, "ubuntu-22.04_k8s-1.30_antrea-1.15", 2)
			id = cliMust[string](t, "apply (upgrade)")(c.Apply(spec))
			tr.command("vcd cse cluster apply cluster-upgrade.yaml", c, "vcd task wait "+cliMark(tr, id))
			upgradeTask := wait("upgrade", id)
			checkInfo("cluster info after the upgrade", "UPGRADE:SUCCEEDED", "v1.30.4", 2, upgradeTask)
			tr.command("vcd cse cluster info story-1", c)

			// Sharing with bob.
			cliOK(t, "share", c.Share("story-1", cliReadOnly, "bob"))
			tr.command("vcd cse cluster share --name story-1 --acl ReadOnly bob", c, "Cluster story-1 successfully shared with: ['bob']")
			acl := cliMust[[]map[string]any](t, "share-list")(c.ShareList("story-1"))
			if len(acl) != 1 || acl[0]["username"] != "bob" || acl[0]["accessLevelId"] != cliReadOnly || acl[0]["memberId"] != vcdsim.UserURN("acme", "bob") {
				t.Fatalf("share-list: %v", acl)
			}
			tr.command("vcd cse cluster share-list --name story-1 -A", c, cliACLRows(acl)...)
			cliOK(t, "unshare", c.Unshare("story-1", "bob"))
			tr.command("vcd cse cluster unshare --name story-1 bob", c)
			if acl := cliMust[[]map[string]any](t, "share-list")(c.ShareList("story-1")); len(acl) != 0 {
				t.Fatalf("share-list after unshare: %v", acl)
			}
			tr.command("vcd cse cluster share-list --name story-1 -A", c)

			id = cliMust[string](t, "delete")(c.Delete("story-1"))
			tr.command("vcd cse cluster delete story-1 --yes", c, "vcd task wait "+cliMark(tr, id))
			wait("delete", id)
			cliAfterTask(t, "cluster list after the delete", func() error {
				if rows, err := c.ListClusters(""); err != nil || len(rows) != 0 {
					return fmt.Errorf("%v (%v)", rows, err)
				}
				return nil
			})
			tr.command("vcd cse cluster list", c)

			// The provider disables and enables the tenant's VDC.
			p := newVCDCLI(t, sys)
			out = cliMust[string](t, "provider login")(p.Login("System", "administrator", "kaas-admin", tc.login))
			if out != "administrator logged in, org: 'System', vdc: ''" {
				t.Fatalf("provider login printed %q", out)
			}
			tr.command("vcd login HOST System administrator -p *** -i -w -V "+tc.login, p, out)
			info = cliMust[map[string]any](t, "provider's system info")(p.SystemInfo())
			if p.cseVersion != "36.0" || info["clusters"] != float64(0) {
				t.Fatalf("provider's system info: the client speaks %q to %v", p.cseVersion, info)
			}
			tr.command("vcd cse system info", p)
			if vdcs := cliMust[[]map[string]any](t, "provider's ovdc list")(p.OvdcList()); len(vdcs) != 1 || vdcs[0]["ovdc_id"] != vdcID {
				t.Fatalf("provider's ovdc list: %v", vdcs)
			} else {
				tr.command("vcd cse ovdc list", p, cliOvdcRows(vdcs)...)
			}
			for _, step := range []struct {
				enable bool
				want   []string
			}{{false, []string{}}, {true, []string{"native"}}} {
				out := cliMust[string](t, "ovdc update")(p.OvdcUpdate("acme-vdc", "acme", step.enable))
				if !strings.HasSuffix(out, "result: success") {
					t.Fatalf("ovdc enable=%v printed %q", step.enable, out)
				}
				cliMark(tr, strings.TrimSuffix(strings.Fields(out)[1], ","))
				tr.command(map[bool]string{true: "vcd cse ovdc enable acme-vdc -o acme --native", false: "vcd cse ovdc disable acme-vdc -o acme --native"}[step.enable], p, out)
				vdcs := cliMust[[]map[string]any](t, "ovdc list")(p.OvdcList())
				if len(vdcs) != 1 || vdcs[0]["ovdc_id"] != vdcID || !slices.Equal(append([]string{}, cliRuntimes(vdcs[0])...), step.want) {
					t.Fatalf("ovdc list after enable=%v: %v", step.enable, vdcs)
				}
				tr.command("vcd cse ovdc list", p, cliOvdcRows(vdcs)...)
			}
			tr.golden(tc.login + ".txt")
		})
	}
}

// cliMark names a task id in the transcript, and returns it.
func cliMark(tr *cliTranscript, id string) string {
	tr.name(id, "{task}")
	return id
}

func cliList(v any) []any {
	l, _ := v.([]any)
	return l
}

func cliOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func cliOvdcRows(vdcs []map[string]any) []string {
	var out []string
	for _, v := range vdcs {
		out = append(out, fmt.Sprintf("%v  %v  %v", v["ovdc_name"], v["ovdc_id"], cliRuntimes(v)))
	}
	return out
}

func cliListRows(rows []cliRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join([]string{r.Name, r.Org, r.Owner, r.VDC, r.Runtime, r.Version, r.Status}, "  "))
	}
	return out
}

func cliPlanRows(plan []map[string]any) []string {
	var out []string
	for _, p := range plan {
		out = append(out, fmt.Sprintf("%v  %v  %v  %v  %v %v", p["name"], p["revision"], p["kubernetes_version"], p["docker_version"], p["cni"], p["cni_version"]))
	}
	return out
}

func cliACLRows(acl []map[string]any) []string {
	var out []string
	for _, a := range acl {
		b, _ := json.Marshal(a)
		out = append(out, string(b))
	}
	return out
}

// cliSpecV1 is a cluster file in the v1.0 payload, as a tenant writes it for CSE at API 35
// (cse-protocol.md; rde_1_0_0.NativeEntity).
func cliSpecV1(name, org, template string, workers int) map[string]any {
	pool := func(n int) map[string]any {
		return map[string]any{"count": n, "sizing_class": nil, "storage_profile": nil}
	}
	return map[string]any{
		"api_version": "cse.vmware.com/v1.0", "kind": "native",
		"metadata": map[string]any{"cluster_name": name, "org_name": org, "ovdc_name": org + "-vdc"},
		"spec": map[string]any{
			"control_plane": pool(1), "workers": pool(workers), "nfs": pool(0),
			"k8_distribution": map[string]any{"template_name": template, "template_revision": 1},
			"settings":        map[string]any{"network": org + "-net", "ssh_key": nil, "rollback_on_failure": true},
		},
	}
}

// cliConversationAt35 plays the client against a VCD whose highest API is 35.0 (VCD 10.2):
// it logs in at 35.0 without -V, kaas offers CSE API 35.0 alone, VCD has entity type 1.0.0
// alone, and the client reads RDE 1.0.0 entities (filters on entity.metadata.org_name, the
// v1.0 keys) and runs the commands it allows at 35 (no create, resize or share; apply,
// info, config, upgrade-plan and delete).
func cliConversationAt35(t *testing.T) {
	simCfg := kaasdtest.FastSim()
	simCfg.MaxAPIVersion = "35.0"
	sys := kaasdtest.Start(t, simCfg)
	token := sys.Login(t, "administrator@System", "kaas-admin")
	kaasdtest.EnableVDCs(t, func(method, path string, body any) (int, []byte) {
		t.Helper()
		code, b, _ := sys.Call(t, token, "application/json;version=35.0", method, path, body) // kaas offers 35.0 alone
		return code, b
	})
	tr := &cliTranscript{t: t}
	tr.name(sys.URL, "{vcd}")
	tr.name(strings.TrimPrefix(vcdsim.OrgURN("acme"), "urn:vcloud:org:"), "{acme}")
	c := newVCDCLI(t, sys)

	out := cliMust[string](t, "login")(c.Login("acme", "alice", "alice-pass", ""))
	if out != "alice logged in, org: 'acme', vdc: 'acme-vdc'" || c.apiVersion != "35.0" {
		t.Fatalf("login printed %q at %s", out, c.apiVersion)
	}
	tr.command("vcd login HOST acme alice -p *** -i -w", c, out)
	info := cliMust[map[string]any](t, "system info")(c.SystemInfo())
	if c.cseVersion != "35.0" || fmt.Sprint(info["cse_server_supported_api_versions"]) != "[35.0]" {
		t.Fatalf("system info: the client speaks %q to %v", c.cseVersion, info)
	}
	tr.command("vcd cse system info", c)
	if rde := cliMust[string](t, "entity types")(c.EntityTypes()); rde != "1.0.0" {
		t.Fatalf("the client's RDE version is %s", rde)
	}
	if rows := cliMust[[]cliRow](t, "cluster list")(c.ListClusters("")); len(rows) != 0 {
		t.Fatalf("cluster list before any create: %v", rows)
	}
	tr.command("vcd cse cluster list", c)

	wait := func(what, id string) string {
		t.Helper()
		if !cliTaskID.MatchString(id) {
			t.Fatalf("%s: the client would wait for task %q: not a VCD task id", what, id)
		}
		tr.name(id, "{task}")
		task, out, err := c.TaskWait(id)
		if err != nil || task.Status != "success" {
			t.Fatalf("%s: task wait %s: %v %q (%+v)", what, id, err, out, task)
		}
		tr.command("vcd task wait {task}", c, out)
		return task.HREF
	}
	id := cliMust[string](t, "apply (create)")(c.Apply(cliSpecV1("story-1", "acme", good, 1)))
	tr.command("vcd cse cluster apply cluster-create.yaml", c, "vcd task wait "+cliMark(tr, id))
	createTask := wait("create", id)

	want := []cliRow{{"story-1", "acme", "alice", "acme-vdc", "native", "upstream v1.29.8", "CREATE:SUCCEEDED"}}
	cliAfterTask(t, "cluster list after the create", func() error {
		rows, err := c.ListClusters("")
		if err != nil || !slices.Equal(rows, want) {
			return fmt.Errorf("%v, want %v (%v)", rows, want, err)
		}
		return nil
	})
	tr.command("vcd cse cluster list", c, cliListRows(want)...)
	ent := cliMust[map[string]any](t, "find story-1")(c.FindCluster("story-1"))
	if cliStr(ent, "entityType") != "urn:vcloud:type:cse:nativeCluster:1.0.0" {
		t.Fatalf("the entity found is of type %s", cliStr(ent, "entityType"))
	}
	tr.name(cliStr(ent, "id"), "{story-1}")
	checkInfo := func(what, phase string, workers int, task string) {
		t.Helper()
		cliAfterTask(t, what, func() error {
			e, err := c.Info("story-1")
			switch {
			case err != nil:
				return err
			case e["api_version"] != "cse.vmware.com/v1.0" || cliStr(e, "metadata.cluster_name") != "story-1" || cliStr(e, "metadata.org_name") != "acme" || cliStr(e, "metadata.ovdc_name") != "acme-vdc":
				return fmt.Errorf("entity %v", e)
			case cliStr(e, "status.phase") != phase || !strings.Contains(cliStr(e, "status.kubernetes"), "v1.29.8"):
				return fmt.Errorf("status %s, kubernetes %s", cliStr(e, "status.phase"), cliStr(e, "status.kubernetes"))
			case cliObj(e, "status.nodes.control_plane") == nil || len(cliList(cliObj(e, "status.nodes")["workers"])) != workers:
				return fmt.Errorf("nodes %v", cliObj(e, "status.nodes"))
			case cliStr(e, "status.task_href") != task:
				return fmt.Errorf("status.task_href %q, not the VCD task %q", cliStr(e, "status.task_href"), task)
			}
			return nil
		})
	}
	checkInfo("cluster info after the create", "CREATE:SUCCEEDED", 1, createTask)
	tr.command("vcd cse cluster info story-1", c)

	kc := cliMust[string](t, "config")(c.Config("story-1"))
	if !strings.Contains(kc, "kind: Config") {
		t.Fatalf("config: %.300s", kc)
	}
	tr.command("vcd cse cluster config story-1", c)
	plan := cliMust[[]map[string]any](t, "upgrade-plan")(c.UpgradePlan("story-1"))
	if len(plan) == 0 {
		t.Fatal("upgrade-plan: empty")
	}
	tr.command("vcd cse cluster upgrade-plan story-1", c, cliPlanRows(plan)...)

	// A resize is an apply of the changed file (`cluster resize` is hidden at 35).
	id = cliMust[string](t, "apply (resize)")(c.Apply(cliSpecV1("story-1", "acme", good, 2)))
	tr.command("vcd cse cluster apply cluster-resize.yaml", c, "vcd task wait "+cliMark(tr, id))
	resizeTask := wait("resize", id)
	checkInfo("cluster info after the resize", "UPDATE:SUCCEEDED", 2, resizeTask)
	tr.command("vcd cse cluster info story-1", c)

	id = cliMust[string](t, "delete")(c.Delete("story-1"))
	tr.command("vcd cse cluster delete story-1 --yes", c, "vcd task wait "+cliMark(tr, id))
	wait("delete", id)
	cliAfterTask(t, "cluster list after the delete", func() error {
		if rows, err := c.ListClusters(""); err != nil || len(rows) != 0 {
			return fmt.Errorf("%v (%v)", rows, err)
		}
		return nil
	})
	tr.command("vcd cse cluster list", c)
	tr.golden("vcd-35.0.txt")
}
