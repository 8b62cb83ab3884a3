// Package guestsim plays the guest side of kaas's bootstrap contract for the in-memory VCD
// of the executors' tests (executors/vcdmem; vcdsim has its own, written from the contract,
// in deploy/vcdsim/guest): a node that was powered on boots, reads its user
// data from guestinfo, and reports back through guestinfo as the real cloud-init scripts
// do. It reads the user data as cloud-init and kubeadm do, by parsing it: the cloud-config
// must run a script it writes, a control plane needs a kubeadm InitConfiguration and
// ClusterConfiguration with real subnets, and a worker joins only when its
// JoinConfiguration carries its own control plane's endpoint, token and CA hash. So a
// wrong bootstrap fails here as it would on a real VCD. A control plane publishes an IP,
// a join command and a kubeconfig.
package guestsim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

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
	if failed := boot(n.Role, gi[executors.GuestUserData], c); failed != "" {
		gi[executors.GuestStatus] = "failed:" + failed
		return true
	}
	if n.Role == events.RoleControlPlane {
		token := randHex(3) + "." + randHex(8)
		// As kubeadm prints it, trailing space included.
		c.JoinCommand = fmt.Sprintf("kubeadm join %s:6443 --token %s --discovery-token-ca-cert-hash sha256:%s ", n.IP, token, randHex(32))
		gi[executors.GuestJoinCommand] = base64.StdEncoding.EncodeToString([]byte(c.JoinCommand))
		gi[executors.GuestKubeconfig] = base64.StdEncoding.EncodeToString([]byte(Kubeconfig(c.Name, n.IP)))
	}
	gi[executors.GuestIP] = n.IP
	gi[executors.GuestStatus] = "done"
	return true
}

// userData is what cloud-init reads of the user data.
type userData struct {
	Hostname   string `json:"hostname"`
	WriteFiles []struct {
		Path        string `json:"path"`
		Permissions string `json:"permissions"`
		Content     string `json:"content"`
	} `json:"write_files"`
	RunCmd []json.RawMessage `json:"runcmd"`
}

// kubeadmDoc is what kubeadm reads of its config documents (all kinds in one).
type kubeadmDoc struct {
	APIVersion       string `json:"apiVersion"`
	Kind             string `json:"kind"`
	NodeRegistration struct {
		Name string `json:"name"`
	} `json:"nodeRegistration"`
	ClusterName       string `json:"clusterName"`
	KubernetesVersion string `json:"kubernetesVersion"`
	Networking        struct {
		PodSubnet     string `json:"podSubnet"`
		ServiceSubnet string `json:"serviceSubnet"`
	} `json:"networking"`
	Discovery struct {
		BootstrapToken struct {
			APIServerEndpoint string   `json:"apiServerEndpoint"`
			Token             string   `json:"token"`
			CACertHashes      []string `json:"caCertHashes"`
		} `json:"bootstrapToken"`
	} `json:"discovery"`
}

// kubeadmConfig is where the bootstrap scripts point kubeadm's --config.
const kubeadmConfig = "/etc/kaas/kubeadm.yaml"

// boot plays cloud-init and kubeadm on the user data, and returns the step that failed,
// or "" when the node came up. A real guest whose user data cloud-init cannot read, or whose runcmd runs
// no script it wrote, never reports at all and kaas times out; the simulator reports
// failed:cloud-init at once instead.
func boot(role, encoded string, c *Cluster) string {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || !bytes.HasPrefix(raw, []byte("#cloud-config\n")) {
		return "cloud-init"
	}
	var ud userData
	if err := read(raw, &ud); err != nil || ud.Hostname == "" || len(ud.RunCmd) == 0 {
		return "cloud-init"
	}
	files := map[string]string{}
	runnable := map[string]bool{}
	for _, f := range ud.WriteFiles {
		files[f.Path] = f.Content
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		runnable[f.Path] = err == nil && mode&0o100 != 0 && strings.HasPrefix(f.Content, "#!")
	}
	// runcmd's first entry runs the bootstrap: [path, args...] or "path args".
	var first []string
	if err := json.Unmarshal(ud.RunCmd[0], &first); err != nil {
		var line string
		_ = json.Unmarshal(ud.RunCmd[0], &line)
		first = strings.Fields(line)
	}
	if len(first) == 0 || !runnable[first[0]] {
		return "cloud-init"
	}
	if role == events.RoleNFS {
		return ""
	}
	step := map[string]string{events.RoleControlPlane: "kubeadm-init", events.RoleWorker: "kubeadm-join"}[role]
	docs := map[string]kubeadmDoc{}
	for _, doc := range documents(files[kubeadmConfig]) {
		var d kubeadmDoc
		if err := read([]byte(doc), &d); err != nil {
			return step
		}
		if d.APIVersion != "kubeadm.k8s.io/v1beta3" && d.APIVersion != "kubeadm.k8s.io/v1beta4" {
			return step
		}
		if _, dup := docs[d.Kind]; dup {
			return step
		}
		docs[d.Kind] = d
	}
	switch role {
	case events.RoleControlPlane:
		ic, ok1 := docs["InitConfiguration"]
		cc, ok2 := docs["ClusterConfiguration"]
		if !ok1 || !ok2 || ic.NodeRegistration.Name != ud.Hostname || cc.KubernetesVersion == "" ||
			!cidrs(cc.Networking.PodSubnet) || !cidrs(cc.Networking.ServiceSubnet) {
			return step
		}
	case events.RoleWorker:
		// The join works only with this cluster's control plane's endpoint, token and CA.
		jc, ok := docs["JoinConfiguration"]
		want := strings.Fields(c.JoinCommand)
		bt := jc.Discovery.BootstrapToken
		if !ok || jc.NodeRegistration.Name != ud.Hostname || len(want) != 7 ||
			bt.APIServerEndpoint != want[2] || bt.Token != want[4] || !slices.Equal(bt.CACertHashes, want[6:]) {
			return step
		}
	}
	return ""
}

// read decodes a YAML document as cloud-init and kubeadm do: YAML 1.1 (PyYAML; kubeadm's
// YAMLToJSON), typed by the text, not by the field it lands in, so that a value YAML 1.1
// reads as something else ("no" is false) fails here as on a node.
func read(doc []byte, v any) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, v)
}

// documents splits a YAML stream at its "---" lines, as kubeadm does; a stream with no
// document has none.
func documents(stream string) []string {
	var docs []string
	var cur strings.Builder
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, cur.String())
		}
		cur.Reset()
	}
	for line := range strings.Lines(stream) {
		if strings.TrimRight(line, " \r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

// cidrs reports whether s is what kubeadm takes as a subnet: one CIDR, or two for dual stack.
func cidrs(s string) bool {
	parts := strings.Split(s, ",")
	for _, p := range parts {
		if _, err := netip.ParsePrefix(p); err != nil {
			return false
		}
	}
	return len(parts) <= 2
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
