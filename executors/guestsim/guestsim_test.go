package guestsim

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/bootstrap"
)

const clusterID = "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30"

func params(name string) bootstrap.Params {
	return bootstrap.Params{ClusterName: "prod", ClusterID: clusterID, NodeName: name, KubernetesVersion: "v1.30.4",
		CNI: "antrea", CNIVersion: "1.15.1", SSHKey: "ssh-ed25519 AAAA tenant@acme"}
}

// boot powers a node on with the user data and plays it to the end of its bootstrap.
func bootNode(t *testing.T, role, userData, ip string, c *Cluster) *Node {
	t.Helper()
	on := time.Now()
	n := &Node{Role: role, IP: ip, OnAt: on, GuestInfo: map[string]string{
		executors.GuestUserData: base64.StdEncoding.EncodeToString([]byte(userData)), executors.GuestUserDataEncoding: "base64"}}
	b := Behaviour{BootDelay: time.Minute}
	if !Play(n, c, b, on) || n.GuestInfo[executors.GuestStatus] != "running:boot" {
		t.Fatalf("at power on: %q", n.GuestInfo[executors.GuestStatus])
	}
	Play(n, c, b, on.Add(40*time.Second))
	if s := n.GuestInfo[executors.GuestStatus]; !strings.HasPrefix(s, "running:") || s == "running:boot" {
		t.Fatalf("mid-boot: %q", s)
	}
	Play(n, c, b, on.Add(time.Minute))
	return n
}

func render(t *testing.T, role string, p bootstrap.Params) string {
	t.Helper()
	ud, err := bootstrap.Render(role, p)
	if err != nil {
		t.Fatal(err)
	}
	return ud
}

// initControlPlane brings up a cluster's control plane and returns its join command.
func initControlPlane(t *testing.T, c *Cluster, ip string) string {
	t.Helper()
	n := bootNode(t, events.RoleControlPlane, render(t, events.RoleControlPlane, params("mstr-7k2q")), ip, c)
	if n.GuestInfo[executors.GuestStatus] != "done" || n.GuestInfo[executors.GuestIP] != ip {
		t.Fatalf("control plane: %v", n.GuestInfo)
	}
	join, err := base64.StdEncoding.DecodeString(n.GuestInfo[executors.GuestJoinCommand])
	if err != nil {
		t.Fatal(err)
	}
	// kaas reads what the guest publishes with ParseJoin, trailing space and all.
	j, err := bootstrap.ParseJoin(string(join))
	if err != nil || j.Endpoint != ip+":6443" || !strings.HasSuffix(string(join), " ") {
		t.Fatalf("join command %q: %+v %v", join, j, err)
	}
	if kc, _ := base64.StdEncoding.DecodeString(n.GuestInfo[executors.GuestKubeconfig]); !strings.Contains(string(kc), "server: https://"+ip+":6443") {
		t.Fatalf("kubeconfig %s", kc)
	}
	return string(join)
}

func TestBootstrap(t *testing.T) {
	c := &Cluster{Name: "prod"}
	join := initControlPlane(t, c, "10.0.0.10")
	other := &Cluster{Name: "other"}
	otherJoin := initControlPlane(t, other, "10.0.0.20")

	worker := func(join string) string {
		p := params("node-p3xz")
		p.JoinCommand = join
		return render(t, events.RoleWorker, p)
	}
	j, _ := bootstrap.ParseJoin(join)
	jo, _ := bootstrap.ParseJoin(otherJoin)
	mix := func(ep, tok, hash string) string {
		return bootstrap.Join{Endpoint: ep, Token: tok, CACertHash: hash}.String()
	}
	badCIDR := params("mstr-7k2q")
	badCIDR.PodCIDR = "10.0.0.0/16; touch /x #"
	badService := params("mstr-7k2q")
	badService.ServiceCIDR = "$(touch /x)"
	dualStack := params("mstr-7k2q")
	dualStack.PodCIDR = "10.244.0.0/16,fd00:10:244::/56"
	cp := render(t, events.RoleControlPlane, params("mstr-7k2q"))

	tests := []struct {
		name, role, userData, want string
	}{
		{"worker with its control plane's join", events.RoleWorker, worker(join), "done"},
		{"worker with another cluster's join", events.RoleWorker, worker(otherJoin), "failed:kubeadm-join"},
		{"worker with another endpoint", events.RoleWorker, worker(mix(jo.Endpoint, j.Token, j.CACertHash)), "failed:kubeadm-join"},
		{"worker with another token", events.RoleWorker, worker(mix(j.Endpoint, jo.Token, j.CACertHash)), "failed:kubeadm-join"},
		{"worker with another CA hash", events.RoleWorker, worker(mix(j.Endpoint, j.Token, jo.CACertHash)), "failed:kubeadm-join"},
		{"worker given a control plane's user data", events.RoleWorker, cp, "failed:kubeadm-join"},
		{"control plane", events.RoleControlPlane, cp, "done"},
		{"control plane, dual-stack pods", events.RoleControlPlane, render(t, events.RoleControlPlane, dualStack), "done"},
		{"control plane with a pod CIDR that is none", events.RoleControlPlane, render(t, events.RoleControlPlane, badCIDR), "failed:kubeadm-init"},
		{"control plane with a service CIDR that is none", events.RoleControlPlane, render(t, events.RoleControlPlane, badService), "failed:kubeadm-init"},
		{"control plane given a worker's user data", events.RoleControlPlane, worker(join), "failed:kubeadm-init"},
		{"control plane without a ClusterConfiguration", events.RoleControlPlane,
			strings.Replace(cp, "kind: ClusterConfiguration", "kind: KubeletConfiguration", 1), "failed:kubeadm-init"},
		{"control plane with an unknown kubeadm API", events.RoleControlPlane,
			strings.ReplaceAll(cp, "kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta2"), "failed:kubeadm-init"},
		{"control plane whose cluster name YAML 1.1 reads as false", events.RoleControlPlane,
			strings.Replace(cp, `clusterName: "prod"`, `clusterName: no`, 1), "failed:kubeadm-init"},
		{"control plane whose cluster name is the string no", events.RoleControlPlane,
			strings.Replace(cp, `clusterName: "prod"`, `clusterName: "no"`, 1), "done"},
		{"control plane whose node name is not its host name", events.RoleControlPlane,
			strings.Replace(cp, `hostname: "mstr-7k2q"`, `hostname: "mstr-other"`, 1), "failed:kubeadm-init"},
		{"NFS node", events.RoleNFS, render(t, events.RoleNFS, params("nfsd-b8w2")), "done"},
		{"no user data", events.RoleNFS, "", "failed:cloud-init"},
		{"not cloud-config", events.RoleNFS, "#!/bin/sh\necho hi\n", "failed:cloud-init"},
		{"not YAML", events.RoleNFS, "#cloud-config\nhostname: [\n", "failed:cloud-init"},
		{"no runcmd", events.RoleNFS,
			strings.Replace(render(t, events.RoleNFS, params("nfsd-b8w2")), "runcmd:\n  - [/usr/local/sbin/kaas-bootstrap]\n", "", 1), "failed:cloud-init"},
		{"runcmd runs a file never written", events.RoleNFS,
			strings.Replace(render(t, events.RoleNFS, params("nfsd-b8w2")), "[/usr/local/sbin/kaas-bootstrap]", "[/usr/local/sbin/other]", 1), "failed:cloud-init"},
		{"runcmd runs a file that is not executable", events.RoleNFS,
			strings.Replace(render(t, events.RoleNFS, params("nfsd-b8w2")), `permissions: "0755"`, `permissions: "0644"`, -1), "failed:cloud-init"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := bootNode(t, tt.role, tt.userData, "10.0.0.11", c)
			if got := n.GuestInfo[executors.GuestStatus]; got != tt.want {
				t.Fatalf("status %q, want %q", got, tt.want)
			}
			if tt.role != events.RoleControlPlane && n.GuestInfo[executors.GuestJoinCommand] != "" {
				t.Fatal("a node that is no control plane published a join command")
			}
		})
	}
	if c.JoinCommand == join {
		t.Fatal("a control plane's init made no new join command")
	}
}

func TestFailAtAndUpgrade(t *testing.T) {
	on := time.Now()
	n := &Node{Role: events.RoleNFS, IP: "10.0.0.12", OnAt: on, GuestInfo: map[string]string{}}
	Play(n, &Cluster{}, Behaviour{BootDelay: time.Second, FailAt: "nfs-server"}, on.Add(time.Second))
	if s := n.GuestInfo[executors.GuestStatus]; s != "failed:nfs-server" {
		t.Fatalf("status %q", s)
	}
	n.GuestInfo[executors.GuestUpgradeTarget] = "v1.30.4"
	RequestUpgrade(n, on, time.Second)
	if Play(n, &Cluster{}, Behaviour{}, on) || n.GuestInfo[executors.GuestUpgradeStatus] != "running" {
		t.Fatalf("upgrade before its time: %v", n.GuestInfo)
	}
	if !Play(n, &Cluster{}, Behaviour{}, on.Add(time.Second)) || n.GuestInfo[executors.GuestUpgradeStatus] != "done:v1.30.4" {
		t.Fatalf("upgrade: %v", n.GuestInfo)
	}
}
