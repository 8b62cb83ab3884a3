package bootstrap

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/recipe"
)

// buildRecipe is the contract's example recipe: a script, rules, an OVA URL.
func buildRecipe() events.Recipe {
	return events.Recipe{
		Name:        "ubuntu-22.04_k8s-1.30_antrea-1.15",
		Description: "Kubernetes v1.30.4 on Ubuntu 22.04 with Antrea 1.15.1",
		OS:          "ubuntu-22.04",
		Base: events.BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64",
			OVA: "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"},
		KubernetesVersion: "v1.30.4",
		ContainerdVersion: "1.7.20",
		CNI: events.RecipeCNI{Name: "antrea", Version: "1.15.1",
			Manifest: "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		Rules: events.TemplateRules{CPU: 2, MemoryMB: 4096, SizingPolicy: "medium"},
		Scripts: []events.RecipeScript{
			{Name: "motd", Run: "#!/bin/sh\necho \"Built by kaas\" > /etc/motd\n"},
			{Name: "sysstat", Run: "#!/bin/sh\nset -eu\napt-get install -y sysstat\n"},
		},
	}
}

// The build's user data is what a provider's base image runs on a real VCD: changes show
// up as diffs here, and deploy/scripts/lint-shell.sh shellchecks its scripts.
func TestRenderBuildGolden(t *testing.T) {
	got, err := RenderBuild(buildRecipe())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "build.golden.yaml")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./executors/bootstrap -update)", err)
	}
	if got != string(want) {
		t.Fatalf("build user data changed:\n%s", got)
	}
}

// Each point of the build's guest contract, read back as cloud-init reads it.
func TestRenderBuildContract(t *testing.T) {
	for _, tt := range []struct {
		name    string
		scripts []events.RecipeScript
		files   []string // the provider's scripts' files
	}{
		{"two scripts", buildRecipe().Scripts, []string{"10-motd.sh", "20-sysstat.sh"}},
		{"no script", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := buildRecipe()
			r.Scripts = tt.scripts
			ud, err := RenderBuild(r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ud, "#cloud-config\n") {
				t.Fatalf("not a cloud-config:\n%s", ud)
			}
			p := parse(t, ud)
			if p.cloud.Hostname != "" || p.cloud.SSHAuthorizedKeys != nil {
				t.Errorf("a build sets no hostname and no key: %+v", p.cloud)
			}
			if !slices.EqualFunc(p.cloud.RunCmd, [][]string{{"/usr/local/sbin/kaas-build"}}, slices.Equal) {
				t.Errorf("runcmd %q", p.cloud.RunCmd)
			}
			type want struct{ path, mode, content string }
			ws := []want{
				{"/usr/local/bin/kaas-report", "0755", reportScript},
				{"/etc/kaas/build.env", "0600", "KAAS_OS='ubuntu-22.04'\nKAAS_KUBERNETES_VERSION='v1.30.4'\nKAAS_CONTAINERD_VERSION='1.7.20'\n" +
					"KAAS_CNI_NAME='antrea'\nKAAS_CNI_VERSION='1.15.1'\n" +
					"KAAS_CNI_MANIFEST='https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml'\n" +
					"KAAS_SCRIPTS='" + strings.Join(tt.files, " ") + "'\n"},
			}
			for i, s := range tt.scripts {
				ws = append(ws, want{"/etc/kaas/build.d/" + tt.files[i], "0755", s.Run})
			}
			ws = append(ws, want{"/usr/local/sbin/kaas-build", "0755", buildScript})
			if len(p.cloud.WriteFiles) != len(ws) {
				t.Fatalf("%d files, want %d: %+v", len(p.cloud.WriteFiles), len(ws), p.cloud.WriteFiles)
			}
			for i, w := range ws {
				g := p.cloud.WriteFiles[i]
				if g.Path != w.path || g.Permissions != w.mode || g.Content != w.content {
					t.Errorf("file %d: %s %s\n%s\nwant %s %s\n%s", i, g.Path, g.Permissions, g.Content, w.path, w.mode, w.content)
				}
			}
		})
	}
}

// The build script reports each step of the contract, in its order, and holds no value of
// a recipe: it reads them from build.env.
func TestBuildScriptSteps(t *testing.T) {
	var steps []string
	for line := range strings.Lines(buildScript) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "begin "); ok {
			steps = append(steps, s)
		}
	}
	want := []string{"prepare", "containerd", "kubernetes", "images", "cni", `"script:${name%.sh}"`, "cleanup"}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %q, want %q", steps, want)
	}
	for _, s := range []string{
		`"containerd.io=$KAAS_CONTAINERD_VERSION-1"`,
		`"https://pkgs.k8s.io/core:/stable:/$minor/deb/Release.key"`,
		`"kubeadm=$package" "kubelet=$package" "kubectl=$package"`,
		"apt-mark hold kubeadm kubelet kubectl",
		"SystemdCgroup = true",
		`kubeadm config images pull --kubernetes-version "$KAAS_KUBERNETES_VERSION"`,
		`curl -fsSL --retry 3 -o "/opt/kaas/cni/$KAAS_CNI_NAME-$KAAS_CNI_VERSION.yaml" "$KAAS_CNI_MANIFEST"`,
		"cloud-init clean --logs",
		"tail -n 10", "tail -c 1024", "base64 -w0", `kaas-report status "failed:$step"`, `kaas-report status "done"`,
	} {
		if !strings.Contains(buildScript, s) {
			t.Errorf("the build script lacks %s", s)
		}
	}
	for _, v := range []string{"1.30", "1.7.20", "antrea", "ubuntu"} {
		if strings.Contains(buildScript, v) {
			t.Errorf("the build script holds a recipe's value %q", v)
		}
	}
}

// build.env is sourced by a shell: whatever a value holds comes out as that value.
func TestBuildEnvIsData(t *testing.T) {
	values := append(hostile()[:len(hostile())-1], "", "it's", `a'b"c$(touch /x)d`+"`id`\n\nKAAS_OS=x\n'", "\\'\\")
	for _, v := range values {
		if strings.ContainsRune(v, 0) {
			continue
		}
		env, err := buildEnv([][2]string{{"KAAS_A", v}, {"KAAS_B", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("/bin/sh", "-c", "set -eu\n"+env+`printf '%s|%s' "$KAAS_A" "$KAAS_B"`).Output()
		if err != nil || string(out) != v+"|b" {
			t.Errorf("%.40q: build.env\n%s\nreads back as %q (%v)", v, env, out, err)
		}
	}
	if _, err := buildEnv([][2]string{{"KAAS_A", "a\x00b"}}); err == nil {
		t.Error("wrote a NUL byte")
	}
}

// A manifest URL with quotes and a command substitution passes Validate (it is a URL) and
// reaches the guest's shell as one value.
func TestRenderBuildHostileManifest(t *testing.T) {
	r := buildRecipe()
	r.CNI.Manifest = `https://example.com/a'b"c$(touch${IFS}/x)` + "`id`;d.yaml"
	ud, err := RenderBuild(r)
	if err != nil {
		t.Fatal(err)
	}
	var env string
	for _, f := range parse(t, ud).cloud.WriteFiles {
		if f.Path == BuildEnvPath {
			env = f.Content
		}
	}
	dir := t.TempDir()
	out, err := exec.Command("/bin/sh", "-c", "set -eu\ncd "+dir+"\n"+env+`printf '%s' "$KAAS_CNI_MANIFEST"`).Output()
	if err != nil || string(out) != r.CNI.Manifest {
		t.Errorf("manifest reads back as %q (%v)", out, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("sourcing build.env ran something: %v", entries)
	}
}

// RenderBuild refuses what Validate refuses, and says which field.
func TestRenderBuildRefuses(t *testing.T) {
	for _, tt := range []struct {
		field  string
		change func(*events.Recipe)
	}{
		{"name", func(r *events.Recipe) { r.Name = "a b" }},
		{"kubernetesVersion", func(r *events.Recipe) { r.KubernetesVersion = "v1.30.4\nruncmd: [x]" }},
		{"containerdVersion", func(r *events.Recipe) { r.ContainerdVersion = "1.7.20'; touch /x; '" }},
		{"cni.name", func(r *events.Recipe) { r.CNI.Name = "../etc" }},
		{"cni.version", func(r *events.Recipe) { r.CNI.Version = "1.15.1 x" }},
		{"cni.manifest", func(r *events.Recipe) { r.CNI.Manifest = "http://example.com/antrea.yml" }},
		{"cni.manifest", func(r *events.Recipe) { r.CNI.Manifest = "https://example.com/a\nb" }},
		{"os", func(r *events.Recipe) { r.OS = "" }},
		{"scripts[1].name", func(r *events.Recipe) { r.Scripts[1].Name = "../x" }},
		{"scripts[0].run", func(r *events.Recipe) { r.Scripts[0].Run = "echo no shebang" }},
		{"scripts[1].name", func(r *events.Recipe) { r.Scripts[1].Name = r.Scripts[0].Name }},
	} {
		t.Run(tt.field, func(t *testing.T) {
			r := buildRecipe()
			tt.change(&r)
			ud, err := RenderBuild(r)
			if err == nil {
				t.Fatalf("rendered:\n%s", ud)
			}
			if !strings.Contains(err.Error(), tt.field+": ") {
				t.Errorf("the error does not name %s: %v", tt.field, err)
			}
		})
	}
}

// The build script and the scripts around it pass shellcheck as rendered.
func TestBuildScriptPassesShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (make test installs it, through make lint)")
	}
	ud, err := RenderBuild(buildRecipe())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var scripts []string
	var build string
	for i, f := range parse(t, ud).cloud.WriteFiles {
		if f.Path == BuildEnvPath || strings.HasPrefix(f.Content, "#!") {
			path := filepath.Join(dir, string(rune('a'+i))+".sh")
			content := f.Content
			if f.Path == BuildEnvPath {
				content = "#!/bin/sh\n" + content + "export KAAS_OS KAAS_KUBERNETES_VERSION KAAS_CONTAINERD_VERSION KAAS_CNI_NAME KAAS_CNI_VERSION KAAS_CNI_MANIFEST KAAS_SCRIPTS\n"
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			scripts = append(scripts, path)
			if f.Path == BuildPath {
				build = path
			}
		}
	}
	if len(scripts) != 5 || build == "" {
		t.Fatalf("%d scripts, want 5", len(scripts))
	}
	out, err := exec.Command(sc, append([]string{"--shell=sh", "--severity=style"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
	// dash, Ubuntu's /bin/sh, parses it too.
	if dash, err := exec.LookPath("dash"); err == nil {
		if out, err := exec.Command(dash, "-n", build).CombinedOutput(); err != nil {
			t.Fatalf("dash -n: %v\n%s", err, out)
		}
	}
}

// Every recipe the repository ships parses, validates, is named as its file, renders, has
// scripts that pass shellcheck, and builds (TestBuildScriptRuns's guest).
func TestRepositoryRecipes(t *testing.T) {
	paths, err := filepath.Glob("../../deploy/recipes/*.yaml")
	if err != nil || len(paths) < 3 {
		t.Fatalf("recipes %q, %v: want the repository's three or more", paths, err)
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (make test installs it, through make lint)")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := recipe.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := recipe.Validate(r); err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(filepath.Base(path), ".yaml"); r.Name != want {
				t.Errorf("recipe %q in file %s.yaml", r.Name, want)
			}
			if r.Description == "" || r.Base.OVA == "" {
				t.Error("a shipped recipe has a description and says where its base image comes from")
			}
			if _, err := RenderBuild(r); err != nil {
				t.Fatal(err)
			}
			for _, s := range r.Scripts {
				p := filepath.Join(t.TempDir(), s.Name+".sh")
				if err := os.WriteFile(p, []byte(s.Run), 0o644); err != nil {
					t.Fatal(err)
				}
				// SC1091: a script may source /etc/kaas/build.env, which exists in the guest only.
				if out, err := exec.Command(sc, "--severity=style", "--exclude=SC1091", p).CombinedOutput(); err != nil {
					t.Errorf("script %s: shellcheck: %v\n%s", s.Name, err, out)
				}
			}
			g := runBuild(t, r, nil)
			if g.err != nil || g.reports[len(g.reports)-1] != "status done" {
				t.Fatalf("the build ended with %v, reports %q", g.err, g.reports)
			}
			minor := r.KubernetesVersion[:strings.LastIndex(r.KubernetesVersion, ".")]
			pkg := strings.TrimPrefix(r.KubernetesVersion, "v") + "-1.1"
			for _, c := range []string{
				"containerd.io=" + r.ContainerdVersion + "-1\n",
				"core:/stable:/" + minor + "/deb/Release.key\n",
				"kubeadm=" + pkg + " kubelet=" + pkg + " kubectl=" + pkg + "\n",
				"-o /opt/kaas/cni/" + r.CNI.Name + "-" + r.CNI.Version + ".yaml " + r.CNI.Manifest + "\n",
			} {
				if !strings.Contains(g.calls, c) {
					t.Errorf("no call with %q in\n%s", c, g.calls)
				}
			}
		})
	}
}

// cloud-init reads the build's user data with PyYAML (YAML 1.1): it reads what the Go
// readers read, plain and with a hostile manifest URL.
func TestPyYAMLReadsTheBuild(t *testing.T) {
	python := ""
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import yaml").Run() == nil {
			python = py
			break
		}
	}
	if python == "" {
		t.Fatal("no python3 with PyYAML, cloud-init's YAML reader (make test installs it: deploy/scripts/ensure-pyyaml.sh)")
	}
	hostile := buildRecipe()
	hostile.CNI.Manifest = `https://example.com/a'b"c$(id)` + "`id`:x\\y"
	hostile.Scripts[0].Run = "#!/bin/sh\n# - [x]\nruncmd: ['touch /x']\n---\n'\"\t\\\n"
	for _, r := range []events.Recipe{buildRecipe(), hostile} {
		ud, err := RenderBuild(r)
		if err != nil {
			t.Fatal(err)
		}
		want := parse(t, ud).cloud
		cmd := exec.Command(python, "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))")
		cmd.Stdin = strings.NewReader(ud)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("PyYAML: %v", err)
		}
		var got cloudRead
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("PyYAML reads %+v\nGo reads %+v", got, want)
		}
	}
}
