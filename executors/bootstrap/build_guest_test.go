package bootstrap

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
)

// The build script is run here for real, as cloud-init runs it: the rendered files are
// written into a root directory, which the script runs chrooted in (a private mount
// namespace lends it the host's /usr). The commands that would change the machine or the
// network (apt-get, curl, systemctl, kubeadm, vmtoolsd…) are stubs that log their
// arguments, write what the real ones write, and fail as the real ones do when asked for
// what does not exist (a version with .99, a URL under /missing/): which shows the steps,
// their order, their commands and the failure reports, not that Ubuntu's repositories
// have the packages.

// guestStubs are the commands the build runs that the test plays; each logs its argv to
// /calls.log. They are found first in PATH (/usr/local/sbin).
var guestStubs = map[string]string{
	"vmtoolsd": `shift; printf '%s\n' "${1#info-set guestinfo.kaas.}" >>/report.log`,
	"apt-get": `for a in "$@"; do case $a in *.99-*|*=9.9.9-*)
	i=0; while [ $i -lt 30 ]; do echo "Reading package lists... $i"; i=$((i+1)); done
	echo "E: Version '${a#*=}' for '${a%%=*}' was not found" >&2; exit 100;; esac; done
echo "apt-get $*: ok"`,
	"curl": `out=; url=; while [ $# -gt 0 ]; do case $1 in -o) out=$2; shift;; -*) ;; *) url=$1;; esac; shift; done
case $url in */missing/*) echo "curl: (22) The requested URL returned error: 404" >&2; exit 22;; esac
printf 'downloaded from %s\n' "$url" >"$out"`,
	"gpg":        `while [ $# -gt 1 ]; do [ "$1" = -o ] && cp "$3" "$2"; shift; done`,
	"dpkg":       `echo amd64`,
	"containerd": `printf '[plugins]\n  sandbox_image = "registry.k8s.io/pause:3.8"\n  SystemdCgroup = false\n'`,
	"kubeadm": `case "$*" in "config images list"*) printf 'registry.k8s.io/kube-apiserver:%s\nregistry.k8s.io/pause:3.9\nregistry.k8s.io/etcd:3.5.15-0\n' "$5";;
*) echo "[config/images] Pulled registry.k8s.io/pause:3.9";; esac`,
	"apt-mark": "", "swapoff": "", "modprobe": "", "sysctl": "", "systemctl": "", "cloud-init": "",
}

type guestRun struct {
	root    string
	reports []string // guestinfo.kaas.* the build set, "key value"
	calls   string   // the stubs' argv, one line each
	err     error    // the build's exit
}

// file returns a file of the guest's root.
func (g guestRun) file(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runBuild renders the recipe, writes the user data's files as cloud-init does, and runs
// runcmd's command in the guest's root; prepare changes the root first.
func runBuild(t *testing.T, r events.Recipe, prepare func(root string)) guestRun {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("running the build script needs unshare, from util-linux (Debian: apt-get install util-linux)")
	}
	ud, err := RenderBuild(r)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	write := func(path, content string, mode os.FileMode) {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"tmp", "dev", "opt", "etc/apt/sources.list.d", "etc/apt/apt.conf.d", "etc/modules-load.d", "etc/sysctl.d", "etc/ssh", "usr/local/bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	write("dev/null", "", 0o666)
	write("etc/os-release", "ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n", 0o644)
	write("etc/fstab", "LABEL=cloudimg-rootfs / ext4 discard,errors=remount-ro 0 1\n/swap.img none swap sw 0 0\n", 0o644)
	write("etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0o444)
	write("etc/ssh/ssh_host_ed25519_key", "secret", 0o600)
	for name, body := range guestStubs {
		write("usr/local/sbin/"+name, "#!/bin/sh\nprintf '%s\\n' \""+name+" $*\" >>/calls.log\n"+body+"\n", 0o755)
	}
	for _, f := range parse(t, ud).cloud.WriteFiles {
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		write(f.Path, f.Content, os.FileMode(mode))
	}
	if ld, err := os.ReadFile("/etc/ld.so.cache"); err == nil {
		write("etc/ld.so.cache", string(ld), 0o644)
	}
	if prepare != nil {
		prepare(root)
	}
	// The host's programs, read-only in spirit: the build writes nothing under /usr but
	// /usr/local, which is the root's own. A usr-merged host's /bin, /lib… are links into
	// /usr, and so are the root's; an older layout's are directories, bound as they are.
	var mounts strings.Builder
	bind := func(host, inRoot string) {
		if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
			return
		}
		if err := os.MkdirAll(filepath.Join(root, inRoot), 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&mounts, "mount --bind %s %s/%s\n", host, root, inRoot)
	}
	for _, d := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32", "libexec", "share"} {
		bind("/usr/"+d, "usr/"+d)
		fi, err := os.Lstat("/" + d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if err := os.Symlink("usr/"+d, filepath.Join(root, d)); err != nil {
				t.Fatal(err)
			}
		default:
			bind("/"+d, d)
		}
	}
	script := "set -e\n" + mounts.String() + "mount --bind /dev/null " + root + "/dev/null\nexec chroot " + root + " /usr/local/sbin/kaas-build\n"
	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		// Mounts and chroot without root: a user namespace in which this user is root.
		args = append([]string{"--user", "--map-root-user"}, args...)
	}
	cmd := exec.Command("unshare", append(args, "sh", "-c", script)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	t.Logf("kaas-build:\n%s", out)
	g := guestRun{root: root, err: err}
	if b, err := os.ReadFile(filepath.Join(root, "report.log")); err == nil {
		g.reports = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	if b, err := os.ReadFile(filepath.Join(root, "calls.log")); err == nil {
		g.calls = string(b)
	}
	if len(g.reports) == 0 {
		t.Fatalf("the build reported nothing (%v):\n%s", err, out)
	}
	return g
}

func TestBuildScriptRuns(t *testing.T) {
	g := runBuild(t, buildRecipe(), nil)
	if g.err != nil {
		t.Fatalf("kaas-build: %v; reports %q", g.err, g.reports)
	}
	want := []string{"status running:prepare", "status running:containerd", "status running:kubernetes", "status running:images",
		"status running:cni", "status running:script:motd", "status running:script:sysstat", "status running:cleanup", "status done"}
	if !slices.Equal(g.reports, want) {
		t.Errorf("reports\n%q\nwant\n%q", g.reports, want)
	}
	for _, c := range []string{
		"apt-get install -y curl gpg apt-transport-https ca-certificates socat conntrack\n",
		"swapoff -a\n",
		"modprobe br_netfilter\n",
		"curl -fsSL --retry 3 -o /etc/apt/keyrings/docker.asc https://download.docker.com/linux/ubuntu/gpg\n",
		"apt-get install -y containerd.io=1.7.20-1\n",
		"apt-mark hold containerd.io\n",
		"curl -fsSL --retry 3 -o /tmp/", // the key, in the work directory
		"/kubernetes.key https://pkgs.k8s.io/core:/stable:/v1.30/deb/Release.key\n",
		"apt-get install -y kubeadm=1.30.4-1.1 kubelet=1.30.4-1.1 kubectl=1.30.4-1.1\n",
		"apt-mark hold kubeadm kubelet kubectl\n",
		"systemctl enable kubelet\n",
		"kubeadm config images pull --kubernetes-version v1.30.4\n",
		"curl -fsSL --retry 3 -o /opt/kaas/cni/antrea-1.15.1.yaml https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml\n",
		"apt-get install -y sysstat\n", // the provider's script
		"apt-get clean\n",
		"cloud-init clean --logs\n",
	} {
		if !strings.Contains(g.calls, c) {
			t.Errorf("no call %q in\n%s", c, g.calls)
		}
	}
	// containerd before Kubernetes, the provider's scripts after kaas's steps, cleanup last.
	order := []string{"containerd.io=1.7.20-1", "kubeadm=1.30.4-1.1", "images pull", "/opt/kaas/cni/", "sysstat", "cloud-init clean"}
	for i := 1; i < len(order); i++ {
		if strings.Index(g.calls, order[i-1]) > strings.Index(g.calls, order[i]) {
			t.Errorf("%q ran after %q", order[i-1], order[i])
		}
	}
	for path, want := range map[string]string{
		"etc/apt/sources.list.d/docker.list": "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu jammy stable\n",
		"etc/apt/sources.list.d/kubernetes.list": "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] " +
			"https://pkgs.k8s.io/core:/stable:/v1.30/deb/ /\n",
		"etc/containerd/config.toml":       "[plugins]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n  SystemdCgroup = true\n",
		"opt/kaas/cni/antrea-1.15.1.yaml":  "downloaded from https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml\n",
		"etc/motd":                         "Built by kaas\n",
		"etc/machine-id":                   "",
		"etc/fstab":                        "LABEL=cloudimg-rootfs / ext4 discard,errors=remount-ro 0 1\n#/swap.img none swap sw 0 0\n",
		"etc/modules-load.d/kaas-k8s.conf": "overlay\nbr_netfilter\n",
		"etc/sysctl.d/kaas-k8s.conf":       "net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n",
	} {
		if got := g.file(t, path); got != want {
			t.Errorf("/%s:\n%s\nwant\n%s", path, got, want)
		}
	}
	for _, gone := range []string{"etc/ssh/ssh_host_ed25519_key", "etc/apt/apt.conf.d/90kaas-build"} {
		if _, err := os.Stat(filepath.Join(g.root, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/%s is still there (%v)", gone, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(g.root, "tmp", "*")); len(left) != 0 {
		t.Errorf("the build left %q", left)
	}
}

// A failing command is reported as the contract says: its last output lines (at most 10,
// 1 KiB) base64-encoded in guestinfo.kaas.error, then failed:<step>; the build stops.
func TestBuildScriptFails(t *testing.T) {
	long := strings.Repeat(strings.Repeat("x", 199)+"\n", 40)
	tests := []struct {
		name      string
		change    func(*events.Recipe)
		prepare   func(root string)
		step      string
		wantError func(string) bool
	}{
		{"unknown Kubernetes patch", func(r *events.Recipe) { r.KubernetesVersion = "v1.30.99" }, nil, "kubernetes",
			func(e string) bool {
				return strings.HasSuffix(e, "\nE: Version '1.30.99-1.1' for 'kubeadm' was not found\n")
			}},
		{"unknown containerd", func(r *events.Recipe) { r.ContainerdVersion = "9.9.9" }, nil, "containerd",
			func(e string) bool {
				return strings.HasSuffix(e, "\nE: Version '9.9.9-1' for 'containerd.io' was not found\n")
			}},
		{"missing CNI manifest", func(r *events.Recipe) { r.CNI.Manifest = "https://example.com/missing/antrea.yml" }, nil, "cni",
			func(e string) bool { return e == "curl: (22) The requested URL returned error: 404\n" }},
		{"provider script fails", func(r *events.Recipe) {
			r.Scripts[1].Run = "#!/bin/sh\necho starting\necho 'no such package' >&2\nexit 3\n"
		}, nil, "script:sysstat", func(e string) bool { return e == "starting\nno such package\n" }},
		{"provider script says much", func(r *events.Recipe) {
			r.Scripts[0].Run = "#!/bin/sh\nprintf '%s' '" + long + "'\nexit 1\n"
		}, nil, "script:motd", func(e string) bool { return len(e) == 1024 && strings.HasSuffix(long, e) }},
		{"a command outside run stops the script", nil, func(root string) {
			_ = os.RemoveAll(filepath.Join(root, "etc/apt/sources.list.d"))
		}, "containerd", func(e string) bool { return strings.HasPrefix(e, "kaas-build stopped with status ") }},
		{"a silent failure", func(r *events.Recipe) { r.Scripts[0].Run = "#!/bin/sh\nexit 4\n" }, nil, "script:motd",
			func(e string) bool { return e == "/etc/kaas/build.d/10-motd.sh exited with status 4" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := buildRecipe()
			if tt.change != nil {
				tt.change(&r)
			}
			g := runBuild(t, r, tt.prepare)
			var ee *exec.ExitError
			if !errors.As(g.err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("kaas-build ended with %v, want exit status 1", g.err)
			}
			n := len(g.reports)
			if n < 3 || g.reports[n-1] != "status failed:"+tt.step || g.reports[n-3] != "status running:"+tt.step ||
				!strings.HasPrefix(g.reports[n-2], "error ") {
				t.Fatalf("reports %q, want running:%s, an error, failed:%s last", g.reports, tt.step, tt.step)
			}
			encoded := strings.TrimPrefix(g.reports[n-2], "error ")
			msg, err := base64.StdEncoding.DecodeString(encoded)
			if err != nil || strings.ContainsAny(encoded, " \n") {
				t.Fatalf("error %q is not base64 on one line: %v", encoded, err)
			}
			if len(msg) > 1024 || strings.Count(strings.TrimSuffix(string(msg), "\n"), "\n") >= 10 || !tt.wantError(string(msg)) {
				t.Errorf("error %q", msg)
			}
			if strings.Contains(g.calls, "cloud-init clean") {
				t.Error("a failed build went on to clean up for capture")
			}
		})
	}
}
