package bootstrap

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/recipe"
)

// Paths on a template build's VM (the build's guest contract).
const (
	// BuildReportPath is where the build gets kaas-report: the cluster nodes' script.
	BuildReportPath = "/usr/local/bin/kaas-report"
	BuildEnvPath    = "/etc/kaas/build.env"
	BuildScriptsDir = "/etc/kaas/build.d"
	BuildPath       = "/usr/local/sbin/kaas-build"
)

// buildConfig is the cloud-config of a build VM: files, and the build run once.
type buildConfig struct {
	WriteFiles []file `yaml:"write_files"`
	RunCmd     []argv `yaml:"runcmd"`
}

// RenderBuild returns the cloud-init user data that turns a build VM, booted from the
// recipe's base image, into a template: kaas's constant build script (buildScript), the
// recipe's versions and CNI manifest in /etc/kaas/build.env as shell-quoted assignments,
// and the provider's scripts in /etc/kaas/build.d. It refuses a recipe recipe.Validate
// refuses: the user data is only ever made of checked values.
func RenderBuild(r events.Recipe) (string, error) {
	if err := recipe.Validate(r); err != nil {
		return "", fmt.Errorf("bootstrap: build of a recipe that does not validate: %w", err)
	}
	files := []file{{Path: BuildReportPath, Permissions: "0755", Content: reportScript}}
	names := make([]string, 0, len(r.Scripts))
	var scripts []file
	for i, s := range r.Scripts {
		name := fmt.Sprintf("%02d-%s.sh", 10*(i+1), s.Name)
		names = append(names, name)
		scripts = append(scripts, file{Path: BuildScriptsDir + "/" + name, Permissions: "0755", Content: s.Run})
	}
	env, err := buildEnv([][2]string{
		{"KAAS_OS", r.OS},
		{"KAAS_KUBERNETES_VERSION", r.KubernetesVersion},
		{"KAAS_CONTAINERD_VERSION", r.ContainerdVersion},
		{"KAAS_CNI_NAME", r.CNI.Name},
		{"KAAS_CNI_VERSION", r.CNI.Version},
		{"KAAS_CNI_MANIFEST", r.CNI.Manifest},
		{"KAAS_SCRIPTS", strings.Join(names, " ")},
	})
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	files = append(files, file{Path: BuildEnvPath, Permissions: "0600", Content: env})
	files = append(files, scripts...)
	files = append(files, file{Path: BuildPath, Permissions: "0755", Content: buildScript})
	// The header holds only the name, which Validate checked.
	b := bytes.NewBufferString("#cloud-config\n# kaas template build of " + r.Name + ": what it installs is in " + BuildEnvPath + ".\n")
	if err := encode(b, buildConfig{WriteFiles: files, RunCmd: []argv{{BuildPath}}}); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return b.String(), nil
}

// buildEnv writes KEY='value' lines, in order, that a POSIX shell sources as data.
func buildEnv(vars [][2]string) (string, error) {
	var b strings.Builder
	for _, kv := range vars {
		q, err := shellQuote(kv[1])
		if err != nil {
			return "", fmt.Errorf("%s: %w", kv[0], err)
		}
		b.WriteString(kv[0] + "=" + q + "\n")
	}
	return b.String(), nil
}

// buildScript is kaas-build, the same for every recipe: it reads what to install from
// build.env (written by kaas, shell-quoted) and runs the provider's scripts listed there.
// Each step reports running:<step> through guestinfo; a command that fails reports its
// last output lines (guestinfo.kaas.error, base64) and failed:<step>. Every command whose
// failure can be explained runs through run, which keeps its output; anything else that
// stops the script (set -e) is reported by the EXIT trap. It leaves the VM running: kaas
// powers it off and captures it.
const buildScript = `#!/bin/sh
# kaas-build: turn this VM into a kaas template (run once, by cloud-init's runcmd).
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
export DEBIAN_FRONTEND=noninteractive
umask 022
cd /
step=prepare
ended=
work=$(mktemp -d)
out=$work/out

# fail reports the current step failed: why (base64 of the failing command's last output
# lines, at most 10 lines and 1 KiB), then the step; and exits.
fail() {
	ended=1
	reason=$(tail -n 10 "$out" 2>/dev/null | tail -c 1024 | base64 -w0) || reason=
	if [ -z "$reason" ]; then
		reason=$(printf '%s' "$1" | base64 -w0)
	fi
	kaas-report error "$reason" || true
	kaas-report status "failed:$step" || true
	rm -rf "$work"
	exit 1
}
# A command outside run that stops the script has no output kept: the status says what.
trap 'rc=$?; [ -n "$ended" ] || { out=/dev/null; fail "kaas-build stopped with status $rc"; }' EXIT

# begin STEP reports that STEP runs.
begin() {
	step=$1
	kaas-report status "running:$step"
}

# run CMD [ARG]...: run one command of the step; its output goes to cloud-init's log, and
# on a failure to the report.
run() {
	: >"$out"
	rc=0
	"$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	if [ "$rc" -ne 0 ]; then
		fail "$* exited with status $rc"
	fi
}

begin prepare
# shellcheck source=/dev/null
. /etc/kaas/build.env
# shellcheck source=/dev/null
. /etc/os-release
# apt waits for its lock, which the image's own first-boot updates may hold.
echo 'DPkg::Lock::Timeout "600";' >/etc/apt/apt.conf.d/90kaas-build
run apt-get update
run apt-get install -y curl gpg apt-transport-https ca-certificates socat conntrack
run swapoff -a
run sed -i '/^[^#].*[[:space:]]swap[[:space:]]/s/^/#/' /etc/fstab
printf 'overlay\nbr_netfilter\n' >/etc/modules-load.d/kaas-k8s.conf
run modprobe overlay
run modprobe br_netfilter
printf 'net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n' >/etc/sysctl.d/kaas-k8s.conf
run sysctl --system
install -m 0755 -d /etc/apt/keyrings

begin containerd
run curl -fsSL --retry 3 -o /etc/apt/keyrings/docker.asc "https://download.docker.com/linux/$ID/gpg"
chmod a+r /etc/apt/keyrings/docker.asc
echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/$ID $VERSION_CODENAME stable" >/etc/apt/sources.list.d/docker.list
run apt-get update
run apt-get install -y "containerd.io=$KAAS_CONTAINERD_VERSION-1"
run apt-mark hold containerd.io
mkdir -p /etc/containerd
run sh -c 'containerd config default >/etc/containerd/config.toml'
run sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
run grep -q 'SystemdCgroup = true' /etc/containerd/config.toml
run systemctl enable containerd
run systemctl restart containerd

begin kubernetes
minor=${KAAS_KUBERNETES_VERSION%.*}
package=${KAAS_KUBERNETES_VERSION#v}-1.1
run curl -fsSL --retry 3 -o "$work/kubernetes.key" "https://pkgs.k8s.io/core:/stable:/$minor/deb/Release.key"
run gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg "$work/kubernetes.key"
chmod a+r /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/$minor/deb/ /" >/etc/apt/sources.list.d/kubernetes.list
run apt-get update
run apt-get install -y "kubeadm=$package" "kubelet=$package" "kubectl=$package"
run apt-mark hold kubeadm kubelet kubectl
run systemctl enable kubelet

begin images
run kubeadm config images pull --kubernetes-version "$KAAS_KUBERNETES_VERSION"
# containerd's sandbox (pause) image is the one this kubeadm pulled, so that nodes need
# no other.
run kubeadm config images list --kubernetes-version "$KAAS_KUBERNETES_VERSION"
pause=$(grep -m 1 -x '[A-Za-z0-9._:-]*/pause:[A-Za-z0-9._-]*' "$out" || true)
if [ -n "$pause" ]; then
	run sed -i "s|sandbox_image = .*|sandbox_image = \"$pause\"|" /etc/containerd/config.toml
	run systemctl restart containerd
fi

begin cni
mkdir -p /opt/kaas/cni
run curl -fsSL --retry 3 -o "/opt/kaas/cni/$KAAS_CNI_NAME-$KAAS_CNI_VERSION.yaml" "$KAAS_CNI_MANIFEST"

for script in $KAAS_SCRIPTS; do
	name=${script#*-}
	begin "script:${name%.sh}"
	run "/etc/kaas/build.d/$script"
done

begin cleanup
rm -f /etc/apt/apt.conf.d/90kaas-build
run apt-get clean
run cloud-init clean --logs
: >/etc/machine-id
rm -f /etc/ssh/ssh_host_*
rm -rf "$work"
ended=1
kaas-report status "done"
`
