package guest_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kaasproject/kaas/deploy/vcdsim/guest"
	"github.com/kaasproject/kaas/executors/bootstrap"
)

// The tests feed the guest what kaas really sends (bootstrap.Render) and variants of it:
// the guest is written from the contract, and these check that kaas's side meets it.

const (
	clusterID = "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30"
	kube      = "v1.30.4" // the template's kubeadm
	bootDelay = time.Minute
)

func params(node string) bootstrap.Params {
	return bootstrap.Params{ClusterName: "prod", ClusterID: clusterID, NodeName: node, KubernetesVersion: kube,
		CNI: "antrea", CNIVersion: "1.15.1", SSHKey: "ssh-ed25519 AAAA tenant@acme"}
}

func render(t *testing.T, role string, p bootstrap.Params) string {
	t.Helper()
	ud, err := bootstrap.Render(role, p)
	if err != nil {
		t.Fatal(err)
	}
	return ud
}

// info is a VM's guestinfo with user data as kaas sets it.
func info(userData string) map[string]string {
	return map[string]string{guest.KeyUserData: base64.StdEncoding.EncodeToString([]byte(userData)), guest.KeyUserDataEncoding: "base64"}
}

// node is one VM and its guest.
type node struct {
	g  guest.Guest
	vm guest.VM
}

func newNode(role, ip, kubernetes string, gi map[string]string) *node {
	return &node{vm: guest.VM{Role: role, IP: ip, Kubernetes: kubernetes, Info: gi}}
}

// boot powers the node on and plays its bootstrap to the end, checking what it reports on
// the way; it returns the status and, for a failure, why.
func (n *node) bootWhy(t *testing.T, c *guest.Cluster, b guest.Behaviour) (string, error) {
	t.Helper()
	if b.BootDelay == 0 {
		b.BootDelay = bootDelay
	}
	on := time.Now()
	n.g.Play(n.vm, c, b, on) // still off
	if s := n.vm.Info[guest.KeyStatus]; s != "" {
		t.Fatalf("a VM that is off reported %q", s)
	}
	n.vm.On = on
	n.g.Play(n.vm, c, b, on)
	if s := n.vm.Info[guest.KeyStatus]; s != "running:boot" {
		t.Fatalf("at power on: %q", s)
	}
	n.g.Play(n.vm, c, b, on.Add(b.BootDelay*2/3))
	if s := n.vm.Info[guest.KeyStatus]; b.FailAt != guest.Never && (!strings.HasPrefix(s, "running:") || s == "running:boot") {
		t.Fatalf("mid-boot: %q", s)
	}
	err := n.g.Play(n.vm, c, b, on.Add(b.BootDelay))
	return n.vm.Info[guest.KeyStatus], err
}

func (n *node) boot(t *testing.T, c *guest.Cluster, b guest.Behaviour) string {
	t.Helper()
	s, _ := n.bootWhy(t, c, b)
	return s
}

// controlPlane brings up a cluster's control plane and returns its join command, after
// checking what it published.
func controlPlane(t *testing.T, c *guest.Cluster, ip string) string {
	t.Helper()
	n := newNode(guest.RoleControlPlane, ip, kube, info(render(t, guest.RoleControlPlane, params("mstr-7k2q"))))
	if s := n.boot(t, c, guest.Behaviour{}); s != "done" || n.vm.Info[guest.KeyIP] != ip {
		t.Fatalf("control plane: %q, ip %q", s, n.vm.Info[guest.KeyIP])
	}
	join, err := base64.StdEncoding.DecodeString(n.vm.Info[guest.KeyJoin])
	if err != nil {
		t.Fatal(err)
	}
	// kaas reads it with ParseJoin, trailing space and all.
	j, err := bootstrap.ParseJoin(string(join))
	if err != nil || j.Endpoint != ip+":6443" || !strings.HasSuffix(string(join), " ") {
		t.Fatalf("join command %q: %+v %v", join, j, err)
	}
	checkKubeconfig(t, n.vm.Info[guest.KeyKubeconfig], ip, j.CACertHash)
	return string(join)
}

// checkKubeconfig checks an admin kubeconfig as a client would use it: the API server,
// the CA the join command pins, and an admin certificate that CA signed.
func checkKubeconfig(t *testing.T, b64, ip, caHash string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Name    string
			Cluster struct {
				Server string
				CA     string `json:"certificate-authority-data"`
			}
		}
		Users []struct {
			User struct {
				Cert string `json:"client-certificate-data"`
			}
		}
		CurrentContext string `json:"current-context"`
	}
	if err := yaml.Unmarshal(raw, &kc); err != nil || len(kc.Clusters) != 1 || len(kc.Users) != 1 {
		t.Fatalf("kubeconfig %s: %v", raw, err)
	}
	if c := kc.Clusters[0]; c.Name != "prod" || c.Cluster.Server != "https://"+ip+":6443" || kc.CurrentContext != "kubernetes-admin@prod" {
		t.Fatalf("kubeconfig %s", raw)
	}
	cert := func(b64 string) *x509.Certificate {
		t.Helper()
		p, _ := base64.StdEncoding.DecodeString(b64)
		block, _ := pem.Decode(p)
		if block == nil {
			t.Fatalf("not PEM: %q", p)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, admin := cert(kc.Clusters[0].Cluster.CA), cert(kc.Users[0].User.Cert)
	if sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo); "sha256:"+hex.EncodeToString(sum[:]) != caHash {
		t.Fatal("the join command pins another CA than the kubeconfig's")
	}
	if err := admin.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("the admin certificate: %v", err)
	}
}

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestBootstrap(t *testing.T) {
	c := &guest.Cluster{}
	join := controlPlane(t, c, "10.1.0.10")
	other := &guest.Cluster{}
	otherJoin := controlPlane(t, other, "10.1.0.20")
	j, _ := bootstrap.ParseJoin(join)
	jo, _ := bootstrap.ParseJoin(otherJoin)

	worker := func(join string) string {
		p := params("node-p3xz")
		p.JoinCommand = join
		return render(t, guest.RoleWorker, p)
	}
	mix := func(ep, tok, hash string) string {
		return worker(bootstrap.Join{Endpoint: ep, Token: tok, CACertHash: hash}.String())
	}
	cpWith := func(f func(*bootstrap.Params)) string {
		p := params("mstr-7k2q")
		f(&p)
		return render(t, guest.RoleControlPlane, p)
	}
	cp := render(t, guest.RoleControlPlane, params("mstr-7k2q"))
	nfs := render(t, guest.RoleNFS, params("nfsd-b8w2"))
	// kubeadmFile replaces the control plane's kubeadm config file with another content.
	kubeadmFile := func(content string) string {
		i := strings.Index(cp, "apiVersion: kubeadm.k8s.io")
		end := strings.Index(cp, "  - path: /usr/local/sbin/kaas-bootstrap")
		var b strings.Builder
		for line := range strings.Lines(content) {
			b.WriteString("      " + line)
		}
		return cp[:i-len("      ")] + b.String() + cp[end:]
	}
	b64 := func(s string) map[string]string { return info(s) }
	raw := func(gi map[string]string) map[string]string { return gi }

	tests := []struct {
		name string
		role string
		info map[string]string
		ip   string // default 10.1.0.11
		want string
	}{
		{"worker with its control plane's join", guest.RoleWorker, b64(worker(join)), "", "done"},
		{"worker with another cluster's join", guest.RoleWorker, b64(worker(otherJoin)), "", "failed:kubeadm-join"},
		{"worker with another API server", guest.RoleWorker, b64(mix(jo.Endpoint, j.Token, j.CACertHash)), "", "failed:kubeadm-join"},
		{"worker with another token", guest.RoleWorker, b64(mix(j.Endpoint, jo.Token, j.CACertHash)), "", "failed:kubeadm-join"},
		{"worker with another CA hash", guest.RoleWorker, b64(mix(j.Endpoint, j.Token, jo.CACertHash)), "", "failed:kubeadm-join"},
		{"worker given a control plane's user data", guest.RoleWorker, b64(cp), "", "failed:kubeadm-join"},
		{"worker whose node name is not its host name", guest.RoleWorker,
			b64(strings.Replace(worker(join), `hostname: "node-p3xz"`, `hostname: "node-other"`, 1)), "", "failed:kubeadm-join"},

		{"control plane", guest.RoleControlPlane, b64(cp), "", "done"},
		{"control plane, IPv6", guest.RoleControlPlane, b64(cp), "fd00:10:1::11", "done"},
		{"control plane, dual-stack pods", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.PodCIDR = "10.244.0.0/16,fd00:10:244::/56" })), "", "done"},
		{"control plane, gzip+base64 user data", guest.RoleControlPlane,
			raw(map[string]string{guest.KeyUserData: gzipped(t, cp), guest.KeyUserDataEncoding: "gzip+base64"}), "", "done"},
		{"control plane, one Kubernetes minor behind its kubeadm", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.KubernetesVersion = "v1.29.8" })), "", "done"},
		{"control plane, two minors behind its kubeadm", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.KubernetesVersion = "v1.28.9" })), "", "failed:kubeadm-init"},
		{"control plane, a version its kubeadm does not know (and its config API)", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.KubernetesVersion = "v1.31.0" })), "", "failed:kubeadm-init"},
		{"control plane with a pod subnet that is none", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.PodCIDR = "10.0.0.0/16; touch /x #" })), "", "failed:kubeadm-init"},
		{"control plane with a service subnet that is none", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.ServiceCIDR = "$(touch /x)" })), "", "failed:kubeadm-init"},
		{"control plane with a service subnet too large for kubeadm", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.ServiceCIDR = "10.0.0.0/8" })), "", "failed:kubeadm-init"},
		{"control plane with a pod subnet smaller than a node's", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.PodCIDR = "10.244.0.0/25" })), "", "failed:kubeadm-init"},
		{"control plane with two IPv4 pod subnets", guest.RoleControlPlane,
			b64(cpWith(func(p *bootstrap.Params) { p.PodCIDR = "10.244.0.0/16,10.245.0.0/16" })), "", "failed:kubeadm-init"},
		{"control plane given a worker's user data", guest.RoleControlPlane, b64(worker(join)), "", "failed:kubeadm-init"},
		{"control plane without a ClusterConfiguration", guest.RoleControlPlane,
			b64(strings.Replace(cp, "kind: ClusterConfiguration", "kind: KubeletConfiguration", 1)), "", "failed:kubeadm-init"},
		{"control plane with an InitConfiguration twice", guest.RoleControlPlane,
			b64(strings.Replace(cp, "kind: ClusterConfiguration", "kind: InitConfiguration", 1)), "", "failed:kubeadm-init"},
		{"control plane with a kubeadm API of the past", guest.RoleControlPlane,
			b64(strings.ReplaceAll(cp, "kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta2")), "", "failed:kubeadm-init"},
		{"control plane whose cluster name YAML 1.1 reads as false", guest.RoleControlPlane,
			b64(strings.Replace(cp, `clusterName: "prod"`, `clusterName: no`, 1)), "", "failed:kubeadm-init"},
		{"control plane whose cluster name is the string no", guest.RoleControlPlane,
			b64(strings.Replace(cp, `clusterName: "prod"`, `clusterName: "no"`, 1)), "", "done"},
		{"control plane whose kubeadm config keys are of another case", guest.RoleControlPlane,
			b64(strings.Replace(cp, "nodeRegistration:", "NodeRegistration:", 1)), "", "done"}, // the name defaults to the host's
		{"control plane whose node name is not its host name", guest.RoleControlPlane,
			b64(strings.Replace(cp, `hostname: "mstr-7k2q"`, `hostname: "mstr-other"`, 1)), "", "failed:kubeadm-init"},
		{"control plane whose kubeadm config is not YAML", guest.RoleControlPlane,
			b64(kubeadmFile("apiVersion: [kubeadm.k8s.io/v1beta3\n")), "", "failed:kubeadm-init"},
		{"control plane whose kubeadm config is empty", guest.RoleControlPlane, b64(kubeadmFile("# nothing\n")), "", "failed:kubeadm-init"},
		{"control plane whose kubeadm config was never written", guest.RoleControlPlane,
			b64(strings.Replace(cp, "path: /etc/kaas/kubeadm.yaml", "path: /etc/kaas/other.yaml", 1)), "", "failed:kubeadm-init"},
		{"control plane whose script runs kubeadm init without a config", guest.RoleControlPlane,
			b64(strings.Replace(cp, "kubeadm init --config /etc/kaas/kubeadm.yaml", "kubeadm init", 1)), "", "failed:kubeadm-init"},
		{"control plane without an address", guest.RoleControlPlane, b64(cp), "-", "failed:kubeadm-init"},

		{"NFS node", guest.RoleNFS, b64(nfs), "", "done"},
		{"NFS node whose script runcmd hands to sh", guest.RoleNFS,
			b64(strings.Replace(strings.ReplaceAll(nfs, `permissions: "0755"`, `permissions: "0644"`), "- [/usr/local/sbin/kaas-bootstrap]",
				"- sh /usr/local/sbin/kaas-bootstrap", 1)), "", "done"},
		{"NFS node whose permissions YAML 1.1 reads as octal", guest.RoleNFS,
			b64(strings.ReplaceAll(nfs, `permissions: "0755"`, `permissions: 0755`)), "", "done"},
		{"no user data", guest.RoleNFS, b64(""), "", "failed:cloud-init"},
		{"user data whose encoding is not said", guest.RoleNFS,
			raw(map[string]string{guest.KeyUserData: base64.StdEncoding.EncodeToString([]byte(nfs))}), "", "failed:cloud-init"},
		{"user data that is not base64", guest.RoleNFS,
			raw(map[string]string{guest.KeyUserData: "#cloud-config\n", guest.KeyUserDataEncoding: "base64"}), "", "failed:cloud-init"},
		{"not cloud-config", guest.RoleNFS, b64("#!/bin/sh\necho hi\n"), "", "failed:cloud-init"},
		{"not YAML", guest.RoleNFS, b64("#cloud-config\nhostname: [\n"), "", "failed:cloud-init"},
		{"a cloud-config that is a list", guest.RoleNFS, b64("#cloud-config\n- a\n"), "", "failed:cloud-init"},
		{"no runcmd", guest.RoleNFS,
			b64(strings.Replace(nfs, "runcmd:\n  - [/usr/local/sbin/kaas-bootstrap]\n", "", 1)), "", "failed:cloud-init"},
		{"runcmd runs a file never written", guest.RoleNFS,
			b64(strings.Replace(nfs, "[/usr/local/sbin/kaas-bootstrap]", "[/usr/local/sbin/other]", 1)), "", "failed:cloud-init"},
		{"runcmd runs a file that is not executable", guest.RoleNFS,
			b64(strings.ReplaceAll(nfs, `permissions: "0755"`, `permissions: "0644"`)), "", "failed:cloud-init"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := tt.ip
			switch ip {
			case "":
				ip = "10.1.0.11"
			case "-":
				ip = ""
			}
			cluster := c
			if tt.role == guest.RoleControlPlane {
				cluster = &guest.Cluster{} // a control plane of its own: c's join stays
			}
			n := newNode(tt.role, ip, kube, tt.info)
			got, why := n.bootWhy(t, cluster, guest.Behaviour{})
			if got != tt.want {
				t.Fatalf("status %q, want %q (%v)", got, tt.want, why)
			}
			if (why != nil) != strings.HasPrefix(got, "failed:") || why != nil && !strings.HasPrefix(why.Error(), got[len("failed:"):]+": ") {
				t.Fatalf("status %q, said why: %v", got, why)
			}
			if tt.role != guest.RoleControlPlane || tt.want != "done" {
				if n.vm.Info[guest.KeyJoin] != "" || n.vm.Info[guest.KeyKubeconfig] != "" {
					t.Fatal("a node that is no working control plane published a join command or a kubeconfig")
				}
			}
			if (tt.want == "done") != (n.vm.Info[guest.KeyIP] == ip && ip != "") {
				t.Fatalf("status %q with ip %q", tt.want, n.vm.Info[guest.KeyIP])
			}
		})
	}
}

// A worker joins only a cluster whose control plane came up, and whose kubelet is not newer.
func TestJoinNeedsItsControlPlane(t *testing.T) {
	p := params("node-p3xz")
	p.JoinCommand = "kubeadm join 10.1.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:" + strings.Repeat("0", 64)
	n := newNode(guest.RoleWorker, "10.1.0.11", kube, info(render(t, guest.RoleWorker, p)))
	if s := n.boot(t, &guest.Cluster{}, guest.Behaviour{}); s != "failed:kubeadm-join" {
		t.Fatalf("a join with no control plane: %q", s)
	}

	c := &guest.Cluster{}
	p.JoinCommand = controlPlane(t, c, "10.1.0.10")
	n = newNode(guest.RoleWorker, "10.1.0.12", "v1.31.0", info(render(t, guest.RoleWorker, p)))
	if s := n.boot(t, c, guest.Behaviour{}); s != "failed:kubeadm-join" {
		t.Fatalf("a kubelet newer than its control plane: %q", s)
	}
}

// FailAt and Never decide the outcome whatever the user data; a bootstrap that ended stays
// ended, and what kaas wipes is not published again.
func TestFailAtAndNever(t *testing.T) {
	cp := render(t, guest.RoleControlPlane, params("mstr-7k2q"))
	for _, tt := range []struct {
		name   string
		b      guest.Behaviour
		role   string
		info   map[string]string
		want   string
		butAt  time.Duration
		reboot bool
	}{
		{"FailAt on a good control plane", guest.Behaviour{FailAt: "kubeadm-init"}, guest.RoleControlPlane, info(cp), "failed:kubeadm-init", 0, false},
		{"FailAt on an NFS node", guest.Behaviour{FailAt: "nfs-server"}, guest.RoleNFS, info(""), "failed:nfs-server", 0, false},
		{"FailAt on any step", guest.Behaviour{FailAt: "cni-install"}, guest.RoleControlPlane, info(cp), "failed:cni-install", 0, false},
		{"never boots", guest.Behaviour{FailAt: guest.Never}, guest.RoleControlPlane, info(cp), "running:boot", 24 * time.Hour, false},
		{"a slow boot", guest.Behaviour{BootDelay: time.Hour}, guest.RoleControlPlane, info(cp), "done", 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(tt.role, "10.1.0.10", kube, tt.info)
			c := &guest.Cluster{}
			got := n.boot(t, c, tt.b)
			if tt.butAt > 0 {
				n.g.Play(n.vm, c, tt.b, n.vm.On.Add(tt.butAt))
				got = n.vm.Info[guest.KeyStatus]
			}
			if got != tt.want {
				t.Fatalf("status %q, want %q", got, tt.want)
			}
			if !tt.reboot {
				return
			}
			// kaas takes the secrets out of guestinfo; off and on again, the node keeps its
			// status and publishes nothing anew.
			delete(n.vm.Info, guest.KeyKubeconfig)
			delete(n.vm.Info, guest.KeyJoin)
			n.vm.On = time.Time{}
			n.g.Play(n.vm, c, tt.b, time.Now())
			n.vm.On = time.Now()
			n.g.Play(n.vm, c, tt.b, n.vm.On.Add(2*time.Hour))
			if n.vm.Info[guest.KeyStatus] != "done" || n.vm.Info[guest.KeyKubeconfig] != "" || n.vm.Info[guest.KeyJoin] != "" {
				t.Fatalf("after a reboot: %v", n.vm.Info)
			}
		})
	}
}

func TestUpgrade(t *testing.T) {
	const takes = 10 * time.Second
	type step struct {
		role, target string
		want         string
	}
	tests := []struct {
		name  string
		from  string // the template's Kubernetes
		steps []step
	}{
		{"control plane then worker, one minor up", "v1.29.8", []step{
			{guest.RoleControlPlane, "v1.30.4", "done:v1.30.4"}, {guest.RoleWorker, "v1.30.4", "done:v1.30.4"}}},
		{"a patch release", "v1.30.4", []step{{guest.RoleControlPlane, "v1.30.9", "done:v1.30.9"}}},
		{"a worker before its control plane", "v1.29.8", []step{{guest.RoleWorker, "v1.30.4", "failed:kubeadm-upgrade"}}},
		{"two minors up", "v1.29.8", []step{{guest.RoleControlPlane, "v1.31.0", "failed:kubeadm-upgrade"}}},
		{"a downgrade", "v1.30.4", []step{{guest.RoleControlPlane, "v1.29.8", "failed:kubeadm-upgrade"}}},
		{"no version", "v1.30.4", []step{{guest.RoleControlPlane, "latest", "failed:kubeadm-upgrade"}}},
		{"an NFS node", "v1.30.4", []step{{guest.RoleNFS, "v1.30.9", "failed:kubeadm-upgrade"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &guest.Cluster{}
			p := params("mstr-7k2q")
			p.KubernetesVersion = tt.from
			nodes := map[string]*node{guest.RoleControlPlane: newNode(guest.RoleControlPlane, "10.1.0.10", tt.from, info(render(t, guest.RoleControlPlane, p)))}
			if s := nodes[guest.RoleControlPlane].boot(t, c, guest.Behaviour{}); s != "done" {
				t.Fatal(s)
			}
			j, _ := base64.StdEncoding.DecodeString(nodes[guest.RoleControlPlane].vm.Info[guest.KeyJoin])
			p.NodeName, p.JoinCommand = "node-p3xz", string(j)
			nodes[guest.RoleWorker] = newNode(guest.RoleWorker, "10.1.0.11", tt.from, info(render(t, guest.RoleWorker, p)))
			p.NodeName = "nfsd-b8w2"
			nodes[guest.RoleNFS] = newNode(guest.RoleNFS, "10.1.0.12", tt.from, info(render(t, guest.RoleNFS, p)))
			for _, r := range []string{guest.RoleWorker, guest.RoleNFS} {
				if s := nodes[r].boot(t, c, guest.Behaviour{}); s != "done" {
					t.Fatalf("%s: %s", r, s)
				}
			}
			for _, s := range tt.steps {
				n := nodes[s.role]
				now := time.Now()
				n.vm.Info[guest.KeyUpgradeTarget] = s.target
				n.g.Reconfigured(n.vm, now, takes)
				n.g.Play(n.vm, c, guest.Behaviour{}, now.Add(takes-time.Second))
				if got := n.vm.Info[guest.KeyUpgradeStatus]; got != "running" {
					t.Fatalf("%s before the upgrade's time: %q", s.role, got)
				}
				why := n.g.Play(n.vm, c, guest.Behaviour{}, now.Add(takes))
				if got := n.vm.Info[guest.KeyUpgradeStatus]; got != s.want || (why != nil) != strings.HasPrefix(got, "failed:") {
					t.Fatalf("%s: upgrade status %q, want %q (%v)", s.role, got, s.want, why)
				}
				// The same target again starts nothing.
				n.g.Reconfigured(n.vm, now.Add(takes), takes)
				if got := n.vm.Info[guest.KeyUpgradeStatus]; got != s.want {
					t.Fatalf("%s: the same target again: %q", s.role, got)
				}
			}
		})
	}
}

// cloud-init installs the user data's SSH key on every kind of node, whatever its
// bootstrap then does; a VM that never read user data has none.
func TestAuthorizedKeys(t *testing.T) {
	c := &guest.Cluster{}
	join := controlPlane(t, c, "10.1.0.10")
	p := params("node-2b9x")
	p.JoinCommand = join
	for role, ud := range map[string]string{
		guest.RoleWorker: render(t, guest.RoleWorker, p),
		guest.RoleNFS:    render(t, guest.RoleNFS, params("nfsd-4t8w")),
	} {
		n := newNode(role, "10.1.0.11", kube, info(ud))
		if keys := n.g.AuthorizedKeys(); keys != nil {
			t.Fatalf("%s before boot: %v", role, keys)
		}
		if s := n.boot(t, c, guest.Behaviour{}); s != "done" {
			t.Fatalf("%s: %s", role, s)
		}
		if keys := n.g.AuthorizedKeys(); len(keys) != 1 || keys[0] != "ssh-ed25519 AAAA tenant@acme" {
			t.Fatalf("%s installed %v", role, keys)
		}
	}
	cp := newNode(guest.RoleControlPlane, "10.1.0.12", kube, info(render(t, guest.RoleControlPlane, params("mstr-9q2w"))))
	cp.boot(t, &guest.Cluster{}, guest.Behaviour{})
	if keys := cp.g.AuthorizedKeys(); len(keys) != 1 {
		t.Fatalf("control plane installed %v", keys)
	}
	noKey := params("nfsd-5r1e")
	noKey.SSHKey = ""
	n := newNode(guest.RoleNFS, "10.1.0.13", kube, info(render(t, guest.RoleNFS, noKey)))
	if s := n.boot(t, c, guest.Behaviour{}); s != "done" || n.g.AuthorizedKeys() != nil {
		t.Fatalf("no key: %s %v", s, n.g.AuthorizedKeys())
	}
}

// kubeadm init's preflight refuses a control plane VM with fewer than 2 CPUs or 1700 MB;
// a worker's join does not check.
func TestControlPlaneHardware(t *testing.T) {
	for _, tc := range []struct {
		role     string
		cpu, mem int
		want     string
	}{
		{guest.RoleControlPlane, 1, 4096, "failed:kubeadm-init"},
		{guest.RoleControlPlane, 2, 1024, "failed:kubeadm-init"},
		{guest.RoleControlPlane, 2, 2048, "done"},
		{guest.RoleControlPlane, 0, 0, "done"}, // not known: not checked
	} {
		n := newNode(tc.role, "10.1.0.20", kube, info(render(t, tc.role, params("mstr-1a2b"))))
		n.vm.CPU, n.vm.MemoryMB = tc.cpu, tc.mem
		if s := n.boot(t, &guest.Cluster{}, guest.Behaviour{}); s != tc.want {
			t.Errorf("%s with %d CPUs and %d MB: %s, want %s", tc.role, tc.cpu, tc.mem, s, tc.want)
		}
	}
	c := &guest.Cluster{}
	p := params("node-1c2d")
	p.JoinCommand = controlPlane(t, c, "10.1.0.21")
	w := newNode(guest.RoleWorker, "10.1.0.22", kube, info(render(t, guest.RoleWorker, p)))
	w.vm.CPU, w.vm.MemoryMB = 1, 1024
	if s := w.boot(t, c, guest.Behaviour{}); s != "done" {
		t.Fatalf("a small worker: %s", s)
	}
}
