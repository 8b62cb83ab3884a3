package ingress_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/template"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/projector"
)

const tmpl = "ubuntu-22.04_k8s-1.30_antrea-1.15"

// recipeJSON is a recipe as kaasctl template build posts it, with changes (a dotted key of
// the top level or of one nested object → its value; nil removes the key).
func recipeJSON(changes map[string]any) string {
	r := map[string]any{
		"name": tmpl, "description": "Kubernetes v1.30.4 on Ubuntu 22.04 with Antrea 1.15.1", "os": "ubuntu-22.04",
		"base":              map[string]any{"name": "ubuntu-22.04-server-cloudimg-amd64", "ova": "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"},
		"kubernetesVersion": "v1.30.4", "containerdVersion": "1.7.20",
		"cni":     map[string]any{"name": "antrea", "version": "1.15.1", "manifest": "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		"rules":   map[string]any{"cpu": 2, "memoryMb": 4096, "sizingPolicy": "medium"},
		"scripts": []any{map[string]any{"name": "motd", "run": "#!/bin/sh\necho 'Built by kaas' > /etc/motd\n"}},
	}
	for k, v := range changes {
		m := r
		if outer, inner, nested := strings.Cut(k, "."); nested {
			m, k = r[outer].(map[string]any), inner
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func importJSON(changes map[string]any) string {
	r := map[string]any{"name": "tkgm-1.30", "ova": "/srv/ova/tkgm.ova", "kubernetes_version": "v1.30.4+vmware.1", "os": "photon-5",
		"cni": "antrea", "cni_version": "1.15.1", "cpu": 2}
	for k, v := range changes {
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
	}
	b, _ := json.Marshal(r)
	return string(b)
}

var providerOpt = as(ingress.SystemOrg, root)

// sync records a sync of the catalog that lists templates (and the one the harness's
// creates use).
func (x *executor) sync(ts ...events.Template) {
	x.h.t.Helper()
	ts = append(ts, events.Template{Name: "ubuntu-k8s-1.29", Revision: 1, KubernetesVersion: "v1.29.8", OS: "ubuntu-22.04", Catalog: "kaas-templates"})
	x.record(events.Envelope{ID: fmt.Sprintf("sync-%d", x.seq), ClusterID: events.CloudID}, events.CloudSynced{Templates: ts})
}

// runTemplate plays a template command to its end, as kaas's executor would when every
// step succeeds.
func (x *executor) runTemplate(cmdID string) {
	x.h.t.Helper()
	cmd := x.command(cmdID)
	x.handled[cmdID] = true
	switch p := cmd.Payload.(type) {
	case events.BuildTemplate:
		x.record(cmd, events.TemplateBuildStarted{Recipe: p.Recipe, Revision: p.Revision, CatalogItem: events.TemplateItemName(p.Recipe.Name, p.Revision)})
		x.record(cmd, events.BuildVMStarted{})
		x.record(cmd, events.TemplateBuildProgressed{Step: "kubernetes"})
		x.record(cmd, events.BuildCustomized{})
		t := template.FromRecipe(p.Recipe, p.Revision)
		t.Catalog = "kaas-templates"
		x.record(cmd, events.TemplateBuilt{Template: t})
	case events.ImportTemplate:
		x.record(cmd, events.TemplateImportStarted{Template: p.Template, OVA: p.OVA, CatalogItem: events.TemplateItemName(p.Template.Name, p.Template.Revision)})
		x.record(cmd, events.TemplateImported{Template: p.Template})
	case events.DeprecateTemplate:
		x.record(cmd, events.TemplateDeprecated{Template: p.Template, Deprecated: p.Deprecated})
	case events.DeleteTemplate:
		x.record(cmd, events.TemplateDeletionStarted{Template: p.Template})
		x.record(cmd, events.TemplateDeleted{Template: p.Template})
	default:
		x.h.t.Fatalf("%s is no template command", cmd.Type)
	}
}

// build posts a recipe and returns the answer.
func (h *harness) build(body string, opts ...opt) (cse.TemplateAccepted, string) {
	h.t.Helper()
	rec := h.do(http.MethodPost, base+"/templates/action/build", body, append([]opt{providerOpt}, opts...)...)
	if rec.Code != http.StatusAccepted {
		h.t.Fatalf("build: %d %s", rec.Code, rec.Body)
	}
	return decode[cse.TemplateAccepted](h.t, rec), rec.Header().Get("Location")
}

func (h *harness) providerTemplates() []cse.ProviderTemplate {
	h.t.Helper()
	rec := h.do(http.MethodGet, base+"/templates", "", providerOpt)
	if rec.Code != http.StatusOK {
		h.t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	return decode[[]cse.ProviderTemplate](h.t, rec)
}

func templatePath(name string, rev int) string {
	return fmt.Sprintf("%s/template/%s/%d", base, name, rev)
}

// TestTemplateRoutesProviderOnly: every template route refuses tenants, as other provider
// routes do, before it reads anything.
func TestTemplateRoutesProviderOnly(t *testing.T) {
	h := newHarness(t)
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, base + "/templates", ""},
		{http.MethodPost, base + "/templates/action/build", recipeJSON(nil)},
		{http.MethodPost, base + "/templates/action/import", importJSON(nil)},
		{http.MethodGet, templatePath(tmpl, 1), ""},
		{http.MethodPost, templatePath(tmpl, 1) + "/action/deprecate", ""},
		{http.MethodDelete, templatePath(tmpl, 1), ""},
	} {
		wantError(t, h.do(r.method, r.path, r.body), http.StatusForbidden, cse.MinorDefault, "for providers (System org users) only")
	}
	if n := len(h.cmds.commands()); n != 0 {
		t.Errorf("%d commands appended", n)
	}
}

// TestBuildTemplate: a build takes the next revision of its name (past the catalog's and
// every build's), answers where to follow it, and is the same command on redelivery.
func TestBuildTemplate(t *testing.T) {
	h := newHarness(t)
	h.exec.sync(events.Template{Name: tmpl, Revision: 2, KubernetesVersion: "v1.30.2", OS: "ubuntu-22.04"}) // put there by hand

	got, loc := h.build(recipeJSON(nil), reqID("build-a"))
	wantID := derivedID("command", ingress.SystemOrg, root, http.MethodPost, base+"/templates/action/build", "build-a")
	want := cse.TemplateAccepted{Name: tmpl, Revision: 3, OperationID: wantID, TemplateID: events.TemplateID(tmpl, 3)}
	if got != want || loc != base+"/operations/"+wantID {
		t.Fatalf("build answered %+v at %s, want %+v", got, loc, want)
	}
	again, _ := h.build(recipeJSON(nil), reqID("build-a"))
	if again != want {
		t.Errorf("redelivery answered %+v", again)
	}
	second, _ := h.build(recipeJSON(nil)) // the first has not started: it counts
	if second.Revision != 4 {
		t.Errorf("second build: revision %d, want 4", second.Revision)
	}
	cmds := h.cmds.commands()
	if len(cmds) != 2 {
		t.Fatalf("%d commands, want 2", len(cmds))
	}
	// A build refused before it made anything keeps its revision: the next takes 5.
	h.exec.record(cmds[1], events.CommandRejected{CommandType: events.TypeBuildTemplate, Failure: events.Failure{Code: events.CodeTemplateExists, Message: "in the catalog"}})
	if third, _ := h.build(recipeJSON(nil)); third.Revision != 5 {
		t.Errorf("after a refused build: revision %d, want 5", third.Revision)
	}
	if ts := h.providerTemplates(); len(ts) != 5 || ts[2].Revision != 4 || ts[2].Status != template.StatusFailed || ts[2].Failure == nil ||
		ts[2].Failure.Code != events.CodeTemplateExists {
		t.Errorf("a refused build: %+v", ts)
	}
	b, ok := cmds[0].Payload.(events.BuildTemplate)
	if !ok || b.Revision != 3 || b.Recipe.Name != tmpl || b.Recipe.CNI.Version != "1.15.1" || len(b.Recipe.Scripts) != 1 ||
		cmds[0].ClusterID != events.TemplateID(tmpl, 3) || cmds[0].OrgID != ingress.SystemOrg || cmds[0].Actor != root {
		t.Errorf("command %+v: %+v", cmds[0], cmds[0].Payload)
	}

	// The provider sees them at once; tenants see the catalog alone.
	ts := h.providerTemplates()
	if len(ts) != 5 || ts[1].Revision != 3 || ts[1].Status != template.StatusBuilding || ts[1].OperationID != wantID || ts[1].Source != events.SourceBuilt ||
		ts[1].Rules.CPU != 2 || ts[1].CatalogItem != tmpl+"_rev3" || ts[0].Status != template.StatusReady || ts[4].Name != "ubuntu-k8s-1.29" {
		t.Errorf("provider's templates %+v", ts)
	}
	if ts := decode[[]cse.Template](t, h.do(http.MethodGet, "/api/cse/templates", "")); len(ts) != 2 {
		t.Errorf("tenants see %d templates, want the catalog's 2", len(ts))
	}

	// Its operation is followed as a cluster's is.
	h.exec.runTemplate(wantID)
	rec := h.do(http.MethodGet, base+"/operation/"+wantID, "", providerOpt)
	op := decode[cse.Operation](t, rec)
	if op.Status != projector.OpSucceeded || op.Operation != events.TypeBuildTemplate || op.Percent != 100 || op.Target != tmpl+" revision 3" {
		t.Errorf("operation %+v", op)
	}
	rec = h.do(http.MethodGet, templatePath(tmpl, 3), "", providerOpt)
	if one := decode[cse.ProviderTemplate](t, rec); one.Status != template.StatusReady || one.Catalog != "kaas-templates" {
		t.Errorf("revision 3: %+v", one)
	}
	if ts := decode[[]cse.Template](t, h.do(http.MethodGet, "/api/cse/templates", "")); len(ts) != 3 {
		t.Errorf("tenants see %d templates once built, want 3", len(ts))
	}
}

// TestBuildTemplateRefused: a body that is no valid recipe is refused with CSE's error
// body naming the field at fault, and nothing is appended.
func TestBuildTemplateRefused(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct {
		name, body, text string
	}{
		{"not JSON", "name: x\nos: ubuntu-22.04\n", "not a JSON object"},
		{"unknown key", recipeJSON(map[string]any{"kubernetes": "v1.30.4"}), "kubernetes"},
		{"wrong type", recipeJSON(map[string]any{"rules.cpu": "two"}), "cpu"},
		{"http manifest", recipeJSON(map[string]any{"cni.manifest": "http://example.com/antrea.yml"}), "cni.manifest: must be an https URL"},
		{"bad version", recipeJSON(map[string]any{"kubernetesVersion": "1.30"}), "kubernetesVersion: must be vMAJOR.MINOR.PATCH"},
		{"two faults", recipeJSON(map[string]any{"name": "bad name", "containerdVersion": nil}), "name: must match"},
		{"bad script", recipeJSON(map[string]any{"scripts": []any{map[string]any{"name": "Bad_Name", "run": "#!/bin/sh\n"}}}), "scripts[0].name"},
		{"empty", "", "not a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, h.do(http.MethodPost, base+"/templates/action/build", tt.body, providerOpt), http.StatusBadRequest, cse.MinorDefault, tt.text)
		})
	}
	rec := h.do(http.MethodPost, base+"/templates/action/build", recipeJSON(map[string]any{"name": "bad name", "containerdVersion": nil}), providerOpt)
	if _, d := cseError(t, rec); !strings.Contains(d, "containerdVersion: missing") || strings.Contains(d, "\n") {
		t.Errorf("every fault on one line: %q", d)
	}
	if n := len(h.cmds.commands()); n != 0 {
		t.Errorf("%d commands appended", n)
	}
}

// TestImportTemplate: an import takes the revision given, unless taken, or the next one;
// its body is read strictly and checked field by field.
func TestImportTemplate(t *testing.T) {
	h := newHarness(t)
	imp := func(body string) *cse.TemplateAccepted {
		rec := h.do(http.MethodPost, base+"/templates/action/import", body, providerOpt)
		if rec.Code != http.StatusAccepted {
			return nil
		}
		a := decode[cse.TemplateAccepted](t, rec)
		return &a
	}
	if a := imp(importJSON(map[string]any{"revision": 5, "sha256": strings.Repeat("ab", 32)})); a == nil || a.Revision != 5 {
		t.Fatalf("import as revision 5: %+v", a)
	}
	if a := imp(importJSON(nil)); a == nil || a.Revision != 6 {
		t.Fatalf("import with no revision: %+v", a)
	}
	cmd := h.cmds.commands()[0]
	p, ok := cmd.Payload.(events.ImportTemplate)
	if !ok || p.OVA != "/srv/ova/tkgm.ova" || p.SHA256 != strings.Repeat("ab", 32) || p.Template.Revision != 5 || p.Template.Source != events.SourceImported ||
		p.Template.KubernetesVersion != "v1.30.4+vmware.1" || p.Template.CNI != (events.Component{Name: "antrea", Version: "1.15.1"}) || p.Template.Rules.CPU != 2 {
		t.Errorf("import command %+v", cmd.Payload)
	}
	for _, tt := range []struct{ name, body, text string }{
		{"taken", importJSON(map[string]any{"revision": 5}), "revision 5 exists (BUILDING): revisions are never reused; leave the revision out to take the next one (7)"},
		{"unknown key", importJSON(map[string]any{"kubernetes": "v1.30.4"}), `unknown field "kubernetes"`},
		{"bad version", importJSON(map[string]any{"kubernetes_version": "1.30"}), "kubernetes_version: must be"},
		{"no ova", importJSON(map[string]any{"ova": nil}), "ova: missing"},
		{"relative ova", importJSON(map[string]any{"ova": "tkgm.ova"}), "ova: must be an https URL or an absolute file path"},
		{"bad checksum", importJSON(map[string]any{"sha256": "abc"}), "sha256"},
		{"negative revision", importJSON(map[string]any{"revision": -1}), "revision: must be 1 or more"},
		{"memory", importJSON(map[string]any{"memory_mb": 10}), "memory_mb"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, h.do(http.MethodPost, base+"/templates/action/import", tt.body, providerOpt), http.StatusBadRequest, cse.MinorDefault, tt.text)
		})
	}
	if n := len(h.cmds.commands()); n != 2 {
		t.Errorf("%d commands, want 2", n)
	}
}

// TestRetireTemplate: deprecation and delete act on revisions in the catalog only; a
// deprecated revision is refused to new clusters at once, existing ones are left alone; a
// revision clusters use is not deleted, and the refusal names them.
func TestRetireTemplate(t *testing.T) {
	h := newHarness(t)
	const used = "ubuntu-k8s-1.29" // the harness's creates use revision 1
	h.exec.sync()
	id, _ := h.running("web")
	h.create("api", as(orgB, bob))

	// Nothing there: 404.
	wantError(t, h.do(http.MethodPost, templatePath(used, 7)+"/action/deprecate", "", providerOpt), http.StatusNotFound, cse.MinorDefault, "template ubuntu-k8s-1.29 revision 7 not found")
	wantError(t, h.do(http.MethodDelete, templatePath(tmpl, 1), "", providerOpt), http.StatusNotFound, cse.MinorDefault, "not found")
	wantError(t, h.do(http.MethodDelete, base+"/template/"+used+"/one", "", providerOpt), http.StatusNotFound, cse.MinorDefault, "a revision is a number")

	// In use: refused, naming the clusters.
	rec := h.do(http.MethodDelete, templatePath(used, 1), "", providerOpt)
	wantError(t, rec, http.StatusBadRequest, cse.MinorDefault, "is used by 2 cluster(s): api (org beta), web (org acme)")

	// Deprecated (no body: deprecate): tenants' new clusters are refused, at once.
	rec = h.do(http.MethodPost, templatePath(used, 1)+"/action/deprecate", "", providerOpt)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("deprecate: %d %s", rec.Code, rec.Body)
	}
	if got := decode[cse.ProviderTemplate](t, rec); !got.Deprecated || got.Status != template.StatusReady {
		t.Errorf("deprecate answered %+v", got)
	}
	depID := strings.TrimPrefix(rec.Header().Get("Location"), base+"/operations/")
	wantError(t, h.do(http.MethodPost, base+"/clusters", createBody("new", "vdc1", 1)), http.StatusBadRequest, cse.MinorDefault, "is deprecated")
	h.exec.runTemplate(depID)
	wantError(t, h.do(http.MethodPost, base+"/clusters", createBody("new", "vdc1", 1)), http.StatusBadRequest, cse.MinorDefault, "is deprecated")
	if rec := h.do(http.MethodGet, clusterPath(id), ""); rec.Code != http.StatusOK {
		t.Errorf("an existing cluster on the deprecated revision: %d", rec.Code)
	}
	// And undone.
	rec = h.do(http.MethodPost, templatePath(used, 1)+"/action/deprecate", `{"deprecated": false}`, providerOpt)
	if got := decode[cse.ProviderTemplate](t, rec); rec.Code != http.StatusAccepted || got.Deprecated {
		t.Errorf("undo: %d %+v", rec.Code, got)
	}
	wantError(t, h.do(http.MethodPost, templatePath(used, 1)+"/action/deprecate", `{"deprecate": true}`, providerOpt),
		http.StatusBadRequest, cse.MinorDefault, `unknown field "deprecate"`)

	// A revision being built is neither deprecated nor deleted.
	b, _ := h.build(recipeJSON(nil))
	wantError(t, h.do(http.MethodDelete, templatePath(tmpl, b.Revision), "", providerOpt), http.StatusBadRequest, cse.MinorDefault, "is BUILDING")
	h.exec.runTemplate(b.OperationID)

	// A build that failed: nothing to deprecate; nothing to delete once rolled back, but
	// what a failure with no rollback left is deleted.
	for _, rollback := range []bool{true, false} {
		f, _ := h.build(recipeJSON(nil))
		cmd := h.exec.command(f.OperationID)
		bt := cmd.Payload.(events.BuildTemplate)
		h.exec.record(cmd, events.TemplateBuildStarted{Recipe: bt.Recipe, Revision: bt.Revision, CatalogItem: events.TemplateItemName(tmpl, bt.Revision)})
		h.exec.record(cmd, events.OperationFailed{Failure: events.Failure{Code: events.CodeVCDError, Message: "capture refused"}, Rollback: rollback})
		if rollback {
			h.exec.record(cmd, events.OperationRolledBack{})
		}
		wantError(t, h.do(http.MethodPost, templatePath(tmpl, f.Revision)+"/action/deprecate", "", providerOpt), http.StatusBadRequest, cse.MinorDefault, "is FAILED")
		rec := h.do(http.MethodDelete, templatePath(tmpl, f.Revision), "", providerOpt)
		if rollback {
			wantError(t, rec, http.StatusBadRequest, cse.MinorDefault, "is FAILED")
		} else if rec.Code != http.StatusAccepted {
			t.Errorf("delete what a failed build left: %d %s", rec.Code, rec.Body)
		}
	}

	// Unused: deleted; shown DELETING at once, then DELETED, gone for tenants.
	rec = h.do(http.MethodDelete, templatePath(tmpl, b.Revision), "", providerOpt)
	if got := decode[cse.ProviderTemplate](t, rec); rec.Code != http.StatusAccepted || got.Status != template.StatusDeleting {
		t.Fatalf("delete: %d %+v", rec.Code, got)
	}
	delID := strings.TrimPrefix(rec.Header().Get("Location"), base+"/operations/")
	h.exec.runTemplate(delID)
	for _, tt := range h.providerTemplates() {
		if tt.Name == tmpl && tt.Revision == b.Revision && tt.Status != template.StatusDeleted {
			t.Errorf("after the delete: %+v", tt)
		}
	}
	for _, tt := range decode[[]cse.Template](t, h.do(http.MethodGet, "/api/cse/templates", "")) {
		if tt.Name == tmpl { // nor the failed ones
			t.Errorf("tenants still see %+v", tt)
		}
	}
	wantError(t, h.do(http.MethodDelete, templatePath(tmpl, b.Revision), "", providerOpt), http.StatusNotFound, cse.MinorDefault, "not found")
	// The next build reuses no revision: neither deleted nor failed.
	if again, _ := h.build(recipeJSON(nil)); again.Revision != b.Revision+3 {
		t.Errorf("after a delete: revision %d, want %d", again.Revision, b.Revision+3)
	}
}
