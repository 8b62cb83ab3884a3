package guestsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kaasproject/kaas/executors"
)

// The template build's guest contract (issue 12): a VM made from a base OS image and
// powered on with a build's user data customizes itself and reports each step, then done,
// or failed:<step> with its failing command's last lines in guestinfo.kaas.error. This is
// the small guest of the in-memory VCD; vcdsim plays the richer one.

// Paths of the build's user data.
const (
	buildScript  = "/usr/local/sbin/kaas-build"
	buildEnv     = "/etc/kaas/build.env"
	buildScripts = "/etc/kaas/build.d"
)

// buildKeys are build.env's keys, in their order.
var buildKeys = []string{"KAAS_OS", "KAAS_KUBERNETES_VERSION", "KAAS_CONTAINERD_VERSION", "KAAS_CNI_NAME", "KAAS_CNI_VERSION",
	"KAAS_CNI_MANIFEST", "KAAS_SCRIPTS"}

// Repository is what a build guest can install: the package repositories' Kubernetes and
// containerd versions, and the CNI manifests the internet serves.
type Repository struct {
	Kubernetes []string `json:"kubernetes"` // v1.30.4
	Containerd []string `json:"containerd"` // 1.7.20
	Manifests  []string `json:"manifests"`  // https URLs
}

// DefaultRepository holds the Kubernetes patch releases of v1.27 to v1.33, containerd's of
// 1.6 to 2.1, and the manifests of Antrea 1.11 to 1.16 and Calico 3.26 to 3.29, as
// released (a patch here and there may be missing upstream; none of kaas's recipes uses one).
func DefaultRepository() Repository {
	var r Repository
	for minor, last := range map[int]int{27: 16, 28: 15, 29: 15, 30: 14, 31: 10, 32: 6, 33: 2} {
		for p := 0; p <= last; p++ {
			r.Kubernetes = append(r.Kubernetes, fmt.Sprintf("v1.%d.%d", minor, p))
		}
	}
	for minor, last := range map[string]int{"1.6": 38, "1.7": 27, "2.0": 5, "2.1": 3} {
		for p := 0; p <= last; p++ {
			r.Containerd = append(r.Containerd, fmt.Sprintf("%s.%d", minor, p))
		}
	}
	for minor := 11; minor <= 16; minor++ {
		for p := 0; p <= 5; p++ {
			r.Manifests = append(r.Manifests, fmt.Sprintf("https://github.com/antrea-io/antrea/releases/download/v1.%d.%d/antrea.yml", minor, p))
		}
	}
	for minor := 26; minor <= 29; minor++ {
		for p := 0; p <= 5; p++ {
			r.Manifests = append(r.Manifests, fmt.Sprintf("https://raw.githubusercontent.com/projectcalico/calico/v3.%d.%d/manifests/calico.yaml", minor, p))
		}
	}
	slices.Sort(r.Kubernetes)
	slices.Sort(r.Containerd)
	return r
}

// BuildGuest is a build VM's guest.
type BuildGuest struct {
	// OnAt is when the VM was powered on; zero while it is off.
	OnAt time.Time
	// GuestInfo holds the user data kaas set and the keys the guest reports; PlayBuild
	// updates it.
	GuestInfo map[string]string
	// Run is what the guest made of its user data at its first boot; PlayBuild sets it.
	Run *BuildRun
}

// BuildRun is a build guest's customization: its steps, and which fails and how.
type BuildRun struct {
	Steps []string `json:"steps"`
	// FailAt is the index of the step that fails, -1 for none.
	FailAt int    `json:"failAt"`
	Error  string `json:"error,omitempty"`
	// Kubernetes is the version it installs (what a template captured from it runs), once
	// Done.
	Kubernetes string `json:"kubernetes,omitempty"`
	Done       bool   `json:"done,omitempty"`
}

// PlayBuild runs the build guest's customization up to now: after power on it reports its
// steps in order over delay, then done; a recipe asking for what the repository does not
// hold fails at its step as a real Ubuntu would. It reports whether it changed anything.
func PlayBuild(g *BuildGuest, repo Repository, delay time.Duration, now time.Time) bool {
	gi := g.GuestInfo
	status := gi[executors.GuestStatus]
	if g.OnAt.IsZero() || now.Before(g.OnAt) || status == "done" || strings.HasPrefix(status, "failed") {
		return false
	}
	if g.Run == nil {
		run := planBuild(gi[executors.GuestUserData], repo)
		g.Run = &run
	}
	r := g.Run
	slot := len(r.Steps) + 1
	if delay > 0 {
		slot = int(now.Sub(g.OnAt) * time.Duration(len(r.Steps)+1) / delay)
	}
	next := "done"
	switch {
	case r.FailAt >= 0 && slot > r.FailAt:
		gi[executors.GuestError] = base64.StdEncoding.EncodeToString([]byte(lastLines(r.Error)))
		next = "failed:" + r.Steps[r.FailAt]
	case slot < len(r.Steps):
		next = "running:" + r.Steps[slot]
	}
	if status == next {
		return false
	}
	gi[executors.GuestStatus] = next
	r.Done = next == "done"
	return true
}

// lastLines is what the build script reports of a failing command's output: at most its
// last 10 lines and 1 KiB.
func lastLines(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	s := strings.Join(lines, "\n")
	if len(s) > 1024 {
		s = s[len(s)-1024:]
	}
	return s
}

// planBuild reads the user data as cloud-init and the build script would, and works out
// the customization's steps and the first that fails.
func planBuild(encoded string, repo Repository) BuildRun {
	fail := func(step, msg string) BuildRun {
		return BuildRun{Steps: []string{step}, FailAt: 0, Error: msg}
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || !bytes.HasPrefix(raw, []byte("#cloud-config\n")) {
		return fail("cloud-init", "cloud-init: the user data is no cloud-config")
	}
	var ud userData
	if err := read(raw, &ud); err != nil || len(ud.RunCmd) == 0 {
		return fail("cloud-init", "cloud-init: the cloud-config cannot be read")
	}
	files := map[string]string{}
	exe := map[string]bool{}
	for _, f := range ud.WriteFiles {
		files[f.Path] = f.Content
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		exe[f.Path] = err == nil && mode&0o100 != 0
	}
	var first []string
	if err := json.Unmarshal(ud.RunCmd[0], &first); err != nil || len(first) != 1 || first[0] != buildScript ||
		!exe[buildScript] || !strings.HasPrefix(files[buildScript], "#!") {
		return fail("cloud-init", "cloud-init: runcmd does not run "+buildScript)
	}
	env, err := parseEnv(files[buildEnv])
	if err != nil {
		return fail("prepare", buildEnv+": "+err.Error())
	}

	run := BuildRun{Steps: []string{"prepare", "containerd", "kubernetes", "images", "cni"}, FailAt: -1, Kubernetes: env["KAAS_KUBERNETES_VERSION"]}
	type check struct {
		step string
		ok   bool
		err  string
	}
	k8s := strings.TrimPrefix(env["KAAS_KUBERNETES_VERSION"], "v")
	checks := []check{
		{"containerd", slices.Contains(repo.Containerd, env["KAAS_CONTAINERD_VERSION"]),
			fmt.Sprintf("E: Version '%s-1' for 'containerd.io' was not found", env["KAAS_CONTAINERD_VERSION"])},
		{"kubernetes", slices.Contains(repo.Kubernetes, env["KAAS_KUBERNETES_VERSION"]),
			fmt.Sprintf("E: Version '%s-1.1' for 'kubeadm' was not found", k8s)},
		{"cni", slices.Contains(repo.Manifests, env["KAAS_CNI_MANIFEST"]), "curl: (22) The requested URL returned error: 404"},
	}
	for _, name := range strings.Fields(env["KAAS_SCRIPTS"]) {
		p := path.Join(buildScripts, name)
		step := "script:" + scriptName(name)
		run.Steps = append(run.Steps, step)
		body, written := files[p]
		switch {
		case !written || !exe[p]:
			checks = append(checks, check{step, false, fmt.Sprintf("%s: Permission denied or not found", p)})
		default:
			msg, ok := shellSyntax(body, p)
			checks = append(checks, check{step, ok, msg})
		}
	}
	run.Steps = append(run.Steps, "cleanup")
	for _, c := range checks {
		if !c.ok {
			run.FailAt, run.Error = slices.Index(run.Steps, c.step), c.err
			break
		}
	}
	return run
}

// scriptName is a provider script's step name: its file name without the order prefix
// and the .sh suffix (10-motd.sh is motd).
func scriptName(file string) string {
	file = strings.TrimSuffix(file, ".sh")
	if i := strings.IndexByte(file, '-'); i > 0 && strings.Trim(file[:i], "0123456789") == "" {
		file = file[i+1:]
	}
	return file
}

// shellSyntax runs `sh -n` on a script, as the build's step would fail running it.
func shellSyntax(body, file string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-n")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return strings.ReplaceAll(strings.TrimSpace(string(out)), "sh: ", file+": "), false
	}
	return "", true // no sh to ask: the simulator takes the script as it is
}

var envLine = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)='(.*)'$`)

// parseEnv reads build.env as the shell sources it: KEY='value' lines, where a quote in a
// value closes the quotes, is escaped, and opens them again. Every key of the contract
// must be there, in order.
func parseEnv(s string) (map[string]string, error) {
	env := map[string]string{}
	var keys []string
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		m := envLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %q is not KEY='value'", line)
		}
		parts := strings.Split(m[2], `'\''`)
		for _, p := range parts {
			if strings.Contains(p, "'") {
				return nil, fmt.Errorf("the value of %s is not quoted right", m[1])
			}
		}
		env[m[1]] = strings.Join(parts, "'")
		keys = append(keys, m[1])
	}
	if !slices.Equal(keys, buildKeys) {
		return nil, fmt.Errorf("keys %v, want %v", keys, buildKeys)
	}
	return env, nil
}
