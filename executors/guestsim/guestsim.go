// Package guestsim plays the guest side of kaas's bootstrap contract for the simulated
// VCDs (the in-memory one and vcdsim): a node that was powered on boots, reads its user
// data from guestinfo, and reports back through guestinfo as the real cloud-init scripts
// do. A control plane publishes an IP, a join command and a kubeconfig; a worker becomes
// ready only when its user data holds its control plane's real join command, so a wrong
// bootstrap fails here as it would on a real VCD.
package guestsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// Node is one guest, as far as the bootstrap goes.
type Node struct {
	Role string
	IP   string
	// OnAt is when the VM was powered on; zero while it is off.
	OnAt time.Time
	// UpgradeAt is when a requested in-place upgrade finishes; zero when none was asked.
	UpgradeAt time.Time
	// GuestInfo holds the keys kaas sets and the ones the guest reports; Play updates it.
	GuestInfo map[string]string
}

// Cluster is what the nodes of one cluster share: the join command its control plane
// handed out.
type Cluster struct {
	Name        string
	JoinCommand string
}

// Behaviour says how a template's guest behaves.
type Behaviour struct {
	// BootDelay is how long the bootstrap takes after power on.
	BootDelay time.Duration
	// FailAt makes the bootstrap fail at this step; "never" makes it hang forever.
	FailAt string
}

var joinFile = regexp.MustCompile(`path: /etc/kaas/join\.b64\s+permissions: "0600"\s+content: (\S+)`)

// Play runs the guest's side of the bootstrap up to now. It reports whether it changed
// anything, so that callers can persist their state.
func Play(n *Node, c *Cluster, b Behaviour, now time.Time) bool {
	gi := n.GuestInfo
	status := gi[executors.GuestStatus]
	if n.OnAt.IsZero() || now.Before(n.OnAt) || status == "done" || strings.HasPrefix(status, "failed") {
		return playUpgrade(n, now)
	}
	set := func(k, v string) bool {
		if gi[k] == v {
			return false
		}
		gi[k] = v
		return true
	}
	if b.FailAt == "never" || now.Before(n.OnAt.Add(b.BootDelay/2)) {
		return set(executors.GuestStatus, "running:boot")
	}
	if now.Before(n.OnAt.Add(b.BootDelay)) {
		return set(executors.GuestStatus, "running:"+map[string]string{events.RoleControlPlane: "kubeadm-init",
			events.RoleWorker: "kubeadm-join", events.RoleNFS: "nfs-server"}[n.Role])
	}
	if b.FailAt != "" {
		return set(executors.GuestStatus, "failed:"+b.FailAt)
	}
	userData, _ := base64.StdEncoding.DecodeString(gi[executors.GuestUserData])
	switch n.Role {
	case events.RoleControlPlane:
		token := randHex(3) + "." + randHex(8)
		c.JoinCommand = fmt.Sprintf("kubeadm join %s:6443 --token %s --discovery-token-ca-cert-hash sha256:%s", n.IP, token, randHex(32))
		gi[executors.GuestJoinCommand] = base64.StdEncoding.EncodeToString([]byte(c.JoinCommand))
		gi[executors.GuestKubeconfig] = base64.StdEncoding.EncodeToString([]byte(Kubeconfig(c.Name, n.IP)))
	case events.RoleWorker:
		var join []byte
		if sub := joinFile.FindSubmatch(userData); sub != nil {
			join, _ = base64.StdEncoding.DecodeString(string(sub[1]))
		}
		if c.JoinCommand == "" || string(join) != c.JoinCommand {
			gi[executors.GuestStatus] = "failed:kubeadm-join"
			return true
		}
	}
	gi[executors.GuestIP] = n.IP
	gi[executors.GuestStatus] = "done"
	return true
}

// RequestUpgrade notes that kaas set an upgrade target, which takes delay to apply.
func RequestUpgrade(n *Node, now time.Time, delay time.Duration) {
	n.UpgradeAt = now.Add(delay)
	n.GuestInfo[executors.GuestUpgradeStatus] = "running"
}

func playUpgrade(n *Node, now time.Time) bool {
	target := n.GuestInfo[executors.GuestUpgradeTarget]
	if target == "" || n.UpgradeAt.IsZero() || now.Before(n.UpgradeAt) || n.GuestInfo[executors.GuestUpgradeStatus] == "done:"+target {
		return false
	}
	n.GuestInfo[executors.GuestUpgradeStatus] = "done:" + target
	return true
}

// Kubeconfig is an admin kubeconfig as kubeadm writes it, with made-up credentials.
func Kubeconfig(cluster, ip string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %[1]s
    server: https://%[2]s:6443
  name: %[3]s
contexts:
- context:
    cluster: %[3]s
    user: %[3]s-admin
  name: %[3]s-admin@%[3]s
current-context: %[3]s-admin@%[3]s
users:
- name: %[3]s-admin
  user:
    client-certificate-data: %[4]s
    client-key-data: %[5]s
`, b64rand(), ip, cluster, b64rand(), b64rand())
}

func b64rand() string { return base64.StdEncoding.EncodeToString([]byte(randHex(64))) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
