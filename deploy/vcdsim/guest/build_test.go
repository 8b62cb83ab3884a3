package guest_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kaasproject/kaas/deploy/vcdsim/guest"
)

// The build's user data is written here from the build's guest contract (kaas's renderer
// is another package's work): what matters to the guest is build.env, the scripts and the
// report script.

var repo = guest.Repository{
	Kubernetes: []string{"v1.29.8", "v1.30.3", "v1.30.4"},
	Containerd: []string{"1.7.19", "1.7.20"},
	Manifests:  []string{"https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
}

type recipe struct {
	env      [][2]string
	rawEnv   string      // build.env as written, instead of env quoted
	scripts  [][2]string // file name under build.d, content
	noReport bool
}

func goodRecipe() recipe {
	return recipe{env: [][2]string{{"KAAS_OS", "ubuntu-22.04"}, {"KAAS_KUBERNETES_VERSION", "v1.30.4"}, {"KAAS_CONTAINERD_VERSION", "1.7.20"},
		{"KAAS_CNI_NAME", "antrea"}, {"KAAS_CNI_VERSION", "1.15.1"}, {"KAAS_CNI_MANIFEST", repo.Manifests[0]}, {"KAAS_SCRIPTS", "10-motd.sh 20-check.sh"}},
		scripts: [][2]string{{"10-motd.sh", "#!/bin/sh\necho 'Built by kaas' > /etc/motd\n"}, {"20-check.sh", "#!/bin/sh\ntrue\n"}}}
}

// with replaces (or, with "", removes) one build.env key.
func (r recipe) with(key, value string) recipe {
	env := slices.Clone(r.env)
	i := slices.IndexFunc(env, func(kv [2]string) bool { return kv[0] == key })
	if value == "" {
		r.env = slices.Delete(env, i, i+1)
		return r
	}
	env[i][1] = value
	r.env = env
	return r
}

func (r recipe) userData(t *testing.T) map[string]string {
	t.Helper()
	type file struct {
		Path        string `json:"path"`
		Permissions string `json:"permissions"`
		Content     string `json:"content"`
	}
	var env strings.Builder
	for _, kv := range r.env {
		fmt.Fprintf(&env, "%s='%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", `'\''`))
	}
	if r.rawEnv != "" {
		env.Reset()
		env.WriteString(r.rawEnv)
	}
	var files []file
	if !r.noReport {
		files = append(files, file{"/usr/local/bin/kaas-report", "0755", "#!/bin/sh\nexec vmtoolsd --cmd \"info-set guestinfo.kaas.$1 $2\"\n"})
	}
	files = append(files, file{"/etc/kaas/build.env", "0600", env.String()})
	for _, s := range r.scripts {
		files = append(files, file{"/etc/kaas/build.d/" + s[0], "0755", s[1]})
	}
	files = append(files, file{"/usr/local/sbin/kaas-build", "0755", "#!/bin/sh\nset -eu\n. /etc/kaas/build.env\n"})
	doc, err := yaml.Marshal(map[string]any{"write_files": files, "runcmd": [][]string{{"/usr/local/sbin/kaas-build"}}})
	if err != nil {
		t.Fatal(err)
	}
	return info("#cloud-config\n" + string(doc))
}

var allSteps = []string{"prepare", "containerd", "kubernetes", "images", "cni", "script:motd", "script:check", "cleanup"}

// playBuild boots a build VM and plays it at the middle of every step's share of the boot
// delay, then at the end: it returns the statuses seen and the guest.
func playBuild(t *testing.T, vm guest.VM, b guest.Behaviour) ([]string, *guest.Guest) {
	t.Helper()
	b.BootDelay, b.Repository = time.Duration(len(allSteps))*time.Second, repo
	var g guest.Guest
	on := time.Now()
	vm.On = on
	var seen []string
	for i := range len(allSteps) + 1 {
		if err := g.Play(vm, &guest.Cluster{}, b, on.Add(time.Duration(i)*time.Second+time.Second/2)); err != nil &&
			!strings.HasPrefix(vm.Info[guest.KeyStatus], "failed:") {
			t.Fatalf("an error without a failure: %v", err)
		}
		seen = append(seen, vm.Info[guest.KeyStatus])
	}
	return seen, &g
}

func running(steps ...string) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = "running:" + s
	}
	return out
}

// repeat pads a list with its last element to n.
func repeat(l []string, n int) []string {
	for len(l) < n {
		l = append(l, l[len(l)-1])
	}
	return l
}

func TestBuild(t *testing.T) {
	good := goodRecipe()
	for _, tc := range []struct {
		name   string
		r      recipe
		ip     string
		b      guest.Behaviour
		seen   []string // up to the end; padded with the last
		reason string
	}{
		{name: "done", r: good, seen: append(running(allSteps...), "done")},
		{name: "unknown kubernetes patch", r: good.with("KAAS_KUBERNETES_VERSION", "v1.30.99"),
			seen: append(running("prepare", "containerd", "kubernetes"), "failed:kubernetes"), reason: "E: Version '1.30.99-1.1' for 'kubeadm' was not found"},
		{name: "unknown kubernetes minor", r: good.with("KAAS_KUBERNETES_VERSION", "v1.99.0"),
			seen: append(running("prepare", "containerd", "kubernetes"), "failed:kubernetes"), reason: "curl: (22) The requested URL returned error: 403"},
		{name: "unknown containerd", r: good.with("KAAS_CONTAINERD_VERSION", "9.9.9"),
			seen: append(running("prepare", "containerd"), "failed:containerd"), reason: "E: Version '9.9.9-1' for 'containerd.io' was not found"},
		{name: "unknown manifest", r: good.with("KAAS_CNI_MANIFEST", "https://example.com/cni.yaml"),
			seen: append(running("prepare", "containerd", "kubernetes", "images", "cni"), "failed:cni"), reason: "curl: (22) The requested URL returned error: 404"},
		{name: "script sh refuses", r: recipe{env: good.env, scripts: [][2]string{good.scripts[0], {"20-check.sh", "#!/bin/sh\nif then fi\n"}}},
			seen: append(running(allSteps[:7]...), "failed:script:check"), reason: "/etc/kaas/build.d/20-check.sh: 2: Syntax error"},
		{name: "script missing", r: recipe{env: good.env, scripts: good.scripts[:1]},
			seen: append(running(allSteps[:7]...), "failed:script:check"), reason: "cannot open /etc/kaas/build.d/20-check.sh"},
		{name: "no network", r: good, ip: "-", seen: []string{"running:prepare", "failed:prepare"}, reason: "Temporary failure resolving"},
		{name: "key missing", r: good.with("KAAS_CONTAINERD_VERSION", ""),
			seen: append(running("prepare", "containerd"), "failed:containerd"), reason: "KAAS_CONTAINERD_VERSION: parameter not set"},
		{name: "fault", r: good, b: guest.Behaviour{FailAt: "images"},
			seen: append(running("prepare", "containerd", "kubernetes", "images"), "failed:images"), reason: "a fault the simulator was told to inject"},
		{name: "the first failure wins", r: good.with("KAAS_CONTAINERD_VERSION", "9.9.9"), b: guest.Behaviour{FailAt: "images"},
			seen: append(running("prepare", "containerd"), "failed:containerd"), reason: "containerd.io"},
		{name: "hang", r: good, b: guest.Behaviour{HangAt: "cni"}, seen: running("prepare", "containerd", "kubernetes", "images", "cni")},
		{name: "never", r: good, b: guest.Behaviour{FailAt: guest.Never}, seen: running("prepare")},
		{name: "no report script", r: recipe{env: good.env, scripts: good.scripts, noReport: true}, seen: []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip := "10.1.0.10"
			if tc.ip == "-" {
				ip = ""
			}
			vm := guest.VM{Role: guest.RoleWorker, IP: ip, Info: tc.r.userData(t), Bare: true}
			seen, g := playBuild(t, vm, tc.b)
			if want := repeat(slices.Clone(tc.seen), len(seen)); !slices.Equal(seen, want) {
				t.Fatalf("statuses\n got %q\nwant %q", seen, want)
			}
			why, _ := base64.StdEncoding.DecodeString(vm.Info[guest.KeyError])
			if !strings.Contains(string(why), tc.reason) || (tc.reason == "") != (len(why) == 0) {
				t.Fatalf("guestinfo.kaas.error %q, want %q", why, tc.reason)
			}
			inst, done := g.Installed()
			if done != (seen[len(seen)-1] == "done") {
				t.Fatalf("installed %v after %q", done, seen[len(seen)-1])
			}
			if done && (inst.Kubernetes != "v1.30.4" || inst.Containerd != "1.7.20" || inst.CNI != "antrea" || inst.CNIVersion != "1.15.1" ||
				!slices.Equal(inst.Scripts, []string{"motd", "check"})) {
				t.Fatalf("installed %+v", inst)
			}
		})
	}
}

// build.env is read as sh sources it: kaas's quoting is undone, and anything else fails
// at prepare with sh's complaint.
func TestBuildEnvQuoting(t *testing.T) {
	rest := "KAAS_KUBERNETES_VERSION='v1.30.4'\nKAAS_CONTAINERD_VERSION='1.7.20'\nKAAS_CNI_NAME='antrea'\nKAAS_CNI_VERSION='1.15.1'\n" +
		"KAAS_CNI_MANIFEST='" + repo.Manifests[0] + "'\nKAAS_SCRIPTS='10-motd.sh 20-check.sh'\n"
	for _, tc := range []struct{ line, os, reason string }{
		{line: `KAAS_OS='ubuntu'\''s 22.04'`, os: "ubuntu's 22.04"},
		{line: `KAAS_OS=ubuntu-22.04`, os: "ubuntu-22.04"},
		{line: "KAAS_OS='ubuntu", reason: "Unterminated quoted string"},
		{line: "KAAS_OS=$(reboot)", reason: "not quoted as kaas quotes it"},
		{line: "KAAS_OS='a' 'b'", reason: "not quoted as kaas quotes it"},
		{line: "export KAAS_OS", reason: "not found"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			r := goodRecipe()
			r.rawEnv = tc.line + "\n" + rest
			vm := guest.VM{Role: guest.RoleWorker, IP: "10.1.0.10", Info: r.userData(t)}
			seen, g := playBuild(t, vm, guest.Behaviour{})
			why, _ := base64.StdEncoding.DecodeString(vm.Info[guest.KeyError])
			if tc.reason == "" {
				if inst, _ := g.Installed(); seen[len(seen)-1] != "done" || inst.OS != tc.os {
					t.Fatalf("%q: %q, installed %+v", seen, why, inst)
				}
				return
			}
			if seen[len(seen)-1] != "failed:prepare" || !strings.Contains(string(why), tc.reason) {
				t.Fatalf("%q: %q", seen, why)
			}
		})
	}
}

// A node whose template has nothing installed fails at kubeadm: it is not found.
func TestBareNode(t *testing.T) {
	n := newNode(guest.RoleControlPlane, "10.1.0.10", "", info(render(t, guest.RoleControlPlane, params("mstr-a"))))
	n.vm.Bare = true
	status, err := n.bootWhy(t, &guest.Cluster{}, guest.Behaviour{})
	why, _ := base64.StdEncoding.DecodeString(n.vm.Info[guest.KeyError])
	if status != "failed:kubeadm-init" || !strings.Contains(string(why), "kubeadm: not found") || err == nil {
		t.Fatalf("%s %q %v", status, why, err)
	}
	// A silent VM (no cloud-init, no VMware Tools) reports nothing, ever.
	s := newNode(guest.RoleControlPlane, "10.1.0.11", "", info(render(t, guest.RoleControlPlane, params("mstr-b"))))
	s.vm.Silent, s.vm.On = true, time.Now()
	s.g.Play(s.vm, &guest.Cluster{}, guest.Behaviour{BootDelay: time.Second}, s.vm.On.Add(time.Hour))
	if st := s.vm.Info[guest.KeyStatus]; st != "" {
		t.Fatalf("a silent VM reported %q", st)
	}
}
