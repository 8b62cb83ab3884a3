package kaasctl_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// exampleRecipe is deploy/recipes' commented example recipe, as a provider writes it.
const exampleRecipe = "../recipes/ubuntu-22.04_k8s-1.30_antrea-1.15.yaml"

func writeRecipes(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(exampleRecipe)
	if err != nil {
		t.Fatal(err)
	}
	recipeYAML := string(data)
	bad := strings.Replace(recipeYAML, "manifest: https://", "manifest: http://", 1)
	bad = strings.Replace(bad, "containerdVersion: 1.7.20", "containerdVersion: latest", 1)
	for name, body := range map[string]string{"good.yaml": recipeYAML, "bad.yaml": bad, "typo.yaml": recipeYAML + "kubernetes: v1.30.4\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTemplateCommands is a provider's template commands against kaasd on vcdsim: the
// provider's list (golden), a build accepted, and every refusal kaasctl or kaas makes.
// (A build carried out needs kaas's template executor: kaasd's end-to-end tests follow one.)
func TestTemplateCommands(t *testing.T) {
	e := startEnv(t)
	e.login("administrator", "System", "kaas-admin")
	e.login("alice", "acme", "alice-pass")
	dir := t.TempDir()
	writeRecipes(t, dir)
	const admin = "administrator"
	e.runSteps(t, dir, []step{
		{name: "provider's list", user: admin, args: []string{"template", "list"}, golden: "template-list.table"},
		{name: "provider's list wide", user: admin, args: []string{"template", "list", "-o", "wide"}, golden: "template-list.wide"},
		{name: "provider's list json", user: admin, args: []string{"template", "list", "-o", "json"}, golden: "template-list.json"},
		{name: "provider's names", user: admin, args: []string{"template", "list", "-o", "name"}, out: []string{`(?m)^ubuntu-22.04_k8s-1.29_antrea-1.14 1$`}},
		{name: "tenant's list is CSE's", args: []string{"template", "list", "-o", "wide"}, out: []string{`DEFAULT\s+CATALOG`}},

		{name: "a bad recipe is refused before it is sent", user: admin, args: []string{"template", "build", "{dir}/good.yaml", "{dir}/bad.yaml"}, code: 2,
			err: []string{`bad.yaml: containerdVersion: must be MAJOR.MINOR.PATCH \(1.7.20\), not "latest"; cni.manifest: must be an https URL`}},
		{name: "an unknown key", user: admin, args: []string{"template", "build", "{dir}/typo.yaml"}, code: 2, err: []string{`typo.yaml: .*kubernetes`}},
		{name: "no such file", user: admin, args: []string{"template", "build", "{dir}/none.yaml"}, code: 2, err: []string{`read the recipe`}},
		{name: "no recipe", user: admin, args: []string{"template", "build"}, code: 2, err: []string{`one or more recipe files`}},
		{name: "tenants may not build", args: []string{"template", "build", "{dir}/good.yaml"}, code: 1, err: []string{`for providers .*only.*\(HTTP 403\)`}},
		{name: "nothing was sent", user: admin, args: []string{"template", "list"}, golden: "template-list.table"},
		{name: "build", user: admin, args: []string{"template", "build", "{dir}/good.yaml"}, golden: "template-build.table"},
		{name: "build json", user: admin, args: []string{"template", "build", "{dir}/good.yaml", "-o", "json"},
			out: []string{`"name": "ubuntu-22.04_k8s-1.30_antrea-1.15"`, `"revision": 3`, `"operation_id": "[0-9a-f-]{36}"`}},
		{name: "the repository's recipes", user: admin, args: []string{"template", "build", "-o", "name",
			"../recipes/ubuntu-22.04_k8s-1.29_antrea-1.14.yaml", "../recipes/ubuntu-24.04_k8s-1.31_calico-3.28.yaml"},
			out: []string{`^ubuntu-22.04_k8s-1.29_antrea-1.14 2\nubuntu-24.04_k8s-1.31_calico-3.28 1\n$`}},

		{name: "import checked by flag", user: admin, args: []string{"template", "import", "--name", "tkgm", "--ova", "tkgm.ova", "--os", "photon-5",
			"--cni", "antrea", "--cni-version", "1.15.1"}, code: 2,
			err: []string{`--kubernetes-version: missing`, `--ova: must be an https URL or an absolute file path`}},
		{name: "deprecate a revision that is not there", user: admin, args: []string{"template", "deprecate", "nope", "1"}, code: 1,
			err: []string{`template nope revision 1 not found .*\(HTTP 404\)`}},
		{name: "delete a revision that is not a number", user: admin, args: []string{"template", "delete", "nope", "one"}, code: 2,
			err: []string{`revision "one": a number, 1 or more`}},
		{name: "tenants may not delete", args: []string{"template", "delete", "ubuntu-22.04_k8s-1.29_antrea-1.14", "1"}, code: 1,
			err: []string{`\(HTTP 403\)`}},
	})
}

// fakeTemplateAPI plays kaas's template routes for one build, whose operation moves on at
// each poll, so that --wait's display is tested without an executor.
type fakeTemplateAPI struct {
	mu     sync.Mutex
	polls  int
	recipe events.Recipe
	steps  []cse.Operation
}

func (f *fakeTemplateAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/cse/3.0/templates/action/build":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f.recipe); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":{"minor error code":-1,"error description":"bad body"}}`))
			return
		}
		w.Header().Set("Location", "/api/cse/3.0/operations/op-1")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(cse.TemplateAccepted{Name: f.recipe.Name, Revision: 2, OperationID: "op-1", TemplateID: "t-2"})
	case r.Method == http.MethodGet && r.URL.Path == "/api/cse/3.0/operations/op-1":
		op := f.steps[min(f.polls, len(f.steps)-1)]
		f.polls++
		_ = json.NewEncoder(w).Encode(op)
	case r.Method == http.MethodGet && r.URL.Path == "/api/cse/3.0/templates":
		_ = json.NewEncoder(w).Encode([]cse.ProviderTemplate{
			{Name: f.recipe.Name, Revision: 1, KubernetesVersion: "v1.30.4", Status: "READY"},
			{Name: f.recipe.Name, Revision: 2, KubernetesVersion: f.recipe.KubernetesVersion, OS: f.recipe.OS, CNI: "antrea", CNIVersion: "1.15.1",
				Source: "built", Status: "READY", Step: "TemplateBuilt", GuestStep: "cleanup", OperationID: "op-1"},
		})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":{"minor error code":-1,"error description":"no route"}}`))
	}
}

// TestTemplateBuildWait: --wait follows the build with the step and the guest's step, then
// shows the revision built; a build that fails exits 1 with its reason.
func TestTemplateBuildWait(t *testing.T) {
	for _, tt := range []struct {
		name  string
		last  cse.Operation
		code  int
		err   []string
		stdin string
	}{
		{name: "succeeds", last: cse.Operation{Operation: "BuildTemplate", Status: "SUCCEEDED", Step: "TemplateBuilt", Percent: 100},
			err: []string{"BuildTemplate SUCCEEDED TemplateBuilt 100%"}},
		{name: "fails", last: cse.Operation{Operation: "BuildTemplate", Status: "FAILED", Step: "OperationRolledBack",
			Error: &cse.KaasError{Code: "CUSTOMIZATION_FAILED", Message: "E: Version '1.30.99-1.1' for 'kubeadm' was not found", Step: "kubernetes"}},
			code: 1, err: []string{`template ubuntu-22.04_k8s-1.30_antrea-1.15 revision 2: BuildTemplate FAILED: .*CUSTOMIZATION_FAILED.*kubeadm`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeTemplateAPI{steps: []cse.Operation{
				{Operation: "BuildTemplate", Status: "PENDING"},
				{Operation: "BuildTemplate", Status: "RUNNING", Step: "BuildVMStarted", Percent: 26},
				{Operation: "BuildTemplate", Status: "RUNNING", Step: "customize: kubernetes", Percent: 40},
				tt.last,
			}}
			srv := httptest.NewServer(api)
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			writeRecipes(t, dir)
			cfg := "url: " + srv.URL + "\norg: System\nuser: administrator\ntoken: t\n"
			if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, dir, "", "template", "build", filepath.Join(dir, "good.yaml"), "--wait", "--poll=10ms")
			checkResult(t, step{args: []string{"template", "build"}, code: tt.code, err: append(tt.err, "BuildTemplate RUNNING customize: kubernetes 40%")}, r)
			if tt.code == 0 && !strings.Contains(r.out, "ubuntu-22.04_k8s-1.30_antrea-1.15   2") {
				t.Errorf("the revision built is not shown:\n%s", r)
			}
			if strings.Contains(r.out, "   1   ") {
				t.Errorf("a revision not built is shown:\n%s", r)
			}
			if api.recipe.Name != "ubuntu-22.04_k8s-1.30_antrea-1.15" || len(api.recipe.Scripts) != 1 || api.recipe.Rules.MemoryMB != 4096 {
				t.Errorf("the recipe sent: %+v", api.recipe)
			}
			var lines bytes.Buffer
			lines.WriteString(r.err)
			if n := strings.Count(lines.String(), "customize: kubernetes"); n != 1 {
				t.Errorf("one line per step: %d lines for one step:\n%s", n, r.err)
			}
		})
	}
}
