package guest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The steps a template build reports as running:<step> and fails at as failed:<step>, in
// order; script:<name> steps (one per provider script) come between cni and cleanup.
const (
	StepPrepare    = "prepare"
	StepContainerd = "containerd"
	StepKubernetes = "kubernetes"
	StepImages     = "images"
	StepCNI        = "cni"
	StepCleanup    = "cleanup"
	// PrefixScript starts the step of a provider script: script:<name>.
	PrefixScript = "script:"
)

// The files of a build's user data the guest acts on (the build's guest contract).
const (
	BuildEnvPath    = "/etc/kaas/build.env"
	BuildScriptsDir = "/etc/kaas/build.d"
	ReportPath      = "/usr/local/bin/kaas-report"
)

// The build.env keys, in the order kaas writes them.
var buildKeys = []string{"KAAS_OS", "KAAS_KUBERNETES_VERSION", "KAAS_CONTAINERD_VERSION", "KAAS_CNI_NAME",
	"KAAS_CNI_VERSION", "KAAS_CNI_MANIFEST", "KAAS_SCRIPTS"}

// Repository is what the internet offers a build's guest: package versions of the apt
// repositories and the CNI manifests that download.
type Repository struct {
	// Kubernetes are the kubeadm/kubelet/kubectl versions of pkgs.k8s.io (v1.30.4).
	Kubernetes []string
	// Containerd are the containerd.io versions of Docker's repository (1.7.20).
	Containerd []string
	// Manifests are the URLs a CNI manifest downloads from.
	Manifests []string
}

// Installed is what a template build installed on its VM: a VM captured after the build
// carries it into its template.
type Installed struct {
	OS, Kubernetes, Containerd, CNI, CNIVersion string
	// Scripts are the provider scripts the build ran, by name.
	Scripts []string
}

// buildPlan is what a build will do, decided from its user data when the VM boots: its
// steps in order and the first that fails, with what the failing command wrote.
type buildPlan struct {
	steps     []string
	fail      int // index of the failing step; len(steps) when none fails
	reason    string
	installed Installed
	// silent: nothing can report (no kaas-report), so the build is never seen to run.
	silent bool
}

// errNotBuild is planBuild's answer for user data that is no template build.
var errNotBuild = errors.New("not a template build")

// planBuild reads a build's user data: the build.env kaas wrote, the provider scripts, and
// what the repository has. It answers errNotBuild for user data that writes no build.env.
func planBuild(ud *userData, vm VM, repo Repository) (*buildPlan, error) {
	envFile, ok := ud.files[BuildEnvPath]
	if !ok {
		return nil, errNotBuild
	}
	p := &buildPlan{steps: []string{StepPrepare, StepContainerd, StepKubernetes, StepImages, StepCNI}}
	if r, ok := ud.files[ReportPath]; !ok || r.mode&0o111 == 0 || !strings.HasPrefix(r.content, "#!") {
		p.silent = true
	}
	env, envErr := parseEnv(envFile.content)
	var scripts []string
	if envErr == nil {
		scripts = strings.Fields(env["KAAS_SCRIPTS"])
	}
	for _, f := range scripts {
		p.steps = append(p.steps, PrefixScript+scriptName(f))
	}
	p.steps = append(p.steps, StepCleanup)
	p.fail = len(p.steps)
	failAt := func(step, reason string) {
		if i := slices.Index(p.steps, step); i >= 0 && i < p.fail {
			p.fail, p.reason = i, lastLines(reason)
		}
	}
	if envErr != nil {
		failAt(StepPrepare, envErr.Error())
		return p, nil
	}
	need := func(step string, keys ...string) bool {
		for _, k := range keys {
			if _, ok := env[k]; !ok {
				failAt(step, fmt.Sprintf("/usr/local/sbin/kaas-build: %s: parameter not set", k))
				return false
			}
		}
		return true
	}
	if need(StepPrepare, "KAAS_OS") && vm.IP == "" {
		failAt(StepPrepare, "Err:1 http://archive.ubuntu.com/ubuntu jammy InRelease\n  Temporary failure resolving 'archive.ubuntu.com'\n"+
			"E: Unable to locate package socat")
	}
	if need(StepContainerd, "KAAS_CONTAINERD_VERSION") && !slices.Contains(repo.Containerd, env["KAAS_CONTAINERD_VERSION"]) {
		failAt(StepContainerd, fmt.Sprintf("E: Version '%s-1' for 'containerd.io' was not found", env["KAAS_CONTAINERD_VERSION"]))
	}
	if need(StepKubernetes, "KAAS_KUBERNETES_VERSION") {
		v := env["KAAS_KUBERNETES_VERSION"]
		switch mm := minorOf(v); {
		case mm == "" || !slices.ContainsFunc(repo.Kubernetes, func(k string) bool { return minorOf(k) == mm }):
			// pkgs.k8s.io has no repository for that minor: its Release.key is refused.
			failAt(StepKubernetes, "curl: (22) The requested URL returned error: 403")
		case !slices.Contains(repo.Kubernetes, v):
			failAt(StepKubernetes, fmt.Sprintf("E: Version '%s-1.1' for 'kubeadm' was not found", strings.TrimPrefix(v, "v")))
		}
	}
	if need(StepCNI, "KAAS_CNI_NAME", "KAAS_CNI_VERSION", "KAAS_CNI_MANIFEST") && !slices.Contains(repo.Manifests, env["KAAS_CNI_MANIFEST"]) {
		failAt(StepCNI, "curl: (22) The requested URL returned error: 404")
	}
	for _, f := range scripts {
		step := PrefixScript + scriptName(f)
		path := BuildScriptsDir + "/" + f
		sf, ok := ud.files[path]
		if !ok {
			failAt(step, fmt.Sprintf("sh: 0: cannot open %s: No such file", path))
			continue
		}
		if msg := shellSyntax(path, sf.content); msg != "" {
			failAt(step, msg)
		}
	}
	p.installed = Installed{OS: env["KAAS_OS"], Kubernetes: env["KAAS_KUBERNETES_VERSION"], Containerd: env["KAAS_CONTAINERD_VERSION"],
		CNI: env["KAAS_CNI_NAME"], CNIVersion: env["KAAS_CNI_VERSION"]}
	for _, f := range scripts {
		p.installed.Scripts = append(p.installed.Scripts, scriptName(f))
	}
	return p, nil
}

// playBuild reports the build's steps in order over the boot delay, then done, or fails
// at its failing step (or the one a fault names) with guestinfo.kaas.error.
func (g *Guest) playBuild(vm VM, p *buildPlan, b Behaviour, now time.Time) error {
	if p.silent {
		return nil
	}
	n := len(p.steps)
	at := n // the step running now; n once all ran
	if slot := b.BootDelay / time.Duration(n); slot > 0 {
		at = min(int(now.Sub(vm.On)/slot), n)
	}
	fail, reason := p.fail, p.reason
	if i := slices.Index(p.steps, b.FailAt); i >= 0 && i < fail {
		fail, reason = i, "a fault the simulator was told to inject"
	}
	hang := slices.Index(p.steps, b.HangAt)
	if b.FailAt == Never {
		hang = 0
	}
	switch {
	case hang >= 0 && hang <= fail && at >= hang:
		vm.Info[KeyStatus] = prefixRunning + p.steps[hang]
	case at <= fail && at < n:
		vm.Info[KeyStatus] = prefixRunning + p.steps[at]
	case fail < n:
		vm.Info[KeyError] = base64.StdEncoding.EncodeToString([]byte(reason))
		vm.Info[KeyStatus] = prefixFailed + p.steps[fail]
		return fmt.Errorf("build step %s: %s", p.steps[fail], reason)
	default:
		installed := p.installed
		g.installed = &installed
		vm.Info[KeyStatus] = statusDone
	}
	return nil
}

// Installed says what a template build installed on the VM, once it is done.
func (g *Guest) Installed() (Installed, bool) {
	if g.installed == nil {
		return Installed{}, false
	}
	out := *g.installed
	out.Scripts = slices.Clone(out.Scripts)
	return out, true
}

var minorRE = regexp.MustCompile(`^v(\d+\.\d+)\.\d+$`)

// minorOf is v1.30 of v1.30.4, "" for what is no Kubernetes version.
func minorOf(v string) string {
	m := minorRE.FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	return m[1]
}

var scriptPrefixRE = regexp.MustCompile(`^[0-9]+-`)

// scriptName is motd of 10-motd.sh.
func scriptName(file string) string {
	return strings.TrimSuffix(scriptPrefixRE.ReplaceAllString(file, ""), ".sh")
}

// lastLines is what the build script reports of a failing command's output: its last 10
// lines, at most 1 KiB.
func lastLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > 1024 {
		out = out[len(out)-1024:]
	}
	return out
}

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseEnv reads build.env as sh sources it, for the one form kaas writes: KEY='value'
// lines, where a quote inside a value closes the quoting, adds an escaped quote and opens
// it again. Anything else a shell would reject, or run, is refused with sh's complaint.
func parseEnv(content string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(content, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		key, rest, ok := strings.Cut(line, "=")
		if !ok || !envKeyRE.MatchString(key) {
			return nil, fmt.Errorf("%s: %d: %s: not found", BuildEnvPath, i+1, strings.Fields(line)[0])
		}
		var v strings.Builder
		for len(rest) > 0 {
			switch {
			case rest[0] == '\'':
				end := strings.IndexByte(rest[1:], '\'')
				if end < 0 {
					return nil, fmt.Errorf("%s: %d: Syntax error: Unterminated quoted string", BuildEnvPath, i+1)
				}
				v.WriteString(rest[1 : 1+end])
				rest = rest[end+2:]
			case strings.HasPrefix(rest, `\'`):
				v.WriteByte('\'')
				rest = rest[2:]
			case strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/:,+@%-", rest[0]) >= 0:
				v.WriteByte(rest[0])
				rest = rest[1:]
			default:
				// A space, $, `, ;, a quote of another kind…: sh would split, expand or run it.
				return nil, fmt.Errorf("%s: %d: %q: the value is not quoted as kaas quotes it", BuildEnvPath, i+1, line)
			}
		}
		out[key] = v.String()
	}
	return out, nil
}

// shellSyntax is what `sh -n` says of a script, "" when it accepts it: the guest's sh is
// the host's (dash on Debian and Ubuntu), reading the script on stdin, its complaint given
// the script's path as a real run names it. A host without sh checks nothing.
func shellSyntax(path, script string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-n")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	var exit *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &exit) {
		return ""
	}
	msg := strings.TrimSpace(out.String())
	if rest, ok := strings.CutPrefix(msg, "sh: "); ok {
		msg = path + ": " + rest
	}
	if msg == "" {
		msg = path + ": sh -n: " + exit.Error()
	}
	return msg
}
